//! Fixed-window counters, incremented atomically *before* the work they limit.

use async_trait::async_trait;

use crate::domain::Timestamp;
use crate::ports::StoreError;

/// What a counter said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted.
    Allowed,
    /// Over the limit; the window ends in this many seconds.
    Limited {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
}

/// Fixed-window counters.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event against `bucket` in the current window of `window_secs`. The event counts only
    /// if it is allowed, so a flood does not extend its own ban. Concurrent callers never both take the
    /// last slot.
    async fn hit(&self, bucket: &str, limit: u32, window_secs: u64, now: Timestamp)
    -> Result<RateDecision, StoreError>;
    /// Gives back one event counted at `counted_at` in `bucket`, when what it counted did not happen
    /// (the provider refused or never answered). Never below zero; a window that has ended is left
    /// as it is.
    async fn release(&self, bucket: &str, window_secs: u64, counted_at: Timestamp) -> Result<(), StoreError>;
}
