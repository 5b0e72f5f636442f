//! SMS one-time codes, sent and checked by a provider (Vonage Verify v1 or v2, Twilio Verify v2).
//! The provider generates the code (docs/security.md C2); we keep only its handle on the verification.

use std::fmt;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Phone;

/// A code as typed by the user: 4 to 10 digits (spaces and dashes dropped). Never logged.
pub struct OtpCode(SecretString);

impl OtpCode {
    /// The code, or `None` when it cannot be one.
    pub fn parse(raw: &str) -> Option<OtpCode> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let ok = (4..=10).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit());
        ok.then(|| OtpCode(SecretString::from(digits)))
    }

    /// The digits, for the provider's check request only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

/// The provider's handle on a verification: Vonage `request_id`, Twilio `sid`. Validated as a plain
/// token (letters, digits, dashes) before it is put into any URL or body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OtpReference(String);

impl OtpReference {
    /// The reference, or `None` when it is not a plain token.
    pub fn parse(raw: &str) -> Option<OtpReference> {
        let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
        ok.then(|| OtpReference(raw.to_owned()))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a notice (a text message that carries no code) comes from: a Twilio Messaging Service SID
/// (`MG` and 32 hex digits), a number in international form, or an alphanumeric sender ID (1–11
/// letters, digits or spaces, not all digits) where the destination country allows one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSender(String);

impl SmsSender {
    /// The sender, if it is one of the three forms.
    pub fn parse(raw: &str) -> Option<SmsSender> {
        let service = raw.len() == 34 && raw.starts_with("MG") && raw[2..].bytes().all(|c| c.is_ascii_hexdigit());
        let number = raw.strip_prefix('+').is_some_and(|d| {
            (7..=15).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
        });
        let alphanumeric = (1..=11).contains(&raw.len())
            && raw.bytes().all(|c| c.is_ascii_alphanumeric() || c == b' ')
            && raw.bytes().any(|c| c.is_ascii_alphabetic())
            && raw.trim() == raw;
        (service || number || alphanumeric).then(|| SmsSender(raw.to_owned()))
    }

    /// A Twilio Messaging Service, which picks the number itself.
    pub fn is_messaging_service(&self) -> bool {
        self.0.starts_with("MG") && self.0.len() == 34
    }

    /// As configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Twilio Verify Service SID: `VA` and 32 hex digits. The Service holds the code length, the
/// name in the SMS and Fraud Guard's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioServiceSid(String);

impl TwilioServiceSid {
    /// The SID, or `None` unless it is `VA` followed by 32 hex digits.
    pub fn parse(raw: &str) -> Option<TwilioServiceSid> {
        let ok = raw.len() == 34 && raw.starts_with("VA") && raw[2..].bytes().all(|c| c.is_ascii_hexdigit());
        ok.then(|| TwilioServiceSid(raw.to_owned()))
    }

    /// The SID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the provider said about a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpCheck {
    /// The right code.
    Approved,
    /// Wrong code; the verification is still open.
    Wrong,
    /// The provider ended the verification after too many wrong codes.
    TooManyAttempts,
    /// Expired, cancelled, already used or unknown: a new code is needed.
    Expired,
}

/// Every way a provider call can fail; each maps to an outcome, none to a 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    /// A verification to this number is already in flight (Vonage v1 status 10, v2 409); its
    /// reference when the provider gave it.
    #[error("a verification is already in flight")]
    InFlight {
        /// The verification in flight.
        reference: Option<OtpReference>,
    },
    /// The provider will not send to this number (unroutable, barred, landline, unsupported
    /// network, demo-mode allowlist, invalid). `kind` is a fixed label for logs and metrics.
    #[error("the provider refused the number ({kind})")]
    NumberRefused {
        /// A fixed label.
        kind: &'static str,
    },
    /// The provider's limit for this number or account.
    #[error("provider rate limit")]
    RateLimited {
        /// `Retry-After`, when given.
        retry_after_secs: Option<u64>,
    },
    /// 401/403, or no credentials in the secret.
    #[error("provider refused our credentials")]
    Unauthorized,
    /// No answer in time.
    #[error("provider call timed out")]
    Timeout,
    /// Connection failure, 5xx, or the provider's own trouble (no credit, internal error).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// A 2xx whose body we could not trust.
    #[error("provider answer not understood: {0}")]
    InvalidResponse(String),
    /// The verification cannot be cancelled now (Vonage: not in its first 30 seconds).
    #[error("the verification cannot be cancelled yet")]
    NotCancellable,
}

impl OtpError {
    /// Whether a check that failed this way may have been counted by the provider: a 2xx we could not
    /// read was. A timeout may have been too, but only the provider's own attempt cap then stands
    /// between a guesser and the code, and a guesser cannot make the provider time out; connection
    /// failures, 5xx, throttling and refused credentials were never checks.
    pub fn reached_a_check(&self) -> bool {
        matches!(self, Self::InvalidResponse(_))
    }
}

impl crate::ports::ProviderFault for OtpError {
    /// A refusal about the number, or a per-number rate limit, is an answer, not a failure.
    fn is_failure(&self) -> bool {
        matches!(self, Self::Unauthorized | Self::Timeout | Self::Unavailable(_) | Self::InvalidResponse(_))
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::InFlight { .. } => "in_flight",
            Self::NumberRefused { kind } => kind,
            Self::RateLimited { .. } => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Timeout => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::InvalidResponse(_) => "invalid_response",
            Self::NotCancellable => "not_cancellable",
        }
    }
}

/// An SMS verification service.
#[async_trait]
pub trait OtpProvider: Send + Sync {
    /// `vonage-v1`, `vonage-v2` or `twilio`.
    fn name(&self) -> &'static str;
    /// Sends a code to `to`. `client_ref` is an opaque id of ours (no personal data).
    async fn start(&self, to: &Phone, client_ref: &str) -> Result<OtpReference, OtpError>;
    /// Checks a code. Each call uses up one of the provider's attempts: never retried blindly.
    async fn check(&self, reference: &OtpReference, to: &Phone, code: &OtpCode) -> Result<OtpCheck, OtpError>;
    /// Ends a verification in flight, so that another can start for the number. A verification that
    /// has already ended (approved, expired, cancelled, unknown) is `Ok`.
    async fn cancel(&self, reference: &OtpReference) -> Result<(), OtpError>;
    /// Whether the provider approved this verification: after a check whose answer (or our record of
    /// it) was lost, the code is spent, and only this read can finish the flow without a new SMS
    /// (docs/security.md R9). `Ok(None)` when the provider cannot tell: Twilio deletes a verification
    /// once approved, and Vonage Verify v2 has no read.
    async fn approved(&self, _reference: &OtpReference) -> Result<Option<bool>, OtpError> {
        Ok(None)
    }
    /// How many codes the provider checks for one verification before it ends it: Vonage ends a
    /// verification at its third wrong code, Twilio at its fifth check. The tries a user is told are
    /// left count this down, not only simguard's own cap. Unknown: as many as simguard allows.
    fn max_checks(&self) -> u32 {
        u32::MAX
    }
    /// Whether the wrong code that reaches [`max_checks`](Self::max_checks) ends the verification
    /// itself ("too many": Vonage's third), rather than the check after it (Twilio's sixth). A flow
    /// with no code to check answers its wrong codes the same way, so they tell nothing (S24).
    fn ends_on_last_wrong_code(&self) -> bool {
        false
    }
    /// How long a start within a verification's life is refused as "in flight" rather than re-sent:
    /// Vonage's code life; `None` for Twilio, which sends the same code again.
    fn in_flight_window_secs(&self) -> Option<u64> {
        None
    }
    /// Texts `text` to `to` from `from` through the provider's messaging API (Twilio Programmable
    /// Messaging, Vonage's SMS API) with the same credentials: a notice, never a code — the old
    /// number is told of a phone change. Sent once (never retried once it may have left).
    async fn send_notice(&self, to: &Phone, from: &SmsSender, text: &str) -> Result<(), OtpError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(OtpCode::parse("123 456").map(|c| c.expose().to_owned()), Some("123456".into()));
        for bad in ["", "123", "12345678901", "12a456", "１２３４５６", "123456\n"] {
            assert!(OtpCode::parse(bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{:?}", OtpCode::parse("123456")).contains("123456"));
    }

    #[test]
    fn references() {
        assert!(OtpReference::parse("abcdef0123456789abcdef0123456789").is_some());
        assert!(OtpReference::parse("c11236f4-00bf-4b89-84ba-88b25df97315").is_some());
        for bad in ["", "../x", "a b", "a?b=c", &"a".repeat(65)] {
            assert!(OtpReference::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn service_sids() {
        assert!(TwilioServiceSid::parse("VA0123456789abcdef0123456789ABCDEF").is_some());
        for bad in ["", "VA123", "XX0123456789abcdef0123456789abcdef", "VA0123456789abcdef0123456789abcdeg"] {
            assert!(TwilioServiceSid::parse(bad).is_none(), "{bad}");
        }
    }
}
