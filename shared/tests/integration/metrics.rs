//! The metrics the alarms are built on (docs/security.md R6, F5): emitted by the flows, in CloudWatch's
//! embedded metric format.

use crate::support::*;
use serde_json::json;
use simguard::config::OtpProviderKind;
use simguard::ports::Metric;

fn step(step: &'static str, outcome: &'static str) -> Metric {
    Metric::StepOutcome { step, outcome }
}

#[tokio::test]
async fn flows_emit_outcomes_sms_and_conversion() {
    let env = Env::builder().provider(OtpProviderKind::Twilio).start().await;
    env.user("alice@example.com", "+447000000070").await;
    env.user("sam@example.com", "+447000000008").await;
    let m = &env.metrics;

    // A silent reset.
    let mut b = Browser::default();
    let (csrf, _) = b.silent_reset(&env, "alice@example.com").await;
    b.set_password(&env, &csrf, "a brand new passphrase 42").await;
    assert_eq!(m.count(&step("reset_start", "silent")), 1);
    assert_eq!(m.count(&step("subscriber_check", "verified")), 1);
    assert_eq!(m.count(&step("reset_password", "changed")), 1);

    // A SIM-changed refusal.
    let mut s = Browser::default();
    s.silent_reset(&env, "sam@example.com").await;
    assert_eq!(m.count(&step("subscriber_check", "sim_changed")), 1);
    assert_eq!(m.count(&Metric::SimChangeBlocked), 1);

    // Login 2FA: one SMS sent, one verified — the conversion the pumping alarm watches.
    let mut l = Browser::at("198.51.100.60");
    l.sign_in(&env, "alice@example.com", "a brand new passphrase 42", "+447000000070").await;
    assert_eq!(m.count(&step("login", "password_ok")), 1);
    assert_eq!(m.count(&step("sim_check", "pass")), 1);
    assert_eq!(m.count(&Metric::SmsSent { provider: "twilio" }), 1);
    assert_eq!(m.count(&Metric::OtpVerified { provider: "twilio" }), 1);

    // A wrong code, a wrong password, a refused replay, a rate limit.
    let mut w = Browser::at("198.51.100.61");
    let login = w.login(&env, "alice@example.com", "a brand new passphrase 42").await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    w.sim_check(&env, &csrf).await;
    w.otp_start(&env, &csrf).await;
    w.otp_verify(&env, &csrf, "000000").await;
    assert_eq!(m.count(&step("otp_verify", "wrong")), 1);
    w.login(&env, "alice@example.com", "not the passphrase at all").await;
    assert_eq!(m.count(&step("login", "wrong_credentials")), 1);
    w.send(&env, Event::get("/api/reset/callback").query("check_id=c69bc0e6-a429-11ea-bb37-0242ac130002&code=x")).await;
    assert_eq!(m.count(&step("callback", "refused")), 1);
    for i in 0..25 {
        w.send(&env, Event::post("/api/reset/check", json!({ "email": format!("x{i}@example.com") }))).await;
    }
    assert!(m.count(&Metric::RateLimited { bucket: "reset_ip" }) >= 1);
}

#[tokio::test]
async fn provider_failures_are_counted_refusals_are_outcomes() {
    // A refusal about the number (a landline) is an outcome, not a provider failure.
    let env = Env::builder().provider(OtpProviderKind::Twilio).start().await;
    env.user("alice@example.com", "+447000000070").await;
    env.sandbox.twilio().force_error("+447000000070", 60205);
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    b.sim_check(&env, &csrf).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 422);
    assert_eq!(env.metrics.count(&step("otp_start", "landline")), 1);
    assert!(!env.metrics.recorded().iter().any(|m| matches!(m, Metric::ProviderError { .. })));

    // A provider that does not answer at all is a failure, counted by provider and call.
    let env = Env::builder()
        .provider(OtpProviderKind::Twilio)
        .var("SIMGUARD_TWILIO_BASE_URL", "http://127.0.0.1:1")
        .start()
        .await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    b.sim_check(&env, &csrf).await;
    assert_eq!(b.otp_start(&env, &csrf).await.status, 503);
    assert_eq!(env.metrics.count(&Metric::ProviderError { provider: "twilio", call: "otp_start" }), 1);
    // tru.ID's operator ERROR for a number is a verdict (no SIM answer), not a provider failure.
    env.user("erin@example.com", "+447700900099").await;
    let mut e = Browser::at("198.51.100.63");
    let login = e.login(&env, "erin@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    e.sim_check(&env, &csrf).await;
    assert_eq!(env.metrics.count(&step("sim_check", "block_unavailable")), 1);
    assert_eq!(env.metrics.count(&Metric::ProviderError { provider: "truid", call: "sim_swap_check" }), 0);
    // Nor is a 400 `mno_not_supported` (a number on a network tru.ID does not reach).
    env.user("una@example.com", "+447700900098").await;
    let mut u = Browser::at("198.51.100.64");
    let login = u.login(&env, "una@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    u.sim_check(&env, &csrf).await;
    assert_eq!(env.sandbox.count("POST", "/sim_check/v0.1/checks"), 3);
    assert_eq!(env.metrics.count(&step("sim_check", "block_unavailable")), 2);
    assert_eq!(env.metrics.count(&Metric::ProviderError { provider: "truid", call: "sim_check" }), 0);

    // A tru.ID that does not answer is a failure.
    let env = Env::builder().var("SIMGUARD_TRUID_BASE_URL", "http://127.0.0.1:1").start().await;
    env.user("alice@example.com", "+447000000070").await;
    let mut b = Browser::default();
    let login = b.login(&env, "alice@example.com", PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    b.sim_check(&env, &csrf).await;
    assert_eq!(env.metrics.count(&Metric::ProviderError { provider: "truid", call: "sim_swap_check" }), 1);
    assert_eq!(env.metrics.count(&Metric::SimSwapAnswer { source: "truid", answer: "error" }), 1);
}
