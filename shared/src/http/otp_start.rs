//! `POST /api/otp/start` (function `otp-start`): sends a code (or a new one) to the account's number,
//! after the SIM-swap gate passed (docs/security.md C, F).
//!
//! Each flow submits codes only to a verification it started itself (docs/security.md S23): the
//! store records which flow holds each provider verification. When the provider answers with one
//! that another flow holds (a verification already in flight for the number), a login — whose user
//! proved the password — cancels it and starts its own; a reset never disturbs a login's, and goes
//! on as a decoy instead.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{App, Core, OtpApp, WithOtp};
use crate::domain::sim_policy::UNVERIFIED_SENDS;
use crate::domain::{Flow, FlowCounter, FlowEvent, FlowKind, Phone, SmsKeys, Timestamp};
use crate::http::limits::{HOUR, Limit, Reservations, ip_block_key, ip_key, number_limits, sms_keys};
use crate::http::support::{
    Subject, current_flow, flow_number, flow_subject, imitate, persist, provider_error, step, timed,
};
use crate::http::{ClientMeta, Problem};
use crate::ports::{Metric, OtpError, OtpReference, ProviderFault, StoreError, VerificationOwner};

/// Seconds a login waits when the number's verification in flight cannot be cancelled yet.
const RETRY_AFTER_FOREIGN_SECS: u64 = 30;

/// Every limit on sending an SMS (F1, F2), counted before the provider is called: the number's,
/// its prefix's and the global budget ([`number_limits`]), and the caller's address's.
fn sms_limits(core: &Core, client: &ClientMeta, kind: FlowKind, keys: &SmsKeys) -> Vec<Limit> {
    let l = &core.settings.limits;
    let mut limits = number_limits(l, kind, keys);
    limits.push(Limit::new("sms_ip", ip_key(client.ip), l.sms_per_ip_hour, HOUR));
    limits.push(Limit::new("sms_ip_block", ip_block_key(client.ip), l.sms_per_ip_block_hour, HOUR));
    limits
}

fn answer(status: &'static str) -> Response {
    axum::Json(json!({ "status": status })).into_response()
}

/// The answer to a sign-in or phone change whose code went out: with the last two digits of the
/// number it went to, so the page can say where to look. The password is proven by then; a reset
/// (anyone can start one for any email) never says.
fn answer_to(status: &'static str, flow: &Flow, to: &Phone) -> Response {
    match flow.kind {
        FlowKind::Login | FlowKind::PhoneChange | FlowKind::Verification => {
            axum::Json(json!({ "status": status, "to_ending": to.ending() })).into_response()
        }
        FlowKind::Reset => answer(status),
    }
}

/// Needs a passing SIM verdict on this flow. Answers `{"status":"sent"}`, or `{"status":
/// "already_sent"}` when the provider re-sent nothing (the code sent earlier is still valid) — for
/// an unknown email and a decoy too, as the provider would answer, with nothing sent.
///
/// Every budget is counted before the provider is called (so concurrent requests cannot overrun it),
/// and given back when the answer is an error and nothing was sent — the provider refused or never
/// answered (docs/security.md R8): a short outage locks nobody out. The flow's own count, every SMS
/// limit and the account are one round trip, the verification's claim and the flow's step another
/// (docs/security.md R11).
pub async fn otp_start(State(app): State<OtpApp>, client: ClientMeta, headers: HeaderMap) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    step(&flow, FlowEvent::CodeSent { verification: None, at: None })?;
    let now = app.clock.now();
    let max_sends = if flow.sim_unverified { UNVERIFIED_SENDS } else { app.settings.limits.otp_sends_per_flow };
    let mut taken = Reservations::default();
    let (counted, user, limits) = match &flow.sms_keys {
        Some(keys) => {
            let limits = sms_limits(&app, &client, flow.kind, keys);
            let (counted, user, limits) = tokio::join!(
                app.store.count_flow_event(&flow.key, FlowCounter::OtpSends, max_sends, now),
                flow_subject(&app, &flow),
                taken.take_all(&app, &limits)
            );
            (counted, user, Some(limits))
        }
        // A flow stored before it carried its keys: the account first, then its limits.
        None => {
            let (counted, user) = tokio::join!(
                app.store.count_flow_event(&flow.key, FlowCounter::OtpSends, max_sends, now),
                flow_subject(&app, &flow)
            );
            (counted, user, None)
        }
    };
    match counted {
        Ok(_) => {}
        Err(StoreError::LimitReached) => {
            tracing::warn!(event = "rate_limited", bucket = "otp_sends_flow", "too many sends in this flow");
            taken.release(&app).await;
            return Err(Problem::rate_limited(app.settings.flow_ttl_secs.unsigned_abs()));
        }
        Err(e) => {
            taken.release(&app).await;
            return Err(e.into());
        }
    }
    let mut sent = false;
    let result = match (user, limits) {
        (Err(e), _) => Err(e),
        (Ok(user), Some(limited)) => match limited {
            Err(refused) => Err(refused),
            Ok(()) => deliver(&app, &flow, user, now, &mut sent).await,
        },
        (Ok(user), None) => {
            let keys = sms_keys(user.as_ref().map(Subject::phone), flow.unknown_email_key.as_deref());
            match taken.take_all(&app, &sms_limits(&app, &client, flow.kind, &keys)).await {
                Err(refused) => Err(refused),
                Ok(()) => deliver(&app, &flow, user, now, &mut sent).await,
            }
        }
    };
    if result.is_err() && !sent {
        let give_back = async {
            if let Err(e) = app.store.release_flow_event(&flow.key, FlowCounter::OtpSends).await {
                tracing::warn!(event = "limit_not_released", error = %e, "the flow's send was kept");
            }
        };
        tokio::join!(taken.release(&app), give_back);
    }
    result
}

