//! `GET /api/reset/callback?check_id&code` (function `callback`): where the operator's redirect
//! lands after the device opened `check_url` over mobile data — a password reset's, or a sign-in's
//! (docs/security.md S32).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::{App, TruIdApp, WithTruId};
use crate::domain::sim_policy::Account;
use crate::domain::{CheckOutcome, Flow, FlowEvent, FlowKind, FlowReason, FlowState, OutOfOrder, Timestamp, User};
use crate::http::cookies::{FLOW, RESET, SESSION};
use crate::http::support::{flow_user, new_session, notify_flow_owner, persist, provider_error, timed};
use crate::ports::{
    CheckCode, CheckId, Metric, NotificationKind, PossessionProof, RandomError, StoreError, TruIdError, deadline,
};

/// Where the browser goes next: fixed pages, a fixed outcome code at most (`?r=<code>`).
const GO_NEW_PASSWORD: &str = "/reset/new-password.html";
const GO_LINK_INVALID: &str = "/reset/result.html?r=link_invalid";
const GO_SILENT_FAILED: &str = "/reset/result.html?r=silent_failed";
const GO_NO_MATCH: &str = "/reset/result.html?r=no_match";
const GO_SIM_CHANGED: &str = "/reset/result.html?r=sim_changed";
const GO_UNAVAILABLE: &str = "/reset/result.html?r=unavailable";
const GO_IN_PROGRESS: &str = "/reset/result.html?r=in_progress";
/// A sign-in's: signed in (the page goes on to where the sign-in was headed), the SMS path instead,
/// stopped by a SIM change, or a flow this callback cannot finish.
const GO_SIGNED_IN: &str = "/login.html?r=signed_in";
const GO_LOGIN_SMS: &str = "/login.html?r=silent_failed";
const GO_LOGIN_SIM_CHANGED: &str = "/blocked.html?r=sim_changed&flow=login";
const GO_LOGIN_INVALID: &str = "/login.html?r=link_invalid";

/// No callback runs longer than this (API Gateway gives up at 30 s): a claim this old was left by
/// one that died — the store failed after the code was exchanged, or the function ran out of time.
const CLAIM_ABANDONED_AFTER_SECS: i64 = 30;

