//! Verify v2 (docs/providers.md, "Vonage Verify v2"): `POST /v2/verify`, `POST|DELETE /v2/verify/{id}`,
//! `POST /v2/verify/{id}/next_workflow`. JSON in, `application/problem+json` errors out. Only Basic
//! `api_key:api_secret` is accepted: the sandbox cannot check Vonage-signed JWTs.
//!
//! Each workflow step lasts `channel_timeout`; the request expires when the last step's timeout has
//! passed. Concurrency is per number within v2 (v1 requests do not block v2 ones, nor the reverse).
//!
//! Silent authentication (a `silent_auth` first step): the start answers a `check_url` under
//! `/v2/verify/{id}/silent-auth/redirect`; the device's one visit succeeds when it comes from an
//! address on mobile data (tru.ID's coverage rules) and the number's profile matches — then it is
//! sent to the step's `redirect_url` with `#request_id=…&code=…` (or, without one, answered that
//! JSON) — and otherwise the silent step fails: the next step fires, or the request fails, and the
//! device is sent to `redirect_url#request_id=…&error=…` (the sandbox's choice: Vonage documents the
//! success fragment only). Numbers ending in 98 are on networks without silent auth (412). The code
//! may be submitted once.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::{Flow, Step, VonageState};
use crate::journal::Journal;
use crate::wire::{basic_auth, bearer, e164_digits, json_response, random_digits, random_hex};

const PROVIDER: &str = "vonage-v2";
const PROBLEM: &str = "application/problem+json";
const ERRORS: &str = "https://developer.vonage.com/en/api-errors/verify-v2#";
const MAX_WRONG_CODES: u32 = 3;
const CANCEL_AFTER_SECS: i64 = 30;
const CHANNELS: &[&str] = &["sms", "voice", "whatsapp", "email", "rcs", "silent_auth"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    InProgress,
    Completed,
    Failed,
    Expired,
    Cancelled,
}

pub(crate) struct Request {
    /// The first step's recipient: what "the same number" means for concurrency.
    to: String,
    pub(crate) flow: Flow,
    status: Status,
    wrong: u32,
    created_at: i64,
    /// A silent-auth first step's state.
    silent: Option<Silent>,
}

/// A silent-auth step: where the device goes after its visit, whether it came, and the code its
/// visit earned.
struct Silent {
    redirect_url: Option<url::Url>,
    visited: bool,
    code: Option<String>,
}

impl Request {
    pub(crate) fn refresh(&mut self, now: i64, journal: &Journal) {
        if self.status != Status::InProgress {
            return;
        }
        self.flow.catch_up(now, journal);
        if self.flow.expired(now) {
            self.status = Status::Expired;
        }
    }
}

fn problem_body(slug: &str, title: &str, detail: &str) -> Value {
    json!({
        "type": format!("{ERRORS}{slug}"),
        "title": title,
        "detail": detail,
        "instance": uuid::Uuid::new_v4().to_string(),
    })
}

fn problem(status: StatusCode, slug: &str, title: &str, detail: &str) -> Response {
    json_response(status, PROBLEM, &problem_body(slug, title, detail))
}

fn invalid_params(bad: Vec<(String, String)>) -> Response {
    let mut body = problem_body("invalid-params", "Invalid params", "The value of one or more parameters is invalid");
    body["invalid_parameters"] =
        bad.into_iter().map(|(name, reason)| json!({ "name": name, "reason": reason })).collect();
    json_response(StatusCode::UNPROCESSABLE_ENTITY, PROBLEM, &body)
}

fn not_found(id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not Found",
        &format!("Request '{id}' was not found or it has been verified already."),
    )
}

fn authenticate(s: &VonageState, headers: &HeaderMap) -> Option<Response> {
    let unauthorized = |detail: &str| Some(problem(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail));
    if bearer(headers).is_some() {
        return unauthorized("The sandbox cannot verify JWTs; use Basic authentication with api_key:api_secret.");
    }
    match basic_auth(headers) {
        Some((key, secret)) if key == s.config.api_key && secret == s.config.api_secret => None,
        _ => unauthorized("You did not provide correct credentials."),
    }
}

