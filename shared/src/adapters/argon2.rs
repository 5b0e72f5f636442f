//! Argon2id (docs/security.md D4) off the async executor: a hash is tens of milliseconds of pure CPU
//! and would stall every other request on the worker, so it runs in `spawn_blocking`.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Password, PasswordHash};
use crate::ports::{HashError, PasswordHasher, Random, SecretSource};

/// Argon2id parameters. Production: m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// What every deployed function and the local stack use.
    pub const PRODUCTION: HashCost = HashCost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// Only for tests that hash many passwords; never configurable at run time.
    pub const TEST_ONLY_CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
}

/// The Argon2id hasher.
pub struct Argon2Hasher {
    cost: HashCost,
    /// Where the optional pepper lives: read when first needed, not at start-up. With a source, a
    /// pepper that cannot be read fails the operation; it never falls back to none.
    pepper: Option<Arc<dyn SecretSource>>,
    random: Arc<dyn Random>,
    /// A hash of a random password with the same cost, verified against for unknown users. Built on
    /// first use, not at start-up, to keep cold starts short.
    dummy: OnceLock<PasswordHash>,
}

impl Argon2Hasher {
    /// A hasher with this cost, pepper source and salt source.
    pub fn new(cost: HashCost, pepper: Option<Arc<dyn SecretSource>>, random: Arc<dyn Random>) -> Self {
        Self { cost, pepper, random, dummy: OnceLock::new() }
    }

    async fn pepper(&self) -> Result<Option<SecretString>, HashError> {
        match &self.pepper {
            None => Ok(None),
            Some(source) => Ok(source.load(false).await.map_err(|_| HashError::Pepper)?.password_pepper.clone()),
        }
    }

    fn argon2(cost: HashCost, pepper: Option<&[u8]>) -> Result<Argon2<'_>, HashError> {
        let params =
            Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).map_err(|_| HashError::Argon2)?;
        match pepper {
            Some(secret) => Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, params)
                .map_err(|_| HashError::Argon2),
            None => Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)),
        }
    }

    async fn hash_secret(&self, password: SecretString) -> Result<PasswordHash, HashError> {
        let mut salt = [0u8; 16];
        self.random.fill(&mut salt).map_err(|_| HashError::Random)?;
        let cost = self.cost;
        let pepper = self.pepper().await?;
        tokio::task::spawn_blocking(move || {
            let argon2 = Self::argon2(cost, pepper.as_ref().map(|p| p.expose_secret().as_bytes()))?;
            let phc = argon2
                .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
                .map_err(|_| HashError::Argon2)?;
            Ok(PasswordHash::from_phc(phc.to_string()))
        })
        .await
        .map_err(|_| HashError::Join)?
    }

    async fn dummy_hash(&self) -> Option<PasswordHash> {
        if let Some(h) = self.dummy.get() {
            return Some(h.clone());
        }
        let mut pw = [0u8; 24];
        self.random.fill(&mut pw).ok()?;
        let h = self.hash_secret(SecretString::from(hex::encode(pw))).await.ok()?;
        Some(self.dummy.get_or_init(|| h).clone())
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hash_secret(SecretString::from(password.expose().to_owned())).await
    }

    async fn verify(&self, password: SecretString, stored: Option<&PasswordHash>) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h.clone(), true),
            None => match self.dummy_hash().await {
                Some(h) => (h, false),
                None => return false,
            },
        };
        let cost = self.cost;
        let Ok(pepper) = self.pepper().await else { return false };
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(argon2) = Self::argon2(cost, pepper.as_ref().map(|p| p.expose_secret().as_bytes())) else {
                return false;
            };
            argon2.verify_password(password.expose_secret().as_bytes(), hash.as_str()).is_ok()
        })
        .await
        .unwrap_or(false);
        ok && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::random::OsRandom;
    use crate::adapters::secrets::StaticSecrets;
    use crate::domain::PasswordPolicy;
    use crate::ports::ProviderSecrets;

    fn hasher(cost: HashCost, pepper: Option<&str>) -> Argon2Hasher {
        let source = pepper.map(|p| {
            let secrets = ProviderSecrets { password_pepper: Some(SecretString::from(p)), ..Default::default() };
            Arc::new(StaticSecrets::new(secrets)) as Arc<dyn SecretSource>
        });
        Argon2Hasher::new(cost, source, Arc::new(OsRandom))
    }

    #[tokio::test]
    async fn argon2id_with_production_parameters() {
        let hasher = hasher(HashCost::PRODUCTION, None);
        let pw = PasswordPolicy::check("a long enough passphrase", None).expect("valid");
        let h = hasher.hash(&pw).await.expect("hash");
        assert!(h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.as_str());
        let again = hasher.hash(&pw).await.expect("hash");
        assert_ne!(h, again, "salted");
        assert!(hasher.verify(SecretString::from("a long enough passphrase"), Some(&h)).await);
        assert!(!hasher.verify(SecretString::from("a long enough passphrasE"), Some(&h)).await);
        assert!(!hasher.verify(SecretString::from("a long enough passphrase"), None).await);
    }

    #[tokio::test]
    async fn pepper_changes_the_hash() {
        let peppered = hasher(HashCost::TEST_ONLY_CHEAP, Some("pepper"));
        let plain = hasher(HashCost::TEST_ONLY_CHEAP, None);
        let pw = PasswordPolicy::check("a long enough passphrase", None).expect("valid");
        let h = peppered.hash(&pw).await.expect("hash");
        assert!(peppered.verify(SecretString::from("a long enough passphrase"), Some(&h)).await);
        assert!(!plain.verify(SecretString::from("a long enough passphrase"), Some(&h)).await);
    }
}
