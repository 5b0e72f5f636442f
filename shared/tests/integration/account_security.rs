//! What a party who knows only an email — or only the password — can and cannot do
//! (docs/security.md S21–S27): it cannot keep the owner from signing in, cannot spend the owner's
//! code, cannot tell a registered email from an unknown one on the reset path, and a login flow dies
//! with the credential it proved. Plus the strictness of the input the API accepts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use simguard::config::OtpProviderKind;
use simguard::domain::{CheckStatus, Phone};
use simguard::ports::truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport,
};
use simguard::ports::{Metric, OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, SmsSender, TruId, TruIdError};

use crate::support::*;

const PROVIDERS: [OtpProviderKind; 3] = [OtpProviderKind::VonageV1, OtpProviderKind::VonageV2, OtpProviderKind::Twilio];
const ALICE: (&str, &str) = ("alice@example.com", "+447000000070");
const NEW_PASSWORD: &str = "a brand new passphrase 42";

fn csrf_of(r: &Resp) -> String {
    r.json()["csrf"].as_str().unwrap_or_else(|| panic!("a csrf token: {}", r.text())).to_owned()
}

/// 1. A login flow is bound to the credential it proved: a password reset in the meantime kills it.
#[tokio::test]
async fn s21_a_login_flow_dies_with_the_password_it_proved() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    // The attacker knows the old password and gets as far as a code being sent.
    let mut attacker = Browser::at("198.51.100.66");
    let csrf = csrf_of(&attacker.login(&env, ALICE.0, PASSWORD).await);
    assert_eq!(attacker.sim_check(&env, &csrf).await.json()["next"], "otp");
    assert_eq!(attacker.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    // A second stale flow, stopped before its SIM check.
    let mut early = Browser::at("198.51.100.67");
    let early_csrf = csrf_of(&early.login(&env, ALICE.0, PASSWORD).await);

    // The owner resets the password.
    let mut owner = Browser::default();
    let (owner_csrf, _) = owner.silent_reset(&env, ALICE.0).await;
    assert_eq!(owner.set_password(&env, &owner_csrf, NEW_PASSWORD).await.status, 200);

    // The code from the phone no longer signs anyone in on the old flow.
    let r = attacker.otp_verify(&env, &csrf, &code).await;
    assert_eq!((r.status, r.problem_type()), (409, Some("urn:simguard:problem:flow_invalid".into())), "{}", r.text());
    assert_eq!(attacker.send(&env, Event::get("/api/me")).await.status, 401);
    // Nor does any other step of a stale flow go on.
    let r = early.sim_check(&env, &early_csrf).await;
    assert_eq!(r.status, 409, "{}", r.text());
}

/// 2. Anyone who knows the email can start resets and logins for it all day; the owner, with the
/// password and the phone, still signs in.
#[tokio::test]
async fn s22_an_email_alone_cannot_stop_the_owner_signing_in() {
    for provider in [OtpProviderKind::VonageV2, OtpProviderKind::Twilio] {
        let env = Env::builder().provider(provider).start().await;
        env.user(ALICE.0, ALICE.1).await;
        env.no_coverage();
        // Resets from many addresses, each asking for codes, over a day's SMS budget.
        for i in 0..40 {
            let mut b = Browser::at(&format!("203.0.113.{}", i + 1));
            let start = b.start_reset(&env, ALICE.0).await;
            if start.status != 200 {
                continue;
            }
            let csrf = csrf_of(&start);
            b.sim_check(&env, &csrf).await;
            b.otp_start(&env, &csrf).await;
            b.otp_start(&env, &csrf).await;
            env.advance(240);
        }
        // Wrong passwords from many addresses.
        for i in 0..20 {
            Browser::at(&format!("192.0.2.{}", i + 1)).login(&env, ALICE.0, "not the right passphrase").await;
        }
        // The owner signs in: password, SIM check, a code that arrives and works.
        Browser::at("198.51.100.10").sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    }
}

