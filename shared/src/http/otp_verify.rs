//! `POST /api/otp/verify {code}` (function `otp-verify`): checks the code; a reset flow is verified,
//! a login flow becomes a session (docs/security.md C3). And `POST /api/phone/finish`: a phone change
//! whose new number was proven silently is made.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::{App, OtpApp, WithOtp};
use crate::domain::result_token::ProofMethod;
use crate::domain::sim_policy::UNVERIFIED_ATTEMPTS;
use crate::domain::{Flow, FlowCounter, FlowEvent, FlowKind, FlowState, Phone, Timestamp, Transition, User};
use crate::http::cookies::{FLOW, RESET, SESSION};
use crate::http::extract::csrf_token_for;
use crate::http::support::{
    Subject, current_flow, current_number_proven, device_to_remember, flow_number, flow_subject, imitate, new_session,
    notify, persist, provider_error, report_current_proven, step, timed,
};
use crate::http::{ApiJson, Problem, results};
use crate::ports::{
    Metric, NotificationKind, OtpCheck, OtpCode, OtpReference, PhoneChange, PhoneProof, PossessionProof, StoreError,
};

/// The request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCode {
    /// The code, as typed.
    pub code: String,
    /// A sign-in only: remember this browser, so that later sign-ins from it skip the SMS (never the
    /// SIM check).
    #[serde(default)]
    pub remember: bool,
}

/// A wrong code: `code_invalid` with the tries left, and the flow locked when it was the last
/// allowed try.
async fn wrong(
    app: &App<WithOtp>,
    flow: &Flow,
    user: Option<&User>,
    tries: Tries,
    provider: Option<&'static str>,
) -> Problem {
    tracing::info!(event = "otp_failed", provider, "wrong code");
    app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "wrong" });
    if tries.last {
        lock(app, flow, user).await;
    }
    let mut p = Problem::code_invalid();
    p.attempts_left = Some(if tries.last { 0 } else { tries.left });
    p
}

/// Where this attempt stands: whether it was the last the flow allows, and how many more codes can
/// be tried — by simguard's cap and by the provider's (the same for every flow, so an unknown email
/// is told what a registered one is).
#[derive(Clone, Copy)]
struct Tries {
    last: bool,
    left: u32,
}

/// Locks the flow after the last allowed code was wrong (or the provider ended the verification); a
/// login's owner is told while the lock is stored (one round trip; the hourly cap on the notice keeps
/// a concurrent request from telling twice).
async fn lock(app: &App<WithOtp>, flow: &Flow, user: Option<&User>) -> Problem {
    let Ok(transition) = flow.apply(FlowEvent::Locked) else { return Problem::too_many_attempts() };
    let tell = async {
        if let (FlowKind::Login, Some(user)) = (flow.kind, user) {
            notify(app, user, NotificationKind::SecondFactorFailed, flow.client_ip, &flow.user_agent).await;
        }
    };
    let (locked, ()) = tokio::join!(persist(app, flow, &transition, app.clock.now()), tell);
    if locked.is_ok() {
        tracing::warn!(event = "otp_locked", flow = flow.kind.as_str(), "too many wrong codes: flow locked");
        app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "locked" });
    }
    Problem::too_many_attempts()
}

