//! The Vonage sandbox: Verify v1 against Vonage's OpenAPI file (`verify-v1.yml`) and its state
//! machine; Verify v2 against the shapes of docs/providers.md, "Vonage Verify v2" (no spec file here).

use std::net::{Ipv4Addr, SocketAddr};

use crate::support::{Specs, assert_valid, closed};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simguard_sandbox::{Sandbox, SandboxConfig, VonageConfig};

const T0: i64 = 1_800_000_000;
const SPEC: &str = "vonage/verify-v1.yml";
const KEY: &str = "sandbox-vonage-key";
const SECRET: &str = "sandbox-vonage-secret";
const PHONE: &str = "447700900001";
const V2_ERRORS: &str = "https://developer.vonage.com/en/api-errors/verify-v2#";

struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
    specs: Specs,
}

/// The v1 operations, with their spec path, method and success/error components.
#[derive(Clone, Copy)]
enum Op {
    Start,
    Check,
    Search,
    Control,
}

impl Op {
    fn path(self) -> &'static str {
        match self {
            Op::Start => "/verify/json",
            Op::Check => "/verify/check/json",
            Op::Search => "/verify/search/json",
            Op::Control => "/verify/control/json",
        }
    }

    /// (spec path, method, success component, error component)
    fn spec(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Op::Start => ("/{format}", "post", "requestResponse", "requestErrorResponse"),
            Op::Check => ("/check/{format}", "post", "checkResponse", "checkErrorResponse"),
            Op::Search => ("/search/{format}", "get", "searchResponse", "searchErrorResponse"),
            Op::Control => ("/control/{format}", "post", "controlResponse", "controlErrorResponse"),
        }
    }
}

impl Harness {
    async fn start() -> Harness {
        Self::with(VonageConfig::default()).await
    }

