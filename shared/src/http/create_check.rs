//! `POST /api/reset/check {email}` (function `create-check`): starts a password reset; and
//! `POST /api/login/silent`: a sign-in's or a phone change's silent check, where the device's network
//! can prove the phone.
//! Both start the proof with the first silent prover that may reach the device (docs/security.md S34).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::SilentApp;
use crate::domain::verification::VerificationError;
use crate::domain::{Email, Flow, FlowAccount, FlowEvent, FlowKind, FlowOrigin, NewFlow, SilentBinding, Token};
use crate::http::cookies::{FLOW, RESET};
use crate::http::extract::csrf_token_for;
use crate::http::limits::{HOUR, Limit, email_key, enforce, ip_key, sms_keys};
use crate::http::support::{
    Started, cached_coverage, current_flow, flow_number, flow_user, persist, remember_coverage, start_silent, step,
};
use crate::http::{ApiJson, ClientMeta, Problem};
use crate::ports::Metric;

/// The request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartReset {
    /// The account's email, as typed.
    pub email: String,
}

/// Always starts a flow and sets its cookie. The answer is `{"next":"silent","check_url",...}` only
/// when the email belongs to an account, a prover may reach the device's network and started a
/// proof; otherwise `{"next":"sms",...}` — identical for unknown emails and uncovered users (A1).
pub async fn create_check(
    State(app): State<SilentApp>,
    client: ClientMeta,
    ApiJson(body): ApiJson<StartReset>,
) -> Result<Response, Problem> {
    let email = Email::parse(&body.email).map_err(|_| Problem::invalid_email())?;
    let l = &app.settings.limits;
    // The three limits are counted before any provider call and before any answer of the store is
    // used, for known and unknown emails alike; the account and the cached coverage are read at the
    // same time (one round trip, docs/security.md R11) and dropped when a limit refuses.
    let limits = [
        Limit::new("reset_global", "all", l.reset_global_hour, HOUR),
        Limit::new("reset_ip", ip_key(client.ip), l.reset_per_ip_hour, HOUR),
        Limit::new("reset_account", email_key(&email), l.reset_per_account_hour, HOUR),
    ];
    let (allowed, user, cached) =
        tokio::join!(enforce(&app, &limits), app.store.user_by_email(&email), cached_coverage(&app, client.ip));
    allowed?;
    // An account that never proved its phone in its first two weeks is gone: an unknown email.
    let user = user?.filter(|u| !u.expired_unconfirmed(app.clock.now()));
    let reach = start_silent(&app, user.as_ref().map(|u| &u.phone), client.ip, cached).await;
    let (started, looked_up) = (reach.started, reach.looked_up);

    let now = app.clock.now();
    let flow_token = app.random.token()?;
    let origin = match &started {
        Some(s) => FlowOrigin::ResetSilent(s.binding()),
        None => FlowOrigin::ResetSms,
    };
    let flow = Flow::start(
        flow_token.hash(),
        NewFlow {
            origin,
            sms_keys: sms_keys(user.as_ref().map(|u| &u.phone), Some(&email_key(&email))),
            account: match user {
                Some(u) => FlowAccount::Known { user_id: u.id, credential_version: u.credential_version },
                None => FlowAccount::Unknown { email_key: email_key(&email) },
            },
            client_ip: client.ip,
            user_agent: client.user_agent,
            now,
            ttl_secs: app.settings.flow_ttl_secs,
        },
    );
    // The flow and the coverage answer looked up now are written at once.
    store_flow(&app, &flow, client.ip, looked_up).await?;
    tracing::info!(
        event = "reset_started",
        silent = started.is_some(),
        provider = started.as_ref().map(|s| s.provider),
        "reset flow started"
    );
    app.metrics
        .record(Metric::StepOutcome { step: "reset_start", outcome: if started.is_some() { "silent" } else { "sms" } });

    let csrf = csrf_token_for(&flow_token);
    let body = match &started {
        Some(s) => {
            let mut body = s.answer();
            body["csrf"] = json!(csrf);
            body
        }
        None => json!({ "next": "sms", "csrf": csrf }),
    };
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().append(header::SET_COOKIE, FLOW.set(&flow_token, app.settings.flow_ttl_secs));
    resp.headers_mut().append(header::SET_COOKIE, RESET.clear());
    Ok(resp)
}

/// Stores a new flow and, at the same time (one round trip), the coverage answer looked up for the
/// device's address, if one was.
async fn store_flow(
    app: &SilentApp,
    flow: &Flow,
    ip: std::net::IpAddr,
    looked_up: Option<bool>,
) -> Result<(), Problem> {
    let remember = async {
        if let Some(covered) = looked_up {
            remember_coverage(app, ip, covered).await;
        }
    };
    let (stored, ()) = tokio::join!(app.store.put_flow(flow), remember);
    Ok(stored?)
}

/// `POST /api/verify/begin`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeginVerification {
    /// The token from the hosted page's URL fragment.
    pub token: String,
}

