//! The store in one DynamoDB table (docs/architecture.md, "Data"): partition key `pk`, sort key `sk`, TTL attribute
//! `expires_at`. Every state change is a conditional write; the reset completion is one
//! `TransactWriteItems`; counters use `ADD` with a condition. TTL deletion is lazy, so every read of
//! an expiring record checks `expires_at > now` itself.
//!
//! Items:
//! - `USER#<id>` / `PROFILE` — the user; `EMAIL#<email>` / `EMAIL` — the email's owner (written in the
//!   same transaction as the profile: the uniqueness guard); `USER#<id>` / `AUDIT#<time>#<rand>`.
//! - `FLOW#<hash>` / `FLOW`, `SESSION#<hash>` / `SESSION` — keyed by the SHA-256 of the cookie token.
//! - `SKELETON#<hash>` / `SKELETON` — the owner of an email's confusable skeleton (with the profile).
//! - `VERIFICATION#<provider>#<reference>` / `VERIFICATION` — the flow an SMS verification belongs to.
//! - `COVERAGE#<ip hash>` / `COVERAGE`, `RL#<bucket>#<window start>` / `RL` — short-lived.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use sha2::{Digest, Sha256};

use crate::adapters::aws::in_time;
use crate::domain::relying_site::{ApiKeyRecord, RelyingSite, SiteId};
use crate::domain::time::window_start;
use crate::domain::verification::Verification;
use crate::domain::{
    Email, Flow, FlowCounter, PasswordHash, RememberedDevice, Session, Timestamp, TokenHash, Transition, User, UserId,
};
use crate::ports::{
    AuditRecord, CredentialChange, PhoneChange, PossessionProof, RateDecision, RateLimiter, ResetCompletion, Store,
    StoreError, VerificationOwner,
};

/// The table's partition key.
pub const PARTITION_KEY: &str = "pk";
/// The table's sort key.
pub const SORT_KEY: &str = "sk";
/// The attribute DynamoDB's TTL deletes items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

/// The store on one DynamoDB table.
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PARTITION_KEY.to_owned(), s(pk)), (SORT_KEY.to_owned(), s(sk))])
}

fn user_key(id: &UserId) -> Item {
    key(format!("USER#{}", id.0), "PROFILE")
}
fn email_key(email: &Email) -> Item {
    key(format!("EMAIL#{}", email.as_str()), "EMAIL")
}
fn skeleton_key(skeleton: &str) -> Item {
    // Hashed: a skeleton is an address, transformed.
    key(format!("SKELETON#{}", hex::encode(&Sha256::digest(skeleton.as_bytes())[..16])), "SKELETON")
}
fn verification_key(provider: &str, reference: &str) -> Item {
    key(format!("VERIFICATION#{provider}#{reference}"), "VERIFICATION")
}
fn flow_key(k: &TokenHash) -> Item {
    key(format!("FLOW#{}", k.as_str()), "FLOW")
}
fn site_key(id: &SiteId) -> Item {
    key(format!("SITE#{}", id.as_str()), "SITE")
}
fn api_key_key(site: &SiteId, key_id: &str) -> Item {
    key(format!("SITE#{}", site.as_str()), &format!("KEY#{key_id}"))
}
fn verification_record_key(k: &TokenHash) -> Item {
    // Not `VERIFICATION#`: that is an SMS verification's claim (provider and reference).
    key(format!("SITE_VERIFICATION#{}", k.as_str()), "SITE_VERIFICATION")
}
fn principal_key(principal: &str) -> Item {
    key(format!("PRINCIPAL#{principal}"), "PRINCIPAL")
}
fn redeemed_key(jti: &str) -> Item {
    key(format!("RESULT#{jti}"), "RESULT")
}
fn session_key(k: &TokenHash) -> Item {
    key(format!("SESSION#{}", k.as_str()), "SESSION")
}
/// An audit record's item: under the account, ordered by time; `suffix` keeps two records of one
/// second apart.
fn audit_item(user: &UserId, event: &str, at: Timestamp, client_ip: IpAddr, suffix: &str) -> Result<Item, StoreError> {
    to_item(
        &AuditRecord::new(user, event, at, client_ip),
        key(format!("USER#{}", user.0), &format!("AUDIT#{:012}#{suffix}", at.0)),
    )
}

