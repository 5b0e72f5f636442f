//! The local stack: one process on 127.0.0.1 serving the static site and every `/api` route through
//! the same handlers the Lambda functions run, backed by the in-memory store and the provider sandbox,
//! with demo users seeded (one per sandbox outcome) and an outbox page for the notifications. Real
//! parts replace the stand-ins when their variables are set: a provider's base URL, a DynamoDB
//! table, a Secrets Manager secret (README.md, "Local stack with real parts").

pub mod serve;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use simguard::adapters::argon2::{Argon2Hasher, HashCost};
use simguard::adapters::clock::SystemClock;
use simguard::adapters::memory::MemoryStore;
use simguard::adapters::metrics::MemoryMetrics;
use simguard::adapters::notify::OutboxNotifier;
use simguard::adapters::random::OsRandom;
use simguard::adapters::secrets::StaticSecrets;
use simguard::adapters::secrets::env_var_for_key;
use simguard::adapters::secrets_manager::SecretsManagerSource;
use simguard::assembly::{Assembly, Storage};
use simguard::config::OtpProviderKind;
use simguard::domain::{Email, FlowKind, PasswordPolicy, Phone, Timestamp, User, UserId};
use simguard::ports::{Clock, PasswordHasher, SecretSource, Store, StoreError};
use simguard_sandbox::{CoverageRule, Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "correct horse battery staple";

/// The seeded accounts: one per sandbox outcome, all registered and verified a month ago except
/// `newbie`, registered yesterday and never verified (the new-account grace of login 2FA).
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("alice@example.com", "+447000000070", "everything passes"),
    ("sam@example.com", "+447000000008", "SIM changed recently: reset and login refused"),
    ("nina@example.com", "+447000000001", "phone does not match the connection: silent reset refused"),
    ("erin@example.com", "+447700900099", "operator error: no SIM answer, refused"),
    ("newbie@example.com", "+447700900007", "new account, SIM changed: login allowed once (grace)"),
];

/// The verification API's demo site: its id, name and default return URL (the example relying site,
/// examples/relying-site, on port 8081; `SIMGUARD_LOCAL_DEMO_RETURN_URL` names another).
pub const DEMO_SITE: (&str, &str, &str) = ("demo-shop", "Demo Shop", "http://127.0.0.1:8081/verified");

/// The demo site's API key: fixed, so that the example site can be configured once. The local stack
/// only — a deployed site's keys come from `simguard-admin create-api-key`.
pub fn demo_site_key() -> (String, simguard::domain::relying_site::ApiKeyRecord) {
    use simguard::domain::relying_site::{SiteId, new_api_key};
    let site = SiteId::parse(DEMO_SITE.0).unwrap_or_else(|| unreachable!("a valid constant id"));
    new_api_key(&site, [0xde; 8], [0x5e; 32], Timestamp(0))
}

/// Registers the demo site and its key (again: a kept table already has them).
async fn seed_demo_site(store: &dyn Store, return_url: &str, clock: &dyn Clock) -> Result<(), String> {
    use simguard::domain::relying_site::{RelyingSite, SiteId, return_url as valid_return_url};
    let id = SiteId::parse(DEMO_SITE.0).ok_or("demo site id")?;
    let url = valid_return_url(return_url).map_err(|e| format!("SIMGUARD_LOCAL_DEMO_RETURN_URL: {e}"))?;
    let site = RelyingSite { id, name: DEMO_SITE.1.to_owned(), return_urls: vec![url], created_at: clock.now() };
    store.put_site(&site).await.map_err(|e| e.to_string())?;
    match store.put_api_key(&demo_site_key().1).await {
        Ok(()) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub port: u16,
    pub sandbox_port: u16,
    pub static_dir: PathBuf,
    /// Argon2 cost; production unless a test asks for less.
    pub hash_cost: HashCost,
    pub otp_provider: OtpProviderKind,
    /// `false`: the sandbox says this computer is not on mobile data, so resets take the SMS path.
    pub device_coverage: bool,
    /// How long clients may take over headers and bodies.
    pub read_timeouts: serve::ReadTimeouts,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 8080,
            sandbox_port: 9001,
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../static-site/public")),
            hash_cost: HashCost::PRODUCTION,
            otp_provider: OtpProviderKind::VonageV2,
            device_coverage: true,
            read_timeouts: serve::ReadTimeouts::default(),
        }
    }
}

