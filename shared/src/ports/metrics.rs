//! The metrics simguard counts. The alarms of the SAM template and the CDK app are built on these
//! names (docs/security.md R6); the EMF adapter turns them into CloudWatch metrics.
//!
//! Dimensions are few and fixed (function, step, outcome, provider), so the metric count stays small.

/// Every metric simguard emits. Names are the CloudWatch metric names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// A step of a flow ended: `step` (`reset_start`, `subscriber_check`, `sim_check`, `otp_start`,
    /// `otp_verify`, `reset_password`, `login`) with a fixed `outcome`.
    StepOutcome {
        /// The step.
        step: &'static str,
        /// Its outcome.
        outcome: &'static str,
    },
    /// A provider call failed (timeout, 5xx, refusal of our credentials, an answer we could not read).
    ProviderError {
        /// `truid`, `vonage-v1`, …
        provider: &'static str,
        /// The call that failed.
        call: &'static str,
    },
    /// An SMS code was sent, and one was verified: their ratio is the conversion the pumping alarm
    /// watches (docs/security.md F5).
    SmsSent {
        /// Which OTP provider.
        provider: &'static str,
    },
    /// A code was verified (counted by the request whose flow transition won).
    OtpVerified {
        /// Which OTP provider.
        provider: &'static str,
    },
    /// A SIM changed within the window stopped a reset or a login.
    SimChangeBlocked,
    /// A request was refused by a rate limit.
    RateLimited {
        /// The limit's name.
        bucket: &'static str,
    },
    /// How long a provider call took, in milliseconds (the dashboard's latency by provider).
    ProviderLatency {
        /// `truid`, `vonage-v1`, …
        provider: &'static str,
        /// The call.
        call: &'static str,
        /// Its duration.
        millis: u64,
    },
    /// What became of a notification email: `sent`, `duplicate` (a redelivery, not sent again),
    /// `retry` (handed back to the queue) or `refused` (it would fail again as it is).
    Notification {
        /// The outcome.
        outcome: &'static str,
    },
    /// A notification that could not be put on the queue (SQS refused or did not answer): the email
    /// is lost unless an operator acts, so it has an alarm of its own. No dimensions: every function
    /// that notifies counts in the one figure the alarm watches.
    NotificationNotQueued,
    /// What a SIM-swap source answered (`not_changed`, `changed`, `cannot_tell`, `error`).
    SimSwapAnswer {
        /// `truid`, `camara`, `twilio-lookup`.
        source: &'static str,
        /// The answer.
        answer: &'static str,
    },
    /// What became of a silent prover's turn: at the start `not_covered`, `not_served` (it
    /// declined the number), `error` or `started`; at the callback the proof's outcome
    /// (`verified`, `mismatch`, `sim_changed`, `error`, ...).
    SilentAttempt {
        /// `truid`, `camara`, `vonage`.
        provider: &'static str,
        /// The outcome.
        outcome: &'static str,
    },
}

impl Metric {
    /// Every metric name (the alarms of the SAM template and the CDK app may use only these).
    pub const NAMES: &[&str] = &[
        "StepOutcome",
        "ProviderError",
        "ProviderLatency",
        "SmsSent",
        "OtpVerified",
        "SimChangeBlocked",
        "RateLimited",
        "Notification",
        "NotificationNotQueued",
        "SimSwapAnswer",
        "SilentAttempt",
    ];

    /// The CloudWatch metric name.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::StepOutcome { .. } => "StepOutcome",
            Metric::ProviderError { .. } => "ProviderError",
            Metric::ProviderLatency { .. } => "ProviderLatency",
            Metric::SmsSent { .. } => "SmsSent",
            Metric::OtpVerified { .. } => "OtpVerified",
            Metric::SimChangeBlocked => "SimChangeBlocked",
            Metric::RateLimited { .. } => "RateLimited",
            Metric::Notification { .. } => "Notification",
            Metric::NotificationNotQueued => "NotificationNotQueued",
            Metric::SimSwapAnswer { .. } => "SimSwapAnswer",
            Metric::SilentAttempt { .. } => "SilentAttempt",
        }
    }

    /// The data point: a count of one, or a duration.
    pub fn value(&self) -> (u64, &'static str) {
        match *self {
            Metric::ProviderLatency { millis, .. } => (millis, "Milliseconds"),
            _ => (1, "Count"),
        }
    }

    /// The dimensions, in a fixed order.
    pub fn dimensions(&self) -> Vec<(&'static str, &'static str)> {
        match *self {
            Metric::StepOutcome { step, outcome } => vec![("Step", step), ("Outcome", outcome)],
            Metric::ProviderError { provider, call } | Metric::ProviderLatency { provider, call, .. } => {
                vec![("Provider", provider), ("Call", call)]
            }
            Metric::SmsSent { provider } | Metric::OtpVerified { provider } => vec![("Provider", provider)],
            Metric::SimChangeBlocked | Metric::NotificationNotQueued => vec![],
            Metric::RateLimited { bucket } => vec![("Bucket", bucket)],
            Metric::Notification { outcome } => vec![("Outcome", outcome)],
            Metric::SimSwapAnswer { source, answer } => vec![("Source", source), ("Answer", answer)],
            Metric::SilentAttempt { provider, outcome } => vec![("Provider", provider), ("Outcome", outcome)],
        }
    }
}

/// Where metrics go.
pub trait MetricsSink: Send + Sync {
    /// Counts one occurrence.
    fn record(&self, metric: Metric);
}
