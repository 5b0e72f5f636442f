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

/// moto's server on a free port behind a keep-alive proxy; both stopped when dropped.
pub struct Moto {
    child: Child,
    proxy: tokio::task::JoinHandle<()>,
    /// The proxy's `http://127.0.0.1:<port>`: what the functions and `simguard-admin` talk to.
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.proxy.abort();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// moto's server (a thread per request).
const MOTO: &str = r#"
import sys
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler).serve_forever()
"#;

/// Starts moto's server (`python3` with moto, as scripts/test installs it into .venv) on a free port,
/// behind a keep-alive proxy in this process. moto's server (werkzeug's) answers every request with
/// `Connection: close`; AWS's endpoints keep connections open, and the functions' HTTP client reuses
/// them. Without the proxy every DynamoDB call would open a TCP connection, and the function's CPU
/// time would include the kernel's work for both ends of it (loopback), which on AWS it never pays
/// per call. The proxy's own work is charged to this process, not to the function.
pub async fn moto() -> Result<Moto, String> {
    let port = free_port()?;
    let child = Command::new("python3")
        .args(["-c", MOTO, &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("python3 with moto: {e} (put .venv/bin on PATH; scripts/test installs it)"))?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
            let upstream = UpstreamMoto {
                client: simguard::adapters::tls::reqwest_builder().build().map_err(|e| e.to_string())?,
                base: format!("http://127.0.0.1:{port}"),
            };
            let app = axum::Router::new().fallback(forward).with_state(std::sync::Arc::new(upstream));
            let proxy = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            return Ok(Moto { child, proxy, url });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("moto's server did not start".into())
}

struct UpstreamMoto {
    client: reqwest::Client,
    base: String,
}

/// Headers about one hop's connection or framing, which the proxy does not pass on.
fn hop_by_hop(name: &axum::http::HeaderName) -> bool {
    matches!(name.as_str(), "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "host")
}

fn end_to_end(headers: &axum::http::HeaderMap) -> axum::http::HeaderMap {
    headers.iter().filter(|(name, _)| !hop_by_hop(name)).map(|(n, v)| (n.clone(), v.clone())).collect()
}

async fn forward(
    axum::extract::State(upstream): axum::extract::State<std::sync::Arc<UpstreamMoto>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let headers = end_to_end(&parts.headers);
    let sent = upstream.client.request(parts.method, format!("{}{path}", upstream.base)).headers(headers).body(body);
    let Ok(answer) = sent.send().await else { return axum::http::StatusCode::BAD_GATEWAY.into_response() };
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    let Ok(body) = answer.bytes().await else { return axum::http::StatusCode::BAD_GATEWAY.into_response() };
    (status, headers, body).into_response()
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

/// Nanoseconds the process's threads have spent on a CPU (`/proc/<pid>/task/*/schedstat`: exact,
/// where `/proc/<pid>/stat` counts in 10 ms ticks).
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks.flatten().filter_map(|t| schedstat_ns(&t.path().join("schedstat"))).sum()
}

/// The time on a CPU a `schedstat` file reports, in nanoseconds (its first field). The kernel brings
/// it up to date when the thread is switched out, so it is exact over many waits, not within one
/// stretch of computation.
pub fn schedstat_ns(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.split_whitespace().next()?.parse().ok()
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
