//! The Cognito custom-authentication triggers, driven with the events Cognito sends (their shape as
//! documented for `DefineAuthChallenge_Authentication`, `CreateAuthChallenge_Authentication` and
//! `VerifyAuthChallengeResponse_Authentication`) through whole sign-ins, against the sandbox.

use serde_json::{Value, json};

use crate::support::*;

const ALICE: &str = "+447000000070";

fn attributes(phone: &str, verified: bool) -> Value {
    json!({
        "sub": "5f8c0e3a-1d2b-4c6e-9a7f-0b1c2d3e4f50",
        "cognito:user_status": "CONFIRMED",
        "email_verified": "true",
        "email": "alice@example.com",
        "phone_number": phone,
        "phone_number_verified": if verified { "true" } else { "false" },
    })
}

fn event(source: &str, request: Value) -> Value {
    json!({
        "version": "1",
        "region": "eu-west-2",
        "userPoolId": "eu-west-2_Ex4mple",
        "userName": "alice",
        "callerContext": { "awsSdkVersion": "aws-sdk-js-3.700.0", "clientId": "3n4b5urk1ft4fl3mg5e62d9ado" },
        "triggerSource": source,
        "request": request,
        "response": {},
    })
}

fn round(name: &str, passed: bool, metadata: Option<&str>) -> Value {
    json!({ "challengeName": name, "challengeResult": passed, "challengeMetadata": metadata })
}

/// The rounds after a right password.
pub(crate) fn after_password() -> Vec<Value> {
    vec![round("SRP_A", true, None), round("PASSWORD_VERIFIER", true, None)]
}

async fn define(env: &Env, session: &[Value]) -> Value {
    let e = event(
        "DefineAuthChallenge_Authentication",
        json!({ "userAttributes": attributes(ALICE, true), "session": session, "userNotFound": false }),
    );
    cognito(env).handle(e).await.expect("define")["response"].clone()
}

pub(crate) async fn create(env: &Env, phone: &str, verified: bool, session: &[Value], method: Option<&str>) -> Value {
    let metadata = method.map_or_else(|| json!({}), |m| json!({ "method": m }));
    let e = event(
        "CreateAuthChallenge_Authentication",
        json!({
            "userAttributes": attributes(phone, verified),
            "challengeName": "CUSTOM_CHALLENGE",
            "session": session,
            "clientMetadata": metadata,
        }),
    );
    cognito(env).handle(e).await.expect("create")["response"].clone()
}

async fn verify(env: &Env, phone: &str, private: &Value, answer: &str) -> bool {
    let e = event(
        "VerifyAuthChallengeResponse_Authentication",
        json!({
            "userAttributes": attributes(phone, true),
            "privateChallengeParameters": private,
            "challengeAnswer": answer,
        }),
    );
    cognito(env).handle(e).await.expect("verify")["response"]["answerCorrect"].as_bool().expect("bool")
}

fn cognito(env: &Env) -> &simguard::cognito::CognitoTriggers {
    env.cognito.as_ref().expect("the Cognito triggers")
}

fn custom(created: &Value, passed: bool) -> Value {
    round("CUSTOM_CHALLENGE", passed, created["challengeMetadata"].as_str())
}

#[tokio::test]
async fn a_sign_in_with_a_code_after_the_password() {
    let env = Env::start().await;
    env.no_coverage();
    assert_eq!(define(&env, &[]).await["failAuthentication"], true, "no sign-in without the password");
    assert_eq!(define(&env, &[round("SRP_A", true, None)]).await["challengeName"], "PASSWORD_VERIFIER");
    let wrong_password = [round("SRP_A", true, None), round("PASSWORD_VERIFIER", false, None)];
    assert_eq!(define(&env, &wrong_password).await["failAuthentication"], true);
    let mut session = after_password();
    assert_eq!(define(&env, &session).await["challengeName"], "CUSTOM_CHALLENGE");

    let first = create(&env, ALICE, true, &session, None).await;
    assert_eq!(first["publicChallengeParameters"], json!({ "next": "sms", "to_ending": "70" }), "{first}");
    let private = first["privateChallengeParameters"].clone();
    assert_eq!(env.sms_count(), 1);
    assert_eq!(env.sandbox.count("POST", "/sim_check/v0.1/checks"), 1, "the SIM-swap gate before the SMS");
    let code = env.last_code(ALICE);
    let public = first["publicChallengeParameters"].to_string();
    assert!(!public.contains(&code) && !public.contains(private["reference"].as_str().expect("reference")));

    // A wrong code: another round, the same code (no new SMS, no second SIM check).
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(!verify(&env, ALICE, &private, wrong).await);
    session.push(custom(&first, false));
    assert_eq!(define(&env, &session).await["challengeName"], "CUSTOM_CHALLENGE");
    let second = create(&env, ALICE, true, &session, None).await;
    assert_eq!(second["challengeMetadata"], first["challengeMetadata"]);
    assert_eq!((env.sms_count(), env.sandbox.count("POST", "/sim_check/v0.1/checks")), (1, 1));

    assert!(verify(&env, ALICE, &second["privateChallengeParameters"], &code).await);
    session.push(custom(&second, true));
    let done = define(&env, &session).await;
    assert_eq!((done["issueTokens"].as_bool(), done["failAuthentication"].as_bool()), (Some(true), Some(false)));
}