/// 3. Wrong codes on a reset flow never reach the verification the owner is waiting on.
#[tokio::test]
async fn s23_an_email_alone_cannot_spend_the_owners_code() {
    for provider in PROVIDERS {
        let env = Env::builder().provider(provider).start().await;
        env.user(ALICE.0, ALICE.1).await;
        env.no_coverage();
        let mut owner = Browser::at("198.51.100.10");
        let csrf = csrf_of(&owner.login(&env, ALICE.0, PASSWORD).await);
        assert_eq!(owner.sim_check(&env, &csrf).await.json()["next"], "otp");
        assert_eq!(owner.otp_start(&env, &csrf).await.status, 200);
        let code = env.last_code(ALICE.1);

        let mut attacker = Browser::at("203.0.113.9");
        let reset = csrf_of(&attacker.start_reset(&env, ALICE.0).await);
        attacker.sim_check(&env, &reset).await;
        attacker.otp_start(&env, &reset).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..6 {
            attacker.otp_verify(&env, &reset, wrong).await;
        }
        let r = owner.otp_verify(&env, &csrf, &code).await;
        assert_eq!((r.status, r.json()["next"].clone()), (200, json!("signed_in")), "{provider:?}: {}", r.text());
    }
}

/// The answer to each step of the reset path, without what differs by design (tokens).
fn shape(r: &Resp) -> (u16, serde_json::Value, Vec<String>) {
    let mut body = r.json();
    if let Some(o) = body.as_object_mut() {
        o.remove("csrf");
    }
    let mut headers: Vec<String> = r.headers.keys().map(|k| k.as_str().to_owned()).collect();
    headers.sort();
    (r.status, body, headers)
}

/// The whole SMS path of a reset for `email` from a fresh address: every answer's shape.
async fn sms_reset_answers(env: &Env, email: &str, ip: &str, code: &str) -> Vec<(u16, serde_json::Value, Vec<String>)> {
    let mut b = Browser::at(ip);
    let start = b.start_reset(env, email).await;
    let csrf = csrf_of(&start);
    let mut out = vec![shape(&start)];
    out.push(shape(&b.sim_check(env, &csrf).await));
    out.push(shape(&b.otp_start(env, &csrf).await));
    out.push(shape(&b.otp_start(env, &csrf).await));
    out.push(shape(&b.otp_verify(env, &csrf, code).await));
    out
}

/// 4. The reset path answers a registered email exactly as an unknown one — at every step, through
/// the per-number limits, for an account whose SIM changed, whose operator gives no SIM answer, or
/// whose number the SMS provider refuses.
#[tokio::test]
async fn s24_the_reset_path_does_not_tell_registered_emails_from_unknown_ones() {
    let env = Env::builder().provider(OtpProviderKind::Twilio).start().await;
    env.no_coverage();
    env.user(ALICE.0, ALICE.1).await;
    env.user("sam@example.com", "+447000000008").await; // SIM changed
    env.user("erin@example.com", "+447700900099").await; // no SIM answer
    env.user("lena@example.com", "+447700900042").await; // a landline, says the SMS provider
    env.sandbox.twilio().force_error("+447700900042", 60205);
    let unknown = sms_reset_answers(&env, "nobody@example.com", "203.0.113.1", "123456").await;
    for (i, email) in ["sam@example.com", "erin@example.com", "lena@example.com"].iter().enumerate() {
        let known = sms_reset_answers(&env, email, &format!("203.0.113.{}", 10 + i), "123456").await;
        assert_eq!(known, unknown, "{email}: the answers of a registered email (left) vs an unknown one (right)");
    }
    // The per-number limits: the same statuses, send after send, for a real number and for none.
    let mut known = Vec::new();
    let mut none = Vec::new();
    for i in 0..4 {
        for (email, out) in [(ALICE.0, &mut known), ("nobody2@example.com", &mut none)] {
            let mut b = Browser::at(&format!("198.51.{}.{}", 100 + i, out.len() + 1));
            let csrf = csrf_of(&b.start_reset(&env, email).await);
            b.sim_check(&env, &csrf).await;
            out.push(b.otp_start(&env, &csrf).await.status);
        }
    }
    assert_eq!(known, none, "otp/start statuses for a registered (left) and an unknown email (right)");
}

/// 4. Wrong codes end a registered email's reset where they end an unknown one's, with every SMS
/// provider: Vonage ends a verification at its third wrong code ("too many"), Twilio counts five.
#[tokio::test]
async fn s24_wrong_codes_end_alike_for_registered_and_unknown_emails() {
    for provider in PROVIDERS {
        let env = Env::builder().provider(provider).start().await;
        env.no_coverage();
        env.user(ALICE.0, ALICE.1).await;
        let mut answers = Vec::new();
        for (i, email) in [ALICE.0, "nobody@example.com"].iter().enumerate() {
            let mut b = Browser::at(&format!("203.0.113.{}", 20 + i));
            let csrf = csrf_of(&b.start_reset(&env, email).await);
            b.sim_check(&env, &csrf).await;
            assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "{provider:?} {email}");
            let mut tries = Vec::new();
            for _ in 0..6 {
                tries.push(shape(&b.otp_verify(&env, &csrf, "123456").await));
            }
            answers.push(tries);
        }
        assert_eq!(answers[0], answers[1], "{provider:?}: a registered email (left) vs an unknown one (right)");
        // The provider's end was reached, for both: the last answers are "too many attempts".
        assert_eq!(answers[1].last().map(|a| a.0), Some(429), "{provider:?}: {:?}", answers[1]);
    }
}

