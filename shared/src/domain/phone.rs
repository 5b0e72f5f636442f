//! Phone numbers in E.164, the only form the providers take, parsed from what people type with
//! libphonenumber's rules and metadata (the `phonenumber` crate).

use std::fmt;

use phonenumber::country::Id as Country;

/// An E.164 number. `Debug` and `Display` mask all but the last two digits (docs/security.md H2);
/// use [`Phone::e164`] only when talking to a provider.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing typed.
    #[error("no phone number given")]
    Empty,
    /// A national number, and no default region to read it in.
    #[error("the number must start with + and the country code")]
    MissingCountryCode,
    /// Letters or symbols, or not a phone number's shape at all.
    #[error("that is not a phone number")]
    NotANumber,
    /// A number no phone can have (wrong length for its country, or an unallocated range).
    #[error("no phone has that number")]
    Invalid,
}

/// The region national numbers are read in (`07700 900002` in `GB` is `+447700900002`): an ISO
/// 3166-1 alpha-2 code libphonenumber knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(Country);

impl Region {
    /// `GB`, `FR`, `US`, … (case-insensitive); `None` for a code libphonenumber does not know.
    pub fn parse(code: &str) -> Option<Region> {
        code.trim().to_ascii_uppercase().parse::<Country>().ok().map(Region)
    }

