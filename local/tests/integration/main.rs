//! The local stack as a server (docs/security.md R10): slow clients are dropped or answered 408, broken
//! framing is a 400, and real parts replace the stand-ins when their variables say so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use simguard::adapters::argon2::HashCost;
use simguard_local::serve::ReadTimeouts;
use simguard_local::{LocalStack, Options};
use simguard_sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(400);

async fn stack(vars: &[(&str, &str)]) -> LocalStack {
    let opts = Options {
        port: 0,
        sandbox_port: 0,
        hash_cost: HashCost::TEST_ONLY_CHEAP,
        read_timeouts: ReadTimeouts { headers: SHORT, body: SHORT },
        ..Options::default()
    };
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    LocalStack::start(opts, move |k| vars.get(k).cloned()).await.expect("local stack")
}

fn addr(stack: &LocalStack) -> SocketAddr {
    stack.url.trim_start_matches("http://").parse().expect("address")
}

/// Writes `request` and reads until the server closes the connection (or 5 s pass).
async fn exchange(stack: &LocalStack, request: &[u8]) -> (String, Duration) {
    let mut conn = TcpStream::connect(addr(stack)).await.expect("connect");
    let t = Instant::now();
    conn.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer)).await;
    (String::from_utf8_lossy(&answer).into_owned(), t.elapsed())
}

fn post_head(stack: &LocalStack, framing: &str) -> String {
    format!(
        "POST /api/reset/check HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Type: application/json\r\n{framing}\r\n",
        host = addr(stack),
        origin = stack.url,
    )
}

/// Headers that never end: the connection is closed after the header read timeout.
#[tokio::test]
async fn unfinished_headers_are_dropped() {
    let stack = stack(&[]).await;
    let (answer, took) = exchange(&stack, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(took < SHORT + Duration::from_secs(2), "dropped after {took:?}");
}

/// A body that trickles: 408 once the body deadline passes.
#[tokio::test]
async fn a_body_that_never_arrives_is_a_408() {
    let stack = stack(&[]).await;
    let head = post_head(&stack, "Content-Length: 100\r\n");
    let (answer, took) = exchange(&stack, format!("{head}{{\"email\":").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("urn:simguard:problem:request_timeout"), "{answer}");
    assert!(took < SHORT + Duration::from_secs(2), "{took:?}");
}

/// Broken chunked framing is the client's error: 400, not 413.
#[tokio::test]
async fn broken_framing_is_a_400() {
    let stack = stack(&[]).await;
    let head = post_head(&stack, "Transfer-Encoding: chunked\r\n");
    let (answer, _) = exchange(&stack, format!("{head}zz\r\n{{}}\r\n0\r\n\r\n").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("urn:simguard:problem:invalid_request"), "{answer}");
    // And a body over the limit is still a 413.
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(simguard::routes::MAX_BODY_BYTES));
    let head = post_head(&stack, &format!("Content-Length: {}\r\nConnection: close\r\n", big.len()));
    let (answer, _) = exchange(&stack, format!("{head}{big}").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// `SIMGUARD_TRUID_BASE_URL` points the functions at another tru.ID (here a second sandbox, as a
/// real account would be): calls go there, none to the stack's own sandbox, and the banner says so.
#[tokio::test]
async fn a_provider_base_url_replaces_the_sandbox() {
    let elsewhere =
        Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), SandboxConfig::default()).await.expect("sandbox");
    let stack = stack(&[("SIMGUARD_TRUID_BASE_URL", elsewhere.base_url())]).await;
    let http = simguard::adapters::tls::reqwest_builder().build().expect("client");
    let answer = http.get(format!("{}/api/coverage", stack.url)).send().await.expect("coverage");
    assert_eq!(answer.status(), 200);
    assert_eq!(elsewhere.truid().count("GET", "/coverage/"), 1, "the call went to the configured tru.ID");
    assert_eq!(stack.sandbox.truid().count("GET", "/coverage/"), 0, "and not to the stack's sandbox");
    let truid = stack.parts.iter().find(|(p, _)| *p == "tru.ID").expect("a tru.ID line");
    assert!(truid.1.contains("from SIMGUARD_TRUID_BASE_URL"), "{truid:?}");
}

