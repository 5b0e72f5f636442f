//! The attack scenarios of docs/security.md (S01–S20), and the A-requirements of the reset start, as
//! tests.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::json;
use simguard::domain::{CheckStatus, Phone};
use simguard::ports::truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport,
};
use simguard::ports::{TruId, TruIdError};
use simguard_sandbox::CoverageRule;

use crate::support::*;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// S01: the attacker completes a check on their own phone, then tries to spend it on the victim.
#[tokio::test]
async fn s01_an_attackers_own_check_cannot_reset_the_victim() {
    let env = Env::start().await;
    env.user("mallory@example.com", "+447700900002").await; // a number that passes
    env.user("victim@example.com", "+447000000070").await;

    // The attacker's verified flow, for their own account.
    let mut attacker = Browser::default();
    let start = attacker.start_reset(&env, "mallory@example.com").await;
    let own_check = env.device_visit(start.json()["check_url"].as_str().expect("check_url")).await;

    // (a) They start a reset for the victim in their browser, then feed the callback their own
    //     completed check: the check is not the one bound to this flow → refused, no PATCH.
    let mut as_victim = Browser::default();
    let victim_start = as_victim.start_reset(&env, "victim@example.com").await;
    assert_eq!(victim_start.json()["next"], "silent");
    let cb = as_victim.follow_to_callback(&env, &own_check).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    assert_eq!(env.patches(), 0);
    let csrf = victim_start.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(as_victim.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);

    // (b) They complete their own flow, then name the victim in the body: the body has no say.
    let cb = attacker.follow_to_callback(&env, &own_check).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"));
    let own_csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    let r = attacker
        .send(
            &env,
            Event::post("/api/reset/password", json!({ "password": NEW_PASSWORD, "email": "victim@example.com" }))
                .csrf(&own_csrf),
        )
        .await;
    assert_eq!(r.status, 400);

    // (c) They graft their verified cookies onto the victim's flow cookie: the reset token belongs
    //     to the attacker's flow, not the victim's.
    let mut graft = as_victim.clone();
    graft.cookies.insert(RESET.into(), attacker.cookies[RESET].clone());
    assert_eq!(graft.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);

    assert!(env.password_works("victim@example.com", PASSWORD).await);
    // Spending their own proof on their own account still works.
    assert_eq!(attacker.set_password(&env, &own_csrf, NEW_PASSWORD).await.status, 200);
    assert!(env.password_works("victim@example.com", PASSWORD).await);
    assert!(env.password_works("mallory@example.com", NEW_PASSWORD).await);
}

/// S02: the attacker starts a reset for the victim and gets the victim's phone to open check_url.
/// The operator honestly says "match" — but the redirect lands in a browser without the flow cookie.
#[tokio::test]
async fn s02_a_relayed_check_url_is_useless() {
    let env = Env::start().await;
    env.user("victim@example.com", "+447000000070").await;
    let mut attacker = Browser::default();
    let start = attacker.start_reset(&env, "victim@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("check_url")).await;

    // The victim's browser: no cookie, or a cookie of some other flow of its own.
    let mut victim = Browser::default();
    let cb = victim.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    victim.start_reset(&env, "someone@example.com").await;
    let cb = victim.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    assert_eq!(env.patches(), 0, "tru.ID never sees the code");

    // The attacker's flow is still waiting; it cannot set a password.
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(attacker.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("victim@example.com", PASSWORD).await);
}

/// S03: the same callback URL replayed (history, logs, Referer), also concurrently.
#[tokio::test]
async fn s03_a_callback_works_once() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("check_url")).await;

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let mut b = b.clone();
        let location = location.clone();
        let env = &env;
        tasks.push(async move { b.follow_to_callback(env, &location).await.location() });
    }
    let results = futures::future::join_all(tasks).await;
    let ok = results.iter().filter(|l| l.as_deref() == Some("/reset/new-password.html")).count();
    assert_eq!(ok, 1, "{results:?}");
    // The others were refused, or (the same browser, while the first may still run) asked to wait.
    assert!(
        results.iter().all(|l| matches!(
            l.as_deref(),
            Some("/reset/new-password.html" | "/reset/result.html?r=link_invalid" | "/reset/result.html?r=in_progress")
        )),
        "{results:?}"
    );
    assert_eq!(env.patches(), 1, "exactly one PATCH");

    let later = b.follow_to_callback(&env, &location).await;
    assert_eq!(later.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    assert_eq!(env.patches(), 1);
}

