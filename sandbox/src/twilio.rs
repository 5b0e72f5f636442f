//! Twilio Verify v2, as specified in `provider-specs/twilio/twilio_verify_v2.yaml` and docs/providers.md
//! §3: one Service, form-encoded PascalCase requests, snake_case JSON answers, errors as
//! `{code, message, more_info, status}`.
//!
//! State is per `To`: a pending verification is reused by later starts (same SID, same code).
//! Approved and expired verifications are deleted; canceled and max-attempts ones stay fetchable
//! until their TTL passes, but cannot be checked.
//!
//! Silent Network Auth (`Channel=sna`): the verification carries `sna.url`, under `/sna/{token}`,
//! which the device requests once (GET or POST, no credentials) and is answered `200 text/plain`
//! `ErrorCode=…&ErrorDescription=…&Carrier=…` as Twilio's is. The carrier "recognises" the device
//! when it comes from an address on mobile data (tru.ID's coverage rules); the number on the
//! connection is the verified one when its profile matches. A VerificationCheck without `Code`
//! then answers `approved`, or `pending` with `sna_attempts_error_codes`: 60500 (another number on
//! the connection), 60519 (the URL was not requested), 60520 (not on mobile data), 60540 (a
//! network without SNA: numbers ending in 98). Twilio documents only that SNA's codes are 605xx;
//! which stands for what here is the sandbox's choice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::{SandboxClock, iso8601_z};
use crate::journal::{Journal, lock, normalise_phone};
use crate::truid::TruIdState;
use crate::wire::{basic_auth, json_response, media_type, random_digits, random_hex};

const PROVIDER: &str = "twilio";
/// Twilio's send limit: 5 sends to one `To` per 10 minutes.
const SEND_WINDOW_SECS: i64 = 600;
const MAX_SENDS: usize = 5;
const MAX_CHECKS: u32 = 5;
const CHANNELS: &[&str] = &["sms", "call", "email", "whatsapp", "sna", "auto"];

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    pub service_sid: String,
    /// Every verification sends this code instead of a random one (test hook); `CustomCode` wins.
    /// Checks take 4–10 characters, as Twilio's do.
    pub fixed_code: Option<String>,
    /// The Service's code length (Twilio default 6).
    pub code_length: usize,
    /// How long a verification lives (Twilio default 10 minutes).
    pub ttl_secs: i64,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: "sandbox-twilio-auth-token".into(),
            service_sid: "VA00000000000000000000000000000001".into(),
            fixed_code: None,
            code_length: 6,
            ttl_secs: 600,
        }
    }
}

/// Errors a test may force on every start for a number, with Twilio's texts.
const FORCEABLE: &[(u32, u16, &str)] = &[
    (60200, 400, "Invalid parameter: To"),
    (60203, 429, "Max send attempts reached"),
    (60205, 403, "SMS is not supported by landline phone number"),
    (60212, 429, "Too many concurrent requests for phone number"),
    (20429, 429, "Too many requests"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Approved,
    Canceled,
    MaxAttemptsReached,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Canceled => "canceled",
            Status::MaxAttemptsReached => "max_attempts_reached",
        }
    }
}

struct Attempt {
    sid: String,
    channel: &'static str,
    at: i64,
}

struct Verification {
    sid: String,
    to: String,
    channel: &'static str,
    status: Status,
    code: String,
    checks: u32,
    attempts: Vec<Attempt>,
    created_at: i64,
    updated_at: i64,
    /// The SNA URL's token and what its request found, when the last start was `sna`.
    sna: Option<Sna>,
}

