//! One TLS configuration for every outbound connection of the process — the provider clients and the
//! AWS SDK alike (docs/security.md R11): rustls with the `ring` provider, HTTP/1.1, and the Mozilla
//! root store compiled in (`webpki-roots`).
//!
//! Compiled-in roots, because reading the system's instead costs a cold start several milliseconds
//! (the bundle read and parsed, the certificate directory scanned, once per TLS client): every
//! endpoint simguard calls — DynamoDB and Secrets Manager (Amazon Trust Services, under Amazon Root
//! CA 1–4 and Starfield Services G2), tru.ID, Vonage, Twilio — chains to a root in Mozilla's program,
//! which is also where Amazon Linux's own bundle comes from. A CAMARA gateway is whichever operator or
//! aggregator the deployment names: one behind a private CA is not reachable. The cost is that a root Mozilla removes
//! stays trusted until the dependency is updated; the roots are data in a crate that the project's
//! dependency updates keep current, as they keep rustls itself.

use std::sync::{Arc, LazyLock};

static CONFIG: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
        // The ring provider supports the default versions: unreachable, but never a panic.
        Err(_) => rustls::ClientConfig::builder_with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    // HTTP/1.1 only: one request at a time per connection is all a function does, and HTTP/2 would
    // cost its code in every binary.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
});

/// The process's TLS client configuration (cheap to clone: its parts are shared).
pub fn client_config() -> rustls::ClientConfig {
    CONFIG.clone()
}

/// A reqwest client builder on [`client_config`], HTTP/1.1 only: every HTTP client of the project
/// starts here.
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(client_config()).http1_only()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_root_store_with_amazons_roots_and_http1() {
        let config = client_config();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        // Amazon Root CA 1 (the DynamoDB and Secrets Manager endpoints chain to Amazon's roots).
        let amazon = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .any(|ta| ta.subject.as_ref().windows(b"Amazon Root CA 1".len()).any(|w| w == b"Amazon Root CA 1"));
        assert!(amazon);
        assert!(reqwest_builder().build().is_ok());
    }
}
