//! The rule every outbound base URL follows (providers, the site's own origin): HTTPS, or plain HTTP
//! on loopback only (the local sandbox). No query, fragment or credentials in it.

use url::Url;

/// Why a base URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// Not `https://` (and not plain HTTP on loopback).
    #[error("must be an https:// URL (http:// only on loopback)")]
    Scheme,
    /// Carries a query, a fragment or user information.
    #[error("must not carry a query, fragment or credentials")]
    Extras,
}

/// Whether the URL's host is the local machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a base URL against the rule above.
pub fn validate_base_url(url: &Url) -> Result<(), BaseUrlError> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        _ => return Err(BaseUrlError::Scheme),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlError::Extras);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback() {
        let ok = |s: &str| Url::parse(s).map_err(|_| BaseUrlError::Scheme).and_then(|u| validate_base_url(&u));
        assert_eq!(ok("https://eu.api.tru.id"), Ok(()));
        assert_eq!(ok("http://127.0.0.1:9001"), Ok(()));
        assert_eq!(ok("http://[::1]:9001"), Ok(()));
        assert_eq!(ok("http://localhost:9001"), Ok(()));
        assert_eq!(ok("http://eu.api.tru.id"), Err(BaseUrlError::Scheme));
        assert_eq!(ok("ftp://127.0.0.1"), Err(BaseUrlError::Scheme));
        assert_eq!(ok("https://a.example/?x=1"), Err(BaseUrlError::Extras));
        assert_eq!(ok("https://user:pw@a.example"), Err(BaseUrlError::Extras));
    }
}
