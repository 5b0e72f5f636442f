//! Signing and checking the verification API's result tokens: ES256 JWTs (jsonwebtoken, on ring),
//! with the keys held in the provider secret as PKCS#8 DER. One key signs (`active`); every key is
//! published in the JWKS, so a rollover publishes the next key before it signs and keeps the old one
//! until the last token it signed has expired. A token is accepted only as ES256, with one of our
//! `kid`s, for the expected audience and issuer, unexpired by the injected clock — never `none`,
//! never HMAC with a public key, never a key the token itself names.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use secrecy::{ExposeSecret, SecretSlice};
use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::Timestamp;
use crate::ports::{ProviderSecrets, ResultSigner, SecretSource, SignerError};

use crate::domain::result_token::ResultClaims;

pub use crate::ports::secrets::SigningKey;

/// The secret's `result_signing_keys`: entries `<kid>:<active|published>:<PKCS#8, base64url>`,
/// separated by commas (a string, like every value of the secret, so that it also fits an
/// environment variable). The error names the entry's position, never its key.
pub fn parse_signing_keys(raw: &str) -> Result<Vec<SigningKey>, KeyError> {
    let mut keys = Vec::new();
    for (i, entry) in raw.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
        let bad = || KeyError::Entry(i + 1);
        let mut parts = entry.splitn(3, ':');
        let (Some(kid), Some(role), Some(der)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
        let active = match role {
            "active" => true,
            "published" => false,
            _ => return Err(bad()),
        };
        let der = URL_SAFE_NO_PAD.decode(der).map_err(|_| bad())?;
        keys.push(SigningKey { kid: kid.to_owned(), pkcs8: SecretSlice::from(der), active });
    }
    Ok(keys)
}

/// One entry of `result_signing_keys` (what `simguard-admin create-signing-key` prints).
pub fn format_signing_key(key: &SigningKey) -> String {
    let role = if key.active { "active" } else { "published" };
    format!("{}:{role}:{}", key.kid, URL_SAFE_NO_PAD.encode(key.pkcs8.expose_secret()))
}

/// A new P-256 key (for rotation), from the operating system's randomness.
pub fn generate_key(kid: &str, active: bool) -> Result<SigningKey, KeyError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| KeyError::Generate)?;
    Ok(SigningKey { kid: kid.to_owned(), pkcs8: SecretSlice::from(pkcs8.as_ref().to_vec()), active })
}