/// A running local stack; stops when dropped.
pub struct LocalStack {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// The provider sandbox it runs against.
    pub sandbox: Arc<Sandbox>,
    /// The emails it would have sent.
    pub outbox: Arc<OutboxNotifier>,
    /// The OTP provider whose protocol sends the codes.
    pub otp_provider: OtpProviderKind,
    /// What it runs on, part by part (`("tru.ID", "the sandbox at …")`): the banner's lines.
    pub parts: Vec<(&'static str, String)>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Headers every page gets; CloudFront adds the same in a deployment (plus HSTS, which plain-HTTP
/// localhost cannot use).
pub const CSP: &str = simguard::site::CONTENT_SECURITY_POLICY;

/// A path that starts with two slashes is not a page: the file server would answer a directory's
/// `//help` with `Location: //help/`, which a browser reads as another host.
async fn no_double_slash(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.uri().path().starts_with("//") {
        return (axum::http::StatusCode::NOT_FOUND, "Not found").into_response();
    }
    next.run(req).await
}

fn security_headers(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(no_double_slash))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static(simguard::site::REFERRER_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static(simguard::site::FRAME_OPTIONS),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
}

/// A page asked for under another name than the configured origin (`localhost` for `127.0.0.1`, an
/// alias) is sent to the origin: the flows' cookies, the allowed `Origin` and tru.ID's redirect are all
/// bound to it, so a reset started under another name would break ("This link has expired"). Only
/// GET and HEAD are redirected; anything else is refused by the API's origin check as it is.
async fn canonical_host(
    State(origin): State<Arc<str>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authority = origin.split_once("://").map_or(&*origin, |(_, a)| a);
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    let safe = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    match host {
        Some(h) if safe && !h.eq_ignore_ascii_case(authority) => {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            axum::response::Redirect::temporary(&format!("{origin}{path}")).into_response()
        }
        _ => next.run(req).await,
    }
}

fn on_the_origin(router: Router, origin: &str) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Arc::<str>::from(origin), canonical_host))
}

