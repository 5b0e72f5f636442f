//! The SIM-swap gate and the SMS path — the reset fallback and login 2FA — with each OTP provider,
//! and the attack scenarios S04–S08 and S15–S18 of docs/security.md.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use simguard::config::OtpProviderKind;
use simguard::domain::sim_policy::UnavailablePolicy;
use simguard::domain::{Email, PasswordPolicy, Phone, Timestamp, User, UserId};
use simguard::ports::NotificationKind;

use crate::support::*;

const PROVIDERS: [OtpProviderKind; 3] = [OtpProviderKind::VonageV1, OtpProviderKind::VonageV2, OtpProviderKind::Twilio];
const NEW_PASSWORD: &str = "a brand new passphrase 42";
const ALICE: (&str, &str) = ("alice@example.com", "+447000000070");

async fn env_with(provider: OtpProviderKind) -> Env {
    let env = Env::builder().provider(provider).start().await;
    env.user(ALICE.0, ALICE.1).await;
    env
}

/// A reset that takes the SMS path because the device is not on mobile data. Returns the flow's CSRF.
async fn start_sms_reset(env: &Env, b: &mut Browser, email: &str) -> String {
    env.no_coverage();
    let start = b.start_reset(env, email).await;
    assert_eq!((start.status, start.json()["next"].clone()), (200, json!("sms")), "{}", start.text());
    start.json()["csrf"].as_str().expect("csrf").to_owned()
}

async fn login_csrf(env: &Env, b: &mut Browser, email: &str) -> String {
    let login = b.login(env, email, PASSWORD).await;
    assert_eq!(login.json()["next"], "second_factor", "{}", login.text());
    login.json()["csrf"].as_str().expect("csrf").to_owned()
}

/// A user registered `days_ago`, verified or not, with the cheap test hash of `PASSWORD`.
async fn user_registered(env: &Env, email: &str, phone: &str, days_ago: i64, verified: bool) {
    let pw = PasswordPolicy::check(PASSWORD, None).expect("policy");
    let at = Timestamp(T0 - days_ago * 86400);
    let user = User {
        id: UserId(format!("u-{email}")),
        email: Email::parse(email).expect("email"),
        phone: Phone::parse(phone, None).expect("a phone number"),
        password_hash: env.hasher.hash(&pw).await.expect("hash"),
        created_at: at,
        phone_verified_at: verified.then_some(at),
        credential_version: 0,
        imported_at: None,
        password_imported: false,
    };
    env.store.create_user(&user).await.expect("user");
}

#[tokio::test]
async fn the_reset_fallback_works_with_each_provider() {
    for provider in PROVIDERS {
        let env = env_with(provider).await;
        let mut b = Browser::default();
        let csrf = start_sms_reset(&env, &mut b, ALICE.0).await;
        let done = b.second_factor(&env, &csrf, ALICE.1).await;
        assert_eq!(
            (done.status, done.json()["next"].clone()),
            (200, json!("new_password")),
            "{provider:?}: {}",
            done.text()
        );
        assert!(b.cookies.contains_key(RESET));
        assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200, "{provider:?}");
        assert!(env.password_works(ALICE.0, NEW_PASSWORD).await);
        let sms = env.sandbox.outbox();
        assert_eq!(
            (sms.len(), sms[0].provider.as_str(), sms[0].to.as_str()),
            (1, provider.as_str(), ALICE.1),
            "{provider:?}"
        );
        assert_eq!((env.otp_starts(), env.otp_checks()), (1, 1), "{provider:?}");
        // One SIMCheck, no SubscriberCheck (not covered).
        assert_eq!(env.sandbox.truid().count("POST", "/sim_check/v0.1/checks"), 1);
        assert_eq!(env.sandbox.truid().count("POST", "/subscriber_check"), 0);
    }
}

