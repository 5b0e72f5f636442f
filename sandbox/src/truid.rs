//! tru.ID, as specified in `provider-specs/truid` and docs/providers.md, "tru.ID (IDlayr)": OAuth2 client credentials,
//! device-IP coverage, SubscriberCheck v0.2 (create, `check_url` redirect, PATCH, GET) and SIMCheck
//! v0.1, with sandbox outcomes keyed on the phone number.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{SandboxClock, iso8601};
use crate::journal::{Capped, push_bounded};
use crate::wire::{basic_auth, bearer, e164_digits, json_response, random_alnum};

const HAL: &str = "application/hal+json";
const PROBLEM: &str = "application/problem+json";
const ERRORS: &str = "https://developer.tru.id/docs/reference/api-errors#";
const RATE_LIMIT_PER_HOUR: u32 = 10_000;
const KNOWN_SCOPES: &[&str] = &["phone_check", "subscriber_check", "sim_check", "coverage", "mo_check"];

#[derive(Debug, Clone)]
pub struct TruIdConfig {
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl_secs: i64,
    /// SubscriberCheck `ttl` (tru.ID default 120 s).
    pub check_ttl_secs: i64,
    /// Every `check_url` visit hands out this code instead of a random one (test hook).
    pub fixed_code: Option<String>,
}

impl Default for TruIdConfig {
    fn default() -> Self {
        Self {
            client_id: "sandbox-client-id".into(),
            client_secret: "sandbox-client-secret".into(),
            token_ttl_secs: 3600,
            check_ttl_secs: 120,
            fixed_code: None,
        }
    }
}

/// What coverage says about a device IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageRule {
    /// 200, a UK network supporting SubscriberCheck, SIMCheck and PhoneCheck.
    Covered,
    /// 400 `mno_not_supported`.
    MnoNotSupported,
    /// 412 `not_mobile_ip` (Wi-Fi, a data centre).
    NotMobileIp,
}

/// What the operator "knows" about a number: the sandbox outcome table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(rename = "match")]
    pub matched: bool,
    pub no_sim_change: bool,
    pub sim_change_within: Option<u32>,
    /// The check ends in `ERROR` with this `error_code`.
    pub error_code: Option<&'static str>,
    /// 400 `mno_not_supported` when a check is created for the number.
    pub unsupported: bool,
}

