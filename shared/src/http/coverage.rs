//! `GET /api/coverage` (function `coverage`): can this device be verified silently?

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::app::TruIdApp;
use crate::http::limits::{HOUR, Limit, enforce, ip_key};
use crate::http::support::{cached_coverage, look_up_coverage, remember_coverage};
use crate::http::{ClientMeta, Problem};

/// Answers `{"silent": true|false}` for the caller's address, limited per address. The limit and
/// the cached answer are read at once; tru.ID is asked only within the limit.
pub async fn coverage(State(app): State<TruIdApp>, client: ClientMeta) -> Result<Json<serde_json::Value>, Problem> {
    let limit = [Limit::new("coverage_ip", ip_key(client.ip), app.settings.limits.coverage_per_ip_hour, HOUR)];
    let (allowed, cached) = tokio::join!(enforce(&app, &limit), cached_coverage(&app, client.ip));
    allowed?;
    let silent = match cached {
        Some(covered) => covered,
        None => match look_up_coverage(&app, &*app.ports.truid, client.ip).await {
            Some(covered) => {
                remember_coverage(&app, client.ip, covered).await;
                covered
            }
            None => false,
        },
    };
    Ok(Json(json!({ "silent": silent })))
}
