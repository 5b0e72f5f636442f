//! When dependencies fail (docs/security.md R7, R8, R9): every request answers within its deadline
//! whatever hangs — DynamoDB, Secrets Manager, a provider; a send the provider refused or never
//! answered, or a check that never reached it, uses up no limit, while guesses stay capped; and a
//! flow left half-written by a lost answer or a failed write finishes without a new SMS where the
//! provider can tell what happened, or offers the next step.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use simguard::Function;
use simguard::adapters::aws::OPERATION_TIMEOUT;
use simguard::adapters::clock::ManualClock;
use simguard::adapters::dynamo::DynamoStore;
use simguard::adapters::memory::MemoryStore;
use simguard::adapters::secrets::StaticSecrets;
use simguard::adapters::secrets_manager::{SecretsManagerSource, parse_secret};
use simguard::assembly::otp_provider;
use simguard::config::OtpProviderKind;
use simguard::domain::{
    CheckStatus, Email, Flow, FlowCounter, Phone, RememberedDevice, Session, Timestamp, TokenHash, Transition, User,
    UserId,
};
use simguard::ports::truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport,
};
use simguard::ports::{
    CredentialChange, NotificationKind, OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, PhoneChange,
    PossessionProof, RateDecision, RateLimiter, ResetCompletion, SecretSource, SmsSender, Store, StoreError, TruId,
    TruIdError, VerificationOwner, deadline,
};
use simguard_sandbox::SandboxConfig;

use crate::support::*;

const ALICE: (&str, &str) = ("alice@example.com", "+447000000070");
const NEW_PASSWORD: &str = "a brand new passphrase 42";
const UNAVAILABLE: &str = "urn:simguard:problem:temporarily_unavailable";
const SMS_UNAVAILABLE: &str = "urn:simguard:problem:sms_unavailable";

fn csrf_of(r: &Resp) -> String {
    r.json()["csrf"].as_str().unwrap_or_else(|| panic!("a csrf token: {}", r.text())).to_owned()
}

/// A well-formed token that no flow or session has.
const A_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn a_token_csrf() -> String {
    simguard::http::extract::csrf_token_for(&simguard::domain::Token::parse(A_TOKEN).expect("a token"))
}

fn assert_unavailable_in_time(r: &Resp, took: Duration, budget: Duration, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.text());
    assert_eq!(r.problem_type().as_deref(), Some(UNAVAILABLE), "{what}");
    assert!(r.header("retry-after").is_some(), "{what}: a 503 says when to try again");
    assert!(took < budget + Duration::from_millis(700), "{what}: answered after {took:?}, budget {budget:?}");
}

/// R7: DynamoDB accepts connections and never answers. Every function answers a 503 problem with
/// `Retry-After` within the request's budget — on the real DynamoDB adapter and SDK client.
#[tokio::test]
async fn r7_a_stalled_dynamodb_is_a_503_within_the_budget() {
    let stall = Stall::start().await;
    let client = aws_sdk_dynamodb::Client::new(&stall.aws().await);
    let budget = Duration::from_millis(800);
    let env = Env::builder().store_on(client, "simguard".into()).var("SIMGUARD_REQUEST_BUDGET_MS", "800").start().await;
    let requests = [
        Event::get("/api/coverage"),
        Event::post("/api/reset/check", json!({ "email": ALICE.0 })),
        Event::post("/api/login", json!({ "email": ALICE.0, "password": PASSWORD })),
        Event::post(
            "/api/register",
            json!({ "email": "new@example.com", "phone": "+447000000072", "password": NEW_PASSWORD }),
        ),
        Event::post("/api/otp/start", json!({})).cookie(FLOW, A_TOKEN).csrf(&a_token_csrf()),
        Event::post("/api/otp/verify", json!({ "code": "123456" })).cookie(FLOW, A_TOKEN).csrf(&a_token_csrf()),
        Event::get("/api/me").cookie(SESSION, A_TOKEN),
    ];
    for event in requests {
        let t = Instant::now();
        let r = env.send(&event).await;
        assert_unavailable_in_time(&r, t.elapsed(), budget, &event.path);
    }
    // The callback's answer is a page: the result page that offers the way on.
    let t = Instant::now();
    let r = Browser::default()
        .send(&env, Event::get("/api/reset/callback").query("check_id=x&code=y").cookie(FLOW, A_TOKEN))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location().as_deref(), Some("/reset/result.html?r=unavailable"));
    assert!(t.elapsed() < budget + Duration::from_millis(700), "{:?}", t.elapsed());
}

/// R7: outside any request (no deadline), the SDK client's own operation timeout and bounded retries
/// end a call to a DynamoDB that never answers.
#[tokio::test]
async fn r7_the_sdk_timeouts_end_a_call_to_a_stalled_dynamodb() {
    let stall = Stall::start().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&stall.aws().await), "simguard");
    let t = Instant::now();
    let r = store.get_flow(&TokenHash::of(b"a flow"), Timestamp(T0)).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    assert!(t.elapsed() < OPERATION_TIMEOUT + Duration::from_secs(2), "{:?}", t.elapsed());
}

/// R7: Secrets Manager never answers: reading the provider credentials takes no longer than the
/// request has left, on the real adapter and SDK client.
#[tokio::test]
async fn r7_a_stalled_secrets_manager_takes_no_longer_than_the_request_has() {
    let stall = Stall::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&stall.aws().await);
    let source =
        SecretsManagerSource::new(client, "simguard/providers".into(), 300, Arc::new(ManualClock::new(Timestamp(T0))));
    let t = Instant::now();
    let r = deadline::within(Instant::now() + Duration::from_millis(700), source.load(false)).await;
    assert!(r.is_err());
    assert!(t.elapsed() < Duration::from_millis(1400), "{:?}", t.elapsed());
}

