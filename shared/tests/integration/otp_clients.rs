//! The OTP clients: every documented provider answer maps to a typed outcome (wiremock), requests
//! have the provider's shape, and refused credentials are re-read once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::json;
use simguard::adapters::twilio::{Twilio, TwilioConfig};
use simguard::adapters::vonage::{VonageConfig, VonageV1, VonageV2};
use simguard::domain::Phone;
use simguard::ports::{
    OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, ProviderSecrets, SecretSource, SecretsError, SmsSender,
    TwilioServiceSid,
};
use wiremock::matchers::{basic_auth, body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SID: &str = "VAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const VE: &str = "VEbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const REQ: &str = "abcdef0123456789abcdef0123456789";

/// Secrets that can rotate; counts forced refreshes.
struct Keys {
    current: Mutex<ProviderSecrets>,
    forced: Mutex<u32>,
}

impl Keys {
    fn new(key: &str) -> Arc<Keys> {
        Arc::new(Keys { current: Mutex::new(secrets(key)), forced: Mutex::new(0) })
    }
}

fn secrets(key: &str) -> ProviderSecrets {
    ProviderSecrets {
        vonage_api_key: Some("key".into()),
        vonage_api_secret: Some(SecretString::from(key.to_owned())),
        twilio_account_sid: Some("ACcccccccccccccccccccccccccccccccc".into()),
        twilio_auth_token: Some(SecretString::from(key.to_owned())),
        ..ProviderSecrets::default()
    }
}

#[async_trait]
impl SecretSource for Keys {
    async fn load(&self, force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError> {
        if force_refresh {
            *self.forced.lock().map_err(|_| SecretsError::Unavailable("lock".into()))? += 1;
        }
        Ok(Arc::new(self.current.lock().map_err(|_| SecretsError::Unavailable("lock".into()))?.clone()))
    }
}

fn phone() -> Phone {
    Phone::from_e164("+447700900123").expect("phone")
}
fn code() -> OtpCode {
    OtpCode::parse("123456").expect("code")
}
fn reference(r: &str) -> OtpReference {
    OtpReference::parse(r).expect("reference")
}
fn url(server: &MockServer) -> url::Url {
    url::Url::parse(&server.uri()).expect("url")
}
fn vonage_config(server: &MockServer) -> VonageConfig {
    VonageConfig { base_url: url(server), timeout: Duration::from_secs(2), brand: "simguard".into() }
}

#[tokio::test]
async fn vonage_v1_statuses() {
    let starts = [
        (json!({"request_id": REQ, "status": "0"}), Ok(reference(REQ))),
        (
            json!({"request_id": REQ, "status": "10", "error_text": "Concurrent verifications to the same number are not allowed"}),
            Err(OtpError::InFlight { reference: Some(reference(REQ)) }),
        ),
        (json!({"status": "1", "error_text": "Throttled"}), Err(OtpError::RateLimited { retry_after_secs: None })),
        (
            json!({"status": "3", "error_text": "Invalid value for number"}),
            Err(OtpError::NumberRefused { kind: "invalid_number" }),
        ),
        (json!({"status": "6", "error_text": "not routable"}), Err(OtpError::NumberRefused { kind: "unroutable" })),
        (
            json!({"status": "7", "error_text": "blacklisted", "network": "23410"}),
            Err(OtpError::NumberRefused { kind: "blocked" }),
        ),
        (
            json!({"status": "15", "error_text": "unsupported network"}),
            Err(OtpError::NumberRefused { kind: "unsupported_network" }),
        ),
        (json!({"status": "29", "error_text": "demo mode"}), Err(OtpError::NumberRefused { kind: "not_permitted" })),
        (
            json!({"status": "9", "error_text": "Partner quota exceeded"}),
            Err(OtpError::Unavailable("vonage status 9".into())),
        ),
        (json!({"status": 0, "request_id": REQ}), Ok(reference(REQ))),
        (json!({"status": "42"}), Err(OtpError::InvalidResponse("unknown status".into()))),
        (json!({"status": "0", "request_id": "../../x"}), Err(OtpError::InvalidResponse("request_id".into()))),
    ];
    for (body, want) in starts {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/verify/json"))
            .and(basic_auth("key", "k1"))
            .and(body_string_contains("number=447700900123"))
            .and(body_string_contains("workflow_id=6"))
            .and(body_string_contains("code_length=6"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let client = VonageV1::new(vonage_config(&server), Keys::new("k1")).expect("client");
        assert_eq!(client.start(&phone(), "ref").await, want, "{body}");
    }
    let checks = [
        ("0", Ok(OtpCheck::Approved)),
        ("16", Ok(OtpCheck::Wrong)),
        ("17", Ok(OtpCheck::TooManyAttempts)),
        ("6", Ok(OtpCheck::Expired)),
        ("1", Err(OtpError::RateLimited { retry_after_secs: None })),
        ("5", Err(OtpError::Unavailable("vonage status 5".into()))),
    ];
    for (status, want) in checks {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/verify/check/json"))
            .and(body_string_contains(format!("request_id={REQ}")))
            .and(body_string_contains("code=123456"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"request_id": REQ, "status": status})))
            .expect(1)
            .mount(&server)
            .await;
        let client = VonageV1::new(vonage_config(&server), Keys::new("k1")).expect("client");
        assert_eq!(client.check(&reference(REQ), &phone(), &code()).await, want, "status {status}");
    }
}

/// Bad credentials (v1 status 4, in a 200 body): the secret is re-read once, then a refusal.
#[tokio::test]
async fn refused_credentials_are_reread_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/verify/json"))
        .and(basic_auth("key", "old"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "4", "error_text": "Bad Credentials"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/verify/json"))
        .and(basic_auth("key", "new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "0", "request_id": REQ})))
        .expect(1)
        .mount(&server)
        .await;
    let keys = Keys::new("old");
    let client = VonageV1::new(vonage_config(&server), keys.clone()).expect("client");
    assert_eq!(client.start(&phone(), "r").await, Err(OtpError::Unauthorized), "rotated nowhere: refused");
    assert_eq!(*keys.forced.lock().expect("lock"), 1);
    *keys.current.lock().expect("lock") = secrets("new");
    assert_eq!(client.start(&phone(), "r").await, Ok(reference(REQ)), "the rotated key is picked up");
}

#[tokio::test]
async fn vonage_v2_answers() {
    let id = "c11236f4-00bf-4b89-84ba-88b25df97315";
    let starts = [
        (ResponseTemplate::new(202).set_body_json(json!({"request_id": id})), Ok(reference(id))),
        (
            ResponseTemplate::new(409).set_body_json(json!({"title": "Conflict", "detail": "Concurrent verifications to the same number are not allowed", "request_id": id})),
            Err(OtpError::InFlight { reference: Some(reference(id)) }),
        ),
        (ResponseTemplate::new(422).set_body_json(json!({"title": "Invalid params", "invalid_parameters": [{"name": "to", "reason": "bad"}]})), Err(OtpError::NumberRefused { kind: "invalid_number" })),
        (ResponseTemplate::new(429).insert_header("retry-after", "9"), Err(OtpError::RateLimited { retry_after_secs: Some(9) })),
        (ResponseTemplate::new(402), Err(OtpError::Unavailable("vonage low balance".into()))),
        (ResponseTemplate::new(500), Err(OtpError::Unavailable("status 500".into()))),
    ];
    for (resp, want) in starts {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v2/verify"))
            .and(basic_auth("key", "k1"))
            .and(body_json(json!({
                "brand": "simguard", "workflow": [{"channel": "sms", "to": "447700900123"}],
                "code_length": 6, "channel_timeout": 300, "client_ref": "ref"
            })))
            .respond_with(resp)
            .expect(1)
            .mount(&server)
            .await;
        let client = VonageV2::new(vonage_config(&server), Keys::new("k1")).expect("client");
        assert_eq!(client.start(&phone(), "ref").await, want);
    }
    let checks = [
        (ResponseTemplate::new(200).set_body_json(json!({"request_id": id, "status": "completed"})), Ok(OtpCheck::Approved)),
        (ResponseTemplate::new(400).set_body_json(json!({"title": "Invalid Code"})), Ok(OtpCheck::Wrong)),
        (
            ResponseTemplate::new(410).set_body_json(json!({"title": "Invalid Code", "detail": "An incorrect code has been provided too many times. Workflow terminated."})),
            Ok(OtpCheck::TooManyAttempts),
        ),
        (ResponseTemplate::new(410).set_body_json(json!({"title": "Gone", "detail": "Request expired"})), Ok(OtpCheck::Expired)),
        (ResponseTemplate::new(404), Ok(OtpCheck::Expired)),
        (ResponseTemplate::new(200).set_body_json(json!({"request_id": id, "status": "pending"})), Err(OtpError::InvalidResponse("status".into()))),
    ];
    for (resp, want) in checks {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v2/verify/{id}")))
            .and(body_json(json!({"code": "123456"})))
            .respond_with(resp)
            .expect(1)
            .mount(&server)
            .await;
        let client = VonageV2::new(vonage_config(&server), Keys::new("k1")).expect("client");
        assert_eq!(client.check(&reference(id), &phone(), &code()).await, want);
    }
}

fn twilio_error(status: u16, code: u32) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "message": "m", "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}))
}

#[tokio::test]
async fn twilio_answers() {
    let starts = [
        (
            ResponseTemplate::new(201).set_body_json(json!({"sid": VE, "status": "pending", "valid": false})),
            Ok(reference(VE)),
        ),
        (twilio_error(400, 60200), Err(OtpError::NumberRefused { kind: "invalid_number" })),
        (twilio_error(403, 60205), Err(OtpError::NumberRefused { kind: "landline" })),
        (twilio_error(429, 60203), Err(OtpError::RateLimited { retry_after_secs: None })),
        (twilio_error(429, 60212), Err(OtpError::RateLimited { retry_after_secs: None })),
        (twilio_error(404, 20404), Err(OtpError::Unavailable("status 404 code Some(20404)".into()))),
        (
            ResponseTemplate::new(201).set_body_json(json!({"sid": "XX123"})),
            Err(OtpError::InvalidResponse("sid".into())),
        ),
    ];
    for (resp, want) in starts {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v2/Services/{SID}/Verifications")))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string_contains("To=%2B447700900123"))
            .and(body_string_contains("Channel=sms"))
            .respond_with(resp)
            .expect(1)
            .mount(&server)
            .await;
        let client = Twilio::new(
            TwilioConfig {
                base_url: url(&server),
                timeout: Duration::from_secs(2),
                service_sid: TwilioServiceSid::parse(SID).expect("sid"),
            },
            Keys::new("k1"),
        )
        .expect("client");
        assert_eq!(client.start(&phone(), "r").await, want);
    }
    let checks = [
        (
            ResponseTemplate::new(200).set_body_json(json!({"sid": VE, "status": "approved", "valid": true})),
            Ok(OtpCheck::Approved),
        ),
        (
            ResponseTemplate::new(201).set_body_json(json!({"sid": VE, "status": "approved", "valid": true})),
            Ok(OtpCheck::Approved),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"sid": VE, "status": "pending", "valid": false})),
            Ok(OtpCheck::Wrong),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"sid": VE, "status": "approved", "valid": false})),
            Err(OtpError::InvalidResponse("status".into())),
        ),
        (twilio_error(429, 60202), Ok(OtpCheck::TooManyAttempts)),
        (twilio_error(404, 20404), Ok(OtpCheck::Expired)),
        (
            ResponseTemplate::new(200).set_body_json(json!({"sid": VE, "status": "canceled", "valid": false})),
            Ok(OtpCheck::Expired),
        ),
    ];
    for (resp, want) in checks {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v2/Services/{SID}/VerificationCheck")))
            .and(body_string_contains(format!("VerificationSid={VE}")))
            .and(body_string_contains("Code=123456"))
            .respond_with(resp)
            .expect(1)
            .mount(&server)
            .await;
        let client = Twilio::new(
            TwilioConfig {
                base_url: url(&server),
                timeout: Duration::from_secs(2),
                service_sid: TwilioServiceSid::parse(SID).expect("sid"),
            },
            Keys::new("k1"),
        )
        .expect("client");
        assert_eq!(client.check(&reference(VE), &phone(), &code()).await, want);
    }
    // A malformed Service SID cannot even be configured (it would be put into the URL path).
    assert!(TwilioServiceSid::parse("VA12").is_none());
}

