//! The Secrets Manager adapter against moto's server: one JSON secret, cached ≤ 300 s, re-read on
//! demand (a provider said 401), never caching a failure.

use std::sync::Arc;

use secrecy::ExposeSecret;
use simguard::adapters::clock::ManualClock;
use simguard::adapters::secrets_manager::SecretsManagerSource;
use simguard::domain::Timestamp;
use simguard::ports::{SecretSource, SecretsError};

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
