//! The Twilio Verify sandbox against Twilio's OpenAPI file (`twilio_verify_v2.yaml`) and its state
//! machine. The spec has a schema for the start's 429 only; other errors are checked against the
//! documented `{code, message, more_info, status}` shape.

use std::net::{Ipv4Addr, SocketAddr};

use crate::support::{Specs, assert_valid, complete};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simguard_sandbox::{Sandbox, SandboxConfig, TwilioConfig};

const T0: i64 = 1_800_000_000;
const SPEC: &str = "twilio/twilio_verify_v2.yaml";
const VERIFICATIONS: &str = "/v2/Services/{ServiceSid}/Verifications";
const VERIFICATION: &str = "/v2/Services/{ServiceSid}/Verifications/{Sid}";
const CHECK: &str = "/v2/Services/{ServiceSid}/VerificationCheck";
const TO: &str = "+447700900001";

struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
    config: TwilioConfig,
    specs: Specs,
}

type Answer = (StatusCode, Value);

impl Harness {
    async fn start() -> Harness {
        Self::with(TwilioConfig::default()).await
    }

    async fn with(twilio: TwilioConfig) -> Harness {
        let config = SandboxConfig { twilio: twilio.clone(), frozen_at: Some(T0), ..SandboxConfig::default() };
        let sandbox = Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await.expect("sandbox");
        Harness { sandbox, http: crate::support::http().build().expect("client"), config: twilio, specs: Specs::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/Services/{}{path}", self.sandbox.base_url(), self.config.service_sid)
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.authed(self.http.post(self.url(path)).form(form));
        answer(req.send().await.expect("send")).await
    }

    async fn start_verification(&mut self, to: &str, channel: &str) -> Answer {
        let a = self.post("/Verifications", &[("To", to), ("Channel", channel)]).await;
        if a.0 == StatusCode::CREATED {
            self.specs.assert_response_as(complete, SPEC, VERIFICATIONS, "post", 201, "application/json", &a.1);
        }
        a
    }

    async fn check(&mut self, form: &[(&str, &str)]) -> Answer {
        let a = self.post("/VerificationCheck", form).await;
        if a.0 == StatusCode::OK {
            self.specs.assert_response_as(complete, SPEC, CHECK, "post", 200, "application/json", &a.1);
        }
        a
    }

    async fn check_to(&mut self, to: &str, code: &str) -> Answer {
        self.check(&[("To", to), ("Code", code)]).await
    }

    async fn fetch(&mut self, key: &str) -> Answer {
        let path = format!("/Verifications/{}", urlencode(key));
        let req = self.authed(self.http.get(self.url(&path)));
        let a = answer(req.send().await.expect("send")).await;
        if a.0 == StatusCode::OK {
            self.specs.assert_response_as(complete, SPEC, VERIFICATION, "get", 200, "application/json", &a.1);
        }
        a
    }

    async fn update(&mut self, key: &str, status: &str) -> Answer {
        let path = format!("/Verifications/{}", urlencode(key));
        let a = self.post(&path, &[("Status", status)]).await;
        if a.0 == StatusCode::OK {
            self.specs.assert_response_as(complete, SPEC, VERIFICATION, "post", 200, "application/json", &a.1);
        }
        a
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(ctype.as_deref(), Some("application/json"), "{status}");
    (status, resp.json().await.expect("json"))
}

/// Twilio's error body (docs/providers.md, "Twilio Verify v2"), exactly.
fn assert_error((status, body): &Answer, http: u16, code: u64, message: &str) {
    let schema = json!({
        "type": "object",
        "required": ["code", "message", "more_info", "status"],
        "additionalProperties": false,
        "properties": {
            "code": { "type": "integer" },
            "message": { "type": "string" },
            "more_info": { "type": "string" },
            "status": { "type": "integer" }
        }
    });
    assert_valid(&schema, body, "twilio error");
    assert_eq!(status.as_u16(), http, "{body}");
    assert_eq!(
        body,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http,
        })
    );
}

