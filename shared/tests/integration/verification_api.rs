//! The verification API through the real routers: a site's backend starts a verification with its
//! key, the browser runs simguard's own steps on the hosted page, comes back with a signed result,
//! and the site redeems it once. Every abuse the API must refuse, refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use simguard::domain::Timestamp;
use simguard::domain::relying_site::{SiteId, new_api_key};
use simguard::domain::result_token::phone_hash;

use crate::support::*;

const RETURN: &str = "https://shop.example/verified";

/// Registers a site with the test's return URL and a key; returns the key.
async fn site(env: &Env, id: &str, seed: u8) -> String {
    register_site(env, id, RETURN, seed).await
}

/// A server-to-server call: the key, and no browser `Origin`.
fn api(path: &str, key: Option<&str>, body: Value) -> Event {
    let event = Event::post(path, body).without_header("origin");
    match key {
        Some(k) => event.header("x-simguard-api-key", k),
        None => event,
    }
}

async fn create(env: &Env, key: &str, phone: &str, purpose: &str) -> Resp {
    let body = json!({ "phone": phone, "purpose": purpose, "return_url": RETURN, "state": "cart 42" });
    env.send(&api("/api/v1/verifications", Some(key), body)).await
}

/// The token in the hosted page's URL fragment.
fn link_token(created: &Resp) -> String {
    let url = created.json()["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("{ORIGIN}/verify/#")), "{url}");
    url.rsplit('#').next().expect("fragment").to_owned()
}

async fn begin(b: &mut Browser, env: &Env, token: &str) -> Resp {
    b.send(env, Event::post("/api/verify/begin", json!({ "token": token }))).await
}

/// The return URL's parameters.
fn returned(url: &str) -> std::collections::BTreeMap<String, String> {
    assert!(url.starts_with(&format!("{RETURN}?")), "{url}");
    let parsed = url::Url::parse(url).expect("url");
    parsed.query_pairs().into_owned().collect()
}

/// The SMS path on the hosted page: the SIM check, a code, the code back; the return URL.
async fn by_sms(b: &mut Browser, env: &Env, begun: &Resp, phone: &str) -> String {
    assert_eq!((begun.status, begun.json()["next"].clone()), (200, json!("sms")), "{}", begun.text());
    let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
    let sim = b.sim_check(env, &csrf).await;
    assert_eq!(sim.json(), json!({ "next": "otp" }), "{}", sim.text());
    let sent = b.otp_start(env, &csrf).await;
    assert_eq!(sent.json()["status"], "sent", "{}", sent.text());
    let done = b.otp_verify(env, &csrf, &env.last_code(phone)).await;
    assert_eq!((done.status, done.json()["next"].clone()), (200, json!("return")), "{}", done.text());
    done.json()["url"].as_str().expect("url").to_owned()
}

async fn redeem(env: &Env, key: &str, token: &str) -> Resp {
    env.send(&api("/api/v1/verifications/redeem", Some(key), json!({ "token": token }))).await
}

#[tokio::test]
async fn a_site_verifies_a_number_by_sms_and_redeems_the_result_once() {
    let env = Env::start().await;
    env.no_coverage();
    let key = site(&env, "shop", 1).await;
    let created = create(&env, &key, "+447000000070", "recovery").await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("vrf_"));

    let mut b = Browser::default();
    let token = link_token(&created);
    let begun = begin(&mut b, &env, &token).await;
    assert_eq!(begun.json()["site"], "The shop site");
    assert_eq!(returned(begun.json()["return"]["cancelled"].as_str().expect("url"))["simguard_error"], "cancelled");
    let back = returned(&by_sms(&mut b, &env, &begun, "+447000000070").await);
    assert_eq!(back["state"], "cart 42", "the site's state comes back untouched");
    let result = &back["simguard_token"];

    // The link opens one flow, once.
    let again = begin(&mut Browser::default(), &env, &token).await;
    assert_eq!((again.status, again.problem_type().as_deref()), (409, Some("urn:simguard:problem:flow_invalid")));

    let claims = redeem(&env, &key, result).await;
    assert_eq!(claims.status, 200, "{}", claims.text());
    let c = claims.json();
    assert_eq!(
        (c["aud"].as_str(), c["sub"].as_str(), c["iss"].as_str()),
        (Some("shop"), Some(id.as_str()), Some(ORIGIN))
    );
    assert_eq!((c["purpose"].as_str(), c["method"].as_str()), (Some("recovery"), Some("sms")));
    assert_eq!(c["sim_change"], "not_changed");
    assert_eq!(c["phone_hash"].as_str(), Some(phone_hash("+447000000070").as_str()));
    assert_eq!(c["exp"].as_i64().zip(c["iat"].as_i64()).map(|(e, i)| e - i), Some(120));
    assert!(!claims.text().contains("+447000000070"), "the number itself is never in a result");

    // Single use.
    let replay = redeem(&env, &key, result).await;
    assert_eq!(
        (replay.status, replay.problem_type().as_deref()),
        (409, Some("urn:simguard:problem:result_token_used"))
    );
}

