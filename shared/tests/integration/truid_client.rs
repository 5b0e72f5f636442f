//! The tru.ID client: against the sandbox (the wire contract) and against wiremock (failure modes).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use simguard::adapters::clock::ManualClock;
use simguard::adapters::secrets::StaticSecrets;
use simguard::adapters::truid_http::{TruIdClient, TruIdHttpConfig};
use simguard::domain::{CheckStatus, Phone, Timestamp};
use simguard::ports::truid::{CheckCode, CheckId, NewSubscriberCheck};
use simguard::ports::{Coverage, ProviderSecrets, SecretSource, SecretsError, TruId, TruIdError};
use simguard_sandbox::{CoverageRule, Sandbox, SandboxConfig};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const T0: i64 = 1_800_000_000;

fn secrets(id: &str, secret: &str) -> ProviderSecrets {
    ProviderSecrets {
        truid_client_id: Some(id.into()),
        truid_client_secret: Some(SecretString::from(secret.to_owned())),
        ..ProviderSecrets::default()
    }
}

fn client(base: &str, clock: &ManualClock, secrets: Arc<dyn SecretSource>, timeout: Duration) -> TruIdClient {
    TruIdClient::new(
        TruIdHttpConfig { base_url: url::Url::parse(base).expect("url"), timeout },
        secrets,
        Arc::new(clock.clone()),
    )
    .expect("client")
}

async fn sandbox() -> (Sandbox, ManualClock, TruIdClient) {
    let s = Sandbox::start(
        "127.0.0.1:0".parse().expect("addr"),
        SandboxConfig { frozen_at: Some(T0), ..SandboxConfig::default() },
    )
    .await
    .expect("sandbox");
    let clock = ManualClock::new(Timestamp(T0));
    let c = client(
        s.base_url(),
        &clock,
        Arc::new(StaticSecrets::new(secrets("sandbox-client-id", "sandbox-client-secret"))),
        Duration::from_secs(3),
    );
    (s, clock, c)
}

fn phone(p: &str) -> Phone {
    Phone::from_e164(p).expect("phone")
}

#[tokio::test]
async fn one_token_is_fetched_and_reused() {
    let (s, _clock, c) = sandbox().await;
    let ip = "127.0.0.1".parse().expect("ip");
    assert_eq!(c.coverage(ip).await, Ok(Coverage::SubscriberCheck));
    assert_eq!(c.coverage(ip).await.ok(), Some(Coverage::SubscriberCheck));
    assert_eq!(s.truid().token_requests(), 1);
}

#[tokio::test]
async fn concurrent_calls_share_one_refresh() {
    let (s, _clock, c) = sandbox().await;
    let c = Arc::new(c);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            async move { c.coverage("127.0.0.1".parse().expect("ip")).await }
        })
        .collect();
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|c| *c == Coverage::SubscriberCheck)));
    assert_eq!(s.truid().token_requests(), 1, "one refresh at a time");
}

#[tokio::test]
async fn the_token_is_refreshed_sixty_seconds_before_expiry() {
    let (s, clock, c) = sandbox().await;
    let ip = "127.0.0.1".parse().expect("ip");
    c.coverage(ip).await.expect("coverage");
    clock.advance(3600 - 61);
    c.coverage(ip).await.expect("coverage");
    assert_eq!(s.truid().token_requests(), 1, "still outside the margin");
    clock.advance(1);
    c.coverage(ip).await.expect("coverage");
    assert_eq!(s.truid().token_requests(), 2, "inside the 60 s margin: refreshed");
}

/// S15: the provider answers 401 once (a revoked token) → one re-auth and one retry.
#[tokio::test]
async fn a_refused_token_is_dropped_and_the_call_retried_once() {
    let (s, _clock, c) = sandbox().await;
    let ip = "127.0.0.1".parse().expect("ip");
    c.coverage(ip).await.expect("coverage");
    s.truid().fail_next_auth(1);
    assert_eq!(c.coverage(ip).await.ok(), Some(Coverage::SubscriberCheck));
    assert_eq!(s.truid().token_requests(), 2);
    // Refused twice: an error, not a loop; and nothing bad is cached.
    s.truid().fail_next_auth(2);
    assert_eq!(c.coverage(ip).await, Err(TruIdError::Unauthorized));
    assert_eq!(s.truid().token_requests(), 3);
    assert!(c.coverage(ip).await.is_ok());
}

/// A secret source whose credentials can be changed (rotation), counting forced refreshes.
struct Rotating {
    current: Mutex<ProviderSecrets>,
    forced: Mutex<u32>,
}

