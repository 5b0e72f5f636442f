//! One store test suite, two implementations: the in-memory store and the DynamoDB store on moto's
//! server. Whatever DynamoDB does, the in-memory store must do too (docs/architecture.md, "Tests").

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use simguard::adapters::dynamo::DynamoStore;
use simguard::adapters::memory::MemoryStore;
use simguard::adapters::random::OsRandom;
use simguard::domain::FlowKind;
use simguard::domain::{
    Email, Flow, FlowAccount, FlowCounter, FlowOrigin, FlowReason, FlowState, FlowWrites, NewFlow, PasswordHash, Phone,
    RememberedDevice, Session, Timestamp, Token, TokenHash, Transition, User, UserId,
};
use simguard::ports::{
    AuditRecord, CredentialChange, PhoneChange, PhoneProof, PossessionProof, Random, RateDecision, RateLimiter,
    ResetCompletion, Store, StoreError, VerificationOwner,
};

const NOW: Timestamp = Timestamp(1_800_000_000);

/// The audit trail, which each adapter offers outside the port (the API never reads it).
#[async_trait]
trait Audited {
    async fn audit(&self, user: &UserId) -> Vec<AuditRecord>;
}

#[async_trait]
impl Audited for MemoryStore {
    async fn audit(&self, user: &UserId) -> Vec<AuditRecord> {
        self.audit_events(user).expect("audit")
    }
}

#[async_trait]
impl Audited for DynamoStore {
    async fn audit(&self, user: &UserId) -> Vec<AuditRecord> {
        self.audit_events(user).await.expect("audit")
    }
}

trait Both: Store + RateLimiter + Audited + Sync + 'static {}
impl<T: Store + RateLimiter + Audited + Sync + 'static> Both for T {}

/// A transition as the domain would hand it over.
fn step(from: FlowState, to: FlowState) -> Transition {
    Transition { from, to, writes: FlowWrites::default() }
}

async fn memory() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

async fn dynamodb() -> Arc<DynamoStore> {
    let (client, table) = crate::support::moto::fresh_table().await;
    Arc::new(DynamoStore::new(client, table))
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod in_memory {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $test() { super::$test(super::memory().await).await } )*
        }
        mod on_dynamodb {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $test() { super::$test(super::dynamodb().await).await } )*
        }
    };
}

suite!(
    users_and_unique_emails,
    concurrent_registrations_make_one_user,
    flows_move_only_from_the_expected_state,
    expired_records_are_absent,
    counters_stop_at_their_limit,
    concurrent_counters_never_pass_the_limit,
    released_counts_come_back,
    the_reset_transaction_is_all_or_nothing,
    concurrent_reset_completions_have_one_winner,
    phone_verified_is_set_once,
    sessions,
    a_credential_change_is_one_write_on_the_version_it_saw,
    remembered_browsers_belong_to_their_account,
    a_phone_change_unproves_the_number_and_moves_the_version_on,
    a_proven_phone_change_is_one_write,
    a_flow_moves_on_to_another_number_with_fresh_counters,
    an_unconfirmed_account_gives_its_email_up_once_expired,
    coverage_cache,
    rate_limit_windows,
    concurrent_rate_limit_hits,
    released_rate_limit_hits_come_back,
    look_alike_emails_are_taken,
    verifications_have_one_holder,
    concurrent_claims_have_one_winner,
    a_claim_and_its_step_are_one_write,
    a_possession_proof_is_one_write,
    sent_notifications_are_remembered_until_they_expire,
    an_imported_hash_is_replaced_once,
    relying_sites_and_their_keys,
    a_verification_link_opens_once_and_a_result_redeems_once,
);

/// A site's verification begins once, only while pending and unexpired; a result's id redeems once.
async fn a_verification_link_opens_once_and_a_result_redeems_once(s: Arc<impl Both>) {
    use simguard::domain::relying_site::SiteId;
    use simguard::domain::result_token::Purpose;
    use simguard::domain::verification::{Verification, VerificationStatus, VerificationSubject};
    let subject = VerificationSubject {
        id: "vrf_1".into(),
        site: SiteId::parse("shop").expect("id"),
        phone: simguard::domain::Phone::parse("+447700900001", None).expect("phone"),
        purpose: Purpose::Recovery,
        return_url: "https://shop.example/back".into(),
        state: Some("s".into()),
    };
    let pending = |hash: &[u8]| Verification {
        begin_hash: TokenHash::of(hash),
        subject: subject.clone(),
        site_name: "Shop".into(),
        status: VerificationStatus::Pending,
        created_at: NOW,
        expires_at: NOW.plus_secs(600),
    };
    let v = pending(b"link");
    s.put_verification(&v).await.expect("put");
    assert!(matches!(s.put_verification(&v).await, Err(StoreError::Conflict)));
    assert_eq!(s.begin_verification(&TokenHash::of(b"unknown"), NOW).await.expect("read"), None);
    let begun = s.begin_verification(&v.begin_hash, NOW).await.expect("begin").expect("pending");
    assert_eq!((begun.status, begun.subject), (VerificationStatus::Begun, subject.clone()));
    assert_eq!(s.begin_verification(&v.begin_hash, NOW).await.expect("again"), None, "once");
    let late = pending(b"late link");
    s.put_verification(&late).await.expect("put");
    assert_eq!(s.begin_verification(&late.begin_hash, NOW.plus_secs(600)).await.expect("late"), None);

    assert!(s.redeem_result("jti-1", NOW.plus_secs(120), NOW).await.expect("first"));
    assert!(!s.redeem_result("jti-1", NOW.plus_secs(120), NOW.plus_secs(1)).await.expect("second"));
    assert!(s.redeem_result("jti-2", NOW.plus_secs(120), NOW).await.expect("another"));
}

