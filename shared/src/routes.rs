//! The one inventory of routes (SECURITY.md §2 #20). Lambda functions, the local stack, the SAM
//! template, the CDK app and cargo-lambda's watch router are all checked against this table.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::SharedApp;
use crate::config::ClientIpSource;
use crate::http::{Problem, account, coverage, reset, second_factor};

/// One Lambda function each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    Coverage,
    CreateCheck,
    Callback,
    ResetPassword,
    SimCheck,
    OtpStart,
    OtpVerify,
    Account,
}

impl Function {
    pub const ALL: [Function; 8] = [
        Function::Coverage,
        Function::CreateCheck,
        Function::Callback,
        Function::ResetPassword,
        Function::SimCheck,
        Function::OtpStart,
        Function::OtpVerify,
        Function::Account,
    ];

    /// The binary (and Lambda function) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Coverage => "coverage",
            Function::CreateCheck => "create-check",
            Function::Callback => "callback",
            Function::ResetPassword => "reset-password",
            Function::SimCheck => "sim-check",
            Function::OtpStart => "otp-start",
            Function::OtpVerify => "otp-verify",
            Function::Account => "account",
        }
    }
}

/// Which outside services a function's code calls: its Lambda builds clients for these only (a
/// shorter cold start), and the infrastructure tests hold its IAM policy to what it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uses {
    pub truid: bool,
    pub otp: bool,
}

impl Function {
    pub fn uses(self) -> Uses {
        match self {
            Function::Coverage | Function::CreateCheck | Function::Callback | Function::SimCheck => {
                Uses { truid: true, otp: false }
            }
            Function::OtpStart | Function::OtpVerify => Uses { truid: false, otp: true },
            Function::ResetPassword | Function::Account => Uses { truid: false, otp: false },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
}

pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/api/coverage", function: Function::Coverage },
    Route { method: "POST", path: "/api/reset/check", function: Function::CreateCheck },
    Route { method: "GET", path: "/api/reset/callback", function: Function::Callback },
    Route { method: "POST", path: "/api/reset/password", function: Function::ResetPassword },
    Route { method: "POST", path: "/api/sim-check", function: Function::SimCheck },
    Route { method: "POST", path: "/api/otp/start", function: Function::OtpStart },
    Route { method: "POST", path: "/api/otp/verify", function: Function::OtpVerify },
    Route { method: "POST", path: "/api/register", function: Function::Account },
    Route { method: "POST", path: "/api/login", function: Function::Account },
    Route { method: "POST", path: "/api/logout", function: Function::Account },
    Route { method: "GET", path: "/api/me", function: Function::Account },
];

/// Largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

fn handler(route: &Route) -> MethodRouter<SharedApp> {
    match (route.method, route.path) {
        ("GET", "/api/coverage") => get(coverage::coverage),
        ("POST", "/api/reset/check") => post(reset::create_check),
        ("GET", "/api/reset/callback") => get(reset::callback),
        ("POST", "/api/reset/password") => post(reset::reset_password),
        ("POST", "/api/sim-check") => post(second_factor::sim_check),
        ("POST", "/api/otp/start") => post(second_factor::otp_start),
        ("POST", "/api/otp/verify") => post(second_factor::otp_verify),
        ("POST", "/api/register") => post(account::register),
        ("POST", "/api/login") => post(account::login),
        ("POST", "/api/logout") => post(account::logout),
        ("GET", "/api/me") => get(account::me),
        // Unreachable while ROUTES and this match agree; a test checks that they do.
        _ => MethodRouter::new().fallback(|| async { Problem::not_found() }),
    }
}

/// Behind CloudFront, only requests that came through it (they carry the origin-verify token) are
/// served: anything else could forge `CloudFront-Viewer-Address` and dodge every per-IP limit.
async fn verify_origin(State(app): State<SharedApp>, req: Request, next: Next) -> Response {
    if let ClientIpSource::CloudFront { origin_verify_token } = &app.settings.client_ip {
        let presented = req.headers().get("x-simguard-origin-verify").map(|v| v.as_bytes()).unwrap_or(b"");
        if !origin_verify_token.matches(presented) {
            tracing::warn!(event = "origin_rejected", "a request that did not come through CloudFront");
            return Problem::origin_rejected().into_response();
        }
    }
    next.run(req).await
}

#[derive(Debug, thiserror::Error)]
#[error("invalid public origin for CSRF protection: {0}")]
pub struct RouterError(String);

/// The router for one function (`Some`) or for all of them (`None`, the local stack).
///
/// Every response gets `Cache-Control: no-store`, `nosniff` and `no-referrer`; state-changing
/// requests must come from the configured public origin (`Origin` / `Sec-Fetch-Site`, tower-http's
/// implementation of Go's CrossOriginProtection) — SECURITY.md G1.
pub fn router(app: SharedApp, only: Option<Function>) -> Result<Router, RouterError> {
    let csrf = CsrfLayer::new()
        .add_trusted_origin(app.settings.public_origin())
        .map_err(|e| RouterError(format!("{e:?}")))?
        .with_rejection_response(|_| {
            tracing::warn!(event = "csrf_rejected", "cross-origin state-changing request refused");
            Problem::csrf_rejected().into_response()
        });
    let mut r = Router::new();
    for route in ROUTES.iter().filter(|r| only.is_none_or(|f| f == r.function)) {
        r = r.route(route.path, handler(route));
    }
    let verify = axum::middleware::from_fn_with_state(app.clone(), verify_origin);
    Ok(r.fallback(|| async { Problem::not_found() })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(csrf)
        .layer(verify)
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .with_state(app))
}