/// An optional integer field within `range`; a reason when present and wrong.
fn int_field(
    req: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    bad: &mut Vec<(String, String)>,
) -> Option<i64> {
    let v = req.get(name)?;
    match v.as_i64().filter(|n| range.contains(n)) {
        Some(n) => Some(n),
        None => {
            bad.push((name.to_owned(), format!("must be an integer from {} to {}", range.start(), range.end())));
            None
        }
    }
}

/// Validated steps as (channel, recipient); reasons are pushed to `bad`.
fn workflow(req: &Map<String, Value>, bad: &mut Vec<(String, String)>) -> Vec<(&'static str, String)> {
    let Some(Value::Array(steps)) = req.get("workflow") else {
        bad.push(("workflow".into(), "must be an array of 1 to 3 steps".into()));
        return Vec::new();
    };
    if !(1..=3).contains(&steps.len()) {
        bad.push(("workflow".into(), "must be an array of 1 to 3 steps".into()));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let channel =
            step.get("channel").and_then(Value::as_str).and_then(|c| CHANNELS.iter().find(|k| **k == c).copied());
        let Some(channel) = channel else {
            bad.push((format!("workflow[{i}].channel"), format!("must be one of {}", CHANNELS.join(", "))));
            continue;
        };
        let to = step.get("to").and_then(Value::as_str).unwrap_or_default();
        let to = if channel == "email" {
            to.contains('@').then(|| to.to_owned())
        } else {
            // E.164 without the leading `+` [I: Vonage documents the form, not the refusal].
            e164_digits(to).filter(|_| !to.starts_with('+'))
        };
        match to {
            Some(to) => out.push((channel, to)),
            None => bad.push((
                format!("workflow[{i}].to"),
                if channel == "email" {
                    "must be an email address".into()
                } else {
                    "must be a phone number in E.164 format without a leading +".into()
                },
            )),
        }
    }
    out
}

