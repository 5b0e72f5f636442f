//! The silent provers (docs/security.md S34): CAMARA Number Verification through the sandbox's
//! operator — the authorization-code flow with network-based authentication, bound to the flow by
//! `state` and PKCE — for a reset and a sign-in; the SIM-swap sources after its match; and the order
//! in which provers are tried.

use serde_json::json;
use simguard_sandbox::CoverageRule;

use crate::support::*;

async fn camara_env(providers: &str) -> Env {
    Env::builder().var("SIMGUARD_SILENT_PROVIDERS", providers).start().await
}

#[tokio::test]
async fn a_reset_proven_through_camara_number_verification() {
    let env = camara_env("camara").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    assert_eq!(start.json()["next"], "silent", "{}", start.text());
    let device_url = url::Url::parse(start.json()["check_url"].as_str().expect("url")).expect("url");
    assert_eq!(device_url.path(), "/camara/authorize");
    let query: std::collections::HashMap<_, _> = device_url.query_pairs().into_owned().collect();
    assert_eq!(query.get("prompt").map(String::as_str), Some("none"));
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"));
    // The URL goes to whoever started the reset: it must not show them the account's number.
    assert!(!query.contains_key("login_hint"), "{device_url}");
    assert!(!device_url.as_str().contains("7000000070"), "{device_url}");
    assert!(!query.contains_key("code_verifier"), "the verifier never leaves the server");

    // The device opens it over mobile data; the operator sends it back with a code and the state.
    let location = env.device_visit(device_url.as_str()).await;
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"), "{}", cb.text());
    // The match was followed by the SIM-swap sources (tru.ID's SIMCheck here).
    assert_eq!(env.sandbox.count("POST", "/sim_check/v0.1/checks"), 1);
    assert_eq!(b.set_password(&env, &csrf(&start), "a brand new passphrase 47").await.status, 200);

    // The redirect again: the code was spent, the flow is over.
    let replay = b.follow_to_callback(&env, &location).await;
    assert_eq!(replay.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
}

fn csrf(r: &Resp) -> String {
    r.json()["csrf"].as_str().expect("csrf").to_owned()
}

/// Another SIM on the connection is no match; a SIM changed within the window stops it after the
/// match; off mobile data, the operator does not recognise the device: no verdict, the SMS path.
#[tokio::test]
async fn camara_refusals_end_where_tru_id_s_do() {
    let env = camara_env("camara").await;
    for (email, phone, landing) in [
        ("nina@example.com", "+447000000001", "/reset/result.html?r=no_match"),
        ("sam@example.com", "+447000000008", "/reset/result.html?r=sim_changed"),
    ] {
        env.user(email, phone).await;
        let mut b = Browser::default();
        let start = b.start_reset(&env, email).await;
        let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
        let cb = b.follow_to_callback(&env, &location).await;
        assert_eq!(cb.location().as_deref(), Some(landing), "{email}: {}", cb.text());
    }
    env.user("alice@example.com", "+447000000070").await;
    env.sandbox.truid().set_coverage("127.0.0.1".parse().expect("ip"), CoverageRule::NotMobileIp);
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    assert!(location.query().is_some_and(|q| q.contains("error=login_required")), "{location}");
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"), "{}", cb.text());
}

/// A redirect for another flow's state, or a forged one, completes nothing.
#[tokio::test]
async fn a_camara_redirect_is_bound_to_its_flow() {
    let env = camara_env("camara").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut owner = Browser::default();
    let start = owner.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    // The attacker's browser, with its own flow, receives the owner's redirect.
    let mut attacker = Browser::default();
    attacker.start_reset(&env, "alice@example.com").await;
    let stolen = attacker.follow_to_callback(&env, &location).await;
    assert_eq!(stolen.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    // A state that is not the flow's.
    let mut forged = location.clone();
    forged.set_query(Some(&format!("code=x&state={}", "a".repeat(64))));
    assert_eq!(
        owner.follow_to_callback(&env, &forged).await.location().as_deref(),
        Some("/reset/result.html?r=link_invalid")
    );
    // The owner's own redirect still works.
    let cb = owner.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"), "{}", cb.text());
}

#[tokio::test]
async fn a_sign_in_proven_through_camara() {
    let env = camara_env("camara").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", PASSWORD).await;
    let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf(&login))).await;
    assert_eq!(started.json()["next"], "silent", "{}", started.text());
    let location = env.device_visit(started.json()["check_url"].as_str().expect("url")).await;
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=signed_in"), "{}", cb.text());
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 200);
    assert_eq!(env.sms_count(), 0);
}

