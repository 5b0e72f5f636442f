//! tru.ID as the handlers see it: typed requests, typed answers, typed failures.

use std::fmt;
use std::net::IpAddr;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::check::classify_subscriber_check;
use crate::domain::{CheckOutcome, CheckStatus, Phone};

/// A tru.ID check id: a UUID, validated before it is ever put into a URL path. Secret-equivalent
/// (it is the path of `check_url`), so it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckId(String);

impl CheckId {
    /// The id, or `None` unless it is a UUID.
    pub fn parse(raw: &str) -> Option<CheckId> {
        let b = raw.as_bytes();
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        ok.then(|| CheckId(raw.to_ascii_lowercase()))
    }

    /// The id, for a URL path to tru.ID or a comparison; never for a log.
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

    /// The code, for the PATCH body only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for CheckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckCode(<redacted>)")
    }
}

/// Device-IP coverage: whether the mobile network behind the IP supports SubscriberCheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// A silent check can run on this connection.
    SubscriberCheck,
    /// Not a mobile connection, or its operator is not supported.
    None,
}

/// A SubscriberCheck to create.
#[derive(Debug, Clone)]
pub struct NewSubscriberCheck {
    /// The account's number.
    pub phone: Phone,
    /// From configuration, never from the request (docs/security.md A6).
    pub redirect_url: String,
    /// Opaque, no personal data (tru.ID's own advice).
    pub reference_id: String,
    /// SIM-change window in minutes (tru.ID `period`, 60..=540000).
    pub period_minutes: u32,
}

/// A SubscriberCheck tru.ID created.
pub struct CreatedCheck {
    /// Its id, bound to the flow.
    pub check_id: CheckId,
    /// The URL the device must open over mobile data. Secret: whoever opens it on the account's phone
    /// completes the check, so it is only ever handed to the browser that started the flow.
    pub check_url: SecretString,
    /// How long tru.ID keeps it open.
    pub ttl_secs: u32,
}

impl fmt::Debug for CreatedCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedCheck").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

/// What a SubscriberCheck reported, field by field as tru.ID gave it (missing stays missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberCheckReport {
    /// `status`.
    pub status: CheckStatus,
    /// `match`.
    pub matched: Option<bool>,
    /// `no_sim_change`.
    pub no_sim_change: Option<bool>,
    /// `sim_change_within`, when the operator gives it.
    pub sim_change_within: Option<u32>,
    /// `error_code`, for a check in `ERROR`.
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

/// What a SIMCheck reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCheckReport {
    /// `status`.
    pub status: CheckStatus,
    /// `no_sim_change`.
    pub no_sim_change: Option<bool>,
    /// `sim_change_within`, when the operator gives it.
    pub sim_change_within: Option<u32>,
    /// `error_code`, for a check in `ERROR`.
    pub error_code: Option<String>,
}

/// Every way a tru.ID call can fail. Callers map each to an outcome; none becomes a 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TruIdError {
    /// An RFC 7807 answer; `slug` is the part of `type` after `#` (`mno_not_supported`, ...).
    #[error("tru.ID answered {status} {slug:?}")]
    Problem {
        /// The HTTP status.
        status: u16,
        /// The problem type's slug.
        slug: Option<String>,
    },
    /// 401/403, or no credentials in the secret.
    #[error("tru.ID refused our credentials")]
    Unauthorized,
    /// 429: tru.ID's account-wide rate limit.
    #[error("tru.ID rate limit reached")]
    RateLimited {
        /// `Retry-After`, when given.
        retry_after_secs: Option<u64>,
    },
    /// No answer in time.
    #[error("tru.ID call timed out")]
    Timeout,
    /// Connection failure or 5xx; a fixed label.
    #[error("tru.ID unavailable: {0}")]
    Unavailable(String),
    /// A 2xx whose body we could not trust (wrong shape, wrong types, unexpected host).
    #[error("provider answer not understood: {0}")]
    InvalidResponse(String),
}

impl crate::ports::ProviderFault for TruIdError {
    fn slug(&self) -> Option<&str> {
        match self {
            TruIdError::Problem { slug, .. } => slug.as_deref(),
            _ => None,
        }
    }

    /// A 4xx about this number or IP is an answer; a 5xx is a failure, and so is a 429: unlike the
    /// OTP providers' per-number limits, tru.ID's rate limit is account-wide.
    fn is_failure(&self) -> bool {
        match self {
            TruIdError::Problem { status, .. } => *status >= 500,
            TruIdError::RateLimited { .. }
            | TruIdError::Unauthorized
            | TruIdError::Timeout
            | TruIdError::Unavailable(_)
            | TruIdError::InvalidResponse(_) => true,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            TruIdError::Problem { .. } => "problem",
            TruIdError::Unauthorized => "unauthorized",
            TruIdError::RateLimited { .. } => "rate_limited",
            TruIdError::Timeout => "timeout",
            TruIdError::Unavailable(_) => "unavailable",
            TruIdError::InvalidResponse(_) => "invalid_response",
        }
    }
}

/// tru.ID (IDlayr): device coverage, SubscriberCheck and SIMCheck.
#[async_trait]
pub trait TruId: Send + Sync {
    /// `GET /coverage/v0.1/device_ips/{ip}`. A definite "no" (400 `mno_not_supported`, 412
    /// `not_mobile_ip`, 404 "No Reach") is `Ok(Coverage::None)`; only failures are errors.
    async fn coverage(&self, ip: IpAddr) -> Result<Coverage, TruIdError>;
    /// `POST /subscriber_check/v0.2/checks`
    async fn create_subscriber_check(&self, check: &NewSubscriberCheck) -> Result<CreatedCheck, TruIdError>;
    /// `PATCH /subscriber_check/v0.2/checks/{id}` with the code, exactly once.
    async fn complete_subscriber_check(
        &self,
        id: &CheckId,
        code: &CheckCode,
    ) -> Result<SubscriberCheckReport, TruIdError>;
    /// `GET /subscriber_check/v0.2/checks/{id}`: to learn what a PATCH did when its answer was lost.
    async fn get_subscriber_check(&self, id: &CheckId) -> Result<SubscriberCheckReport, TruIdError>;
    /// `POST /sim_check/v0.1/checks`
    async fn create_sim_check(
        &self,
        phone: &Phone,
        reference_id: &str,
        period_minutes: u32,
    ) -> Result<SimCheckReport, TruIdError>;
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