/// The static site; a path with no file gets the site's 404 page (with a 404 status).
fn static_site(dir: &std::path::Path) -> ServeDir<tower_http::set_status::SetStatus<tower_http::services::ServeFile>> {
    ServeDir::new(dir).not_found_service(tower_http::services::ServeFile::new(dir.join("404.html")))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// One Cognito trigger invocation, as Lambda would hand it to the `cognito-auth` function.
async fn cognito_trigger(
    State(triggers): State<Arc<simguard::cognito::CognitoTriggers>>,
    axum::Json(event): axum::Json<serde_json::Value>,
) -> Response {
    match triggers.handle(event).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[derive(Clone)]
struct Outboxes {
    mail: Arc<OutboxNotifier>,
    sms: Arc<Sandbox>,
    /// Where the flows' claims on their verifications are: the outbox names each code's flow.
    store: Arc<dyn Store>,
    /// Who the emails come from: the same templates render them as a deployment's would.
    site: Arc<simguard::ports::Site>,
    /// The SIM-change window, in whole days (what a SIM-changed user is told to wait).
    sim_change_window_days: u32,
}

/// One text message as the outbox lists it: when, what (a `code`, or a `notice` with none), the flow
/// it belongs to (read from the store's claim on the verification; a notice is the old number's
/// after a phone change, the only notice simguard sends), and the message itself.
struct TextRow {
    at: String,
    kind: &'static str,
    flow: String,
    message: simguard_sandbox::SmsMessage,
}

async fn text_rows(outboxes: &Outboxes) -> Vec<TextRow> {
    let now = SystemClock.now();
    let mut rows = Vec::new();
    for m in outboxes.sms.outbox() {
        let (kind, flow) = if m.code.is_empty() {
            ("notice", FlowKind::PhoneChange.as_str().to_owned())
        } else {
            let owner = outboxes.store.verification_owner(&m.provider, &m.reference, now).await.ok().flatten();
            ("code", owner.map_or_else(|| "—".to_owned(), |o| o.kind.as_str().to_owned()))
        };
        rows.push(TextRow { at: Timestamp(m.at).to_rfc3339(), kind, flow, message: m });
    }
    rows
}

async fn outbox_page(State(outboxes): State<Outboxes>) -> Html<String> {
    let mut sms = String::new();
    for row in text_rows(&outboxes).await.iter().rev() {
        let m = &row.message;
        let code = if m.code.is_empty() {
            String::new()
        } else {
            format!("<p><strong>Code:</strong> <code class=\"sms-code\">{}</code></p>", escape(&m.code))
        };
        sms.push_str(&format!(
            "<li class=\"card\"><p><time>{}</time> · {} · flow: {} · {}</p><p><strong>To:</strong> {}</p><p>{}</p>{code}</li>",
            escape(&row.at),
            row.kind,
            escape(&row.flow),
            escape(&m.provider),
            escape(&m.to),
            escape(&m.text),
        ));
    }
    if sms.is_empty() {
        sms.push_str("<li>No text messages yet.</li>");
    }
    let outbox = &outboxes.mail;
    let mut items = String::new();
    for n in outbox.sent().iter().rev() {
        items.push_str(&format!(
            "<li class=\"card\"><p><time>{}</time> · {}</p><p><strong>To:</strong> {}</p><p><strong>Subject:</strong> {}</p><pre>{}</pre></li>",
            escape(&n.at.to_rfc3339()),
            escape(n.kind.as_str()),
            escape(n.to.as_str()),
            escape(n.subject()),
            escape(&n.body(&outboxes.site))
        ));
    }
    if items.is_empty() {
        items.push_str("<li>No messages yet.</li>");
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <title>Outbox — simguard local stack</title><link rel=\"stylesheet\" href=\"/styles.css\"></head><body><main>\
         <h1>Outbox</h1><p>What the local stack would have sent, newest first (times in UTC; this page refreshes every 5 seconds; \
         <a href=\"/dev/outbox.json\">as JSON</a>).</p>\
         <h2>Text messages</h2><ul class=\"outbox\" id=\"sms\">{sms}</ul>\
         <h2>Emails</h2><ul class=\"outbox\" id=\"mail\">{items}</ul>\
         <p><a href=\"/\">Home</a></p></main></body></html>"
    ))
}

/// `{"mail": [...], "sms": [...]}`, oldest first.
async fn outbox_json(State(outboxes): State<Outboxes>) -> Response {
    let sms: Vec<_> = text_rows(&outboxes)
        .await
        .into_iter()
        .map(|row| {
            let m = row.message;
            serde_json::json!({
                "at": row.at,
                "kind": row.kind,
                "flow": row.flow,
                "provider": m.provider,
                "to": m.to,
                "text": m.text,
                "code": m.code,
            })
        })
        .collect();
    let mail: Vec<_> = outboxes
        .mail
        .sent()
        .iter()
        .map(|n| {
            let mail = n.render(&outboxes.site).ok();
            serde_json::json!({
                "at": n.at.to_rfc3339(),
                "to": n.to.as_str(),
                "kind": n.kind,
                "subject": n.subject(),
                "body": mail.as_ref().map(|m| m.text.as_str()),
                "html": mail.as_ref().map(|m| m.html.as_str()),
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "mail": mail, "sms": sms })).into_response()
}

/// What the pages show of the site (its name, how to reach support, how long a SIM change blocks),
/// from the functions' settings: what `scripts/deploy-site` writes from a stack's `SiteName`,
/// `SupportContact` and `SimChangeWindowMinutes`.
async fn site_json(State(outboxes): State<Outboxes>) -> Response {
    let site = &outboxes.site;
    let body = serde_json::json!({
        "name": site.name,
        "support": site.support_contact.as_deref().unwrap_or(""),
        "sim_change_window_days": outboxes.sim_change_window_days,
    });
    ([(axum::http::header::CACHE_CONTROL, "no-cache")], axum::Json(body)).into_response()
}

async fn seed(store: &dyn Store, hasher: &dyn PasswordHasher, clock: &dyn Clock) -> Result<(), String> {
    let password = PasswordPolicy::check(DEMO_PASSWORD, None).map_err(|e| format!("demo password: {e}"))?;
    let hash = hasher.hash(&password).await.map_err(|e| e.to_string())?;
    // Registered and verified a month ago: outside any new-account grace period; `newbie` is new.
    let long_ago = clock.now().minus_secs(30 * 86400);
    let yesterday = clock.now().minus_secs(86400);
    for (i, (email, phone, _)) in DEMO_USERS.iter().enumerate() {
        let new = email.starts_with("newbie@");
        let user = User {
            id: UserId(format!("demo-user-{i}")),
            email: Email::parse(email).map_err(|e| e.to_string())?,
            phone: Phone::parse(phone, None).map_err(|e| format!("demo number {phone}: {e}"))?,
            password_hash: hash.clone(),
            created_at: if new { yesterday } else { long_ago },
            phone_verified_at: if new { None } else { Some(long_ago) },
            credential_version: 0,
            imported_at: None,
            password_imported: false,
        };
        match store.create_user(&user).await {
            // A table kept from an earlier run already has them.
            Ok(()) | Err(StoreError::EmailTaken(_)) => {}
            Err(e) => return Err(format!("seeding {email}: {e}")),
        }
    }
    Ok(())
}

/// "port 8080 is already in use: set SIMGUARD_LOCAL_PORT to another", naming the variable to change.
pub fn port_error(port: u16, var: &str, e: &dyn std::fmt::Display) -> String {
    let e = e.to_string();
    if e.contains("in use") {
        format!("port {port} is already in use: set {var} to another port")
    } else {
        format!("port {port} ({var}): {e}")
    }
}

/// The providers whose base URL a variable can point elsewhere than the sandbox.
const PROVIDER_URLS: [(&str, &str); 5] = [
    ("tru.ID", "SIMGUARD_TRUID_BASE_URL"),
    ("Vonage", "SIMGUARD_VONAGE_BASE_URL"),
    ("Twilio", "SIMGUARD_TWILIO_BASE_URL"),
    ("CAMARA", "SIMGUARD_CAMARA_BASE_URL"),
    ("Lookup", "SIMGUARD_TWILIO_LOOKUP_BASE_URL"),
];

/// The AWS configuration for a real table or secret: the usual environment, plus what `env` says
/// (`AWS_ENDPOINT_URL` for DynamoDB Local or moto, `AWS_REGION`, static keys), with the functions'
/// own timeouts and retry policy.
async fn aws_config(env: &dyn Fn(&str) -> Option<String>) -> Result<aws_config::SdkConfig, String> {
    use simguard::adapters::aws::{ReqwestHttp, retries, timeouts};
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ReqwestHttp::new().map_err(|e| e.to_string())?)
        .timeout_config(timeouts())
        .retry_config(retries());
    if let Some(endpoint) = env("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let credentials =
            aws_sdk_dynamodb::config::Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "environment");
        loader = loader.credentials_provider(credentials);
    }
    Ok(loader.load().await)
}

