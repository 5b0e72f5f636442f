//! The one place the application state is assembled, for a deployed function, the local stack and
//! the tests alike: an [`Assembly`] holds what the environment provides (storage, the secret source,
//! clock, randomness, metrics, notifications, hashing cost, and a test's stand-ins), and
//! [`Assembly::router`] builds one function from its own settings — its core, and only the clients
//! its state type names ([`crate::app`]).

use std::sync::Arc;

use axum::Router;

use crate::Function;
use crate::adapters::argon2::{Argon2Hasher, HashCost};
use crate::adapters::camara::{CamaraConfig, CamaraNumberVerification, CamaraNumberVerificationConfig, CamaraSimSwap};
use crate::adapters::clock::SystemClock;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::email::{QueueNotifier, Sender, SesMailer, SqsClient};
use crate::adapters::http_client::ClientError;
use crate::adapters::memory::MemoryStore;
use crate::adapters::metrics::EmfStdout;
use crate::adapters::notify::LogNotifier;
use crate::adapters::random::OsRandom;
use crate::adapters::result_tokens::SecretSigner;
use crate::adapters::secrets::StaticSecrets;
use crate::adapters::secrets_manager::{SecretsClient, SecretsManagerSource};
use crate::adapters::truid_http::{TruIdClient, TruIdHttpConfig};
use crate::adapters::truid_silent::TruIdSubscriberCheck;
use crate::adapters::truid_sim_swap::TruIdSimCheck;
use crate::adapters::twilio::{Twilio, TwilioConfig};
use crate::adapters::twilio_lookup::{TwilioLookup, TwilioLookupConfig};
use crate::adapters::vonage::{VonageConfig, VonageSilentAuth, VonageV1, VonageV2};
use crate::app::{
    App, Core, ProviderLatency, WithHasher, WithOtp, WithPasswords, WithSilent, WithSilentGate, WithSimGate,
};
use crate::cognito::CognitoTriggers;
use crate::config::{ConfigError, OtpProviderKind, Settings, SilentProviderKind, SimSwapSourceKind};
use crate::consumer::Consumer;
use crate::ports::{
    Clock, Mailer, MetricsSink, Notifier, OtpProvider, PasswordHasher, Random, RateLimiter, SecretSource, SilentProver,
    SimSwapSource, Store, TruId,
};
use crate::routes::{Ports, RouterError, function_routes, secure};

