//! CAMARA (GSMA Open Gateway) SIM Swap v2, as specified in `provider-specs/camara/sim-swap.yaml`,
//! behind a two-legged OAuth 2.0 client-credentials token endpoint (`POST /camara/oauth2/token`), as
//! an operator or aggregator exposes it. A number's SIM history is its tru.ID profile (the same
//! sandbox number answers alike everywhere); numbers ending in 98 are not served (422
//! `SERVICE_NOT_APPLICABLE`), in 97 unknown (404 `IDENTIFIER_NOT_FOUND`). The operator keeps
//! `max_age_hours` of history: a longer `maxAge` is 400 `OUT_OF_RANGE`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

use crate::clock::SandboxClock;
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

pub struct CamaraState {
    config: CamaraConfig,
    clock: Arc<SandboxClock>,
    truid: Arc<TruIdState>,
    tokens: Mutex<HashMap<String, i64>>,
}

impl CamaraState {
    pub fn new(config: CamaraConfig, clock: Arc<SandboxClock>, truid: Arc<TruIdState>) -> Arc<Self> {
        Arc::new(Self { config, clock, truid, tokens: Mutex::new(HashMap::new()) })
    }

    fn tokens(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    match credentials {
        Some((id, secret)) if id == s.config.client_id && secret == s.config.client_secret => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    let token = random_hex(40);
    s.tokens().insert(token.clone(), s.clock.now() + s.config.token_ttl_secs);
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "access_token": token, "token_type": "Bearer", "expires_in": s.config.token_ttl_secs }),
    )
}

/// The bearer token, if it is one this endpoint issued and it has not expired.
fn authorized(s: &CamaraState, headers: &HeaderMap) -> bool {
    let now = s.clock.now();
    bearer(headers).is_some_and(|t| s.tokens().get(&t).is_some_and(|exp| *exp > now))
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

pub fn router(state: Arc<CamaraState>) -> Router {
    Router::new()
        .route("/camara/oauth2/token", post(token))
        .route("/sim-swap/v2/check", post(check))
        .route("/sim-swap/v2/retrieve-date", post(retrieve_date))
        .with_state(state)
}
