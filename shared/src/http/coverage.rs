//! `GET /api/coverage` (function `coverage`): can this device be verified silently?

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::app::TruIdApp;
use crate::http::limits::{HOUR, enforce, ip_key};
use crate::http::support::subscriber_check_coverage;
use crate::http::{ClientMeta, Problem};

/// Answers `{"silent": true|false}` for the caller's address, limited per address.
pub async fn coverage(State(app): State<TruIdApp>, client: ClientMeta) -> Result<Json<serde_json::Value>, Problem> {
    enforce(&app, "coverage_ip", &ip_key(client.ip), app.settings.limits.coverage_per_ip_hour, HOUR).await?;
    let silent = subscriber_check_coverage(&app, &*app.ports.truid, client.ip).await;
    Ok(Json(json!({ "silent": silent })))
}