/// The sandbox table (docs/providers.md, "What the sandbox reproduces"): `+447000000070` passes, `+447000000008` SIM changed,
/// `+447000000001` no match; ending in 99 → ERROR, in 98 → network not supported; otherwise an even
/// last digit passes and an odd one fails both.
pub fn profile_for(digits: &str) -> Profile {
    let pass =
        Profile { matched: true, no_sim_change: true, sim_change_within: None, error_code: None, unsupported: false };
    match digits {
        "447000000070" => pass,
        "447000000008" => Profile { no_sim_change: false, sim_change_within: Some(60), ..pass },
        "447000000001" => Profile { matched: false, ..pass },
        d if d.ends_with("99") => Profile { error_code: Some("mno_server_error"), ..pass },
        d if d.ends_with("98") => Profile { unsupported: true, ..pass },
        d => {
            let even = d.bytes().last().is_some_and(|c| (c - b'0').is_multiple_of(2));
            Profile { matched: even, no_sim_change: even, ..pass }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Accepted,
    Pending,
    Completed,
    Expired,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    SubscriberCheck,
    SimCheck,
}

/// A check as the sandbox holds it; tests read these through [`TruIdControl::checks`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub check_id: String,
    pub product: Product,
    pub phone_number: String,
    pub redirect_url: Option<String>,
    pub reference_id: Option<String>,
    pub period: u32,
    pub status: Status,
    pub error_code: Option<String>,
    #[serde(skip)]
    code: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ttl: i64,
    #[serde(skip)]
    profile: Profile,
}

pub use crate::journal::RecordedRequest;

struct Token {
    scopes: Vec<String>,
    expires_at: i64,
}

#[derive(Default)]
struct Data {
    tokens: Capped<String, Token>,
    checks: Capped<String, CheckRecord>,
    coverage: HashMap<IpAddr, CoverageRule>,
    profiles: HashMap<String, Profile>,
    redirect_errors: HashMap<String, String>,
    fail_auth: u32,
    requests: VecDeque<RecordedRequest>,
    token_requests: u32,
}

pub struct TruIdState {
    config: TruIdConfig,
    clock: Arc<SandboxClock>,
    base_url: String,
    data: Mutex<Data>,
}

/// Test hooks, usable in-process (Rust tests) and over HTTP under `/_sandbox/truid`.
#[derive(Clone)]
pub struct TruIdControl(Arc<TruIdState>);

impl TruIdState {
    pub fn new(config: TruIdConfig, clock: Arc<SandboxClock>, base_url: String) -> Arc<Self> {
        Arc::new(Self { config, clock, base_url, data: Mutex::new(Data::default()) })
    }

    /// Whether a visitor from `ip` is on mobile data (coverage `Covered`), as tru.ID's check_url sees it.
    pub(crate) fn covers_ip(&self, ip: IpAddr) -> bool {
        coverage_rule(self, ip) == CoverageRule::Covered
    }

    /// The number's profile: a test's override, else the sandbox table's. Every source that answers
    /// about a number's SIM (tru.ID, CAMARA, Twilio Lookup) reads it here.
    pub(crate) fn profile_of(&self, digits: &str) -> Profile {
        self.data().profiles.get(digits).copied().unwrap_or_else(|| profile_for(digits))
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A poisoned lock only means another request panicked; the data is still usable for a sandbox.
        self.data.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TruIdControl {
    pub fn new(state: Arc<TruIdState>) -> Self {
        Self(state)
    }
    pub fn set_coverage(&self, ip: IpAddr, rule: CoverageRule) {
        self.0.data().coverage.insert(ip, rule);
    }
    pub fn set_profile(&self, phone_e164: &str, profile: Profile) {
        if let Some(d) = e164_digits(phone_e164) {
            self.0.data().profiles.insert(d, profile);
        }
    }
    /// The next `check_url` visit for this number ends in the operator error redirect.
    pub fn set_redirect_error(&self, phone_e164: &str, error: &str) {
        if let Some(d) = e164_digits(phone_e164) {
            self.0.data().redirect_errors.insert(d, error.to_owned());
        }
    }
    /// The next `count` product calls answer 401 as if the token had been revoked.
    pub fn fail_next_auth(&self, count: u32) {
        self.0.data().fail_auth = count;
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.0.data().requests.iter().cloned().collect()
    }
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.0.data().requests.iter().filter(|r| r.method == method && r.path.starts_with(path_prefix)).count()
    }
    /// Every access token issued so far (tests use them as log canaries).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.0.data().tokens.keys().cloned().collect()
    }
    pub fn token_requests(&self) -> u32 {
        self.0.data().token_requests
    }
    pub fn checks(&self) -> Vec<CheckRecord> {
        let now = self.0.clock.now();
        let mut d = self.0.data();
        d.checks
            .values_mut()
            .map(|c| {
                expire_if_due(c, now);
                c.clone()
            })
            .collect()
    }
    pub fn reset(&self) {
        *self.0.data() = Data::default();
    }
}

fn problem(status: StatusCode, slug: &str, title: &str, detail: &str) -> Response {
    json_response(status, PROBLEM, &json!({ "type": format!("{ERRORS}{slug}"), "title": title, "detail": detail }))
}

fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "check_not_found", "Not Found", "Check Not Found")
}

fn bad_request(detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, "bad_request", "Bad Request", detail)
}

fn hal(state: &TruIdState, status: StatusCode, body: &Value) -> Response {
    let mut resp = json_response(status, HAL, body);
    let h = resp.headers_mut();
    let now = state.clock.now();
    let used = u32::try_from(state.data().requests.len()).unwrap_or(u32::MAX);
    h.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT_PER_HOUR));
    h.insert("x-ratelimit-remaining", HeaderValue::from(RATE_LIMIT_PER_HOUR.saturating_sub(used)));
    h.insert("x-ratelimit-reset", HeaderValue::from(now - now.rem_euclid(3600) + 3600));
    resp
}

/// A check whose `ttl` passed without completing is `EXPIRED`, like tru.ID's.
fn expire_if_due(c: &mut CheckRecord, now: i64) {
    if matches!(c.status, Status::Accepted | Status::Pending) && now >= c.created_at + c.ttl {
        c.status = Status::Expired;
        c.code = None;
        c.updated_at = c.created_at + c.ttl;
    }
}

