//! A signed-in account changes its password or signs out everywhere (docs/security.md S28): the
//! credential version moves on, which ends every other session and every sign-in or reset in
//! progress at once; the browser that changed the password stays signed in; the owner is told.
//! It changes its phone number by proving both numbers (S31), remembers browsers (S29), and expires
//! when it never proves its phone (S30).

use serde_json::json;
use simguard::config::OtpProviderKind;
use std::sync::Arc;

use simguard::ports::{Clock, NotificationKind};

use crate::support::*;

const ALICE: (&str, &str) = ("alice@example.com", "+447000000070");
const NEW_PASSWORD: &str = "a brand new passphrase 45";

fn change(csrf: &str, current: &str, new: &str) -> Event {
    Event::post("/api/password", json!({ "current_password": current, "new_password": new })).csrf(csrf)
}

fn told(env: &Env, kind: NotificationKind) -> usize {
    env.outbox.sent().iter().filter(|n| n.kind == kind && n.to.as_str() == ALICE.0).count()
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_flow() {
    let env = Env::start().await;
    let alice = env.user(ALICE.0, ALICE.1).await;
    let mut here = Browser::at("198.51.100.30");
    let mut elsewhere = Browser::at("198.51.100.31");
    let csrf = here.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    elsewhere.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    // Someone else with the old password, half-way through signing in.
    let mut thief = Browser::at("198.51.100.32");
    let login = thief.login(&env, ALICE.0, PASSWORD).await;
    let thief_csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();

    let r = here.send(&env, change(&csrf, PASSWORD, NEW_PASSWORD)).await;
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("password_changed")), "{}", r.text());
    let new_csrf = r.json()["csrf"].as_str().expect("a new csrf").to_owned();
    assert_ne!(new_csrf, csrf, "a new session, a new token");

    // This browser goes on, on its new session; the other is signed out; the thief's flow is dead.
    assert_eq!(here.send(&env, Event::get("/api/me")).await.status, 200);
    assert_eq!(elsewhere.send(&env, Event::get("/api/me")).await.status, 401);
    let stale = thief.sim_check(&env, &thief_csrf).await;
    assert_eq!(stale.problem_type().as_deref(), Some("urn:simguard:problem:flow_invalid"), "{}", stale.text());
    // The old password is refused; the new one passes the first factor.
    assert_eq!(Browser::at("198.51.100.33").login(&env, ALICE.0, PASSWORD).await.status, 401);
    assert!(env.password_works(ALICE.0, NEW_PASSWORD).await);
    // Told, and recorded.
    assert_eq!(told(&env, NotificationKind::PasswordChanged), 1);
    let audit: Vec<String> = env.audit_events(&alice.id).await.into_iter().map(|a| a.event).collect();
    assert_eq!(audit, ["password_changed"]);
    // The old session's token is no longer accepted for anything.
    let replay = here.send(&env, Event::post("/api/logout-everywhere", json!({})).csrf(&csrf)).await;
    assert_eq!(replay.status, 403, "the old CSRF token is not this session's: {}", replay.text());
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing_and_guesses_are_limited() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut here = Browser::at("198.51.100.34");
    let csrf = here.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let wrong = here.send(&env, change(&csrf, "not the password at all", NEW_PASSWORD)).await;
    assert_eq!(
        (wrong.status, wrong.problem_type().as_deref()),
        (401, Some("urn:simguard:problem:invalid_credentials")),
        "{}",
        wrong.text()
    );
    let weak = here.send(&env, change(&csrf, PASSWORD, "short")).await;
    assert_eq!(weak.problem_type().as_deref(), Some("urn:simguard:problem:weak_password"), "{}", weak.text());
    assert_eq!(here.send(&env, Event::get("/api/me")).await.status, 200, "still signed in");
    assert!(env.password_works(ALICE.0, PASSWORD).await);
    assert_eq!(told(&env, NotificationKind::PasswordChanged), 0);
    // A stolen session does not buy unlimited guesses at the password.
    let limit = env.settings(simguard::Function::Account).limits.login_per_account_15min;
    let mut last = 0;
    for _ in 0..limit {
        last = here.send(&env, change(&csrf, "another wrong guess", NEW_PASSWORD)).await.status;
    }
    assert_eq!(last, 429);
    assert!(env.password_works(ALICE.0, PASSWORD).await);
}

