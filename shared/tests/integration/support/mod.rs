//! Test harness: every function built by `simguard::assembly::Assembly` from its own settings, as
//! deployed, and fed real API Gateway HTTP API (payload 2.0) events, parsed by `lambda_http` exactly
//! as in Lambda; the provider sandbox in-process; an injected clock.

#![allow(dead_code)]

pub mod logs;
pub mod moto;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use serde_json::{Value, json};
use simguard::adapters::argon2::{Argon2Hasher, HashCost};
use simguard::adapters::clock::ManualClock;
use simguard::adapters::dynamo::DynamoStore;
use simguard::adapters::memory::MemoryStore;
use simguard::adapters::metrics::MemoryMetrics;
use simguard::adapters::notify::OutboxNotifier;
use simguard::adapters::random::OsRandom;
use simguard::adapters::secrets::StaticSecrets;
use simguard::adapters::secrets_manager::{SecretsManagerSource, parse_secret};
use simguard::assembly::{Assembly, Storage};
use simguard::config::OtpProviderKind;
use simguard::domain::{Email, PasswordPolicy, Phone, Timestamp, User, UserId};
use simguard::ports::{OtpProvider, PasswordHasher, RateLimiter, SecretSource, Store, TruId};
use simguard::{Function, ROUTES, Settings};
use simguard_sandbox::{Sandbox, SandboxConfig, TruIdConfig};
use tower::ServiceExt;

pub const T0: i64 = 1_800_000_000;
pub const ORIGIN: &str = "https://app.example";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "canary-client-secret-7f3a9c";
pub const PASSWORD: &str = "the old passphrase 2026";

pub struct Env {
    pub sandbox: Sandbox,
    /// Each route's own function's router, by path; `router` answers everything else.
    pub routers: BTreeMap<&'static str, Router>,
    pub router: Router,
    /// The variables every function was built from (each read only its own).
    pub vars: BTreeMap<String, String>,
    pub clock: ManualClock,
    /// The store the functions run on (in memory, or DynamoDB on moto).
    pub store: Arc<dyn Store>,
    /// The in-memory store, when that is what the functions run on.
    pub memory: Option<Arc<MemoryStore>>,
    /// The DynamoDB store, when that is what the functions run on.
    pub dynamo: Option<Arc<DynamoStore>>,
    /// Hashes as the functions do (same cost, same pepper).
    pub hasher: Arc<dyn PasswordHasher>,
    pub outbox: Arc<OutboxNotifier>,
    pub metrics: Arc<MemoryMetrics>,
    /// A device on "mobile data": does not follow redirects, so tests see each hop.
    pub device: reqwest::Client,
    /// Requests go through an emulated CloudFront (the deployed templates' `/api/*` behaviour).
    pub cloudfront: Option<CloudFront>,
    /// Deployed: the notification queue's consumer.
    pub consumer: Option<DeployedConsumer>,
    /// The Cognito auth-challenge triggers, on the same store, clock and sandbox.
    pub cognito: Option<simguard::cognito::CognitoTriggers>,
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

/// Each Lambda function configured by a template's environment for it, with its own AWS clients,
/// as in AWS.
pub struct Deployment {
    /// Per function: the environment the template gives it, resolved. The sandbox's URL replaces
    /// the providers' base URLs.
    pub env: BTreeMap<Function, BTreeMap<String, String>>,
    /// Per function: its AWS clients (pointed at moto; tests record what each calls).
    pub clients: BTreeMap<Function, AwsClients>,
    pub cloudfront: Option<CloudFront>,
}

/// One deployed function's AWS clients.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets_manager: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
}

/// The deployed `notify` function and what Lambda's event source mapping would use to feed it.
pub struct DeployedConsumer {
    pub consumer: simguard::consumer::Consumer,
    /// The function's own SQS client: the mapping polls with the function's role.
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeployedConsumer {
    /// What Lambda's SQS event source mapping does until the queue is empty: receive a batch,
    /// invoke the function, delete what it did not hand back. Returns how many were handed back.
    pub async fn drain(&self) -> usize {
        use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
        self.sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .expect("the queue");
        let mut handed_back = 0;
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(360)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return handed_back;
            }
            let mut event = SqsEvent::default();
            event.records = messages
                .iter()
                .map(|m| {
                    let mut r = SqsMessage::default();
                    r.message_id = m.message_id.clone();
                    r.receipt_handle = m.receipt_handle.clone();
                    r.body = m.body.clone();
                    r
                })
                .collect();
            let answer = self.consumer.handle(event, None).await;
            let failed: Vec<&str> = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
            handed_back += failed.len();
            for m in &messages {
                if !failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
                    let handle = m.receipt_handle.clone().unwrap_or_default();
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
            if !failed.is_empty() {
                return handed_back;
            }
        }
    }
}