/// A tru.ID double whose SubscriberCheck answers are scripted, counting every call.
struct ScriptedTruId {
    report: Result<SubscriberCheckReport, TruIdError>,
    get_report: Result<SubscriberCheckReport, TruIdError>,
    patches: AtomicUsize,
    gets: AtomicUsize,
}

const CHECK: &str = CHECK_ID;

#[async_trait]
impl TruId for ScriptedTruId {
    async fn coverage(&self, _ip: IpAddr) -> Result<Coverage, TruIdError> {
        Ok(Coverage::SubscriberCheck)
    }
    async fn create_subscriber_check(&self, _c: &NewSubscriberCheck) -> Result<CreatedCheck, TruIdError> {
        Ok(created_check())
    }
    async fn complete_subscriber_check(
        &self,
        _id: &CheckId,
        _code: &CheckCode,
    ) -> Result<SubscriberCheckReport, TruIdError> {
        self.patches.fetch_add(1, Ordering::SeqCst);
        self.report.clone()
    }
    async fn get_subscriber_check(&self, _id: &CheckId) -> Result<SubscriberCheckReport, TruIdError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.get_report.clone()
    }
    async fn create_sim_check(&self, _p: &Phone, _r: &str, _m: u32) -> Result<SimCheckReport, TruIdError> {
        Err(TruIdError::Unavailable("not scripted".into()))
    }
}

fn report(status: CheckStatus, matched: Option<bool>, nsc: Option<bool>) -> SubscriberCheckReport {
    SubscriberCheckReport { status, matched, no_sim_change: nsc, sim_change_within: None, error_code: None }
}

async fn scripted_outcome(
    r: Result<SubscriberCheckReport, TruIdError>,
    get: Result<SubscriberCheckReport, TruIdError>,
) -> (Option<String>, Arc<ScriptedTruId>, bool) {
    let truid =
        Arc::new(ScriptedTruId { report: r, get_report: get, patches: AtomicUsize::new(0), gets: AtomicUsize::new(0) });
    let env = Env::builder().truid(truid.clone()).start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    assert_eq!(start.json()["next"], "silent");
    let cb = b.send(&env, Event::get("/api/reset/callback").query(&format!("check_id={CHECK}&code=abc123"))).await;
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    let reset_ok = b.set_password(&env, &csrf, NEW_PASSWORD).await.status == 200;
    (cb.location(), truid, reset_ok)
}

/// S04 and B3 through the handler: every status and field combination; only a complete,
/// positive answer resets. A missing `no_sim_change` is a SIM change, not a pass.
#[tokio::test]
async fn s04_only_a_positive_complete_answer_resets() {
    use CheckStatus::*;
    let cases = [
        (report(Completed, Some(true), Some(true)), "/reset/new-password.html", true),
        (report(Completed, Some(true), Some(false)), "/reset/result.html?r=sim_changed", false),
        (report(Completed, Some(true), None), "/reset/result.html?r=sim_changed", false),
        (report(Completed, Some(false), Some(true)), "/reset/result.html?r=no_match", false),
        (report(Completed, Some(false), Some(false)), "/reset/result.html?r=sim_changed", false),
        (report(Completed, None, Some(true)), "/reset/result.html?r=silent_failed", false),
        (report(Completed, None, None), "/reset/result.html?r=silent_failed", false),
        (report(Expired, Some(true), Some(true)), "/reset/result.html?r=silent_failed", false),
        (report(Error, None, None), "/reset/result.html?r=silent_failed", false),
        (report(Pending, Some(true), Some(true)), "/reset/result.html?r=silent_failed", false),
        (report(Unknown, Some(true), Some(true)), "/reset/result.html?r=silent_failed", false),
    ];
    for (r, want, resets) in cases {
        let (location, truid, reset_ok) = scripted_outcome(Ok(r.clone()), Err(TruIdError::Timeout)).await;
        assert_eq!(location.as_deref(), Some(want), "{r:?}");
        assert_eq!(reset_ok, resets, "{r:?}");
        assert_eq!(truid.patches.load(Ordering::SeqCst), 1);
        assert_eq!(truid.gets.load(Ordering::SeqCst), 0, "a PATCH that answered is not re-read");
    }
    // Provider refusals of the code: denied, never retried.
    for e in [
        TruIdError::Problem { status: 404, slug: Some("check_not_found".into()) },
        TruIdError::Unauthorized,
        TruIdError::InvalidResponse("x".into()),
    ] {
        let (location, truid, reset_ok) =
            scripted_outcome(Err(e.clone()), Ok(report(Completed, Some(true), Some(true)))).await;
        assert_eq!(location.as_deref(), Some("/reset/result.html?r=silent_failed"), "{e:?}");
        assert!(!reset_ok);
        assert_eq!((truid.patches.load(Ordering::SeqCst), truid.gets.load(Ordering::SeqCst)), (1, 0), "{e:?}");
    }
}

