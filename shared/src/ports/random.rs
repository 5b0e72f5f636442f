//! Randomness as a port: tokens, salts and identifiers come from here, so tests can see every use.

use crate::domain::Token;

/// The operating system's random source failed: fatal to the request (never fall back to something
/// predictable).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError;

/// A cryptographically secure source of random bytes.
pub trait Random: Send + Sync {
    /// Fills `buf` from a cryptographically secure source.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;

    /// A fresh 256-bit token (cookies, reset tokens).
    fn token(&self) -> Result<Token, RandomError> {
        let mut bytes = [0u8; Token::BYTES];
        self.fill(&mut bytes)?;
        Ok(Token::from_random_bytes(bytes))
    }

    /// A random identifier that is not a secret (user ids, providers' reference ids): 128 bits, hex.
    fn id(&self) -> Result<String, RandomError> {
        let mut bytes = [0u8; 16];
        self.fill(&mut bytes)?;
        Ok(hex::encode(bytes))
    }
}
