//! tru.ID SubscriberCheck v0.2 as a silent prover: coverage by device IP, a check for the number with
//! our `redirect_url`, the operator's redirect with `check_id` and `code`, one PATCH with the code,
//! and a GET to read a check whose PATCH answer was lost. Its verdict covers the SIM change too.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::Phone;
use crate::ports::{
    CheckCode, CheckId, Coverage, NewSubscriberCheck, ProviderFailure, Random, RedirectParams, SilentProver,
    SilentReport, SilentStart, TruId,
};

/// The SubscriberCheck prover.
pub struct TruIdSubscriberCheck {
    truid: Arc<dyn TruId>,
    random: Arc<dyn Random>,
}

impl TruIdSubscriberCheck {
    /// Over the tru.ID client; each check gets a fresh `reference_id`.
    pub fn new(truid: Arc<dyn TruId>, random: Arc<dyn Random>) -> Self {
        Self { truid, random }
    }
}

/// Operator error codes on the redirect, as a fixed label; the text is never used.
fn redirect_error_label(error: &str) -> &'static str {
    match error {
        "mno_redirect_unsupported" => "mno_redirect_unsupported",
        "not_mobile_ip" => "not_mobile_ip",
        "mno_not_supported" => "mno_not_supported",
        "ip_mismatch" | "ip_msisdn_mismatch" => "ip_mismatch",
        _ => "other",
    }
}

fn failure(e: &crate::ports::TruIdError) -> ProviderFailure {
    ProviderFailure::from_fault(e)
}

#[async_trait]
impl SilentProver for TruIdSubscriberCheck {
    fn name(&self) -> &'static str {
        "truid"
    }

    async fn covers(&self, ip: IpAddr) -> Result<Option<bool>, ProviderFailure> {
        let coverage = self.truid.coverage(ip).await.map_err(|e| failure(&e))?;
        Ok(Some(coverage == Coverage::SubscriberCheck))
    }

    fn looks_up_coverage(&self) -> bool {
        true
    }

    async fn start(
        &self,
        phone: &Phone,
        redirect_url: &str,
        window_minutes: u32,
    ) -> Result<SilentStart, ProviderFailure> {
        let request = NewSubscriberCheck {
            phone: phone.clone(),
            redirect_url: redirect_url.to_owned(),
            reference_id: self.random.id().map_err(|_| ProviderFailure::failure("no_randomness", "no reference id"))?,
            period_minutes: window_minutes,
        };
        let created = self.truid.create_subscriber_check(&request).await.map_err(|e| failure(&e))?;
        Ok(SilentStart { handle: created.check_id.expose().to_owned(), device_url: created.check_url, secret: None })
    }

    fn presented_handle(&self, redirect: &RedirectParams) -> Option<String> {
        redirect.get("check_id").and_then(|c| CheckId::parse(c)).map(|c| c.expose().to_owned())
    }

    fn redirect_error(&self, redirect: &RedirectParams) -> Option<&'static str> {
        redirect.get("error").map(|e| redirect_error_label(e))
    }

    async fn complete(
        &self,
        handle: &str,
        _secret: Option<&SecretString>,
        redirect: &RedirectParams,
        _phone: &Phone,
        window_minutes: u32,
    ) -> Result<SilentReport, ProviderFailure> {
        let check_id = CheckId::parse(handle).ok_or_else(|| ProviderFailure::failure("bad_handle", "check id"))?;
        let Some(code) = redirect.get("code").and_then(|c| CheckCode::parse(c)) else {
            return Err(ProviderFailure::answer("bad_redirect", "no usable code"));
        };
        let report = self.truid.complete_subscriber_check(&check_id, &code).await.map_err(|e| failure(&e))?;
        Ok(SilentReport { outcome: report.outcome(window_minutes), sim_checked: true })
    }

    async fn read_back(&self, handle: &str, window_minutes: u32) -> Result<Option<SilentReport>, ProviderFailure> {
        let check_id = CheckId::parse(handle).ok_or_else(|| ProviderFailure::failure("bad_handle", "check id"))?;
        let report = self.truid.get_subscriber_check(&check_id).await.map_err(|e| failure(&e))?;
        Ok(Some(SilentReport { outcome: report.outcome(window_minutes), sim_checked: true }))
    }
}
