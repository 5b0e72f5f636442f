//! The silent password reset through the real router, against the tru.ID sandbox.

use crate::support::*;
use serde_json::json;
use simguard::ports::NotificationKind;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

#[tokio::test]
async fn a_phone_that_passes_resets_the_password_once() {
    let env = Env::start().await;
    let before = env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();

    // Coverage, then the start.
    let cov = b.send(&env, Event::get("/api/coverage")).await;
    assert_eq!((cov.status, cov.json()), (200, json!({ "silent": true })));
    let (csrf, cb) = b.silent_reset(&env, "alice@example.com").await;

    // The callback: 303 to a clean URL, reset cookie issued, nothing cacheable, no referrer (B5).
    assert_eq!(cb.status, 303);
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"));
    assert_eq!(cb.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(cb.header("referrer-policy").as_deref(), Some("no-referrer"));
    assert!(b.cookies.contains_key(RESET));
    // Minimum provider calls: coverage + create + PATCH, plus one token for each of the three
    // functions (coverage, create-check, callback: each is its own process when deployed).
    let calls: Vec<String> = env
        .sandbox
        .truid()
        .requests()
        .iter()
        .filter(|r| !r.path.ends_with("/redirect")) // the device's own visit, not ours
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let product: Vec<&String> = calls.iter().filter(|c| !c.ends_with("/oauth2/v1/token")).collect();
    assert_eq!(product.len(), 3, "{calls:?}");
    assert_eq!(calls.len() - product.len(), 3, "one token per function: {calls:?}");
    assert_eq!(env.patches(), 1);
    assert!(!calls.iter().any(|c| c.starts_with("GET /subscriber_check")), "the PATCH answer is not re-read");

    let done = b.set_password(&env, &csrf, NEW_PASSWORD).await;
    assert_eq!((done.status, done.json()), (200, json!({ "status": "password_changed" })), "{}", done.text());
    // No sign-in follows a reset (D5); both flow cookies are cleared.
    assert!(done.cookie(SESSION).is_none());
    assert!(!b.cookies.contains_key(FLOW) && !b.cookies.contains_key(RESET));
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 401);

    // D2: new hash, credential version bumped, audit record written.
    let after = env.stored_user("alice@example.com").await;
    assert_eq!(after.credential_version, before.credential_version + 1);
    assert!(env.password_works("alice@example.com", NEW_PASSWORD).await);
    assert!(!env.password_works("alice@example.com", PASSWORD).await);
    let audit = env.audit_events(&before.id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].event.as_str(), audit[0].user_id.clone()), ("password_reset", before.id.clone()));

    // D6: exactly one email, to the owner, with when/where and no secret in it.
    let sent = env.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].kind, sent[0].to.as_str()), (NotificationKind::PasswordReset, "alice@example.com"));
    let site = env.settings(simguard::Function::ResetPassword).site;
    let mail = sent[0].render(&site).expect("rendered");
    for body in [&mail.text, &mail.html] {
        assert!(
            body.contains("127.0.0.1")
                && body.contains("an unrecognised browser")
                && body.contains("https://app.example/help/not-me.html")
                && body.contains(&site.name)
        );
        for secret in [NEW_PASSWORD, PASSWORD, &csrf, "+447000000070"] {
            assert!(!body.contains(secret), "notification contains {secret}");
        }
    }

    // Sign in with the new password (and the second factor); the old one is refused.
    assert_eq!(b.login(&env, "alice@example.com", PASSWORD).await.status, 401);
    b.sign_in(&env, "alice@example.com", NEW_PASSWORD, "+447000000070").await;
    let me = b.send(&env, Event::get("/api/me")).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["email"], "alice@example.com");
    assert_eq!(me.json()["phone"], "+••••••••••70");

    // The reset token was single use (B4).
    let again = b.set_password(&env, &csrf, "yet another passphrase 7").await;
    assert_eq!(again.status, 409);
}

#[tokio::test]
async fn sim_changed_refuses_and_tells_the_owner() {
    let env = Env::start().await;
    env.user("sam@example.com", "+447000000008").await;
    let mut b = Browser::default();
    let (csrf, cb) = b.silent_reset(&env, "sam@example.com").await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=sim_changed"));
    assert!(!b.cookies.contains_key(RESET));
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("sam@example.com", PASSWORD).await);
    let sent = env.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, NotificationKind::SimChangeBlocked);
}

#[tokio::test]
async fn no_match_refuses() {
    let env = Env::start().await;
    env.user("nina@example.com", "+447000000001").await;
    let mut b = Browser::default();
    let (csrf, cb) = b.silent_reset(&env, "nina@example.com").await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=no_match"));
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("nina@example.com", PASSWORD).await);
    assert!(env.outbox.sent().is_empty());
}