#[tokio::test]
async fn login_needs_the_second_factor_with_each_provider() {
    for provider in PROVIDERS {
        let env = env_with(provider).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401, "no session before the second factor");
        // A wrong code first, then the right one.
        let sim = b.sim_check(&env, &csrf).await;
        assert_eq!(sim.json(), json!({ "next": "otp" }));
        assert_eq!(b.otp_start(&env, &csrf).await.json(), json!({ "status": "sent", "to_ending": "70" }));
        let code = env.last_code(ALICE.1);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = b.otp_verify(&env, &csrf, wrong).await;
        assert_eq!(
            (r.status, r.problem_type()),
            (400, Some("urn:simguard:problem:code_invalid".into())),
            "{provider:?}"
        );
        let ok = b.otp_verify(&env, &csrf, &code).await;
        assert_eq!((ok.status, ok.json()["next"].clone()), (200, json!("signed_in")), "{provider:?}: {}", ok.text());
        let me = b.send(&env, Event::get("/api/me")).await;
        assert_eq!((me.status, me.json()["email"].clone()), (200, json!(ALICE.0)), "{provider:?}");
        assert_eq!(env.otp_checks(), 2, "{provider:?}");
        // The code is spent: the flow is over.
        assert_eq!(b.otp_verify(&env, &csrf, &code).await.status, 409, "{provider:?}");
    }
}

#[tokio::test]
async fn a_resend_reuses_the_verification_in_flight() {
    for provider in PROVIDERS {
        let env = env_with(provider).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        b.sim_check(&env, &csrf).await;
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "{provider:?}: resend");
        let code = env.last_code(ALICE.1);
        let ok = b.otp_verify(&env, &csrf, &code).await;
        assert_eq!(ok.json()["next"], "signed_in", "{provider:?}: {}", ok.text());
    }
}

/// A code is checked only by the provider that sent it. Here otp-verify already runs with another
/// provider than the otp-start that sent the code (a configuration change mid-flow): the code goes
/// to no provider, and the user is asked for a new one.
#[tokio::test]
async fn a_provider_change_mid_flow_asks_for_a_new_code() {
    let env = Env::builder()
        .provider(OtpProviderKind::VonageV2)
        .var_for(simguard::Function::OtpVerify, "SIMGUARD_OTP_PROVIDER", "twilio")
        .start()
        .await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = login_csrf(&env, &mut b, ALICE.0).await;
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    let r = b.otp_verify(&env, &csrf, &code).await;
    assert_eq!((r.status, r.problem_type()), (409, Some("urn:simguard:problem:code_expired".into())), "{}", r.text());
    assert_eq!(env.otp_checks(), 0, "the Vonage request id was not sent to Twilio");
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401);
}

#[tokio::test]
async fn an_expired_code_asks_for_a_new_one() {
    for provider in PROVIDERS {
        let env = Env::builder().provider(provider).sandbox(|c| c.twilio.ttl_secs = 240).start().await;
        env.user(ALICE.0, ALICE.1).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        b.sim_check(&env, &csrf).await;
        b.otp_start(&env, &csrf).await;
        let old = env.last_code(ALICE.1);
        env.advance(301); // past Vonage's 300 s and this Twilio service's 240 s; inside our 10 minutes
        let r = b.otp_verify(&env, &csrf, &old).await;
        assert_eq!(
            (r.status, r.problem_type()),
            (409, Some("urn:simguard:problem:code_expired".into())),
            "{provider:?}: {}",
            r.text()
        );
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "{provider:?}");
        let ok = b.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await;
        assert_eq!(ok.json()["next"], "signed_in", "{provider:?}: {}", ok.text());
    }
}

/// A silent check that fails without a mismatch falls back to the SMS path; a mismatch
/// or a SIM change does not.
#[tokio::test]
async fn silent_failures_fall_back_to_sms_but_mismatches_do_not() {
    let env = env_with(OtpProviderKind::VonageV2).await;
    env.user("nina@example.com", "+447000000001").await;
    // Operator redirect error → silent_failed → SMS path.
    env.sandbox.truid().set_redirect_error(ALICE.1, "mno_redirect_unsupported");
    let mut b = Browser::default();
    let (csrf, cb) = b.silent_reset(&env, ALICE.0).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    let done = b.second_factor(&env, &csrf, ALICE.1).await;
    assert_eq!(done.json()["next"], "new_password", "{}", done.text());
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);

    // An expired check → silent_failed → SMS path too.
    let mut e = Browser::default();
    let start = e.start_reset(&env, "nina@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    env.advance(121);
    let cb = e.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert_eq!(e.sim_check(&env, start.json()["csrf"].as_str().expect("csrf")).await.json()["next"], "otp");

    // A mismatch closes the phone paths.
    let mut n = Browser::default();
    let (csrf, cb) = n.silent_reset(&env, "nina@example.com").await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=no_match"));
    let sends = env.otp_starts();
    assert_eq!(n.sim_check(&env, &csrf).await.status, 409);
    assert_eq!(n.otp_start(&env, &csrf).await.status, 409);
    assert_eq!(env.otp_starts(), sends);
}