fn see_other(location: &'static str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static(location));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// The query of the operator's redirect. Anything else in it is ignored, and none of it is ever
/// echoed or logged (B5, B6).
#[derive(Default)]
struct CallbackQuery {
    check_id: Option<String>,
    code: Option<String>,
    error: Option<String>,
    /// `resume=1`: the result page's "try again" after a failure, with nothing else: finish the
    /// flow's own check from what tru.ID says (R9).
    resume: Option<String>,
}

impl CallbackQuery {
    fn is_resume(&self) -> bool {
        self.resume.as_deref() == Some("1") && self.check_id.is_none() && self.code.is_none() && self.error.is_none()
    }
}

fn parse_callback_query(raw: Option<&str>) -> CallbackQuery {
    let mut q = CallbackQuery::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "check_id" => &mut q.check_id,
            "code" => &mut q.code,
            "error" => &mut q.error,
            "resume" => &mut q.resume,
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

/// Why the callback could not finish: each ends on a result page, never on an error status.
#[derive(Debug, thiserror::Error)]
enum CallbackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    OutOfOrder(#[from] OutOfOrder),
    /// A sign-in whose account changed its credentials since (or is gone).
    #[error("the sign-in's account changed")]
    AccountChanged,
}

/// Acts only for the browser that started the flow (its cookie), only for the check bound to that
/// flow, and only once: the flow is claimed by a conditional write *before* the code is exchanged,
/// so a replayed or relayed URL never reaches tru.ID (B1–B4). Always answers 303 to a fixed page.
pub async fn callback(State(app): State<TruIdApp>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = parse_callback_query(raw.as_deref());
    match run_callback(&app, &headers, q).await {
        Ok(resp) => {
            if resp.headers().get(header::LOCATION).is_some_and(|l| l == GO_LINK_INVALID || l == GO_LOGIN_INVALID) {
                app.metrics.record(Metric::StepOutcome { step: "callback", outcome: "refused" });
            }
            resp
        }
        Err(CallbackError::Store(StoreError::Unavailable(why))) => {
            tracing::error!(error = %why, "store unavailable in callback");
            see_other(GO_UNAVAILABLE)
        }
        Err(CallbackError::Random(e)) => {
            tracing::error!(error = %e, "no randomness in callback");
            see_other(GO_UNAVAILABLE)
        }
        Err(e) => {
            tracing::warn!(event = "callback_refused", why = %e, "the flow moved on meanwhile");
            see_other(GO_LINK_INVALID)
        }
    }
}

fn refused(why: &'static str, state: Option<FlowState>) -> Result<Response, CallbackError> {
    tracing::warn!(event = "callback_refused", why, state = state.map(FlowState::as_str), "callback refused");
    Ok(see_other(GO_LINK_INVALID))
}

async fn run_callback(app: &App<WithTruId>, headers: &HeaderMap, q: CallbackQuery) -> Result<Response, CallbackError> {
    let now = app.clock.now();
    let Some(flow_token) = FLOW.read(headers) else {
        return refused("no_flow_cookie", None);
    };
    let Some(flow) = app.store.get_flow(&flow_token.hash(), now).await? else {
        return refused("no_live_flow", None);
    };
    if flow.kind == FlowKind::Login {
        return match run_login_callback(app, flow, q, now).await {
            Err(CallbackError::AccountChanged | CallbackError::OutOfOrder(_)) => Ok(see_other(GO_LOGIN_INVALID)),
            other => other,
        };
    }
    let bound = flow.check_id.as_deref().and_then(CheckId::parse);
    let presented = if q.is_resume() { bound.clone() } else { q.check_id.as_deref().and_then(CheckId::parse) };
    let (Some(check_id), Some(bound)) = (presented, bound) else {
        return refused("no_check", Some(flow.state));
    };
    if check_id != bound {
        return refused("check_not_bound", Some(flow.state));
    }
    let claim = match flow.apply(FlowEvent::CallbackClaimed { at: now }) {
        Ok(claim) => claim,
        Err(_) if flow.state == FlowState::CheckClaimed => return recover(app, &flow, &check_id, now).await,
        Err(_) => return refused("replay_or_out_of_order", Some(flow.state)),
    };
    // Claim the flow: of any number of concurrent or replayed callbacks, one gets here.
    let flow = persist(app, &flow, &claim, now).await?;

    if let Some(error) = q.error.as_deref() {
        tracing::info!(
            event = "subscriber_check_result",
            outcome = "redirect_error",
            error = redirect_error_label(error),
            "operator redirect reported an error"
        );
        app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: "redirect_error" });
        return finish(app, &flow, FlowEvent::SilentFailed, GO_SILENT_FAILED).await;
    }
    let Some(code) = q.code.as_deref().and_then(CheckCode::parse) else {
        tracing::warn!(event = "callback_refused", why = "bad_code", "callback without a usable code");
        return finish(app, &flow, FlowEvent::SilentFailed, GO_SILENT_FAILED).await;
    };

    let outcome = exchange_code(app, &check_id, &code).await;
    conclude(app, &flow, outcome, now).await
}

/// A flow claimed by a callback that did not finish. While that callback may still be running, the
/// browser is asked to wait; after, what tru.ID says about the check finishes the flow — read, never
/// PATCHed again — or, when it cannot tell, the SMS path opens. Never a dead end.
async fn recover(
    app: &App<WithTruId>,
    flow: &Flow,
    check_id: &CheckId,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    if flow.claimed_at.is_some_and(|at| now.0 - at.0 < CLAIM_ABANDONED_AFTER_SECS) {
        tracing::info!(event = "callback_in_progress", "the flow's callback may still be running");
        return Ok(see_other(GO_IN_PROGRESS));
    }
    tracing::warn!(event = "callback_recovery", "a callback left the flow claimed; reading the check");
    let outcome = match deadline::share(60, app.ports.truid.get_subscriber_check(check_id)).await {
        Ok(r) => r.outcome(app.settings.sim_change_window_minutes),
        Err(e) => {
            provider_error(app, "truid", "get_subscriber_check", &e, "check not read");
            CheckOutcome::Error
        }
    };
    conclude(app, flow, outcome, now).await
}

