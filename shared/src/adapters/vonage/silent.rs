//! Vonage Verify v2 silent authentication as a silent prover: `POST /v2/verify` with a workflow of
//! one `silent_auth` step (the SMS fallback is simguard's own, with its limits and SIM-swap gate),
//! whose `redirect_url` is the site's return page; the device opens `check_url` over mobile data and
//! Vonage sends it to that page with `#request_id=…&code=…` in the fragment, which no server sees:
//! the page posts it to the callback, bound to the flow's cookie. One `POST /v2/verify/{id}` with
//! the code completes it (silent auth allows one attempt). Vonage's verdict says nothing of the SIM:
//! a match is followed by the SIM-swap gate.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{V2Checked, Vonage, VonageConfig, retry_after, status_error, vonage_credentials};
use crate::adapters::http_client::{
    ClientError, Retry, decode, join, read_body, same_origin, send, with_rotating_credentials,
};
use crate::domain::{CheckOutcome, Phone};
use crate::ports::{OtpError, ProviderFailure, RedirectParams, SecretSource, SilentProver, SilentReport, SilentStart};

/// How long the silent step waits for the device, in seconds.
const SILENT_TIMEOUT_SECS: u32 = 60;

/// The started request: its id and the URL the device opens.
#[derive(Deserialize)]
struct SilentStarted {
    request_id: String,
    #[serde(default)]
    check_url: Option<String>,
}

