//! Email delivery off the request path (docs/security.md D6): a request puts the notification on an
//! Amazon SQS queue ([`QueueNotifier`]); a consumer takes batches from the queue and sends each
//! notification through Amazon SES v2 ([`SesMailer`]) exactly once per id ([`deliver_batch`]). A
//! message that could not be sent is handed back to the queue, which retries it and then parks it
//! in its dead-letter queue: nothing is lost silently.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::adapters::aws::in_time;
use crate::domain::{Email, Timestamp};
use crate::ports::{
    Clock, Mail, MailError, Mailer, Metric, MetricsSink, Notification, Notifier, NotifyError, Site, Store,
};

/// How long a sent notification's id is remembered: longer than SQS keeps a message (at most 14
/// days), so that no redelivery can send it twice.
pub const SENT_REMEMBERED_SECS: i64 = 15 * 86_400;

/// Puts notifications on the queue the consumer reads. The request waits only for SQS to take the
/// message (milliseconds), never for the email.
pub struct QueueNotifier {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl QueueNotifier {
    /// Sends to `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl Notifier for QueueNotifier {
    async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_string(&n).map_err(|e| NotifyError(format!("serialising: {e}")))?;
        let call = self.client.send_message().queue_url(&self.queue_url).message_body(body).send();
        match in_time(call).await {
            Some(Ok(_)) => {
                tracing::info!(event = "notification_queued", kind = n.kind.as_str(), "notification queued");
                Ok(())
            }
            Some(Err(e)) => {
                use aws_sdk_sqs::error::ProvideErrorMetadata;
                Err(NotifyError(format!("SendMessage: {}", e.code().unwrap_or("transport"))))
            }
            None => Err(NotifyError("SendMessage: out of time".into())),
        }
    }
}

/// Who the emails are from, and how SES sends them.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The verified identity's address (`From:`).
    pub from: String,
    /// Where replies go, if not to `from`.
    pub reply_to: Option<String>,
    /// The SES configuration set (event destinations for bounces and complaints).
    pub configuration_set: Option<String>,
}

/// Sends through Amazon SES v2.
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    sender: Sender,
}

impl SesMailer {
    /// Sends as `sender`.
    pub fn new(client: aws_sdk_sesv2::Client, sender: Sender) -> Self {
        Self { client, sender }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| MailError::Refused(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, to: &Email, mail: &Mail) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(Body::builder().text(content(&mail.text)?).html(content(&mail.html)?).build())
            .build();
        let mut request = self
            .client
            .send_email()
            .from_email_address(&self.sender.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(message).build());
        if let Some(r) = &self.sender.reply_to {
            request = request.reply_to_addresses(r);
        }
        if let Some(c) = &self.sender.configuration_set {
            request = request.configuration_set_name(c);
        }
        match in_time(request.send()).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => {
                use aws_sdk_sesv2::error::ProvideErrorMetadata;
                let code = e.code().unwrap_or("transport").to_owned();
                // What fails again as it is: the sender or the address refused, sending paused.
                let refused = matches!(
                    code.as_str(),
                    "MessageRejected"
                        | "MailFromDomainNotVerifiedException"
                        | "AccountSuspendedException"
                        | "SendingPausedException"
                        | "BadRequestException"
                        | "NotFoundException"
                );
                Err(if refused { MailError::Refused(code) } else { MailError::Transient(code) })
            }
            None => Err(MailError::Transient("out of time".into())),
        }
    }
}

/// One message from the queue.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    /// The queue's id for it (what a partial batch failure names).
    pub message_id: String,
    /// The notification, as [`QueueNotifier`] wrote it.
    pub body: String,
}

/// What a consumer needs to send a batch.
pub struct Delivery<'a> {
    /// SES (or a stand-in).
    pub mailer: &'a dyn Mailer,
    /// Where sent ids are remembered.
    pub store: &'a dyn Store,
    /// Who the emails are from.
    pub site: &'a Site,
    /// Now.
    pub clock: &'a dyn Clock,
    /// Where outcomes are counted.
    pub metrics: &'a dyn MetricsSink,
}

/// Sends every notification of the batch that was not sent before; returns the ids of the messages
/// to hand back to the queue (retried, then parked in its dead-letter queue). A message that cannot
/// be read, or that SES refuses, is handed back too: it ends in the dead-letter queue, where the
/// alarm sees it, rather than disappearing.
///
/// A notification is recorded as sent after SES took it: a consumer that dies in between sends it
/// again on redelivery (at least once, never lost).
pub async fn deliver_batch(d: &Delivery<'_>, messages: &[QueueMessage]) -> Vec<String> {
    let mut failed = Vec::new();
    for m in messages {
        let outcome = deliver_one(d, m).await;
        d.metrics.record(Metric::Notification { outcome });
        if outcome == "retry" || outcome == "refused" {
            failed.push(m.message_id.clone());
        }
    }
    failed
}

async fn deliver_one(d: &Delivery<'_>, m: &QueueMessage) -> &'static str {
    let n: Notification = match serde_json::from_str(&m.body) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(event = "notification_unreadable", error = %e, "a queued notification could not be read");
            return "refused";
        }
    };
    let now: Timestamp = d.clock.now();
    match d.store.notification_sent(&n.id, now).await {
        Ok(true) => {
            tracing::info!(event = "notification_duplicate", kind = n.kind.as_str(), "already sent; not again");
            return "duplicate";
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(event = "notification_retry", error = %e, "store unavailable; handed back");
            return "retry";
        }
    }
    let mail = match n.render(d.site) {
        Ok(mail) => mail,
        Err(e) => {
            tracing::error!(event = "notification_refused", error = %e, "notification could not be rendered");
            return "refused";
        }
    };
    match d.mailer.send(&n.to, &mail).await {
        Ok(()) => {
            if let Err(e) = d.store.record_notification_sent(&n.id, now.plus_secs(SENT_REMEMBERED_SECS)).await {
                // Sent: a redelivery may send it again, which is better than not at all.
                tracing::warn!(event = "notification_not_recorded", error = %e, "sent, but not recorded");
            }
            tracing::info!(event = "notification_sent", kind = n.kind.as_str(), to = %n.to.masked(), "email sent");
            "sent"
        }
        Err(MailError::Transient(why)) => {
            tracing::warn!(event = "notification_retry", why = %why, kind = n.kind.as_str(), "email not sent yet");
            "retry"
        }
        Err(MailError::Refused(why)) => {
            tracing::error!(event = "notification_refused", why = %why, kind = n.kind.as_str(), "email refused");
            "refused"
        }
    }
}
