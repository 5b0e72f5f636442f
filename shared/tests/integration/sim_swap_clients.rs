//! The SIM-swap source clients against a mock server: every documented answer maps to "not
//! changed", "changed", "cannot tell" or a failure; requests have the provider's shape; tokens are
//! cached and refused credentials re-read once.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use simguard::adapters::camara::{CamaraConfig, CamaraSimSwap};
use simguard::adapters::secrets::StaticSecrets;
use simguard::adapters::twilio_lookup::{TwilioLookup, TwilioLookupConfig};
use simguard::domain::{Phone, Timestamp};
use simguard::ports::{ProviderFault, ProviderSecrets, SimSwapAnswer, SimSwapSource};
use wiremock::matchers::{basic_auth, body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use simguard::adapters::clock::ManualClock;

const WEEK: u32 = 10_080;
const AC: &str = "ACcccccccccccccccccccccccccccccccc";

fn phone() -> Phone {
    Phone::from_e164("+447700900123").expect("phone")
}

fn secrets() -> Arc<StaticSecrets> {
    Arc::new(StaticSecrets::new(ProviderSecrets {
        camara_client_id: Some("client".into()),
        camara_client_secret: Some(SecretString::from("secret".to_owned())),
        twilio_account_sid: Some(AC.into()),
        twilio_auth_token: Some(SecretString::from("token".to_owned())),
        ..ProviderSecrets::default()
    }))
}

fn url(server: &MockServer) -> url::Url {
    url::Url::parse(&server.uri()).expect("url")
}

async fn camara(server: &MockServer) -> CamaraSimSwap {
    let config = CamaraConfig {
        api_root: url(server),
        token_url: url::Url::parse(&format!("{}/oauth2/token", server.uri())).expect("url"),
        timeout: Duration::from_secs(2),
    };
    CamaraSimSwap::new(config, secrets(), Arc::new(ManualClock::new(Timestamp(1_800_000_000)))).expect("client")
}

async fn token_endpoint(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(basic_auth("client", "secret"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "t1", "token_type": "Bearer", "expires_in": 3600})),
        )
        .expect(times)
        .mount(server)
        .await;
}

fn camara_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"status": status, "code": code, "message": "m"}))
}

#[tokio::test]
async fn camara_sim_swap_answers() {
    let answers = [
        (ResponseTemplate::new(200).set_body_json(json!({"swapped": false})), Ok(SimSwapAnswer::NotChanged)),
        (ResponseTemplate::new(200).set_body_json(json!({"swapped": true})), Ok(SimSwapAnswer::Changed)),
        (camara_error(400, "OUT_OF_RANGE"), Ok(SimSwapAnswer::CannotTell("out_of_range"))),
        (camara_error(404, "IDENTIFIER_NOT_FOUND"), Ok(SimSwapAnswer::CannotTell("not_covered"))),
        (camara_error(422, "SERVICE_NOT_APPLICABLE"), Ok(SimSwapAnswer::CannotTell("not_covered"))),
        (camara_error(403, "PERMISSION_DENIED"), Err("permission_denied")),
        (camara_error(429, "TOO_MANY_REQUESTS"), Err("rate_limited")),
        (camara_error(400, "INVALID_ARGUMENT"), Err("unavailable")),
        (ResponseTemplate::new(200).set_body_json(json!({"swapped": "no"})), Err("invalid_response")),
        (ResponseTemplate::new(200).set_body_json(json!({})), Err("invalid_response")),
    ];
    for (resp, want) in answers {
        let server = MockServer::start().await;
        token_endpoint(&server, 1).await;
        Mock::given(method("POST"))
            .and(path("/sim-swap/v2/check"))
            .and(header("authorization", "Bearer t1"))
            .and(body_json(json!({"phoneNumber": "+447700900123", "maxAge": 168})))
            .respond_with(resp)
            .mount(&server)
            .await;
        let got = camara(&server).await.check(&phone(), WEEK).await.map_err(|e| e.kind());
        assert_eq!(got, want);
    }
}

