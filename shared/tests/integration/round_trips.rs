//! DynamoDB round trips per step, counted on the real adapter (moto): each step's calls are recorded
//! by an SDK interceptor with when each started and ended, and the longest chain of calls that each
//! began after the previous one answered is the number of round trips the step waits for in a row.
//! Calls that overlap (run concurrently) count once. Counts, not times: a call made after another
//! one answered is recorded after it, whatever the machine's speed.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::support::*;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::json;

/// The most DynamoDB round trips any step may wait for in a row.
const MOST_IN_A_ROW: usize = 3;

#[derive(Debug, Clone)]
struct Call {
    operation: String,
    started: Instant,
    ended: Option<Instant>,
}

/// Which recorded call a request is (kept in the request's config bag between the two hooks).
#[derive(Debug, Clone)]
struct CallIndex(usize);
impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone, Default)]
struct Trips(Arc<Mutex<Vec<Call>>>);

impl Intercept for Trips {
    fn name(&self) -> &'static str {
        "simguard-test-round-trips"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned()).unwrap_or_default();
        let mut calls = self.0.lock().map_err(|_| "poisoned")?;
        calls.push(Call { operation, started: Instant::now(), ended: None });
        cfg.interceptor_state().store_put(CallIndex(calls.len() - 1));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ended = Instant::now();
        if let Some(CallIndex(i)) = cfg.load::<CallIndex>()
            && let Some(c) = self.0.lock().map_err(|_| "poisoned")?.get_mut(*i)
        {
            c.ended = Some(ended);
        }
        Ok(())
    }
}

/// The calls of one step, and how many of them ran one after the other.
#[derive(Debug)]
struct Step {
    calls: Vec<Call>,
    in_a_row: usize,
}