pub struct EnvBuilder {
    vars: BTreeMap<String, String>,
    function_vars: BTreeMap<Function, BTreeMap<String, String>>,
    truid: Option<Arc<dyn TruId>>,
    otp: Option<Arc<dyn OtpProvider>>,
    notifier: Option<Arc<dyn simguard::ports::Notifier>>,
    password_hasher: Option<Arc<dyn PasswordHasher>>,
    sandbox: SandboxConfig,
    keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
    dynamo: Option<(aws_sdk_dynamodb::Client, String)>,
    given: Option<(Arc<dyn Store>, Arc<dyn RateLimiter>)>,
    deployment: Option<Deployment>,
}

impl EnvBuilder {
    /// The functions as deployed: each built from the template's environment for it, on DynamoDB and
    /// Secrets Manager (moto). Needs `store_on` for the table.
    pub fn deployed(mut self, d: Deployment) -> Self {
        self.deployment = Some(d);
        self
    }
    /// A setting, as a variable: each function reads it only if it is declared for it.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
    /// A setting for one function only (a deployment whose functions disagree, say mid-rollout).
    pub fn var_for(mut self, function: Function, name: &str, value: &str) -> Self {
        self.function_vars.entry(function).or_default().insert(name.into(), value.into());
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
    /// The functions hash and check passwords with `h` (accounts seeded by the test use the
    /// test's own hasher: only accounts the functions make suit `h`).
    pub fn hasher(mut self, h: Arc<dyn PasswordHasher>) -> Self {
        self.password_hasher = Some(h);
        self
    }
    /// Notifications go to `n` instead of the test's outbox.
    pub fn notifier(mut self, n: Arc<dyn simguard::ports::Notifier>) -> Self {
        self.notifier = Some(n);
        self
    }
    /// The functions on the DynamoDB store (moto's server), with a fresh table.
    pub async fn dynamodb(self) -> Self {
        let (client, table) = moto::fresh_table().await;
        self.store_on(client, table)
    }
    /// The functions on this DynamoDB table.
    pub fn store_on(mut self, client: aws_sdk_dynamodb::Client, table: String) -> Self {
        self.dynamo = Some((client, table));
        self
    }
    /// The functions on this store (a test's stand-in, such as one that fails on purpose).
    pub fn store_given(mut self, store: Arc<dyn Store>, limiter: Arc<dyn RateLimiter>) -> Self {
        self.given = Some((store, limiter));
        self
    }
    pub fn keep_alive(mut self, thing: impl std::any::Any + Send + Sync) -> Self {
        self.keep_alive.push(Box::new(thing));
        self
    }
    pub fn provider(self, p: OtpProviderKind) -> Self {
        self.var("SIMGUARD_OTP_PROVIDER", p.as_str())
    }

    pub async fn start(self) -> Env {
        let config = SandboxConfig { frozen_at: Some(T0), ..self.sandbox };
        let sandbox =
            Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config.clone()).await.expect("sandbox");
        let clock = ManualClock::new(Timestamp(T0));
        let outbox = Arc::new(OutboxNotifier::new());
        let metrics = Arc::new(MemoryMetrics::new());
        let memory = Arc::new(MemoryStore::new());
        let dynamo =
            self.dynamo.as_ref().map(|(client, table)| Arc::new(DynamoStore::new(client.clone(), table.clone())));
        let store: Arc<dyn Store> = match (&dynamo, &self.given) {
            (Some(d), _) => d.clone(),
            (None, Some((given, _))) => given.clone(),
            (None, None) => memory.clone(),
        };
        // The variables every function is built from: the sandbox for every provider, the test's own.
        let mut vars: BTreeMap<String, String> = BTreeMap::from([
            ("SIMGUARD_PUBLIC_BASE_URL".into(), ORIGIN.into()),
            ("SIMGUARD_TWILIO_SERVICE_SID".into(), config.twilio.service_sid.clone()),
        ]);
        if let Some((_, table)) = &self.dynamo {
            vars.insert("SIMGUARD_TABLE_NAME".into(), table.clone());
        }
        vars.extend(self.vars);
        for var in [
            "SIMGUARD_TRUID_BASE_URL",
            "SIMGUARD_VONAGE_BASE_URL",
            "SIMGUARD_TWILIO_BASE_URL",
            "SIMGUARD_CAMARA_BASE_URL",
            "SIMGUARD_TWILIO_LOOKUP_BASE_URL",
        ] {
            vars.entry(var.into()).or_insert_with(|| sandbox.base_url().to_owned());
        }
        vars.entry("SIMGUARD_CAMARA_TOKEN_URL".into())
            .or_insert_with(|| format!("{}/camara/oauth2/token", sandbox.base_url()));
        vars.entry("SIMGUARD_CAMARA_AUTHORIZE_URL".into())
            .or_insert_with(|| format!("{}/camara/authorize", sandbox.base_url()));
        let deployed = self.deployment.is_some();
        let with_doubles = |a: Assembly| {
            let a = a
                .with_clock(Arc::new(clock.clone()))
                .with_metrics(metrics.clone())
                .with_hash_cost(HashCost::TEST_ONLY_CHEAP);
            // Deployed, notifications go on the template's queue; otherwise to the test's outbox.
            let a = match (&self.notifier, deployed) {
                (Some(n), _) => a.with_notifier(n.clone()),
                (None, true) => a,
                (None, false) => a.with_notifier(outbox.clone()),
            };
            let a = match &self.truid {
                Some(t) => a.with_truid(t.clone()),
                None => a,
            };
            let a = match &self.password_hasher {
                Some(h) => a.with_hasher(h.clone()),
                None => a,
            };
            match &self.otp {
                Some(o) => a.with_otp(o.clone()),
                None => a,
            }
        };
        let mut routers = BTreeMap::new();
        let mut consumer = None;
        let mut cognito = None;
        let (hasher_secrets, cloudfront): (Arc<dyn SecretSource>, _) = match self.deployment {
            None => {
                let secrets: Arc<dyn SecretSource> = Arc::new(StaticSecrets::new(
                    parse_secret(&config.provider_secret().to_string()).expect("the sandbox's secret"),
                ));
                let storage = match (&self.dynamo, &self.given) {
                    (Some((client, _)), _) => Storage::DynamoDb(client.clone()),
                    (None, Some((store, limiter))) => Storage::Given(store.clone(), limiter.clone()),
                    (None, None) => Storage::Memory(memory.clone()),
                };
                let assembly = with_doubles(Assembly::new(storage).with_secrets(secrets.clone()));
                for route in ROUTES {
                    let own = self.function_vars.get(&route.function);
                    let settings = Settings::for_function(route.function, |k| {
                        own.and_then(|o| o.get(k)).or_else(|| vars.get(k)).cloned()
                    })
                    .unwrap_or_else(|e| panic!("{}: {e}", route.function.name()));
                    routers.insert(route.path, assembly.router(settings).expect("router"));
                }
                let own = self.function_vars.get(&Function::CognitoAuth);
                let settings = Settings::for_function(Function::CognitoAuth, |k| {
                    own.and_then(|o| o.get(k)).or_else(|| vars.get(k)).cloned()
                })
                .unwrap_or_else(|e| panic!("cognito-auth: {e}"));
                cognito = Some(assembly.cognito_triggers(settings).expect("cognito triggers"));
                (secrets, None)
            }
            Some(deployment) => {
                let mut hasher_secrets = None;
                for (function, env) in &deployment.env {
                    let mut env = env.clone();
                    for var in ["SIMGUARD_TRUID_BASE_URL", "SIMGUARD_VONAGE_BASE_URL", "SIMGUARD_TWILIO_BASE_URL"] {
                        env.insert(var.into(), sandbox.base_url().to_owned());
                    }
                    let settings = Settings::deployed(*function, |k| env.get(k).cloned()).unwrap_or_else(|e| {
                        panic!("{}: the template's environment is not valid: {e}", function.name())
                    });
                    let clients = deployment.clients.get(function).cloned().expect("clients");
                    let assembly = with_doubles(Assembly::aws(clients.dynamodb, clients.secrets_manager))
                        .with_sqs(clients.sqs.clone())
                        .with_ses(clients.ses);
                    if *function == Function::CognitoAuth {
                        cognito =
                            Some(assembly.cognito_triggers(settings).unwrap_or_else(|e| panic!("cognito-auth: {e}")));
                        continue;
                    }
                    if *function == Function::Notify {
                        // The queue the producers' template environment names.
                        let queue_url = deployment
                            .env
                            .values()
                            .find_map(|e| e.get("SIMGUARD_NOTIFY_QUEUE_URL").cloned())
                            .expect("a function that notifies");
                        let c = assembly.consumer(settings).unwrap_or_else(|e| panic!("notify: {e}"));
                        consumer = Some(DeployedConsumer { consumer: c, sqs: clients.sqs, queue_url });
                        continue;
                    }
                    if *function == Function::Account {
                        // The test's own hasher (for seeded accounts) reads the same pepper, through a
                        // client of its own: the function's calls are what the tests count.
                        let id = settings.secret_id.clone().expect("a deployed function reads a secret");
                        let own = aws_sdk_secretsmanager::Client::new(&moto::aws_config_at(&moto::moto().endpoint));
                        hasher_secrets = Some(Arc::new(SecretsManagerSource::new(own, id, 0, Arc::new(clock.clone())))
                            as Arc<dyn SecretSource>);
                    }
                    let router = assembly.router(settings).unwrap_or_else(|e| panic!("{}: {e}", function.name()));
                    for route in ROUTES.iter().filter(|r| r.function == *function) {
                        routers.insert(route.path, router.clone());
                    }
                }
                (hasher_secrets.expect("the account function is deployed"), deployment.cloudfront)
            }
        };
        // What API Gateway answers for a route it does not have does not matter here: any router's 404.
        let router = routers.get("/api/me").cloned().expect("a router");
        let device = simguard::adapters::tls::reqwest_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Env {
            sandbox,
            routers,
            router,
            vars,
            clock,
            store,
            memory: Some(memory).filter(|_| dynamo.is_none()),
            dynamo,
            hasher: Arc::new(Argon2Hasher::new(HashCost::TEST_ONLY_CHEAP, Some(hasher_secrets), Arc::new(OsRandom))),
            outbox,
            metrics,
            device,
            cloudfront,
            consumer,
            cognito,
            _keep_alive: self.keep_alive,
        }
    }
}

