//! The password reset: start (create-check), the operator's redirect back (callback), and the new
//! password (reset-password). DESIGN.md §4; SECURITY.md A, B and D.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::{App, SharedApp};
use crate::domain::outcome::CheckOutcome;
use crate::domain::{Email, Flow, FlowKind, FlowReason, FlowState, FlowUpdate, PasswordPolicy, User};
use crate::http::cookies::{FLOW, RESET};
use crate::http::coverage::subscriber_check_coverage;
use crate::http::extract::csrf_token_for;
use crate::http::flow_support::{current_flow, notify, notify_flow_owner, provider_error};
use crate::http::limits::{HOUR, email_key, enforce, ip_key};
use crate::http::{ApiJson, ClientMeta, Problem};
use crate::metrics::Metric;
use crate::ports::truid::{CheckCode, CheckId, NewSubscriberCheck};
use crate::ports::{NotificationKind, ProviderError, ResetCompletion, StoreError};
use crate::random::{Token, random_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartReset {
    pub email: String,
}

fn random_failure() -> Problem {
    tracing::error!("no randomness available");
    Problem::unavailable()
}

/// `POST /api/reset/check {email}`.
///
/// Always starts a flow and sets its cookie. The answer is `{"next":"silent","check_url",...}` only
/// when the email belongs to an account, the device's network is covered and tru.ID created the
/// check; otherwise `{"next":"sms",...}` — identical for unknown emails and uncovered users (A1).
pub async fn create_check(
    State(app): State<SharedApp>,
    client: ClientMeta,
    ApiJson(body): ApiJson<StartReset>,
) -> Result<Response, Problem> {
    let email = Email::parse(&body.email).map_err(|_| Problem::invalid_email())?;
    let limits = &app.settings.limits;
    // All three limits run before any lookup or provider call, for known and unknown emails alike.
    enforce(&app, "reset_global", "all", limits.reset_global_hour, HOUR).await?;
    enforce(&app, "reset_ip", &ip_key(client.ip), limits.reset_per_ip_hour, HOUR).await?;
    enforce(&app, "reset_account", &email_key(&email), limits.reset_per_account_hour, HOUR).await?;

    let user = app.store.user_by_email(&email).await?;
    // Coverage is looked up for unknown emails too, so both take the same path until here.
    let covered = subscriber_check_coverage(&app, client.ip).await;
    let check = match (&user, covered) {
        (Some(user), true) => create_subscriber_check(&app, user).await,
        _ => None,
    };

    let now = app.clock.now();
    let flow_token = Token::generate(&*app.random).map_err(|_| random_failure())?;
    let state = if check.is_some() { FlowState::CheckPending } else { FlowState::Started };
    let mut flow = Flow::start(
        flow_token.hash(),
        FlowKind::Reset,
        user.map(|u| u.id),
        state,
        client.ip,
        client.user_agent,
        now,
        app.settings.flow_ttl_secs,
    );
    flow.check_id = check.as_ref().map(|c| c.check_id.expose().to_owned());
    app.store.put_flow(&flow).await?;
    tracing::info!(event = "reset_started", silent = check.is_some(), "reset flow started");
    app.metrics
        .record(Metric::StepOutcome { step: "reset_start", outcome: if check.is_some() { "silent" } else { "sms" } });

    let csrf = csrf_token_for(&flow_token);
    let body = match &check {
        Some(c) => {
            use secrecy::ExposeSecret;
            json!({ "next": "silent", "check_url": c.check_url.expose_secret(), "csrf": csrf })
        }
        None => json!({ "next": "sms", "csrf": csrf }),
    };
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().append(header::SET_COOKIE, FLOW.set(&flow_token, app.settings.flow_ttl_secs));
    resp.headers_mut().append(header::SET_COOKIE, RESET.clear());
    Ok(resp)
}

async fn create_subscriber_check(app: &App, user: &User) -> Option<crate::ports::CreatedCheck> {
    let reference_id = random_id(&*app.random).ok()?;
    let request = NewSubscriberCheck {
        phone: user.phone.clone(),
        redirect_url: app.settings.truid_redirect_url(),
        reference_id,
        period_minutes: app.settings.sim_change_window_minutes,
    };
    match app.truid.create_subscriber_check(&request).await {
        Ok(c) => Some(c),
        Err(e) => {
            provider_error(
                app,
                "truid",
                "create_subscriber_check",
                &e,
                "SubscriberCheck not created; offering the SMS path",
            );
            None
        }
    }
}

/// Fixed outcome codes a result page can show (`/reset/result.html?r=<code>`).
fn see_other(location: &'static str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static(location));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

const GO_NEW_PASSWORD: &str = "/reset/new-password.html";
const GO_LINK_INVALID: &str = "/reset/result.html?r=link_invalid";
const GO_SILENT_FAILED: &str = "/reset/result.html?r=silent_failed";
const GO_NO_MATCH: &str = "/reset/result.html?r=no_match";
const GO_SIM_CHANGED: &str = "/reset/result.html?r=sim_changed";
const GO_UNAVAILABLE: &str = "/reset/result.html?r=unavailable";

/// The query of the operator's redirect. Anything else in it is ignored, and none of it is ever
/// echoed or logged (B5, B6).
#[derive(Default)]
struct CallbackQuery {
    check_id: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

fn parse_callback_query(raw: Option<&str>) -> CallbackQuery {
    let mut q = CallbackQuery::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "check_id" => &mut q.check_id,
            "code" => &mut q.code,
            "error" => &mut q.error,
            _ => continue,
        };
        // A repeated parameter is an attempt to confuse: keep neither value.
        *slot = if slot.is_some() { Some(String::new()) } else { Some(v.into_owned()) };
    }
    q
}

/// Operator error codes, mapped to a fixed label for the log; the text is never used.
fn redirect_error_label(error: &str) -> &'static str {
    match error {
        "mno_redirect_unsupported" => "mno_redirect_unsupported",
        "not_mobile_ip" => "not_mobile_ip",
        "mno_not_supported" => "mno_not_supported",
        "ip_mismatch" | "ip_msisdn_mismatch" => "ip_mismatch",
        _ => "other",
    }
}

