//! The SIM-swap gate's sources (docs/security.md C1, S33): each tells, for a number and a window,
//! whether its SIM changed — or that it cannot tell (the number is not covered, the window is longer
//! than it watches, it failed). Only an explicit, complete "not changed" passes; the gate asks them
//! in the configured order (docs/providers.md, "SIM-swap sources").

use async_trait::async_trait;

use crate::domain::Phone;
use crate::ports::ProviderFailure;

/// What a source said about a number and a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimSwapAnswer {
    /// Positively not changed within the whole window.
    NotChanged,
    /// Changed within the window — or not positively excluded (a missing field is not "fine").
    Changed,
    /// This source cannot answer for this number and window (not covered, a shorter watch, a
    /// check that ended in error): the next source is asked.
    CannotTell(&'static str),
}

impl SimSwapAnswer {
    /// The stable label for logs, metrics and the flow's record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotChanged => "not_changed",
            Self::Changed => "changed",
            Self::CannotTell(_) => "cannot_tell",
        }
    }
}

/// One source of the SIM-swap gate's answer.
#[async_trait]
pub trait SimSwapSource: Send + Sync {
    /// As `SIMGUARD_SIM_SWAP_SOURCES` names it.
    fn name(&self) -> &'static str;
    /// Whether the SIM of `phone` changed within the last `window_minutes`.
    async fn check(&self, phone: &Phone, window_minutes: u32) -> Result<SimSwapAnswer, ProviderFailure>;
}