/// Registers a relying site of the verification API with one return URL and one key (made from
/// `seed`); returns the key as the site's backend holds it.
pub async fn register_site(env: &Env, id: &str, return_url: &str, seed: u8) -> String {
    use simguard::domain::relying_site::{RelyingSite, SiteId, new_api_key};
    let site = SiteId::parse(id).expect("site id");
    let record = RelyingSite {
        id: site.clone(),
        name: format!("The {id} site"),
        return_urls: vec![return_url.to_owned()],
        created_at: Timestamp(T0),
    };
    env.store.put_site(&record).await.expect("site");
    let (shown, key) = new_api_key(&site, [seed; 8], [seed.wrapping_add(1); 32], Timestamp(T0));
    env.store.put_api_key(&key).await.expect("key");
    shown
}

pub fn sandbox_config() -> TruIdConfig {
    TruIdConfig { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into(), ..TruIdConfig::default() }
}

impl Env {
    pub fn builder() -> EnvBuilder {
        EnvBuilder {
            vars: BTreeMap::new(),
            function_vars: BTreeMap::new(),
            truid: None,
            otp: None,
            notifier: None,
            password_hasher: None,
            sandbox: SandboxConfig { truid: sandbox_config(), ..SandboxConfig::default() },
            keep_alive: Vec::new(),
            dynamo: None,
            given: None,
            deployment: None,
        }
    }

