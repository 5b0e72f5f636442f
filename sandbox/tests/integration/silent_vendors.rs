//! Silent authentication as Vonage Verify v2 and Twilio Verify (Silent Network Auth) speak it: the
//! Twilio answers validated against Twilio's OpenAPI file (`twilio/twilio_verify_v2.yaml`); Vonage's
//! against its public reference's shapes (`{request_id, check_url}`, problem+json), since Vonage
//! publishes no v2 file we can carry. The device "holds" the number when its tru.ID profile matches,
//! and is on mobile data when tru.ID's coverage rules say so for its address.

use std::net::{Ipv4Addr, SocketAddr};

use crate::support::{Specs, complete};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simguard_sandbox::{CoverageRule, Sandbox, SandboxConfig, TwilioConfig};

const T0: i64 = 1_800_000_000;
const SPEC: &str = "twilio/twilio_verify_v2.yaml";
const VERIFICATIONS: &str = "/v2/Services/{ServiceSid}/Verifications";
const CHECK: &str = "/v2/Services/{ServiceSid}/VerificationCheck";
const RETURN: &str = "https://app.example/reset/silent-return.html";

async fn sandbox() -> Sandbox {
    let config = SandboxConfig { frozen_at: Some(T0), ..SandboxConfig::default() };
    Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await.expect("sandbox")
}

