//! Persistence. Shaped after DynamoDB so the in-memory and DynamoDB adapters can behave the same:
//! every state change is a conditional write, the reset completion is one transaction, and expired
//! records are treated as absent even if they still exist (TTL deletion is lazy).

use std::net::IpAddr;

use async_trait::async_trait;

use crate::domain::relying_site::{ApiKeyRecord, RelyingSite, SiteId};
use crate::domain::verification::Verification;
use crate::domain::{
    Email, Flow, FlowCounter, FlowKind, PasswordHash, Phone, RememberedDevice, Session, Timestamp, TokenHash,
    Transition, User, UserId,
};

/// Every way a store operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Registration raced or repeated: the email (or a look-alike) already belongs to an account,
    /// this one when the store could tell without another read.
    #[error("email already registered")]
    EmailTaken(Option<UserId>),
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

/// What the reset transaction writes beside the user (docs/security.md D2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// Whose account.
    pub user_id: UserId,
    /// A fixed event name (`password_reset`).
    pub event: String,
    /// When.
    pub at: Timestamp,
    /// From where.
    pub client_ip: IpAddr,
}

impl AuditRecord {
    /// `event` on `user`'s account, at `at`, from `client_ip`.
    pub fn new(user: &UserId, event: &str, at: Timestamp, client_ip: IpAddr) -> Self {
        AuditRecord { user_id: user.clone(), event: event.into(), at, client_ip }
    }
}

/// Everything the reset-completion transaction needs (docs/security.md D2).
#[derive(Debug, Clone)]
pub struct ResetCompletion {
    /// The flow being completed.
    pub flow_key: TokenHash,
    /// Its `verified → completed` step, from [`crate::domain::Flow::apply`].
    pub transition: Transition,
    /// The reset token the browser presented; the flow must hold its hash.
    pub reset_token_hash: TokenHash,
    /// The flow's account.
    pub user_id: UserId,
    /// The new password's hash.
    pub new_password_hash: PasswordHash,
    /// Who did it, for the audit record.
    pub client_ip: IpAddr,
    /// Now.
    pub now: Timestamp,
}

/// A signed-in change of the account's credentials (docs/security.md S28): a new password, or none
/// (sign out everywhere). Either way the credential version moves on, which ends every session and
/// every flow of the account at once.
#[derive(Debug, Clone)]
pub struct CredentialChange {
    /// Whose account.
    pub user_id: UserId,
    /// The credential version the change was decided on: if it moved meanwhile (another change, a
    /// reset), this one is `Conflict` and nothing is written.
    pub expected_version: u64,
    /// The new password's hash; `None` keeps the password.
    pub new_password_hash: Option<PasswordHash>,
    /// The session the change was made from: ended.
    pub ended_session: TokenHash,
    /// Its successor on the new version, when the browser stays signed in (a password change).
    pub new_session: Option<Session>,
    /// The audit record's event: `password_changed` or `signed_out_everywhere`.
    pub audit_event: &'static str,
    /// Who did it, for the audit record.
    pub client_ip: IpAddr,
    /// Now.
    pub now: Timestamp,
}

/// A new phone number for an account: proven by its owner in a phone-change flow (docs/security.md
/// S31), or set by support for a user who lost the old one, whose next sign-in then proves it
/// (docs/operations.md, "A user who lost their phone"). Either way every session, flow and remembered
/// browser ends (the credential version moves on). The account never gets the new-account grace
/// again: a proven number records its proof's date, and a number set by support keeps the account's
/// first.
#[derive(Debug, Clone)]
pub struct PhoneChange {
    /// Whose account.
    pub user_id: UserId,
    /// The credential version support saw: if it moved meanwhile, nothing is written (`Conflict`).
    pub expected_version: u64,
    /// The new number.
    pub phone: Phone,
    /// The audit record's event.
    pub audit_event: &'static str,
    /// Where from (the owner's browser, or the operator's machine).
    pub client_ip: IpAddr,
    /// Now.
    pub now: Timestamp,
    /// The owner's proof of both numbers, when they changed it themselves; `None` for support.
    pub proof: Option<PhoneProof>,
}

/// What a phone-change flow writes with the new number, in the same transaction: its last step, the
/// date the new number was proven, and the browser's session on the new credential version.
#[derive(Debug, Clone)]
pub struct PhoneProof {
    /// The flow that proved both numbers.
    pub flow_key: TokenHash,
    /// Its `new_otp_sent → completed` step.
    pub transition: Transition,
    /// The session the change was made from: it must still be the account's and alive on the
    /// credential version the change expects (a browser that signed out meanwhile changes nothing:
    /// `Conflict`), and it ends.
    pub ended_session: TokenHash,
    /// Its successor, on the new credential version.
    pub new_session: Session,
}