/// The verification API's registry: a site, its return URLs, several keys, revocation.
async fn relying_sites_and_their_keys(s: Arc<impl Both>) {
    use simguard::domain::relying_site::{PresentedKey, RelyingSite, SiteId, new_api_key};
    let id = SiteId::parse("shop").expect("id");
    assert_eq!(s.site(&id).await.expect("read"), None);
    let site = RelyingSite {
        id: id.clone(),
        name: "Shop".into(),
        return_urls: vec!["https://shop.example/back".into()],
        created_at: NOW,
    };
    s.put_site(&site).await.expect("put");
    assert_eq!(s.site(&id).await.expect("read"), Some(site.clone()));
    // Replaced in place.
    let renamed = RelyingSite { name: "The Shop".into(), ..site };
    s.put_site(&renamed).await.expect("put");
    assert_eq!(s.site(&id).await.expect("read").map(|x| x.name), Some("The Shop".into()));
    // Two keys (a rotation), one revoked.
    let (shown1, k1) = new_api_key(&id, [1; 8], [1; 32], NOW);
    let (_, k2) = new_api_key(&id, [2; 8], [2; 32], NOW);
    s.put_api_key(&k1).await.expect("k1");
    s.put_api_key(&k2).await.expect("k2");
    assert!(matches!(s.put_api_key(&k1).await, Err(StoreError::Conflict)), "a key id is never reused");
    assert_eq!(s.api_keys(&id).await.expect("list").len(), 2);
    let stored = s.api_key(&id, &k1.key_id).await.expect("read").expect("k1");
    assert!(PresentedKey::parse(&shown1).expect("form").matches(&stored));
    s.revoke_api_key(&id, &k1.key_id, NOW.plus_secs(5)).await.expect("revoked");
    s.revoke_api_key(&id, &k1.key_id, NOW.plus_secs(9)).await.expect("again");
    let revoked = s.api_key(&id, &k1.key_id).await.expect("read").expect("k1");
    assert_eq!(revoked.revoked_at, Some(NOW.plus_secs(5)), "revoked once, at the first time");
    assert!(!PresentedKey::parse(&shown1).expect("form").matches(&revoked));
    assert!(matches!(s.revoke_api_key(&id, "00000000000000ff", NOW).await, Err(StoreError::Conflict)));
    // Another site's keys are not this one's.
    let other = SiteId::parse("other").expect("id");
    assert_eq!(s.api_keys(&other).await.expect("list"), vec![]);
    assert_eq!(s.api_key(&other, &k2.key_id).await.expect("read"), None);
    // An IAM principal calls as one site at a time.
    let role = "arn:aws:iam::123456789012:role/shop-backend";
    assert_eq!(s.site_of_principal(role).await.expect("read"), None);
    s.put_site_principal(role, &id).await.expect("put");
    assert_eq!(s.site_of_principal(role).await.expect("read"), Some(id.clone()));
    s.put_site_principal(role, &other).await.expect("moved");
    assert_eq!(s.site_of_principal(role).await.expect("read"), Some(other));
}

/// The other system's hash gives way to simguard's once; a second replacement, or one over a hash
/// that is not the imported one any more, changes nothing.
async fn an_imported_hash_is_replaced_once(s: Arc<impl Both>) {
    let old = simguard::domain::PasswordHash::from_phc("$2b$04$imported".into());
    let imported = User {
        password_hash: old.clone(),
        password_imported: true,
        imported_at: Some(NOW),
        ..user("u-imp", "imp@example.com")
    };
    s.create_user(&imported).await.expect("create");
    let ours = simguard::domain::PasswordHash::from_phc("$argon2id$ours".into());
    let other = simguard::domain::PasswordHash::from_phc("$argon2id$other".into());
    let wrong_from = simguard::domain::PasswordHash::from_phc("$2b$04$not-it".into());
    assert!(matches!(s.upgrade_password_hash(&imported.id, &wrong_from, &ours).await, Err(StoreError::Conflict)));
    s.upgrade_password_hash(&imported.id, &old, &ours).await.expect("replaced");
    assert!(matches!(s.upgrade_password_hash(&imported.id, &old, &other).await, Err(StoreError::Conflict)));
    let stored = s.user_by_id(&imported.id).await.expect("read").expect("user");
    assert_eq!((stored.password_hash, stored.password_imported, stored.imported_at), (ours, false, Some(NOW)));
    // A native account's hash is never "upgraded".
    let native = user("u-native", "native-up@example.com");
    s.create_user(&native).await.expect("create");
    assert!(matches!(
        s.upgrade_password_hash(&native.id, &native.password_hash, &other).await,
        Err(StoreError::Conflict)
    ));
}

fn user(id: &str, email: &str) -> User {
    User {
        id: UserId(id.into()),
        email: Email::parse(email).expect("email"),
        phone: Phone::from_e164("+447000000070").expect("phone"),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
        created_at: NOW.minus_secs(86400),
        phone_verified_at: None,
        credential_version: 0,
        imported_at: None,
        password_imported: false,
    }
}

fn token() -> Token {
    OsRandom.token().expect("random")
}

/// A reset flow, put in `state` directly (the store does not judge transitions; the domain does).
fn flow(key: TokenHash, user: Option<&User>, state: FlowState) -> Flow {
    let mut f = Flow::start(
        key,
        NewFlow {
            origin: FlowOrigin::ResetSms,
            account: match user {
                Some(u) => FlowAccount::Known { user_id: u.id.clone(), credential_version: u.credential_version },
                None => FlowAccount::Unknown { email_key: "someone".into() },
            },
            sms_keys: simguard::domain::SmsKeys { number: "n".into(), prefix: "p".into() },
            client_ip: "203.0.113.9".parse().expect("ip"),
            user_agent: "ua".into(),
            now: NOW,
            ttl_secs: 600,
        },
    );
    f.state = state;
    f
}

async fn users_and_unique_emails(s: Arc<impl Both>) {
    let alice = user("u1", "alice@example.com");
    s.create_user(&alice).await.expect("create");
    assert_eq!(s.user_by_id(&alice.id).await.expect("read"), Some(alice.clone()));
    assert_eq!(s.user_by_email(&alice.email).await.expect("read"), Some(alice.clone()));
    assert_eq!(s.user_by_email(&Email::parse("nobody@example.com").expect("email")).await.expect("read"), None);
    // The email is taken, whoever asks; a reused id is a conflict.
    assert!(matches!(s.create_user(&user("u2", "alice@example.com")).await, Err(StoreError::EmailTaken(_))));
    assert!(matches!(s.create_user(&user("u1", "other@example.com")).await, Err(StoreError::Conflict)));
    // Nothing half-written by the refused registrations.
    assert_eq!(s.user_by_id(&UserId("u2".into())).await.expect("read"), None);
    assert_eq!(s.user_by_email(&Email::parse("other@example.com").expect("email")).await.expect("read"), None);
}

