//! tru.ID SIMCheck as a source of the SIM-swap gate: `POST /sim_check/v0.1/checks` with the window
//! as `period`, through the tru.ID client (its token cache and rules).

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::Phone;
use crate::domain::sim_policy::{self, SimSignal};
use crate::ports::{ProviderFailure, Random, SimSwapAnswer, SimSwapSource, TruId};

/// The SIMCheck source.
pub struct TruIdSimCheck {
    truid: Arc<dyn TruId>,
    random: Arc<dyn Random>,
}

impl TruIdSimCheck {
    /// Over the tru.ID client; each check gets a fresh `reference_id`.
    pub fn new(truid: Arc<dyn TruId>, random: Arc<dyn Random>) -> Self {
        Self { truid, random }
    }
}

#[async_trait]
impl SimSwapSource for TruIdSimCheck {
    fn name(&self) -> &'static str {
        "truid"
    }

    async fn check(&self, phone: &Phone, window_minutes: u32) -> Result<SimSwapAnswer, ProviderFailure> {
        let reference = self.random.id().map_err(|_| ProviderFailure::failure("no_randomness", "no reference id"))?;
        let report = self
            .truid
            .create_sim_check(phone, &reference, window_minutes)
            .await
            .map_err(|e| ProviderFailure::from_fault(&e))?;
        Ok(match sim_policy::signal(report.status, report.no_sim_change, report.sim_change_within, window_minutes) {
            SimSignal::NoChange => SimSwapAnswer::NotChanged,
            SimSignal::Changed => SimSwapAnswer::Changed,
            SimSignal::Unavailable => SimSwapAnswer::CannotTell("no_verdict"),
        })
    }
}
