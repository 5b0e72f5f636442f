//! A flow is one server-side record per password reset or login, keyed by the hash of the token in
//! the browser's `__Host-` flow cookie. Its states and the steps between them are in
//! [`crate::domain::transitions`]; the diagrams are in docs/architecture.md.

use std::net::IpAddr;

use crate::domain::verification::VerificationSubject;
use crate::domain::{Phone, Timestamp, TokenHash, UserId};

/// What a flow is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// A password reset: proves the phone, then sets a new password.
    Reset,
    /// A sign-in: the password was right; the phone is the second factor.
    Login,
    /// A signed-in change of the phone number: the password again, then the current number, then
    /// the new one (docs/security.md S31).
    PhoneChange,
    /// A relying site's verification of a number (the verification API): no account of ours; it
    /// ends by sending the browser back to the site with a signed result.
    Verification,
}

impl FlowKind {
    /// The stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Login => "login",
            Self::PhoneChange => "phone_change",
            Self::Verification => "verification",
        }
    }
}

/// Where a flow is. Stored as its snake-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// A reset without a silent check (not covered, unknown email): the SIM check comes next.
    Started,
    /// A reset whose SubscriberCheck was created; waiting for the operator's redirect.
    CheckPending,
    /// The callback claimed the flow and is exchanging the code.
    CheckClaimed,
    /// The silent check could not complete (no verdict): the SMS path is open.
    CheckFailed,
    /// A login (or phone change) whose password was right; the SIM check comes next.
    PasswordOk,
    /// The SIM-swap gate passed: a code may be sent.
    SimOk,
    /// A code was sent (or, for an unknown email, pretended to be).
    OtpSent,
    /// A reset proved the phone: the new password may be set.
    Verified,
    /// A phone change proved the current number: the new number's proof comes next (silent, or
    /// the SIM check and a code).
    CurrentProven,
    /// A phone change's silent proof of the new number was started; waiting for the redirect.
    NewCheckPending,
    /// The callback claimed a phone change's silent proof of the new number.
    NewCheckClaimed,
    /// The silent proof of the new number gave no verdict: its SIM check and a code are next.
    NewCheckFailed,
    /// The new number was proven silently: the change is made by the next request (which texts
    /// the number the account leaves).
    NewProven,
    /// A phone change's new number passed the SIM-swap gate: a code may be sent to it.
    NewSimOk,
    /// A code was sent to a phone change's new number.
    NewOtpSent,
    /// Done: password changed, or signed in.
    Completed,
    /// Refused for good (mismatch, SIM changed, no SIM answer).
    Rejected,
    /// Too many wrong codes.
    Locked,
}

impl FlowState {
    /// Every state.
    pub const ALL: [FlowState; 18] = [
        Self::Started,
        Self::CheckPending,
        Self::CheckClaimed,
        Self::CheckFailed,
        Self::PasswordOk,
        Self::SimOk,
        Self::OtpSent,
        Self::Verified,
        Self::CurrentProven,
        Self::NewCheckPending,
        Self::NewCheckClaimed,
        Self::NewCheckFailed,
        Self::NewProven,
        Self::NewSimOk,
        Self::NewOtpSent,
        Self::Completed,
        Self::Rejected,
        Self::Locked,
    ];

    /// The stored name.
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
            Self::CurrentProven => "current_proven",
            Self::NewCheckPending => "new_check_pending",
            Self::NewCheckClaimed => "new_check_claimed",
            Self::NewCheckFailed => "new_check_failed",
            Self::NewProven => "new_proven",
            Self::NewSimOk => "new_sim_ok",
            Self::NewOtpSent => "new_otp_sent",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
            Self::Locked => "locked",
        }
    }
}

/// Why a flow stopped: fixed codes, the only thing a page ever shows (docs/security.md G2, B6).
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
    /// The code a page maps to a sentence.
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

