//! CAMARA (GSMA Open Gateway) as an operator or aggregator exposes it: SIM Swap v2
//! (`provider-specs/camara/sim-swap.yaml`) behind a two-legged client-credentials token, and Number
//! Verification v2 (`provider-specs/camara/number-verification.yaml`) behind the OpenID Connect
//! authorization-code flow with network-based authentication (`GET /camara/authorize` → the redirect
//! with `code` and `state`; `POST /camara/oauth2/token` with the PKCE verifier). The device the
//! authorization "recognises" holds the number its `login_hint` names when that number's profile
//! matches, another number otherwise; without a hint (what simguard sends: the hint would show the
//! account's number to whoever starts the proof), it holds any number `/verify` asks about whose
//! profile matches. A visitor off mobile data (tru.ID's coverage rules for its address) gets
//! `error=login_required`. A number's SIM history is its tru.ID profile (the same
//! sandbox number answers alike everywhere); numbers ending in 98 are not served (422
//! `SERVICE_NOT_APPLICABLE`), in 97 unknown (404 `IDENTIFIER_NOT_FOUND`). The operator keeps
//! `max_age_hours` of history: a longer `maxAge` is 400 `OUT_OF_RANGE`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::clock::SandboxClock;
use crate::journal::Capped;
use crate::truid::TruIdState;
use crate::wire::{basic_auth, bearer, json_response, media_type, random_hex};

/// The token endpoint and SIM Swap's credentials and limits.
#[derive(Debug, Clone)]
pub struct CamaraConfig {
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl_secs: i64,
    /// How much history the operator keeps, in hours (SIM Swap v2 allows asking up to 2400).
    pub max_age_hours: i64,
}

impl Default for CamaraConfig {
    fn default() -> Self {
        Self {
            client_id: "sandbox-camara-client".into(),
            client_secret: "sandbox-camara-secret".into(),
            token_ttl_secs: 3600,
            max_age_hours: 720,
        }
    }
}

/// An access token: until when, and — three-legged — the device it authenticated.
struct Token {
    expires_at: i64,
    device: Option<Device>,
}

/// The SIM the operator found on the connection that was authorised.
#[derive(Clone)]
enum Device {
    /// A `login_hint` named the number: this one.
    Number(String),
    /// No hint: the network knows the SIM, the sandbox decides when a number is asked about (its
    /// profile matches or not, as tru.ID's checks do).
    Connection,
}

impl Device {
    fn holds(&self, truid: &TruIdState, digits: &str) -> bool {
        match self {
            Device::Number(n) => n == digits,
            Device::Connection => !digits.ends_with("98") && truid.profile_of(digits).matched,
        }
    }
}

/// An authorization code, single-use, for ten minutes.
struct Grant {
    redirect_uri: String,
    challenge: String,
    device: Device,
    expires_at: i64,
}

/// Bounded, as every record the sandbox keeps (a long-running local stack).
#[derive(Default)]
struct Data {
    tokens: Capped<String, Token>,
    grants: Capped<String, Grant>,
}

pub struct CamaraState {
    config: CamaraConfig,
    clock: Arc<SandboxClock>,
    truid: Arc<TruIdState>,
    data: Mutex<Data>,
}