/// The attempt is counted (atomically, with its cap) before the provider sees the code, so
/// concurrent guesses never exceed the cap (C3). A request refused by the cap does not lock the
/// flow: only the last allowed attempt being wrong does, so a burst of taps on the right code
/// signs in once instead of locking the user out (docs/security.md S27). On success a reset flow is
/// verified (the reset cookie is issued) and a login flow becomes a session.
pub async fn otp_verify(
    State(app): State<OtpApp>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyCode>,
) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    let now = app.clock.now();
    if flow.state == FlowState::Locked {
        return Err(Problem::too_many_attempts());
    }
    if !matches!(flow.state, FlowState::OtpSent | FlowState::NewOtpSent) {
        return Err(Problem::flow_invalid());
    }
    let code = OtpCode::parse(&body.code).ok_or_else(Problem::code_invalid)?;
    let max = if flow.sim_unverified { UNVERIFIED_ATTEMPTS } else { app.settings.limits.otp_attempts_per_flow };
    // The attempt is counted while the account is read: one round trip (docs/security.md R11).
    let (counted, subject) = tokio::join!(
        app.store.count_flow_event(&flow.key, FlowCounter::OtpAttempts, max, now),
        flow_subject(&app, &flow)
    );
    let attempt = match counted {
        Ok(n) => n,
        Err(StoreError::LimitReached) => {
            tracing::warn!(event = "rate_limited", bucket = "otp_attempts_flow", "no code checks left in this flow");
            return Err(Problem::too_many_attempts());
        }
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
    };
    let tries = Tries { last: attempt >= max, left: max.min(app.ports.otp.max_checks()).saturating_sub(attempt) };
    let subject = match subject {
        Ok(subject) => subject,
        Err(e) => {
            // Nothing was checked: the attempt is given back (R8).
            if let Err(e) = app.store.release_flow_event(&flow.key, FlowCounter::OtpAttempts).await {
                tracing::warn!(event = "limit_not_released", error = %e, "the attempt was kept");
            }
            return Err(e);
        }
    };
    let reference = flow.otp_reference.as_deref().and_then(OtpReference::parse);
    let user = subject.as_ref().and_then(Subject::user);
    let (Some(subject), Some(reference), false) = (subject.as_ref(), reference, flow.decoy) else {
        // An unknown email, a decoy, or a flow whose code was never sent: no code can be right, and
        // the answer takes as long as a check (A2) and ends where the provider's would (S24).
        imitate(&app, "otp.check").await;
        let otp = &app.ports.otp;
        if otp.ends_on_last_wrong_code() && attempt >= otp.max_checks() {
            return Err(lock(&app, &flow, user).await);
        }
        return Err(wrong(&app, &flow, user, tries, None).await);
    };
    let otp = &app.ports.otp;
    // A code is checked only with the provider that sent it: after a configuration change, the
    // verification in flight belongs to another provider, and the user needs a new code.
    if flow.otp_provider.as_deref() != Some(otp.name()) {
        tracing::warn!(event = "otp_failed", why = "provider_changed", "the code was sent by another provider");
        app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "expired" });
        return Err(Problem::code_expired());
    }
    let number = flow_number(&flow, subject.phone())?;
    match timed(&app, otp.name(), "otp.check", otp.check(&reference, number, &code)).await {
        Ok(OtpCheck::Approved) => {}
        Ok(OtpCheck::Wrong) => return Err(wrong(&app, &flow, user, tries, Some(otp.name())).await),
        Ok(OtpCheck::TooManyAttempts) => return Err(lock(&app, &flow, user).await),
        // The verification ended. If it ended approved — an earlier check whose answer, or our record
        // of it, was lost — the flow finishes now, without a new SMS (R9): only this flow can submit
        // codes to it (S23).
        Ok(OtpCheck::Expired) if otp.approved(&reference).await == Ok(Some(true)) => {
            tracing::info!(event = "otp_recovered", provider = otp.name(), "an approval whose answer was lost");
        }
        Ok(OtpCheck::Expired) => {
            tracing::info!(event = "otp_failed", provider = otp.name(), why = "expired", "code expired");
            app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "expired" });
            return Err(Problem::code_expired());
        }
        Err(e) => {
            provider_error(&app, otp.name(), "otp_check", &e, "code not checked");
            if !e.reached_a_check() {
                // The code was never checked: the attempt is given back (R8). Brute force stays
                // impossible: the attempt was counted before the provider saw anything, and every
                // check the provider did see stays counted, by us and by the provider's own cap.
                if let Err(e) = app.store.release_flow_event(&flow.key, FlowCounter::OtpAttempts).await {
                    tracing::warn!(event = "limit_not_released", error = %e, "the attempt was kept");
                }
            }
            return Err(Problem::sms_unavailable());
        }
    }
    tracing::info!(event = "otp_verified", provider = otp.name(), flow = flow.kind.as_str(), "code verified");
    let user = match subject {
        Subject::Account(user) => user,
        Subject::Site(v) => {
            let url = results::prove(&app, &flow, v, ProofMethod::Sms, results::sim_change_of(&flow), now).await?;
            // Counted only by the request whose completion won, as for a sign-in.
            app.metrics.record(Metric::OtpVerified { provider: otp.name() });
            return Ok(axum::Json(json!({ "next": "return", "url": url })).into_response());
        }
    };
    if flow.kind == FlowKind::PhoneChange {
        return phone_change_step(&app, &flow, user, &headers, now).await;
    }
    let reset_token = match flow.kind {
        FlowKind::Reset => Some(app.random.token()?),
        _ => None,
    };
    let session = match flow.kind {
        FlowKind::Login => Some(new_session(&app, user, now)?),
        _ => None,
    };
    let device = match flow.kind {
        FlowKind::Login if body.remember => Some(device_to_remember(&app, user, &flow.user_agent, now)?),
        _ => None,
    };
    // Only the request whose transition wins goes on (one session, one reset cookie). The step, the
    // first proof of the phone and the session are one transaction.
    let verified = step(&flow, FlowEvent::CodeVerified { reset_token_hash: reset_token.as_ref().map(|t| t.hash()) })?;
    let proof = PossessionProof {
        flow_key: &flow.key,
        transition: &verified,
        user_id: &user.id,
        at: now,
        session: session.as_ref().map(|(_, s)| s),
        device: device.as_ref().map(|(d, _)| d),
    };
    app.store.record_possession(&proof).await?;
    // Counted only by the winner, so concurrent verifies of one code cannot inflate the conversion
    // rate the SMS-pumping alarm watches.
    app.metrics.record(Metric::OtpVerified { provider: otp.name() });
    app.metrics.record(Metric::StepOutcome { step: "otp_verify", outcome: "verified" });
    match reset_token {
        Some(reset_token) => {
            let mut resp = axum::Json(json!({ "next": "new_password" })).into_response();
            resp.headers_mut().append(header::SET_COOKIE, RESET.set(&reset_token, flow.remaining_secs(now)));
            Ok(resp)
        }
        None => {
            let Some((session, _)) = session else { return Err(Problem::flow_invalid()) };
            tracing::info!(event = "login", user_id = %user.id, "signed in with a second factor");
            let mut resp = axum::Json(json!({ "next": "signed_in", "csrf": csrf_token_for(&session) })).into_response();
            resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&session, app.settings.session_ttl_secs));
            resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
            if let Some((_, cookie)) = device {
                tracing::info!(event = "device_remembered", user_id = %user.id, "this browser will skip the SMS, not the SIM check");
                resp.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(resp)
        }
    }
}