/// Checks the bearer token and its scope. Errors: 401 unknown/expired token, 403 missing scope.
/// Refusals are boxed: a `Response` is large, and the happy path should not pay for it.
fn authorize(state: &TruIdState, headers: &HeaderMap, scope: &str) -> Result<(), Box<Response>> {
    let unauthorized = || {
        let mut r =
            problem(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", "Invalid or expired access token");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        r
    };
    let now = state.clock.now();
    let mut d = state.data();
    if d.fail_auth > 0 {
        d.fail_auth -= 1;
        return Err(Box::new(unauthorized()));
    }
    let Some(token) = bearer(headers).and_then(|t| d.tokens.get(&t)) else {
        return Err(Box::new(unauthorized()));
    };
    if token.expires_at <= now {
        return Err(Box::new(unauthorized()));
    }
    if !token.scopes.iter().any(|s| s == scope) {
        let forbidden = problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", "Forbidden");
        return Err(Box::new(forbidden));
    }
    Ok(())
}

async fn token(State(s): State<Arc<TruIdState>>, headers: HeaderMap, body: Bytes) -> Response {
    s.data().token_requests += 1;
    let oauth_error = |status, error: &str| json_response(status, "application/json", &json!({ "error": error }));
    match basic_auth(&headers) {
        Some((id, secret)) if id == s.config.client_id && secret == s.config.client_secret => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let scopes: Vec<String> =
        form.get("scope").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    if scopes.is_empty() || scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let access_token = random_alnum(32);
    let expires_at = s.clock.now() + s.config.token_ttl_secs;
    s.data().tokens.insert(access_token.clone(), Token { scopes: scopes.clone(), expires_at });
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "access_token": access_token, "token_type": "bearer", "expires_in": s.config.token_ttl_secs, "scope": scopes.join(" ") }),
    )
}

fn coverage_rule(s: &TruIdState, ip: IpAddr) -> CoverageRule {
    if let Some(rule) = s.data().coverage.get(&ip) {
        return *rule;
    }
    // Loopback is "on mobile data" so the whole silent flow runs in a desktop browser.
    if ip.is_loopback() { CoverageRule::Covered } else { CoverageRule::NotMobileIp }
}

fn coverage_refusal(rule: CoverageRule) -> Option<Response> {
    match rule {
        CoverageRule::Covered => None,
        CoverageRule::MnoNotSupported => Some(problem(
            StatusCode::BAD_REQUEST,
            "mno_not_supported",
            "Bad Request",
            "Mobile Network Operator Not Supported",
        )),
        CoverageRule::NotMobileIp => {
            Some(problem(StatusCode::PRECONDITION_FAILED, "not_mobile_ip", "Precondition Failed", "Not a mobile IP"))
        }
    }
}

async fn coverage(State(s): State<Arc<TruIdState>>, headers: HeaderMap, Path(ip): Path<String>) -> Response {
    if let Err(r) = authorize(&s, &headers, "coverage") {
        return *r;
    }
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return bad_request("Invalid IP address");
    };
    if let Some(refusal) = coverage_refusal(coverage_rule(&s, ip)) {
        return refusal;
    }
    hal(
        &s,
        StatusCode::OK,
        &json!({
            "network_id": "23410",
            "network_name": "O2 UK",
            "country_code": "GB",
            "mobile_data_ip": ip.to_string(),
            "network_aliases": ["23402", "23411"],
            "products": [
                { "product_id": "PCK", "product_name": "Phone Check" },
                { "product_id": "SCK", "product_name": "Sim Check" },
                { "product_id": "SUK", "product_name": "Subscriber Check" }
            ]
        }),
    )
}

#[derive(Deserialize)]
struct CreateCheck {
    phone_number: String,
    redirect_url: Option<String>,
    reference_id: Option<String>,
    #[allow(dead_code)]
    callback_url: Option<String>,
    #[allow(dead_code)]
    phone_ip: Option<String>,
    period: Option<u32>,
}

fn self_href(s: &TruIdState, c: &CheckRecord) -> String {
    let product = match c.product {
        Product::SubscriberCheck => "subscriber_check/v0.2",
        Product::SimCheck => "sim_check/v0.1",
    };
    format!("{}/{product}/checks/{}", s.base_url, c.check_id)
}

