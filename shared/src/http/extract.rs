//! Extractors: who is calling, and a JSON body with problem+json rejections.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::request::RequestContext;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::config::ClientIpSource;
use crate::domain::Token;
use crate::http::{CSRF_HEADER, Problem};

/// The caller as the platform saw it. The IP is API Gateway's `requestContext.http.sourceIp` (or,
/// in the local stack, the TCP peer); `X-Forwarded-For` is never read (docs/security.md A5).
#[derive(Debug, Clone)]
pub struct ClientMeta {
    /// The caller's address.
    pub ip: IpAddr,
    /// Printable characters only, at most 200: it goes into notification emails.
    pub user_agent: String,
}

/// The IAM principal (its ARN) API Gateway authorised the request as, on an IAM-authorised route;
/// `None` anywhere else (the local stack, a route without IAM authorisation).
pub fn iam_principal(extensions: &axum::http::Extensions) -> Option<String> {
    #[allow(irrefutable_let_patterns)]
    let Some(RequestContext::ApiGatewayV2(ctx)) = extensions.get::<RequestContext>() else { return None };
    ctx.authorizer.as_ref()?.iam.as_ref()?.user_arn.clone().filter(|a| !a.is_empty())
}

/// API Gateway's `sourceIp`, or the TCP peer when there is no Lambda event.
pub fn source_ip(parts: &Parts) -> Option<IpAddr> {
    if let Some(ctx) = parts.extensions.get::<RequestContext>() {
        // Only the HTTP API (payload v2) is compiled in; with more event kinds enabled, they would
        // give no IP here and the request would be refused.
        #[allow(irrefutable_let_patterns)]
        if let RequestContext::ApiGatewayV2(ctx) = ctx {
            return ctx.http.source_ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()).map(|ip| ip.to_canonical());
        }
        return None;
    }
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical())
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().filter(|c| !c.is_control()).take(200).collect())
        .unwrap_or_default()
}

/// `CloudFront-Viewer-Address`: `198.51.100.10:46532`, `2001:db8::1:46532` or `[2001:db8::1]:46532`.
pub fn viewer_address(headers: &HeaderMap) -> Option<IpAddr> {
    let raw = headers.get("cloudfront-viewer-address")?.to_str().ok()?.trim();
    let (ip, port) = raw.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The IAM principal of an IAM-authorised request ([`iam_principal`]), if any.
pub struct IamCaller(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IamCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IamCaller(iam_principal(&parts.extensions)))
    }
}

impl<P: Send + Sync> FromRequestParts<Arc<App<P>>> for ClientMeta {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<P>>) -> Result<Self, Self::Rejection> {
        // Without a trustworthy source address no per-IP limit can hold: refuse rather than guess.
        // (Behind CloudFront the origin-verify layer has already refused requests that went around it.)
        let ip = match app.settings.client_ip {
            ClientIpSource::SourceIp => source_ip(parts),
            ClientIpSource::CloudFront { .. } => viewer_address(&parts.headers),
        }
        .ok_or_else(Problem::invalid_request)?;
        Ok(ClientMeta { ip, user_agent: user_agent(&parts.headers) })
    }
}

/// `axum::Json` with our error shapes: 415 without `application/json`, 413 over the body limit, 408
/// for a body that did not arrive in time, 400 for anything malformed — including broken framing
/// (a bad chunk), a body that is not a JSON object (serde would read a struct from an array) and
/// unknown fields (bodies are `deny_unknown_fields`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let object = match axum::Json::<serde_json::Map<String, serde_json::Value>>::from_request(req, state).await {
            Ok(axum::Json(o)) => o,
            Err(JsonRejection::MissingJsonContentType(_)) => return Err(Problem::unsupported_media_type()),
            Err(JsonRejection::BytesRejection(e)) => return Err(body_problem(&e)),
            Err(_) => return Err(Problem::invalid_request()),
        };
        serde_json::from_value(serde_json::Value::Object(object)).map(ApiJson).map_err(|_| Problem::invalid_request())
    }
}

/// Why a body could not be read: too long, too slow, or broken.
fn body_problem(e: &axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::payload_too_large();
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return Problem::request_timeout();
        }
        cause = c.source();
    }
    Problem::invalid_request()
}

/// The synchronizer token that goes with a cookie token: a keyed hash of the HttpOnly cookie's value.
/// A page of ours receives it in a JSON body; another site can neither read that body nor compute the
/// token without the cookie (OWASP CSRF CS, "signed double-submit").
pub fn csrf_token_for(cookie: &Token) -> String {
    let mut h = Sha256::new();
    h.update(b"simguard-csrf-v1:");
    h.update(cookie.expose().as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Refuses a state-changing request whose `X-CSRF-Token` does not belong to `cookie`.
pub fn require_csrf(headers: &HeaderMap, cookie: &Token) -> Result<(), Problem> {
    let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let expected = csrf_token_for(cookie);
    if presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        tracing::warn!(event = "csrf_rejected", "synchronizer token missing or wrong");
        Err(Problem::csrf_rejected())
    }
}