/// The flow an OTP provider's verification belongs to: only that flow may submit codes to it
/// (docs/security.md S23).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerificationOwner {
    /// The flow that started it.
    pub flow_key: TokenHash,
    /// Reset or login.
    pub kind: FlowKind,
    /// Whose number it went to.
    pub user_id: UserId,
}

/// What a possession proof writes in one transaction: the flow's step, the first proof of the
/// account's phone, and for a sign-in its session (docs/security.md R11).
#[derive(Debug, Clone)]
pub struct PossessionProof<'a> {
    /// The flow that proved it.
    pub flow_key: &'a TokenHash,
    /// Its step, from [`crate::domain::Flow::apply`].
    pub transition: &'a Transition,
    /// Whose phone it proved.
    pub user_id: &'a UserId,
    /// Now.
    pub at: Timestamp,
    /// The session a sign-in starts.
    pub session: Option<&'a Session>,
    /// The browser a sign-in asked to remember (docs/security.md S29).
    pub device: Option<&'a RememberedDevice>,
}

/// Users, flows, sessions and the coverage cache.
#[async_trait]
pub trait Store: Send + Sync {
    /// Writes the user and claims the email and its confusable skeleton in one transaction.
    /// `EmailTaken` when either is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// Registers `new` in place of `old`, an account that never proved its phone and was created
    /// before `cutoff` (see [`User::expired_unconfirmed`]): in one transaction `old` is deleted and
    /// `new` takes its email (and look-alike claim). `Conflict` when `old` proved its phone or is
    /// younger meanwhile, or the email is now someone else's.
    async fn replace_unconfirmed_user(&self, old: &User, new: &User, cutoff: Timestamp) -> Result<(), StoreError>;
    /// The account that owns this email, if any. Takes the same store round trips whether or not
    /// there is one (docs/security.md A2).
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// The account whose email has this confusable skeleton ([`Email::skeleton`]), if any.
    async fn user_by_skeleton(&self, skeleton: &str) -> Result<Option<User>, StoreError>;
    /// The account with this id, if any.
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    /// Replaces an imported account's hash (`from`, the other system's) by simguard's own, once its
    /// password was proven with it. `Conflict` when the hash is no longer `from` (another sign-in
    /// replaced it first, or the password changed): nothing to do.
    async fn upgrade_password_hash(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
    ) -> Result<(), StoreError>;

