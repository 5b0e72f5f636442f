//! Email addresses, normalised so that one mailbox is one account: Unicode NFKC (full-width
//! letters become ASCII), lower case, and the domain in its IDNA (UTS-46) ASCII form. Addresses that
//! only look alike (a Cyrillic `а` for a Latin `a`) stay different addresses, but share a
//! confusable skeleton (UTS-39), which registration treats as taken.

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

/// A normalised email address: one mailbox, one account.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an email address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing typed.
    #[error("no email address given")]
    Empty,
    /// Not an address.
    #[error("that is not an email address")]
    Invalid,
    /// Longer than 254 characters.
    #[error("an email address has at most 254 characters")]
    TooLong,
}

impl Email {
    /// The longest address accepted.
    pub const MAX_LEN: usize = 254;

    /// Trims, normalises (NFKC; lower case, since no real provider has case-sensitive mailboxes
    /// and treating them as such lets one person hold two accounts; the domain to IDNA ASCII), and
    /// checks RFC 5322 syntax with the `email_address` crate. Display-name forms (`Ann <a@b.c>`),
    /// IP-literal domains and single-label domains are refused.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let normalised: String = trimmed.nfkc().collect();
        if normalised.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
            return Err(EmailError::Invalid);
        }
        let (local, domain) = normalised.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if local.is_empty() || domain.starts_with('[') {
            return Err(EmailError::Invalid);
        }
        let domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Invalid)?;
        if !domain.contains('.') || domain.ends_with('.') {
            return Err(EmailError::Invalid);
        }
        let address = format!("{}@{domain}", local.to_lowercase());
        if address.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        email_address::EmailAddress::from_str(&address).map_err(|_| EmailError::Invalid)?;
        Ok(Email(address))
    }

    /// The UTS-39 confusable skeleton of the address as people read it (the domain in Unicode):
    /// two addresses with one skeleton look the same on a screen.
    pub fn skeleton(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or((&self.0, ""));
        let (domain, _) = idna::domain_to_unicode(domain);
        unicode_security::skeleton(&format!("{local}@{domain}")).collect::<String>().to_lowercase()
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(l, _)| l)
    }

    /// `a•••@example.com`
    pub fn masked(&self) -> String {
        match self.0.rsplit_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            None => "•••".to_owned(),
        }
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> String {
        Email::parse(s).map(|e| e.as_str().to_owned()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises() {
        assert_eq!(parsed("  Alice@Example.COM "), "alice@example.com");
        assert_eq!(Email::parse("a.b+tag@sub.example.org").map(|e| e.local_part().to_owned()), Ok("a.b+tag".into()));
        // Full-width letters are the ASCII ones (NFKC).
        assert_eq!(parsed("ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"), "alice@example.com");
        // An internationalised domain in its ASCII form.
        assert_eq!(parsed("jörg@bücher.example"), "jörg@xn--bcher-kva.example");
        assert_eq!(parsed("jörg@xn--bcher-kva.example"), "jörg@xn--bcher-kva.example");
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let real = Email::parse("alice@example.com").expect("valid");
        for look_alike in ["alice@exаmple.com", "аlice@example.com", "alice@examp1e.com"] {
            let other = Email::parse(look_alike).expect("valid");
            assert_ne!(other, real, "{look_alike} is another address");
            assert_eq!(other.skeleton(), real.skeleton(), "{look_alike} looks like alice@example.com");
        }
        assert_ne!(Email::parse("alicia@example.com").expect("valid").skeleton(), real.skeleton());
    }

    #[test]
    fn rejects() {
        for (input, err) in [
            ("", EmailError::Empty),
            ("alice", EmailError::Invalid),
            ("alice@", EmailError::Invalid),
            ("@example.com", EmailError::Invalid),
            ("alice@localhost", EmailError::Invalid),
            ("alice@[127.0.0.1]", EmailError::Invalid),
            ("Alice <alice@example.com>", EmailError::Invalid),
            ("al ice@example.com", EmailError::Invalid),
            ("alice\u{0}@example.com", EmailError::Invalid),
        ] {
            assert_eq!(Email::parse(input), Err(err), "{input:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn debug_masks() {
        let e = Email::parse("alice@example.com").expect("valid");
        assert_eq!(format!("{e:?}"), "Email(a•••@example.com)");
    }
}
