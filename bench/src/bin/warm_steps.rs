//! Warm CPU per step: the eight functions' release binaries run side by side under emulated Lambda
//! Runtime APIs, each flow is walked through them — an SMS reset, a silent reset, a sign-in with both
//! factors — and each request's CPU time is read from the function process's threads
//! (`/proc/<pid>/task/*/schedstat`, nanoseconds on the CPU), so waiting on DynamoDB (moto) or the
//! providers (the sandbox, in this process) is not counted. Each flow uses its own account and
//! address; the limits are raised to their maximum so that they never stop a flow.
//!
//! ```sh
//! cargo build --release --workspace --bins
//! PATH="$PWD/.venv/bin:$PATH" ./target/release/warm-steps            # 100 rounds of every flow
//! ./target/release/warm-steps --rounds 20
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use simguard_bench::lambda::{QUEUE, SECRET, TABLE, admin, cpu_ns, environment, median, moto, percentile};
use simguard_bench::runtime::RuntimeApi;
use simguard_sandbox::{CoverageRule, Sandbox};

const FUNCTIONS: [&str; 8] =
    ["coverage", "create-check", "callback", "sim-check", "otp-start", "otp-verify", "reset-password", "account"];
const ORIGIN: &str = "http://127.0.0.1:8080";

/// Every limit at its maximum: the benchmark measures the steps, not the limits.
const LIMITS: &[(&str, &str)] = &[
    ("SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR", "10000"),
    ("SIMGUARD_LIMIT_LOGIN_PER_ACCOUNT_15MIN", "100"),
    ("SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR", "100000"),
    ("SIMGUARD_LIMIT_REGISTER_PER_IP_HOUR", "10000"),
    ("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR", "1000000"),
    ("SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR", "100"),
    ("SIMGUARD_LIMIT_RESET_PER_IP_HOUR", "10000"),
    ("SIMGUARD_LIMIT_SIM_CHECKS_PER_IP_HOUR", "10000"),
    ("SIMGUARD_LIMIT_SMS_GLOBAL_HOUR", "1000000"),
    ("SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR", "100000"),
    ("SIMGUARD_LIMIT_SMS_PER_IP_HOUR", "10000"),
    ("SIMGUARD_LIMIT_SMS_PER_NUMBER_10MIN", "5"),
    ("SIMGUARD_LIMIT_SMS_PER_NUMBER_DAY", "100"),
    ("SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR", "100000"),
];

/// One function's process, warm.
struct Function {
    runtime: RuntimeApi,
    child: Child,
    answered: usize,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A function's answer: status, the cookies it set, its JSON body (if any), its Location.
struct Answer {
    status: u64,
    cookies: Vec<String>,
    body: Value,
    location: Option<String>,
}

impl Function {
    async fn start(target: &str, name: &str, sandbox: &str, moto: &str) -> Result<Function, String> {
        let runtime = RuntimeApi::start().await?;
        let mut env = environment(sandbox, moto, &runtime.address, name);
        env.extend(LIMITS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let child = Command::new(format!("{target}/{name}"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{name}: {e} (cargo build --release --workspace --bins)"))?;
        Ok(Function { runtime, child, answered: 0 })
    }

    /// Sends one event; its answer and the CPU time the process spent on it.
    async fn send(&mut self, event: &Value) -> Result<(Answer, u64), String> {
        let before = cpu_ns(self.child.id());
        self.runtime.push(event.to_string().as_bytes());
        self.answered += 1;
        let answers = self.runtime.answers(self.answered, Duration::from_secs(30)).await?;
        let spent = cpu_ns(self.child.id()).saturating_sub(before);
        let raw = answers.last().map(|(_, body)| body.clone()).unwrap_or_default();
        let v: Value = serde_json::from_slice(&raw).map_err(|e| format!("an answer that is not JSON: {e}"))?;
        let cookies = v["cookies"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_owned));
        let location = v["headers"]["location"].as_str().map(str::to_owned);
        let body = v["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
        let answer =
            Answer { status: v["statusCode"].as_u64().unwrap_or(0), cookies: cookies.collect(), body, location };
        Ok((answer, spent))
    }
}

/// A browser: its address and its cookies.
struct Browser {
    ip: IpAddr,
    cookies: BTreeMap<String, String>,
}

/// A request a page makes.
struct Req {
    method: &'static str,
    path: &'static str,
    query: String,
    body: Option<Value>,
    csrf: Option<String>,
}

fn get(path: &'static str) -> Req {
    Req { method: "GET", path, query: String::new(), body: None, csrf: None }
}

fn post(path: &'static str, body: Value) -> Req {
    Req { method: "POST", path, query: String::new(), body: Some(body), csrf: None }
}

impl Req {
    fn csrf(mut self, token: &str) -> Req {
        self.csrf = Some(token.to_owned());
        self
    }
    fn query(mut self, q: &str) -> Req {
        self.query = q.to_owned();
        self
    }
}

impl Browser {
    fn event(&self, r: Req) -> Value {
        let Req { method, path, query, body, csrf } = r;
        let mut headers = json!({ "host": "app.example.com", "user-agent": "bench", "origin": ORIGIN });
        if let Some(c) = &csrf {
            headers["x-csrf-token"] = json!(c);
        }
        if body.is_some() {
            headers["content-type"] = json!("application/json");
        }
        let cookies: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": query,
            "cookies": cookies,
            "headers": headers,
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": self.ip.to_string(), "userAgent": "bench" },
                "requestId": "r", "routeKey": format!("{method} {path}"), "stage": "$default",
                "time": "29/Nov/2026:00:00:00 +0000", "timeEpoch": 0
            },
            "body": body.map(|b| b.to_string()),
            "isBase64Encoded": false
        })
    }

