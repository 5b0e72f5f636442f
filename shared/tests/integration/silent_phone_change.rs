//! A phone change proven silently (docs/security.md S31): where the device's network allows it, each
//! number — the account's, then the new one — is proven by the operator instead of a SIM check and
//! a code. The callback moves the flow on; `POST /api/phone/finish` (otp-verify) makes the change and
//! texts the number the account leaves. A SIM change stops either number; no verdict opens that
//! number's SMS path.

use serde_json::json;
use simguard::ports::{Clock, NotificationKind};
use simguard_sandbox::truid::Profile;

use crate::support::*;

const ALICE: (&str, &str) = ("alice@example.com", "+447000000070");
/// The sandbox's operator proves it (an even last digit).
const NEW_NUMBER: &str = "+447700900124";

fn changed_sim() -> Profile {
    Profile { matched: true, no_sim_change: false, sim_change_within: Some(24), error_code: None, unsupported: false }
}

fn operator_error() -> Profile {
    Profile {
        matched: true,
        no_sim_change: true,
        sim_change_within: None,
        error_code: Some("mno_server_error"),
        unsupported: false,
    }
}

fn operator_proves() -> Profile {
    Profile { matched: true, no_sim_change: true, sim_change_within: None, error_code: None, unsupported: false }
}

fn told(env: &Env, kind: NotificationKind) -> usize {
    env.outbox.sent().iter().filter(|n| n.kind == kind).count()
}

/// Signs Alice in here (by a code) and starts a change to `new_phone`: the flow's CSRF token.
async fn start_change(env: &Env, b: &mut Browser, new_phone: &str) -> String {
    let session = b.sign_in(env, ALICE.0, PASSWORD, ALICE.1).await;
    let body = json!({ "current_password": PASSWORD, "new_phone": new_phone });
    let r = b.send(env, Event::post("/api/phone/change", body).csrf(&session)).await;
    assert_eq!(r.json()["next"], "second_factor", "{}", r.text());
    r.json()["csrf"].as_str().expect("the flow's csrf").to_owned()
}

/// `/api/login/silent` on the phone-change flow, the device's visit to `check_url`, and the
/// operator's redirect to the callback in this browser: where the callback sends the browser. Also
/// checks that the proof was asked of `number`.
async fn prove_silently(env: &Env, b: &mut Browser, csrf: &str, number: &str) -> Resp {
    let ids =
        |env: &Env| env.sandbox.truid().checks().into_iter().map(|c| (c.check_id, c.phone_number)).collect::<Vec<_>>();
    let before = ids(env);
    let started = b.send(env, Event::post("/api/login/silent", json!({})).csrf(csrf)).await;
    assert_eq!(started.json()["next"], "silent", "{}", started.text());
    let created: Vec<String> = ids(env).into_iter().filter(|c| !before.contains(c)).map(|(_, phone)| phone).collect();
    assert_eq!(created.len(), 1, "one proof: {created:?}");
    assert_eq!(format!("+{}", created[0].trim_start_matches('+')), number, "the proof is about {number}");
    let location = env.device_visit(started.json()["check_url"].as_str().expect("check_url")).await;
    b.follow_to_callback(env, &location).await
}