impl LocalStack {
    /// Starts the sandbox and the site on the ports of `opts`; `env` is the environment the
    /// functions read their settings from (the process's, in `main`).
    pub async fn start(
        opts: Options,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<LocalStack, String> {
        let env = Arc::new(env);
        let sandbox_config = SandboxConfig::default();
        let sandbox =
            Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, opts.sandbox_port)), sandbox_config.clone())
                .await
                .map_err(|e| port_error(opts.sandbox_port, "SIMGUARD_SANDBOX_PORT", &e))?;
        let sandbox = Arc::new(sandbox);
        if !opts.device_coverage {
            for ip in [IpAddr::from(Ipv4Addr::LOCALHOST), IpAddr::from(Ipv6Addr::LOCALHOST)] {
                sandbox.truid().set_coverage(ip, CoverageRule::NotMobileIp);
            }
        }
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port)))
            .await
            .map_err(|e| port_error(opts.port, "SIMGUARD_LOCAL_PORT", &e))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let url = format!("http://{addr}");

        // Every function reads its own settings from the environment, as a deployed one does. The
        // local stack supplies only what a variable does not set: its own address, the sandbox for
        // every provider, the provider choice and the sandbox's Twilio Service.
        let sandbox_url = sandbox.base_url().to_owned();
        let own = {
            let (public, sandbox_url) = (url.clone(), sandbox_url.clone());
            let twilio_sid = sandbox_config.twilio.service_sid.clone();
            let otp_provider = opts.otp_provider;
            move |var: &str| match var {
                "SIMGUARD_PUBLIC_BASE_URL" => Some(public.clone()),
                "SIMGUARD_TRUID_BASE_URL"
                | "SIMGUARD_VONAGE_BASE_URL"
                | "SIMGUARD_TWILIO_BASE_URL"
                | "SIMGUARD_CAMARA_BASE_URL"
                | "SIMGUARD_TWILIO_LOOKUP_BASE_URL" => Some(sandbox_url.clone()),
                "SIMGUARD_CAMARA_TOKEN_URL" => Some(format!("{sandbox_url}/camara/oauth2/token")),
                "SIMGUARD_CAMARA_AUTHORIZE_URL" => Some(format!("{sandbox_url}/camara/authorize")),
                "SIMGUARD_OTP_PROVIDER" => Some(otp_provider.as_str().to_owned()),
                "SIMGUARD_TWILIO_SERVICE_SID" => Some(twilio_sid.clone()),
                _ => None,
            }
        };
        let settings_env = {
            let env = env.clone();
            move |var: &str| match var {
                // The command line's choice wins over the variable (main reads both).
                "SIMGUARD_OTP_PROVIDER" => own(var),
                _ => env(var).filter(|v| !v.is_empty()).or_else(|| own(var)),
            }
        };

        let mut parts = Vec::new();
        for (provider, var) in PROVIDER_URLS {
            parts.push((
                provider,
                match env(var) {
                    Some(real) => format!("{real} (from {var})"),
                    None => format!("the sandbox at {sandbox_url}"),
                },
            ));
        }
        let clock = Arc::new(SystemClock);
        let table = env("SIMGUARD_TABLE_NAME").filter(|t| !t.is_empty());
        let secret_id = env("SIMGUARD_SECRET_ID").filter(|s| !s.is_empty());
        let aws = match (&table, &secret_id) {
            (None, None) => None,
            _ => Some(aws_config(&*env).await?),
        };
        let (assembly, store): (Assembly, Arc<dyn Store>) = match (&table, &aws) {
            (Some(table), Some(aws)) => {
                let client = aws_sdk_dynamodb::Client::new(aws);
                let at = env("AWS_ENDPOINT_URL").map(|e| format!(" at {e}")).unwrap_or_default();
                parts.push(("storage", format!("DynamoDB table {table}{at} (from SIMGUARD_TABLE_NAME)")));
                let store = Arc::new(simguard::adapters::dynamo::DynamoStore::new(client.clone(), table.clone()));
                let secrets_manager = aws_sdk_secretsmanager::Client::new(aws);
                (Assembly::aws(client, secrets_manager), store)
            }
            _ => {
                let memory = Arc::new(MemoryStore::new());
                parts.push(("storage", "in memory (set SIMGUARD_TABLE_NAME for DynamoDB)".to_owned()));
                let mut a = Assembly::new(Storage::Memory(memory.clone()));
                if let Some(aws) = &aws {
                    a = Assembly::aws(aws_sdk_dynamodb::Client::new(aws), aws_sdk_secretsmanager::Client::new(aws))
                        .with_storage(Storage::Memory(memory.clone()));
                }
                (a, memory)
            }
        };
        let secrets: Arc<dyn SecretSource> = match (&secret_id, &aws) {
            // Read from Secrets Manager, as deployed functions do.
            (Some(id), Some(aws)) => {
                parts.push(("credentials", format!("Secrets Manager secret {id} (from SIMGUARD_SECRET_ID)")));
                let client = aws_sdk_secretsmanager::Client::new(aws);
                Arc::new(SecretsManagerSource::new(client, id.clone(), 300, clock.clone()))
            }
            // Each credential from its variable (SIMGUARD_TRUID_CLIENT_ID, …), else the sandbox's.
            _ => {
                let sandbox_secret = sandbox_config.provider_secret();
                let fallback = |var: &str| {
                    let keys = sandbox_secret.as_object()?;
                    let (_, value) = keys.iter().find(|(k, _)| env_var_for_key(k) == var)?;
                    value.as_str().map(str::to_owned)
                };
                let from_env = |var: &str| env(var).filter(|v| !v.is_empty()).or_else(|| fallback(var));
                parts.push((
                    "credentials",
                    "variables where set (SIMGUARD_TRUID_CLIENT_ID, …), else the sandbox's".into(),
                ));
                Arc::new(StaticSecrets::from_lookup(from_env))
            }
        };
        // The demo users' password is hashed as the functions hash (with the pepper, if one is set).
        let seeder = Argon2Hasher::new(opts.hash_cost, Some(secrets.clone()), Arc::new(OsRandom));
        if let Err(e) = seed(&*store, &seeder, &*clock).await {
            // A real table or secret that cannot be reached now: the stack still starts, and its
            // requests say so (503) until it can.
            tracing::warn!(error = %e, "the demo users were not seeded");
            parts.push(("warning", format!("demo users not seeded: {e}")));
        }
        let demo_return = env("SIMGUARD_LOCAL_DEMO_RETURN_URL").unwrap_or_else(|| DEMO_SITE.2.to_owned());
        match seed_demo_site(&*store, &demo_return, &*clock).await {
            Ok(()) => parts.push((
                "verification API",
                format!("demo site {} returns to {demo_return}; its API key: {}", DEMO_SITE.0, demo_site_key().0),
            )),
            Err(e) => parts.push(("warning", format!("demo site not registered: {e}"))),
        }
        let outbox = Arc::new(OutboxNotifier::new());
        // The outbox renders each email as the notify function would send it, from its settings.
        let site = Arc::new(
            simguard::config::Settings::for_function(simguard::Function::Notify, &settings_env)
                .map_err(|e| e.to_string())?
                .site,
        );
        let sim_gate = simguard::config::Settings::for_function(simguard::Function::SimCheck, &settings_env)
            .map_err(|e| e.to_string())?;
        let silent = simguard::config::Settings::for_function(simguard::Function::CreateCheck, &settings_env)
            .map_err(|e| e.to_string())?;
        let providers: Vec<&str> = silent.silent.providers.iter().map(|p| p.as_str()).collect();
        parts.push(("silent", format!("{} (from SIMGUARD_SILENT_PROVIDERS, in order)", providers.join(", "))));
        let sources: Vec<&str> = sim_gate.sim_swap.sources.iter().map(|s| s.as_str()).collect();
        parts.push(("SIM swap", format!("{} (from SIMGUARD_SIM_SWAP_SOURCES, in order)", sources.join(", "))));
        let window_minutes = sim_gate.sim_change_window_minutes;
        let sim_change_window_days = window_minutes.div_ceil(1440);
        let assembly = assembly
            .with_secrets(secrets)
            .with_clock(clock)
            .with_notifier(outbox.clone())
            // Kept in memory: EMF lines are for CloudWatch, and would only clutter a terminal.
            .with_metrics(Arc::new(MemoryMetrics::new()))
            .with_hash_cost(opts.hash_cost);
        let api = assembly.all_functions(&settings_env).map_err(|e| e.to_string())?;
        // The Cognito triggers, for a user pool's stand-in (a test's, or a local Cognito emulator):
        // `POST /dev/cognito-trigger` with a trigger's event answers what the function would.
        let cognito = simguard::config::Settings::for_function(simguard::Function::CognitoAuth, &settings_env)
            .map_err(|e| e.to_string())
            .and_then(|s| assembly.cognito_triggers(s).map_err(|e| e.to_string()))?;
        let cognito = Router::new()
            .route("/dev/cognito-trigger", axum::routing::post(cognito_trigger))
            .with_state(Arc::new(cognito));
        let dev = Router::new()
            .route("/dev/outbox", get(outbox_page))
            .route("/dev/outbox.json", get(outbox_json))
            .route("/site.json", get(site_json))
            .with_state(Outboxes {
                mail: outbox.clone(),
                sms: sandbox.clone(),
                store: store.clone(),
                site,
                sim_change_window_days,
            });
        let site = Router::new().merge(dev).merge(cognito).fallback_service(static_site(&opts.static_dir));
        // `/api/*` goes, path unchanged, to the API router (with its own 404s); the rest is the site.
        let router = on_the_origin(
            security_headers(
                Router::new()
                    .route_service("/api/{*rest}", api.clone().into_service::<axum::body::Body>())
                    .route_service("/.well-known/jwks.json", api.into_service::<axum::body::Body>())
                    .merge(site),
            ),
            &url,
        );
        let server = tokio::spawn(serve::serve(listener, router, opts.read_timeouts));
        Ok(LocalStack { url, sandbox, outbox, otp_provider: opts.otp_provider, parts, server })
    }
}