#[tokio::test]
async fn three_wrong_codes_fail_the_sign_in() {
    let env = Env::start().await;
    env.no_coverage();
    let mut session = after_password();
    for _ in 0..3 {
        let created = create(&env, ALICE, true, &session, None).await;
        assert!(!verify(&env, ALICE, &created["privateChallengeParameters"], "999999").await);
        session.push(custom(&created, false));
    }
    assert_eq!(define(&env, &session).await["failAuthentication"], true);
    assert_eq!(env.sms_count(), 1, "one code for the whole sign-in");
}

/// The app's return page for silent proofs (without one, no silent proof is started).
async fn with_return_page() -> Env {
    Env::builder().var("SIMGUARD_COGNITO_RETURN_URL", "https://app.example/cognito/return.html").start().await
}

#[tokio::test]
async fn without_a_return_page_no_silent_proof_starts() {
    let env = Env::start().await;
    let created = create(&env, ALICE, true, &after_password(), Some("silent")).await;
    assert_eq!(created["publicChallengeParameters"]["next"], "sms", "{created}");
}

#[tokio::test]
async fn a_covered_device_is_proven_silently_once() {
    let env = with_return_page().await;
    let session = after_password();
    let created = create(&env, ALICE, true, &session, Some("silent")).await;
    let public = &created["publicChallengeParameters"];
    assert_eq!(public["next"], "silent", "{created}");
    assert_eq!(env.sms_count(), 0);
    let location = env.device_visit(public["check_url"].as_str().expect("check_url")).await;
    assert_eq!(location.path(), "/cognito/return.html", "the proof comes back to the page that answers Cognito");
    let answer = location.query().expect("the redirect's query").to_owned();
    let private = &created["privateChallengeParameters"];

    // Another proof's parameters, or none, are wrong; the right ones are right, once.
    assert!(!verify(&env, ALICE, private, "check_id=someone-elses&code=123456").await);
    assert!(!verify(&env, ALICE, private, "").await);
    assert!(verify(&env, ALICE, private, &answer).await);
    assert!(!verify(&env, ALICE, private, &answer).await, "completed once: a replay is wrong");
    let mut done = session.clone();
    done.push(custom(&created, true));
    assert_eq!(define(&env, &done).await["issueTokens"], true);
}

#[tokio::test]
async fn a_silent_proof_without_a_verdict_hands_over_to_a_code() {
    let env = with_return_page().await;
    env.sandbox.truid().set_redirect_error(ALICE, "mno_redirect_unsupported");
    let mut session = after_password();
    let created = create(&env, ALICE, true, &session, Some("silent")).await;
    let location = env.device_visit(created["publicChallengeParameters"]["check_url"].as_str().expect("url")).await;
    assert!(!verify(&env, ALICE, &created["privateChallengeParameters"], location.query().unwrap_or("")).await);
    session.push(custom(&created, false));
    assert_eq!(define(&env, &session).await["challengeName"], "CUSTOM_CHALLENGE");
    let next = create(&env, ALICE, true, &session, Some("silent")).await;
    assert_eq!(next["publicChallengeParameters"]["next"], "sms", "one silent try per sign-in");
    assert!(verify(&env, ALICE, &next["privateChallengeParameters"], &env.last_code(ALICE)).await);
}

#[tokio::test]
async fn a_recent_sim_change_or_an_unproven_number_fails_the_sign_in() {
    let env = Env::start().await;
    env.no_coverage();
    let session = after_password();
    for (phone, verified, reason) in [
        ("+447000000008", true, "sim_changed"),
        (ALICE, false, "phone_unverified"),
        ("+447700900099", true, "sim_unavailable"),
    ] {
        let created = create(&env, phone, verified, &session, Some("silent")).await;
        assert_eq!(
            created["publicChallengeParameters"],
            json!({ "next": "blocked", "reason": reason }),
            "{phone} {verified}"
        );
        assert_eq!(created["privateChallengeParameters"], json!({}));
        assert!(!verify(&env, phone, &created["privateChallengeParameters"], "123456").await);
        let mut s = session.clone();
        s.push(custom(&created, false));
        assert_eq!(define(&env, &s).await["failAuthentication"], true, "{reason}");
    }
    assert_eq!(env.sms_count(), 0, "no SMS to a number the gate refused");
}

#[tokio::test]
async fn an_answer_counts_only_for_the_number_it_was_sent_to() {
    let env = Env::start().await;
    env.no_coverage();
    let created = create(&env, ALICE, true, &after_password(), None).await;
    let code = env.last_code(ALICE);
    // The user changed their number since (Cognito then marks it unverified; here, another verified one).
    assert!(!verify(&env, "+447000000072", &created["privateChallengeParameters"], &code).await);
    let mut forged = created["privateChallengeParameters"].clone();
    forged["kind"] = json!("anything");
    assert!(!verify(&env, ALICE, &forged, &code).await);
    assert!(verify(&env, ALICE, &created["privateChallengeParameters"], &code).await);
}

