//! Vonage Verify, v1 (`/verify/json`, string statuses in always-200 bodies) and v2 (`/v2/verify`,
//! problem+json errors). Both authenticate with HTTP Basic `api_key:api_secret`, send SMS only
//! (v1 workflow 6; a v2 `sms` workflow) and let Vonage generate a 6-digit code. Notices (no code) go
//! through Vonage's SMS API on `rest.nexmo.com`, same key and secret.

mod silent;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::adapters::http_client::{
    ClientError, Retry, build_client, decode, join, read_body, send, with_rotating_credentials,
};
use crate::domain::Phone;
use crate::ports::{OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, ProviderSecrets, SecretSource, SmsSender};

pub use silent::VonageSilentAuth;

/// The code Vonage generates: 6 digits (≈ 20 bits; docs/security.md C2).
const CODE_LENGTH: &str = "6";
/// How long a v1 PIN / v2 channel lives, in seconds: inside our 10-minute flow.
const CODE_TTL_SECS: u32 = 300;

/// Where Vonage is and how its SMS reads.
#[derive(Debug, Clone)]
pub struct VonageConfig {
    /// `https://api.nexmo.com`, or the sandbox on loopback.
    pub base_url: Url,
    /// Per call.
    pub timeout: Duration,
    /// Shown in the SMS ("Your <brand> code is …"): 1–18 characters.
    pub brand: String,
}

struct Vonage {
    http: reqwest::Client,
    base: Url,
    /// The SMS API: `https://rest.nexmo.com` beside Vonage's own API host, else (the sandbox) the
    /// same base.
    messaging: Url,
    timeout: Duration,
    secrets: Arc<dyn SecretSource>,
    brand: String,
}

impl Vonage {
    fn new(config: VonageConfig, secrets: Arc<dyn SecretSource>) -> Result<Self, ClientError> {
        let http = build_client("Vonage", &config.base_url, config.timeout)?;
        let messaging = match config.base_url.host_str() {
            Some("api.nexmo.com") => {
                Url::parse("https://rest.nexmo.com").map_err(|_| ClientError::Build { provider: "Vonage" })?
            }
            _ => config.base_url.clone(),
        };
        Ok(Self { http, base: config.base_url, messaging, timeout: config.timeout, secrets, brand: config.brand })
    }

    /// A notice through the SMS API: always 200; every part of the message must say `"0"`.
    async fn notice_once(
        &self,
        key: &str,
        secret: &SecretString,
        to: &Phone,
        from: &SmsSender,
        text: &str,
    ) -> Result<(), OtpError> {
        let url = join(&self.messaging, "/sms/json");
        let form = [("from", from.as_str()), ("to", to.digits()), ("text", text)];
        let resp = send(Retry::ConnectOnly, self.timeout, || {
            self.http.post(&url).basic_auth(key, Some(secret.expose_secret())).form(&form)
        })
        .await?;
        if !resp.status().is_success() {
            return Err(status_error(resp.status().as_u16(), retry_after(&resp)));
        }
        let sent: SmsSent = decode(resp).await?;
        let statuses: Vec<String> = sent.messages.iter().map(|m| m.status.code()).collect();
        match statuses.iter().find(|s| s.as_str() != "0").map(String::as_str) {
            None if !statuses.is_empty() => Ok(()),
            None => Err(OtpError::InvalidResponse("messages".into())),
            Some("1") => Err(OtpError::RateLimited { retry_after_secs: None }),
            Some("4" | "8" | "14") => Err(OtpError::Unauthorized),
            // Unroutable, barred, or (a trial account) not a permitted destination.
            Some("6") => Err(OtpError::NumberRefused { kind: "unroutable" }),
            Some("7") => Err(OtpError::NumberRefused { kind: "barred" }),
            Some("29") => Err(OtpError::NumberRefused { kind: "not_allowed" }),
            Some(other) => Err(OtpError::Unavailable(format!("sms status {other}"))),
        }
    }
}

impl Vonage {
    async fn send_notice(&self, to: &Phone, from: &SmsSender, text: &str) -> Result<(), OtpError> {
        with_rotating_credentials(&*self.secrets, vonage_credentials, |key, secret| async move {
            self.notice_once(&key, &secret, to, from, text).await
        })
        .await
    }
}

/// The SMS API's answer: one entry per part of the message.
#[derive(Deserialize)]
struct SmsSent {
    #[serde(default)]
    messages: Vec<SmsPart>,
}

