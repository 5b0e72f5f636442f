//! What all providers share: the request log and the outbox of "sent" SMS.

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::wire::e164_digits;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Path only: the sandbox never records query strings (they may carry credentials).
    pub path: String,
}

/// One SMS a provider "sent". Only SMS land here; voice, e-mail and WhatsApp steps do not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    /// `vonage-v1`, `vonage-v2` or `twilio`.
    pub provider: String,
    /// E.164 with `+`, whatever form the provider's request used.
    pub to: String,
    pub code: String,
    pub text: String,
    /// Unix seconds on the sandbox clock.
    pub at: i64,
}

/// `+` and digits, or `None` for anything that is not a phone number.
pub fn normalise_phone(raw: &str) -> Option<String> {
    e164_digits(raw.trim()).map(|d| format!("+{d}"))
}

/// A poisoned lock only means a request panicked; the data is still usable for a sandbox.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
pub struct Journal {
    requests: Mutex<Vec<RecordedRequest>>,
    outbox: Mutex<Vec<SmsMessage>>,
}

impl Journal {
    pub(crate) fn record_request(&self, method: &str, path: &str) {
        lock(&self.requests).push(RecordedRequest { method: method.to_owned(), path: path.to_owned() });
    }

    pub(crate) fn send_sms(&self, provider: &str, to: &str, code: &str, text: String, at: i64) {
        let to = normalise_phone(to).unwrap_or_else(|| to.to_owned());
        // Never the number or the code: the shared crate's log-canary test greps for both.
        tracing::debug!(provider, "sandbox SMS sent");
        lock(&self.outbox).push(SmsMessage { provider: provider.to_owned(), to, code: code.to_owned(), text, at });
    }

    /// Oldest first. Lazily fired events can be recorded after later ones, so this sorts by time
    /// (stably, keeping send order within a second).
    pub(crate) fn outbox(&self, to: Option<&str>) -> Vec<SmsMessage> {
        let to = to.map(|t| normalise_phone(t).unwrap_or_else(|| t.to_owned()));
        let mut out: Vec<SmsMessage> =
            lock(&self.outbox).iter().filter(|m| to.as_ref().is_none_or(|t| &m.to == t)).cloned().collect();
        out.sort_by_key(|m| m.at);
        out
    }

    pub(crate) fn clear_outbox(&self) {
        lock(&self.outbox).clear();
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.requests).iter().filter(|r| r.method == method && r.path.starts_with(path_prefix)).count()
    }
}
