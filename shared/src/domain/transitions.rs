//! The flow's state machine, in one place: which step may happen in which state of which kind of
//! flow, where it leads, and what it writes. Handlers ask [`Flow::apply`] for a [`Transition`] and
//! the store persists it with one conditional write (`state = from`), so a step out of order, a
//! replay or the loser of a race finds the wrong state and is refused.
//!
//! ```text
//! reset, silent:  check_pending → check_claimed → verified → completed
//!                                              ↘ rejected (no match, SIM changed)
//!                                              ↘ check_failed → (the SMS path below)
//! reset, SMS:     started | check_failed → sim_ok → otp_sent → verified → completed
//! login:          password_ok → sim_ok → otp_sent → completed (a session is issued)
//! login, silent:  password_ok → check_pending → check_claimed → completed (a session is issued)
//!                                              ↘ rejected (SIM changed)
//!                                              ↘ check_failed → sim_ok → … (the SMS path above)
//! phone change:   password_ok → sim_ok → otp_sent → current_proven          (the current number)
//!                 password_ok → check_pending → check_claimed → current_proven      (… silently)
//!                                              ↘ rejected (SIM changed)
//!                                              ↘ check_failed → sim_ok → … (the SMS path above)
//!                 current_proven → new_sim_ok → new_otp_sent → completed    (the new number)
//!                 current_proven → new_check_pending → new_check_claimed → new_proven → completed
//!                                              ↘ rejected (SIM changed)     (… silently)
//!                                              ↘ new_check_failed → new_sim_ok → … (by SMS)
//! SIM gate:       started | check_failed | password_ok | current_proven | new_check_failed → rejected
//! codes:          otp_sent | new_otp_sent → locked (too many wrong codes)
//! ```

use crate::domain::{Flow, FlowKind, FlowReason, FlowState, SilentBinding, SmsKeys, Timestamp, TokenHash};

/// A step of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowEvent {
    /// A sign-in whose password was right starts a SubscriberCheck instead of the SIM check and a
    /// code: the device's network can prove the phone silently.
    SilentStarted(SilentBinding),
    /// The SubscriberCheck proved a sign-in's phone (or its SIM changed within an unproven new
    /// account's grace): a session is issued.
    SilentSignedIn,
    /// The operator's redirect reached the callback: the flow is claimed before the code is
    /// exchanged, so only one callback ever reaches tru.ID.
    CallbackClaimed {
        /// When: a claim older than a callback can run was left by one that died (R9).
        at: Timestamp,
    },
    /// The SubscriberCheck proved the phone; a reset token is issued.
    SilentVerified {
        /// Hash of the reset token the browser receives.
        reset_token_hash: TokenHash,
    },
    /// The SubscriberCheck answered "not this phone" or "SIM changed": no other path either.
    SilentRejected {
        /// [`FlowReason::NoMatch`] or [`FlowReason::SimChanged`].
        reason: FlowReason,
    },
    /// The silent check gave no verdict (expired, operator error): the SMS path opens.
    SilentFailed,
    /// The SIM-swap gate passed.
    SimPassed {
        /// It passed without a SIM answer (login, `allow_with_notice`): tighter limits follow.
        unverified: bool,
    },
    /// The SIM-swap gate refused.
    SimBlocked {
        /// [`FlowReason::SimChanged`] or [`FlowReason::SimUnavailable`].
        reason: FlowReason,
    },
    /// The SIM-swap gate refused a reset, and the flow goes on as a decoy: on the anonymous reset
    /// path the refusal is not shown, so that it cannot tell a registered email from an unknown one.
    SimRefusedQuietly {
        /// [`FlowReason::SimChanged`] or [`FlowReason::SimUnavailable`].
        reason: FlowReason,
    },
    /// A code was sent, or re-sent (or, for a decoy, nothing was and nothing will be).
    CodeSent {
        /// The provider's handle on the verification, and the provider's name.
        verification: Option<(String, String)>,
        /// When it was sent (or pretended to be); `None` when nothing new went out.
        at: Option<Timestamp>,
    },
    /// The right code: a reset is verified (a reset token is issued), a login completes.
    CodeVerified {
        /// The reset token's hash (resets only).
        reset_token_hash: Option<TokenHash>,
    },
    /// A phone change's code to the current number was right: the new number is next, its SMS
    /// limits counted under its own keys, with fresh per-flow counters.
    CurrentNumberProven {
        /// The new number's SMS-limit keys.
        new_number_keys: SmsKeys,
    },
    /// Too many wrong codes.
    Locked,
    /// The new password was stored (with the flow's completion, in one transaction).
    PasswordChanged,
    /// The SIM check passed for a sign-in from a remembered browser: signed in without a code.
    SignedInOnRememberedDevice,
    /// A relying site's phone confirmation goes on although the SIM changed within the window: a
    /// number the site has just been given is often on a new SIM. The result says so, and the site
    /// decides; every other purpose is refused instead.
    SimChangeAccepted,
    /// A relying site's verification proved the number (silently or by a code): the result token
    /// is issued.
    Proven,
    /// A phone change's silent proof of the new number passed (the SIM-swap policy with it).
    NewNumberProven,
    /// A phone change whose new number was proven silently is made (with the account's new number,
    /// in one transaction).
    PhoneChanged,
}