/// R7: tru.ID accepts connections and never answers, the token fetch included (a cold function).
/// Each function that calls it answers within the budget, with the answer its contract gives for a
/// provider failure: no silent path, the SMS path instead.
#[tokio::test]
async fn r7_a_stalled_truid_costs_no_more_than_the_budget() {
    let stall = Stall::start().await;
    let budget = Duration::from_millis(1500);
    let env = Env::builder()
        .var("SIMGUARD_TRUID_BASE_URL", &stall.url())
        .var("SIMGUARD_REQUEST_BUDGET_MS", "1500")
        .start()
        .await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let in_time = |t: Instant, what: &str| {
        assert!(t.elapsed() < budget + Duration::from_millis(700), "{what}: {:?}", t.elapsed());
    };
    let t = Instant::now();
    let r = b.send(&env, Event::get("/api/coverage")).await;
    assert_eq!((r.status, r.json()), (200, json!({ "silent": false })), "{}", r.text());
    in_time(t, "coverage");
    let t = Instant::now();
    let start = b.start_reset(&env, ALICE.0).await;
    assert_eq!((start.status, start.json()["next"].clone()), (200, json!("sms")), "{}", start.text());
    in_time(t, "reset/check");
    let t = Instant::now();
    let sim = b.sim_check(&env, &csrf_of(&start)).await;
    assert!(sim.status == 200 || sim.status == 503, "{}", sim.text());
    in_time(t, "sim-check");
}

/// R7 + R9 on the real tru.ID client: tru.ID stops answering after the device came back from the
/// operator. The callback answers within the budget, cold (its token fetch stalls) and warm (the
/// PATCH, then the read-back of the check, stall): no verdict, so the same flow goes on by SMS. No
/// gateway timeout, no dead end (the issue found ~18 s against a 10 s function timeout).
#[tokio::test]
async fn r7_a_callback_with_tru_id_stalled_answers_in_time_and_the_flow_goes_on() {
    let switch = Switch::start().await;
    // The callback's own client goes through the switch.
    let env = Env::builder()
        .var_for(Function::Callback, "SIMGUARD_TRUID_BASE_URL", &switch.url())
        .var("SIMGUARD_REQUEST_BUDGET_MS", "1500")
        .start()
        .await;
    switch.relay_to(env.sandbox.base_url());
    env.user(ALICE.0, ALICE.1).await;
    env.user("bob@example.com", "+447000000072").await;
    for (email, phone, warm) in [(ALICE.0, ALICE.1, false), ("bob@example.com", "+447000000072", true)] {
        let mut b = Browser::at(if warm { "127.0.0.3" } else { "127.0.0.2" });
        let start = b.start_reset(&env, email).await;
        assert_eq!(start.json()["next"], "silent", "{}", start.text());
        if warm {
            // Another reset through the callback first: its token is cached.
            let mut other = Browser::default();
            let first = other.start_reset(&env, ALICE.0).await;
            let location = env.device_visit(first.json()["check_url"].as_str().expect("url")).await;
            let done = other.follow_to_callback(&env, &location).await;
            assert_eq!(done.location().as_deref(), Some("/reset/new-password.html"), "{}", done.text());
        }
        let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
        switch.stall(true);
        let t = Instant::now();
        let cb = b.follow_to_callback(&env, &location).await;
        assert!(t.elapsed() < Duration::from_millis(3500), "{email}: the callback took {:?}", t.elapsed());
        switch.stall(false);
        // No verdict (the PATCH, or its token, never answered; nor did the read-back): the SMS path.
        assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"), "{email}: {}", cb.text());
        let csrf = csrf_of(&start);
        assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp", "{email}");
        let sent = b.otp_start(&env, &csrf).await;
        assert_eq!(sent.status, 200, "{email}: {}", sent.text());
        let code = env.last_code(phone);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "new_password", "{email}");
    }
}

/// R7 + R8 on the real SMS clients: the SMS provider stops answering. otp-start and otp-verify
/// answer `sms_unavailable` within the budget, spend no send and no attempt, and once the provider
/// is back the same flow gets its code and signs in.
#[tokio::test]
async fn r7_a_stalled_sms_provider_answers_in_time_and_spends_nothing() {
    for (provider, var) in
        [(OtpProviderKind::Twilio, "SIMGUARD_TWILIO_BASE_URL"), (OtpProviderKind::VonageV1, "SIMGUARD_VONAGE_BASE_URL")]
    {
        let switch = Switch::start().await;
        let env = Env::builder()
            .provider(provider)
            .var(var, &switch.url())
            .var("SIMGUARD_REQUEST_BUDGET_MS", "1500")
            .start()
            .await;
        switch.relay_to(env.sandbox.base_url());
        env.user(ALICE.0, ALICE.1).await;
        env.no_coverage();
        let mut b = Browser::default();
        let csrf = login_to_code(&env, &mut b).await;
        switch.stall(true);
        // More than the flow's three sends and the number's three in ten minutes.
        for i in 0..4 {
            let t = Instant::now();
            let r = b.otp_start(&env, &csrf).await;
            assert!(t.elapsed() < Duration::from_millis(3500), "{provider:?} send {i}: {:?}", t.elapsed());
            assert_eq!(r.problem_type().as_deref(), Some(SMS_UNAVAILABLE), "{provider:?} send {i}: {}", r.text());
        }
        switch.stall(false);
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "{provider:?}: the code goes out");
        let code = env.last_code(ALICE.1);
        switch.stall(true);
        // More than the flow's five attempts: checks that never reached the provider count for none.
        for i in 0..6 {
            let t = Instant::now();
            let r = b.otp_verify(&env, &csrf, &code).await;
            assert!(t.elapsed() < Duration::from_millis(3500), "{provider:?} check {i}: {:?}", t.elapsed());
            assert_eq!(r.problem_type().as_deref(), Some(SMS_UNAVAILABLE), "{provider:?} check {i}: {}", r.text());
        }
        switch.stall(false);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "signed_in", "{provider:?}");
    }
}

