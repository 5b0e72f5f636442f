//! Notification emails on the real adapters (moto's SQS, SES v2 and DynamoDB): the request's
//! notification goes on the queue, a consumer sends it once, and what cannot be sent goes back to
//! the queue (docs/security.md D6).

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use simguard::adapters::clock::ManualClock;
use simguard::adapters::dynamo::DynamoStore;
use simguard::adapters::email::{QueueNotifier, Sender, SesMailer};
use simguard::adapters::metrics::MemoryMetrics;
use simguard::consumer::{Consumer, QueueMessage};
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

async fn ses(from: &str, verified: bool) -> Arc<SesMailer> {
    let client = aws_sdk_sesv2::Client::new(&moto::aws_config().await);
    if verified {
        client.create_email_identity().email_identity(from).send().await.expect("identity");
    }
    Arc::new(SesMailer::new(
        client,
        Sender {
            from: from.into(),
            display_name: Some("Example Bank".into()),
            reply_to: Some("help@bank.example".into()),
            configuration_set: None,
        },
    ))
}

/// The consumer on a fresh table, sending through `mailer`.
async fn consumer(mailer: Arc<SesMailer>) -> (Consumer, Arc<MemoryMetrics>) {
    let (client, table) = moto::fresh_table().await;
    let metrics = Arc::new(MemoryMetrics::new());
    let c = Consumer {
        mailer,
        store: Arc::new(DynamoStore::new(client, table)),
        site: site(),
        clock: Arc::new(ManualClock::new(Timestamp(1_800_000_000))),
        metrics: metrics.clone(),
    };
    (c, metrics)
}

/// The batch as Lambda's event source mapping hands it to the function.
fn sqs_event(batch: &[QueueMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = Some(m.message_id.clone());
            r.body = Some(m.body.clone());
            r
        })
        .collect();
    event
}