/// A tru.ID that takes `delay` for every call: covered nowhere, every SIM unchanged.
struct SlowTruId {
    delay: Duration,
}

#[async_trait]
impl TruId for SlowTruId {
    async fn coverage(&self, _ip: std::net::IpAddr) -> Result<Coverage, TruIdError> {
        tokio::time::sleep(self.delay).await;
        Ok(Coverage::None)
    }
    async fn create_subscriber_check(&self, _c: &NewSubscriberCheck) -> Result<CreatedCheck, TruIdError> {
        Err(TruIdError::Unavailable("not used".into()))
    }
    async fn complete_subscriber_check(
        &self,
        _i: &CheckId,
        _c: &CheckCode,
    ) -> Result<SubscriberCheckReport, TruIdError> {
        Err(TruIdError::Unavailable("not used".into()))
    }
    async fn get_subscriber_check(&self, _i: &CheckId) -> Result<SubscriberCheckReport, TruIdError> {
        Err(TruIdError::Unavailable("not used".into()))
    }
    async fn create_sim_check(&self, _p: &Phone, _r: &str, _m: u32) -> Result<SimCheckReport, TruIdError> {
        tokio::time::sleep(self.delay).await;
        Ok(SimCheckReport {
            status: CheckStatus::Completed,
            no_sim_change: Some(true),
            sim_change_within: None,
            error_code: None,
        })
    }
}

/// An OTP provider that takes `delay` for every call; codes are always wrong.
struct SlowOtp {
    delay: Duration,
    starts: AtomicUsize,
}

#[async_trait]
impl OtpProvider for SlowOtp {
    fn name(&self) -> &'static str {
        "slow"
    }
    async fn start(&self, _to: &Phone, _r: &str) -> Result<OtpReference, OtpError> {
        tokio::time::sleep(self.delay).await;
        let n = self.starts.fetch_add(1, Ordering::SeqCst);
        OtpReference::parse(&format!("ref{n}")).ok_or(OtpError::InvalidResponse("ref".into()))
    }
    async fn check(&self, _r: &OtpReference, _to: &Phone, _c: &OtpCode) -> Result<OtpCheck, OtpError> {
        tokio::time::sleep(self.delay).await;
        Ok(OtpCheck::Wrong)
    }
    async fn cancel(&self, _r: &OtpReference) -> Result<(), OtpError> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }
    async fn send_notice(&self, _to: &Phone, _from: &SmsSender, _text: &str) -> Result<(), OtpError> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// 4, latency: with providers that take 200 ms, every step of the reset path takes as long for an