impl FlowEvent {
    /// The stable label for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SilentStarted(_) => "silent_started",
            Self::SilentSignedIn => "silent_signed_in",
            Self::CallbackClaimed { .. } => "callback_claimed",
            Self::SilentVerified { .. } => "silent_verified",
            Self::SilentRejected { .. } => "silent_rejected",
            Self::SilentFailed => "silent_failed",
            Self::SimPassed { .. } => "sim_passed",
            Self::SimBlocked { .. } => "sim_blocked",
            Self::SimRefusedQuietly { .. } => "sim_refused_quietly",
            Self::CodeSent { .. } => "code_sent",
            Self::CodeVerified { .. } => "code_verified",
            Self::CurrentNumberProven { .. } => "current_number_proven",
            Self::Locked => "locked",
            Self::PasswordChanged => "password_changed",
            Self::SignedInOnRememberedDevice => "signed_in_on_remembered_device",
            Self::SimChangeAccepted => "sim_change_accepted",
            Self::Proven => "proven",
            Self::NewNumberProven => "new_number_proven",
            Self::PhoneChanged => "phone_changed",
        }
    }
}

/// What a step writes besides the state; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowWrites {
    /// A new reset token's hash.
    pub reset_token_hash: Option<TokenHash>,
    /// The reset token is spent: remove its hash.
    pub clear_reset_token: bool,
    /// Why the flow stopped.
    pub reason: Option<FlowReason>,
    /// The OTP provider's handle.
    pub otp_reference: Option<String>,
    /// The OTP provider's name.
    pub otp_provider: Option<String>,
    /// Whether the SMS path was opened without a SIM answer.
    pub sim_unverified: Option<bool>,
    /// The flow becomes a decoy.
    pub decoy: bool,
    /// When a code was sent.
    pub otp_sent_at: Option<Timestamp>,
    /// When the callback claimed the flow.
    pub claimed_at: Option<Timestamp>,
    /// The silent proof a sign-in bound itself to.
    pub silent: Option<SilentBinding>,
    /// What each SIM-swap source asked said, in order (`camara:cannot_tell,truid:not_changed`).
    pub sim_answers: Option<String>,
    /// The flow goes on to another number (a phone change's new one): its SMS limits count under
    /// these keys, its send and check counters start again at zero, and the verification of the
    /// number before is forgotten.
    pub restart_for: Option<SmsKeys>,
}