/// The first prover that may reach the device starts the proof: tru.ID's coverage says this
/// connection is not covered, so CAMARA (which cannot tell beforehand) is tried next.
#[tokio::test]
async fn the_first_prover_that_may_reach_the_device_starts_the_proof() {
    let env = camara_env("truid,camara").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut covered = Browser::default();
    let start = covered.start_reset(&env, "alice@example.com").await;
    assert!(start.json()["check_url"].as_str().is_some_and(|u| u.contains("/subscriber_check/")), "tru.ID first");
    let mut elsewhere = Browser::at("198.51.100.91");
    let start = elsewhere.start_reset(&env, "alice@example.com").await;
    assert!(start.json()["check_url"].as_str().is_some_and(|u| u.contains("/camara/authorize")), "{}", start.text());
}

/// A prover that fails to start — refused credentials, or a server that answers 5xx — hands over to
/// the next one in the chain; the failure is counted for the prover that failed (S34).
#[tokio::test]
async fn a_prover_that_fails_to_start_hands_over_to_the_next() {
    let env = camara_env("truid,camara").await;
    env.user("alice@example.com", "+447000000070").await;
    // The page looked coverage up (cached for the address: tru.ID covers it); then tru.ID starts
    // refusing our credentials, so its SubscriberCheck cannot be created.
    let mut b = Browser::default();
    assert_eq!(b.send(&env, Event::get("/api/coverage")).await.json()["silent"], true);
    env.sandbox.truid().fail_next_auth(10);
    let start = b.start_reset(&env, "alice@example.com").await;
    assert_eq!(start.json()["next"], "silent", "{}", start.text());
    let url = start.json()["check_url"].as_str().unwrap_or_default().to_owned();
    assert!(url.contains("/camara/authorize"), "CAMARA took over: {url}");
    let failed = simguard::ports::Metric::SilentAttempt { provider: "truid", outcome: "error" };
    assert!(env.metrics.count(&failed) >= 1, "tru.ID's failed turn is counted");
    // CAMARA's match still needs the SIM-swap gate, and its source (tru.ID) still refuses us: no SIM
    // answer, so no pass — the SMS path.
    let location = env.device_visit(&url).await;
    let cb = b.follow_to_callback(&env, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"), "{}", cb.text());
    let matched = simguard::ports::Metric::SilentAttempt { provider: "camara", outcome: "error" };
    assert_eq!(env.metrics.count(&matched), 1, "CAMARA matched; the gate after it had no answer");
    let unanswered = simguard::ports::Metric::SimSwapAnswer { source: "truid", answer: "error" };
    assert!(env.metrics.count(&unanswered) >= 1, "tru.ID was asked about the SIM and could not say");
}

/// A flow bound to a prover the deployment no longer lists (a configuration change mid-flow)
/// completes nothing: its redirect is refused, never handed to another prover.
#[tokio::test]
async fn a_proof_by_a_prover_no_longer_configured_is_refused() {
    let memory = std::sync::Arc::new(simguard::adapters::memory::MemoryStore::new());
    let before = Env::builder()
        .var("SIMGUARD_SILENT_PROVIDERS", "camara")
        .store_given(memory.clone(), memory.clone())
        .start()
        .await;
    before.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&before, "alice@example.com").await;
    let location = before.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    let after = Env::builder().store_given(memory.clone(), memory).start().await;
    let cb = b.follow_to_callback(&after, &location).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=link_invalid"), "{}", cb.text());
    assert_eq!(after.sandbox.count("POST", "/subscriber_check/"), 0, "tru.ID was not asked about it");
}