#[tokio::test]
async fn signing_out_everywhere_ends_this_session_too() {
    let env = Env::start().await;
    let alice = env.user(ALICE.0, ALICE.1).await;
    let mut here = Browser::at("198.51.100.35");
    let mut elsewhere = Browser::at("198.51.100.36");
    let csrf = here.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    elsewhere.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    // (The default browser is on a connection the sandbox covers: the silent path.)
    let mut resetting = Browser::default();
    let (reset_csrf, _) = resetting.silent_reset(&env, ALICE.0).await;

    let r = here.send(&env, Event::post("/api/logout-everywhere", json!({})).csrf(&csrf)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(here.send(&env, Event::get("/api/me")).await.status, 401);
    assert_eq!(elsewhere.send(&env, Event::get("/api/me")).await.status, 401);
    // A reset in progress is over too: its new password is refused.
    let late = resetting.set_password(&env, &reset_csrf, NEW_PASSWORD).await;
    assert_eq!(late.status, 409, "{}", late.text());
    assert!(env.password_works(ALICE.0, PASSWORD).await, "the password is unchanged");
    assert_eq!(told(&env, NotificationKind::SignedOutEverywhere), 1);
    let audit: Vec<String> = env.audit_events(&alice.id).await.into_iter().map(|a| a.event).collect();
    assert_eq!(audit, ["signed_out_everywhere"]);
}

#[tokio::test]
async fn without_a_session_and_its_token_nothing_changes() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut stranger = Browser::at("198.51.100.38");
    let r = stranger.send(&env, change("anything", PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(stranger.send(&env, Event::post("/api/logout-everywhere", json!({}))).await.status, 401);
    // Signed in, but a request without the session's CSRF token (another site's form).
    let mut here = Browser::at("198.51.100.39");
    here.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let forged = here
        .send(&env, Event::post("/api/password", json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })))
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert_eq!(here.send(&env, Event::post("/api/logout-everywhere", json!({}))).await.status, 403);
    assert!(env.password_works(ALICE.0, PASSWORD).await);
    assert_eq!(here.send(&env, Event::get("/api/me")).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Remembered browsers (docs/security.md S29)

/// Signs in with the code, asking to remember the browser; returns the session's CSRF token.
async fn sign_in_remembering(env: &Env, b: &mut Browser) -> String {
    let login = b.login(env, ALICE.0, PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.sim_check(env, &csrf).await.json()["next"], "otp");
    assert_eq!(b.otp_start(env, &csrf).await.status, 200);
    let code = env.last_code(ALICE.1);
    let r = b.send(env, Event::post("/api/otp/verify", json!({ "code": code, "remember": true })).csrf(&csrf)).await;
    assert_eq!(r.json()["next"], "signed_in", "{}", r.text());
    let cookie =
        r.set_cookies().into_iter().find(|c| c.starts_with("__Host-simguard-device=")).expect("the device cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    r.json()["csrf"].as_str().expect("csrf").to_owned()
}

/// A new sign-in up to the SIM check; returns its answer.
async fn sign_in_again(env: &Env, b: &mut Browser, password: &str) -> Resp {
    let login = b.login(env, ALICE.0, password).await;
    let csrf = login.json()["csrf"].as_str().unwrap_or_else(|| panic!("csrf: {}", login.text())).to_owned();
    b.sim_check(env, &csrf).await
}

#[tokio::test]
async fn a_remembered_browser_skips_the_code_never_the_sim_check() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.50");
    let session = sign_in_remembering(&env, &mut b).await;
    assert!(b.send(&env, Event::post("/api/logout", json!({})).csrf(&session)).await.status < 300);
    let (sms, checks) = (env.sms_count(), env.sandbox.truid().checks().len());

    let quick = sign_in_again(&env, &mut b, PASSWORD).await;
    assert_eq!(quick.json()["next"], "signed_in", "{}", quick.text());
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 200);
    assert_eq!(env.sms_count(), sms, "no code was sent");
    assert_eq!(env.sandbox.truid().checks().len(), checks + 1, "the SIM was checked");
    // Another browser (no device cookie) still needs the code.
    let other = sign_in_again(&env, &mut Browser::at("198.51.100.51"), PASSWORD).await;
    assert_eq!(other.json()["next"], "otp");

    // Then the SIM changes: the remembered browser is stopped like any other.
    env.sandbox.truid().set_profile(
        ALICE.1,
        simguard_sandbox::truid::Profile {
            matched: true,
            no_sim_change: false,
            sim_change_within: Some(24),
            error_code: None,
            unsupported: false,
        },
    );
    let blocked = sign_in_again(&env, &mut b, PASSWORD).await;
    assert_eq!(blocked.json(), json!({ "next": "blocked", "reason": "sim_changed" }), "{}", blocked.text());
}

#[tokio::test]
async fn a_credential_change_or_forgetting_ends_a_remembered_browser() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.52");
    let session = sign_in_remembering(&env, &mut b).await;
    let list = b.send(&env, Event::get("/api/devices")).await;
    let devices = list.json()["devices"].as_array().cloned().expect("devices");
    assert_eq!(devices.len(), 1, "{}", list.text());
    assert_eq!(devices[0]["this_browser"], true);
    // Forgotten: the next sign-in asks for the code again.
    let id = devices[0]["id"].as_str().expect("id").to_owned();
    let bad = b.send(&env, Event::post("/api/devices/forget", json!({ "id": "not-an-id" })).csrf(&session)).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    let forget = b.send(&env, Event::post("/api/devices/forget", json!({ "id": id })).csrf(&session)).await;
    assert_eq!(forget.status, 204, "{}", forget.text());
    assert_eq!(b.send(&env, Event::get("/api/devices")).await.json()["devices"], json!([]));
    assert!(b.send(&env, Event::post("/api/logout", json!({})).csrf(&session)).await.status < 300);
    assert_eq!(sign_in_again(&env, &mut b, PASSWORD).await.json()["next"], "otp");

    // Remembered again, then the password changes elsewhere: every remembered browser is forgotten.
    let mut b = Browser::at("198.51.100.53");
    let session = sign_in_remembering(&env, &mut b).await;
    let r = b.send(&env, change(&session, PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let new_session = r.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.send(&env, Event::get("/api/devices")).await.json()["devices"], json!([]));
    assert!(b.send(&env, Event::post("/api/logout", json!({})).csrf(&new_session)).await.status < 300);
    assert_eq!(sign_in_again(&env, &mut b, NEW_PASSWORD).await.json()["next"], "otp");
}

/// A remembered browser also ends when its owner signs out everywhere, and when the password is
/// reset (by whoever holds the phone): the next sign-in on it asks for the code again.
#[tokio::test]
async fn signing_out_everywhere_or_a_reset_ends_a_remembered_browser() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.54");
    let session = sign_in_remembering(&env, &mut b).await;
    let r = b.send(&env, Event::post("/api/logout-everywhere", json!({})).csrf(&session)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        sign_in_again(&env, &mut b, PASSWORD).await.json()["next"],
        "otp",
        "forgotten by signing out everywhere"
    );

    let mut b = Browser::at("198.51.100.55");
    let session = sign_in_remembering(&env, &mut b).await;
    assert!(b.send(&env, Event::post("/api/logout", json!({})).csrf(&session)).await.status < 300);
    // A reset from the device's browser (the silent path), with a new password.
    let mut resetting = Browser::default();
    let (reset_csrf, _) = resetting.silent_reset(&env, ALICE.0).await;
    assert_eq!(resetting.set_password(&env, &reset_csrf, NEW_PASSWORD).await.status, 200);
    assert_eq!(sign_in_again(&env, &mut b, NEW_PASSWORD).await.json()["next"], "otp", "forgotten by the reset");
}

