//! The SIM-swap gate (docs/security.md C1, E1–E3): one place decides whether a phone may receive an
//! SMS code, from the SIM-swap sources' signal and the account's history. One constant, the
//! window, drives both the sources' period and the new-account grace.

use crate::domain::check::CheckStatus;
use crate::domain::sim_window::change_possibly_within;
use crate::domain::{FlowKind, Timestamp, User};

/// SMS sends per flow when the SMS path was opened without a SIM answer (login,
/// `allow_with_notice`): the "tighter limits" of docs/security.md R2.
pub const UNVERIFIED_SENDS: u32 = 1;
/// Code checks per flow in the same case.
pub const UNVERIFIED_ATTEMPTS: u32 = 3;

/// What a SIM-swap source said, reduced to what the policy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimSignal {
    /// Positively not changed within the window.
    NoChange,
    /// Changed within the window — or not positively excluded (a missing field is not "fine").
    Changed,
    /// No answer: unsupported number or network, operator error, timeout, provider down.
    Unavailable,
}

/// From a SIMCheck (or SubscriberCheck) answer. `sim_change_within`, when the operator gives it, is
/// checked against *our* window too, so a `period` that drifts from our policy cannot make a recent
/// change look old.
pub fn signal(
    status: CheckStatus,
    no_sim_change: Option<bool>,
    sim_change_within: Option<u32>,
    window_minutes: u32,
) -> SimSignal {
    if status != CheckStatus::Completed {
        return SimSignal::Unavailable;
    }
    if sim_change_within.is_some_and(|w| change_possibly_within(w, window_minutes)) {
        return SimSignal::Changed;
    }
    match no_sim_change {
        Some(true) => SimSignal::NoChange,
        _ => SimSignal::Changed,
    }
}

/// When tru.ID cannot answer for a login: refuse (default) or let the OTP go ahead with tighter
/// limits, an email to the owner and an alarm (docs/security.md R2). Resets always refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnavailablePolicy {
    /// Refuse the login.
    Deny,
    /// Let it go ahead with tighter limits, an email to the owner and an alarm.
    AllowWithNotice,
}

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimVerdict {
    /// The SIM did not change within the window.
    Pass,
    /// Login only: the SIM changed, but the account is new and has never proven its phone.
    PassNewAccountGrace,
    /// Login only, under `AllowWithNotice`: no SIM answer; the OTP goes ahead, watched.
    PassUnverified,
    /// The SIM changed within the window: no SMS.
    BlockSimChanged,
    /// No SIM answer, and the policy refuses.
    BlockUnavailable,
}

impl SimVerdict {
    /// Whether an SMS may be sent.
    pub fn passes(self) -> bool {
        matches!(self, Self::Pass | Self::PassNewAccountGrace | Self::PassUnverified)
    }

    /// The stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::PassNewAccountGrace => "pass_new_account_grace",
            Self::PassUnverified => "pass_unverified",
            Self::BlockSimChanged => "block_sim_changed",
            Self::BlockUnavailable => "block_unavailable",
        }
    }
}

/// The gate's configuration.
#[derive(Debug, Clone, Copy)]
pub struct SimPolicy {
    /// The SIM-change window, in minutes (also tru.ID's `period`).
    pub window_minutes: u32,
    /// What a login does without a SIM answer.
    pub login_when_unavailable: UnavailablePolicy,
}

/// What the gate needs to know of the account.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    /// When it was registered (server-set).
    pub registered_at: Timestamp,
    /// When its phone was first proven, if ever.
    pub phone_verified_at: Option<Timestamp>,
    /// Brought from the site's own user store: not new, so no grace.
    pub imported: bool,
}

impl Account {
    /// What the SIM policy needs to know of `user`'s history.
    pub fn of(user: &User) -> Account {
        Account {
            registered_at: user.created_at,
            phone_verified_at: user.phone_verified_at,
            imported: user.imported_at.is_some(),
        }
    }
}

impl SimPolicy {
    /// The grace of seed 001, narrowed (E2): registered strictly within the window *and* never
    /// verified. Both values are server-set; the first successful verification closes it.
    pub fn in_new_account_grace(&self, account: Account, now: Timestamp) -> bool {
        let window_secs = i64::from(self.window_minutes) * 60;
        !account.imported && account.phone_verified_at.is_none() && account.registered_at > now.minus_secs(window_secs)
    }

