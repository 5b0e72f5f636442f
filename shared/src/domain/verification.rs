//! A phone-possession verification a relying site asked for (the verification API): the number, why,
//! and where the browser goes back. The site's backend creates it with its API key; the browser
//! begins it once, through the single-use link simguard answers with; a flow then runs simguard's
//! own steps for it (silent proof where covered, the SIM-swap gate, an SMS code) and ends by sending
//! the browser back with a signed result token — or with an error code, never a reason to guess at.

use serde::{Deserialize, Serialize};

use crate::domain::relying_site::SiteId;
use crate::domain::result_token::Purpose;
use crate::domain::{Phone, Timestamp, TokenHash};

/// How long a created verification may wait for its browser.
pub const BEGIN_WITHIN_SECS: i64 = 600;

/// Longest `state` a site may pass through (it comes back on the return URL untouched).
pub const MAX_STATE_LEN: usize = 256;

/// Where a verification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Created; its link was not opened yet.
    Pending,
    /// A browser opened its link: a flow runs for it, and the link works no more.
    Begun,
}

/// What a flow proving a verification's number carries of it, so that no step reads it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationSubject {
    /// The verification's opaque id (the result token's `sub`).
    pub id: String,
    /// The site that asked (the result token's `aud`).
    pub site: SiteId,
    /// The number to prove.
    pub phone: Phone,
    /// Why the site asks.
    pub purpose: Purpose,
    /// Where the browser goes back, one of the site's registered URLs.
    pub return_url: String,
    /// The site's own value, handed back untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A verification as stored, keyed by the hash of its link's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// SHA-256 of the token in the link the browser opens.
    pub begin_hash: TokenHash,
    /// What the flow will prove.
    pub subject: VerificationSubject,
    /// The site's name, for the hosted page (kept here: opening the link reads nothing else).
    #[serde(default)]
    pub site_name: String,
    /// Where it is.
    pub status: VerificationStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its link stops working.
    pub expires_at: Timestamp,
}

/// The `state` a site may pass: printable ASCII, at most [`MAX_STATE_LEN`] bytes.
pub fn valid_state(raw: &str) -> bool {
    raw.len() <= MAX_STATE_LEN && raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// Why a verification ended without a proof: the code on the return URL (`error=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationError {
    /// The phone on the device's data connection is not the number.
    NoMatch,
    /// The number's SIM changed within the window.
    SimChanged,
    /// No SIM-swap answer, and no proof may be given without one.
    SimUnavailable,
    /// Too many wrong codes.
    TooManyAttempts,
    /// The user turned back (the hosted page's "Cancel").
    Cancelled,
    /// simguard could not go on (SMS unavailable, the number not supported): try again later.
    Unavailable,
}

impl VerificationError {
    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoMatch => "no_match",
            Self::SimChanged => "sim_changed",
            Self::SimUnavailable => "sim_unavailable",
            Self::TooManyAttempts => "too_many_attempts",
            Self::Cancelled => "cancelled",
            Self::Unavailable => "unavailable",
        }
    }
}

impl VerificationSubject {
    /// The return URL with the result token (`simguard_token`) and the site's `state`.
    pub fn return_with_token(&self, token: &str) -> String {
        self.return_with(&[("simguard_token", token)])
    }

    /// The return URL with an error code and the site's `state`.
    pub fn return_with_error(&self, error: VerificationError) -> String {
        self.return_with(&[("simguard_error", error.code())])
    }

    fn return_with(&self, pairs: &[(&str, &str)]) -> String {
        // The URL was checked when the site registered it, and again when the verification was
        // created: it parses. Should it not, the bare URL is still where the site expects the user.
        let Ok(mut url) = url::Url::parse(&self.return_url) else { return self.return_url.clone() };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(state) = &self.state {
                q.append_pair("state", state);
            }
        }
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(state: Option<&str>) -> VerificationSubject {
        VerificationSubject {
            id: "vrf_1".into(),
            site: SiteId::parse("shop").expect("id"),
            phone: Phone::parse("+447700900001", None).expect("phone"),
            purpose: Purpose::Recovery,
            return_url: "https://shop.example/back?x=1".into(),
            state: state.map(str::to_owned),
        }
    }

    #[test]
    fn the_return_url_keeps_the_sites_query_and_adds_ours() {
        assert_eq!(
            subject(Some("a b&c")).return_with_token("t.k.n"),
            "https://shop.example/back?x=1&simguard_token=t.k.n&state=a+b%26c"
        );
        assert_eq!(
            subject(None).return_with_error(VerificationError::SimChanged),
            "https://shop.example/back?x=1&simguard_error=sim_changed"
        );
    }

    #[test]
    fn state_is_bounded_printable_ascii() {
        assert!(valid_state("abc-123 ~"));
        assert!(!valid_state("line\nbreak"));
        assert!(!valid_state("é"));
        assert!(!valid_state(&"x".repeat(MAX_STATE_LEN + 1)));
    }
}
