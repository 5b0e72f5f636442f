//! simguard-sandbox: local, offline stand-ins for the providers' HTTP APIs, faithful to their specs
//! (`provider-specs/`) and to PROVIDERS.md, with test hooks. It does not depend on the `simguard`
//! crate, so the shared crate's tests can use it without a dependency cycle.
//!
//! One server on one port speaks every provider's paths; each client is pointed at it as its base URL.

pub mod clock;
pub mod truid;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use clock::SandboxClock;
pub use truid::{CoverageRule, Profile, TruIdConfig, TruIdControl};

#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    pub truid: TruIdConfig,
    /// `Some(t)`: the clock starts frozen at `t` (tests); `None`: real time (local stack).
    pub frozen_at: Option<i64>,
}

pub struct Sandbox {
    base_url: String,
    addr: SocketAddr,
    clock: Arc<SandboxClock>,
    truid: TruIdControl,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    clock: Arc<SandboxClock>,
    truid: Arc<truid::TruIdState>,
}

async fn record_requests(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/_sandbox") {
        truid::record(&s.truid, req.method().as_str(), &path);
    }
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
        let truid_state = truid::TruIdState::new(config.truid, clock.clone(), base_url.clone());
        let shared = Shared {
            clock: clock.clone(),
            truid: truid_state.clone(),
        };
        let hooks = Router::new()
            .route("/_sandbox/clock/advance", post(advance_clock))
            .with_state(shared.clone());
        let app = Router::new()
            .merge(truid::router(truid_state.clone()))
            .merge(hooks)
            .layer(middleware::from_fn_with_state(shared, record_requests));
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
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}
