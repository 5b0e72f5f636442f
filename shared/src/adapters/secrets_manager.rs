//! Provider credentials from one AWS Secrets Manager secret (a JSON object), cached in the execution
//! environment for at most five minutes, re-read at once when a provider refuses them (a rotation),
//! never cached when the read fails (SECURITY.md §3.5).
//!
//! The secret's keys: `truid_client_id`, `truid_client_secret`, `vonage_api_key`,
//! `vonage_api_secret`, `twilio_account_sid`, `twilio_auth_token`, `password_pepper` (all strings,
//! all optional; a provider's calls fail closed without its keys).

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

use crate::clock::{Clock, Timestamp};
use crate::ports::{ProviderSecrets, SecretSource, SecretsError};

/// The cap on the cache's life (the Parameters and Secrets Lambda Extension's maximum, too).
pub const MAX_TTL_SECS: i64 = 300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretJson {
    truid_client_id: Option<String>,
    truid_client_secret: Option<String>,
    vonage_api_key: Option<String>,
    vonage_api_secret: Option<String>,
    twilio_account_sid: Option<String>,
    twilio_auth_token: Option<String>,
    password_pepper: Option<String>,
}

/// Parses the secret's JSON. Unknown keys are refused: a misspelt key would otherwise silently
/// leave a provider without credentials. The error never quotes the value.
pub fn parse_secret(json: &str) -> Result<ProviderSecrets, SecretsError> {
    let s: SecretJson = serde_json::from_str(json).map_err(|e| {
        let why = match e.classify() {
            serde_json::error::Category::Data => "unknown key or a value that is not a string",
            _ => "not a JSON object",
        };
        SecretsError::Unavailable(format!("the secret is {why}"))
    })?;
    let secret = |v: Option<String>| v.filter(|v| !v.is_empty()).map(SecretString::from);
    Ok(ProviderSecrets {
        truid_client_id: s.truid_client_id.filter(|v| !v.is_empty()),
        truid_client_secret: secret(s.truid_client_secret),
        password_pepper: secret(s.password_pepper),
        vonage_api_key: s.vonage_api_key.filter(|v| !v.is_empty()),
        vonage_api_secret: secret(s.vonage_api_secret),
        twilio_account_sid: s.twilio_account_sid.filter(|v| !v.is_empty()),
        twilio_auth_token: secret(s.twilio_auth_token),
    })
}

pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    ttl_secs: i64,
    clock: Arc<dyn Clock>,
    /// Held across a refresh: concurrent callers wait for one read.
    cache: tokio::sync::Mutex<Option<(Arc<ProviderSecrets>, Timestamp)>>,
}

impl SecretsManagerSource {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        ttl_secs: i64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            client,
            secret_id,
            ttl_secs: ttl_secs.clamp(0, MAX_TTL_SECS),
            clock,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<Arc<ProviderSecrets>, SecretsError> {
        let out = self.client.get_secret_value().secret_id(&self.secret_id).send().await.map_err(|e| {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            SecretsError::Unavailable(format!("GetSecretValue: {}", e.code().unwrap_or("transport")))
        })?;
        let json =
            out.secret_string().ok_or_else(|| SecretsError::Unavailable("the secret has no string value".into()))?;
        Ok(Arc::new(parse_secret(json)?))
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn load(&self, force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some((secrets, fetched)) = cache.as_ref()
            && !force_refresh
            && now.0 - fetched.0 < self.ttl_secs
        {
            return Ok(secrets.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                *cache = Some((fresh.clone(), now));
                Ok(fresh)
            }
            Err(e) => {
                tracing::error!(event = "secret_unavailable", error = %e, "provider credentials could not be read");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_keys_only() {
        let s = parse_secret(r#"{"truid_client_id":"id","truid_client_secret":"s","twilio_auth_token":""}"#)
            .expect("valid");
        assert_eq!(s.truid_client_id.as_deref(), Some("id"));
        assert!(s.truid_client_secret.is_some() && s.twilio_auth_token.is_none());
        let e = parse_secret(r#"{"truid_clientid":"id"}"#).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("unknown key"), "{e}");
        let e = parse_secret(r#"{"truid_client_secret":"hunter2-canary","extra":1}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(parse_secret("not json").is_err());
    }
}
