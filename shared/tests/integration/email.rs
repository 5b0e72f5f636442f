//! Notification emails on the real adapters (moto's SQS, SES v2 and DynamoDB): the request's
//! notification goes on the queue, a consumer sends it once, and what cannot be sent goes back to
//! the queue (docs/security.md D6).

use simguard::adapters::clock::ManualClock;
use simguard::adapters::dynamo::DynamoStore;
use simguard::adapters::email::{Delivery, QueueMessage, QueueNotifier, Sender, SesMailer, deliver_batch};
use simguard::adapters::metrics::MemoryMetrics;
use simguard::domain::{Email, Timestamp};
use simguard::ports::{Metric, Notification, NotificationKind, Notifier, Site};

use crate::support::moto;

const FROM: &str = "notices@bank.example";

fn site() -> Site {
    Site {
        name: "Example Bank".into(),
        support_contact: Some("help@bank.example".into()),
        origin: "https://bank.example".into(),
    }
}

fn notification(to: &str, id: &str) -> Notification {
    Notification {
        id: id.into(),
        to: Email::parse(to).expect("email"),
        kind: NotificationKind::SimChangeBlocked,
        at: Timestamp(1_800_000_000),
        client_ip: "203.0.113.9".parse().expect("ip"),
        user_agent: "Mozilla/5.0 <b>(test)</b>".into(),
        not_me_url: "https://bank.example/help/not-me.html".into(),
    }
}

/// A queue of its own, and what it holds now (received, not deleted).
async fn queue(name: &str) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&moto::aws_config().await);
    let url = sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url.expect("queue url");
    (sqs, url)
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<QueueMessage> {
    let out = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
    out.messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| QueueMessage { message_id: m.message_id.unwrap_or_default(), body: m.body.unwrap_or_default() })
        .collect()
}

async fn mail_to(to: &str) -> Vec<serde_json::Value> {
    moto::sent_mail().await.into_iter().filter(|m| m["to"].to_string().contains(to)).collect()
}

async fn ses(from: &str, verified: bool) -> SesMailer {
    let client = aws_sdk_sesv2::Client::new(&moto::aws_config().await);
    if verified {
        client.create_email_identity().email_identity(from).send().await.expect("identity");
    }
    SesMailer::new(
        client,
        Sender { from: from.into(), reply_to: Some("help@bank.example".into()), configuration_set: None },
    )
}

#[tokio::test]
async fn a_queued_notification_is_emailed_once() {
    let (sqs, url) = queue("simguard-test-notify-once").await;
    let (client, table) = moto::fresh_table().await;
    let store = DynamoStore::new(client, table);
    let (clock, metrics, site) = (ManualClock::new(Timestamp(1_800_000_000)), MemoryMetrics::new(), site());
    let mailer = ses(FROM, true).await;
    let d = Delivery { mailer: &mailer, store: &store, site: &site, clock: &clock, metrics: &metrics };

    // The request's side: one message on the queue.
    let to = "once@customer.example";
    QueueNotifier::new(sqs.clone(), url.clone()).notify(notification(to, "n-once")).await.expect("queued");
    let batch = receive(&sqs, &url).await;
    assert_eq!(batch.len(), 1);

    // The consumer's side: sent, from the verified sender, rendered from the templates.
    assert!(deliver_batch(&d, &batch).await.is_empty(), "nothing handed back");
    let sent = mail_to(to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["from"], FROM);
    assert_eq!(sent[0]["subject"], "We stopped a phone check on your account");
    let body = sent[0]["body"].as_str().expect("body");
    assert!(body.contains("Example Bank") && body.contains("help@bank.example") && body.contains("203.0.113.9"));
    assert!(!body.contains("<b>(test)</b>"), "the browser's name is escaped in HTML: {body}");

    // Delivered again (SQS delivers at least once): not sent again.
    assert!(deliver_batch(&d, &batch).await.is_empty());
    assert_eq!(mail_to(to).await.len(), 1);
    assert_eq!(metrics.count(&Metric::Notification { outcome: "sent" }), 1);
    assert_eq!(metrics.count(&Metric::Notification { outcome: "duplicate" }), 1);
}

#[tokio::test]
async fn what_cannot_be_sent_goes_back_to_the_queue() {
    let (client, table) = moto::fresh_table().await;
    let store = DynamoStore::new(client, table);
    let (clock, metrics, site) = (ManualClock::new(Timestamp(1_800_000_000)), MemoryMetrics::new(), site());
    // A sender SES has not verified: refused, every time.
    let mailer = ses("unverified@elsewhere.example", false).await;
    let d = Delivery { mailer: &mailer, store: &store, site: &site, clock: &clock, metrics: &metrics };
    let to = "refused@customer.example";
    let good = serde_json::to_string(&notification(to, "n-refused")).expect("json");
    let batch = vec![
        QueueMessage { message_id: "m1".into(), body: good },
        QueueMessage { message_id: "m2".into(), body: "{not a notification".into() },
    ];
    assert_eq!(deliver_batch(&d, &batch).await, ["m1", "m2"], "both handed back, for the dead-letter queue");
    assert!(mail_to(to).await.is_empty());
    assert_eq!(metrics.count(&Metric::Notification { outcome: "refused" }), 2);

    // Once the sender is verified, the retry goes out.
    let mailer = ses("unverified@elsewhere.example", true).await;
    let d = Delivery { mailer: &mailer, ..d };
    assert_eq!(deliver_batch(&d, &batch[..1]).await, Vec::<String>::new());
    assert_eq!(mail_to(to).await.len(), 1);
}