/// Support's path for a user who lost their phone (`simguard-admin set-phone`, the store's
/// `change_phone`): the old sessions and remembered browsers end, and the next sign-in proves the new
/// number — the SIM check and the code go to it.
#[tokio::test]
async fn support_gives_the_account_of_a_lost_phone_a_new_number() {
    let env = Env::start().await;
    let alice = env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.54");
    sign_in_remembering(&env, &mut b).await;
    let new_number = "+447700900124";
    let change = simguard::ports::PhoneChange {
        user_id: alice.id.clone(),
        expected_version: alice.credential_version,
        phone: simguard::domain::Phone::from_e164(new_number).expect("phone"),
        audit_event: "phone_changed_by_support",
        client_ip: "127.0.0.1".parse().expect("ip"),
        now: env.clock.now(),
        proof: None,
    };
    env.store.change_phone(&change).await.expect("changed");
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401, "the old session ended");
    // The remembered browser asks for a code again, and the code goes to the new number.
    let again = sign_in_again(&env, &mut b, PASSWORD).await;
    assert_eq!(again.json()["next"], "otp", "{}", again.text());
    let csrf = b.login(&env, ALICE.0, PASSWORD).await.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    let sent = b.otp_start(&env, &csrf).await;
    assert_eq!(sent.json()["to_ending"], "24", "{}", sent.text());
    let r = b.otp_verify(&env, &csrf, &env.last_code(new_number)).await;
    assert_eq!(r.json()["next"], "signed_in", "{}", r.text());
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), new_number);
}