/// A tru.ID whose every call hangs.
struct HangingTruId;

#[async_trait]
impl TruId for HangingTruId {
    async fn coverage(&self, _ip: IpAddr) -> Result<Coverage, TruIdError> {
        std::future::pending().await
    }
    async fn create_subscriber_check(&self, _c: &NewSubscriberCheck) -> Result<CreatedCheck, TruIdError> {
        std::future::pending().await
    }
    async fn complete_subscriber_check(
        &self,
        _i: &CheckId,
        _c: &CheckCode,
    ) -> Result<SubscriberCheckReport, TruIdError> {
        std::future::pending().await
    }
    async fn get_subscriber_check(&self, _i: &CheckId) -> Result<SubscriberCheckReport, TruIdError> {
        std::future::pending().await
    }
    async fn create_sim_check(&self, _p: &Phone, _r: &str, _m: u32) -> Result<SimCheckReport, TruIdError> {
        std::future::pending().await
    }
}

/// R7: in Lambda the deadline is the invocation's own, less the margin: with 1.5 s left of the
/// invocation (and the default 9 s budget), a call that never returns still gets a 503 before the
/// platform would give up.
#[tokio::test]
async fn r7_in_lambda_the_invocation_deadline_bounds_the_request() {
    let env = Env::builder().truid(Arc::new(HangingTruId)).start().await;
    let t = Instant::now();
    let r = env.send_in_lambda(&Event::get("/api/coverage"), Duration::from_millis(1500)).await;
    assert_unavailable_in_time(&r, t.elapsed(), Duration::from_millis(800), "coverage in Lambda");
    assert!(t.elapsed() < Duration::from_millis(1500), "answered before the invocation's deadline");
}

/// R7: an emulator's deadline that has passed before the request arrived (`cargo lambda watch` sends
/// a constant 600000 ms since 1970) is not a deadline: the request runs on the configured budget.
#[tokio::test]
async fn r7_a_deadline_already_past_is_an_emulators_and_the_budget_applies() {
    let env = Env::start().await;
    let mut context = lambda_http::Context::default();
    context.deadline = 600_000;
    let r = env.send_with_context(&Event::get("/api/coverage"), context).await;
    assert_eq!((r.status, r.json()), (200, json!({ "silent": true })), "{}", r.text());
}

const CHECK: &str = CHECK_ID;

/// A tru.ID whose SubscriberCheck PATCH never answers — after it completed the check (`completes`),
/// or before (a PATCH that never arrived). A GET tells what happened.
struct LostPatch {
    completes: bool,
    completed: Mutex<bool>,
    patches: AtomicUsize,
    gets: AtomicUsize,
}