/// `GET /api/reset/callback?check_id&code` — where the operator's redirect lands.
///
/// Acts only for the browser that started the flow (its cookie), only for the check bound to that
/// flow, and only once: the flow is claimed by a conditional write *before* the code is exchanged,
/// so a replayed or relayed URL never reaches tru.ID (B1–B4). Always answers 303 to a fixed page.
pub async fn callback(State(app): State<SharedApp>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = parse_callback_query(raw.as_deref());
    match run_callback(&app, &headers, q).await {
        Ok(resp) => {
            if resp.headers().get(header::LOCATION).is_some_and(|l| l == GO_LINK_INVALID) {
                app.metrics.record(Metric::StepOutcome { step: "callback", outcome: "refused" });
            }
            resp
        }
        Err(StoreError::Unavailable(why)) => {
            tracing::error!(error = %why, "store unavailable in callback");
            see_other(GO_UNAVAILABLE)
        }
        Err(_) => see_other(GO_LINK_INVALID),
    }
}

async fn run_callback(app: &App, headers: &HeaderMap, q: CallbackQuery) -> Result<Response, StoreError> {
    let now = app.clock.now();
    let Some(flow_token) = FLOW.read(headers) else {
        tracing::warn!(event = "callback_refused", why = "no_flow_cookie", "callback without the flow cookie");
        return Ok(see_other(GO_LINK_INVALID));
    };
    let key = flow_token.hash();
    let Some(flow) = app.store.get_flow(&key, now).await? else {
        tracing::warn!(event = "callback_refused", why = "no_live_flow", "callback for no live flow");
        return Ok(see_other(GO_LINK_INVALID));
    };
    let presented = q.check_id.as_deref().and_then(CheckId::parse);
    let bound = flow.check_id.as_deref().and_then(CheckId::parse);
    let (Some(check_id), Some(bound)) = (presented, bound) else {
        tracing::warn!(
            event = "callback_refused",
            why = "no_check",
            state = flow.state.as_str(),
            "callback without a bound check"
        );
        return Ok(see_other(GO_LINK_INVALID));
    };
    if check_id != bound || flow.state != FlowState::CheckPending {
        tracing::warn!(
            event = "callback_refused",
            why = "check_not_bound_or_used",
            state = flow.state.as_str(),
            "callback for another check, or a replay"
        );
        return Ok(see_other(GO_LINK_INVALID));
    }
    // Claim the flow: of any number of concurrent or replayed callbacks, one gets here.
    app.store
        .transition_flow(&key, FlowState::CheckPending, FlowState::CheckClaimed, FlowUpdate::default(), now)
        .await?;

    let failed = |reason| FlowUpdate { reason: Some(reason), ..FlowUpdate::default() };
    if let Some(error) = q.error.as_deref() {
        tracing::info!(
            event = "subscriber_check_result",
            outcome = "redirect_error",
            error = redirect_error_label(error),
            "operator redirect reported an error"
        );
        app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: "redirect_error" });
        app.store
            .transition_flow(
                &key,
                FlowState::CheckClaimed,
                FlowState::CheckFailed,
                failed(FlowReason::SilentFailed),
                now,
            )
            .await?;
        return Ok(see_other(GO_SILENT_FAILED));
    }
    let Some(code) = q.code.as_deref().and_then(CheckCode::parse) else {
        tracing::warn!(event = "callback_refused", why = "bad_code", "callback without a usable code");
        app.store
            .transition_flow(
                &key,
                FlowState::CheckClaimed,
                FlowState::CheckFailed,
                failed(FlowReason::SilentFailed),
                now,
            )
            .await?;
        return Ok(see_other(GO_SILENT_FAILED));
    };

    let outcome = exchange_code(app, &check_id, &code).await;
    tracing::info!(event = "subscriber_check_result", outcome = outcome.as_str(), "SubscriberCheck completed");
    app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: outcome.as_str() });
    if outcome == CheckOutcome::SimChanged {
        app.metrics.record(Metric::SimChangeBlocked);
    }
    match outcome {
        CheckOutcome::Verified => {
            let reset_token = Token::generate(&*app.random).map_err(|_| StoreError::Unavailable("random".into()))?;
            let update = FlowUpdate { reset_token_hash: Some(reset_token.hash()), ..FlowUpdate::default() };
            app.store.transition_flow(&key, FlowState::CheckClaimed, FlowState::Verified, update, now).await?;
            if let Some(user_id) = &flow.user_id {
                // A SubscriberCheck is a possession proof too: it closes the new-account grace.
                app.store.mark_phone_verified(user_id, now).await?;
            }
            let mut resp = see_other(GO_NEW_PASSWORD);
            // The reset token lives no longer than the flow it belongs to.
            let ttl = (flow.expires_at.0 - now.0).max(0);
            resp.headers_mut().append(header::SET_COOKIE, RESET.set(&reset_token, ttl));
            Ok(resp)
        }
        CheckOutcome::SimChanged => {
            app.store
                .transition_flow(
                    &key,
                    FlowState::CheckClaimed,
                    FlowState::Rejected,
                    failed(FlowReason::SimChanged),
                    now,
                )
                .await?;
            notify_flow_owner(app, &flow, NotificationKind::SimChangeBlocked).await;
            Ok(see_other(GO_SIM_CHANGED))
        }
        CheckOutcome::Mismatch => {
            app.store
                .transition_flow(&key, FlowState::CheckClaimed, FlowState::Rejected, failed(FlowReason::NoMatch), now)
                .await?;
            Ok(see_other(GO_NO_MATCH))
        }
        CheckOutcome::Unsupported | CheckOutcome::Error => {
            app.store
                .transition_flow(
                    &key,
                    FlowState::CheckClaimed,
                    FlowState::CheckFailed,
                    failed(FlowReason::SilentFailed),
                    now,
                )
                .await?;
            Ok(see_other(GO_SILENT_FAILED))
        }
    }
}

