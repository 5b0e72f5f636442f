//! Twilio Verify Silent Network Auth as a silent prover: a verification with `Channel=sna` gives
//! `sna.url`, which the device requests over mobile data (the carrier recognises the number on the
//! connection); it redirects nowhere, so the page then posts the verification's SID to the callback,
//! bound to the flow's cookie, and a VerificationCheck without a code tells the result:
//! `approved` with `valid` is the proof; otherwise `sna_attempts_error_codes` says why not
//! (60500: the number on the connection is another — a mismatch; any other 605xx: no verdict).
//! Twilio's verdict says nothing of the SIM: a match is followed by the SIM-swap gate.

use std::net::IpAddr;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Twilio, TwilioConfig, other_error, twilio_credentials};
use crate::adapters::http_client::{ClientError, decode, with_rotating_credentials};
use crate::domain::{CheckOutcome, Phone};
use crate::ports::{
    DeviceStep, OtpError, OtpReference, ProviderFailure, RedirectParams, SecretSource, SilentProver, SilentReport,
    SilentStart,
};

/// Twilio's code for "the number on the connection is not the number verified".
const SNA_MISMATCH: u32 = 60500;

#[derive(Deserialize)]
struct SnaUrl {
    url: String,
}

#[derive(Deserialize)]
struct SnaVerification {
    sid: String,
    #[serde(default)]
    sna: Option<SnaUrl>,
}

#[derive(Deserialize)]
struct SnaAttemptError {
    code: u32,
}

#[derive(Deserialize)]
struct SnaChecked {
    status: String,
    valid: bool,
    #[serde(default)]
    sna_attempts_error_codes: Option<Vec<SnaAttemptError>>,
}

/// What a check's answer says.
fn outcome(c: &SnaChecked) -> CheckOutcome {
    let errors = c.sna_attempts_error_codes.as_deref().unwrap_or_default();
    match (c.status.as_str(), c.valid) {
        ("approved", true) if errors.is_empty() => CheckOutcome::Verified,
        _ if errors.last().is_some_and(|e| e.code == SNA_MISMATCH) => CheckOutcome::Mismatch,
        // Pending (the URL was not requested, or not over mobile data), failed, expired, or a
        // verdict with errors beside it: no proof.
        _ => CheckOutcome::Error,
    }
}

/// Twilio Verify Silent Network Auth.
pub struct TwilioSna {
    client: Twilio,
}

impl TwilioSna {
    /// A client; nothing is sent until the first proof.
    pub fn new(config: TwilioConfig, secrets: std::sync::Arc<dyn SecretSource>) -> Result<Self, ClientError> {
        Ok(Self { client: Twilio::new(config, secrets)? })
    }

    async fn start_once(&self, key: &str, secret: &SecretString, phone: &Phone) -> Result<SilentStart, OtpError> {
        match self.client.post("Verifications", key, secret, &[("To", phone.e164()), ("Channel", "sna")]).await? {
            Ok(resp) => {
                let v: SnaVerification = decode(resp).await?;
                let sid = OtpReference::parse(&v.sid)
                    .filter(|r| r.as_str().starts_with("VE"))
                    .ok_or_else(|| OtpError::InvalidResponse("sid".into()))?;
                let url = v
                    .sna
                    .map(|s| s.url)
                    .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")))
                    .ok_or_else(|| OtpError::InvalidResponse("sna.url".into()))?;
                Ok(SilentStart {
                    handle: sid.as_str().to_owned(),
                    device_url: SecretString::from(url),
                    secret: None,
                    device_step: DeviceStep::FetchThenPost(vec![("verification_sid".into(), sid.as_str().to_owned())]),
                })
            }
            // The number, or its carrier, cannot be verified this way (SNA's own 605xx, invalid
            // number, landline).
            Err((_, Some(code))) if (60500..60600).contains(&code) || code == 60200 || code == 60205 => {
                Err(OtpError::NumberRefused { kind: "unsupported_network" })
            }
            Err((_, Some(60203 | 60212 | 20429))) => Err(OtpError::RateLimited { retry_after_secs: None }),
            Err((status, code)) => Err(other_error(status, code)),
        }
    }

    async fn check_once(&self, key: &str, secret: &SecretString, sid: &str) -> Result<CheckOutcome, OtpError> {
        match self.client.post("VerificationCheck", key, secret, &[("VerificationSid", sid)]).await? {
            Ok(resp) => Ok(outcome(&decode::<SnaChecked>(resp).await?)),
            // Approved before, expired or deleted: nothing to prove with.
            Err((404, _)) => Ok(CheckOutcome::Error),
            Err((status, code)) => Err(other_error(status, code)),
        }
    }
}

fn is_verification_sid(raw: &str) -> bool {
    raw.len() == 34 && raw.starts_with("VE") && raw[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn failure(e: &OtpError) -> ProviderFailure {
    ProviderFailure::from_fault(e)
}

#[async_trait]
impl SilentProver for TwilioSna {
    fn name(&self) -> &'static str {
        "twilio-sna"
    }

    async fn covers(&self, _ip: IpAddr) -> Result<Option<bool>, ProviderFailure> {
        // Twilio tells only when the URL is requested.
        Ok(None)
    }

    async fn start(&self, phone: &Phone, _redirect_url: &str, _window: u32) -> Result<SilentStart, ProviderFailure> {
        let c = &self.client;
        with_rotating_credentials(&*c.secrets, twilio_credentials, |key, secret| async move {
            self.start_once(&key, &secret, phone).await
        })
        .await
        .map_err(|e| failure(&e))
    }

    fn presented_handle(&self, redirect: &RedirectParams) -> Option<String> {
        redirect.get("verification_sid").filter(|s| is_verification_sid(s)).cloned()
    }

    fn redirect_error(&self, redirect: &RedirectParams) -> Option<&'static str> {
        // The page reports a request that could not be made at all (offline, blocked).
        redirect.contains_key("error").then_some("device_request_failed")
    }

    async fn complete(
        &self,
        handle: &str,
        _secret: Option<&SecretString>,
        _redirect: &RedirectParams,
        _phone: &Phone,
        _window: u32,
    ) -> Result<SilentReport, ProviderFailure> {
        if !is_verification_sid(handle) {
            return Err(ProviderFailure::failure("bad_handle", "verification sid"));
        }
        let c = &self.client;
        let outcome = with_rotating_credentials(&*c.secrets, twilio_credentials, |key, secret| async move {
            self.check_once(&key, &secret, handle).await
        })
        .await
        .map_err(|e| failure(&e))?;
        Ok(SilentReport { outcome, sim_checked: false })
    }

    async fn read_back(&self, handle: &str, _window: u32) -> Result<Option<SilentReport>, ProviderFailure> {
        let reference = OtpReference::parse(handle).ok_or_else(|| ProviderFailure::failure("bad_handle", "sid"))?;
        let c = &self.client;
        let approved = with_rotating_credentials(&*c.secrets, twilio_credentials, |key, secret| {
            let reference = reference.clone();
            async move { c.approved_once(&key, &secret, &reference).await }
        })
        .await
        .map_err(|e| failure(&e))?;
        // Approved is the proof; anything else, or a verification Twilio no longer has, is none.
        Ok(approved.map(|a| SilentReport {
            outcome: if a { CheckOutcome::Verified } else { CheckOutcome::Error },
            sim_checked: false,
        }))
    }
}
