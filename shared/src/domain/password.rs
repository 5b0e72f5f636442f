//! Password policy (docs/security.md D3) and the stored hash's type. Hashing itself is behind the
//! [`crate::ports::PasswordHasher`] port (it needs the pepper and a thread pool).

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

/// A password that passed the policy, NFKC-normalised. Never printed.
pub struct Password(SecretString);

impl Password {
    /// The normalised password, for the hasher only.
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
    /// Fewer than 12 characters.
    #[error("too_short")]
    TooShort,
    /// More than 128 characters.
    #[error("too_long")]
    TooLong,
    /// On the blocklist, or one repeated character.
    #[error("too_common")]
    TooCommon,
    /// Contains the account's own email name.
    #[error("contains_personal_info")]
    ContainsPersonalInfo,
}

impl PasswordRejection {
    /// The code a page maps to a sentence.
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
    /// Shortest accepted, in code points.
    pub const MIN_CHARS: usize = 12;
    /// Longest accepted, in code points.
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

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// A PHC string, as stored or as just computed.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }
    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