fn device() -> reqwest::Client {
    crate::support::http().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn off_mobile_data(s: &Sandbox) {
    s.truid().set_coverage(Ipv4Addr::LOCALHOST.into(), CoverageRule::NotMobileIp);
}

mod twilio_sna {
    use super::*;

    struct Twilio {
        sandbox: Sandbox,
        config: TwilioConfig,
        specs: Specs,
    }

    impl Twilio {
        async fn start() -> Twilio {
            Twilio { sandbox: sandbox().await, config: TwilioConfig::default(), specs: Specs::new() }
        }

        async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
            let url = format!("{}/v2/Services/{}{path}", self.sandbox.base_url(), self.config.service_sid);
            let resp = device()
                .post(url)
                .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
                .form(form)
                .send()
                .await
                .expect("send");
            (resp.status(), resp.json().await.expect("json"))
        }

        /// Starts an SNA verification, its answer validated complete against the spec.
        async fn start_sna(&mut self, to: &str) -> Value {
            let (status, body) = self.post("/Verifications", &[("To", to), ("Channel", "sna")]).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            self.specs.assert_response_as(complete, SPEC, VERIFICATIONS, "post", 201, "application/json", &body);
            body
        }

        async fn check(&mut self, sid: &str) -> Value {
            let (status, body) = self.post("/VerificationCheck", &[("VerificationSid", sid)]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            self.specs.assert_response_as(complete, SPEC, CHECK, "post", 200, "application/json", &body);
            body
        }
    }

    /// The device's request: 200 `text/plain`, `ErrorCode=…&ErrorDescription=…&Carrier=…`.
    async fn invoke(url: &str) -> String {
        let resp = device().get(url).send().await.expect("invoke");
        assert_eq!(resp.status(), StatusCode::OK);
        let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(ctype.starts_with("text/plain"), "{ctype}");
        resp.text().await.expect("text")
    }

    fn error_codes(check: &Value) -> Vec<u64> {
        check["sna_attempts_error_codes"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["code"].as_u64()).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_match_is_approved_without_a_code() {
        let mut t = Twilio::start().await;
        let v = t.start_sna("+447000000070").await;
        assert_eq!((v["channel"].as_str(), v["status"].as_str()), (Some("sna"), Some("pending")));
        assert_eq!(v["send_code_attempts"][0]["channel"], "sna");
        let url = v["sna"]["url"].as_str().expect("sna.url").to_owned();
        assert!(url.starts_with(&format!("{}/sna/", t.sandbox.base_url())), "{url}");
        assert!(t.sandbox.outbox().is_empty(), "no SMS for SNA");
        let sid = v["sid"].as_str().expect("sid").to_owned();

        // Checked before the device's request: pending, 60519.
        let early = t.check(&sid).await;
        assert_eq!((early["status"].as_str(), early["valid"].as_bool()), (Some("pending"), Some(false)));
        assert_eq!(error_codes(&early), [60519]);

        assert_eq!(invoke(&url).await, "ErrorCode=0&ErrorDescription=Success&Carrier=SANDBOX");
        // Once only.
        assert!(invoke(&url).await.starts_with("ErrorCode=-10&"));
        let c = t.check(&sid).await;
        assert_eq!((c["status"].as_str(), c["valid"].as_bool()), (Some("approved"), Some(true)));
        assert_eq!(c["sna_attempts_error_codes"], json!([]));
        // Approved verifications are deleted.
        let (status, _) = t.post("/VerificationCheck", &[("VerificationSid", &sid)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn another_number_wifi_and_unsupported_networks() {
        let mut t = Twilio::start().await;
        for (to, body, code) in [("+447000000001", "ErrorCode=0&", 60500), ("+447000000198", "ErrorCode=-30&", 60540)] {
            let v = t.start_sna(to).await;
            assert!(invoke(v["sna"]["url"].as_str().expect("url")).await.starts_with(body), "{to}");
            let c = t.check(v["sid"].as_str().expect("sid")).await;
            assert_eq!((c["status"].as_str(), error_codes(&c)), (Some("pending"), vec![code]), "{to}");
        }
        off_mobile_data(&t.sandbox);
        let v = t.start_sna("+447000000070").await;
        assert!(invoke(v["sna"]["url"].as_str().expect("url")).await.starts_with("ErrorCode=-31&"));
        let c = t.check(v["sid"].as_str().expect("sid")).await;
        assert_eq!(error_codes(&c), [60520]);
        // A code does not pass an SNA verification, and an SMS verification needs one.
        let (status, body) =
            t.post("/VerificationCheck", &[("VerificationSid", v["sid"].as_str().expect("sid"))]).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("pending")));
        let (_, sms) = t.post("/Verifications", &[("To", "+447700900005"), ("Channel", "sms")]).await;
        let (status, body) =
            t.post("/VerificationCheck", &[("VerificationSid", sms["sid"].as_str().expect("sid"))]).await;
        assert_eq!((status, body["code"].as_u64()), (StatusCode::BAD_REQUEST, Some(60200)));
    }
}

mod vonage_silent_auth {
    use super::*;

    const KEY: &str = "sandbox-vonage-key";
    const SECRET: &str = "sandbox-vonage-secret";

    async fn v2(s: &Sandbox, path: &str, body: Value) -> (StatusCode, String, Value) {
        let resp = device()
            .post(format!("{}{path}", s.base_url()))
            .basic_auth(KEY, Some(SECRET))
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (status, ctype, resp.json().await.unwrap_or(Value::Null))
    }

    async fn start(s: &Sandbox, steps: Value) -> (StatusCode, String, Value) {
        v2(s, "/v2/verify", json!({ "brand": "ACME", "workflow": steps })).await
    }

    fn silent(to: &str) -> Value {
        json!({ "channel": "silent_auth", "to": to, "redirect_url": RETURN })
    }

    /// The device's visit: the Location, or the status and body.
    async fn visit(url: &str) -> reqwest::Response {
        device().get(url).send().await.expect("visit")
    }

    fn fragment(resp: &reqwest::Response) -> std::collections::HashMap<String, String> {
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).expect("Location");
        let url = url::Url::parse(location).expect("url");
        assert_eq!(url.as_str().split('#').next(), Some(RETURN));
        url::form_urlencoded::parse(url.fragment().unwrap_or("").as_bytes()).into_owned().collect()
    }

    #[tokio::test]
    async fn a_match_earns_a_code_in_the_fragment() {
        let s = sandbox().await;
        let (status, ctype, body) = start(&s, json!([silent("447000000070")])).await;
        assert_eq!((status, ctype.as_str()), (StatusCode::ACCEPTED, "application/json"));
        let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["check_url", "request_id"]);
        let id = body["request_id"].as_str().expect("id").to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        let check_url = body["check_url"].as_str().expect("check_url").to_owned();
        assert_eq!(check_url, format!("{}/v2/verify/{id}/silent-auth/redirect", s.base_url()));

        // No code before the device's visit.
        let (status, _, early) = v2(&s, &format!("/v2/verify/{id}"), json!({ "code": "abcde" })).await;
        assert_eq!((status, early["title"].as_str()), (StatusCode::CONFLICT, Some("Conflict")));

        let resp = visit(&check_url).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        let f = fragment(&resp);
        assert_eq!(f.get("request_id"), Some(&id));
        let code = f.get("code").expect("code").clone();
        // One visit only.
        assert_eq!(visit(&check_url).await.status(), StatusCode::CONFLICT);
        let (status, _, done) = v2(&s, &format!("/v2/verify/{id}"), json!({ "code": code })).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(done, json!({ "request_id": id, "status": "completed" }));
        assert!(s.outbox().is_empty());

        // Without a redirect_url the visit answers the JSON.
        let (_, _, body) = start(&s, json!([{ "channel": "silent_auth", "to": "447000000072" }])).await;
        let resp = visit(body["check_url"].as_str().expect("url")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let j: Value = resp.json().await.expect("json");
        assert_eq!(j["request_id"], body["request_id"]);
        assert!(j["code"].is_string());
    }

    #[tokio::test]
    async fn a_failed_silent_step_moves_on_or_ends() {
        let s = sandbox().await;
        // Another SIM in the device: no code; the next step (SMS) fires.
        let (_, _, body) = start(&s, json!([silent("447000000001"), { "channel": "sms", "to": "447000000001" }])).await;
        let f = fragment(&visit(body["check_url"].as_str().expect("url")).await);
        assert_eq!(f.get("error").map(String::as_str), Some("silent_auth_failed"));
        assert!(!f.contains_key("code"));
        assert_eq!(s.outbox().len(), 1, "the SMS step fired");

        // Off mobile data, silent only: the request fails.
        off_mobile_data(&s);
        let (_, _, body) = start(&s, json!([silent("447000000070")])).await;
        let id = body["request_id"].as_str().expect("id").to_owned();
        let f = fragment(&visit(body["check_url"].as_str().expect("url")).await);
        assert!(f.contains_key("error"));
        let (status, ctype, _) = v2(&s, &format!("/v2/verify/{id}"), json!({ "code": "abcde" })).await;
        assert_eq!((status, ctype.as_str()), (StatusCode::NOT_FOUND, "application/problem+json"));
    }

    #[tokio::test]
    async fn one_attempt_and_unsupported_networks() {
        let s = sandbox().await;
        let (_, _, body) = start(&s, json!([silent("447000000070")])).await;
        let id = body["request_id"].as_str().expect("id").to_owned();
        let f = fragment(&visit(body["check_url"].as_str().expect("url")).await);
        let wrong = if f["code"] == "00000" { "11111" } else { "00000" };
        let (status, ctype, p) = v2(&s, &format!("/v2/verify/{id}"), json!({ "code": wrong })).await;
        assert_eq!((status, ctype.as_str()), (StatusCode::GONE, "application/problem+json"));
        assert!(
            p["type"].as_str().is_some_and(|t| t.starts_with("https://developer.vonage.com/en/api-errors/verify-v2#"))
        );
        // The right code after the one attempt: the request is over.
        let (status, _, _) = v2(&s, &format!("/v2/verify/{id}"), json!({ "code": f["code"] })).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, ctype, p) = start(&s, json!([silent("447000000198")])).await;
        assert_eq!(
            (status, ctype.as_str(), p["title"].as_str()),
            (StatusCode::PRECONDITION_FAILED, "application/problem+json", Some("Precondition Failed"))
        );
        let (status, _, p) =
            start(&s, json!([{ "channel": "silent_auth", "to": "447000000070", "redirect_url": "not a url" }])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["invalid_parameters"][0]["name"], "workflow[0].redirect_url");
    }
}
