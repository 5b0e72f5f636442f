//! What all providers share: the request log and the outbox of "sent" SMS.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
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
    /// Empty for a notice (a text with no code).
    pub code: String,
    /// The provider's handle on what sent it: the verification (Vonage `request_id`, Twilio `VE…`)
    /// for a code, the message for a notice.
    pub reference: String,
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

/// The most records of one kind the sandbox keeps — requests, SMS, checks, verifications, tokens —
/// so that a long-running local stack stays bounded. The oldest go first.
pub const MAX_RECORDS: usize = 2_000;

/// Appends to a bounded log: beyond [`MAX_RECORDS`], the oldest entry goes.
pub(crate) fn push_bounded<T>(log: &mut VecDeque<T>, entry: T) {
    if log.len() >= MAX_RECORDS {
        log.pop_front();
    }
    log.push_back(entry);
}

/// A map of records that keeps at most [`MAX_RECORDS`]: inserting beyond that drops the one inserted
/// first. Reads and updates go through to the map itself.
pub(crate) struct Capped<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K, V> Default for Capped<K, V> {
    fn default() -> Self {
        Self { map: HashMap::new(), order: VecDeque::new() }
    }
}

impl<K: Eq + Hash + Clone, V> Capped<K, V> {
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.map.len() > MAX_RECORDS || self.order.len() > 2 * MAX_RECORDS {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.map.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

impl<K, V> std::ops::Deref for Capped<K, V> {
    type Target = HashMap<K, V>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<K, V> std::ops::DerefMut for Capped<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

#[derive(Default)]
pub struct Journal {
    requests: Mutex<VecDeque<RecordedRequest>>,
    outbox: Mutex<VecDeque<SmsMessage>>,
}

impl Journal {
    pub(crate) fn record_request(&self, method: &str, path: &str) {
        push_bounded(&mut lock(&self.requests), RecordedRequest { method: method.to_owned(), path: path.to_owned() });
    }

    pub(crate) fn send_sms(&self, provider: &str, to: &str, code: &str, reference: &str, text: String, at: i64) {
        let to = normalise_phone(to).unwrap_or_else(|| to.to_owned());
        // Never the number or the code: the shared crate's log-canary test greps for both.
        tracing::debug!(provider, "sandbox SMS sent");
        push_bounded(
            &mut lock(&self.outbox),
            SmsMessage {
                provider: provider.to_owned(),
                to,
                code: code.to_owned(),
                reference: reference.to_owned(),
                text,
                at,
            },
        );
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
        lock(&self.requests).iter().cloned().collect()
    }

    pub(crate) fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.requests).iter().filter(|r| r.method == method && r.path.starts_with(path_prefix)).count()
    }
}