/// unknown email as for a registered one (medians within 10 %).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s24_the_reset_path_takes_as_long_for_unknown_emails() {
    let delay = Duration::from_millis(200);
    let env = Arc::new(
        Env::builder()
            .truid(Arc::new(SlowTruId { delay }))
            .otp(Arc::new(SlowOtp { delay, starts: AtomicUsize::new(0) }))
            .start()
            .await,
    );
    const SAMPLES: usize = 15;
    for i in 0..SAMPLES + 2 {
        env.user(&format!("known{i}@example.com"), &format!("+4478{:08}", 2000 + i * 10)).await;
    }
    // One reset path; the time of each step.
    async fn timed_path(env: Arc<Env>, email: String, ip: String) -> [Duration; 4] {
        let mut b = Browser::at(&ip);
        let t = Instant::now();
        let csrf = csrf_of(&b.start_reset(&env, &email).await);
        let d0 = t.elapsed();
        let t = Instant::now();
        b.sim_check(&env, &csrf).await;
        let d1 = t.elapsed();
        let t = Instant::now();
        b.otp_start(&env, &csrf).await;
        let d2 = t.elapsed();
        let t = Instant::now();
        b.otp_verify(&env, &csrf, "123456").await;
        [d0, d1, d2, t.elapsed()]
    }
    // A warm process has seen the providers answer at least once.
    for i in SAMPLES..SAMPLES + 2 {
        timed_path(env.clone(), format!("known{i}@example.com"), format!("198.18.0.{i}")).await;
    }
    let mut known = vec![Vec::new(); 4];
    let mut unknown = vec![Vec::new(); 4];
    for batch in 0..3 {
        let mut tasks = Vec::new();
        for j in 0..SAMPLES / 3 {
            let i = batch * (SAMPLES / 3) + j;
            tasks.push((
                true,
                tokio::spawn(timed_path(env.clone(), format!("known{i}@example.com"), format!("198.18.1.{i}"))),
            ));
            tasks.push((
                false,
                tokio::spawn(timed_path(env.clone(), format!("nobody{i}@example.com"), format!("198.18.2.{i}"))),
            ));
        }
        for (is_known, task) in tasks {
            let steps = task.await.expect("task");
            for (s, d) in steps.into_iter().enumerate() {
                if is_known { known[s].push(d) } else { unknown[s].push(d) }
            }
        }
    }
    for (s, name) in ["reset/check", "sim-check", "otp/start", "otp/verify"].iter().enumerate() {
        let (k, u) = (median(known[s].clone()), median(unknown[s].clone()));
        let gap = (k.as_secs_f64() - u.as_secs_f64()).abs() / k.as_secs_f64();
        assert!(
            gap <= 0.10,
            "{name}: median {k:?} for registered emails, {u:?} for unknown ones ({:.0} %)",
            gap * 100.0
        );
    }
}

/// 5. A body must be the JSON object the endpoint documents.
#[tokio::test]
async fn s25_json_bodies_must_be_objects() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    for (path, body) in [
        ("/api/login", json!([ALICE.0, PASSWORD])),
        ("/api/register", json!(["mallory@example.com", "+447700900002", PASSWORD])),
        ("/api/reset/check", json!([ALICE.0])),
        ("/api/login", json!("alice@example.com")),
        ("/api/login", json!(null)),
    ] {
        let r = env.send(&Event::post(path, body.clone())).await;
        assert_eq!(
            (r.status, r.problem_type()),
            (400, Some("urn:simguard:problem:invalid_request".into())),
            "{path} {body}: {}",
            r.text()
        );
        assert!(r.set_cookies().is_empty(), "{path} {body}: no flow is started");
    }
}

/// 6. A state-changing request is accepted only from the configured public origin, exactly.
#[tokio::test]
async fn s26_the_origin_must_be_the_configured_one() {
    let env = Env::start().await;
    let attempt = |origin: Option<&str>, host: &str| {
        let mut e = Event::new("POST", "/api/reset/check")
            .header("content-type", "application/json")
            .header("host", host)
            .body(json!({ "email": "someone@example.com" }).to_string());
        if let Some(o) = origin {
            e = e.header("origin", o);
        }
        e
    };
    for (origin, host) in [
        (Some("http://app.example"), "app.example"),
        (Some("https://app.example:8443"), "app.example:8443"),
        (Some("https://evil.example"), "evil.example"),
        (Some("null"), "app.example"),
        (None, "app.example"),
    ] {
        let r = env.send(&attempt(origin, host)).await;
        assert_eq!(
            (r.status, r.problem_type()),
            (403, Some("urn:simguard:problem:csrf_rejected".into())),
            "Origin {origin:?}, Host {host}: {}",
            r.text()
        );
    }
    assert_eq!(env.send(&attempt(Some(ORIGIN), "anything.example")).await.status, 200);
}

/// An OTP provider whose checks take a while and approve the right code once.
struct SlowApprover {
    checks: AtomicUsize,
}

#[async_trait]
impl OtpProvider for SlowApprover {
    fn name(&self) -> &'static str {
        "slow-approver"
    }
    async fn start(&self, _to: &Phone, _r: &str) -> Result<OtpReference, OtpError> {
        OtpReference::parse("ref1").ok_or(OtpError::InvalidResponse("ref".into()))
    }
    async fn check(&self, _r: &OtpReference, _to: &Phone, code: &OtpCode) -> Result<OtpCheck, OtpError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let first = self.checks.fetch_add(1, Ordering::SeqCst) == 0;
        Ok(match (code.expose(), first) {
            ("246810", true) => OtpCheck::Approved,
            ("246810", false) => OtpCheck::Expired,
            _ => OtpCheck::Wrong,
        })
    }
    async fn cancel(&self, _r: &OtpReference) -> Result<(), OtpError> {
        Ok(())
    }
    async fn send_notice(&self, _to: &Phone, _from: &SmsSender, _text: &str) -> Result<(), OtpError> {
        Ok(())
    }
}

