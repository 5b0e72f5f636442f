//! Test harness: the real router fed real API Gateway HTTP API (payload 2.0) events, parsed by
//! `lambda_http` exactly as in Lambda; the tru.ID sandbox in-process; an injected clock.

#![allow(dead_code)]

pub mod moto;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use serde_json::{Value, json};
use simguard::adapters::memory::MemoryStore;
use simguard::adapters::notify::OutboxNotifier;
use simguard::adapters::truid_http::{TruIdClient, TruIdHttpConfig};
use simguard::clock::{ManualClock, Timestamp};
use simguard::config::OtpProviderKind;
use simguard::domain::{Email, HashCost, PasswordHasher, PasswordPolicy, Phone, User, UserId};
use simguard::ports::{OtpProvider, ProviderSecrets, SecretSource, StaticSecrets, Store, TruId};
use simguard::random::OsRandom;
use simguard::{App, Settings};
use simguard_sandbox::{Sandbox, SandboxConfig, TruIdConfig};
use tower::ServiceExt;

pub const T0: i64 = 1_800_000_000;
pub const ORIGIN: &str = "https://app.example";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "canary-client-secret-7f3a9c";
pub const PASSWORD: &str = "the old passphrase 2026";

pub struct Env {
    pub sandbox: Sandbox,
    pub app: Arc<App>,
    pub router: Router,
    /// Deployed: each route's own function's router, by path.
    pub routers: BTreeMap<&'static str, Router>,
    pub clock: ManualClock,
    /// The store the app runs on (in memory, or DynamoDB on moto).
    pub store: Arc<dyn Store>,
    pub outbox: Arc<OutboxNotifier>,
    pub metrics: Arc<simguard::metrics::MemoryMetrics>,
    /// A device on "mobile data": does not follow redirects, so tests see each hop.
    pub device: reqwest::Client,
    /// Requests go through an emulated CloudFront (the deployed templates' `/api/*` behaviour).
    pub cloudfront: Option<CloudFront>,
    /// Servers a test started for this environment (a mock provider), stopped with it.
    _keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

/// What CloudFront does to an `/api/*` request in the deployed templates: forwards only the headers
/// of the origin request policy (cookies and the query string go through), adds the viewer's
/// address and the origin-verify header; API Gateway then sees CloudFront's address as the source.
#[derive(Clone, Debug)]
pub struct CloudFront {
    pub forwarded_headers: Vec<String>,
    pub custom_headers: Vec<(String, String)>,
}

impl CloudFront {
    pub const EDGE_IP: &str = "130.176.1.1";

    pub fn apply(&self, event: &Event) -> Event {
        let mut e = event.clone();
        e.headers.retain(|k, _| k == "host" || self.forwarded_headers.iter().any(|h| h.eq_ignore_ascii_case(k)));
        for (k, v) in &self.custom_headers {
            e.headers.insert(k.to_ascii_lowercase(), v.clone());
        }
        // CloudFront writes IPv6 viewers without brackets: 2001:db8::1:46532.
        e.headers.insert("cloudfront-viewer-address".into(), format!("{}:46532", event.source_ip));
        e.source_ip = Self::EDGE_IP.into();
        e
    }
}

/// Each Lambda function on its own App, configured by a template's environment for it, as in AWS.
pub struct Deployment {
    /// Per function: the environment the template gives it, resolved. The sandbox's URL replaces
    /// the providers' base URLs.
    pub env: BTreeMap<simguard::Function, BTreeMap<String, String>>,
    /// Per function: its AWS clients (pointed at moto; tests record what each calls).
    pub clients: BTreeMap<simguard::Function, (aws_sdk_dynamodb::Client, aws_sdk_secretsmanager::Client)>,
    pub cloudfront: Option<CloudFront>,
}

pub struct EnvBuilder {
    settings: Box<dyn FnOnce(&mut Settings)>,
    truid: Option<Arc<dyn TruId>>,
    otp: Option<Arc<dyn OtpProvider>>,
    sandbox: SandboxConfig,
    provider: OtpProviderKind,
    keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
    dynamo: Option<Arc<simguard::adapters::dynamo::DynamoStore>>,
    deployment: Option<Deployment>,
}

impl EnvBuilder {
    /// The functions as deployed: one App per function, built by `simguard::bootstrap::function_app`
    /// from the template's environment, on DynamoDB and Secrets Manager (moto). Needs `dynamodb()`
    /// for the store the test itself uses.
    pub fn deployed(mut self, d: Deployment) -> Self {
        self.deployment = Some(d);
        self
    }
    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.settings = Box::new(f);
        self
    }
    pub fn truid(mut self, t: Arc<dyn TruId>) -> Self {
        self.truid = Some(t);
        self
    }
    pub fn sandbox(mut self, f: impl FnOnce(&mut SandboxConfig)) -> Self {
        f(&mut self.sandbox);
        self
    }
    pub fn otp(mut self, o: Arc<dyn OtpProvider>) -> Self {
        self.otp = Some(o);
        self
    }
    /// The whole app on the DynamoDB store (moto's server), with a fresh table.
    pub async fn dynamodb(mut self) -> Self {
        let (client, table) = moto::fresh_table().await;
        self.dynamo = Some(Arc::new(simguard::adapters::dynamo::DynamoStore::new(client, table)));
        self
    }
    /// The whole app on this DynamoDB store.
    pub fn store_on(mut self, store: Arc<simguard::adapters::dynamo::DynamoStore>) -> Self {
        self.dynamo = Some(store);
        self
    }
    pub fn keep_alive(mut self, thing: impl std::any::Any + Send + Sync) -> Self {
        self.keep_alive.push(Box::new(thing));
        self
    }
    pub fn provider(mut self, p: OtpProviderKind) -> Self {
        self.provider = p;
        self
    }