/// Sends the code (or pretends to); `sent` becomes true once an SMS went out.
async fn deliver(
    app: &App<WithOtp>,
    flow: &Flow,
    subject: Option<Subject>,
    now: Timestamp,
    sent: &mut bool,
) -> Result<Response, Problem> {
    let to = match &subject {
        Some(u) => Some(flow_number(flow, u.phone())?.clone()),
        None => None,
    };
    // The limits were counted on the number the flow started with (or moved on to): a number changed
    // since is not texted on that count.
    if let (Some(to), Some(keys)) = (&to, &flow.sms_keys)
        && sms_keys(Some(to), None).number != keys.number
    {
        tracing::warn!(event = "flow_refused", why = "number_changed", "the account's number changed mid-flow");
        return Err(Problem::flow_invalid());
    }
    let allowed = to.as_ref().is_none_or(|to| app.settings.otp.sms_allowed_to(to));
    if !allowed && flow.kind != FlowKind::Reset {
        tracing::warn!(event = "sms_refused", why = "country_not_allowed", "destination country not on the allowlist");
        return Err(Problem::phone_not_supported());
    }
    let (Some(subject), Some(to)) = (subject.filter(|_| allowed && !flow.decoy), to) else {
        // An unknown email, a reset the SIM gate refused, a number we do not text: the same answer
        // after the same wait, and no SMS.
        imitate(app, "otp.start").await;
        return pretend(app, flow, now).await;
    };
    let otp = &app.ports.otp;
    match send_code(app, flow, &subject, &to, sent).await? {
        Sent::New => {
            tracing::info!(event = "sms_sent", provider = otp.name(), flow = flow.kind.as_str(), "code sent");
            app.metrics.record(Metric::SmsSent { provider: otp.name() });
            app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: "sent" });
            Ok(answer_to("sent", flow, &to))
        }
        Sent::Already => {
            tracing::info!(event = "sms_not_resent", provider = otp.name(), "the code in flight is still valid");
            app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: "already_sent" });
            Ok(answer_to("already_sent", flow, &to))
        }
        Sent::Foreign { cancellable_later } => {
            tracing::warn!(
                event = "sms_not_sent",
                why = "verification_of_another_flow",
                flow = flow.kind.as_str(),
                "a verification of another flow is in flight for this number"
            );
            app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: "foreign_in_flight" });
            match flow.kind {
                // The owner of the password is told to wait for a moment (nothing to hide from them).
                FlowKind::Login | FlowKind::PhoneChange | FlowKind::Verification if cancellable_later => {
                    Err(Problem::rate_limited(RETRY_AFTER_FOREIGN_SECS))
                }
                FlowKind::Login | FlowKind::PhoneChange | FlowKind::Verification => Err(Problem::sms_unavailable()),
                FlowKind::Reset => pretend(app, flow, now).await,
            }
        }
        Sent::Failed(e) => {
            provider_error(app, otp.name(), "otp_start", &e, "code not sent");
            app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: e.kind() });
            match (&e, flow.kind) {
                // About this number: on the reset path the same answer an unknown email gets (S24).
                (OtpError::NumberRefused { .. } | OtpError::RateLimited { .. }, FlowKind::Reset) => {
                    pretend(app, flow, now).await
                }
                (OtpError::NumberRefused { .. }, _) => Err(Problem::phone_not_supported()),
                (OtpError::RateLimited { retry_after_secs }, _) => {
                    Err(Problem::rate_limited(retry_after_secs.unwrap_or(600)))
                }
                _ => Err(Problem::sms_unavailable()),
            }
        }
    }
}