/// One password reset or login, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    /// SHA-256 of the flow cookie's token.
    pub key: TokenHash,
    /// Reset or login.
    pub kind: FlowKind,
    /// `None` when the email matched no account: the flow still exists so that every answer looks
    /// the same (docs/security.md A1), but no step can ever verify it and no SMS is ever sent for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The account's credential version when the flow started: a password reset (or anything else
    /// that bumps it) ends the flow as it ends sessions (docs/security.md S21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_version: Option<u64>,
    /// For an unknown email: a keyed stand-in for a phone number, so that the per-number SMS limits
    /// behave for it as they would for a real number (docs/security.md S24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_email_key: Option<String>,
    /// What the SMS limits count this flow's sends under, fixed when it starts, so that a send can
    /// count them without reading the account first (docs/security.md R11). `None` in flows stored
    /// before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_keys: Option<SmsKeys>,
    /// The flow goes on like any other but can never send a code or verify: an unknown email, or a
    /// reset the SIM-swap gate refused without saying so (docs/security.md S24).
    #[serde(default)]
    pub decoy: bool,
    /// A phone change's new number, proven after the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_phone: Option<Phone>,
    /// A relying site's verification: the number it proves and where the result goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationSubject>,
    /// Where it is.
    pub state: FlowState,
    /// The silent proof bound to this flow: the prover's handle on it (tru.ID's `check_id`, CAMARA's
    /// `state`). Secret-equivalent: it is in the URL the device opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_id: Option<String>,
    /// Which silent prover `check_id` belongs to; `None` in flows stored before there was a choice
    /// (tru.ID's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_provider: Option<String>,
    /// What only the proof's completion needs (CAMARA's PKCE verifier). Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_secret: Option<String>,
    /// Hash of the single-use reset token issued when the possession proof succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_token_hash: Option<TokenHash>,
    /// Why it stopped, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FlowReason>,
    /// The OTP provider's handle on the verification in flight (Vonage `request_id`, Twilio `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_reference: Option<String>,
    /// Which OTP provider `otp_reference` belongs to (`vonage-v1`, `vonage-v2`, `twilio`): a code is
    /// checked only with the provider that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_provider: Option<String>,
    /// When a code was last sent (or, for a decoy, pretended to be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_sent_at: Option<Timestamp>,
    /// When the operator's redirect claimed the flow (silent reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    /// SMS sends so far, each counted atomically *before* the provider call.
    pub otp_sends: u32,
    /// Code checks so far, each counted atomically *before* the provider call.
    pub otp_attempts: u32,
    /// The SMS path was opened without a SIM answer (login, `allow_with_notice`): tighter limits.
    pub sim_unverified: bool,
    /// What each SIM-swap source asked said, in order (`camara:cannot_tell,truid:not_changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_answers: Option<String>,
    /// The address that started it (for the owner's notification).
    pub client_ip: IpAddr,
    /// The browser that started it (for the owner's notification).
    pub user_agent: String,
    /// When it started.
    pub created_at: Timestamp,
    /// When it dies; every read treats it as absent from then on.
    pub expires_at: Timestamp,
}

/// The keys of the per-number SMS limits: hashes of the account's number and of its prefix (for an
/// unknown email, of stand-ins), never the number itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SmsKeys {
    /// The number's key.
    pub number: String,
    /// Its prefix's key.
    pub prefix: String,
}

/// How a flow begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowOrigin {
    /// A reset whose silent proof was started: the device opens its URL next.
    ResetSilent(SilentBinding),
    /// A reset on the SMS path (not covered, no check, or an unknown email).
    ResetSms,
    /// A sign-in whose password was right.
    Login,
    /// A signed-in phone change whose password was right.
    PhoneChange {
        /// The number to move to, proven after the current one.
        new_phone: Phone,
    },
    /// A relying site's verification, begun by its browser: silently where a prover reached the
    /// device, else on the SMS path.
    Verification {
        /// The silent proof started for it, if any.
        silent: Option<SilentBinding>,
    },
}

/// A silent proof bound to a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentBinding {
    /// The prover's name.
    pub provider: String,
    /// Its handle on the proof.
    pub handle: String,
    /// What only the completion needs.
    pub secret: Option<String>,
}

/// Whose flow it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowAccount {
    /// The email matched this account, at this credential version.
    Known {
        /// The account.
        user_id: UserId,
        /// Its credential version now.
        credential_version: u64,
    },
    /// The email matched no account; the key stands in for its phone number in the SMS limits.
    Unknown {
        /// A keyed hash of the email.
        email_key: String,
    },
    /// No account of ours: a relying site's verification of this number.
    Site(VerificationSubject),
}

