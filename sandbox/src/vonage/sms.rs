//! Vonage's SMS API (`POST /sms/json`, on `rest.nexmo.com`), as far as a notice needs: `from`, `to`,
//! `text`, with the account's key and secret (Basic auth, or `api_key`/`api_secret` parameters).
//! Always 200; each message part carries its own `status` (`"0"` sent), as Vonage's SMS API
//! reference describes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::json;

use super::VonageState;
use crate::wire::{basic_auth, e164_digits, json_response, media_type, random_hex};

const PROVIDER: &str = "vonage-sms";

fn answer(messages: serde_json::Value, count: usize) -> Response {
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "message-count": count.to_string(), "messages": messages }),
    )
}

fn refused(status: &str, text: &str) -> Response {
    answer(json!([{ "status": status, "error-text": text }]), 1)
}

async fn send(State(s): State<Arc<VonageState>>, headers: HeaderMap, body: Bytes) -> Response {
    let p: std::collections::HashMap<String, String> = if media_type(&headers) == "application/json" {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
            .map(|m| m.into_iter().filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned()))).collect())
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(&body).into_owned().filter(|(_, v)| !v.is_empty()).collect()
    };
    let credentials = basic_auth(&headers).or_else(|| Some((p.get("api_key")?.clone(), p.get("api_secret")?.clone())));
    let Some((key, secret)) = credentials else { return refused("2", "Missing api_key") };
    if key != s.config.api_key || secret != s.config.api_secret {
        return refused("4", "Bad Credentials");
    }
    for param in ["from", "to", "text"] {
        if !p.contains_key(param) {
            return refused("2", &format!("Missing {param}"));
        }
    }
    let (Some(to), Some(text)) = (p.get("to").and_then(|t| e164_digits(t)), p.get("text")) else {
        return refused("3", "Invalid to address");
    };
    let id = random_hex(32);
    s.journal.send_sms(PROVIDER, &to, "", &id, text.clone(), s.clock.now());
    answer(
        json!([{
            "to": to,
            "message-id": id,
            "status": "0",
            "remaining-balance": "10.00000000",
            "message-price": "0.03330000",
            "network": "23410",
        }]),
        1,
    )
}

pub(super) fn routes() -> Router<Arc<VonageState>> {
    Router::new().route("/sms/json", post(send))
}
