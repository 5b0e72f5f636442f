//! In-memory store and rate limiter: the local stack and the handler tests. One mutex around all
//! data makes every operation atomic, as the DynamoDB conditional writes and transactions are.
//! Expired records are treated as absent, as DynamoDB's lazy TTL does, and freed by the next write
//! after they expire: every record that expires is queued by its expiry time once, when written, so
//! freeing costs O(log n) per record and no operation ever scans the store (docs/security.md R10).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::relying_site::{ApiKeyRecord, RelyingSite, SiteId};
use crate::domain::time::window_start;
use crate::domain::verification::{Verification, VerificationStatus};
use crate::domain::{
    Email, Flow, FlowCounter, PasswordHash, RememberedDevice, Session, Timestamp, TokenHash, Transition, User, UserId,
};
use crate::ports::{
    AuditRecord, CredentialChange, PhoneChange, PossessionProof, RateDecision, RateLimiter, ResetCompletion, Store,
    StoreError, VerificationOwner,
};

#[derive(Default)]
struct Data {
    users: HashMap<UserId, User>,
    emails: HashMap<String, UserId>,
    skeletons: HashMap<String, UserId>,
    verifications: HashMap<(String, String), (VerificationOwner, Timestamp)>,
    flows: HashMap<TokenHash, Flow>,
    sessions: HashMap<TokenHash, Session>,
    /// Remembered browsers, by account and key (a handful per account; expired ones are skipped
    /// on every read and dropped when their account's list is read).
    devices: HashMap<(UserId, TokenHash), RememberedDevice>,
    coverage: HashMap<IpAddr, (bool, Timestamp)>,
    sites: HashMap<SiteId, RelyingSite>,
    site_verifications: HashMap<TokenHash, Verification>,
    site_principals: HashMap<String, SiteId>,
    /// Redeemed result tokens' ids, until when they are remembered.
    redeemed: HashMap<String, Timestamp>,
    api_keys: std::collections::BTreeMap<(SiteId, String), ApiKeyRecord>,
    /// Notification ids already emailed, until when.
    notifications: HashMap<String, Timestamp>,
    /// `bucket#window_start` → (count, expires_at)
    counters: HashMap<String, (u32, Timestamp)>,
    audit: Vec<AuditRecord>,
    /// Every record that expires, by when; a record rewritten with a later expiry is queued again,
    /// and its earlier entry finds it still alive and leaves it.
    expiries: BinaryHeap<Reverse<(Timestamp, Expiring)>>,
}

/// A record that expires.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Expiring {
    Flow(TokenHash),
    Session(TokenHash),
    Coverage(IpAddr),
    Counter(String),
    Verification(String, String),
    Notification(String),
    SiteVerification(TokenHash),
    Redeemed(String),
}

