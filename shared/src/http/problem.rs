//! RFC 9457 problem details with stable `type`s. Internal errors are logged, never echoed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ports::{HashError, RandomError, StoreError};

/// An error answer: the one mapping from what went wrong to `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable code: the `type` is `urn:simguard:problem:<slug>`.
    pub slug: &'static str,
    /// A fixed sentence for people.
    pub title: &'static str,
    /// `Retry-After`, when trying later can help.
    pub retry_after_secs: Option<u64>,
    /// A fixed sub-code (for example why a password was refused); never free text.
    pub reason: Option<&'static str>,
    /// After a wrong code: how many more codes this flow may try.
    pub attempts_left: Option<u32>,
}

impl Problem {
    /// A problem with this status, slug and title.
    pub const fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        Self { status, slug, title, retry_after_secs: None, reason: None, attempts_left: None }
    }

    /// With a fixed sub-code.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// 400: the body is not what the endpoint expects.
    pub fn invalid_request() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", "The request body is not the JSON this endpoint expects.")
    }
    /// 400: not an email address.
    pub fn invalid_email() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_email", "That is not a valid email address.")
    }
    /// 400: not a phone number we can use.
    pub fn invalid_phone() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_phone",
            "That is not a phone number a phone can have: check it, or add + and the country code.",
        )
    }
    /// 400: the password policy refused it; `reason` says why.
    pub fn weak_password(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "weak_password", "That password cannot be used.").with_reason(reason)
    }
    /// 415: not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the request body as application/json.",
        )
    }
    /// 413: too large.
    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large.")
    }
    /// 408: the body did not arrive in time (the local stack; API Gateway buffers bodies).
    pub fn request_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "The request body did not arrive in time.")
    }
    /// 403: did not come through CloudFront.
    pub fn origin_rejected() -> Self {
        Self::new(StatusCode::FORBIDDEN, "origin_rejected", "Requests must come through the site.")
    }
    /// 403: cross-site, or without the synchronizer token.
    pub fn csrf_rejected() -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf_rejected", "This request did not come from this site.")
    }
    /// 429: a limit was reached.
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
    /// 401: the verification API's caller presented no API key, or not a live one of a site.
    pub fn api_key_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "Present a live API key of your site in X-Simguard-Api-Key.",
        )
    }
    /// 400: the return URL is not one the site registered, exactly.
    pub fn return_url_not_registered() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "return_url_not_registered",
            "The return URL is not one of the site's registered return URLs.",
        )
    }
    /// 400: not a result token of ours for this site (forged, tampered, another site's, not a JWT).
    pub fn result_token_invalid() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "result_token_invalid", "That is not a valid result token for this site.")
    }
    /// 400: a result token past its life.
    pub fn result_token_expired() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "result_token_expired", "That result token has expired.")
    }
    /// 409: a result token redeemed before.
    pub fn result_token_used() -> Self {
        Self::new(StatusCode::CONFLICT, "result_token_used", "That result token was already redeemed.")
    }
    /// 503: the verification API has no signing keys configured.
    pub fn verifications_unavailable() -> Self {
        Self {
            retry_after_secs: Some(60),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "verifications_unavailable",
                "Verifications are not available: no result signing key is configured.",
            )
        }
    }
    /// 401: not signed in.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Sign in to continue.")
    }
    /// 401: wrong email or password (one answer for both).
    pub fn invalid_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "The email or password is not correct.")
    }
    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "There is nothing here.")
    }
    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.")
    }
    /// 400: the wrong code.
    pub fn code_invalid() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "code_invalid", "That code is not right.")
    }
    /// 409: the code expired; a new one is needed.
    pub fn code_expired() -> Self {
        Self::new(StatusCode::CONFLICT, "code_expired", "That code has expired. Ask for a new one.")
    }
    /// 429: too many wrong codes; the flow is over.
    pub fn too_many_attempts() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "Too many wrong codes. Start again.")
    }
    /// 422: we do not text this number.
    pub fn phone_not_supported() -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "phone_not_supported", "We cannot send codes to this phone number.")
    }
    /// 503: the SMS provider could not be reached.
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
    /// 503: try again shortly.
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

    /// The `type` member: `urn:simguard:problem:<slug>`.
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
        if let Some(left) = self.attempts_left {
            body["attempts_left"] = json!(left);
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

impl From<RandomError> for Problem {
    fn from(e: RandomError) -> Self {
        tracing::error!(error = %e, "no randomness available");
        Problem::unavailable()
    }
}

impl From<HashError> for Problem {
    fn from(e: HashError) -> Self {
        tracing::error!(error = %e, "password hashing failed");
        Problem::unavailable()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Problem::flow_invalid(),
            StoreError::EmailTaken(_) | StoreError::LimitReached => Problem::flow_invalid(),
            StoreError::Unavailable(why) => {
                tracing::error!(error = %why, "store unavailable");
                Problem::unavailable()
            }
        }
    }
}
