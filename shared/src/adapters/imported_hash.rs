//! Verifying password hashes brought from another system (`simguard-admin import-users`): bcrypt
//! (`$2a$`, `$2b$`, `$2y$`), and PHC strings of scrypt, PBKDF2-SHA256 and Argon2 (i, d or id, without
//! simguard's pepper), with the RustCrypto crates and `bcrypt`. Each is verified once, at the
//! account's next sign-in, and then replaced by simguard's own Argon2id with the pepper.

use password_hash::PasswordVerifier;
use password_hash::phc::PasswordHash;

pub use crate::domain::imported_hash::{ImportedFormat, ImportedHashError, classify};

/// Whether `password` is the one `stored` was made from. Blocking CPU work: run it off the
/// executor. Anything unknown, malformed or over the cost bounds is a `false`.
pub fn verify(password: &[u8], stored: &str) -> bool {
    let Ok(format) = classify(stored) else { return false };
    match format {
        ImportedFormat::Bcrypt => bcrypt::verify(password, stored).unwrap_or(false),
        ImportedFormat::Scrypt => {
            PasswordHash::new(stored).is_ok_and(|h| scrypt::Scrypt::default().verify_password(password, &h).is_ok())
        }
        ImportedFormat::Pbkdf2Sha256 => {
            PasswordHash::new(stored).is_ok_and(|h| pbkdf2::Pbkdf2::default().verify_password(password, &h).is_ok())
        }
        ImportedFormat::Argon2 => argon2::Argon2::default().verify_password(password, stored).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors: passlib's scrypt example; the others made with the crates' reference
    // implementations for "password".
    const SCRYPT: &str = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";

    #[test]
    fn formats_and_bounds() {
        assert_eq!(classify(SCRYPT), Ok(ImportedFormat::Scrypt));
        let bcrypt =
            bcrypt::hash_with_salt("password", 4, [7u8; 16]).expect("hash").format_for_version(bcrypt::Version::TwoB);
        assert_eq!(classify(&bcrypt), Ok(ImportedFormat::Bcrypt));
        assert!(verify(b"password", &bcrypt) && !verify(b"Password", &bcrypt));
        assert_eq!(classify(&bcrypt.replacen("$04$", "$16$", 1)), Err(ImportedHashError::CostTooHigh));
        assert_eq!(
            classify("$scrypt$ln=20,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"),
            Err(ImportedHashError::CostTooHigh)
        );
        for unknown in [
            "",
            "plaintext",
            "$1$saltsalt$hash",
            "$sha512$x",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "5f4dcc3b5aa765d61d8327deb882cf99",
        ] {
            assert_eq!(classify(unknown), Err(ImportedHashError::UnknownFormat), "{unknown}");
            assert!(!verify(b"password", unknown));
        }
    }

    #[test]
    fn scrypt_verifies() {
        assert!(verify(b"password", SCRYPT));
        assert!(!verify(b"passwore", SCRYPT));
    }
}
