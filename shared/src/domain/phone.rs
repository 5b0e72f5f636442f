//! Phone numbers in E.164, the only form the providers take.

use std::fmt;

/// An E.164 number: `+`, a country code that does not start with 0, 7 to 15 digits in all.
/// `Debug` and `Display` mask all but the last two digits (docs/security.md H2); use [`Phone::e164`] only
/// when talking to a provider.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing typed.
    #[error("no phone number given")]
    Empty,
    /// No `+` and country code.
    #[error("the number must start with + and the country code")]
    MissingCountryCode,
    /// Letters or symbols.
    #[error("the number may contain only digits, spaces, dots, dashes and brackets")]
    InvalidCharacters,
    /// Too short or too long.
    #[error("an international number has 7 to 15 digits")]
    Length,
}

impl Phone {
    /// Fewest digits of an international number.
    pub const MIN_DIGITS: usize = 7;
    /// Most digits of an international number (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// Parses what a person types: `+44 7700 900000`, `+44 (0)7700-900000` is not accepted (the
    /// trunk 0 is ambiguous), `0044 7700 900000` is. National formats are refused rather than guessed.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let rest = if let Some(r) = trimmed.strip_prefix('+') {
            r
        } else if let Some(r) = trimmed.strip_prefix("00") {
            r
        } else {
            return Err(PhoneError::MissingCountryCode);
        };
        let mut digits = String::with_capacity(Self::MAX_DIGITS);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '\u{a0}' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::InvalidCharacters),
            }
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneError::Length);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::MissingCountryCode);
        }
        Ok(Phone(format!("+{digits}")))
    }

    /// `+447700900000`
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// `447700900000`, the form Vonage wants.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// `••••••••••00`: safe for logs and pages.
    pub fn masked(&self) -> String {
        let digits = self.digits();
        let keep = 2.min(digits.len());
        let (hidden, shown) = digits.split_at(digits.len() - keep);
        format!("+{}{}", "•".repeat(hidden.chars().count()), shown)
    }

    /// The number without its last four digits: the "destination prefix" that SMS-pumping limits
    /// count against (docs/security.md F1).
    pub fn prefix_bucket(&self) -> &str {
        &self.0[..self.0.len() - 4]
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Phone::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_people_type() {
        for (input, want) in [
            ("+447000000070", "+447000000070"),
            (" +44 7000 000070 ", "+447000000070"),
            ("+44-7000-000-070", "+447000000070"),
            ("0044 7000 000070", "+447000000070"),
            ("+1 (415) 555.2671", "+14155552671"),
            ("+290 1234", "+2901234"),
        ] {
            assert_eq!(Phone::parse(input).map(|p| p.e164().to_owned()), Ok(want.to_owned()), "{input}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for (input, err) in [
            ("", PhoneError::Empty),
            ("   ", PhoneError::Empty),
            ("07700900000", PhoneError::MissingCountryCode),
            ("+07700900000", PhoneError::MissingCountryCode),
            ("+44 7700 9000OO", PhoneError::InvalidCharacters),
            ("+447700900000;DROP", PhoneError::InvalidCharacters),
            ("+44/../../x", PhoneError::InvalidCharacters),
            ("+１２３４５６７８", PhoneError::InvalidCharacters),
            ("+123456", PhoneError::Length),
            ("+1234567890123456", PhoneError::Length),
            ("++447700900000", PhoneError::InvalidCharacters),
        ] {
            assert_eq!(Phone::parse(input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn display_and_debug_mask_all_but_two_digits() {
        let p = Phone::parse("+447000000070").expect("valid");
        assert_eq!(p.to_string(), "+••••••••••70");
        assert!(!format!("{p:?}").contains("7000000070"));
        assert_eq!(p.digits(), "447000000070");
        assert_eq!(p.prefix_bucket(), "+44700000");
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<Phone>("\"+447000000070\"").is_ok());
        assert!(serde_json::from_str::<Phone>("\"nope\"").is_err());
    }
}