impl Step {
    fn describe(&self) -> String {
        let first = self.calls.first().map(|c| c.started);
        self.calls
            .iter()
            .map(|c| {
                let at = |t: Instant| first.map(|f| t.duration_since(f).as_micros()).unwrap_or(0);
                format!("{} [{}..{}]", c.operation, at(c.started), c.ended.map(at).unwrap_or(u128::MAX))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Trips {
    /// The calls made since the last `take`, with the longest chain of calls that each started after
    /// the one before it in the chain had ended.
    fn take(&self) -> Step {
        let calls = std::mem::take(&mut *self.0.lock().expect("trips"));
        let mut chain = vec![0usize; calls.len()];
        for (i, c) in calls.iter().enumerate() {
            let before = calls[..i]
                .iter()
                .zip(&chain)
                .filter(|(b, _)| b.ended.is_some_and(|e| e <= c.started))
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            chain[i] = before + 1;
        }
        Step { in_a_row: chain.iter().copied().max().unwrap_or(0), calls }
    }
}

async fn env_with_trips() -> (Env, Trips) {
    let trips = Trips::default();
    let (_, table) = moto::fresh_table().await;
    let aws = moto::aws_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&aws).interceptor(trips.clone()).build(),
    );
    let env = Env::builder().store_on(client, table).start().await;
    (env, trips)
}

/// Records one step and checks its round trips.
fn within(trips: &Trips, step: &str, resp: &Resp, expected_status: u16) -> Step {
    assert_eq!(resp.status, expected_status, "{step}: {}", resp.text());
    let s = trips.take();
    assert!(
        s.in_a_row <= MOST_IN_A_ROW,
        "{step}: {} DynamoDB round trips in a row (at most {MOST_IN_A_ROW}): {}",
        s.in_a_row,
        s.describe()
    );
    assert!(s.calls.iter().all(|c| c.ended.is_some()), "{step}: a call never ended: {}", s.describe());
    eprintln!("{step}: {} calls, {} in a row", s.calls.len(), s.in_a_row);
    s
}

#[test]
fn the_chain_counts_calls_in_a_row_and_overlaps_once() {
    let t0 = Instant::now();
    let at = |us: u64| t0 + std::time::Duration::from_micros(us);
    let call = |s, e| Call { operation: "x".into(), started: at(s), ended: Some(at(e)) };
    let trips = Trips::default();
    // a; then b ‖ c; then d after both: three in a row, four calls.
    *trips.0.lock().expect("trips") = vec![call(0, 10), call(11, 30), call(12, 20), call(31, 40)];
    let s = trips.take();
    assert_eq!((s.calls.len(), s.in_a_row), (4, 3));
    *trips.0.lock().expect("trips") = vec![call(0, 10), call(11, 20), call(21, 30), call(31, 40)];
    assert_eq!(trips.take().in_a_row, 4);
}

#[tokio::test]
async fn the_silent_reset_waits_for_at_most_three_round_trips_per_step() {
    let (env, trips) = env_with_trips().await;
    env.user("alice@example.com", "+447000000070").await;
    let _ = trips.take();
    let mut b = Browser::at("198.51.100.21");
    env.sandbox.truid().set_coverage("198.51.100.21".parse().expect("ip"), simguard_sandbox::CoverageRule::Covered);

    let r = b.send(&env, Event::get("/api/coverage")).await;
    within(&trips, "coverage", &r, 200);
    let start = b.start_reset(&env, "alice@example.com").await;
    within(&trips, "reset/check", &start, 200);
    let body = start.json();
    assert_eq!(body["next"], "silent", "{body}");
    let csrf = body["csrf"].as_str().expect("csrf").to_owned();
    let location = env.device_visit(body["check_url"].as_str().expect("check_url")).await;
    let cb = b.follow_to_callback(&env, &location).await;
    within(&trips, "reset/callback", &cb, 303);
    let done = b.set_password(&env, &csrf, "a new and long passphrase").await;
    within(&trips, "reset/password", &done, 200);
    // Coverage, the check, its PATCH: nothing more (besides the device's own visit to check_url), and
    // one token for each of the three functions, as each is its own process when deployed.
    let ours: Vec<String> = env
        .sandbox
        .truid()
        .requests()
        .iter()
        .filter(|r| !r.path.ends_with("/redirect"))
        .map(|r| format!("{} {}", r.method, r.path.split("/checks/").next().unwrap_or_default()))
        .collect();
    assert_eq!(
        ours,
        [
            "POST /oauth2/v1/token",
            "GET /coverage/v0.1/device_ips/198.51.100.21",
            "POST /oauth2/v1/token",
            "POST /subscriber_check/v0.2/checks",
            "POST /oauth2/v1/token",
            "PATCH /subscriber_check/v0.2",
        ]
    );
}

#[tokio::test]
async fn the_sms_reset_waits_for_at_most_three_round_trips_per_step() {
    let (env, trips) = env_with_trips().await;
    env.user("bob@example.com", "+447000000072").await;
    let _ = trips.take();
    let mut b = Browser::at("198.51.100.30");
    let start = b.start_reset(&env, "bob@example.com").await;
    within(&trips, "reset/check (not covered)", &start, 200);
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    within(&trips, "sim-check", &b.sim_check(&env, &csrf).await, 200);
    within(&trips, "otp/start", &b.otp_start(&env, &csrf).await, 200);
    within(&trips, "otp/verify (wrong code)", &b.otp_verify(&env, &csrf, "000000").await, 400);
    let code = env.last_code("+447000000072");
    within(&trips, "otp/verify", &b.otp_verify(&env, &csrf, &code).await, 200);
    within(&trips, "reset/password", &b.set_password(&env, &csrf, "a new and long passphrase").await, 200);
    // Coverage, the SIMCheck, the send, two checks: one call per thing that happened.
    assert_eq!(env.provider_calls(), 2, "tru.ID: coverage and the SIMCheck");
    assert_eq!((env.otp_starts(), env.otp_checks()), (1, 2));

    // An unknown email takes the same steps, within the same bound.
    let mut nobody = Browser::at("198.51.100.31");
    let start = nobody.start_reset(&env, "nobody@example.com").await;
    within(&trips, "reset/check (unknown email)", &start, 200);
    let csrf = start.json()["csrf"].as_str().expect("csrf").to_owned();
    within(&trips, "sim-check (unknown email)", &nobody.sim_check(&env, &csrf).await, 200);
    within(&trips, "otp/start (unknown email)", &nobody.otp_start(&env, &csrf).await, 200);
    within(&trips, "otp/verify (unknown email)", &nobody.otp_verify(&env, &csrf, "123456").await, 400);
}

#[tokio::test]
async fn sign_in_and_account_steps_wait_for_at_most_three_round_trips() {
    let (env, trips) = env_with_trips().await;
    let mut b = Browser::at("198.51.100.40");
    let r = b
        .send(
            &env,
            Event::post(
                "/api/register",
                json!({ "email": "carol@example.com", "password": "a long enough passphrase", "phone": "+447000000072" }),
            ),
        )
        .await;
    within(&trips, "register", &r, 201);
    let login = b.login(&env, "carol@example.com", "a long enough passphrase").await;
    within(&trips, "login", &login, 200);
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    within(&trips, "sim-check (login)", &b.sim_check(&env, &csrf).await, 200);
    within(&trips, "otp/start (login)", &b.otp_start(&env, &csrf).await, 200);
    within(&trips, "otp/start again (login)", &b.otp_start(&env, &csrf).await, 200);
    let code = env.last_code("+447000000072");
    let done = b.otp_verify(&env, &csrf, &code).await;
    within(&trips, "otp/verify (login)", &done, 200);
    let session_csrf = done.json()["csrf"].as_str().expect("csrf").to_owned();
    within(&trips, "me", &b.send(&env, Event::get("/api/me")).await, 200);
    within(&trips, "logout", &b.send(&env, Event::post("/api/logout", json!({})).csrf(&session_csrf)).await, 204);
    within(&trips, "me (signed out)", &b.send(&env, Event::get("/api/me")).await, 401);
    let wrong = b.login(&env, "carol@example.com", "not the passphrase at all").await;
    within(&trips, "login (wrong password)", &wrong, 401);
    let unknown = b.login(&env, "nobody@example.com", "not the passphrase at all").await;
    within(&trips, "login (unknown email)", &unknown, 401);

    // A silent sign-in (a covered connection): the check's start, and the callback that signs in.
    let mut covered = Browser::default();
    let login = covered.login(&env, "carol@example.com", "a long enough passphrase").await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let _ = trips.take();
    let started = covered.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
    within(&trips, "login/silent", &started, 200);
    let location = env.device_visit(started.json()["check_url"].as_str().expect("check_url")).await;
    let _ = trips.take();
    let cb = covered.follow_to_callback(&env, &location).await;
    within(&trips, "callback (silent sign-in)", &cb, 303);
    assert_eq!(cb.location().as_deref(), Some("/login.html?r=signed_in"));

    // The email's owner is told of a second registration: the refusal names them.
    let again =
        json!({ "email": "carol@example.com", "password": "another long passphrase", "phone": "+447000000070" });
    let r = b.send(&env, Event::post("/api/register", again)).await;
    within(&trips, "register (email taken)", &r, 201);
    assert_eq!(env.outbox.sent().len(), 1, "the owner is told");

    // A SIM changed recently: blocked, and the owner told, within the same bound.
    env.user_with_password("dan@example.com", "+447000000008", "a long enough passphrase").await;
    let _ = trips.take();
    let mut d = Browser::at("198.51.100.41");
    let login = d.login(&env, "dan@example.com", "a long enough passphrase").await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let _ = trips.take();
    let blocked = d.sim_check(&env, &csrf).await;
    within(&trips, "sim-check (SIM changed)", &blocked, 200);
    assert_eq!(blocked.json()["next"], "blocked");
    assert_eq!(env.outbox.sent().len(), 2, "the owner is told");

    // The account's own steps: a remembered browser, its list, forgetting it, a password change, a
    // phone change, and the registration page's phone check.
    let check = Event::post("/api/phone/check", json!({ "phone": "07700 900002" }));
    within(&trips, "phone/check", &b.send(&env, check).await, 200);
    let login = b.login(&env, "carol@example.com", "a long enough passphrase").await;
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    b.sim_check(&env, &csrf).await;
    b.otp_start(&env, &csrf).await;
    let code = env.last_code("+447000000072");
    let _ = trips.take();
    let done =
        b.send(&env, Event::post("/api/otp/verify", json!({ "code": code, "remember": true })).csrf(&csrf)).await;
    within(&trips, "otp/verify (remember this browser)", &done, 200);
    let session_csrf = done.json()["csrf"].as_str().expect("csrf").to_owned();
    b.send(&env, Event::post("/api/logout", json!({})).csrf(&session_csrf)).await;
    let _ = trips.take();
    let login = b.login(&env, "carol@example.com", "a long enough passphrase").await;
    within(&trips, "login (remembered browser)", &login, 200);
    let csrf = login.json()["csrf"].as_str().expect("csrf").to_owned();
    let quick = b.sim_check(&env, &csrf).await;
    within(&trips, "sim-check (remembered browser)", &quick, 200);
    assert_eq!(quick.json()["next"], "signed_in");
    let session_csrf = quick.json()["csrf"].as_str().expect("csrf").to_owned();
    let listed = b.send(&env, Event::get("/api/devices")).await;
    within(&trips, "devices", &listed, 200);
    let id = listed.json()["devices"][0]["id"].as_str().expect("id").to_owned();
    let forget = Event::post("/api/devices/forget", json!({ "id": id })).csrf(&session_csrf);
    within(&trips, "devices/forget", &b.send(&env, forget).await, 204);
    let change = Event::post(
        "/api/password",
        json!({ "current_password": "a long enough passphrase", "new_password": "a changed long passphrase" }),
    )
    .csrf(&session_csrf);
    let changed = b.send(&env, change).await;
    within(&trips, "password", &changed, 200);
    let session_csrf = changed.json()["csrf"].as_str().expect("csrf").to_owned();
    // A phone change: every step of both numbers (past the number's ten-minute SMS budget, which the
    // sign-ins above used).
    env.advance(600);
    let change = json!({ "current_password": "a changed long passphrase", "new_phone": "+447700900124" });
    let started = b.send(&env, Event::post("/api/phone/change", change).csrf(&session_csrf)).await;
    within(&trips, "phone/change", &started, 200);
    let csrf = started.json()["csrf"].as_str().expect("csrf").to_owned();
    let mut session_csrf = session_csrf;
    for (number, next) in [("+447000000072", "new_number"), ("+447700900124", "phone_changed")] {
        within(&trips, "sim-check (phone change)", &b.sim_check(&env, &csrf).await, 200);
        within(&trips, "otp/start (phone change)", &b.otp_start(&env, &csrf).await, 200);
        let done = b.otp_verify(&env, &csrf, &env.last_code(number)).await;
        within(&trips, "otp/verify (phone change)", &done, 200);
        assert_eq!(done.json()["next"], next, "{}", done.text());
        if let Some(csrf) = done.json()["csrf"].as_str() {
            session_csrf = csrf.to_owned();
        }
    }
    // And on to another number, each proven silently (the browser is on mobile data now), then finished.
    env.sandbox.truid().set_coverage("198.51.100.40".parse().expect("ip"), simguard_sandbox::CoverageRule::Covered);
    let change = json!({ "current_password": "a changed long passphrase", "new_phone": "+447700900126" });
    let started = b.send(&env, Event::post("/api/phone/change", change).csrf(&session_csrf)).await;
    within(&trips, "phone/change", &started, 200);
    let csrf = started.json()["csrf"].as_str().expect("csrf").to_owned();
    for landing in ["/account.html?r=current_proven", "/account.html?r=new_proven"] {
        let silent = b.send(&env, Event::post("/api/login/silent", json!({})).csrf(&csrf)).await;
        within(&trips, "login/silent (phone change)", &silent, 200);
        let back = env.device_visit(silent.json()["check_url"].as_str().expect("check_url")).await;
        let cb = b.follow_to_callback(&env, &back).await;
        within(&trips, "callback (phone change)", &cb, 303);
        assert_eq!(cb.location().as_deref(), Some(landing));
    }
    let finished = b.send(&env, Event::post("/api/phone/finish", json!({})).csrf(&csrf)).await;
    within(&trips, "phone/finish", &finished, 200);
    let session_csrf = finished.json()["csrf"].as_str().expect("csrf").to_owned();
    let everywhere = Event::post("/api/logout-everywhere", json!({})).csrf(&session_csrf);
    within(&trips, "logout-everywhere", &b.send(&env, everywhere).await, 204);
}

/// A site's verification: created, opened, the SIM check, the code, its check and the redemption, each
/// within three round trips (the link's opening reads nothing but the verification it marks begun).
#[tokio::test]
async fn a_sites_verification_waits_for_at_most_three_round_trips_per_step() {
    let (env, trips) = env_with_trips().await;
    env.no_coverage();
    let back = "https://shop.example/verified";
    let key = register_site(&env, "shop", back, 2).await;
    trips.take();
    let api = |path: &str, body: serde_json::Value| {
        Event::post(path, body).without_header("origin").header("x-simguard-api-key", &key)
    };
    let created = env
        .send(&api(
            "/api/v1/verifications",
            json!({ "phone": "+447000000072", "purpose": "login", "return_url": back }),
        ))
        .await;
    within(&trips, "v1/verifications", &created, 201);
    let link = created.json()["url"].as_str().expect("url").rsplit('#').next().expect("token").to_owned();
    let mut b = Browser::at("198.51.100.30");
    let begun = b.send(&env, Event::post("/api/verify/begin", json!({ "token": link }))).await;
    within(&trips, "verify/begin", &begun, 200);
    let csrf = begun.json()["csrf"].as_str().expect("csrf").to_owned();
    let sim = b.sim_check(&env, &csrf).await;
    within(&trips, "sim-check", &sim, 200);
    let sent = b.otp_start(&env, &csrf).await;
    within(&trips, "otp/start", &sent, 200);
    let done = b.otp_verify(&env, &csrf, &env.last_code("+447000000072")).await;
    within(&trips, "otp/verify", &done, 200);
    let url = url::Url::parse(done.json()["url"].as_str().expect("url")).expect("url");
    let token = url.query_pairs().find(|(k, _)| k == "simguard_token").map(|(_, v)| v.into_owned()).expect("token");
    let redeemed = env.send(&api("/api/v1/verifications/redeem", json!({ "token": token }))).await;
    within(&trips, "v1/verifications/redeem", &redeemed, 200);
}