    fn keep(&mut self, a: &Answer) {
        for c in &a.cookies {
            let Some((name, value)) = c.split(';').next().and_then(|kv| kv.split_once('=')) else { continue };
            if c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

/// Every function, and the CPU time of each step they served.
struct Bench {
    functions: BTreeMap<&'static str, Function>,
    samples: BTreeMap<&'static str, Vec<f64>>,
}

impl Bench {
    /// One step: `function` serves the browser's request, which must answer `status`.
    async fn step(
        &mut self,
        label: &'static str,
        function: &'static str,
        b: &mut Browser,
        request: Req,
        status: u64,
    ) -> Result<Answer, String> {
        let f = self.functions.get_mut(function).ok_or("no such function")?;
        let (answer, ns) = f.send(&b.event(request)).await?;
        if answer.status != status {
            return Err(format!("{label}: {} instead of {status}: {}", answer.status, answer.body));
        }
        b.keep(&answer);
        self.samples.entry(label).or_default().push(ns as f64 / 1000.0);
        Ok(answer)
    }
}

impl Bench {
    /// sim-check, otp/start, the code the sandbox texted, otp/verify: the answer of the last.
    async fn second_factor(
        &mut self,
        b: &mut Browser,
        token: &str,
        code: impl Fn() -> Option<String>,
    ) -> Result<Answer, String> {
        self.step("sim-check", "sim-check", b, post("/api/sim-check", json!({})).csrf(token), 200).await?;
        self.step("otp/start", "otp-start", b, post("/api/otp/start", json!({})).csrf(token), 200).await?;
        let verify = json!({ "code": code().ok_or("no SMS")? });
        self.step("otp/verify", "otp-verify", b, post("/api/otp/verify", verify).csrf(token), 200).await
    }

    /// The reset's last step.
    async fn new_password(&mut self, b: &mut Browser, token: &str, password: &str) -> Result<Answer, String> {
        let new = post("/api/reset/password", json!({ "password": password })).csrf(token);
        self.step("reset/password (hashes)", "reset-password", b, new, 200).await
    }
}

fn csrf(a: &Answer) -> Result<String, String> {
    a.body["csrf"].as_str().map(str::to_owned).ok_or_else(|| format!("no csrf in {}", a.body))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut rounds = 100;
    let mut target = "target/release".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--rounds", Some(n)) => rounds = n.parse().map_err(|_| "--rounds takes a number")?,
            ("--target", Some(t)) => target = t,
            _ => return Err("usage: warm-steps [--rounds N] [--target DIR]".into()),
        }
    }
    let moto = moto().await?;
    let sandbox =
        Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), Default::default()).await.map_err(|e| e.to_string())?;
    admin(&target, &moto.url, &["create-table", TABLE], None)?;
    admin(&target, &moto.url, &["create-queue", QUEUE], None)?;
    let secret = simguard_sandbox::SandboxConfig::default().provider_secret().to_string();
    admin(&target, &moto.url, &["put-secret", SECRET], Some(&secret))?;
    let mut functions = BTreeMap::new();
    for name in FUNCTIONS {
        functions.insert(name, Function::start(&target, name, sandbox.base_url(), &moto.url).await?);
    }
    let mut bench = Bench { functions, samples: BTreeMap::new() };
    let device = simguard::adapters::tls::reqwest_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;

