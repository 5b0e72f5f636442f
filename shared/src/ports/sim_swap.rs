//! The SIM-swap gate's sources (docs/security.md C1, S33): each tells, for a number and a window,
//! whether its SIM changed — or that it cannot tell (the number is not covered, the window is longer
//! than it watches, it failed). Only an explicit, complete "not changed" passes; the gate asks them
//! in the configured order (docs/providers.md, "SIM-swap sources").

use async_trait::async_trait;

use crate::domain::Phone;
use crate::ports::ProviderFault;

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

/// A source failed us (down, slow, refused our credentials, unreadable, rate limited): the next is
/// asked, as for "cannot tell", and the failure is counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct SimSwapError {
    kind: &'static str,
    failure: bool,
    slug: Option<String>,
    detail: String,
}

impl SimSwapError {
    /// The source refused our credentials.
    pub fn unauthorized() -> Self {
        Self::failure("unauthorized", "credentials refused")
    }
    /// A failure of `kind`, with a fixed `detail` label (never a URL or a body).
    pub fn failure(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, failure: true, slug: None, detail: detail.into() }
    }
    /// The source limits our rate.
    pub fn rate_limited() -> Self {
        Self { kind: "rate_limited", failure: false, slug: None, detail: "rate limited".into() }
    }
    /// Another port's error, as its fault tells it.
    pub fn from_fault(e: &(impl ProviderFault + std::fmt::Display)) -> Self {
        Self { kind: e.kind(), failure: e.is_failure(), slug: e.slug().map(str::to_owned), detail: e.to_string() }
    }
    /// Whether the credentials were refused (they are re-read once).
    pub fn is_unauthorized(&self) -> bool {
        self.kind == "unauthorized"
    }
}

impl ProviderFault for SimSwapError {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn is_failure(&self) -> bool {
        self.failure
    }
    fn slug(&self) -> Option<&str> {
        self.slug.as_deref()
    }
}

/// One source of the SIM-swap gate's answer.
#[async_trait]
pub trait SimSwapSource: Send + Sync {
    /// As `SIMGUARD_SIM_SWAP_SOURCES` names it.
    fn name(&self) -> &'static str;
    /// Whether the SIM of `phone` changed within the last `window_minutes`.
    async fn check(&self, phone: &Phone, window_minutes: u32) -> Result<SimSwapAnswer, SimSwapError>;
}
