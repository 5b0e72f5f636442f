//! What the outside world does for us, as traits. Handlers see only these; adapters implement them.

pub mod notifier;
pub mod otp;
pub mod ratelimit;
pub mod secrets;
pub mod store;
pub mod truid;

pub use notifier::{Notification, NotificationKind, Notifier, NotifyError};
pub use otp::{OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference};
pub use ratelimit::{RateDecision, RateLimiter};
pub use secrets::{ProviderSecrets, SecretSource, SecretsError, StaticSecrets};
pub use store::{AuditRecord, ResetCompletion, Store, StoreError};
pub use truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, ProviderError, SimCheckReport,
    SubscriberCheckReport, TruId,
};
