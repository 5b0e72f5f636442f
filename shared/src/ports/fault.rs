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
