//! RFC 9457 problem details with stable `type`s. Internal errors are logged, never echoed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ports::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable code: the `type` is `urn:simguard:problem:<slug>`.
    pub slug: &'static str,
    pub title: &'static str,
    pub retry_after_secs: Option<u64>,
    /// A fixed sub-code (for example why a password was refused); never free text.
    pub reason: Option<&'static str>,
}

impl Problem {
    pub const fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        Self { status, slug, title, retry_after_secs: None, reason: None }
    }

    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn invalid_request() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", "The request body is not the JSON this endpoint expects.")
    }
    pub fn invalid_email() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_email", "That is not a valid email address.")
    }
    pub fn invalid_phone() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_phone",
            "Enter the phone number in international format, starting with +.",
        )
    }
    pub fn weak_password(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "weak_password", "That password cannot be used.").with_reason(reason)
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the request body as application/json.",
        )
    }
    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large.")
    }
    pub fn origin_rejected() -> Self {
        Self::new(StatusCode::FORBIDDEN, "origin_rejected", "Requests must come through the site.")
    }
    pub fn csrf_rejected() -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf_rejected", "This request did not come from this site.")
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many attempts. Try again later.")
        }
    }
    /// No live flow in this browser, or this step is out of order. Deliberately one answer for both.
    pub fn flow_invalid() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "flow_invalid",
            "This verification is not valid in this browser, has expired or was already used.",
        )
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in to continue.")
    }
    pub fn invalid_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "The email or password is not correct.")
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "There is nothing here.")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.")
    }
    pub fn code_invalid() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "code_invalid", "That code is not right.")
    }
    pub fn code_expired() -> Self {
        Self::new(StatusCode::CONFLICT, "code_expired", "That code has expired. Ask for a new one.")
    }
    pub fn too_many_attempts() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "Too many wrong codes. Start again.")
    }
    pub fn phone_not_supported() -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "phone_not_supported", "We cannot send codes to this phone number.")
    }
    pub fn sms_unavailable() -> Self {
        Self {
            retry_after_secs: Some(60),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sms_unavailable",
                "We could not send a code right now. Try again shortly.",
            )
        }
    }
    pub fn unavailable() -> Self {
        Self {
            retry_after_secs: Some(30),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The service is temporarily unavailable. Try again shortly.",
            )
        }
    }

    pub fn type_uri(&self) -> String {
        format!("urn:simguard:problem:{}", self.slug)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status.as_u16(),
        });
        if let Some(reason) = self.reason {
            body["reason"] = json!(reason);
        }
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after_secs {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Problem::flow_invalid(),
            StoreError::EmailTaken | StoreError::LimitReached => Problem::flow_invalid(),
            StoreError::Unavailable(why) => {
                tracing::error!(error = %why, "store unavailable");
                Problem::unavailable()
            }
        }
    }
}
