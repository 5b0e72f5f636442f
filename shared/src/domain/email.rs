//! Email addresses, normalised so that one mailbox is one account.

use std::fmt;
use std::str::FromStr;

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

    /// Trims, lower-cases (no real provider has case-sensitive mailboxes, and treating them as such
    /// lets one person hold two accounts), and checks RFC 5322 syntax with the `email_address` crate.
    /// Display-name forms (`Ann <a@b.c>`), IP-literal domains and single-label domains are refused.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
            return Err(EmailError::Invalid);
        }
        let parsed = email_address::EmailAddress::from_str(trimmed).map_err(|_| EmailError::Invalid)?;
        let domain = parsed.domain();
        if domain.starts_with('[') || !domain.contains('.') || domain.ends_with('.') {
            return Err(EmailError::Invalid);
        }
        Ok(Email(trimmed.to_lowercase()))
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

    #[test]
    fn normalises() {
        assert_eq!(Email::parse("  Alice@Example.COM ").map(|e| e.as_str().to_owned()), Ok("alice@example.com".into()));
        assert_eq!(Email::parse("a.b+tag@sub.example.org").map(|e| e.local_part().to_owned()), Ok("a.b+tag".into()));
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
