//! Time as a port, so that every expiry and window can be tested with an injected clock.

use crate::domain::Timestamp;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}
