//! Provider credentials from one AWS Secrets Manager secret (a JSON object), cached in the execution
//! environment for at most five minutes, re-read at once when a provider refuses them (a rotation),
//! never cached when the read fails (docs/security.md R5).
//!
//! The secret's keys: `truid_client_id`, `truid_client_secret`, `vonage_api_key`,
//! `vonage_api_secret`, `twilio_account_sid`, `twilio_auth_token`, `password_pepper`, `result_signing_keys` (all strings,
//! all optional; a provider's calls fail closed without its keys).

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::Timestamp;
use crate::ports::{Clock, ProviderSecrets, SecretSource, SecretsError};

/// Every key the secret may hold (README.md, "Configuration").
pub const SECRET_KEYS: &[&str] = &[
    "truid_client_id",
    "truid_client_secret",
    "vonage_api_key",
    "vonage_api_secret",
    "twilio_account_sid",
    "twilio_auth_token",
    "camara_client_id",
    "camara_client_secret",
    "password_pepper",
    "result_signing_keys",
];

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
    camara_client_id: Option<String>,
    camara_client_secret: Option<String>,
    password_pepper: Option<String>,
    result_signing_keys: Option<String>,
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
        camara_client_id: s.camara_client_id.filter(|v| !v.is_empty()),
        camara_client_secret: secret(s.camara_client_secret),
        result_signing_keys: crate::adapters::result_tokens::parse_signing_keys(
            s.result_signing_keys.as_deref().unwrap_or(""),
        )
        .map_err(|e| SecretsError::Unavailable(e.to_string()))?,
    })
}

/// Why `simguard-admin put-secret` refuses an update.
#[derive(Debug, thiserror::Error)]
pub enum SecretUpdateError {
    /// The current or the new secret is not a JSON object.
    #[error("the {0} secret is not a JSON object")]
    NotAnObject(&'static str),
    /// The update would replace the pepper without `--replace-pepper`.
    #[error(
        "the update changes password_pepper, which makes every stored password unusable; leave it out to keep it, or pass --replace-pepper"
    )]
    PepperChange,
    /// The functions would refuse the merged secret.
    #[error(transparent)]
    Refused(#[from] SecretsError),
    /// The result-token keys could not sign: the verification API would answer 503 until mended.
    #[error(transparent)]
    SigningKeys(#[from] crate::adapters::result_tokens::KeyError),
}

/// The secret after an update (what `simguard-admin put-secret` stores): the update's keys over the
/// current ones, so one provider's credentials can be set without repeating the others. The
/// password pepper is kept unless `replace_pepper`: a new pepper makes every stored password hash
/// unverifiable. The result is a secret [`parse_secret`] accepts, whose result-token keys (if any)
/// have exactly one active key, distinct ids and P-256 keys.
pub fn merge_secret(current: Option<&str>, update: &str, replace_pepper: bool) -> Result<String, SecretUpdateError> {
    use serde_json::{Map, Value};
    let object = |json: &str, what: &'static str| -> Result<Map<String, Value>, SecretUpdateError> {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(SecretUpdateError::NotAnObject(what)),
        }
    };
    let update = object(update, "new")?;
    let mut merged = match current {
        Some(c) => object(c, "current")?,
        None => Map::new(),
    };
    let pepper = |m: &Map<String, Value>| m.get("password_pepper").and_then(Value::as_str).unwrap_or("").to_owned();
    let old_pepper = pepper(&merged);
    let new_pepper = pepper(&update);
    let changes_pepper = update.contains_key("password_pepper") && new_pepper != old_pepper;
    if changes_pepper && !old_pepper.is_empty() && !replace_pepper {
        return Err(SecretUpdateError::PepperChange);
    }
    merged.extend(update);
    let json = Value::Object(merged).to_string();
    let parsed = parse_secret(&json)?;
    if !parsed.result_signing_keys.is_empty() {
        crate::adapters::result_tokens::ResultTokens::new("", &parsed.result_signing_keys)?;
    }
    Ok(json)
}

/// The Secrets Manager client, or what builds it: a deployed function builds it when a request first
/// needs a credential, not at start-up.
pub type SecretsClient = crate::adapters::aws::AwsClient<aws_sdk_secretsmanager::Client>;

/// The secret in Secrets Manager, cached.
pub struct SecretsManagerSource {
    client: SecretsClient,
    secret_id: String,
    ttl_secs: i64,
    clock: Arc<dyn Clock>,
    /// Held across a refresh: concurrent callers wait for one read.
    cache: tokio::sync::Mutex<Option<(Arc<ProviderSecrets>, Timestamp)>>,
}