/// S04 with C1: a SIM changed recently → no SMS, from any path; the owner is told.
#[tokio::test]
async fn s04_a_changed_sim_never_reaches_the_otp_provider() {
    for provider in PROVIDERS {
        let env = env_with(provider).await;
        env.user("sam@example.com", "+447000000008").await;
        // The silent path's SIM verdict closes the SMS path too.
        let mut s = Browser::default();
        let (csrf2, cb) = s.silent_reset(&env, "sam@example.com").await;
        assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=sim_changed"));
        assert_eq!(s.sim_check(&env, &csrf2).await.status, 409);
        assert_eq!(s.otp_start(&env, &csrf2).await.status, 409);
        // The reset's SMS path (a device off mobile data; past the 5-minute coverage cache).
        env.advance(301);
        let mut b = Browser::default();
        let csrf = start_sms_reset(&env, &mut b, "sam@example.com").await;
        // Refused without saying so on the anonymous reset path (S24): no SMS, no code verifies.
        b.quietly_refused(&env, &csrf).await;
        // Login.
        let mut l = Browser::default();
        let csrf3 = login_csrf(&env, &mut l, "sam@example.com").await;
        assert_eq!(l.sim_check(&env, &csrf3).await.json()["reason"], "sim_changed");
        assert_eq!(l.otp_start(&env, &csrf3).await.status, 409);
        assert_eq!(l.send(&env, Event::get("/api/me")).await.status, 401);

        assert_eq!((env.otp_starts(), env.sms_count()), (0, 0), "{provider:?}: the OTP provider was never called");
        // Told once: three blocked attempts within the hour are one email, not three.
        let kinds: Vec<_> = env.outbox.sent().iter().map(|n| n.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == NotificationKind::SimChangeBlocked).count(), 1, "{kinds:?}");
        env.advance(3600);
        let mut later = Browser::at("198.51.100.30");
        let csrf = login_csrf(&env, &mut later, "sam@example.com").await;
        later.sim_check(&env, &csrf).await;
        let kinds: Vec<_> = env.outbox.sent().iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == NotificationKind::SimChangeBlocked).count(),
            2,
            "a new hour: told again"
        );
    }
}

/// S05 and C3: 50 concurrent wrong codes → at most 5 reach the provider; the right code afterwards
/// fails too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s05_concurrent_guesses_are_capped_before_the_provider() {
    for provider in PROVIDERS {
        let env = Arc::new(env_with(provider).await);
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        b.sim_check(&env, &csrf).await;
        b.otp_start(&env, &csrf).await;
        let code = env.last_code(ALICE.1);
        let wrong = if code == "123456" { "654321" } else { "123456" };
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (env, mut b, csrf) = (env.clone(), b.clone(), csrf.clone());
            tasks.push(tokio::spawn(async move { b.otp_verify(&env, &csrf, wrong).await.status }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.expect("task"));
        }
        assert!(env.otp_checks() <= 5, "{provider:?}: {} checks reached the provider", env.otp_checks());
        // 409 code_expired: Vonage v1 ends a request after 3 wrong codes, so a 4th and 5th attempt
        // that passed our counter before the flow locked find it gone.
        assert!(statuses.iter().all(|s| matches!(s, 400 | 409 | 429)), "{provider:?}: {statuses:?}");
        assert!(statuses.iter().filter(|s| **s == 429).count() >= 45, "{provider:?}: {statuses:?}");
        let checks = env.otp_checks();
        let late = b.otp_verify(&env, &csrf, &code).await;
        assert_eq!(
            (late.status, late.problem_type()),
            (429, Some("urn:simguard:problem:too_many_attempts".into())),
            "{provider:?}"
        );
        assert_eq!(env.otp_checks(), checks, "the right code after the cap never reaches the provider");
        assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401);
        // The owner learns that the right password was followed by a failed second factor (D6).
        assert!(env.outbox.sent().iter().any(|n| n.kind == NotificationKind::SecondFactorFailed), "{provider:?}");
    }
}