/// One step of a signing-key rollover (`simguard-admin rotate-signing-key`), in order: publish the
/// next key, make it the one that signs, then drop the old one once its tokens have expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollover<'a> {
    /// A new key under this id, published (active if it is the first key).
    Stage(&'a str),
    /// This key signs from now on; the one that signed is kept, published.
    Promote(&'a str),
    /// This key is removed (never the active one).
    Retire(&'a str),
}

/// `result_signing_keys` after `step`: the entries of `current` with one added, promoted or removed.
/// A step that names no key, or would remove the active one, is refused; the result has exactly one
/// active key.
pub fn roll_signing_keys(current: &str, step: Rollover<'_>) -> Result<String, KeyError> {
    let mut keys = parse_signing_keys(current)?;
    let find = |keys: &[SigningKey], kid: &str| keys.iter().position(|k| k.kid == kid).ok_or(KeyError::Kid);
    match step {
        Rollover::Stage(kid) => {
            // A kid travels in the secret's entries (`:` and `,` separate them) and in JWT headers.
            let well_formed = (1..=64).contains(&kid.len())
                && kid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !well_formed || keys.iter().any(|k| k.kid == kid) {
                return Err(KeyError::Kid);
            }
            let first = keys.is_empty();
            keys.push(generate_key(kid, first)?);
        }
        Rollover::Promote(kid) => {
            let at = find(&keys, kid)?;
            for (i, k) in keys.iter_mut().enumerate() {
                k.active = i == at;
            }
        }
        Rollover::Retire(kid) => {
            let at = find(&keys, kid)?;
            if keys[at].active {
                return Err(KeyError::RetireActive);
            }
            keys.remove(at);
        }
    }
    ResultTokens::new("", &keys)?;
    Ok(keys.iter().map(format_signing_key).collect::<Vec<_>>().join(","))
}

/// The keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// An entry of `result_signing_keys` (counted from 1) is not `<kid>:<role>:<key>`; never the key.
    #[error("result_signing_keys entry {0} is not <kid>:<active|published>:<base64url PKCS#8>")]
    Entry(usize),
    /// Not exactly one active key.
    #[error("exactly one signing key must be active")]
    ActiveCount,
    /// Two keys share a `kid`, one is empty, or a rollover names a key that is not there.
    #[error("every signing key needs its own non-empty kid, and a rollover step a key that exists")]
    Kid,
    /// A rollover would remove the key that signs.
    #[error("the active key cannot be retired: promote another first")]
    RetireActive,
    /// Not a P-256 PKCS#8 key.
    #[error("signing key {0} is not a P-256 PKCS#8 key")]
    Invalid(String),
    /// No randomness.
    #[error("no randomness for a new key")]
    Generate,
}

/// Why a token is refused. Callers answer every one the same way (an invalid token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, a wrong algorithm, an unknown key, a bad signature, another audience or issuer.
    #[error("invalid token")]
    Invalid,
    /// Past its `exp` (or issued in the future).
    #[error("expired token")]
    Expired,
    /// It could not be signed.
    #[error("token not signed")]
    Signing,
}

struct LoadedKey {
    kid: String,
    active: bool,
    encoding: EncodingKey,
    decoding: DecodingKey,
    x: String,
    y: String,
}

/// The site-facing issuer of result tokens.
pub struct ResultTokens {
    issuer: String,
    keys: Vec<LoadedKey>,
}