fn device_key(user: &UserId, device: &TokenHash) -> Item {
    // Under the account, so that its browsers are one query.
    key(format!("USER#{}", user.0), &format!("DEVICE#{}", device.as_str()))
}
fn notification_key(id: &str) -> Item {
    key(format!("NOTIFICATION#{id}"), "NOTIFICATION")
}

fn coverage_key(ip: IpAddr) -> Item {
    // Hashed: the table need not hold client addresses, even for five minutes.
    key(
        format!("COVERAGE#{}", hex::encode(&Sha256::digest(ip.to_canonical().to_string().as_bytes())[..16])),
        "COVERAGE",
    )
}

/// A record plus its keys.
fn to_item<T: serde::Serialize>(record: &T, keys: Item) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(record).map_err(|e| StoreError::Unavailable(format!("encoding a record: {e}")))?;
    item.extend(keys);
    Ok(item)
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    // A record we cannot read back is not "absent": it is an error, so nothing proceeds on it.
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("decoding a record: {e}")))
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// Transport, throttling and unexpected service errors: the request may be retried later (503).
/// The label is the error code, never a message that could quote data.
fn unavailable<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> StoreError {
    let label = match e {
        SdkError::ServiceError(se) => se.err().code().unwrap_or("service_error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(_) => "dispatch".into(),
        _ => "response".into(),
    };
    StoreError::Unavailable(format!("dynamodb: {label}"))
}

/// One call within what is left of the request's deadline (docs/security.md R7).
async fn timely<F: std::future::Future>(call: F) -> Result<F::Output, StoreError> {
    in_time(call).await.ok_or_else(|| StoreError::Unavailable("dynamodb: out of time".into()))
}

fn is_conditional_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

fn live(item: &Item, now: Timestamp) -> bool {
    number(item, TTL_ATTRIBUTE).is_some_and(|t| t > now.0)
}

impl DynamoStore {
    /// One conditional update of an account's record: `Conflict` when the condition fails.
    async fn update_user<const N: usize>(
        &self,
        id: &UserId,
        update: &str,
        condition: &str,
        values: [(&str, AttributeValue); N],
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(id)))
            .update_expression(update)
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match timely(request.send()).await? {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// The store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The account's audit trail, oldest first (for tests and operators; the API never reads it).
    pub async fn audit_events(&self, user: &UserId) -> Result<Vec<AuditRecord>, StoreError> {
        self.account_items(user, "AUDIT#").await?.into_iter().map(from_item).collect()
    }

    /// The account's items whose sort key starts with `prefix` (its audit trail, its browsers).
    async fn account_items(&self, user: &UserId, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let out = timely(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(format!("USER#{}", user.0)))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .send(),
        )
        .await?
        .map_err(|e| unavailable(&e))?;
        Ok(out.items.unwrap_or_default())
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        // Strongly consistent: every read here decides a security step.
        let out =
            timely(self.client.get_item().table_name(&self.table).set_key(Some(key)).consistent_read(true).send())
                .await?
                .map_err(|e| unavailable(&e))?;
        Ok(out.item)
    }

    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        match timely(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send(),
        )
        .await?
        {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Takes one from the number `attribute` of the item at `key`, if the item exists and the number
    /// is above zero; otherwise leaves everything as it is (nothing to give back).
    async fn decrement(&self, key: Item, attribute: &str) -> Result<(), StoreError> {
        let result = timely(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("ADD #a :minus_one")
                .condition_expression("attribute_exists(pk) AND #a > :zero")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":minus_one", n(-1))
                .expression_attribute_values(":zero", n(0))
                .send(),
        )
        .await?;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// A flow's step as one item of a transaction: only from the state it leaves, only while live.
    fn flow_step(&self, flow: &TokenHash, t: &Transition, now: Timestamp) -> Result<TransactWriteItem, StoreError> {
        let (update, mut values) = flow_writes(t)?;
        values.insert(":from".to_owned(), s(t.from.as_str()));
        values.insert(":now".to_owned(), n(now.0));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(flow_key(flow)))
            .update_expression(update)
            .condition_expression("#state = :from AND expires_at > :now")
            .expression_attribute_names("#state", "state")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Runs a transaction; one more try after a short pause when another transaction held one of its
    /// items (a cancellation without a failed condition). A failed condition comes back as the
    /// cancellation reasons' codes and, where asked for, the old items. With `token`, a retry of the
    /// very same request (by the SDK) is recognised and not applied twice, and the same token with
    /// other items is refused like a failed condition (IdempotentParameterMismatch).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<Result<(), Vec<Reason>>, StoreError> {
        for attempt in 0..2 {
            let call = self
                .client
                .transact_write_items()
                .set_client_request_token(token.clone())
                .set_transact_items(Some(items.clone()))
                .send();
            let Err(e) = timely(call).await? else { return Ok(Ok(())) };
            let c = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c,
                Some(
                    TransactWriteItemsError::IdempotentParameterMismatchException(_)
                    | TransactWriteItemsError::TransactionInProgressException(_),
                ) => return Ok(Err(Vec::new())),
                _ => return Err(unavailable(&e)),
            };
            let reasons: Vec<Reason> = c
                .cancellation_reasons()
                .iter()
                .map(|r| Reason {
                    failed_condition: r.code() == Some("ConditionalCheckFailed"),
                    old: r.item().cloned(),
                })
                .collect();
            let held = c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"));
            if held && !reasons.iter().any(|r| r.failed_condition) && attempt == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            return Ok(Err(reasons));
        }
        Err(StoreError::Conflict)
    }

    /// A verification's claim for `owner`: only if nobody holds it, its holder's claim expired, or it
    /// is this flow's already. The holder comes back with a refusal: no second read.
    fn claim(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Put, StoreError> {
        let mut item = to_item(owner, verification_key(provider, reference))?;
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at.0));
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now OR flow_key = :mine")
            .expression_attribute_values(":now", n(now.0))
            .expression_attribute_values(":mine", s(owner.flow_key.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("building a put: {e}")))
    }

    fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("building a put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// Why one item of a cancelled transaction did not apply.
struct Reason {
    /// Its condition was false.
    failed_condition: bool,
    /// The item as it was, when the transaction asked for it.
    old: Option<Item>,
}

/// The table simguard needs (the SAM template and the CDK app declare the same): on-demand, `pk`/`sk`
/// strings, TTL on `expires_at`, point-in-time recovery. For local servers and tests; never called
/// from a Lambda.
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| e.to_string())
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PARTITION_KEY)?)
        .attribute_definitions(attr(SORT_KEY)?)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?)
        .send()
        .await
        .map_err(|e| format!("CreateTable {table}: {}", e.into_service_error()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("UpdateTimeToLive {table}: {}", e.into_service_error()))?;
    client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("UpdateContinuousBackups {table}: {}", e.into_service_error()))?;
    Ok(())
}