    pub async fn start(self) -> Env {
        let config = SandboxConfig { frozen_at: Some(T0), ..self.sandbox };
        let sandbox =
            Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config.clone()).await.expect("sandbox");
        let mut settings =
            Settings::new(url::Url::parse(ORIGIN).expect("url"), url::Url::parse(sandbox.base_url()).expect("url"));
        settings.otp.provider = self.provider;
        settings.otp.twilio_service_sid = Some(config.twilio.service_sid.clone());
        (self.settings)(&mut settings);
        let clock = ManualClock::new(Timestamp(T0));
        let secrets: Arc<dyn SecretSource> = Arc::new(StaticSecrets::new(ProviderSecrets {
            truid_client_id: Some(config.truid.client_id.clone()),
            truid_client_secret: Some(config.truid.client_secret.clone().into()),
            password_pepper: None,
            vonage_api_key: Some(config.vonage.api_key.clone()),
            vonage_api_secret: Some(config.vonage.api_secret.clone().into()),
            twilio_account_sid: Some(config.twilio.account_sid.clone()),
            twilio_auth_token: Some(config.twilio.auth_token.clone().into()),
        }));
        let truid: Arc<dyn TruId> = match self.truid {
            Some(t) => t,
            None => Arc::new(
                TruIdClient::new(
                    TruIdHttpConfig { base_url: settings.truid_base_url.clone(), timeout: settings.provider_timeout },
                    secrets.clone(),
                    Arc::new(clock.clone()),
                )
                .expect("client"),
            ),
        };
        let otp = match self.otp {
            Some(o) => o,
            None => simguard::bootstrap::otp_provider(&settings, secrets).expect("otp provider"),
        };
        let memory = Arc::new(MemoryStore::new());
        let (store, limiter): (Arc<dyn Store>, Arc<dyn simguard::ports::RateLimiter>) = match &self.dynamo {
            Some(d) => (d.clone(), d.clone()),
            None => (memory.clone(), memory.clone()),
        };
        let outbox = Arc::new(OutboxNotifier::new());
        let metrics = Arc::new(simguard::metrics::MemoryMetrics::new());
        let app = Arc::new(App {
            settings,
            store: store.clone(),
            limiter,
            truid,
            otp,
            notifier: outbox.clone(),
            clock: Arc::new(clock.clone()),
            random: Arc::new(OsRandom),
            hasher: PasswordHasher::new(HashCost::TEST_ONLY_CHEAP, None),
            metrics: metrics.clone(),
        });
        let device = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let Some(deployment) = self.deployment else {
            let router = simguard::routes::router(app.clone(), None).expect("router");
            return Env {
                sandbox,
                app,
                router,
                clock,
                store,
                outbox,
                metrics,
                device,
                routers: BTreeMap::new(),
                cloudfront: None,
                _keep_alive: self.keep_alive,
            };
        };
        // One App and one router per function; a request goes to the function its route names.
        let mut apps = BTreeMap::new();
        for (function, env) in deployment.env {
            let mut env = env;
            for var in ["SIMGUARD_TRUID_BASE_URL", "SIMGUARD_VONAGE_BASE_URL", "SIMGUARD_TWILIO_BASE_URL"] {
                env.insert(var.into(), sandbox.base_url().to_owned());
            }
            let settings = Settings::for_function(function, |k| env.get(k).cloned())
                .unwrap_or_else(|e| panic!("{}: the template's environment is not valid: {e}", function.name()));
            let (dynamodb, secrets_manager) = deployment.clients.get(&function).cloned().expect("clients");
            let parts = simguard::bootstrap::Parts {
                dynamodb,
                secrets_manager,
                clock: Arc::new(clock.clone()),
                metrics: metrics.clone(),
                notifier: outbox.clone(),
                hash_cost: HashCost::TEST_ONLY_CHEAP,
            };
            let app = simguard::bootstrap::function_app(settings, function, parts)
                .unwrap_or_else(|e| panic!("{}: {e}", function.name()));
            apps.insert(function, app);
        }
        let mut routers = BTreeMap::new();
        for route in simguard::ROUTES {
            let app = apps.get(&route.function).cloned().expect("every function is deployed");
            routers.insert(route.path, simguard::routes::router(app, Some(route.function)).expect("router"));
        }
        let account = apps.get(&simguard::Function::Account).cloned().expect("account");
        // What API Gateway answers for a route it does not have does not matter here: any router's 404.
        let router = routers.get("/api/me").cloned().expect("a router");
        Env {
            sandbox,
            app: account,
            router,
            routers,
            clock,
            store,
            outbox,
            metrics,
            device,
            cloudfront: deployment.cloudfront,
            _keep_alive: self.keep_alive,
        }
    }
}

