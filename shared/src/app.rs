//! The state a function's handlers receive, built once per process by [`crate::assembly`].
//!
//! Every function gets the [`Core`]: its settings and the ports every step uses (store, limiter,
//! notifier, clock, randomness, metrics). Beyond that, each function's state type carries only the
//! clients its handlers call — [`WithSilent`], [`WithSilentGate`], [`WithSimGate`], [`WithOtp`], [`WithHasher`] or
//! [`WithPasswords`] — so the compiler,
//! not a table, decides what a function can reach: a handler that needs tru.ID does not compile
//! into a function whose state has no tru.ID client, and a function is never given a client it does
//! not use (each costs TLS set-up at cold start).

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Settings;
use crate::ports::{
    Clock, MetricsSink, Notifier, OtpProvider, PasswordHasher, Random, RateLimiter, ResultSigner, SilentProver,
    SimSwapSource, Store,
};

/// What every function has.
pub struct Core {
    /// This function's settings (only its own variables were read).
    pub settings: Settings,
    /// Users, flows, sessions.
    pub store: Arc<dyn Store>,
    /// Rate-limit counters.
    pub limiter: Arc<dyn RateLimiter>,
    /// Security notifications to account owners.
    pub notifier: Arc<dyn Notifier>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Tokens and ids.
    pub random: Arc<dyn Random>,
    /// Counters for the alarms.
    pub metrics: Arc<dyn MetricsSink>,
    /// The verification API's result tokens (signing keys from the secret, read when first used).
    pub results: Arc<dyn ResultSigner>,
    /// How long provider calls have taken in this process, for the steps that must take as long
    /// without one (docs/security.md A2).
    pub latency: Arc<ProviderLatency>,
}

/// The last few durations of each kind of provider call in this process. A step that has no call to
/// make for an unknown email (or a decoy) waits for one of them, picked at random, so that its
/// timing does not say whether the email is registered (docs/security.md A2, S24).
#[derive(Default)]
pub struct ProviderLatency {
    seen: Mutex<HashMap<&'static str, VecDeque<Duration>>>,
}

impl ProviderLatency {
    /// How many durations are kept per call.
    pub const KEEP: usize = 32;
    /// What a call is assumed to take before this process has seen one: a provider round trip.
    pub const PRIOR: Duration = Duration::from_millis(250);

    /// Records one call's duration.
    pub fn observe(&self, call: &'static str, took: Duration) {
        if let Ok(mut seen) = self.seen.lock() {
            let list = seen.entry(call).or_default();
            if list.len() == Self::KEEP {
                list.pop_front();
            }
            list.push_back(took);
        }
    }

    /// One of the recorded durations of `call` (`pick` chooses which), or [`Self::PRIOR`].
    pub fn typical(&self, call: &'static str, pick: usize) -> Duration {
        self.seen
            .lock()
            .ok()
            .and_then(|seen| seen.get(call).filter(|l| !l.is_empty()).map(|l| l[pick % l.len()]))
            .unwrap_or(Self::PRIOR)
    }
}

/// A function's state: the core and its own clients `P`.
pub struct App<P> {
    /// What every function has.
    pub core: Core,
    /// This function's clients.
    pub ports: P,
}

impl<P> Deref for App<P> {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

/// The functions that start a silent proof: coverage, create-check.
pub struct WithSilent {
    /// The silent provers, in the configured order (their token caches live as long as the process).
    pub provers: Vec<Arc<dyn SilentProver>>,
}

/// The function that completes a silent proof: the callback (and the Cognito triggers, which do
/// both).
pub struct WithSilentGate {
    /// The silent provers, in the configured order.
    pub provers: Vec<Arc<dyn SilentProver>>,
    /// The SIM-swap sources, asked after a proof that does not cover the SIM change.
    pub sim_swap: Vec<Arc<dyn SimSwapSource>>,
}

/// The function that runs the SIM-swap gate: sim-check.
pub struct WithSimGate {
    /// The SIM-swap sources, in the configured order.
    pub sim_swap: Vec<Arc<dyn SimSwapSource>>,
}

/// The functions that send and check SMS codes: otp-start, otp-verify.
pub struct WithOtp {
    /// The configured OTP provider's client.
    pub otp: Arc<dyn OtpProvider>,
}

/// The function that sets a new password: reset-password. A type of its own, apart from the
/// account's, so that its binary links none of the account's handlers (registration's phone-number
/// library above all: docs/security.md R11).
pub struct WithHasher {
    /// Argon2id, with the pepper.
    pub hasher: Arc<dyn PasswordHasher>,
}

/// The account function: registration, sign-in, sign-out, the signed-in page.
pub struct WithPasswords {
    /// Argon2id, with the pepper.
    pub hasher: Arc<dyn PasswordHasher>,
}

/// The state of a silent-proof function's handlers.
pub type SilentApp = Arc<App<WithSilent>>;
/// The state of the callback's handlers.
pub type CallbackApp = Arc<App<WithSilentGate>>;
/// The state of the SIM-swap gate's handler.
pub type SimGateApp = Arc<App<WithSimGate>>;
/// The state of an OTP function's handlers.
pub type OtpApp = Arc<App<WithOtp>>;
/// The state of the account function's handlers.
pub type PasswordApp = Arc<App<WithPasswords>>;
/// The state of the reset-password function's handler.
pub type ResetApp = Arc<App<WithHasher>>;