impl Data {
    /// Frees every record that expired by `now`.
    fn expire(&mut self, now: Timestamp) {
        while let Some(Reverse((at, _))) = self.expiries.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, record))) = self.expiries.pop() else { break };
            match record {
                Expiring::Flow(k) => {
                    if self.flows.get(&k).is_some_and(|f| f.expires_at <= now) {
                        self.flows.remove(&k);
                    }
                }
                Expiring::Session(k) => {
                    if self.sessions.get(&k).is_some_and(|s| s.expires_at <= now) {
                        self.sessions.remove(&k);
                    }
                }
                Expiring::Coverage(ip) => {
                    if self.coverage.get(&ip).is_some_and(|(_, exp)| *exp <= now) {
                        self.coverage.remove(&ip);
                    }
                }
                Expiring::Counter(k) => {
                    if self.counters.get(&k).is_some_and(|(_, exp)| *exp <= now) {
                        self.counters.remove(&k);
                    }
                }
                Expiring::Notification(id) => {
                    if self.notifications.get(&id).is_some_and(|exp| *exp <= now) {
                        self.notifications.remove(&id);
                    }
                }
                Expiring::Verification(p, r) => {
                    let key = (p, r);
                    if self.verifications.get(&key).is_some_and(|(_, exp)| *exp <= now) {
                        self.verifications.remove(&key);
                    }
                }
                Expiring::SiteVerification(k) => {
                    if self.site_verifications.get(&k).is_some_and(|v| v.expires_at <= now) {
                        self.site_verifications.remove(&k);
                    }
                }
                Expiring::Redeemed(jti) => {
                    if self.redeemed.get(&jti).is_some_and(|until| *until <= now) {
                        self.redeemed.remove(&jti);
                    }
                }
            }
        }
    }

    fn expires(&mut self, at: Timestamp, record: Expiring) {
        self.expiries.push(Reverse((at, record)));
    }

    /// Claims a verification for `owner` together with `also` (the flow's step), as one write: `None`
    /// when it is now this flow's, `Some(holder)` when another live flow holds it (nothing written),
    /// `also`'s error when that cannot happen (nothing written).
    fn try_claim(
        &mut self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
        also: impl FnOnce(&mut HashMap<TokenHash, Flow>) -> Result<(), StoreError>,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        let key = (provider.to_owned(), reference.to_owned());
        if let Some((holder, until)) = self.verifications.get(&key)
            && *until > now
            && holder.flow_key != owner.flow_key
        {
            return Ok(Some(holder.clone()));
        }
        also(&mut self.flows)?;
        self.expires(expires_at, Expiring::Verification(key.0.clone(), key.1.clone()));
        self.verifications.insert(key, (owner.clone(), expires_at));
        Ok(None)
    }
}

/// Everything in one process's memory.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The account's audit trail, oldest first (for tests and the local stack; the API never reads it).
    pub fn audit_events(&self, user: &UserId) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.lock()?.audit.iter().filter(|a| &a.user_id == user).cloned().collect())
    }

    fn lock(&self) -> Result<MutexGuard<'_, Data>, StoreError> {
        self.data.lock().map_err(|_| StoreError::Unavailable("memory store poisoned".into()))
    }

    /// How many records it holds, expired or not (for the tests of its bounds).
    pub fn records(&self) -> usize {
        self.lock().map_or(0, |d| {
            d.flows.len()
                + d.sessions.len()
                + d.coverage.len()
                + d.counters.len()
                + d.verifications.len()
                + d.site_verifications.len()
                + d.redeemed.len()
                + d.notifications.len()
        })
    }
}