/// S06 and F1: request flooding to one number stops before the provider.
#[tokio::test]
async fn s06_sends_are_limited_per_flow_and_per_number() {
    let env = env_with(OtpProviderKind::Twilio).await;
    let mut b = Browser::default();
    let csrf = login_csrf(&env, &mut b, ALICE.0).await;
    b.sim_check(&env, &csrf).await;
    for i in 0..3 {
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200, "send {i}");
    }
    let starts = env.otp_starts();
    let r = b.otp_start(&env, &csrf).await;
    assert_eq!((r.status, r.problem_type()), (429, Some("urn:simguard:problem:rate_limited".into())));
    assert_eq!(env.otp_starts(), starts, "the 4th send in a flow: no provider call");

    // Per number, across flows: 3 per 10 minutes (the flow above sent 3).
    let mut c = Browser::at("198.51.100.7");
    let csrf = login_csrf(&env, &mut c, ALICE.0).await;
    c.sim_check(&env, &csrf).await;
    assert_eq!(c.otp_start(&env, &csrf).await.status, 429);
    assert_eq!(env.otp_starts(), starts, "the 4th send to a number in 10 minutes: no provider call");
    env.advance(600);
    let mut d = Browser::at("198.51.100.8");
    let csrf = login_csrf(&env, &mut d, ALICE.0).await;
    d.sim_check(&env, &csrf).await;
    assert_eq!(d.otp_start(&env, &csrf).await.status, 200, "a new 10-minute window");
}

fn even_number(i: usize) -> String {
    // Ending in 2: the sandbox's SIMCheck says "no change" (and never 98/99, its error endings).
    // All share the prefix +44770090 (Ofcom's numbers for fiction: 07700 900000–900999).
    format!("+447700900{:03}", i * 10 + 2)
}

