//! tru.ID as the handlers see it: typed requests, typed answers, typed failures.

use std::fmt;
use std::net::IpAddr;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Phone;
use crate::domain::outcome::{CheckOutcome, CheckStatus, classify_subscriber_check};

/// A tru.ID check id: a UUID, validated before it is ever put into a URL path. Secret-equivalent
/// (it is the path of `check_url`), so it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckId(String);

impl CheckId {
    pub fn parse(raw: &str) -> Option<CheckId> {
        let b = raw.as_bytes();
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        ok.then(|| CheckId(raw.to_ascii_lowercase()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckId(<redacted>)")
    }
}

/// The one-time code the operator redirect hands the browser. Never logged.
pub struct CheckCode(SecretString);

impl CheckCode {
    /// tru.ID codes are short alphanumeric strings (`94dae426fg`); anything else is refused before it
    /// is sent anywhere.
    pub fn parse(raw: &str) -> Option<CheckCode> {
        let ok =
            (1..=128).contains(&raw.len()) && raw.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        ok.then(|| CheckCode(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for CheckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckCode(<redacted>)")
    }
}

/// Device-IP coverage: which products the network behind the IP supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub subscriber_check: bool,
    pub sim_check: bool,
}

impl Coverage {
    pub const NONE: Coverage = Coverage { subscriber_check: false, sim_check: false };
}

#[derive(Debug, Clone)]
pub struct NewSubscriberCheck {
    pub phone: Phone,
    /// From configuration, never from the request (SECURITY.md A6).
    pub redirect_url: String,
    /// Opaque, no personal data (tru.ID's own advice).
    pub reference_id: String,
    /// SIM-change window in minutes (tru.ID `period`, 60..=540000).
    pub period_minutes: u32,
}

pub struct CreatedCheck {
    pub check_id: CheckId,
    /// The URL the device must open over mobile data. Secret: whoever opens it on the account's phone
    /// completes the check, so it is only ever handed to the browser that started the flow.
    pub check_url: SecretString,
    pub ttl_secs: u32,
}

impl fmt::Debug for CreatedCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedCheck").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberCheckReport {
    pub status: CheckStatus,
    pub matched: Option<bool>,
    pub no_sim_change: Option<bool>,
    pub sim_change_within: Option<u32>,
    pub error_code: Option<String>,
}

impl SubscriberCheckReport {
    /// `window_minutes`: our SIM-change window, against which `sim_change_within` is judged.
    pub fn outcome(&self, window_minutes: u32) -> CheckOutcome {
        classify_subscriber_check(
            self.status,
            self.matched,
            self.no_sim_change,
            self.sim_change_within,
            self.error_code.as_deref(),
            window_minutes,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCheckReport {
    pub status: CheckStatus,
    pub no_sim_change: Option<bool>,
    pub sim_change_within: Option<u32>,
    pub error_code: Option<String>,
}

/// Every way a provider call can fail. Callers map each to an outcome; none becomes a 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// An RFC 7807 answer; `slug` is the part of `type` after `#` (`mno_not_supported`, ...).
    #[error("provider answered {status} {slug:?}")]
    Problem { status: u16, slug: Option<String> },
    #[error("provider refused our credentials")]
    Unauthorized,
    #[error("provider rate limit reached")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("provider call timed out")]
    Timeout,
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// A 2xx whose body we could not trust (wrong shape, wrong types, unexpected host).
    #[error("provider answer not understood: {0}")]
    InvalidResponse(String),
}

impl super::ProviderFault for ProviderError {
    fn slug(&self) -> Option<&str> {
        match self {
            ProviderError::Problem { slug, .. } => slug.as_deref(),
            _ => None,
        }
    }

    /// A 4xx about this number or IP is an answer; a 5xx is a failure, and so is a 429: unlike the
    /// OTP providers' per-number limits, tru.ID's rate limit is account-wide.
    fn is_failure(&self) -> bool {
        match self {
            ProviderError::Problem { status, .. } => *status >= 500,
            ProviderError::RateLimited { .. }
            | ProviderError::Unauthorized
            | ProviderError::Timeout
            | ProviderError::Unavailable(_)
            | ProviderError::InvalidResponse(_) => true,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ProviderError::Problem { .. } => "problem",
            ProviderError::Unauthorized => "unauthorized",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Timeout => "timeout",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::InvalidResponse(_) => "invalid_response",
        }
    }
}

#[async_trait]
pub trait TruId: Send + Sync {
    /// `GET /coverage/v0.1/device_ips/{ip}`. A definite "no" (400 `mno_not_supported`, 412
    /// `not_mobile_ip`, 404 "No Reach") is `Ok(Coverage::NONE)`; only failures are errors.
    async fn coverage(&self, ip: IpAddr) -> Result<Coverage, ProviderError>;
    /// `POST /subscriber_check/v0.2/checks`
    async fn create_subscriber_check(&self, check: &NewSubscriberCheck) -> Result<CreatedCheck, ProviderError>;
    /// `PATCH /subscriber_check/v0.2/checks/{id}` with the code, exactly once.
    async fn complete_subscriber_check(
        &self,
        id: &CheckId,
        code: &CheckCode,
    ) -> Result<SubscriberCheckReport, ProviderError>;
    /// `GET /subscriber_check/v0.2/checks/{id}`: to learn what a PATCH did when its answer was lost.
    async fn get_subscriber_check(&self, id: &CheckId) -> Result<SubscriberCheckReport, ProviderError>;
    /// `POST /sim_check/v0.1/checks`
    async fn create_sim_check(
        &self,
        phone: &Phone,
        reference_id: &str,
        period_minutes: u32,
    ) -> Result<SimCheckReport, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_must_be_uuids() {
        assert!(CheckId::parse("c69bc0e6-a429-11ea-bb37-0242ac130002").is_some());
        assert_eq!(
            CheckId::parse("C69BC0E6-A429-11EA-BB37-0242AC130002").map(|c| c.expose().to_owned()),
            Some("c69bc0e6-a429-11ea-bb37-0242ac130002".into())
        );
        for bad in [
            "",
            "c69bc0e6a42911eabb370242ac130002",
            "../../oauth2/v1/token",
            "c69bc0e6-a429-11ea-bb37-0242ac13000g",
            "c69bc0e6-a429-11ea-bb37-0242ac130002/x",
        ] {
            assert!(CheckId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn codes_are_short_and_plain() {
        assert!(CheckCode::parse("94dae426fg").is_some());
        for bad in ["", "a b", "a/../b", "<script>", &"a".repeat(129)] {
            assert!(CheckCode::parse(bad).is_none(), "{bad}");
        }
        assert!(!format!("{:?}", CheckCode::parse("94dae426fg")).contains("94dae"));
    }
}
