//! The tru.ID sandbox against tru.ID's own OpenAPI files, and its state machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::support::Specs;
use reqwest::StatusCode;
use serde_json::{Value, json};
use simguard_sandbox::{CoverageRule, Sandbox, SandboxConfig};

const T0: i64 = 1_800_000_000;
const PRODUCTS: &str = "truid/products.yaml";

struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn start() -> Harness {
        let config = SandboxConfig { frozen_at: Some(T0), ..SandboxConfig::default() };
        let sandbox = Sandbox::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await.expect("sandbox");
        let http = crate::support::http().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let mut h = Harness { sandbox, http, token: String::new() };
        let (status, _, body) = h.token("coverage subscriber_check sim_check").await;
        assert_eq!(status, StatusCode::OK);
        h.token = body["access_token"].as_str().expect("token").to_owned();
        h
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    async fn token(&self, scope: &str) -> (StatusCode, String, Value) {
        let resp = self
            .http
            .post(self.url("/oauth2/v1/token"))
            .basic_auth("sandbox-client-id", Some("sandbox-client-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .expect("send");
        split(resp).await
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, String, Value) {
        let mut req = self.http.request(method.clone(), self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            let ctype =
                if method == reqwest::Method::PATCH { "application/json-patch+json" } else { "application/json" };
            req = req.header("content-type", ctype).body(b.to_string());
        }
        split(req.send().await.expect("send")).await
    }

    async fn create(&self, phone: &str) -> (StatusCode, String, Value) {
        let body = json!({ "phone_number": phone, "redirect_url": "https://app.example/api/reset/callback", "reference_id": "ref-1" });
        self.call(reqwest::Method::POST, "/subscriber_check/v0.2/checks", Some(body)).await
    }

    /// Opens `check_url` as the device would; returns the redirect's status, Location and body.
    async fn visit(&self, check_url: &str) -> (StatusCode, Option<url::Url>, Value) {
        let resp = self.http.get(check_url).send().await.expect("send");
        let location =
            resp.headers().get("location").and_then(|v| v.to_str().ok()).and_then(|v| url::Url::parse(v).ok());
        let (status, _, body) = split(resp).await;
        (status, location, body)
    }

    async fn patch(&self, check_id: &str, code: &str) -> (StatusCode, String, Value) {
        let body = json!([{ "op": "add", "path": "/code", "value": code }]);
        self.call(reqwest::Method::PATCH, &format!("/subscriber_check/v0.2/checks/{check_id}"), Some(body)).await
    }
}

async fn split(resp: reqwest::Response) -> (StatusCode, String, Value) {
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.expect("body");
    (status, ctype, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn every_response_matches_the_truid_spec() {
    let h = Harness::start().await;
    let mut specs = Specs::new();

    // OAuth2 token
    let (status, ctype, body) = h.token("coverage subscriber_check").await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "application/json"));
    specs.assert_response("truid/basics.yaml", "/oauth2/v1/token", "post", 200, "application/json", &body);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "coverage subscriber_check");

    // Coverage: covered (loopback), not mobile, operator not supported
    let (status, ctype, body) = h.call(reqwest::Method::GET, "/coverage/v0.1/device_ips/127.0.0.1", None).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::OK, "application/hal+json"));
    specs.assert_response(
        "truid/utils.yaml",
        "/coverage/v0.1/device_ips/{ip}",
        "get",
        200,
        "application/hal+json",
        &body,
    );
    assert!(body["products"].as_array().expect("products").iter().any(|p| p["product_id"] == "SUK"));
    let (status, ctype, body) = h.call(reqwest::Method::GET, "/coverage/v0.1/device_ips/192.0.2.10", None).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::PRECONDITION_FAILED, "application/problem+json"));
    specs.assert_response(
        "truid/utils.yaml",
        "/coverage/v0.1/device_ips/{ip}",
        "get",
        412,
        "application/problem+json",
        &body,
    );
    assert_eq!(body["type"], "https://developer.tru.id/docs/reference/api-errors#not_mobile_ip");
    h.sandbox.truid().set_coverage("192.0.2.11".parse().expect("ip"), CoverageRule::MnoNotSupported);
    let (status, _, body) = h.call(reqwest::Method::GET, "/coverage/v0.1/device_ips/192.0.2.11", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    specs.assert_response(
        "truid/utils.yaml",
        "/coverage/v0.1/device_ips/{ip}",
        "get",
        400,
        "application/problem+json",
        &body,
    );

    // SubscriberCheck create
    let (status, ctype, created) = h.create("+447000000070").await;
    assert_eq!((status, ctype.as_str()), (StatusCode::CREATED, "application/hal+json"));
    specs.assert_response(PRODUCTS, "/subscriber_check/v0.2/checks", "post", 201, "application/hal+json", &created);
    let check_id = created["check_id"].as_str().expect("id").to_owned();
    let check_url = created["_links"]["check_url"]["href"].as_str().expect("check_url").to_owned();
    assert_eq!(check_url, format!("{}/subscriber_check/v0.2/checks/{check_id}/redirect", h.sandbox.base_url()));
    let (status, _, body) = h.create("not-a-number").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    specs.assert_response(PRODUCTS, "/subscriber_check/v0.2/checks", "post", 400, "application/problem+json", &body);
    assert_eq!(body["type"], "https://developer.tru.id/docs/reference/api-errors#phone_format_invalid");

    // PATCH before the device visited check_url: 404
    let (status, _, body) = h.patch(&check_id, "whatever").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    specs.assert_response(
        PRODUCTS,
        "/subscriber_check/v0.2/checks/{check_id}",
        "patch",
        404,
        "application/problem+json",
        &body,
    );

    // check_url → 302 to redirect_url with check_id and code
    let (status, location, body) = h.visit(&check_url).await;
    assert_eq!(status, StatusCode::FOUND);
    specs.assert_response(
        PRODUCTS,
        "/subscriber_check/v0.2/checks/{check_id}/redirect",
        "get",
        302,
        "application/hal+json",
        &body,
    );
    let location = location.expect("Location");
    assert_eq!(location.path(), "/api/reset/callback");
    assert_eq!(query(&location, "check_id").as_deref(), Some(check_id.as_str()));
    assert_eq!(query(&location, "reference_id").as_deref(), Some("ref-1"));
    let code = query(&location, "code").expect("code");

    // PATCH with the code → COMPLETED
    let (status, _, body) = h.patch(&check_id, &code).await;
    assert_eq!(status, StatusCode::OK);
    specs.assert_response(
        PRODUCTS,
        "/subscriber_check/v0.2/checks/{check_id}",
        "patch",
        200,
        "application/hal+json",
        &body,
    );
    assert_eq!(
        (body["status"].as_str(), body["match"].as_bool(), body["no_sim_change"].as_bool()),
        (Some("COMPLETED"), Some(true), Some(true))
    );

    // GET
    let (status, _, body) =
        h.call(reqwest::Method::GET, &format!("/subscriber_check/v0.2/checks/{check_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    specs.assert_response(
        PRODUCTS,
        "/subscriber_check/v0.2/checks/{check_id}",
        "get",
        200,
        "application/hal+json",
        &body,
    );
    let (status, _, body) =
        h.call(reqwest::Method::GET, "/subscriber_check/v0.2/checks/c69bc0e6-a429-11ea-bb37-0242ac130002", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    specs.assert_response(
        PRODUCTS,
        "/subscriber_check/v0.2/checks/{check_id}",
        "get",
        404,
        "application/problem+json",
        &body,
    );

    // SIMCheck
    let sim = |phone: &str| json!({ "phone_number": phone, "period": 10080 });
    let (status, ctype, body) =
        h.call(reqwest::Method::POST, "/sim_check/v0.1/checks", Some(sim("+447000000070"))).await;
    assert_eq!((status, ctype.as_str()), (StatusCode::CREATED, "application/hal+json"));
    specs.assert_response(PRODUCTS, "/sim_check/v0.1/checks", "post", 201, "application/hal+json", &body);
    assert_eq!(body["no_sim_change"], true);
    let sim_id = body["check_id"].as_str().expect("id").to_owned();
    let (status, _, body) = h.call(reqwest::Method::GET, &format!("/sim_check/v0.1/checks/{sim_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    specs.assert_response(PRODUCTS, "/sim_check/v0.1/checks/{check_id}", "get", 200, "application/hal+json", &body);
    let (status, _, body) = h.call(reqwest::Method::POST, "/sim_check/v0.1/checks", Some(sim("+447700900098"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    specs.assert_response(PRODUCTS, "/sim_check/v0.1/checks", "post", 400, "application/problem+json", &body);
    let (status, _, body) = h.call(reqwest::Method::POST, "/sim_check/v0.1/checks", Some(sim("+447700900099"))).await;
    assert_eq!(status, StatusCode::CREATED);
    specs.assert_response(PRODUCTS, "/sim_check/v0.1/checks", "post", 201, "application/hal+json", &body);
    assert_eq!((body["status"].as_str(), body["error_code"].as_str()), (Some("ERROR"), Some("mno_server_error")));
    assert!(body.get("no_sim_change").is_none());
}

#[tokio::test]
async fn the_sandbox_table_decides_outcomes() {
    let h = Harness::start().await;
    let mut specs = Specs::new();
    for (phone, status, matched, nsc, within) in [
        ("+447000000070", "COMPLETED", Some(true), Some(true), None::<u64>),
        ("+447000000008", "COMPLETED", Some(true), Some(false), Some(60)),
        ("+447000000001", "COMPLETED", Some(false), Some(true), None),
        ("+447700900002", "COMPLETED", Some(true), Some(true), None),
        ("+447700900003", "COMPLETED", Some(false), Some(false), None),
        ("+447700900099", "ERROR", None, None, None),
    ] {
        let (_, _, created) = h.create(phone).await;
        let id = created["check_id"].as_str().expect("id").to_owned();
        let (_, location, _) = h.visit(created["_links"]["check_url"]["href"].as_str().expect("url")).await;
        let code = query(&location.expect("location"), "code").expect("code");
        let (http, _, body) = h.patch(&id, &code).await;
        assert_eq!(http, StatusCode::OK, "{phone}");
        specs.assert_response(
            PRODUCTS,
            "/subscriber_check/v0.2/checks/{check_id}",
            "patch",
            200,
            "application/hal+json",
            &body,
        );
        assert_eq!(body["status"].as_str(), Some(status), "{phone}");
        assert_eq!(body["match"].as_bool(), matched, "{phone}");
        assert_eq!(body["no_sim_change"].as_bool(), nsc, "{phone}");
        assert_eq!(body["sim_change_within"].as_u64(), within, "{phone}");
    }
}

#[tokio::test]
async fn codes_are_single_use_and_checks_expire() {
    let h = Harness::start().await;
    let (_, _, created) = h.create("+447000000070").await;
    let id = created["check_id"].as_str().expect("id").to_owned();
    let url = created["_links"]["check_url"]["href"].as_str().expect("url").to_owned();
    let (_, location, _) = h.visit(&url).await;
    let code = query(&location.expect("location"), "code").expect("code");
    assert_eq!(h.patch(&id, "wrongcode0").await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.patch(&id, &code).await.0, StatusCode::OK);
    assert_eq!(h.patch(&id, &code).await.0, StatusCode::NOT_FOUND, "second use of the code");
    assert_eq!(h.visit(&url).await.0, StatusCode::NOT_FOUND, "check_url after completion");

    // A check not completed within its ttl (120 s) is EXPIRED: check_url and PATCH fail.
    let (_, _, created) = h.create("+447000000070").await;
    let id = created["check_id"].as_str().expect("id").to_owned();
    let url = created["_links"]["check_url"]["href"].as_str().expect("url").to_owned();
    let (_, location, _) = h.visit(&url).await;
    let code = query(&location.expect("location"), "code").expect("code");
    h.sandbox.clock().advance(120);
    assert_eq!(h.patch(&id, &code).await.0, StatusCode::NOT_FOUND);
    let (_, _, body) = h.call(reqwest::Method::GET, &format!("/subscriber_check/v0.2/checks/{id}"), None).await;
    assert_eq!(body["status"], "EXPIRED");
    assert!(body.get("match").is_none());
}

#[tokio::test]
async fn operator_redirect_errors_and_uncovered_visitors() {
    let h = Harness::start().await;
    h.sandbox.truid().set_redirect_error("+447000000070", "mno_redirect_unsupported");
    let (_, _, created) = h.create("+447000000070").await;
    let (status, location, _) = h.visit(created["_links"]["check_url"]["href"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("location");
    assert_eq!(query(&location, "error").as_deref(), Some("mno_redirect_unsupported"));
    assert!(query(&location, "error_description").is_some());
    assert!(query(&location, "code").is_none());

    // The device itself must be on mobile data.
    h.sandbox.truid().set_coverage(IpAddr::V4(Ipv4Addr::LOCALHOST), CoverageRule::NotMobileIp);
    let (_, _, created) = h.create("+447000000070").await;
    let (status, _, body) = h.visit(created["_links"]["check_url"]["href"].as_str().expect("url")).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(body["type"], "https://developer.tru.id/docs/reference/api-errors#not_mobile_ip");
}

#[tokio::test]
async fn tokens_credentials_and_scopes() {
    let h = Harness::start().await;
    let bad = h
        .http
        .post(h.url("/oauth2/v1/token"))
        .basic_auth("sandbox-client-id", Some("wrong"))
        .form(&[("grant_type", "client_credentials"), ("scope", "coverage")])
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.token("coverage nonsense").await.0, StatusCode::BAD_REQUEST);

    // A token without the sim_check scope may not create SIMChecks.
    let (_, _, body) = h.token("coverage").await;
    let narrow = body["access_token"].as_str().expect("token");
    let resp = h
        .http
        .post(h.url("/sim_check/v0.1/checks"))
        .bearer_auth(narrow)
        .json(&json!({ "phone_number": "+447000000070" }))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Unknown and expired tokens: 401.
    let resp = h.http.get(h.url("/coverage/v0.1/device_ips/127.0.0.1")).bearer_auth("nope").send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    h.sandbox.clock().advance(3600);
    assert_eq!(
        h.call(reqwest::Method::GET, "/coverage/v0.1/device_ips/127.0.0.1", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rate_limit_headers_and_request_log() {
    let h = Harness::start().await;
    let resp =
        h.http.get(h.url("/coverage/v0.1/device_ips/127.0.0.1")).bearer_auth(&h.token).send().await.expect("send");
    for name in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"] {
        assert!(
            resp.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok()).is_some(),
            "{name}"
        );
    }
    assert_eq!(h.sandbox.truid().count("GET", "/coverage/v0.1/device_ips/127.0.0.1"), 1);
    assert_eq!(h.sandbox.truid().count("POST", "/oauth2/v1/token"), 1);
}
