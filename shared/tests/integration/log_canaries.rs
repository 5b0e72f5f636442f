//! docs/security.md H2 / S14: a log capture over whole flows, seeded with canary secrets, finds none
//! of them. simguard's own targets are captured at TRACE (stricter than production); other crates at
//! the production default (INFO). That includes the provider sandbox: it stands in for tru.ID, Vonage
//! and Twilio, whose own records of what they sent are outside our system, and at DEBUG it prints
//! the texts it "sent" for developers.

use serde_json::json;

use crate::support::logs::capture;
use crate::support::*;

const CODE: &str = "canarycode7731";

/// None of `canaries` (each non-empty) is anywhere in the captured `text`.
fn assert_no_canary(text: &str, canaries: &[String]) {
    for canary in canaries {
        assert!(!canary.is_empty());
        let line = text.lines().find(|l| l.contains(canary.as_str())).unwrap_or("");
        assert!(!text.contains(canary.as_str()), "a secret reached the logs: {canary} in {line}");
    }
}
const NEW_PASSWORD: &str = "canary new passphrase zebra";

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let (logs, _capturing) = capture();
    let env = Env::builder().sandbox(|c| c.truid.fixed_code = Some(CODE.into())).start().await;
    env.user("alice@example.com", "+447000000070").await;
    env.user("sam@example.com", "+447000000008").await;
    let mut canaries: Vec<String> = vec![
        CLIENT_SECRET.into(),
        CODE.into(),
        PASSWORD.into(),
        NEW_PASSWORD.into(),
        "+447000000070".into(),
        "447000000070".into(),
        "+447000000008".into(),
        "+447700900123".into(),
        "alice@example.com".into(),
    ];

    // Registration and a sign-in.
    let mut b = Browser::default();
    let reg = b
        .send(
            &env,
            Event::post(
                "/api/register",
                json!({ "email": "reg@example.com", "phone": "+447700900123", "password": NEW_PASSWORD }),
            ),
        )
        .await;
    assert_eq!(reg.status, 201);
    let session_csrf = b.sign_in(&env, "alice@example.com", PASSWORD, "+447000000070").await;
    canaries.push(session_csrf);
    canaries.extend(b.cookies.get(SESSION).cloned());
    canaries.push(env.last_code("+447000000070"));
    b.login(&env, "alice@example.com", "a wrong passphrase here").await;

    // A full silent reset, with the callback URL replayed afterwards.
    let mut r = Browser::default();
    let start = r.start_reset(&env, "alice@example.com").await;
    let check_url = start.json()["check_url"].as_str().expect("check_url").to_owned();
    let check_id = check_url.split('/').rev().nth(1).expect("id").to_owned();
    canaries.extend([check_url.clone(), check_id.clone()]);
    canaries.extend(start.cookie(FLOW));
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    canaries.push(csrf.clone());
    let location = env.device_visit(&check_url).await;
    canaries.push(location.to_string());
    let cb = r.follow_to_callback(&env, &location).await;
    canaries.extend(cb.cookie(RESET));
    r.follow_to_callback(&env, &location).await;
    assert_eq!(r.set_password(&env, &csrf, "short").await.status, 400);
    assert_eq!(r.set_password(&env, &csrf, NEW_PASSWORD).await.status, 200);

    // A refused reset (SIM changed → a notification), a relayed URL, garbage input.
    let mut s = Browser::default();
    let start = s.start_reset(&env, "sam@example.com").await;
    let sam_url = start.json()["check_url"].as_str().expect("check_url").to_owned();
    canaries.push(sam_url.clone());
    let sam_location = env.device_visit(&sam_url).await;
    Browser::default().follow_to_callback(&env, &sam_location).await;
    s.follow_to_callback(&env, &sam_location).await;
    s.send(
        &env,
        Event::get("/api/reset/callback")
            .query(&format!("check_id={check_id}&code={CODE}&error=x&error_description=secret-ish")),
    )
    .await;
    s.send(&env, Event::post("/api/reset/check", json!({ "email": "alice@example.com", "password": PASSWORD }))).await;

    // The account's own steps: a sign-in that remembers its browser, a password change, the list of
    // browsers, the registration page's phone check.
    env.user("dora@example.com", "+447000000072").await;
    let dora_new = "tulips under a quiet april rain";
    canaries.extend([dora_new.to_owned(), "+447000000072".into(), "+447700900124".into(), "447700900124".into()]);
    let mut d = Browser::default();
    let login = d.login(&env, "dora@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    d.sim_check(&env, &csrf).await;
    d.otp_start(&env, &csrf).await;
    let code = env.last_code("+447000000072");
    let done =
        d.send(&env, Event::post("/api/otp/verify", json!({ "code": code, "remember": true })).csrf(&csrf)).await;
    canaries.extend(d.cookies.get("__Host-simguard-device").cloned());
    let session = done.json()["csrf"].as_str().expect("csrf").to_owned();
    let change = json!({ "current_password": PASSWORD, "new_password": dora_new });
    assert_eq!(d.send(&env, Event::post("/api/password", change).csrf(&session)).await.status, 200);
    assert_eq!(d.send(&env, Event::get("/api/devices")).await.status, 200);
    d.send(&env, Event::post("/api/phone/check", json!({ "phone": "+447700900124" }))).await;

    // One access token per function that calls tru.ID, cached across its requests.
    let tokens = env.sandbox.truid().issued_tokens();
    assert!((1..=4).contains(&tokens.len()), "{} tokens", tokens.len());
    canaries.extend(tokens);

    let text = logs.text();
    // The capture works and the flows logged their events.
    for event in [
        "reset_started",
        "subscriber_check_result",
        "password_reset",
        "callback_refused",
        "login_failed",
        "notification queued",
        "device_remembered",
        "password_changed",
    ] {
        assert!(text.contains(event), "expected a {event} log line");
    }
    assert_no_canary(&text, &canaries);
}

