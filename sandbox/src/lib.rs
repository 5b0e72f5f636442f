//! simguard-sandbox: local, offline stand-ins for the providers' HTTP APIs, faithful to their specs
//! (`provider-specs/`) and to docs/providers.md, with test hooks. It does not depend on the `simguard`
//! crate, so the shared crate's tests can use it without a dependency cycle.
//!
//! One server on one port speaks every provider's paths; each client is pointed at it as its base URL.

pub mod camara;
pub mod clock;
pub mod journal;
pub mod lookup;
pub mod truid;
pub mod twilio;
pub mod vonage;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use camara::CamaraConfig;
pub use clock::SandboxClock;
pub use journal::{MAX_RECORDS, RecordedRequest, SmsMessage};
pub use truid::{CoverageRule, Profile, TruIdConfig, TruIdControl};
pub use twilio::{TwilioConfig, TwilioControl};
pub use vonage::{VonageConfig, VonageControl};

#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    pub truid: TruIdConfig,
    pub vonage: VonageConfig,
    pub twilio: TwilioConfig,
    pub camara: CamaraConfig,
    /// `Some(t)`: the clock starts frozen at `t` (tests); `None`: real time (local stack).
    pub frozen_at: Option<i64>,
}

pub struct Sandbox {
    base_url: String,
    addr: SocketAddr,
    clock: Arc<SandboxClock>,
    truid: TruIdControl,
    vonage: VonageControl,
    twilio: TwilioControl,
    shared: Shared,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    clock: Arc<SandboxClock>,
    journal: Arc<journal::Journal>,
    truid: Arc<truid::TruIdState>,
    vonage: Arc<vonage::VonageState>,
}

impl Shared {
    /// The outbox after every due Vonage step has fired.
    fn outbox(&self, to: Option<&str>) -> Vec<SmsMessage> {
        self.vonage.tick();
        self.journal.outbox(to)
    }
}

