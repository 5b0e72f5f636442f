//! Email delivery off the request path (docs/security.md D6): a request puts the notification on an
//! Amazon SQS queue ([`QueueNotifier`]); the consumer (`crate::consumer`) sends each through Amazon
//! SES v2 ([`SesMailer`]).

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::adapters::aws::in_time;
use crate::domain::Email;
use crate::ports::{Mail, MailError, Mailer, Notification, Notifier, NotifyError};

/// Puts notifications on the queue the consumer reads. The request waits only for SQS to take the
/// message (milliseconds), never for the email.
pub struct QueueNotifier {
    client: SqsClient,
    queue_url: String,
}

/// The SQS client, or what builds it: a deployed function builds it when a request first notifies
/// someone, not at start-up (most requests notify nobody).
pub type SqsClient = crate::adapters::aws::AwsClient<aws_sdk_sqs::Client>;

impl QueueNotifier {
    /// Sends to `queue_url`.
    pub fn new(client: impl Into<SqsClient>, queue_url: impl Into<String>) -> Self {
        Self { client: client.into(), queue_url: queue_url.into() }
    }
}

#[async_trait]
impl Notifier for QueueNotifier {
    async fn notify(&self, n: Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_string(&n).map_err(|e| NotifyError(format!("serialising: {e}")))?;
        let call = self.client.get().send_message().queue_url(&self.queue_url).message_body(body).send();
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
    /// The name shown with it (the site's), when it can be written as it is in a header.
    pub display_name: Option<String>,
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

    /// `"Example Bank" <notices@bank.example>`, or the bare address when the name would need MIME
    /// encoding or escaping (SES refuses a raw non-ASCII display name).
    fn sender_header(&self) -> String {
        match &self.sender.display_name {
            Some(name)
                if !name.is_empty() && name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') =>
            {
                format!("\"{name}\" <{}>", self.sender.from)
            }
            _ => self.sender.from.clone(),
        }
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
            .from_email_address(self.sender_header())
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
