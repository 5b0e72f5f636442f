//! Provider credentials. One JSON secret holds them all (deployed: Secrets Manager; locally: the
//! environment). Callers ask again with `force_refresh` after a provider says 401/403, so a rotated
//! key is picked up without a cold start.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{SecretSlice, SecretString};

/// The credentials in the secret. Every key is optional: a provider's calls fail closed without
/// its keys.
#[derive(Clone, Default)]
pub struct ProviderSecrets {
    /// tru.ID project client id.
    pub truid_client_id: Option<String>,
    /// tru.ID project client secret.
    pub truid_client_secret: Option<SecretString>,
    /// Optional Argon2 pepper (docs/security.md D4).
    pub password_pepper: Option<SecretString>,
    /// Vonage API key (Verify v1 and v2, Basic auth).
    pub vonage_api_key: Option<String>,
    /// Vonage API secret.
    pub vonage_api_secret: Option<SecretString>,
    /// Twilio Account SID, or an API key SID.
    pub twilio_account_sid: Option<String>,
    /// Twilio Auth Token, or the API key's secret.
    pub twilio_auth_token: Option<SecretString>,
    /// The CAMARA operator's or aggregator's OAuth 2.0 client id (SIM Swap).
    pub camara_client_id: Option<String>,
    /// Its client secret.
    pub camara_client_secret: Option<SecretString>,
    /// The verification API's result-token keys: one active, the others published only (a
    /// rollover). Empty: the verification API is off.
    pub result_signing_keys: Vec<SigningKey>,
}

/// A result-token signing key as the secret holds it.
#[derive(Clone)]
pub struct SigningKey {
    /// Its id in the JWKS and the tokens' headers.
    pub kid: String,
    /// PKCS#8 DER of a P-256 key. Secret.
    pub pkcs8: SecretSlice<u8>,
    /// Whether it signs new tokens (exactly one does); the others are published only.
    pub active: bool,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("active", &self.active).finish_non_exhaustive()
    }
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

/// The secret could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    /// Not reachable, not readable, or not the JSON object it should be; a fixed label.
    #[error("secret unavailable: {0}")]
    Unavailable(String),
}

/// Where the provider credentials come from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The credentials; `force_refresh` after a provider refused the cached ones.
    async fn load(&self, force_refresh: bool) -> Result<Arc<ProviderSecrets>, SecretsError>;
}