async fn concurrent_registrations_make_one_user(s: Arc<impl Both>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.create_user(&user(&format!("racer-{i}"), "same@example.com")).await })
        })
        .collect();
    let mut created = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("task") {
            Ok(()) => created.push(i),
            Err(StoreError::EmailTaken(_) | StoreError::Conflict) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one user: {created:?}");
    let owner = s.user_by_email(&Email::parse("same@example.com").expect("email")).await.expect("read").expect("owner");
    assert_eq!(owner.id.0, format!("racer-{}", created[0]));
}

async fn flows_move_only_from_the_expected_state(s: Arc<impl Both>) {
    let alice = user("u1", "alice@example.com");
    let k = token().hash();
    let f = flow(k.clone(), Some(&alice), FlowState::Started);
    s.put_flow(&f).await.expect("put");
    assert!(matches!(s.put_flow(&f).await, Err(StoreError::Conflict)), "a key is written once");
    assert_eq!(s.get_flow(&k, NOW).await.expect("get"), Some(f.clone()));
    assert!(matches!(
        s.transition_flow(&k, &step(FlowState::Verified, FlowState::Completed), NOW).await,
        Err(StoreError::Conflict)
    ));
    let reset = token().hash();
    let writes = FlowWrites {
        reset_token_hash: Some(reset.clone()),
        clear_reset_token: false,
        reason: Some(FlowReason::SilentFailed),
        otp_reference: Some("abc".into()),
        otp_provider: Some("twilio".into()),
        sim_unverified: Some(true),
        decoy: true,
        otp_sent_at: Some(NOW),
        claimed_at: Some(NOW.plus_secs(1)),
        silent: Some(simguard::domain::SilentBinding {
            provider: "camara".into(),
            handle: "c-1".into(),
            secret: Some("verifier".into()),
        }),
        sim_answers: Some("camara:cannot_tell,truid:not_changed".into()),
        restart_for: None,
    };
    let t = Transition { from: FlowState::Started, to: FlowState::SimOk, writes };
    let moved = s.transition_flow(&k, &t, NOW).await.expect("transition");
    assert_eq!(moved.state, FlowState::SimOk);
    assert_eq!(moved.reset_token_hash, Some(reset));
    assert_eq!(moved.reason, Some(FlowReason::SilentFailed));
    assert_eq!(
        (moved.otp_reference.as_deref(), moved.otp_provider.as_deref(), moved.sim_unverified),
        (Some("abc"), Some("twilio"), true)
    );
    assert_eq!((moved.decoy, moved.otp_sent_at, moved.claimed_at), (true, Some(NOW), Some(NOW.plus_secs(1))));
    assert_eq!(
        (moved.check_id.as_deref(), moved.silent_provider.as_deref(), moved.silent_secret.as_deref()),
        (Some("c-1"), Some("camara"), Some("verifier"))
    );
    assert_eq!(moved.sim_answers.as_deref(), Some("camara:cannot_tell,truid:not_changed"));
    assert_eq!(s.get_flow(&k, NOW).await.expect("get"), Some(moved.clone()), "what was returned is what is stored");
    // A field left out of an update keeps its value.
    let again = s.transition_flow(&k, &step(FlowState::SimOk, FlowState::OtpSent), NOW).await.expect("transition");
    assert_eq!((again.otp_reference.as_deref(), again.sim_unverified), (Some("abc"), true));
    // A spent reset token is removed.
    let clear = Transition {
        from: FlowState::OtpSent,
        to: FlowState::Completed,
        writes: FlowWrites { clear_reset_token: true, ..FlowWrites::default() },
    };
    let cleared = s.transition_flow(&k, &clear, NOW).await.expect("transition");
    assert_eq!((cleared.state, cleared.reset_token_hash), (FlowState::Completed, None));
    // An unknown flow: conflict, not a new record.
    assert!(matches!(
        s.transition_flow(&token().hash(), &step(FlowState::Started, FlowState::SimOk), NOW).await,
        Err(StoreError::Conflict)
    ));
}

async fn expired_records_are_absent(s: Arc<impl Both>) {
    // TTL deletion is lazy: the records still exist after `expires_at`, and must read as absent.
    let k = token().hash();
    s.put_flow(&flow(k.clone(), None, FlowState::Started)).await.expect("put");
    let end = NOW.plus_secs(600);
    assert!(s.get_flow(&k, end.minus_secs(1)).await.expect("get").is_some());
    assert_eq!(s.get_flow(&k, end).await.expect("get"), None);
    assert!(matches!(
        s.transition_flow(&k, &step(FlowState::Started, FlowState::SimOk), end).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(s.count_flow_event(&k, FlowCounter::OtpSends, 3, end).await, Err(StoreError::Conflict)));
    let sk = token().hash();
    let session = Session {
        key: sk.clone(),
        user_id: UserId("u1".into()),
        credential_version: 0,
        created_at: NOW,
        expires_at: NOW.plus_secs(60),
    };
    s.put_session(&session).await.expect("put");
    assert_eq!(s.get_session(&sk, NOW.plus_secs(60)).await.expect("get"), None);
}

async fn counters_stop_at_their_limit(s: Arc<impl Both>) {
    let k = token().hash();
    s.put_flow(&flow(k.clone(), None, FlowState::OtpSent)).await.expect("put");
    for want in 1..=3 {
        assert_eq!(s.count_flow_event(&k, FlowCounter::OtpSends, 3, NOW).await.expect("count"), want);
    }
    assert!(matches!(s.count_flow_event(&k, FlowCounter::OtpSends, 3, NOW).await, Err(StoreError::LimitReached)));
    // The other counter is independent; the wrong state is a conflict, not a limit.
    assert_eq!(s.count_flow_event(&k, FlowCounter::OtpAttempts, 5, NOW).await.expect("count"), 1);
    let sim_ok = token().hash();
    s.put_flow(&flow(sim_ok.clone(), None, FlowState::SimOk)).await.expect("put");
    assert!(matches!(s.count_flow_event(&sim_ok, FlowCounter::OtpAttempts, 5, NOW).await, Err(StoreError::Conflict)));
    let f = s.get_flow(&k, NOW).await.expect("get").expect("flow");
    assert_eq!((f.otp_sends, f.otp_attempts), (3, 1));
}

async fn concurrent_counters_never_pass_the_limit(s: Arc<impl Both>) {
    let k = token().hash();
    s.put_flow(&flow(k.clone(), None, FlowState::OtpSent)).await.expect("put");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (s, k) = (s.clone(), k.clone());
            tokio::spawn(async move { s.count_flow_event(&k, FlowCounter::OtpAttempts, 5, NOW).await })
        })
        .collect();
    let mut counted = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => counted += 1,
            Err(StoreError::LimitReached) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(counted, 5);
}