    async fn with(vonage: VonageConfig) -> Harness {
        let config = SandboxConfig { vonage, frozen_at: Some(T0), ..SandboxConfig::default() };
        let sandbox = Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await.expect("sandbox");
        Harness { sandbox, http: crate::support::http().build().expect("client"), specs: Specs::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    fn advance(&self, secs: i64) {
        self.sandbox.clock().advance(secs);
    }

    /// A v1 answer: always 200 `application/json` with a string `status`, valid against the spec's
    /// response schema (closed) and against the success or error component it claims to be.
    async fn v1_answer(&mut self, op: Op, resp: reqwest::Response) -> Value {
        assert_eq!(resp.status(), StatusCode::OK);
        let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(ctype.as_deref(), Some("application/json"));
        let body: Value = resp.json().await.expect("json");
        let status = body["status"].as_str().expect("string status").to_owned();
        let (path, method, success_component, error_component) = op.spec();
        self.specs.assert_response_as(closed, SPEC, path, method, 200, "application/json", &body);
        // Search reports the request's status on success and a number on error.
        let success = match op {
            Op::Search => !status.bytes().all(|b| b.is_ascii_digit()),
            _ => status == "0",
        };
        let component = if success { success_component } else { error_component };
        self.specs.assert_component_as(closed, SPEC, component, &body);
        body
    }

    /// POST with a JSON body carrying the credentials, as the seed's SDK does.
    async fn v1(&mut self, op: Op, params: Value) -> Value {
        let mut params = params;
        params["api_key"] = json!(KEY);
        params["api_secret"] = json!(SECRET);
        self.v1_raw(op, params).await
    }

    async fn v1_raw(&mut self, op: Op, params: Value) -> Value {
        let resp = self.http.post(self.url(op.path())).json(&params).send().await.expect("send");
        self.v1_answer(op, resp).await
    }

    async fn start_v1(&mut self, extra: Value) -> Value {
        let mut params = json!({ "number": PHONE, "brand": "ACME", "workflow_id": "6" });
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.v1(Op::Start, params).await
    }

    async fn check_v1(&mut self, id: &str, code: &str) -> Value {
        self.v1(Op::Check, json!({ "request_id": id, "code": code })).await
    }

    async fn search_v1(&mut self, id: &str) -> Value {
        let resp = self
            .http
            .get(with_query(
                &self.url(Op::Search.path()),
                &[("api_key", KEY), ("api_secret", SECRET), ("request_id", id)],
            ))
            .send()
            .await
            .expect("send");
        self.v1_answer(Op::Search, resp).await
    }

    async fn control_v1(&mut self, id: &str, cmd: &str) -> Value {
        self.v1(Op::Control, json!({ "request_id": id, "cmd": cmd })).await
    }

    /// A v2 call with Basic credentials; returns status, content type and body.
    async fn v2(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, String, Value) {
        let mut req = self.http.request(method, self.url(path)).basic_auth(KEY, Some(SECRET));
        if let Some(b) = body {
            req = req.json(&b);
        }
        split(req.send().await.expect("send")).await
    }

    async fn start_v2(&self, body: Value) -> (StatusCode, String, Value) {
        self.v2(reqwest::Method::POST, "/v2/verify", Some(body)).await
    }

    async fn check_v2(&self, id: &str, code: &str) -> (StatusCode, String, Value) {
        self.v2(reqwest::Method::POST, &format!("/v2/verify/{id}"), Some(json!({ "code": code }))).await
    }
}

async fn split(resp: reqwest::Response) -> (StatusCode, String, Value) {
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.expect("body");
    (status, ctype, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `url?k=v&...`, form-encoded (reqwest's `query` needs a feature the workspace does not enable).
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(url).expect("url");
    u.query_pairs_mut().extend_pairs(pairs);
    u.into()
}

fn id_of(body: &Value) -> String {
    body["request_id"].as_str().expect("request_id").to_owned()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The v2 error shape (docs/providers.md, "Vonage Verify v2"): problem+json with type, title, detail, instance.
fn assert_problem((status, ctype, body): &(StatusCode, String, Value), want: StatusCode, title: &str) {
    assert_eq!(*status, want, "{body}");
    assert_eq!(ctype, "application/problem+json");
    let schema = json!({
        "type": "object",
        "required": ["type", "title", "detail", "instance"],
        "properties": {
            "type": { "type": "string", "pattern": "^https://developer\\.vonage\\.com/en/api-errors/verify-v2#" },
            "title": { "type": "string" },
            "detail": { "type": "string" },
            "instance": { "type": "string" },
            "request_id": { "type": "string" },
            "invalid_parameters": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "reason"],
                    "additionalProperties": false,
                    "properties": { "name": { "type": "string" }, "reason": { "type": "string" } }
                }
            }
        },
        "additionalProperties": false
    });
    assert_valid(&schema, body, "v2 problem");
    assert_eq!(body["title"], title, "{body}");
}

#[tokio::test]
async fn v1_start_check_search_match_the_spec() {
    let mut h = Harness::start().await;
    let started = h.start_v1(json!({})).await;
    assert_eq!(started["status"], "0");
    let id = id_of(&started);
    assert!(is_hex32(&id), "{id}");

    // The SMS is in the outbox, in-process and over HTTP.
    let outbox = h.sandbox.outbox();
    assert_eq!(outbox.len(), 1);
    let sms = &outbox[0];
    assert_eq!((sms.provider.as_str(), sms.to.as_str(), sms.at), ("vonage-v1", "+447700900001", T0));
    assert_eq!(sms.code.len(), 4);
    assert!(sms.code.bytes().all(|b| b.is_ascii_digit()));
    assert!(sms.text.contains("ACME") && sms.text.contains(&sms.code));
    let code = h.sandbox.last_code("+447700900001").expect("code");
    assert_eq!(h.sandbox.last_code(PHONE).as_deref(), Some(code.as_str()));
    assert_eq!(h.sandbox.vonage().code(&id).as_deref(), Some(code.as_str()));

    let search = h.search_v1(&id).await;
    assert_eq!(search["status"], "IN PROGRESS");
    assert_eq!(search["number"], PHONE);
    assert_eq!(search["date_submitted"], "2027-01-15 08:00:00");
    assert!(search.get("date_finalized").is_none());
    assert_eq!(search["events"][0]["type"], "sms");

    let wrong = if code == "0000" { "1111" } else { "0000" };
    let bad = h.check_v1(&id, wrong).await;
    assert_eq!((bad["status"].as_str(), bad["request_id"].as_str()), (Some("16"), Some(id.as_str())));
    h.advance(10);
    let ok = h.check_v1(&id, &code).await;
    assert_eq!(ok["status"], "0");
    assert_eq!(ok["request_id"], id.as_str());
    assert_eq!(ok["event_id"], search["events"][0]["id"]);
    assert_eq!((ok["price"].as_str(), ok["currency"].as_str()), (Some("0.10000000"), Some("EUR")));
    assert_eq!(ok["estimated_price_messages_sent"], "0.03330000");

    let search = h.search_v1(&id).await;
    assert_eq!(search["status"], "SUCCESS");
    assert_eq!(search["date_finalized"], "2027-01-15 08:00:10");
    let checks: Vec<(&str, &str)> = search["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["code"].as_str().expect("code"), c["status"].as_str().expect("status")))
        .collect();
    assert_eq!(checks, vec![(wrong, "INVALID"), (code.as_str(), "VALID")]);

    // Finished: checks answer 6 even with the right code; unknown searches 101.
    let again = h.check_v1(&id, &code).await;
    assert_eq!(again["status"], "6");
    assert!(again["error_text"].as_str().expect("text").contains("was not found or it has been verified already"));
    let unknown = h.search_v1("0123456789abcdef0123456789abcdef").await;
    assert_eq!((unknown["status"].as_str(), unknown["error_text"].as_str()), (Some("101"), Some("No response found")));
}

#[tokio::test]
async fn v1_credentials_in_every_accepted_place() {
    let mut h = Harness::start().await;
    let start = |n: &str| json!({ "number": n, "brand": "ACME", "workflow_id": 6 });

    // JSON body (the SDK): above in every other test. Form body:
    let resp = h
        .http
        .post(h.url("/verify/json"))
        .form(&[("api_key", KEY), ("api_secret", SECRET), ("number", "447700900011"), ("brand", "ACME")])
        .send()
        .await
        .expect("send");
    assert_eq!(h.v1_answer(Op::Start, resp).await["status"], "0");
    // Query string, with GET:
    let resp = h
        .http
        .get(with_query(
            &h.url("/verify/json"),
            &[("api_key", KEY), ("api_secret", SECRET), ("number", "447700900012"), ("brand", "ACME")],
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(h.v1_answer(Op::Start, resp).await["status"], "0");
    // Basic auth with a JSON body:
    let resp = h
        .http
        .post(h.url("/verify/json"))
        .basic_auth(KEY, Some(SECRET))
        .json(&start("447700900013"))
        .send()
        .await
        .expect("send");
    assert_eq!(h.v1_answer(Op::Start, resp).await["status"], "0");

    // Wrong credentials: 4 wherever they are; missing: 2.
    let mut wrong = start("447700900014");
    wrong["api_key"] = json!(KEY);
    wrong["api_secret"] = json!("nope");
    let body = h.v1_raw(Op::Start, wrong).await;
    assert_eq!(
        (body["status"].as_str(), body["error_text"].as_str()),
        (Some("4"), Some("Invalid credentials were provided"))
    );
    let resp = h
        .http
        .post(h.url("/verify/json"))
        .basic_auth(KEY, Some("nope"))
        .json(&start("447700900014"))
        .send()
        .await
        .expect("send");
    assert_eq!(h.v1_answer(Op::Start, resp).await["status"], "4");
    let resp = h
        .http
        .get(with_query(
            &h.url("/verify/search/json"),
            &[("api_key", "nope"), ("api_secret", SECRET), ("request_id", "x")],
        ))
        .send()
        .await
        .expect("send");
    let body = h.v1_answer(Op::Search, resp).await;
    assert_eq!((body["status"].as_str(), body["error_text"].as_str()), (Some("4"), Some("Bad credentials")));
    let body = h.v1_raw(Op::Start, start("447700900014")).await;
    assert_eq!(body["status"], "2");
    assert!(body["error_text"].as_str().expect("text").contains("`api_key`"));
    assert!(h.sandbox.outbox().len() == 3, "no SMS for refused starts");

    // The request log records paths, never the query strings carrying the secret.
    assert_eq!(h.sandbox.count("GET", "/verify/"), 2);
    assert!(h.sandbox.requests().iter().all(|r| !r.path.contains(SECRET) && !r.path.contains('?')));
}

#[tokio::test]
async fn v1_start_validation() {
    let mut h = Harness::start().await;
    for (params, status, needle) in [
        (json!({ "brand": "ACME" }), "2", "`number`"),
        (json!({ "number": PHONE }), "2", "`brand`"),
        (json!({ "number": "07700900001", "brand": "ACME" }), "3", "number"),
        (json!({ "number": "abc", "brand": "ACME" }), "3", "number"),
        (json!({ "number": PHONE, "brand": "A brand of 19 char" }), "0", ""),
        (json!({ "number": "447700900002", "brand": "A brand of 19 chars" }), "3", "brand"),
        (json!({ "number": "447700900002", "brand": "ACME", "workflow_id": 0 }), "3", "workflow_id"),
        (json!({ "number": "447700900002", "brand": "ACME", "workflow_id": "8" }), "3", "workflow_id"),
        (json!({ "number": "447700900002", "brand": "ACME", "code_length": 5 }), "3", "code_length"),
        (json!({ "number": "447700900002", "brand": "ACME", "pin_expiry": 30 }), "3", "pin_expiry"),
        (json!({ "number": "447700900002", "brand": "ACME", "next_event_wait": 901 }), "3", "next_event_wait"),
        (json!({ "number": "447700900002", "brand": "ACME", "pin_code": "123456" }), "20", "pin_code"),
    ] {
        let body = h.v1(Op::Start, params.clone()).await;
        assert_eq!(body["status"], status, "{params} → {body}");
        if status != "0" {
            assert!(body["error_text"].as_str().expect("text").contains(needle), "{body}");
            assert!(body.get("request_id").is_none(), "{body}");
        }
    }
    // A leading + is tolerated; code_length 6 gives six digits.
    let body = h.start_v1(json!({ "number": "+447700900003", "code_length": 6 })).await;
    assert_eq!(body["status"], "0");
    assert_eq!(h.sandbox.last_code("447700900003").map(|c| c.len()), Some(6));
}

#[tokio::test]
async fn v1_wrong_codes_fail_the_request_on_the_third() {
    let mut h = Harness::start().await;
    let id = id_of(&h.start_v1(json!({})).await);
    let code = h.sandbox.last_code(PHONE).expect("code");
    let wrong = if code == "9999" { "1111" } else { "9999" };
    for expected in ["16", "16", "17"] {
        let body = h.check_v1(&id, wrong).await;
        assert_eq!(body["status"], expected, "{body}");
    }
    let body = h.check_v1(&id, &code).await;
    assert_eq!(body["status"], "6", "the request is FAILED");
    let search = h.search_v1(&id).await;
    assert_eq!(search["status"], "FAILED");
    assert_eq!(search["checks"].as_array().map(Vec::len), Some(3));

    // Malformed checks: status 2 and 3, not counted.
    let body = h.v1(Op::Check, json!({ "request_id": id })).await;
    assert_eq!(body["status"], "2");
    let body = h.check_v1(&id, "123").await;
    assert_eq!(body["status"], "3");
}

#[tokio::test]
async fn v1_one_request_per_number() {
    let mut h = Harness::start().await;
    let first = id_of(&h.start_v1(json!({})).await);
    let second = h.start_v1(json!({ "brand": "Other" })).await;
    assert_eq!(second["status"], "10");
    assert_eq!(second["request_id"], first.as_str());
    assert_eq!(second["error_text"], "Concurrent verifications to the same number are not allowed");
    assert_eq!(h.sandbox.outbox().len(), 1);
    // Same number written with a +: still the same number. Another number: fine.
    let plus = h.start_v1(json!({ "number": "+447700900001" })).await;
    assert_eq!(plus["status"], "10");
    assert_eq!(h.start_v1(json!({ "number": "447700900099" })).await["status"], "0");

    // Once the first is finished, the number is free again.
    let code = h.sandbox.last_code(PHONE).expect("code");
    assert_eq!(h.check_v1(&first, &code).await["status"], "0");
    let third = h.start_v1(json!({})).await;
    assert_eq!(third["status"], "0");
    assert_ne!(id_of(&third), first);
    // ... and after expiry too.
    h.advance(300);
    assert_eq!(h.start_v1(json!({})).await["status"], "0");
}

#[tokio::test]
async fn v1_expiry_follows_the_workflow() {
    let mut h = Harness::start().await;
    // Workflow 6: pin_expiry, default 300 s.
    let id = id_of(&h.start_v1(json!({})).await);
    h.advance(299);
    assert_eq!(h.check_v1(&id, "0000").await["status"], "16");
    h.advance(1);
    assert_eq!(h.check_v1(&id, "0000").await["status"], "6");
    let search = h.search_v1(&id).await;
    assert_eq!(search["status"], "EXPIRED");
    assert_eq!(search["date_finalized"], "2027-01-15 08:05:00");

    // Workflow 6 with pin_expiry 120.
    let id = id_of(&h.start_v1(json!({ "number": "447700900002", "pin_expiry": 120 })).await);
    h.advance(120);
    assert_eq!(h.search_v1(&id).await["status"], "EXPIRED");

    // pin_expiry not a multiple of next_event_wait: it becomes next_event_wait (60 s).
    let id = id_of(&h.start_v1(json!({ "number": "447700900003", "pin_expiry": 150, "next_event_wait": 60 })).await);
    h.advance(60);
    assert_eq!(h.search_v1(&id).await["status"], "EXPIRED");

    // Workflow 4 (SMS, 120 s, SMS, 180 s): a second SMS with the same code, expiry after 300 s.
    h.sandbox.clear_outbox();
    let id = id_of(&h.start_v1(json!({ "number": "447700900004", "workflow_id": 4 })).await);
    let start = h.sandbox.clock().now();
    h.advance(119);
    assert_eq!(h.sandbox.outbox().len(), 1);
    h.advance(1);
    let outbox = h.sandbox.outbox();
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1].at, start + 120);
    assert_eq!(outbox[0].code, outbox[1].code);
    h.advance(179);
    assert_eq!(h.search_v1(&id).await["status"], "IN PROGRESS");
    h.advance(1);
    let search = h.search_v1(&id).await;
    assert_eq!(search["status"], "EXPIRED");
    assert_eq!(search["estimated_price_messages_sent"], "0.06660000");

    // Workflow 1 (SMS, TTS, TTS): 125 + 180 + 300 = 605 s, one SMS only.
    h.sandbox.clear_outbox();
    let id = id_of(&h.start_v1(json!({ "number": "447700900005", "workflow_id": 1 })).await);
    h.advance(604);
    let search = h.search_v1(&id).await;
    assert_eq!(search["status"], "IN PROGRESS");
    let types: Vec<&str> =
        search["events"].as_array().expect("events").iter().map(|e| e["type"].as_str().expect("type")).collect();
    assert_eq!(types, ["sms", "tts", "tts"]);
    assert_eq!(h.sandbox.outbox().len(), 1);
    h.advance(1);
    assert_eq!(h.search_v1(&id).await["status"], "EXPIRED");

    // Over HTTP, the clock hook drives the same expiry.
    let id = id_of(&h.start_v1(json!({ "number": "447700900006" })).await);
    let resp =
        h.http.post(h.url("/_sandbox/clock/advance")).json(&json!({ "seconds": 300 })).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.search_v1(&id).await["status"], "EXPIRED");
}

#[tokio::test]
async fn v1_control_cancel_and_next_event() {
    let mut h = Harness::start().await;
    let id = id_of(&h.start_v1(json!({})).await);
    let early = h.control_v1(&id, "cancel").await;
    assert_eq!(early["status"], "19");
    assert_eq!(
        early["error_text"],
        format!("Verification request ['{id}'] can't be cancelled within the first 30 seconds.")
    );
    h.advance(30);
    let cancelled = h.control_v1(&id, "cancel").await;
    assert_eq!(cancelled, json!({ "status": "0", "command": "cancel" }));
    assert_eq!(h.check_v1(&id, "0000").await["status"], "6");
    assert_eq!(h.search_v1(&id).await["status"], "CANCELLED");
    let gone = h.control_v1(&id, "cancel").await;
    assert_eq!(gone["status"], "6");

    // Workflow 6 has a single event: nothing to trigger.
    let id = id_of(&h.start_v1(json!({})).await);
    let none = h.control_v1(&id, "trigger_next_event").await;
    assert_eq!(none["status"], "19");
    assert_eq!(none["error_text"], format!("No more events are left to execute for the request ['{id}']"));
    assert_eq!(h.control_v1(&id, "explode").await["status"], "3");

    // Workflow 4: trigger sends the second SMS now; then nothing is left, and it is too late to cancel.
    let id = id_of(&h.start_v1(json!({ "number": "447700900002", "workflow_id": 4 })).await);
    h.advance(40);
    let next = h.control_v1(&id, "trigger_next_event").await;
    assert_eq!(next, json!({ "status": "0", "command": "trigger_next_event" }));
    let to_second: Vec<_> = h.sandbox.outbox().into_iter().filter(|m| m.to == "+447700900002").collect();
    assert_eq!(to_second.len(), 2);
    assert_eq!(to_second[1].at, h.sandbox.clock().now());
    assert_eq!(h.control_v1(&id, "trigger_next_event").await["status"], "19");
    let late = h.control_v1(&id, "cancel").await;
    assert_eq!(late["status"], "19");
    assert!(late["error_text"].as_str().expect("text").contains("can't be cancelled now"));
}

#[tokio::test]
async fn v1_forced_start_statuses() {
    let mut h = Harness::start().await;
    for (number, status) in
        [("447700900015", "15"), ("447700900016", "6"), ("+447700900029", "29"), ("447700900009", "9")]
    {
        assert!(h.sandbox.vonage().force_status(number, status));
        let body = h.start_v1(json!({ "number": number })).await;
        assert_eq!(body["status"], status, "{body}");
        assert!(body.get("request_id").is_none());
        assert!(body["error_text"].as_str().is_some_and(|t| !t.is_empty()));
    }
    assert!(!h.sandbox.vonage().force_status(PHONE, "0"));
    assert!(!h.sandbox.vonage().force_status("nonsense", "15"));

    // Over HTTP: 7 comes with the network.
    let resp = h
        .http
        .put(h.url("/_sandbox/vonage/force/447700900007"))
        .json(&json!({ "status": "7" }))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let body = h.start_v1(json!({ "number": "447700900007" })).await;
    assert_eq!(body["status"], "7");
    assert!(body["network"].is_string());
    let resp = h
        .http
        .put(h.url("/_sandbox/vonage/force/447700900007"))
        .json(&json!({ "status": "42" }))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h.http.delete(h.url("/_sandbox/vonage/force/447700900007")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.start_v1(json!({ "number": "447700900007" })).await["status"], "0");
    h.sandbox.vonage().clear_forced("447700900015");
    assert_eq!(h.start_v1(json!({ "number": "447700900015" })).await["status"], "0");
    assert_eq!(h.sandbox.outbox().len(), 2);
}

#[tokio::test]
async fn v1_search_several_and_lagging() {
    let mut h =
        Harness::with(VonageConfig { fixed_code: Some("1234".into()), search_lag_secs: 60, ..VonageConfig::default() })
            .await;
    let a = id_of(&h.start_v1(json!({})).await);
    let b = id_of(&h.start_v1(json!({ "number": "447700900002" })).await);
    assert_eq!(h.sandbox.last_code(PHONE).as_deref(), Some("1234"));
    let resp = h
        .http
        .get(with_query(
            &h.url("/verify/search/json"),
            &[("api_key", KEY), ("api_secret", SECRET), ("request_ids", a.as_str()), ("request_ids", b.as_str())],
        ))
        .send()
        .await
        .expect("send");
    let body: Value = resp.json().await.expect("json");
    let found = body["verification_requests"].as_array().expect("list");
    assert_eq!(found.len(), 2);
    for r in found {
        h.specs.assert_component_as(closed, SPEC, "searchResponse", r);
    }
    let missing = h.v1(Op::Search, json!({})).await;
    assert_eq!(missing["status"], "2");

    // Like Vonage, a finished request is not searchable for a while (here 60 s).
    assert_eq!(h.check_v1(&a, "1234").await["status"], "0");
    assert_eq!(h.search_v1(&a).await["status"], "101");
    h.advance(60);
    assert_eq!(h.search_v1(&a).await["status"], "SUCCESS");
}

#[tokio::test]
async fn v2_start_and_check() {
    let h = Harness::start().await;
    let (status, ctype, body) = h
        .start_v2(json!({
            "brand": "ACME",
            "workflow": [{ "channel": "sms", "to": PHONE }],
            "client_ref": "ref-1",
            "locale": "en-gb",
        }))
        .await;
    assert_eq!((status, ctype.as_str()), (StatusCode::ACCEPTED, "application/json"));
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["request_id"]);
    let id = id_of(&body);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let sms = h.sandbox.outbox().pop().expect("sms");
    assert_eq!((sms.provider.as_str(), sms.to.as_str(), sms.code.len()), ("vonage-v2", "+447700900001", 4));
    assert!(sms.text.contains("ACME") && sms.text.contains(&sms.code));

    let wrong = if sms.code == "0000" { "1111" } else { "0000" };
    let bad = h.check_v2(&id, wrong).await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "Invalid Code");
    assert_eq!(bad.2["type"], format!("{V2_ERRORS}invalid-code"));
    let (status, ctype, body) = h.check_v2(&id, &sms.code).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(body, json!({ "request_id": id, "status": "completed" }));
    let again = h.check_v2(&id, &sms.code).await;
    assert_problem(&again, StatusCode::NOT_FOUND, "Not Found");
    let unknown = h.check_v2("c11236f4-00bf-4b89-84ba-88b25df97315", "1234").await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "Not Found");

    // code_length and a custom code.
    let (_, _, body) = h
        .start_v2(
            json!({ "brand": "ACME", "code_length": 8, "workflow": [{ "channel": "sms", "to": "447700900002" }] }),
        )
        .await;
    assert_eq!(h.sandbox.last_code("+447700900002").map(|c| c.len()), Some(8));
    assert!(body["request_id"].is_string());
    h.start_v2(json!({ "brand": "ACME", "code": "ab12cd", "workflow": [{ "channel": "sms", "to": "447700900003" }] }))
        .await;
    assert_eq!(h.sandbox.last_code("447700900003").as_deref(), Some("ab12cd"));
}

