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

const NV: &str = "camara/number-verification.yaml";

/// Number Verification behind the authorization-code flow: the device on mobile data is sent back
/// with a code; the code and its PKCE verifier, once, buy a three-legged token; `/verify` answers
/// whether the number is the device's — validated against the spec.
#[tokio::test]
async fn number_verification_matches_the_spec() {
    let h = Harness::start().await;
    let http = h.http.clone();
    let mut specs = Specs::new();
    let c = CamaraConfig::default();
    let base = h.sandbox.base_url().to_owned();
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let verifier = "v".repeat(43);
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let authorize = |hint: &str| {
        let mut url = url::Url::parse(&format!("{base}/camara/authorize")).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &c.client_id)
            .append_pair("redirect_uri", "https://app.example/api/reset/callback")
            .append_pair("scope", "openid number-verification:verify")
            .append_pair("state", "s1")
            .append_pair("nonce", "n1")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "none")
            .append_pair("login_hint", hint);
        url
    };
    let code_for = async |hint: &str| -> String {
        let resp = no_redirects.get(authorize(hint)).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::FOUND);
        let location = url::Url::parse(resp.headers()["location"].to_str().expect("location")).expect("url");
        assert_eq!((location.host_str(), location.path()), (Some("app.example"), "/api/reset/callback"));
        let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(q.get("state").map(String::as_str), Some("s1"));
        q.get("code").expect("a code").clone()
    };
    let exchange = async |code: &str, verifier: &str| -> (StatusCode, Value) {
        let resp = http
            .post(format!("{base}/camara/oauth2/token"))
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://app.example/api/reset/callback"),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("send");
        (resp.status(), resp.json().await.expect("json"))
    };

    let code = code_for("tel:+447000000070").await;
    assert_eq!(exchange(&code, "not-the-verifier-at-all-but-long-enough-43c").await.1["error"], "invalid_grant");
    let code = code_for("tel:+447000000070").await;
    let (status, token) = exchange(&code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(exchange(&code, &verifier).await.1["error"], "invalid_grant", "a code is single-use");
    let token = token["access_token"].as_str().expect("token").to_owned();

    let mut verify = async |body: Value, token: &str| -> (u16, Value) {
        let resp = http
            .post(format!("{base}/number-verification/v2/verify"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json");
        if status == 200 {
            specs.assert_response_as(closed, NV, "/verify", "post", 200, "application/json", &body);
        } else {
            specs.assert_response(NV, "/verify", "post", status, "application/json", &body);
        }
        (status, body)
    };
    assert_eq!(
        verify(json!({ "phoneNumber": "+447000000070" }), &token).await,
        (200, json!({ "devicePhoneNumberVerified": true }))
    );
    assert_eq!(verify(json!({ "phoneNumber": "+447000000008" }), &token).await.1["devicePhoneNumberVerified"], false);
    let hashed = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"+447000000070"))
    };
    assert_eq!(verify(json!({ "hashedPhoneNumber": hashed }), &token).await.1["devicePhoneNumberVerified"], true);
    let (status, body) = verify(json!({ "phoneNumber": "+447000000070", "hashedPhoneNumber": hashed }), &token).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_ARGUMENT")));

    // Another SIM carries the data: the device's number is not the hinted one.
    let code = code_for("tel:+447000000001").await;
    let token = exchange(&code, &verifier).await.1["access_token"].as_str().expect("token").to_owned();
    assert_eq!(verify(json!({ "phoneNumber": "+447000000001" }), &token).await.1["devicePhoneNumberVerified"], false);

    // A two-legged token did not authenticate a device.
    let two_legged = h.token().await;
    let (status, body) = verify(json!({ "phoneNumber": "+447000000070" }), &two_legged).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"))
    );

    // Off mobile data: no code, `login_required`, the state kept.
    h.sandbox.truid().set_coverage("127.0.0.1".parse().expect("ip"), simguard_sandbox::CoverageRule::NotMobileIp);
    let resp = no_redirects.get(authorize("tel:+447000000070")).send().await.expect("send");
    let location = resp.headers()["location"].to_str().expect("location").to_owned();
    assert!(
        location.contains("error=login_required") && location.contains("state=s1") && !location.contains("code="),
        "{location}"
    );
}
