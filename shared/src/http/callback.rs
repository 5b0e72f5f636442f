//! `GET /api/reset/callback?check_id&code` (function `callback`): where the operator's redirect
//! lands after the device opened `check_url` over mobile data — a password reset's, a sign-in's
//! (docs/security.md S32), a site's verification's or a phone change's (S31). `POST /api/reset/callback` takes the same parameters as a form, from our
//! own pages, for a provider whose result never reaches a server by redirect: Vonage's (in the URL's
//! fragment, which the return page reads and posts).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::{App, CallbackApp, WithSilentGate};
use secrecy::SecretString;

use crate::domain::result_token::{ProofMethod, Purpose, SimChangeVerdict};
use crate::domain::sim_policy::Account;
use crate::domain::verification::{VerificationError, VerificationSubject};
use crate::domain::{
    CheckOutcome, Flow, FlowEvent, FlowKind, FlowReason, FlowState, OutOfOrder, Phone, Timestamp, User,
};
use crate::http::cookies::{FLOW, RESET, SESSION};
use crate::http::results::{self, ResultError};
use crate::http::support::{
    Subject, current_number_proven, flow_subject, new_session, notify_account, persist, provider_error, record_sign_in,
    redirect_params, report_current_proven, timed, with_sim_gate,
};
use crate::ports::{
    Metric, NotificationKind, PossessionProof, RandomError, RedirectParams, SilentProver, SilentReport, StoreError,
    deadline,
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
/// A phone change's: the account page goes on with the next number (or that number's SMS path), or
/// finishes the change; stopped by a SIM change; or a flow this callback cannot finish.
const GO_PHONE_CURRENT_PROVEN: &str = "/account.html?r=current_proven";
const GO_PHONE_NEW_PROVEN: &str = "/account.html?r=new_proven";
const GO_PHONE_SMS: &str = "/account.html?r=silent_failed";
const GO_PHONE_NEW_SMS: &str = "/account.html?r=new_silent_failed";
const GO_PHONE_SIM_CHANGED: &str = "/blocked.html?r=sim_changed&flow=phone";
const GO_PHONE_NEW_SIM_CHANGED: &str = "/blocked.html?r=sim_changed&flow=phone&n=new";
const GO_PHONE_INVALID: &str = "/account.html?r=link_invalid";

/// No callback runs longer than this (API Gateway gives up at 30 s): a claim this old was left by
/// one that died — the store failed after the code was exchanged, or the function ran out of time.
const CLAIM_ABANDONED_AFTER_SECS: i64 = 30;

/// A site's verification: on to the SMS path, or a failure of ours (the hosted page says what next).
const GO_VERIFY_SMS: &str = "/verify/?r=silent_failed";
const GO_VERIFY_INVALID: &str = "/verify/?r=link_invalid";
const GO_VERIFY_UNAVAILABLE: &str = "/verify/?r=unavailable";

fn see_other(location: &'static str) -> Response {
    see_other_to(HeaderValue::from_static(location))
}

fn see_other_to(location: HeaderValue) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// `resume=1` and nothing else: the result page's "try again" after a failure — finish the flow's
/// own proof from what the provider says (R9).
fn is_resume(q: &RedirectParams) -> bool {
    q.len() == 1 && q.get("resume").map(String::as_str) == Some("1")
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
pub async fn callback(State(app): State<CallbackApp>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = redirect_params(raw.as_deref().unwrap_or(""));
    match run_callback(&app, &headers, q).await {
        Ok(resp) => {
            let invalid = [GO_LINK_INVALID, GO_LOGIN_INVALID, GO_VERIFY_INVALID, GO_PHONE_INVALID];
            if resp.headers().get(header::LOCATION).is_some_and(|l| invalid.iter().any(|i| l == i)) {
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

/// The form the return page posts: `application/x-www-form-urlencoded` only (what a plain form
/// sends; anything else is not from our pages), read as the redirect's query is.
pub async fn callback_post(State(app): State<CallbackApp>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let raw = if is_form { std::str::from_utf8(&body).ok() } else { None };
    let Some(raw) = raw else {
        tracing::warn!(event = "callback_refused", why = "not_a_form", "callback refused");
        app.metrics.record(Metric::StepOutcome { step: "callback", outcome: "refused" });
        return see_other(GO_LINK_INVALID);
    };
    let resp = callback(State(app), headers, RawQuery(Some(raw.to_owned()))).await;
    // Our page posts with `fetch`, which must not follow a redirect to another site (a relying site's
    // return URL, with its result): that one is answered as `{"go": url}`, for the page to navigate.
    let external = resp.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).filter(|l| !l.starts_with('/'));
    match external {
        Some(url) => {
            let mut answer = axum::Json(serde_json::json!({ "go": url })).into_response();
            answer.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            answer
        }
        None => resp,
    }
}

fn refused(why: &'static str, state: Option<FlowState>) -> Result<Response, CallbackError> {
    tracing::warn!(event = "callback_refused", why, state = state.map(FlowState::as_str), "callback refused");
    Ok(see_other(GO_LINK_INVALID))
}

async fn run_callback(
    app: &App<WithSilentGate>,
    headers: &HeaderMap,
    q: RedirectParams,
) -> Result<Response, CallbackError> {
    let now = app.clock.now();
    let Some(flow_token) = FLOW.read(headers) else {
        return refused("no_flow_cookie", None);
    };
    let Some(flow) = app.store.get_flow(&flow_token.hash(), now).await? else {
        return refused("no_live_flow", None);
    };
    let invalid = match flow.kind {
        FlowKind::Login => GO_LOGIN_INVALID,
        FlowKind::Verification => GO_VERIFY_INVALID,
        FlowKind::PhoneChange => GO_PHONE_INVALID,
        FlowKind::Reset => GO_LINK_INVALID,
    };
    let refuse = |why: &'static str| {
        tracing::warn!(event = "callback_refused", why, state = flow.state.as_str(), "callback refused");
        Ok(see_other(invalid))
    };
    // The prover the flow's proof belongs to (flows stored before there was a choice: tru.ID's).
    let name = flow.silent_provider.as_deref().unwrap_or("truid");
    let Some(prover) = app.ports.provers.iter().find(|p| p.name() == name) else {
        return refuse("prover_not_configured");
    };
    let bound = flow.check_id.clone();
    let presented = if is_resume(&q) { bound.clone() } else { prover.presented_handle(&q) };
    let handle = match (presented, bound) {
        (Some(presented), Some(bound)) if presented == bound => bound,
        (None, _) | (_, None) => return refuse("no_check"),
        _ => return refuse("check_not_bound"),
    };
    // The account is read while the flow is claimed (one round trip): its number is what the proof is
    // about, and a flow whose account changed its credentials since goes nowhere (S21).
    let user = async { flow_subject(app, &flow).await.ok().flatten().ok_or(CallbackError::AccountChanged) };
    let (flow, user) = match flow.apply(FlowEvent::CallbackClaimed { at: now }) {
        // Claim the flow: of any number of concurrent or replayed callbacks, one gets here.
        Ok(claim) => {
            let (claimed, user) = tokio::join!(persist(app, &flow, &claim, now), user);
            let claimed = claimed?;
            let Ok(user) = user else { return refuse("account_changed") };
            (claimed, user)
        }
        Err(_) if matches!(flow.state, FlowState::CheckClaimed | FlowState::NewCheckClaimed) => {
            // Claimed by a callback that did not finish. While it may still be running, the browser
            // is asked to wait; after, what the provider says finishes the flow — read, never
            // completed again — or, when it cannot tell, the SMS path opens. Never a dead end.
            if flow.claimed_at.is_some_and(|at| now.0 - at.0 < CLAIM_ABANDONED_AFTER_SECS) {
                tracing::info!(event = "callback_in_progress", "the flow's callback may still be running");
                return Ok(see_other(GO_IN_PROGRESS));
            }
            tracing::warn!(event = "callback_recovery", "a callback left the flow claimed; reading the proof");
            let Ok(user) = user.await else { return refuse("account_changed") };
            let Some(number) = flow.number(user.phone()) else { return refuse("no_new_number") };
            let outcome = read_back(app, &**prover, &handle).await;
            let outcome =
                with_sim_gate(app, &app.ports.sim_swap, outcome, number, app.settings.sim_change_window_minutes).await;
            app.metrics.record(Metric::SilentAttempt { provider: prover.name(), outcome: outcome.as_str() });
            return conclude_any(app, &flow, &user, outcome, now, invalid).await;
        }
        Err(_) => return refuse("replay_or_out_of_order"),
    };
    // What the proof is about: the account's number, or — a phone change's second proof — the new one.
    let Some(number) = flow.number(user.phone()) else { return refuse("no_new_number") };
    let outcome = match prover.redirect_error(&q) {
        Some(error) => {
            tracing::info!(
                event = "subscriber_check_result",
                outcome = "redirect_error",
                error,
                "the redirect reported an error"
            );
            app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: "redirect_error" });
            None
        }
        None => Some(complete(app, &**prover, &flow, &handle, &q, number).await),
    };
    let outcome = match outcome {
        Some(report) => {
            let window = app.settings.sim_change_window_minutes;
            with_sim_gate(app, &app.ports.sim_swap, report, number, window).await
        }
        None => CheckOutcome::Error,
    };
    app.metrics.record(Metric::SilentAttempt { provider: prover.name(), outcome: outcome.as_str() });
    conclude_any(app, &flow, &user, outcome, now, invalid).await
}

/// Sends the outcome to the reset's or the sign-in's ending; a flow that moved on meanwhile goes to
/// `invalid`.
async fn conclude_any(
    app: &App<WithSilentGate>,
    flow: &Flow,
    subject: &Subject,
    outcome: CheckOutcome,
    now: Timestamp,
    invalid: &'static str,
) -> Result<Response, CallbackError> {
    let concluded = match (flow.kind, subject) {
        (FlowKind::Login, Subject::Account(user)) => conclude_login(app, flow, user, outcome, now).await,
        (FlowKind::Verification, Subject::Site(v)) => conclude_verification(app, flow, v, outcome, now).await,
        (FlowKind::PhoneChange, Subject::Account(user)) => conclude_phone_change(app, flow, user, outcome).await,
        _ => conclude(app, flow, subject.user(), outcome, now).await,
    };
    match concluded {
        Err(CallbackError::OutOfOrder(e)) => {
            tracing::warn!(event = "callback_refused", why = %e, "the flow moved on meanwhile");
            Ok(see_other(invalid))
        }
        other => other,
    }
}

/// The silent proof's outcome, in the log and the step metric.
fn report(app: &App<WithSilentGate>, flow: &'static str, outcome: CheckOutcome) {
    tracing::info!(event = "subscriber_check_result", outcome = outcome.as_str(), flow, "silent proof completed");
    app.metrics.record(Metric::StepOutcome { step: "subscriber_check", outcome: outcome.as_str() });
}

/// Records the check's outcome on the claimed flow and sends the browser on.
async fn conclude(
    app: &App<WithSilentGate>,
    flow: &Flow,
    owner: Option<&User>,
    outcome: CheckOutcome,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    report(app, "reset", outcome);
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
        CheckOutcome::SimChanged => stop_for_sim_change(app, flow, owner, GO_SIM_CHANGED).await,
        CheckOutcome::Mismatch => {
            finish(app, flow, FlowEvent::SilentRejected { reason: FlowReason::NoMatch }, GO_NO_MATCH).await
        }
        CheckOutcome::Unsupported | CheckOutcome::Error => {
            finish(app, flow, FlowEvent::SilentFailed, GO_SILENT_FAILED).await
        }
    }
}

/// A SIM change stops the flow: counted, logged and stored, and the account's owner (`owner`; `None`
/// for a number that is not the account's) told while the outcome is stored — one round trip, with
/// the account already read.
async fn stop_for_sim_change(
    app: &App<WithSilentGate>,
    flow: &Flow,
    owner: Option<&User>,
    location: &'static str,
) -> Result<Response, CallbackError> {
    app.metrics.record(Metric::SimChangeBlocked);
    tracing::warn!(event = "sim_change_blocked", flow = flow.kind.as_str(), "SIM changed recently: stopped");
    let tell = async {
        if let Some(user) = owner {
            let kind = NotificationKind::SimChangeBlocked;
            notify_account(app, &user.id, Some(user), kind, flow.client_ip, &flow.user_agent).await;
        }
    };
    let rejected = FlowEvent::SilentRejected { reason: FlowReason::SimChanged };
    let (resp, ()) = tokio::join!(finish(app, flow, rejected, location), tell);
    resp
}

/// Records how the silent check ended and sends the browser to the page that says so.
async fn finish(
    app: &App<WithSilentGate>,
    flow: &Flow,
    event: FlowEvent,
    location: &'static str,
) -> Result<Response, CallbackError> {
    let transition = flow.apply(event)?;
    persist(app, flow, &transition, app.clock.now()).await?;
    Ok(see_other(location))
}

/// A site's verification's silent outcome: proven (the browser goes back with the result), refused
/// (back with the reason: the site gave the number, nothing to hide from it), or no verdict (the SMS
/// path, on the hosted page). A phone confirmation goes on past a SIM change, and its result says so.
async fn conclude_verification(
    app: &App<WithSilentGate>,
    flow: &Flow,
    subject: &VerificationSubject,
    outcome: CheckOutcome,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    report(app, "verification", outcome);
    let confirms_phone = subject.purpose == Purpose::PhoneConfirmation;
    let proven = match outcome {
        CheckOutcome::Verified => Some(SimChangeVerdict::NotChanged),
        CheckOutcome::SimChanged if confirms_phone => Some(SimChangeVerdict::Changed),
        _ => None,
    };
    if let Some(sim_change) = proven {
        return match results::prove(app, flow, subject, ProofMethod::Silent, sim_change, now).await {
            Ok(url) => Ok(back_to_site(&url)),
            Err(ResultError::Moved) => Ok(see_other(GO_VERIFY_INVALID)),
            Err(ResultError::Store(e)) => Err(e.into()),
            Err(e @ ResultError::Unsigned(_)) => {
                tracing::error!(event = "result_not_signed", why = %e, "the flow stays claimed; trying again resumes it");
                Ok(see_other(GO_VERIFY_UNAVAILABLE))
            }
        };
    }
    let (event, error) = match outcome {
        CheckOutcome::SimChanged => {
            app.metrics.record(Metric::SimChangeBlocked);
            (FlowEvent::SilentRejected { reason: FlowReason::SimChanged }, Some(VerificationError::SimChanged))
        }
        CheckOutcome::Mismatch => {
            (FlowEvent::SilentRejected { reason: FlowReason::NoMatch }, Some(VerificationError::NoMatch))
        }
        _ => (FlowEvent::SilentFailed, None),
    };
    let transition = flow.apply(event)?;
    persist(app, flow, &transition, app.clock.now()).await?;
    Ok(match error {
        Some(error) => back_to_site(&subject.return_with_error(error)),
        None => see_other(GO_VERIFY_SMS),
    })
}

/// A 303 to the site's registered return URL (with our parameters).
fn back_to_site(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => see_other_to(location),
        Err(_) => see_other(GO_VERIFY_UNAVAILABLE),
    }
}

