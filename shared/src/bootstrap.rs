//! Building the [`App`] for a Lambda function from its environment. Called once per execution
//! environment, before the first request.

use std::sync::Arc;

use secrecy::SecretString;

use crate::adapters::memory::MemoryStore;
use crate::adapters::notify::LogNotifier;
use crate::adapters::truid_http::{TruIdClient, TruIdHttpConfig};
use crate::app::{App, SharedApp};
use crate::clock::SystemClock;
use crate::config::{ConfigError, Settings};
use crate::domain::{HashCost, PasswordHasher};
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
    }
}

/// The App a deployed function runs with. The store is in memory until the DynamoDB adapter lands,
/// so a deployed function keeps state only for the life of one execution environment.
pub fn lambda_app(settings: Settings) -> Result<SharedApp, BootstrapError> {
    let clock = Arc::new(SystemClock);
    let secrets = secrets_from_env();
    let pepper = secrets.password_pepper.clone();
    let truid = TruIdClient::new(
        TruIdHttpConfig {
            base_url: settings.truid_base_url.clone(),
            timeout: settings.provider_timeout,
        },
        Arc::new(StaticSecrets::new(secrets)),
        clock.clone(),
    )
    .map_err(BootstrapError::Client)?;
    let store = Arc::new(MemoryStore::new());
    Ok(Arc::new(App {
        settings,
        store: store.clone(),
        limiter: store,
        truid: Arc::new(truid),
        notifier: Arc::new(LogNotifier),
        clock,
        random: Arc::new(OsRandom),
        hasher: PasswordHasher::new(HashCost::PRODUCTION, pepper),
    }))
}
