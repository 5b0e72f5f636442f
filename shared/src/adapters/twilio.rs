//! Twilio Verify v2: form-encoded requests with PascalCase names, HTTP Basic `AccountSid:AuthToken`,
//! JSON answers; errors are `{code, message, more_info, status}`. A wrong code is a 2xx `pending`.
//! Notices (no code) go through Programmable Messaging on `api.twilio.com`, same account.

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
use crate::ports::{
    OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, ProviderSecrets, SecretSource, SmsSender, TwilioServiceSid,
};

/// Where Twilio Verify is, and which Service sends the codes.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `https://verify.twilio.com`, or the sandbox on loopback.
    pub base_url: Url,
    /// Per call.
    pub timeout: Duration,
    /// The Verify Service (code length, friendly name and Fraud Guard live there).
    pub service_sid: TwilioServiceSid,
}

/// The Twilio Verify v2 client.
pub struct Twilio {
    http: reqwest::Client,
    base: Url,
    /// Programmable Messaging: `https://api.twilio.com` beside Twilio's own Verify host, else (the
    /// sandbox) the same base.
    messaging: Url,
    timeout: Duration,
    secrets: Arc<dyn SecretSource>,
    service_sid: TwilioServiceSid,
}

#[derive(Deserialize)]
struct Verification {
    sid: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct Checked {
    status: String,
    valid: bool,
}

#[derive(Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<u32>,
}

/// The Twilio error code of a refused answer (`{"code": 60203, …}`), if its body says one.
async fn error_code(resp: reqwest::Response) -> Option<u32> {
    let body = read_body(resp).await.ok()?;
    serde_json::from_slice::<TwilioError>(&body).ok()?.code
}

impl Twilio {
    /// A client; nothing is sent until the first call.
    pub fn new(config: TwilioConfig, secrets: Arc<dyn SecretSource>) -> Result<Self, ClientError> {
        let http = build_client("Twilio", &config.base_url, config.timeout)?;
        let messaging = match config.base_url.host_str() {
            Some("verify.twilio.com") => {
                Url::parse("https://api.twilio.com").map_err(|_| ClientError::Build { provider: "Twilio" })?
            }
            _ => config.base_url.clone(),
        };
        Ok(Self {
            http,
            base: config.base_url,
            messaging,
            timeout: config.timeout,
            secrets,
            service_sid: config.service_sid,
        })
    }

    async fn post(
        &self,
        path: &str,
        key: &str,
        secret: &SecretString,
        form: &[(&str, &str)],
    ) -> Result<Result<reqwest::Response, (u16, Option<u32>)>, OtpError> {
        let url = join(&self.base, &format!("/v2/Services/{}/{path}", self.service_sid.as_str()));
        let resp = send(Retry::ConnectOnly, self.timeout, || {
            self.http.post(&url).basic_auth(key, Some(secret.expose_secret())).form(form)
        })
        .await?;
        if resp.status().is_success() {
            return Ok(Ok(resp));
        }
        let status = resp.status().as_u16();
        let code = error_code(resp).await;
        Ok(Err((status, code)))
    }

    async fn start_once(&self, key: &str, secret: &SecretString, to: &Phone) -> Result<OtpReference, OtpError> {
        match self.post("Verifications", key, secret, &[("To", to.e164()), ("Channel", "sms")]).await? {
            Ok(resp) => {
                let v: Verification = decode(resp).await?;
                OtpReference::parse(&v.sid)
                    .filter(|r| r.as_str().starts_with("VE"))
                    .ok_or_else(|| OtpError::InvalidResponse("sid".into()))
            }
            Err((_, Some(60200))) => Err(OtpError::NumberRefused { kind: "invalid_number" }),
            Err((_, Some(60205))) => Err(OtpError::NumberRefused { kind: "landline" }),
            // Fraud Guard or Geo Permissions blocked the destination.
            Err((_, Some(60410 | 60605))) => Err(OtpError::NumberRefused { kind: "blocked" }),
            Err((_, Some(60203 | 60212 | 20429))) => Err(OtpError::RateLimited { retry_after_secs: None }),
            Err((status, code)) => Err(other_error(status, code)),
        }
    }

    async fn check_once(
        &self,
        key: &str,
        secret: &SecretString,
        reference: &OtpReference,
        code: &OtpCode,
    ) -> Result<OtpCheck, OtpError> {
        match self
            .post("VerificationCheck", key, secret, &[("VerificationSid", reference.as_str()), ("Code", code.expose())])
            .await?
        {
            Ok(resp) => {
                let c: Checked = decode(resp).await?;
                match (c.status.as_str(), c.valid) {
                    ("approved", true) => Ok(OtpCheck::Approved),
                    ("pending", false) => Ok(OtpCheck::Wrong),
                    ("max_attempts_reached", _) => Ok(OtpCheck::TooManyAttempts),
                    ("canceled" | "expired" | "failed" | "deleted", _) => Ok(OtpCheck::Expired),
                    // "approved" without `valid`, or anything new: not a pass.
                    _ => Err(OtpError::InvalidResponse("status".into())),
                }
            }
            Err((_, Some(60202))) => Ok(OtpCheck::TooManyAttempts),
            // Approved, expired or deleted verifications are gone.
            Err((404, _)) => Ok(OtpCheck::Expired),
            Err((status, code)) => Err(other_error(status, code)),
        }
    }
}

#[derive(Deserialize)]
struct Message {
    sid: String,
    #[serde(default)]
    status: Option<String>,
}