/// S07 and F1–F3: pumping across many numbers of one block, a global budget, a country allowlist.
#[tokio::test]
async fn s07_pumping_is_stopped_by_prefix_budget_and_country() {
    let env = Env::builder()
        .provider(OtpProviderKind::VonageV2)
        .var("SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR", "20")
        .var("SIMGUARD_LIMIT_SMS_PER_IP_HOUR", "1000")
        .var("SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR", "1000")
        .start()
        .await;
    env.no_coverage();
    // 100 accounts with adjacent numbers, registered from 100 addresses.
    for i in 0..100 {
        let mut r = Browser::at(&format!("10.1.{}.{}", i / 200, i % 200 + 1));
        let reg = r
            .send(
                &env,
                Event::post(
                    "/api/register",
                    json!({ "email": format!("p{i}@example.com"), "phone": even_number(i), "password": NEW_PASSWORD }),
                ),
            )
            .await;
        assert_eq!(reg.status, 201, "{}", reg.text());
    }
    let mut statuses = Vec::new();
    for i in 0..100 {
        let mut b = Browser::at(&format!("10.2.{}.{}", i / 200, i % 200 + 1));
        let csrf = start_sms_reset(&env, &mut b, &format!("p{i}@example.com")).await;
        let sim = b.sim_check(&env, &csrf).await;
        assert_eq!(sim.json()["next"], "otp", "{i} {} {}", even_number(i), sim.text());
        statuses.push(b.otp_start(&env, &csrf).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 20, "{statuses:?}");
    assert_eq!(env.otp_starts(), 20, "the prefix limit holds before the provider");

    // One global budget for every SMS, of which resets may use a quarter: sign-ins keep the rest.
    let env =
        Env::builder().provider(OtpProviderKind::VonageV2).var("SIMGUARD_LIMIT_SMS_GLOBAL_HOUR", "8").start().await;
    env.no_coverage();
    for i in 0..10 {
        env.user(&format!("g{i}@example.com"), &format!("+4478{:08}", i * 2 + 1000)).await;
    }
    let mut statuses = Vec::new();
    for i in 0..4 {
        let mut b = Browser::at(&format!("10.3.0.{}", i + 1));
        let csrf = start_sms_reset(&env, &mut b, &format!("g{i}@example.com")).await;
        b.sim_check(&env, &csrf).await;
        statuses.push(b.otp_start(&env, &csrf).await.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429], "resets: a quarter of 8");
    let mut statuses = Vec::new();
    for i in 2..10 {
        let mut b = Browser::at(&format!("10.4.0.{}", i + 1));
        let login = b.login(&env, &format!("g{i}@example.com"), PASSWORD).await;
        let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
        assert_eq!(b.sim_check(&env, &csrf).await.json(), json!({ "next": "otp" }));
        statuses.push(b.otp_start(&env, &csrf).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429], "sign-ins: the rest of the 8");
    assert_eq!(env.otp_starts(), 8, "one ceiling on every SMS, whatever the flow");

    // Countries: the allowlist (default +44) at registration and before any send.
    let env = env_with(OtpProviderKind::VonageV2).await;
    env.no_coverage();
    let mut r = Browser::default();
    let reg = r
        .send(
            &env,
            Event::post(
                "/api/register",
                json!({ "email": "fr@example.com", "phone": "+33612345678", "password": NEW_PASSWORD }),
            ),
        )
        .await;
    assert_eq!((reg.status, reg.problem_type()), (422, Some("urn:simguard:problem:phone_not_supported".into())));
    env.user("old-fr@example.com", "+33612345670").await; // registered before the allowlist changed
    let mut b = Browser::default();
    let csrf = start_sms_reset(&env, &mut b, "old-fr@example.com").await;
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    // On the reset path, the answer an unknown email gets (S24); no SMS either way.
    let r = b.otp_start(&env, &csrf).await;
    assert_eq!(r.json(), json!({ "status": "sent" }), "{}", r.text());
    // Signing in, the owner is told (they proved the password).
    let mut l = Browser::at("198.51.100.77");
    let csrf = login_csrf(&env, &mut l, "old-fr@example.com").await;
    assert_eq!(l.sim_check(&env, &csrf).await.json()["next"], "otp");
    let r = l.otp_start(&env, &csrf).await;
    assert_eq!((r.status, r.problem_type()), (422, Some("urn:simguard:problem:phone_not_supported".into())));
    assert_eq!(env.otp_starts(), 0);
}

/// S08 and A1 on the SMS path: an unknown email goes through every step like a known one, and
/// nothing is ever sent for it.
#[tokio::test]
async fn s08_unknown_emails_walk_the_same_path_and_get_no_sms() {
    let env = env_with(OtpProviderKind::VonageV1).await;
    let mut known = Browser::default();
    let mut unknown = Browser::at("198.51.100.3");
    let k = start_sms_reset(&env, &mut known, ALICE.0).await;
    let u = start_sms_reset(&env, &mut unknown, "nobody@example.com").await;
    let (ks, us) = (known.sim_check(&env, &k).await, unknown.sim_check(&env, &u).await);
    assert_eq!((ks.status, ks.body.clone()), (us.status, us.body.clone()));
    let (ko, uo) = (known.otp_start(&env, &k).await, unknown.otp_start(&env, &u).await);
    assert_eq!((ko.status, ko.body.clone()), (uo.status, uo.body.clone()));
    // Resend looks the same too.
    let (ko, uo) = (known.otp_start(&env, &k).await, unknown.otp_start(&env, &u).await);
    assert_eq!((ko.status, ko.body.clone()), (uo.status, uo.body.clone()));
    let r = unknown.otp_verify(&env, &u, "123456").await;
    assert_eq!((r.status, r.problem_type()), (400, Some("urn:simguard:problem:code_invalid".into())));
    assert_eq!(env.sms_count(), 1, "one SMS, to the known account only");
    assert_eq!(env.sandbox.truid().count("POST", "/sim_check"), 1, "no SIMCheck for the unknown email");
    // And the unknown flow's attempts are capped like any other.
    for _ in 0..4 {
        unknown.otp_verify(&env, &u, "123456").await;
    }
    assert_eq!(unknown.otp_verify(&env, &u, "123456").await.status, 429);
}

/// S15: no state crosses between users served by one process (one execution environment).
#[tokio::test]
async fn s15_flows_of_different_users_do_not_cross() {
    for provider in PROVIDERS {
        let env = env_with(provider).await;
        env.user("bob@example.com", "+447700900002").await;
        let mut a = Browser::default();
        let mut b = Browser::at("198.51.100.4");
        let ca = login_csrf(&env, &mut a, ALICE.0).await;
        let cb = login_csrf(&env, &mut b, "bob@example.com").await;
        a.sim_check(&env, &ca).await;
        b.sim_check(&env, &cb).await;
        a.otp_start(&env, &ca).await;
        b.otp_start(&env, &cb).await;
        let (alice_code, bob_code) = (env.last_code(ALICE.1), env.last_code("+447700900002"));
        if alice_code != bob_code {
            assert_eq!(
                b.otp_verify(&env, &cb, &alice_code).await.status,
                400,
                "{provider:?}: alice's code is not bob's"
            );
        }
        assert_eq!(b.otp_verify(&env, &cb, &bob_code).await.json()["next"], "signed_in");
        assert_eq!(a.otp_verify(&env, &ca, &alice_code).await.json()["next"], "signed_in");
        assert_eq!(a.send(&env, Event::get("/api/me")).await.json()["email"], ALICE.0);
        assert_eq!(b.send(&env, Event::get("/api/me")).await.json()["email"], "bob@example.com");
    }
}

/// A session is the browser's own: another browser's second factor does not sign this one in.
#[tokio::test]
async fn a_session_never_skips_the_second_factor() {
    let env = env_with(OtpProviderKind::Twilio).await;
    let mut done = Browser::default();
    done.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let mut other = Browser::at("198.51.100.5");
    let csrf = login_csrf(&env, &mut other, ALICE.0).await;
    assert_eq!(other.send(&env, Event::get("/api/me")).await.status, 401);
    // Its own flow has sent nothing: the code from the other session cannot complete it.
    let r = other.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await;
    assert_eq!(r.status, 409);
    assert_eq!(other.send(&env, Event::get("/api/me")).await.status, 401);
}

/// S16: the new-account grace, through the handlers, with the clock.
#[tokio::test]
async fn s16_the_new_account_grace() {
    let env = env_with(OtpProviderKind::VonageV2).await;
    // Odd last digit: the sandbox's SIMCheck reports a SIM change.
    user_registered(&env, "newbie@example.com", "+447700900007", 1, false).await;
    user_registered(&env, "weekold@example.com", "+447700900017", 7, false).await;
    user_registered(&env, "verified@example.com", "+447700900027", 2, true).await;

    // New and never verified: login goes ahead, and that verification closes the grace.
    let mut b = Browser::default();
    b.sign_in(&env, "newbie@example.com", PASSWORD, "+447700900007").await;
    assert!(env.stored_user("newbie@example.com").await.phone_verified_at.is_some());
    let mut again = Browser::at("198.51.100.6");
    let csrf = login_csrf(&env, &mut again, "newbie@example.com").await;
    assert_eq!(again.sim_check(&env, &csrf).await.json()["reason"], "sim_changed");

    // Registered exactly 7 days ago, or verified once: no grace.
    for email in ["weekold@example.com", "verified@example.com"] {
        let mut b = Browser::at("198.51.100.9");
        let csrf = login_csrf(&env, &mut b, email).await;
        assert_eq!(b.sim_check(&env, &csrf).await.json()["reason"], "sim_changed", "{email}");
    }
    // Never for a reset (refused without saying so, S24).
    user_registered(&env, "fresh@example.com", "+447700900037", 1, false).await;
    let mut r = Browser::at("198.51.100.10");
    let csrf = start_sms_reset(&env, &mut r, "fresh@example.com").await;
    r.quietly_refused(&env, &csrf).await;
}

async fn unreachable_truid(truid_answer: wiremock::ResponseTemplate, policy: UnavailablePolicy) -> Env {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token":"t","token_type":"bearer","expires_in":3600})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/sim_check/v0.1/checks")).respond_with(truid_answer).mount(&server).await;
    let secrets = Arc::new(simguard::adapters::secrets::StaticSecrets::new(simguard::ports::ProviderSecrets {
        truid_client_id: Some("id".into()),
        truid_client_secret: Some("secret".to_owned().into()),
        ..Default::default()
    }));
    let truid = simguard::adapters::truid_http::TruIdClient::new(
        simguard::adapters::truid_http::TruIdHttpConfig {
            base_url: url::Url::parse(&server.uri()).expect("url"),
            timeout: Duration::from_millis(300),
        },
        secrets,
        Arc::new(simguard::adapters::clock::ManualClock::new(Timestamp(T0))),
    )
    .expect("client");
    let env = Env::builder()
        .provider(OtpProviderKind::VonageV2)
        .truid(Arc::new(truid))
        .var(
            "SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY",
            if policy == UnavailablePolicy::AllowWithNotice { "allow_with_notice" } else { "deny" },
        )
        .keep_alive(server)
        .start()
        .await;
    env.user(ALICE.0, ALICE.1).await;
    env
}

