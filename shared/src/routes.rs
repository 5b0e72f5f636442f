//! The one inventory of routes (docs/security.md S20), and the routers built from it. Lambda
//! functions, the local stack, the SAM template, the CDK app and cargo-lambda's watch router are all
//! checked against [`ROUTES`].

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::Function;
use crate::app::{App, WithHasher, WithOtp, WithPasswords, WithSilent, WithSilentGate, WithSimGate};
use crate::config::{ClientIpSource, Settings};
use crate::http::{
    Problem, account, callback, coverage, create_check, otp_start, otp_verify, reset_password, sim_check,
    verification_api,
};
use crate::ports::deadline;

/// A route: method, path, and the function that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path: under `/api/`, but for the public keys' well-known address.
    pub path: &'static str,
    /// The Lambda function.
    pub function: Function,
    /// API Gateway authorises the caller with IAM (SigV4) before the function runs: the verification
    /// API's routes for backends inside AWS, called on the API's own endpoint, not through CloudFront.
    pub iam: bool,
}

/// Every route simguard serves.
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/api/coverage", function: Function::Coverage, iam: false },
    Route { method: "POST", path: "/api/reset/check", function: Function::CreateCheck, iam: false },
    Route { method: "POST", path: "/api/login/silent", function: Function::CreateCheck, iam: false },
    Route { method: "GET", path: "/api/reset/callback", function: Function::Callback, iam: false },
    Route { method: "POST", path: "/api/reset/callback", function: Function::Callback, iam: false },
    Route { method: "POST", path: "/api/reset/password", function: Function::ResetPassword, iam: false },
    Route { method: "POST", path: "/api/sim-check", function: Function::SimCheck, iam: false },
    Route { method: "POST", path: "/api/otp/start", function: Function::OtpStart, iam: false },
    Route { method: "POST", path: "/api/otp/verify", function: Function::OtpVerify, iam: false },
    Route { method: "POST", path: "/api/phone/finish", function: Function::OtpVerify, iam: false },
    Route { method: "POST", path: "/api/register", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/login", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/logout", function: Function::Account, iam: false },
    Route { method: "GET", path: "/api/me", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/password", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/logout-everywhere", function: Function::Account, iam: false },
    Route { method: "GET", path: "/api/devices", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/devices/forget", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/phone/check", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/phone/change", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/verify/begin", function: Function::CreateCheck, iam: false },
    Route { method: "POST", path: "/api/v1/verifications", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/v1/verifications/redeem", function: Function::Account, iam: false },
    Route { method: "GET", path: "/.well-known/jwks.json", function: Function::Account, iam: false },
    Route { method: "POST", path: "/api/v1/iam/verifications", function: Function::Account, iam: true },
    Route { method: "POST", path: "/api/v1/iam/verifications/redeem", function: Function::Account, iam: true },
];

/// The verification API's server-to-server routes: a site's API key is their credential, not a
/// cookie, so the browser's origin means nothing to them.
pub const SERVER_TO_SERVER_PREFIX: &str = "/api/v1/";

/// Largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A function's clients, and the handlers that can run with them. A handler is typed by the state
/// it needs, so it can only be listed under the clients that provide it.
pub trait Ports: Send + Sync + Sized + 'static {
    /// The handler of `route`, if these clients serve it.
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>>;
}

impl Ports for WithSilent {
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>> {
        Some(match (route.method, route.path) {
            ("GET", "/api/coverage") => get(coverage::coverage),
            ("POST", "/api/reset/check") => post(create_check::create_check),
            ("POST", "/api/login/silent") => post(create_check::start_silent_login),
            ("POST", "/api/verify/begin") => post(create_check::begin_verification),
            _ => return None,
        })
    }
}

impl Ports for WithSilentGate {
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>> {
        Some(match (route.method, route.path) {
            ("GET", "/api/reset/callback") => get(callback::callback),
            ("POST", "/api/reset/callback") => post(callback::callback_post),
            _ => return None,
        })
    }
}