/// An account that never proved its phone in its first two weeks is gone: its sign-in and its reset
/// are an unknown email's, and its email can be registered again — by its real owner, say, when
/// someone else registered it with their own number.
#[tokio::test]
async fn an_account_that_never_proved_its_phone_expires() {
    let env = Env::start().await;
    let mut squatter = Browser::at("198.51.100.60");
    let r = squatter
        .send(
            &env,
            Event::post("/api/register", json!({ "email": ALICE.0, "phone": "+447700900124", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Within two weeks it can still sign in (its first code would prove the number).
    env.advance(13 * 86_400);
    assert_eq!(squatter.login(&env, ALICE.0, PASSWORD).await.status, 200);
    env.advance(86_400);
    assert_eq!(squatter.login(&env, ALICE.0, PASSWORD).await.status, 401, "expired: an unknown email");

    // The owner registers the address with their own number, and signs in with it.
    let mut owner = Browser::at("198.51.100.61");
    let mine = "a passphrase of the real owner";
    let r = owner
        .send(&env, Event::post("/api/register", json!({ "email": ALICE.0, "phone": ALICE.1, "password": mine })))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(told(&env, NotificationKind::RegistrationWithExistingEmail), 0, "nobody to warn");
    owner.sign_in(&env, ALICE.0, mine, ALICE.1).await;
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
    assert_eq!(squatter.login(&env, ALICE.0, PASSWORD).await.status, 401);

    // A proven account never expires: registering its address again only warns its owner.
    env.advance(60 * 86_400);
    let r = Browser::at("198.51.100.62")
        .send(
            &env,
            Event::post("/api/register", json!({ "email": ALICE.0, "phone": "+447700900126", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
    assert_eq!(told(&env, NotificationKind::RegistrationWithExistingEmail), 1);
}

/// A number mistyped at registration has a way back before it is ever proven: registering again with
/// the same email and password (the holder, then) and the right number replaces the unconfirmed
/// account at once. Another password only warns the address's owner; a proven account is never
/// replaced (S30).
#[tokio::test]
async fn a_mistyped_number_is_mended_by_registering_again_before_it_is_proven() {
    let env = Env::start().await;
    let register = |phone: &str, password: &str| {
        Event::post("/api/register", json!({ "email": ALICE.0, "phone": phone, "password": password }))
    };
    let mut b = Browser::at("198.51.100.63");
    assert_eq!(b.send(&env, register("+447700900124", PASSWORD)).await.status, 201);
    // The first sign-in's code goes to the mistyped number.
    let login = b.login(&env, ALICE.0, PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    assert_eq!(b.otp_start(&env, &csrf).await.json()["to_ending"], "24");

    // Someone else's password: nothing changes, and the address's owner is warned.
    let other = b.send(&env, register(ALICE.1, "somebody else's passphrase")).await;
    assert_eq!(other.status, 201);
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), "+447700900124");
    assert_eq!(told(&env, NotificationKind::RegistrationWithExistingEmail), 1);

    // The holder's password: the right number, at once, with the same answer as any registration.
    let again = b.send(&env, register(ALICE.1, PASSWORD)).await;
    assert_eq!((again.status, again.json()), (201, json!({ "status": "registered" })));
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
    assert_eq!(told(&env, NotificationKind::RegistrationWithExistingEmail), 1, "nobody else to warn");
    b.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;

    // Proven now: registering again, even with the password, replaces nothing.
    let late = b.send(&env, register("+447700900126", PASSWORD)).await;
    assert_eq!(late.status, 201);
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}

/// A1 with S30: a registration checks a password whether or not the address has an account — one
/// hash and one check each time, for a free address, a taken confirmed one, a taken unconfirmed
/// one with another password, and its holder again — so the work, and the time, of the answer say
/// nothing of the address.
#[tokio::test]
async fn every_registration_does_the_same_password_work() {
    let counting = Arc::new(CountingHasher::default());
    let env = Env::builder().hasher(counting.clone()).start().await;
    let register = |email: &str, phone: &str, password: &str| {
        Event::post("/api/register", json!({ "email": email, "phone": phone, "password": password }))
    };
    let mut b = Browser::at("198.51.100.64");
    let mut seen = Vec::new();
    for (email, phone, password) in [
        ("free@example.com", "+447700900124", PASSWORD),
        ("free@example.com", "+447700900126", "somebody else's passphrase"),
        ("free@example.com", "+447700900128", PASSWORD),
        ("other@example.com", "+447700900130", PASSWORD),
    ] {
        let before = counting.counts();
        assert_eq!(b.send(&env, register(email, phone, password)).await.status, 201);
        let after = counting.counts();
        seen.push((after.0 - before.0, after.1 - before.1));
    }
    assert_eq!(seen, [(1, 1); 4], "(hashes, checks) per registration");
    // The holder's second registration (same password) replaced the unconfirmed account.
    let free = simguard::domain::Email::parse("free@example.com").expect("email");
    let stored = env.store.user_by_email(&free).await.expect("store").expect("user");
    assert_eq!(stored.phone.e164(), "+447700900128");
}

/// The registration page shows the number back as it will be read, before anything is submitted.
#[tokio::test]
async fn a_typed_number_is_shown_back_as_it_will_be_texted() {
    let env = Env::start().await;
    let mut b = Browser::default();
    let check = |phone: &str| Event::post("/api/phone/check", json!({ "phone": phone }));
    let r = b.send(&env, check("07700 900002")).await;
    assert_eq!((r.status, r.json()), (200, json!({ "international": "+44 7700 900002" })), "{}", r.text());
    assert_eq!(b.send(&env, check("+44 (0)7700-900002")).await.json()["international"], "+44 7700 900002");
    let r = b.send(&env, check("07700 9001")).await;
    assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:invalid_phone"));
    let r = b.send(&env, check("+33 6 12 34 56 78")).await;
    assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:phone_not_supported"), "not a country we text");
}

// ---------------------------------------------------------------------------------------------
// Changing the phone number (docs/security.md S31)

const NEW_NUMBER: &str = "+447700900124";
/// The sandbox answers "SIM changed" for a number whose last digit is odd.
const NEW_SIM_NUMBER: &str = "+447700900125";

fn change_phone(csrf: &str, password: &str, new_phone: &str) -> Event {
    Event::post("/api/phone/change", json!({ "current_password": password, "new_phone": new_phone })).csrf(csrf)
}

/// Starts a phone change and proves the current number; returns the flow's CSRF token.
async fn prove_current_number(env: &Env, b: &mut Browser, session: &str, new_phone: &str) -> String {
    let r = b.send(env, change_phone(session, PASSWORD, new_phone)).await;
    assert_eq!((r.status, r.json()["next"].clone()), (200, json!("second_factor")), "{}", r.text());
    let csrf = r.json()["csrf"].as_str().expect("the flow's csrf").to_owned();
    assert_eq!(b.sim_check(env, &csrf).await.json()["next"], "otp");
    let sent = b.otp_start(env, &csrf).await;
    assert_eq!(sent.json()["to_ending"], "70", "the current number first: {}", sent.text());
    let r = b.otp_verify(env, &csrf, &env.last_code(ALICE.1)).await;
    assert_eq!(r.json(), json!({ "next": "new_number" }), "{}", r.text());
    csrf
}

#[tokio::test]
async fn changing_the_phone_proves_both_numbers_then_moves_the_account() {
    let env = Env::start().await;
    let alice = env.user(ALICE.0, ALICE.1).await;
    let mut here = Browser::at("198.51.100.70");
    let session = sign_in_remembering(&env, &mut here).await;
    let mut elsewhere = Browser::at("198.51.100.71");
    elsewhere.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;

    // Typed as people type it in the default region.
    let csrf = prove_current_number(&env, &mut here, &session, "07700 900124").await;
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1, "nothing changes before the new number is proven");
    assert_eq!(here.sim_check(&env, &csrf).await.json()["next"], "otp");
    let sent = here.otp_start(&env, &csrf).await;
    assert_eq!(sent.json()["to_ending"], "24", "then the new one: {}", sent.text());
    // The current number's code does not prove the new one.
    let old_code = env.last_code(ALICE.1);
    let wrong = here.otp_verify(&env, &csrf, &old_code).await;
    assert_eq!(wrong.problem_type().as_deref(), Some("urn:simguard:problem:code_invalid"), "{}", wrong.text());
    let r = here.otp_verify(&env, &csrf, &env.last_code(NEW_NUMBER)).await;
    assert_eq!(r.json()["next"], "phone_changed", "{}", r.text());
    assert!(r.json()["csrf"].as_str().is_some_and(|c| c != session), "a new session: {}", r.text());

    let stored = env.stored_user(ALICE.0).await;
    assert_eq!(stored.phone.e164(), NEW_NUMBER);
    assert_eq!(stored.phone_verified_at, Some(env.clock.now()), "proven now: no new-account grace, ever");
    // This browser goes on; every other session, and every remembered browser, ends.
    let me = here.send(&env, Event::get("/api/me")).await;
    assert_eq!((me.status, me.json()["phone"].as_str().map(|p| p.ends_with("24"))), (200, Some(true)), "{}", me.text());
    assert_eq!(elsewhere.send(&env, Event::get("/api/me")).await.status, 401);
    assert_eq!(here.send(&env, Event::get("/api/devices")).await.json()["devices"], json!([]));
    assert_eq!(told(&env, NotificationKind::PhoneChanged), 1);
    let audit: Vec<String> = env.audit_events(&alice.id).await.into_iter().map(|a| a.event).collect();
    assert_eq!(audit, ["phone_changed"]);
    // Without a sender configured, the old number is not texted (the email is the notice).
    assert!(env.sandbox.outbox().iter().all(|m| !m.code.is_empty()), "no notice without SIMGUARD_SMS_SENDER");
    // The flow is over; sign-in codes now go to the new number.
    assert_eq!(here.otp_verify(&env, &csrf, &env.last_code(NEW_NUMBER)).await.status, 409);
    let mut later = Browser::at("198.51.100.72");
    later.sign_in(&env, ALICE.0, PASSWORD, NEW_NUMBER).await;
}

#[tokio::test]
async fn a_new_number_whose_sim_just_changed_is_refused() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.73");
    let session = b.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let csrf = prove_current_number(&env, &mut b, &session, NEW_SIM_NUMBER).await;
    let sends = env.otp_starts();
    let r = b.sim_check(&env, &csrf).await;
    assert_eq!(r.json(), json!({ "next": "blocked", "reason": "sim_changed", "number": "new" }), "{}", r.text());
    assert_eq!(b.otp_start(&env, &csrf).await.status, 409);
    assert_eq!(env.otp_starts(), sends, "nothing is texted to it");
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
    assert_eq!(told(&env, NotificationKind::SimChangeBlocked), 0, "the owner's own number is fine");
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 200, "still signed in");
}

/// The current number's SIM check is the sign-in's: a recent change there stops the change (and
/// tells the owner), and nothing skips a step or proves two.
#[tokio::test]
async fn a_phone_change_cannot_skip_a_number() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut b = Browser::at("198.51.100.74");
    let session = b.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    // Signed in; then the SIM of the account's number changes.
    let changed = simguard_sandbox::truid::Profile {
        matched: true,
        no_sim_change: false,
        sim_change_within: Some(24),
        error_code: None,
        unsupported: false,
    };
    env.sandbox.truid().set_profile(ALICE.1, changed);
    let r = b.send(&env, change_phone(&session, PASSWORD, NEW_NUMBER)).await;
    let csrf = r.json()["csrf"].as_str().expect("csrf").to_owned();
    // A code before any was sent, on the current number's step.
    assert_eq!(b.otp_verify(&env, &csrf, "123456").await.status, 409);
    let r = b.sim_check(&env, &csrf).await;
    assert_eq!(r.json(), json!({ "next": "blocked", "reason": "sim_changed", "number": "current" }), "{}", r.text());
    assert_eq!(b.otp_start(&env, &csrf).await.status, 409);
    assert_eq!(told(&env, NotificationKind::SimChangeBlocked), 1, "the owner is told");
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);

    // The current number's code, replayed once the new number is next, proves nothing.
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let mut a = Browser::at("198.51.100.75");
    let session = a.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let csrf = prove_current_number(&env, &mut a, &session, NEW_NUMBER).await;
    let replay = a.otp_verify(&env, &csrf, &env.last_code(ALICE.1)).await;
    assert_eq!(replay.problem_type().as_deref(), Some("urn:simguard:problem:flow_invalid"), "{}", replay.text());
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}

#[tokio::test]
async fn a_phone_change_needs_the_session_the_password_and_another_number() {
    let env = Env::start().await;
    env.user(ALICE.0, ALICE.1).await;
    let r = Browser::at("198.51.100.76").send(&env, change_phone("anything", PASSWORD, NEW_NUMBER)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let mut b = Browser::at("198.51.100.77");
    let session = b.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
    let problem = |r: &Resp| (r.status, r.problem_type(), r.json()["reason"].as_str().map(str::to_owned));
    let wrong = b.send(&env, change_phone(&session, "not the password at all", NEW_NUMBER)).await;
    assert_eq!(problem(&wrong), (401, Some("urn:simguard:problem:invalid_credentials".into()), None));
    let same = b.send(&env, change_phone(&session, PASSWORD, ALICE.1)).await;
    assert_eq!(problem(&same), (400, Some("urn:simguard:problem:invalid_phone".into()), Some("same_number".into())));
    let junk = b.send(&env, change_phone(&session, PASSWORD, "12")).await;
    assert_eq!(junk.problem_type().as_deref(), Some("urn:simguard:problem:invalid_phone"));
    let forged = b
        .send(&env, Event::post("/api/phone/change", json!({ "current_password": PASSWORD, "new_phone": NEW_NUMBER })))
        .await;
    assert_eq!(forged.status, 403, "without the session's CSRF token: {}", forged.text());
    // Password guesses count with the password change's.
    let limit = env.settings(simguard::Function::Account).limits.login_per_account_15min;
    let mut last = 0;
    for _ in 0..limit {
        last = b.send(&env, change_phone(&session, "another wrong guess", NEW_NUMBER)).await.status;
    }
    assert_eq!(last, 429);
    assert_eq!(env.stored_user(ALICE.0).await.phone.e164(), ALICE.1);
}

/// With a sender configured, the number the account left is texted a notice — through each
/// provider's messaging API, with no code and no number in it.
#[tokio::test]
async fn the_old_number_is_told_through_every_provider() {
    for provider in [OtpProviderKind::VonageV1, OtpProviderKind::VonageV2, OtpProviderKind::Twilio] {
        let env = Env::builder()
            .provider(provider)
            .var("SIMGUARD_SMS_SENDER", "Example")
            .var("SIMGUARD_SITE_NAME", "Example Bank")
            .var("SIMGUARD_SUPPORT_CONTACT", "help@bank.example")
            .start()
            .await;
        env.user(ALICE.0, ALICE.1).await;
        let mut b = Browser::at("198.51.100.78");
        let session = b.sign_in(&env, ALICE.0, PASSWORD, ALICE.1).await;
        let csrf = prove_current_number(&env, &mut b, &session, NEW_NUMBER).await;
        let done = b.second_factor(&env, &csrf, NEW_NUMBER).await;
        assert_eq!(done.json()["next"], "phone_changed", "{provider:?}: {}", done.text());
        let to_old = env.sandbox.outbox().into_iter().filter(|m| m.to == ALICE.1).collect::<Vec<_>>();
        let notice = to_old.last().expect("a message to the old number");
        assert_eq!(notice.code, "", "{provider:?}: a notice, not a code");
        assert_eq!(
            notice.text,
            "Example Bank: the mobile number on your account was changed, so your codes no longer come to this phone. If you did not do this, contact help@bank.example now.",
            "{provider:?}"
        );
        assert!(!notice.text.contains("24"), "the new number is not in it");
        assert!(env.sandbox.outbox().iter().all(|m| m.to != NEW_NUMBER || !m.code.is_empty()));
    }
}