    for round in 0..rounds {
        let email = format!("bench{round}@example.com");
        let phone = format!("+44700001{:04}", round * 2);
        let mut password = "a long enough passphrase".to_owned();
        let ip: IpAddr = format!("10.{}.{}.1", round / 250, round % 250).parse().map_err(|_| "ip")?;
        let mut b = Browser { ip, cookies: BTreeMap::new() };
        let register = json!({ "email": email, "password": password, "phone": phone });
        bench.step("register (hashes)", "account", &mut b, post("/api/register", register), 201).await?;

        // The SMS reset: not covered, SIM check, a code, a new password.
        let r = bench.step("coverage", "coverage", &mut b, get("/api/coverage"), 200).await?;
        if r.body["silent"] != json!(false) {
            return Err(format!("coverage: {}", r.body));
        }
        let start = json!({ "email": email });
        let r = bench
            .step("reset/check (sms)", "create-check", &mut b, post("/api/reset/check", start.clone()), 200)
            .await?;
        let token = csrf(&r)?;
        bench.second_factor(&mut b, &token, || sandbox.last_code(&phone)).await?;
        password = format!("a new passphrase {round} sms");
        bench.new_password(&mut b, &token, &password).await?;

        // The silent reset, from a covered address (the first one's answer is cached as it was): the
        // device's visit, the operator's redirect, a new password.
        let ip: IpAddr = format!("10.{}.{}.2", round / 250, round % 250).parse().map_err(|_| "ip")?;
        sandbox.truid().set_coverage(ip, CoverageRule::Covered);
        let mut b = Browser { ip, cookies: BTreeMap::new() };
        bench.step("coverage (covered)", "coverage", &mut b, get("/api/coverage"), 200).await?;
        let r =
            bench.step("reset/check (silent)", "create-check", &mut b, post("/api/reset/check", start), 200).await?;
        let token = csrf(&r)?;
        let check_url = r.body["check_url"].as_str().ok_or("no check_url")?;
        let visit = device.get(check_url).send().await.map_err(|e| e.to_string())?;
        let location = visit.headers().get("location").and_then(|l| l.to_str().ok()).ok_or("no redirect")?;
        let query = location.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
        let r = bench.step("reset/callback", "callback", &mut b, get("/api/reset/callback").query(&query), 303).await?;
        if r.location.as_deref() != Some("/reset/new-password.html") {
            return Err(format!("callback went to {:?}", r.location));
        }
        password = format!("a new passphrase {round} silent");
        bench.new_password(&mut b, &token, &password).await?;

        // Sign-in with both factors, then the protected page and sign-out.
        let mut b = Browser { ip, cookies: BTreeMap::new() };
        let login = json!({ "email": email, "password": password });
        let r = bench.step("login (hashes)", "account", &mut b, post("/api/login", login), 200).await?;
        let token = csrf(&r)?;
        let r = bench.second_factor(&mut b, &token, || sandbox.last_code(&phone)).await?;
        let session = csrf(&r)?;
        bench.step("me", "account", &mut b, get("/api/me"), 200).await?;
        bench.step("logout", "account", &mut b, post("/api/logout", json!({})).csrf(&session), 204).await?;
    }

    println!("warm CPU per request, {rounds} rounds of each flow (µs on the CPU, all of the function's threads)");
    println!("| step | median µs | p90 µs | requests |");
    println!("|---|---|---|---|");
    let order = [
        "coverage",
        "coverage (covered)",
        "reset/check (sms)",
        "reset/check (silent)",
        "reset/callback",
        "sim-check",
        "otp/start",
        "otp/verify",
        "me",
        "logout",
        "register (hashes)",
        "login (hashes)",
        "reset/password (hashes)",
    ];
    for label in order {
        let xs = bench.samples.get(label).cloned().unwrap_or_default();
        let n = xs.len();
        println!("| {label} | {:.0} | {:.0} | {n} |", median(xs.clone()), percentile(xs, 90));
    }
    Ok(())
}