/// Vonage's `request_id`: a UUID in its hyphenated, lower-case form.
fn is_request_id(raw: &str) -> bool {
    raw.len() == 36
        && raw.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// The code the redirect brings: 4 to 10 letters or digits.
fn is_code(raw: &str) -> bool {
    (4..=10).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Vonage Verify v2 silent authentication.
pub struct VonageSilentAuth {
    client: Vonage,
    /// The site's page that reads the redirect's fragment and posts it to the callback.
    return_url: String,
}

impl VonageSilentAuth {
    /// A client; nothing is sent until the first proof. `return_url` is the site's return page.
    pub fn new(config: VonageConfig, secrets: Arc<dyn SecretSource>, return_url: String) -> Result<Self, ClientError> {
        Ok(Self { client: Vonage::new(config, secrets)?, return_url })
    }

    async fn start_once(&self, key: &str, secret: &SecretString, phone: &Phone) -> Result<SilentStart, OtpError> {
        let c = &self.client;
        let url = join(&c.base, "/v2/verify");
        let body = serde_json::json!({
            "brand": c.brand,
            "workflow": [{ "channel": "silent_auth", "to": phone.digits(), "redirect_url": self.return_url }],
            // The page opens `check_url` at once; while the request lives, Vonage refuses any other
            // Verify v2 request to the number (an SMS code): keep that window short.
            "channel_timeout": SILENT_TIMEOUT_SECS,
        });
        // Not retried beyond a refused connection: a second start would be a second request.
        let resp = send(Retry::ConnectOnly, c.timeout, || {
            c.http.post(&url).basic_auth(key, Some(secret.expose_secret())).json(&body)
        })
        .await?;
        match resp.status().as_u16() {
            202 | 200 => {
                let started: SilentStarted = decode(resp).await?;
                // On Vonage's own origin only: an answer never sends the device anywhere else.
                let check_url =
                    started.check_url.filter(|u| url::Url::parse(u).is_ok_and(|u| same_origin(&c.base, &u)));
                match (is_request_id(&started.request_id), check_url) {
                    (true, Some(check_url)) => Ok(SilentStart {
                        handle: started.request_id,
                        device_url: SecretString::from(check_url),
                        secret: None,
                    }),
                    // No `check_url`: silent auth is not available for this request.
                    (true, None) => Err(OtpError::NumberRefused { kind: "unsupported_network" }),
                    (false, _) => Err(OtpError::InvalidResponse("request_id".into())),
                }
            }
            // The number's network does not support silent auth.
            412 => Err(OtpError::NumberRefused { kind: "unsupported_network" }),
            422 => Err(OtpError::NumberRefused { kind: "invalid_number" }),
            // A verification to this number is in flight (an SMS code, say): not ours to reuse.
            409 => Err(OtpError::InFlight { reference: None }),
            402 => Err(OtpError::Unavailable("vonage low balance".into())),
            status => Err(status_error(status, retry_after(&resp))),
        }
    }

    async fn complete_once(
        &self,
        key: &str,
        secret: &SecretString,
        request_id: &str,
        code: &str,
    ) -> Result<CheckOutcome, OtpError> {
        let c = &self.client;
        let url = join(&c.base, &format!("/v2/verify/{request_id}"));
        let body = serde_json::json!({ "code": code });
        let resp = send(Retry::ConnectOnly, c.timeout, || {
            c.http.post(&url).basic_auth(key, Some(secret.expose_secret())).json(&body)
        })
        .await?;
        let status = resp.status().as_u16();
        if status == 200 {
            let checked: V2Checked = decode(resp).await?;
            return match checked.status.as_str() {
                "completed" => Ok(CheckOutcome::Verified),
                _ => Err(OtpError::InvalidResponse("status".into())),
            };
        }
        let after = retry_after(&resp);
        let _ = read_body(resp).await;
        match status {
            // A code that is not this request's (400), a request that is gone, finished, expired or
            // past its one attempt (404, 409, 410): no proof — never a pass, and not a "mismatch"
            // either, which Vonage does not report as such.
            400 | 404 | 409 | 410 => Ok(CheckOutcome::Error),
            s => Err(status_error(s, after)),
        }
    }
}

#[async_trait]
impl SilentProver for VonageSilentAuth {
    fn name(&self) -> &'static str {
        "vonage"
    }

    async fn covers(&self, _ip: IpAddr) -> Result<Option<bool>, ProviderFailure> {
        // Vonage tells only when the request is made (412, or no `check_url`).
        Ok(None)
    }

    async fn start(&self, phone: &Phone, _redirect_url: &str, _window: u32) -> Result<SilentStart, ProviderFailure> {
        let c = &self.client;
        with_rotating_credentials(&*c.secrets, vonage_credentials, |key, secret| async move {
            self.start_once(&key, &secret, phone).await
        })
        .await
        .map_err(|e| ProviderFailure::from_fault(&e))
    }

    fn presented_handle(&self, redirect: &RedirectParams) -> Option<String> {
        redirect.get("request_id").filter(|r| is_request_id(r)).cloned()
    }

    fn redirect_error(&self, redirect: &RedirectParams) -> Option<&'static str> {
        // Vonage documents only the success fragment; anything that is not a code is a failure.
        match redirect.get("code") {
            Some(code) if is_code(code) && !redirect.contains_key("error") => None,
            _ if redirect.contains_key("error") => Some("other"),
            _ => Some("no_code"),
        }
    }

    async fn complete(
        &self,
        handle: &str,
        _secret: Option<&SecretString>,
        redirect: &RedirectParams,
        _phone: &Phone,
        _window: u32,
    ) -> Result<SilentReport, ProviderFailure> {
        if !is_request_id(handle) {
            return Err(ProviderFailure::failure("bad_handle", "request id"));
        }
        let Some(code) = redirect.get("code").filter(|c| is_code(c)) else {
            return Err(ProviderFailure::answer("bad_redirect", "no usable code"));
        };
        let c = &self.client;
        let outcome = with_rotating_credentials(&*c.secrets, vonage_credentials, |key, secret| async move {
            self.complete_once(&key, &secret, handle, code).await
        })
        .await
        .map_err(|e| ProviderFailure::from_fault(&e))?;
        Ok(SilentReport { outcome, sim_checked: false })
    }

    async fn read_back(&self, _handle: &str, _window: u32) -> Result<Option<SilentReport>, ProviderFailure> {
        // Verify v2 has no read of a request's state (only webhooks, which need JWT auth).
        Ok(None)
    }
}