/// A step the domain allowed: persist it with a conditional write on `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state the flow must still be in when it is written.
    pub from: FlowState,
    /// The state it moves to.
    pub to: FlowState,
    /// The fields it sets.
    pub writes: FlowWrites,
}

/// A step that is not allowed where the flow is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not a step of a {kind} flow in state {state}")]
pub struct OutOfOrder {
    /// The flow's kind.
    pub kind: &'static str,
    /// Its state.
    pub state: &'static str,
    /// The refused step.
    pub event: &'static str,
}

/// The per-flow counters, each counted atomically before the provider call it limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowCounter {
    /// SMS sends.
    OtpSends,
    /// Code checks.
    OtpAttempts,
}

impl FlowCounter {
    /// The states in which the counter may move: sends after the SIM gate, checks after a send.
    pub fn counted_in(self) -> &'static [FlowState] {
        match self {
            Self::OtpSends => &[FlowState::SimOk, FlowState::OtpSent, FlowState::NewSimOk, FlowState::NewOtpSent],
            Self::OtpAttempts => &[FlowState::OtpSent, FlowState::NewOtpSent],
        }
    }

    /// The stored attribute's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtpSends => "otp_sends",
            Self::OtpAttempts => "otp_attempts",
        }
    }
}

/// Where the SIM-swap gate may run: a reset or a sign-in without a silent verdict (not covered,
/// unknown email, or a silent check that failed — for a reset, without a mismatch), a sign-in whose
/// password was right, and a phone change before each of its two numbers (or after its silent
/// proof gave no verdict).
fn sim_gate_open(kind: FlowKind, state: FlowState) -> bool {
    match kind {
        FlowKind::Reset => matches!(state, FlowState::Started | FlowState::CheckFailed),
        FlowKind::Login => matches!(state, FlowState::PasswordOk | FlowState::CheckFailed),
        FlowKind::PhoneChange => matches!(
            state,
            FlowState::PasswordOk | FlowState::CheckFailed | FlowState::CurrentProven | FlowState::NewCheckFailed
        ),
        FlowKind::Verification => matches!(state, FlowState::Started | FlowState::CheckFailed),
    }
}

impl Flow {
    /// The transition `event` makes from where this flow is, or why it may not happen.
    pub fn apply(&self, event: FlowEvent) -> Result<Transition, OutOfOrder> {
        next(self.kind, self.state, event)
    }

    /// Whether `event` may happen now (for answering "out of order" before any work is done).
    pub fn allows(&self, event: &FlowEvent) -> bool {
        next(self.kind, self.state, event.clone()).is_ok()
    }
}