/// A sign-in's silent outcome. A SIM change stops it — unless the account is new and has never
/// proven its phone (the sign-in's new-account grace, E2): then, as for a match, a session is issued
/// with the first possession proof, in one transaction. No match or no verdict opens the SMS path
/// (the SIM check and a code to the account's number).
async fn conclude_login(
    app: &App<WithSilentGate>,
    flow: &Flow,
    user: &User,
    outcome: CheckOutcome,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    report(app, "login", outcome);
    let account = Account::of(user);
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
        CheckOutcome::SimChanged => stop_for_sim_change(app, flow, Some(user), GO_LOGIN_SIM_CHANGED).await,
        CheckOutcome::Mismatch | CheckOutcome::Unsupported | CheckOutcome::Error => {
            finish(app, flow, FlowEvent::SilentFailed, GO_LOGIN_SMS).await
        }
    }
}

/// A phone change's silent outcome (docs/security.md S31), for the number the flow proves now. The
/// current number proven: the new one is next, its SMS limits under its own keys. The new number
/// proven: the flow waits for the browser's `POST /api/phone/finish`, which makes the change and
/// texts the number the account leaves (this function sends no SMS). A SIM change stops either — no
/// new-account grace in a phone change — and only the current number's owner is told of it; no
/// verdict (another SIM carries the data, an operator error) opens that number's SMS path.
async fn conclude_phone_change(
    app: &App<WithSilentGate>,
    flow: &Flow,
    user: &User,
    outcome: CheckOutcome,
) -> Result<Response, CallbackError> {
    report(app, "phone_change", outcome);
    let new_number = flow.state == FlowState::NewCheckClaimed;
    match outcome {
        CheckOutcome::Verified if new_number => {
            let resp = finish(app, flow, FlowEvent::NewNumberProven, GO_PHONE_NEW_PROVEN).await?;
            tracing::info!(event = "phone_change_new_proven", user_id = %user.id, "new number proven silently");
            app.metrics.record(Metric::StepOutcome { step: "phone_change", outcome: "new_proven" });
            Ok(resp)
        }
        CheckOutcome::Verified => {
            let Some(event) = current_number_proven(flow) else { return Err(CallbackError::AccountChanged) };
            let resp = finish(app, flow, event, GO_PHONE_CURRENT_PROVEN).await?;
            report_current_proven(app, user, "silent");
            Ok(resp)
        }
        // The new number is not the account's yet: the signed-in user sees why; nobody else to warn.
        CheckOutcome::SimChanged if new_number => stop_for_sim_change(app, flow, None, GO_PHONE_NEW_SIM_CHANGED).await,
        CheckOutcome::SimChanged => stop_for_sim_change(app, flow, Some(user), GO_PHONE_SIM_CHANGED).await,
        CheckOutcome::Mismatch | CheckOutcome::Unsupported | CheckOutcome::Error => {
            finish(app, flow, FlowEvent::SilentFailed, if new_number { GO_PHONE_NEW_SMS } else { GO_PHONE_SMS }).await
        }
    }
}