#[tokio::test]
async fn both_numbers_proven_silently_then_the_change_is_made_and_the_old_number_told() {
    let env = Env::builder().var("SIMGUARD_SMS_SENDER", "Example").start().await;
    let alice = env.user(ALICE.0, ALICE.1).await;
    let mut elsewhere = Browser::at("198.51.100.81");
    elsewhere.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    let (codes, checks_before) = (env.otp_starts(), env.sandbox.truid().checks().len());

    let current = prove_silently(&env, &mut b, &csrf, ALICE.1).await;
    assert_eq!(current.location().as_deref(), Some("/account.html?r=current_proven"), "{}", current.text());
    // The new number has its own step: finishing now is out of order.
    let early = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    assert_eq!(early.status, 409, "{}", early.text());
    let new = prove_silently(&env, &mut b, &csrf, NEW_NUMBER).await;
    assert_eq!(new.location().as_deref(), Some("/account.html?r=new_proven"), "{}", new.text());
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1, "not changed until the browser finishes");
    assert_eq!(env.sandbox.truid().checks().len(), checks_before + 2, "one proof per number");

    let forged = b.send(&env, Event::post("/api/phone/finish", json!({}))).await;
    assert_eq!(forged.status, 403, "without the flow's CSRF token: {}", forged.text());
    let done = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    assert_eq!(done.json()["next"], "phone_changed", "{}", done.text());
    let session = done.json()["csrf"].as_str().expect("a new session's csrf").to_owned();
    assert!(done.cookie("__Host-simguard-session").is_some(), "a new session");

    let stored = env.stored_user(ALICE.0).await;
    assert_eq!(stored.phone.e164(), NEW_NUMBER);
    assert_eq!(stored.phone_verified_at, Some(env.clock.now()), "proven now");
    assert_eq!(env.otp_starts(), codes, "no code was sent for either number");
    let me = b.send(&env, Event::get("/api/me").csrf(&session)).await;
    assert_eq!(me.status, 200, "this browser goes on: {}", me.text());
    assert_eq!(elsewhere.send(&env, Event::get("/api/me")).await.status, 401, "every other session ends");
    assert_eq!(told(&env, NotificationKind::PhoneChanged), 1, "the owner is emailed");
    let notices: Vec<_> = env.sandbox.outbox().into_iter().filter(|m| m.to == ALICE.1 && m.code.is_empty()).collect();
    assert_eq!(notices.len(), 1, "the number the account left is texted once");
    let audit: Vec<String> = env.audit_events(&alice.id).await.into_iter().map(|a| a.event).collect();
    assert_eq!(audit, ["phone_changed"]);
    // Once only.
    let again = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(told(&env, NotificationKind::PhoneChanged), 1);
}

/// A SIM change on the new number stops the change (no grace: it is not a new account's number);
/// on the current number it stops it too, and the owner is told.
#[tokio::test]
async fn a_sim_change_on_either_number_stops_a_silent_phone_change() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    env.sandbox.truid().set_profile(NEW_NUMBER, changed_sim());
    let current = prove_silently(&env, &mut b, &csrf, ALICE.1).await;
    assert_eq!(current.location().as_deref(), Some("/account.html?r=current_proven"));
    let new = prove_silently(&env, &mut b, &csrf, NEW_NUMBER).await;
    assert_eq!(new.location().as_deref(), Some("/blocked.html?r=sim_changed&flow=phone&n=new"), "{}", new.text());
    assert_eq!(told(&env, NotificationKind::SimChangeBlocked), 0, "the owner's own number is fine");
    for path in ["/api/phone/finish", "/api/sim-check", "/api/login/silent"] {
        let r = b.send(&env, Event::post(path, json!({})).csrf(&csrf)).await;
        assert_eq!(r.status, 409, "{path}: the flow is over: {}", r.text());
    }
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);

    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    env.sandbox.truid().set_profile(ALICE.1, changed_sim());
    let current = prove_silently(&env, &mut b, &csrf, ALICE.1).await;
    assert_eq!(current.location().as_deref(), Some("/blocked.html?r=sim_changed&flow=phone"), "{}", current.text());
    assert_eq!(told(&env, NotificationKind::SimChangeBlocked), 1, "the owner is told");
    assert_eq!(b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await.status, 409);
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}

/// No verdict (an operator error) on a number opens that number's SMS path, and the change ends as
/// by codes.
#[tokio::test]
async fn no_verdict_on_a_number_opens_its_sms_path() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    env.sandbox.truid().set_profile(ALICE.1, operator_error());
    let current = prove_silently(&env, &mut b, &csrf, ALICE.1).await;
    assert_eq!(current.location().as_deref(), Some("/account.html?r=silent_failed"), "{}", current.text());
    // The silent proof is not tried twice on a number.
    assert_eq!(b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await.status, 409);
    // The operator answers again: the SIM check passes.
    env.sandbox.truid().set_profile(ALICE.1, operator_proves());
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    let sent = b.otp_start(&env, &csrf).await;
    assert_eq!(sent.json()["to_ending"], "70", "{}", sent.text());
    let r = b.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await;
    assert_eq!(r.json(), json!({ "next": "new_number" }), "{}", r.text());

    env.sandbox.truid().set_profile(NEW_NUMBER, operator_error());
    let new = prove_silently(&env, &mut b, &csrf, NEW_NUMBER).await;
    assert_eq!(new.location().as_deref(), Some("/account.html?r=new_silent_failed"), "{}", new.text());
    assert_eq!(b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await.status, 409);
    env.sandbox.truid().set_profile(NEW_NUMBER, operator_proves());
    let done = b.second_factor(&env, &csrf, NEW_NUMBER).await;
    assert_eq!(done.json()["next"], "phone_changed", "{}", done.text());
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), NEW_NUMBER);
}

