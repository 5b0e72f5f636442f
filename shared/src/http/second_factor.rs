//! The SMS path: the SIM-swap gate (sim-check), then a code sent (otp-start) and checked
//! (otp-verify). Shared by the reset fallback and login 2FA. SECURITY.md C, E and F.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::{App, SharedApp};
use crate::domain::sim_policy::{self, Account, SimSignal, SimVerdict};
use crate::domain::{Flow, FlowCounter, FlowKind, FlowReason, FlowState, FlowUpdate, Phone, User};
use crate::http::cookies::{FLOW, RESET, SESSION};
use crate::http::extract::csrf_token_for;
use crate::http::flow_support::{current_flow, notify_flow_owner, provider_error, start_session};
use crate::http::limits::{HOUR, enforce, ip_block_key, ip_key, phone_key};
use crate::http::{ApiJson, ClientMeta, Problem};
use crate::metrics::Metric;
use crate::ports::{NotificationKind, OtpCheck, OtpCode, OtpError, OtpReference, ProviderFault, StoreError};
use crate::random::{Token, random_id};

const TEN_MINUTES: u64 = 600;
const DAY: u64 = 86400;
/// When the SMS path was opened without a SIM answer (login, `allow_with_notice`): one send, three
/// tries (SECURITY.md §3.2, "tighter OTP limits").
const UNVERIFIED_SENDS: u32 = 1;
const UNVERIFIED_ATTEMPTS: u32 = 3;

async fn flow_user(app: &App, flow: &Flow) -> Result<Option<User>, Problem> {
    match &flow.user_id {
        None => Ok(None),
        Some(id) => Ok(Some(app.store.user_by_id(id).await?.ok_or_else(Problem::flow_invalid)?)),
    }
}

/// `POST /api/sim-check`: runs a tru.ID SIMCheck on the account's number and records the verdict.
/// Answers `{"next":"otp"}` or `{"next":"blocked","reason":"sim_changed"|"sim_unavailable"}`.
/// A flow for an unknown email gets `otp` without any provider call (A1); nothing is ever sent for it.
pub async fn sim_check(
    State(app): State<SharedApp>,
    client: ClientMeta,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    if !flow.state.may_sim_check(flow.kind) {
        return Err(Problem::flow_invalid());
    }
    enforce(&app, "sim_check_ip", &ip_key(client.ip), app.settings.limits.sim_checks_per_ip_hour, HOUR).await?;
    let now = app.clock.now();
    let window = app.settings.sim_change_window_minutes;
    let verdict = match flow_user(&app, &flow).await? {
        None => SimVerdict::Pass,
        Some(user) => {
            let reference = random_id(&*app.random).map_err(|_| Problem::unavailable())?;
            let signal = match app.truid.create_sim_check(&user.phone, &reference, window).await {
                Ok(r) => sim_policy::signal(r.status, r.no_sim_change, r.sim_change_within, window),
                Err(e) => {
                    provider_error(&app, "truid", "sim_check", &e, "SIMCheck failed; no SIM answer");
                    SimSignal::Unavailable
                }
            };
            let account = Account { registered_at: user.created_at, phone_verified_at: user.phone_verified_at };
            app.settings.sim_policy().decide(flow.kind, signal, account, now)
        }
    };
    tracing::info!(
        event = "sim_check_result",
        flow = flow.kind.as_str(),
        verdict = verdict.as_str(),
        "SIM-swap gate decided"
    );
    app.metrics.record(Metric::StepOutcome { step: "sim_check", outcome: verdict.as_str() });

    if verdict.passes() {
        let unverified = verdict == SimVerdict::PassUnverified;
        let update = FlowUpdate { sim_unverified: Some(unverified), ..FlowUpdate::default() };
        app.store.transition_flow(&flow.key, flow.state, FlowState::SimOk, update, now).await?;
        if unverified {
            tracing::warn!(
                event = "sim_check_unavailable_allowed",
                "login continues without a SIM answer (allow_with_notice)"
            );
            notify_flow_owner(&app, &flow, NotificationKind::SignInWithoutSimCheck).await;
        }
        return Ok(axum::Json(json!({ "next": "otp" })).into_response());
    }
    let reason =
        if verdict == SimVerdict::BlockSimChanged { FlowReason::SimChanged } else { FlowReason::SimUnavailable };
    let update = FlowUpdate { reason: Some(reason), ..FlowUpdate::default() };
    app.store.transition_flow(&flow.key, flow.state, FlowState::Rejected, update, now).await?;
    if reason == FlowReason::SimChanged {
        tracing::warn!(event = "sim_change_blocked", flow = flow.kind.as_str(), "SIM changed recently: no SMS");
        app.metrics.record(Metric::SimChangeBlocked);
        notify_flow_owner(&app, &flow, NotificationKind::SimChangeBlocked).await;
    } else if flow.kind == FlowKind::Login {
        notify_flow_owner(&app, &flow, NotificationKind::SecondFactorFailed).await;
    }
    Ok(axum::Json(json!({ "next": "blocked", "reason": reason.code() })).into_response())
}