/// Records the check's outcome on the claimed flow and sends the browser on.
async fn conclude(
    app: &App<WithTruId>,
    flow: &Flow,
    outcome: CheckOutcome,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    tracing::info!(event = "subscriber_check_result", outcome = outcome.as_str(), "SubscriberCheck completed");
    app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: outcome.as_str() });
    match outcome {
        CheckOutcome::Verified => {
            let reset_token = app.random.token()?;
            let verified = flow.apply(FlowEvent::SilentVerified { reset_token_hash: reset_token.hash() })?;
            match &flow.user_id {
                // A SubscriberCheck is a possession proof too: it closes the new-account grace, in
                // the same transaction as the step.
                Some(user_id) => {
                    let proof = PossessionProof {
                        flow_key: &flow.key,
                        transition: &verified,
                        user_id,
                        at: now,
                        session: None,
                        device: None,
                    };
                    app.store.record_possession(&proof).await?;
                }
                None => {
                    persist(app, flow, &verified, now).await?;
                }
            }
            let mut resp = see_other(GO_NEW_PASSWORD);
            // The reset token lives no longer than the flow it belongs to.
            resp.headers_mut().append(header::SET_COOKIE, RESET.set(&reset_token, flow.remaining_secs(now)));
            Ok(resp)
        }
        CheckOutcome::SimChanged => {
            app.metrics.record(Metric::SimChangeBlocked);
            // The owner is told while the outcome is stored: one round trip.
            let (resp, ()) = tokio::join!(
                finish(app, flow, FlowEvent::SilentRejected { reason: FlowReason::SimChanged }, GO_SIM_CHANGED),
                notify_flow_owner(app, flow, NotificationKind::SimChangeBlocked)
            );
            resp
        }
        CheckOutcome::Mismatch => {
            finish(app, flow, FlowEvent::SilentRejected { reason: FlowReason::NoMatch }, GO_NO_MATCH).await
        }
        CheckOutcome::Unsupported | CheckOutcome::Error => {
            finish(app, flow, FlowEvent::SilentFailed, GO_SILENT_FAILED).await
        }
    }
}

/// Records how the silent check ended and sends the browser to the page that says so.
async fn finish(
    app: &App<WithTruId>,
    flow: &Flow,
    event: FlowEvent,
    location: &'static str,
) -> Result<Response, CallbackError> {
    let transition = flow.apply(event)?;
    persist(app, flow, &transition, app.clock.now()).await?;
    Ok(see_other(location))
}

/// A sign-in's silent check (docs/security.md S32): the same binding, claim and exchange as a
/// reset's; the account is read while the flow is claimed (one round trip), and the outcome signs
/// in (a session, in one transaction with the step), stops on a SIM change, or opens the SMS path.
async fn run_login_callback(
    app: &App<WithTruId>,
    flow: Flow,
    q: CallbackQuery,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    let bound = flow.check_id.as_deref().and_then(CheckId::parse);
    let presented = if q.is_resume() { bound.clone() } else { q.check_id.as_deref().and_then(CheckId::parse) };
    let check_id = match (presented, bound) {
        (Some(presented), Some(bound)) if presented == bound => bound,
        _ => {
            tracing::warn!(event = "callback_refused", why = "check_not_bound", "callback refused");
            return Ok(see_other(GO_LOGIN_INVALID));
        }
    };
    let user = async { flow_user(app, &flow).await.ok().flatten().ok_or(CallbackError::AccountChanged) };
    let (flow, user) = match flow.apply(FlowEvent::CallbackClaimed { at: now }) {
        Ok(claim) => {
            let (claimed, user) = tokio::join!(persist(app, &flow, &claim, now), user);
            (claimed?, user?)
        }
        Err(_) if flow.state == FlowState::CheckClaimed => {
            if flow.claimed_at.is_some_and(|at| now.0 - at.0 < CLAIM_ABANDONED_AFTER_SECS) {
                tracing::info!(event = "callback_in_progress", "the flow's callback may still be running");
                return Ok(see_other(GO_IN_PROGRESS));
            }
            tracing::warn!(event = "callback_recovery", "a callback left the flow claimed; reading the check");
            let user = user.await?;
            let outcome = match deadline::share(60, app.ports.truid.get_subscriber_check(&check_id)).await {
                Ok(r) => r.outcome(app.settings.sim_change_window_minutes),
                Err(e) => {
                    provider_error(app, "truid", "get_subscriber_check", &e, "check not read");
                    CheckOutcome::Error
                }
            };
            return conclude_login(app, &flow, &user, outcome, now).await;
        }
        Err(_) => {
            tracing::warn!(
                event = "callback_refused",
                why = "replay_or_out_of_order",
                state = flow.state.as_str(),
                "callback refused"
            );
            return Ok(see_other(GO_LOGIN_INVALID));
        }
    };
    let outcome = match (q.error.as_deref(), q.code.as_deref().and_then(CheckCode::parse)) {
        (Some(error), _) => {
            tracing::info!(
                event = "subscriber_check_result",
                outcome = "redirect_error",
                error = redirect_error_label(error),
                "operator redirect reported an error"
            );
            CheckOutcome::Error
        }
        (None, Some(code)) => exchange_code(app, &check_id, &code).await,
        (None, None) => {
            tracing::warn!(event = "callback_refused", why = "bad_code", "callback without a usable code");
            CheckOutcome::Error
        }
    };
    conclude_login(app, &flow, &user, outcome, now).await
}