/// Everything a new flow is made of, besides its key.
#[derive(Debug, Clone)]
pub struct NewFlow {
    /// How it begins.
    pub origin: FlowOrigin,
    /// Whose it is.
    pub account: FlowAccount,
    /// Its SMS limits' keys.
    pub sms_keys: SmsKeys,
    /// The caller's address.
    pub client_ip: IpAddr,
    /// The caller's browser.
    pub user_agent: String,
    /// Now.
    pub now: Timestamp,
    /// How long it lives.
    pub ttl_secs: i64,
}

impl Flow {
    /// A new flow: its kind, first state and bound check follow from how it begins.
    pub fn start(key: TokenHash, new: NewFlow) -> Flow {
        let (kind, state, silent, new_phone) = match new.origin {
            FlowOrigin::ResetSilent(binding) => (FlowKind::Reset, FlowState::CheckPending, Some(binding), None),
            FlowOrigin::ResetSms => (FlowKind::Reset, FlowState::Started, None, None),
            FlowOrigin::Login => (FlowKind::Login, FlowState::PasswordOk, None, None),
            FlowOrigin::PhoneChange { new_phone } => {
                (FlowKind::PhoneChange, FlowState::PasswordOk, None, Some(new_phone))
            }
            FlowOrigin::Verification { silent: Some(binding) } => {
                (FlowKind::Verification, FlowState::CheckPending, Some(binding), None)
            }
            FlowOrigin::Verification { silent: None } => (FlowKind::Verification, FlowState::Started, None, None),
        };
        let (check_id, silent_provider, silent_secret) = match silent {
            Some(b) => (Some(b.handle), Some(b.provider), b.secret),
            None => (None, None, None),
        };
        let (user_id, credential_version, unknown_email_key, verification) = match new.account {
            FlowAccount::Known { user_id, credential_version } => (Some(user_id), Some(credential_version), None, None),
            FlowAccount::Unknown { email_key } => (None, None, Some(email_key), None),
            FlowAccount::Site(subject) => (None, None, None, Some(subject)),
        };
        Flow {
            key,
            kind,
            decoy: user_id.is_none() && verification.is_none(),
            verification,
            user_id,
            credential_version,
            unknown_email_key,
            sms_keys: Some(new.sms_keys),
            new_phone,
            state,
            check_id,
            silent_provider,
            silent_secret,
            reset_token_hash: None,
            reason: None,
            otp_reference: None,
            otp_provider: None,
            otp_sent_at: None,
            claimed_at: None,
            otp_sends: 0,
            otp_attempts: 0,
            sim_unverified: false,
            sim_answers: None,
            client_ip: new.client_ip,
            user_agent: new.user_agent,
            created_at: new.now,
            expires_at: new.now.plus_secs(new.ttl_secs),
        }
    }

    /// Whether the steps now prove a phone change's new number rather than the account's.
    pub fn proves_new_phone(&self) -> bool {
        matches!(
            self.state,
            FlowState::CurrentProven
                | FlowState::NewCheckPending
                | FlowState::NewCheckClaimed
                | FlowState::NewCheckFailed
                | FlowState::NewProven
                | FlowState::NewSimOk
                | FlowState::NewOtpSent
        )
    }

    /// The number the flow's SIM check and code go to: the account's, or, once a phone change proved
    /// it, the new one.
    pub fn number<'a>(&'a self, account_phone: &'a Phone) -> Option<&'a Phone> {
        if self.proves_new_phone() { self.new_phone.as_ref() } else { Some(account_phone) }
    }

    /// Whether it is still alive at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    /// Whether this flow may still send codes and verify: a known account, not a decoy, and the
    /// account's credentials unchanged since it started.
    pub fn can_verify(&self, credential_version: u64) -> bool {
        self.user_id.is_some() && !self.decoy && self.credential_version == Some(credential_version)
    }

    /// Seconds it has left at `now` (what a cookie issued now may live).
    pub fn remaining_secs(&self, now: Timestamp) -> i64 {
        now.secs_until(self.expires_at)
    }
}