/// What a transition writes, as the DynamoDB update expression writes it.
fn apply_writes(flow: &mut Flow, t: &Transition) {
    let w = &t.writes;
    flow.state = t.to;
    if let Some(h) = &w.reset_token_hash {
        flow.reset_token_hash = Some(h.clone());
    }
    if w.clear_reset_token {
        flow.reset_token_hash = None;
    }
    if let Some(r) = w.reason {
        flow.reason = Some(r);
    }
    if let Some(r) = &w.otp_reference {
        flow.otp_reference = Some(r.clone());
    }
    if let Some(p) = &w.otp_provider {
        flow.otp_provider = Some(p.clone());
    }
    if let Some(u) = w.sim_unverified {
        flow.sim_unverified = u;
    }
    if w.decoy {
        flow.decoy = true;
    }
    if let Some(at) = w.otp_sent_at {
        flow.otp_sent_at = Some(at);
    }
    if let Some(at) = w.claimed_at {
        flow.claimed_at = Some(at);
    }
    if let Some(a) = &w.sim_answers {
        flow.sim_answers = Some(a.clone());
    }
    if let Some(b) = &w.silent {
        flow.check_id = Some(b.handle.clone());
        flow.silent_provider = Some(b.provider.clone());
        flow.silent_secret = b.secret.clone();
    }
    if let Some(keys) = &w.restart_for {
        flow.sms_keys = Some(keys.clone());
        (flow.otp_sends, flow.otp_attempts, flow.sim_unverified) = (0, 0, false);
        (flow.otp_reference, flow.otp_provider, flow.otp_sent_at) = (None, None, None);
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let skeleton = user.email.skeleton();
        if let Some(owner) = d.emails.get(user.email.as_str()).or_else(|| d.skeletons.get(&skeleton)) {
            return Err(StoreError::EmailTaken(Some(owner.clone())));
        }
        if d.users.contains_key(&user.id) {
            return Err(StoreError::Conflict);
        }
        d.emails.insert(user.email.as_str().to_owned(), user.id.clone());
        d.skeletons.insert(skeleton, user.id.clone());
        d.users.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn replace_unconfirmed_user(&self, old: &User, new: &User, cutoff: Timestamp) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let stale = d
            .users
            .get(&old.id)
            .is_some_and(|u| u.phone_verified_at.is_none() && u.imported_at.is_none() && u.created_at <= cutoff);
        let (email, skeleton) = (new.email.as_str().to_owned(), new.email.skeleton());
        let free = |owner: Option<&UserId>| owner.is_none_or(|o| o == &old.id);
        if !stale || !free(d.emails.get(&email)) || !free(d.skeletons.get(&skeleton)) || d.users.contains_key(&new.id) {
            return Err(StoreError::Conflict);
        }
        d.users.remove(&old.id);
        d.emails.retain(|_, owner| owner != &old.id);
        d.skeletons.retain(|_, owner| owner != &old.id);
        d.emails.insert(email, new.id.clone());
        d.skeletons.insert(skeleton, new.id.clone());
        d.users.insert(new.id.clone(), new.clone());
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let d = self.lock()?;
        Ok(d.emails.get(email.as_str()).and_then(|id| d.users.get(id)).cloned())
    }

    async fn user_by_skeleton(&self, skeleton: &str) -> Result<Option<User>, StoreError> {
        let d = self.lock()?;
        Ok(d.skeletons.get(skeleton).and_then(|id| d.users.get(id)).cloned())
    }

    async fn verification_owner(
        &self,
        provider: &str,
        reference: &str,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        let d = self.lock()?;
        let held = d.verifications.get(&(provider.to_owned(), reference.to_owned()));
        Ok(held.filter(|(_, until)| *until > now).map(|(owner, _)| owner.clone()))
    }

    async fn claim_verification(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        let mut d = self.lock()?;
        d.expire(now);
        d.try_claim(provider, reference, owner, expires_at, now, |_| Ok(()))
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
        let mut d = self.lock()?;
        d.expire(now);
        let step = |flows: &mut HashMap<TokenHash, Flow>| {
            let flow = flows
                .get_mut(&owner.flow_key)
                .filter(|f| f.is_live(now) && f.state == transition.from)
                .ok_or(StoreError::Conflict)?;
            apply_writes(flow, transition);
            Ok(())
        };
        d.try_claim(provider, reference, owner, expires_at, now, step)
    }

    async fn record_possession(&self, p: &PossessionProof<'_>) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        d.expire(p.at);
        let flow_ok = d.flows.get(p.flow_key).is_some_and(|f| f.is_live(p.at) && f.state == p.transition.from);
        let session_free = p.session.is_none_or(|s| !d.sessions.contains_key(&s.key));
        let device_free = p.device.is_none_or(|x| !d.devices.contains_key(&(x.user_id.clone(), x.key.clone())));
        if !flow_ok || !d.users.contains_key(p.user_id) || !session_free || !device_free {
            return Err(StoreError::Conflict);
        }
        if let Some(f) = d.flows.get_mut(p.flow_key) {
            apply_writes(f, p.transition);
        }
        if let Some(u) = d.users.get_mut(p.user_id) {
            u.phone_verified_at.get_or_insert(p.at);
        }
        if let Some(s) = p.session {
            d.expires(s.expires_at, Expiring::Session(s.key.clone()));
            d.sessions.insert(s.key.clone(), s.clone());
        }
        if let Some(x) = p.device {
            d.devices.insert((x.user_id.clone(), x.key.clone()), x.clone());
        }
        Ok(())
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(id).cloned())
    }

    async fn put_flow(&self, flow: &Flow) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        d.expire(flow.created_at);
        if d.flows.contains_key(&flow.key) {
            return Err(StoreError::Conflict);
        }
        d.expires(flow.expires_at, Expiring::Flow(flow.key.clone()));
        d.flows.insert(flow.key.clone(), flow.clone());
        Ok(())
    }

    async fn get_flow(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Flow>, StoreError> {
        Ok(self.lock()?.flows.get(key).filter(|f| f.is_live(now)).cloned())
    }

    async fn transition_flow(&self, key: &TokenHash, t: &Transition, now: Timestamp) -> Result<Flow, StoreError> {
        let mut d = self.lock()?;
        let flow = d.flows.get_mut(key).filter(|f| f.is_live(now) && f.state == t.from).ok_or(StoreError::Conflict)?;
        apply_writes(flow, t);
        Ok(flow.clone())
    }

    async fn count_flow_event(
        &self,
        key: &TokenHash,
        counter: FlowCounter,
        limit: u32,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let mut d = self.lock()?;
        let states = counter.counted_in();
        let flow =
            d.flows.get_mut(key).filter(|f| f.is_live(now) && states.contains(&f.state)).ok_or(StoreError::Conflict)?;
        let value = match counter {
            FlowCounter::OtpSends => &mut flow.otp_sends,
            FlowCounter::OtpAttempts => &mut flow.otp_attempts,
        };
        if *value >= limit {
            return Err(StoreError::LimitReached);
        }
        *value += 1;
        Ok(*value)
    }

    async fn release_flow_event(&self, key: &TokenHash, counter: FlowCounter) -> Result<(), StoreError> {
        if let Some(flow) = self.lock()?.flows.get_mut(key) {
            let value = match counter {
                FlowCounter::OtpSends => &mut flow.otp_sends,
                FlowCounter::OtpAttempts => &mut flow.otp_attempts,
            };
            *value = value.saturating_sub(1);
        }
        Ok(())
    }

    async fn complete_reset(&self, c: &ResetCompletion) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let flow_ok = d.flows.get(&c.flow_key).is_some_and(|f| {
            f.is_live(c.now)
                && f.state == c.transition.from
                && f.user_id.as_ref() == Some(&c.user_id)
                && f.reset_token_hash.as_ref() == Some(&c.reset_token_hash)
        });
        if !flow_ok || !d.users.contains_key(&c.user_id) {
            return Err(StoreError::Conflict);
        }
        if let Some(f) = d.flows.get_mut(&c.flow_key) {
            apply_writes(f, &c.transition);
        }
        if let Some(u) = d.users.get_mut(&c.user_id) {
            u.password_hash = c.new_password_hash.clone();
            u.password_imported = false;
            u.credential_version += 1;
        }
        d.audit.push(AuditRecord::new(&c.user_id, "password_reset", c.now, c.client_ip));
        Ok(())
    }

    async fn change_credentials(&self, c: &CredentialChange) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let current = d.users.get(&c.user_id).map(|u| u.credential_version);
        let collides = c.new_session.as_ref().is_some_and(|s| d.sessions.contains_key(&s.key));
        if current != Some(c.expected_version) || collides {
            return Err(StoreError::Conflict);
        }
        if let Some(u) = d.users.get_mut(&c.user_id) {
            if let Some(hash) = &c.new_password_hash {
                u.password_hash = hash.clone();
                u.password_imported = false;
            }
            u.credential_version += 1;
        }
        d.sessions.remove(&c.ended_session);
        if let Some(s) = &c.new_session {
            d.expires(s.expires_at, Expiring::Session(s.key.clone()));
            d.sessions.insert(s.key.clone(), s.clone());
        }
        d.audit.push(AuditRecord::new(&c.user_id, c.audit_event, c.now, c.client_ip));
        Ok(())
    }

    async fn change_phone(&self, c: &PhoneChange) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        d.expire(c.now);
        let version_ok = d.users.get(&c.user_id).is_some_and(|u| u.credential_version == c.expected_version);
        let proof_ok = c.proof.as_ref().is_none_or(|p| {
            let flow_ok = d.flows.get(&p.flow_key).is_some_and(|f| f.is_live(c.now) && f.state == p.transition.from);
            let session_ok = d.sessions.get(&p.ended_session).is_some_and(|s| {
                s.user_id == c.user_id && s.credential_version == c.expected_version && s.expires_at > c.now
            });
            flow_ok && session_ok && !d.sessions.contains_key(&p.new_session.key)
        });
        if !version_ok || !proof_ok {
            return Err(StoreError::Conflict);
        }
        if let Some(user) = d.users.get_mut(&c.user_id) {
            user.phone = c.phone.clone();
            user.credential_version += 1;
            if c.proof.is_some() {
                user.phone_verified_at = Some(c.now);
            }
        }
        if let Some(p) = &c.proof {
            if let Some(f) = d.flows.get_mut(&p.flow_key) {
                apply_writes(f, &p.transition);
            }
            d.sessions.remove(&p.ended_session);
            d.expires(p.new_session.expires_at, Expiring::Session(p.new_session.key.clone()));
            d.sessions.insert(p.new_session.key.clone(), p.new_session.clone());
        }
        d.audit.push(AuditRecord::new(&c.user_id, c.audit_event, c.now, c.client_ip));
        Ok(())
    }

    async fn upgrade_password_hash(
        &self,
        id: &UserId,
        from: &PasswordHash,
        to: &PasswordHash,
    ) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let user = d.users.get_mut(id).filter(|u| u.password_imported && &u.password_hash == from);
        let user = user.ok_or(StoreError::Conflict)?;
        user.password_hash = to.clone();
        user.password_imported = false;
        Ok(())
    }

    async fn mark_phone_verified(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let user = d.users.get_mut(id).ok_or(StoreError::Conflict)?;
        user.phone_verified_at.get_or_insert(at);
        Ok(())
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        d.expire(session.created_at);
        if d.sessions.contains_key(&session.key) {
            return Err(StoreError::Conflict);
        }
        d.expires(session.expires_at, Expiring::Session(session.key.clone()));
        d.sessions.insert(session.key.clone(), session.clone());
        Ok(())
    }

    async fn get_session(&self, key: &TokenHash, now: Timestamp) -> Result<Option<Session>, StoreError> {
        Ok(self.lock()?.sessions.get(key).filter(|s| s.expires_at > now).cloned())
    }

    async fn delete_session(&self, key: &TokenHash) -> Result<(), StoreError> {
        self.lock()?.sessions.remove(key);
        Ok(())
    }

    async fn put_device(&self, device: &RememberedDevice) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let key = (device.user_id.clone(), device.key.clone());
        if d.devices.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        d.devices.insert(key, device.clone());
        Ok(())
    }

    async fn get_device(
        &self,
        user: &UserId,
        key: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<RememberedDevice>, StoreError> {
        let d = self.lock()?;
        Ok(d.devices.get(&(user.clone(), key.clone())).filter(|x| x.expires_at > now).cloned())
    }

    async fn devices(&self, user: &UserId, now: Timestamp) -> Result<Vec<RememberedDevice>, StoreError> {
        let mut d = self.lock()?;
        d.devices.retain(|(u, _), x| u != user || x.expires_at > now);
        let mut list: Vec<RememberedDevice> = d.devices.values().filter(|x| &x.user_id == user).cloned().collect();
        list.sort_by(|a, b| (a.created_at, a.key.as_str()).cmp(&(b.created_at, b.key.as_str())));
        Ok(list)
    }

    async fn delete_device(&self, user: &UserId, key: &TokenHash) -> Result<(), StoreError> {
        self.lock()?.devices.remove(&(user.clone(), key.clone()));
        Ok(())
    }

    async fn notification_sent(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.lock()?.notifications.get(id).is_some_and(|exp| *exp > now))
    }

    async fn record_notification_sent(&self, id: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        d.expires(expires_at, Expiring::Notification(id.to_owned()));
        d.notifications.insert(id.to_owned(), expires_at);
        Ok(())
    }

    async fn put_coverage(&self, ip: IpAddr, covered: bool, expires_at: Timestamp) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        d.expires(expires_at, Expiring::Coverage(ip));
        d.coverage.insert(ip, (covered, expires_at));
        Ok(())
    }

    async fn get_coverage(&self, ip: IpAddr, now: Timestamp) -> Result<Option<bool>, StoreError> {
        Ok(self.lock()?.coverage.get(&ip).filter(|(_, exp)| *exp > now).map(|(c, _)| *c))
    }

    async fn put_site_principal(&self, principal: &str, site: &SiteId) -> Result<(), StoreError> {
        self.lock()?.site_principals.insert(principal.to_owned(), site.clone());
        Ok(())
    }

    async fn site_of_principal(&self, principal: &str) -> Result<Option<SiteId>, StoreError> {
        Ok(self.lock()?.site_principals.get(principal).cloned())
    }

    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        if d.site_verifications.contains_key(&v.begin_hash) {
            return Err(StoreError::Conflict);
        }
        d.site_verifications.insert(v.begin_hash.clone(), v.clone());
        d.expires(v.expires_at, Expiring::SiteVerification(v.begin_hash.clone()));
        Ok(())
    }

    async fn begin_verification(&self, hash: &TokenHash, now: Timestamp) -> Result<Option<Verification>, StoreError> {
        let mut d = self.lock()?;
        let Some(v) = d.site_verifications.get_mut(hash) else { return Ok(None) };
        if v.status != VerificationStatus::Pending || v.expires_at <= now {
            return Ok(None);
        }
        v.status = VerificationStatus::Begun;
        Ok(Some(v.clone()))
    }

    async fn redeem_result(&self, jti: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        let mut d = self.lock()?;
        d.expire(now);
        if d.redeemed.get(jti).is_some_and(|t| *t > now) {
            return Ok(false);
        }
        d.redeemed.insert(jti.to_owned(), until);
        d.expires(until, Expiring::Redeemed(jti.to_owned()));
        Ok(true)
    }

    async fn put_site(&self, site: &RelyingSite) -> Result<(), StoreError> {
        self.lock()?.sites.insert(site.id.clone(), site.clone());
        Ok(())
    }

    async fn site(&self, id: &SiteId) -> Result<Option<RelyingSite>, StoreError> {
        Ok(self.lock()?.sites.get(id).cloned())
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let slot = (key.site.clone(), key.key_id.clone());
        if d.api_keys.contains_key(&slot) {
            return Err(StoreError::Conflict);
        }
        d.api_keys.insert(slot, key.clone());
        Ok(())
    }

    async fn api_key(&self, site: &SiteId, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.lock()?.api_keys.get(&(site.clone(), key_id.to_owned())).cloned())
    }

    async fn api_keys(&self, site: &SiteId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self.lock()?.api_keys.values().filter(|k| &k.site == site).cloned().collect())
    }

    async fn revoke_api_key(&self, site: &SiteId, key_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let key = d.api_keys.get_mut(&(site.clone(), key_id.to_owned())).ok_or(StoreError::Conflict)?;
        key.revoked_at.get_or_insert(at);
        Ok(())
    }
}