#[tokio::test]
async fn a_covered_device_is_proven_silently() {
    let env = Env::start().await;
    let key = site(&env, "shop", 1).await;
    let created = create(&env, &key, "+447000000070", "login").await;
    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&created)).await;
    assert_eq!(begun.json()["next"], "silent", "{}", begun.text());
    let location = env.device_visit(begun.json()["check_url"].as_str().expect("check_url")).await;
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.status, 303);
    let back = returned(&cb.location().expect("location"));
    let claims = redeem(&env, &key, &back["simguard_token"]).await.json();
    assert_eq!((claims["method"].as_str(), claims["purpose"].as_str()), (Some("silent"), Some("login")));
    assert_eq!(env.sms_count(), 0, "no SMS when the network proved the phone");
}

#[tokio::test]
async fn a_sim_change_refuses_a_recovery_but_a_phone_confirmation_says_so() {
    let env = Env::start().await;
    env.no_coverage();
    let key = site(&env, "shop", 1).await;

    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000008", "recovery").await)).await;
    let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
    let sim = b.sim_check(&env, &csrf).await.json();
    assert_eq!((sim["next"].as_str(), sim["reason"].as_str()), (Some("return"), Some("sim_changed")));
    assert_eq!(returned(sim["url"].as_str().expect("url"))["simguard_error"], "sim_changed");
    assert_eq!(b.otp_start(&env, &csrf).await.status, 409, "no SMS after the refusal");
    assert_eq!(env.sms_count(), 0);

    let mut b = Browser::default();
    let created = create(&env, &key, "+447000000008", "phone_confirmation").await;
    let begun = begin(&mut b, &env, &link_token(&created)).await;
    let back = returned(&by_sms(&mut b, &env, &begun, "+447000000008").await);
    let claims = redeem(&env, &key, &back["simguard_token"]).await.json();
    assert_eq!(
        (claims["sim_change"].as_str(), claims["purpose"].as_str()),
        (Some("changed"), Some("phone_confirmation"))
    );
}

