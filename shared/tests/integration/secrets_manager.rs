//! The Secrets Manager adapter against moto's server: one JSON secret, cached ≤ 300 s, re-read on
//! demand (a provider said 401), never caching a failure.

use std::sync::Arc;

use secrecy::ExposeSecret;
use simguard::adapters::clock::ManualClock;
use simguard::adapters::secrets_manager::SecretsManagerSource;
use simguard::domain::Timestamp;
use simguard::ports::{Clock, SecretSource, SecretsError};

async fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&crate::support::moto::aws_config().await)
}

async fn put(c: &aws_sdk_secretsmanager::Client, id: &str, value: &str, create: bool) {
    if create {
        c.create_secret().name(id).secret_string(value).send().await.expect("create secret");
    } else {
        c.put_secret_value().secret_id(id).secret_string(value).send().await.expect("put secret value");
    }
}

#[tokio::test]
async fn reads_caches_and_refreshes() {
    let c = client().await;
    let id = format!("simguard/test/{}", std::process::id());
    put(&c, &id, r#"{"truid_client_id":"id-1","truid_client_secret":"secret-1","twilio_auth_token":"tok"}"#, true)
        .await;
    let clock = ManualClock::new(Timestamp(1_800_000_000));
    let source = SecretsManagerSource::new(c.clone(), id.clone(), 300, Arc::new(clock.clone()));
    let first = source.load(false).await.expect("load");
    assert_eq!(first.truid_client_id.as_deref(), Some("id-1"));
    assert_eq!(first.truid_client_secret.as_ref().map(|s| s.expose_secret().to_owned()), Some("secret-1".into()));
    assert!(first.vonage_api_key.is_none());

    // Rotated: the cache serves the old value until its TTL, unless asked to re-read.
    put(&c, &id, r#"{"truid_client_id":"id-2","truid_client_secret":"secret-2"}"#, false).await;
    clock.advance(299);
    assert_eq!(source.load(false).await.expect("load").truid_client_id.as_deref(), Some("id-1"), "cached");
    assert_eq!(source.load(true).await.expect("load").truid_client_id.as_deref(), Some("id-2"), "forced");
    put(&c, &id, r#"{"truid_client_id":"id-3"}"#, false).await;
    clock.advance(300);
    assert_eq!(source.load(false).await.expect("load").truid_client_id.as_deref(), Some("id-3"), "expired after 300 s");
}

#[tokio::test]
async fn the_ttl_is_capped_at_five_minutes() {
    let c = client().await;
    let id = format!("simguard/test/cap/{}", std::process::id());
    put(&c, &id, r#"{"truid_client_id":"a"}"#, true).await;
    let clock = ManualClock::new(Timestamp(1_800_000_000));
    let source = SecretsManagerSource::new(c.clone(), id.clone(), 3600, Arc::new(clock.clone()));
    source.load(false).await.expect("load");
    put(&c, &id, r#"{"truid_client_id":"b"}"#, false).await;
    clock.advance(300);
    assert_eq!(source.load(false).await.expect("load").truid_client_id.as_deref(), Some("b"));
}

#[tokio::test]
async fn failures_are_errors_and_never_cached() {
    let c = client().await;
    let clock = ManualClock::new(Timestamp(1_800_000_000));
    let missing = SecretsManagerSource::new(c.clone(), "simguard/does-not-exist".into(), 300, Arc::new(clock.clone()));
    let e = missing.load(false).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("ResourceNotFoundException"), "{e}");

    // A malformed secret is refused (and the value is not quoted); once fixed, it is read at once.
    let id = format!("simguard/test/bad/{}", std::process::id());
    put(&c, &id, r#"{"truid_client_secret":"canary-7f3a","truid_clientid":"typo"}"#, true).await;
    let source = SecretsManagerSource::new(c.clone(), id.clone(), 300, Arc::new(clock.clone()));
    match source.load(false).await {
        Err(SecretsError::Unavailable(why)) => assert!(!why.contains("canary"), "{why}"),
        other => panic!("{other:?}"),
    }
    put(&c, &id, r#"{"truid_client_id":"fixed"}"#, false).await;
    assert_eq!(
        source.load(false).await.expect("load").truid_client_id.as_deref(),
        Some("fixed"),
        "the failure was not cached"
    );
}

/// A result-token key rollover through Secrets Manager (moto), each step what `simguard-admin
/// rotate-signing-key` stores: the next key is published before it signs, and a token signed by the
/// old key still verifies after the switch; the old key leaves the JWKS only when retired. No step
/// leaves the functions without a key to sign with.
#[tokio::test]
async fn a_signing_key_rollover_never_fails_a_live_token() {
    use simguard::adapters::result_tokens::{Rollover, SecretSigner, roll_signing_keys};
    use simguard::adapters::secrets_manager::merge_secret;
    use simguard::domain::result_token::{ProofMethod, Purpose, ResultClaims, SimChangeVerdict};
    use simguard::ports::ResultSigner;

    let c = client().await;
    let id = format!("simguard/test/rollover-{}", std::process::id());
    let first = roll_signing_keys("", Rollover::Stage("k1")).expect("first key");
    put(&c, &id, &serde_json::json!({ "result_signing_keys": first }).to_string(), true).await;
    // What the admin command does for a step: the secret's keys, rolled, merged back in.
    let step = |step: Rollover<'static>| {
        let c = c.clone();
        let id = id.clone();
        async move {
            let current = c.get_secret_value().secret_id(&id).send().await.expect("read");
            let current = current.secret_string().expect("a string").to_owned();
            let keys: serde_json::Value = serde_json::from_str(&current).expect("json");
            let rolled = roll_signing_keys(keys["result_signing_keys"].as_str().unwrap_or(""), step).expect("rolled");
            let update = serde_json::json!({ "result_signing_keys": rolled }).to_string();
            put(&c, &id, &merge_secret(Some(&current), &update, false).expect("merged"), false).await;
        }
    };
    let clock = ManualClock::new(Timestamp(1_800_000_000));
    // The functions' view: the secret re-read after its TTL (10 s here).
    let source = Arc::new(SecretsManagerSource::new(c.clone(), id.clone(), 10, Arc::new(clock.clone())));
    let signer = SecretSigner::new("https://app.example", source);
    let now = clock.now();
    let claims = |jti: &str| ResultClaims {
        iss: "https://app.example".into(),
        aud: "shop".into(),
        sub: "vrf_1".into(),
        phone_hash: "h".into(),
        purpose: Purpose::Login,
        method: ProofMethod::Sms,
        sim_change: SimChangeVerdict::NotChanged,
        iat: now.0,
        exp: now.0 + ResultClaims::LIFE_SECS,
        jti: jti.into(),
    };
    let kid = |t: &str| jsonwebtoken::decode_header(t).expect("header").kid.expect("kid");
    let kids = |jwks: serde_json::Value| -> Vec<String> {
        jwks["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().expect("kid").to_owned()).collect()
    };
    let old = signer.sign(&claims("old")).await.expect("signed");
    assert_eq!(kid(&old), "k1");

    step(Rollover::Stage("k2")).await;
    clock.advance(11);
    assert_eq!(kids(signer.jwks().await.expect("jwks")), ["k1", "k2"], "published before it signs");
    assert_eq!(kid(&signer.sign(&claims("a")).await.expect("signed")), "k1");

    step(Rollover::Promote("k2")).await;
    clock.advance(11);
    let new = signer.sign(&claims("new")).await.expect("signed");
    assert_eq!(kid(&new), "k2", "the new key signs");
    assert!(signer.verify(&old, "shop", clock.now()).await.is_ok(), "a token of the old key still verifies");

    // The old key's last tokens expire, then it is retired.
    clock.advance(ResultClaims::LIFE_SECS);
    step(Rollover::Retire("k1")).await;
    clock.advance(11);
    assert_eq!(kids(signer.jwks().await.expect("jwks")), ["k2"]);
    let newest = signer.sign(&claims("newest")).await.expect("signed");
    assert_eq!(kid(&newest), "k2");
    assert!(signer.verify(&old, "shop", clock.now()).await.is_err(), "retired (and expired)");
}
