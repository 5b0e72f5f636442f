//! Password policy (SECURITY.md D3) and Argon2id hashing (D4).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use crate::ports::SecretSource;
use crate::random::Random;

/// A password that passed the policy, NFKC-normalised. Never printed.
pub struct Password(SecretString);

impl Password {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a new password was refused: a fixed code the page maps to a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    #[error("too_short")]
    TooShort,
    #[error("too_long")]
    TooLong,
    #[error("too_common")]
    TooCommon,
    #[error("contains_personal_info")]
    ContainsPersonalInfo,
}

impl PasswordRejection {
    pub fn code(self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::TooCommon => "too_common",
            Self::ContainsPersonalInfo => "contains_personal_info",
        }
    }
}

/// The same rules at registration and at reset: at least 12 code points after NFKC, at most 128, no
/// composition rules, any Unicode; refused when common, one repeated character, or built on the
/// account's own email.
pub struct PasswordPolicy;

static COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

fn blocklist() -> &'static HashSet<&'static str> {
    // A read-only table parsed once per process; it holds no request data.
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
    })
}

impl PasswordPolicy {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    /// `email_local_part` is the context word: a password containing it is refused.
    pub fn check(raw: &str, email_local_part: Option<&str>) -> Result<Password, PasswordRejection> {
        let normalised: String = raw.nfkc().collect();
        let chars = normalised.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordRejection::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordRejection::TooLong);
        }
        let folded = normalised.to_lowercase();
        let mut distinct = folded.chars();
        let first = distinct.next();
        if distinct.all(|c| Some(c) == first) || blocklist().contains(folded.as_str()) {
            return Err(PasswordRejection::TooCommon);
        }
        for word in ["simguard", "password1234"] {
            if folded.contains(word) {
                return Err(PasswordRejection::TooCommon);
            }
        }
        if let Some(local) = email_local_part {
            let local = local.to_lowercase();
            if local.chars().count() >= 4 && folded.contains(&local) {
                return Err(PasswordRejection::ContainsPersonalInfo);
            }
        }
        Ok(Password(SecretString::from(normalised)))
    }

    /// For login: normalise the same way as at registration, without judging it.
    pub fn normalise_for_login(raw: &str) -> SecretString {
        SecretString::from(raw.nfkc().collect::<String>())
    }
}

/// Argon2id parameters. Production: m = 19 MiB, t = 2, p = 1 (OWASP Password Storage CS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashCost {
    pub const PRODUCTION: HashCost = HashCost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// Only for tests that hash many passwords; never configurable at run time.
    pub const TEST_ONLY_CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 failed")]
    Argon2,
    #[error("no randomness for the salt")]
    Random,
    #[error("the hashing task did not finish")]
    Join,
    #[error("the pepper could not be read")]
    Pepper,
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Hashes and verifies off the async executor (`spawn_blocking`): an Argon2id hash is tens of
/// milliseconds of pure CPU and would stall every other request on the worker.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    /// Where the optional pepper lives (SECURITY.md D4): read when first needed, not at start-up.
    /// With a source, a pepper that cannot be read fails the operation; it never falls back to none.
    pepper: Option<Arc<dyn SecretSource>>,
    /// A hash of a random password with the same cost, verified against for unknown users so that
    /// "no such user" takes as long as "wrong password" (SECURITY.md §2 #8). Built on first use, not
    /// at start-up, to keep cold starts short.
    dummy: Arc<OnceLock<PasswordHash>>,
}

impl PasswordHasher {
    pub fn new(cost: HashCost, pepper: Option<Arc<dyn SecretSource>>) -> Self {
        Self { cost, pepper, dummy: Arc::new(OnceLock::new()) }
    }

    async fn pepper(&self) -> Result<Option<SecretString>, HashError> {
        match &self.pepper {
            None => Ok(None),
            Some(source) => Ok(source.load(false).await.map_err(|_| HashError::Pepper)?.password_pepper.clone()),
        }
    }