/// A sign-in's silent outcome. A SIM change stops it — unless the account is new and has never
/// proven its phone (the sign-in's new-account grace, E2): then, as for a match, a session is issued
/// with the first possession proof, in one transaction. No match or no verdict opens the SMS path
/// (the SIM check and a code to the account's number).
async fn conclude_login(
    app: &App<WithTruId>,
    flow: &Flow,
    user: &User,
    outcome: CheckOutcome,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    tracing::info!(
        event = "subscriber_check_result",
        outcome = outcome.as_str(),
        flow = "login",
        "SubscriberCheck completed"
    );
    app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: outcome.as_str() });
    let account = Account { registered_at: user.created_at, phone_verified_at: user.phone_verified_at };
    let grace = app.settings.sim_policy().in_new_account_grace(account, now);
    match outcome {
        CheckOutcome::Verified => sign_in(app, flow, user, now).await,
        CheckOutcome::SimChanged if grace => {
            tracing::info!(
                event = "sim_check_result",
                flow = "login",
                verdict = "pass_new_account_grace",
                "new account's grace"
            );
            sign_in(app, flow, user, now).await
        }
        CheckOutcome::SimChanged => {
            app.metrics.record(Metric::SimChangeBlocked);
            tracing::warn!(event = "sim_change_blocked", flow = "login", "SIM changed recently: no sign-in");
            let (resp, ()) = tokio::join!(
                finish(app, flow, FlowEvent::SilentRejected { reason: FlowReason::SimChanged }, GO_LOGIN_SIM_CHANGED),
                notify_flow_owner(app, flow, NotificationKind::SimChangeBlocked)
            );
            resp
        }
        CheckOutcome::Mismatch | CheckOutcome::Unsupported | CheckOutcome::Error => {
            finish(app, flow, FlowEvent::SilentFailed, GO_LOGIN_SMS).await
        }
    }
}

/// Signs the browser in: the step, the first possession proof and the session, in one transaction.
async fn sign_in(app: &App<WithTruId>, flow: &Flow, user: &User, now: Timestamp) -> Result<Response, CallbackError> {
    let signed_in = flow.apply(FlowEvent::SilentSignedIn)?;
    // Without randomness for the session the flow stays claimed: "try again" resumes it.
    let Ok((token, session)) = new_session(app, user, now) else { return Ok(see_other(GO_UNAVAILABLE)) };
    let proof = PossessionProof {
        flow_key: &flow.key,
        transition: &signed_in,
        user_id: &user.id,
        at: now,
        session: Some(&session),
        device: None,
    };
    app.store.record_possession(&proof).await?;
    tracing::info!(event = "login", user_id = %user.id, "signed in with a silent check");
    app.metrics.record(Metric::StepOutcome { step: "login", outcome: "silent" });
    let mut resp = see_other(GO_SIGNED_IN);
    resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&token, app.settings.session_ttl_secs));
    resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
    Ok(resp)
}

/// PATCHes the code exactly once. If the answer is lost (timeout, 5xx), a GET — a read — tells what
/// the PATCH did; the PATCH itself is never repeated (docs/security.md R1).
async fn exchange_code(app: &App<WithTruId>, check_id: &CheckId, code: &CheckCode) -> CheckOutcome {
    let truid = &app.ports.truid;
    // Each call leaves time for the next: the read after a lost answer, and the write of the outcome.
    let patch = truid.complete_subscriber_check(check_id, code);
    let report = match deadline::share(50, timed(app, "truid", "truid.complete_subscriber_check", patch)).await {
        Err(e @ (TruIdError::Timeout | TruIdError::Unavailable(_))) => {
            provider_error(app, "truid", "patch_subscriber_check", &e, "PATCH answer lost; reading the check");
            deadline::share(60, truid.get_subscriber_check(check_id)).await
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
