//! A site that asks simguard to verify its users' phones (the verification API): its id, the return
//! URLs it registered (matched exactly), and its API keys — stored as SHA-256 hashes of their secret
//! part, several per site so a key can be rotated without downtime, each revocable.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::Timestamp;

/// A site's id: 1–40 of `a-z`, `0-9`, `-`, starting with a letter or digit. It is the result tokens'
/// audience.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SiteId(String);

impl SiteId {
    /// A valid id, or `None`.
    pub fn parse(raw: &str) -> Option<SiteId> {
        let ok = (1..=40).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        ok.then(|| SiteId(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registered site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelyingSite {
    /// Its id.
    pub id: SiteId,
    /// Its name, as the hosted pages show it.
    pub name: String,
    /// Where the browser may be sent back, exactly (no prefixes, no patterns).
    pub return_urls: Vec<String>,
    /// When it was registered.
    pub created_at: Timestamp,
}

/// Why a return URL cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReturnUrlError {
    /// Not an absolute URL.
    #[error("not an absolute URL")]
    NotAbsolute,
    /// Not `https` (plain `http` only on loopback, for development).
    #[error("must be https (http only on 127.0.0.1 or localhost)")]
    NotHttps,
    /// With a fragment or credentials.
    #[error("must have no fragment and no user or password")]
    Extras,
}

/// A return URL as it may be registered: absolute, `https` (or `http` on loopback), no fragment, no
/// credentials. Returned in its serialised form, which is what requests are compared with.
pub fn return_url(raw: &str) -> Result<String, ReturnUrlError> {
    let url = url::Url::parse(raw).map_err(|_| ReturnUrlError::NotAbsolute)?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(ReturnUrlError::NotHttps),
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ReturnUrlError::Extras);
    }
    Ok(url.to_string())
}

impl RelyingSite {
    /// Whether `url` is one of the registered return URLs, exactly.
    pub fn allows_return_url(&self, url: &str) -> bool {
        self.return_urls.iter().any(|u| u == url)
    }
}

/// An API key as stored: never its secret, only the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiKeyRecord {
    /// Whose key it is.
    pub site: SiteId,
    /// Its id: 16 hex digits, shown in lists and logs.
    pub key_id: String,
    /// SHA-256 of the secret part, hex. The secret is 256 random bits: a fast hash is enough.
    pub secret_hash: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

/// An API key as a caller presents it: `sgk_<site>_<key id>_<secret>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    /// The site it says it is for.
    pub site: SiteId,
    /// The key it names.
    pub key_id: String,
    secret: String,
}

impl PresentedKey {
    /// The parts of a presented key, if it has the form (nothing is looked up yet).
    pub fn parse(raw: &str) -> Option<PresentedKey> {
        let rest = raw.strip_prefix("sgk_")?;
        // The secret is base64url (which has `_` too): split from the left, twice.
        let (site, rest) = rest.split_once('_')?;
        let (key_id, secret) = rest.split_once('_')?;
        let hex16 = key_id.len() == 16 && key_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let secret_ok =
            secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match (SiteId::parse(site), hex16 && secret_ok) {
            (Some(site), true) => Some(PresentedKey { site, key_id: key_id.to_owned(), secret: secret.to_owned() }),
            _ => None,
        }
    }

    /// Whether this is the key `record` stores, and the record is not revoked.
    pub fn matches(&self, record: &ApiKeyRecord) -> bool {
        let same = record.site == self.site && record.key_id == self.key_id && record.revoked_at.is_none();
        let hash = secret_hash(&self.secret);
        same & bool::from(hash.as_bytes().ct_eq(record.secret_hash.as_bytes()))
    }
}

/// The principal an IAM ARN names, as sites register it and as API Gateway reports a caller:
/// `arn:<partition>:iam::<account>:role/<name>` for a role (a registered role's path dropped; an
/// assumed role's session dropped — a role's sessions are the role) or `…:user/<name>` for a user.
/// Anything else (a root account, a federated user, a malformed ARN) is `None`: it names no site.
pub fn principal(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !account_ok || !partition.starts_with("aws") {
        return None;
    }
    let (kind, name) = match (service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("iam", ["role", .., name]) => ("role", *name),
        ("iam", ["user", .., name]) => ("user", *name),
        ("sts", ["assumed-role", name, _session]) => ("role", *name),
        _ => return None,
    };
    name_ok(name).then(|| format!("arn:{partition}:iam::{account}:{kind}/{name}"))
}