async fn start(State(s): State<Arc<VonageState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = authenticate(&s, &headers) {
        return refusal;
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(&body) else {
        return invalid_params(vec![("body".into(), "must be a JSON object".into())]);
    };
    let mut bad = Vec::new();
    let max = s.config.brand_max;
    let brand = match req.get("brand") {
        Some(Value::String(b)) if (1..=max).contains(&b.chars().count()) && !b.contains(['/', '{', '}', ':', '$']) => {
            b.clone()
        }
        Some(_) => {
            bad.push(("brand".into(), format!("must be 1 to {max} characters, without / {{ }} : $")));
            String::new()
        }
        None => {
            bad.push(("brand".into(), "is required".into()));
            String::new()
        }
    };
    let steps = workflow(&req, &mut bad);
    let code_length = int_field(&req, "code_length", 4..=10, &mut bad).unwrap_or(4);
    let timeout = int_field(&req, "channel_timeout", 15..=900, &mut bad).unwrap_or(s.config.v2_channel_timeout_secs);
    for name in ["locale", "client_ref"] {
        if req.get(name).is_some_and(|v| !v.is_string()) {
            bad.push((name.into(), "must be a string".into()));
        }
    }
    let custom_code = match req.get("code") {
        None => None,
        Some(Value::String(c)) if (4..=10).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(c.clone())
        }
        Some(_) => {
            bad.push(("code".into(), "must be 4 to 10 letters or digits".into()));
            None
        }
    };
    if !bad.is_empty() {
        return invalid_params(bad);
    }
    let Some((first_channel, first_to)) = steps.first().cloned() else {
        return invalid_params(vec![("workflow".into(), "is required".into())]);
    };
    let silent = if first_channel == "silent_auth" {
        if s.truid.profile_of(&first_to).unsupported {
            return problem(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition Failed",
                "Silent authentication is not supported for this number's network.",
            );
        }
        let redirect = req["workflow"][0].get("redirect_url");
        let redirect_url = match redirect.map(|r| r.as_str().and_then(|r| url::Url::parse(r).ok())) {
            None => None,
            Some(Some(u)) if matches!(u.scheme(), "https" | "http") => Some(u),
            Some(_) => {
                return invalid_params(vec![("workflow[0].redirect_url".into(), "must be an absolute URL".into())]);
            }
        };
        Some(Silent { redirect_url, visited: false, code: None })
    } else {
        None
    };

    let now = s.clock.now();
    let mut d = s.data();
    for r in d.v2.values_mut().filter(|r| r.to == first_to) {
        r.refresh(now, &s.journal);
    }
    if let Some((id, _)) = d.v2.iter().find(|(_, r)| r.to == first_to && r.status == Status::InProgress) {
        let mut body =
            problem_body("conflict", "Conflict", "Concurrent verifications to the same number are not allowed");
        body["request_id"] = json!(id);
        return json_response(StatusCode::CONFLICT, PROBLEM, &body);
    }
    let code = custom_code
        .or_else(|| s.config.fixed_code.clone())
        .unwrap_or_else(|| random_digits(usize::try_from(code_length).unwrap_or(4)));
    let text = format!("Your {brand} verification code is: {code}");
    let steps = steps.into_iter().map(|(channel, to)| Step { channel, to, wait: timeout }).collect();
    let id = uuid::Uuid::new_v4().to_string();
    let flow = Flow::start(PROVIDER, id.clone(), code, text, steps, now, &s.journal);
    let mut body = json!({ "request_id": id });
    if silent.is_some() {
        body["check_url"] = json!(format!("{}/v2/verify/{id}/silent-auth/redirect", s.base_url));
    }
    d.v2.insert(
        id.clone(),
        Request { to: first_to, flow, status: Status::InProgress, wrong: 0, created_at: now, silent },
    );
    json_response(StatusCode::ACCEPTED, "application/json", &body)
}

/// Ends a failed silent step: the next step fires, or the request fails.
fn fail_silent_step(r: &mut Request, now: i64, journal: &Journal) {
    if !r.flow.fire_next(now, journal) {
        r.status = Status::Failed;
    }
}