pub fn sandbox_config() -> TruIdConfig {
    TruIdConfig { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into(), ..TruIdConfig::default() }
}

impl Env {
    pub fn builder() -> EnvBuilder {
        EnvBuilder {
            settings: Box::new(|_| {}),
            truid: None,
            otp: None,
            sandbox: SandboxConfig { truid: sandbox_config(), ..SandboxConfig::default() },
            provider: OtpProviderKind::VonageV2,
            keep_alive: Vec::new(),
            dynamo: None,
            deployment: None,
        }
    }

    pub async fn start() -> Env {
        Self::builder().start().await
    }

    /// Moves the app's clock and the sandbox's together.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(secs);
        self.sandbox.clock().advance(secs);
    }

    pub async fn user(&self, email: &str, phone: &str) -> User {
        self.user_with_password(email, phone, PASSWORD).await
    }

    pub async fn user_with_password(&self, email: &str, phone: &str, password: &str) -> User {
        let pw = PasswordPolicy::check(password, None).expect("test password passes the policy");
        let user = User {
            id: UserId(format!("u-{}", email.split('@').next().unwrap_or("x"))),
            email: Email::parse(email).expect("email"),
            phone: Phone::parse(phone).expect("phone"),
            password_hash: self.app.hasher.hash(&pw, &OsRandom).await.expect("hash"),
            created_at: Timestamp(T0 - 30 * 86400),
            phone_verified_at: Some(Timestamp(T0 - 30 * 86400)),
            credential_version: 0,
        };
        self.store.create_user(&user).await.expect("create user");
        user
    }

    pub async fn stored_user(&self, email: &str) -> User {
        self.store.user_by_email(&Email::parse(email).expect("email")).await.expect("store").expect("user exists")
    }

    pub async fn password_works(&self, email: &str, password: &str) -> bool {
        let user = self.stored_user(email).await;
        self.app
            .hasher
            .verify(PasswordPolicy::normalise_for_login(password), Some(&user.password_hash), &OsRandom)
            .await
    }

    pub async fn send(&self, event: &Event) -> Resp {
        match &self.cloudfront {
            Some(cf) if event.path.starts_with("/api/") => self.send_direct(&cf.apply(event)).await,
            _ => self.send_direct(event).await,
        }
    }

    /// Straight to API Gateway, around CloudFront if the environment has one.
    pub async fn send_direct(&self, event: &Event) -> Resp {
        let json = event.to_json().to_string();
        let req = lambda_http::request::from_str(&json).expect("a valid API Gateway v2 event");
        let router = self.routers.get(event.path.as_str()).unwrap_or(&self.router);
        let resp = router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body").to_vec();
        Resp { status, headers, body }
    }

    /// The device opens `check_url` over mobile data; returns where the operator sends it.
    pub async fn device_visit(&self, check_url: &str) -> url::Url {
        let resp = self.device.get(check_url).send().await.expect("visit");
        assert_eq!(resp.status(), 302, "check_url visit");
        let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("Location");
        url::Url::parse(loc).expect("absolute Location")
    }

    /// The last code the sandbox texted to `phone`.
    pub fn last_code(&self, phone: &str) -> String {
        self.sandbox.last_code(phone).unwrap_or_else(|| panic!("no SMS to {phone}"))
    }

    pub fn sms_count(&self) -> usize {
        self.sandbox.outbox().len()
    }

    /// Every device (loopback included) is off mobile data: resets take the SMS path.
    pub fn no_coverage(&self) {
        for ip in ["127.0.0.1", "::1"] {
            self.sandbox.truid().set_coverage(ip.parse().expect("ip"), simguard_sandbox::CoverageRule::NotMobileIp);
        }
    }

    /// Calls that would send an SMS, to any provider.
    pub fn otp_starts(&self) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && (r.path == "/verify/json" || r.path == "/v2/verify" || r.path.ends_with("/Verifications"))
            })
            .count()
    }

    /// Calls that check a code, at any provider.
    pub fn otp_checks(&self) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && (r.path == "/verify/check/json"
                        || (r.path.starts_with("/v2/verify/") && r.path.len() > "/v2/verify/".len())
                        || r.path.ends_with("/VerificationCheck"))
            })
            .count()
    }

    pub fn patches(&self) -> usize {
        self.sandbox.truid().count("PATCH", "/subscriber_check/v0.2/checks/")
    }

    pub fn provider_calls(&self) -> usize {
        self.sandbox.truid().requests().iter().filter(|r| r.path != "/oauth2/v1/token").count()
    }
}

