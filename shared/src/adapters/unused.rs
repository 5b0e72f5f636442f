//! Stand-ins for the clients a function does not use (see [`crate::routes::Function::uses`]). They
//! are never built into a client and never reach the network; a call is a bug, logged and refused.

use std::net::IpAddr;

use async_trait::async_trait;

use crate::domain::Phone;
use crate::ports::truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport,
};
use crate::ports::{OtpCheck, OtpCode, OtpError, OtpProvider, OtpReference, ProviderError, TruId};

pub struct UnusedTruId;

fn truid_refused(call: &'static str) -> ProviderError {
    tracing::error!(event = "unused_client_called", client = "truid", call, "this function is not wired to tru.ID");
    ProviderError::Unavailable("not wired to this function".into())
}

#[async_trait]
impl TruId for UnusedTruId {
    async fn coverage(&self, _ip: IpAddr) -> Result<Coverage, ProviderError> {
        Err(truid_refused("coverage"))
    }
    async fn create_subscriber_check(&self, _c: &NewSubscriberCheck) -> Result<CreatedCheck, ProviderError> {
        Err(truid_refused("create_subscriber_check"))
    }
    async fn complete_subscriber_check(
        &self,
        _i: &CheckId,
        _c: &CheckCode,
    ) -> Result<SubscriberCheckReport, ProviderError> {
        Err(truid_refused("complete_subscriber_check"))
    }
    async fn get_subscriber_check(&self, _i: &CheckId) -> Result<SubscriberCheckReport, ProviderError> {
        Err(truid_refused("get_subscriber_check"))
    }
    async fn create_sim_check(&self, _p: &Phone, _r: &str, _m: u32) -> Result<SimCheckReport, ProviderError> {
        Err(truid_refused("create_sim_check"))
    }
}

pub struct UnusedOtp;

fn otp_refused(call: &'static str) -> OtpError {
    tracing::error!(
        event = "unused_client_called",
        client = "otp",
        call,
        "this function is not wired to an OTP provider"
    );
    OtpError::Unavailable("not wired to this function".into())
}

#[async_trait]
impl OtpProvider for UnusedOtp {
    fn name(&self) -> &'static str {
        "none"
    }
    async fn start(&self, _to: &Phone, _r: &str) -> Result<OtpReference, OtpError> {
        Err(otp_refused("start"))
    }
    async fn check(&self, _r: &OtpReference, _to: &Phone, _c: &OtpCode) -> Result<OtpCheck, OtpError> {
        Err(otp_refused("check"))
    }
}