/// One token for many checks; a refused one is dropped, the credentials re-read, and the call made
/// once more; a window beyond 2 400 hours is not asked at all.
#[tokio::test]
async fn camara_tokens_are_cached_and_replaced_when_refused() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    Mock::given(method("POST"))
        .and(path("/sim-swap/v2/check"))
        .respond_with(camara_error(401, "UNAUTHENTICATED"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sim-swap/v2/check"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"swapped": false})))
        .expect(3)
        .mount(&server)
        .await;
    let client = camara(&server).await;
    for _ in 0..3 {
        assert_eq!(client.check(&phone(), WEEK).await, Ok(SimSwapAnswer::NotChanged));
    }
    assert_eq!(client.check(&phone(), 2401 * 60).await, Ok(SimSwapAnswer::CannotTell("window_too_long")));
}

fn lookup(server: &MockServer) -> TwilioLookup {
    let config = TwilioLookupConfig { base_url: url(server), timeout: Duration::from_secs(2) };
    TwilioLookup::new(config, secrets(), Arc::new(ManualClock::new(Timestamp(1_800_000_000)))).expect("client")
}

#[tokio::test]
async fn twilio_lookup_answers() {
    let body = |sim_swap: serde_json::Value| {
        ResponseTemplate::new(200)
            .set_body_json(json!({"phone_number": "+447700900123", "valid": true, "sim_swap": sim_swap}))
    };
    let last = |date: serde_json::Value, period: &str, swapped: bool| json!({"last_sim_swap": {"last_sim_swap_date": date, "swapped_period": period, "swapped_in_period": swapped}, "error_code": null});
    let answers = [
        (body(last(json!(null), "PT168H", false)), Ok(SimSwapAnswer::NotChanged)),
        (body(last(json!("2027-01-15T00:00:00Z"), "PT24H", false)), Ok(SimSwapAnswer::Changed)),
        (body(last(json!("2020-04-27T10:18:50Z"), "PT24H", false)), Ok(SimSwapAnswer::NotChanged)),
        (body(last(json!(null), "PT48H", true)), Ok(SimSwapAnswer::Changed)),
        (body(last(json!(null), "PT24H", false)), Ok(SimSwapAnswer::CannotTell("shorter_period"))),
        (body(json!({"last_sim_swap": null, "error_code": 60606})), Ok(SimSwapAnswer::CannotTell("not_covered"))),
        (body(json!(null)), Ok(SimSwapAnswer::CannotTell("no_data"))),
        (
            ResponseTemplate::new(404).set_body_json(json!({"code": 20404, "status": 404})),
            Ok(SimSwapAnswer::CannotTell("not_found")),
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"code": 60600, "status": 400})),
            Ok(SimSwapAnswer::CannotTell("refused")),
        ),
        (ResponseTemplate::new(429).set_body_json(json!({"code": 20429, "status": 429})), Err("rate_limited")),
        (ResponseTemplate::new(503), Err("unavailable")),
    ];
    for (resp, want) in answers {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/PhoneNumbers/%2B447700900123"))
            .and(query_param("Fields", "sim_swap"))
            .and(basic_auth(AC, "token"))
            .respond_with(resp)
            .mount(&server)
            .await;
        let got = lookup(&server).check(&phone(), WEEK).await.map_err(|e| e.kind());
        assert_eq!(got, want);
    }
    // Refused credentials: re-read once, then a failure.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"code": 20003, "status": 401})))
        .expect(2)
        .mount(&server)
        .await;
    assert_eq!(lookup(&server).check(&phone(), WEEK).await.map_err(|e| e.kind()), Err("unauthorized"));
}

/// The client rules every provider shares (docs/security.md R1): an answer slower than the
/// configured timeout is a failure, not a wait; a redirect is a failure, never followed to a
/// "not changed" somewhere else. Neither is ever a pass.
#[tokio::test]
async fn slow_answers_and_redirects_fail_closed() {
    let not_changed = || ResponseTemplate::new(200).set_body_json(json!({"swapped": false}));
    let lookup_ok = ResponseTemplate::new(200).set_body_json(json!({"phone_number": "+447700900123", "valid": true,
        "sim_swap": {"last_sim_swap": {"last_sim_swap_date": null, "swapped_period": "PT168H", "swapped_in_period": false}, "error_code": null}}));
    for slow in [true, false] {
        let server = MockServer::start().await;
        token_endpoint(&server, 1).await;
        let first = if slow {
            not_changed().set_delay(Duration::from_millis(1500))
        } else {
            ResponseTemplate::new(302).insert_header("location", format!("{}/elsewhere", server.uri()).as_str())
        };
        Mock::given(method("POST")).and(path("/sim-swap/v2/check")).respond_with(first).mount(&server).await;
        Mock::given(path("/elsewhere")).respond_with(not_changed()).expect(0).mount(&server).await;
        let config = CamaraConfig {
            api_root: url(&server),
            token_url: url::Url::parse(&format!("{}/oauth2/token", server.uri())).expect("url"),
            timeout: Duration::from_millis(300),
        };
        let client = CamaraSimSwap::new(config, secrets(), Arc::new(ManualClock::new(Timestamp(1_800_000_000))))
            .expect("client");
        let got = client.check(&phone(), WEEK).await;
        assert!(got.is_err(), "camara, slow={slow}: {got:?}");

        let server = MockServer::start().await;
        let first = if slow {
            lookup_ok.clone().set_delay(Duration::from_millis(1500))
        } else {
            ResponseTemplate::new(302).insert_header("location", format!("{}/elsewhere", server.uri()).as_str())
        };
        Mock::given(method("GET"))
            .and(path("/v2/PhoneNumbers/%2B447700900123"))
            .respond_with(first)
            .mount(&server)
            .await;
        Mock::given(path("/elsewhere")).respond_with(lookup_ok.clone()).expect(0).mount(&server).await;
        let config = TwilioLookupConfig { base_url: url(&server), timeout: Duration::from_millis(300) };
        let client =
            TwilioLookup::new(config, secrets(), Arc::new(ManualClock::new(Timestamp(1_800_000_000)))).expect("client");
        let got = client.check(&phone(), WEEK).await;
        assert!(got.is_err(), "lookup, slow={slow}: {got:?}");
    }
}