/// A count given back is free again, never below zero, and never revives a flow that is gone.
async fn released_counts_come_back(s: Arc<impl Both>) {
    let k = token().hash();
    s.put_flow(&flow(k.clone(), None, FlowState::OtpSent)).await.expect("put");
    for _ in 0..3 {
        s.count_flow_event(&k, FlowCounter::OtpSends, 3, NOW).await.expect("count");
    }
    s.release_flow_event(&k, FlowCounter::OtpSends).await.expect("release");
    assert_eq!(s.count_flow_event(&k, FlowCounter::OtpSends, 3, NOW).await.expect("count"), 3, "the slot came back");
    assert!(matches!(s.count_flow_event(&k, FlowCounter::OtpSends, 3, NOW).await, Err(StoreError::LimitReached)));
    // Never below zero: more releases than counts leave it at zero.
    s.release_flow_event(&k, FlowCounter::OtpAttempts).await.expect("release");
    s.release_flow_event(&k, FlowCounter::OtpAttempts).await.expect("release");
    assert_eq!(s.count_flow_event(&k, FlowCounter::OtpAttempts, 5, NOW).await.expect("count"), 1);
    // A flow that does not exist stays absent.
    let gone = token().hash();
    s.release_flow_event(&gone, FlowCounter::OtpSends).await.expect("release");
    assert_eq!(s.get_flow(&gone, NOW).await.expect("get"), None);
}

async fn verified(s: &Arc<impl Both>, alice: &User) -> (TokenHash, TokenHash) {
    let (k, reset) = (token().hash(), token().hash());
    let mut f = flow(k.clone(), Some(alice), FlowState::Verified);
    f.reset_token_hash = Some(reset.clone());
    s.put_flow(&f).await.expect("put");
    (k, reset)
}

fn completion(k: &TokenHash, reset: &TokenHash, user: &UserId, hash: &str, now: Timestamp) -> ResetCompletion {
    let transition = Transition {
        from: FlowState::Verified,
        to: FlowState::Completed,
        writes: FlowWrites { clear_reset_token: true, ..FlowWrites::default() },
    };
    ResetCompletion {
        flow_key: k.clone(),
        transition,
        reset_token_hash: reset.clone(),
        user_id: user.clone(),
        new_password_hash: PasswordHash::from_phc(hash.into()),
        client_ip: "203.0.113.9".parse::<IpAddr>().expect("ip"),
        now,
    }
}

async fn the_reset_transaction_is_all_or_nothing(s: Arc<impl Both>) {
    let alice = user("u1", "alice@example.com");
    s.create_user(&alice).await.expect("create");
    let (k, reset) = verified(&s, &alice).await;
    // Each failed condition leaves everything as it was.
    for bad in [
        completion(&k, &token().hash(), &alice.id, "$new", NOW),
        completion(&k, &reset, &UserId("someone-else".into()), "$new", NOW),
        completion(&k, &reset, &alice.id, "$new", NOW.plus_secs(600)),
        completion(&token().hash(), &reset, &alice.id, "$new", NOW),
    ] {
        assert!(matches!(s.complete_reset(&bad).await, Err(StoreError::Conflict)));
        assert_eq!(s.user_by_id(&alice.id).await.expect("read"), Some(alice.clone()), "user untouched");
        assert_eq!(s.audit(&alice.id).await, vec![]);
    }
    s.complete_reset(&completion(&k, &reset, &alice.id, "$new", NOW)).await.expect("complete");
    let after = s.user_by_id(&alice.id).await.expect("read").expect("user");
    assert_eq!((after.password_hash.as_str(), after.credential_version), ("$new", 1));
    let f = s.get_flow(&k, NOW).await.expect("get").expect("flow");
    assert_eq!((f.state, f.reset_token_hash), (FlowState::Completed, None));
    let audit = s.audit(&alice.id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].event.as_str(), audit[0].at), ("password_reset", NOW));
    // Used once.
    assert!(matches!(
        s.complete_reset(&completion(&k, &reset, &alice.id, "$other", NOW)).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.user_by_id(&alice.id).await.expect("read").expect("user").password_hash.as_str(), "$new");
}

