//! A flow is one server-side record per password reset or login, keyed by the hash of the token in
//! the browser's `__Host-` flow cookie. Every step is one conditional transition from a named state;
//! a step out of order finds the wrong state and is refused.
//!
//! Reset, silent: `started` → `check_pending` → (callback claims it) `check_claimed` → `verified` →
//! `completed`. Reset, SMS: `started` or `check_failed` → `sim_ok` → `otp_sent` → `verified` →
//! `completed`. Login: `password_ok` → `sim_ok` → `otp_sent` → `completed` (a session is issued).
//! Ends: `rejected` (mismatch, SIM changed, no SIM answer) and `locked` (too many codes or sends).

use std::net::IpAddr;

use crate::clock::Timestamp;
use crate::domain::UserId;
use crate::random::TokenHash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Reset,
    Login,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Login => "login",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    Started,
    CheckPending,
    CheckClaimed,
    CheckFailed,
    PasswordOk,
    SimOk,
    OtpSent,
    Verified,
    Completed,
    Rejected,
    Locked,
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::CheckPending => "check_pending",
            Self::CheckClaimed => "check_claimed",
            Self::CheckFailed => "check_failed",
            Self::PasswordOk => "password_ok",
            Self::SimOk => "sim_ok",
            Self::OtpSent => "otp_sent",
            Self::Verified => "verified",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
            Self::Locked => "locked",
        }
    }

    /// Where a flow of `kind` may ask for the SIM check that opens the SMS path.
    pub fn may_sim_check(self, kind: FlowKind) -> bool {
        match kind {
            // Not covered, unknown email, or a silent check that failed without a mismatch.
            FlowKind::Reset => matches!(self, Self::Started | Self::CheckFailed),
            FlowKind::Login => self == Self::PasswordOk,
        }
    }
}

/// Why a flow stopped: fixed codes, the only thing a page ever shows (SECURITY.md G2, B6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowReason {
    /// The phone on this data connection is not the account's phone.
    NoMatch,
    /// The SIM for the account's number changed within the window: no phone-based proof.
    SimChanged,
    /// The silent check could not complete (expired, operator error, redirect unsupported).
    SilentFailed,
    /// tru.ID gave no SIM answer, and the policy does not allow an SMS without one.
    SimUnavailable,
    /// Too many wrong codes.
    TooManyAttempts,
}

impl FlowReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::NoMatch => "no_match",
            Self::SimChanged => "sim_changed",
            Self::SilentFailed => "silent_failed",
            Self::SimUnavailable => "sim_unavailable",
            Self::TooManyAttempts => "too_many_attempts",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    pub key: TokenHash,
    pub kind: FlowKind,
    /// `None` when the email matched no account: the flow still exists so that every answer looks
    /// the same (SECURITY.md A1), but no step can ever verify it and no SMS is ever sent for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub state: FlowState,
    /// The tru.ID SubscriberCheck bound to this flow. Secret-equivalent: it is the path of `check_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_id: Option<String>,
    /// Hash of the single-use reset token issued when the possession proof succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_token_hash: Option<TokenHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FlowReason>,
    /// The OTP provider's handle on the verification in flight (Vonage `request_id`, Twilio `sid`),
    /// and which provider it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_provider: Option<String>,
    /// SMS sends and code checks so far, each counted atomically *before* the provider call.
    pub otp_sends: u32,
    pub otp_attempts: u32,
    /// The SMS path was opened without a SIM answer (login, `allow_with_notice`): tighter limits.
    pub sim_unverified: bool,
    pub client_ip: IpAddr,
    pub user_agent: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Flow {
    /// A new flow in `state`, alive for `ttl_secs`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        key: TokenHash,
        kind: FlowKind,
        user_id: Option<UserId>,
        state: FlowState,
        client_ip: IpAddr,
        user_agent: String,
        now: Timestamp,
        ttl_secs: i64,
    ) -> Flow {
        Flow {
            key,
            kind,
            user_id,
            state,
            check_id: None,
            reset_token_hash: None,
            reason: None,
            otp_reference: None,
            otp_provider: None,
            otp_sends: 0,
            otp_attempts: 0,
            sim_unverified: false,
            client_ip,
            user_agent,
            created_at: now,
            expires_at: now.plus_secs(ttl_secs),
        }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// The fields a transition may set; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowUpdate {
    pub check_id: Option<String>,
    pub reset_token_hash: Option<TokenHash>,
    pub reason: Option<FlowReason>,
    pub otp_reference: Option<String>,
    pub otp_provider: Option<String>,
    pub sim_unverified: Option<bool>,
}

/// The per-flow counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowCounter {
    OtpSends,
    OtpAttempts,
}