impl CamaraState {
    pub fn new(config: CamaraConfig, clock: Arc<SandboxClock>, truid: Arc<TruIdState>) -> Arc<Self> {
        Arc::new(Self { config, clock, truid, data: Mutex::new(Data::default()) })
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn issue(&self, device: Option<Device>) -> Response {
        let token = random_hex(40);
        let expires_at = self.clock.now() + self.config.token_ttl_secs;
        self.data().tokens.insert(token.clone(), Token { expires_at, device });
        json_response(
            StatusCode::OK,
            "application/json",
            &json!({ "access_token": token, "token_type": "Bearer", "expires_in": self.config.token_ttl_secs }),
        )
    }
}

/// CAMARA's `ErrorInfo`.
fn error(status: u16, code: &str, message: &str) -> Response {
    let http = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(http, "application/json", &json!({ "status": status, "code": code, "message": message }))
}

/// The request's `x-correlator`, echoed when it has the documented form.
fn correlated(mut resp: Response, headers: &HeaderMap) -> Response {
    let ok = |v: &str| v.len() <= 256 && v.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_:;./<>{}".contains(&c));
    if let Some(v) = headers.get("x-correlator").and_then(|v| v.to_str().ok()).filter(|v| ok(v))
        && let Ok(value) = HeaderValue::from_str(v)
    {
        resp.headers_mut().insert("x-correlator", value);
    }
    resp
}

/// RFC 6749 client credentials: Basic auth (or the form's `client_id`/`client_secret`).
async fn token(State(s): State<Arc<CamaraState>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let credentials =
        basic_auth(&headers).or_else(|| Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone())));
    let oauth_error =
        |status: StatusCode, code: &str| json_response(status, "application/json", &json!({ "error": code }));
    match credentials {
        Some((id, secret)) if id == s.config.client_id && secret == s.config.client_secret => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => s.issue(None),
        // RFC 6749 4.1.3 with RFC 7636: the code once, for its redirect_uri and verifier.
        Some("authorization_code") => {
            let now = s.clock.now();
            let grant = form.get("code").and_then(|c| s.data().grants.remove(c));
            let ok = grant.as_ref().is_some_and(|g| {
                g.expires_at > now
                    && form.get("redirect_uri") == Some(&g.redirect_uri)
                    && form.get("code_verifier").is_some_and(|v| pkce_s256(v) == g.challenge)
            });
            match grant {
                Some(g) if ok => s.issue(Some(g.device)),
                _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

/// `base64url(sha256(verifier))`, without padding.
fn pkce_s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The OpenID Connect authorization endpoint, as network-based authentication runs it: the visiting
/// device, on mobile data, is recognised without interaction (`prompt=none`), and sent back to
/// `redirect_uri` with a code and the `state`; off mobile data, with `error=login_required`.
async fn authorize(
    State(s): State<Arc<CamaraState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let bad = |what: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            "application/json",
            &json!({ "error": "invalid_request", "error_description": what }),
        )
    };
    let Some(mut back) = q.get("redirect_uri").and_then(|u| url::Url::parse(u).ok()) else {
        return bad("redirect_uri");
    };
    if q.get("client_id") != Some(&s.config.client_id) {
        return bad("client_id");
    }
    let required = [("response_type", "code"), ("code_challenge_method", "S256"), ("prompt", "none")];
    if let Some((k, _)) = required.iter().find(|(k, v)| q.get(*k).map(String::as_str) != Some(*v)) {
        return bad(k);
    }
    let scopes: Vec<&str> = q.get("scope").map(|s| s.split(' ').collect()).unwrap_or_default();
    if !scopes.contains(&"openid") || !scopes.contains(&"number-verification:verify") {
        return bad("scope");
    }
    let (Some(state), Some(challenge)) = (q.get("state"), q.get("code_challenge").filter(|c| c.len() == 43)) else {
        return bad("state or code_challenge");
    };
    let hinted = q
        .get("login_hint")
        .and_then(|h| h.strip_prefix("tel:+"))
        .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()));
    let on_mobile_data = s.truid.covers_ip(peer.ip().to_canonical());
    let hint = q.get("login_hint");
    let device = match hinted {
        // The SIM in the device: the hinted number when its profile matches, another otherwise.
        Some(digits) if !digits.ends_with("98") => Some(Device::Number(if s.truid.profile_of(digits).matched {
            digits.to_owned()
        } else {
            "447000009999".to_owned()
        })),
        None if hint.is_none() => Some(Device::Connection),
        _ => None,
    };
    match device {
        Some(device) if on_mobile_data => {
            let code = random_hex(32);
            let grant = Grant {
                redirect_uri: q.get("redirect_uri").cloned().unwrap_or_default(),
                challenge: challenge.clone(),
                device,
                expires_at: s.clock.now() + 600,
            };
            s.data().grants.insert(code.clone(), grant);
            back.query_pairs_mut().append_pair("code", &code).append_pair("state", state);
        }
        _ => {
            back.query_pairs_mut().append_pair("error", "login_required").append_pair("state", state);
        }
    }
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(back.as_str()) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp
}

/// The bearer token, if it is one this endpoint issued and it has not expired: `Some(device)`, the
/// device a three-legged token authenticated (`None` for a two-legged one).
fn token_of(s: &CamaraState, headers: &HeaderMap) -> Option<Option<Device>> {
    let now = s.clock.now();
    let token = bearer(headers)?;
    s.data().tokens.get(&token).filter(|t| t.expires_at > now).map(|t| t.device.clone())
}

fn authorized(s: &CamaraState, headers: &HeaderMap) -> bool {
    token_of(s, headers).is_some()
}

/// The request's `phoneNumber`, or the error the spec gives for it.
fn phone_number(body: &Value) -> Result<String, Box<Response>> {
    match body.get("phoneNumber") {
        None => Err(Box::new(error(422, "MISSING_IDENTIFIER", "The device cannot be identified."))),
        Some(Value::String(p))
            if p.strip_prefix('+').is_some_and(|d| {
                (5..=15).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
            }) =>
        {
            Ok(p[1..].to_owned())
        }
        Some(_) => Err(Box::new(error(
            400,
            "INVALID_ARGUMENT",
            "Client specified an invalid argument, request body or query param.",
        ))),
    }
}

/// Whether the number is served, and if so whether its SIM changed recently.
fn served(s: &CamaraState, digits: &str) -> Result<bool, Box<Response>> {
    if digits.ends_with("98") {
        return Err(Box::new(error(
            422,
            "SERVICE_NOT_APPLICABLE",
            "The service is not available for the provided identifier.",
        )));
    }
    if digits.ends_with("97") {
        return Err(Box::new(error(404, "IDENTIFIER_NOT_FOUND", "Device identifier not found.")));
    }
    Ok(!s.truid.profile_of(digits).no_sim_change)
}