fn parse_create(body: &Bytes) -> Result<(String, CreateCheck, u32), Box<Response>> {
    let req: CreateCheck = serde_json::from_slice(body).map_err(|_| bad_request("The request body is invalid"))?;
    let digits = e164_digits(&req.phone_number).ok_or_else(|| {
        problem(StatusCode::BAD_REQUEST, "phone_format_invalid", "Bad Request", "Phone Number Validation Error")
    })?;
    let period = req.period.unwrap_or(10080);
    if !(60..=540_000).contains(&period) {
        return Err(Box::new(bad_request("period must be between 60 and 540000")));
    }
    Ok((digits, req, period))
}

fn new_check(s: &TruIdState, product: Product, digits: String, req: &CreateCheck, period: u32) -> CheckRecord {
    let now = s.clock.now();
    let profile = s.data().profiles.get(&digits).copied().unwrap_or_else(|| profile_for(&digits));
    CheckRecord {
        check_id: uuid::Uuid::new_v4().to_string(),
        product,
        phone_number: format!("+{digits}"),
        redirect_url: req.redirect_url.clone(),
        reference_id: req.reference_id.clone(),
        period,
        status: Status::Accepted,
        error_code: None,
        code: None,
        created_at: now,
        updated_at: now,
        ttl: s.config.check_ttl_secs,
        profile,
    }
}

fn unsupported() -> Response {
    problem(StatusCode::BAD_REQUEST, "mno_not_supported", "Bad Request", "Mobile Network Operator Not Supported")
}

async fn create_subscriber_check(State(s): State<Arc<TruIdState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&s, &headers, "subscriber_check") {
        return *r;
    }
    let (digits, req, period) = match parse_create(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Some(url) = &req.redirect_url
        && url::Url::parse(url).is_err()
    {
        return bad_request("redirect_url must be a URL");
    }
    let check = new_check(&s, Product::SubscriberCheck, digits, &req, period);
    if check.profile.unsupported {
        return unsupported();
    }
    let mut body = json!({
        "check_id": check.check_id,
        "status": "ACCEPTED",
        "charge_amount": 1,
        "charge_currency": "API",
        "snapshot_balance": 99,
        "created_at": iso8601(check.created_at),
        "ttl": check.ttl,
        "_links": {
            "self": { "href": self_href(&s, &check) },
            "check_url": { "href": format!("{}/redirect", self_href(&s, &check)) }
        }
    });
    if let Some(r) = &check.reference_id {
        body["reference_id"] = json!(r);
    }
    insert_check(&s, check);
    hal(&s, StatusCode::CREATED, &body)
}

