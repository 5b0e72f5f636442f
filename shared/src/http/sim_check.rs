//! `POST /api/sim-check` (function `sim-check`): the SIM-swap gate before any SMS, for the reset
//! fallback, login 2FA and a phone change (docs/security.md C1, E1–E3), asked of the configured
//! SIM-swap sources in order (S33).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::SimGateApp;
use crate::domain::result_token::Purpose;
use crate::domain::sim_policy::SimVerdict;
use crate::domain::verification::VerificationError;
use crate::domain::{FlowEvent, FlowKind, FlowReason, Transition};
use crate::http::cookies::{FLOW, SESSION};
use crate::http::extract::csrf_token_for;
use crate::http::limits::{HOUR, Limit, enforce, ip_key};
use crate::http::support::{
    Subject, ask_sources, current_flow, flow_number, flow_subject, imitate, new_session, notify, persist,
    record_sign_in, remembered_device, step,
};
use crate::http::{ClientMeta, Problem};
use crate::ports::{Metric, NotificationKind};

/// Asks the SIM-swap sources in order about the flow's number and records the verdict, with each
/// source's answer, on the flow. A login answers
/// `{"next":"otp"}` or `{"next":"blocked","reason":"sim_changed"|"sim_unavailable"}`; a reset always
/// answers `{"next":"otp"}`, a refused one going on as a decoy. A flow for an unknown email gets `otp`
/// without any provider call, after as long as one takes (A1, A2); nothing is ever sent for it.
pub async fn sim_check(
    State(app): State<SimGateApp>,
    client: ClientMeta,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    // Out of order is refused before any limit is counted or provider called.
    step(&flow, FlowEvent::SimPassed { unverified: false })?;
    let limit = [Limit::new("sim_check_ip", ip_key(client.ip), app.settings.limits.sim_checks_per_ip_hour, HOUR)];
    // The account (and, for a sign-in, the browser's remembered device) is read while the limit is
    // counted: one round trip (docs/security.md R11).
    let device = async {
        match (&flow.kind, &flow.user_id) {
            (FlowKind::Login, Some(id)) => remembered_device(&app, &headers, id).await,
            _ => Ok(None),
        }
    };
    let (allowed, subject, device) = tokio::join!(enforce(&app, &limit), flow_subject(&app, &flow), device);
    allowed?;
    let subject = subject?;
    let device = device?;
    let now = app.clock.now();
    let window = app.settings.sim_change_window_minutes;
    let (verdict, answers) = match &subject {
        None => {
            // No number to check: take as long as a check does (A2).
            imitate(&app, "sim_swap.check").await;
            (SimVerdict::Pass, None)
        }
        Some(subject) => {
            let number = flow_number(&flow, subject.phone())?;
            let (signal, answers) = ask_sources(&app, &app.ports.sim_swap, number, window).await;
            (app.settings.sim_policy().decide(flow.kind, signal, subject.history(), now), Some(answers))
        }
    };
    let user = subject.as_ref().and_then(Subject::user).cloned();
    let with_answers = |mut t: Transition| {
        t.writes.sim_answers = answers.clone();
        t
    };
    tracing::info!(
        event = "sim_check_result",
        flow = flow.kind.as_str(),
        verdict = verdict.as_str(),
        "SIM-swap gate decided"
    );
    app.metrics.record(Metric::StepOutcome { step: "sim_check", outcome: verdict.as_str() });

    // The owner is told while the verdict is stored (one round trip); the hourly cap on each kind of
    // notice keeps a replay from telling twice.
    let (app, flow, user) = (&app, &flow, &user);
    let tell = |kind: Option<NotificationKind>| async move {
        if let (Some(kind), Some(user)) = (kind, user) {
            notify(app, user, kind, flow.client_ip, &flow.user_agent).await;
        }
    };
    // A sign-in from a browser its owner asked to remember: the SIM check passed (a real answer, not
    // the `allow_with_notice` pass), so it signs in without a code (docs/security.md S29).
    let remembered =
        device.is_some_and(|d| user.as_ref().is_some_and(|u| u.credential_version == d.credential_version));
    if let (SimVerdict::Pass, FlowKind::Login, true, Some(user)) = (verdict, flow.kind, remembered, user) {
        let (session_token, session) = new_session(app, user, now)?;
        let signed_in = with_answers(step(flow, FlowEvent::SignedInOnRememberedDevice)?);
        record_sign_in(app, flow, user, &signed_in, &session, "remembered_device").await?;
        let body = json!({ "next": "signed_in", "csrf": csrf_token_for(&session_token) });
        let mut resp = axum::Json(body).into_response();
        resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&session_token, app.settings.session_ttl_secs));
        resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
        return Ok(resp);
    }
    // A site's phone confirmation goes on past a SIM change: a number just given is often on a new
    // SIM. The result token says so; the site decides.
    let confirms_phone = flow.verification.as_ref().is_some_and(|v| v.purpose == Purpose::PhoneConfirmation);
    if verdict == SimVerdict::BlockSimChanged && confirms_phone {
        let transition = with_answers(step(flow, FlowEvent::SimChangeAccepted)?);
        persist(app, flow, &transition, now).await?;
        tracing::info!(event = "sim_change_accepted", "phone confirmation goes on; the result says the SIM changed");
        return Ok(axum::Json(json!({ "next": "otp" })).into_response());
    }
    if verdict.passes() {
        let unverified = verdict == SimVerdict::PassUnverified;
        let transition = with_answers(step(flow, FlowEvent::SimPassed { unverified })?);
        let kind = unverified.then_some(NotificationKind::SignInWithoutSimCheck);
        let (stored, ()) = tokio::join!(persist(app, flow, &transition, now), tell(kind));
        stored?;
        if unverified {
            tracing::warn!(
                event = "sim_check_unavailable_allowed",
                "login continues without a SIM answer (allow_with_notice)"
            );
        }
        return Ok(axum::Json(json!({ "next": "otp" })).into_response());
    }
    let reason =
        if verdict == SimVerdict::BlockSimChanged { FlowReason::SimChanged } else { FlowReason::SimUnavailable };
    // On the anonymous reset path the refusal is not shown: the flow goes on as a decoy (no code is
    // ever sent, none verifies), exactly as for an unknown email. The owner is told by email.
    let event = match flow.kind {
        FlowKind::Reset => FlowEvent::SimRefusedQuietly { reason },
        FlowKind::Login | FlowKind::PhoneChange | FlowKind::Verification => FlowEvent::SimBlocked { reason },
    };
    // A phone change's new number is not the account's yet: its refusal is the signed-in user's to
    // see, and nothing the owner needs warning about.
    let new_number = flow.proves_new_phone();
    let kind = match (reason, flow.kind) {
        _ if new_number => None,
        (FlowReason::SimChanged, _) => Some(NotificationKind::SimChangeBlocked),
        (_, FlowKind::Login) => Some(NotificationKind::SecondFactorFailed),
        _ => None,
    };
    let transition = with_answers(step(flow, event)?);
    let (stored, ()) = tokio::join!(persist(app, flow, &transition, now), tell(kind));
    stored?;
    if reason == FlowReason::SimChanged {
        tracing::warn!(event = "sim_change_blocked", flow = flow.kind.as_str(), "SIM changed recently: no SMS");
        app.metrics.record(Metric::SimChangeBlocked);
    }
    Ok(axum::Json(match flow.kind {
        FlowKind::Reset => json!({ "next": "otp" }),
        FlowKind::Login => json!({ "next": "blocked", "reason": reason.code() }),
        // The site's page learns why (it gave the number; nothing to hide from it).
        FlowKind::Verification => {
            let error = match reason {
                FlowReason::SimChanged => VerificationError::SimChanged,
                _ => VerificationError::SimUnavailable,
            };
            let url = flow.verification.as_ref().map(|v| v.return_with_error(error));
            json!({ "next": "return", "reason": reason.code(), "url": url })
        }
        FlowKind::PhoneChange => {
            let number = if new_number { "new" } else { "current" };
            json!({ "next": "blocked", "reason": reason.code(), "number": number })
        }
    })
    .into_response())
}
