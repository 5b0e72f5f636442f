//! The SIM-swap gate (SECURITY.md C1, E1–E3): one place decides whether a phone may receive an SMS
//! code, from a tru.ID SIMCheck and the account's history. One constant, the window, drives both the
//! tru.ID `period` and the new-account grace.

use crate::clock::Timestamp;
use crate::domain::FlowKind;
use crate::domain::outcome::CheckStatus;

/// What the SIMCheck said, reduced to what the policy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimSignal {
    /// Positively not changed within the window.
    NoChange,
    /// Changed within the window — or not positively excluded (a missing field is not "fine").
    Changed,
    /// No answer: unsupported number or network, operator error, timeout, provider down.
    Unavailable,
}

/// The lower bound, in minutes, of each `sim_change_within` bucket (tru.ID SimChangeWithin):
/// 60 = "0–1 h", 360 = "1h01m–6 h", …, 525601 = "> 365 d".
fn bucket_lower_bound(upper: u32) -> Option<u32> {
    Some(match upper {
        60 => 0,
        360 => 61,
        720 => 361,
        1440 => 721,
        2880 => 1441,
        4320 => 2881,
        10080 => 4321,
        43200 => 10081,
        129600 => 43201,
        259200 => 129601,
        525600 => 259201,
        525601 => 525601,
        _ => return None,
    })
}

/// Whether a `sim_change_within` bucket may lie inside the window. An unknown bucket may.
pub fn change_possibly_within(sim_change_within: u32, window_minutes: u32) -> bool {
    bucket_lower_bound(sim_change_within).is_none_or(|lower| lower < window_minutes)
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
/// limits, an email to the owner and an alarm (SECURITY.md §3.2). Resets always refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnavailablePolicy {
    Deny,
    AllowWithNotice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimVerdict {
    Pass,
    /// Login only: the SIM changed, but the account is new and has never proven its phone.
    PassNewAccountGrace,
    /// Login only, under `AllowWithNotice`: no SIM answer; the OTP goes ahead, watched.
    PassUnverified,
    BlockSimChanged,
    BlockUnavailable,
}

impl SimVerdict {
    pub fn passes(self) -> bool {
        matches!(self, Self::Pass | Self::PassNewAccountGrace | Self::PassUnverified)
    }

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

#[derive(Debug, Clone, Copy)]
pub struct SimPolicy {
    pub window_minutes: u32,
    pub login_when_unavailable: UnavailablePolicy,
}

#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub registered_at: Timestamp,
    pub phone_verified_at: Option<Timestamp>,
}

impl SimPolicy {
    /// The grace of seed 001, narrowed (E2): registered strictly within the window *and* never
    /// verified. Both values are server-set; the first successful verification closes it.
    pub fn in_new_account_grace(&self, account: Account, now: Timestamp) -> bool {
        let window_secs = i64::from(self.window_minutes) * 60;
        account.phone_verified_at.is_none() && account.registered_at > now.minus_secs(window_secs)
    }

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
    use crate::clock::{Clock, ManualClock};

    const DAY: i64 = 86400;
    const WEEK: u32 = 10080;

    fn policy(p: UnavailablePolicy) -> SimPolicy {
        SimPolicy { window_minutes: WEEK, login_when_unavailable: p }
    }

    /// SECURITY.md §2 #16, with an injected clock.
    #[test]
    fn the_window_edges() {
        let clock = ManualClock::new(Timestamp(1_800_000_000));
        let now = clock.now();
        let p = policy(UnavailablePolicy::Deny);
        let account = |registered_days_ago: f64, verified: bool| Account {
            registered_at: now.minus_secs((registered_days_ago * DAY as f64) as i64),
            phone_verified_at: verified.then_some(now.minus_secs(DAY)),
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
        assert_eq!(p.decide(Login, Changed, young, clock.now()), PassNewAccountGrace);
        clock.advance(DAY);
        assert_eq!(p.decide(Login, Changed, young, clock.now()), BlockSimChanged);
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
