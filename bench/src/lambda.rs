//! What the Lambda benchmarks share: moto's server, the table and secret the functions read, and the
//! environment a function process gets.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The table the functions use.
pub const TABLE: &str = "simguard-bench";
/// The provider secret the functions read.
pub const SECRET: &str = "simguard/bench/providers";
/// The notification queue the functions that notify put emails on.
pub const QUEUE: &str = "simguard-bench-notify";

/// moto's server on a free port; stopped when dropped.
pub struct Moto(Child, pub String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// moto's server behind HTTP/1.1 keep-alive, as DynamoDB's endpoints answer (a thread per connection).
const MOTO: &str = r#"
import sys
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
MotoRequestHandler.protocol_version = "HTTP/1.1"
app = DomainDispatcherApplication(create_backend_app)
make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler).serve_forever()
"#;

/// Starts moto's server (`python3` with moto, as scripts/test installs it into .venv) on a free port.
pub async fn moto() -> Result<Moto, String> {
    let port = free_port()?;
    let child = Command::new("python3")
        .args(["-c", MOTO, &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("python3 with moto: {e} (put .venv/bin on PATH; scripts/test installs it)"))?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(Moto(child, url));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("moto's server did not start".into())
}

/// The environment every function runs with: its settings, the sandbox, moto, and what Lambda sets.
pub fn environment(sandbox: &str, moto: &str, runtime: &str, function: &str) -> Vec<(String, String)> {
    let queue = format!("{moto}/123456789012/{QUEUE}");
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_ENDPOINT_URL", moto),
        ("SIMGUARD_PUBLIC_BASE_URL", "http://127.0.0.1:8080"),
        ("SIMGUARD_TRUID_BASE_URL", sandbox),
        ("SIMGUARD_VONAGE_BASE_URL", sandbox),
        ("SIMGUARD_TWILIO_BASE_URL", sandbox),
        ("SIMGUARD_TABLE_NAME", TABLE),
        ("SIMGUARD_SECRET_ID", SECRET),
        ("SIMGUARD_NOTIFY_QUEUE_URL", &queue),
        ("SIMGUARD_MAIL_FROM", "notices@example.com"),
        ("RUST_LOG", "off"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Runs `admin` (simguard-admin) with the AWS settings of moto.
pub fn admin(target: &str, moto: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(format!("{target}/simguard-admin"))
        .args(args)
        .envs([
            ("AWS_ENDPOINT_URL", moto),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("simguard-admin: {e}"))?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("simguard-admin {args:?} failed")) }
}

/// The median of `xs` (0 when empty).
pub fn median(xs: Vec<f64>) -> f64 {
    percentile(xs, 50)
}

/// The `p`th percentile of `xs` (nearest rank below; 0 when empty).
pub fn percentile(mut xs: Vec<f64>, p: usize) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { 0.0 } else { xs[(xs.len() * p / 100).min(xs.len() - 1)] }
}