impl ResultTokens {
    /// Checks the keys: exactly one active, distinct ids, each a P-256 key.
    pub fn new(issuer: &str, keys: &[SigningKey]) -> Result<Self, KeyError> {
        if keys.iter().filter(|k| k.active).count() != 1 {
            return Err(KeyError::ActiveCount);
        }
        let mut seen = HashSet::new();
        let mut loaded = Vec::new();
        for k in keys {
            if k.kid.is_empty() || !seen.insert(k.kid.clone()) {
                return Err(KeyError::Kid);
            }
            let der = k.pkcs8.expose_secret();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|_| KeyError::Invalid(k.kid.clone()))?;
            // The uncompressed point: 0x04 ‖ X ‖ Y, 32 bytes each.
            let point = pair.public_key().as_ref();
            let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
                return Err(KeyError::Invalid(k.kid.clone()));
            };
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|_| KeyError::Invalid(k.kid.clone()))?;
            loaded.push(LoadedKey {
                kid: k.kid.clone(),
                active: k.active,
                encoding: EncodingKey::from_ec_der(der),
                decoding,
                x,
                y,
            });
        }
        Ok(Self { issuer: issuer.to_owned(), keys: loaded })
    }

    /// The claims, signed with the active key.
    pub fn sign(&self, claims: &ResultClaims) -> Result<String, TokenError> {
        let key = self.keys.iter().find(|k| k.active).ok_or(TokenError::Signing)?;
        let header = Header { kid: Some(key.kid.clone()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|_| TokenError::Signing)
    }

    /// The public keys, as `/.well-known/jwks.json` serves them.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "x": k.x, "y": k.y,
                    "kid": k.kid, "alg": "ES256", "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The claims of `token`, if it is ours, for `audience`, and alive at `now`.
    pub fn verify(&self, token: &str, audience: &str, now: i64) -> Result<ResultClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.issuer]);
        // Expiry by the injected clock, below, not the library's.
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "iat", "aud", "iss", "sub", "jti"].map(str::to_owned).into();
        let data =
            jsonwebtoken::decode::<ResultClaims>(token, &key.decoding, &validation).map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if now >= claims.exp || claims.iat > now || claims.exp - claims.iat > ResultClaims::LIFE_SECS {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The result tokens' signer on the keys in the provider secret (read through its cache; a rotation
/// is picked up when the cache is refreshed). Without keys every call is `Unavailable`: the
/// verification API then refuses to start verifications rather than end them unsigned.
pub struct SecretSigner {
    issuer: String,
    secrets: Arc<dyn SecretSource>,
    /// The keys as last parsed, and the secret they were parsed from: parsed again only when the
    /// secret's cache hands out a new one (a rotation), not on every token.
    parsed: std::sync::Mutex<Option<(Arc<ProviderSecrets>, Arc<ResultTokens>)>>,
}

impl SecretSigner {
    /// Tokens issued as `issuer` (the public origin), with the keys in `secrets`.
    pub fn new(issuer: &str, secrets: Arc<dyn SecretSource>) -> Self {
        Self { issuer: issuer.to_owned(), secrets, parsed: std::sync::Mutex::new(None) }
    }

    async fn tokens(&self) -> Result<Arc<ResultTokens>, SignerError> {
        let loaded = self.secrets.load(false).await.map_err(|_| SignerError::Unavailable("secret unreadable"))?;
        if let Ok(parsed) = self.parsed.lock()
            && let Some((from, tokens)) = parsed.as_ref()
            && Arc::ptr_eq(from, &loaded)
        {
            return Ok(tokens.clone());
        }
        if loaded.result_signing_keys.is_empty() {
            return Err(SignerError::Unavailable("no result signing keys in the secret"));
        }
        let tokens = Arc::new(ResultTokens::new(&self.issuer, &loaded.result_signing_keys).map_err(|e| {
            tracing::error!(event = "signing_keys_invalid", error = %e, "the result signing keys cannot be used");
            SignerError::Unavailable("result signing keys unusable")
        })?);
        if let Ok(mut parsed) = self.parsed.lock() {
            *parsed = Some((loaded, tokens.clone()));
        }
        Ok(tokens)
    }
}

#[async_trait]
impl ResultSigner for SecretSigner {
    async fn sign(&self, claims: &ResultClaims) -> Result<String, SignerError> {
        self.tokens().await?.sign(claims).map_err(|_| SignerError::Unavailable("token not signed"))
    }

    async fn jwks(&self) -> Result<serde_json::Value, SignerError> {
        Ok(self.tokens().await?.jwks())
    }

    async fn verify(&self, token: &str, audience: &str, now: Timestamp) -> Result<ResultClaims, SignerError> {
        self.tokens().await?.verify(token, audience, now.0).map_err(|e| match e {
            TokenError::Expired => SignerError::Expired,
            _ => SignerError::Invalid,
        })
    }

    fn issuer(&self) -> &str {
        &self.issuer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::secrets::StaticSecrets;
    use crate::ports::ProviderSecrets;

    /// A login's result for the site "shop".
    fn claims() -> ResultClaims {
        ResultClaims {
            iss: "https://app.example".into(),
            aud: "shop".into(),
            sub: "vrf_1".into(),
            phone_hash: "h".into(),
            purpose: crate::domain::result_token::Purpose::Login,
            method: crate::domain::result_token::ProofMethod::Sms,
            sim_change: crate::domain::result_token::SimChangeVerdict::NotChanged,
            iat: 0,
            exp: 120,
            jti: "j".into(),
        }
    }

    #[tokio::test]
    async fn without_keys_nothing_is_signed_or_published() {
        let signer = SecretSigner::new("https://app.example", Arc::new(StaticSecrets::new(ProviderSecrets::default())));
        assert!(matches!(signer.jwks().await, Err(SignerError::Unavailable(_))));
        let claims = claims();
        assert!(matches!(signer.sign(&claims).await, Err(SignerError::Unavailable(_))));
    }

    /// A secret whose content an operator replaces (a rotation).
    struct Rotating(std::sync::Mutex<Arc<ProviderSecrets>>);

    #[async_trait]
    impl SecretSource for Rotating {
        async fn load(&self, _: bool) -> Result<Arc<ProviderSecrets>, crate::ports::SecretsError> {
            Ok(self.0.lock().expect("lock").clone())
        }
    }

    #[tokio::test]
    async fn keys_are_parsed_once_per_secret_and_a_rotation_is_picked_up() {
        let (a, b) = (generate_key("a", true).expect("a"), generate_key("b", true).expect("b"));
        let with =
            |keys: Vec<SigningKey>| Arc::new(ProviderSecrets { result_signing_keys: keys, ..Default::default() });
        let source = Arc::new(Rotating(std::sync::Mutex::new(with(vec![a.clone()]))));
        let signer = SecretSigner::new("https://app.example", source.clone());
        let first = signer.tokens().await.expect("keys");
        assert!(Arc::ptr_eq(&first, &signer.tokens().await.expect("keys")), "the same secret: parsed once");
        let claims = claims();
        let kid = |t: &str| jsonwebtoken::decode_header(t).expect("header").kid;
        assert_eq!(kid(&signer.sign(&claims).await.expect("signed")), Some("a".into()));
        *source.0.lock().expect("lock") = with(vec![SigningKey { active: false, ..a }, b]);
        assert_eq!(kid(&signer.sign(&claims).await.expect("signed")), Some("b".into()), "the new active key signs");
        assert_eq!(signer.jwks().await.expect("jwks")["keys"].as_array().map(Vec::len), Some(2));
    }

    /// A whole rollover, step by step: every step keeps exactly one active key, and the steps that
    /// would break signing are refused.
    #[test]
    fn a_rollover_keeps_one_active_key() {
        let kids = |raw: &str| {
            parse_signing_keys(raw).expect("keys").into_iter().map(|k| (k.kid, k.active)).collect::<Vec<_>>()
        };
        let one = roll_signing_keys("", Rollover::Stage("2026-11")).expect("first key");
        assert_eq!(kids(&one), [("2026-11".to_owned(), true)], "the first key signs");
        let two = roll_signing_keys(&one, Rollover::Stage("2026-12")).expect("staged");
        assert_eq!(kids(&two), [("2026-11".to_owned(), true), ("2026-12".to_owned(), false)]);
        assert_eq!(roll_signing_keys(&two, Rollover::Stage("2026-12")), Err(KeyError::Kid), "a second key of one id");
        for bad in ["", "a,b", "a:b", " a", "k\u{e9}"] {
            assert_eq!(roll_signing_keys(&two, Rollover::Stage(bad)), Err(KeyError::Kid), "{bad:?}");
        }
        assert_eq!(roll_signing_keys(&two, Rollover::Retire("2026-11")), Err(KeyError::RetireActive));
        assert_eq!(roll_signing_keys(&two, Rollover::Promote("2027-01")), Err(KeyError::Kid));
        let promoted = roll_signing_keys(&two, Rollover::Promote("2026-12")).expect("promoted");
        assert_eq!(kids(&promoted), [("2026-11".to_owned(), false), ("2026-12".to_owned(), true)]);
        let retired = roll_signing_keys(&promoted, Rollover::Retire("2026-11")).expect("retired");
        assert_eq!(kids(&retired), [("2026-12".to_owned(), true)]);
    }

    #[test]
    fn entries_round_trip() {
        let key = generate_key("k-2026", false).expect("key");
        let parsed = parse_signing_keys(&format!(" {} , ", format_signing_key(&key))).expect("parsed");
        assert_eq!((parsed.len(), parsed[0].kid.as_str(), parsed[0].active), (1, "k-2026", false));
        assert!(parse_signing_keys("k:primary:AAAA").is_err());
        assert!(parse_signing_keys("").expect("none").is_empty());
    }
}
