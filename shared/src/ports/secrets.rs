//! Provider credentials. One JSON secret holds them all (deployed: Secrets Manager; locally: the
//! environment). Callers ask again with `force_refresh` after a provider says 401/403, so a rotated
//! key is picked up without a cold start.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

#[derive(Clone, Default)]
pub struct ProviderSecrets {
    pub truid_client_id: Option<String>,
    pub truid_client_secret: Option<SecretString>,
    /// Optional Argon2 pepper (SECURITY.md D4).
    pub password_pepper: Option<SecretString>,
    /// Vonage (Verify v1 and v2, Basic auth).
    pub vonage_api_key: Option<String>,
    pub vonage_api_secret: Option<SecretString>,
    /// Twilio (Verify v2, Basic auth): an Account SID and Auth Token, or an API key SID and secret.
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<SecretString>,
}

impl std::fmt::Debug for ProviderSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSecrets")
            .field("truid_client_id", &self.truid_client_id)
            .field("truid_client_secret", &self.truid_client_secret.as_ref().map(|_| "<redacted>"))
            .field("password_pepper", &self.password_pepper.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    #[error("secret unavailable: {0}")]
    Unavailable(String),
    #[error("secret is missing the key {0}")]
    MissingKey(&'static str),
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn load(&self, force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError>;
}

/// Secrets fixed at start-up (local stack, tests, environment variables).
pub struct StaticSecrets(Arc<ProviderSecrets>);

impl StaticSecrets {
    pub fn new(secrets: ProviderSecrets) -> Self {
        Self(Arc::new(secrets))
    }
}

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn load(&self, _force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError> {
        Ok(self.0.clone())
    }
}
