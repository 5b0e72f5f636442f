//! The silent provers' HTTP clients against a mock server, every documented answer as a verdict or a
//! failure: CAMARA Number Verification (the authorization URL it builds, the token request with the
//! code and the PKCE verifier, `/verify`), Vonage Verify v2 silent authentication (one `silent_auth`
//! step, one code submission).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use simguard::adapters::camara::{CamaraNumberVerification, CamaraNumberVerificationConfig, pkce_challenge};
use simguard::adapters::random::OsRandom;
use simguard::adapters::secrets::StaticSecrets;
use simguard::domain::{CheckOutcome, Phone};
use simguard::ports::{ProviderFault, ProviderSecrets, RedirectParams, SilentProver, SilentReport};
use wiremock::matchers::{basic_auth, body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CALLBACK: &str = "https://app.example/api/reset/callback";

/// A start's expected result: started, or the failure's kind and whether it is a failure.
type Started = Result<(), (&'static str, bool)>;

fn prover(server: &MockServer) -> CamaraNumberVerification {
    let url = |p: &str| url::Url::parse(&format!("{}{p}", server.uri())).expect("url");
    let config = CamaraNumberVerificationConfig {
        api_root: url(""),
        authorize_url: url("/authorize"),
        token_url: url("/token"),
        redirect_url: CALLBACK.into(),
        timeout: Duration::from_secs(2),
    };
    let secrets = Arc::new(StaticSecrets::new(ProviderSecrets {
        camara_client_id: Some("client".into()),
        camara_client_secret: Some(SecretString::from("secret".to_owned())),
        ..ProviderSecrets::default()
    }));
    CamaraNumberVerification::new(config, secrets, Arc::new(OsRandom)).expect("client")
}

fn phone() -> Phone {
    Phone::from_e164("+447700900123").expect("phone")
}

fn redirect(pairs: &[(&str, &str)]) -> RedirectParams {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn the_authorization_is_bound_by_state_and_pkce() {
    let server = MockServer::start().await;
    let p = prover(&server);
    let start = p.start(&phone(), CALLBACK, 10_080).await.expect("started");
    let url = url::Url::parse(start.device_url.expose_secret()).expect("url");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let verifier = start.secret.as_ref().expect("a verifier").expose_secret().to_owned();
    assert_eq!(q["state"], start.handle, "the handle is the state");
    assert_eq!(q["code_challenge"], pkce_challenge(&verifier));
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", "client"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid number-verification:verify"),
        ("code_challenge_method", "S256"),
        ("prompt", "none"),
    ] {
        assert_eq!(q.get(k).map(String::as_str), Some(v), "{k}");
    }
    // Whoever starts the proof gets this URL: it names no number (no `login_hint`) and asks nothing
    // it does not use (no `nonce`: the ID token is never read).
    assert!(!q.contains_key("login_hint") && !q.contains_key("nonce"), "{q:?}");
    assert!(!url.as_str().contains("447700900123"), "{url}");
    // Two proofs never share a state or a verifier.
    let again = p.start(&phone(), CALLBACK, 10_080).await.expect("started");
    assert_ne!(again.handle, start.handle);
    // The redirect names the handle only in its valid form; its error is a fixed label.
    assert_eq!(p.presented_handle(&redirect(&[("state", &start.handle)])), Some(start.handle.clone()));
    assert_eq!(p.presented_handle(&redirect(&[("state", "short")])), None);
    assert_eq!(p.redirect_error(&redirect(&[("error", "login_required")])), Some("login_required"));
    assert_eq!(p.redirect_error(&redirect(&[("error", "<script>")])), Some("other"));
}

#[tokio::test]
async fn camara_number_verification_answers() {
    let verified = |v: bool| ResponseTemplate::new(200).set_body_json(json!({ "devicePhoneNumberVerified": v }));
    let issued = || {
        ResponseTemplate::new(200)
            .set_body_json(json!({ "access_token": "t3", "token_type": "Bearer", "expires_in": 300 }))
    };
    let report = |outcome| Ok(SilentReport { outcome, sim_checked: false });
    let cases = [
        (issued(), verified(true), report(CheckOutcome::Verified)),
        (issued(), verified(false), report(CheckOutcome::Mismatch)),
        (ResponseTemplate::new(400), verified(true), Err(("invalid_grant", false))),
        (ResponseTemplate::new(401), verified(true), Err(("unauthorized", true))),
        (
            issued(),
            ResponseTemplate::new(403)
                .set_body_json(json!({"status": 403, "code": "PERMISSION_DENIED", "message": "m"})),
            Err(("permission_denied", false)),
        ),
        (issued(), ResponseTemplate::new(503), Err(("unavailable", true))),
        // A redirect is never followed (to a `true` elsewhere), and an answer slower than the
        // client's timeout is not waited for.
        (issued(), ResponseTemplate::new(302).insert_header("location", "/elsewhere"), Err(("unavailable", true))),
        (issued(), verified(true).set_delay(std::time::Duration::from_secs(3)), Err(("timeout", true))),
        (issued(), ResponseTemplate::new(200).set_body_json(json!({})), Err(("invalid_response", true))),
        // A token answer without a token.
        (ResponseTemplate::new(200).set_body_json(json!({})), verified(true), Err(("invalid_response", true))),
    ];
    for (token, verify, want) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(basic_auth("client", "secret"))
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains("code=the-code"))
            .and(body_string_contains("code_verifier=the-verifier"))
            .and(body_string_contains("redirect_uri=https%3A%2F%2Fapp.example%2Fapi%2Freset%2Fcallback"))
            .respond_with(token)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/number-verification/v2/verify"))
            .and(header("authorization", "Bearer t3"))
            .and(body_json(json!({ "phoneNumber": "+447700900123" })))
            .respond_with(verify)
            .mount(&server)
            .await;
        let secret = SecretString::from("the-verifier".to_owned());
        let got = prover(&server)
            .complete("s", Some(&secret), &redirect(&[("code", "the-code"), ("state", "s")]), &phone(), 10_080)
            .await
            .map_err(|e| (e.kind(), e.is_failure()));
        assert_eq!(got, want);
    }
    // A redirect without its code reaches neither endpoint; nor can a code be read back.
    let server = MockServer::start().await;
    let p = prover(&server);
    let secret = SecretString::from("v".to_owned());
    let no_code = p.complete("s", Some(&secret), &redirect(&[("state", "s")]), &phone(), 10_080).await;
    assert_eq!(no_code.map_err(|e| e.kind()), Err("bad_redirect"));
    assert_eq!(p.read_back("s", 10_080).await, Ok(None));
}