impl LostPatch {
    fn new(completes: bool) -> Arc<LostPatch> {
        Arc::new(LostPatch {
            completes,
            completed: Mutex::new(false),
            patches: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl TruId for LostPatch {
    async fn coverage(&self, _ip: IpAddr) -> Result<Coverage, TruIdError> {
        Ok(Coverage::SubscriberCheck)
    }
    async fn create_subscriber_check(&self, _c: &NewSubscriberCheck) -> Result<CreatedCheck, TruIdError> {
        Ok(created_check())
    }
    async fn complete_subscriber_check(
        &self,
        _i: &CheckId,
        _c: &CheckCode,
    ) -> Result<SubscriberCheckReport, TruIdError> {
        self.patches.fetch_add(1, Ordering::SeqCst);
        if self.completes {
            *self.completed.lock().expect("lock") = true;
        }
        std::future::pending().await
    }
    async fn get_subscriber_check(&self, _i: &CheckId) -> Result<SubscriberCheckReport, TruIdError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let done = *self.completed.lock().expect("lock");
        Ok(SubscriberCheckReport {
            status: if done { CheckStatus::Completed } else { CheckStatus::Accepted },
            matched: done.then_some(true),
            no_sim_change: done.then_some(true),
            sim_change_within: None,
            error_code: None,
        })
    }
    async fn create_sim_check(&self, _p: &Phone, _r: &str, _m: u32) -> Result<SimCheckReport, TruIdError> {
        Ok(SimCheckReport {
            status: CheckStatus::Completed,
            no_sim_change: Some(true),
            sim_change_within: None,
            error_code: None,
        })
    }
}

fn callback(check: &str) -> Event {
    Event::get("/api/reset/callback").query(&format!("check_id={check}&code=abc123"))
}

fn resume() -> Event {
    Event::get("/api/reset/callback").query("resume=1")
}

/// R7 + R9: the PATCH outlives the request. The callback answers in time with the result page,
/// which offers "try again"; while the first callback could still be running that asks to wait;
/// after, what tru.ID says about the check finishes the reset — without a second PATCH.
#[tokio::test]
async fn r9_a_callback_that_ran_out_of_time_finishes_from_the_check() {
    let truid = LostPatch::new(true);
    let env = Env::builder().truid(truid.clone()).var("SIMGUARD_REQUEST_BUDGET_MS", "1000").start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = csrf_of(&b.start_reset(&env, ALICE.0).await);
    let t = Instant::now();
    let cb = b.send(&env, callback(CHECK)).await;
    assert!(t.elapsed() < Duration::from_millis(1700), "{:?}", t.elapsed());
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=unavailable"));
    // The same browser, at once: the first callback may still be running.
    assert_eq!(b.send(&env, resume()).await.location().as_deref(), Some("/reset/result.html?r=in_progress"));
    assert_eq!(b.send(&env, callback(CHECK)).await.location().as_deref(), Some("/reset/result.html?r=in_progress"));
    // Another browser never gets anywhere.
    let other = Browser::default().send(&env, resume()).await;
    assert_eq!(other.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    env.advance(31);
    let done = b.send(&env, resume()).await;
    assert_eq!(done.location().as_deref(), Some("/reset/new-password.html"));
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);
    assert!(env.password_works(ALICE.0, NEW_PASSWORD).await);
    assert_eq!((truid.patches.load(Ordering::SeqCst), truid.gets.load(Ordering::SeqCst)), (1, 1), "one PATCH, ever");
    // Finished: a replay is refused.
    assert_eq!(b.send(&env, resume()).await.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
}

/// R9: the PATCH never reached tru.ID (the check is still open): the recovery cannot prove the phone
/// and never PATCHes again, so it opens the SMS path — the next step, not a dead end.
#[tokio::test]
async fn r9_a_callback_whose_patch_never_arrived_opens_the_sms_path() {
    let truid = LostPatch::new(false);
    let env = Env::builder().truid(truid.clone()).var("SIMGUARD_REQUEST_BUDGET_MS", "1000").start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = csrf_of(&b.start_reset(&env, ALICE.0).await);
    assert_eq!(b.send(&env, callback(CHECK)).await.location().as_deref(), Some("/reset/result.html?r=unavailable"));
    env.advance(31);
    assert_eq!(b.send(&env, resume()).await.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    let sim = b.sim_check(&env, &csrf).await;
    assert_eq!((sim.status, sim.json()["next"].clone()), (200, json!("otp")), "{}", sim.text());
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "new_password");
    assert_eq!(truid.patches.load(Ordering::SeqCst), 1);
}

/// A memory store whose flow writes fail on demand: `fail_transitions(pass, fail)` lets `pass` more
/// transitions through, then fails the next `fail`.
#[derive(Default)]
struct FaultyStore {
    inner: MemoryStore,
    plan: Mutex<(usize, usize)>,
    /// Reading an account by its id fails.
    user_reads_fail: std::sync::atomic::AtomicBool,
}

impl FaultyStore {
    fn fail_transitions(&self, pass: usize, fail: usize) {
        *self.plan.lock().expect("lock") = (pass, fail);
    }

    fn fails_now(&self) -> bool {
        let mut plan = self.plan.lock().expect("lock");
        match *plan {
            (0, 0) => false,
            (0, fail) => {
                plan.1 = fail - 1;
                true
            }
            (pass, _) => {
                plan.0 = pass - 1;
                false
            }
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn create_user(&self, u: &User) -> Result<(), StoreError> {
        self.inner.create_user(u).await
    }
    async fn replace_unconfirmed_user(&self, o: &User, n: &User, cutoff: Timestamp) -> Result<(), StoreError> {
        self.inner.replace_unconfirmed_user(o, n, cutoff).await
    }
    async fn user_by_email(&self, e: &Email) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(e).await
    }
    async fn user_by_skeleton(&self, s: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_skeleton(s).await
    }
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        if self.user_reads_fail.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.user_by_id(id).await
    }
    async fn put_flow(&self, f: &Flow) -> Result<(), StoreError> {
        self.inner.put_flow(f).await
    }
    async fn get_flow(&self, k: &TokenHash, now: Timestamp) -> Result<Option<Flow>, StoreError> {
        self.inner.get_flow(k, now).await
    }
    async fn transition_flow(&self, k: &TokenHash, t: &Transition, now: Timestamp) -> Result<Flow, StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.transition_flow(k, t, now).await
    }
    async fn count_flow_event(
        &self,
        k: &TokenHash,
        c: FlowCounter,
        limit: u32,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        self.inner.count_flow_event(k, c, limit, now).await
    }
    async fn release_flow_event(&self, k: &TokenHash, c: FlowCounter) -> Result<(), StoreError> {
        self.inner.release_flow_event(k, c).await
    }
    async fn complete_reset(&self, c: &ResetCompletion) -> Result<(), StoreError> {
        self.inner.complete_reset(c).await
    }
    async fn change_credentials(&self, c: &CredentialChange) -> Result<(), StoreError> {
        self.inner.change_credentials(c).await
    }
    async fn change_phone(&self, c: &PhoneChange) -> Result<(), StoreError> {
        self.inner.change_phone(c).await
    }
    async fn put_device(&self, d: &RememberedDevice) -> Result<(), StoreError> {
        self.inner.put_device(d).await
    }
    async fn get_device(
        &self,
        u: &UserId,
        k: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<RememberedDevice>, StoreError> {
        self.inner.get_device(u, k, now).await
    }
    async fn devices(&self, u: &UserId, now: Timestamp) -> Result<Vec<RememberedDevice>, StoreError> {
        self.inner.devices(u, now).await
    }
    async fn delete_device(&self, u: &UserId, k: &TokenHash) -> Result<(), StoreError> {
        self.inner.delete_device(u, k).await
    }
    async fn verification_owner(
        &self,
        provider: &str,
        reference: &str,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        self.inner.verification_owner(provider, reference, now).await
    }
    async fn claim_verification(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        self.inner.claim_verification(provider, reference, owner, expires_at, now).await
    }
    async fn claim_verification_with_step(
        &self,
        provider: &str,
        reference: &str,
        owner: &VerificationOwner,
        t: &Transition,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<VerificationOwner>, StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.claim_verification_with_step(provider, reference, owner, t, expires_at, now).await
    }
    async fn mark_phone_verified(&self, id: &UserId, at: Timestamp) -> Result<(), StoreError> {
        self.inner.mark_phone_verified(id, at).await
    }
    async fn put_site_principal(
        &self,
        principal: &str,
        site: &simguard::domain::relying_site::SiteId,
    ) -> Result<(), StoreError> {
        self.inner.put_site_principal(principal, site).await
    }
    async fn site_of_principal(
        &self,
        principal: &str,
    ) -> Result<Option<simguard::domain::relying_site::SiteId>, StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.site_of_principal(principal).await
    }
    async fn put_verification(&self, v: &simguard::domain::verification::Verification) -> Result<(), StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.put_verification(v).await
    }
    async fn begin_verification(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<simguard::domain::verification::Verification>, StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.begin_verification(hash, now).await
    }
    async fn redeem_result(&self, jti: &str, until: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.redeem_result(jti, until, now).await
    }
    async fn put_site(&self, site: &simguard::domain::relying_site::RelyingSite) -> Result<(), StoreError> {
        self.inner.put_site(site).await
    }
    async fn site(
        &self,
        id: &simguard::domain::relying_site::SiteId,
    ) -> Result<Option<simguard::domain::relying_site::RelyingSite>, StoreError> {
        self.inner.site(id).await
    }
    async fn put_api_key(&self, key: &simguard::domain::relying_site::ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.put_api_key(key).await
    }
    async fn api_key(
        &self,
        site: &simguard::domain::relying_site::SiteId,
        key_id: &str,
    ) -> Result<Option<simguard::domain::relying_site::ApiKeyRecord>, StoreError> {
        self.inner.api_key(site, key_id).await
    }
    async fn api_keys(
        &self,
        site: &simguard::domain::relying_site::SiteId,
    ) -> Result<Vec<simguard::domain::relying_site::ApiKeyRecord>, StoreError> {
        self.inner.api_keys(site).await
    }
    async fn revoke_api_key(
        &self,
        site: &simguard::domain::relying_site::SiteId,
        key_id: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.revoke_api_key(site, key_id, at).await
    }
    async fn upgrade_password_hash(
        &self,
        id: &UserId,
        from: &simguard::domain::PasswordHash,
        to: &simguard::domain::PasswordHash,
    ) -> Result<(), StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.upgrade_password_hash(id, from, to).await
    }
    async fn record_possession(&self, p: &PossessionProof<'_>) -> Result<(), StoreError> {
        if self.fails_now() {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.record_possession(p).await
    }
    async fn put_session(&self, s: &Session) -> Result<(), StoreError> {
        self.inner.put_session(s).await
    }
    async fn get_session(&self, k: &TokenHash, now: Timestamp) -> Result<Option<Session>, StoreError> {
        self.inner.get_session(k, now).await
    }
    async fn delete_session(&self, k: &TokenHash) -> Result<(), StoreError> {
        self.inner.delete_session(k).await
    }
    async fn notification_sent(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.inner.notification_sent(id, now).await
    }
    async fn record_notification_sent(&self, id: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        self.inner.record_notification_sent(id, expires_at).await
    }
    async fn put_coverage(&self, ip: IpAddr, covered: bool, expires_at: Timestamp) -> Result<(), StoreError> {
        self.inner.put_coverage(ip, covered, expires_at).await
    }
    async fn get_coverage(&self, ip: IpAddr, now: Timestamp) -> Result<Option<bool>, StoreError> {
        self.inner.get_coverage(ip, now).await
    }
}

#[async_trait]
impl RateLimiter for FaultyStore {
    async fn hit(
        &self,
        bucket: &str,
        limit: u32,
        window_secs: u64,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError> {
        self.inner.hit(bucket, limit, window_secs, now).await
    }
    async fn release(&self, bucket: &str, window_secs: u64, counted_at: Timestamp) -> Result<(), StoreError> {
        self.inner.release(bucket, window_secs, counted_at).await
    }
}

async fn on_faulty_store() -> (Env, Arc<FaultyStore>) {
    on_faulty_store_with(OtpProviderKind::VonageV1, None).await
}

async fn on_faulty_store_with(provider: OtpProviderKind, otp: Option<Arc<Flaky>>) -> (Env, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore::default());
    let builder = Env::builder().store_given(store.clone(), store.clone()).provider(provider);
    let builder = match otp {
        Some(o) => builder.otp(o),
        None => builder,
    };
    (builder.start().await, store)
}

/// A1, S30: a registration of a taken address whose account cannot be read (the store fails) does
/// the same password work as every other registration — one hash and one check — and answers the same.
#[tokio::test]
async fn a_registration_whose_owner_cannot_be_read_does_the_same_password_work() {
    let store = Arc::new(FaultyStore::default());
    let counting = Arc::new(CountingHasher::default());
    let env = Env::builder().store_given(store.clone(), store.clone()).hasher(counting.clone()).start().await;
    env.user(ALICE.0, ALICE.1).await;
    store.user_reads_fail.store(true, Ordering::SeqCst);
    let before = counting.counts();
    let body = json!({ "email": ALICE.0, "phone": "+447700900124", "password": "somebody else's passphrase" });
    let r = Browser::at("198.51.100.65").send(&env, Event::post("/api/register", body)).await;
    assert_eq!((r.status, r.json()), (201, json!({ "status": "registered" })), "{}", r.text());
    let after = counting.counts();
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "(hashes, checks)");
}

/// R9: the store fails right after the code was exchanged (on the real tru.ID client and the
/// sandbox): the flow is left claimed. Once that callback is surely over, "try again" reads the
/// check and finishes the reset; tru.ID saw one PATCH.
#[tokio::test]
async fn r9_a_callback_whose_write_was_lost_finishes_from_the_check() {
    let (env, store) = on_faulty_store().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    // The claim goes through; the write of the outcome fails.
    store.fail_transitions(1, 1);
    let (csrf, cb) = b.silent_reset(&env, ALICE.0).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=unavailable"));
    assert_eq!(env.patches(), 1);
    env.advance(31);
    let done = b.send(&env, resume()).await;
    assert_eq!(done.location().as_deref(), Some("/reset/new-password.html"), "{:?}", done.header("location"));
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);
    assert_eq!(env.patches(), 1, "never PATCHed again");
}