#[tokio::test]
async fn events_it_does_not_handle_are_refused() {
    let env = Env::start().await;
    let t = cognito(&env);
    assert!(t.handle(event("PreSignUp_SignUp", json!({}))).await.is_err());
    assert!(t.handle(json!({ "triggerSource": "DefineAuthChallenge_Authentication" })).await.is_err());
    assert!(t.handle(json!([])).await.is_err());
}

/// A code in flight for the number belongs to the flow that claimed it: a Cognito sign-in claims its
/// own (a site's verification for the same number then cannot check it), and replaces another's.
#[tokio::test]
async fn a_sign_ins_code_is_its_own() {
    let env = Env::builder().var("SIMGUARD_OTP_PROVIDER", "vonage-v1").start().await;
    env.no_coverage();
    let created = create(&env, ALICE, true, &after_password(), None).await;
    let reference = created["privateChallengeParameters"]["reference"].as_str().expect("reference").to_owned();
    let owner = env
        .store
        .verification_owner("vonage-v1", &reference, simguard::domain::Timestamp(T0))
        .await
        .expect("read")
        .expect("claimed by the sign-in");
    assert_eq!(owner.kind, simguard::domain::FlowKind::Login, "a sign-in's: no reset or site flow replaces it");
    assert!(owner.user_id.0.starts_with("cognito:") && !owner.user_id.0.contains("alice"), "{:?}", owner.user_id);
    assert!(verify(&env, ALICE, &created["privateChallengeParameters"], &env.last_code(ALICE)).await);
}

/// docs/security.md S37: a Cognito sign-in's codes count in the number's sign-in budget (three per
/// ten minutes by default); past it, the round is refused and nothing is sent.
#[tokio::test]
async fn sign_ins_count_in_the_numbers_sms_budget() {
    let env = Env::builder().var("SIMGUARD_OTP_PROVIDER", "twilio").start().await;
    env.no_coverage();
    for i in 0..3 {
        let created = create(&env, ALICE, true, &after_password(), None).await;
        assert_eq!(created["publicChallengeParameters"]["next"], "sms", "sign-in {i}");
    }
    let sent = env.sms_count();
    let over = create(&env, ALICE, true, &after_password(), None).await;
    assert_eq!(over["publicChallengeParameters"], json!({ "next": "blocked", "reason": "rate_limited" }));
    assert_eq!(env.sms_count(), sent);
    env.advance(601);
    assert_eq!(create(&env, ALICE, true, &after_password(), None).await["publicChallengeParameters"]["next"], "sms");
}

/// Faults end where they end on the web (docs/security.md S37, R8): a number the SMS provider
/// refuses is `phone_not_supported`, and Define then fails the sign-in; a silent prover that cannot
/// start hands over to a code in the same round; a tru.ID that cannot say whether the SIM changed
/// refuses (`sim_unavailable`) — never a pass.
#[tokio::test]
async fn provider_faults_fail_closed() {
    // Twilio says the number is a landline.
    let env = Env::builder().var("SIMGUARD_OTP_PROVIDER", "twilio").start().await;
    env.no_coverage();
    env.sandbox.twilio().force_error(ALICE, 60205);
    let mut session = after_password();
    let created = create(&env, ALICE, true, &session, None).await;
    assert_eq!(created["publicChallengeParameters"], json!({ "next": "blocked", "reason": "phone_not_supported" }));
    session.push(custom(&created, false));
    assert_eq!(define(&env, &session).await["failAuthentication"], true);
    assert_eq!(env.sms_count(), 0);

    // The silent prover cannot start (tru.ID refuses our credentials; the SIM-swap gate asks Twilio
    // Lookup): a code instead, in the same round.
    let env = Env::builder()
        .var("SIMGUARD_COGNITO_RETURN_URL", "https://app.example/cognito/return.html")
        .var("SIMGUARD_SIM_SWAP_SOURCES", "twilio-lookup")
        .start()
        .await;
    env.sandbox.truid().fail_next_auth(10);
    let created = create(&env, ALICE, true, &after_password(), Some("silent")).await;
    assert_eq!(created["publicChallengeParameters"]["next"], "sms", "{created}");
    let tried = simguard::ports::Metric::SilentAttempt { provider: "truid", outcome: "error" };
    assert_eq!(env.metrics.count(&tried), 1, "the silent start was tried, and failed");
    assert!(verify(&env, ALICE, &created["privateChallengeParameters"], &env.last_code(ALICE)).await);

    // tru.ID as the SIM-swap source, unable to answer: refused (no SIM answer), never a pass.
    let env = Env::start().await;
    env.sandbox.truid().fail_next_auth(10);
    let created = create(&env, ALICE, true, &after_password(), None).await;
    assert_eq!(created["publicChallengeParameters"], json!({ "next": "blocked", "reason": "sim_unavailable" }));
    assert_eq!(env.sms_count(), 0);
}