mod vonage_silent_auth {
    use super::*;
    use simguard::adapters::vonage::{VonageConfig, VonageSilentAuth};

    const RETURN: &str = "https://app.example/reset/silent-return.html";
    const ID: &str = "c11236f4-00bf-4b89-84ba-88b25df97315";

    fn prover(server: &MockServer) -> VonageSilentAuth {
        let config = VonageConfig {
            base_url: url::Url::parse(&server.uri()).expect("url"),
            timeout: Duration::from_secs(2),
            brand: "simguard".into(),
        };
        let secrets = Arc::new(StaticSecrets::new(ProviderSecrets {
            vonage_api_key: Some("key".into()),
            vonage_api_secret: Some(SecretString::from("secret".to_owned())),
            ..ProviderSecrets::default()
        }));
        VonageSilentAuth::new(config, secrets, RETURN.into()).expect("client")
    }

    fn problem(status: u16) -> ResponseTemplate {
        ResponseTemplate::new(status).insert_header("content-type", "application/problem+json").set_body_json(
            json!({ "type": "https://developer.vonage.com/en/api-errors/verify-v2#x", "title": "t", "detail": "d" }),
        )
    }

    /// One `silent_auth` step to the number without `+`, with the return page as `redirect_url`;
    /// every documented refusal is a failure that hands over to the next prover.
    #[tokio::test]
    async fn start_answers() {
        for case in 0..start_cases("").len() {
            let server = MockServer::start().await;
            // A `check_url` on Vonage's own origin (here, the mock's).
            let check_url = format!("{}/v2/verify/{ID}/silent-auth/redirect", server.uri());
            let (answer, want) = start_cases(&check_url).swap_remove(case);
            Mock::given(method("POST"))
                .and(path("/v2/verify"))
                .and(basic_auth("key", "secret"))
                .and(body_json(json!({
                    "brand": "simguard",
                    "workflow": [{ "channel": "silent_auth", "to": "447700900123", "redirect_url": RETURN }],
                    "channel_timeout": 60,
                })))
                .respond_with(answer)
                .mount(&server)
                .await;
            let got = prover(&server).start(&phone(), CALLBACK, 10_080).await;
            let got = got.map(|s| {
                assert_eq!(s.handle, ID);
                assert_eq!(s.device_url.expose_secret(), check_url);
            });
            assert_eq!(got.map_err(|e| (e.kind(), e.is_failure())), want, "case {case}");
        }
    }

