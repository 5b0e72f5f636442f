use std::fmt;

use crate::clock::Timestamp;
use crate::domain::{Email, PasswordHash, Phone};
use crate::random::TokenHash;

/// Random, opaque, 128-bit hex. Safe to log.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub phone: Phone,
    pub password_hash: PasswordHash,
    /// Set by the server at registration; never changed (a phone change does not reset it).
    pub created_at: Timestamp,
    /// Set once, by the first successful possession proof; closes the new-account grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_verified_at: Option<Timestamp>,
    /// Bumped by every password reset; sessions issued under an older version are dead.
    pub credential_version: u64,
}

/// A signed-in browser. Keyed by the hash of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub key: TokenHash,
    pub user_id: UserId,
    pub credential_version: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}