/// `GET .../checks/{id}/redirect`: what the operator does when the device opens `check_url` over
/// mobile data. Needs no token; the visitor's IP must be "mobile".
async fn redirect(
    State(s): State<Arc<TruIdState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refusal) = coverage_refusal(coverage_rule(&s, peer.ip().to_canonical())) {
        return refusal;
    }
    let now = s.clock.now();
    let mut d = s.data();
    let digits_error = {
        let Some(c) = d.checks.get_mut(&id).filter(|c| c.product == Product::SubscriberCheck) else {
            return not_found();
        };
        expire_if_due(c, now);
        if !matches!(c.status, Status::Accepted | Status::Pending) {
            return not_found();
        }
        c.phone_number.trim_start_matches('+').to_owned()
    };
    let redirect_error = d.redirect_errors.remove(&digits_error);
    let Some(c) = d.checks.get_mut(&id) else {
        return not_found();
    };
    let mut params: Vec<(&str, String)> = vec![("check_id", c.check_id.clone())];
    if let Some(error) = redirect_error {
        c.status = Status::Error;
        c.error_code = Some(error.clone());
        c.updated_at = now;
        params.push(("error", error.clone()));
        params.push(("error_description", error.replace('_', " ")));
    } else {
        if c.status == Status::Accepted {
            c.status = Status::Pending;
            c.updated_at = now;
            c.code = Some(s.config.fixed_code.clone().unwrap_or_else(|| random_alnum(10)));
        }
        params.push(("code", c.code.clone().unwrap_or_default()));
        if let Some(r) = &c.reference_id {
            params.push(("reference_id", r.clone()));
        }
    }
    let body: serde_json::Map<String, Value> = params.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let Some(target) = c.redirect_url.clone() else {
        // Without a redirect_url the device gets the fields as JSON and posts them to its backend.
        drop(d);
        return hal(&s, StatusCode::OK, &Value::Object(body));
    };
    drop(d);
    let Ok(mut location) = url::Url::parse(&target) else {
        return bad_request("redirect_url");
    };
    location.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    let mut resp = hal(&s, StatusCode::FOUND, &Value::Object(body));
    if let Ok(v) = HeaderValue::from_str(location.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn subscriber_body(s: &TruIdState, c: &CheckRecord, with_links: bool) -> Value {
    let mut b = json!({
        "check_id": c.check_id,
        "status": c.status,
        "charge_amount": 1,
        "charge_currency": "API",
        "created_at": iso8601(c.created_at),
        "updated_at": iso8601(c.updated_at),
    });
    if let Some(r) = &c.reference_id {
        b["reference_id"] = json!(r);
    }
    if c.status == Status::Completed {
        b["match"] = json!(c.profile.matched);
        b["no_sim_change"] = json!(c.profile.no_sim_change);
        b["network_id"] = json!("23410");
        if let Some(w) = c.profile.sim_change_within {
            b["sim_change_within"] = json!(w);
        }
        if with_links {
            b["no_sim_change_period"] = json!(c.period);
        }
    }
    if let Some(e) = &c.error_code {
        b["error_code"] = json!(e);
    }
    if with_links {
        b["_links"] = json!({ "self": { "href": self_href(s, c) } });
    }
    b
}

#[derive(Deserialize)]
struct PatchOp {
    op: String,
    path: String,
    value: String,
}

/// `PATCH .../checks/{id}` with `[{"op":"add","path":"/code","value":…}]`. The code is single use;
/// before the redirect, after expiry, with a wrong or used code: 404 `check_not_found` [I].
async fn patch_subscriber_check(
    State(s): State<Arc<TruIdState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&s, &headers, "subscriber_check") {
        return *r;
    }
    let json_patch = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json-patch+json"))
    });
    if !json_patch {
        return bad_request("Content-Type must be application/json-patch+json");
    }
    let Ok(ops) = serde_json::from_slice::<Vec<PatchOp>>(&body) else {
        return bad_request("The request body is invalid");
    };
    let code = match ops.as_slice() {
        [op] if op.op == "add" && op.path == "/code" => op.value.clone(),
        _ => return bad_request("The request body is invalid"),
    };
    let now = s.clock.now();
    let mut d = s.data();
    let Some(c) = d.checks.get_mut(&id).filter(|c| c.product == Product::SubscriberCheck) else {
        return not_found();
    };
    expire_if_due(c, now);
    if c.status != Status::Pending || c.code.as_deref() != Some(code.as_str()) {
        return not_found();
    }
    c.code = None;
    c.updated_at = now;
    match c.profile.error_code {
        Some(e) => {
            c.status = Status::Error;
            c.error_code = Some(e.to_owned());
        }
        None => c.status = Status::Completed,
    }
    let body = subscriber_body(&s, c, false);
    drop(d);
    hal(&s, StatusCode::OK, &body)
}

async fn get_subscriber_check(
    State(s): State<Arc<TruIdState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&s, &headers, "subscriber_check") {
        return *r;
    }
    let now = s.clock.now();
    let mut d = s.data();
    let Some(c) = d.checks.get_mut(&id).filter(|c| c.product == Product::SubscriberCheck) else {
        return not_found();
    };
    expire_if_due(c, now);
    let body = subscriber_body(&s, c, true);
    drop(d);
    hal(&s, StatusCode::OK, &body)
}

fn sim_body(s: &TruIdState, c: &CheckRecord) -> Value {
    let mut b = json!({
        "check_id": c.check_id,
        "status": c.status,
        "charge_amount": 1,
        "charge_currency": "API",
        "created_at": iso8601(c.created_at),
        "_links": { "self": { "href": self_href(s, c) } },
    });
    if let Some(r) = &c.reference_id {
        b["reference_id"] = json!(r);
    }
    if c.status == Status::Completed {
        b["no_sim_change"] = json!(c.profile.no_sim_change);
        b["no_sim_change_period"] = json!(c.period);
        b["network_id"] = json!("23410");
        if let Some(w) = c.profile.sim_change_within {
            b["sim_change_within"] = json!(w);
        }
    }
    if let Some(e) = &c.error_code {
        b["error_code"] = json!(e);
    }
    b
}

