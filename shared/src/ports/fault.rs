//! What every provider error tells the code that logs and counts it.

/// What a handler needs to know of any provider's error, to log it and count it.
pub trait ProviderFault {
    /// A stable label for logs and metrics.
    fn kind(&self) -> &'static str;
    /// The provider failed us (down, slow, refused our credentials, unreadable), as opposed to an
    /// answer about this number: what the provider-error alarm counts.
    fn is_failure(&self) -> bool;
    /// tru.ID's problem type (`mno_not_supported`, ...), when it gave one.
    fn slug(&self) -> Option<&str> {
        None
    }
}

/// A provider that failed us (down, slow, refused our credentials, unreadable, rate limited), as the
/// SIM-swap sources and the silent provers report it: the next in the chain is asked, and the failure
/// is logged and counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ProviderFailure {
    kind: &'static str,
    failure: bool,
    slug: Option<String>,
    detail: String,
}

impl ProviderFailure {
    /// The source refused our credentials.
    pub fn unauthorized() -> Self {
        Self::failure("unauthorized", "credentials refused")
    }
    /// A failure of `kind`, with a fixed `detail` label (never a URL or a body).
    pub fn failure(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, failure: true, slug: None, detail: detail.into() }
    }
    /// Not a failure of the provider: an answer about this request (a redirect without its code).
    pub fn answer(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, failure: false, slug: None, detail: detail.into() }
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
    /// Whether the request may have been done though its answer was lost (a timeout, a 5xx): what
    /// it did can be read back.
    pub fn answer_may_be_lost(&self) -> bool {
        matches!(self.kind, "timeout" | "unavailable")
    }
}

impl ProviderFault for ProviderFailure {
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