/// The update expression and values of a transition's writes (state and fields). The caller adds the
/// condition's own values.
fn flow_writes(t: &Transition) -> Result<(String, Item), StoreError> {
    let w = &t.writes;
    let mut sets = vec!["#state = :to"];
    let mut values: Item = HashMap::from([(":to".to_owned(), s(t.to.as_str()))]);
    let mut set = |field: &'static str, placeholder: &'static str, value: Option<AttributeValue>| {
        if let Some(v) = value {
            sets.push(field);
            values.insert(placeholder.to_owned(), v);
        }
    };
    set("reset_token_hash = :reset", ":reset", w.reset_token_hash.as_ref().map(|h| s(h.as_str())));
    set(
        "reason = :reason",
        ":reason",
        w.reason
            .map(serde_dynamo::to_attribute_value)
            .transpose()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?,
    );
    set("otp_reference = :otp_ref", ":otp_ref", w.otp_reference.clone().map(s));
    set("otp_provider = :otp_provider", ":otp_provider", w.otp_provider.clone().map(s));
    set("sim_unverified = :unverified", ":unverified", w.sim_unverified.map(AttributeValue::Bool));
    set("decoy = :decoy", ":decoy", w.decoy.then_some(AttributeValue::Bool(true)));
    set("otp_sent_at = :sent_at", ":sent_at", w.otp_sent_at.map(|t| n(t.0)));
    set("claimed_at = :claimed_at", ":claimed_at", w.claimed_at.map(|t| n(t.0)));
    set("check_id = :check_id", ":check_id", w.silent.as_ref().map(|b| s(b.handle.clone())));
    set("silent_provider = :silent_provider", ":silent_provider", w.silent.as_ref().map(|b| s(b.provider.clone())));
    set("silent_secret = :silent_secret", ":silent_secret", w.silent.as_ref().and_then(|b| b.secret.clone()).map(s));
    set("sim_answers = :sim_answers", ":sim_answers", w.sim_answers.clone().map(s));
    let restart = w
        .restart_for
        .as_ref()
        .map(serde_dynamo::to_attribute_value)
        .transpose()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let restarting = restart.is_some();
    set("sms_keys = :keys", ":keys", restart);
    if restarting {
        set("otp_sends = :zero, otp_attempts = :zero", ":zero", Some(n(0)));
        set("sim_unverified = :restarted", ":restarted", Some(AttributeValue::Bool(false)));
    }
    let mut expression = format!("SET {}", sets.join(", "));
    let mut removed = Vec::new();
    if w.clear_reset_token {
        removed.push("reset_token_hash");
    }
    if restarting {
        removed.extend(["otp_reference", "otp_provider", "otp_sent_at"]);
    }
    if !removed.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
    }
    Ok((expression, values))
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let profile = to_item(user, user_key(&user.id))?;
        let mut owner = email_key(&user.email);
        owner.insert("user_id".into(), s(&user.id.0));
        let mut look_alikes = skeleton_key(&user.email.skeleton());
        look_alikes.insert("user_id".into(), s(&user.id.0));
        // The holder of a taken email comes back with the refusal: whoever registers it again has
        // its owner told without another read.
        let guard = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(|e| StoreError::Unavailable(format!("building a put: {e}")))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let items = vec![self.put(profile, "attribute_not_exists(pk)")?, guard(owner)?, guard(look_alikes)?];
        match self.transact(items, None).await? {
            Ok(()) => Ok(()),
            Err(reasons) => {
                let taken = reasons.iter().skip(1).find(|r| r.failed_condition);
                match taken {
                    Some(r) => Err(StoreError::EmailTaken(
                        r.old.as_ref().and_then(|i| string(i, "user_id")).map(|id| UserId(id.to_owned())),
                    )),
                    None => Err(StoreError::Conflict),
                }
            }
        }
    }

    async fn replace_unconfirmed_user(&self, old: &User, new: &User, cutoff: Timestamp) -> Result<(), StoreError> {
        let old_id = s(&old.id.0);
        // The old account goes, if it is still unproven and old enough.
        let gone = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(&old.id)))
            .condition_expression(
                "attribute_not_exists(phone_verified_at) AND attribute_not_exists(imported_at) AND created_at <= :cutoff",
            )
            .expression_attribute_values(":cutoff", n(cutoff.0))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![
            self.put(to_item(new, user_key(&new.id))?, "attribute_not_exists(pk)")?,
            TransactWriteItem::builder().delete(gone).build(),
        ];
        // Each claim of the new account: taken over from the old one, or new.
        let claims = [
            (email_key(&new.email), email_key(&old.email)),
            (skeleton_key(&new.email.skeleton()), skeleton_key(&old.email.skeleton())),
        ];
        for (mut claim, old_claim) in claims {
            let same = claim == old_claim;
            claim.insert("user_id".into(), s(&new.id.0));
            let put = Put::builder().table_name(&self.table).set_item(Some(claim));
            let put = if same {
                put.condition_expression("user_id = :old").expression_attribute_values(":old", old_id.clone())
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            let put = put.build().map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(items, None).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let Some(owner) = self.get(email_key(email)).await? else {
            // The profile read a known email costs, for an unknown one too: the same round trips
            // whether or not the account exists.
            let nobody = UserId(format!("nobody-{}", hex::encode(&Sha256::digest(email.as_str().as_bytes())[..16])));
            self.get(user_key(&nobody)).await?;
            return Ok(None);
        };
        let Some(id) = string(&owner, "user_id") else {
            return Err(StoreError::Unavailable("an email item without its user".into()));
        };
        self.user_by_id(&UserId(id.to_owned())).await
    }

    async fn user_by_skeleton(&self, skeleton: &str) -> Result<Option<User>, StoreError> {
        let Some(owner) = self.get(skeleton_key(skeleton)).await? else { return Ok(None) };
        match string(&owner, "user_id") {
            Some(id) => self.user_by_id(&UserId(id.to_owned())).await,
            None => Err(StoreError::Unavailable("a skeleton item without its user".into())),
        }
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.get(user_key(id)).await?.map(from_item).transpose()
    }

    async fn put_flow(&self, flow: &Flow) -> Result<(), StoreError> {
        self.put_new(to_item(flow, flow_key(&flow.key))?).await
    }

    async fn get_flow(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Flow>, StoreError> {
        match self.get(flow_key(key)).await? {
            Some(item) if live(&item, now) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    async fn transition_flow(&self, key: &TokenHash, t: &Transition, now: Timestamp) -> Result<Flow, StoreError> {
        let (update, mut values) = flow_writes(t)?;
        values.insert(":from".to_owned(), s(t.from.as_str()));
        values.insert(":now".to_owned(), n(now.0));
        let result = timely(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(flow_key(key)))
                .update_expression(update)
                .condition_expression("#state = :from AND expires_at > :now")
                .expression_attribute_names("#state", "state")
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllNew)
                .send(),
        )
        .await?;
        match result {
            Ok(out) => from_item(out.attributes.unwrap_or_default()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn count_flow_event(
        &self,
        key: &TokenHash,
        counter: FlowCounter,
        limit: u32,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let name = counter.as_str();
        let states = counter.counted_in();
        let mut values: Item =
            HashMap::from([(":one".to_owned(), n(1)), (":limit".to_owned(), n(limit)), (":now".to_owned(), n(now.0))]);
        let placeholders: Vec<String> = (0..states.len()).map(|i| format!(":s{i}")).collect();
        for (p, state) in placeholders.iter().zip(states) {
            values.insert(p.clone(), s(state.as_str()));
        }
        let result = timely(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(flow_key(key)))
                .update_expression("ADD #c :one")
                .condition_expression(format!(
                    "#state IN ({}) AND expires_at > :now AND #c < :limit",
                    placeholders.join(", ")
                ))
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#c", name)
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::UpdatedNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send(),
        )
        .await?;
        match result {
            Ok(out) => out
                .attributes
                .as_ref()
                .and_then(|a| number(a, name))
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| StoreError::Unavailable("counter not returned".into())),
            Err(e) => {
                // Tell "over the limit" from "gone or in another state" without a second read.
                if let Some(UpdateItemError::ConditionalCheckFailedException(c)) = e.as_service_error() {
                    let old = c.item();
                    let in_state =
                        old.and_then(|i| string(i, "state")).is_some_and(|st| states.iter().any(|s| s.as_str() == st));
                    let at_limit = old.and_then(|i| number(i, name)).is_some_and(|v| v >= i64::from(limit));
                    let alive = old.is_some_and(|i| live(i, now));
                    return Err(if in_state && alive && at_limit {
                        StoreError::LimitReached
                    } else {
                        StoreError::Conflict
                    });
                }
                Err(unavailable(&e))
            }
        }
    }

    async fn release_flow_event(&self, key: &TokenHash, counter: FlowCounter) -> Result<(), StoreError> {
        self.decrement(flow_key(key), counter.as_str()).await
    }

    async fn complete_reset(&self, c: &ResetCompletion) -> Result<(), StoreError> {
        let (update, mut values) = flow_writes(&c.transition)?;
        values.insert(":from".to_owned(), s(c.transition.from.as_str()));
        values.insert(":now".to_owned(), n(c.now.0));
        values.insert(":presented".to_owned(), s(c.reset_token_hash.as_str()));
        values.insert(":user".to_owned(), s(&c.user_id.0));
        let flow = Update::builder()
            .table_name(&self.table)
            .set_key(Some(flow_key(&c.flow_key)))
            .update_expression(update)
            .condition_expression(
                "#state = :from AND expires_at > :now AND reset_token_hash = :presented AND user_id = :user",
            )
            .expression_attribute_names("#state", "state")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(&c.user_id)))
            .update_expression("SET password_hash = :hash REMOVE password_imported ADD credential_version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":hash", s(c.new_password_hash.as_str()))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let suffix = c.flow_key.as_str().get(..16).unwrap_or(c.flow_key.as_str());
        let audit = audit_item(&c.user_id, "password_reset", c.now, c.client_ip, suffix)?;
        // A retry of this very request (by the SDK) is recognised and not applied twice; the same
        // flow with another password is refused (IdempotentParameterMismatch).
        let token =
            hex::encode(&Sha256::digest(format!("{}:{}", c.flow_key.as_str(), c.reset_token_hash.as_str()))[..16]);
        let items = vec![
            TransactWriteItem::builder().update(flow).build(),
            TransactWriteItem::builder().update(user).build(),
            self.put(audit, "attribute_not_exists(pk)")?,
        ];
        // Any refusal is a lost race: the flow moved on, or this flow was completed with another
        // password.
        match self.transact(items, Some(token)).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    async fn change_credentials(&self, c: &CredentialChange) -> Result<(), StoreError> {
        let mut user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(&c.user_id)))
            .condition_expression("attribute_exists(pk) AND credential_version = :expected")
            .expression_attribute_values(":expected", n(i64::try_from(c.expected_version).unwrap_or(i64::MAX)))
            .expression_attribute_values(":one", n(1));
        user = match &c.new_password_hash {
            Some(hash) => user
                .update_expression("SET password_hash = :hash REMOVE password_imported ADD credential_version :one")
                .expression_attribute_values(":hash", s(hash.as_str())),
            None => user.update_expression("ADD credential_version :one"),
        };
        let user = user.build().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let ended = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(session_key(&c.ended_session)))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let suffix = c.ended_session.as_str().get(..16).unwrap_or(c.ended_session.as_str());
        let audit = audit_item(&c.user_id, c.audit_event, c.now, c.client_ip, suffix)?;
        let mut items = vec![
            TransactWriteItem::builder().update(user).build(),
            TransactWriteItem::builder().delete(ended).build(),
            self.put(audit, "attribute_not_exists(pk)")?,
        ];
        if let Some(session) = &c.new_session {
            items.push(self.put(to_item(session, session_key(&session.key))?, "attribute_not_exists(pk)")?);
        }
        match self.transact(items, None).await? {
            Ok(()) => Ok(()),
            // The version moved on (another change or a reset won), or a key collided.
            Err(_) => Err(StoreError::Conflict),
        }
    }

    async fn change_phone(&self, c: &PhoneChange) -> Result<(), StoreError> {
        // A proven number records its proof's date: the new-account grace never applies to it.
        let update = match c.proof {
            Some(_) => "SET phone = :phone, phone_verified_at = :now ADD credential_version :one",
            None => "SET phone = :phone ADD credential_version :one",
        };
        let mut user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(&c.user_id)))
            .update_expression(update)
            .condition_expression("attribute_exists(pk) AND credential_version = :expected")
            .expression_attribute_values(":phone", s(c.phone.e164()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(i64::try_from(c.expected_version).unwrap_or(i64::MAX)));
        if c.proof.is_some() {
            user = user.expression_attribute_values(":now", n(c.now.0));
        }
        let user = user.build().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let suffix = c.proof.as_ref().map_or("phone", |p| p.flow_key.as_str().get(..16).unwrap_or("phone"));
        let audit = audit_item(&c.user_id, c.audit_event, c.now, c.client_ip, suffix)?;
        let mut items =
            vec![TransactWriteItem::builder().update(user).build(), self.put(audit, "attribute_not_exists(pk)")?];
        if let Some(p) = &c.proof {
            items.push(self.flow_step(&p.flow_key, &p.transition, c.now)?);
            let ended = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(session_key(&p.ended_session)))
                .condition_expression("user_id = :uid AND credential_version = :expected AND expires_at > :now")
                .expression_attribute_values(":uid", s(&c.user_id.0))
                .expression_attribute_values(":expected", n(i64::try_from(c.expected_version).unwrap_or(i64::MAX)))
                .expression_attribute_values(":now", n(c.now.0))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().delete(ended).build());
            items
                .push(self.put(to_item(&p.new_session, session_key(&p.new_session.key))?, "attribute_not_exists(pk)")?);
        }
        match self.transact(items, None).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    async fn verification_owner(
        &self,
        provider: &str,
        reference: &str,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        match self.get(verification_key(provider, reference)).await? {
            Some(item) if live(&item, now) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    async fn claim_verification(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        let claim = self.claim(provider, reference, owner, expires_at, now)?;
        let result = timely(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(claim.item))
                .set_condition_expression(claim.condition_expression)
                .set_expression_attribute_values(claim.expression_attribute_values)
                .set_return_values_on_condition_check_failure(claim.return_values_on_condition_check_failure)
                .send(),
        )
        .await?;
        match result {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(old) => Ok(Some(from_item(old.clone())?)),
                    None => Err(StoreError::Unavailable("a refused claim without its holder".into())),
                },
                _ => Err(unavailable(&e)),
            },
        }
    }

    async fn claim_verification_with_step(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        transition: &Transition,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        let claim = self.claim(provider, reference, owner, expires_at, now)?;
        let items =
            vec![TransactWriteItem::builder().put(claim).build(), self.flow_step(&owner.flow_key, transition, now)?];
        match self.transact(items, None).await? {
            Ok(()) => Ok(None),
            Err(reasons) => match reasons.first() {
                Some(Reason { failed_condition: true, old: Some(holder) }) => Ok(Some(from_item(holder.clone())?)),
                Some(Reason { failed_condition: true, old: None }) => {
                    Err(StoreError::Unavailable("a refused claim without its holder".into()))
                }
                _ => Err(StoreError::Conflict),
            },
        }
    }

    async fn record_possession(&self, p: &PossessionProof<'_>) -> Result<(), StoreError> {
        let user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(p.user_id)))
            .update_expression("SET phone_verified_at = if_not_exists(phone_verified_at, :at)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", n(p.at.0))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items =
            vec![self.flow_step(p.flow_key, p.transition, p.at)?, TransactWriteItem::builder().update(user).build()];
        if let Some(session) = p.session {
            items.push(self.put(to_item(session, session_key(&session.key))?, "attribute_not_exists(pk)")?);
        }
        if let Some(device) = p.device {
            items.push(
                self.put(to_item(device, device_key(&device.user_id, &device.key))?, "attribute_not_exists(pk)")?,
            );
        }
        match self.transact(items, None).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    async fn upgrade_password_hash(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
    ) -> Result<(), StoreError> {
        let values = [(":to", s(to.as_str())), (":from", s(from.as_str())), (":yes", AttributeValue::Bool(true))];
        self.update_user(
            id,
            "SET password_hash = :to REMOVE password_imported",
            "password_hash = :from AND password_imported = :yes",
            values,
        )
        .await
    }

    async fn put_site_principal(&self, principal: &str, site: &SiteId) -> Result<(), StoreError> {
        let mut item = principal_key(principal);
        item.insert("site".to_owned(), s(site.as_str()));
        timely(self.client.put_item().table_name(&self.table).set_item(Some(item)).send())
            .await?
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn site_of_principal(&self, principal: &str) -> Result<Option<SiteId>, StoreError> {
        let item = self.get(principal_key(principal)).await?;
        Ok(item.and_then(|i| match i.get("site") {
            Some(AttributeValue::S(id)) => SiteId::parse(id),
            _ => None,
        }))
    }

    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError> {
        self.put_new(to_item(v, verification_record_key(&v.begin_hash))?).await
    }

    async fn begin_verification(&self, hash: &TokenHash, now: Timestamp) -> Result<Option<Verification>, StoreError> {
        let result = timely(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(verification_record_key(hash)))
                .update_expression("SET #status = :begun")
                .condition_expression("#status = :pending AND expires_at > :now")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":begun", s("begun"))
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":now", n(now.0))
                .return_values(ReturnValue::AllNew)
                .send(),
        )
        .await?;
        match result {
            Ok(out) => Ok(Some(from_item(out.attributes.unwrap_or_default())?)),
            // Unknown (the update would create it: refused by the condition too), expired or begun.
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn redeem_result(&self, jti: &str, until: Timestamp, _now: Timestamp) -> Result<bool, StoreError> {
        let mut item = redeemed_key(jti);
        item.insert("expires_at".to_owned(), n(until.0));
        match self.put_new(item).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn put_site(&self, site: &RelyingSite) -> Result<(), StoreError> {
        let item = to_item(site, site_key(&site.id))?;
        timely(self.client.put_item().table_name(&self.table).set_item(Some(item)).send())
            .await?
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn site(&self, id: &SiteId) -> Result<Option<RelyingSite>, StoreError> {
        self.get(site_key(id)).await?.map(from_item).transpose()
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_new(to_item(key, api_key_key(&key.site, &key.key_id))?).await
    }

    async fn api_key(&self, site: &SiteId, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get(api_key_key(site, key_id)).await?.map(from_item).transpose()
    }

    async fn api_keys(&self, site: &SiteId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let out = timely(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(format!("SITE#{}", site.as_str())))
                .expression_attribute_values(":prefix", s("KEY#"))
                .consistent_read(true)
                .send(),
        )
        .await?
        .map_err(|e| unavailable(&e))?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }

    async fn revoke_api_key(&self, site: &SiteId, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(api_key_key(site, key_id)))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(pk)");
        request = request.expression_attribute_values(":at", n(at.0));
        match timely(request.send()).await? {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn mark_phone_verified(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError> {
        let update = "SET phone_verified_at = if_not_exists(phone_verified_at, :at)";
        self.update_user(id, update, "attribute_exists(pk)", [(":at", n(at.0))]).await
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_new(to_item(session, session_key(&session.key))?).await
    }

    async fn get_session(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Session>, StoreError> {
        match self.get(session_key(key)).await? {
            Some(item) if live(&item, now) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    async fn delete_session(&self, key: &TokenHash) -> Result<(), StoreError> {
        timely(self.client.delete_item().table_name(&self.table).set_key(Some(session_key(key))).send())
            .await?
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn notification_sent(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.get(notification_key(id)).await?.is_some_and(|i| live(&i, now)))
    }

    async fn put_device(&self, device: &RememberedDevice) -> Result<(), StoreError> {
        self.put_new(to_item(device, device_key(&device.user_id, &device.key))?).await
    }

    async fn get_device(
        &self,
        user: &UserId,
        key: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<RememberedDevice>, StoreError> {
        match self.get(device_key(user, key)).await? {
            Some(item) if live(&item, now) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    async fn devices(&self, user: &UserId, now: Timestamp) -> Result<Vec<RememberedDevice>, StoreError> {
        let mut list: Vec<RememberedDevice> = self
            .account_items(user, "DEVICE#")
            .await?
            .into_iter()
            .filter(|i| live(i, now))
            .map(from_item)
            .collect::<Result<_, _>>()?;
        list.sort_by(|a, b| (a.created_at, a.key.as_str()).cmp(&(b.created_at, b.key.as_str())));
        Ok(list)
    }

    async fn delete_device(&self, user: &UserId, key: &TokenHash) -> Result<(), StoreError> {
        timely(self.client.delete_item().table_name(&self.table).set_key(Some(device_key(user, key))).send())
            .await?
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn record_notification_sent(&self, id: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let mut item = notification_key(id);
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at.0));
        timely(self.client.put_item().table_name(&self.table).set_item(Some(item)).send())
            .await?
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn put_coverage(&self, ip: IpAddr, covered: bool, expires_at: Timestamp) -> Result<(), StoreError> {
        let mut item = coverage_key(ip);
        item.insert("covered".into(), AttributeValue::Bool(covered));
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at.0));
        timely(self.client.put_item().table_name(&self.table).set_item(Some(item)).send())
            .await?
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn get_coverage(&self, ip: IpAddr, now: Timestamp) -> Result<Option<bool>, StoreError> {
        Ok(self.get(coverage_key(ip)).await?.filter(|i| live(i, now)).and_then(|i| match i.get("covered") {
            Some(AttributeValue::Bool(b)) => Some(*b),
            _ => None,
        }))
    }
}

#[async_trait]
impl RateLimiter for DynamoStore {
    /// `ADD n :1` only while `n < limit`: concurrent callers never both take the last slot. The
    /// item expires a minute after its window (TTL); a stale item of an older window is never read,
    /// because the window start is part of its key. One item per bucket and window: at our limits
    /// (hundreds per hour), far below a partition's write capacity, so the global buckets need no
    /// sharding.
    async fn hit(
        &self,
        bucket: &str,
        limit: u32,
        window_secs: u64,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError> {
        let start = window_start(now, window_secs);
        let end = start.plus_secs(i64::try_from(window_secs).unwrap_or(i64::MAX));
        let result = timely(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("RL#{bucket}#{}", start.0), "RL")))
                .update_expression("ADD #n :one SET expires_at = :exp")
                .condition_expression("attribute_not_exists(#n) OR #n < :limit")
                .expression_attribute_names("#n", "n")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":limit", n(limit))
                .expression_attribute_values(":exp", n(end.plus_secs(60).0))
                .send(),
        )
        .await?;
        match result {
            Ok(_) => Ok(RateDecision::Allowed),
            Err(e) if is_conditional_failure(&e) => {
                Ok(RateDecision::Limited { retry_after_secs: u64::try_from(end.0 - now.0).unwrap_or(0).max(1) })
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn release(&self, bucket: &str, window_secs: u64, counted_at: Timestamp) -> Result<(), StoreError> {
        let start = window_start(counted_at, window_secs);
        self.decrement(key(format!("RL#{bucket}#{}", start.0), "RL"), "n").await
    }
}
