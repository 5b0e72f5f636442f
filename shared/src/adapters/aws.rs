//! The AWS SDK's limits for every call a function makes to DynamoDB and Secrets Manager
//! (docs/security.md R7). Without them the SDK waits as long as a connection stays open: a store that
//! accepts connections and never answers would hold every request until the platform's timeout.
//! Within a request, each call also takes no longer than what is left of its deadline
//! ([`crate::ports::deadline`]).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// Establishing a connection (DynamoDB's endpoints answer in milliseconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One try of an operation, from sending to the last byte of the answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// An operation, with its retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries of one operation, the first included (the SDK's standard mode: throttling and transient
/// errors only, with jittered backoff and a retry quota).
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts above.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The bounded retry policy above.
pub fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(Duration::from_millis(500))
}

/// `loader` with simguard's timeouts and retry policy.
pub fn with_limits(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    loader.timeout_config(timeouts()).retry_config(retries())
}

/// The execution environment's AWS configuration (credentials and region from the environment),
/// with simguard's limits.
pub async fn load() -> aws_config::SdkConfig {
    with_limits(aws_config::defaults(aws_config::BehaviorVersion::latest())).load().await
}

/// Runs one SDK call within what is left of the request's deadline; `None` when it ran out. The
/// SDK's own timeouts bound it outside a request.
pub async fn in_time<F: std::future::Future>(call: F) -> Option<F::Output> {
    match crate::ports::deadline::remaining() {
        Some(left) => tokio::time::timeout(left, call).await.ok(),
        None => Some(call.await),
    }
}
