//! Cold starts and warm CPU of every function, side by side with a bare `lambda_http` binary built in
//! the same run with the same release profile. Each function's release binary is started cold under an
//! emulated Lambda Runtime API on loopback, given its documented event (from `events/`, one that hashes
//! no password), and timed from `exec` to its first `next` (ready) and to its first answer; its peak
//! RSS is read after that answer. Runs alternate: bare, function, bare, function… Then each function,
//! warm, answers the same event many times, and its CPU time per answer is read from /proc.
//!
//! The functions talk to the provider sandbox (in this process) and to moto's server (DynamoDB and
//! Secrets Manager, SQS, SES; `python3` with moto on PATH, as scripts/test installs it into .venv).
//!
//! ```sh
//! cargo build --release --workspace --bins
//! PATH="$PWD/.venv/bin:$PATH" ./target/release/cold-start      # 30 cold starts per function
//! ./target/release/cold-start --runs 10 --warm 200 --only coverage,account
//! ```

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simguard_bench::lambda::{QUEUE, SECRET, TABLE, admin, cpu_ns, environment, median, moto, percentile};
use simguard_bench::runtime::RuntimeApi;

/// Each function, and the event it is started with: a request that hashes no password.
const FUNCTIONS: &[(&str, &str)] = &[
    ("coverage", "events/coverage/device-on-wifi.200.json"),
    ("create-check", "events/create-check/unknown-email.200.json"),
    ("callback", "events/callback/operator-redirect-without-the-flow-cookie.303.json"),
    ("sim-check", "events/sim-check/no-flow.409.json"),
    ("otp-start", "events/otp-start/no-flow.409.json"),
    ("otp-verify", "events/otp-verify/no-flow.409.json"),
    ("reset-password", "events/reset-password/no-flow-cookie.409.json"),
    ("account", "events/account/me-signed-out.401.json"),
    // The first answer sends one email (moto's SES); warm, the same message is a redelivery: one
    // store read, nothing sent again.
    ("notify", "events/notify/password-reset.0-handed-back.json"),
    // Define decides from the rounds alone: no provider call, no store.
    ("cognito-auth", "events/cognito-auth/define-after-the-password.custom-challenge.json"),
];

struct Options {
    runs: usize,
    warm: usize,
    only: Option<Vec<String>>,
    target: String,
    /// Print where each function's resident memory is, after its first answer.
    memory: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options { runs: 30, warm: 500, only: None, target: "target/release".into(), memory: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value()?.parse().map_err(|_| "--runs takes a number")?,
            "--warm" => o.warm = value()?.parse().map_err(|_| "--warm takes a number")?,
            "--only" => o.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--target" => o.target = value()?,
            "--memory" => o.memory = true,
            _ => {
                return Err(format!(
                    "unknown argument {a}; usage: cold-start [--runs N] [--warm N] [--only f,g] [--target DIR]"
                ));
            }
        }
    }
    Ok(o)
}

