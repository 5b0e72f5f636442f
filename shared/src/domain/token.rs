//! The opaque tokens handed to browsers, and the hashes the store keeps of them.
//!
//! Every token handed to a browser (flow cookie, reset cookie, session cookie, CSRF token) is 256 bits
//! from the OS CSPRNG, sent base64url-encoded; only its SHA-256 is stored, so a leaked table does not
//! leak live credentials.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret token as sent to the browser. Never logged: `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Bytes of randomness in a token.
    pub const BYTES: usize = 32;

    /// The token made of these random bytes.
    pub fn from_random_bytes(bytes: [u8; Self::BYTES]) -> Token {
        Token(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only what `from_random_bytes` produces: 43 base64url characters decoding to 32 bytes.
    pub fn parse(raw: &str) -> Option<Token> {
        if raw.len() != 43 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (bytes.len() == Self::BYTES).then(|| Token(raw.to_owned()))
    }

    /// The token itself, for a `Set-Cookie` header or a page; never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
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
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(bytes)))
    }

    /// A hash read back from the store.
    pub fn from_stored(hex: String) -> TokenHash {
        TokenHash(hex)
    }

    /// The hex digest.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn token(fill: u8) -> Token {
        Token::from_random_bytes([fill; Token::BYTES])
    }

    #[test]
    fn tokens_are_256_bit_and_round_trip() {
        let t = token(7);
        assert_eq!(t.expose().len(), 43);
        assert_eq!(Token::parse(t.expose()), Some(t.clone()));
        assert!(t.hash().matches(&t));
        assert!(!t.hash().matches(&token(8)));
    }

    #[test]
    fn parse_rejects_anything_else() {
        for bad in ["", "abc", &"a".repeat(44), &"!".repeat(43), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_prints_the_token() {
        let t = token(9);
        assert!(!format!("{t:?}").contains(t.expose()));
        assert!(!format!("{:?}", t.hash()).contains(t.hash().as_str()));
    }
}