/// docs/security.md S09 at the store: 20 completions of one verified flow, each with its own hash.
async fn concurrent_reset_completions_have_one_winner(s: Arc<impl Both>) {
    let alice = user("u1", "alice@example.com");
    s.create_user(&alice).await.expect("create");
    let (k, reset) = verified(&s, &alice).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (s, c) = (s.clone(), completion(&k, &reset, &alice.id, &format!("$hash-{i}"), NOW));
            tokio::spawn(async move { (i, s.complete_reset(&c).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (i, Ok(())) => winners.push(i),
            (_, Err(StoreError::Conflict)) => {}
            (_, Err(e)) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let after = s.user_by_id(&alice.id).await.expect("read").expect("user");
    assert_eq!(after.password_hash.as_str(), format!("$hash-{}", winners[0]), "the stored hash is the winner's");
    assert_eq!(after.credential_version, 1);
    assert_eq!(s.audit(&alice.id).await.len(), 1);
}

async fn phone_verified_is_set_once(s: Arc<impl Both>) {
    let alice = user("u1", "alice@example.com");
    s.create_user(&alice).await.expect("create");
    s.mark_phone_verified(&alice.id, NOW).await.expect("mark");
    s.mark_phone_verified(&alice.id, NOW.plus_secs(100)).await.expect("mark again");
    assert_eq!(s.user_by_id(&alice.id).await.expect("read").expect("user").phone_verified_at, Some(NOW));
    assert!(matches!(s.mark_phone_verified(&UserId("nobody".into()), NOW).await, Err(StoreError::Conflict)));
    assert_eq!(s.user_by_id(&UserId("nobody".into())).await.expect("read"), None, "no record created");
}

async fn sessions(s: Arc<impl Both>) {
    let k = token().hash();
    let session = Session {
        key: k.clone(),
        user_id: UserId("u1".into()),
        credential_version: 3,
        created_at: NOW,
        expires_at: NOW.plus_secs(3600),
    };
    s.put_session(&session).await.expect("put");
    assert!(matches!(s.put_session(&session).await, Err(StoreError::Conflict)));
    assert_eq!(s.get_session(&k, NOW).await.expect("get"), Some(session));
    s.delete_session(&k).await.expect("delete");
    assert_eq!(s.get_session(&k, NOW).await.expect("get"), None);
    s.delete_session(&k).await.expect("deleting twice is fine");
}

async fn a_credential_change_is_one_write_on_the_version_it_saw(s: Arc<impl Both>) {
    let u = user("u-change", "change@example.com");
    s.create_user(&u).await.expect("create");
    let session = |key: TokenHash, version| Session {
        key,
        user_id: u.id.clone(),
        credential_version: version,
        created_at: NOW,
        expires_at: NOW.plus_secs(3600),
    };
    let (here, elsewhere, next) = (token().hash(), token().hash(), token().hash());
    s.put_session(&session(here.clone(), 0)).await.expect("put");
    s.put_session(&session(elsewhere.clone(), 0)).await.expect("put");
    let new_hash = PasswordHash::from_phc("$argon2id$v=19$m=64,t=1,p=1$bmV3c2FsdA$bmV3".into());
    let change = CredentialChange {
        user_id: u.id.clone(),
        expected_version: 0,
        new_password_hash: Some(new_hash.clone()),
        ended_session: here.clone(),
        new_session: Some(session(next.clone(), 1)),
        audit_event: "password_changed",
        client_ip: "203.0.113.5".parse().expect("ip"),
        now: NOW,
    };
    s.change_credentials(&change).await.expect("changed");
    let stored = s.user_by_id(&u.id).await.expect("read").expect("user");
    assert_eq!((stored.credential_version, stored.password_hash.as_str()), (1, new_hash.as_str()));
    assert_eq!(s.get_session(&here, NOW).await.expect("get"), None, "the session it was made from is gone");
    assert_eq!(s.get_session(&next, NOW).await.expect("get"), Some(session(next.clone(), 1)));
    // (Other sessions stay stored, but on the old version: the handlers refuse them.)
    assert_eq!(s.get_session(&elsewhere, NOW).await.expect("get").map(|x| x.credential_version), Some(0));
    assert_eq!(s.audit(&u.id).await.iter().map(|a| a.event.as_str()).collect::<Vec<_>>(), ["password_changed"]);

    // Decided on a version that has moved on (a reset, another browser): nothing is written.
    let stale = CredentialChange {
        new_password_hash: None,
        ended_session: elsewhere.clone(),
        new_session: None,
        audit_event: "signed_out_everywhere",
        ..change.clone()
    };
    assert!(matches!(s.change_credentials(&stale).await, Err(StoreError::Conflict)));
    assert!(s.get_session(&elsewhere, NOW).await.expect("get").is_some());
    assert_eq!(s.user_by_id(&u.id).await.expect("read").map(|x| x.credential_version), Some(1));
    // On the version it saw, sign out everywhere moves it on without touching the password.
    let everywhere = CredentialChange { expected_version: 1, ended_session: next.clone(), ..stale };
    s.change_credentials(&everywhere).await.expect("signed out everywhere");
    let stored = s.user_by_id(&u.id).await.expect("read").expect("user");
    assert_eq!((stored.credential_version, stored.password_hash.as_str()), (2, new_hash.as_str()));
    assert_eq!(s.get_session(&next, NOW).await.expect("get"), None);
}

async fn remembered_browsers_belong_to_their_account(s: Arc<impl Both>) {
    let (alice, bob) = (UserId("u-devices-a".into()), UserId("u-devices-b".into()));
    let device = |user: &UserId, at: i64, life: i64| RememberedDevice {
        key: token().hash(),
        user_id: user.clone(),
        credential_version: 0,
        label: "Mozilla/5.0".into(),
        created_at: NOW.plus_secs(at),
        expires_at: NOW.plus_secs(at + life),
    };
    let (first, second, old, bobs) =
        (device(&alice, 0, 3600), device(&alice, 5, 3600), device(&alice, -7200, 3600), device(&bob, 0, 3600));
    for d in [&first, &second, &old, &bobs] {
        s.put_device(d).await.expect("put");
    }
    assert!(matches!(s.put_device(&first).await, Err(StoreError::Conflict)), "a key is used once");
    assert_eq!(s.get_device(&alice, &first.key, NOW).await.expect("get"), Some(first.clone()));
    assert_eq!(s.get_device(&bob, &first.key, NOW).await.expect("get"), None, "another account's key is nothing");
    assert_eq!(s.get_device(&alice, &old.key, NOW).await.expect("get"), None, "expired");
    assert_eq!(s.devices(&alice, NOW).await.expect("list"), [first.clone(), second.clone()], "oldest first, live only");
    s.delete_device(&alice, &first.key).await.expect("delete");
    s.delete_device(&alice, &first.key).await.expect("deleting twice is fine");
    assert_eq!(s.devices(&alice, NOW).await.expect("list"), [second]);
    assert_eq!(s.devices(&bob, NOW).await.expect("list"), [bobs]);
}

async fn a_phone_change_unproves_the_number_and_moves_the_version_on(s: Arc<impl Both>) {
    let mut u = user("u-phone", "phone@example.com");
    u.phone_verified_at = Some(NOW.minus_secs(3600));
    s.create_user(&u).await.expect("create");
    let new_phone = Phone::from_e164("+447700900123").expect("phone");
    let change = PhoneChange {
        user_id: u.id.clone(),
        expected_version: 0,
        phone: new_phone.clone(),
        audit_event: "phone_changed_by_support",
        client_ip: "127.0.0.1".parse().expect("ip"),
        now: NOW,
        proof: None,
    };
    s.change_phone(&change).await.expect("changed");
    let stored = s.user_by_id(&u.id).await.expect("read").expect("user");
    // The account stays confirmed (it proved a phone once): no expiry, no new-account grace.
    assert_eq!(
        (stored.phone, stored.phone_verified_at, stored.credential_version),
        (new_phone, u.phone_verified_at, 1)
    );
    assert_eq!(s.audit(&u.id).await.iter().map(|a| a.event.as_str()).collect::<Vec<_>>(), ["phone_changed_by_support"]);
    // Decided on a version that has moved on: nothing is written.
    assert!(matches!(s.change_phone(&change).await, Err(StoreError::Conflict)));
    assert_eq!(s.user_by_id(&u.id).await.expect("read").map(|x| x.credential_version), Some(1));
}

/// The owner's own phone change: the number, its proof's date, the version, the flow's last step and
/// the session swap, all or nothing.
async fn a_proven_phone_change_is_one_write(s: Arc<impl Both>) {
    let mut u = user("u-proven", "proven@example.com");
    u.phone_verified_at = Some(NOW.minus_secs(86_400));
    s.create_user(&u).await.expect("create");
    let k = token().hash();
    s.put_flow(&flow(k.clone(), Some(&u), FlowState::NewOtpSent)).await.expect("flow");
    let session = |key: TokenHash, version| Session {
        key,
        user_id: u.id.clone(),
        credential_version: version,
        created_at: NOW,
        expires_at: NOW.plus_secs(3600),
    };
    let old = session(token().hash(), 0);
    s.put_session(&old).await.expect("session");
    let new_phone = Phone::from_e164("+447700900124").expect("phone");
    let change = |from: FlowState, new: &Session| PhoneChange {
        user_id: u.id.clone(),
        expected_version: 0,
        phone: new_phone.clone(),
        audit_event: "phone_changed",
        client_ip: "203.0.113.9".parse().expect("ip"),
        now: NOW,
        proof: Some(PhoneProof {
            flow_key: k.clone(),
            transition: step(from, FlowState::Completed),
            ended_session: old.key.clone(),
            new_session: new.clone(),
        }),
    };
    // A flow that is not where the change was decided: nothing is written.
    let next = session(token().hash(), 1);
    assert!(matches!(s.change_phone(&change(FlowState::OtpSent, &next)).await, Err(StoreError::Conflict)));
    assert_eq!(s.user_by_id(&u.id).await.expect("read").map(|x| x.credential_version), Some(0));
    assert_eq!(s.get_session(&next.key, NOW).await.expect("read"), None);
    assert!(s.audit(&u.id).await.is_empty());
    // Nor from a browser whose session is gone (signed out), expired, or another account's.
    let other = Session { user_id: UserId("someone-else".into()), ..session(token().hash(), 0) };
    let expired = Session { expires_at: NOW, ..session(token().hash(), 0) };
    for stored in [&other, &expired] {
        s.put_session(stored).await.expect("session");
    }
    for ended in [token().hash(), other.key.clone(), expired.key.clone()] {
        let mut signed_out = change(FlowState::NewOtpSent, &next);
        if let Some(p) = signed_out.proof.as_mut() {
            p.ended_session = ended;
        }
        assert!(matches!(s.change_phone(&signed_out).await, Err(StoreError::Conflict)));
    }
    assert_eq!(s.user_by_id(&u.id).await.expect("read").map(|x| x.phone), Some(u.phone.clone()));
    assert_eq!(s.get_session(&next.key, NOW).await.expect("read"), None);

    s.change_phone(&change(FlowState::NewOtpSent, &next)).await.expect("changed");
    let stored = s.user_by_id(&u.id).await.expect("read").expect("user");
    assert_eq!((stored.phone, stored.phone_verified_at, stored.credential_version), (new_phone.clone(), Some(NOW), 1));
    assert_eq!(s.get_flow(&k, NOW).await.expect("read").map(|f| f.state), Some(FlowState::Completed));
    assert_eq!(s.get_session(&old.key, NOW).await.expect("read"), None);
    assert_eq!(s.get_session(&next.key, NOW).await.expect("read"), Some(next.clone()));
    assert_eq!(s.audit(&u.id).await.iter().map(|a| a.event.as_str()).collect::<Vec<_>>(), ["phone_changed"]);
    // Twice: the version moved on and the flow is over.
    let again = session(token().hash(), 2);
    assert!(matches!(s.change_phone(&change(FlowState::NewOtpSent, &again)).await, Err(StoreError::Conflict)));
}

/// A phone change's current number is proven: its flow's limits move to the new number's keys, and
/// its counters and verification start again.
async fn a_flow_moves_on_to_another_number_with_fresh_counters(s: Arc<impl Both>) {
    let alice = user("u-restart", "restart@example.com");
    let k = token().hash();
    let mut f = flow(k.clone(), Some(&alice), FlowState::OtpSent);
    (f.otp_sends, f.otp_attempts) = (2, 1);
    (f.otp_reference, f.otp_provider, f.otp_sent_at) = (Some("VE1".into()), Some("twilio".into()), Some(NOW));
    s.put_flow(&f).await.expect("put");
    let keys = simguard::domain::SmsKeys { number: "new".into(), prefix: "new-prefix".into() };
    let t = Transition {
        from: FlowState::OtpSent,
        to: FlowState::CurrentProven,
        writes: FlowWrites { restart_for: Some(keys.clone()), ..FlowWrites::default() },
    };
    let moved = s.transition_flow(&k, &t, NOW).await.expect("moved");
    assert_eq!((moved.otp_sends, moved.otp_attempts, moved.sms_keys.as_ref()), (0, 0, Some(&keys)));
    assert_eq!((moved.otp_reference, moved.otp_provider, moved.otp_sent_at), (None, None, None));
    assert_eq!(
        s.get_flow(&k, NOW).await.expect("read").map(|f| (f.state, f.otp_sends)),
        Some((FlowState::CurrentProven, 0))
    );
}

async fn an_unconfirmed_account_gives_its_email_up_once_expired(s: Arc<impl Both>) {
    let cutoff = NOW.minus_secs(User::UNCONFIRMED_LIFE_SECS);
    let aged = |id: &str, email: &str, days: i64, verified: bool| User {
        created_at: NOW.minus_secs(days * 86_400),
        phone_verified_at: verified.then_some(NOW.minus_secs(days * 86_400)),
        ..user(id, email)
    };
    // Never proven, three weeks old: its email goes to the new registration.
    let (squatter, owner) =
        (aged("u-squat", "taken@example.com", 21, false), aged("u-owner", "taken@example.com", 0, false));
    s.create_user(&squatter).await.expect("create");
    assert!(matches!(s.create_user(&owner).await, Err(StoreError::EmailTaken(Some(ref id))) if id == &squatter.id));
    s.replace_unconfirmed_user(&squatter, &owner, cutoff).await.expect("replaced");
    assert_eq!(s.user_by_email(&owner.email).await.expect("read").map(|u| u.id), Some(owner.id.clone()));
    assert_eq!(s.user_by_id(&squatter.id).await.expect("read"), None, "the unproven account is gone");
    // Proven once, younger than the cutoff, or imported: kept.
    let imported = User {
        imported_at: Some(NOW.minus_secs(21 * 86_400)),
        ..aged("u-imported", "imported@example.com", 21, false)
    };
    for (old, label) in [
        (aged("u-proven", "proven@example.com", 21, true), "proven"),
        (aged("u-young", "young@example.com", 3, false), "young"),
        (imported, "imported"),
    ] {
        s.create_user(&old).await.expect("create");
        let newcomer = User { id: UserId(format!("u-new-{label}")), ..aged("x", old.email.as_str(), 0, false) };
        assert!(
            matches!(s.replace_unconfirmed_user(&old, &newcomer, cutoff).await, Err(StoreError::Conflict)),
            "{label}"
        );
        assert_eq!(s.user_by_email(&old.email).await.expect("read").map(|u| u.id), Some(old.id.clone()), "{label}");
    }
}

async fn coverage_cache(s: Arc<impl Both>) {
    let ip: IpAddr = "2001:db8::7".parse().expect("ip");
    assert_eq!(s.get_coverage(ip, NOW).await.expect("get"), None);
    s.put_coverage(ip, true, NOW.plus_secs(300)).await.expect("put");
    assert_eq!(s.get_coverage(ip, NOW).await.expect("get"), Some(true));
    assert_eq!(s.get_coverage(ip, NOW.plus_secs(300)).await.expect("get"), None);
    s.put_coverage(ip, false, NOW.plus_secs(900)).await.expect("overwrite");
    assert_eq!(s.get_coverage(ip, NOW).await.expect("get"), Some(false));
}

async fn rate_limit_windows(s: Arc<impl Both>) {
    let t = Timestamp(3600 * 500_000 + 10);
    for _ in 0..3 {
        assert_eq!(s.hit("bucket", 3, 3600, t).await.expect("hit"), RateDecision::Allowed);
    }
    assert_eq!(s.hit("bucket", 3, 3600, t).await.expect("hit"), RateDecision::Limited { retry_after_secs: 3590 });
    assert_eq!(s.hit("other", 3, 3600, t).await.expect("hit"), RateDecision::Allowed);
    assert_eq!(s.hit("bucket", 3, 3600, t.plus_secs(3590)).await.expect("hit"), RateDecision::Allowed, "a new window");
}

/// A hit given back is free again in its own window, never below zero, and leaves other windows
/// alone.
async fn released_rate_limit_hits_come_back(s: Arc<impl Both>) {
    let t = Timestamp(3600 * 500_001 + 10);
    for _ in 0..2 {
        assert_eq!(s.hit("give-back", 2, 3600, t).await.expect("hit"), RateDecision::Allowed);
    }
    assert!(matches!(s.hit("give-back", 2, 3600, t).await.expect("hit"), RateDecision::Limited { .. }));
    s.release("give-back", 3600, t.plus_secs(5)).await.expect("release");
    assert_eq!(s.hit("give-back", 2, 3600, t).await.expect("hit"), RateDecision::Allowed, "the slot came back");
    assert!(matches!(s.hit("give-back", 2, 3600, t).await.expect("hit"), RateDecision::Limited { .. }));
    // Nothing to give back: no window, or one at zero.
    s.release("never-hit", 3600, t).await.expect("release");
    assert_eq!(s.hit("never-hit", 1, 3600, t).await.expect("hit"), RateDecision::Allowed);
    assert!(matches!(s.hit("never-hit", 1, 3600, t).await.expect("hit"), RateDecision::Limited { .. }));
    // A release in the next window does not touch this one.
    s.release("give-back", 3600, t.plus_secs(3600)).await.expect("release");
    assert!(matches!(s.hit("give-back", 2, 3600, t).await.expect("hit"), RateDecision::Limited { .. }));
}

async fn concurrent_rate_limit_hits(s: Arc<impl Both>) {
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.hit("race", 7, 60, NOW).await })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        if t.await.expect("task").expect("hit") == RateDecision::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 7);
}