async fn record_requests(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/_sandbox") {
        let method = req.method().as_str();
        s.journal.record_request(method, &path);
        if truid::PATH_PREFIXES.iter().any(|p| path.starts_with(p)) {
            truid::record(&s.truid, method, &path);
        }
    }
    // Time-driven Vonage steps fire before anything else happens, so the outbox stays in order.
    s.vonage.tick();
    next.run(req).await
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(State(s): State<Shared>, axum::Json(a): axum::Json<Advance>) -> Response {
    s.clock.advance(a.seconds);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct OutboxFilter {
    to: Option<String>,
}

async fn hook_outbox(State(s): State<Shared>, Query(f): Query<OutboxFilter>) -> Response {
    axum::Json(s.outbox(f.to.as_deref())).into_response()
}

async fn hook_clear_outbox(State(s): State<Shared>) -> Response {
    s.journal.clear_outbox();
    StatusCode::NO_CONTENT.into_response()
}

async fn hook_requests(State(s): State<Shared>) -> Response {
    axum::Json(s.journal.requests()).into_response()
}

impl SandboxConfig {
    /// The credentials this sandbox accepts, as simguard's provider secret (the JSON object stored in
    /// Secrets Manager): the one place the local stack, the tests and the `cargo lambda watch`
    /// recipe take them from.
    pub fn provider_secret(&self) -> serde_json::Value {
        serde_json::json!({
            "truid_client_id": self.truid.client_id,
            "truid_client_secret": self.truid.client_secret,
            "vonage_api_key": self.vonage.api_key,
            "vonage_api_secret": self.vonage.api_secret,
            "twilio_account_sid": self.twilio.account_sid,
            "twilio_auth_token": self.twilio.auth_token,
            "camara_client_id": self.camara.client_id,
            "camara_client_secret": self.camara.client_secret,
            "result_signing_keys": SANDBOX_RESULT_SIGNING_KEYS,
        })
    }
}

/// The verification API's result-token key of local runs and tests (an entry of the secret's
/// `result_signing_keys`). Published here, so anyone can sign with it: never configure it anywhere
/// a result token means something (`simguard-admin create-signing-key` makes real ones).
pub const SANDBOX_RESULT_SIGNING_KEYS: &str = "sandbox-1:active:MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3-vHlXeZwflYcqUNzoUxNr3NXPpizOxZskdj1KMVRgWhRANCAARWG63_oDdr9_wT3nreOolgA_mDJlSiFfsYXwSTGgumWaxn0iDhJLqaD_QUJf3w7P4Qwfh5ZjOs-VWniH1-Muvm";

impl Sandbox {
    /// Binds `addr` (port 0 for any free port) and serves until dropped.
    pub async fn start(addr: SocketAddr, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let clock = Arc::new(match config.frozen_at {
            Some(t) => SandboxClock::frozen(t),
            None => SandboxClock::system(),
        });
        let journal = Arc::new(journal::Journal::default());
        let truid_state = truid::TruIdState::new(config.truid, clock.clone(), base_url.clone());
        let vonage_state = vonage::VonageState::new(
            config.vonage,
            clock.clone(),
            journal.clone(),
            truid_state.clone(),
            base_url.clone(),
        );
        let camara_state = camara::CamaraState::new(config.camara, clock.clone(), truid_state.clone());
        let lookup_state = lookup::LookupState::new(
            config.twilio.account_sid.clone(),
            config.twilio.auth_token.clone(),
            clock.clone(),
            truid_state.clone(),
        );
        let twilio_state = twilio::TwilioState::new(
            config.twilio,
            clock.clone(),
            journal.clone(),
            truid_state.clone(),
            base_url.clone(),
        );
        let shared = Shared { clock: clock.clone(), journal, truid: truid_state.clone(), vonage: vonage_state.clone() };
        let hooks = Router::new()
            .route("/_sandbox/clock/advance", post(advance_clock))
            .route("/_sandbox/outbox", get(hook_outbox).delete(hook_clear_outbox))
            .route("/_sandbox/requests", get(hook_requests))
            .with_state(shared.clone());
        let app = Router::new()
            .merge(truid::router(truid_state.clone()))
            .merge(vonage::router(vonage_state.clone()))
            .merge(twilio::router(twilio_state.clone()))
            .merge(camara::router(camara_state))
            .merge(lookup::router(lookup_state))
            .merge(hooks)
            .layer(middleware::from_fn_with_state(shared.clone(), record_requests));
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(Sandbox {
            base_url,
            addr,
            clock,
            truid: TruIdControl::new(truid_state),
            vonage: VonageControl::new(vonage_state),
            twilio: TwilioControl::new(twilio_state),
            shared,
            task,
        })
    }

    /// `http://127.0.0.1:<port>`: the base URL for every provider client.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn clock(&self) -> &SandboxClock {
        &self.clock
    }

    pub fn truid(&self) -> &TruIdControl {
        &self.truid
    }

    pub fn vonage(&self) -> &VonageControl {
        &self.vonage
    }

    pub fn twilio(&self) -> &TwilioControl {
        &self.twilio
    }

    /// Every SMS "sent" by Vonage (v1, v2) and Twilio, oldest first. Vonage steps that fell due on
    /// the sandbox clock are fired first.
    pub fn outbox(&self) -> Vec<SmsMessage> {
        self.shared.outbox(None)
    }

    /// The code of the newest SMS with a code to `to_e164` (`+` optional), from any provider
    /// (notices, which carry none, are passed over).
    pub fn last_code(&self, to_e164: &str) -> Option<String> {
        self.shared.outbox(Some(to_e164)).into_iter().rev().find(|m| !m.code.is_empty()).map(|m| m.code)
    }

    pub fn clear_outbox(&self) {
        self.shared.journal.clear_outbox();
    }

    /// Method and path of every provider call (all providers, hooks excluded), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.journal.requests()
    }

    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared.journal.count(method, path_prefix)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}