/// The table itself.
pub fn next(kind: FlowKind, state: FlowState, event: FlowEvent) -> Result<Transition, OutOfOrder> {
    use FlowKind::{Login, PhoneChange, Reset, Verification};
    use FlowState::*;
    let refused = OutOfOrder { kind: kind.as_str(), state: state.as_str(), event: event.as_str() };
    let (to, writes) = match (kind, state, event) {
        (Login | PhoneChange, PasswordOk, FlowEvent::SilentStarted(binding)) => {
            (CheckPending, FlowWrites { silent: Some(binding), ..FlowWrites::default() })
        }
        (PhoneChange, CurrentProven, FlowEvent::SilentStarted(binding)) => {
            (NewCheckPending, FlowWrites { silent: Some(binding), ..FlowWrites::default() })
        }
        (_, CheckPending, FlowEvent::CallbackClaimed { at }) => {
            (CheckClaimed, FlowWrites { claimed_at: Some(at), ..FlowWrites::default() })
        }
        (PhoneChange, NewCheckPending, FlowEvent::CallbackClaimed { at }) => {
            (NewCheckClaimed, FlowWrites { claimed_at: Some(at), ..FlowWrites::default() })
        }
        // A phone change's silent proof: the current number proven opens the new number's proof; the
        // new one proven is made by the next request. A SIM change stops either; no verdict (another
        // SIM carries the data, an operator error) leaves the SMS path for that number.
        (PhoneChange, CheckClaimed, FlowEvent::CurrentNumberProven { new_number_keys }) => {
            (CurrentProven, FlowWrites { restart_for: Some(new_number_keys), ..FlowWrites::default() })
        }
        (PhoneChange, NewCheckClaimed, FlowEvent::NewNumberProven) => (NewProven, FlowWrites::default()),
        (PhoneChange, NewProven, FlowEvent::PhoneChanged) => (Completed, FlowWrites::default()),
        (PhoneChange, CheckClaimed | NewCheckClaimed, FlowEvent::SilentRejected { reason: FlowReason::SimChanged }) => {
            (Rejected, FlowWrites { reason: Some(FlowReason::SimChanged), ..FlowWrites::default() })
        }
        (PhoneChange, NewCheckClaimed, FlowEvent::SilentFailed) => {
            (NewCheckFailed, FlowWrites { reason: Some(FlowReason::SilentFailed), ..FlowWrites::default() })
        }
        (Login, CheckClaimed, FlowEvent::SilentSignedIn) => (Completed, FlowWrites::default()),
        // A sign-in's silent check that cannot prove the phone here (another SIM carries the data,
        // an operator error) leaves the SMS path; only a SIM change stops it.
        (Login, CheckClaimed, FlowEvent::SilentRejected { reason: FlowReason::SimChanged }) => {
            (Rejected, FlowWrites { reason: Some(FlowReason::SimChanged), ..FlowWrites::default() })
        }
        (Reset, CheckClaimed, FlowEvent::SilentVerified { reset_token_hash }) => {
            (Verified, FlowWrites { reset_token_hash: Some(reset_token_hash), ..FlowWrites::default() })
        }
        (Reset | Verification, CheckClaimed, FlowEvent::SilentRejected { reason })
            if matches!(reason, FlowReason::NoMatch | FlowReason::SimChanged) =>
        {
            (Rejected, FlowWrites { reason: Some(reason), ..FlowWrites::default() })
        }
        (Verification, CheckClaimed | OtpSent, FlowEvent::Proven) => (Completed, FlowWrites::default()),
        (Verification, state, FlowEvent::SimChangeAccepted) if sim_gate_open(Verification, state) => {
            (SimOk, FlowWrites { reason: Some(FlowReason::SimChanged), ..FlowWrites::default() })
        }
        (_, CheckClaimed, FlowEvent::SilentFailed) => {
            (CheckFailed, FlowWrites { reason: Some(FlowReason::SilentFailed), ..FlowWrites::default() })
        }
        // Only a login may go ahead without a SIM answer; a reset never does.
        (kind, state, FlowEvent::SimPassed { unverified })
            if sim_gate_open(kind, state) && (!unverified || kind == Login) =>
        {
            let to = if matches!(state, CurrentProven | NewCheckFailed) { NewSimOk } else { SimOk };
            (to, FlowWrites { sim_unverified: Some(unverified), ..FlowWrites::default() })
        }
        (kind, state, FlowEvent::SimBlocked { reason })
            if sim_gate_open(kind, state) && matches!(reason, FlowReason::SimChanged | FlowReason::SimUnavailable) =>
        {
            (Rejected, FlowWrites { reason: Some(reason), ..FlowWrites::default() })
        }
        (Reset, state, FlowEvent::SimRefusedQuietly { reason })
            if sim_gate_open(Reset, state) && matches!(reason, FlowReason::SimChanged | FlowReason::SimUnavailable) =>
        {
            (SimOk, FlowWrites { reason: Some(reason), decoy: true, ..FlowWrites::default() })
        }
        (_, SimOk | OtpSent, FlowEvent::CodeSent { verification, at }) => {
            let (otp_reference, otp_provider) = verification.unzip();
            (OtpSent, FlowWrites { otp_reference, otp_provider, otp_sent_at: at, ..FlowWrites::default() })
        }
        (PhoneChange, NewSimOk | NewOtpSent, FlowEvent::CodeSent { verification, at }) => {
            let (otp_reference, otp_provider) = verification.unzip();
            (NewOtpSent, FlowWrites { otp_reference, otp_provider, otp_sent_at: at, ..FlowWrites::default() })
        }
        (Reset, OtpSent, FlowEvent::CodeVerified { reset_token_hash: Some(hash) }) => {
            (Verified, FlowWrites { reset_token_hash: Some(hash), ..FlowWrites::default() })
        }
        (Login, OtpSent, FlowEvent::CodeVerified { reset_token_hash: None }) => (Completed, FlowWrites::default()),
        (PhoneChange, OtpSent, FlowEvent::CurrentNumberProven { new_number_keys }) => {
            (CurrentProven, FlowWrites { restart_for: Some(new_number_keys), ..FlowWrites::default() })
        }
        (PhoneChange, NewOtpSent, FlowEvent::CodeVerified { reset_token_hash: None }) => {
            (Completed, FlowWrites::default())
        }
        (_, OtpSent, FlowEvent::Locked) | (PhoneChange, NewOtpSent, FlowEvent::Locked) => {
            (Locked, FlowWrites { reason: Some(FlowReason::TooManyAttempts), ..FlowWrites::default() })
        }
        (Login, PasswordOk | CheckFailed, FlowEvent::SignedInOnRememberedDevice) => (Completed, FlowWrites::default()),
        (Reset, Verified, FlowEvent::PasswordChanged) => {
            (Completed, FlowWrites { clear_reset_token: true, ..FlowWrites::default() })
        }
        _ => return Err(refused),
    };
    Ok(Transition { from: state, to, writes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use FlowState::*;

    fn hash() -> TokenHash {
        TokenHash::of(b"reset token")
    }

    fn events() -> Vec<FlowEvent> {
        vec![
            FlowEvent::CallbackClaimed { at: Timestamp(3) },
            FlowEvent::SilentVerified { reset_token_hash: hash() },
            FlowEvent::SilentRejected { reason: FlowReason::NoMatch },
            FlowEvent::SilentRejected { reason: FlowReason::SimChanged },
            FlowEvent::SilentRejected { reason: FlowReason::TooManyAttempts },
            FlowEvent::SilentFailed,
            FlowEvent::SimPassed { unverified: false },
            FlowEvent::SimPassed { unverified: true },
            FlowEvent::SimBlocked { reason: FlowReason::SimChanged },
            FlowEvent::SimBlocked { reason: FlowReason::SimUnavailable },
            FlowEvent::SimBlocked { reason: FlowReason::NoMatch },
            FlowEvent::CodeSent { verification: Some(("ref".into(), "twilio".into())), at: Some(Timestamp(5)) },
            FlowEvent::CodeSent { verification: None, at: None },
            FlowEvent::CodeVerified { reset_token_hash: Some(hash()) },
            FlowEvent::CodeVerified { reset_token_hash: None },
            FlowEvent::Locked,
            FlowEvent::PasswordChanged,
            FlowEvent::SimRefusedQuietly { reason: FlowReason::SimChanged },
            FlowEvent::SimRefusedQuietly { reason: FlowReason::SimUnavailable },
            FlowEvent::SimRefusedQuietly { reason: FlowReason::NoMatch },
            FlowEvent::SignedInOnRememberedDevice,
            FlowEvent::CurrentNumberProven { new_number_keys: keys() },
            FlowEvent::SilentStarted(SilentBinding { provider: "truid".into(), handle: "c1".into(), secret: None }),
            FlowEvent::SilentSignedIn,
            FlowEvent::SimChangeAccepted,
            FlowEvent::Proven,
            FlowEvent::NewNumberProven,
            FlowEvent::PhoneChanged,
        ]
    }

    fn keys() -> SmsKeys {
        SmsKeys { number: "new".into(), prefix: "new-prefix".into() }
    }

    /// Every (kind, state, step) with the state it leads to; anything not listed is refused.
    #[test]
    fn the_whole_table() {
        let allowed: &[(FlowKind, FlowState, usize, FlowState)] = &[
            // (kind, from, index into events(), to)
            (FlowKind::Reset, CheckPending, 0, CheckClaimed),
            (FlowKind::Reset, CheckClaimed, 1, Verified),
            (FlowKind::Reset, CheckClaimed, 2, Rejected),
            (FlowKind::Reset, CheckClaimed, 3, Rejected),
            (FlowKind::Reset, CheckClaimed, 5, CheckFailed),
            (FlowKind::Reset, Started, 6, SimOk),
            (FlowKind::Reset, CheckFailed, 6, SimOk),
            (FlowKind::Login, PasswordOk, 6, SimOk),
            (FlowKind::Login, PasswordOk, 7, SimOk),
            (FlowKind::Reset, Started, 8, Rejected),
            (FlowKind::Reset, CheckFailed, 8, Rejected),
            (FlowKind::Login, PasswordOk, 8, Rejected),
            (FlowKind::Reset, Started, 9, Rejected),
            (FlowKind::Reset, CheckFailed, 9, Rejected),
            (FlowKind::Login, PasswordOk, 9, Rejected),
            (FlowKind::Reset, SimOk, 11, OtpSent),
            (FlowKind::Reset, OtpSent, 11, OtpSent),
            (FlowKind::Login, SimOk, 11, OtpSent),
            (FlowKind::Login, OtpSent, 11, OtpSent),
            (FlowKind::Reset, SimOk, 12, OtpSent),
            (FlowKind::Reset, OtpSent, 12, OtpSent),
            (FlowKind::Login, SimOk, 12, OtpSent),
            (FlowKind::Login, OtpSent, 12, OtpSent),
            (FlowKind::Reset, OtpSent, 13, Verified),
            (FlowKind::Login, OtpSent, 14, Completed),
            (FlowKind::Reset, OtpSent, 15, Locked),
            (FlowKind::Login, OtpSent, 15, Locked),
            (FlowKind::Reset, Verified, 16, Completed),
            (FlowKind::Reset, Started, 17, SimOk),
            (FlowKind::Reset, CheckFailed, 17, SimOk),
            (FlowKind::Reset, Started, 18, SimOk),
            (FlowKind::Reset, CheckFailed, 18, SimOk),
            (FlowKind::Login, PasswordOk, 20, Completed),
            // A sign-in proven silently; a failed silent check leaves the SMS path (and a remembered
            // browser) open; a SIM change stops it.
            (FlowKind::Login, PasswordOk, 22, CheckPending),
            (FlowKind::Login, CheckPending, 0, CheckClaimed),
            (FlowKind::Login, CheckClaimed, 23, Completed),
            (FlowKind::Login, CheckClaimed, 3, Rejected),
            (FlowKind::Login, CheckClaimed, 5, CheckFailed),
            (FlowKind::Login, CheckFailed, 6, SimOk),
            (FlowKind::Login, CheckFailed, 7, SimOk),
            (FlowKind::Login, CheckFailed, 8, Rejected),
            (FlowKind::Login, CheckFailed, 9, Rejected),
            (FlowKind::Login, CheckFailed, 20, Completed),
            // A phone change: the current number as a login proves it (never without a SIM answer),
            // then the new number, each behind the SIM gate.
            (FlowKind::PhoneChange, PasswordOk, 6, SimOk),
            (FlowKind::PhoneChange, PasswordOk, 8, Rejected),
            (FlowKind::PhoneChange, PasswordOk, 9, Rejected),
            (FlowKind::PhoneChange, SimOk, 11, OtpSent),
            (FlowKind::PhoneChange, OtpSent, 11, OtpSent),
            (FlowKind::PhoneChange, SimOk, 12, OtpSent),
            (FlowKind::PhoneChange, OtpSent, 12, OtpSent),
            (FlowKind::PhoneChange, OtpSent, 15, Locked),
            (FlowKind::PhoneChange, OtpSent, 21, CurrentProven),
            (FlowKind::PhoneChange, CurrentProven, 6, NewSimOk),
            (FlowKind::PhoneChange, CurrentProven, 8, Rejected),
            (FlowKind::PhoneChange, CurrentProven, 9, Rejected),
            (FlowKind::PhoneChange, NewSimOk, 11, NewOtpSent),
            (FlowKind::PhoneChange, NewOtpSent, 11, NewOtpSent),
            (FlowKind::PhoneChange, NewSimOk, 12, NewOtpSent),
            (FlowKind::PhoneChange, NewOtpSent, 12, NewOtpSent),
            (FlowKind::PhoneChange, NewOtpSent, 14, Completed),
            (FlowKind::PhoneChange, NewOtpSent, 15, Locked),
            // … and silently, each number where the device's network allows it: a SIM change stops
            // it, no verdict leaves that number's SMS path.
            (FlowKind::PhoneChange, PasswordOk, 22, CheckPending),
            (FlowKind::PhoneChange, CheckPending, 0, CheckClaimed),
            (FlowKind::PhoneChange, CheckClaimed, 21, CurrentProven),
            (FlowKind::PhoneChange, CheckClaimed, 3, Rejected),
            (FlowKind::PhoneChange, CheckClaimed, 5, CheckFailed),
            (FlowKind::PhoneChange, CheckFailed, 6, SimOk),
            (FlowKind::PhoneChange, CheckFailed, 8, Rejected),
            (FlowKind::PhoneChange, CheckFailed, 9, Rejected),
            (FlowKind::PhoneChange, CurrentProven, 22, NewCheckPending),
            (FlowKind::PhoneChange, NewCheckPending, 0, NewCheckClaimed),
            (FlowKind::PhoneChange, NewCheckClaimed, 26, NewProven),
            (FlowKind::PhoneChange, NewProven, 27, Completed),
            (FlowKind::PhoneChange, NewCheckClaimed, 3, Rejected),
            (FlowKind::PhoneChange, NewCheckClaimed, 5, NewCheckFailed),
            (FlowKind::PhoneChange, NewCheckFailed, 6, NewSimOk),
            (FlowKind::PhoneChange, NewCheckFailed, 8, Rejected),
            (FlowKind::PhoneChange, NewCheckFailed, 9, Rejected),
            // A relying site's verification: a reset's steps, ending in a result instead of a new
            // password; a phone confirmation may go on past a SIM change (the result says so).
            (FlowKind::Verification, CheckPending, 0, CheckClaimed),
            (FlowKind::Verification, CheckClaimed, 25, Completed),
            (FlowKind::Verification, CheckClaimed, 2, Rejected),
            (FlowKind::Verification, CheckClaimed, 3, Rejected),
            (FlowKind::Verification, CheckClaimed, 5, CheckFailed),
            (FlowKind::Verification, Started, 6, SimOk),
            (FlowKind::Verification, CheckFailed, 6, SimOk),
            (FlowKind::Verification, Started, 8, Rejected),
            (FlowKind::Verification, CheckFailed, 8, Rejected),
            (FlowKind::Verification, Started, 9, Rejected),
            (FlowKind::Verification, CheckFailed, 9, Rejected),
            (FlowKind::Verification, Started, 24, SimOk),
            (FlowKind::Verification, CheckFailed, 24, SimOk),
            (FlowKind::Verification, SimOk, 11, OtpSent),
            (FlowKind::Verification, OtpSent, 11, OtpSent),
            (FlowKind::Verification, SimOk, 12, OtpSent),
            (FlowKind::Verification, OtpSent, 12, OtpSent),
            (FlowKind::Verification, OtpSent, 25, Completed),
            (FlowKind::Verification, OtpSent, 15, Locked),
        ];
        let events = events();
        let mut seen = 0;
        for kind in [FlowKind::Reset, FlowKind::Login, FlowKind::PhoneChange, FlowKind::Verification] {
            for state in FlowState::ALL {
                for (i, event) in events.iter().enumerate() {
                    let want = allowed.iter().find(|(k, s, e, _)| *k == kind && *s == state && *e == i).map(|a| a.3);
                    let got = next(kind, state, event.clone()).map(|t| {
                        assert_eq!(t.from, state, "a transition starts where the flow is");
                        t.to
                    });
                    assert_eq!(got.ok(), want, "{kind:?} {state:?} {event:?}");
                    seen += usize::from(want.is_some());
                }
            }
        }
        assert_eq!(seen, allowed.len(), "every listed transition was reached");
    }

    #[test]
    fn what_each_step_writes() {
        let w = |kind, state, event| next(kind, state, event).map(|t| t.writes).expect("allowed");
        assert_eq!(
            w(FlowKind::Reset, CheckClaimed, FlowEvent::SilentVerified { reset_token_hash: hash() }).reset_token_hash,
            Some(hash())
        );
        assert_eq!(w(FlowKind::Reset, CheckClaimed, FlowEvent::SilentFailed).reason, Some(FlowReason::SilentFailed));
        assert_eq!(
            w(FlowKind::Login, PasswordOk, FlowEvent::SimPassed { unverified: true }).sim_unverified,
            Some(true)
        );
        let sent = w(
            FlowKind::Login,
            SimOk,
            FlowEvent::CodeSent { verification: Some(("VE1".into(), "twilio".into())), at: Some(Timestamp(9)) },
        );
        assert_eq!((sent.otp_reference.as_deref(), sent.otp_provider.as_deref()), (Some("VE1"), Some("twilio")));
        assert_eq!(sent.otp_sent_at, Some(Timestamp(9)));
        let nothing = w(FlowKind::Reset, SimOk, FlowEvent::CodeSent { verification: None, at: None });
        assert_eq!(nothing, FlowWrites::default(), "a resend that sent nothing writes nothing");
        let quiet = w(FlowKind::Reset, Started, FlowEvent::SimRefusedQuietly { reason: FlowReason::SimChanged });
        assert!(quiet.decoy && quiet.reason == Some(FlowReason::SimChanged));
        assert_eq!(w(FlowKind::Login, OtpSent, FlowEvent::Locked).reason, Some(FlowReason::TooManyAttempts));
        assert!(w(FlowKind::Reset, Verified, FlowEvent::PasswordChanged).clear_reset_token);
        for state in [OtpSent, CheckClaimed] {
            let proven = w(FlowKind::PhoneChange, state, FlowEvent::CurrentNumberProven { new_number_keys: keys() });
            assert_eq!(proven.restart_for, Some(keys()), "the new number's limits and fresh counters");
        }
        let binding = SilentBinding { provider: "truid".into(), handle: "c2".into(), secret: None };
        let started = w(FlowKind::PhoneChange, CurrentProven, FlowEvent::SilentStarted(binding.clone()));
        assert_eq!(started.silent, Some(binding), "the new number's proof replaces the current one's");
    }

    #[test]
    fn refusals_name_the_step() {
        let e =
            next(FlowKind::PhoneChange, Started, FlowEvent::CallbackClaimed { at: Timestamp(3) }).expect_err("refused");
        assert_eq!(e.to_string(), "callback_claimed is not a step of a phone_change flow in state started");
    }

    #[test]
    fn counters_move_only_where_they_limit_something() {
        assert_eq!(FlowCounter::OtpSends.counted_in(), &[SimOk, OtpSent, NewSimOk, NewOtpSent]);
        assert_eq!(FlowCounter::OtpAttempts.counted_in(), &[OtpSent, NewOtpSent]);
    }
}
