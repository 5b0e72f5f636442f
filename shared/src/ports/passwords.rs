//! Password hashing as a port: the adapter holds the pepper, the salt source and the thread pool, so
//! handlers and the domain never touch any of them.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::{Password, PasswordHash};

/// Why a password could not be hashed. Never the user's fault: the request answers 503.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hash function refused its parameters or input.
    #[error("argon2 failed")]
    Argon2,
    /// No randomness for the salt.
    #[error("no randomness for the salt")]
    Random,
    /// The worker thread did not finish.
    #[error("the hashing task did not finish")]
    Join,
    /// The pepper could not be read from the secret.
    #[error("the pepper could not be read")]
    Pepper,
}

/// Hashes new passwords and verifies presented ones.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A new salted, peppered hash of a password that passed the policy.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Whether `password` matches `stored`. `stored == None` (unknown user) still spends one full
    /// verification against a dummy hash, then answers false, so that "no such user" takes as long
    /// as "wrong password" (docs/security.md S08). Any failure is a `false`.
    async fn verify(&self, password: SecretString, stored: Option<&PasswordHash>) -> bool;

    /// Whether `raw` (as typed) or `normalised` (as simguard hashes it) matches `stored`, a hash
    /// imported from another system; when it does, simguard's own hash of `normalised` to replace
    /// it (`None` when that could not be made now: the sign-in goes on, the next one replaces it).
    async fn verify_imported(
        &self,
        raw: SecretString,
        normalised: SecretString,
        stored: &PasswordHash,
    ) -> ImportedVerdict;
}

/// What an imported hash said of a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportedVerdict {
    /// Not this password (or a hash that cannot be verified).
    Wrong,
    /// The password; simguard's hash of it, when one could be made.
    Right(Option<PasswordHash>),
}