    pub fn cost(&self) -> HashCost {
        self.cost
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

    fn hash_blocking(
        cost: HashCost,
        pepper: Option<&SecretString>,
        password: &str,
        salt: &[u8],
    ) -> Result<PasswordHash, HashError> {
        let argon2 = Self::argon2(cost, pepper.map(|p| p.expose_secret().as_bytes()))?;
        let phc = argon2.hash_password_with_salt(password.as_bytes(), salt).map_err(|_| HashError::Argon2)?;
        Ok(PasswordHash(phc.to_string()))
    }

    pub async fn hash(&self, password: &Password, random: &dyn Random) -> Result<PasswordHash, HashError> {
        let mut salt = [0u8; 16];
        random.fill(&mut salt).map_err(|_| HashError::Random)?;
        let cost = self.cost;
        let pepper = self.pepper().await?;
        let pw = SecretString::from(password.expose().to_owned());
        tokio::task::spawn_blocking(move || Self::hash_blocking(cost, pepper.as_ref(), pw.expose_secret(), &salt))
            .await
            .map_err(|_| HashError::Join)?
    }

    /// `stored == None` (unknown user) still spends one full verification, then answers false.
    pub async fn verify(&self, password: SecretString, stored: Option<&PasswordHash>, random: &dyn Random) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h.clone(), true),
            None => match self.dummy_hash(random).await {
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

    async fn dummy_hash(&self, random: &dyn Random) -> Option<PasswordHash> {
        if let Some(h) = self.dummy.get() {
            return Some(h.clone());
        }
        let mut pw = [0u8; 24];
        random.fill(&mut pw).ok()?;
        let password = Password(SecretString::from(hex::encode(pw)));
        let h = self.hash(&password, random).await.ok()?;
        Some(self.dummy.get_or_init(|| h).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn length_is_counted_in_code_points_after_nfkc() {
        assert_eq!(PasswordPolicy::check("short", None).err(), Some(PasswordRejection::TooShort));
        assert_eq!(PasswordPolicy::check("elevenchars", None).err(), Some(PasswordRejection::TooShort));
        assert!(PasswordPolicy::check("twelve chars", None).is_ok());
        // 12 emoji are 12 code points (48 bytes): accepted.
        assert!(PasswordPolicy::check("🔑🚲🌵🎻🍉🧭🪁🦔🐙🌋🧊🪐", None).is_ok());
        // NFKC folds the ligature "ﬁ" into "fi": six ligatures are 12 code points after normalisation.
        assert!(PasswordPolicy::check("ﬁﬁﬁﬁﬁﬁ", None).is_ok_and(|p| p.expose() == "fi".repeat(6)));
    }

    #[test]
    fn long_passwords_are_accepted_up_to_the_cap() {
        let sixty_four = "correct horse battery staple, then a few more words to reach 64!";
        assert!(sixty_four.chars().count() >= 64);
        assert!(PasswordPolicy::check(sixty_four, None).is_ok());
        assert!(PasswordPolicy::check(&"ab".repeat(64), None).is_ok());
        assert_eq!(
            PasswordPolicy::check(&"ab".repeat(64).replace("ab", "abc"), None).err(),
            Some(PasswordRejection::TooLong)
        );
    }

    #[test]
    fn no_composition_rules() {
        assert!(PasswordPolicy::check("all lower case words here", None).is_ok());
        assert!(PasswordPolicy::check("ÜBERSCHALLFLUGZEUG", None).is_ok());
    }

    #[test]
    fn common_and_context_passwords_are_refused() {
        for common in
            ["123qweasdzxc", "1QAZ2WSX3EDC", "qwerty123456", "aaaaaaaaaaaaaaaa", "my simguard account", "password1234!"]
        {
            assert_eq!(PasswordPolicy::check(common, None).err(), Some(PasswordRejection::TooCommon), "{common}");
        }
        assert_eq!(
            PasswordPolicy::check("Alice.Liddell-2026", Some("alice.liddell")).err(),
            Some(PasswordRejection::ContainsPersonalInfo)
        );
        // Short local parts are not context words (every password would contain "al").
        assert!(PasswordPolicy::check("always a fine sentence", Some("al")).is_ok());
    }

    #[test]
    fn blocklist_is_loaded() {
        assert!(blocklist().len() > 300);
        assert!(blocklist().iter().all(|p| p.chars().count() >= PasswordPolicy::MIN_CHARS));
    }

    #[tokio::test]
    async fn argon2id_with_production_parameters() {
        let hasher = PasswordHasher::new(HashCost::PRODUCTION, None);
        let pw = PasswordPolicy::check("a long enough passphrase", None).expect("valid");
        let h = hasher.hash(&pw, &OsRandom).await.expect("hash");
        assert!(h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.as_str());
        let again = hasher.hash(&pw, &OsRandom).await.expect("hash");
        assert_ne!(h, again, "salted");
        assert!(hasher.verify(SecretString::from("a long enough passphrase"), Some(&h), &OsRandom).await);
        assert!(!hasher.verify(SecretString::from("a long enough passphrasE"), Some(&h), &OsRandom).await);
        assert!(!hasher.verify(SecretString::from("a long enough passphrase"), None, &OsRandom).await);
    }

    #[tokio::test]
    async fn pepper_changes_the_hash() {
        let pepper =
            crate::ports::ProviderSecrets { password_pepper: Some(SecretString::from("pepper")), ..Default::default() };
        let peppered =
            PasswordHasher::new(HashCost::TEST_ONLY_CHEAP, Some(Arc::new(crate::ports::StaticSecrets::new(pepper))));
        let plain = PasswordHasher::new(HashCost::TEST_ONLY_CHEAP, None);
        let pw = PasswordPolicy::check("a long enough passphrase", None).expect("valid");
        let h = peppered.hash(&pw, &OsRandom).await.expect("hash");
        assert!(peppered.verify(SecretString::from("a long enough passphrase"), Some(&h), &OsRandom).await);
        assert!(!plain.verify(SecretString::from("a long enough passphrase"), Some(&h), &OsRandom).await);
    }
}