/// An OTP provider in front of the real client (on the sandbox), which fails on demand: `starts`
/// failing sends, `checks` failing checks (each with `error`), `lost` checks made and then answered
/// with a timeout (the answer lost on the way back).
#[derive(Default)]
struct Flaky {
    real: OnceLock<Arc<dyn OtpProvider>>,
    failing_starts: AtomicUsize,
    /// Starts the provider made, whose answer is then lost (a timeout on the way back).
    lost_starts: AtomicUsize,
    failing_checks: AtomicUsize,
    lost_answers: AtomicUsize,
    error: Mutex<Option<OtpError>>,
    checks_made: AtomicUsize,
}

impl Flaky {
    fn real(&self) -> &Arc<dyn OtpProvider> {
        self.real.get().expect("connected")
    }

    /// Connects the real client for `env`'s provider, on its sandbox.
    fn connect(&self, env: &Env) {
        let config = SandboxConfig { truid: sandbox_config(), ..SandboxConfig::default() };
        let secrets: Arc<dyn SecretSource> =
            Arc::new(StaticSecrets::new(parse_secret(&config.provider_secret().to_string()).expect("secret")));
        let real = otp_provider(&env.settings(Function::OtpStart), secrets).expect("client");
        assert!(self.real.set(real).is_ok());
    }

