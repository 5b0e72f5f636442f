//! What a tru.ID check result means for us. Fail closed: only a completed check that positively
//! reports both a match and no SIM change is verified; anything missing or unknown is a denial.

use crate::domain::sim_window::change_possibly_within;

/// The status of a tru.ID check, with anything unrecognised kept as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Created; the device has not opened `check_url` yet.
    Accepted,
    /// In progress.
    Pending,
    /// Finished: the fields say what was found.
    Completed,
    /// Not completed in time.
    Expired,
    /// Failed; `error_code` says why.
    Error,
    /// Anything tru.ID may add later: never a pass.
    Unknown,
}

impl CheckStatus {
    /// tru.ID's `status` string.
    pub fn parse(s: &str) -> CheckStatus {
        match s {
            "ACCEPTED" => Self::Accepted,
            "PENDING" => Self::Pending,
            "COMPLETED" => Self::Completed,
            "EXPIRED" => Self::Expired,
            "ERROR" => Self::Error,
            _ => Self::Unknown,
        }
    }
}

/// The five outcomes of a silent check (docs/architecture.md, "Outcomes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// This phone, and no recent SIM change: the only pass.
    Verified,
    /// Not the account's phone on this connection.
    Mismatch,
    /// The SIM changed within the window (or it could not be ruled out).
    SimChanged,
    /// The number or network is not supported: no verdict either way.
    Unsupported,
    /// No verdict (expired, operator error, unreadable).
    Error,
}

impl CheckOutcome {
    /// The stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Mismatch => "mismatch",
            Self::SimChanged => "sim_changed",
            Self::Unsupported => "unsupported",
            Self::Error => "error",
        }
    }
}

fn unsupported_error_code(code: Option<&str>) -> bool {
    matches!(code, Some("mno_not_supported" | "not_mobile_ip" | "mno_user_not_found"))
}

/// SubscriberCheck: a SIM-change signal outranks a mismatch, because it closes the SMS path too.
/// `sim_change_within` is judged against our own window (see [`crate::domain::sim_window`]).
pub fn classify_subscriber_check(
    status: CheckStatus,
    matched: Option<bool>,
    no_sim_change: Option<bool>,
    sim_change_within: Option<u32>,
    error_code: Option<&str>,
    window_minutes: u32,
) -> CheckOutcome {
    match status {
        CheckStatus::Completed => {
            let changed = no_sim_change == Some(false)
                || sim_change_within.is_some_and(|w| change_possibly_within(w, window_minutes));
            if changed {
                return CheckOutcome::SimChanged;
            }
            match (matched, no_sim_change) {
                (Some(true), Some(true)) => CheckOutcome::Verified,
                // The phone answered but the SIM state is unknown: not proof that it was not swapped.
                (Some(true), _) => CheckOutcome::SimChanged,
                (Some(false), _) => CheckOutcome::Mismatch,
                (None, _) => CheckOutcome::Error,
            }
        }
        CheckStatus::Error if unsupported_error_code(error_code) => CheckOutcome::Unsupported,
        CheckStatus::Error
        | CheckStatus::Expired
        | CheckStatus::Accepted
        | CheckStatus::Pending
        | CheckStatus::Unknown => CheckOutcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/security.md B3: the whole table, every combination.
    #[test]
    fn only_completed_match_and_no_sim_change_verifies() {
        use CheckStatus::*;
        let statuses = [Accepted, Pending, Completed, Expired, Error, Unknown];
        let bools = [None, Some(false), Some(true)];
        let codes = [None, Some("mno_server_error"), Some("mno_not_supported")];
        // Within a 7-day window: 60 ("0–1 h") is a recent change, 43200 ("7d01m–30d") is not.
        let withins = [None, Some(60), Some(43200)];
        let mut verified = 0;
        for status in statuses {
            for matched in bools {
                for nsc in bools {
                    for code in codes {
                        for within in withins {
                            let got = classify_subscriber_check(status, matched, nsc, within, code, 10080);
                            let want = match (status, matched, nsc) {
                                (Completed, _, _) if within == Some(60) => CheckOutcome::SimChanged,
                                (Completed, Some(true), Some(true)) => CheckOutcome::Verified,
                                (Completed, _, Some(false)) => CheckOutcome::SimChanged,
                                (Completed, Some(true), None) => CheckOutcome::SimChanged,
                                (Completed, Some(false), _) => CheckOutcome::Mismatch,
                                (Completed, None, _) => CheckOutcome::Error,
                                (Error, _, _) if code == Some("mno_not_supported") => CheckOutcome::Unsupported,
                                _ => CheckOutcome::Error,
                            };
                            assert_eq!(
                                got, want,
                                "{status:?} match={matched:?} no_sim_change={nsc:?} within={within:?} code={code:?}"
                            );
                            if got == CheckOutcome::Verified {
                                verified += 1;
                            }
                        }
                    }
                }
            }
        }
        // Only COMPLETED + match + no_sim_change verifies, and only without a recent change reported,
        // whatever the error code says.
        assert_eq!(verified, codes.len() * 2);
    }

    #[test]
    fn unknown_status_strings_are_unknown() {
        assert_eq!(CheckStatus::parse("completed"), CheckStatus::Unknown);
        assert_eq!(CheckStatus::parse(""), CheckStatus::Unknown);
        assert_eq!(CheckStatus::parse("COMPLETED"), CheckStatus::Completed);
    }
}