fn with_cors(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

/// `POST /sim_check/v0.1/checks`: synchronous; `COMPLETED` with `no_sim_change`, or `ERROR`.
async fn create_sim_check(State(s): State<Arc<TruIdState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&s, &headers, "sim_check") {
        return *r;
    }
    let (digits, req, period) = match parse_create(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut check = new_check(&s, Product::SimCheck, digits, &req, period);
    if check.profile.unsupported {
        return unsupported();
    }
    match check.profile.error_code {
        Some(e) => {
            check.status = Status::Error;
            check.error_code = Some(e.to_owned());
        }
        None => check.status = Status::Completed,
    }
    let mut body = sim_body(&s, &check);
    body["snapshot_balance"] = json!(99);
    insert_check(&s, check);
    with_cors(hal(&s, StatusCode::CREATED, &body))
}

async fn get_sim_check(State(s): State<Arc<TruIdState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&s, &headers, "sim_check") {
        return *r;
    }
    let body = {
        let d = s.data();
        let Some(c) = d.checks.get(&id).filter(|c| c.product == Product::SimCheck) else {
            return not_found();
        };
        sim_body(&s, c)
    };
    with_cors(hal(&s, StatusCode::OK, &body))
}

#[derive(Deserialize)]
struct CoverageHook {
    rule: CoverageRule,
}

#[derive(Deserialize)]
struct CountHook {
    count: u32,
}

async fn hook_coverage(
    State(s): State<Arc<TruIdState>>,
    Path(ip): Path<String>,
    axum::Json(h): axum::Json<CoverageHook>,
) -> Response {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    TruIdControl(s).set_coverage(ip, h.rule);
    StatusCode::NO_CONTENT.into_response()
}

/// What a test says the operator knows about a number from now on (`PUT /_sandbox/truid/profile/+44…`).
#[derive(Deserialize)]
struct ProfileHook {
    #[serde(rename = "match")]
    matched: bool,
    no_sim_change: bool,
    sim_change_within: Option<u32>,
}

async fn hook_profile(
    State(s): State<Arc<TruIdState>>,
    Path(phone): Path<String>,
    axum::Json(h): axum::Json<ProfileHook>,
) -> Response {
    let profile = Profile {
        matched: h.matched,
        no_sim_change: h.no_sim_change,
        sim_change_within: h.sim_change_within,
        error_code: None,
        unsupported: false,
    };
    TruIdControl(s).set_profile(&phone, profile);
    StatusCode::NO_CONTENT.into_response()
}

async fn hook_fail_auth(State(s): State<Arc<TruIdState>>, axum::Json(h): axum::Json<CountHook>) -> Response {
    TruIdControl(s).fail_next_auth(h.count);
    StatusCode::NO_CONTENT.into_response()
}

async fn hook_requests(State(s): State<Arc<TruIdState>>) -> Response {
    axum::Json(TruIdControl(s).requests()).into_response()
}

async fn hook_checks(State(s): State<Arc<TruIdState>>) -> Response {
    axum::Json(TruIdControl(s).checks()).into_response()
}

/// Path prefixes served by this module: only these land in the tru.ID request log.
pub(crate) const PATH_PREFIXES: &[&str] = &["/oauth2/", "/coverage/", "/subscriber_check/", "/sim_check/"];

/// Records method and path of every tru.ID call, for tests that count them.
pub(crate) fn record(state: &TruIdState, method: &str, path: &str) {
    push_bounded(&mut state.data().requests, RecordedRequest { method: method.to_owned(), path: path.to_owned() });
}

fn insert_check(s: &TruIdState, check: CheckRecord) {
    s.data().checks.insert(check.check_id.clone(), check);
}

pub fn router(state: Arc<TruIdState>) -> Router {
    Router::new()
        .route("/oauth2/v1/token", post(token))
        .route("/coverage/v0.1/device_ips/{ip}", get(coverage))
        .route("/subscriber_check/v0.2/checks", post(create_subscriber_check))
        .route("/subscriber_check/v0.2/checks/{id}", get(get_subscriber_check).patch(patch_subscriber_check))
        .route("/subscriber_check/v0.2/checks/{id}/redirect", get(redirect))
        .route("/sim_check/v0.1/checks", post(create_sim_check))
        .route("/sim_check/v0.1/checks/{id}", get(get_sim_check))
        .route("/_sandbox/truid/coverage/{ip}", axum::routing::put(hook_coverage))
        .route("/_sandbox/truid/profile/{phone}", axum::routing::put(hook_profile))
        .route("/_sandbox/truid/fail-auth", post(hook_fail_auth))
        .route("/_sandbox/truid/requests", get(hook_requests))
        .route("/_sandbox/truid/checks", get(hook_checks))
        .with_state(state)
}
