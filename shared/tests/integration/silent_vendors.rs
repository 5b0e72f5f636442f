//! Vonage Verify v2 silent authentication as a silent prover, through the sandbox (docs/security.md
//! S34): its result comes back in the URL's fragment, which the return page posts to the callback,
//! bound to the flow, followed by the SIM-swap gate; a refusal never hands over to the next prover.
//! Twilio's Silent Network Auth is refused as a prover: its verdict is not bound to the browser.

use serde_json::json;
use simguard::ports::Metric;

use crate::support::*;

async fn env_with(providers: &str) -> Env {
    Env::builder().var("SIMGUARD_SILENT_PROVIDERS", providers).start().await
}

fn csrf(r: &Resp) -> String {
    r.json()["csrf"].as_str().expect("csrf").to_owned()
}

/// The fragment of the return page's URL, as the page reads it.
fn fragment(location: &url::Url) -> Vec<(String, String)> {
    url::form_urlencoded::parse(location.fragment().unwrap_or("").as_bytes()).into_owned().collect()
}

fn pairs(f: &[(String, String)]) -> Vec<(&str, &str)> {
    f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Vonage: start → the device opens `check_url` → the return page with `#request_id&code` → the
/// page posts them → one code submission; its match is followed by the SIM-swap gate.
#[tokio::test]
async fn a_reset_proven_through_vonage_silent_auth() {
    let env = env_with("vonage").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    assert_eq!(start.json()["next"], "silent", "{}", start.text());
    let check_url = start.json()["check_url"].as_str().expect("check_url").to_owned();
    assert!(check_url.ends_with("/silent-auth/redirect"), "{check_url}");

    let location = env.device_visit(&check_url).await;
    assert_eq!(location.path(), "/reset/silent-return.html");
    assert_eq!(location.query(), None, "the result is in the fragment only");
    let result = fragment(&location);
    let cb = b.post_to_callback(&env, &pairs(&result)).await;
    assert_eq!(cb.status, 303);
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"), "{}", cb.text());
    assert_eq!(env.sandbox.count("POST", "/sim_check/v0.1/checks"), 1, "the SIM-swap gate followed the match");
    assert_eq!(env.sms_count(), 0);
    assert_eq!(b.set_password(&env, &csrf(&start), "a brand new passphrase 47").await.status, 200);

    // The same post again: the flow is over.
    let replay = b.post_to_callback(&env, &pairs(&result)).await;
    assert_eq!(replay.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
}

/// Vonage does not say "another number": a failed silent step is no verdict (the SMS path); a SIM
/// changed within the window stops the reset after the match; a network without silent auth (412)
/// starts no proof.
#[tokio::test]
async fn vonage_refusals() {
    let env = env_with("vonage").await;
    for (email, phone, landing) in [
        ("nina@example.com", "+447000000001", "/reset/result.html?r=silent_failed"),
        ("sam@example.com", "+447000000008", "/reset/result.html?r=sim_changed"),
    ] {
        env.user(email, phone).await;
        let mut b = Browser::default();
        let start = b.start_reset(&env, email).await;
        let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
        let cb = b.post_to_callback(&env, &pairs(&fragment(&location))).await;
        assert_eq!(cb.location().as_deref(), Some(landing), "{email}: {}", cb.text());
    }
    env.user("una@example.com", "+447000000198").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "una@example.com").await;
    assert_eq!(start.json()["next"], "sms", "{}", start.text());
}

/// The posted result acts only for the flow's own browser and request; a guessed code spends the
/// request's one attempt, never passes.
#[tokio::test]
async fn a_vonage_result_is_bound_to_its_flow() {
    let env = env_with("vonage").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut owner = Browser::default();
    let start = owner.start_reset(&env, "alice@example.com").await;
    let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    let result = fragment(&location);
    // Another browser with its own flow posts the owner's result.
    let mut attacker = Browser::default();
    attacker.start_reset(&env, "alice@example.com").await;
    let stolen = attacker.post_to_callback(&env, &pairs(&result)).await;
    assert_eq!(stolen.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    // Not a form, or from another origin: refused before anything is read.
    let json_body = Event::post("/api/reset/callback", json!({}));
    assert_eq!(owner.send(&env, json_body).await.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    let foreign = Event::new("POST", "/api/reset/callback")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body("request_id=x".into());
    assert_eq!(owner.send(&env, foreign).await.status, 403);
    // The owner's page posts a wrong code for its own request: one attempt, spent, no pass.
    let request_id = result.iter().find(|(k, _)| k == "request_id").map(|(_, v)| v.clone()).expect("id");
    let wrong = owner.post_to_callback(&env, &[("request_id", &request_id), ("code", "00000")]).await;
    assert_eq!(wrong.location().as_deref(), Some("/reset/result.html?r=silent_failed"), "{}", wrong.text());
}

/// Failover: a provider that cannot serve the number hands over to the next. No yes-shopping: one
/// that started a proof and did not pass ends the silent attempt; the next is not asked.
#[tokio::test]
async fn the_chain_fails_over_but_never_shops_for_a_yes() {
    let env = env_with("vonage,camara").await;
    // Vonage's network table has no silent auth for this number (412): CAMARA starts.
    env.user("una@example.com", "+447000000198").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "una@example.com").await;
    let url = start.json()["check_url"].as_str().unwrap_or_default().to_owned();
    assert!(url.contains("/camara/authorize"), "{}", start.text());
    // Each turn is counted by provider.
    let attempt = |provider, outcome| Metric::SilentAttempt { provider, outcome };
    assert_eq!(env.metrics.count(&attempt("vonage", "not_served")), 1);
    assert_eq!(env.metrics.count(&attempt("camara", "started")), 1);

    // Vonage starts, and its silent step fails: the SMS path, CAMARA never asked.
    env.user("nina@example.com", "+447000000001").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "nina@example.com").await;
    assert!(start.json()["check_url"].as_str().is_some_and(|u| u.ends_with("/silent-auth/redirect")));
    let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    let cb = b.post_to_callback(&env, &pairs(&fragment(&location))).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert_eq!(env.metrics.count(&attempt("vonage", "error")), 1);
    assert_eq!(env.metrics.count(&attempt("camara", "started")), 1, "CAMARA was not asked after Vonage's no");
}

/// Twilio's Silent Network Auth tells its verdict to whoever names the verification: a page that got
/// the victim's phone to request the URL (an image, on mobile data) would let the attacker's browser
/// complete the proof. It is refused as a prover, so no deployment can start one.
#[test]
fn twilio_sna_is_refused_as_a_silent_prover() {
    let env: std::collections::HashMap<&str, &str> = [
        ("SIMGUARD_PUBLIC_BASE_URL", ORIGIN),
        ("SIMGUARD_SILENT_PROVIDERS", "truid,twilio-sna"),
        ("SIMGUARD_TWILIO_SERVICE_SID", "VA00000000000000000000000000000001"),
    ]
    .into();
    for function in [simguard::Function::Coverage, simguard::Function::CreateCheck, simguard::Function::Callback] {
        let settings = simguard::config::Settings::for_function(function, |k| env.get(k).map(|v| (*v).to_owned()));
        let err = settings.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("SIMGUARD_SILENT_PROVIDERS") && err.contains("twilio-sna"), "{err}");
    }
}