/// Texts the number the account left, when a sender is configured (`SIMGUARD_SMS_SENDER`): whoever
/// still has that phone learns of the change (docs/security.md S31). Sent once; a failure is logged,
/// and the email to the owner stays the durable notice.
async fn tell_old_number(app: &App<WithOtp>, old: &Phone) {
    let Some(from) = &app.settings.otp.notice_sender else {
        tracing::info!(event = "old_number_not_told", why = "no_sender", "no SMS sender configured");
        return;
    };
    let site = &app.settings.site;
    let text = format!(
        "{}: the mobile number on your account was changed, so your codes no longer come to this phone. If you did not do this, contact {} now.",
        site.name,
        site.support_contact.as_deref().unwrap_or("us")
    );
    let otp = &app.ports.otp;
    match timed(app, otp.name(), "otp.notice", otp.send_notice(old, from, &text)).await {
        Ok(()) => {
            tracing::info!(event = "old_number_told", provider = otp.name(), "the old number was told of the change");
            app.metrics.record(Metric::StepOutcome { step: "phone_change", outcome: "old_number_told" });
        }
        Err(e) => provider_error(app, otp.name(), "notice", &e, "the old number was not told"),
    }
}

/// A phone change's right code (docs/security.md S31). For the current number: the new number is
/// next (`{"next":"new_number"}`), its limits counted under its own keys. For the new number: the
/// change is made ([`change_phone`]).
async fn phone_change_step(
    app: &App<WithOtp>,
    flow: &Flow,
    user: &User,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Response, Problem> {
    if flow.state == FlowState::OtpSent {
        let event = current_number_proven(flow).ok_or_else(Problem::flow_invalid)?;
        persist(app, flow, &step(flow, event)?, now).await?;
        report_current_proven(app, user, "code");
        return Ok(axum::Json(json!({ "next": "new_number" })).into_response());
    }
    let transition = step(flow, FlowEvent::CodeVerified { reset_token_hash: None })?;
    change_phone(app, flow, user, transition, headers, now).await
}

/// `POST /api/phone/finish` (function `otp-verify`): a phone change whose new number the callback
/// proved silently is made here, as after the new number's code: this function texts the number the
/// account leaves, which the callback cannot (docs/security.md S31). The flow's cookie and CSRF token;
/// `{"next":"phone_changed","csrf"}` once, `flow_invalid` for anything else.
pub async fn finish_phone_change(State(app): State<OtpApp>, headers: HeaderMap) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    let transition = step(&flow, FlowEvent::PhoneChanged)?;
    let Some(Subject::Account(user)) = flow_subject(&app, &flow).await? else { return Err(Problem::flow_invalid()) };
    change_phone(&app, &flow, &user, transition, &headers, app.clock.now()).await
}