/// docs/security.md R1: a PATCH whose answer was lost is never repeated; one GET learns what it did.
#[tokio::test]
async fn a_lost_patch_answer_is_read_back_not_retried() {
    let (location, truid, reset_ok) =
        scripted_outcome(Err(TruIdError::Timeout), Ok(report(CheckStatus::Completed, Some(true), Some(true)))).await;
    assert_eq!(location.as_deref(), Some("/reset/new-password.html"));
    assert!(reset_ok);
    assert_eq!((truid.patches.load(Ordering::SeqCst), truid.gets.load(Ordering::SeqCst)), (1, 1));

    let (location, truid, reset_ok) =
        scripted_outcome(Err(TruIdError::Unavailable("503".into())), Err(TruIdError::Timeout)).await;
    assert_eq!(location.as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert!(!reset_ok);
    assert_eq!((truid.patches.load(Ordering::SeqCst), truid.gets.load(Ordering::SeqCst)), (1, 1));
}

/// S09: 20 concurrent completions of one verified flow, each with its own password — through the
/// handlers, on the in-memory store and on DynamoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s09_concurrent_completions_have_one_winner() {
    s09(Env::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s09_concurrent_completions_have_one_winner_on_dynamodb() {
    s09(Env::builder().dynamodb().await.start().await).await;
}

async fn s09(env: Env) {
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let (csrf, _) = b.silent_reset(&env, "alice@example.com").await;
    let env = Arc::new(env);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (env, mut b, csrf) = (env.clone(), b.clone(), csrf.clone());
        tasks.push(tokio::spawn(async move {
            let pw = format!("concurrent passphrase number {i}");
            (b.set_password(&env, &csrf, &pw).await.status, pw)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (status, pw) = t.await.expect("task");
        match status {
            200 => winners.push(pw),
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one completion wins");
    assert!(env.password_works("alice@example.com", &winners[0]).await, "the stored hash is the winner's");
    assert_eq!(env.stored_user("alice@example.com").await.credential_version, 1);
    let alice = env.stored_user("alice@example.com").await;
    assert_eq!(env.audit_events(&alice.id).await.len(), 1);
    assert_eq!(env.outbox.sent().len(), 1);
}

/// S11 and G1: the reset form cannot be posted from another site.
#[tokio::test]
async fn s11_csrf_on_the_reset_form() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let (csrf, _) = b.silent_reset(&env, "alice@example.com").await;
    let post = || Event::post("/api/reset/password", json!({ "password": "attacker chosen passphrase" }));
    let attempts = [
        ("no token", post()),
        ("wrong token", post().csrf("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        (
            "foreign origin",
            post().csrf(&csrf).header("origin", "https://evil.tld").header("sec-fetch-site", "cross-site"),
        ),
        ("cross-site fetch", post().csrf(&csrf).without_header("origin").header("sec-fetch-site", "cross-site")),
        (
            "cross-site form",
            Event::new("POST", "/api/reset/password")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "https://evil.tld")
                .header("sec-fetch-site", "cross-site")
                .body("password=attacker+chosen+passphrase".into()),
        ),
        ("null origin", post().csrf(&csrf).header("origin", "null").header("sec-fetch-site", "cross-site")),
    ];
    for (what, event) in attempts {
        let r = b.send(&env, event).await;
        assert_eq!((r.status, r.problem_type()), (403, Some("urn:simguard:problem:csrf_rejected".into())), "{what}");
    }
    assert!(env.password_works("alice@example.com", PASSWORD).await);
    // Our own page, with the token, still works.
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);
}

/// S12 and A6: the tru.ID redirect_url comes from configuration, whatever the Host says.
#[tokio::test]
async fn s12_redirect_url_ignores_the_host_header() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let r = b
        .send(
            &env,
            Event::post("/api/reset/check", json!({ "email": "alice@example.com" }))
                .header("host", "evil.tld")
                .header("x-forwarded-host", "evil.tld"),
        )
        .await;
    assert_eq!(r.json()["next"], "silent");
    let checks = env.sandbox.truid().checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].redirect_url.as_deref(), Some("https://app.example/api/reset/callback"));
    // No PII in the reference sent to tru.ID.
    let reference = checks[0].reference_id.clone().unwrap_or_default();
    assert_eq!(reference.len(), 32);
    assert!(!reference.contains("alice") && !reference.contains("7000000070"));
    // Every redirect we answer with is one of our fixed, relative pages.
    let cb = b.send(&env, Event::get("/api/reset/callback").query("check_id=x&code=y&next=https://evil.tld")).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
}

/// S13 and A5: `X-Forwarded-For` changes nothing — not the coverage lookup, not the limits.
#[tokio::test]
async fn s13_x_forwarded_for_is_ignored() {
    let env = Env::builder().var("SIMGUARD_LIMIT_RESET_PER_IP_HOUR", "3").start().await;
    env.user("alice@example.com", "+447000000070").await;
    env.sandbox.truid().set_coverage("203.0.113.7".parse().expect("ip"), CoverageRule::Covered);
    let mut b = Browser::at("203.0.113.7");
    let spoof = |xff: &str| Event::get("/api/coverage").header("x-forwarded-for", xff);
    let r = b.send(&env, spoof("1.1.1.1/../../x")).await;
    assert_eq!(r.json(), json!({ "silent": true }));
    let paths: Vec<String> = env.sandbox.truid().requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&"/coverage/v0.1/device_ips/203.0.113.7".to_owned()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains("1.1.1.1") || p.contains("..") || p.contains("/x")), "{paths:?}");

    // The per-IP limit counts the real source, however the header varies.
    for (i, xff) in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"].iter().enumerate() {
        let r = b
            .send(
                &env,
                Event::post("/api/reset/check", json!({ "email": format!("user{i}@example.com") }))
                    .header("x-forwarded-for", xff),
            )
            .await;
        assert_eq!(r.status, if i < 3 { 200 } else { 429 }, "attempt {i}");
    }
    // A different source address is a different bucket.
    let mut other = Browser::at("198.51.100.9");
    assert_eq!(other.start_reset(&env, "user9@example.com").await.status, 200);
}