/// SHA-256 of a key's secret part, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new key for `site` from 8 + 32 random bytes: what to show the operator once, and what to store.
pub fn new_api_key(site: &SiteId, id_bytes: [u8; 8], secret_bytes: [u8; 32], now: Timestamp) -> (String, ApiKeyRecord) {
    use base64::Engine;
    let key_id = hex::encode(id_bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
    let shown = format!("sgk_{}_{key_id}_{secret}", site.as_str());
    let record = ApiKeyRecord {
        site: site.clone(),
        key_id,
        secret_hash: secret_hash(&secret),
        created_at: now,
        revoked_at: None,
    };
    (shown, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_their_record() {
        let site = SiteId::parse("shop-1").expect("id");
        let (shown, record) = new_api_key(&site, [1; 8], [2; 32], Timestamp(0));
        let presented = PresentedKey::parse(&shown).expect("form");
        assert!(presented.matches(&record));
        assert!(!presented.matches(&ApiKeyRecord { revoked_at: Some(Timestamp(1)), ..record.clone() }));
        let other = SiteId::parse("shop-2").expect("id");
        assert!(!presented.matches(&ApiKeyRecord { site: other, ..record.clone() }));
        let mut tampered = shown.clone();
        tampered.pop();
        tampered.push('A');
        assert!(PresentedKey::parse(&tampered).is_none_or(|p| !p.matches(&record)));
        for junk in ["", "sgk_", "sgk_shop-1_0101010101010101", "Bearer x", &shown[1..], "sgk_-x_0101010101010101_aaaa"]
        {
            assert!(PresentedKey::parse(junk).is_none_or(|p| !p.matches(&record)), "{junk}");
        }
    }

    #[test]
    fn a_role_and_its_sessions_are_one_principal() {
        let role = Some("arn:aws:iam::123456789012:role/shop-backend".to_owned());
        assert_eq!(principal("arn:aws:iam::123456789012:role/shop-backend"), role);
        assert_eq!(principal("arn:aws:iam::123456789012:role/service/shop-backend"), role);
        assert_eq!(principal("arn:aws:sts::123456789012:assumed-role/shop-backend/i-0abc"), role);
        assert_eq!(
            principal("arn:aws:iam::123456789012:user/ops"),
            Some("arn:aws:iam::123456789012:user/ops".to_owned())
        );
        for other in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:federated-user/bob",
            "arn:aws:sts::12345:assumed-role/shop-backend/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:s3:::bucket",
            "shop-backend",
            "",
        ] {
            assert_eq!(principal(other), None, "{other}");
        }
    }

    #[test]
    fn return_urls_are_exact_and_safe() {
        assert_eq!(return_url("https://shop.example/verified?x=1"), Ok("https://shop.example/verified?x=1".into()));
        assert_eq!(return_url("http://127.0.0.1:8081/back"), Ok("http://127.0.0.1:8081/back".into()));
        assert_eq!(return_url("http://shop.example/back"), Err(ReturnUrlError::NotHttps));
        assert_eq!(return_url("javascript:alert(1)"), Err(ReturnUrlError::NotHttps));
        assert_eq!(return_url("https://shop.example/back#x"), Err(ReturnUrlError::Extras));
        assert_eq!(return_url("https://u:p@shop.example/back"), Err(ReturnUrlError::Extras));
        assert_eq!(return_url("/back"), Err(ReturnUrlError::NotAbsolute));
        let site = RelyingSite {
            id: SiteId::parse("shop").expect("id"),
            name: "Shop".into(),
            return_urls: vec!["https://shop.example/verified".into()],
            created_at: Timestamp(0),
        };
        assert!(site.allows_return_url("https://shop.example/verified"));
        for near in
            ["https://shop.example/verified/", "https://shop.example/verified?x", "https://shop.example.evil/verified"]
        {
            assert!(!site.allows_return_url(near), "{near}");
        }
    }
}
