//! The request's deadline (docs/security.md R7): set once per request by the router
//! (`routes::secure`), from the Lambda invocation's own deadline or, outside Lambda, a configured
//! budget; every outbound call — provider HTTP, token fetch, DynamoDB, Secrets Manager — takes at most
//! what is left of it, so a request answers in time whatever its dependencies do.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the request's deadline.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// Runs `work` with at most `percent` % of what is left of the request's time, so that a call
/// followed by others (the read after a lost answer, the write that records it) leaves them time.
pub async fn share<F: Future>(percent: u32, work: F) -> F::Output {
    match remaining() {
        Some(left) => within(Instant::now() + left * percent.min(100) / 100, work).await,
        None => work.await,
    }
}

/// What is left of the request's time; `None` outside a request (start-up, tests of a client alone).
pub fn remaining() -> Option<Duration> {
    DEADLINE.try_with(|d| d.saturating_duration_since(Instant::now())).ok()
}

/// `limit`, or less when the request has less left.
pub fn capped(limit: Duration) -> Duration {
    remaining().map_or(limit, |left| left.min(limit))
}

/// `limit`, or less when the request has less left once `keep` is set aside (for the work after the
/// call); `None` when nothing would be left for the call.
pub fn capped_leaving(limit: Duration, keep: Duration) -> Option<Duration> {
    match remaining() {
        None => Some(limit),
        Some(left) => Some(left.saturating_sub(keep).min(limit)).filter(|d| !d.is_zero()),
    }
}

/// Whether another try of a call that may take `needs` still fits before the deadline.
pub fn time_for(needs: Duration) -> bool {
    remaining().is_none_or(|left| left >= needs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_caps_every_call_within_it() {
        assert_eq!(remaining(), None);
        assert_eq!(capped(Duration::from_secs(3)), Duration::from_secs(3));
        within(Instant::now() + Duration::from_millis(500), async {
            assert!(capped(Duration::from_secs(3)) <= Duration::from_millis(500));
            assert!(time_for(Duration::from_millis(100)));
            assert!(!time_for(Duration::from_secs(1)));
            assert_eq!(capped_leaving(Duration::from_secs(3), Duration::from_secs(1)), None);
            assert!(capped_leaving(Duration::from_secs(3), Duration::from_millis(100)).is_some());
            share(50, async { assert!(capped(Duration::from_secs(3)) <= Duration::from_millis(250)) }).await;
            assert!(capped(Duration::from_secs(3)) > Duration::from_millis(250));
        })
        .await;
    }
}