/// The same for the newer paths: a reset and a sign-in proven through CAMARA Number Verification
/// (its authorization URL, `state`, code, PKCE verifier, client secret), a phone change with the
/// old number texted, and the SIM-swap sources.
#[tokio::test]
async fn no_secret_of_the_silent_provers_or_a_phone_change_reaches_the_logs() {
    use simguard::ports::Clock;
    let (logs, _capturing) = capture();
    let env = Env::builder()
        .var("SIMGUARD_SILENT_PROVIDERS", "camara")
        .var("SIMGUARD_SIM_SWAP_SOURCES", "camara,twilio-lookup,truid")
        .var("SIMGUARD_SMS_SENDER", "Example")
        .start()
        .await;
    env.user("alice@example.com", "+447000000070").await;
    let camara_secret = simguard_sandbox::CamaraConfig::default().client_secret;
    let mut canaries: Vec<String> =
        vec![camara_secret, PASSWORD.into(), "+447000000070".into(), "447000000070".into(), "alice@example.com".into()];

    // A reset proven through CAMARA.
    let mut r = Browser::default();
    let start = r.start_reset(&env, "alice@example.com").await;
    let device_url = start.json()["check_url"].as_str().expect("url").to_owned();
    let flow_cookie = start.cookie(FLOW).expect("flow cookie");
    let key = simguard::domain::Token::parse(&flow_cookie).expect("token").hash();
    let flow = env.store.get_flow(&key, env.clock.now()).await.expect("read").expect("flow");
    canaries.extend([device_url.clone(), flow_cookie]);
    canaries.extend(flow.check_id.clone());
    canaries.extend(flow.silent_secret.clone());
    let location = env.device_visit(&device_url).await;
    canaries.push(location.to_string());
    canaries.extend(location.query_pairs().map(|(_, v)| v.into_owned()));
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(r.follow_to_callback(&env, &location).await.location().as_deref(), Some("/reset/new-password.html"));
    assert_eq!(r.set_password(&env, &csrf, "a canary passphrase for camara").await.status, 200);
    canaries.push("a canary passphrase for camara".into());

    // A sign-in proven the same way, then a phone change: both numbers, a code each, the notice.
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", "a canary passphrase for camara").await;
    let login_csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&login_csrf)).await;
    let url = started.json()["check_url"].as_str().expect("url").to_owned();
    let back = env.device_visit(&url).await;
    canaries.extend([url, back.to_string()]);
    assert_eq!(b.follow_to_callback(&env, &back).await.location().as_deref(), Some("/login.html?r=signed_in"));
    let session = b.send(&env, Event::get("/api/me")).await.json()["csrf"].as_str().expect("csrf").to_owned();
    canaries.extend([session.clone(), "+447700900124".into(), "447700900124".into()]);
    let change = json!({ "current_password": "a canary passphrase for camara", "new_phone": "07700 900124" });
    let flow = b.send(&env, Event::post("/api/phone/change", change).csrf(&session)).await;
    let csrf = flow.json()["csrf"].as_str().expect("csrf").to_owned();
    let current = b.second_factor(&env, &csrf, "+447000000070").await;
    assert_eq!(current.json()["next"], "new_number", "{}", current.text());
    canaries.push(env.last_code("+447000000070"));
    let done = b.second_factor(&env, &csrf, "+447700900124").await;
    assert_eq!(done.json()["next"], "phone_changed", "{}", done.text());
    canaries.push(env.last_code("+447700900124"));
    assert!(env.sandbox.outbox().iter().any(|m| m.to == "+447000000070" && m.code.is_empty()), "the notice went");

    // And on to another number, both proven silently, then finished.
    let session = done.json()["csrf"].as_str().expect("csrf").to_owned();
    canaries.extend([session.clone(), "+447700900126".into(), "447700900126".into()]);
    let change = json!({ "current_password": "a canary passphrase for camara", "new_phone": "+447700900126" });
    let flow = b.send(&env, Event::post("/api/phone/change", change).csrf(&session)).await;
    let csrf = flow.json()["csrf"].as_str().expect("csrf").to_owned();
    canaries.extend(flow.cookie(FLOW));
    for landing in ["/account.html?r=current_proven", "/account.html?r=new_proven"] {
        let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
        let url = started.json()["check_url"].as_str().expect("url").to_owned();
        let back = env.device_visit(&url).await;
        canaries.extend([url, back.to_string()]);
        canaries.extend(back.query_pairs().map(|(_, v)| v.into_owned()));
        assert_eq!(b.follow_to_callback(&env, &back).await.location().as_deref(), Some(landing));
    }
    let finished = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    assert_eq!(finished.json()["next"], "phone_changed", "{}", finished.text());

    let text = logs.text();
    for event in [
        "subscriber_check_result",
        "login_silent_started",
        "phone_changed",
        "old_number_told",
        "phone_change_silent_started",
        "phone_change_new_proven",
    ] {
        assert!(text.contains(event), "expected a {event} log line");
    }
    assert_no_canary(&text, &canaries);
}