/// A function could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    /// Its settings are missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A provider client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Its routes could not be built.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// Deployed storage or secrets were configured without their AWS client.
    #[error("{0} is set, but this assembly has no AWS client for it")]
    NoAwsClient(&'static str),
    /// The execution environment's AWS settings are missing.
    #[error(transparent)]
    Aws(#[from] crate::adapters::aws::AwsSetupError),
    /// The queue consumer has no routes; the API's functions consume no queue.
    #[error("{0} is not served that way")]
    WrongKind(&'static str),
}

/// Where the data lives.
#[derive(Clone)]
pub enum Storage {
    /// In this process (the local stack, most tests); shared by every function built from it.
    Memory(Arc<MemoryStore>),
    /// In the DynamoDB table `SIMGUARD_TABLE_NAME` names.
    DynamoDb(aws_sdk_dynamodb::Client),
    /// A test's stand-in (a store that fails on purpose); no setting ever selects it.
    Given(Arc<dyn Store>, Arc<dyn RateLimiter>),
}

/// What the environment provides; see the module documentation.
#[derive(Clone)]
pub struct Assembly {
    storage: Storage,
    secrets_manager: Option<SecretsClient>,
    secrets: Option<Arc<dyn SecretSource>>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    metrics: Option<Arc<dyn MetricsSink>>,
    notifier: Option<Arc<dyn Notifier>>,
    sqs: Option<SqsClient>,
    ses: Option<aws_sdk_sesv2::Client>,
    mailer: Option<Arc<dyn Mailer>>,
    hash_cost: HashCost,
    hasher: Option<Arc<dyn PasswordHasher>>,
    truid: Option<Arc<dyn TruId>>,
    otp: Option<Arc<dyn OtpProvider>>,
}

impl Assembly {
    /// On `storage`, with the system clock, the OS's randomness, EMF metrics on stdout,
    /// notifications on the queue the settings name (in the log without one), production hashing
    /// and the secrets the settings name.
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            secrets_manager: None,
            secrets: None,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            metrics: None,
            notifier: None,
            sqs: None,
            ses: None,
            mailer: None,
            hash_cost: HashCost::PRODUCTION,
            hasher: None,
            truid: None,
            otp: None,
        }
    }

    /// A Lambda execution environment's: the AWS clients of the execution role (credentials and
    /// region from the environment, no provider chain), with simguard's timeouts and retry policy
    /// ([`crate::adapters::aws`]) — SQS only for a function that notifies, SES only for the
    /// consumer. Nothing here calls the network.
    pub fn lambda(settings: &Settings) -> Result<Self, AssemblyError> {
        let aws = crate::adapters::aws::from_env()?;
        Ok(Self::on_aws(settings, &aws))
    }

    /// The clients `settings`' function uses, on `aws`. DynamoDB serves every request: its client is
    /// built here, while init has a full CPU; Secrets Manager and SQS wait for the first request that
    /// needs them.
    pub fn on_aws(settings: &Settings, aws: &aws_types::SdkConfig) -> Self {
        let secrets = SecretsClient::on_first_use(aws.clone(), aws_sdk_secretsmanager::Client::new);
        let mut a = Self::aws(aws_sdk_dynamodb::Client::new(aws), secrets);
        if settings.notify_queue_url.is_some() {
            a.sqs = Some(SqsClient::on_first_use(aws.clone(), aws_sdk_sqs::Client::new));
        }
        if settings.function == Function::Notify {
            a.ses = Some(aws_sdk_sesv2::Client::new(aws));
        }
        a
    }

    /// DynamoDB storage and Secrets Manager secrets through these clients.
    pub fn aws(dynamodb: aws_sdk_dynamodb::Client, secrets_manager: impl Into<SecretsClient>) -> Self {
        let mut a = Self::new(Storage::DynamoDb(dynamodb));
        a.secrets_manager = Some(secrets_manager.into());
        a
    }

    /// This storage instead (the local stack: AWS clients for secrets, memory for data).
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }
    /// Provider credentials from this source, whatever the settings say.
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretSource>) -> Self {
        self.secrets = Some(secrets);
        self
    }
    /// This clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// This randomness.
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }
    /// Metrics to this sink instead of EMF on stdout.
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = Some(metrics);
        self
    }
    /// Notifications to this notifier, whatever the settings say (the local stack's outbox).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }
    /// This SQS client for the notification queue.
    pub fn with_sqs(mut self, sqs: aws_sdk_sqs::Client) -> Self {
        self.sqs = Some(sqs.into());
        self
    }
    /// This SES client for the consumer.
    pub fn with_ses(mut self, ses: aws_sdk_sesv2::Client) -> Self {
        self.ses = Some(ses);
        self
    }
    /// The consumer sends through this mailer instead of SES (a test's stand-in).
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }
    /// Argon2 at this cost (tests only lower it).
    pub fn with_hash_cost(mut self, cost: HashCost) -> Self {
        self.hash_cost = cost;
        self
    }
    /// Passwords hashed and checked by `hasher` instead of Argon2id at [`Self::with_hash_cost`]'s
    /// cost (a test that counts the work).
    pub fn with_hasher(mut self, hasher: Arc<dyn PasswordHasher>) -> Self {
        self.hasher = Some(hasher);
        self
    }
    /// This tru.ID client instead of the HTTP one (a test's stand-in).
    pub fn with_truid(mut self, truid: Arc<dyn TruId>) -> Self {
        self.truid = Some(truid);
        self
    }
    /// This OTP provider instead of the configured one (a test's stand-in).
    pub fn with_otp(mut self, otp: Arc<dyn OtpProvider>) -> Self {
        self.otp = Some(otp);
        self
    }

    /// The function `settings` are for, ready to serve: its routes and layers over its own state.
    pub fn router(&self, settings: Settings) -> Result<Router, AssemblyError> {
        let layers = settings.clone();
        Ok(secure(self.routes(settings)?, &layers))
    }

    /// Every function, each on its own settings from `get` (only its own variables), merged into one
    /// router: the local stack.
    pub fn all_functions(&self, get: impl Fn(&str) -> Option<String>) -> Result<Router, AssemblyError> {
        let mut merged = Router::new();
        let mut shared = None;
        for function in Function::HTTP {
            let settings = Settings::for_function(function, &get)?;
            shared.get_or_insert_with(|| settings.clone());
            merged = merged.merge(self.routes(settings)?);
        }
        // Every function reads the public origin and the client IP source, the layers' settings.
        let settings = shared.ok_or(ConfigError::Missing("SIMGUARD_PUBLIC_BASE_URL"))?;
        Ok(secure(merged, &settings))
    }

    /// The function `settings` are for, on the clients of `P` only: a deployed function's binary
    /// names its state type, so that it links no other function's clients (no HTTP client in the
    /// password functions, no Argon2 in the provider functions). Given the wrong type, it fails to
    /// build (see [`Ports`]).
    pub fn router_with<P: BuildPorts>(&self, settings: Settings) -> Result<Router, AssemblyError> {
        let layers = settings.clone();
        let secrets = self.secret_source(&settings)?;
        let ports = P::build(self, &settings, secrets.clone())?;
        Ok(secure(self.serve(settings, ports, secrets)?, &layers))
    }

    /// The function's routes over its state. Which clients each function gets is decided here, by
    /// the state type; a function given the wrong ones fails to build (see [`Ports`]).
    fn routes(&self, settings: Settings) -> Result<Router, AssemblyError> {
        let secrets = self.secret_source(&settings)?;
        Ok(match settings.function {
            Function::Coverage | Function::CreateCheck => {
                let ports = WithSilent::build(self, &settings, secrets.clone())?;
                self.serve(settings, ports, secrets)?
            }
            Function::Callback => {
                let ports = WithSilentGate::build(self, &settings, secrets.clone())?;
                self.serve(settings, ports, secrets)?
            }
            Function::SimCheck => {
                let ports = WithSimGate::build(self, &settings, secrets.clone())?;
                self.serve(settings, ports, secrets)?
            }
            Function::OtpStart | Function::OtpVerify => {
                let ports = WithOtp::build(self, &settings, secrets.clone())?;
                self.serve(settings, ports, secrets)?
            }
            Function::ResetPassword => {
                let ports = WithHasher::build(self, &settings, secrets.clone())?;
                self.serve(settings, ports, secrets)?
            }
            Function::Account => {
                let ports = WithPasswords::build(self, &settings, secrets.clone())?;
                self.serve(settings, ports, secrets)?
            }
            Function::Notify | Function::CognitoAuth => {
                return Err(AssemblyError::WrongKind(settings.function.name()));
            }
        })
    }

    /// The queue consumer (the `notify` function) `settings` are for: the store that remembers
    /// what was sent, and SES sending as `SIMGUARD_MAIL_FROM`.
    pub fn consumer(&self, settings: Settings) -> Result<Consumer, AssemblyError> {
        if settings.function != Function::Notify {
            return Err(AssemblyError::WrongKind(settings.function.name()));
        }
        let mailer: Arc<dyn Mailer> = match &self.mailer {
            Some(m) => m.clone(),
            None => {
                let from = settings.mail.from.clone().ok_or(ConfigError::Missing("SIMGUARD_MAIL_FROM"))?;
                let client = self.ses.clone().ok_or(AssemblyError::NoAwsClient("SIMGUARD_MAIL_FROM"))?;
                let sender = Sender {
                    from: from.as_str().to_owned(),
                    display_name: Some(settings.site.name.clone()),
                    reply_to: settings.mail.reply_to.as_ref().map(|r| r.as_str().to_owned()),
                    configuration_set: settings.mail.configuration_set.clone(),
                };
                Arc::new(SesMailer::new(client, sender))
            }
        };
        let secrets = self.secret_source(&settings)?;
        let core = self.core(settings, secrets)?;
        Ok(Consumer { mailer, store: core.store, site: core.settings.site, clock: core.clock, metrics: core.metrics })
    }

    /// The Cognito triggers (the `cognito-auth` function) `settings` are for: the silent provers and
    /// SIM-swap sources, and the OTP provider, as the API's functions build them.
    pub fn cognito_triggers(&self, settings: Settings) -> Result<CognitoTriggers, AssemblyError> {
        if settings.function != Function::CognitoAuth {
            return Err(AssemblyError::WrongKind(settings.function.name()));
        }
        let secrets = self.secret_source(&settings)?;
        let silent = WithSilentGate::build(self, &settings, secrets.clone())?;
        let otp = self.otp_client(&settings, secrets.clone())?;
        Ok(CognitoTriggers::new(self.core(settings, secrets)?, silent, otp))
    }

    fn serve<P: Ports>(
        &self,
        settings: Settings,
        ports: P,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<Router, AssemblyError> {
        let core = self.core(settings, secrets)?;
        Ok(function_routes(App { core, ports })?)
    }

    /// What every function has; `secrets` is the function's one secret source (one cache, one read
    /// per TTL, whoever asks: docs/security.md R11).
    fn core(&self, settings: Settings, secrets: Arc<dyn SecretSource>) -> Result<Core, AssemblyError> {
        let (store, limiter): (Arc<dyn Store>, Arc<dyn RateLimiter>) = match &self.storage {
            Storage::Memory(m) => (m.clone(), m.clone()),
            Storage::Given(store, limiter) => (store.clone(), limiter.clone()),
            Storage::DynamoDb(client) => {
                let table = settings.table_name.clone().ok_or(ConfigError::Missing("SIMGUARD_TABLE_NAME"))?;
                let d = Arc::new(DynamoStore::new(client.clone(), table));
                (d.clone(), d)
            }
        };
        let metrics = match &self.metrics {
            Some(m) => m.clone(),
            None => Arc::new(EmfStdout::new(settings.metrics_namespace.clone(), settings.function.name())),
        };
        let notifier: Arc<dyn Notifier> = match (&self.notifier, &settings.notify_queue_url) {
            (Some(n), _) => n.clone(),
            (None, Some(url)) => {
                let sqs = self.sqs.clone().ok_or(AssemblyError::NoAwsClient("SIMGUARD_NOTIFY_QUEUE_URL"))?;
                Arc::new(QueueNotifier::new(sqs, url.as_str()))
            }
            (None, None) => Arc::new(LogNotifier),
        };
        Ok(Core {
            results: Arc::new(SecretSigner::new(&settings.public_origin(), secrets)),
            settings,
            store,
            limiter,
            notifier,
            clock: self.clock.clone(),
            random: self.random.clone(),
            metrics,
            latency: Arc::new(ProviderLatency::default()),
        })
    }

    /// The given source; else Secrets Manager when `SIMGUARD_SECRET_ID` is set; else the
    /// environment (local runs). Nothing is read here.
    fn secret_source(&self, settings: &Settings) -> Result<Arc<dyn SecretSource>, AssemblyError> {
        if let Some(s) = &self.secrets {
            return Ok(s.clone());
        }
        Ok(match &settings.secret_id {
            Some(id) => {
                let client = self.secrets_manager.clone().ok_or(AssemblyError::NoAwsClient("SIMGUARD_SECRET_ID"))?;
                Arc::new(SecretsManagerSource::new(client, id.clone(), settings.secret_ttl_secs, self.clock.clone()))
            }
            None => Arc::new(StaticSecrets::from_lookup(|k| std::env::var(k).ok())),
        })
    }

    fn truid_client(
        &self,
        settings: &Settings,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<Arc<dyn TruId>, AssemblyError> {
        if let Some(t) = &self.truid {
            return Ok(t.clone());
        }
        let config = TruIdHttpConfig { base_url: settings.truid_base_url.clone(), timeout: settings.provider_timeout };
        Ok(Arc::new(TruIdClient::new(config, secrets, self.clock.clone())?))
    }

    /// The function's one tru.ID client, built on first need: a prover and a source share it (one
    /// TLS client and one token cache, not two).
    fn shared_truid(
        &self,
        slot: &mut Option<Arc<dyn TruId>>,
        settings: &Settings,
        secrets: &Arc<dyn SecretSource>,
    ) -> Result<Arc<dyn TruId>, AssemblyError> {
        if let Some(t) = slot {
            return Ok(t.clone());
        }
        let t = self.truid_client(settings, secrets.clone())?;
        *slot = Some(t.clone());
        Ok(t)
    }

    /// The SIM-swap sources `settings` name, in order.
    fn sim_swap_sources(
        &self,
        settings: &Settings,
        secrets: Arc<dyn SecretSource>,
        truid: &mut Option<Arc<dyn TruId>>,
    ) -> Result<Vec<Arc<dyn SimSwapSource>>, AssemblyError> {
        let s = &settings.sim_swap;
        let mut sources: Vec<Arc<dyn SimSwapSource>> = Vec::new();
        for kind in &s.sources {
            sources.push(match kind {
                SimSwapSourceKind::TruId => {
                    Arc::new(TruIdSimCheck::new(self.shared_truid(truid, settings, &secrets)?, self.random.clone()))
                }
                SimSwapSourceKind::Camara => {
                    let config = CamaraConfig {
                        api_root: s.camara_base_url.clone().ok_or(ConfigError::Missing("SIMGUARD_CAMARA_BASE_URL"))?,
                        token_url: s
                            .camara_token_url
                            .clone()
                            .ok_or(ConfigError::Missing("SIMGUARD_CAMARA_TOKEN_URL"))?,
                        timeout: settings.provider_timeout,
                    };
                    Arc::new(CamaraSimSwap::new(config, secrets.clone(), self.clock.clone())?)
                }
                SimSwapSourceKind::TwilioLookup => {
                    let config = TwilioLookupConfig {
                        base_url: s.twilio_lookup_base_url.clone(),
                        timeout: settings.provider_timeout,
                    };
                    Arc::new(TwilioLookup::new(config, secrets.clone(), self.clock.clone())?)
                }
            });
        }
        Ok(sources)
    }

    fn otp_client(
        &self,
        settings: &Settings,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<Arc<dyn OtpProvider>, AssemblyError> {
        if let Some(o) = &self.otp {
            return Ok(o.clone());
        }
        otp_provider(settings, secrets)
    }
}

/// A function's clients, built from its settings.
pub trait BuildPorts: Ports {
    /// The clients, reading credentials from `secrets` when first needed.
    fn build(assembly: &Assembly, settings: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError>;
}

impl BuildPorts for WithSimGate {
    fn build(assembly: &Assembly, settings: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError> {
        Ok(WithSimGate { sim_swap: assembly.sim_swap_sources(settings, secrets, &mut None)? })
    }
}

impl BuildPorts for WithSilent {
    fn build(assembly: &Assembly, settings: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError> {
        Ok(WithSilent { provers: assembly.silent_provers(settings, &secrets, &mut None)? })
    }
}

impl BuildPorts for WithSilentGate {
    fn build(assembly: &Assembly, settings: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError> {
        // One tru.ID client (and token) for its prover and its SIM-swap source.
        let mut truid = None;
        let provers = assembly.silent_provers(settings, &secrets, &mut truid)?;
        let sim_swap = assembly.sim_swap_sources(settings, secrets, &mut truid)?;
        Ok(WithSilentGate { provers, sim_swap })
    }
}

impl Assembly {
    /// The silent provers `settings` list, in order (`truid`: the tru.ID client, built once).
    fn silent_provers(
        &self,
        settings: &Settings,
        secrets: &Arc<dyn SecretSource>,
        truid: &mut Option<Arc<dyn TruId>>,
    ) -> Result<Vec<Arc<dyn SilentProver>>, AssemblyError> {
        let assembly = self;
        let mut provers: Vec<Arc<dyn SilentProver>> = Vec::new();
        for kind in &settings.silent.providers {
            provers.push(match kind {
                SilentProviderKind::TruId => {
                    let client = assembly.shared_truid(truid, settings, secrets)?;
                    Arc::new(TruIdSubscriberCheck::new(client, assembly.random.clone()))
                }
                SilentProviderKind::Camara => {
                    let missing = |name| AssemblyError::from(ConfigError::Missing(name));
                    let config = CamaraNumberVerificationConfig {
                        api_root: settings
                            .sim_swap
                            .camara_base_url
                            .clone()
                            .ok_or_else(|| missing("SIMGUARD_CAMARA_BASE_URL"))?,
                        authorize_url: settings
                            .silent
                            .camara_authorize_url
                            .clone()
                            .ok_or_else(|| missing("SIMGUARD_CAMARA_AUTHORIZE_URL"))?,
                        token_url: settings
                            .sim_swap
                            .camara_token_url
                            .clone()
                            .ok_or_else(|| missing("SIMGUARD_CAMARA_TOKEN_URL"))?,
                        redirect_url: settings.truid_redirect_url(),
                        timeout: settings.provider_timeout,
                    };
                    Arc::new(CamaraNumberVerification::new(config, secrets.clone(), assembly.random.clone())?)
                }
                SilentProviderKind::Vonage => Arc::new(VonageSilentAuth::new(
                    vonage_config(settings),
                    secrets.clone(),
                    settings.silent_return_url(),
                )?),
            });
        }
        Ok(provers)
    }
}

impl BuildPorts for WithOtp {
    fn build(assembly: &Assembly, settings: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError> {
        Ok(WithOtp { otp: assembly.otp_client(settings, secrets)? })
    }
}

impl BuildPorts for WithPasswords {
    fn build(assembly: &Assembly, _: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError> {
        Ok(WithPasswords { hasher: assembly.password_hasher(secrets) })
    }
}

impl BuildPorts for WithHasher {
    fn build(assembly: &Assembly, _: &Settings, secrets: Arc<dyn SecretSource>) -> Result<Self, AssemblyError> {
        Ok(WithHasher { hasher: assembly.password_hasher(secrets) })
    }
}

impl Assembly {
    /// Argon2id with the secret's pepper, unless a hasher was given.
    fn password_hasher(&self, secrets: Arc<dyn SecretSource>) -> Arc<dyn PasswordHasher> {
        match &self.hasher {
            Some(h) => h.clone(),
            None => Arc::new(Argon2Hasher::new(self.hash_cost, Some(secrets), self.random.clone())),
        }
    }
}

/// The configured OTP provider's client.
pub fn otp_provider(
    settings: &Settings,
    secrets: Arc<dyn SecretSource>,
) -> Result<Arc<dyn OtpProvider>, AssemblyError> {
    Ok(match settings.otp.provider {
        OtpProviderKind::VonageV1 => Arc::new(VonageV1::new(vonage_config(settings), secrets)?),
        OtpProviderKind::VonageV2 => Arc::new(VonageV2::new(vonage_config(settings), secrets)?),
        OtpProviderKind::Twilio => {
            let o = &settings.otp;
            let service_sid =
                o.twilio_service_sid.clone().ok_or(ConfigError::Missing("SIMGUARD_TWILIO_SERVICE_SID"))?;
            let config =
                TwilioConfig { base_url: o.twilio_base_url.clone(), timeout: settings.provider_timeout, service_sid };
            Arc::new(Twilio::new(config, secrets)?)
        }
    })
}

/// Vonage, for codes or silent authentication.
fn vonage_config(settings: &Settings) -> VonageConfig {
    let o = &settings.otp;
    VonageConfig { base_url: o.vonage_base_url.clone(), timeout: settings.provider_timeout, brand: o.brand.clone() }
}

/// A deployed function from start to finish: logging, its settings (only its own variables), its
/// state on the clients of `P`, and the Lambda runtime serving its routes. Each function's `main` is
/// this one call.
pub async fn run_lambda<P: BuildPorts>(function: Function) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let settings = Settings::from_env_for(function)?;
    let router = Assembly::lambda(&settings)?.router_with::<P>(settings)?;
    lambda_http::run(router).await
}

/// The `notify` function from start to finish: logging, its settings, the consumer, and the Lambda
/// runtime handing it the queue's batches. Each batch works within the invocation's deadline less
/// [`crate::routes::DEADLINE_MARGIN`].
pub async fn run_consumer() -> Result<(), lambda_http::Error> {
    use lambda_http::{LambdaEvent, service_fn};
    crate::telemetry::init();
    let settings = Settings::from_env_for(Function::Notify)?;
    let consumer = Assembly::lambda(&settings)?.consumer(settings)?;
    let consumer = &consumer;
    lambda_http::lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let until = crate::routes::lambda_deadline(&event.context);
            Ok::<_, lambda_http::Error>(consumer.handle(event.payload, until).await)
        },
    ))
    .await
}

/// The `cognito-auth` function's Lambda loop: each invocation is one trigger's event, answered
/// with its response filled in; an event it cannot read fails the sign-in.
pub async fn run_cognito_triggers() -> Result<(), lambda_http::Error> {
    use lambda_http::{LambdaEvent, service_fn};
    crate::telemetry::init();
    let settings = Settings::from_env_for(Function::CognitoAuth)?;
    let triggers = Assembly::lambda(&settings)?.cognito_triggers(settings)?;
    let triggers = &triggers;
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // Cognito waits five seconds for a trigger: every provider call ends by the invocation's deadline.
        let work = triggers.handle(event.payload);
        let answer = match crate::routes::lambda_deadline(&event.context) {
            Some(until) => crate::ports::deadline::within(until, work).await,
            None => work.await,
        };
        answer.map_err(lambda_http::Error::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function builds, from its own settings, with the clients its state names.
    #[test]
    fn every_function_assembles() {
        let assembly = Assembly::new(Storage::Memory(Arc::new(MemoryStore::new())));
        let site = |k: &str| (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| "https://example.com".to_owned());
        for f in Function::HTTP {
            let settings = Settings::for_function(f, site).expect("settings");
            assert!(assembly.router(settings).is_ok(), "{}", f.name());
        }
        // The consumer has no routes, and no sender without its settings and SES.
        let notify = Settings::for_function(Function::Notify, site).expect("settings");
        assert!(matches!(assembly.router(notify.clone()), Err(AssemblyError::WrongKind("notify"))));
        assert!(matches!(
            assembly.consumer(notify),
            Err(AssemblyError::Config(ConfigError::Missing("SIMGUARD_MAIL_FROM")))
        ));
        let sender = |k: &str| match k {
            "SIMGUARD_MAIL_FROM" => Some("notices@example.com".to_owned()),
            _ => site(k),
        };
        let notify = Settings::for_function(Function::Notify, sender).expect("settings");
        assert!(matches!(assembly.consumer(notify), Err(AssemblyError::NoAwsClient("SIMGUARD_MAIL_FROM"))));
        assert!(
            assembly.all_functions(|k| (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| "https://example.com".into())).is_ok()
        );
    }

    /// A deployed function builds at init only the client every request uses.
    #[test]
    fn only_the_dynamodb_client_is_built_at_init() {
        use crate::adapters::aws::{AwsClient, AwsEnvironment, ReqwestHttp};
        let aws = AwsEnvironment::from_lookup(|k| match k {
            "AWS_REGION" => Some("eu-west-2".to_owned()),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".to_owned()),
            _ => None,
        })
        .expect("environment")
        .sdk_config(ReqwestHttp::new().expect("http client"));
        let vars = |k: &str| match k {
            "SIMGUARD_PUBLIC_BASE_URL" => Some("https://example.com".to_owned()),
            "SIMGUARD_NOTIFY_QUEUE_URL" => Some("https://sqs.eu-west-2.amazonaws.com/123456789012/notify".to_owned()),
            _ => None,
        };
        let notifying: Vec<Settings> = Function::HTTP
            .into_iter()
            .filter_map(|f| Settings::for_function(f, vars).ok())
            .filter(|s| s.notify_queue_url.is_some())
            .collect();
        assert!(notifying.len() >= 3, "the functions that notify read the queue's URL");
        for settings in notifying {
            let a = Assembly::on_aws(&settings, &aws);
            assert!(matches!(a.sqs, Some(AwsClient::OnFirstUse(_))), "{}", settings.function.name());
            assert!(matches!(a.secrets_manager, Some(AwsClient::OnFirstUse(_))), "{}", settings.function.name());
        }
    }

    /// A function given another function's clients does not build.
    #[test]
    fn wrong_clients_do_not_serve() {
        let assembly = Assembly::new(Storage::Memory(Arc::new(MemoryStore::new())));
        let settings = Settings::for_function(Function::Coverage, |k| {
            (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| "https://example.com".into())
        })
        .expect("settings");
        let hasher = Arc::new(Argon2Hasher::new(HashCost::TEST_ONLY_CHEAP, None, Arc::new(OsRandom)));
        let secrets: Arc<dyn SecretSource> = Arc::new(StaticSecrets::new(Default::default()));
        let wrong = assembly.serve(settings, WithPasswords { hasher }, secrets);
        assert!(matches!(wrong, Err(AssemblyError::Router(RouterError::Unserved { .. }))));
    }
}