/// A replayed redirect of the current number's proof, once the new number is being proven, is
/// refused: the callback only completes the proof bound to the flow now.
#[tokio::test]
async fn the_current_numbers_redirect_does_not_prove_the_new_one() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
    let first = env.device_visit(started.json()["check_url"].as_str().expect("check_url")).await;
    let current = b.follow_to_callback(&env, &first).await;
    assert_eq!(current.location().as_deref(), Some("/account.html?r=current_proven"));
    let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
    assert_eq!(started.json()["next"], "silent", "{}", started.text());
    let replay = b.follow_to_callback(&env, &first).await;
    assert_eq!(replay.location().as_deref(), Some("/account.html?r=link_invalid"), "{}", replay.text());
    assert_eq!(b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await.status, 409);
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}

/// Through CAMARA Number Verification, whose verdict does not cover the SIM: the callback asks the
/// SIM-swap sources about the number being proven — the new one on the second proof.
#[tokio::test]
async fn a_camara_proof_of_the_new_number_asks_about_the_new_number() {
    let env = Env::builder().var("SIMGUARD_SILENT_PROVIDERS", "camara").start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    env.sandbox.truid().set_profile(NEW_NUMBER, changed_sim());
    for landing in ["/account.html?r=current_proven", "/blocked.html?r=sim_changed&flow=phone&n=new"] {
        let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
        let device_url = started.json()["check_url"].as_str().expect("check_url").to_owned();
        assert!(device_url.contains("/camara/authorize"), "{device_url}");
        let location = env.device_visit(&device_url).await;
        let cb = b.follow_to_callback(&env, &location).await;
        assert_eq!(cb.location().as_deref(), Some(landing), "{}", cb.text());
    }
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}

/// The likeliest mix: the current number by its code (this phone's data is not on that SIM, or the
/// network cannot tell), then the new number silently once its SIM carries the data.
#[tokio::test]
async fn the_current_number_by_its_code_then_the_new_one_silently() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    assert_eq!(b.otp_start(&env, &csrf).await.json()["to_ending"], "70");
    let r = b.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await;
    assert_eq!(r.json(), json!({ "next": "new_number" }), "{}", r.text());
    let codes = env.otp_starts();
    let new = prove_silently(&env, &mut b, &csrf, NEW_NUMBER).await;
    assert_eq!(new.location().as_deref(), Some("/account.html?r=new_proven"), "{}", new.text());
    let done = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    assert_eq!(done.json()["next"], "phone_changed", "{}", done.text());
    assert_eq!(env.otp_starts(), codes, "no code to the new number");
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), NEW_NUMBER);
}

/// Signing out in the middle of a phone change: it cannot be finished signed out, even with the
/// cookies kept (the change needs the live session it was started from).
#[tokio::test]
async fn signing_out_leaves_a_phone_change_unfinished() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::default();
    let csrf = start_change(&env, &mut b, NEW_NUMBER).await;
    for landing in ["/account.html?r=current_proven", "/account.html?r=new_proven"] {
        let number = if landing.ends_with("current_proven") { ALICE.1 } else { NEW_NUMBER };
        assert_eq!(prove_silently(&env, &mut b, &csrf, number).await.location().as_deref(), Some(landing));
    }
    let session = b.send(&env, Event::get("/api/me")).await.json()["csrf"].as_str().expect("csrf").to_owned();
    let kept = b.cookies.clone();
    let out = b.send(&env, Event::post("/api/logout", json!({})).csrf(&session)).await;
    assert_eq!(out.status, 204, "{}", out.text());
    let finish = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    assert_eq!(finish.status, 409, "{}", finish.text());
    assert!(finish.cookie("__Host-simguard-session").is_none(), "no session for a signed-out browser");
    // Whoever kept the cookies (the flow's, and the session the server ended) gets no further.
    let flow_only: std::collections::BTreeMap<_, _> =
        kept.iter().filter(|(name, _)| name.contains("flow")).map(|(k, v)| (k.clone(), v.clone())).collect();
    for jar in [flow_only, kept] {
        b.cookies = jar;
        let finish = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
        assert_eq!(finish.status, 409, "{}", finish.text());
        assert!(finish.cookie("__Host-simguard-session").is_none(), "no session for a signed-out browser");
    }
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}