/// Vonage silent auth: the device URL, Vonage's request id and code (posted from the fragment) and
/// the credentials never reach the logs.
#[tokio::test]
async fn no_secret_of_vonage_silent_auth_reaches_the_logs() {
    let (logs, _capturing) = capture();
    let mut canaries: Vec<String> = vec![
        simguard_sandbox::VonageConfig::default().api_secret,
        PASSWORD.into(),
        "+447000000070".into(),
        "447000000070".into(),
        "alice@example.com".into(),
    ];
    for provider in ["vonage"] {
        let env = Env::builder().var("SIMGUARD_SILENT_PROVIDERS", provider).start().await;
        env.user("alice@example.com", "+447000000070").await;
        let mut r = Browser::default();
        let start = r.start_reset(&env, "alice@example.com").await;
        let device_url = start.json()["check_url"].as_str().expect("url").to_owned();
        canaries.push(device_url.clone());
        canaries.extend(start.cookie(FLOW));
        let location = env.device_visit(&device_url).await;
        canaries.push(location.to_string());
        let posted: Vec<(String, String)> =
            url::form_urlencoded::parse(location.fragment().unwrap_or("").as_bytes()).into_owned().collect();
        canaries.extend(posted.iter().map(|(_, v)| v.clone()));
        let pairs: Vec<(&str, &str)> = posted.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let cb = r.post_to_callback(&env, &pairs).await;
        assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"), "{provider}: {}", cb.text());
    }
    let text = logs.text();
    assert!(text.contains("subscriber_check_result"), "expected the outcome's log line");
    assert_no_canary(&text, &canaries);
}

