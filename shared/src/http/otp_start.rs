//! `POST /api/otp/start` (function `otp-start`): sends a code (or a new one) to the account's number,
//! after the SIM-swap gate passed (docs/security.md C, F).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::{Core, OtpApp};
use crate::domain::sim_policy::UNVERIFIED_SENDS;
use crate::domain::{FlowCounter, FlowEvent, Phone};
use crate::http::limits::{DAY, HOUR, TEN_MINUTES, enforce, ip_block_key, ip_key, phone_key};
use crate::http::support::{current_flow, flow_user, persist, provider_error, step};
use crate::http::{ClientMeta, Problem};
use crate::ports::{Metric, OtpError, ProviderFault, StoreError};

/// Every limit on sending an SMS to `phone` (F1, F2), counted before the provider is called.
async fn enforce_sms_limits(core: &Core, client: &ClientMeta, phone: Option<&Phone>) -> Result<(), Problem> {
    let l = &core.settings.limits;
    enforce(core, "sms_global", "all", l.sms_global_hour, HOUR).await?;
    enforce(core, "sms_ip", &ip_key(client.ip), l.sms_per_ip_hour, HOUR).await?;
    enforce(core, "sms_ip_block", &ip_block_key(client.ip), l.sms_per_ip_block_hour, HOUR).await?;
    if let Some(phone) = phone {
        enforce(core, "sms_prefix", &phone_key(phone.prefix_bucket()), l.sms_per_prefix_hour, HOUR).await?;
        enforce(core, "sms_number_10min", &phone_key(phone.e164()), l.sms_per_number_10min, TEN_MINUTES).await?;
        enforce(core, "sms_number_day", &phone_key(phone.e164()), l.sms_per_number_day, DAY).await?;
    }
    Ok(())
}

/// Needs a passing SIM verdict on this flow. Answers `{"status":"sent"}` — also for an unknown
/// email, for which nothing is sent.
pub async fn otp_start(State(app): State<OtpApp>, client: ClientMeta, headers: HeaderMap) -> Result<Response, Problem> {
    let (_, flow) = current_flow(&app, &headers).await?;
    step(&flow, FlowEvent::CodeSent { verification: None })?;
    let now = app.clock.now();
    let max_sends = if flow.sim_unverified { UNVERIFIED_SENDS } else { app.settings.limits.otp_sends_per_flow };
    match app.store.count_flow_event(&flow.key, FlowCounter::OtpSends, max_sends, now).await {
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
        persist(&app, &flow, &step(&flow, FlowEvent::CodeSent { verification: None })?, now).await?;
        return Ok(axum::Json(sent).into_response());
    };

    let otp = &app.ports.otp;
    let client_ref = app.random.id()?;
    let reference = match otp.start(&user.phone, &client_ref).await {
        Ok(r) => r,
        // A verification to this number is already running (a resend, or another tab): reuse it.
        Err(OtpError::InFlight { reference: Some(r) }) => r,
        Err(OtpError::InFlight { reference: None }) if flow.otp_reference.is_some() => {
            return Ok(axum::Json(sent).into_response());
        }
        Err(e) => {
            provider_error(&app, otp.name(), "otp_start", &e, "code not sent");
            app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: e.kind() });
            return Err(match e {
                OtpError::NumberRefused { .. } => Problem::phone_not_supported(),
                OtpError::RateLimited { retry_after_secs } => Problem::rate_limited(retry_after_secs.unwrap_or(600)),
                OtpError::InFlight { .. } => Problem::rate_limited(600),
                _ => Problem::sms_unavailable(),
            });
        }
    };
    let verification = Some((reference.as_str().to_owned(), otp.name().to_owned()));
    persist(&app, &flow, &step(&flow, FlowEvent::CodeSent { verification })?, now).await?;
    tracing::info!(event = "sms_sent", provider = otp.name(), flow = flow.kind.as_str(), "code sent");
    app.metrics.record(Metric::SmsSent { provider: otp.name() });
    app.metrics.record(Metric::StepOutcome { step: "otp_start", outcome: "sent" });
    Ok(axum::Json(sent).into_response())
}