struct Sna {
    token: String,
    result: SnaResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SnaResult {
    NotRequested,
    Matched,
    /// A 605xx code.
    Failed(u32),
}

#[derive(Default)]
struct Data {
    /// By SID.
    verifications: crate::journal::Capped<String, Verification>,
    /// `To` → SID of its latest verification.
    by_to: HashMap<String, String>,
    /// `To` → send times, for the 10-minute send limit (outlives the verifications).
    sends: HashMap<String, Vec<i64>>,
    forced: HashMap<String, u32>,
}

impl Data {
    /// Deletes verifications whose TTL has passed.
    fn purge(&mut self, now: i64, ttl: i64) {
        self.verifications.retain(|_, v| now < v.created_at + ttl);
        let live = &self.verifications;
        self.by_to.retain(|_, sid| live.contains_key(sid));
    }

    fn delete(&mut self, sid: &str) {
        if let Some(v) = self.verifications.remove(sid) {
            self.by_to.remove(&v.to);
        }
    }

    /// By SID, or by `To` (docs/providers.md, "Twilio Verify v2": fetch and update take either).
    fn find_sid(&self, key: &str) -> Option<String> {
        if self.verifications.contains_key(key) {
            return Some(key.to_owned());
        }
        self.by_to.get(key).cloned()
    }
}

pub struct TwilioState {
    config: TwilioConfig,
    clock: Arc<SandboxClock>,
    journal: Arc<Journal>,
    /// Which addresses are on mobile data and the numbers' profiles, for Silent Network Auth.
    truid: Arc<TruIdState>,
    base_url: String,
    data: Mutex<Data>,
}

impl TwilioState {
    pub fn new(
        config: TwilioConfig,
        clock: Arc<SandboxClock>,
        journal: Arc<Journal>,
        truid: Arc<TruIdState>,
        base_url: String,
    ) -> Arc<Self> {
        Arc::new(Self { config, clock, journal, truid, base_url, data: Mutex::new(Data::default()) })
    }

    /// The data with expired verifications already deleted.
    fn data(&self) -> MutexGuard<'_, Data> {
        let mut d = lock(&self.data);
        d.purge(self.clock.now(), self.config.ttl_secs);
        d
    }
}

/// Test hooks, usable in-process and over HTTP under `/_sandbox/twilio`.
#[derive(Clone)]
pub struct TwilioControl(Arc<TwilioState>);

impl TwilioControl {
    pub fn new(state: Arc<TwilioState>) -> Self {
        Self(state)
    }

    /// Every start for `to` (E.164 with `+`) fails with `code` until cleared: one of 60200 (400),
    /// 60203 (429), 60205 (403, landline), 60212 (429), 20429 (429). `false` for other codes.
    pub fn force_error(&self, to: &str, code: u32) -> bool {
        if forced(code).is_none() {
            return false;
        }
        self.0.data().forced.insert(key(to), code);
        true
    }

    pub fn clear_forced(&self, to: &str) {
        self.0.data().forced.remove(&key(to));
    }

    /// The code of the live verification for `to` (phone or e-mail), whatever its channel.
    pub fn code(&self, to: &str) -> Option<String> {
        let d = self.0.data();
        let sid = d.by_to.get(&key(to))?;
        d.verifications.get(sid).map(|v| v.code.clone())
    }

    /// Forgets every verification, send count and forced error.
    pub fn reset(&self) {
        *self.0.data() = Data::default();
    }
}

/// Test hooks take a number with or without `+`; state is keyed by Twilio's `+` form.
fn key(to: &str) -> String {
    normalise_phone(to).unwrap_or_else(|| to.to_owned())
}

fn forced(code: u32) -> Option<(u16, &'static str)> {
    FORCEABLE.iter().find(|(c, _, _)| *c == code).map(|(_, http, msg)| (*http, *msg))
}

fn error(http: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        status,
        "application/json",
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http,
        }),
    )
}

fn invalid(param: &str) -> Response {
    error(400, 60200, &format!("Invalid parameter: {param}"))
}

/// Twilio's 404 names the path without the `/v2` prefix.
fn not_found(resource: &str) -> Response {
    error(404, 20404, &format!("The requested resource {resource} was not found"))
}

