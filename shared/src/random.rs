//! Randomness as a port, and the opaque tokens built from it.
//!
//! Every token handed to a browser (flow cookie, reset cookie, session cookie, CSRF token) is 256 bits
//! from the OS CSPRNG, sent base64url-encoded; only its SHA-256 is stored, so a leaked table does not
//! leak live credentials.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub trait Random: Send + Sync {
    /// Fills `buf` from a cryptographically secure source. Failing to get randomness is fatal to the
    /// request (never fall back to something predictable).
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError;

#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }
}

/// A secret token as sent to the browser. Never logged: `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub const BYTES: usize = 32;

    pub fn generate(random: &dyn Random) -> Result<Token, RandomError> {
        let mut buf = [0u8; Self::BYTES];
        random.fill(&mut buf)?;
        Ok(Token(URL_SAFE_NO_PAD.encode(buf)))
    }

    /// Accepts only what `generate` produces: 43 base64url characters decoding to 32 bytes.
    pub fn parse(raw: &str) -> Option<Token> {
        if raw.len() != 43 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (bytes.len() == Self::BYTES).then(|| Token(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.as_bytes())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a token, hex-encoded: what the store keeps and what records are keyed by.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(bytes: &[u8]) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(bytes)))
    }

    pub fn from_stored(hex: String) -> TokenHash {
        TokenHash(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison, for tokens presented by a client against a stored hash.
    pub fn matches(&self, token: &Token) -> bool {
        self.0.as_bytes().ct_eq(token.hash().0.as_bytes()).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to correlate records in a debugger without printing the whole key.
        write!(f, "TokenHash({}…)", self.0.get(..8).unwrap_or(""))
    }
}

/// A random identifier that is not a secret (user ids, tru.ID `reference_id`s): 128 bits, hex.
pub fn random_id(random: &dyn Random) -> Result<String, RandomError> {
    let mut buf = [0u8; 16];
    random.fill(&mut buf)?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_round_trip() {
        let t = Token::generate(&OsRandom).expect("os random");
        assert_eq!(t.expose().len(), 43);
        assert_eq!(Token::parse(t.expose()), Some(t.clone()));
        assert!(t.hash().matches(&t));
        assert_ne!(Token::generate(&OsRandom).expect("os random"), t);
    }

    #[test]
    fn parse_rejects_anything_else() {
        for bad in ["", "abc", &"a".repeat(44), &"!".repeat(43), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_prints_the_token() {
        let t = Token::generate(&OsRandom).expect("os random");
        assert!(!format!("{t:?}").contains(t.expose()));
        assert!(!format!("{:?}", t.hash()).contains(t.hash().as_str()));
    }
}