impl Twilio {
    /// A notice through Programmable Messaging: 201 and a message `SM…` that is not already
    /// `failed` is sent.
    async fn notice_once(
        &self,
        key: &str,
        secret: &SecretString,
        to: &Phone,
        from: &SmsSender,
        text: &str,
    ) -> Result<(), OtpError> {
        // The account SID is a path segment: only its documented form goes into a URL.
        if !(key.len() == 34 && key.starts_with("AC") && key[2..].bytes().all(|c| c.is_ascii_hexdigit())) {
            return Err(OtpError::Unauthorized);
        }
        let url = join(&self.messaging, &format!("/2010-04-01/Accounts/{key}/Messages.json"));
        let sender = if from.is_messaging_service() { "MessagingServiceSid" } else { "From" };
        let form = [("To", to.e164()), ("Body", text), (sender, from.as_str())];
        let resp = send(Retry::ConnectOnly, self.timeout, || {
            self.http.post(&url).basic_auth(key, Some(secret.expose_secret())).form(&form)
        })
        .await?;
        if resp.status().is_success() {
            let m: Message = decode(resp).await?;
            return match m.status.as_deref() {
                _ if !m.sid.starts_with("SM") && !m.sid.starts_with("MM") => {
                    Err(OtpError::InvalidResponse("sid".into()))
                }
                Some("failed" | "undelivered" | "canceled") => Err(OtpError::Unavailable("message failed".into())),
                _ => Ok(()),
            };
        }
        let status = resp.status().as_u16();
        let code = error_code(resp).await;
        Err(match code {
            Some(21211 | 21614) => OtpError::NumberRefused { kind: "invalid_number" },
            // The recipient replied STOP to this sender.
            Some(21610) => OtpError::NumberRefused { kind: "opted_out" },
            // Geo Permissions do not allow the destination.
            Some(21408 | 21612) => OtpError::NumberRefused { kind: "blocked" },
            _ => other_error(status, code),
        })
    }

    /// Reads the verification: `approved` is approved; any other status is not; 404 (Twilio deletes a
    /// verification once approved, expired or cancelled) cannot tell.
    async fn approved_once(
        &self,
        key: &str,
        secret: &SecretString,
        reference: &OtpReference,
    ) -> Result<Option<bool>, OtpError> {
        let url = join(
            &self.base,
            &format!("/v2/Services/{}/Verifications/{}", self.service_sid.as_str(), reference.as_str()),
        );
        let resp = send(Retry::Idempotent { retries: 1 }, self.timeout, || {
            self.http.get(&url).basic_auth(key, Some(secret.expose_secret()))
        })
        .await?;
        match resp.status().as_u16() {
            200 => {
                let v: Verification = decode(resp).await?;
                if v.sid != reference.as_str() {
                    return Err(OtpError::InvalidResponse("sid".into()));
                }
                Ok(Some(v.status.as_deref() == Some("approved")))
            }
            404 => Ok(None),
            status => Err(other_error(status, None)),
        }
    }

    async fn cancel_once(&self, key: &str, secret: &SecretString, reference: &OtpReference) -> Result<(), OtpError> {
        match self
            .post(&format!("Verifications/{}", reference.as_str()), key, secret, &[("Status", "canceled")])
            .await?
        {
            Ok(_) => Ok(()),
            // Approved, expired or already canceled: nothing is in flight.
            Err((404, _)) => Ok(()),
            Err((status, code)) => Err(other_error(status, code)),
        }
    }
}

fn twilio_credentials(s: &ProviderSecrets) -> Option<(String, SecretString)> {
    Some((s.twilio_account_sid.clone()?, s.twilio_auth_token.clone()?))
}

fn other_error(status: u16, code: Option<u32>) -> OtpError {
    match (status, code) {
        (401 | 403, _) | (_, Some(20003)) => OtpError::Unauthorized,
        (429, _) => OtpError::RateLimited { retry_after_secs: None },
        (s, c) => OtpError::Unavailable(format!("status {s} code {c:?}")),
    }
}

#[async_trait]
impl OtpProvider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn start(&self, to: &Phone, _client_ref: &str) -> Result<OtpReference, OtpError> {
        with_rotating_credentials(&*self.secrets, twilio_credentials, |key, secret| async move {
            self.start_once(&key, &secret, to).await
        })
        .await
    }

    async fn check(&self, reference: &OtpReference, _to: &Phone, code: &OtpCode) -> Result<OtpCheck, OtpError> {
        with_rotating_credentials(&*self.secrets, twilio_credentials, |key, secret| async move {
            self.check_once(&key, &secret, reference, code).await
        })
        .await
    }

    async fn cancel(&self, reference: &OtpReference) -> Result<(), OtpError> {
        with_rotating_credentials(&*self.secrets, twilio_credentials, |key, secret| async move {
            self.cancel_once(&key, &secret, reference).await
        })
        .await
    }

    async fn approved(&self, reference: &OtpReference) -> Result<Option<bool>, OtpError> {
        with_rotating_credentials(&*self.secrets, twilio_credentials, |key, secret| async move {
            self.approved_once(&key, &secret, reference).await
        })
        .await
    }

    /// Twilio Verify checks at most five codes per verification (then `max_attempts_reached`).
    fn max_checks(&self) -> u32 {
        5
    }

    async fn send_notice(&self, to: &Phone, from: &SmsSender, text: &str) -> Result<(), OtpError> {
        with_rotating_credentials(&*self.secrets, twilio_credentials, |key, secret| async move {
            self.notice_once(&key, &secret, to, from, text).await
        })
        .await
    }
}