    fn fail(&self, counter: &AtomicUsize, n: usize, error: OtpError) {
        *self.error.lock().expect("lock") = Some(error);
        counter.store(n, Ordering::SeqCst);
    }

    fn take(counter: &AtomicUsize) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn error(&self) -> OtpError {
        self.error.lock().expect("lock").clone().unwrap_or(OtpError::Unavailable("status 503".into()))
    }
}

#[async_trait]
impl OtpProvider for Flaky {
    fn name(&self) -> &'static str {
        self.real().name()
    }
    async fn start(&self, to: &Phone, client_ref: &str) -> Result<OtpReference, OtpError> {
        if Self::take(&self.failing_starts) {
            return Err(self.error());
        }
        let answer = self.real().start(to, client_ref).await;
        if Self::take(&self.lost_starts) {
            return Err(OtpError::Timeout);
        }
        answer
    }
    async fn check(&self, r: &OtpReference, to: &Phone, code: &OtpCode) -> Result<OtpCheck, OtpError> {
        if Self::take(&self.failing_checks) {
            let e = self.error();
            if e.reached_a_check() {
                self.checks_made.fetch_add(1, Ordering::SeqCst);
            }
            return Err(e);
        }
        self.checks_made.fetch_add(1, Ordering::SeqCst);
        let answer = self.real().check(r, to, code).await;
        if Self::take(&self.lost_answers) {
            return Err(OtpError::Timeout);
        }
        answer
    }
    async fn cancel(&self, r: &OtpReference) -> Result<(), OtpError> {
        self.real().cancel(r).await
    }
    async fn approved(&self, r: &OtpReference) -> Result<Option<bool>, OtpError> {
        self.real().approved(r).await
    }
    fn in_flight_window_secs(&self) -> Option<u64> {
        self.real().in_flight_window_secs()
    }
    async fn send_notice(&self, to: &Phone, from: &SmsSender, text: &str) -> Result<(), OtpError> {
        self.real().send_notice(to, from, text).await
    }
}

async fn flaky_env(provider: OtpProviderKind) -> (Env, Arc<Flaky>) {
    let flaky = Arc::new(Flaky::default());
    let env = Env::builder().provider(provider).otp(flaky.clone()).start().await;
    flaky.connect(&env);
    env.user(ALICE.0, ALICE.1).await;
    (env, flaky)
}