    pub async fn start() -> Env {
        Self::builder().start().await
    }

    /// The settings `function` runs with.
    pub fn settings(&self, function: Function) -> Settings {
        Settings::for_function(function, |k| self.vars.get(k).cloned()).expect("valid settings")
    }

    /// The account's audit trail, from whichever store the functions run on.
    pub async fn audit_events(&self, user: &UserId) -> Vec<simguard::ports::AuditRecord> {
        match (&self.memory, &self.dynamo) {
            (Some(m), _) => m.audit_events(user).expect("audit"),
            (_, Some(d)) => d.audit_events(user).await.expect("audit"),
            _ => panic!("no store"),
        }
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
            phone: Phone::parse(phone, None).expect("a phone number"),
            password_hash: self.hasher.hash(&pw).await.expect("hash"),
            created_at: Timestamp(T0 - 30 * 86400),
            phone_verified_at: Some(Timestamp(T0 - 30 * 86400)),
            credential_version: 0,
            imported_at: None,
            password_imported: false,
        };
        self.store.create_user(&user).await.expect("create user");
        user
    }

    pub async fn stored_user(&self, email: &str) -> User {
        self.store.user_by_email(&Email::parse(email).expect("email")).await.expect("store").expect("user exists")
    }

    pub async fn password_works(&self, email: &str, password: &str) -> bool {
        let user = self.stored_user(email).await;
        self.hasher.verify(PasswordPolicy::normalise_for_login(password), Some(&user.password_hash)).await
    }

    pub async fn send(&self, event: &Event) -> Resp {
        match &self.cloudfront {
            Some(cf) if event.path.starts_with("/api/") => self.send_direct(&cf.apply(event)).await,
            _ => self.send_direct(event).await,
        }
    }

    /// Straight to API Gateway, around CloudFront if the environment has one.
    pub async fn send_direct(&self, event: &Event) -> Resp {
        self.send_event_json(&event.path, &event.to_json().to_string()).await
    }

    /// An API Gateway HTTP API event as JSON, to the function that serves `path`, as Lambda would
    /// hand it over.
    pub async fn send_event_json(&self, path: &str, json: &str) -> Resp {
        self.deliver(path, json, None).await
    }

    /// As Lambda hands an event over: with the invocation's context, whose deadline is `left` from now.
    pub async fn send_in_lambda(&self, event: &Event, left: std::time::Duration) -> Resp {
        let mut context = lambda_http::Context::default();
        let deadline = std::time::SystemTime::now() + left;
        context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as u64;
        self.deliver(&event.path, &event.to_json().to_string(), Some(context)).await
    }

    /// As Lambda hands an event over, with this invocation context.
    pub async fn send_with_context(&self, event: &Event, context: lambda_http::Context) -> Resp {
        self.deliver(&event.path, &event.to_json().to_string(), Some(context)).await
    }

    async fn deliver(&self, path: &str, json: &str, context: Option<lambda_http::Context>) -> Resp {
        let mut req = lambda_http::request::from_str(json).expect("a valid API Gateway v2 event");
        if let Some(context) = context {
            req.extensions_mut().insert(context);
        }
        let router = self.routers.get(path).unwrap_or(&self.router);
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

    /// What the site's own return page posts to the callback as a form: `pairs` form-encoded.
    pub async fn post_to_callback(&mut self, env: &Env, pairs: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        let event = Event::new("POST", "/api/reset/callback")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", ORIGIN)
            .header("sec-fetch-site", "same-origin")
            .body(body);
        self.send(env, event).await
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

    /// A reset the SIM-swap gate refused goes on as a decoy (docs/security.md S24): "otp", a "sent"
    /// that sends nothing, and no code that verifies. Returns the flow's state afterwards.
    pub async fn quietly_refused(&mut self, env: &Env, csrf: &str) {
        let sends = env.otp_starts();
        let sim = self.sim_check(env, csrf).await;
        assert_eq!((sim.status, sim.json()), (200, json!({ "next": "otp" })), "sim-check: {}", sim.text());
        let start = self.otp_start(env, csrf).await;
        assert_eq!((start.status, start.json()), (200, json!({ "status": "sent" })), "otp/start: {}", start.text());
        assert_eq!(env.otp_starts(), sends, "no SMS is sent for a refused reset");
        let r = self.otp_verify(env, csrf, "123456").await;
        assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:code_invalid"), "{}", r.text());
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

/// The SubscriberCheck a tru.ID stand-in creates.
pub const CHECK_ID: &str = "c69bc0e6-a429-11ea-bb37-0242ac130002";

/// [`CHECK_ID`], as tru.ID answers its creation.
pub fn created_check() -> simguard::ports::CreatedCheck {
    simguard::ports::CreatedCheck {
        check_id: simguard::ports::CheckId::parse(CHECK_ID).expect("uuid"),
        check_url: format!("https://truid.example/subscriber_check/v0.2/checks/{CHECK_ID}/redirect").into(),
        ttl_secs: 120,
    }
}

/// A server that accepts connections and never answers: a dependency that hangs. Stops when dropped.
pub struct Stall {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Stall {
    pub async fn start() -> Stall {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Stall { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The functions' own AWS configuration (timeouts and retry policy), pointed at this server.
    pub async fn aws(&self) -> aws_types::SdkConfig {
        moto::aws_config_at(&self.url())
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP relay in front of a provider that can be made to stall: while `stalled`, it accepts
/// connections (new ones, and requests on those it relays already) and never answers; otherwise it
/// passes bytes both ways to its target (set once the provider's address is known).
pub struct Switch {
    pub addr: std::net::SocketAddr,
    stalled: Arc<std::sync::atomic::AtomicBool>,
    target: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl Switch {
    pub async fn start() -> Switch {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let target = Arc::new(std::sync::OnceLock::new());
        let (flag, to) = (stalled.clone(), target.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (flag, to) = (flag.clone(), to.clone());
                tokio::spawn(async move {
                    let Some(target) = to.get().copied() else { return };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else { return };
                    let (mut from_client, mut to_client) = client.split();
                    let (mut from_upstream, mut to_upstream) = upstream.split();
                    // Requests go up only while the switch is on. One that arrives while it is off
                    // is swallowed and never answered, and so is everything after it on that
                    // connection: it never reaches the provider, even once the switch is back on.
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        let mut swallowing = false;
                        loop {
                            let n = match from_client.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            swallowing |= flag.load(Ordering::SeqCst);
                            if !swallowing && to_upstream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut from_upstream, &mut to_client);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        Switch { addr, stalled, target, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where requests go while the switch is on: `base_url`'s host and port.
    pub fn relay_to(&self, base_url: &str) {
        let url = url::Url::parse(base_url).expect("url");
        let addr = url.socket_addrs(|| None).expect("address").into_iter().next().expect("an address");
        let _ = self.target.set(addr);
    }

    pub fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A mailer that keeps what it is given (the consumer without SES).
#[derive(Default)]
pub struct KeptMail(std::sync::Mutex<Vec<(simguard::domain::Email, simguard::ports::Mail)>>);

impl KeptMail {
    pub fn sent(&self) -> Vec<(simguard::domain::Email, simguard::ports::Mail)> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl simguard::ports::Mailer for KeptMail {
    async fn send(
        &self,
        to: &simguard::domain::Email,
        mail: &simguard::ports::Mail,
    ) -> Result<(), simguard::ports::MailError> {
        self.0
            .lock()
            .map_err(|_| simguard::ports::MailError::Transient("poisoned".into()))?
            .push((to.clone(), mail.clone()));
        Ok(())
    }
}

/// Argon2id at the test cost, counting its hashes and checks.
pub struct CountingHasher {
    inner: Argon2Hasher,
    hashes: std::sync::atomic::AtomicUsize,
    checks: std::sync::atomic::AtomicUsize,
}

impl Default for CountingHasher {
    fn default() -> Self {
        let random = Arc::new(OsRandom);
        Self {
            inner: Argon2Hasher::new(HashCost::TEST_ONLY_CHEAP, None, random),
            hashes: std::sync::atomic::AtomicUsize::new(0),
            checks: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl CountingHasher {
    /// (hashes, checks) so far.
    pub fn counts(&self) -> (usize, usize) {
        (self.hashes.load(std::sync::atomic::Ordering::SeqCst), self.checks.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[async_trait::async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(
        &self,
        password: &simguard::domain::Password,
    ) -> Result<simguard::domain::PasswordHash, simguard::ports::HashError> {
        self.hashes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.hash(password).await
    }
    async fn verify(&self, password: secrecy::SecretString, stored: Option<&simguard::domain::PasswordHash>) -> bool {
        self.checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.verify(password, stored).await
    }
    async fn verify_imported(
        &self,
        raw: secrecy::SecretString,
        normalised: secrecy::SecretString,
        stored: &simguard::domain::PasswordHash,
    ) -> simguard::ports::ImportedVerdict {
        self.checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.verify_imported(raw, normalised, stored).await
    }
}
