//! `GET /api/coverage` (function `coverage`): can this device be verified silently?

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::app::SilentApp;
use crate::http::limits::{HOUR, Limit, enforce, ip_key};
use crate::http::support::{cached_coverage, remember_coverage, start_silent};
use crate::http::{ClientMeta, Problem};

/// Answers `{"silent": true|false}` for the caller's address — whether a silent prover may reach its
/// network — limited per address. The limit and the cached answer are read at once; the providers
/// are asked only within the limit.
pub async fn coverage(State(app): State<SilentApp>, client: ClientMeta) -> Result<Json<serde_json::Value>, Problem> {
    let limit = [Limit::new("coverage_ip", ip_key(client.ip), app.settings.limits.coverage_per_ip_hour, HOUR)];
    let (allowed, cached) = tokio::join!(enforce(&app, &limit), cached_coverage(&app, client.ip));
    allowed?;
    let reach = start_silent(&app, None, client.ip, cached).await;
    if let Some(covered) = reach.looked_up {
        remember_coverage(&app, client.ip, covered).await;
    }
    Ok(Json(json!({ "silent": reach.reaches })))
}