/// The hosted page opens a relying site's verification (the single-use link the site sent the
/// browser to): the verification is marked begun — a second opening, or one after ten minutes, is
/// `flow_invalid` — and a flow starts for its number in this browser, exactly as a reset's would:
/// `{"next":"silent","check_url"}` where a prover reaches the device, else `{"next":"sms"}` (the
/// SIM check, then a code). With the site's name, and the URLs that take the browser back to the
/// site with each error code (for the page's "Cancel" and a dead end such as a locked flow).
pub async fn begin_verification(
    State(app): State<SilentApp>,
    client: ClientMeta,
    ApiJson(body): ApiJson<BeginVerification>,
) -> Result<Response, Problem> {
    let link = Token::parse(&body.token).ok_or_else(Problem::flow_invalid)?;
    let l = &app.settings.limits;
    // Silent checks cost provider calls: per-address and global limits of the reset's size, in
    // buckets of their own, so that a busy site does not use up simguard's own resets.
    let limits = [
        Limit::new("verify_begin_global", "all", l.reset_global_hour, HOUR),
        Limit::new("verify_begin_ip", ip_key(client.ip), l.reset_per_ip_hour, HOUR),
    ];
    let (allowed, cached) = tokio::join!(enforce(&app, &limits), cached_coverage(&app, client.ip));
    allowed?;
    let now = app.clock.now();
    let Some(verification) = app.store.begin_verification(&link.hash(), now).await? else {
        tracing::warn!(event = "verification_refused", why = "link_not_pending", "an unknown, used or expired link");
        return Err(Problem::flow_invalid());
    };
    let subject = verification.subject;
    let reach = start_silent(&app, Some(&subject.phone), client.ip, cached).await;
    let (started, looked_up) = (reach.started, reach.looked_up);
    let site_name = Some(verification.site_name).filter(|n| !n.is_empty());
    let flow_token = app.random.token()?;
    let flow = Flow::start(
        flow_token.hash(),
        NewFlow {
            origin: FlowOrigin::Verification { silent: started.as_ref().map(Started::binding) },
            sms_keys: sms_keys(Some(&subject.phone), None),
            account: FlowAccount::Site(subject.clone()),
            client_ip: client.ip,
            user_agent: client.user_agent,
            now,
            ttl_secs: app.settings.flow_ttl_secs,
        },
    );
    store_flow(&app, &flow, client.ip, looked_up).await?;
    tracing::info!(
        event = "verification_begun",
        site = subject.site.as_str(),
        silent = started.is_some(),
        provider = started.as_ref().map(|s| s.provider),
        "verification flow started"
    );
    let mut body = match &started {
        Some(s) => s.answer(),
        None => json!({ "next": "sms" }),
    };
    body["csrf"] = json!(csrf_token_for(&flow_token));
    body["site"] = json!(site_name.unwrap_or_else(|| subject.site.as_str().to_owned()));
    let back = |e: VerificationError| subject.return_with_error(e);
    body["return"] = json!({
        "cancelled": back(VerificationError::Cancelled),
        "too_many_attempts": back(VerificationError::TooManyAttempts),
        "unavailable": back(VerificationError::Unavailable),
    });
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().append(header::SET_COOKIE, FLOW.set(&flow_token, app.settings.flow_ttl_secs));
    resp.headers_mut().append(header::SET_COOKIE, RESET.clear());
    Ok(resp)
}

/// A sign-in whose password was right proves the phone silently where the device's network allows
/// it (docs/security.md S32): `{"next":"silent","check_url"}` — a proof bound to the flow, which the
/// redirect to the callback completes (a session, no code) — or `{"next":"sms"}`, the SIM check and
/// a code, when no prover reaches the network or starts a proof, or the silent checks' limits are
/// spent (they never refuse a sign-in: the SMS path has its own). A phone change does the same for
/// the number it proves next: the account's, then the new one (S31). Counts under the reset's
/// per-address and global limits, which bound the providers' checks.
pub async fn start_silent_login(
    State(app): State<SilentApp>,
    client: ClientMeta,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    let probe = SilentBinding { provider: String::new(), handle: String::new(), secret: None };
    step(&flow, FlowEvent::SilentStarted(probe))?;
    let l = &app.settings.limits;
    let limits = [
        Limit::new("reset_global", "all", l.reset_global_hour, HOUR),
        Limit::new("reset_ip", ip_key(client.ip), l.reset_per_ip_hour, HOUR),
    ];
    // The limits, the account and the cached coverage: one round trip (docs/security.md R11).
    let (allowed, user, cached) =
        tokio::join!(enforce(&app, &limits), flow_user(&app, &flow), cached_coverage(&app, client.ip));
    let step_name = match flow.kind {
        FlowKind::PhoneChange => "phone_change_silent",
        _ => "login_silent",
    };
    let sms = || {
        app.metrics.record(Metric::StepOutcome { step: step_name, outcome: "sms" });
        Ok(axum::Json(json!({ "next": "sms" })).into_response())
    };
    let Some(user) = user? else { return Err(Problem::flow_invalid()) };
    let number = flow_number(&flow, &user.phone)?;
    if allowed.is_err() {
        return sms();
    }
    let reach = start_silent(&app, Some(number), client.ip, cached).await;
    let (started, looked_up) = (reach.started, reach.looked_up);
    let remember = async {
        if let Some(covered) = looked_up {
            remember_coverage(&app, client.ip, covered).await;
        }
    };
    let Some(started) = started else {
        remember.await;
        return sms();
    };
    let now = app.clock.now();
    let transition = step(&flow, FlowEvent::SilentStarted(started.binding()))?;
    let (stored, ()) = tokio::join!(persist(&app, &flow, &transition, now), remember);
    stored?;
    match flow.kind {
        FlowKind::PhoneChange => tracing::info!(
            event = "phone_change_silent_started",
            user_id = %user.id,
            new_number = flow.proves_new_phone(),
            provider = started.provider,
            "phone change proving a number silently"
        ),
        _ => tracing::info!(
            event = "login_silent_started",
            user_id = %user.id,
            provider = started.provider,
            "sign-in proving the phone silently"
        ),
    }
    app.metrics.record(Metric::StepOutcome { step: step_name, outcome: "silent" });
    Ok(axum::Json(started.answer()).into_response())
}