#[async_trait]
impl SecretSource for Rotating {
    async fn load(&self, force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError> {
        if force_refresh {
            *self.forced.lock().map_err(|_| SecretsError::Unavailable("lock".into()))? += 1;
        }
        Ok(Arc::new(self.current.lock().map_err(|_| SecretsError::Unavailable("lock".into()))?.clone()))
    }
}

#[tokio::test]
async fn bad_credentials_fail_and_are_never_cached() {
    let s = Sandbox::start(
        "127.0.0.1:0".parse().expect("addr"),
        SandboxConfig { frozen_at: Some(T0), ..SandboxConfig::default() },
    )
    .await
    .expect("sandbox");
    let clock = ManualClock::new(Timestamp(T0));
    let source =
        Arc::new(Rotating { current: Mutex::new(secrets("sandbox-client-id", "old-secret")), forced: Mutex::new(0) });
    let c = client(s.base_url(), &clock, source.clone(), Duration::from_secs(3));
    let ip = "127.0.0.1".parse().expect("ip");
    assert_eq!(c.coverage(ip).await, Err(TruIdError::Unauthorized));
    *source.current.lock().expect("lock") = secrets("sandbox-client-id", "sandbox-client-secret");
    assert!(c.coverage(ip).await.is_ok(), "the rotated secret is used at once");
    // A provider 401 forces the secret to be re-read.
    s.truid().fail_next_auth(1);
    assert!(c.coverage(ip).await.is_ok());
    assert!(*source.forced.lock().expect("lock") >= 1);
}

#[tokio::test]
async fn coverage_answers() {
    let (s, _clock, c) = sandbox().await;
    s.truid().set_coverage("192.0.2.1".parse().expect("ip"), CoverageRule::NotMobileIp);
    s.truid().set_coverage("192.0.2.2".parse().expect("ip"), CoverageRule::MnoNotSupported);
    s.truid().set_coverage("2001:db8::1".parse().expect("ip"), CoverageRule::Covered);
    assert_eq!(c.coverage("192.0.2.1".parse().expect("ip")).await, Ok(Coverage::None));
    assert_eq!(c.coverage("192.0.2.2".parse().expect("ip")).await, Ok(Coverage::None));
    assert_eq!(c.coverage("2001:db8::1".parse().expect("ip")).await.ok(), Some(Coverage::SubscriberCheck));
    assert_eq!(s.truid().count("GET", "/coverage/v0.1/device_ips/2001:db8::1"), 1);
}

#[tokio::test]
async fn a_whole_subscriber_check_and_a_sim_check() {
    let (s, _clock, c) = sandbox().await;
    let created = c
        .create_subscriber_check(&NewSubscriberCheck {
            phone: phone("+447000000008"),
            redirect_url: "https://app.example/api/reset/callback".into(),
            reference_id: "ref".into(),
            period_minutes: 10080,
        })
        .await
        .expect("created");
    assert_eq!(created.ttl_secs, 120);
    let record = &s.truid().checks()[0];
    assert_eq!((record.phone_number.as_str(), record.period), ("+447000000008", 10080));
    // Before the device visit: 404, and the code never matched anything.
    let early = c.complete_subscriber_check(&created.check_id, &CheckCode::parse("abc").expect("code")).await;
    assert_eq!(early, Err(TruIdError::Problem { status: 404, slug: Some("check_not_found".into()) }));
    let device =
        simguard::adapters::tls::reqwest_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    use secrecy::ExposeSecret;
    let resp = device.get(created.check_url.expose_secret()).send().await.expect("visit");
    let loc = url::Url::parse(resp.headers()["location"].to_str().expect("ascii")).expect("url");
    let code = loc.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("code");
    let report =
        c.complete_subscriber_check(&created.check_id, &CheckCode::parse(&code).expect("code")).await.expect("report");
    assert_eq!(
        (report.status, report.matched, report.no_sim_change, report.sim_change_within),
        (CheckStatus::Completed, Some(true), Some(false), Some(60))
    );
    assert_eq!(c.get_subscriber_check(&created.check_id).await.expect("get"), report);

    let sim = c.create_sim_check(&phone("+447000000070"), "ref", 10080).await.expect("sim");
    assert_eq!((sim.status, sim.no_sim_change), (CheckStatus::Completed, Some(true)));
    assert_eq!(
        c.create_sim_check(&phone("+447700900098"), "ref", 10080).await,
        Err(TruIdError::Problem { status: 400, slug: Some("mno_not_supported".into()) })
    );
}

async fn mock_client(server: &MockServer, timeout: Duration) -> TruIdClient {
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token":"tok","token_type":"bearer","expires_in":3600,"scope":"coverage"}),
        ))
        .mount(server)
        .await;
    client(
        &server.uri(),
        &ManualClock::new(Timestamp(T0)),
        Arc::new(StaticSecrets::new(secrets("id", "secret"))),
        timeout,
    )
}

const ID: &str = "c69bc0e6-a429-11ea-bb37-0242ac130002";