#[tokio::test]
async fn only_a_live_key_of_the_site_starts_a_verification() {
    let env = Env::start().await;
    let key = site(&env, "shop", 1).await;
    let other = site(&env, "other", 7).await;
    let body = json!({ "phone": "+447000000070", "purpose": "login", "return_url": RETURN });
    let mut tampered = key.clone();
    tampered.pop();
    tampered.push(if key.ends_with('A') { 'B' } else { 'A' });
    // The other site's key id under this site's name.
    let (_, other_rest) = other.split_at("sgk_other_".len());
    let mixed = format!("sgk_shop_{other_rest}");
    for presented in [
        None,
        Some("not a key"),
        Some(tampered.as_str()),
        Some(mixed.as_str()),
        Some("sgk_ghost_0101010101010101_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let r = env.send(&api("/api/v1/verifications", presented, body.clone())).await;
        assert_eq!(
            (r.status, r.problem_type().as_deref()),
            (401, Some("urn:simguard:problem:api_key_invalid")),
            "{presented:?}"
        );
    }
    // A revoked key stops at once; the site's other keys go on.
    let site_id = SiteId::parse("shop").expect("id");
    let (second, record) = new_api_key(&site_id, [9; 8], [9; 32], Timestamp(T0));
    env.store.put_api_key(&record).await.expect("key");
    let key_id = key.split('_').nth(2).expect("key id").to_owned();
    env.store.revoke_api_key(&site_id, &key_id, Timestamp(T0)).await.expect("revoked");
    assert_eq!(env.send(&api("/api/v1/verifications", Some(&key), body.clone())).await.status, 401);
    assert_eq!(env.send(&api("/api/v1/verifications", Some(&second), body)).await.status, 201);
}

#[tokio::test]
async fn return_urls_must_be_registered_exactly_and_input_is_checked() {
    let env = Env::start().await;
    let key = site(&env, "shop", 1).await;
    for url in [
        "https://shop.example/verified/",
        "https://shop.example/verified?next=/admin",
        "https://shop.example.evil/verified",
        "http://shop.example/verified",
        "https://SHOP.example/verified#x",
    ] {
        let body = json!({ "phone": "+447000000070", "purpose": "login", "return_url": url });
        let r = env.send(&api("/api/v1/verifications", Some(&key), body)).await;
        assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:return_url_not_registered"), "{url}");
    }
    let cases = [
        (json!({ "phone": "07700 900001", "purpose": "login", "return_url": RETURN }), "invalid_phone"),
        (json!({ "phone": "+447000000070", "purpose": "payment", "return_url": RETURN }), "invalid_request"),
        (
            json!({ "phone": "+447000000070", "purpose": "login", "return_url": RETURN, "state": "a\nb" }),
            "invalid_request",
        ),
        (json!({ "phone": "+447000000070", "purpose": "login", "return_url": RETURN, "extra": 1 }), "invalid_request"),
    ];
    for (body, want) in cases {
        let r = env.send(&api("/api/v1/verifications", Some(&key), body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.problem_type(), Some(format!("urn:simguard:problem:{want}")), "{body}");
    }
}

#[tokio::test]
async fn forged_tampered_foreign_and_expired_results_are_refused() {
    let env = Env::start().await;
    env.no_coverage();
    let key = site(&env, "shop", 1).await;
    let other = site(&env, "other", 7).await;
    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000070", "step_up").await)).await;
    let token = returned(&by_sms(&mut b, &env, &begun, "+447000000070").await)["simguard_token"].clone();
    let invalid = Some("urn:simguard:problem:result_token_invalid");

    // Another site cannot redeem it (aud), and its attempt does not use it up.
    assert_eq!(redeem(&env, &other, &token).await.problem_type().as_deref(), invalid);

    // Tampered: a claim changed, the signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["purpose"] = json!("recovery");
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    // Algorithm confusion: `none`, and HS256 keyed with the published public key.
    let none =
        format!("{}.{forged_payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"sandbox-1"}"#));
    let jwks = env.send(&Event::get("/.well-known/jwks.json")).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control").as_deref(), Some("public, max-age=300"));
    let public = jwks.json()["keys"][0].to_string();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("sandbox-1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .expect("hs256");
    for forged in [tampered.as_str(), none.as_str(), hs256.as_str(), "not.a.jwt", ""] {
        assert_eq!(redeem(&env, &key, forged).await.problem_type().as_deref(), invalid, "{forged}");
    }

    // The real one still works — after its life, it does not.
    env.advance(121);
    let late = redeem(&env, &key, &token).await;
    assert_eq!(late.problem_type().as_deref(), Some("urn:simguard:problem:result_token_expired"));
}

#[tokio::test]
async fn an_unbegun_link_expires_and_a_locked_flow_can_go_back() {
    let env = Env::start().await;
    env.no_coverage();
    let key = site(&env, "shop", 1).await;
    let created = create(&env, &key, "+447000000070", "login").await;
    env.advance(601);
    let late = begin(&mut Browser::default(), &env, &link_token(&created)).await;
    assert_eq!(late.status, 409, "a link lives ten minutes");

    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000070", "login").await)).await;
    let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
    b.sim_check(&env, &csrf).await;
    b.otp_start(&env, &csrf).await;
    let right = env.last_code("+447000000070");
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let mut last = None;
    for _ in 0..5 {
        last = Some(b.otp_verify(&env, &csrf, wrong).await);
    }
    assert_eq!(last.map(|r| r.status), Some(429));
    assert_eq!(b.otp_verify(&env, &csrf, &right).await.status, 429, "locked: the right code no longer helps");
    let back = begun.json()["return"]["too_many_attempts"].as_str().expect("url").to_owned();
    assert_eq!(returned(&back)["simguard_error"], "too_many_attempts");
}

/// Vonage's result comes back through our return page's posted form, read with `fetch`: the end of a
/// site's verification is named in the answer (`{"go"}`), not a redirect the fetch would follow to
/// another site with the result.
#[tokio::test]
async fn a_vonage_proof_names_the_return_url_to_the_posting_page() {
    let env = Env::builder().var("SIMGUARD_SILENT_PROVIDERS", "vonage").start().await;
    let key = site(&env, "shop", 1).await;
    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000070", "login").await)).await;
    assert_eq!(begun.json()["next"], "silent", "{}", begun.text());
    let location = env.device_visit(begun.json()["check_url"].as_str().expect("check_url")).await;
    assert_eq!(location.path(), "/reset/silent-return.html");
    let fragment: Vec<(String, String)> =
        url::form_urlencoded::parse(location.fragment().unwrap_or("").as_bytes()).into_owned().collect();
    let pairs: Vec<(&str, &str)> = fragment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let posted = b.post_to_callback(&env, &pairs).await;
    assert_eq!(posted.status, 200, "{}", posted.text());
    let go = posted.json()["go"].as_str().expect("go").to_owned();
    let claims = redeem(&env, &key, &returned(&go)["simguard_token"]).await.json();
    assert_eq!(claims["method"], "silent");
}

/// An event for an IAM-authorised route as API Gateway hands it over after checking the caller's
/// SigV4 signature: the principal in `requestContext.authorizer.iam`.
fn signed_by(event: &Event, user_arn: Option<&str>) -> String {
    let mut json = event.to_json();
    if let Some(arn) = user_arn {
        json["requestContext"]["authorizer"] = json!({
            "iam": { "accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AROAEXAMPLE:i-0abc",
                     "principalOrgId": null, "userArn": arn, "userId": "AROAEXAMPLE:i-0abc" }
        });
    }
    json.to_string()
}

#[tokio::test]
async fn a_backend_inside_aws_calls_with_its_iam_role() {
    let env = Env::start().await;
    env.no_coverage();
    site(&env, "shop", 1).await;
    let body = json!({ "phone": "+447000000070", "purpose": "login", "return_url": RETURN });
    let create = Event::post("/api/v1/iam/verifications", body.clone()).without_header("origin");
    let session = "arn:aws:sts::123456789012:assumed-role/shop-backend/i-0abc";
    // No principal (not through API Gateway's IAM authorisation), or one of no site: refused.
    for caller in [None, Some(session)] {
        let r = env.send_event_json("/api/v1/iam/verifications", &signed_by(&create, caller)).await;
        assert_eq!(r.problem_type().as_deref(), Some("urn:simguard:problem:api_key_invalid"), "{caller:?}");
    }
    let role = simguard::domain::relying_site::principal("arn:aws:iam::123456789012:role/shop-backend").expect("role");
    env.store.put_site_principal(&role, &SiteId::parse("shop").expect("id")).await.expect("principal");
    // Any session of the role calls as the site; an API key is not needed.
    let created = env.send_event_json("/api/v1/iam/verifications", &signed_by(&create, Some(session))).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&created)).await;
    let token = returned(&by_sms(&mut b, &env, &begun, "+447000000070").await)["simguard_token"].clone();
    let redeem = Event::post("/api/v1/iam/verifications/redeem", json!({ "token": token })).without_header("origin");
    let redeemed = env.send_event_json("/api/v1/iam/verifications/redeem", &signed_by(&redeem, Some(session))).await;
    assert_eq!((redeemed.status, redeemed.json()["aud"].as_str()), (200, Some("shop")), "{}", redeemed.text());
    // Another role of the same account is not the site's.
    let other = "arn:aws:sts::123456789012:assumed-role/something-else/i-0abc";
    let r = env.send_event_json("/api/v1/iam/verifications", &signed_by(&create, Some(other))).await;
    assert_eq!(r.status, 401);
}

/// With a provider that holds one verification per number (Vonage v1), a site's verification for a
/// number whose owner is signing in through Cognito cannot take the owner's code over.
#[tokio::test]
async fn a_site_verification_cannot_take_over_a_sign_ins_code() {
    let env = Env::builder().var("SIMGUARD_OTP_PROVIDER", "vonage-v1").start().await;
    env.no_coverage();
    let key = site(&env, "shop", 1).await;
    let triggers = env.cognito.as_ref().expect("cognito triggers");
    let attributes = json!({ "sub": "a1", "phone_number": "+447000000070", "phone_number_verified": "true" });
    let created = triggers
        .handle(json!({
            "version": "1", "region": "eu-west-2", "userPoolId": "eu-west-2_Ex4mple", "userName": "alice",
            "callerContext": { "clientId": "c" }, "triggerSource": "CreateAuthChallenge_Authentication",
            "request": { "userAttributes": attributes, "session": [
                { "challengeName": "SRP_A", "challengeResult": true },
                { "challengeName": "PASSWORD_VERIFIER", "challengeResult": true } ] },
            "response": {}
        }))
        .await
        .expect("create");
    assert_eq!(created["response"]["publicChallengeParameters"]["next"], "sms");
    let mut b = Browser::default();
    let begun = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000070", "login").await)).await;
    let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
    let sent = b.otp_start(&env, &csrf).await;
    assert!(sent.status >= 400, "the site's flow is refused the code in flight: {}", sent.text());
    assert_eq!(env.sms_count(), 1);
    // The owner's code still signs them in.
    let verify = json!({
        "version": "1", "region": "eu-west-2", "userPoolId": "eu-west-2_Ex4mple", "userName": "alice",
        "callerContext": { "clientId": "c" }, "triggerSource": "VerifyAuthChallengeResponse_Authentication",
        "request": { "userAttributes": attributes, "privateChallengeParameters": created["response"]["privateChallengeParameters"],
                     "challengeAnswer": env.last_code("+447000000070") },
        "response": {}
    });
    assert_eq!(triggers.handle(verify).await.expect("verify")["response"]["answerCorrect"], true);
}

/// The limits of docs/security.md S36: a site starts at most 600 verifications an hour; opening links
/// counts per address; a site's verifications text a number at a reset's pace, from budgets of their
/// own — the number's owner still gets their sign-in code.
#[tokio::test]
async fn a_sites_verifications_have_limits_of_their_own() {
    // Twilio: several verifications of one number may be in flight (Vonage holds one, whose 30
    // seconds would make the sign-in wait for a reason that is not a budget).
    let env = Env::builder().var("SIMGUARD_OTP_PROVIDER", "twilio").start().await;
    env.no_coverage();
    env.user("alice@example.com", "+447000000070").await;
    let key = site(&env, "shop", 1).await;

    // Two verifications of alice's number: the second one's code waits five minutes.
    for (i, want) in [(0, 200), (1, 429)] {
        let mut b = Browser::at(&format!("198.51.100.{}", 40 + i));
        let begun = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000070", "step_up").await)).await;
        let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
        assert_eq!(b.sim_check(&env, &csrf).await.json()["next"], "otp");
        assert_eq!(b.otp_start(&env, &csrf).await.status, want, "verification {i}");
    }
    // Alice's own sign-in draws on the sign-in's budget: her code goes out (sign_in checks it).
    let before = env.sms_count();
    Browser::default().sign_in(&env, "alice@example.com", PASSWORD, "+447000000070").await;
    assert!(env.sms_count() > before);

    // Opening links: at most 20 an hour from one address.
    let mut b = Browser::at("198.51.100.60");
    for i in 0..21 {
        let opened = begin(&mut b, &env, &link_token(&create(&env, &key, "+447000000072", "login").await)).await;
        assert_eq!(opened.status, if i < 20 { 200 } else { 429 }, "link {i}");
    }

    // Creating: 600 an hour per site (23 made above); another site is not affected.
    for i in 23..600 {
        assert_eq!(create(&env, &key, "+447000000072", "login").await.status, 201, "verification {i}");
    }
    let over = create(&env, &key, "+447000000072", "login").await;
    assert_eq!((over.status, over.problem_type().as_deref()), (429, Some("urn:simguard:problem:rate_limited")));
    let other = site(&env, "other", 7).await;
    assert_eq!(create(&env, &other, "+447000000072", "login").await.status, 201);
    env.advance(3600);
    assert_eq!(create(&env, &key, "+447000000072", "login").await.status, 201, "a new hour");
}
