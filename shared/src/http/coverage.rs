//! `GET /api/coverage`: can this device be verified silently?

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::app::{App, SharedApp};
use crate::http::flow_support::provider_error;
use crate::http::limits::{HOUR, enforce, ip_key};
use crate::http::{ClientMeta, Problem};

pub async fn coverage(State(app): State<SharedApp>, client: ClientMeta) -> Result<Json<serde_json::Value>, Problem> {
    enforce(&app, "coverage_ip", &ip_key(client.ip), app.settings.limits.coverage_per_ip_hour, HOUR).await?;
    let silent = subscriber_check_coverage(&app, client.ip).await;
    Ok(Json(json!({ "silent": silent })))
}

/// Whether the network behind `ip` supports SubscriberCheck. Answers are cached briefly so that the
/// reset start that follows the page's own lookup costs no second provider call. A failed lookup is
/// "no" (the SMS path, with its SIM check, is the fallback) and is not cached.
pub async fn subscriber_check_coverage(app: &App, ip: IpAddr) -> bool {
    let now = app.clock.now();
    match app.store.get_coverage(ip, now).await {
        Ok(Some(covered)) => return covered,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "coverage cache unavailable"),
    }
    match app.truid.coverage(ip).await {
        Ok(c) => {
            let expires = now.plus_secs(app.settings.coverage_cache_secs);
            if let Err(e) = app.store.put_coverage(ip, c.subscriber_check, expires).await {
                tracing::warn!(error = %e, "coverage not cached");
            }
            tracing::info!(event = "coverage", silent = c.subscriber_check, "device coverage looked up");
            c.subscriber_check
        }
        Err(e) => {
            provider_error(app, "truid", "coverage", &e, "coverage lookup failed; treating as not covered");
            false
        }
    }
}