/// G4: redirects are never followed (no SSRF through a provider answer).
#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    let c = mock_client(&server, Duration::from_secs(3)).await;
    Mock::given(method("GET"))
        .and(path("/coverage/v0.1/device_ips/127.0.0.1"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/elsewhere", server.uri())))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    assert!(c.coverage("127.0.0.1".parse().expect("ip")).await.is_err());
}

#[tokio::test]
async fn answers_we_cannot_trust_are_errors() {
    let server = MockServer::start().await;
    let c = mock_client(&server, Duration::from_secs(3)).await;
    let hal = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    // `match` as a string: strictly typed, so not a pass.
    Mock::given(method("GET"))
        .and(path(format!("/subscriber_check/v0.2/checks/{ID}")))
        .respond_with(hal(
            serde_json::json!({"check_id": ID, "status": "COMPLETED", "match": "true", "no_sim_change": true}),
        ))
        .mount(&server)
        .await;
    let id = CheckId::parse(ID).expect("id");
    assert!(matches!(c.get_subscriber_check(&id).await, Err(TruIdError::InvalidResponse(_))));
    // An answer about another check.
    Mock::given(method("PATCH"))
        .and(path(format!("/subscriber_check/v0.2/checks/{ID}")))
        .and(header("content-type", "application/json-patch+json"))
        .and(body_json(serde_json::json!([{"op": "add", "path": "/code", "value": "abc123"}])))
        .respond_with(hal(serde_json::json!({"check_id": "00000000-0000-0000-0000-000000000000", "status": "COMPLETED", "match": true, "no_sim_change": true})))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        c.complete_subscriber_check(&id, &CheckCode::parse("abc123").expect("code")).await,
        Err(TruIdError::InvalidResponse(_))
    ));
    // A check_url on a host that is not the provider's.
    Mock::given(method("POST"))
        .and(path("/subscriber_check/v0.2/checks"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "check_id": ID, "status": "ACCEPTED", "ttl": 120,
            "_links": {"self": {"href": "x"}, "check_url": {"href": "https://evil.example/phish"}}
        })))
        .mount(&server)
        .await;
    let req = NewSubscriberCheck {
        phone: phone("+447000000070"),
        redirect_url: "https://app.example/cb".into(),
        reference_id: "r".into(),
        period_minutes: 10080,
    };
    assert!(matches!(c.create_subscriber_check(&req).await, Err(TruIdError::InvalidResponse(_))));
}

#[tokio::test]
async fn slow_answers_time_out() {
    let server = MockServer::start().await;
    let c = mock_client(&server, Duration::from_millis(200)).await;
    Mock::given(method("GET"))
        .and(path(format!("/subscriber_check/v0.2/checks/{ID}")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let r = c.get_subscriber_check(&CheckId::parse(ID).expect("id")).await;
    assert_eq!(r, Err(TruIdError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(4), "answered well before the provider would have");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_typed() {
    let server = MockServer::start().await;
    let c = mock_client(&server, Duration::from_secs(3)).await;
    Mock::given(method("POST"))
        .and(path("/subscriber_check/v0.2/checks"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "17").set_body_json(
            serde_json::json!({"type": "https://developer.tru.id/docs/reference/api-errors#too_many_requests"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let req = NewSubscriberCheck {
        phone: phone("+447000000070"),
        redirect_url: "https://app.example/cb".into(),
        reference_id: "r".into(),
        period_minutes: 10080,
    };
    assert_eq!(
        c.create_subscriber_check(&req).await.err(),
        Some(TruIdError::RateLimited { retry_after_secs: Some(17) })
    );
    // A SubscriberCheck create is not retried after a 5xx (it may have created a check)...
    server.reset().await;
    let c = mock_client(&server, Duration::from_secs(3)).await;
    Mock::given(method("POST"))
        .and(path("/subscriber_check/v0.2/checks"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(c.create_subscriber_check(&req).await, Err(TruIdError::Unavailable(_))));
    // ...a SIMCheck (synchronous, its result is the answer) gets one retry.
    Mock::given(method("POST"))
        .and(path("/sim_check/v0.1/checks"))
        .respond_with(ResponseTemplate::new(503))
        .expect(2) // SIMCheck: one retry on 5xx
        .mount(&server)
        .await;
    assert!(matches!(c.create_sim_check(&phone("+447000000070"), "r", 10080).await, Err(TruIdError::Unavailable(_))));
}

#[tokio::test]
async fn plain_http_is_refused_except_on_loopback() {
    let clock = ManualClock::new(Timestamp(T0));
    let s: Arc<dyn SecretSource> = Arc::new(StaticSecrets::new(ProviderSecrets::default()));
    let make = |u: &str| {
        TruIdClient::new(
            TruIdHttpConfig { base_url: url::Url::parse(u).expect("url"), timeout: Duration::from_secs(1) },
            s.clone(),
            Arc::new(clock.clone()),
        )
    };
    assert!(make("http://eu.api.tru.id").is_err());
    assert!(make("https://eu.api.tru.id").is_ok());
    assert!(make("https://us.api.idlayr.com").is_ok());
    assert!(make("http://127.0.0.1:9001").is_ok());
}