/// A notice (no code) through each provider's messaging API: the request's shape, and every
/// documented answer as a typed outcome.
#[tokio::test]
async fn notices_go_through_the_messaging_apis() {
    const AC: &str = "ACcccccccccccccccccccccccccccccccc";
    let twilio_answers = [
        (ResponseTemplate::new(201).set_body_json(json!({"sid": "SM0123", "status": "queued"})), Ok(())),
        (ResponseTemplate::new(201).set_body_json(json!({"sid": "SM0123", "status": "accepted"})), Ok(())),
        (
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM0123", "status": "failed"})),
            Err(OtpError::Unavailable("message failed".into())),
        ),
        (
            ResponseTemplate::new(201).set_body_json(json!({"sid": "XX0123"})),
            Err(OtpError::InvalidResponse("sid".into())),
        ),
        (twilio_error(400, 21211), Err(OtpError::NumberRefused { kind: "invalid_number" })),
        (twilio_error(400, 21610), Err(OtpError::NumberRefused { kind: "opted_out" })),
        (twilio_error(400, 21408), Err(OtpError::NumberRefused { kind: "blocked" })),
        (twilio_error(429, 20429), Err(OtpError::RateLimited { retry_after_secs: None })),
    ];
    for (sender, field) in [
        ("MG0123456789abcdef0123456789abcdef", "MessagingServiceSid=MG0123456789abcdef0123456789abcdef"),
        ("+447700900999", "From=%2B447700900999"),
    ] {
        for (resp, want) in twilio_answers.iter().cloned() {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(format!("/2010-04-01/Accounts/{AC}/Messages.json")))
                .and(basic_auth(AC, "k1"))
                .and(body_string_contains("To=%2B447700900123"))
                .and(body_string_contains("Body=Example%3A+changed"))
                .and(body_string_contains(field))
                .respond_with(resp)
                .expect(1)
                .mount(&server)
                .await;
            let client = Twilio::new(
                TwilioConfig {
                    base_url: url(&server),
                    timeout: Duration::from_secs(2),
                    service_sid: TwilioServiceSid::parse(SID).expect("sid"),
                },
                Keys::new("k1"),
            )
            .expect("client");
            let from = SmsSender::parse(sender).expect("sender");
            assert_eq!(client.send_notice(&phone(), &from, "Example: changed").await, want, "{sender}");
        }
    }
    let part = |status: &str| json!({"message-count": "1", "messages": [{"status": status, "message-id": "m1"}]});
    let vonage_answers = [
        (part("0"), Ok(())),
        (
            json!({"message-count": "2", "messages": [{"status": "0"}, {"status": "5", "error-text": "Internal Error"}]}),
            Err(OtpError::Unavailable("sms status 5".into())),
        ),
        (part("1"), Err(OtpError::RateLimited { retry_after_secs: None })),
        (part("4"), Err(OtpError::Unauthorized)),
        (part("6"), Err(OtpError::NumberRefused { kind: "unroutable" })),
        (part("7"), Err(OtpError::NumberRefused { kind: "barred" })),
        (part("29"), Err(OtpError::NumberRefused { kind: "not_allowed" })),
        (json!({"message-count": "0", "messages": []}), Err(OtpError::InvalidResponse("messages".into()))),
    ];
    for (body, want) in vonage_answers {
        for v2 in [false, true] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/sms/json"))
                .and(basic_auth("key", "k1"))
                .and(body_string_contains("to=447700900123"))
                .and(body_string_contains("from=Example"))
                .and(body_string_contains("text=Example%3A+changed"))
                .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
                // Credentials refused are re-read and tried once more.
                .expect(if want == Err(OtpError::Unauthorized) { 2 } else { 1 })
                .mount(&server)
                .await;
            let from = SmsSender::parse("Example").expect("sender");
            let got = if v2 {
                VonageV2::new(vonage_config(&server), Keys::new("k1"))
                    .expect("client")
                    .send_notice(&phone(), &from, "Example: changed")
                    .await
            } else {
                VonageV1::new(vonage_config(&server), Keys::new("k1"))
                    .expect("client")
                    .send_notice(&phone(), &from, "Example: changed")
                    .await
            };
            assert_eq!(got, want, "{body}");
        }
    }
    // Senders are one of the three forms, nothing else goes into a request.
    for bad in ["", "MG0123456789ab", "+0123", "12345678", "far too long a name", " Example", "Ex&mple"] {
        assert!(SmsSender::parse(bad).is_none(), "{bad:?}");
    }
}

/// A code check is never repeated after a timeout: each call would use up an attempt.
#[tokio::test]
async fn checks_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/verify/check/json"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/verify/json"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let config = VonageConfig { timeout: Duration::from_millis(200), ..vonage_config(&server) };
    let client = VonageV1::new(config, Keys::new("k1")).expect("client");
    assert_eq!(client.check(&reference(REQ), &phone(), &code()).await, Err(OtpError::Timeout));
    assert_eq!(
        client.start(&phone(), "r").await,
        Err(OtpError::Unavailable("status 503".into())),
        "a send is not retried either"
    );
}
