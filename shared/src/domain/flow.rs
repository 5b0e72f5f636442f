//! A flow is one server-side record per password reset, keyed by the hash of the token in the
//! browser's `__Host-` flow cookie. Every step is one conditional transition from a named state; a
//! step out of order finds the wrong state and is refused.
//!
//! Reset: `started` → `check_pending` → (callback claims it) `check_claimed` → `verified` →
//! `completed`. A failed silent check ends in `check_failed` (SMS fallback may follow) or `rejected`
//! (mismatch, SIM swapped: no phone path at all).

use std::net::IpAddr;

use crate::clock::Timestamp;
use crate::domain::UserId;
use crate::random::TokenHash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    Started,
    CheckPending,
    CheckClaimed,
    CheckFailed,
    Verified,
    Completed,
    Rejected,
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::CheckPending => "check_pending",
            Self::CheckClaimed => "check_claimed",
            Self::CheckFailed => "check_failed",
            Self::Verified => "verified",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
        }
    }
}

/// Why a flow stopped: fixed codes, the only thing a page ever shows (SECURITY.md G2, B6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowReason {
    /// The phone on this data connection is not the account's phone.
    NoMatch,
    /// The SIM for the account's number changed within the window: no phone-based reset.
    SimChanged,
    /// The silent check could not complete (expired, operator error, redirect unsupported).
    SilentFailed,
}

impl FlowReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::NoMatch => "no_match",
            Self::SimChanged => "sim_changed",
            Self::SilentFailed => "silent_failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    pub key: TokenHash,
    pub kind: FlowKind,
    /// `None` when the email matched no account: the flow still exists so that every answer looks
    /// the same (SECURITY.md A1), but no step can ever verify it.
    pub user_id: Option<UserId>,
    pub state: FlowState,
    /// The tru.ID SubscriberCheck bound to this flow. Secret-equivalent: it is the path of `check_url`.
    pub check_id: Option<String>,
    /// Hash of the single-use reset token issued when the possession proof succeeded.
    pub reset_token_hash: Option<TokenHash>,
    pub reason: Option<FlowReason>,
    pub client_ip: IpAddr,
    pub user_agent: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Flow {
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
}