impl SecretsManagerSource {
    /// Reads `secret_id`, keeping it for `ttl_secs` (at most [`MAX_TTL_SECS`]).
    pub fn new(client: impl Into<SecretsClient>, secret_id: String, ttl_secs: i64, clock: Arc<dyn Clock>) -> Self {
        Self {
            client: client.into(),
            secret_id,
            ttl_secs: ttl_secs.clamp(0, MAX_TTL_SECS),
            clock,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<Arc<ProviderSecrets>, SecretsError> {
        let call = self.client.get().get_secret_value().secret_id(&self.secret_id).send();
        let answer = crate::adapters::aws::in_time(call)
            .await
            .ok_or_else(|| SecretsError::Unavailable("GetSecretValue: out of time".into()))?;
        let out = answer.map_err(|e| {
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
    fn an_update_keeps_the_other_keys_and_the_pepper() {
        let current = r#"{"truid_client_id":"","truid_client_secret":"","password_pepper":"generated"}"#;
        let merged = merge_secret(Some(current), r#"{"truid_client_id":"id","truid_client_secret":"s"}"#, false)
            .expect("merged");
        let v: serde_json::Value = serde_json::from_str(&merged).expect("json");
        assert_eq!(v["truid_client_id"], "id");
        assert_eq!(v["password_pepper"], "generated");
        // Changing the pepper needs saying so.
        let e = merge_secret(Some(current), r#"{"password_pepper":"other"}"#, false).expect_err("refused");
        assert!(e.to_string().contains("--replace-pepper"), "{e}");
        assert!(merge_secret(Some(current), r#"{"password_pepper":"other"}"#, true).is_ok());
        // The same pepper again, or a first one, is no change.
        assert!(merge_secret(Some(current), r#"{"password_pepper":"generated"}"#, false).is_ok());
        assert!(merge_secret(None, r#"{"password_pepper":"first"}"#, false).is_ok());
        // What the functions would refuse is refused before it is stored.
        assert!(merge_secret(Some(current), r#"{"twilio_sid":"typo"}"#, false).is_err());
        assert!(merge_secret(Some(current), "[]", false).is_err());
    }

    /// A rotation that would leave the verification API unable to sign is refused before it is
    /// stored: no active key, two, a shared id, or a key that is not P-256.
    #[test]
    fn an_update_with_unusable_signing_keys_is_refused() {
        use crate::adapters::result_tokens::{KeyError, format_signing_key, generate_key};
        let key = |kid: &str, active: bool| format_signing_key(&generate_key(kid, active).expect("key"));
        let update = |keys: String| format!(r#"{{"result_signing_keys":"{keys}"}}"#);
        let two = update(format!("{},{}", key("old", true), key("new", false)));
        assert!(merge_secret(None, &two, false).is_ok(), "one active and one published");
        for (keys, want) in [
            (key("a", false), KeyError::ActiveCount),
            (format!("{},{}", key("a", true), key("b", true)), KeyError::ActiveCount),
            (format!("{},{}", key("a", true), key("a", false)), KeyError::Kid),
            ("a:active:AAAA".to_owned(), KeyError::Invalid("a".into())),
            ("a:primary:AAAA".to_owned(), KeyError::Entry(1)),
        ] {
            let e = merge_secret(None, &update(keys), false).expect_err("refused");
            let named = match &e {
                SecretUpdateError::SigningKeys(k) => Some(k.clone()),
                SecretUpdateError::Refused(_) => Some(KeyError::Entry(1)),
                _ => None,
            };
            assert_eq!(named, Some(want), "{e}");
        }
    }

    #[test]
    fn the_listed_keys_are_the_parsed_keys() {
        let key = crate::adapters::result_tokens::generate_key("k1", true).expect("key");
        let value = |k: &str| match k {
            "result_signing_keys" => crate::adapters::result_tokens::format_signing_key(&key),
            _ => format!("v-{k}"),
        };
        let all: serde_json::Map<String, serde_json::Value> =
            SECRET_KEYS.iter().map(|k| ((*k).to_owned(), serde_json::json!(value(k)))).collect();
        let s = parse_secret(&serde_json::Value::Object(all).to_string()).expect("every listed key is known");
        assert_eq!(s.result_signing_keys.len(), 1);
        // A malformed entry is refused, without quoting it.
        let e = parse_secret(r#"{"result_signing_keys":"k1:active:not base64!"}"#).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("entry 1") && !e.contains("not base64")));
        assert_eq!(s.truid_client_id.as_deref(), Some("v-truid_client_id"));
        assert_eq!(s.twilio_account_sid.as_deref(), Some("v-twilio_account_sid"));
        assert!(s.password_pepper.is_some() && s.vonage_api_secret.is_some() && s.twilio_auth_token.is_some());
    }

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