/// Signs the browser in: the step, the first possession proof and the session, in one transaction.
async fn sign_in(
    app: &App<WithSilentGate>,
    flow: &Flow,
    user: &User,
    now: Timestamp,
) -> Result<Response, CallbackError> {
    let signed_in = flow.apply(FlowEvent::SilentSignedIn)?;
    // Without randomness for the session the flow stays claimed: "try again" resumes it.
    let Ok((token, session)) = new_session(app, user, now) else { return Ok(see_other(GO_UNAVAILABLE)) };
    record_sign_in(app, flow, user, &signed_in, &session, "silent").await?;
    let mut resp = see_other(GO_SIGNED_IN);
    resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&token, app.settings.session_ttl_secs));
    resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
    Ok(resp)
}

/// Completes the proof exactly once. If the answer is lost (a timeout, a 5xx), a read tells what
/// the completion did; it is never repeated (docs/security.md R1).
async fn complete(
    app: &App<WithSilentGate>,
    prover: &dyn SilentProver,
    flow: &Flow,
    handle: &str,
    redirect: &RedirectParams,
    number: &Phone,
) -> SilentReport {
    let name = prover.name();
    let window = app.settings.sim_change_window_minutes;
    let secret = flow.silent_secret.clone().map(SecretString::from);
    // Each call leaves time for the next: the read after a lost answer, and the write of the outcome.
    let done = prover.complete(handle, secret.as_ref(), redirect, number, window);
    match deadline::share(50, timed(app, name, "silent.complete", done)).await {
        Ok(report) => report,
        Err(e) if e.answer_may_be_lost() => {
            provider_error(app, name, "silent_complete", &e, "completion's answer lost; reading the proof");
            read_back(app, prover, handle).await
        }
        Err(e) => {
            provider_error(app, name, "silent_complete", &e, "silent proof not completed");
            SilentReport { outcome: CheckOutcome::Error, sim_checked: true }
        }
    }
}

/// What the provider says now of the proof; no verdict when it cannot say.
async fn read_back(app: &App<WithSilentGate>, prover: &dyn SilentProver, handle: &str) -> SilentReport {
    let window = app.settings.sim_change_window_minutes;
    match deadline::share(60, timed(app, prover.name(), "silent.read_back", prover.read_back(handle, window))).await {
        Ok(Some(report)) => report,
        Ok(None) => SilentReport { outcome: CheckOutcome::Error, sim_checked: true },
        Err(e) => {
            provider_error(app, prover.name(), "silent_read_back", &e, "proof not read");
            SilentReport { outcome: CheckOutcome::Error, sim_checked: true }
        }
    }
}
