//! Verify v1: `/verify/json`, `/verify/check/json`, `/verify/search/json`, `/verify/control/json`.
//! Every answer is HTTP 200 `application/json` with a string `status` (docs/providers.md, "Vonage Verify v1").
//!
//! Expiry: workflows 6 and 7 have one event and expire after `pin_expiry` (default 300 s; when
//! `next_event_wait` is also given and `pin_expiry` is not a multiple of it, it becomes
//! `next_event_wait`, as the spec says). The other workflows expire when the wait after their last
//! event has passed, i.e. after the sum of their waits: the defaults below, or `next_event_wait`
//! for every wait when given. The code never changes during a request.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{Flow, Step, VonageState, forced_text};
use crate::clock::sql_datetime;
use crate::journal::Journal;
use crate::wire::{basic_auth, e164_digits, json_response, media_type, random_digits, random_hex};

const PROVIDER: &str = "vonage-v1";
const MAX_WRONG_CODES: u32 = 3;
/// Cancelling is refused this long after the start (docs/providers.md, "Vonage Verify v1").
const CANCEL_AFTER_SECS: i64 = 30;
const PRICE: &str = "0.10000000";
const CURRENCY: &str = "EUR";
/// Price of one SMS in 1e-8 EUR (`estimated_price_messages_sent` is "0.03330000" per SMS).
const SMS_PRICE_E8: u64 = 3_330_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    InProgress,
    Success,
    Failed,
    Expired,
    Cancelled,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::InProgress => "IN PROGRESS",
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
            Status::Expired => "EXPIRED",
            Status::Cancelled => "CANCELLED",
        }
    }
}

struct CheckEntry {
    at: i64,
    code: String,
    valid: bool,
}

pub(crate) struct Request {
    id: String,
    /// Digits, no `+`.
    number: String,
    sender_id: String,
    pub(crate) flow: Flow,
    status: Status,
    wrong: u32,
    checks: Vec<CheckEntry>,
    submitted_at: i64,
    finalized_at: Option<i64>,
}

impl Request {
    pub(crate) fn refresh(&mut self, now: i64, journal: &Journal) {
        if self.status != Status::InProgress {
            return;
        }
        self.flow.catch_up(now, journal);
        if self.flow.expired(now) {
            self.status = Status::Expired;
            self.finalized_at = Some(self.flow.next_at);
        }
    }

    fn finish(&mut self, status: Status, now: i64) {
        self.status = status;
        self.finalized_at = Some(now);
    }
}