#[derive(Deserialize)]
struct SmsPart {
    status: V1Status,
}

/// An HTTP status outside the provider's own answers.
fn status_error(status: u16, retry_after: Option<u64>) -> OtpError {
    match status {
        401 | 403 => OtpError::Unauthorized,
        429 => OtpError::RateLimited { retry_after_secs: retry_after },
        s if s >= 500 => OtpError::Unavailable(format!("status {s}")),
        s => OtpError::InvalidResponse(format!("status {s}")),
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

fn vonage_credentials(s: &ProviderSecrets) -> Option<(String, SecretString)> {
    Some((s.vonage_api_key.clone()?, s.vonage_api_secret.clone()?))
}

/// Vonage answers v1 statuses as strings (`"0"`); accept a bare number too, it means the same.
#[derive(Deserialize)]
#[serde(untagged)]
enum V1Status {
    Text(String),
    Number(u32),
}

impl V1Status {
    fn code(&self) -> String {
        match self {
            V1Status::Text(s) => s.clone(),
            V1Status::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct V1Answer {
    status: V1Status,
    request_id: Option<String>,
}

/// Vonage Verify v1.
pub struct VonageV1(Vonage);

impl VonageV1 {
    /// A client; nothing is sent until the first call.
    pub fn new(config: VonageConfig, secrets: Arc<dyn SecretSource>) -> Result<Self, ClientError> {
        Vonage::new(config, secrets).map(Self)
    }

    async fn post(
        &self,
        path: &str,
        key: &str,
        secret: &SecretString,
        form: &[(&str, &str)],
    ) -> Result<V1Answer, OtpError> {
        let url = join(&self.0.base, path);
        let resp = send(Retry::ConnectOnly, self.0.timeout, || {
            self.0.http.post(&url).basic_auth(key, Some(secret.expose_secret())).form(form)
        })
        .await?;
        if !resp.status().is_success() {
            return Err(status_error(resp.status().as_u16(), retry_after(&resp)));
        }
        Ok(decode(resp).await?)
    }

    async fn start_once(&self, key: &str, secret: &SecretString, to: &Phone) -> Result<OtpReference, OtpError> {
        let form = [
            ("number", to.digits()),
            ("brand", self.0.brand.as_str()),
            ("workflow_id", "6"),
            ("code_length", CODE_LENGTH),
            ("pin_expiry", &CODE_TTL_SECS.to_string()),
        ];
        let answer = self.post("/verify/json", key, secret, &form).await?;
        let reference = answer.request_id.as_deref().and_then(OtpReference::parse);
        match answer.status.code().as_str() {
            "0" => reference.ok_or_else(|| OtpError::InvalidResponse("request_id".into())),
            "10" => Err(OtpError::InFlight { reference }),
            "1" => Err(OtpError::RateLimited { retry_after_secs: None }),
            "4" => Err(OtpError::Unauthorized),
            "3" => Err(OtpError::NumberRefused { kind: "invalid_number" }),
            "6" => Err(OtpError::NumberRefused { kind: "unroutable" }),
            "7" => Err(OtpError::NumberRefused { kind: "blocked" }),
            "15" => Err(OtpError::NumberRefused { kind: "unsupported_network" }),
            "29" => Err(OtpError::NumberRefused { kind: "not_permitted" }),
            // 2 missing parameter, 5 internal, 8 barred, 9 no credit, 20 pin_code: not the user's doing.
            s @ ("2" | "5" | "8" | "9" | "20") => Err(OtpError::Unavailable(format!("vonage status {s}"))),
            _ => Err(OtpError::InvalidResponse("unknown status".into())),
        }
    }

    async fn check_once(
        &self,
        key: &str,
        secret: &SecretString,
        reference: &OtpReference,
        code: &OtpCode,
    ) -> Result<OtpCheck, OtpError> {
        let form = [("request_id", reference.as_str()), ("code", code.expose())];
        let answer = self.post("/verify/check/json", key, secret, &form).await?;
        match answer.status.code().as_str() {
            "0" => Ok(OtpCheck::Approved),
            "16" => Ok(OtpCheck::Wrong),
            "17" => Ok(OtpCheck::TooManyAttempts),
            // Not found, or already verified / failed / expired / cancelled.
            "6" => Ok(OtpCheck::Expired),
            "1" => Err(OtpError::RateLimited { retry_after_secs: None }),
            "4" => Err(OtpError::Unauthorized),
            s @ ("2" | "3" | "5") => Err(OtpError::Unavailable(format!("vonage status {s}"))),
            _ => Err(OtpError::InvalidResponse("unknown status".into())),
        }
    }
    /// The search endpoint: `SUCCESS` is an approved verification; any other state is not; 101 (no
    /// such request, or Vonage's search has not caught up yet) cannot tell.
    async fn approved_once(
        &self,
        key: &str,
        secret: &SecretString,
        reference: &OtpReference,
    ) -> Result<Option<bool>, OtpError> {
        let answer = self.post("/verify/search/json", key, secret, &[("request_id", reference.as_str())]).await?;
        let about_it = answer.request_id.as_deref() == Some(reference.as_str());
        match answer.status.code().as_str() {
            "SUCCESS" if about_it => Ok(Some(true)),
            "IN PROGRESS" | "FAILED" | "EXPIRED" | "CANCELLED" if about_it => Ok(Some(false)),
            "101" => Ok(None),
            "1" => Err(OtpError::RateLimited { retry_after_secs: None }),
            "4" => Err(OtpError::Unauthorized),
            s @ ("2" | "3" | "5") => Err(OtpError::Unavailable(format!("vonage status {s}"))),
            _ => Err(OtpError::InvalidResponse("unknown search status".into())),
        }
    }

    async fn cancel_once(&self, key: &str, secret: &SecretString, reference: &OtpReference) -> Result<(), OtpError> {
        let form = [("request_id", reference.as_str()), ("cmd", "cancel")];
        let answer = self.post("/verify/control/json", key, secret, &form).await?;
        match answer.status.code().as_str() {
            // Cancelled, or no longer in progress (verified, expired, cancelled, unknown).
            "0" | "6" => Ok(()),
            // Within its first 30 seconds, or past its second event.
            "19" => Err(OtpError::NotCancellable),
            "1" => Err(OtpError::RateLimited { retry_after_secs: None }),
            "4" => Err(OtpError::Unauthorized),
            s @ ("2" | "3" | "5") => Err(OtpError::Unavailable(format!("vonage status {s}"))),
            _ => Err(OtpError::InvalidResponse("unknown status".into())),
        }
    }
}

/// Vonage ends a verification at its third wrong code (v1: status 17; v2: the request fails).
const MAX_WRONG_CODES: u32 = 3;

#[async_trait]
impl OtpProvider for VonageV1 {
    fn name(&self) -> &'static str {
        "vonage-v1"
    }

    async fn start(&self, to: &Phone, _client_ref: &str) -> Result<OtpReference, OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.start_once(&key, &secret, to).await
        })
        .await
    }

    async fn check(&self, reference: &OtpReference, _to: &Phone, code: &OtpCode) -> Result<OtpCheck, OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.check_once(&key, &secret, reference, code).await
        })
        .await
    }

    async fn cancel(&self, reference: &OtpReference) -> Result<(), OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.cancel_once(&key, &secret, reference).await
        })
        .await
    }

    async fn approved(&self, reference: &OtpReference) -> Result<Option<bool>, OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.approved_once(&key, &secret, reference).await
        })
        .await
    }

    fn in_flight_window_secs(&self) -> Option<u64> {
        Some(u64::from(CODE_TTL_SECS))
    }

    fn max_checks(&self) -> u32 {
        MAX_WRONG_CODES
    }

    fn ends_on_last_wrong_code(&self) -> bool {
        true
    }

    async fn send_notice(&self, to: &Phone, from: &SmsSender, text: &str) -> Result<(), OtpError> {
        self.0.send_notice(to, from, text).await
    }
}

