//! Persistence. Shaped after DynamoDB so the in-memory and DynamoDB adapters can behave the same:
//! every state change is a conditional write, the reset completion is one transaction, and expired
//! records are treated as absent even if they still exist (TTL deletion is lazy).

use std::net::IpAddr;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::domain::{Email, Flow, FlowCounter, FlowState, FlowUpdate, PasswordHash, Session, User, UserId};
use crate::random::TokenHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Registration raced or repeated: the email already belongs to an account.
    #[error("email already registered")]
    EmailTaken,
    /// A conditional write found the record missing, expired or in another state.
    #[error("the record is not in the expected state")]
    Conflict,
    /// A counter reached its limit; nothing was counted.
    #[error("limit reached")]
    LimitReached,
    /// The store could not be reached or refused the request; the request may be retried later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// What the reset transaction writes beside the user (SECURITY.md D2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub user_id: UserId,
    pub event: String,
    pub at: Timestamp,
    pub client_ip: IpAddr,
}

/// Everything the reset-completion transaction needs (SECURITY.md D2).
#[derive(Debug, Clone)]
pub struct ResetCompletion {
    pub flow_key: TokenHash,
    pub reset_token_hash: TokenHash,
    pub user_id: UserId,
    pub new_password_hash: PasswordHash,
    pub client_ip: IpAddr,
    pub now: Timestamp,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Writes the user and claims the email in one transaction.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Creates a flow; its key is fresh randomness, so an existing key is a bug and a conflict.
    async fn put_flow(&self, flow: &Flow) -> Result<(), StoreError>;
    /// `None` when missing or expired.
    async fn get_flow(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Flow>, StoreError>;
    /// Moves a live flow from `from` to `to`, setting the given fields, or fails with `Conflict`.
    async fn transition_flow(
        &self,
        key: &TokenHash,
        from: FlowState,
        to: FlowState,
        update: FlowUpdate,
        now: Timestamp,
    ) -> Result<Flow, StoreError>;
    /// Adds one to a counter of a live flow that is in one of `states`, if the counter is below
    /// `limit`; returns the new value. `LimitReached` when it is not (nothing counted), `Conflict` when
    /// the flow is gone or in another state. Atomic: concurrent callers never exceed the limit.
    async fn count_flow_event(
        &self,
        key: &TokenHash,
        counter: FlowCounter,
        limit: u32,
        states: &[FlowState],
        now: Timestamp,
    ) -> Result<u32, StoreError>;
    /// One transaction: the flow goes `verified` → `completed` (if live and the reset token matches),
    /// the user gets the new hash, `credential_version` is bumped (ending every session), and an
    /// audit record is written. All or nothing; a lost race is `Conflict`.
    async fn complete_reset(&self, completion: &ResetCompletion) -> Result<(), StoreError>;

    /// The account's audit trail, oldest first.
    async fn audit_events(&self, user: &UserId) -> Result<Vec<AuditRecord>, StoreError>;

    /// Records the first possession proof of the account's phone; later calls change nothing.
    async fn mark_phone_verified(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError>;

    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    /// `None` when missing or expired.
    async fn get_session(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Session>, StoreError>;
    async fn delete_session(&self, key: &TokenHash) -> Result<(), StoreError>;

    /// Remembers the coverage answer for a device IP for a few minutes, so that create-check does not
    /// pay for a second coverage lookup after the page's own.
    async fn put_coverage(&self, ip: IpAddr, covered: bool, expires_at: Timestamp) -> Result<(), StoreError>;
    async fn get_coverage(&self, ip: IpAddr, now: Timestamp) -> Result<Option<bool>, StoreError>;
}