/// A login up to its code: the flow's CSRF token.
async fn login_to_code(env: &Env, b: &mut Browser) -> String {
    let csrf = csrf_of(&b.login(env, ALICE.0, PASSWORD).await);
    assert_eq!(b.sim_check(env, &csrf).await.json()["next"], "otp");
    csrf
}

/// R8: sends that failed — the provider down, or never answering — use up neither the flow's sends
/// nor the number's: after more failures than either allows, the code goes out, on the reset path
/// (one SMS per number per 5 minutes) as on the login path.
#[tokio::test]
async fn r8_failed_sends_use_up_no_budget() {
    for provider in [OtpProviderKind::VonageV1, OtpProviderKind::Twilio] {
        let (env, flaky) = flaky_env(provider).await;
        env.no_coverage();
        // Reset: one SMS per number per five minutes, three per flow.
        let mut b = Browser::default();
        let csrf = csrf_of(&b.start_reset(&env, ALICE.0).await);
        assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
        flaky.fail(&flaky.failing_starts, 2, OtpError::Unavailable("status 503".into()));
        for _ in 0..2 {
            let r = b.otp_start(&env, &csrf).await;
            assert_eq!(r.problem_type().as_deref(), Some(SMS_UNAVAILABLE), "{}", r.text());
        }
        flaky.fail(&flaky.failing_starts, 2, OtpError::Timeout);
        for _ in 0..2 {
            assert_eq!(b.otp_start(&env, &csrf).await.problem_type().as_deref(), Some(SMS_UNAVAILABLE));
        }
        let sent = b.otp_start(&env, &csrf).await;
        assert_eq!((sent.status, sent.json()), (200, json!({ "status": "sent" })), "{provider:?}: {}", sent.text());
        assert_eq!(env.sms_count(), 1, "{provider:?}: the code went out");
        let code = env.last_code(ALICE.1);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "new_password");

        // Login: three per flow, three per number in ten minutes.
        env.advance(600);
        let mut b = Browser::default();
        let csrf = login_to_code(&env, &mut b).await;
        flaky.fail(&flaky.failing_starts, 6, OtpError::Unavailable("connect".into()));
        for _ in 0..6 {
            assert_eq!(b.otp_start(&env, &csrf).await.problem_type().as_deref(), Some(SMS_UNAVAILABLE));
        }
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "{provider:?}");
        let code = env.last_code(ALICE.1);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "signed_in");
    }
}

/// R8: a Cognito sign-in whose code could not be sent uses up none of the number's budget, which
/// its web sign-in draws on too: after more failures than the number allows in ten minutes, a
/// Cognito sign-in and a web sign-in each still get their code.
#[tokio::test]
async fn r8_a_cognito_sign_in_that_could_not_be_texted_uses_up_no_budget() {
    use crate::cognito_triggers::{after_password, create};
    let (env, flaky) = flaky_env(OtpProviderKind::Twilio).await;
    env.no_coverage();
    flaky.fail(&flaky.failing_starts, 5, OtpError::Unavailable("status 503".into()));
    for i in 0..5 {
        let created = create(&env, ALICE.1, true, &after_password(), None).await;
        let refused = json!({ "next": "blocked", "reason": "sms_unavailable" });
        assert_eq!(created["publicChallengeParameters"], refused, "failed send {i}");
    }
    let created = create(&env, ALICE.1, true, &after_password(), None).await;
    assert_eq!(created["publicChallengeParameters"]["next"], "sms", "{created}");
    let mut b = Browser::default();
    let csrf = login_to_code(&env, &mut b).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "the web sign-in's code");
}

/// R9: a send whose answer was lost (the SMS went out, the request timed out) is no dead end: the
/// next send finds the verification in flight and claims it (`already_sent`, no second SMS), and the
/// code already on the phone signs in.
#[tokio::test]
async fn r9_a_send_whose_answer_was_lost_goes_on_with_the_code_on_the_phone() {
    for provider in [OtpProviderKind::VonageV1, OtpProviderKind::VonageV2] {
        let (env, flaky) = flaky_env(provider).await;
        env.no_coverage();
        let mut b = Browser::default();
        let csrf = login_to_code(&env, &mut b).await;
        flaky.lost_starts.store(1, Ordering::SeqCst);
        let lost = b.otp_start(&env, &csrf).await;
        assert_eq!(lost.problem_type().as_deref(), Some(SMS_UNAVAILABLE), "{provider:?}: {}", lost.text());
        assert_eq!(env.sms_count(), 1, "{provider:?}: the SMS went out all the same");
        let again = b.otp_start(&env, &csrf).await;
        assert_eq!(again.json()["status"], "already_sent", "{provider:?}: {}", again.text());
        assert_eq!(env.sms_count(), 1, "{provider:?}: no second SMS");
        let code = env.last_code(ALICE.1);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "signed_in", "{provider:?}");
    }
}

/// R8: sends that happened still count: the flow's budget is spent by real sends.
#[tokio::test]
async fn r8_sends_that_happened_still_count() {
    let (env, _flaky) = flaky_env(OtpProviderKind::Twilio).await;
    let mut b = Browser::default();
    let csrf = login_to_code(&env, &mut b).await;
    for _ in 0..3 {
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    }
    assert_eq!(b.otp_start(&env, &csrf).await.status, 429);
}

