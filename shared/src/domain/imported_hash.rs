//! Password hashes brought from another system (`simguard-admin import-users`): which formats
//! simguard can verify, and within what cost. A hash whose verification would take more memory or
//! time than a sign-in may spend is refused at import, not at sign-in.

use password_hash::phc::PasswordHash;

/// A format simguard can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedFormat {
    /// `$2a$`, `$2b$`, `$2y$` (cost 4–15).
    Bcrypt,
    /// `$scrypt$ln=…,r=…,p=…$salt$hash` (at most 64 MiB).
    Scrypt,
    /// `$pbkdf2-sha256$i=…,l=…$salt$hash` (at most 5 000 000 iterations).
    Pbkdf2Sha256,
    /// `$argon2id$…`, `$argon2i$…`, `$argon2d$…` (at most 256 MiB, 10 passes).
    Argon2,
}

/// Why a hash cannot be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImportedHashError {
    /// Not one of the formats above, or not well formed.
    #[error("unknown hash format")]
    UnknownFormat,
    /// Well formed, but verifying it would cost a sign-in more than it may spend.
    #[error("hash cost too high")]
    CostTooHigh,
}

const MAX_BCRYPT_COST: u32 = 15;
const MAX_SCRYPT_BYTES: u64 = 64 * 1024 * 1024;
const MAX_PBKDF2_ITERATIONS: u64 = 5_000_000;
const MAX_ARGON2_KIB: u64 = 256 * 1024;
const MAX_ARGON2_PASSES: u64 = 10;

/// A PHC parameter as a number.
fn param(hash: &PasswordHash, name: &str) -> Option<u64> {
    hash.params.get_str(name).and_then(|v| v.parse().ok())
}

/// The format of `stored`, if simguard can verify it within a sign-in's means.
pub fn classify(stored: &str) -> Result<ImportedFormat, ImportedHashError> {
    if let Some(rest) = ["$2a$", "$2b$", "$2y$"].iter().find_map(|p| stored.strip_prefix(p)) {
        // `$2b$12$` + 53 characters of salt and hash.
        let cost: u32 = rest.get(..2).and_then(|c| c.parse().ok()).ok_or(ImportedHashError::UnknownFormat)?;
        if stored.len() != 60 || rest.as_bytes().get(2) != Some(&b'$') || !(4..=31).contains(&cost) {
            return Err(ImportedHashError::UnknownFormat);
        }
        return if cost <= MAX_BCRYPT_COST { Ok(ImportedFormat::Bcrypt) } else { Err(ImportedHashError::CostTooHigh) };
    }
    let hash = PasswordHash::new(stored).map_err(|_| ImportedHashError::UnknownFormat)?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(ImportedHashError::UnknownFormat);
    }
    let within = |ok: bool, format| if ok { Ok(format) } else { Err(ImportedHashError::CostTooHigh) };
    match hash.algorithm.as_str() {
        "scrypt" => {
            let (ln, r, p) = (param(&hash, "ln"), param(&hash, "r"), param(&hash, "p"));
            let (Some(ln), Some(r), Some(p)) = (ln, r, p) else { return Err(ImportedHashError::UnknownFormat) };
            // Memory is 128 · r · N bytes (N = 2^ln); p multiplies the time.
            let bytes = 1u64.checked_shl(u32::try_from(ln).unwrap_or(64)).and_then(|n| n.checked_mul(128 * r));
            within(bytes.is_some_and(|b| b <= MAX_SCRYPT_BYTES) && p <= 4, ImportedFormat::Scrypt)
        }
        "pbkdf2-sha256" => {
            let i = param(&hash, "i").ok_or(ImportedHashError::UnknownFormat)?;
            within(i <= MAX_PBKDF2_ITERATIONS, ImportedFormat::Pbkdf2Sha256)
        }
        "argon2id" | "argon2i" | "argon2d" => {
            let (m, t) = (param(&hash, "m"), param(&hash, "t"));
            let (Some(m), Some(t)) = (m, t) else { return Err(ImportedHashError::UnknownFormat) };
            within(m <= MAX_ARGON2_KIB && t <= MAX_ARGON2_PASSES, ImportedFormat::Argon2)
        }
        _ => Err(ImportedHashError::UnknownFormat),
    }
}