#[async_trait]
impl RateLimiter for MemoryStore {
    async fn hit(
        &self,
        bucket: &str,
        limit: u32,
        window_secs: u64,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError> {
        let start = window_start(now, window_secs);
        let end = start.plus_secs(i64::try_from(window_secs).unwrap_or(i64::MAX));
        let key = format!("{bucket}#{}", start.0);
        let mut d = self.lock()?;
        d.expire(now);
        if !d.counters.contains_key(&key) {
            d.expires(end, Expiring::Counter(key.clone()));
        }
        let entry = d.counters.entry(key).or_insert((0, end));
        if entry.0 >= limit {
            let retry = u64::try_from(end.0 - now.0).unwrap_or(0).max(1);
            return Ok(RateDecision::Limited { retry_after_secs: retry });
        }
        entry.0 += 1;
        Ok(RateDecision::Allowed)
    }

    async fn release(&self, bucket: &str, window_secs: u64, counted_at: Timestamp) -> Result<(), StoreError> {
        let key = format!("{bucket}#{}", window_start(counted_at, window_secs).0);
        if let Some((n, _)) = self.lock()?.counters.get_mut(&key) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_window_counts_only_allowed_hits() {
        let s = MemoryStore::new();
        let t = Timestamp(3600 * 10 + 5);
        for _ in 0..3 {
            assert_eq!(s.hit("b", 3, 3600, t).await.ok(), Some(RateDecision::Allowed));
        }
        assert_eq!(s.hit("b", 3, 3600, t).await.ok(), Some(RateDecision::Limited { retry_after_secs: 3595 }));
        assert_eq!(s.hit("other", 3, 3600, t).await.ok(), Some(RateDecision::Allowed));
        // next window
        assert_eq!(s.hit("b", 3, 3600, t.plus_secs(3595)).await.ok(), Some(RateDecision::Allowed));
    }

    /// Expired counters, coverage entries and verification claims are freed by later writes, so a
    /// long-running local stack holds only what is alive; what is alive stays.
    #[tokio::test]
    async fn expired_records_are_freed() {
        let s = MemoryStore::new();
        let t = Timestamp(1_000_000);
        for i in 0..1000 {
            s.hit(&format!("bucket-{i}"), 5, 60, t).await.expect("hit");
            let ip = std::net::IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            s.put_coverage(ip, true, t.plus_secs(30)).await.expect("coverage");
        }
        assert_eq!(s.records(), 2000);
        // A minute and a half later, one more hit frees every window and entry that ended.
        s.hit("live", 5, 3600, t.plus_secs(90)).await.expect("hit");
        assert_eq!(s.records(), 1);
        assert_eq!(
            s.hit("live", 1, 3600, t.plus_secs(91)).await.ok(),
            Some(RateDecision::Limited { retry_after_secs: 709 })
        );
    }

    /// Redeemed result tokens are remembered until they expire, then freed.
    #[tokio::test]
    async fn redeemed_results_are_remembered_until_they_expire() {
        let s = MemoryStore::new();
        let t = Timestamp(1_000_000);
        for i in 0..100 {
            assert!(s.redeem_result(&format!("jti-{i}"), t.plus_secs(60), t).await.expect("redeem"));
        }
        assert!(!s.redeem_result("jti-7", t.plus_secs(60), t.plus_secs(30)).await.expect("redeem"), "once");
        assert_eq!(s.records(), 100);
        assert!(s.redeem_result("late", t.plus_secs(600), t.plus_secs(61)).await.expect("redeem"));
        assert_eq!(s.records(), 1, "the expired ids are gone");
    }

    #[tokio::test]
    async fn concurrent_hits_never_exceed_the_limit() {
        let s = std::sync::Arc::new(MemoryStore::new());
        let t = Timestamp(1_000_000);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.hit("race", 5, 60, t).await.ok() }));
        }
        let mut allowed = 0;
        for task in tasks {
            if task.await.ok().flatten() == Some(RateDecision::Allowed) {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5);
    }
}