/// Every limit on sending an SMS to `phone` (F1, F2), counted before the provider is called.
async fn enforce_sms_limits(app: &App, client: &ClientMeta, phone: Option<&Phone>) -> Result<(), Problem> {
    let l = &app.settings.limits;
    enforce(app, "sms_global", "all", l.sms_global_hour, HOUR).await?;
    enforce(app, "sms_ip", &ip_key(client.ip), l.sms_per_ip_hour, HOUR).await?;
    enforce(app, "sms_ip_block", &ip_block_key(client.ip), l.sms_per_ip_block_hour, HOUR).await?;
    if let Some(phone) = phone {
        enforce(app, "sms_prefix", &phone_key(phone.prefix_bucket()), l.sms_per_prefix_hour, HOUR).await?;
        enforce(app, "sms_number_10min", &phone_key(phone.e164()), l.sms_per_number_10min, TEN_MINUTES).await?;
        enforce(app, "sms_number_day", &phone_key(phone.e164()), l.sms_per_number_day, DAY).await?;
    }
    Ok(())
}

/// `POST /api/otp/start`: sends a code (or a new one) to the account's number. Needs a passing SIM
/// verdict on this flow. Answers `{"status":"sent"}` — also for an unknown email, for which nothing
/// is sent.
pub async fn otp_start(
    State(app): State<SharedApp>,
    client: ClientMeta,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    if !matches!(flow.state, FlowState::SimOk | FlowState::OtpSent) {
        return Err(Problem::flow_invalid());
    }
    let now = app.clock.now();
    let max_sends = if flow.sim_unverified { UNVERIFIED_SENDS } else { app.settings.limits.otp_sends_per_flow };
    match app
        .store
        .count_flow_event(&flow.key, FlowCounter::OtpSends, max_sends, &[FlowState::SimOk, FlowState::OtpSent], now)
        .await
    {
        Ok(_) => {}
        Err(StoreError::LimitReached) => {
            tracing::warn!(event = "rate_limited", bucket = "otp_sends_flow", "too many sends in this flow");
            return Err(Problem::rate_limited(app.settings.flow_ttl_secs.unsigned_abs()));
        }
        Err(e) => return Err(e.into()),
    }
    let user = flow_user(&app, &flow).await?;
    if let Some(user) = &user
        && !app.settings.otp.sms_allowed_to(&user.phone)
    {
        tracing::warn!(event = "sms_refused", why = "country_not_allowed", "destination country not on the allowlist");
        return Err(Problem::phone_not_supported());
    }
    enforce_sms_limits(&app, &client, user.as_ref().map(|u| &u.phone)).await?;
    let sent = json!({ "status": "sent" });
    let Some(user) = user else {
        // Unknown email: the same answer, no SMS, no provider call; the state still moves so that
        // every following step looks the same too.
        if flow.state == FlowState::SimOk {
            app.store
                .transition_flow(&flow.key, FlowState::SimOk, FlowState::OtpSent, FlowUpdate::default(), now)
                .await?;
        }
        return Ok(axum::Json(sent).into_response());
    };

    let client_ref = random_id(&*app.random).map_err(|_| Problem::unavailable())?;
    let reference = match app.otp.start(&user.phone, &client_ref).await {
        Ok(r) => r,
        // A verification to this number is already running (a resend, or another tab): reuse it.
        Err(OtpError::InFlight { reference: Some(r) }) => r,
        Err(OtpError::InFlight { reference: None }) if flow.otp_reference.is_some() => {
            return Ok(axum::Json(sent).into_response());
        }
        Err(e) => {
            provider_error(&app, app.otp.name(), "otp_start", &e, "code not sent");
            app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: e.kind() });
            return Err(match e {
                OtpError::NumberRefused { .. } => Problem::phone_not_supported(),
                OtpError::RateLimited { retry_after_secs } => Problem::rate_limited(retry_after_secs.unwrap_or(600)),
                OtpError::InFlight { .. } => Problem::rate_limited(600),
                _ => Problem::sms_unavailable(),
            });
        }
    };
    let update = FlowUpdate {
        otp_reference: Some(reference.as_str().to_owned()),
        otp_provider: Some(app.otp.name().to_owned()),
        ..FlowUpdate::default()
    };
    app.store.transition_flow(&flow.key, flow.state, FlowState::OtpSent, update, now).await?;
    tracing::info!(event = "sms_sent", provider = app.otp.name(), flow = flow.kind.as_str(), "code sent");
    app.metrics.record(Metric::SmsSent { provider: app.otp.name() });
    app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: "sent" });
    Ok(axum::Json(sent).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCode {
    pub code: String,
}

/// Locks the flow after too many wrong codes; the request that locks it tells the owner (login).
async fn lock(app: &App, flow: &Flow) -> Problem {
    let update = FlowUpdate { reason: Some(FlowReason::TooManyAttempts), ..FlowUpdate::default() };
    let locked_now = app
        .store
        .transition_flow(&flow.key, FlowState::OtpSent, FlowState::Locked, update, app.clock.now())
        .await
        .is_ok();
    if locked_now {
        tracing::warn!(event = "otp_locked", flow = flow.kind.as_str(), "too many wrong codes: flow locked");
        app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "locked" });
        if flow.kind == FlowKind::Login {
            notify_flow_owner(app, flow, NotificationKind::SecondFactorFailed).await;
        }
    }
    Problem::too_many_attempts()
}

