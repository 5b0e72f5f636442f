//! Building the [`App`] for a Lambda function from its environment. Called once per execution
//! environment, before the first request.

use std::sync::Arc;

use secrecy::SecretString;

use crate::adapters::memory::MemoryStore;
use crate::adapters::notify::LogNotifier;
use crate::adapters::truid_http::{TruIdClient, TruIdHttpConfig};
use crate::adapters::twilio::{Twilio, TwilioConfig};
use crate::adapters::vonage::{VonageConfig, VonageV1, VonageV2};
use crate::app::{App, SharedApp};
use crate::clock::SystemClock;
use crate::config::OtpProviderKind;
use crate::config::{ConfigError, Settings};
use crate::domain::{HashCost, PasswordHasher};
use crate::ports::{OtpProvider, SecretSource};
use crate::ports::{ProviderSecrets, StaticSecrets};
use crate::random::OsRandom;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Client(String),
}

/// Provider credentials from the environment (local runs). The names match the keys of the deployed
/// JSON secret, upper-cased.
pub fn secrets_from_env() -> ProviderSecrets {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    ProviderSecrets {
        truid_client_id: var("SIMGUARD_TRUID_CLIENT_ID"),
        truid_client_secret: var("SIMGUARD_TRUID_CLIENT_SECRET").map(SecretString::from),
        password_pepper: var("SIMGUARD_PASSWORD_PEPPER").map(SecretString::from),
        vonage_api_key: var("SIMGUARD_VONAGE_API_KEY"),
        vonage_api_secret: var("SIMGUARD_VONAGE_API_SECRET").map(SecretString::from),
        twilio_account_sid: var("SIMGUARD_TWILIO_ACCOUNT_SID"),
        twilio_auth_token: var("SIMGUARD_TWILIO_AUTH_TOKEN").map(SecretString::from),
    }
}

/// The configured OTP provider's client.
pub fn otp_provider(settings: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Arc<dyn OtpProvider>, String> {
    let o = &settings.otp;
    let vonage = || VonageConfig {
        base_url: o.vonage_base_url.clone(),
        timeout: settings.provider_timeout,
        brand: o.brand.clone(),
    };
    Ok(match o.provider {
        OtpProviderKind::VonageV1 => Arc::new(VonageV1::new(vonage(), secrets)?),
        OtpProviderKind::VonageV2 => Arc::new(VonageV2::new(vonage(), secrets)?),
        OtpProviderKind::Twilio => Arc::new(Twilio::new(
            TwilioConfig {
                base_url: o.twilio_base_url.clone(),
                timeout: settings.provider_timeout,
                service_sid: o.twilio_service_sid.clone().unwrap_or_default(),
            },
            secrets,
        )?),
    })
}

/// The App a deployed function runs with. The store is in memory until the DynamoDB adapter lands,
/// so a deployed function keeps state only for the life of one execution environment.
pub fn lambda_app(settings: Settings) -> Result<SharedApp, BootstrapError> {
    let clock = Arc::new(SystemClock);
    let secrets = secrets_from_env();
    let pepper = secrets.password_pepper.clone();
    let secrets: Arc<dyn SecretSource> = Arc::new(StaticSecrets::new(secrets));
    let truid = TruIdClient::new(
        TruIdHttpConfig { base_url: settings.truid_base_url.clone(), timeout: settings.provider_timeout },
        secrets.clone(),
        clock.clone(),
    )
    .map_err(BootstrapError::Client)?;
    let otp = otp_provider(&settings, secrets).map_err(BootstrapError::Client)?;
    let store = Arc::new(MemoryStore::new());
    Ok(Arc::new(App {
        settings,
        store: store.clone(),
        limiter: store,
        truid: Arc::new(truid),
        otp,
        notifier: Arc::new(LogNotifier),
        clock,
        random: Arc::new(OsRandom),
        hasher: PasswordHasher::new(HashCost::PRODUCTION, pepper),
    }))
}