/// S17 and R2: tru.ID slow or down. Default: refuse, in time. Opt-in for login only: go ahead
/// with one send, three tries, and an email to the owner.
#[tokio::test]
async fn s17_no_sim_answer_follows_the_configured_policy() {
    use wiremock::ResponseTemplate;
    for answer in [ResponseTemplate::new(201).set_delay(Duration::from_secs(5)), ResponseTemplate::new(503)] {
        let env = unreachable_truid(answer.clone(), UnavailablePolicy::Deny).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        let started = std::time::Instant::now();
        let sim = b.sim_check(&env, &csrf).await;
        assert!(started.elapsed() < Duration::from_secs(3), "answered within the deadline");
        assert_eq!(sim.json(), json!({ "next": "blocked", "reason": "sim_unavailable" }));
        assert_eq!(env.otp_starts(), 0);

        let env = unreachable_truid(answer, UnavailablePolicy::AllowWithNotice).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        assert_eq!(b.sim_check(&env, &csrf).await.json(), json!({ "next": "otp" }));
        assert!(env.outbox.sent().iter().any(|n| n.kind == NotificationKind::SignInWithoutSimCheck));
        assert_eq!(b.otp_start(&env, &csrf).await.status, 200);
        assert_eq!(b.otp_start(&env, &csrf).await.status, 429, "one send only without a SIM answer");
        for i in 0..3 {
            let r = b.otp_verify(&env, &csrf, "999999").await;
            // Vonage v2 itself ends a verification at the third wrong code.
            let want: &[u16] = if i < 2 { &[400] } else { &[400, 429] };
            assert!(want.contains(&r.status), "attempt {i}: {}", r.text());
        }
        assert_eq!(b.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await.status, 429, "three tries only");
        // A reset never goes ahead without a SIM answer (refused without saying so, S24).
        let mut r = Browser::at("198.51.100.11");
        let start = r.start_reset(&env, ALICE.0).await;
        let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
        r.quietly_refused(&env, &csrf).await;
    }
}