/// An API Gateway HTTP API (payload format 2.0) event.
#[derive(Clone, Debug)]
pub struct Event {
    pub method: &'static str,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub cookies: Vec<String>,
    pub body: Option<String>,
    pub source_ip: String,
}

impl Event {
    pub fn new(method: &'static str, path: &str) -> Event {
        let mut headers = BTreeMap::new();
        headers.insert("host".into(), "app.example".into());
        headers.insert("user-agent".into(), "Mozilla/5.0 (test)".into());
        Event {
            method,
            path: path.into(),
            query: String::new(),
            headers,
            cookies: vec![],
            body: None,
            source_ip: "127.0.0.1".into(),
        }
    }
    pub fn get(path: &str) -> Event {
        Event::new("GET", path)
    }
    /// A same-origin fetch from our own page.
    pub fn post(path: &str, body: Value) -> Event {
        Event::new("POST", path)
            .header("content-type", "application/json")
            .header("origin", ORIGIN)
            .header("sec-fetch-site", "same-origin")
            .body(body.to_string())
    }
    pub fn header(mut self, k: &str, v: &str) -> Event {
        self.headers.insert(k.to_ascii_lowercase(), v.into());
        self
    }
    pub fn without_header(mut self, k: &str) -> Event {
        self.headers.remove(k);
        self
    }
    pub fn body(mut self, b: String) -> Event {
        self.body = Some(b);
        self
    }
    pub fn query(mut self, q: &str) -> Event {
        self.query = q.into();
        self
    }
    pub fn ip(mut self, ip: &str) -> Event {
        self.source_ip = ip.into();
        self
    }
    pub fn cookie(mut self, name: &str, value: &str) -> Event {
        self.cookies.push(format!("{name}={value}"));
        self
    }
    pub fn csrf(self, token: &str) -> Event {
        self.header("x-csrf-token", token)
    }

    pub fn to_json(&self) -> Value {
        let mut query_params = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(self.query.as_bytes()) {
            query_params.insert(k.into_owned(), json!(v.into_owned()));
        }
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.query,
            "cookies": self.cookies,
            "headers": self.headers,
            "queryStringParameters": query_params,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "simguardapi",
                "domainName": "app.example",
                "domainPrefix": "app",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": self.headers.get("user-agent").cloned().unwrap_or_default()
                },
                "requestId": "req-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "23/Nov/2026:08:00:00 +0000",
                "timeEpoch": T0 * 1000
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }
    /// Value of a cookie this response sets (not cleared).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().filter(|c| !c.contains("Max-Age=0")).find_map(|c| {
            c.split(';').next().and_then(|kv| kv.split_once('=')).filter(|(k, _)| *k == name).map(|(_, v)| v.to_owned())
        })
    }
    pub fn location(&self) -> Option<String> {
        self.header("location")
    }
    pub fn problem_type(&self) -> Option<String> {
        self.json()["type"].as_str().map(str::to_owned)
    }
}

