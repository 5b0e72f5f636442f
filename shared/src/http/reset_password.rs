//! `POST /api/reset/password {password}` (function `reset-password`): the new password.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::ResetApp;
use crate::domain::{FlowEvent, PasswordPolicy};
use crate::http::cookies::{FLOW, RESET};
use crate::http::support::{current_flow, notify, step};
use crate::http::{ApiJson, ClientMeta, Problem};
use crate::ports::{Metric, NotificationKind, ResetCompletion, StoreError};

/// The request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The new password, as typed.
    pub password: String,
}

/// Authorised by the flow cookie, the single-use reset cookie and the flow's CSRF token — never by
/// anything in the body (D1). One transaction consumes the flow, stores the new hash and ends every
/// session (D2). No sign-in follows (D5); the owner is told by email (D6).
pub async fn reset_password(
    State(app): State<ResetApp>,
    client: ClientMeta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewPassword>,
) -> Result<Response, Problem> {
    let now = app.clock.now();
    let (_, flow) = current_flow(&app, &headers).await?;
    let reset_token = RESET.read(&headers).ok_or_else(Problem::flow_invalid)?;
    let token_ok = flow.reset_token_hash.as_ref().is_some_and(|h| h.matches(&reset_token));
    let (true, Some(user_id)) = (token_ok, flow.user_id.clone()) else {
        tracing::warn!(event = "reset_refused", state = flow.state.as_str(), "reset-password without a verified flow");
        return Err(Problem::flow_invalid());
    };
    let transition = step(&flow, FlowEvent::PasswordChanged)?;
    let user = app.store.user_by_id(&user_id).await?.ok_or_else(Problem::flow_invalid)?;
    if flow.credential_version != Some(user.credential_version) {
        tracing::warn!(
            event = "reset_refused",
            why = "credentials_changed",
            "a reset from before another password change"
        );
        return Err(Problem::flow_invalid());
    }
    let password = PasswordPolicy::check(&body.password, Some(user.email.local_part()))
        .map_err(|r| Problem::weak_password(r.code()))?;
    let new_password_hash = app.ports.hasher.hash(&password).await?;
    let completion = ResetCompletion {
        flow_key: flow.key.clone(),
        transition,
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