fn sid(body: &Value) -> String {
    body["sid"].as_str().expect("sid").to_owned()
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn wrong_code(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn start_fetch_check_match_the_spec() {
    let mut h = Harness::start().await;
    let (status, v) = h.start_verification(TO, "sms").await;
    assert_eq!(status, StatusCode::CREATED);
    let ve = sid(&v);
    assert!(is_sid(&ve, "VE"), "{ve}");
    assert!(is_sid(&h.config.account_sid, "AC") && is_sid(&h.config.service_sid, "VA"));
    assert_eq!(v["service_sid"], h.config.service_sid.as_str());
    assert_eq!(v["account_sid"], h.config.account_sid.as_str());
    assert_eq!(
        (v["to"].as_str(), v["channel"].as_str(), v["status"].as_str(), v["valid"].as_bool()),
        (Some(TO), Some("sms"), Some("pending"), Some(false))
    );
    assert_eq!(v["date_created"], "2027-01-15T08:00:00Z");
    assert_eq!(v["date_updated"], "2027-01-15T08:00:00Z");
    assert_eq!(v["lookup"], json!({}));
    assert!(v["amount"].is_null() && v["payee"].is_null() && v["sna"].is_null());
    let attempts = v["send_code_attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["channel"], "SMS");
    assert_eq!(attempts[0]["time"], "2027-01-15T08:00:00Z");
    assert!(is_sid(attempts[0]["attempt_sid"].as_str().expect("sid"), "VL"));
    assert_eq!(v["url"], format!("{}/v2/Services/{}/Verifications/{ve}", h.sandbox.base_url(), h.config.service_sid));

    let sms = h.sandbox.outbox().pop().expect("sms");
    assert_eq!((sms.provider.as_str(), sms.to.as_str()), ("twilio", TO));
    assert_eq!(sms.code.len(), 6);
    assert!(sms.text.contains(&sms.code));
    assert_eq!(h.sandbox.twilio().code(TO).as_deref(), Some(sms.code.as_str()));

    // Fetch by SID and by To.
    let (status, fetched) = h.fetch(&ve).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, v);
    assert_eq!(h.fetch(TO).await.1["sid"], ve.as_str());

    // A wrong code is a 200 with status pending.
    h.sandbox.clock().advance(5);
    let (status, c) = h.check_to(TO, wrong_code(&sms.code)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (c["status"].as_str(), c["valid"].as_bool(), c["sid"].as_str()),
        (Some("pending"), Some(false), Some(ve.as_str()))
    );
    assert!(c["sna_attempts_error_codes"].is_null(), "null when the last channel was not sna");
    assert_eq!(c["date_updated"], "2027-01-15T08:00:05Z");

    // The right code approves and deletes the verification.
    let (status, c) = h.check_to(TO, &sms.code).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((c["status"].as_str(), c["valid"].as_bool()), (Some("approved"), Some(true)));
    let not_found = h.check_to(TO, &sms.code).await;
    assert_error(
        &not_found,
        404,
        20404,
        &format!("The requested resource /Services/{}/VerificationCheck was not found", h.config.service_sid),
    );
    let gone = h.fetch(&ve).await;
    assert_error(
        &gone,
        404,
        20404,
        &format!("The requested resource /Services/{}/Verifications/{ve} was not found", h.config.service_sid),
    );
    // Checking a number that never had a verification: 404 too (docs/providers.md, "Twilio Verify v2", the blog's answer).
    assert_eq!(h.check_to("+447700900002", "123456").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_service_and_form_bodies() {
    let h = Harness::start().await;
    let form = [("To", TO), ("Channel", "sms")];
    let bad = answer(
        h.http
            .post(h.url("/Verifications"))
            .basic_auth(&h.config.account_sid, Some("nope"))
            .form(&form)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_error(&bad, 401, 20003, "Authentication Error - invalid username");
    let resp = h.http.post(h.url("/Verifications")).form(&form).send().await.expect("send");
    assert!(resp.headers().contains_key("www-authenticate"));
    let none = answer(resp).await;
    assert_error(&none, 401, 20003, "Authentication Error - invalid username");

    let other = "VAffffffffffffffffffffffffffffffff";
    let unknown = answer(
        h.authed(h.http.post(format!("{}/v2/Services/{other}/Verifications", h.sandbox.base_url())).form(&form))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_error(
        &unknown,
        404,
        20404,
        &format!("The requested resource /Services/{other}/Verifications was not found"),
    );

    // Twilio reads form bodies only.
    let json_body = answer(
        h.authed(h.http.post(h.url("/Verifications")).json(&json!({ "To": TO, "Channel": "sms" })))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_error(&json_body, 400, 60200, "Invalid parameter: To");
    assert!(h.sandbox.outbox().is_empty());
    assert_eq!(h.sandbox.count("POST", "/v2/Services/"), 4);
    assert_eq!(h.sandbox.truid().count("POST", "/v2/Services/"), 0);
}

#[tokio::test]
async fn start_validation_and_channels() {
    let mut h = Harness::start().await;
    for (to, channel, param) in [
        ("447700900001", "sms", "To"),
        ("+0447700900001", "sms", "To"),
        ("+4477009000011234", "sms", "To"),
        ("", "sms", "To"),
        (TO, "", "Channel"),
        (TO, "pigeon", "Channel"),
        (TO, "email", "To"),
        ("someone@example.com", "sms", "To"),
    ] {
        let a = h.start_verification(to, channel).await;
        assert_error(&a, 400, 60200, &format!("Invalid parameter: {param}"));
    }
    let a = h.post("/Verifications", &[("To", TO), ("Channel", "sms"), ("CustomCode", "12")]).await;
    assert_error(&a, 400, 60200, "Invalid parameter: CustomCode");
    assert!(h.sandbox.outbox().is_empty());

    // auto resolves to SMS; e-mail works but sends no SMS; CustomCode is the code.
    let (status, v) = h.start_verification(TO, "auto").await;
    assert_eq!((status, v["channel"].as_str()), (StatusCode::CREATED, Some("sms")));
    let (status, v) = h.start_verification("someone@example.com", "email").await;
    assert_eq!((status, v["channel"].as_str()), (StatusCode::CREATED, Some("email")));
    assert_eq!(v["send_code_attempts"][0]["channel"], "EMAIL");
    assert_eq!(h.sandbox.outbox().len(), 1);
    let code = h.sandbox.twilio().code("someone@example.com").expect("code");
    assert_eq!(h.check_to("someone@example.com", &code).await.1["status"], "approved");
    let (status, _) =
        h.post("/Verifications", &[("To", "+447700900002"), ("Channel", "sms"), ("CustomCode", "ab12cd")]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(h.sandbox.last_code("+447700900002").as_deref(), Some("ab12cd"));
}

#[tokio::test]
async fn resends_reuse_the_verification_and_are_limited() {
    let mut h = Harness::start().await;
    let (_, first) = h.start_verification(TO, "sms").await;
    for n in 2..=5 {
        h.sandbox.clock().advance(60);
        let (status, v) = h.start_verification(TO, "sms").await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(v["sid"], first["sid"], "same verification");
        assert_eq!(v["date_created"], first["date_created"]);
        assert_eq!(v["send_code_attempts"].as_array().map(Vec::len), Some(n));
    }
    let outbox = h.sandbox.outbox();
    assert_eq!(outbox.len(), 5);
    assert!(outbox.iter().all(|m| m.code == outbox[0].code), "same code");

    // The 6th send within 10 minutes: 429 60203, which the spec's 429 schema covers.
    let (status, body) = h.start_verification(TO, "sms").await;
    assert_error(&(status, body.clone()), 429, 60203, "Max send attempts reached");
    h.specs.assert_response_as(complete, SPEC, VERIFICATIONS, "post", 429, "application/json", &body);
    assert_eq!(h.sandbox.outbox().len(), 5);
    // Other numbers are not affected.
    assert_eq!(h.start_verification("+447700900002", "sms").await.0, StatusCode::CREATED);

    // 10 minutes after the first send: allowed again, and the first verification (TTL 600 s) is
    // gone, so this is a new one.
    h.sandbox.clock().advance(360);
    let (status, v) = h.start_verification(TO, "sms").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(v["sid"], first["sid"]);
    assert_eq!(h.fetch(&sid(&first)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sixth_check_is_refused() {
    let mut h = Harness::with(TwilioConfig { fixed_code: Some("123456".into()), ..TwilioConfig::default() }).await;
    let (_, v) = h.start_verification(TO, "sms").await;
    assert_eq!(h.sandbox.last_code(TO).as_deref(), Some("123456"));
    for _ in 0..5 {
        let (status, c) = h.check_to(TO, "654321").await;
        assert_eq!((status, c["status"].as_str()), (StatusCode::OK, Some("pending")));
    }
    let sixth = h.check_to(TO, "123456").await;
    assert_error(&sixth, 429, 60202, "Max check attempts reached");
    let (status, f) = h.fetch(&sid(&v)).await;
    assert_eq!(
        (status, f["status"].as_str(), f["valid"].as_bool()),
        (StatusCode::OK, Some("max_attempts_reached"), Some(false))
    );
    let again = h.check(&[("VerificationSid", &sid(&v)), ("Code", "123456")]).await;
    assert_error(&again, 429, 60202, "Max check attempts reached");

    // A new start makes a new verification.
    let (status, fresh) = h.start_verification(TO, "sms").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(fresh["sid"], v["sid"]);
    assert_eq!(h.check_to(TO, "123456").await.1["status"], "approved");
}

#[tokio::test]
async fn verifications_expire_after_the_ttl() {
    let mut h = Harness::start().await;
    let (_, v) = h.start_verification(TO, "sms").await;
    let code = h.sandbox.last_code(TO).expect("code");
    h.sandbox.clock().advance(599);
    assert_eq!(h.check_to(TO, wrong_code(&code)).await.1["status"], "pending");
    h.sandbox.clock().advance(1);
    assert_eq!(h.check_to(TO, &code).await.1["code"], 20404);
    assert_eq!(h.fetch(&sid(&v)).await.0, StatusCode::NOT_FOUND);

    // A shorter TTL.
    let mut h = Harness::with(TwilioConfig { ttl_secs: 120, ..TwilioConfig::default() }).await;
    h.start_verification(TO, "sms").await;
    let code = h.sandbox.last_code(TO).expect("code");
    h.sandbox.clock().advance(120);
    assert_eq!(h.check_to(TO, &code).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn update_cancels_or_approves() {
    let mut h = Harness::start().await;
    let (_, v) = h.start_verification(TO, "sms").await;
    let ve = sid(&v);
    let bogus = h.update(&ve, "expired").await;
    assert_error(&bogus, 400, 60200, "Invalid parameter: Status");
    let (status, u) = h.update(&ve, "canceled").await;
    assert_eq!((status, u["status"].as_str()), (StatusCode::OK, Some("canceled")));
    assert_eq!(h.fetch(&ve).await.1["status"], "canceled", "still fetchable");
    let code = h.sandbox.last_code(TO).expect("code");
    assert_eq!(h.check_to(TO, &code).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.update(&ve, "canceled").await.0, StatusCode::NOT_FOUND);

    let (_, v) = h.start_verification(TO, "sms").await;
    assert_ne!(sid(&v), ve);
    let (status, u) = h.update(TO, "approved").await;
    assert_eq!((status, u["status"].as_str(), u["valid"].as_bool()), (StatusCode::OK, Some("approved"), Some(true)));
    assert_eq!(h.fetch(&sid(&v)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn check_parameters() {
    let mut h = Harness::start().await;
    let (_, v) = h.start_verification(TO, "sms").await;
    let ve = sid(&v);
    let code = h.sandbox.last_code(TO).expect("code");
    for (form, param) in [
        (vec![("Code", code.as_str())], "To"),
        (vec![("To", "447700900001"), ("Code", code.as_str())], "To"),
        (vec![("VerificationSid", "VE123"), ("Code", code.as_str())], "VerificationSid"),
        (vec![("To", TO)], "Code"),
        (vec![("To", TO), ("Code", "123")], "Code"),
        (vec![("To", TO), ("Code", "12345678901")], "Code"),
    ] {
        let a = h.check(&form).await;
        assert_error(&a, 400, 60200, &format!("Invalid parameter: {param}"));
    }
    let unknown = "VEffffffffffffffffffffffffffffffff";
    assert_eq!(h.check(&[("VerificationSid", unknown), ("Code", &code)]).await.0, StatusCode::NOT_FOUND);
    let (status, c) = h.check(&[("VerificationSid", &ve), ("Code", &code)]).await;
    assert_eq!((status, c["status"].as_str()), (StatusCode::OK, Some("approved")));
}

#[tokio::test]
async fn forced_errors() {
    let mut h = Harness::start().await;
    let twilio = h.sandbox.twilio().clone();
    assert!(twilio.force_error("+447700900005", 60205));
    assert!(twilio.force_error("+447700900012", 60212));
    assert!(!twilio.force_error(TO, 12345));
    assert_error(
        &h.start_verification("+447700900005", "sms").await,
        403,
        60205,
        "SMS is not supported by landline phone number",
    );
    assert_error(
        &h.start_verification("+447700900012", "sms").await,
        429,
        60212,
        "Too many concurrent requests for phone number",
    );
    let base = format!("{}/_sandbox/twilio/force/", h.sandbox.base_url());
    let hook = |path: &str| format!("{base}{path}");
    let resp = h.http.put(hook("%2B447700900000")).json(&json!({ "code": 60200 })).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_error(&h.start_verification("+447700900000", "sms").await, 400, 60200, "Invalid parameter: To");
    let resp = h.http.put(hook("%2B447700900000")).json(&json!({ "code": 1 })).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h.http.delete(hook("%2B447700900000")).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.start_verification("+447700900000", "sms").await.0, StatusCode::CREATED);
    twilio.clear_forced("+447700900005");
    assert_eq!(h.start_verification("+447700900005", "sms").await.0, StatusCode::CREATED);
    assert_eq!(h.sandbox.outbox().len(), 2, "no SMS for refused starts");
}

/// The validators are not vacuous: bodies that break the spec fail them.
#[tokio::test]
async fn the_validators_reject_broken_bodies() {
    let mut h = Harness::start().await;
    let (_, v) = h.start_verification(TO, "sms").await;
    let mut specs = Specs::new();
    let mut fails = |body: Value| {
        crate::support::panic_message(|| {
            specs.assert_response_as(complete, SPEC, VERIFICATIONS, "post", 201, "application/json", &body)
        })
    };
    assert!(fails(v.clone()).is_none());
    let mut bad_sid = v.clone();
    bad_sid["sid"] = json!("XX00000000000000000000000000000001");
    assert!(fails(bad_sid).expect("fails").contains("violates the spec"));
    let mut bad_channel = v.clone();
    bad_channel["channel"] = json!("auto");
    assert!(fails(bad_channel).is_some());
    let mut missing = v.clone();
    missing.as_object_mut().expect("object").remove("sna");
    assert!(fails(missing).is_some());
    let mut invented = v;
    invented["code"] = json!("123456");
    assert!(fails(invented).is_some());
}

/// A long-running sandbox stays bounded: past `MAX_RECORDS` verifications, SMS and logged requests,
/// the oldest go, and the newest still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_are_capped() {
    use futures::StreamExt;
    let h = Harness::start().await;
    let total = simguard_sandbox::MAX_RECORDS + 500;
    let sids: Vec<String> = futures::stream::iter(0..total)
        .map(|i| {
            let h = &h;
            async move {
                let to = format!("+4477009{i:05}");
                let req =
                    h.authed(h.http.post(h.url("/Verifications")).form(&[("To", to.as_str()), ("Channel", "sms")]));
                let (status, body) = answer(req.send().await.expect("send")).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                body["sid"].as_str().expect("sid").to_owned()
            }
        })
        .buffered(16)
        .collect()
        .await;
    assert!(h.sandbox.outbox().len() <= simguard_sandbox::MAX_RECORDS);
    assert!(h.sandbox.requests().len() <= simguard_sandbox::MAX_RECORDS);
    let fetch = |sid: &str| h.authed(h.http.get(h.url(&format!("/Verifications/{sid}")))).send();
    assert_eq!(fetch(&sids[total - 1]).await.expect("send").status(), StatusCode::OK, "the newest is kept");
    assert_eq!(fetch(&sids[0]).await.expect("send").status(), StatusCode::NOT_FOUND, "the oldest went");
}

/// Programmable Messaging, as far as a notice needs (docs/providers.md, "Notices by SMS"): 201 with
/// a message `SM…`, in the outbox with no code; errors in Twilio's usual shape.
#[tokio::test]
async fn messages_are_queued_into_the_outbox() {
    let h = Harness::start().await;
    let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", h.sandbox.base_url(), h.config.account_sid);
    let send = |form: Vec<(&'static str, &'static str)>, authed: bool| {
        let req = h.http.post(&url).form(&form);
        let req = if authed { h.authed(req) } else { req };
        async move { answer(req.send().await.expect("send")).await }
    };
    let (status, body) = send(vec![("To", TO), ("Body", "Example: changed"), ("From", "Example")], true).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["sid"].as_str().is_some_and(|s| s.starts_with("SM") && s.len() == 34), "{body}");
    assert_eq!((body["status"].as_str(), body["to"].as_str()), (Some("queued"), Some(TO)));
    let service = "MG0123456789abcdef0123456789abcdef";
    let (status, body) = send(vec![("To", TO), ("Body", "again"), ("MessagingServiceSid", service)], true).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::CREATED, Some("accepted")));
    let sent = h.sandbox.outbox();
    assert_eq!(sent.len(), 2);
    assert_eq!((sent[0].provider.as_str(), sent[0].to.as_str(), sent[0].code.as_str()), ("twilio-messaging", TO, ""));
    assert_eq!(sent[0].text, "Example: changed");
    assert_eq!(h.sandbox.last_code(TO), None, "a notice is not a code");

    assert_error(
        &send(vec![("To", TO), ("Body", "x")], false).await,
        401,
        20003,
        "Authentication Error - invalid username",
    );
    assert_error(
        &send(vec![("To", "07700"), ("Body", "x"), ("From", "Example")], true).await,
        400,
        21211,
        "Invalid 'To' Phone Number",
    );
    assert_error(&send(vec![("To", TO), ("From", "Example")], true).await, 400, 21602, "Message body is required.");
    let no_sender = send(vec![("To", TO), ("Body", "x")], true).await;
    assert_eq!((no_sender.0, no_sender.1["code"].as_u64()), (StatusCode::BAD_REQUEST, Some(21603)));
    let bad_service = send(vec![("To", TO), ("Body", "x"), ("MessagingServiceSid", "MG1")], true).await;
    assert_eq!(bad_service.1["code"].as_u64(), Some(21701));
    assert_eq!(h.sandbox.outbox().len(), 2, "nothing refused was sent");
}

/// Lookup v2 with `Fields=sim_swap`, validated complete against `twilio/twilio_lookups_v2.yaml`: a
/// number's SIM history is its sandbox profile; 96 watches 24 hours; 98 is not covered.
#[tokio::test]
async fn lookup_sim_swap_matches_the_spec() {
    let mut h = Harness::start().await;
    const LOOKUP: &str = "twilio/twilio_lookups_v2.yaml";
    // Every field, and none invented — each may be null: the spec's own examples answer null for the
    // packages not asked for and for missing values (`sim_swap: null`, `last_sim_swap_date: null`),
    // though its schemas do not say `nullable`.
    let schema = nullable_fields(complete(h.specs.response_schema(
        LOOKUP,
        "/v2/PhoneNumbers/{PhoneNumber}",
        "get",
        200,
        "application/json",
    )));
    let example: Value = {
        let text = std::fs::read_to_string(crate::support::Specs::root().join(LOOKUP)).expect("spec");
        let doc: Value = serde_yaml_ng::from_str(&text).expect("yaml");
        doc.pointer("/paths/~1v2~1PhoneNumbers~1{PhoneNumber}/get/responses/200/content/application~1json/examples/fetchSimSwapWithoutLastSimSwapDate/value")
            .expect("the spec's example")
            .clone()
    };
    assert_valid(&schema, &example, "the spec's own example");
    let get = async |number: &str, fields: &str| -> Value {
        let url = format!("{}/v2/PhoneNumbers/{number}?Fields={fields}", h.sandbox.base_url());
        let (status, body) = answer(h.authed(h.http.get(url)).send().await.expect("send")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_valid(&schema, &body, "GET /v2/PhoneNumbers/{PhoneNumber} 200");
        body
    };
    let unchanged = get("%2B447000000070", "sim_swap").await;
    assert_eq!(
        unchanged["sim_swap"]["last_sim_swap"],
        json!({ "last_sim_swap_date": null, "swapped_period": "PT168H", "swapped_in_period": false })
    );
    let changed = get("%2B447000000008", "sim_swap").await;
    assert_eq!(changed["sim_swap"]["last_sim_swap"]["swapped_in_period"], true);
    assert!(changed["sim_swap"]["last_sim_swap"]["last_sim_swap_date"].is_string());
    assert_eq!(get("%2B447700900196", "sim_swap").await["sim_swap"]["last_sim_swap"]["swapped_period"], "PT24H");
    let uncovered = get("%2B447700900198", "sim_swap").await;
    assert_eq!(
        (uncovered["sim_swap"]["error_code"].as_u64(), &uncovered["sim_swap"]["last_sim_swap"]),
        (Some(60606), &json!(null))
    );
    assert_eq!(get("%2B447000000070", "caller_name").await["sim_swap"], json!(null), "only the packages asked for");
    assert_eq!(get("12", "sim_swap").await["valid"], false);

    let url = format!("{}/v2/PhoneNumbers/%2B447000000070?Fields=sim_swap", h.sandbox.base_url());
    let refused =
        answer(h.http.get(url).basic_auth(&h.config.account_sid, Some("nope")).send().await.expect("send")).await;
    assert_error(&refused, 401, 20003, "Authentication Error - invalid username");
}

/// Every property of every object may also be null (what Lookup's examples show).
fn nullable_fields(schema: Value) -> Value {
    match schema {
        Value::Object(mut map) => {
            if let Some(Value::Object(props)) = map.remove("properties") {
                let props = props
                    .into_iter()
                    .map(|(k, v)| (k, json!({ "anyOf": [nullable_fields(v), { "type": "null" }] })))
                    .collect();
                map.insert("properties".into(), Value::Object(props));
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = if k == "items" { nullable_fields(v) } else { v };
                        (k, v)
                    })
                    .collect(),
            )
        }
        other => other,
    }
}
