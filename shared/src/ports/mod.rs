//! What the outside world does for us, as traits. Handlers see only these; adapters implement them.
//! Ports depend on the domain and nothing else (docs/architecture.md).

pub mod clock;
pub mod deadline;
pub mod fault;
pub mod metrics;
pub mod notifier;
pub mod otp;
pub mod passwords;
pub mod random;
pub mod ratelimit;
pub mod result_signer;
pub mod secrets;
pub mod silent;
pub mod sim_swap;
pub mod store;
pub mod truid;

pub use clock::Clock;
pub use fault::{ProviderFailure, ProviderFault};
pub use metrics::{Metric, MetricsSink};
pub use notifier::{Mail, MailError, Mailer, Notification, NotificationKind, Notifier, NotifyError, Site};
pub use otp::{OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, SmsSender, TwilioServiceSid};
pub use passwords::{HashError, ImportedVerdict, PasswordHasher};
pub use random::{Random, RandomError};
pub use ratelimit::{RateDecision, RateLimiter};
pub use result_signer::{ResultSigner, SignerError};
pub use secrets::{ProviderSecrets, SecretSource, SecretsError};
pub use silent::{RedirectParams, SilentProver, SilentReport, SilentStart};
pub use sim_swap::{SimSwapAnswer, SimSwapSource};
pub use store::{
    AuditRecord, CredentialChange, PhoneChange, PhoneProof, PossessionProof, ResetCompletion, Store, StoreError,
    VerificationOwner,
};
pub use truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport, TruId,
    TruIdError,
};