pub const FLOW: &str = "__Host-simguard-flow";
pub const RESET: &str = "__Host-simguard-reset";
pub const SESSION: &str = "__Host-simguard-session";

/// A browser: keeps the cookies responses set, and sends them back.
#[derive(Default, Clone, Debug)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    pub ip: Option<String>,
}

impl Browser {
    pub fn at(ip: &str) -> Browser {
        Browser { ip: Some(ip.into()), ..Browser::default() }
    }

    pub async fn send(&mut self, env: &Env, mut event: Event) -> Resp {
        for (k, v) in &self.cookies {
            event = event.cookie(k, v);
        }
        if let Some(ip) = &self.ip {
            event = event.ip(ip);
        }
        let resp = env.send(&event).await;
        for c in resp.set_cookies() {
            let Some((name, value)) = c.split(';').next().and_then(|kv| kv.split_once('=')) else {
                continue;
            };
            if c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        resp
    }

    pub async fn start_reset(&mut self, env: &Env, email: &str) -> Resp {
        self.send(env, Event::post("/api/reset/check", json!({ "email": email }))).await
    }

    /// The operator's redirect landing on our callback in this browser.
    pub async fn follow_to_callback(&mut self, env: &Env, location: &url::Url) -> Resp {
        assert_eq!(location.path(), "/api/reset/callback");
        self.send(env, Event::get("/api/reset/callback").query(location.query().unwrap_or(""))).await
    }

    /// Start → device visit → callback. Returns (csrf, callback response).
    pub async fn silent_reset(&mut self, env: &Env, email: &str) -> (String, Resp) {
        let start = self.start_reset(env, email).await;
        assert_eq!(start.status, 200, "{}", start.text());
        let body = start.json();
        assert_eq!(body["next"], "silent", "{body}");
        let location = env.device_visit(body["check_url"].as_str().expect("check_url")).await;
        let cb = self.follow_to_callback(env, &location).await;
        (body["csrf"].as_str().expect("csrf").to_owned(), cb)
    }

    pub async fn set_password(&mut self, env: &Env, csrf: &str, password: &str) -> Resp {
        self.send(env, Event::post("/api/reset/password", json!({ "password": password })).csrf(csrf)).await
    }

    /// The first factor only: a login flow waiting for its second factor.
    pub async fn login(&mut self, env: &Env, email: &str, password: &str) -> Resp {
        self.send(env, Event::post("/api/login", json!({ "email": email, "password": password }))).await
    }

    pub async fn sim_check(&mut self, env: &Env, csrf: &str) -> Resp {
        self.send(env, Event::post("/api/sim-check", json!({})).csrf(csrf)).await
    }

    pub async fn otp_start(&mut self, env: &Env, csrf: &str) -> Resp {
        self.send(env, Event::post("/api/otp/start", json!({})).csrf(csrf)).await
    }

    pub async fn otp_verify(&mut self, env: &Env, csrf: &str, code: &str) -> Resp {
        self.send(env, Event::post("/api/otp/verify", json!({ "code": code })).csrf(csrf)).await
    }

    /// sim-check → otp-start → the code from the sandbox outbox → otp-verify; asserts each step.
    pub async fn second_factor(&mut self, env: &Env, csrf: &str, phone: &str) -> Resp {
        let sim = self.sim_check(env, csrf).await;
        assert_eq!((sim.status, sim.json()["next"].clone()), (200, json!("otp")), "sim-check: {}", sim.text());
        let start = self.otp_start(env, csrf).await;
        assert_eq!(start.status, 200, "otp-start: {}", start.text());
        let code = env.last_code(phone);
        self.otp_verify(env, csrf, &code).await
    }

    /// Password, SIM check, SMS code: a signed-in session. Returns the session's CSRF token.
    pub async fn sign_in(&mut self, env: &Env, email: &str, password: &str, phone: &str) -> String {
        let login = self.login(env, email, password).await;
        assert_eq!((login.status, login.json()["next"].clone()), (200, json!("second_factor")), "{}", login.text());
        let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
        let done = self.second_factor(env, &csrf, phone).await;
        assert_eq!((done.status, done.json()["next"].clone()), (200, json!("signed_in")), "{}", done.text());
        done.json()["csrf"].as_str().expect("session csrf").to_owned()
    }
}
