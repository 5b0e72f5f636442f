//! Credentials fixed at start-up: from the environment (a local run without Secrets Manager), or
//! given by the local stack and the tests.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::ports::{ProviderSecrets, SecretSource, SecretsError};

/// The environment variable for each key of the secret: the key, upper-cased, after `SIMGUARD_`.
pub fn env_var_for_key(key: &str) -> String {
    format!("SIMGUARD_{}", key.to_ascii_uppercase())
}

/// Secrets that never change while the process runs.
pub struct StaticSecrets(Arc<ProviderSecrets>);

impl StaticSecrets {
    /// These credentials.
    pub fn new(secrets: ProviderSecrets) -> Self {
        Self(Arc::new(secrets))
    }

    /// From `SIMGUARD_TRUID_CLIENT_ID`, `SIMGUARD_TRUID_CLIENT_SECRET`, … (the secret's keys,
    /// upper-cased; see [`env_var_for_key`]). Empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |key: &str| get(&env_var_for_key(key)).filter(|v| !v.is_empty());
        Self::new(ProviderSecrets {
            truid_client_id: var("truid_client_id"),
            truid_client_secret: var("truid_client_secret").map(SecretString::from),
            password_pepper: var("password_pepper").map(SecretString::from),
            vonage_api_key: var("vonage_api_key"),
            vonage_api_secret: var("vonage_api_secret").map(SecretString::from),
            twilio_account_sid: var("twilio_account_sid"),
            twilio_auth_token: var("twilio_auth_token").map(SecretString::from),
            camara_client_id: var("camara_client_id"),
            camara_client_secret: var("camara_client_secret").map(SecretString::from),
            // Unusable keys leave the verification API off, as none do (it says so when used).
            result_signing_keys: var("result_signing_keys")
                .and_then(|v| crate::adapters::result_tokens::parse_signing_keys(&v).ok())
                .unwrap_or_default(),
        })
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn load(&self, _force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_key_has_its_variable() {
        for key in crate::adapters::secrets_manager::SECRET_KEYS {
            let var = env_var_for_key(key);
            let value = match *key {
                "result_signing_keys" => {
                    use crate::adapters::result_tokens::{format_signing_key, generate_key};
                    format_signing_key(&generate_key("k1", true).expect("key"))
                }
                _ => "value".to_owned(),
            };
            let s = StaticSecrets::from_lookup(|k| (k == var).then(|| value.clone()));
            let loaded = s.load(false).await.expect("static");
            let set = [
                loaded.truid_client_id.is_some(),
                loaded.truid_client_secret.is_some(),
                loaded.password_pepper.is_some(),
                loaded.vonage_api_key.is_some(),
                loaded.vonage_api_secret.is_some(),
                loaded.twilio_account_sid.is_some(),
                loaded.twilio_auth_token.is_some(),
                loaded.camara_client_id.is_some(),
                loaded.camara_client_secret.is_some(),
                !loaded.result_signing_keys.is_empty(),
            ];
            assert_eq!(set.iter().filter(|b| **b).count(), 1, "{var} sets exactly its key");
        }
    }
}