/// The request's JSON body, once its bearer token is one this endpoint issued and still live.
fn authorized_json(s: &CamaraState, headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    if !authorized(s, headers) {
        return Err(Box::new(error(
            401,
            "UNAUTHENTICATED",
            "Request not authenticated due to missing, invalid, or expired credentials. A new authentication is required.",
        )));
    }
    json_body(headers, body)
}

fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Box<Response>> {
    let bad = || {
        Box::new(error(400, "INVALID_ARGUMENT", "Client specified an invalid argument, request body or query param."))
    };
    if media_type(headers) != "application/json" {
        return Err(bad());
    }
    serde_json::from_slice::<Value>(body).ok().filter(Value::is_object).ok_or_else(bad)
}

async fn check(State(s): State<Arc<CamaraState>>, headers: HeaderMap, body: Bytes) -> Response {
    let resp = (|| {
        let body = match authorized_json(&s, &headers, &body) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let max_age = match body.get("maxAge") {
            None => 240,
            Some(v) => match v.as_i64().filter(|h| (1..=2400).contains(h)) {
                Some(h) => h,
                None => return error(400, "OUT_OF_RANGE", "Client specified an invalid range."),
            },
        };
        if max_age > s.config.max_age_hours {
            let days = s.config.max_age_hours / 24;
            return error(
                400,
                "OUT_OF_RANGE",
                &format!("Check monitor period could not exceed local regulations ({days} days)"),
            );
        }
        let digits = match phone_number(&body) {
            Ok(d) => d,
            Err(r) => return *r,
        };
        match served(&s, &digits) {
            Ok(swapped) => json_response(StatusCode::OK, "application/json", &json!({ "swapped": swapped })),
            Err(r) => *r,
        }
    })();
    correlated(resp, &headers)
}

/// `latestSimChange`: an hour before now for a changed SIM; `null` otherwise, with the operator's
/// monitored period (no swap within it).
async fn retrieve_date(State(s): State<Arc<CamaraState>>, headers: HeaderMap, body: Bytes) -> Response {
    let resp = (|| {
        let body = match authorized_json(&s, &headers, &body) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let digits = match phone_number(&body) {
            Ok(d) => d,
            Err(r) => return *r,
        };
        match served(&s, &digits) {
            Ok(true) => {
                let at = time::OffsetDateTime::from_unix_timestamp(s.clock.now() - 3600)
                    .ok()
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
                json_response(StatusCode::OK, "application/json", &json!({ "latestSimChange": at }))
            }
            Ok(false) => json_response(
                StatusCode::OK,
                "application/json",
                &json!({ "latestSimChange": null, "monitoredPeriod": s.config.max_age_hours / 24 }),
            ),
            Err(r) => *r,
        }
    })();
    correlated(resp, &headers)
}

/// Number Verification's `POST /verify`: only with a token from the authorization-code flow; true
/// when the number given (plain, or its SHA-256 in hex) is the device's.
async fn verify(State(s): State<Arc<CamaraState>>, headers: HeaderMap, body: Bytes) -> Response {
    let resp = (|| {
        let body = match authorized_json(&s, &headers, &body) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let Some(Some(device)) = token_of(&s, &headers) else {
            return error(
                403,
                "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
                "Client must authenticate via the mobile network to use this service",
            );
        };
        let given = body.as_object().map(|o| o.len()).unwrap_or(0);
        let verified = match (body.get("phoneNumber"), body.get("hashedPhoneNumber")) {
            (Some(Value::String(p)), None) if given == 1 => {
                p.strip_prefix('+').is_some_and(|digits| device.holds(&s.truid, digits))
            }
            // A hash names a number the sandbox cannot read back: only a hinted device's compares.
            (None, Some(Value::String(h))) if given == 1 => match &device {
                Device::Number(n) => {
                    use sha2::Digest;
                    h.eq_ignore_ascii_case(&hex::encode(sha2::Sha256::digest(format!("+{n}").as_bytes())))
                }
                Device::Connection => false,
            },
            _ => {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "Client specified an invalid argument, request body or query param.",
                );
            }
        };
        json_response(StatusCode::OK, "application/json", &json!({ "devicePhoneNumberVerified": verified }))
    })();
    correlated(resp, &headers)
}

pub fn router(state: Arc<CamaraState>) -> Router {
    Router::new()
        .route("/camara/authorize", get(authorize))
        .route("/number-verification/v2/verify", post(verify))
        .route("/camara/oauth2/token", post(token))
        .route("/sim-swap/v2/check", post(check))
        .route("/sim-swap/v2/retrieve-date", post(retrieve_date))
        .with_state(state)
}