    /// Registers a relying site, or replaces its name and return URLs (its keys stay).
    async fn put_site(&self, site: &RelyingSite) -> Result<(), StoreError>;
    /// The site with this id, if registered.
    async fn site(&self, id: &SiteId) -> Result<Option<RelyingSite>, StoreError>;
    /// Adds an API key to its site. `Conflict` when the site has a key with that id.
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// The site's key with this id, revoked or not.
    async fn api_key(&self, site: &SiteId, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Every key of the site, revoked ones included.
    async fn api_keys(&self, site: &SiteId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes the key (once; a revoked key stays revoked). `Conflict` when there is no such key.
    async fn revoke_api_key(&self, site: &SiteId, key_id: &str, at: Timestamp) -> Result<(), StoreError>;

    /// Lets the IAM principal `principal` (see `relying_site::principal`) call the verification API
    /// as `site`, replacing whatever site it was for.
    async fn put_site_principal(&self, principal: &str, site: &SiteId) -> Result<(), StoreError>;
    /// The site the IAM principal calls as, if it was registered.
    async fn site_of_principal(&self, principal: &str) -> Result<Option<SiteId>, StoreError>;
    /// Stores a new verification (its key is the hash of fresh randomness: an existing one is a
    /// conflict).
    async fn put_verification(&self, verification: &Verification) -> Result<(), StoreError>;
    /// The pending, unexpired verification whose link token hashes to `begin_hash`, marked begun in
    /// the same write: a link opens one flow, once. `None` otherwise (unknown, expired, begun).
    async fn begin_verification(
        &self,
        begin_hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<Verification>, StoreError>;
    /// Records that the result token `jti` was redeemed, to be remembered until `until` (its
    /// expiry): `true` the first time, `false` ever after.
    async fn redeem_result(&self, jti: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError>;

    /// Creates a flow; its key is fresh randomness, so an existing key is a bug and a conflict.
    async fn put_flow(&self, flow: &Flow) -> Result<(), StoreError>;
    /// `None` when missing or expired.
    async fn get_flow(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Flow>, StoreError>;
    /// Persists a transition the domain allowed: moves a live flow from `transition.from` to
    /// `transition.to` with its writes, or fails with `Conflict` (gone, expired, or in another state:
    /// a replay, or the loser of a race).
    async fn transition_flow(
        &self,
        key: &TokenHash,
        transition: &Transition,
        now: Timestamp,
    ) -> Result<Flow, StoreError>;
    /// Adds one to a counter of a live flow in one of the states it counts in
    /// ([`FlowCounter::counted_in`]), if the counter is below `limit`; returns the new value.
    /// `LimitReached` when it is not (nothing counted), `Conflict` when the flow is gone or in another
    /// state. Atomic: concurrent callers never exceed the limit.
    async fn count_flow_event(
        &self,
        key: &TokenHash,
        counter: FlowCounter,
        limit: u32,
        now: Timestamp,
    ) -> Result<u32, StoreError>;
    /// Takes one back from a flow's counter, when what it counted did not happen (a send the
    /// provider refused or never answered, a check that never reached it). Never below zero; a flow
    /// that is gone is left as it is.
    async fn release_flow_event(&self, key: &TokenHash, counter: FlowCounter) -> Result<(), StoreError>;
    /// One transaction: the flow goes `verified` → `completed` (if live and the reset token matches),
    /// the user gets the new hash, `credential_version` is bumped (ending every session), and an
    /// audit record is written. All or nothing; a lost race is `Conflict`.
    async fn complete_reset(&self, completion: &ResetCompletion) -> Result<(), StoreError>;
    /// One transaction: the user's credential version moves from `expected_version` on (and the
    /// password hash changes, if given), the session it was made from is deleted, its successor (if
    /// any) is stored, and an audit record is written. A version that moved meanwhile is `Conflict`.
    async fn change_credentials(&self, change: &CredentialChange) -> Result<(), StoreError>;
    /// One transaction: the user's phone becomes `phone`, the credential version moves on from
    /// `expected_version`, and an audit record is written; with a proof, also the flow's step, the
    /// proof's date and the session swap. A version that moved meanwhile, or a flow that moved on,
    /// is `Conflict`, and nothing is written.
    async fn change_phone(&self, change: &PhoneChange) -> Result<(), StoreError>;

    /// Claims the provider's verification `reference` for `owner`, until `expires_at`: `None` when it
    /// is now (or already was) this flow's, `Some(other)` when another live flow holds it.
    async fn claim_verification(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError>;

    /// The flow that holds the provider's verification `reference` while its claim lives; `None`
    /// otherwise. (The local stack's outbox names each code's flow with it.)
    async fn verification_owner(
        &self,
        provider: &str,
        reference: &str,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError>;

    /// Claims the verification as [`Store::claim_verification`] does and, in the same transaction,
    /// takes the flow's step that records it: `None` when both happened, `Some(holder)` when another
    /// live flow holds it (nothing written), `Conflict` when the flow moved on (nothing written).
    async fn claim_verification_with_step(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        transition: &Transition,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError>;

    /// Records the first possession proof of the account's phone; later calls change nothing.
    async fn mark_phone_verified(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError>;
    /// One transaction: the flow's step, the first possession proof of the account's phone and, for
    /// a sign-in, its new session (and the browser it asked to remember). A flow that moved on (a concurrent request won) is `Conflict`, and
    /// nothing is written.
    async fn record_possession(&self, proof: &PossessionProof<'_>) -> Result<(), StoreError>;

    /// Stores a new session; its key is fresh randomness.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    /// `None` when missing or expired.
    async fn get_session(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Session>, StoreError>;
    /// Ends a session (sign-out, or a session from before a password change).
    async fn delete_session(&self, key: &TokenHash) -> Result<(), StoreError>;

    /// Remembers a browser for its owner; its key is fresh randomness.
    async fn put_device(&self, device: &RememberedDevice) -> Result<(), StoreError>;
    /// The account's remembered browser with this key; `None` when missing or expired.
    async fn get_device(
        &self,
        user: &UserId,
        key: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<RememberedDevice>, StoreError>;
    /// The account's remembered browsers, oldest first (expired ones left out).
    async fn devices(&self, user: &UserId, now: Timestamp) -> Result<Vec<RememberedDevice>, StoreError>;
    /// Forgets one of the account's browsers (nothing happens if it is not there).
    async fn delete_device(&self, user: &UserId, key: &TokenHash) -> Result<(), StoreError>;

    /// Whether the notification `id` was already emailed (a queue may deliver a message twice).
    async fn notification_sent(&self, id: &str, now: Timestamp) -> Result<bool, StoreError>;
    /// Records that the notification `id` was emailed, until `expires_at` (longer than the queue
    /// keeps a message).
    async fn record_notification_sent(&self, id: &str, expires_at: Timestamp) -> Result<(), StoreError>;

    /// Remembers the coverage answer for a device IP for a few minutes, so that create-check does not
    /// pay for a second coverage lookup after the page's own.
    async fn put_coverage(&self, ip: IpAddr, covered: bool, expires_at: Timestamp) -> Result<(), StoreError>;
    /// The remembered coverage answer, if still fresh.
    async fn get_coverage(&self, ip: IpAddr, now: Timestamp) -> Result<Option<bool>, StoreError>;
}