/// R8: checks that never reached the provider (down, throttled, refused our credentials, or no
/// answer) use up no attempt, lock nothing and tell the owner nothing: the right code afterwards
/// signs in.
#[tokio::test]
async fn r8_checks_that_never_reached_the_provider_use_up_no_attempt() {
    let (env, flaky) = flaky_env(OtpProviderKind::VonageV1).await;
    let mut b = Browser::default();
    let csrf = login_to_code(&env, &mut b).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    for error in [
        OtpError::Unavailable("status 503".into()),
        OtpError::RateLimited { retry_after_secs: None },
        OtpError::Unauthorized,
        OtpError::Timeout,
    ] {
        flaky.fail(&flaky.failing_checks, 3, error.clone());
        for _ in 0..3 {
            let r = b.otp_verify(&env, &csrf, &code).await;
            assert_eq!(r.problem_type().as_deref(), Some(SMS_UNAVAILABLE), "{error:?}: {}", r.text());
        }
    }
    assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "signed_in");
    let told = env.outbox.sent().iter().filter(|n| n.kind == NotificationKind::SecondFactorFailed).count();
    assert_eq!(told, 0, "nobody attacked: the owner is not told so");
}

/// R8, the other side: guesses stay capped. Answers the provider may have counted (a 2xx we could
/// not read) keep their attempt, and however failures and guesses interleave, no more checks reach
/// the provider than the flow allows.
#[tokio::test]
async fn r8_guesses_stay_capped_whatever_fails_between_them() {
    let (env, flaky) = flaky_env(OtpProviderKind::Twilio).await;
    let mut b = Browser::default();
    let csrf = login_to_code(&env, &mut b).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // Two unreadable answers: both count.
    flaky.fail(&flaky.failing_checks, 2, OtpError::InvalidResponse("body".into()));
    for _ in 0..2 {
        assert_eq!(b.otp_verify(&env, &csrf, wrong).await.problem_type().as_deref(), Some(SMS_UNAVAILABLE));
    }
    // Outages between guesses give their attempt back; guesses do not.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        flaky.fail(&flaky.failing_checks, 1, OtpError::Unavailable("status 503".into()));
        statuses.push(b.otp_verify(&env, &csrf, wrong).await.status);
        statuses.push(b.otp_verify(&env, &csrf, wrong).await.status);
    }
    assert_eq!(flaky.checks_made.load(Ordering::SeqCst), 5, "five checks reached the provider: {statuses:?}");
    // Locked: even the right code is refused now.
    assert_eq!(b.otp_verify(&env, &csrf, &code).await.status, 429);
}

/// R9: the provider approved the code, but its answer was lost. Vonage Verify v1 can say what
/// happened (its search): the same code again finishes the sign-in, with one SMS.
#[tokio::test]
async fn r9_a_lost_approval_finishes_the_flow_where_the_provider_can_tell() {
    let (env, flaky) = flaky_env(OtpProviderKind::VonageV1).await;
    let mut b = Browser::default();
    let csrf = login_to_code(&env, &mut b).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    flaky.lost_answers.store(1, Ordering::SeqCst);
    let lost = b.otp_verify(&env, &csrf, &code).await;
    assert_eq!(lost.problem_type().as_deref(), Some(SMS_UNAVAILABLE), "{}", lost.text());
    let again = b.otp_verify(&env, &csrf, &code).await;
    assert_eq!((again.status, again.json()["next"].clone()), (200, json!("signed_in")), "{}", again.text());
    assert_eq!(env.sms_count(), 1);
}

/// R9: where the provider cannot tell (Twilio deletes an approved verification; Vonage v2 has no
/// read), a lost approval is `code_expired`, and the next step — a new code — works.
#[tokio::test]
async fn r9_a_lost_approval_offers_a_new_code_where_the_provider_cannot_tell() {
    for provider in [OtpProviderKind::Twilio, OtpProviderKind::VonageV2] {
        let (env, flaky) = flaky_env(provider).await;
        let mut b = Browser::default();
        let csrf = login_to_code(&env, &mut b).await;
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
        let code = env.last_code(ALICE.1);
        flaky.lost_answers.store(1, Ordering::SeqCst);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.problem_type().as_deref(), Some(SMS_UNAVAILABLE));
        let again = b.otp_verify(&env, &csrf, &code).await;
        assert_eq!(
            again.problem_type().as_deref(),
            Some("urn:simguard:problem:code_expired"),
            "{provider:?}: {}",
            again.text()
        );
        env.advance(31);
        let resent = b.otp_start(&env, &csrf).await;
        assert_eq!(resent.status, 200, "{provider:?}: {}", resent.text());
        let code = env.last_code(ALICE.1);
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.json()["next"], "signed_in", "{provider:?}");
    }
}

/// R9: the provider approved the code, and the write that records it failed: the same code again
/// finishes the sign-in (Vonage Verify v1, on the real client and the sandbox).
#[tokio::test]
async fn r9_an_approval_whose_write_was_lost_finishes_the_flow() {
    let flaky = Arc::new(Flaky::default());
    let (env, store) = on_faulty_store_with(OtpProviderKind::VonageV1, Some(flaky.clone())).await;
    flaky.connect(&env);
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = login_to_code(&env, &mut b).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    store.fail_transitions(0, 1);
    assert_eq!(b.otp_verify(&env, &csrf, &code).await.status, 503);
    let again = b.otp_verify(&env, &csrf, &code).await;
    assert_eq!((again.status, again.json()["next"].clone()), (200, json!("signed_in")), "{}", again.text());
    assert_eq!(env.sms_count(), 1);
}