async fn look_alike_emails_are_taken(s: Arc<impl Both>) {
    let alice = user("u1", "alice@example.com");
    s.create_user(&alice).await.expect("create");
    // A Cyrillic "а" in the domain: another address, the same skeleton.
    let look_alike = user("u2", "alice@exаmple.com");
    assert_ne!(look_alike.email, alice.email);
    assert!(matches!(s.create_user(&look_alike).await, Err(StoreError::EmailTaken(_))));
    assert_eq!(s.user_by_id(&UserId("u2".into())).await.expect("read"), None, "nothing half-written");
    assert_eq!(s.user_by_skeleton(&look_alike.email.skeleton()).await.expect("read").map(|u| u.id), Some(alice.id));
    assert_eq!(s.user_by_skeleton("nobody@example.com").await.expect("read"), None);
}

fn owner(flow: &TokenHash, kind: FlowKind) -> VerificationOwner {
    VerificationOwner { flow_key: flow.clone(), kind, user_id: UserId("u1".into()) }
}

async fn verifications_have_one_holder(s: Arc<impl Both>) {
    let (login, reset) = (token().hash(), token().hash());
    let until = NOW.plus_secs(600);
    assert_eq!(
        s.claim_verification("twilio", "VE1", &owner(&login, FlowKind::Login), until, NOW).await.expect("claim"),
        None
    );
    // The same flow again: still its own.
    assert_eq!(
        s.claim_verification("twilio", "VE1", &owner(&login, FlowKind::Login), until, NOW).await.expect("claim"),
        None
    );
    // Another flow is told who holds it.
    let holder =
        s.claim_verification("twilio", "VE1", &owner(&reset, FlowKind::Reset), until, NOW).await.expect("claim");
    assert_eq!(holder, Some(owner(&login, FlowKind::Login)));
    assert_eq!(s.verification_owner("twilio", "VE1", NOW).await.expect("read"), Some(owner(&login, FlowKind::Login)));
    assert_eq!(s.verification_owner("twilio", "VE2", NOW).await.expect("read"), None);
    assert_eq!(s.verification_owner("twilio", "VE1", until).await.expect("read"), None, "expired");
    // Another provider's reference of the same text is another verification.
    assert_eq!(
        s.claim_verification("vonage-v2", "VE1", &owner(&reset, FlowKind::Reset), until, NOW).await.expect("claim"),
        None
    );
    // Once the holder's flow has expired, the verification can be claimed again.
    assert_eq!(
        s.claim_verification("twilio", "VE1", &owner(&reset, FlowKind::Reset), until, until).await.expect("claim"),
        None
    );
}

