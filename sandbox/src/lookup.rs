//! Twilio Lookup v2, as specified in `provider-specs/twilio/twilio_lookups_v2.yaml`, as far as the
//! `sim_swap` package goes: `GET /v2/PhoneNumbers/{PhoneNumber}?Fields=sim_swap` with the account's
//! SID and token. A number's SIM history is its tru.ID profile; the period the operator watches is
//! `period` (ISO 8601, default `PT168H`), except for numbers ending in 96 (`PT24H`). Numbers ending
//! in 98 are on a network the package does not reach (`error_code` 60606).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::clock::SandboxClock;
use crate::truid::TruIdState;
use crate::wire::{basic_auth, json_response};

pub struct LookupState {
    account_sid: String,
    auth_token: String,
    period: String,
    clock: Arc<SandboxClock>,
    truid: Arc<TruIdState>,
}

impl LookupState {
    pub fn new(account_sid: String, auth_token: String, clock: Arc<SandboxClock>, truid: Arc<TruIdState>) -> Arc<Self> {
        Arc::new(Self { account_sid, auth_token, period: "PT168H".into(), clock, truid })
    }
}

fn error(status: u16, code: u32, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        "application/json",
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn sim_swap(s: &LookupState, digits: &str) -> Value {
    if digits.ends_with("98") {
        return json!({
            "last_sim_swap": null,
            "carrier_name": null,
            "mobile_country_code": null,
            "mobile_network_code": null,
            "error_code": 60606,
        });
    }
    let swapped = !s.truid.profile_of(digits).no_sim_change;
    let period = if digits.ends_with("96") { "PT24H" } else { s.period.as_str() };
    let date = swapped
        .then(|| time::OffsetDateTime::from_unix_timestamp(s.clock.now() - 3600).ok())
        .flatten()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    json!({
        "last_sim_swap": {
            "last_sim_swap_date": date,
            "swapped_period": period,
            "swapped_in_period": swapped,
        },
        "carrier_name": "Sandbox Mobile",
        "mobile_country_code": "234",
        "mobile_network_code": "10",
        "error_code": null,
    })
}

async fn phone_number(
    State(s): State<Arc<LookupState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ok = basic_auth(&headers).is_some_and(|(user, pass)| user == s.account_sid && pass == s.auth_token);
    if !ok {
        return error(401, 20003, "Authentication Error - invalid username");
    }
    let fields: Vec<&str> = query.get("Fields").map(|f| f.split(',').map(str::trim).collect()).unwrap_or_default();
    let digits = number
        .strip_prefix('+')
        .filter(|d| (7..=15).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()) && !d.starts_with('0'));
    let (valid, e164, package) = match digits {
        Some(d) => (true, format!("+{d}"), fields.contains(&"sim_swap").then(|| sim_swap(&s, d))),
        None => (false, number.clone(), None),
    };
    let cc = if e164.starts_with("+44") { ("44", "GB") } else { ("1", "US") };
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({
            "calling_country_code": valid.then_some(cc.0),
            "country_code": valid.then_some(cc.1),
            "phone_number": e164,
            "national_format": null,
            "valid": valid,
            "validation_errors": if valid { json!(null) } else { json!(["INVALID_BUT_POSSIBLE"]) },
            "caller_name": null,
            "sim_swap": package,
            "call_forwarding": null,
            "line_status": null,
            "line_type_intelligence": null,
            "identity_match": null,
            "reassigned_number": null,
            "sms_pumping_risk": null,
            "phone_number_quality_score": null,
            "pre_fill": null,
            "url": format!("https://lookups.twilio.com/v2/PhoneNumbers/{e164}"),
        }),
    )
}

pub fn router(state: Arc<LookupState>) -> Router {
    Router::new().route("/v2/PhoneNumbers/{number}", get(phone_number)).with_state(state)
}
