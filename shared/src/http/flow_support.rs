//! Steps every flow handler shares.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::app::App;
use crate::domain::{Flow, Session, User};
use crate::http::Problem;
use crate::http::cookies::FLOW;
use crate::http::extract::require_csrf;
use crate::http::limits::HOUR;
use crate::metrics::Metric;
use crate::ports::{Notification, NotificationKind, ProviderFault, RateDecision};
use crate::random::Token;

/// A provider call that did not give the answer we asked for: one log line (its label and tru.ID's
/// problem slug, never a body) and, when the provider failed us rather than answered about the
/// number, the metric the provider-error alarm counts. `next` says what the flow does instead.
pub fn provider_error(
    app: &App,
    provider: &'static str,
    call: &'static str,
    error: &impl ProviderFault,
    next: &'static str,
) {
    let failure = error.is_failure();
    tracing::warn!(
        event = "provider_error",
        provider,
        call,
        error.kind = error.kind(),
        slug = error.slug(),
        failure,
        "{next}"
    );
    if failure {
        app.metrics.record(Metric::ProviderError { provider, call });
    }
}

/// The browser's live flow, after its CSRF token was checked. One answer for "no cookie", "no such
/// flow" and "expired" (the flow's existence is nobody else's business).
pub async fn current_flow(app: &App, headers: &HeaderMap) -> Result<(Token, Flow), Problem> {
    let token = FLOW.read(headers).ok_or_else(Problem::flow_invalid)?;
    require_csrf(headers, &token)?;
    let flow = app.store.get_flow(&token.hash(), app.clock.now()).await?.ok_or_else(Problem::flow_invalid)?;
    Ok((token, flow))
}

/// A new signed-in session for `user`; the caller sets its cookie.
pub async fn start_session(app: &App, user: &User) -> Result<Token, Problem> {
    let token = Token::generate(&*app.random).map_err(|_| Problem::unavailable())?;
    let now = app.clock.now();
    let session = Session {
        key: token.hash(),
        user_id: user.id.clone(),
        credential_version: user.credential_version,
        created_at: now,
        expires_at: now.plus_secs(app.settings.session_ttl_secs),
    };
    app.store.put_session(&session).await?;
    Ok(token)
}

/// Tells the account's owner; a lost email never undoes the security action that caused it.
/// Warnings (blocked attempts, registrations with the email) go out at most once per kind per hour,
/// so repeated attempts cannot be used to flood the owner's inbox; a password change is always told.
pub async fn notify(app: &App, user: &User, kind: NotificationKind, client_ip: IpAddr, user_agent: &str) {
    if kind != NotificationKind::PasswordReset {
        let bucket = format!("{}#{}", kind.as_str(), user.id.0);
        if let Ok(RateDecision::Limited { .. }) = app.limiter.hit(&bucket, 1, HOUR, app.clock.now()).await {
            tracing::info!(event = "notification_suppressed", kind = kind.as_str(), "already told within the hour");
            return;
        }
    }
    let n = Notification {
        to: user.email.clone(),
        kind,
        at: app.clock.now(),
        client_ip,
        user_agent: user_agent.to_owned(),
        not_me_url: app.settings.public_url("/help/not-me.html"),
    };
    if let Err(e) = app.notifier.notify(n).await {
        tracing::error!(error = %e, kind = ?kind, "notification failed");
    }
}

/// Notifies the owner of the flow's account, if the flow has one.
pub async fn notify_flow_owner(app: &App, flow: &Flow, kind: NotificationKind) {
    let Some(user_id) = &flow.user_id else { return };
    if let Ok(Some(user)) = app.store.user_by_id(user_id).await {
        notify(app, &user, kind, flow.client_ip, &flow.user_agent).await;
    }
}