fn handed_back(c: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    c.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

#[tokio::test]
async fn a_queued_notification_is_emailed_once() {
    let (sqs, url) = queue("simguard-test-notify-once").await;
    let (c, metrics) = consumer(ses(FROM, true).await).await;

    // The request's side: one message on the queue.
    let to = "once@customer.example";
    QueueNotifier::new(sqs.clone(), url.clone()).notify(notification(to, "n-once")).await.expect("queued");
    let batch = receive(&sqs, &url).await;
    assert_eq!(batch.len(), 1);

    // The consumer's side: sent, from the verified sender, rendered from the templates.
    assert!(handed_back(&c.handle(sqs_event(&batch), None).await).is_empty(), "nothing handed back");
    let sent = mail_to(to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["from"], format!("\"Example Bank\" <{FROM}>"));
    assert_eq!(sent[0]["subject"], "We stopped a phone check on your account");
    let body = sent[0]["body"].as_str().expect("body");
    assert!(body.contains("Example Bank") && body.contains("help@bank.example") && body.contains("203.0.113.9"));
    assert!(!body.contains("<b>(test)</b>"), "the browser's name is escaped in HTML: {body}");

    // Delivered again (SQS delivers at least once): not sent again.
    assert!(c.deliver(&batch).await.is_empty());
    assert_eq!(mail_to(to).await.len(), 1);
    assert_eq!(metrics.count(&Metric::Notification { outcome: "sent" }), 1);
    assert_eq!(metrics.count(&Metric::Notification { outcome: "duplicate" }), 1);
}

#[tokio::test]
async fn what_cannot_be_sent_goes_back_to_the_queue() {
    // A sender SES has not verified: refused, every time.
    let (c, metrics) = consumer(ses("unverified@elsewhere.example", false).await).await;
    let to = "refused@customer.example";
    let good = serde_json::to_string(&notification(to, "n-refused")).expect("json");
    let batch = vec![
        QueueMessage { message_id: "m1".into(), body: good },
        QueueMessage { message_id: "m2".into(), body: "{not a notification".into() },
    ];
    assert_eq!(handed_back(&c.handle(sqs_event(&batch), None).await), ["m1", "m2"], "both handed back, for the DLQ");
    assert!(mail_to(to).await.is_empty());
    assert_eq!(metrics.count(&Metric::Notification { outcome: "refused" }), 2);

    // Once the sender is verified, the retry goes out.
    let c = Consumer { mailer: ses("unverified@elsewhere.example", true).await, ..c };
    assert_eq!(c.deliver(&batch[..1]).await, Vec::<String>::new());
    assert_eq!(mail_to(to).await.len(), 1);
}

/// D6 end to end on moto's SQS: what the consumer hands back is delivered again, and after the
/// queue's `maxReceiveCount` it is parked in the dead-letter queue (which the stacks alarm on), not
/// lost. The loop does what Lambda's event source mapping does: delete what the function did not hand
/// back, leave the rest to reappear.
#[tokio::test]
async fn a_notification_that_keeps_failing_ends_in_the_dead_letter_queue() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let (sqs, dlq_url) = queue("simguard-test-notify-dlq").await;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("the dead-letter queue's ARN");
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#);
    let url = sqs
        .create_queue()
        .queue_name("simguard-test-notify-redriven")
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let to = "parked@customer.example";
    QueueNotifier::new(sqs.clone(), url.clone()).notify(notification(to, "n-parked")).await.expect("queued");
    // A sender SES has not verified: refused on every delivery.
    let (c, _metrics) = consumer(ses("parked@elsewhere.example", false).await).await;
    let mut deliveries = 0;
    for _ in 0..4 {
        let out = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            continue;
        }
        deliveries += messages.len();
        let batch: Vec<QueueMessage> = messages
            .iter()
            .map(|m| QueueMessage {
                message_id: m.message_id.clone().unwrap_or_default(),
                body: m.body.clone().unwrap_or_default(),
            })
            .collect();
        let back = handed_back(&c.handle(sqs_event(&batch), None).await);
        for m in &messages {
            if !back.contains(&m.message_id.clone().unwrap_or_default()) {
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
    assert_eq!(deliveries, 2, "delivered maxReceiveCount times");
    assert!(mail_to(to).await.is_empty());
    let parked = receive(&sqs, &dlq_url).await;
    assert_eq!(parked.len(), 1, "parked in the dead-letter queue");
    let parked: Notification = serde_json::from_str(&parked[0].body).expect("the notification");
    assert_eq!(parked.id, "n-parked");
}

/// A batch the invocation has no time left for is handed back untried, not cut off half-sent.
#[tokio::test]
async fn out_of_time_the_batch_is_handed_back_untried() {
    let (c, metrics) = consumer(ses(FROM, true).await).await;
    let to = "late@customer.example";
    let body = serde_json::to_string(&notification(to, "n-late")).expect("json");
    let batch = [QueueMessage { message_id: "late".into(), body }];
    let answer = c.handle(sqs_event(&batch), Some(Instant::now())).await;
    assert_eq!(handed_back(&answer), ["late"]);
    assert!(mail_to(to).await.is_empty());
    assert_eq!(metrics.count(&Metric::Notification { outcome: "retry" }), 1);
    // The next invocation, with time, sends it.
    assert!(handed_back(&c.handle(sqs_event(&batch), None).await).is_empty());
    assert_eq!(mail_to(to).await.len(), 1);
}

/// D6: a notification that cannot be put on the queue (here: the queue is gone) never fails the
/// request, and is not lost silently: it is logged as `notification_not_queued` and counted in
/// `NotificationNotQueued`, which both stacks alarm on.
#[tokio::test]
async fn a_notification_that_cannot_be_queued_is_counted_and_the_request_goes_on() {
    use crate::support::{Env, Event, PASSWORD};
    const ALICE: (&str, &str) = ("alice@example.com", "+447700900004");
    let (sqs, url) = queue("simguard-test-notify-gone").await;
    sqs.delete_queue().queue_url(&url).send().await.expect("deleted");
    let env = Env::builder().notifier(Arc::new(QueueNotifier::new(sqs, url))).start().await;
    env.user(ALICE.0, ALICE.1).await;
    let (logs, _capturing) = crate::support::logs::capture();
    // Registering with a taken address tells its owner: that email cannot be queued.
    let again = serde_json::json!({ "email": ALICE.0, "phone": "+447700900126", "password": PASSWORD });
    let r = env.send(&Event::post("/api/register", again)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(env.metrics.count(&Metric::NotificationNotQueued), 1);
    let text = logs.text();
    assert!(text.contains("\"event\":\"notification_not_queued\""), "{text}");
}