#[tokio::test]
async fn v2_credentials() {
    let h = Harness::start().await;
    let body = json!({ "brand": "ACME", "workflow": [{ "channel": "sms", "to": PHONE }] });
    let jwt = split(
        h.http
            .post(h.url("/v2/verify"))
            .bearer_auth("eyJhbGciOiJSUzI1NiJ9.e30.sig")
            .json(&body)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_problem(&jwt, StatusCode::UNAUTHORIZED, "Unauthorized");
    let wrong =
        split(h.http.post(h.url("/v2/verify")).basic_auth(KEY, Some("nope")).json(&body).send().await.expect("send"))
            .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "Unauthorized");
    let none = split(h.http.post(h.url("/v2/verify")).json(&body).send().await.expect("send")).await;
    assert_problem(&none, StatusCode::UNAUTHORIZED, "Unauthorized");
    assert!(h.sandbox.outbox().is_empty());
}

#[tokio::test]
async fn v2_validation_is_422_with_invalid_parameters() {
    let h = Harness::start().await;
    for (body, names) in [
        (json!({ "workflow": [{ "channel": "sms", "to": PHONE }] }), vec!["brand"]),
        (json!({ "brand": "AC:ME", "workflow": [{ "channel": "sms", "to": PHONE }] }), vec!["brand"]),
        (json!({ "brand": "A brand of 19 chars", "workflow": [{ "channel": "sms", "to": PHONE }] }), vec!["brand"]),
        (json!({ "brand": "ACME", "workflow": [] }), vec!["workflow"]),
        (json!({ "brand": "ACME", "workflow": [{ "channel": "sms", "to": "+447700900001" }] }), vec!["workflow[0].to"]),
        (
            json!({ "brand": "ACME", "workflow": [{ "channel": "sms", "to": PHONE }, { "channel": "fax", "to": PHONE }] }),
            vec!["workflow[1].channel"],
        ),
        (
            json!({ "brand": "ACME", "code_length": 11, "channel_timeout": 10, "workflow": [{ "channel": "sms", "to": PHONE }] }),
            vec!["code_length", "channel_timeout"],
        ),
    ] {
        let answer = h.start_v2(body.clone()).await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "Invalid params");
        let got: Vec<&str> = answer.2["invalid_parameters"]
            .as_array()
            .expect("invalid_parameters")
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        assert_eq!(got, names, "{body}");
    }
    assert!(h.sandbox.outbox().is_empty());
}