/// The site in front of `cargo lambda watch`: the static pages, with every `/api/*` request forwarded
/// unchanged (method, path, query, headers, body) to the functions, so that pages and API share one
/// origin as they do behind CloudFront. Used by the `cargo lambda watch` recipe in README.md.
pub struct SiteProxy {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SiteProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// Headers that describe one connection, not the message: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// `/api/*`: under `nest_service("/api")` the path arrives without its prefix, put back here.
async fn forward(State(up): State<Upstream>, req: axum::extract::Request) -> Response {
    forward_under(up, "/api", req).await
}

/// The public keys' well-known address, as it is.
async fn forward_well_known(State(up): State<Upstream>, req: axum::extract::Request) -> Response {
    forward_under(up, "", req).await
}

async fn forward_under(up: Upstream, prefix: &str, req: axum::extract::Request) -> Response {
    let target = format!("{}{prefix}{}", up.base, req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), simguard::routes::MAX_BODY_BYTES * 2).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let answer = match up.client.request(method, &target).headers(headers).body(body).send().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(
                error.kind = if e.is_connect() { "connect" } else { "transport" },
                "the functions did not answer"
            );
            return simguard::http::Problem::unavailable().into_response();
        }
    };
    let status = answer.status();
    let mut out_headers = answer.headers().clone();
    for h in HOP_BY_HOP {
        out_headers.remove(*h);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    *resp.headers_mut() = out_headers;
    resp
}

impl SiteProxy {
    pub async fn start(port: u16, static_dir: PathBuf, api_base: &str) -> Result<SiteProxy, String> {
        let client = simguard::adapters::tls::reqwest_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let upstream = Upstream { base: api_base.trim_end_matches('/').to_owned(), client };
        let api = Router::new().fallback(forward).with_state(upstream.clone());
        let well_known = Router::new().fallback(forward_well_known).with_state(upstream);
        let router = security_headers(
            Router::new()
                .nest_service("/api", api)
                .route_service("/.well-known/jwks.json", well_known.into_service::<axum::body::Body>())
                .fallback_service(static_site(&static_dir)),
        );
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .map_err(|e| port_error(port, "SIMGUARD_LOCAL_PORT", &e))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let router = on_the_origin(router, &url);
        let server = tokio::spawn(serve::serve(listener, router, serve::ReadTimeouts::default()));
        Ok(SiteProxy { url, server })
    }
}