/// What happened when a code was asked for.
enum Sent {
    /// A code went out for a verification this flow now holds; the flow records it.
    New,
    /// This flow's verification is in flight; nothing was re-sent.
    Already,
    /// Another flow holds the verification in flight for the number, and this flow may not (or could
    /// not yet) replace it.
    Foreign {
        /// The provider refused to cancel it for now (Vonage: its first 30 seconds).
        cancellable_later: bool,
    },
    /// The provider failed or refused.
    Failed(OtpError),
}

/// Starts a verification, and claims it for this flow in the same transaction as the flow's step
/// that records it; replaces another flow's where allowed. `sent` becomes true once an SMS went out.
async fn send_code(
    app: &App<WithOtp>,
    flow: &Flow,
    subject: &Subject,
    to: &Phone,
    sent: &mut bool,
) -> Result<Sent, Problem> {
    let otp = &app.ports.otp;
    let owner = VerificationOwner { flow_key: flow.key.clone(), kind: flow.kind, user_id: subject.owner_id() };
    for attempt in 0..2 {
        let client_ref = app.random.id()?;
        let (reference, new) = match timed(app, otp.name(), "otp.start", otp.start(to, &client_ref)).await {
            Ok(r) => (r, true),
            Err(OtpError::InFlight { reference: Some(r) }) => (r, false),
            // In flight, and the provider did not say which: ours if we have one, else someone's.
            Err(OtpError::InFlight { reference: None }) => {
                return Ok(match flow.otp_reference.as_deref().and_then(OtpReference::parse) {
                    Some(r) => {
                        record(app, flow, &r, false).await?;
                        Sent::Already
                    }
                    None => Sent::Foreign { cancellable_later: true },
                });
            }
            Err(e) => return Ok(Sent::Failed(e)),
        };
        *sent |= new;
        let now = app.clock.now();
        let verification = Some((reference.as_str().to_owned(), otp.name().to_owned()));
        let transition = step(flow, FlowEvent::CodeSent { verification, at: new.then_some(now) })?;
        let claimed = app
            .store
            .claim_verification_with_step(otp.name(), reference.as_str(), &owner, &transition, flow.expires_at, now)
            .await?;
        let Some(holder) = claimed else {
            return Ok(if new { Sent::New } else { Sent::Already });
        };
        // A login or phone change replaces anything (its user proved the password); a reset or a
        // site's verification replaces only another of those, never the verification a signing-in
        // owner is waiting on.
        let anonymous = |k: FlowKind| matches!(k, FlowKind::Reset | FlowKind::Verification);
        let may_replace = !anonymous(flow.kind) || anonymous(holder.kind);
        if !may_replace || attempt == 1 {
            // A second refusal after a cancel: the provider did not let it go yet (Vonage v2 answers
            // 404 both for "gone" and for "too early").
            return Ok(Sent::Foreign { cancellable_later: attempt == 1 });
        }
        match otp.cancel(&reference).await {
            Ok(()) => {
                tracing::info!(
                    event = "verification_replaced",
                    flow = flow.kind.as_str(),
                    "another flow's code cancelled"
                );
            }
            Err(OtpError::NotCancellable) => return Ok(Sent::Foreign { cancellable_later: true }),
            Err(e) => return Ok(Sent::Failed(e)),
        }
    }
    Ok(Sent::Foreign { cancellable_later: true })
}

/// Records the flow's own verification in flight again (nothing was re-sent).
async fn record(app: &App<WithOtp>, flow: &Flow, reference: &OtpReference, new: bool) -> Result<(), Problem> {
    let now = app.clock.now();
    let verification = Some((reference.as_str().to_owned(), app.ports.otp.name().to_owned()));
    persist(app, flow, &step(flow, FlowEvent::CodeSent { verification, at: new.then_some(now) })?, now).await?;
    Ok(())
}

/// The answer a flow that sends nothing gets: what the configured provider would have answered —
/// `already_sent` within the life of the code it "sent" last (Vonage refuses a second start), else
/// `sent`.
async fn pretend(app: &App<WithOtp>, flow: &Flow, now: Timestamp) -> Result<Response, Problem> {
    let within = |window: u64| flow.otp_sent_at.is_some_and(|t| now < t.plus_secs(i64::try_from(window).unwrap_or(0)));
    let already = app.ports.otp.in_flight_window_secs().is_some_and(within);
    let at = (!already).then_some(now);
    persist(app, flow, &step(flow, FlowEvent::CodeSent { verification: None, at })?, now).await?;
    Ok(answer(if already { "already_sent" } else { "sent" }))
}