/// A request that reached us without a usable source address is refused, not guessed.
#[tokio::test]
async fn no_source_ip_no_service() {
    let env = Env::start().await;
    let r = env.send(&Event::get("/api/coverage").ip("not-an-ip").header("x-forwarded-for", "203.0.113.1")).await;
    assert_eq!(r.status, 400);
    assert_eq!(env.provider_calls(), 0);
}

/// S19: a session from before the reset is dead afterwards.
#[tokio::test]
async fn s19_sessions_do_not_survive_a_reset() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut thief = Browser::default();
    thief.sign_in(&env, "alice@example.com", PASSWORD, "+447000000070").await;
    assert_eq!(thief.send(&env, Event::get("/api/me")).await.status, 200);

    let mut owner = Browser::default();
    let (csrf, _) = owner.silent_reset(&env, "alice@example.com").await;
    assert_eq!(owner.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);

    let me = thief.send(&env, Event::get("/api/me")).await;
    assert_eq!(me.status, 401);
    assert!(!thief.cookies.contains_key(SESSION), "the dead cookie is cleared");
}

/// A1: an unknown email gets what a known, uncovered user gets — status, headers, cookies, body shape.
#[tokio::test]
async fn a1_unknown_emails_look_like_uncovered_users() {
    let env = Env::builder().start().await;
    env.user("alice@example.com", "+447000000070").await;
    env.user("ursula@example.com", "+447700900098").await; // covered device, unsupported number
    env.sandbox.truid().set_coverage("198.51.100.20".parse().expect("ip"), CoverageRule::NotMobileIp);

    let shape = |r: &Resp| {
        let names: BTreeSet<String> = r.headers.keys().map(|k| k.as_str().to_owned()).collect();
        let cookies: Vec<String> = r
            .set_cookies()
            .iter()
            .map(|c| {
                c.split(';')
                    .map(|p| {
                        if p.contains('=') && !p.contains("Max-Age") && !p.contains("Path") && !p.contains("SameSite") {
                            p.split('=').next().unwrap_or("").to_owned()
                        } else {
                            p.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .collect();
        let body = r.json();
        let keys: BTreeSet<String> = body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        let csrf_len = body["csrf"].as_str().map(str::len);
        (r.status, names, cookies, keys, body["next"].clone(), csrf_len)
    };
    let ask = |ip: &'static str, email: &'static str| {
        let env = &env;
        async move { Browser::at(ip).start_reset(env, email).await }
    };
    let uncovered = shape(&ask("198.51.100.20", "alice@example.com").await);
    let unknown_uncovered = shape(&ask("198.51.100.20", "nobody@example.com").await);
    let unknown_covered = shape(&ask("127.0.0.1", "nobody@example.com").await);
    let unsupported_number = shape(&ask("127.0.0.1", "ursula@example.com").await);
    assert_eq!(uncovered.4, json!("sms"));
    assert_eq!(uncovered, unknown_uncovered);
    assert_eq!(uncovered, unknown_covered);
    assert_eq!(uncovered, unsupported_number);
}

/// A4: per account, per IP and a global budget; over any of them nothing reaches a provider.
#[tokio::test]
async fn a4_reset_starts_are_limited_before_any_provider_call() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    for i in 0..5 {
        let r = Browser::at(&format!("198.51.100.{i}")).start_reset(&env, "alice@example.com").await;
        assert_eq!(r.status, 200);
    }
    let calls = env.provider_calls();
    // The 6th for the account within the hour — from a fresh IP, and with the email's case changed.
    let r = Browser::at("198.51.100.77").start_reset(&env, "ALICE@example.com").await;
    assert_eq!((r.status, r.problem_type()), (429, Some("urn:simguard:problem:rate_limited".into())));
    assert!(r.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s > 0 && s <= 3600));
    assert_eq!(env.provider_calls(), calls, "no provider call once limited");
    // An unknown email is limited the same way (A1).
    for _ in 0..5 {
        Browser::at("198.51.100.90").start_reset(&env, "nobody@example.com").await;
    }
    assert_eq!(Browser::at("198.51.100.91").start_reset(&env, "nobody@example.com").await.status, 429);
    // A new hour, a new window.
    env.advance(3600);
    assert_eq!(Browser::at("198.51.100.77").start_reset(&env, "alice@example.com").await.status, 200);
}

#[tokio::test]
async fn a4_per_ip_and_global_budgets() {
    let env = Env::builder().var("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR", "4").start().await;
    env.user("alice@example.com", "+447000000070").await;
    for i in 0..4 {
        assert_eq!(
            Browser::at(&format!("198.51.100.{i}")).start_reset(&env, &format!("u{i}@example.com")).await.status,
            200
        );
    }
    let calls = env.provider_calls();
    let r = Browser::at("198.51.100.50").start_reset(&env, "alice@example.com").await;
    assert_eq!(r.status, 429);
    assert_eq!(env.provider_calls(), calls, "the budget stops paid checks");
    assert!(env.sandbox.truid().checks().is_empty());

    let env = Env::start().await;
    let mut b = Browser::at("198.51.100.5");
    for i in 0..20 {
        assert_eq!(b.start_reset(&env, &format!("u{i}@example.com")).await.status, 200);
    }
    assert_eq!(b.start_reset(&env, "u99@example.com").await.status, 429);
}

/// A request one limit refuses uses up nothing of the others (docs/security.md R11): hammering one
/// email from an address does not spend that address's budget, nor the global one.
#[tokio::test]
async fn a4_a_refused_start_uses_up_no_other_budget() {
    let env = Env::builder().var("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR", "20").start().await;
    let mut b = Browser::at("198.51.100.7");
    for _ in 0..5 {
        assert_eq!(b.start_reset(&env, "target@example.com").await.status, 200);
    }
    for _ in 0..10 {
        assert_eq!(b.start_reset(&env, "target@example.com").await.status, 429, "the per-account limit");
    }
    // The address's 20 and the global 20 were counted five times, not fifteen.
    for i in 0..15 {
        assert_eq!(b.start_reset(&env, &format!("u{i}@example.com")).await.status, 200, "start {i}");
    }
    assert_eq!(b.start_reset(&env, "u99@example.com").await.status, 429);
}

/// Coverage lookups are limited per IP too (each one is a provider call) and cached briefly, so
/// the reset start after the page's own lookup costs no second call.
#[tokio::test]
async fn coverage_is_cached_and_limited() {
    let env = Env::builder().var("SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR", "2").start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    assert_eq!(b.send(&env, Event::get("/api/coverage")).await.status, 200);
    b.start_reset(&env, "alice@example.com").await;
    assert_eq!(env.sandbox.truid().count("GET", "/coverage"), 1);
    assert_eq!(b.send(&env, Event::get("/api/coverage")).await.status, 200);
    assert_eq!(b.send(&env, Event::get("/api/coverage")).await.status, 429);
    env.advance(301);
    let mut other = Browser::at("127.0.0.2");
    other.send(&env, Event::get("/api/coverage")).await;
    assert_eq!(env.sandbox.truid().count("GET", "/coverage"), 2);
}

const ORIGIN_TOKEN: &str = "origin-verify-token-0123456789abcdefghij";

/// docs/security.md A5 behind CloudFront: the viewer's address comes from `CloudFront-Viewer-Address`,
/// and only on requests that came through CloudFront (the origin-verify token); a caller going
/// straight to API Gateway is refused before anything else happens.
#[tokio::test]
async fn behind_cloudfront_the_viewer_address_is_trusted_only_through_cloudfront() {
    let env = Env::builder()
        .var("SIMGUARD_CLIENT_IP_SOURCE", "cloudfront")
        .var("SIMGUARD_ORIGIN_VERIFY_TOKEN", ORIGIN_TOKEN)
        .start()
        .await;
    env.sandbox.truid().set_coverage("203.0.113.50".parse().expect("ip"), CoverageRule::Covered);
    let via_cloudfront = |e: Event| e.header("x-simguard-origin-verify", ORIGIN_TOKEN).ip("130.176.0.10");

    // Around CloudFront: refused, whatever the headers claim, before any limit or provider call.
    for forged in [
        Event::get("/api/coverage").header("cloudfront-viewer-address", "203.0.113.50:4711"),
        Event::get("/api/coverage")
            .header("cloudfront-viewer-address", "203.0.113.50:4711")
            .header("x-simguard-origin-verify", "guess"),
        Event::get("/api/reset/callback").query("check_id=x&code=y"),
    ] {
        let r = env.send(&forged).await;
        assert_eq!((r.status, r.problem_type()), (403, Some("urn:simguard:problem:origin_rejected".into())));
    }
    assert_eq!(env.provider_calls(), 0);

    // Through CloudFront: the viewer address is the client, for coverage and for limits.
    let r = env
        .send(&via_cloudfront(Event::get("/api/coverage").header("cloudfront-viewer-address", "203.0.113.50:4711")))
        .await;
    assert_eq!(r.json(), json!({ "silent": true }));
    assert!(env.sandbox.truid().requests().iter().any(|r| r.path == "/coverage/v0.1/device_ips/203.0.113.50"));
    let r = env
        .send(&via_cloudfront(Event::get("/api/coverage").header("cloudfront-viewer-address", "[2001:db8::7]:443")))
        .await;
    assert_eq!(r.status, 200);
    assert!(env.sandbox.truid().requests().iter().any(|r| r.path == "/coverage/v0.1/device_ips/2001:db8::7"));
    // CloudFront's own IPv6 form has no brackets: the port is what follows the last colon.
    let r = env
        .send(&via_cloudfront(Event::get("/api/coverage").header("cloudfront-viewer-address", "2001:db8::9:46532")))
        .await;
    assert_eq!(r.status, 200);
    assert!(env.sandbox.truid().requests().iter().any(|r| r.path == "/coverage/v0.1/device_ips/2001:db8::9"));
    // No usable viewer address: refused, not guessed (and X-Forwarded-For is never a fallback).
    let r = env.send(&via_cloudfront(Event::get("/api/coverage").header("x-forwarded-for", "203.0.113.50"))).await;
    assert_eq!(r.status, 400);
}

/// Not behind CloudFront, a client-sent `CloudFront-Viewer-Address` is just another header.
#[tokio::test]
async fn a_forged_viewer_address_is_ignored_by_default() {
    let env = Env::start().await;
    env.sandbox.truid().set_coverage("203.0.113.50".parse().expect("ip"), CoverageRule::Covered);
    let r = env
        .send(&Event::get("/api/coverage").ip("198.51.100.70").header("cloudfront-viewer-address", "203.0.113.50:1"))
        .await;
    assert_eq!(r.json(), json!({ "silent": false }));
    assert!(env.sandbox.truid().requests().iter().any(|r| r.path == "/coverage/v0.1/device_ips/198.51.100.70"));
}