/// `VmHWM` (peak RSS) in KiB of a process.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory by kind (`Rss:` of /proc/<pid>/smaps summed per mapping name), largest first.
fn memory_map(pid: u32) -> Vec<(String, u64)> {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else { return Vec::new() };
    let mut by: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut current = String::new();
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first().is_some_and(|f| f.contains('-') && f.chars().all(|c| c.is_ascii_hexdigit() || c == '-')) {
            let perms = fields.get(1).copied().unwrap_or("");
            let name = fields.get(5).map_or("[anonymous]".to_owned(), |n| n.rsplit('/').next().unwrap_or(n).to_owned());
            current = format!("{name} {perms}");
        } else if fields.first() == Some(&"Rss:") {
            *by.entry(current.clone()).or_default() += fields.get(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    let mut v: Vec<(String, u64)> = by.into_iter().filter(|(_, kib)| *kib > 0).collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v
}

/// One cold start: (exec → ready, exec → first answer, peak RSS in KiB).
struct Cold {
    ready: Duration,
    answered: Duration,
    rss_kib: u64,
    memory: Vec<(String, u64)>,
}

/// The function's binary, with `env` and its output discarded.
fn spawn(binary: &str, env: &[(String, String)]) -> Result<std::process::Child, String> {
    Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{binary}: {e}"))
}

async fn cold(binary: &str, env: &[(String, String)], event: &[u8], runtime: &RuntimeApi) -> Result<Cold, String> {
    runtime.push(event);
    let start = Instant::now();
    let mut child = spawn(binary, env)?;
    let answered = runtime.answers(1, Duration::from_secs(30)).await;
    let rss_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let memory = memory_map(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let answers = answered?;
    let ready = runtime.ready_at().ok_or("never asked for an event")?;
    Ok(Cold { ready: ready - start, answered: answers[0].0 - start, rss_kib, memory })
}

/// Warm: `n` answers to the same event after the first; CPU time per answer, in microseconds.
async fn warm(binary: &str, env: &[(String, String)], event: &[u8], n: usize) -> Result<f64, String> {
    let runtime = RuntimeApi::start().await?;
    let env: Vec<(String, String)> =
        env.iter()
            .map(|(k, v)| {
                if k == "AWS_LAMBDA_RUNTIME_API" {
                    (k.clone(), runtime.address.clone())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
    let mut child = spawn(binary, &env)?;
    let pid = child.id();
    runtime.push(event);
    let first = runtime.answers(1, Duration::from_secs(30)).await;
    let before = cpu_ns(pid);
    let mut result = first.map(|_| ());
    for i in 0..n {
        if result.is_err() {
            break;
        }
        runtime.push(event);
        result = runtime.answers(i + 2, Duration::from_secs(30)).await.map(|_| ());
    }
    let after = cpu_ns(pid);
    let _ = child.kill();
    let _ = child.wait();
    result?;
    Ok(after.saturating_sub(before) as f64 / 1000.0 / n as f64)
}

fn quartiles(xs: Vec<f64>) -> (f64, f64) {
    (percentile(xs.clone(), 25), percentile(xs, 75))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let o = options()?;
    let moto = moto().await?;
    let sandbox = simguard_sandbox::Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), Default::default())
        .await
        .map_err(|e| e.to_string())?;
    admin(&o.target, &moto.url, &["create-table", TABLE], None)?;
    admin(&o.target, &moto.url, &["create-queue", QUEUE], None)?;
    admin(&o.target, &moto.url, &["verify-sender", "example.com"], None)?;
    let secret = simguard_sandbox::SandboxConfig::default().provider_secret().to_string();
    admin(&o.target, &moto.url, &["put-secret", SECRET], Some(&secret))?;
    let bare = format!("{}/bare-lambda", o.target);
    let bare_event = br#"{"version":"2.0","routeKey":"$default","rawPath":"/","rawQueryString":"","headers":{},"requestContext":{"accountId":"1","apiId":"a","domainName":"d","domainPrefix":"d","http":{"method":"GET","path":"/","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"bench"},"requestId":"r","routeKey":"$default","stage":"$default","time":"29/Nov/2026:00:00:00 +0000","timeEpoch":0},"isBase64Encoded":false}"#;

    println!("cold starts: {} per function, alternating with bare; warm: {} answers each", o.runs, o.warm);
    println!(
        "| function | exec → ready ms (p25–p75) | × bare | exec → first answer ms | peak RSS MB | × bare | warm CPU µs/answer |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (function, event_file) in FUNCTIONS {
        if o.only.as_ref().is_some_and(|only| !only.iter().any(|f| f == function)) {
            continue;
        }
        let event =
            std::fs::read(event_file).map_err(|e| format!("{event_file}: {e} (run from the repository root)"))?;
        let binary = format!("{}/{function}", o.target);
        let (mut ready, mut answered, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bare_ready, mut bare_rss) = (Vec::new(), Vec::new());
        for run in 0..o.runs {
            let runtime = RuntimeApi::start().await?;
            let env = environment(sandbox.base_url(), &moto.url, &runtime.address, function);
            let b = cold(&bare, &env, bare_event, &runtime).await?;
            if o.memory && run == 0 {
                println!("bare, resident KiB by mapping: {:?}", b.memory);
            }
            bare_ready.push(ms(b.ready));
            bare_rss.push(b.rss_kib as f64 / 1024.0);
            let runtime = RuntimeApi::start().await?;
            let env = environment(sandbox.base_url(), &moto.url, &runtime.address, function);
            let c = cold(&binary, &env, &event, &runtime).await?;
            if o.memory && run == 0 {
                println!("{function}, resident KiB by mapping: {:?}", c.memory);
            }
            ready.push(ms(c.ready));
            answered.push(ms(c.answered));
            rss.push(c.rss_kib as f64 / 1024.0);
        }
        let env = environment(sandbox.base_url(), &moto.url, "", function);
        let cpu = warm(&binary, &env, &event, o.warm).await?;
        let (r25, r75) = quartiles(ready.clone());
        let (r, br) = (median(ready), median(bare_ready));
        let (m, bm) = (median(rss), median(bare_rss));
        println!(
            "| {function} | {r:.2} ({r25:.2}–{r75:.2}) | {:.2} | {:.1} | {m:.1} | {:.2} | {cpu:.0} |",
            r / br,
            median(answered),
            m / bm
        );
        println!("|   bare, alternating | {br:.2} | 1 | – | {bm:.1} | 1 | – |");
    }
    Ok(())
}
