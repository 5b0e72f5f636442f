//! Signing the verification API's result tokens and publishing their keys.

use async_trait::async_trait;

use crate::domain::Timestamp;
use crate::domain::result_token::ResultClaims;

/// Why a result token could not be signed, published or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// No usable keys (none configured, the secret unreadable): a fixed label.
    #[error("result tokens unavailable: {0}")]
    Unavailable(&'static str),
    /// Not a token of ours for this audience (any forgery, tampering or algorithm trick).
    #[error("invalid token")]
    Invalid,
    /// Ours, but past its life.
    #[error("expired token")]
    Expired,
}

/// The issuer of result tokens.
#[async_trait]
pub trait ResultSigner: Send + Sync {
    /// The claims, signed with the active key.
    async fn sign(&self, claims: &ResultClaims) -> Result<String, SignerError>;
    /// Every published public key (a JWK Set).
    async fn jwks(&self) -> Result<serde_json::Value, SignerError>;
    /// The claims of a token of ours for `audience`, alive at `now`.
    async fn verify(&self, token: &str, audience: &str, now: Timestamp) -> Result<ResultClaims, SignerError>;
    /// The tokens' `iss`.
    fn issuer(&self) -> &str;
}