/// 9. Ten taps on "Verify" with the right code: exactly one session, and nobody is locked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s27_a_double_submit_of_the_right_code_signs_in_once() {
    let env = Arc::new(Env::builder().otp(Arc::new(SlowApprover { checks: AtomicUsize::new(0) })).start().await);
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = csrf_of(&b.login(&env, ALICE.0, PASSWORD).await);
    b.sim_check(&env, &csrf).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (env, mut tap, csrf) = (env.clone(), b.clone(), csrf.clone());
            tokio::spawn(async move {
                let r = tap.otp_verify(&env, &csrf, "246810").await;
                (r.status, r.json()["next"].clone(), tap)
            })
        })
        .collect();
    let mut signed_in = Vec::new();
    for t in tasks {
        let (status, next, tap) = t.await.expect("task");
        assert_ne!(status, 500);
        if (status, next) == (200, json!("signed_in")) {
            signed_in.push(tap);
        }
    }
    assert_eq!(signed_in.len(), 1, "exactly one session");
    assert_eq!(signed_in[0].send(&env, Event::get("/api/me")).await.status, 200);
    assert!(!env.outbox.sent().iter().any(|n| n.kind == simguard::ports::NotificationKind::SecondFactorFailed));
}

/// 10. "Send a new code" that the provider refuses as already in flight says so, and counts no SMS.
#[tokio::test]
async fn s27_a_resend_that_sends_nothing_says_so() {
    let env = Env::builder().provider(OtpProviderKind::VonageV2).start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = csrf_of(&b.login(&env, ALICE.0, PASSWORD).await);
    b.sim_check(&env, &csrf).await;
    assert_eq!(b.otp_start(&env, &csrf).await.json(), json!({ "status": "sent", "to_ending": "70" }));
    assert_eq!(b.otp_start(&env, &csrf).await.json(), json!({ "status": "already_sent", "to_ending": "70" }));
    assert_eq!(env.sms_count(), 1);
    assert_eq!(env.metrics.count(&Metric::SmsSent { provider: "vonage-v2" }), 1);
    // The code already sent still works.
    let r = b.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await;
    assert_eq!(r.json()["next"], "signed_in");
}

/// 8. Numbers are parsed as people type them and validated; look-alike emails are one mailbox.
#[tokio::test]
async fn s25_phones_and_emails_are_normalised_and_validated() {
    let env = Env::start().await;
    let register = |email: &str, phone: &str| {
        Event::post("/api/register", json!({ "email": email, "phone": phone, "password": PASSWORD }))
    };
    // A UK number as people type it, with the trunk 0, and in national form (the default region).
    assert_eq!(env.send(&register("uk1@example.com", "+44 (0) 7700 900124")).await.status, 201);
    assert_eq!(env.stored_user("uk1@example.com").await.phone.e164(), "+447700900124");
    assert_eq!(env.send(&register("uk2@example.com", "07700 900002")).await.status, 201);
    assert_eq!(env.stored_user("uk2@example.com").await.phone.e164(), "+447700900002");
    // A number no phone can have.
    let r = env.send(&register("bad@example.com", "+44 0 7700 900124 999")).await;
    assert_eq!((r.status, r.problem_type()), (400, Some("urn:simguard:problem:invalid_phone".into())));

    // Look-alikes of an existing address get the answer a taken address gets, and no account. (The
    // owner's own password would be the owner registering again: S30's mistyped-number path.)
    let owners = Event::post(
        "/api/register",
        json!({ "email": "alice@example.com", "phone": "+447700900004", "password": "a passphrase of her own 2026" }),
    );
    assert_eq!(env.send(&owners).await.status, 201);
    let told_before = env.outbox.sent().len();
    for look_alike in ["ａlice@example.com", "ALICE@EXAMPLE.COM", "alice@exаmple.com", "аlice@example.com"] {
        let r = env.send(&register(look_alike, "+447700900006")).await;
        assert_eq!(r.status, 201, "{look_alike}: {}", r.text());
        // No account was made under the look-alike.
        let parsed = simguard::domain::Email::parse(look_alike).expect("a valid address");
        if parsed.as_str() != "alice@example.com" {
            let made = env.store.user_by_email(&parsed).await.expect("store");
            assert!(made.is_none(), "{look_alike}: an account was made");
        }
        let phone = env.stored_user("alice@example.com").await.phone;
        assert_eq!(phone.e164(), "+447700900004", "{look_alike} did not take over or shadow alice");
    }
    // The owner was told (once: the warning is sent at most once an hour), and nobody else was.
    let told = env.outbox.sent().split_off(told_before);
    assert!(told.iter().all(|n| n.to.as_str() == "alice@example.com"), "{told:?}");
    let kind = simguard::ports::NotificationKind::RegistrationWithExistingEmail;
    assert_eq!(told.iter().filter(|n| n.kind == kind).count(), 1, "{told:?}");
}

