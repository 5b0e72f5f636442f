//! The CAMARA SIM Swap sandbox against CAMARA's OpenAPI file (`camara/sim-swap.yaml`): its token
//! endpoint, `POST /check` and `POST /retrieve-date`, every answer validated against the spec.

use std::net::{Ipv4Addr, SocketAddr};

use crate::support::{Specs, closed};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simguard_sandbox::{CamaraConfig, Sandbox, SandboxConfig};

const T0: i64 = 1_800_000_000;
const SPEC: &str = "camara/sim-swap.yaml";

struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
    specs: Specs,
}

impl Harness {
    async fn start() -> Harness {
        let config = SandboxConfig { frozen_at: Some(T0), ..SandboxConfig::default() };
        let sandbox = Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await.expect("sandbox");
        Harness { sandbox, http: crate::support::http().build().expect("client"), specs: Specs::new() }
    }

    async fn token(&self) -> String {
        let c = CamaraConfig::default();
        let resp = self
            .http
            .post(format!("{}/camara/oauth2/token", self.sandbox.base_url()))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "sim-swap:check")])
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.expect("json");
        assert_eq!((body["token_type"].as_str(), body["expires_in"].as_i64()), (Some("Bearer"), Some(3600)));
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// `op`'s answer, validated against the spec's schema for its status.
    async fn call(&mut self, op: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}/sim-swap/v2{op}", self.sandbox.base_url())).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.header("x-correlator", "b4333c46-49c0-4f62-80d7-f0ef930f1c46").send().await.expect("send");
        let status = resp.status().as_u16();
        let correlator = resp.headers().get("x-correlator").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(correlator.as_deref(), Some("b4333c46-49c0-4f62-80d7-f0ef930f1c46"), "echoed");
        let body: Value = resp.json().await.expect("json");
        if status == 200 {
            self.specs.assert_response_as(closed, SPEC, op, "post", status, "application/json", &body);
        } else {
            // Errors are `allOf` ErrorInfo and a narrowed status and code: the schema as it is,
            // and nothing beside ErrorInfo's three fields.
            self.specs.assert_response(SPEC, op, "post", status, "application/json", &body);
            let keys: Vec<&str> = body.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            assert_eq!(keys, ["code", "message", "status"], "{body}");
        }
        (status, body)
    }
}

#[tokio::test]
async fn check_and_retrieve_date_match_the_spec() {
    let mut h = Harness::start().await;
    let token = h.token().await;
    let t = Some(token.as_str());
    let check = |p: &str, max_age: i64| json!({ "phoneNumber": p, "maxAge": max_age });
    assert_eq!(h.call("/check", t, check("+447000000070", 168)).await, (200, json!({ "swapped": false })));
    assert_eq!(h.call("/check", t, check("+447000000008", 168)).await, (200, json!({ "swapped": true })));
    // The operator keeps 30 days: a longer look back is out of range.
    let (status, body) = h.call("/check", t, check("+447000000070", 721)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("OUT_OF_RANGE")));
    let (status, body) = h.call("/check", t, check("+447000000070", 2401)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("OUT_OF_RANGE")));
    let (status, body) = h.call("/check", t, check("+447700900198", 168)).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("SERVICE_NOT_APPLICABLE")));
    let (status, body) = h.call("/check", t, check("+447700900197", 168)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("IDENTIFIER_NOT_FOUND")));
    let (status, body) = h.call("/check", t, json!({ "maxAge": 168 })).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("MISSING_IDENTIFIER")));
    let (status, body) = h.call("/check", t, check("07700900123", 168)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_ARGUMENT")));
    let (status, body) = h.call("/check", None, check("+447000000070", 168)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let (status, _) = h.call("/check", Some("not-a-token"), check("+447000000070", 168)).await;
    assert_eq!(status, 401);

    let (status, body) = h.call("/retrieve-date", t, json!({ "phoneNumber": "+447000000008" })).await;
    assert_eq!((status, body["latestSimChange"].as_str()), (200, Some("2027-01-15T07:00:00Z")));
    let (status, body) = h.call("/retrieve-date", t, json!({ "phoneNumber": "+447000000070" })).await;
    assert_eq!((status, body), (200, json!({ "latestSimChange": null, "monitoredPeriod": 30 })));
}

#[tokio::test]
async fn tokens_need_the_client_and_expire() {
    let h = Harness::start().await;
    let resp = h
        .http
        .post(format!("{}/camara/oauth2/token", h.sandbox.base_url()))
        .basic_auth("someone", Some("else"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let token = h.token().await;
    h.sandbox.clock().advance(3600);
    let mut h = h;
    let (status, _) = h.call("/check", Some(&token), json!({ "phoneNumber": "+447000000070", "maxAge": 1 })).await;
    assert_eq!(status, 401, "expired");
}