/// Basic `AccountSid:AuthToken`, then the Service SID.
fn authorize(s: &TwilioState, headers: &HeaderMap, service: &str, resource: &str) -> Option<Response> {
    let ok =
        basic_auth(headers).is_some_and(|(user, pass)| user == s.config.account_sid && pass == s.config.auth_token);
    if !ok {
        let mut r = error(401, 20003, "Authentication Error - invalid username");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
        return Some(r);
    }
    (service != s.config.service_sid).then(|| not_found(resource))
}

/// Form parameters. Twilio reads only form bodies: a JSON body carries no parameters, so it ends
/// in the missing-parameter 400 `60200` [I].
fn form(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    if media_type(headers) == "application/json" {
        return HashMap::new();
    }
    url::form_urlencoded::parse(body).into_owned().filter(|(_, v)| !v.is_empty()).collect()
}

/// `^\+[1-9]\d{1,14}$`
fn is_e164(to: &str) -> bool {
    to.strip_prefix('+')
        .is_some_and(|d| (2..=15).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()) && !d.starts_with('0'))
}

fn is_email(to: &str) -> bool {
    to.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
}

fn valid_custom_code(c: &str) -> bool {
    (4..=10).contains(&c.chars().count())
}

fn resource(s: &TwilioState, v: &Verification) -> Value {
    let attempts: Vec<Value> = v
        .attempts
        .iter()
        .map(|a| {
            json!({
                "time": iso8601_z(a.at),
                // Twilio's examples: "SMS", "EMAIL", but "whatsapp" and "sna".
                "channel": match a.channel {
                    "sms" | "email" | "call" => a.channel.to_ascii_uppercase(),
                    other => other.to_owned(),
                },
                "attempt_sid": a.sid,
            })
        })
        .collect();
    json!({
        "sid": v.sid,
        "service_sid": s.config.service_sid,
        "account_sid": s.config.account_sid,
        "to": v.to,
        "channel": v.channel,
        "status": v.status.label(),
        "valid": v.status == Status::Approved,
        "date_created": iso8601_z(v.created_at),
        "date_updated": iso8601_z(v.updated_at),
        "lookup": {},
        "amount": null,
        "payee": null,
        "send_code_attempts": attempts,
        "sna": match (&v.sna, v.channel) {
            (Some(sna), "sna") => json!({ "url": format!("{}/sna/{}", s.base_url, sna.token) }),
            _ => Value::Null,
        },
        "url": format!("{}/v2/Services/{}/Verifications/{}", s.base_url, s.config.service_sid, v.sid),
    })
}

fn check_body(s: &TwilioState, v: &Verification) -> Value {
    let sna_errors = match (&v.sna, v.channel) {
        (Some(sna), "sna") => {
            let attempt = v.attempts.last().map(|a| a.sid.clone()).unwrap_or_default();
            match sna.result {
                SnaResult::Matched => json!([]),
                SnaResult::NotRequested => json!([{ "attempt_sid": attempt, "code": 60519 }]),
                SnaResult::Failed(code) => json!([{ "attempt_sid": attempt, "code": code }]),
            }
        }
        // `null` when the last channel was not `sna`.
        _ => Value::Null,
    };
    json!({
        "sid": v.sid,
        "service_sid": s.config.service_sid,
        "account_sid": s.config.account_sid,
        "to": v.to,
        "channel": v.channel,
        "status": v.status.label(),
        "valid": v.status == Status::Approved,
        "amount": null,
        "payee": null,
        "sna_attempts_error_codes": sna_errors,
        "date_created": iso8601_z(v.created_at),
        "date_updated": iso8601_z(v.updated_at),
    })
}

fn ok(status: StatusCode, body: &Value) -> Response {
    json_response(status, "application/json", body)
}