/// Parameters from the query string and from a JSON or form body (the SDK sends JSON, the spec
/// says form; Vonage takes both). Empty values count as missing.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Params {
        let mut pairs = Vec::new();
        let json = media_type(headers) == "application/json" || body.trim_ascii_start().starts_with(b"{");
        if json {
            if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
                for (k, v) in map {
                    push_json(&mut pairs, &k, v);
                }
            }
        } else {
            pairs.extend(url::form_urlencoded::parse(body).into_owned());
        }
        if let Some(q) = uri.query() {
            pairs.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        pairs.retain(|(_, v)| !v.is_empty());
        Params(pairs)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

/// JSON numbers and booleans become their text (`"workflow_id": 6` works like `"6"`); arrays
/// repeat the key (`request_ids`).
fn push_json(pairs: &mut Vec<(String, String)>, key: &str, v: Value) {
    match v {
        Value::String(s) => pairs.push((key.to_owned(), s)),
        Value::Number(n) => pairs.push((key.to_owned(), n.to_string())),
        Value::Bool(b) => pairs.push((key.to_owned(), b.to_string())),
        Value::Array(items) => {
            for i in items {
                push_json(pairs, key, i);
            }
        }
        Value::Null | Value::Object(_) => {}
    }
}

fn reply(body: &Value) -> Response {
    json_response(StatusCode::OK, "application/json", body)
}

fn error(status: &str, text: &str) -> Response {
    reply(&json!({ "status": status, "error_text": text }))
}

fn error_for(request_id: &str, status: &str, text: &str) -> Response {
    reply(&json!({ "request_id": request_id, "status": status, "error_text": text }))
}

fn missing(param: &str) -> Response {
    error("2", &format!("Your request is incomplete and missing the mandatory parameter `{param}`"))
}

/// The start endpoint's form of status 3 (verify-v1.yml: "Invalid value for number").
fn invalid_start(param: &str) -> Response {
    error("3", &format!("Invalid value for {param}"))
}

/// The other endpoints' form of status 3 ("Invalid value for param: request_id").
fn invalid_param(param: &str) -> Response {
    error("3", &format!("Invalid value for param: {param}"))
}

fn not_found(request_id: &str) -> Response {
    error_for(
        request_id,
        "6",
        &format!(
            "The Vonage platform was unable to process this message for the following reason: Request '{request_id}' was not found or it has been verified already."
        ),
    )
}

/// Basic auth wins over parameters; missing credentials are status 2, wrong ones 4.
fn authenticate(s: &VonageState, headers: &HeaderMap, p: &Params, bad_text: &str) -> Option<Response> {
    let (key, secret) = match basic_auth(headers) {
        Some(pair) => pair,
        None => match (p.get("api_key"), p.get("api_secret")) {
            (None, _) => return Some(missing("api_key")),
            (_, None) => return Some(missing("api_secret")),
            (Some(k), Some(s)) => (k.to_owned(), s.to_owned()),
        },
    };
    (key != s.config.api_key || secret != s.config.api_secret).then(|| error("4", bad_text))
}

/// `None`: absent; `Some(Err)`: present but not an integer in `range`.
fn int_in(p: &Params, key: &str, range: std::ops::RangeInclusive<i64>) -> Option<Result<i64, ()>> {
    p.get(key).map(|v| v.parse::<i64>().ok().filter(|n| range.contains(n)).ok_or(()))
}

/// Channels and default waits of the workflows (docs/providers.md, "Vonage Verify v1"). Workflows 2 and 5 have no
/// documented waits; they borrow workflow 1's.
fn workflow_steps(workflow: i64, number: &str, pin_expiry: Option<i64>, next_event_wait: Option<i64>) -> Vec<Step> {
    let plan: &[(&'static str, i64)] = match workflow {
        1 => &[("sms", 125), ("tts", 180), ("tts", 300)],
        2 => &[("sms", 125), ("sms", 180), ("tts", 300)],
        3 => &[("tts", 150), ("tts", 150)],
        4 => &[("sms", 120), ("sms", 180)],
        5 => &[("sms", 125), ("tts", 300)],
        6 => &[("sms", 300)],
        _ => &[("tts", 300)],
    };
    let single = plan.len() == 1;
    plan.iter()
        .map(|&(channel, default_wait)| {
            let wait = if single {
                match (pin_expiry, next_event_wait) {
                    (Some(pe), Some(new)) if pe % new != 0 => new,
                    (Some(pe), _) => pe,
                    (None, _) => default_wait,
                }
            } else {
                next_event_wait.unwrap_or(default_wait)
            };
            Step { channel, to: number.to_owned(), wait }
        })
        .collect()
}

async fn start(State(s): State<Arc<VonageState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::parse(&uri, &headers, &body);
    if let Some(refusal) = authenticate(&s, &headers, &p, "Invalid credentials were provided") {
        return refusal;
    }
    let Some(number_raw) = p.get("number") else {
        return missing("number");
    };
    let Some(brand) = p.get("brand") else {
        return missing("brand");
    };
    let Some(number) = e164_digits(number_raw) else {
        return invalid_start("number");
    };
    if brand.chars().count() > s.config.brand_max {
        return invalid_start("brand");
    }
    let Ok(workflow) = int_in(&p, "workflow_id", 1..=7).unwrap_or(Ok(1)) else {
        return invalid_start("workflow_id");
    };
    let code_length = match p.get("code_length") {
        None | Some("4") => 4,
        Some("6") => 6,
        Some(_) => return invalid_start("code_length"),
    };
    let Ok(pin_expiry) = int_in(&p, "pin_expiry", 60..=3600).transpose() else {
        return invalid_start("pin_expiry");
    };
    let Ok(next_event_wait) = int_in(&p, "next_event_wait", 60..=900).transpose() else {
        return invalid_start("next_event_wait");
    };
    let sender_id = p.get("sender_id").unwrap_or("verify");
    if sender_id.chars().count() > 11 {
        return invalid_start("sender_id");
    }
    // The sandbox account, like most, is not enabled for custom PINs.
    if p.get("pin_code").is_some() {
        return error("20", "This account does not support the parameter: pin_code.");
    }

    let now = s.clock.now();
    let mut d = s.data();
    if let Some(status) = d.forced.get(&number) {
        let text = forced_text(status).unwrap_or("Internal Error");
        let mut body = json!({ "status": status, "error_text": text });
        if status == "7" {
            body["network"] = json!("23410");
        }
        return reply(&body);
    }
    for r in d.v1.values_mut().filter(|r| r.number == number) {
        r.refresh(now, &s.journal);
    }
    if let Some(r) = d.v1.values().find(|r| r.number == number && r.status == Status::InProgress) {
        return error_for(&r.id, "10", "Concurrent verifications to the same number are not allowed");
    }
    let code = s.config.fixed_code.clone().unwrap_or_else(|| random_digits(code_length));
    let text = format!("Your {brand} PIN is {code}");
    let steps = workflow_steps(workflow, &number, pin_expiry, next_event_wait);
    let id = random_hex(32);
    let flow = Flow::start(PROVIDER, id.clone(), code, text, steps, now, &s.journal);
    d.v1.insert(
        id.clone(),
        Request {
            id: id.clone(),
            number,
            sender_id: sender_id.to_owned(),
            flow,
            status: Status::InProgress,
            wrong: 0,
            checks: Vec::new(),
            submitted_at: now,
            finalized_at: None,
        },
    );
    reply(&json!({ "request_id": id, "status": "0" }))
}

async fn check(State(s): State<Arc<VonageState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::parse(&uri, &headers, &body);
    if let Some(refusal) = authenticate(&s, &headers, &p, "Bad credentials") {
        return refusal;
    }
    let Some(id) = p.get("request_id") else {
        return missing("request_id");
    };
    let Some(code) = p.get("code") else {
        return missing("code");
    };
    if id.len() > 32 {
        return invalid_param("request_id");
    }
    if !(4..=6).contains(&code.chars().count()) {
        return invalid_param("code");
    }
    let now = s.clock.now();
    let mut d = s.data();
    let Some(r) = d.v1.get_mut(id) else {
        return not_found(id);
    };
    r.refresh(now, &s.journal);
    if r.status != Status::InProgress {
        return not_found(id);
    }
    let valid = code == r.flow.code;
    r.checks.push(CheckEntry { at: now, code: code.to_owned(), valid });
    if valid {
        r.finish(Status::Success, now);
        let event_id = r.flow.events.last().map(|e| e.id.clone()).unwrap_or_default();
        return reply(&json!({
            "request_id": id,
            "event_id": event_id,
            "status": "0",
            "price": PRICE,
            "currency": CURRENCY,
            "estimated_price_messages_sent": sms_price(r),
        }));
    }
    r.wrong += 1;
    if r.wrong >= MAX_WRONG_CODES {
        r.finish(Status::Failed, now);
        return error_for(id, "17", "The wrong code was provided too many times. Request terminated");
    }
    error_for(id, "16", "The code inserted does not match the expected value")
}

fn sms_price(r: &Request) -> String {
    let sms = r.flow.events.iter().filter(|e| e.channel == "sms").count() as u64;
    let total = SMS_PRICE_E8 * sms;
    format!("{}.{:08}", total / 100_000_000, total % 100_000_000)
}

fn search_body(s: &VonageState, r: &Request) -> Value {
    let checks: Vec<Value> = r
        .checks
        .iter()
        .map(|c| {
            json!({
                "date_received": sql_datetime(c.at),
                "code": c.code,
                "status": if c.valid { "VALID" } else { "INVALID" },
                "ip_address": "",
            })
        })
        .collect();
    let events: Vec<Value> = r.flow.events.iter().map(|e| json!({ "id": e.id, "type": e.channel })).collect();
    let first = r.flow.events.first().map_or(r.submitted_at, |e| e.at);
    let last = r.flow.events.last().map_or(r.submitted_at, |e| e.at);
    let mut body = json!({
        "request_id": r.id,
        // A Vonage account id is its API key.
        "account_id": s.config.api_key,
        "number": r.number,
        "sender_id": r.sender_id,
        "date_submitted": sql_datetime(r.submitted_at),
        "checks": checks,
        "first_event_date": sql_datetime(first),
        "last_event_date": sql_datetime(last),
        "price": PRICE,
        "currency": CURRENCY,
        "status": r.status.label(),
        "estimated_price_messages_sent": sms_price(r),
        "events": events,
    });
    if let Some(f) = r.finalized_at {
        body["date_finalized"] = json!(sql_datetime(f));
    }
    body
}

/// One `request_id` → that request's object; several `request_ids` (up to 10) →
/// `{"verification_requests": [...]}` with the ones found; none found → `101`.
async fn search(State(s): State<Arc<VonageState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::parse(&uri, &headers, &body);
    if let Some(refusal) = authenticate(&s, &headers, &p, "Bad credentials") {
        return refusal;
    }
    let mut ids = p.all("request_ids");
    if let Some(id) = p.get("request_id") {
        ids.insert(0, id);
    }
    if ids.is_empty() {
        return missing("request_id");
    }
    if ids.len() > 10 {
        return invalid_param("request_ids");
    }
    let now = s.clock.now();
    let mut d = s.data();
    let mut found = Vec::new();
    for id in &ids {
        let Some(r) = d.v1.get_mut(*id) else {
            continue;
        };
        r.refresh(now, &s.journal);
        if r.finalized_at.is_some_and(|f| now < f + s.config.search_lag_secs) {
            continue;
        }
        found.push(search_body(&s, r));
    }
    match (ids.len(), found.len()) {
        (_, 0) => reply(&json!({
            "request_id": ids[0],
            "status": "101",
            "error_text": "No response found",
        })),
        (1, _) => reply(&found.remove(0)),
        _ => reply(&json!({ "verification_requests": found })),
    }
}

async fn control(State(s): State<Arc<VonageState>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::parse(&uri, &headers, &body);
    if let Some(refusal) = authenticate(&s, &headers, &p, "Bad credentials") {
        return refusal;
    }
    let Some(id) = p.get("request_id") else {
        return missing("request_id");
    };
    let Some(cmd) = p.get("cmd") else {
        return missing("cmd");
    };
    if cmd != "cancel" && cmd != "trigger_next_event" {
        return invalid_param("cmd");
    }
    let now = s.clock.now();
    let mut d = s.data();
    let inactive = || error("6", &format!("The requestId '{id}' does not exist or its no longer active."));
    let Some(r) = d.v1.get_mut(id) else {
        return inactive();
    };
    r.refresh(now, &s.journal);
    if r.status != Status::InProgress {
        return inactive();
    }
    if cmd == "cancel" {
        if now < r.submitted_at + CANCEL_AFTER_SECS {
            return error(
                "19",
                &format!("Verification request ['{id}'] can't be cancelled within the first 30 seconds."),
            );
        }
        if r.flow.events.len() >= 2 {
            return error(
                "19",
                &format!(
                    "Verification request ['{id}'] can't be cancelled now. Too many attempts to re-deliver have already been made."
                ),
            );
        }
        r.finish(Status::Cancelled, now);
    } else if !r.flow.fire_next(now, &s.journal) {
        return error("19", &format!("No more events are left to execute for the request ['{id}']"));
    }
    reply(&json!({ "status": "0", "command": cmd }))
}

pub(super) fn routes() -> Router<Arc<VonageState>> {
    // Each endpoint takes GET as well as POST (verify-v1.yml notes).
    Router::new()
        .route("/verify/json", get(start).post(start))
        .route("/verify/check/json", get(check).post(check))
        .route("/verify/search/json", get(search).post(search))
        .route("/verify/control/json", get(control).post(control))
}
