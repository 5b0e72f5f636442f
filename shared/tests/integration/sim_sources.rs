//! The SIM-swap gate's sources (docs/security.md S33): asked in the configured order, the first that
//! can tell decides, one that cannot hands over, and a "changed" is never shopped around for a yes.
//! Each source runs against the sandbox through its real client.

use simguard::ports::{Clock, Metric};

use crate::support::*;

/// A sign-in up to its SIM check; returns the check's answer and the flow's record of the sources.
async fn sign_in_sim_check(env: &Env, email: &str) -> (serde_json::Value, Option<String>) {
    let mut b = Browser::at("198.51.100.80");
    let login = b.login(env, email, PASSWORD).await;
    let csrf = login.json()["csrf"].as_str().unwrap_or_else(|| panic!("{}", login.text())).to_owned();
    let cookie = b.cookies.get("__Host-simguard-flow").expect("the flow cookie");
    let key = simguard::domain::Token::parse(cookie).expect("a token").hash();
    let answer = b.sim_check(env, &csrf).await.json();
    let flow = env.store.get_flow(&key, env.clock.now()).await.expect("read").expect("the flow");
    (answer, flow.sim_answers)
}

async fn env_with(sources: &str) -> Env {
    Env::builder().var("SIMGUARD_SIM_SWAP_SOURCES", sources).start().await
}

#[tokio::test]
async fn each_source_alone_passes_an_unchanged_sim_and_stops_a_changed_one() {
    for source in ["truid", "camara", "twilio-lookup"] {
        let env = env_with(source).await;
        env.user("alice@example.com", "+447000000070").await;
        env.user("sam@example.com", "+447000000008").await;
        let (answer, record) = sign_in_sim_check(&env, "alice@example.com").await;
        assert_eq!((answer["next"].as_str(), record), (Some("otp"), Some(format!("{source}:not_changed"))), "{source}");
        let (answer, record) = sign_in_sim_check(&env, "sam@example.com").await;
        assert_eq!(answer["reason"], "sim_changed", "{source}: {answer}");
        assert_eq!(record, Some(format!("{source}:changed")));
        assert_eq!(env.metrics.count(&Metric::SimSwapAnswer { source, answer: "changed" }), 1);
    }
}

/// A source that cannot answer for the number hands over to the next; one that is down does too.
#[tokio::test]
async fn a_source_that_cannot_tell_or_fails_hands_over() {
    // CAMARA does not know numbers ending in 97; tru.ID does (an unchanged SIM, for this test).
    let env = env_with("camara,truid").await;
    env.user("una@example.com", "+447700900197").await;
    let unchanged = simguard_sandbox::truid::Profile {
        matched: true,
        no_sim_change: true,
        sim_change_within: None,
        error_code: None,
        unsupported: false,
    };
    env.sandbox.truid().set_profile("+447700900197", unchanged);
    let (answer, record) = sign_in_sim_check(&env, "una@example.com").await;
    assert_eq!(answer["next"], "otp", "{answer}");
    assert_eq!(record.as_deref(), Some("camara:cannot_tell,truid:not_changed"));

    // Twilio Lookup watches 24 hours for numbers ending in 96: not enough for a week's window.
    let env = env_with("twilio-lookup,truid").await;
    env.user("uma@example.com", "+447700900196").await;
    let (answer, record) = sign_in_sim_check(&env, "uma@example.com").await;
    assert_eq!(answer["next"], "otp", "{answer}");
    assert_eq!(record.as_deref(), Some("twilio-lookup:cannot_tell,truid:not_changed"));

    // CAMARA down: the next source answers, and the failure is counted.
    let env = Env::builder()
        .var("SIMGUARD_SIM_SWAP_SOURCES", "camara,truid")
        .var("SIMGUARD_CAMARA_TOKEN_URL", "http://127.0.0.1:1/token")
        .start()
        .await;
    env.user("alice@example.com", "+447000000070").await;
    let (answer, record) = sign_in_sim_check(&env, "alice@example.com").await;
    assert_eq!(answer["next"], "otp", "{answer}");
    assert_eq!(record.as_deref(), Some("camara:error,truid:not_changed"));
    assert_eq!(env.metrics.count(&Metric::SimSwapAnswer { source: "camara", answer: "error" }), 1);
}

/// A "changed" ends the check: nobody after it is asked, whatever they would say.
#[tokio::test]
async fn a_changed_sim_is_never_shopped_around_for_a_yes() {
    let env = env_with("camara,twilio-lookup,truid").await;
    env.user("sam@example.com", "+447000000008").await;
    let (answer, record) = sign_in_sim_check(&env, "sam@example.com").await;
    assert_eq!(answer["reason"], "sim_changed", "{answer}");
    assert_eq!(record.as_deref(), Some("camara:changed"));
    assert_eq!(env.sandbox.count("GET", "/v2/PhoneNumbers/"), 0, "Lookup was not asked");
    assert_eq!(env.sandbox.count("POST", "/sim_check/v0.1/checks"), 0, "tru.ID was not asked");
}

/// No source that can tell is no SIM answer: a sign-in is refused (the default policy).
#[tokio::test]
async fn no_source_that_can_tell_is_no_sim_answer() {
    let env = env_with("camara,twilio-lookup").await;
    env.user("ned@example.com", "+447700900198").await;
    let (answer, record) = sign_in_sim_check(&env, "ned@example.com").await;
    assert_eq!(answer["reason"], "sim_unavailable", "{answer}");
    assert_eq!(record.as_deref(), Some("camara:cannot_tell,twilio-lookup:cannot_tell"));
}

/// A window longer than SIM Swap v2 can be asked about (2 400 hours) is not asked at all; nor one
/// longer than the operator keeps (the sandbox's: 30 days): both hand over.
#[tokio::test]
async fn camara_hands_over_a_window_it_cannot_answer_for() {
    for minutes in ["540000", "44640"] {
        let env = Env::builder()
            .var("SIMGUARD_SIM_SWAP_SOURCES", "camara,truid")
            .var("SIMGUARD_SIM_CHANGE_WINDOW_MINUTES", minutes)
            .start()
            .await;
        env.user("alice@example.com", "+447000000070").await;
        let (answer, record) = sign_in_sim_check(&env, "alice@example.com").await;
        assert_eq!(answer["next"], "otp", "{minutes}: {answer}");
        assert_eq!(record.as_deref(), Some("camara:cannot_tell,truid:not_changed"), "{minutes}");
    }
}