#[tokio::test]
async fn v2_concurrency_attempts_and_expiry() {
    let h = Harness::start().await;
    let start = |to: &str, extra: Value| {
        let mut b = json!({ "brand": "ACME", "workflow": [{ "channel": "sms", "to": to }] });
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    let id = id_of(&h.start_v2(start(PHONE, json!({}))).await.2);
    let conflict = h.start_v2(start(PHONE, json!({}))).await;
    assert_problem(&conflict, StatusCode::CONFLICT, "Conflict");
    assert_eq!(conflict.2["detail"], "Concurrent verifications to the same number are not allowed");
    assert_eq!(conflict.2["request_id"], id.as_str());

    // Three wrong codes: 400, 400, 410; then 404.
    let code = h.sandbox.last_code(PHONE).expect("code");
    let wrong = if code == "0000" { "1111" } else { "0000" };
    assert_problem(&h.check_v2(&id, wrong).await, StatusCode::BAD_REQUEST, "Invalid Code");
    assert_problem(&h.check_v2(&id, wrong).await, StatusCode::BAD_REQUEST, "Invalid Code");
    let third = h.check_v2(&id, wrong).await;
    assert_problem(&third, StatusCode::GONE, "Invalid Code");
    assert_eq!(third.2["detail"], "An incorrect code has been provided too many times. Workflow terminated.");
    assert_problem(&h.check_v2(&id, &code).await, StatusCode::NOT_FOUND, "Not Found");

    // Default channel_timeout 300 s: still open at 299, gone (410) at 300.
    let id = id_of(&h.start_v2(start(PHONE, json!({}))).await.2);
    let code = h.sandbox.last_code(PHONE).expect("code");
    h.advance(299);
    let wrong = if code == "0000" { "1111" } else { "0000" };
    assert_problem(&h.check_v2(&id, wrong).await, StatusCode::BAD_REQUEST, "Invalid Code");
    h.advance(1);
    let expired = h.check_v2(&id, &code).await;
    assert_problem(&expired, StatusCode::GONE, "Gone");

    // Two SMS steps of 60 s: the second SMS at +60, expiry at +120.
    h.sandbox.clear_outbox();
    let id = id_of(
        &h.start_v2(json!({
            "brand": "ACME",
            "channel_timeout": 60,
            "workflow": [{ "channel": "sms", "to": PHONE }, { "channel": "sms", "to": "447700900002" }],
        }))
        .await
        .2,
    );
    h.advance(60);
    let outbox = h.sandbox.outbox();
    assert_eq!(outbox.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), ["+447700900001", "+447700900002"]);
    h.advance(59);
    let code = h.sandbox.last_code("447700900002").expect("code");
    assert_eq!(h.check_v2(&id, &code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn v2_cancel_and_next_workflow() {
    let h = Harness::start().await;
    let body = json!({ "brand": "ACME", "workflow": [{ "channel": "sms", "to": PHONE }, { "channel": "voice", "to": PHONE }] });
    let id = id_of(&h.start_v2(body.clone()).await.2);
    let path = format!("/v2/verify/{id}");
    let early = h.v2(reqwest::Method::DELETE, &path, None).await;
    assert_problem(&early, StatusCode::NOT_FOUND, "Not Found");
    h.advance(30);
    let (status, _, _) = h.v2(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_problem(&h.v2(reqwest::Method::DELETE, &path, None).await, StatusCode::NOT_FOUND, "Not Found");
    assert_problem(&h.check_v2(&id, "1234").await, StatusCode::NOT_FOUND, "Not Found");

    // next_workflow moves to the voice step (no SMS), then there is nothing left.
    let id = id_of(&h.start_v2(body).await.2);
    let next = format!("/v2/verify/{id}/next_workflow");
    let (status, _, _) = h.v2(reqwest::Method::POST, &next, None).await;
    assert_eq!(status, StatusCode::OK);
    let none = h.v2(reqwest::Method::POST, &next, None).await;
    assert_problem(&none, StatusCode::CONFLICT, "Conflict");
    assert_eq!(none.2["detail"], "There are no more events left to trigger.");
    assert_eq!(h.sandbox.outbox().len(), 2, "one SMS per request");
    let code = h.sandbox.vonage().code(&id).expect("code");
    assert_eq!(h.check_v2(&id, &code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn outbox_over_http() {
    let mut h = Harness::start().await;
    h.start_v1(json!({})).await;
    h.advance(5);
    h.start_v1(json!({ "number": "447700900002" })).await;
    let all: Vec<Value> = h.http.get(h.url("/_sandbox/outbox")).send().await.expect("send").json().await.expect("json");
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["to"], "+447700900002", "newest last");
    assert_eq!(all[1]["at"], T0 + 5);
    let mine: Vec<Value> = h
        .http
        .get(h.url("/_sandbox/outbox?to=%2B447700900001"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0],
        json!({
            "provider": "vonage-v1",
            "to": "+447700900001",
            "code": h.sandbox.last_code(PHONE).expect("code"),
            "reference": h.sandbox.outbox()[0].reference,
            "text": mine[0]["text"],
            "at": T0,
        })
    );
    let resp = h.http.delete(h.url("/_sandbox/outbox")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(h.sandbox.outbox().is_empty());
    let log: Vec<Value> =
        h.http.get(h.url("/_sandbox/requests")).send().await.expect("send").json().await.expect("json");
    assert_eq!(log, vec![json!({ "method": "POST", "path": "/verify/json" }); 2]);
}

/// The validators are not vacuous: bodies that break the spec fail them.
#[tokio::test]
async fn the_v1_validators_reject_broken_bodies() {
    let mut h = Harness::start().await;
    let good = h.start_v1(json!({})).await;
    let mut specs = Specs::new();
    let check = |specs: &mut Specs, body: Value| {
        crate::support::panic_message(|| {
            specs.assert_response_as(closed, SPEC, "/{format}", "post", 200, "application/json", &body)
        })
    };
    assert!(check(&mut specs, good.clone()).is_none());
    let mut numeric = good.clone();
    numeric["status"] = json!(0);
    assert!(check(&mut specs, numeric).expect("fails").contains("violates the spec"));
    let mut long_id = good.clone();
    long_id["request_id"] = json!("0123456789abcdef0123456789abcdef0");
    assert!(check(&mut specs, long_id).is_some());
    let mut invented = good;
    invented["requestId"] = json!("camelCase");
    assert!(check(&mut specs, invented).is_some());
    let search = h.search_v1("nope").await;
    let mut bad_status = search;
    bad_status["status"] = json!("99");
    assert!(
        crate::support::panic_message(|| specs.assert_component_as(closed, SPEC, "searchErrorResponse", &bad_status))
            .is_some()
    );
}

/// The SMS API, as far as a notice needs (docs/providers.md, "Notices by SMS"): always 200, a
/// `status` per message part; in the outbox with no code.
#[tokio::test]
async fn the_sms_api_sends_notices() {
    let h = Harness::start().await;
    let send = |form: Vec<(&'static str, &'static str)>, basic: bool| {
        let req = h.http.post(h.url("/sms/json")).form(&form);
        let req = if basic { req.basic_auth(KEY, Some(SECRET)) } else { req };
        async move {
            let resp = req.send().await.expect("send");
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Value>().await.expect("json")
        }
    };
    let body = send(vec![("from", "Example"), ("to", PHONE), ("text", "Example: changed")], true).await;
    assert_eq!(
        (body["message-count"].as_str(), body["messages"][0]["status"].as_str()),
        (Some("1"), Some("0")),
        "{body}"
    );
    assert_eq!(body["messages"][0]["to"], PHONE);
    // Credentials as parameters work as well.
    let body = send(
        vec![("api_key", KEY), ("api_secret", SECRET), ("from", "Example"), ("to", PHONE), ("text", "again")],
        false,
    )
    .await;
    assert_eq!(body["messages"][0]["status"], "0");
    let sent = h.sandbox.outbox();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].provider.as_str(), sent[0].to.as_str(), sent[0].code.as_str()),
        ("vonage-sms", "+447700900001", "")
    );
    assert_eq!(h.sandbox.last_code(PHONE), None, "a notice is not a code");

    let status = |body: &Value| body["messages"][0]["status"].as_str().map(str::to_owned);
    assert_eq!(
        status(&send(vec![("from", "Example"), ("to", PHONE), ("text", "x")], false).await).as_deref(),
        Some("2")
    );
    let wrong =
        send(vec![("api_key", KEY), ("api_secret", "nope"), ("from", "E"), ("to", PHONE), ("text", "x")], false).await;
    assert_eq!(status(&wrong).as_deref(), Some("4"));
    assert_eq!(status(&send(vec![("from", "Example"), ("to", PHONE)], true).await).as_deref(), Some("2"));
    assert_eq!(
        status(&send(vec![("from", "Example"), ("to", "0770"), ("text", "x")], true).await).as_deref(),
        Some("3")
    );
    assert_eq!(h.sandbox.outbox().len(), 2, "nothing refused was sent");
}
