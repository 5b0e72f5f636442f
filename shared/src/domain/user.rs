//! Accounts and signed-in sessions.

use std::fmt;

use crate::domain::{Email, PasswordHash, Phone, Timestamp, TokenHash};

/// An account's id: random, opaque, 128-bit hex. Safe to log.
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

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its email address (normalised; one account per address).
    pub email: Email,
    /// The phone number on record, E.164.
    pub phone: Phone,
    /// Argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Set by the server at registration; never changed (a phone change does not reset it).
    pub created_at: Timestamp,
    /// Set once, by the first successful possession proof; closes the new-account grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_verified_at: Option<Timestamp>,
    /// Bumped by every password reset; sessions issued under an older version are dead.
    pub credential_version: u64,
    /// When `simguard-admin import-users` brought the account from the site's own user store. An
    /// imported account does not expire for never having proven its phone (the site knew it
    /// before), and has no new-account grace (it is not new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_at: Option<Timestamp>,
    /// `password_hash` is the other system's (bcrypt, scrypt, PBKDF2 or Argon2, without the
    /// pepper): verified as such at the next sign-in, then replaced by simguard's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_imported: bool,
}

/// A browser its owner asked to remember after a second factor: a later sign-in from it skips the
/// SMS, never the SIM check (docs/security.md S29). Keyed by the hash of the device cookie, under
/// the account; dead once the account's credentials change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RememberedDevice {
    /// SHA-256 of the device cookie's token.
    pub key: TokenHash,
    /// Whose it is.
    pub user_id: UserId,
    /// The account's credential version when it was remembered: an older one is dead.
    pub credential_version: u64,
    /// What the owner sees of it on the account page: the browser's own description, cut short.
    pub label: String,
    /// When it was remembered.
    pub created_at: Timestamp,
    /// When it is forgotten on its own.
    pub expires_at: Timestamp,
}

impl RememberedDevice {
    /// How long a browser is remembered.
    pub const LIFE_SECS: i64 = 30 * 86_400;
}

impl User {
    /// How long a new account may go without proving its phone (its first sign-in's code does):
    /// after that it is gone for sign-in and reset, and its email may be registered again.
    pub const UNCONFIRMED_LIFE_SECS: i64 = 14 * 86_400;

    /// Whether the account never proved its phone and is past [`User::UNCONFIRMED_LIFE_SECS`]:
    /// whoever registered it (perhaps with someone else's email) never showed they hold the number.
    pub fn expired_unconfirmed(&self, now: Timestamp) -> bool {
        self.imported_at.is_none()
            && self.phone_verified_at.is_none()
            && now >= self.created_at.plus_secs(Self::UNCONFIRMED_LIFE_SECS)
    }
}

/// A signed-in browser. Keyed by the hash of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// SHA-256 of the session cookie's token.
    pub key: TokenHash,
    /// Whose it is.
    pub user_id: UserId,
    /// The account's credential version when it was issued: an older one is dead.
    pub credential_version: u64,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it dies.
    pub expires_at: Timestamp,
}
