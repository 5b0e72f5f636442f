//! A sign-in proven silently (docs/security.md S32): after the password, where the device's network
//! is covered, a SubscriberCheck replaces the SIM check and the code; the operator's redirect signs
//! in, a SIM change stops it, and anything short of a verdict opens the SMS path. A registration is
//! confirmed by the first sign-in, so this is also how a new number is first proven without a code.

use serde_json::json;
use simguard::ports::{Clock, NotificationKind};

use crate::support::*;

const ALICE: (&str, &str) = ("alice@example.com", "+447000000070");

fn csrf_of(r: &Resp) -> String {
    r.json()["csrf"].as_str().unwrap_or_else(|| panic!("a csrf token: {}", r.text())).to_owned()
}

/// The password, then `/api/login/silent`: the flow's CSRF token and the answer.
async fn start(env: &Env, b: &mut Browser, email: &str) -> (String, Resp) {
    let csrf = csrf_of(&b.login(env, email, PASSWORD).await);
    let r = b.send(env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
    (csrf, r)
}

/// The device opens `check_url`; the operator's redirect lands on the callback in this browser.
async fn through_the_operator(env: &Env, b: &mut Browser, started: &Resp) -> Resp {
    assert_eq!(started.json()["next"], "silent", "{}", started.text());
    let location = env.device_visit(started.json()["check_url"].as_str().expect("check_url")).await;
    b.follow_to_callback(env, &location).await
}

#[tokio::test]
async fn a_registration_is_confirmed_by_a_silent_sign_in_without_a_code() {
    let env = Env::start().await;
    let mut b = Browser::default();
    let register = json!({ "email": ALICE.0, "phone": ALICE.1, "password": PASSWORD });
    assert_eq!(b.send(&env, Event::post("/api/register", register)).await.status, 201);
    assert_eq!(env.stored_user(ALICE.0).await.phone_verified_at, None, "not confirmed yet");
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401, "and not signed in");

    let (_, started) = start(&env, &mut b, ALICE.0).await;
    let cb = through_the_operator(&env, &mut b, &started).await;
    assert_eq!((cb.status, cb.location().as_deref()), (303, Some("/login.html?r=signed_in")), "{}", cb.text());
    assert!(cb.cookie("__Host-simguard-session").is_some(), "a session");
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 200);
    assert_eq!(env.stored_user(ALICE.0).await.phone_verified_at, Some(env.clock.now()), "confirmed by the check");
    assert_eq!((env.otp_starts(), env.sms_count()), (0, 0), "no SMS at all");
    // The redirect again: the flow is over.
    let location =
        url::Url::parse(&format!("https://operator.example{}", "/api/reset/callback?check_id=x&code=y")).expect("url");
    let replay = b.follow_to_callback(&env, &location).await;
    assert_eq!(replay.location().as_deref(), Some("/reset/result.html?r=link_invalid"), "no flow: the generic page");
}

#[tokio::test]
async fn an_uncovered_network_takes_the_sms_path() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.90");
    let (csrf, started) = start(&env, &mut b, ALICE.0).await;
    assert_eq!(started.json(), json!({ "next": "sms" }), "{}", started.text());
    assert!(env.sandbox.truid().checks().is_empty(), "no SubscriberCheck");
    let done = b.second_factor(&env, &csrf, ALICE.1).await;
    assert_eq!(done.json()["next"], "signed_in", "{}", done.text());
    // Out of order: a signed-in flow starts nothing.
    let late = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
    assert_eq!(late.status, 409, "{}", late.text());
}

#[tokio::test]
async fn a_sim_change_stops_a_silent_sign_in_and_no_match_falls_back_to_a_code() {
    let env = Env::start().await;
    let sam = env.user("sam@example.com", "+447000000008").await;
    // Sam's account is a week old and proved its phone: no grace.
    env.store.mark_phone_verified(&sam.id, env.clock.now()).await.expect("verified");
    let mut b = Browser::default();
    let (_, started) = start(&env, &mut b, "sam@example.com").await;
    let cb = through_the_operator(&env, &mut b, &started).await;
    assert_eq!(cb.location().as_deref(), Some("/blocked.html?r=sim_changed&flow=login"), "{}", cb.text());
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401);
    assert_eq!(env.outbox.sent().iter().filter(|n| n.kind == NotificationKind::SimChangeBlocked).count(), 1);

    // Nina's data runs on another SIM: no match, so the SIM check and a code to her number instead.
    env.user("nina@example.com", "+447000000001").await;
    let mut n = Browser::default();
    let (csrf, started) = start(&env, &mut n, "nina@example.com").await;
    let cb = through_the_operator(&env, &mut n, &started).await;
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=silent_failed"), "{}", cb.text());
    let done = n.second_factor(&env, &csrf, "+447000000001").await;
    assert_eq!(done.json()["next"], "signed_in", "{}", done.text());
}

/// A new account that never proved its phone gets the sign-in's grace on the silent path too: its
/// SIM may be new (E2).
#[tokio::test]
async fn a_new_account_in_its_grace_signs_in_silently() {
    let env = Env::start().await;
    let mut b = Browser::default();
    let register = json!({ "email": "newbie@example.com", "phone": "+447000000008", "password": PASSWORD });
    assert_eq!(b.send(&env, Event::post("/api/register", register)).await.status, 201);
    let (_, started) = start(&env, &mut b, "newbie@example.com").await;
    let cb = through_the_operator(&env, &mut b, &started).await;
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=signed_in"), "{}", cb.text());
    // Proven now: the grace is spent, and the next sign-in is stopped by the SIM change.
    let session = csrf_of(&b.send(&env, Event::get("/api/me")).await);
    b.send(&env, Event::post("/api/logout", json!({})).csrf(&session)).await;
    let (_, again) = start(&env, &mut b, "newbie@example.com").await;
    let cb = through_the_operator(&env, &mut b, &again).await;
    assert_eq!(cb.location().as_deref(), Some("/blocked.html?r=sim_changed&flow=login"), "{}", cb.text());
}

/// A sign-in whose password was reset meanwhile never signs in, silently either (S21).
#[tokio::test]
async fn a_silent_sign_in_dies_with_the_password_it_proved() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut thief = Browser::default();
    let (_, started) = start(&env, &mut thief, ALICE.0).await;
    let mut owner = Browser::default();
    let (csrf, cb) = owner.silent_reset(&env, ALICE.0).await;
    assert_eq!(cb.status, 303, "{}", cb.text());
    assert_eq!(owner.set_password(&env, &csrf, "a brand new passphrase 46").await.status, 200);
    let cb = through_the_operator(&env, &mut thief, &started).await;
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=link_invalid"), "{}", cb.text());
    assert_eq!(thief.send(&env, Event::get("/api/me")).await.status, 401);
}