#[derive(Deserialize)]
struct V2Started {
    request_id: String,
}

#[derive(Deserialize)]
struct V2Checked {
    status: String,
}

/// The parts of a v2 problem we act on.
#[derive(Deserialize, Default)]
struct V2Problem {
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

/// Vonage Verify v2.
pub struct VonageV2(Vonage);

impl VonageV2 {
    /// A client; nothing is sent until the first call.
    pub fn new(config: VonageConfig, secrets: Arc<dyn SecretSource>) -> Result<Self, ClientError> {
        Vonage::new(config, secrets).map(Self)
    }

    async fn problem(resp: reqwest::Response) -> (u16, Option<u64>, V2Problem) {
        let status = resp.status().as_u16();
        let after = retry_after(&resp);
        let body = read_body(resp).await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        (status, after, body)
    }

    async fn start_once(
        &self,
        key: &str,
        secret: &SecretString,
        to: &Phone,
        client_ref: &str,
    ) -> Result<OtpReference, OtpError> {
        let url = join(&self.0.base, "/v2/verify");
        let body = serde_json::json!({
            "brand": self.0.brand,
            "workflow": [{ "channel": "sms", "to": to.digits() }],
            "code_length": 6,
            "channel_timeout": CODE_TTL_SECS,
            "client_ref": client_ref,
        });
        let resp = send(Retry::ConnectOnly, self.0.timeout, || {
            self.0.http.post(&url).basic_auth(key, Some(secret.expose_secret())).json(&body)
        })
        .await?;
        if resp.status().is_success() {
            let started: V2Started = decode(resp).await?;
            return OtpReference::parse(&started.request_id)
                .ok_or_else(|| OtpError::InvalidResponse("request_id".into()));
        }
        match Self::problem(resp).await {
            (409, _, p) => Err(OtpError::InFlight { reference: p.request_id.as_deref().and_then(OtpReference::parse) }),
            (422, _, _) => Err(OtpError::NumberRefused { kind: "invalid_number" }),
            (412, _, _) => Err(OtpError::NumberRefused { kind: "unsupported_network" }),
            (402, _, _) => Err(OtpError::Unavailable("vonage low balance".into())),
            (status, after, _) => Err(status_error(status, after)),
        }
    }