/// The verification API and the Cognito triggers: the site's API key, the hosted page's link token,
/// the result token, the number, the code, the device URL and the redirect's parameters never reach
/// the logs.
#[tokio::test]
async fn no_secret_of_a_sites_verification_or_a_cognito_sign_in_reaches_the_logs() {
    let (logs, _capturing) = capture();
    let env = Env::builder()
        .sandbox(|c| c.truid.fixed_code = Some(CODE.into()))
        .var("SIMGUARD_COGNITO_RETURN_URL", "https://app.example/cognito/return.html")
        .start()
        .await;
    let back = "https://shop.example/verified";
    let key = register_site(&env, "shop", back, 5).await;
    let mut canaries: Vec<String> = vec![key.clone(), CODE.into(), "+447000000070".into(), "447000000070".into()];

    // A Cognito sign-in: silent, then a code (while the device is on mobile data).
    let triggers = env.cognito.as_ref().expect("triggers");
    let attributes = json!({ "sub": "a1", "email": "alice@example.com", "phone_number": "+447000000072", "phone_number_verified": "true" });
    canaries.extend(["+447000000072".to_owned(), "447000000072".to_owned(), "alice@example.com".to_owned()]);
    let event = |source: &str, request: serde_json::Value| {
        json!({ "version": "1", "region": "eu-west-2", "userPoolId": "eu-west-2_Ex4mple", "userName": "alice@example.com",
                "callerContext": { "clientId": "c" }, "triggerSource": source, "request": request, "response": {} })
    };
    let session = json!([{ "challengeName": "SRP_A", "challengeResult": true }, { "challengeName": "PASSWORD_VERIFIER", "challengeResult": true }]);
    for method in ["silent", "sms"] {
        let created = triggers
            .handle(event(
                "CreateAuthChallenge_Authentication",
                json!({ "userAttributes": attributes, "session": session, "clientMetadata": { "method": method } }),
            ))
            .await
            .expect("create");
        let r = &created["response"];
        let private = r["privateChallengeParameters"].clone();
        let answer = match r["publicChallengeParameters"]["next"].as_str() {
            Some("silent") => {
                let device_url = r["publicChallengeParameters"]["check_url"].as_str().expect("url").to_owned();
                canaries.push(device_url.clone());
                let location = env.device_visit(&device_url).await;
                location.query().unwrap_or_default().to_owned()
            }
            _ => env.last_code("+447000000072"),
        };
        canaries.push(answer.clone());
        canaries.extend(
            private
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "kind" && *k != "provider")
                .filter_map(|(_, v)| v.as_str().map(str::to_owned)),
        );
        let verify =
            json!({ "userAttributes": attributes, "privateChallengeParameters": private, "challengeAnswer": answer });
        let checked =
            triggers.handle(event("VerifyAuthChallengeResponse_Authentication", verify)).await.expect("verify");
        assert_eq!(checked["response"]["answerCorrect"], true, "{method}");
    }
    // A silent verification, redeemed; then one by SMS.
    for coverage in [true, false] {
        if !coverage {
            env.no_coverage();
        }
        let body =
            json!({ "phone": "+447000000070", "purpose": "recovery", "return_url": back, "state": "canary-state-91" });
        let created = env
            .send(
                &Event::post("/api/v1/verifications", body).without_header("origin").header("x-simguard-api-key", &key),
            )
            .await;
        let link = created.json()["url"].as_str().expect("url").rsplit('#').next().expect("token").to_owned();
        canaries.push(link.clone());
        // Another address for the SMS path: the first one's coverage answer is cached.
        let mut b = if coverage { Browser::default() } else { Browser::at("198.51.100.9") };
        let begun = b.send(&env, Event::post("/api/verify/begin", json!({ "token": link }))).await;
        canaries.extend(begun.cookie(FLOW));
        let back_url = if coverage {
            let device_url = begun.json()["check_url"].as_str().expect("check_url").to_owned();
            canaries.push(device_url.clone());
            let location = env.device_visit(&device_url).await;
            canaries.push(location.query().unwrap_or_default().to_owned());
            b.follow_to_callback(&env, &location).await.location().expect("back")
        } else {
            let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
            b.sim_check(&env, &csrf).await;
            b.otp_start(&env, &csrf).await;
            let code = env.last_code("+447000000070");
            canaries.push(code.clone());
            b.otp_verify(&env, &csrf, &code).await.json()["url"].as_str().expect("url").to_owned()
        };
        let token = url::Url::parse(&back_url)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "simguard_token")
            .map(|(_, v)| v.into_owned())
            .expect("token");
        canaries.push(token.clone());
        let redeem = Event::post("/api/v1/verifications/redeem", json!({ "token": token }))
            .without_header("origin")
            .header("x-simguard-api-key", &key);
        assert_eq!(env.send(&redeem).await.status, 200);
        assert_eq!(env.send(&redeem).await.status, 409);
    }

    let text = logs.text();
    assert!(
        text.contains("verification_proven") && text.contains("cognito_answer"),
        "expected the outcomes' log lines"
    );
    assert_no_canary(&text, &canaries);
}