async fn concurrent_claims_have_one_winner(s: Arc<impl Both>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, flow) = (s.clone(), token().hash());
            tokio::spawn(async move {
                let mine = owner(&flow, FlowKind::Reset);
                (flow, s.claim_verification("twilio", "VE9", &mine, NOW.plus_secs(600), NOW).await.expect("claim"))
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut holders = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.expect("task") {
            (flow, None) => winners.push(flow),
            (_, Some(holder)) => {
                holders.insert(holder.flow_key.as_str().to_owned());
            }
        }
    }
    assert_eq!(winners.len(), 1, "one flow holds it");
    assert!(holders.iter().all(|h| h == winners[0].as_str()), "everyone else is told the winner");
}

/// The claim of a sent code and the flow's step that records it happen together or not at all.
async fn a_claim_and_its_step_are_one_write(s: Arc<impl Both>) {
    let u = user("u1", "alice@example.com");
    s.create_user(&u).await.expect("user");
    let (a, b) = (token().hash(), token().hash());
    s.put_flow(&flow(a.clone(), Some(&u), FlowState::SimOk)).await.expect("flow a");
    s.put_flow(&flow(b.clone(), Some(&u), FlowState::SimOk)).await.expect("flow b");
    let sent = step(FlowState::SimOk, FlowState::OtpSent);
    let until = NOW.plus_secs(600);
    let claim = |f: &TokenHash, t: Transition| {
        let (s, f) = (s.clone(), f.clone());
        async move { s.claim_verification_with_step("twilio", "VE1", &owner(&f, FlowKind::Login), &t, until, NOW).await }
    };
    assert_eq!(claim(&a, sent.clone()).await.expect("claim"), None);
    assert_eq!(s.get_flow(&a, NOW).await.expect("read").map(|f| f.state), Some(FlowState::OtpSent));
    // Held by a: b is told, and b's step is not taken.
    assert_eq!(claim(&b, sent.clone()).await.expect("claim"), Some(owner(&a, FlowKind::Login)));
    assert_eq!(s.get_flow(&b, NOW).await.expect("read").map(|f| f.state), Some(FlowState::SimOk));
    // A flow that moved on: a conflict, and the verification is not claimed for it.
    let c = token().hash();
    s.put_flow(&flow(c.clone(), Some(&u), FlowState::Locked)).await.expect("flow c");
    let fresh = |f: &TokenHash| {
        let (s, f) = (s.clone(), f.clone());
        async move { s.claim_verification_with_step("twilio", "VE2", &owner(&f, FlowKind::Login), &sent, until, NOW).await }
    };
    assert!(matches!(fresh(&c).await, Err(StoreError::Conflict)));
    assert_eq!(
        s.claim_verification("twilio", "VE2", &owner(&b, FlowKind::Login), until, NOW).await.expect("claim"),
        None,
        "VE2 was never claimed by the flow that could not take its step"
    );
}