    /// The code.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

/// Ofcom keeps `07700 900000`–`07700 900999` for fiction: no phone has one, and libphonenumber calls
/// them unallocated. The sandbox, the demo and the documentation use them, so that no real person's
/// number appears anywhere; they are accepted as numbers.
fn ofcom_fiction(e164: &str) -> bool {
    e164.len() == 13 && e164.starts_with("+447700900")
}

impl Phone {
    /// Fewest digits of an international number.
    pub const MIN_DIGITS: usize = 7;
    /// Most digits of an international number (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// Parses what a person types — `+44 7700 900000`, `+44 (0)7700-900000`, `0044 7700 900000`, or a
    /// national number (`07700 900000`) in `region` — and accepts it only if libphonenumber says a
    /// phone can have it.
    pub fn parse(input: &str, region: Option<Region>) -> Result<Phone, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if trimmed.chars().any(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '\u{a0}' | '-' | '.' | '(' | ')' | '+'))) {
            return Err(PhoneError::NotANumber);
        }
        let international = trimmed.starts_with('+') || trimmed.starts_with("00");
        if !international && region.is_none() {
            return Err(PhoneError::MissingCountryCode);
        }
        // `00` is the international prefix almost everywhere: read it as `+` whatever the region.
        let typed = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_owned(),
        };
        let first = phonenumber::parse(region.map(|r| r.0), &typed).map_err(|_| PhoneError::NotANumber)?;
        // A national prefix typed after the country code (`+44 (0) 7700…`) is recognised only when
        // the number is read in its own country's region: read it again there.
        let home = phonenumber::metadata::DATABASE
            .region(&first.code().value())
            .and_then(|ids| ids.first().and_then(|id| id.parse::<Country>().ok()));
        let number = match home {
            Some(h) if Some(h) != region.map(|r| r.0) => phonenumber::parse(Some(h), &typed).unwrap_or(first),
            _ => first,
        };
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        if !(phonenumber::is_valid(&number) || ofcom_fiction(&e164)) {
            return Err(PhoneError::Invalid);
        }
        Phone::from_e164(&e164)
    }

    /// A number already in E.164 (as stored): `+`, a country code that does not start with 0, 7 to
    /// 15 digits. Only the shape is checked; what it was checked against when stored stays decided.
    pub fn from_e164(raw: &str) -> Result<Phone, PhoneError> {
        let digits = raw.strip_prefix('+').ok_or(PhoneError::MissingCountryCode)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err(PhoneError::NotANumber);
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneError::Invalid);
        }
        Ok(Phone(raw.to_owned()))
    }

    /// `+447700900000`
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// `+44 7700 900000`: the number as its country writes it internationally (for a person to check
    /// what they typed); the E.164 form when the metadata has no format for it.
    pub fn international(&self) -> String {
        phonenumber::parse(None, &self.0)
            .map(|n| n.format().mode(phonenumber::Mode::International).to_string())
            .unwrap_or_else(|_| self.0.clone())
    }

    /// `447700900000`, the form Vonage wants.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// `+••••••••••00`: safe for logs and pages.
    pub fn masked(&self) -> String {
        let digits = self.digits();
        let keep = 2.min(digits.len());
        let (hidden, shown) = digits.split_at(digits.len() - keep);
        format!("+{}{}", "•".repeat(hidden.chars().count()), shown)
    }

    /// The last two digits: what a page may show of where a code went.
    pub fn ending(&self) -> &str {
        let digits = self.digits();
        digits.get(digits.len().saturating_sub(2)..).unwrap_or_default()
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
        Phone::from_e164(&value)
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

    fn gb() -> Option<Region> {
        Region::parse("gb")
    }

    #[test]
    fn normalises_what_people_type() {
        for (input, region, want) in [
            ("+447000000070", None, "+447000000070"),
            (" +44 7000 000070 ", None, "+447000000070"),
            ("+44-7000-000-070", None, "+447000000070"),
            ("0044 7000 000070", None, "+447000000070"),
            ("+1 (415) 555.2671", None, "+14155552671"),
            // The trunk 0 in brackets is dropped, not kept.
            ("+44 (0) 7700 900124", None, "+447700900124"),
            ("+44 (0)7800-001000", None, "+447800001000"),
            // National forms, in the default region.
            ("07700 900002", gb(), "+447700900002"),
            ("07800 001000", gb(), "+447800001000"),
            ("+33 6 12 34 56 78", gb(), "+33612345678"),
        ] {
            assert_eq!(Phone::parse(input, region).map(|p| p.e164().to_owned()), Ok(want.to_owned()), "{input}");
        }
    }

    #[test]
    fn shows_the_number_as_written_internationally() {
        for (input, want) in [
            ("07700 900002", "+44 7700 900002"),
            ("+33612345678", "+33 6 12 34 56 78"),
            ("+1 (415) 555.2671", "+1 415-555-2671"),
        ] {
            let phone = Phone::parse(input, gb()).expect("a number");
            assert_eq!(phone.international(), want, "{input}");
        }
    }

    #[test]
    fn rejects_what_no_phone_has() {
        for (input, region, err) in [
            ("", gb(), PhoneError::Empty),
            ("   ", gb(), PhoneError::Empty),
            ("07700900000", None, PhoneError::MissingCountryCode),
            ("+44 7700 9000OO", gb(), PhoneError::NotANumber),
            ("+447700900000;DROP", gb(), PhoneError::NotANumber),
            ("+44/../../x", gb(), PhoneError::NotANumber),
            ("+１２３４５６７８", gb(), PhoneError::NotANumber),
            ("+44 0 7700 900124 999", gb(), PhoneError::Invalid),
            ("+4478000001000", gb(), PhoneError::Invalid),
            ("+123456", gb(), PhoneError::Invalid),
            ("+44 7700 12", gb(), PhoneError::Invalid),
        ] {
            assert_eq!(Phone::parse(input, region), Err(err), "{input:?}");
        }
        assert_eq!(Region::parse("XX"), None);
        assert_eq!(Region::parse("fr").map(|r| r.code().to_owned()).as_deref(), Some("FR"));
    }

    #[test]
    fn display_and_debug_mask_all_but_two_digits() {
        let p = Phone::from_e164("+447000000070").expect("valid");
        assert_eq!(p.to_string(), "+••••••••••70");
        assert!(!format!("{p:?}").contains("7000000070"));
        assert_eq!(p.digits(), "447000000070");
        assert_eq!(p.prefix_bucket(), "+44700000");
    }

    #[test]
    fn stored_numbers_are_read_by_shape() {
        assert!(serde_json::from_str::<Phone>("\"+447000000070\"").is_ok());
        // A number stored before a metadata update is still read back.
        assert!(serde_json::from_str::<Phone>("\"+4477009000012\"").is_ok());
        assert!(serde_json::from_str::<Phone>("\"nope\"").is_err());
        assert!(serde_json::from_str::<Phone>("\"+0123456789\"").is_err());
    }
}