/// PATCHes the code exactly once. If the answer is lost (timeout, 5xx), a GET — a read — tells what
/// the PATCH did; the PATCH itself is never repeated (SECURITY.md §3.1).
async fn exchange_code(app: &App, check_id: &CheckId, code: &CheckCode) -> CheckOutcome {
    let report = match app.truid.complete_subscriber_check(check_id, code).await {
        Err(e @ (ProviderError::Timeout | ProviderError::Unavailable(_))) => {
            provider_error(app, "truid", "patch_subscriber_check", &e, "PATCH answer lost; reading the check");
            app.truid.get_subscriber_check(check_id).await
        }
        other => other,
    };
    match report {
        Ok(r) => r.outcome(app.settings.sim_change_window_minutes),
        Err(e) => {
            provider_error(app, "truid", "complete_subscriber_check", &e, "SubscriberCheck not completed");
            CheckOutcome::Error
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    pub password: String,
}

/// `POST /api/reset/password {password}`.
///
/// Authorised by the flow cookie, the single-use reset cookie and the flow's CSRF token — never by
/// anything in the body (D1). One transaction consumes the flow, stores the new hash and ends every
/// session (D2). No sign-in follows (D5); the owner is told by email (D6).
pub async fn reset_password(
    State(app): State<SharedApp>,
    client: ClientMeta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewPassword>,
) -> Result<Response, Problem> {
    let now = app.clock.now();
    let (_, flow) = current_flow(&app, &headers).await?;
    let reset_token = RESET.read(&headers).ok_or_else(Problem::flow_invalid)?;
    let token_ok = flow.reset_token_hash.as_ref().is_some_and(|h| h.matches(&reset_token));
    let (FlowState::Verified, true, Some(user_id)) = (flow.state, token_ok, flow.user_id.clone()) else {
        tracing::warn!(event = "reset_refused", state = flow.state.as_str(), "reset-password without a verified flow");
        return Err(Problem::flow_invalid());
    };
    let user = app.store.user_by_id(&user_id).await?.ok_or_else(Problem::flow_invalid)?;
    let password = PasswordPolicy::check(&body.password, Some(user.email.local_part()))
        .map_err(|r| Problem::weak_password(r.code()))?;
    let new_password_hash = app.hasher.hash(&password, &*app.random).await.map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        Problem::unavailable()
    })?;
    let completion = ResetCompletion {
        flow_key: flow.key.clone(),
        reset_token_hash: reset_token.hash(),
        user_id,
        new_password_hash,
        client_ip: client.ip,
        now,
    };
    match app.store.complete_reset(&completion).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            tracing::warn!(event = "reset_refused", why = "lost_race_or_used", "reset completion refused");
            return Err(Problem::flow_invalid());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(event = "password_reset", user_id = %user.id, "password reset completed");
    app.metrics.record(Metric::StepOutcome { step: "reset_password", outcome: "changed" });
    notify(&app, &user, NotificationKind::PasswordReset, client.ip, &client.user_agent).await;

    let mut resp = axum::Json(json!({ "status": "password_changed" })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
    resp.headers_mut().append(header::SET_COOKIE, RESET.clear());
    Ok(resp)
}