#[tokio::test]
async fn operator_errors_fail_the_silent_check() {
    let env = Env::start().await;
    env.user("erin@example.com", "+447700900099").await;
    let mut b = Browser::default();
    let (csrf, cb) = b.silent_reset(&env, "erin@example.com").await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("erin@example.com", PASSWORD).await);
}

/// B6: the operator's error redirect maps to a fixed code; its text is never echoed.
#[tokio::test]
async fn operator_redirect_errors_are_fixed_codes() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    env.sandbox.truid().set_redirect_error("+447000000070", "mno_redirect_unsupported");
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("check_url")).await;
    assert!(location.query().unwrap_or("").contains("error=mno_redirect_unsupported"));
    // An attacker-chosen description rides along; it must go nowhere.
    let query = format!("{}&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E", location.query().unwrap_or(""));
    let cb = b.send(&env, Event::get("/api/reset/callback").query(&query)).await;
    assert_eq!(cb.status, 303);
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert!(cb.body.is_empty());
    assert_eq!(env.patches(), 0);
}

#[tokio::test]
async fn an_expired_check_is_not_a_pass() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("check_url")).await;
    env.advance(121); // past tru.ID's 120 s ttl, inside our 10 min flow
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert!(env.password_works("alice@example.com", PASSWORD).await);
}

/// B4: the flow lives 10 minutes; after that the callback does nothing, tru.ID is not called.
#[tokio::test]
async fn an_expired_flow_is_refused_without_calling_truid() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("check_url")).await;
    env.clock.advance(601); // our clock only: the tru.ID check itself would still be live
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    assert_eq!(env.patches(), 0);
}

#[tokio::test]
async fn a_verified_flow_expires_too() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let (csrf, cb) = b.silent_reset(&env, "alice@example.com").await;
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"));
    env.advance(601);
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("alice@example.com", PASSWORD).await);
}

/// D3 at reset: a refused password says why, and the flow stays usable for a better one.
#[tokio::test]
async fn weak_passwords_are_refused_with_a_reason() {
    let env = Env::start().await;
    env.user("alice.liddell@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let (csrf, _) = b.silent_reset(&env, "alice.liddell@example.com").await;
    for (pw, reason) in [
        ("short", "too_short"),
        ("qwerty123456", "too_common"),
        ("alice.liddell rules", "contains_personal_info"),
        (&"x".repeat(129) as &str, "too_long"),
    ] {
        let r = b.set_password(&env, &csrf, pw).await;
        assert_eq!(r.status, 400, "{pw}");
        assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:weak_password"));
        assert_eq!(r.json()["reason"], reason);
        assert_eq!(r.header("content-type").as_deref(), Some("application/problem+json"));
    }
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);
}

/// D1: completion takes nothing but the password from the body.
#[tokio::test]
async fn the_body_cannot_name_the_account() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let (csrf, _) = b.silent_reset(&env, "alice@example.com").await;
    for body in [
        json!({ "password": NEW_PASSWORD, "email": "bob@example.com" }),
        json!({ "password": NEW_PASSWORD, "user_id": "u-bob" }),
        json!({ "password": NEW_PASSWORD, "check_id": "c69bc0e6-a429-11ea-bb37-0242ac130002" }),
        json!({ "pass": NEW_PASSWORD }),
    ] {
        let r = b.send(&env, Event::post("/api/reset/password", body.clone()).csrf(&csrf)).await;
        assert_eq!((r.status, r.problem_type()), (400, Some("urn:simguard:problem:invalid_request".into())), "{body}");
    }
    // Without the reset cookie the flow cookie alone does nothing.
    let mut no_reset = b.clone();
    no_reset.cookies.remove(RESET);
    assert_eq!(no_reset.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("alice@example.com", PASSWORD).await);
}

/// Steps out of order are refused: a flow still waiting for its check cannot set a password.
#[tokio::test]
async fn steps_out_of_order_are_refused() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.set_password(&env, &csrf, NEW_PASSWORD).await.status, 409);
    assert!(env.password_works("alice@example.com", PASSWORD).await);
}