async fn start(
    State(s): State<Arc<TwilioState>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let resource_path = format!("/Services/{service}/Verifications");
    if let Some(refusal) = authorize(&s, &headers, &service, &resource_path) {
        return refusal;
    }
    let p = form(&headers, &body);
    let Some(to) = p.get("To").filter(|t| is_e164(t) || is_email(t)) else {
        return invalid("To");
    };
    let Some(requested) = p.get("Channel").and_then(|c| CHANNELS.iter().find(|k| **k == c.as_str()).copied()) else {
        return invalid("Channel");
    };
    if (requested == "email") != is_email(to) {
        return invalid("To");
    }
    // `auto` picks a channel for the number; the sandbox always picks SMS.
    let channel = if requested == "auto" { "sms" } else { requested };
    let custom_code = p.get("CustomCode");
    if custom_code.is_some_and(|c| !valid_custom_code(c)) {
        return invalid("CustomCode");
    }

    let now = s.clock.now();
    let mut d = s.data();
    if let Some(&code) = d.forced.get(to)
        && let Some((http, message)) = forced(code)
    {
        return error(http, code, message);
    }
    let sends = d.sends.entry(to.clone()).or_default();
    sends.retain(|t| now < t + SEND_WINDOW_SECS);
    if sends.len() >= MAX_SENDS {
        return error(429, 60203, "Max send attempts reached");
    }
    sends.push(now);

    let attempt = Attempt { sid: format!("VL{}", random_hex(32)), channel, at: now };
    let pending =
        d.by_to.get(to).filter(|sid| d.verifications.get(*sid).is_some_and(|v| v.status == Status::Pending)).cloned();
    let (sid, created) = match pending {
        Some(sid) => (sid, false),
        None => {
            let code = custom_code
                .cloned()
                .or_else(|| s.config.fixed_code.clone())
                .unwrap_or_else(|| random_digits(s.config.code_length));
            let sid = format!("VE{}", random_hex(32));
            d.verifications.insert(
                sid.clone(),
                Verification {
                    sid: sid.clone(),
                    to: to.clone(),
                    channel,
                    status: Status::Pending,
                    code,
                    checks: 0,
                    attempts: Vec::new(),
                    created_at: now,
                    updated_at: now,
                    sna: None,
                },
            );
            d.by_to.insert(to.clone(), sid.clone());
            let Data { verifications, by_to, sends, .. } = &mut *d;
            if by_to.len() > crate::journal::MAX_RECORDS {
                by_to.retain(|_, sid| verifications.contains_key(sid));
            }
            if sends.len() > crate::journal::MAX_RECORDS {
                sends.retain(|_, times| times.iter().any(|t| now - t < 600));
            }
            (sid, true)
        }
    };
    let Some(v) = d.verifications.get_mut(&sid) else {
        return not_found(&resource_path);
    };
    // A resend keeps the SID and the code and records another attempt.
    v.channel = channel;
    v.attempts.push(attempt);
    if channel == "sna" {
        v.sna = Some(Sna { token: random_hex(24), result: SnaResult::NotRequested });
    }
    if !created {
        v.updated_at = now;
    }
    if channel == "sms" {
        let name = p.get("CustomFriendlyName").map_or("Sandbox", String::as_str);
        let text = format!("Your {name} verification code is: {}", v.code);
        s.journal.send_sms(PROVIDER, to, &v.code, &v.sid, text, now);
    }
    ok(StatusCode::CREATED, &resource(&s, v))
}

async fn fetch(
    State(s): State<Arc<TwilioState>>,
    headers: HeaderMap,
    Path((service, key)): Path<(String, String)>,
) -> Response {
    let resource_path = format!("/Services/{service}/Verifications/{key}");
    if let Some(refusal) = authorize(&s, &headers, &service, &resource_path) {
        return refusal;
    }
    let d = s.data();
    match d.find_sid(&key).and_then(|sid| d.verifications.get(&sid)) {
        Some(v) => ok(StatusCode::OK, &resource(&s, v)),
        None => not_found(&resource_path),
    }
}

