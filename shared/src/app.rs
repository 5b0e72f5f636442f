//! The state every handler receives: configuration and the ports, built once per process.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::PasswordHasher;
use crate::metrics::MetricsSink;
use crate::ports::{Notifier, OtpProvider, RateLimiter, Store, TruId};
use crate::random::Random;

pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub limiter: Arc<dyn RateLimiter>,
    pub truid: Arc<dyn TruId>,
    pub otp: Arc<dyn OtpProvider>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub hasher: PasswordHasher,
    pub metrics: Arc<dyn MetricsSink>,
}

pub type SharedApp = Arc<App>;
