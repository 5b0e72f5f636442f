//! What a site learns from a phone-possession verification it asked simguard for: the claims of a
//! signed, short-lived, single-use result token. The site checks the signature against simguard's
//! published keys, then redeems the token (which marks it used): a token never proves anything twice.

use serde::{Deserialize, Serialize};

/// Why the site asks (it decides what the proof is worth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Account recovery (a password reset).
    Recovery,
    /// A second factor at sign-in.
    Login,
    /// A sensitive action of a signed-in user.
    StepUp,
    /// Confirming a number the user just gave.
    PhoneConfirmation,
}

/// How the phone was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofMethod {
    /// By the mobile network, without a code.
    Silent,
    /// By a code sent in a text message.
    Sms,
}

/// What the SIM-swap gate said of the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimChangeVerdict {
    /// No SIM change within the window.
    NotChanged,
    /// The SIM changed within the window (only ever in a phone confirmation's result: every other
    /// purpose is refused instead).
    Changed,
}

/// The result token's claims (a JWT's payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultClaims {
    /// simguard's public origin.
    pub iss: String,
    /// The site the verification was for (its id): a token for another site is refused.
    pub aud: String,
    /// The verification's opaque id.
    pub sub: String,
    /// Hash of the verified number ([`phone_hash`]: the site compares it with its own; it keeps the
    /// number out of URLs and logs, and is no secret from anyone who can guess numbers).
    pub phone_hash: String,
    /// Why the site asked.
    pub purpose: Purpose,
    /// How the phone was proven.
    pub method: ProofMethod,
    /// What the SIM-swap gate said.
    pub sim_change: SimChangeVerdict,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at: a few minutes after `iat`.
    pub exp: i64,
    /// The token's id: redeemed once.
    pub jti: String,
}

/// The `phone_hash` claim: SHA-256 of `simguard-phone:` and the number in E.164, hex. A site
/// compares it with its own hash of the number it asked about. It keeps the number out of a token
/// that ends up in a URL or a log; it is no secret from anyone who guesses numbers.
pub fn phone_hash(e164: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("simguard-phone:{e164}").as_bytes()))
}

impl ResultClaims {
    /// How long a result token lives: long enough for the browser's redirect and the site's
    /// redemption, no longer.
    pub const LIFE_SECS: i64 = 120;
}