    async fn check_once(
        &self,
        key: &str,
        secret: &SecretString,
        reference: &OtpReference,
        code: &OtpCode,
    ) -> Result<OtpCheck, OtpError> {
        let url = join(&self.0.base, &format!("/v2/verify/{}", reference.as_str()));
        let body = serde_json::json!({ "code": code.expose() });
        let resp = send(Retry::ConnectOnly, self.0.timeout, || {
            self.0.http.post(&url).basic_auth(key, Some(secret.expose_secret())).json(&body)
        })
        .await?;
        if resp.status().is_success() {
            let checked: V2Checked = decode(resp).await?;
            return match checked.status.as_str() {
                "completed" => Ok(OtpCheck::Approved),
                _ => Err(OtpError::InvalidResponse("status".into())),
            };
        }
        match Self::problem(resp).await {
            (400, _, _) => Ok(OtpCheck::Wrong),
            // 410 is both "too many wrong codes" and "expired"; only the text tells them apart.
            (410, _, p) if p.detail.as_deref().is_some_and(|d| d.contains("too many")) => Ok(OtpCheck::TooManyAttempts),
            (404 | 409 | 410, _, _) => Ok(OtpCheck::Expired),
            (status, after, _) => Err(status_error(status, after)),
        }
    }

    async fn cancel_once(&self, key: &str, secret: &SecretString, reference: &OtpReference) -> Result<(), OtpError> {
        let url = join(&self.0.base, &format!("/v2/verify/{}", reference.as_str()));
        let resp = send(Retry::ConnectOnly, self.0.timeout, || {
            self.0.http.delete(&url).basic_auth(key, Some(secret.expose_secret()))
        })
        .await?;
        match resp.status().as_u16() {
            // Vonage documents only these two. A 404 is "gone" or "not cancellable now"; the caller
            // learns which when its next start is still refused as in flight.
            204 | 404 => Ok(()),
            status => Err(status_error(status, retry_after(&resp))),
        }
    }
}

#[async_trait]
impl OtpProvider for VonageV2 {
    fn name(&self) -> &'static str {
        "vonage-v2"
    }

    async fn start(&self, to: &Phone, client_ref: &str) -> Result<OtpReference, OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.start_once(&key, &secret, to, client_ref).await
        })
        .await
    }

    async fn check(&self, reference: &OtpReference, _to: &Phone, code: &OtpCode) -> Result<OtpCheck, OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.check_once(&key, &secret, reference, code).await
        })
        .await
    }

    async fn cancel(&self, reference: &OtpReference) -> Result<(), OtpError> {
        with_rotating_credentials(&*self.0.secrets, vonage_credentials, |key, secret| async move {
            self.cancel_once(&key, &secret, reference).await
        })
        .await
    }

    fn in_flight_window_secs(&self) -> Option<u64> {
        Some(u64::from(CODE_TTL_SECS))
    }

    fn max_checks(&self) -> u32 {
        MAX_WRONG_CODES
    }

    fn ends_on_last_wrong_code(&self) -> bool {
        true
    }

    async fn send_notice(&self, to: &Phone, from: &SmsSender, text: &str) -> Result<(), OtpError> {
        self.0.send_notice(to, from, text).await
    }
}
