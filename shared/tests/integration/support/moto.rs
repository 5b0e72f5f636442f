//! moto's server (a DynamoDB- and Secrets Manager-compatible endpoint), started once per test binary
//! on a free loopback port and stopped when the binary exits: it runs under a small Python wrapper
//! that stops the server when its standard input (a pipe from this process) closes.
//!
//! The server handles one request at a time. moto's own threaded server is not safe for concurrent
//! writes (a cancelled transaction restores a snapshot of the whole table, undoing or mangling
//! writes that raced it), whereas DynamoDB applies each conditional write and each transaction
//! atomically; serving requests one by one is the faithful model of that.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use aws_sdk_dynamodb::config::Credentials;

const WRAPPER: &str = r#"
import sys, threading
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
import json
from moto.ses.models import ses_backends
moto_app = DomainDispatcherApplication(create_backend_app)
def app(environ, start_response):
    # What SES "sent", for the tests to read (moto keeps it in memory only).
    if environ.get("PATH_INFO") == "/_simguard/sent-mail":
        mails = [
            {"from": m.source, "to": m.destinations, "subject": m.subject, "body": m.body}
            for account in ses_backends.values() for backend in account.values()
            for m in getattr(backend, "sent_messages", []) if hasattr(m, "subject")
        ]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(mails).encode()]
    return moto_app(environ, start_response)
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=False, request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
server.shutdown()
"#;

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The shared server. Needs a Python with `moto[server]`: `SIMGUARD_PYTHON`, else `python3` on PATH
/// (`scripts/test` installs moto into `.venv` and puts it first on PATH).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let python = std::env::var("SIMGUARD_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = free_port();
        let mut child = Command::new(&python)
            .args(["-c", WRAPPER, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not run {python}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("moto wrapper output");
        assert_eq!(
            line.trim(),
            "ready",
            "moto's server did not start with {python}: install it with `pip install 'moto[server]'` (scripts/test does), or set SIMGUARD_PYTHON"
        );
        Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: child }
    })
}

/// An AWS SDK configuration pointing at `endpoint`, with dummy credentials: the functions' own (their
/// HTTP client, timeouts and retry policy), so every test on moto runs them.
pub fn aws_config_at(endpoint: &str) -> aws_types::SdkConfig {
    simguard::adapters::aws::AwsEnvironment {
        region: "us-east-1".into(),
        credentials: Credentials::new("test", "test", None, None, "static"),
        endpoint_url: Some(endpoint.to_owned()),
    }
    .sdk_config(simguard::adapters::aws::ReqwestHttp::new().expect("the AWS HTTP client"))
}

/// An AWS SDK configuration pointing at moto.
pub async fn aws_config() -> aws_types::SdkConfig {
    aws_config_at(&moto().endpoint)
}

/// Every email moto's SES "sent", oldest first: `from`, `to` (SES's destination), `subject`, `body`.
pub async fn sent_mail() -> Vec<serde_json::Value> {
    let url = format!("{}/_simguard/sent-mail", moto().endpoint);
    let client = simguard::adapters::tls::reqwest_builder().build().expect("client");
    client.get(url).send().await.expect("moto").json().await.expect("JSON")
}

/// A fresh table of simguard's schema for one test (tests run in parallel; each gets its own).
pub async fn fresh_table() -> (aws_sdk_dynamodb::Client, String) {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let table = format!("simguard-test-{}-{n}", std::process::id());
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    simguard::adapters::dynamo::create_table(&client, &table).await.expect("create table");
    (client, table)
}