/// SMS pumping stays blocked with all of the above: the per-address, per-prefix and global budgets
/// hold against 100 registered accounts and 100 unknown emails mixed (unknown emails cost budget,
/// and send nothing).
#[tokio::test]
async fn pumping_budgets_hold_for_registered_and_unknown_emails() {
    let env = Env::builder()
        .provider(OtpProviderKind::VonageV2)
        .var("SIMGUARD_LIMIT_SMS_GLOBAL_HOUR", "30")
        .var("SIMGUARD_LIMIT_SMS_PER_IP_HOUR", "1000")
        .var("SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR", "1000")
        .start()
        .await;
    env.no_coverage();
    for i in 0..100 {
        // Numbers in ten prefixes of ten.
        env.user(&format!("r{i}@example.com"), &format!("+4478{:04}{:04}", 1000 + i / 10, i % 10 * 2)).await;
    }
    let mut sent = 0;
    for i in 0..100 {
        for email in [format!("r{i}@example.com"), format!("u{i}@example.com")] {
            let mut b = Browser::at(&format!("10.{}.{}.{}", 20 + i / 50, i % 50, email.len()));
            let csrf = csrf_of(&b.start_reset(&env, &email).await);
            b.sim_check(&env, &csrf).await;
            if b.otp_start(&env, &csrf).await.status == 200 {
                sent += 1;
            }
        }
    }
    assert_eq!(sent, 30 / 4, "the resets' quarter of the global budget, shared by registered and unknown emails");
    assert!(env.otp_starts() <= 30 / 4 && env.otp_starts() > 0, "{} SMS", env.otp_starts());
    // One address: its hourly budget holds whatever the emails.
    let env = Env::builder().provider(OtpProviderKind::VonageV2).start().await;
    env.no_coverage();
    for i in 0..20 {
        env.user(&format!("s{i}@example.com"), &format!("+4478{:08}", 3000 + i * 2)).await;
    }
    let mut statuses = Vec::new();
    for i in 0..20 {
        let email = if i % 2 == 0 { format!("s{i}@example.com") } else { format!("v{i}@example.com") };
        let mut b = Browser::at("198.51.100.200");
        let start = b.start_reset(&env, &email).await;
        if start.status != 200 {
            statuses.push(start.status);
            continue;
        }
        let csrf = csrf_of(&start);
        b.sim_check(&env, &csrf).await;
        statuses.push(b.otp_start(&env, &csrf).await.status);
    }
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(passed, 10, "SIMGUARD_LIMIT_SMS_PER_IP_HOUR (10) from one address: {statuses:?}");
}

/// A flow counts its SMS limits on the number it started with (its keys, docs/security.md R11): if
/// the account's number changed since, nothing is sent on that count, and the flow is over.
#[tokio::test]
async fn a_number_changed_mid_flow_is_not_texted() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (client, table) = moto::fresh_table().await;
    let env = Env::builder().store_on(client.clone(), table.clone()).start().await;
    let user = env.user_with_password(ALICE.0, ALICE.1, NEW_PASSWORD).await;
    let mut b = Browser::at("198.51.100.77");
    let login = b.login(&env, ALICE.0, NEW_PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    // Someone with write access to the table (or, one day, a number change) moves the account.
    client
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("USER#{}", user.id.0)))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("SET phone = :p")
        .expression_attribute_values(":p", AttributeValue::S("+447000000072".into()))
        .send()
        .await
        .expect("number changed");
    let sends = env.otp_starts();
    let r = b.otp_start(&env, &csrf).await;
    assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:flow_invalid"), "{}", r.text());
    assert_eq!(env.otp_starts(), sends, "nothing sent to either number");
}
