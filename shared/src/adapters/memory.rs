//! In-memory store and rate limiter: the local stack and the handler tests. One mutex around all
//! data makes every operation atomic, as the DynamoDB conditional writes and transactions are.
//! Expired records are kept until overwritten and treated as absent, as DynamoDB's lazy TTL does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::time::window_start;
use crate::domain::{Email, Flow, FlowCounter, Session, Timestamp, TokenHash, Transition, User, UserId};
use crate::ports::{AuditRecord, RateDecision, RateLimiter, ResetCompletion, Store, StoreError, VerificationOwner};

#[derive(Default)]
struct Data {
    users: HashMap<UserId, User>,
    emails: HashMap<String, UserId>,
    skeletons: HashMap<String, UserId>,
    verifications: HashMap<(String, String), (VerificationOwner, Timestamp)>,
    flows: HashMap<TokenHash, Flow>,
    sessions: HashMap<TokenHash, Session>,
    coverage: HashMap<IpAddr, (bool, Timestamp)>,
    /// `bucket#window_start` → (count, expires_at)
    counters: HashMap<String, (u32, Timestamp)>,
    audit: Vec<AuditRecord>,
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
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        let skeleton = user.email.skeleton();
        if d.emails.contains_key(user.email.as_str()) || d.skeletons.contains_key(&skeleton) {
            return Err(StoreError::EmailTaken);
        }
        if d.users.contains_key(&user.id) {
            return Err(StoreError::Conflict);
        }
        d.emails.insert(user.email.as_str().to_owned(), user.id.clone());
        d.skeletons.insert(skeleton, user.id.clone());
        d.users.insert(user.id.clone(), user.clone());
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

    async fn claim_verification(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        let mut d = self.lock()?;
        let key = (provider.to_owned(), reference.to_owned());
        match d.verifications.get(&key) {
            Some((holder, until)) if *until > now && holder.flow_key != owner.flow_key => Ok(Some(holder.clone())),
            _ => {
                d.verifications.insert(key, (owner.clone(), expires_at));
                Ok(None)
            }
        }
    }

    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(id).cloned())
    }

    async fn put_flow(&self, flow: &Flow) -> Result<(), StoreError> {
        let mut d = self.lock()?;
        if d.flows.contains_key(&flow.key) {
            return Err(StoreError::Conflict);
        }
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
            u.credential_version += 1;
        }
        d.audit.push(AuditRecord {
            user_id: c.user_id.clone(),
            event: "password_reset".into(),
            at: c.now,
            client_ip: c.client_ip,
        });
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
        if d.sessions.contains_key(&session.key) {
            return Err(StoreError::Conflict);
        }
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

    async fn put_coverage(&self, ip: IpAddr, covered: bool, expires_at: Timestamp) -> Result<(), StoreError> {
        self.lock()?.coverage.insert(ip, (covered, expires_at));
        Ok(())
    }

    async fn get_coverage(&self, ip: IpAddr, now: Timestamp) -> Result<Option<bool>, StoreError> {
        Ok(self.lock()?.coverage.get(&ip).filter(|(_, exp)| *exp > now).map(|(c, _)| *c))
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
        d.counters.retain(|_, (_, exp)| *exp > now);
        let entry = d.counters.entry(key).or_insert((0, end));
        if entry.0 >= limit {
            let retry = u64::try_from(end.0 - now.0).unwrap_or(0).max(1);
            return Ok(RateDecision::Limited { retry_after_secs: retry });
        }
        entry.0 += 1;
        Ok(RateDecision::Allowed)
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
