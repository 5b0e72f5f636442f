//! The three cookies, all `__Host-` (Secure, Path=/, no Domain), HttpOnly, 256-bit values whose hash
//! keys a server-side record (docs/security.md G5).

use axum::http::{HeaderMap, HeaderValue, header};

use crate::domain::Token;

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on the operator's top-level redirect back to our callback (a cross-site navigation);
    /// `Strict` could be withheld there (docs/security.md B2).
    Lax,
    /// Only ever sent by our own pages.
    Strict,
}

/// A cookie's name and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieSpec {
    /// `__Host-…`
    pub name: &'static str,
    /// Lax or Strict.
    pub same_site: SameSite,
}

/// The reset flow. Lax: it must come back with the operator redirect.
pub const FLOW: CookieSpec = CookieSpec { name: "__Host-simguard-flow", same_site: SameSite::Lax };
/// The single-use reset token issued after the possession proof; only our own page posts it.
pub const RESET: CookieSpec = CookieSpec { name: "__Host-simguard-reset", same_site: SameSite::Strict };
/// A signed-in browser.
pub const SESSION: CookieSpec = CookieSpec { name: "__Host-simguard-session", same_site: SameSite::Lax };
/// A browser its owner asked to remember; only our own login page posts with it.
pub const DEVICE: CookieSpec = CookieSpec { name: "__Host-simguard-device", same_site: SameSite::Strict };

impl CookieSpec {
    /// `Set-Cookie` for this token, living `max_age_secs`.
    pub fn set(&self, token: &Token, max_age_secs: i64) -> HeaderValue {
        self.header(token.expose(), max_age_secs)
    }

    /// `Set-Cookie` that deletes it.
    pub fn clear(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age_secs: i64) -> HeaderValue {
        let same_site = match self.same_site {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
        };
        let v =
            format!("{}={value}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite={same_site}", self.name);
        // Names and token values are base64url and digits only: always a valid header value.
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// The token from the request's cookies, if present and well-formed.
    pub fn read(&self, headers: &HeaderMap) -> Option<Token> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name)
            .and_then(|(_, value)| Token::parse(value.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn token() -> Token {
        Token::from_random_bytes([3; Token::BYTES])
    }

    #[test]
    fn attributes() {
        let t = token();
        let v = FLOW.set(&t, 600);
        let s = v.to_str().expect("ascii");
        assert!(s.starts_with("__Host-simguard-flow="));
        for attr in ["Path=/", "Max-Age=600", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(s.contains(attr), "{s}");
        }
        assert!(!s.contains("Domain"));
        assert!(RESET.clear().to_str().expect("ascii").contains("Max-Age=0; Secure; HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn reads_only_well_formed_tokens() {
        let t = token();
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; __Host-simguard-flow={}; c=d", t.expose())).expect("ascii"),
        );
        assert_eq!(FLOW.read(&h), Some(t));
        assert_eq!(SESSION.read(&h), None);
        let mut bad = HeaderMap::new();
        bad.append(header::COOKIE, HeaderValue::from_static("__Host-simguard-flow=../../etc"));
        assert_eq!(FLOW.read(&bad), None);
    }
}