/// Makes a phone change whose both numbers were proven, with the flow's last step `transition`: in
/// one transaction the account takes the new number (proven now), the credential version moves on
/// — every other session, flow and remembered browser ends — and this browser gets a new session;
/// the owner is told by email and the number the account left by SMS.
async fn change_phone(
    app: &App<WithOtp>,
    flow: &Flow,
    user: &User,
    transition: Transition,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Response, Problem> {
    let Some(new_phone) = flow.new_phone.clone() else { return Err(Problem::flow_invalid()) };
    // The change belongs to the signed-in browser that started it: without its session (signed out
    // meanwhile), it cannot be finished; the store checks that the session is still alive.
    let Some(ended_session) = SESSION.read(headers).map(|t| t.hash()) else {
        tracing::warn!(event = "flow_refused", why = "signed_out", "a phone change without its session");
        return Err(Problem::flow_invalid());
    };
    let (token, mut session) = new_session(app, user, now)?;
    session.credential_version = user.credential_version + 1;
    let change = PhoneChange {
        user_id: user.id.clone(),
        expected_version: user.credential_version,
        phone: new_phone,
        audit_event: "phone_changed",
        client_ip: flow.client_ip,
        now,
        proof: Some(PhoneProof { flow_key: flow.key.clone(), transition, ended_session, new_session: session }),
    };
    app.store.change_phone(&change).await?;
    tracing::info!(event = "phone_changed", user_id = %user.id, "phone number changed; other sessions ended");
    app.metrics.record(Metric::StepOutcome { step: "phone_change", outcome: "changed" });
    // The owner by email (durable, through the queue) and the number the account left by SMS, at once.
    tokio::join!(
        notify(app, user, NotificationKind::PhoneChanged, flow.client_ip, &flow.user_agent),
        tell_old_number(app, &user.phone)
    );
    let mut resp = axum::Json(json!({ "next": "phone_changed", "csrf": csrf_token_for(&token) })).into_response();
    resp.headers_mut().append(header::SET_COOKIE, SESSION.set(&token, app.settings.session_ttl_secs));
    resp.headers_mut().append(header::SET_COOKIE, FLOW.clear());
    Ok(resp)
}