/// `Status=canceled|approved` on a pending verification. An approved one is deleted afterwards,
/// like one approved by a check.
async fn update(
    State(s): State<Arc<TwilioState>>,
    headers: HeaderMap,
    Path((service, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let resource_path = format!("/Services/{service}/Verifications/{key}");
    if let Some(refusal) = authorize(&s, &headers, &service, &resource_path) {
        return refusal;
    }
    let p = form(&headers, &body);
    let status = match p.get("Status").map(String::as_str) {
        Some("canceled") => Status::Canceled,
        Some("approved") => Status::Approved,
        _ => return invalid("Status"),
    };
    let now = s.clock.now();
    let mut d = s.data();
    let Some(sid) = d.find_sid(&key) else {
        return not_found(&resource_path);
    };
    let Some(v) = d.verifications.get_mut(&sid).filter(|v| v.status == Status::Pending) else {
        return not_found(&resource_path);
    };
    v.status = status;
    v.updated_at = now;
    let body = resource(&s, v);
    if status == Status::Approved {
        d.delete(&sid);
    }
    ok(StatusCode::OK, &body)
}

async fn check(
    State(s): State<Arc<TwilioState>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let resource_path = format!("/Services/{service}/VerificationCheck");
    if let Some(refusal) = authorize(&s, &headers, &service, &resource_path) {
        return refusal;
    }
    let p = form(&headers, &body);
    let by_sid = p.get("VerificationSid");
    let to = p.get("To");
    if by_sid.is_none() && to.is_none() {
        return invalid("To");
    }
    if to.is_some_and(|t| !is_e164(t) && !is_email(t)) {
        return invalid("To");
    }
    if by_sid.is_some_and(|sid| {
        !(sid.len() == 34 && sid.starts_with("VE") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    }) {
        return invalid("VerificationSid");
    }
    let code = p.get("Code");
    if code.is_some_and(|c| !valid_custom_code(c)) {
        return invalid("Code");
    }
    let now = s.clock.now();
    let mut d = s.data();
    let sid = match (by_sid, to) {
        (Some(sid), _) => Some(sid.clone()).filter(|sid| d.verifications.contains_key(sid)),
        (None, Some(to)) => d.by_to.get(to).cloned(),
        (None, None) => None,
    };
    let Some(sid) = sid else {
        return not_found(&resource_path);
    };
    let Some(v) = d.verifications.get_mut(&sid) else {
        return not_found(&resource_path);
    };
    match v.status {
        Status::Pending => {}
        Status::MaxAttemptsReached => return error(429, 60202, "Max check attempts reached"),
        Status::Approved | Status::Canceled => return not_found(&resource_path),
    }
    v.checks += 1;
    v.updated_at = now;
    if v.checks > MAX_CHECKS {
        v.status = Status::MaxAttemptsReached;
        return error(429, 60202, "Max check attempts reached");
    }
    let passed = match (v.channel, code, &v.sna) {
        // Silent Network Auth: what the device's request found, no code.
        ("sna", None, Some(sna)) => sna.result == SnaResult::Matched,
        (_, Some(code), _) => *code == v.code,
        (_, None, _) => {
            v.checks -= 1;
            return invalid("Code");
        }
    };
    if !passed {
        return ok(StatusCode::OK, &check_body(&s, v));
    }
    v.status = Status::Approved;
    let body = check_body(&s, v);
    d.delete(&sid);
    ok(StatusCode::OK, &body)
}

/// The device's request of `sna.url`: once; over mobile data the carrier tells the number on the
/// connection.
async fn sna_invoke(
    State(s): State<Arc<TwilioState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    let on_mobile_data = s.truid.covers_ip(peer.ip().to_canonical());
    let mut d = s.data();
    let found = d.verifications.values_mut().find(|v| {
        v.status == Status::Pending
            && v.channel == "sna"
            && v.sna.as_ref().is_some_and(|sna| sna.token == token && sna.result == SnaResult::NotRequested)
    });
    let (error_code, description) = match found {
        None => (-10, "Phone Id Failed"),
        Some(v) => {
            let profile = s.truid.profile_of(v.to.trim_start_matches('+'));
            let (code, text, result) = if !on_mobile_data {
                (-31, "Unsupported Carrier or Potential Wifi", SnaResult::Failed(60520))
            } else if profile.unsupported {
                (-30, "Unsupported Carrier", SnaResult::Failed(60540))
            } else if profile.matched {
                (0, "Success", SnaResult::Matched)
            } else {
                (0, "Success", SnaResult::Failed(60500))
            };
            if let Some(sna) = v.sna.as_mut() {
                sna.result = result;
            }
            (code, text)
        }
    };
    let body = format!("ErrorCode={error_code}&ErrorDescription={}&Carrier=SANDBOX", description.replace(' ', "+"));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

#[derive(Deserialize)]
struct ForceHook {
    code: u32,
}

async fn hook_force(
    State(s): State<Arc<TwilioState>>,
    Path(to): Path<String>,
    axum::Json(h): axum::Json<ForceHook>,
) -> Response {
    if TwilioControl(s).force_error(&to, h.code) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::BAD_REQUEST.into_response()
    }
}

async fn hook_unforce(State(s): State<Arc<TwilioState>>, Path(to): Path<String>) -> Response {
    TwilioControl(s).clear_forced(&to);
    StatusCode::NO_CONTENT.into_response()
}

/// Programmable Messaging (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, on
/// `api.twilio.com`), as far as a notice needs: `To`, `Body`, and `From` or `MessagingServiceSid`,
/// with the account's SID and token; the message is `queued` (201), as Twilio's Messaging API
/// reference describes. Errors are Twilio's usual `{code, message, more_info, status}`.
async fn send_message(
    State(s): State<Arc<TwilioState>>,
    headers: HeaderMap,
    Path(account): Path<String>,
    body: Bytes,
) -> Response {
    let ok =
        basic_auth(&headers).is_some_and(|(user, pass)| user == s.config.account_sid && pass == s.config.auth_token);
    if !ok {
        return error(401, 20003, "Authentication Error - invalid username");
    }
    let resource = format!("/2010-04-01/Accounts/{account}/Messages.json");
    if account != s.config.account_sid {
        return not_found(&resource);
    }
    let p = form(&headers, &body);
    let Some(to) = p.get("To").filter(|t| is_e164(t)) else {
        return error(400, 21211, "Invalid 'To' Phone Number");
    };
    let Some(text) = p.get("Body") else {
        return error(400, 21602, "Message body is required.");
    };
    let service = p.get("MessagingServiceSid");
    if service.is_some_and(|m| !(m.len() == 34 && m.starts_with("MG"))) {
        return error(400, 21701, "The Messaging Service Sid is invalid.");
    }
    if service.is_none() && !p.contains_key("From") {
        return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message");
    }
    let sid = format!("SM{}", random_hex(32));
    s.journal.send_sms("twilio-messaging", to, "", &sid, text.clone(), s.clock.now());
    json_response(
        StatusCode::CREATED,
        "application/json",
        &json!({
            "account_sid": account,
            "sid": sid,
            "to": to,
            "from": p.get("From"),
            "messaging_service_sid": service,
            "body": text,
            "status": if service.is_some() { "accepted" } else { "queued" },
            "direction": "outbound-api",
            "num_segments": "1",
            "error_code": null,
            "error_message": null,
            "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
        }),
    )
}

pub fn router(state: Arc<TwilioState>) -> Router {
    Router::new()
        .route("/v2/Services/{service}/Verifications", post(start))
        .route("/v2/Services/{service}/Verifications/{sid}", get(fetch).post(update))
        .route("/v2/Services/{service}/VerificationCheck", post(check))
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(send_message))
        .route("/sna/{token}", get(sna_invoke).post(sna_invoke))
        .route("/_sandbox/twilio/force/{to}", put(hook_force).delete(hook_unforce))
        .with_state(state)
}
