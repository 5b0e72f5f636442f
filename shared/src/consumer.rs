//! The notification queue's consumer, the `notify` function (docs/security.md D6): a request puts
//! each notification on an Amazon SQS queue; Lambda hands this function batches of them; it sends
//! each through the [`Mailer`] (Amazon SES) exactly once per notification id, and names the
//! messages it could not send, which SQS then retries and finally parks in its dead-letter queue.
//! Nothing is lost silently: every outcome is logged and counted ([`Metric::Notification`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use crate::domain::Timestamp;
use crate::ports::{Clock, MailError, Mailer, Metric, MetricsSink, Notification, Site, Store, deadline};

/// How long a sent notification's id is remembered: longer than SQS keeps a message (at most 14
/// days), so that no redelivery can send it twice.
pub const SENT_REMEMBERED_SECS: i64 = 15 * 86_400;

/// What one notification needs at most (a store read, SES, a store write, each bounded by the AWS
/// clients' own timeouts): a message that would not finish before the invocation's deadline is
/// handed back untried rather than cut off half-sent.
pub const TIME_PER_NOTIFICATION: Duration = Duration::from_secs(6);

/// One message from the queue.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    /// The queue's id for it (what a partial batch failure names).
    pub message_id: String,
    /// The notification, as the queue notifier wrote it.
    pub body: String,
}

/// The consumer's state: what sends, where sent ids are remembered, whose emails these are.
#[derive(Clone)]
pub struct Consumer {
    /// SES (or a stand-in).
    pub mailer: Arc<dyn Mailer>,
    /// Where sent ids are remembered.
    pub store: Arc<dyn Store>,
    /// The site the emails speak for.
    pub site: Site,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Where outcomes are counted.
    pub metrics: Arc<dyn MetricsSink>,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Duplicate,
    /// Handed back to be tried again (SES or the store unavailable, out of time).
    Retry,
    /// Handed back though it will fail again (unreadable, refused by SES): it ends in the
    /// dead-letter queue, where the alarm sees it.
    Refused,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Duplicate => "duplicate",
            Outcome::Retry => "retry",
            Outcome::Refused => "refused",
        }
    }
}

impl Consumer {
    /// One Lambda invocation: the batch, within `until` (the invocation's deadline less a margin).
    /// Answers which messages to hand back (`ReportBatchItemFailures`).
    pub async fn handle(&self, event: SqsEvent, until: Option<Instant>) -> SqsBatchResponse {
        let messages: Vec<QueueMessage> = event
            .records
            .into_iter()
            .map(|r| QueueMessage { message_id: r.message_id.unwrap_or_default(), body: r.body.unwrap_or_default() })
            .collect();
        let failed = match until {
            Some(until) => deadline::within(until, self.deliver(&messages)).await,
            None => self.deliver(&messages).await,
        };
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        response
    }

    /// Sends every notification of the batch that was not sent before; returns the ids of the
    /// messages to hand back. A notification is recorded as sent after SES took it: a consumer
    /// that dies in between sends it again on redelivery (at least once, never lost).
    pub async fn deliver(&self, messages: &[QueueMessage]) -> Vec<String> {
        let mut failed = Vec::new();
        for m in messages {
            let outcome = if deadline::time_for(TIME_PER_NOTIFICATION) {
                self.deliver_one(m).await
            } else {
                tracing::warn!(event = "notification_retry", why = "out of time", "handed back untried");
                Outcome::Retry
            };
            self.metrics.record(Metric::Notification { outcome: outcome.as_str() });
            if matches!(outcome, Outcome::Retry | Outcome::Refused) {
                failed.push(m.message_id.clone());
            }
        }
        failed
    }

    async fn deliver_one(&self, m: &QueueMessage) -> Outcome {
        let n: Notification = match serde_json::from_str(&m.body) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(event = "notification_unreadable", error = %e, "a queued notification could not be read");
                return Outcome::Refused;
            }
        };
        let now: Timestamp = self.clock.now();
        match self.store.notification_sent(&n.id, now).await {
            Ok(true) => {
                tracing::info!(event = "notification_duplicate", kind = n.kind.as_str(), "already sent; not again");
                return Outcome::Duplicate;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(event = "notification_retry", why = %e, "store unavailable; handed back");
                return Outcome::Retry;
            }
        }
        let mail = match n.render(&self.site) {
            Ok(mail) => mail,
            Err(e) => {
                tracing::error!(event = "notification_refused", why = %e, "notification could not be rendered");
                return Outcome::Refused;
            }
        };
        match self.mailer.send(&n.to, &mail).await {
            Ok(()) => {
                let remember_until = now.plus_secs(SENT_REMEMBERED_SECS);
                if let Err(e) = self.store.record_notification_sent(&n.id, remember_until).await {
                    // Sent: a redelivery may send it again, which is better than not at all.
                    tracing::warn!(event = "notification_not_recorded", error = %e, "sent, but not recorded");
                }
                tracing::info!(event = "notification_sent", kind = n.kind.as_str(), to = %n.to.masked(), "email sent");
                Outcome::Sent
            }
            Err(MailError::Transient(why)) => {
                tracing::warn!(event = "notification_retry", why = %why, kind = n.kind.as_str(), "email not sent yet");
                Outcome::Retry
            }
            Err(MailError::Refused(why)) => {
                tracing::error!(event = "notification_refused", why = %why, kind = n.kind.as_str(), "email refused");
                Outcome::Refused
            }
        }
    }
}