/// S18 and A3: reset flooding is not a lockout tool.
#[tokio::test]
async fn s18_a_hundred_reset_starts_do_not_lock_the_account() {
    let env = env_with(OtpProviderKind::VonageV2).await;
    let mut limited = 0;
    for i in 0..100 {
        let r = Browser::at(&format!("10.9.{}.{}", i / 200, i % 200 + 1)).start_reset(&env, ALICE.0).await;
        if r.status == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 95);
    assert!(env.password_works(ALICE.0, PASSWORD).await);
    Browser::default().sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
}

/// An OTP provider whose answers are scripted.
struct ScriptedOtp {
    start: Result<simguard::ports::OtpReference, simguard::ports::OtpError>,
    check: Result<simguard::ports::OtpCheck, simguard::ports::OtpError>,
}

#[async_trait::async_trait]
impl simguard::ports::OtpProvider for ScriptedOtp {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn start(&self, _to: &Phone, _r: &str) -> Result<simguard::ports::OtpReference, simguard::ports::OtpError> {
        self.start.clone()
    }
    async fn check(
        &self,
        _r: &simguard::ports::OtpReference,
        _to: &Phone,
        _c: &simguard::ports::OtpCode,
    ) -> Result<simguard::ports::OtpCheck, simguard::ports::OtpError> {
        self.check.clone()
    }
    async fn cancel(&self, _r: &simguard::ports::OtpReference) -> Result<(), simguard::ports::OtpError> {
        Ok(())
    }
    async fn send_notice(
        &self,
        _to: &Phone,
        _from: &simguard::ports::SmsSender,
        _text: &str,
    ) -> Result<(), simguard::ports::OtpError> {
        self.start.clone().map(|_| ())
    }
}

/// Every provider error maps to an outcome; none reaches the user as a 500.
#[tokio::test]
async fn no_provider_error_is_a_500() {
    use simguard::ports::{OtpCheck, OtpError, OtpReference};
    let errors = [
        (OtpError::InFlight { reference: None }, 429, "rate_limited"),
        (OtpError::NumberRefused { kind: "landline" }, 422, "phone_not_supported"),
        (OtpError::RateLimited { retry_after_secs: Some(30) }, 429, "rate_limited"),
        (OtpError::Unauthorized, 503, "sms_unavailable"),
        (OtpError::Timeout, 503, "sms_unavailable"),
        (OtpError::Unavailable("x".into()), 503, "sms_unavailable"),
        (OtpError::InvalidResponse("x".into()), 503, "sms_unavailable"),
    ];
    let reference = OtpReference::parse("abc123").expect("ref");
    for (error, status, slug) in errors.clone() {
        let otp = Arc::new(ScriptedOtp { start: Err(error.clone()), check: Ok(OtpCheck::Approved) });
        let env = Env::builder().otp(otp).start().await;
        env.user(ALICE.0, ALICE.1).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        b.sim_check(&env, &csrf).await;
        let r = b.otp_start(&env, &csrf).await;
        assert_eq!(
            (r.status, r.problem_type()),
            (status, Some(format!("urn:simguard:problem:{slug}"))),
            "start: {error:?}"
        );
    }
    for (error, _, _) in errors {
        let otp = Arc::new(ScriptedOtp { start: Ok(reference.clone()), check: Err(error.clone()) });
        let env = Env::builder().otp(otp).start().await;
        env.user(ALICE.0, ALICE.1).await;
        let mut b = Browser::default();
        let csrf = login_csrf(&env, &mut b, ALICE.0).await;
        b.sim_check(&env, &csrf).await;
        b.otp_start(&env, &csrf).await;
        let r = b.otp_verify(&env, &csrf, "123456").await;
        assert_eq!(
            (r.status, r.problem_type()),
            (503, Some("urn:simguard:problem:sms_unavailable".into())),
            "check: {error:?}"
        );
        assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401, "an error never signs in");
    }
}