/// `SIMGUARD_TABLE_NAME` (with `AWS_ENDPOINT_URL`) puts the data in that DynamoDB: here one that never
/// answers, so every request that reads data is a 503 within the request budget — which the
/// in-memory store would never give.
#[tokio::test]
async fn a_table_name_puts_the_data_in_dynamodb() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let stall = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let stack = stack(&[
        ("SIMGUARD_TABLE_NAME", "simguard-local"),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("SIMGUARD_REQUEST_BUDGET_MS", "800"),
    ])
    .await;
    let storage = stack.parts.iter().find(|(p, _)| *p == "storage").expect("a storage line");
    assert!(storage.1.contains("DynamoDB table simguard-local"), "{storage:?}");
    let t = Instant::now();
    let http = simguard::adapters::tls::reqwest_builder().build().expect("client");
    let answer = http.get(format!("{}/api/coverage", stack.url)).send().await.expect("coverage");
    assert_eq!(answer.status(), 503);
    assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());
    stall.abort();
}

/// A page asked for as `localhost` (or any other name) is sent to the configured origin, where the
/// flows' cookies and tru.ID's redirect live; the origin itself is served.
#[tokio::test]
async fn another_host_name_is_sent_to_the_origin() {
    let stack = stack(&[]).await;
    let port = addr(&stack).port();
    let (answer, _) = exchange(
        &stack,
        format!("GET /forgot.html?x=1 HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 307"), "{answer}");
    assert!(answer.contains(&format!("location: {}/forgot.html?x=1", stack.url)), "{answer}");
    let (answer, _) = exchange(
        &stack,
        format!("GET /site.json HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", addr(&stack)).as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""support":"""#), "{answer}");
}

/// A taken port is named with the variable that chooses another.
#[tokio::test]
async fn a_taken_port_names_its_variable() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("addr").port();
    let opts = Options { port, sandbox_port: 0, hash_cost: HashCost::TEST_ONLY_CHEAP, ..Options::default() };
    let err = LocalStack::start(opts, |_| None).await.err().expect("refused");
    assert_eq!(err, format!("port {port} is already in use: set SIMGUARD_LOCAL_PORT to another port"));
}

/// A path with no page gets the site's 404 page, with a 404 status.
#[tokio::test]
async fn a_missing_page_is_the_sites_404() {
    let stack = stack(&[]).await;
    let (answer, _) = exchange(
        &stack,
        format!("GET /no-such-page.html HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", addr(&stack)).as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("Page not found"), "{answer}");
}

/// The site in front of `cargo lambda watch` forwards `/api/*` and the public keys' well-known path
/// to the functions as they are, and serves the rest itself.
#[tokio::test]
async fn the_site_proxy_forwards_the_api_and_the_public_keys() {
    use axum::routing::any;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream_url = format!("http://{}", upstream.local_addr().expect("addr"));
    let echo = axum::Router::new().fallback(any(|uri: axum::http::Uri| async move { format!("upstream saw {uri}") }));
    let server = tokio::spawn(simguard_local::serve::serve(upstream, echo, ReadTimeouts::default()));
    let proxy =
        simguard_local::SiteProxy::start(0, "../static-site/public".into(), &upstream_url).await.expect("proxy");
    let port = proxy.url.rsplit(':').next().expect("port").to_owned();
    for (path, seen) in
        [("/api/me", "upstream saw /api/me"), ("/.well-known/jwks.json", "upstream saw /.well-known/jwks.json")]
    {
        let mut conn = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("port"))).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        conn.write_all(req.as_bytes()).await.expect("write");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200") && answer.contains(seen), "{path}: {answer}");
    }
    server.abort();
}
