//! What the outside world does for us, as traits. Handlers see only these; adapters implement them.
//! Ports depend on the domain and nothing else (docs/architecture.md).

pub mod clock;
pub mod metrics;
pub mod notifier;
pub mod otp;
pub mod passwords;
pub mod random;
pub mod ratelimit;
pub mod secrets;
pub mod store;
pub mod truid;

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

pub use clock::Clock;
pub use metrics::{Metric, MetricsSink};
pub use notifier::{Notification, NotificationKind, Notifier, NotifyError};
pub use otp::{OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, TwilioServiceSid};
pub use passwords::{HashError, PasswordHasher};
pub use random::{Random, RandomError};
pub use ratelimit::{RateDecision, RateLimiter};
pub use secrets::{ProviderSecrets, SecretSource, SecretsError};
pub use store::{AuditRecord, ResetCompletion, Store, StoreError};
pub use truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport, TruId,
    TruIdError,
};