/// The SMS path and login 2FA with the whole app on the DynamoDB store (moto's server).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sms_paths_on_dynamodb() {
    let env = Env::builder().provider(OtpProviderKind::Twilio).dynamodb().await.start().await;
    env.user(ALICE.0, ALICE.1).await;
    // Login 2FA, and the first verification recorded.
    let mut b = Browser::default();
    b.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    assert_eq!(b.send(&env, Event::get("/api/me")).await.json()["email"], ALICE.0);
    assert!(env.stored_user(ALICE.0).await.phone_verified_at.is_some());
    // The reset's SMS path to a new password; the old session dies with it.
    let mut r = Browser::at("198.51.100.40");
    let csrf = start_sms_reset(&env, &mut r, ALICE.0).await;
    env.advance(600); // a fresh 10-minute SMS window for the number
    assert_eq!(r.sim_check(&env, &csrf).await.status, 409, "the flow outlived its 10 minutes");
    let mut r = Browser::at("198.51.100.41");
    let csrf = start_sms_reset(&env, &mut r, ALICE.0).await;
    assert_eq!(r.second_factor(&env, &csrf, ALICE.1).await.json()["next"], "new_password");
    assert_eq!(r.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401);
    // The attempt cap holds on DynamoDB too.
    let mut l = Browser::at("198.51.100.42");
    let login = l.login(&env, ALICE.0, NEW_PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    l.sim_check(&env, &csrf).await;
    l.otp_start(&env, &csrf).await;
    for _ in 0..5 {
        assert_eq!(l.otp_verify(&env, &csrf, "000001").await.status, 400);
    }
    assert_eq!(l.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await.status, 429);
}

/// The code page can say where a sign-in's code went (the last two digits: the password is proven)
/// and how many tries are left — counting the provider's own limit (Vonage ends a verification at
/// its third wrong code, Twilio at its fifth check). A reset never says where its code went.
#[tokio::test]
async fn the_code_page_learns_where_a_sign_in_code_went_and_the_tries_left() {
    for (provider, first_left) in
        [(OtpProviderKind::VonageV1, 2), (OtpProviderKind::VonageV2, 2), (OtpProviderKind::Twilio, 4)]
    {
        let env = env_with(provider).await;
        let mut b = Browser::at("198.51.100.40");
        let login = b.login(&env, ALICE.0, PASSWORD).await;
        let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
        assert_eq!(b.sim_check(&env, &csrf).await.json(), json!({ "next": "otp" }));
        let sent = b.otp_start(&env, &csrf).await;
        assert_eq!(sent.json(), json!({ "status": "sent", "to_ending": "70" }), "{provider:?}");
        let code = env.last_code(ALICE.1);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = b.otp_verify(&env, &csrf, wrong).await;
        assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:code_invalid"), "{}", r.text());
        assert_eq!(r.json()["attempts_left"], first_left, "{provider:?}");
        let r = b.otp_verify(&env, &csrf, wrong).await;
        assert_eq!(r.json()["attempts_left"], first_left - 1, "{provider:?}");

        // A reset's answer names no number, for a registered email as for an unknown one.
        for email in [ALICE.0, "nobody@example.com"] {
            let mut r = Browser::at("198.51.100.41");
            let csrf = start_sms_reset(&env, &mut r, email).await;
            assert_eq!(r.sim_check(&env, &csrf).await.json(), json!({ "next": "otp" }));
            let sent = r.otp_start(&env, &csrf).await;
            assert_eq!(sent.json(), json!({ "status": "sent" }), "{provider:?} {email}");
        }
    }
}