    /// The verdict for a flow of `kind`, given the SIM signal and the account's history.
    pub fn decide(&self, kind: FlowKind, signal: SimSignal, account: Account, now: Timestamp) -> SimVerdict {
        match (signal, kind) {
            (SimSignal::NoChange, _) => SimVerdict::Pass,
            (SimSignal::Changed, FlowKind::Login) if self.in_new_account_grace(account, now) => {
                SimVerdict::PassNewAccountGrace
            }
            (SimSignal::Changed, _) => SimVerdict::BlockSimChanged,
            (SimSignal::Unavailable, FlowKind::Login)
                if self.login_when_unavailable == UnavailablePolicy::AllowWithNotice =>
            {
                SimVerdict::PassUnverified
            }
            (SimSignal::Unavailable, _) => SimVerdict::BlockUnavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86400;
    const WEEK: u32 = 10080;

    fn policy(p: UnavailablePolicy) -> SimPolicy {
        SimPolicy { window_minutes: WEEK, login_when_unavailable: p }
    }

    /// docs/security.md S16: the decision is a function of `now`, so time is just an argument.
    #[test]
    fn the_window_edges() {
        let now = Timestamp(1_800_000_000);
        let p = policy(UnavailablePolicy::Deny);
        let account = |registered_days_ago: f64, verified: bool| Account {
            registered_at: now.minus_secs((registered_days_ago * DAY as f64) as i64),
            phone_verified_at: verified.then_some(now.minus_secs(DAY)),
            imported: false,
        };
        use FlowKind::*;
        use SimSignal::*;
        use SimVerdict::*;
        let cases = [
            // (kind, signal, registered days ago, verified once, expected)
            (Login, NoChange, 400.0, true, Pass),
            (Reset, NoChange, 400.0, true, Pass),
            (Login, Changed, 400.0, true, BlockSimChanged),
            (Login, Changed, 400.0, false, BlockSimChanged),
            (Login, Changed, 1.0, false, PassNewAccountGrace),
            (Login, Changed, 6.99, false, PassNewAccountGrace),
            (Login, Changed, 7.0, false, BlockSimChanged), // registered exactly 7 days ago: no grace
            (Login, Changed, 1.0, true, BlockSimChanged),  // verified once, still inside the window
            (Reset, Changed, 1.0, false, BlockSimChanged), // never for a reset
            (Reset, Unavailable, 1.0, false, BlockUnavailable),
            (Login, Unavailable, 400.0, true, BlockUnavailable),
            (Login, Unavailable, 1.0, false, BlockUnavailable),
        ];
        for (kind, signal, days, verified, want) in cases {
            assert_eq!(
                p.decide(kind, signal, account(days, verified), now),
                want,
                "{kind:?} {signal:?} {days} days, verified={verified}"
            );
        }
        // The opt-in: a login may go ahead, watched; a reset still may not.
        let lenient = policy(UnavailablePolicy::AllowWithNotice);
        assert_eq!(lenient.decide(Login, Unavailable, account(400.0, true), now), PassUnverified);
        assert_eq!(lenient.decide(Reset, Unavailable, account(400.0, true), now), BlockUnavailable);
        assert_eq!(lenient.decide(Login, Changed, account(400.0, true), now), BlockSimChanged);

        // Time passes: the grace ends with the window.
        let young = account(6.0, false);
        assert_eq!(p.decide(Login, Changed, young, now), PassNewAccountGrace);
        assert_eq!(p.decide(Login, Changed, young, now.plus_secs(DAY)), BlockSimChanged);
    }

    #[test]
    fn signals_fail_closed() {
        use CheckStatus::*;
        assert_eq!(signal(Completed, Some(true), None, WEEK), SimSignal::NoChange);
        assert_eq!(signal(Completed, Some(false), None, WEEK), SimSignal::Changed);
        assert_eq!(signal(Completed, None, None, WEEK), SimSignal::Changed);
        for s in [Error, Expired, Pending, Accepted, Unknown] {
            assert_eq!(signal(s, Some(true), None, WEEK), SimSignal::Unavailable);
        }
        // sim_change_within against our window: 10080 (3d01m–7d) is inside a 7-day window,
        // 43200 (7d01m–30d) is not; with a 30-day window both are.
        assert_eq!(signal(Completed, Some(true), Some(10080), WEEK), SimSignal::Changed);
        assert_eq!(signal(Completed, Some(true), Some(43200), WEEK), SimSignal::NoChange);
        assert_eq!(signal(Completed, Some(true), Some(43200), 43200), SimSignal::Changed);
        // A window between bucket edges: 10080 (3d01m–7d) may be inside a 5-day window.
        assert_eq!(signal(Completed, Some(true), Some(10080), 5 * 1440), SimSignal::Changed);
        // A value not in tru.ID's table is not trusted.
        assert_eq!(signal(Completed, Some(true), Some(999_999), WEEK), SimSignal::Changed);
        assert_eq!(signal(Completed, Some(true), Some(525601), WEEK), SimSignal::NoChange);
    }
}
