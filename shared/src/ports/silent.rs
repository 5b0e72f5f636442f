//! Silent possession proof (docs/security.md S34): the device opens a URL over its mobile data
//! connection, the operator (or the provider's partner) recognises the number on that connection, and
//! a redirect back to our callback lets us ask the provider for the verdict. One port for every
//! provider — tru.ID SubscriberCheck, CAMARA Number Verification, Vonage Verify v2 silent auth —
//! with the outcome model of
//! `domain::check`: only a complete "this number, and (where the provider says) no SIM change"
//! passes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::{CheckOutcome, Phone};
use crate::ports::ProviderFailure;

/// A started proof: what binds it to the flow, and what the device opens.
pub struct SilentStart {
    /// The provider's handle on the proof (tru.ID's `check_id`, CAMARA's `state`): the redirect must
    /// name it, and it must be the flow's.
    pub handle: String,
    /// What the device opens as a top-level navigation over mobile data. Secret-equivalent.
    pub device_url: SecretString,
    /// What only the completion needs (CAMARA's PKCE verifier), kept on the flow, never sent to the
    /// browser.
    pub secret: Option<SecretString>,
}

/// The query of the redirect that landed on the callback: each parameter once (a repeated one is
/// kept empty, so that it matches nothing).
pub type RedirectParams = BTreeMap<String, String>;

/// What a completed proof says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilentReport {
    /// The verdict.
    pub outcome: CheckOutcome,
    /// Whether the verdict covers the SIM change too (tru.ID's `no_sim_change`); when not, a match is
    /// followed by the SIM-swap gate's sources.
    pub sim_checked: bool,
}

/// One provider of silent possession proof.
#[async_trait]
pub trait SilentProver: Send + Sync {
    /// As `SIMGUARD_SILENT_PROVIDERS` names it.
    fn name(&self) -> &'static str;
    /// Whether the device at `ip` is on a network this provider reaches: `Some(false)` skips it,
    /// `None` (it cannot tell beforehand) tries it.
    async fn covers(&self, ip: IpAddr) -> Result<Option<bool>, ProviderFailure>;
    /// Whether [`SilentProver::covers`] looks something up (its answer is worth caching per address).
    fn looks_up_coverage(&self) -> bool {
        false
    }
    /// Starts a proof that the device holds `phone`; the redirect comes back to `redirect_url`.
    async fn start(
        &self,
        phone: &Phone,
        redirect_url: &str,
        window_minutes: u32,
    ) -> Result<SilentStart, ProviderFailure>;
    /// The handle the redirect names, in its valid form; `None` when it names none.
    fn presented_handle(&self, redirect: &RedirectParams) -> Option<String>;
    /// The error the redirect reports, as a fixed label; `None` when it reports none.
    fn redirect_error(&self, redirect: &RedirectParams) -> Option<&'static str>;
    /// Completes the proof `handle` with what the redirect brought, exactly once (a completion may
    /// not be repeated: read it back instead).
    async fn complete(
        &self,
        handle: &str,
        secret: Option<&SecretString>,
        redirect: &RedirectParams,
        phone: &Phone,
        window_minutes: u32,
    ) -> Result<SilentReport, ProviderFailure>;
    /// What the provider says now of a proof whose completion's answer was lost (or never came);
    /// `None` when it cannot say.
    async fn read_back(&self, handle: &str, window_minutes: u32) -> Result<Option<SilentReport>, ProviderFailure>;
}
