//! The local stack under a long, steady load (docs/security.md R10): 64 connections, each from its own
//! loopback address, sending a mix of coverage lookups, reset starts and logins with fresh emails,
//! for 10 minutes. Prints the requests served per minute, the answers by status, and the stack's
//! resident memory; passes when the last minute's throughput is within 10 % of the first's and the
//! memory at the end is under 300 MB.
//!
//! ```sh
//! cargo build --release -p simguard-local -p simguard-bench
//! ./target/release/soak                       # 600 s, 64 connections
//! ./target/release/soak --seconds 60 --connections 16 --bin target/release/simguard-local
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use simguard_bench::Stack;

struct Options {
    seconds: u64,
    connections: u16,
    bin: String,
    /// The kinds of request, taken in turn.
    mix: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seconds: 600,
        connections: 64,
        bin: "target/release/simguard-local".into(),
        mix: vec!["coverage".into(), "reset".into(), "login".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seconds" => o.seconds = value()?.parse().map_err(|_| "--seconds takes a number")?,
            "--connections" => o.connections = value()?.parse().map_err(|_| "--connections takes a number")?,
            "--bin" => o.bin = value()?,
            "--mix" => o.mix = value()?.split(',').map(str::to_owned).collect(),
            _ => {
                return Err(format!(
                    "unknown argument {a}; usage: soak [--seconds N] [--connections N] [--bin PATH] [--mix coverage,reset,login]"
                ));
            }
        }
    }
    Ok(o)
}

/// Answers by (minute, status).
#[derive(Default)]
struct Tally {
    by_minute: std::sync::Mutex<BTreeMap<u64, u64>>,
    by_status: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn count(&self, minute: u64, what: String) {
        if let Ok(mut m) = self.by_minute.lock() {
            *m.entry(minute).or_default() += 1;
        }
        if let Ok(mut s) = self.by_status.lock() {
            *s.entry(what).or_default() += 1;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let o = options()?;
    // Limits at their most: the soak measures the stack, not its rate limits (which it does hit).
    let stack = Stack::start(
        &o.bin,
        &[
            ("SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR", "10000"),
            ("SIMGUARD_LIMIT_RESET_PER_IP_HOUR", "10000"),
            ("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR", "1000000"),
            ("SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR", "100000"),
        ],
    )?;
    println!("soak: {} for {} s, {} connections", stack.url, o.seconds, o.connections);
    let started = Instant::now();
    let until = started + Duration::from_secs(o.seconds);
    let tally = Arc::new(Tally::default());
    let serial = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..o.connections {
        // Each connection from its own loopback address: per-address limits apply per connection.
        let address = IpAddr::V4(Ipv4Addr::new(127, 0, 1 + (c / 250) as u8, 1 + (c % 250) as u8));
        let client = simguard::adapters::tls::reqwest_builder()
            .local_address(address)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let (url, tally, serial, mix) = (stack.url.clone(), tally.clone(), serial.clone(), o.mix.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let n = serial.fetch_add(1, Ordering::Relaxed);
                let email = format!("soak-{n}@example.com");
                let kind = mix.get(n as usize % mix.len().max(1)).map_or("coverage", String::as_str);
                let (kind, request) = match kind {
                    "coverage" => ("coverage", client.get(format!("{url}/api/coverage"))),
                    "reset" => {
                        ("reset", client.post(format!("{url}/api/reset/check")).json(&json!({ "email": email })))
                    }
                    _ => (
                        "login",
                        client
                            .post(format!("{url}/api/login"))
                            .json(&json!({ "email": email, "password": "a soak test passphrase" })),
                    ),
                };
                let answer = request.header("origin", url.as_str()).send().await;
                let status = match answer {
                    Ok(a) => {
                        let s = a.status().as_u16();
                        let _ = a.bytes().await;
                        s.to_string()
                    }
                    Err(_) => "error".into(),
                };
                tally.count(started.elapsed().as_secs() / 60, format!("{kind} {status}"));
            }
        }));
    }
    let mut peak = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rss = stack.rss_kib().unwrap_or(0);
        peak = peak.max(rss);
        println!("  {:>4} s  RSS {:>6.1} MB", started.elapsed().as_secs(), rss as f64 / 1024.0);
    }
    for t in tasks {
        let _ = t.await;
    }
    let end_rss = stack.rss_kib().unwrap_or(0);
    let minutes = tally.by_minute.lock().map(|m| m.clone()).unwrap_or_default();
    println!("requests served per minute:");
    let whole = o.seconds / 60;
    for (minute, n) in minutes.iter().filter(|(m, _)| **m < whole || o.seconds % 60 != 0) {
        // A run's last, partial minute (and a run shorter than a minute) is shown over its own length;
        // the requests still in flight when a whole-minute run ends are not a minute of their own.
        let span = if *minute < whole { 60 } else { o.seconds - whole * 60 };
        println!("  minute {:>2}: {n:>7}  ({:.0}/s)", minute + 1, *n as f64 / span as f64);
    }
    println!("answers:");
    for (what, n) in tally.by_status.lock().map(|m| m.clone()).unwrap_or_default() {
        println!("  {what:<14} {n:>8}");
    }
    // Only whole minutes compare (a run's tail may be a few requests into another).
    let first = minutes.get(&0).copied().unwrap_or(0);
    let last = if whole > 0 { minutes.get(&(whole - 1)).copied().unwrap_or(0) } else { first };
    let ratio = if first == 0 { 0.0 } else { last as f64 / first as f64 };
    let rss_mb = end_rss as f64 / 1024.0;
    println!(
        "last minute / first minute: {ratio:.3}; RSS at the end {rss_mb:.1} MB (peak {:.1} MB)",
        peak as f64 / 1024.0
    );
    let flat = (0.9..=1.1).contains(&ratio);
    let small = rss_mb < 300.0;
    println!("{}", if flat && small { "PASS" } else { "FAIL" });
    if flat && small { Ok(()) } else { Err("the soak's bounds were not met".into()) }
}
