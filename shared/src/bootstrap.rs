//! Building the [`App`] for a Lambda function from its environment. Called once per execution
//! environment, before the first request.

use std::sync::Arc;

use secrecy::SecretString;

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::notify::LogNotifier;
use crate::adapters::secrets_manager::SecretsManagerSource;
use crate::adapters::truid_http::{TruIdClient, TruIdHttpConfig};
use crate::adapters::twilio::{Twilio, TwilioConfig};
use crate::adapters::unused::{UnusedOtp, UnusedTruId};
use crate::adapters::vonage::{VonageConfig, VonageV1, VonageV2};
use crate::app::{App, SharedApp};
use crate::clock::{Clock, SystemClock};
use crate::config::OtpProviderKind;
use crate::config::{ConfigError, Settings};
use crate::domain::{HashCost, PasswordHasher};
use crate::metrics::{EmfStdout, MetricsSink};
use crate::ports::{Notifier, OtpProvider, SecretSource, TruId};
use crate::ports::{ProviderSecrets, StaticSecrets};
use crate::random::OsRandom;
use crate::routes::Function;

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

/// What a function's App is made of besides its settings: in Lambda, the AWS clients of the
/// execution role, the system clock, EMF metrics on stdout, notifications in the log and production
/// hashing; in tests, the same clients pointed at a local server, and test doubles.
pub struct Parts {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets_manager: aws_sdk_secretsmanager::Client,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn MetricsSink>,
    pub notifier: Arc<dyn Notifier>,
    pub hash_cost: HashCost,
}

impl Parts {
    /// The Lambda execution environment's: credentials and region from the environment.
    pub async fn lambda(settings: &Settings, function: Function) -> Self {
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&aws),
            secrets_manager: aws_sdk_secretsmanager::Client::new(&aws),
            clock: Arc::new(SystemClock),
            metrics: Arc::new(EmfStdout::new(settings.metrics_namespace.clone(), function.name())),
            notifier: Arc::new(LogNotifier),
            hash_cost: HashCost::PRODUCTION,
        }
    }
}

/// A deployed function from start to finish: logging, its settings (only its own variables), its
/// App, and the Lambda runtime serving its routes. Each function's `main` is this one call.
pub async fn run_lambda(function: Function) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let settings = Settings::from_env_for(function)?;
    let app = lambda_app(settings, function).await?;
    lambda_http::run(crate::routes::router(app, Some(function))?).await
}

/// The App a deployed function runs with.
pub async fn lambda_app(settings: Settings, function: Function) -> Result<SharedApp, BootstrapError> {
    let parts = Parts::lambda(&settings, function).await;
    function_app(settings, function, parts)
}

/// A function's App: the DynamoDB store (`SIMGUARD_TABLE_NAME`, required), provider credentials
/// from Secrets Manager (`SIMGUARD_SECRET_ID`) or, without one, from the environment, and clients
/// for the providers this function calls, no others. Clients are built here, once per execution
/// environment; nothing here calls the network (credentials and secrets are read when first needed).
pub fn function_app(settings: Settings, function: Function, parts: Parts) -> Result<SharedApp, BootstrapError> {
    let table = settings.table_name.clone().ok_or(ConfigError::Missing("SIMGUARD_TABLE_NAME"))?;
    let clock = parts.clock;
    let secrets: Arc<dyn SecretSource> = match &settings.secret_id {
        Some(id) => Arc::new(SecretsManagerSource::new(
            parts.secrets_manager,
            id.clone(),
            settings.secret_ttl_secs,
            clock.clone(),
        )),
        None => Arc::new(StaticSecrets::new(secrets_from_env())),
    };
    // Only the clients this function uses are built: each costs TLS set-up at cold start.
    let uses = function.uses();
    let truid: Arc<dyn TruId> = if uses.truid {
        Arc::new(
            TruIdClient::new(
                TruIdHttpConfig { base_url: settings.truid_base_url.clone(), timeout: settings.provider_timeout },
                secrets.clone(),
                clock.clone(),
            )
            .map_err(BootstrapError::Client)?,
        )
    } else {
        Arc::new(UnusedTruId)
    };
    let otp: Arc<dyn OtpProvider> = if uses.otp {
        otp_provider(&settings, secrets.clone()).map_err(BootstrapError::Client)?
    } else {
        Arc::new(UnusedOtp)
    };
    let store = Arc::new(DynamoStore::new(parts.dynamodb, table));
    Ok(Arc::new(App {
        settings,
        store: store.clone(),
        limiter: store,
        truid,
        otp,
        notifier: parts.notifier,
        clock,
        random: Arc::new(OsRandom),
        hasher: PasswordHasher::new(parts.hash_cost, Some(secrets)),
        metrics: parts.metrics,
    }))
}