    /// Vonage's answers to a start, `check_url` being its own origin's.
    fn start_cases(check_url: &str) -> Vec<(ResponseTemplate, Started)> {
        let started = |body: serde_json::Value| ResponseTemplate::new(202).set_body_json(body);
        vec![
            (started(json!({ "request_id": ID, "check_url": check_url })), Ok(())),
            // No `check_url`: silent auth is not available for this request.
            (started(json!({ "request_id": ID })), Err(("unsupported_network", false))),
            (started(json!({ "request_id": "not-a-uuid", "check_url": check_url })), Err(("invalid_response", true))),
            // A `check_url` elsewhere than Vonage's origin: the device is never sent there.
            (
                started(json!({ "request_id": ID, "check_url": "http://operator.example/x" })),
                Err(("unsupported_network", false)),
            ),
            (
                started(json!({ "request_id": ID, "check_url": "https://api.nexmo.com.evil.example/v2/verify/x" })),
                Err(("unsupported_network", false)),
            ),
            (problem(412), Err(("unsupported_network", false))),
            (problem(422), Err(("invalid_number", false))),
            (problem(409), Err(("in_flight", false))),
            (problem(402), Err(("unavailable", true))),
            (problem(401), Err(("unauthorized", true))),
            (problem(429), Err(("rate_limited", false))),
            (problem(500), Err(("unavailable", true))),
            (ResponseTemplate::new(302).insert_header("location", "/elsewhere"), Err(("invalid_response", true))),
        ]
    }

    /// The redirect's fragment, as the return page posts it: the request id in its valid form, a
    /// code, or an error.
    #[tokio::test]
    async fn the_posted_fragment() {
        let server = MockServer::start().await;
        let p = prover(&server);
        assert_eq!(p.presented_handle(&redirect(&[("request_id", ID), ("code", "ab12c")])), Some(ID.to_owned()));
        assert_eq!(p.presented_handle(&redirect(&[("request_id", &ID.to_uppercase())])), None);
        assert_eq!(p.presented_handle(&redirect(&[("request_id", "x")])), None);
        assert_eq!(p.redirect_error(&redirect(&[("request_id", ID), ("code", "ab12c")])), None);
        assert_eq!(p.redirect_error(&redirect(&[("request_id", ID), ("error", "x")])), Some("other"));
        assert_eq!(p.redirect_error(&redirect(&[("request_id", ID)])), Some("no_code"));
        assert_eq!(p.redirect_error(&redirect(&[("request_id", ID), ("code", "<b>")])), Some("no_code"));
        assert_eq!(p.read_back(ID, 10_080).await, Ok(None), "Verify v2 has no read of a request");
    }

    /// One code submission: `completed` is the match (the SIM-swap gate follows); each documented
    /// refusal is no verdict — never a pass; failures are failures.
    #[tokio::test]
    async fn completion_answers() {
        let report = |outcome| Ok(SilentReport { outcome, sim_checked: false });
        let cases = [
            (
                ResponseTemplate::new(200).set_body_json(json!({ "request_id": ID, "status": "completed" })),
                report(CheckOutcome::Verified),
            ),
            (
                ResponseTemplate::new(200).set_body_json(json!({ "request_id": ID, "status": "something_new" })),
                Err(("invalid_response", true)),
            ),
            (problem(400), report(CheckOutcome::Error)),
            (problem(404), report(CheckOutcome::Error)),
            (problem(409), report(CheckOutcome::Error)),
            (problem(410), report(CheckOutcome::Error)),
            (problem(429), Err(("rate_limited", false))),
            (problem(401), Err(("unauthorized", true))),
            (problem(503), Err(("unavailable", true))),
            (ResponseTemplate::new(302).insert_header("location", "/elsewhere"), Err(("invalid_response", true))),
            (
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "status": "completed" }))
                    .set_delay(Duration::from_secs(3)),
                Err(("timeout", true)),
            ),
        ];
        for (answer, want) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(format!("/v2/verify/{ID}")))
                .and(basic_auth("key", "secret"))
                .and(body_json(json!({ "code": "ab12c" })))
                .respond_with(answer)
                .mount(&server)
                .await;
            let got = prover(&server)
                .complete(ID, None, &redirect(&[("request_id", ID), ("code", "ab12c")]), &phone(), 10_080)
                .await
                .map_err(|e| (e.kind(), e.is_failure()));
            assert_eq!(got, want);
        }
        // Without a code nothing is sent.
        let server = MockServer::start().await;
        let no_code = prover(&server).complete(ID, None, &redirect(&[("request_id", ID)]), &phone(), 10_080).await;
        assert_eq!(no_code.map_err(|e| e.kind()), Err("bad_redirect"));
        assert!(server.received_requests().await.unwrap_or_default().is_empty());
    }
}