/// The device's visit to `check_url`: once, and only while the silent step is current.
async fn silent_redirect(
    State(s): State<Arc<VonageState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Response {
    let now = s.clock.now();
    let mut d = s.data();
    let Some(r) = d.v2.get_mut(&id) else {
        return not_found(&id);
    };
    r.refresh(now, &s.journal);
    let current = r.flow.current_channel() == Some("silent_auth");
    let to = r.to.clone();
    let Some(silent) = r.silent.as_mut().filter(|sa| r.status == Status::InProgress && current && !sa.visited) else {
        return problem(StatusCode::CONFLICT, "conflict", "Conflict", "The silent authentication step is not active.");
    };
    silent.visited = true;
    let recognised = s.truid.covers_ip(peer.ip().to_canonical()) && s.truid.profile_of(&to).matched;
    let redirect_url = silent.redirect_url.clone();
    let fragment = if recognised {
        let code = random_hex(5);
        silent.code = Some(code.clone());
        format!("request_id={id}&code={code}")
    } else {
        fail_silent_step(r, now, &s.journal);
        format!("request_id={id}&error=silent_auth_failed")
    };
    match redirect_url {
        Some(mut back) => {
            back.set_fragment(Some(&fragment));
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(location) = HeaderValue::from_str(back.as_str()) {
                resp.headers_mut().insert(header::LOCATION, location);
            }
            resp
        }
        None if recognised => {
            let code = r.silent.as_ref().and_then(|sa| sa.code.clone()).unwrap_or_default();
            json_response(StatusCode::OK, "application/json", &json!({ "request_id": id, "code": code }))
        }
        None => problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", "Silent authentication failed."),
    }
}

async fn check(State(s): State<Arc<VonageState>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    if let Some(refusal) = authenticate(&s, &headers) {
        return refusal;
    }
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
    let Some(code) = code.filter(|c| (4..=10).contains(&c.len())) else {
        return invalid_params(vec![("code".into(), "is required: 4 to 10 characters".into())]);
    };
    let now = s.clock.now();
    let mut d = s.data();
    let Some(r) = d.v2.get_mut(&id) else {
        return not_found(&id);
    };
    r.refresh(now, &s.journal);
    match r.status {
        Status::InProgress => {}
        Status::Expired => {
            return problem(StatusCode::GONE, "gone", "Gone", "The verification request has expired.");
        }
        Status::Completed | Status::Failed | Status::Cancelled => return not_found(&id),
    }
    if r.flow.current_channel() == Some("silent_auth") {
        // Only the code the device's visit earned, and only one try.
        let Some(earned) = r.silent.as_mut().and_then(|sa| sa.code.take()) else {
            return problem(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                "The current step of the workflow does not support a code.",
            );
        };
        if code == earned {
            r.status = Status::Completed;
            return json_response(
                StatusCode::OK,
                "application/json",
                &json!({ "request_id": id, "status": "completed" }),
            );
        }
        fail_silent_step(r, now, &s.journal);
        if r.status == Status::Failed {
            return problem(
                StatusCode::GONE,
                "gone",
                "Invalid Code",
                "Silent authentication failed. Workflow terminated.",
            );
        }
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid-code",
            "Invalid Code",
            "The code you provided does not match the expected value.",
        );
    }
    if code == r.flow.code {
        r.status = Status::Completed;
        return json_response(StatusCode::OK, "application/json", &json!({ "request_id": id, "status": "completed" }));
    }
    r.wrong += 1;
    if r.wrong >= MAX_WRONG_CODES {
        r.status = Status::Failed;
        return problem(
            StatusCode::GONE,
            "gone",
            "Invalid Code",
            "An incorrect code has been provided too many times. Workflow terminated.",
        );
    }
    problem(
        StatusCode::BAD_REQUEST,
        "invalid-code",
        "Invalid Code",
        "The code you provided does not match the expected value.",
    )
}

/// 204, or 404 when the request is unknown, finished, or outside the cancel window (from 30 s
/// after the start until the second step fires), since Vonage documents only 204 and 404.
async fn cancel(State(s): State<Arc<VonageState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refusal) = authenticate(&s, &headers) {
        return refusal;
    }
    let now = s.clock.now();
    let mut d = s.data();
    let Some(r) = d.v2.get_mut(&id) else {
        return not_found(&id);
    };
    r.refresh(now, &s.journal);
    if r.status != Status::InProgress {
        return not_found(&id);
    }
    if now < r.created_at + CANCEL_AFTER_SECS || r.flow.events.len() >= 2 {
        return problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not Found",
            &format!("Request '{id}' can only be cancelled from 30 seconds after it started until the second step."),
        );
    }
    r.status = Status::Cancelled;
    StatusCode::NO_CONTENT.into_response()
}

async fn next_workflow(State(s): State<Arc<VonageState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refusal) = authenticate(&s, &headers) {
        return refusal;
    }
    let now = s.clock.now();
    let mut d = s.data();
    let Some(r) = d.v2.get_mut(&id) else {
        return not_found(&id);
    };
    r.refresh(now, &s.journal);
    if r.status != Status::InProgress {
        return not_found(&id);
    }
    if !r.flow.fire_next(now, &s.journal) {
        return problem(StatusCode::CONFLICT, "conflict", "Conflict", "There are no more events left to trigger.");
    }
    json_response(StatusCode::OK, "application/json", &json!({ "request_id": id }))
}

pub(super) fn routes() -> Router<Arc<VonageState>> {
    Router::new()
        .route("/v2/verify", post(start))
        .route("/v2/verify/{id}", post(check).delete(cancel))
        .route("/v2/verify/{id}/next_workflow", post(next_workflow))
        .route("/v2/verify/{id}/silent-auth/redirect", get(silent_redirect))
}