impl Ports for WithSimGate {
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>> {
        Some(match (route.method, route.path) {
            ("POST", "/api/sim-check") => post(sim_check::sim_check),
            _ => return None,
        })
    }
}

impl Ports for WithOtp {
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>> {
        Some(match (route.method, route.path) {
            ("POST", "/api/otp/start") => post(otp_start::otp_start),
            ("POST", "/api/otp/verify") => post(otp_verify::otp_verify),
            ("POST", "/api/phone/finish") => post(otp_verify::finish_phone_change),
            _ => return None,
        })
    }
}

impl Ports for WithHasher {
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>> {
        Some(match (route.method, route.path) {
            ("POST", "/api/reset/password") => post(reset_password::reset_password),
            _ => return None,
        })
    }
}

impl Ports for WithPasswords {
    fn handler(route: &Route) -> Option<MethodRouter<Arc<App<Self>>>> {
        Some(match (route.method, route.path) {
            ("POST", "/api/register") => post(account::register),
            ("POST", "/api/login") => post(account::login),
            ("POST", "/api/logout") => post(account::logout),
            ("GET", "/api/me") => get(account::me),
            ("POST", "/api/password") => post(account::change_password),
            ("POST", "/api/logout-everywhere") => post(account::logout_everywhere),
            ("GET", "/api/devices") => get(account::devices),
            ("POST", "/api/devices/forget") => post(account::forget_device),
            ("POST", "/api/phone/check") => post(account::check_phone),
            ("POST", "/api/phone/change") => post(account::change_phone),
            ("POST", "/api/v1/verifications") => post(verification_api::create),
            ("POST", "/api/v1/verifications/redeem") => post(verification_api::redeem),
            ("GET", "/.well-known/jwks.json") => get(verification_api::jwks),
            ("POST", "/api/v1/iam/verifications") => post(verification_api::create_iam),
            ("POST", "/api/v1/iam/verifications/redeem") => post(verification_api::redeem_iam),
            _ => return None,
        })
    }
}

/// A router could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A route of the function has no handler among the function's clients.
    #[error("{function} cannot serve {method} {path} with the clients it was given")]
    Unserved {
        /// The function.
        function: &'static str,
        /// The route's method.
        method: &'static str,
        /// The route's path.
        path: &'static str,
    },
}

/// `function`'s routes with their state, without the layers [`secure`] adds.
pub fn function_routes<P: Ports>(app: App<P>) -> Result<Router, RouterError> {
    let function = app.settings.function;
    let mut r = Router::new();
    for route in ROUTES.iter().filter(|r| r.function == function) {
        let handler = P::handler(route).ok_or(RouterError::Unserved {
            function: function.name(),
            method: route.method,
            path: route.path,
        })?;
        r = r.route(route.path, handler);
    }
    Ok(r.with_state(Arc::new(app)))
}

/// Behind CloudFront, only requests that came through it (they carry the origin-verify token) are
/// served: anything else could forge `CloudFront-Viewer-Address` and dodge every per-IP limit.
async fn verify_origin(State(source): State<Arc<ClientIpSource>>, req: Request, next: Next) -> Response {
    // An IAM-authorised route is called on the API's own endpoint; API Gateway checked the caller's
    // signature before invoking us (the principal is in the event's context, which no client writes).
    let iam_route = ROUTES.iter().any(|r| r.iam && r.path == req.uri().path());
    if iam_route && crate::http::extract::iam_principal(req.extensions()).is_some() {
        return next.run(req).await;
    }
    if let ClientIpSource::CloudFront { origin_verify_token } = &*source {
        let presented = req.headers().get("x-simguard-origin-verify").map(|v| v.as_bytes()).unwrap_or(b"");
        if !origin_verify_token.matches(presented) {
            tracing::warn!(event = "origin_rejected", "a request that did not come through CloudFront");
            return Problem::origin_rejected().into_response();
        }
    }
    next.run(req).await
}

