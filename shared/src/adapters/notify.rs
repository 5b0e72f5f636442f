//! Notifier adapters: an outbox in memory (local stack and tests) and a structured log line.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{Notification, Notifier, NotifyError};

/// Keeps every notification so a person (the local stack's outbox page) or a test can read it.
#[derive(Default)]
pub struct OutboxNotifier {
    sent: Mutex<Vec<Notification>>,
}

impl OutboxNotifier {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
        tracing::info!(kind = ?n.kind, to = %n.to.masked(), "notification queued in the local outbox");
        self.sent.lock().map_err(|_| NotifyError("outbox poisoned".into()))?.push(n);
        Ok(())
    }
}

/// Records that a notification is due, without sending mail: a function run outside a deployment
/// with no queue configured (a deployed one does not start without its queue). The line carries no
/// address, only the masked one.
#[derive(Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
        tracing::warn!(kind = ?n.kind, to = %n.to.masked(), "notification due (no queue configured)");
        Ok(())
    }
}