/// A verified code's step, the phone's first proof and a sign-in's session are one transaction.
async fn a_possession_proof_is_one_write(s: Arc<impl Both>) {
    let u = user("u1", "alice@example.com");
    s.create_user(&u).await.expect("user");
    let key = token().hash();
    s.put_flow(&flow(key.clone(), Some(&u), FlowState::OtpSent)).await.expect("flow");
    let session = Session {
        key: token().hash(),
        user_id: u.id.clone(),
        credential_version: 0,
        created_at: NOW,
        expires_at: NOW.plus_secs(3600),
    };
    let device = RememberedDevice {
        key: token().hash(),
        user_id: u.id.clone(),
        credential_version: 0,
        label: "Mozilla/5.0".into(),
        created_at: NOW,
        expires_at: NOW.plus_secs(3600),
    };
    // The flow is not where the step starts: nothing at all is written.
    let wrong = step(FlowState::SimOk, FlowState::Completed);
    let proof = PossessionProof {
        flow_key: &key,
        transition: &wrong,
        user_id: &u.id,
        at: NOW,
        session: Some(&session),
        device: Some(&device),
    };
    assert!(matches!(s.record_possession(&proof).await, Err(StoreError::Conflict)));
    assert_eq!(s.get_session(&session.key, NOW).await.expect("read"), None);
    assert_eq!(s.get_device(&u.id, &device.key, NOW).await.expect("read"), None);
    assert_eq!(s.user_by_id(&u.id).await.expect("read").and_then(|u| u.phone_verified_at), None);
    // From the right state: all of it.
    let right = step(FlowState::OtpSent, FlowState::Completed);
    let proof = PossessionProof { transition: &right, ..proof };
    s.record_possession(&proof).await.expect("recorded");
    assert_eq!(s.get_flow(&key, NOW).await.expect("read").map(|f| f.state), Some(FlowState::Completed));
    assert!(s.get_session(&session.key, NOW).await.expect("read").is_some());
    assert_eq!(s.get_device(&u.id, &device.key, NOW).await.expect("read"), Some(device.clone()));
    assert_eq!(s.user_by_id(&u.id).await.expect("read").and_then(|u| u.phone_verified_at), Some(NOW));
    // Once only: a replay is a conflict, and the first proof's time stays.
    let later = PossessionProof { at: NOW.plus_secs(5), ..proof };
    assert!(matches!(s.record_possession(&later).await, Err(StoreError::Conflict)));
    assert_eq!(s.user_by_id(&u.id).await.expect("read").and_then(|u| u.phone_verified_at), Some(NOW));
}

async fn sent_notifications_are_remembered_until_they_expire(s: Arc<impl Both>) {
    assert!(!s.notification_sent("n1", NOW).await.expect("read"));
    s.record_notification_sent("n1", NOW.plus_secs(60)).await.expect("recorded");
    assert!(s.notification_sent("n1", NOW).await.expect("read"));
    assert!(!s.notification_sent("n2", NOW).await.expect("read"), "only that one");
    assert!(!s.notification_sent("n1", NOW.plus_secs(60)).await.expect("read"), "forgotten once expired");
}