/// A state-changing request is served only if its `Origin` is the configured public origin, exactly
/// (scheme, host and port): never compared with anything the request itself says, such as `Host`.
/// Browsers send `Origin` with every `POST`; a request without one is not from our pages. A method
/// and path no route serves (`TRACE`, a `POST` to a `GET` route, …) changes nothing and goes on to
/// its 405 or 404.
async fn only_from_the_site(State(origin): State<Arc<str>>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let (method, path) = (req.method().as_str(), req.uri().path());
    let served =
        ROUTES.iter().any(|r| r.method == method && r.path == path) && !path.starts_with(SERVER_TO_SERVER_PREFIX);
    if !safe && served && req.headers().get(header::ORIGIN).map(HeaderValue::as_bytes) != Some(origin.as_bytes()) {
        tracing::warn!(event = "csrf_rejected", "a state-changing request from another origin, or none");
        return Problem::csrf_rejected().into_response();
    }
    next.run(req).await
}

/// Kept back from a Lambda invocation's deadline: time to answer before the platform gives up.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// How long after the request's deadline a handler still running is cut off. Outbound calls end by
/// the deadline itself, so a handler normally answers on its own (and writes nothing half); the cut
/// is the backstop, still well inside [`DEADLINE_MARGIN`].
pub const DEADLINE_CUTOFF: Duration = Duration::from_millis(200);

/// Every request works within one deadline (docs/security.md R7): the Lambda invocation's own, less
/// [`DEADLINE_MARGIN`] (and never more than the configured budget), or, outside Lambda, the
/// configured budget. Every outbound call takes at most
/// what is left ([`deadline`]); when nothing is left the answer is a 503 with `Retry-After` (the
/// callback: a 303 to the result page that says to try again), never a platform timeout.
async fn within_deadline(State(budget): State<Duration>, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let until = match req.extensions().get::<lambda_http::Context>().and_then(lambda_deadline) {
        Some(until) => until.min(now + budget),
        None => now + budget,
    };
    let callback = req.uri().path() == "/api/reset/callback";
    match tokio::time::timeout_at((until + DEADLINE_CUTOFF).into(), deadline::within(until, next.run(req))).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!(event = "deadline_exceeded", "the request ran out of time");
            if callback {
                let mut resp = axum::http::StatusCode::SEE_OTHER.into_response();
                let h = resp.headers_mut();
                h.insert(header::LOCATION, HeaderValue::from_static("/reset/result.html?r=unavailable"));
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            } else {
                Problem::unavailable().into_response()
            }
        }
    }
}

/// A Lambda invocation's deadline less [`DEADLINE_MARGIN`]; `None` when it carries none, or one
/// already past on arrival (not a real invocation's: `cargo lambda watch` sends a constant 600000,
/// ten minutes after 1970).
pub fn lambda_deadline(ctx: &lambda_http::Context) -> Option<Instant> {
    if ctx.deadline == 0 {
        return None;
    }
    let left = ctx.deadline().duration_since(SystemTime::now()).ok()?;
    Some(Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// The layers every function's router gets, and the answers for paths and methods it does not
/// serve. Every response gets `Cache-Control: no-store`, `nosniff` and `no-referrer`;
/// state-changing requests must come from the configured public origin ([`only_from_the_site`]) —
/// docs/security.md G1. `settings` are read for what every function shares (the public origin, the
/// client IP source).
pub fn secure(routes: Router, settings: &Settings) -> Router {
    let origin: Arc<str> = Arc::from(settings.public_origin());
    let csrf = axum::middleware::from_fn_with_state(origin, only_from_the_site);
    let verify = axum::middleware::from_fn_with_state(Arc::new(settings.client_ip.clone()), verify_origin);
    let deadline = axum::middleware::from_fn_with_state(settings.request_budget, within_deadline);
    routes
        .fallback(|| async { Problem::not_found() })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(csrf)
        .layer(verify)
        .layer(deadline)
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
}
