//! Vonage Verify v2 silent authentication and Twilio Verify Silent Network Auth as silent provers,
//! through the sandbox (docs/security.md S34): Vonage's result comes back in the URL's fragment, which
//! the return page posts to the callback; Twilio's URL redirects nowhere, so the page posts the
//! verification's SID after the device's request. Both are bound to the flow, followed by the
//! SIM-swap gate, and a refusal by one never hands over to the next.

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
    assert_eq!(start.json()["device_step"], "navigate");
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

/// Twilio SNA: the page requests `sna.url` in the background, then posts the verification's SID;
/// a VerificationCheck without a code tells the result.
#[tokio::test]
async fn a_reset_proven_through_twilio_silent_network_auth() {
    let env = env_with("twilio-sna").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let answer = start.json();
    assert_eq!(answer["device_step"], "fetch", "{answer}");
    let sid = answer["complete"]["verification_sid"].as_str().expect("sid").to_owned();
    assert!(sid.starts_with("VE") && sid.len() == 34, "{sid}");
    let (status, body) = env.device_fetch(answer["check_url"].as_str().expect("url")).await;
    assert_eq!((status, body.starts_with("ErrorCode=0&")), (200, true), "{body}");
    let cb = b.post_to_callback(&env, &[("verification_sid", &sid)]).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/new-password.html"), "{}", cb.text());
    assert_eq!(env.sandbox.count("POST", "/sim_check/v0.1/checks"), 1, "the SIM-swap gate followed the match");
    assert_eq!(env.sms_count(), 0);
}

/// Another number on the connection (60500) is no match; a page that never made the request
/// (60519), or a post for another verification, proves nothing.
#[tokio::test]
async fn twilio_sna_refusals() {
    let env = env_with("twilio-sna").await;
    env.user("nina@example.com", "+447000000001").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "nina@example.com").await;
    let sid = start.json()["complete"]["verification_sid"].as_str().expect("sid").to_owned();
    env.device_fetch(start.json()["check_url"].as_str().expect("url")).await;
    let cb = b.post_to_callback(&env, &[("verification_sid", &sid)]).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=no_match"), "{}", cb.text());

    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "alice@example.com").await;
    let sid = start.json()["complete"]["verification_sid"].as_str().expect("sid").to_owned();
    let other = format!("VE{}", "0".repeat(32));
    let forged = b.post_to_callback(&env, &[("verification_sid", &other)]).await;
    assert_eq!(forged.location().as_deref(), Some("/reset/result.html?r=link_invalid"));
    let skipped = b.post_to_callback(&env, &[("verification_sid", &sid)]).await;
    assert_eq!(skipped.location().as_deref(), Some("/reset/result.html?r=silent_failed"), "{}", skipped.text());
}

#[tokio::test]
async fn a_sign_in_proven_through_twilio_sna() {
    let env = env_with("twilio-sna").await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", PASSWORD).await;
    let started = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf(&login))).await;
    assert_eq!(started.json()["device_step"], "fetch", "{}", started.text());
    env.device_fetch(started.json()["check_url"].as_str().expect("url")).await;
    let sid = started.json()["complete"]["verification_sid"].as_str().expect("sid").to_owned();
    let cb = b.post_to_callback(&env, &[("verification_sid", &sid)]).await;
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=signed_in"), "{}", cb.text());
    assert_eq!(b.send(&env, Event::get("/api/me")).await.status, 200);
}

/// Failover: a provider that cannot serve the number hands over to the next. No yes-shopping: one
/// that started a proof and did not pass ends the silent attempt; the next is not asked.
#[tokio::test]
async fn the_chain_fails_over_but_never_shops_for_a_yes() {
    let env = env_with("vonage,twilio-sna").await;
    // Vonage's network table has no silent auth for this number (412): Twilio SNA starts.
    env.user("una@example.com", "+447000000198").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "una@example.com").await;
    assert_eq!(start.json()["device_step"], "fetch", "{}", start.text());
    // Each turn is counted by provider.
    let attempt = |provider, outcome| Metric::SilentAttempt { provider, outcome };
    assert_eq!(env.metrics.count(&attempt("vonage", "not_served")), 1);
    assert_eq!(env.metrics.count(&attempt("twilio-sna", "started")), 1);

    // Vonage starts, and its silent step fails: the SMS path, Twilio never asked.
    env.user("nina@example.com", "+447000000001").await;
    let mut b = Browser::default();
    let start = b.start_reset(&env, "nina@example.com").await;
    assert_eq!(start.json()["device_step"], "navigate");
    let before = env.sandbox.count("POST", "/v2/Services/");
    let location = env.device_visit(start.json()["check_url"].as_str().expect("url")).await;
    let cb = b.post_to_callback(&env, &pairs(&fragment(&location))).await;
    assert_eq!(cb.location().as_deref(), Some("/reset/result.html?r=silent_failed"));
    assert_eq!(env.sandbox.count("POST", "/v2/Services/"), before, "Twilio was not asked after Vonage's no");
    assert_eq!(env.metrics.count(&attempt("vonage", "error")), 1);
    assert_eq!(env.metrics.count(&attempt("twilio-sna", "started")), 1);
}
