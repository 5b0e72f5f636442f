//! Notifier adapters: an outbox in memory (local stack and tests) and a structured log line.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{Notification, Notifier, NotifyError};

/// How many notifications the outbox keeps: the newest. A local stack left running (or a soak) must
/// not grow without bound (docs/security.md R10).
pub const OUTBOX_KEEPS: usize = 1_000;

/// Keeps the latest [`OUTBOX_KEEPS`] notifications so a person (the local stack's outbox page) or a
/// test can read them.
#[derive(Default)]
pub struct OutboxNotifier {
    sent: Mutex<VecDeque<Notification>>,
}

impl OutboxNotifier {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was sent, oldest first (the latest [`OUTBOX_KEEPS`]).
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
        tracing::info!(kind = ?n.kind, to = %n.to.masked(), "notification queued in the local outbox");
        let mut sent = self.sent.lock().map_err(|_| NotifyError("outbox poisoned".into()))?;
        if sent.len() == OUTBOX_KEEPS {
            sent.pop_front();
        }
        sent.push_back(n);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Timestamp};
    use crate::ports::NotificationKind;

    #[tokio::test]
    async fn the_outbox_keeps_only_the_latest() {
        let outbox = OutboxNotifier::new();
        for i in 0..=OUTBOX_KEEPS {
            let n = Notification {
                id: format!("n{i}"),
                to: Email::parse("alice@example.com").expect("email"),
                kind: NotificationKind::PasswordReset,
                at: Timestamp(1_800_000_000),
                client_ip: "203.0.113.9".parse().expect("ip"),
                user_agent: String::new(),
                not_me_url: "https://app.example/help/not-me.html".into(),
            };
            outbox.notify(n).await.expect("kept");
        }
        let sent = outbox.sent();
        assert_eq!(sent.len(), OUTBOX_KEEPS);
        assert_eq!((sent[0].id.as_str(), sent[OUTBOX_KEEPS - 1].id.as_str()), ("n1", "n1000"));
    }
}