/// `POST /api/otp/verify {code}`. The attempt is counted (atomically, with its cap) before the
/// provider sees the code, so concurrent guesses never exceed the cap (C3). On success a reset
/// flow is verified (the reset cookie is issued) and a login flow becomes a session.
pub async fn otp_verify(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyCode>,
) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    let now = app.clock.now();
    if flow.state == FlowState::Locked {
        return Err(Problem::too_many_attempts());
    }
    if flow.state != FlowState::OtpSent {
        return Err(Problem::flow_invalid());
    }
    let code = OtpCode::parse(&body.code).ok_or_else(Problem::code_invalid)?;
    let max = if flow.sim_unverified { UNVERIFIED_ATTEMPTS } else { app.settings.limits.otp_attempts_per_flow };
    match app.store.count_flow_event(&flow.key, FlowCounter::OtpAttempts, max, &[FlowState::OtpSent], now).await {
        Ok(_) => {}
        Err(StoreError::LimitReached) => return Err(lock(&app, &flow).await),
        Err(StoreError::Conflict) => {
            // Locked (or completed) by a concurrent request since we read it.
            let current = app.store.get_flow(&flow.key, now).await?;
            return Err(if current.is_some_and(|f| f.state == FlowState::Locked) {
                Problem::too_many_attempts()
            } else {
                Problem::flow_invalid()
            });
        }
        Err(e) => return Err(e.into()),
    }
    let Some(user) = flow_user(&app, &flow).await? else {
        tracing::info!(event = "otp_failed", "wrong code");
        app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "wrong" });
        return Err(Problem::code_invalid());
    };
    let reference = flow.otp_reference.as_deref().and_then(OtpReference::parse).ok_or_else(Problem::flow_invalid)?;
    let outcome = app.otp.check(&reference, &user.phone, &code).await;
    match outcome {
        Ok(OtpCheck::Approved) => {}
        Ok(OtpCheck::Wrong) => {
            tracing::info!(event = "otp_failed", provider = app.otp.name(), "wrong code");
            app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "wrong" });
            return Err(Problem::code_invalid());
        }
        Ok(OtpCheck::TooManyAttempts) => return Err(lock(&app, &flow).await),
        Ok(OtpCheck::Expired) => {
            tracing::info!(event = "otp_failed", provider = app.otp.name(), why = "expired", "code expired");
            app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "expired" });
            return Err(Problem::code_expired());
        }
        Err(e) => {
            provider_error(&app, app.otp.name(), "otp_check", &e, "code not checked");
            return Err(Problem::sms_unavailable());
        }
    }
    tracing::info!(event = "otp_verified", provider = app.otp.name(), flow = flow.kind.as_str(), "code verified");
    app.store.mark_phone_verified(&user.id, now).await?;
    // Counted only by the request whose transition wins, so concurrent verifies of one code cannot
    // inflate the conversion rate the SMS-pumping alarm watches.
    let count_verified = || {
        app.metrics.record(Metric::OtpVerified { provider: app.otp.name() });
        app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "verified" });
    };
    match flow.kind {
        FlowKind::Reset => {
            let reset_token = Token::generate(&*app.random).map_err(|_| Problem::unavailable())?;
            let update = FlowUpdate { reset_token_hash: Some(reset_token.hash()), ..FlowUpdate::default() };
            app.store.transition_flow(&flow.key, FlowState::OtpSent, FlowState::Verified, update, now).await?;
            count_verified();
            let mut resp = axum::Json(json!({ "next": "new_password" })).into_response();
            let ttl = (flow.expires_at.0 - now.0).max(0);
            resp.headers_mut().append(header::SET_COOKIE, RESET.set(&reset_token, ttl));
            Ok(resp)
        }
        FlowKind::Login => {
            // Only the request that completes the flow gets a session.
            app.store
                .transition_flow(&flow.key, FlowState::OtpSent, FlowState::Completed, FlowUpdate::default(), now)
                .await?;
            count_verified();
            let session = start_session(&app, &user).await?;
            tracing::info!(event = "login", user_id = %user.id, "signed in with a second factor");
            let mut resp = axum::Json(json!({ "next": "signed_in", "csrf": csrf_token_for(&session) })).into_response();
            resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&session, app.settings.session_ttl_secs));
            resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
            Ok(resp)
        }
    }
}
