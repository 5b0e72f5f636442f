//! The end of a relying site's verification: the result token, signed, and the URL that takes the
//! browser back to the site with it. Shared by the two steps that can prove a number: the callback
//! (silently) and otp-verify (by a code).

use crate::app::Core;
use crate::domain::result_token::{ProofMethod, ResultClaims, SimChangeVerdict, phone_hash};
use crate::domain::verification::VerificationSubject;
use crate::domain::{Flow, FlowEvent, Timestamp};
use crate::http::Problem;
use crate::ports::{Metric, StoreError};

/// Why a proven verification could not be sent back.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The flow moved on meanwhile (another request finished it).
    #[error("the flow moved on")]
    Moved,
    /// No signing key, no randomness: the flow stays where it is, and trying again finishes it.
    #[error("result not signed: {0}")]
    Unsigned(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<ResultError> for Problem {
    fn from(e: ResultError) -> Problem {
        match e {
            ResultError::Moved => Problem::flow_invalid(),
            ResultError::Unsigned(why) => {
                tracing::error!(event = "result_not_signed", why, "a proven verification could not be signed");
                Problem::unavailable()
            }
            ResultError::Store(e) => e.into(),
        }
    }
}

/// Signs the result of `flow`'s proof and completes the flow (one conditional write: of two
/// concurrent requests one completes it, the other is `Moved`); answers the site's return URL with
/// the token. The token is signed first, so a signing failure leaves the flow to be finished again.
pub async fn prove(
    core: &Core,
    flow: &Flow,
    subject: &VerificationSubject,
    method: ProofMethod,
    sim_change: SimChangeVerdict,
    now: Timestamp,
) -> Result<String, ResultError> {
    let transition = flow.apply(FlowEvent::Proven).map_err(|_| ResultError::Moved)?;
    let jti = core.random.id().map_err(|e| ResultError::Unsigned(e.to_string()))?;
    let claims = ResultClaims {
        iss: core.results.issuer().to_owned(),
        aud: subject.site.as_str().to_owned(),
        sub: subject.id.clone(),
        phone_hash: phone_hash(subject.phone.e164()),
        purpose: subject.purpose,
        method,
        sim_change,
        iat: now.0,
        exp: now.0 + ResultClaims::LIFE_SECS,
        jti,
    };
    let token = core.results.sign(&claims).await.map_err(|e| ResultError::Unsigned(e.to_string()))?;
    match core.store.transition_flow(&flow.key, &transition, now).await {
        Ok(_) => {}
        Err(StoreError::Conflict) => return Err(ResultError::Moved),
        Err(e) => return Err(ResultError::Store(e)),
    }
    let how = match method {
        ProofMethod::Silent => "silent",
        ProofMethod::Sms => "sms",
    };
    tracing::info!(event = "verification_proven", site = subject.site.as_str(), method = how, "result issued");
    core.metrics.record(Metric::StepOutcome { step: "verification", outcome: how });
    Ok(subject.return_with_token(&token))
}

/// The SIM-change verdict a proof on `flow` carries: a phone confirmation that went on past a SIM
/// change says so; every other proof passed the gate.
pub fn sim_change_of(flow: &Flow) -> SimChangeVerdict {
    match flow.reason {
        Some(crate::domain::FlowReason::SimChanged) => SimChangeVerdict::Changed,
        _ => SimChangeVerdict::NotChanged,
    }
}
