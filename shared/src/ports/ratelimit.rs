//! Fixed-window counters, incremented atomically *before* the work they limit.

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ports::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit; the window ends in this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event against `bucket` in the current window of `window_secs`. The event counts only
    /// if it is allowed, so a flood does not extend its own ban. Concurrent callers never both take the
    /// last slot.
    async fn hit(&self, bucket: &str, limit: u32, window_secs: u64, now: Timestamp)
    -> Result<RateDecision, StoreError>;
}

/// Start of the fixed window containing `now`.
pub fn window_start(now: Timestamp, window_secs: u64) -> i64 {
    let w = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    now.0 - now.0.rem_euclid(w)
}