#[tokio::test]
async fn bad_input_is_a_clear_problem_never_a_500() {
    let env = Env::start().await;
    let mut b = Browser::default();
    let cases = [
        (Event::post("/api/reset/check", json!({ "email": "not an email" })), 400, "invalid_email"),
        (Event::post("/api/reset/check", json!({ "email": 42 })), 400, "invalid_request"),
        (Event::post("/api/reset/check", json!({})), 400, "invalid_request"),
        (Event::post("/api/reset/check", json!({ "email": "a@example.com", "x": 1 })), 400, "invalid_request"),
        (Event::post("/api/reset/check", json!(null)).body("{\"email\":".into()), 400, "invalid_request"),
        (
            Event::post("/api/reset/check", json!(null)).header("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            Event::post("/api/reset/check", json!(null)).body(format!("{{\"email\":\"{}\"}}", "a".repeat(20_000))),
            413,
            "payload_too_large",
        ),
        (
            Event::post(
                "/api/register",
                json!({ "email": "a@example.com", "phone": "0770", "password": NEW_PASSWORD }),
            ),
            400,
            "invalid_phone",
        ),
        (Event::get("/api/reset/check"), 405, "method_not_allowed"),
        (Event::get("/api/nothing-here"), 404, "not_found"),
        (Event::post("/api/reset/password", json!({ "password": NEW_PASSWORD })), 403, "csrf_rejected"),
        (Event::post("/api/reset/password", json!({ "password": NEW_PASSWORD })).csrf("x"), 409, "flow_invalid"),
    ];
    for (event, status, slug) in cases {
        let r = b.send(&env, event.clone()).await;
        assert_eq!(r.status, status, "{} {}: {}", event.method, event.path, r.text());
        assert_eq!(r.problem_type(), Some(format!("urn:simguard:problem:{slug}")), "{}", event.path);
        assert_eq!(r.header("content-type").as_deref(), Some("application/problem+json"));
    }
    // A callback with garbage never errors: it is always a redirect to a fixed page.
    for q in [
        "",
        "check_id=x&code=y",
        "check_id=%00&code=%FF",
        "code=a&code=b&check_id=c69bc0e6-a429-11ea-bb37-0242ac130002",
    ] {
        let r = b.send(&env, Event::get("/api/reset/callback").query(q)).await;
        assert_eq!((r.status, r.location().as_deref()), (303, Some("/reset/result.html?r=link_invalid")), "{q}");
    }
}

/// G5 and server-side invalidation: logout deletes the session, the old cookie is dead.
#[tokio::test]
async fn sessions_end_on_the_server() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", PASSWORD).await;
    let flow_csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let done = b.second_factor(&env, &flow_csrf, "+447000000070").await;
    assert_eq!(done.status, 200);
    let set = done.set_cookies().into_iter().find(|c| c.starts_with(SESSION)).expect("session cookie");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(set.contains(attr), "{set}");
    }
    assert_eq!(done.cookie(SESSION).map(|v| v.len()), Some(43), "256-bit value");
    assert!(!b.cookies.contains_key(FLOW), "the login flow cookie is cleared");
    let stolen = b.clone();
    let csrf = done.json()["csrf"].as_str().expect("csrf").to_owned();
    // Logout needs the session's CSRF token.
    assert_eq!(b.send(&env, Event::post("/api/logout", json!({}))).await.status, 403);
    assert_eq!(b.send(&env, Event::post("/api/logout", json!({})).csrf(&csrf)).await.status, 204);
    let mut replay = stolen;
    assert_eq!(replay.send(&env, Event::get("/api/me")).await.status, 401);
}

#[tokio::test]
async fn login_does_not_say_which_part_was_wrong() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let unknown = b.login(&env, "nobody@example.com", PASSWORD).await;
    let wrong = b.login(&env, "alice@example.com", "not the passphrase at all").await;
    assert_eq!((unknown.status, unknown.body.clone()), (wrong.status, wrong.body.clone()));
    assert_eq!(unknown.status, 401);
}

#[tokio::test]
async fn registration_does_not_reveal_existing_accounts() {
    let env = Env::start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let new = b
        .send(
            &env,
            Event::post(
                "/api/register",
                json!({ "email": "new@example.com", "phone": "+44 7700 900123", "password": NEW_PASSWORD }),
            ),
        )
        .await;
    let taken = b
        .send(
            &env,
            Event::post(
                "/api/register",
                json!({ "email": "ALICE@example.com", "phone": "+447700900124", "password": NEW_PASSWORD }),
            ),
        )
        .await;
    assert_eq!((new.status, new.body.clone()), (taken.status, taken.body.clone()));
    assert_eq!(new.status, 201);
    // The new account works; alice's is untouched and she is told.
    assert_eq!(env.stored_user("new@example.com").await.phone.e164(), "+447700900123");
    assert!(env.password_works("alice@example.com", PASSWORD).await);
    let sent = env.outbox.sent();
    assert_eq!((sent.len(), sent[0].kind), (1, NotificationKind::RegistrationWithExistingEmail));
}
