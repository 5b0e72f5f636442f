//! The AWS SDK's configuration for every call a function makes to DynamoDB and Secrets Manager.
//!
//! - **Limits** (docs/security.md R7): without them the SDK waits as long as a connection stays open,
//!   and a store that accepts connections and never answers would hold every request until the
//!   platform's timeout. Within a request, each call also takes no longer than what is left of its
//!   deadline ([`crate::ports::deadline`]).
//! - **No provider chains** (docs/security.md R11): a Lambda function's region and credentials are in
//!   its environment; aws-config's default chains (profile files, SSO, web identity, IMDS, and their
//!   own HTTP clients) cost a cold start milliseconds and bring code nothing here runs.
//! - **One HTTP stack**: the SDK's requests go through reqwest with the process's one TLS
//!   configuration ([`crate::adapters::tls`]), not through a second HTTP/TLS stack of the SDK's own.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// Establishing a connection (DynamoDB's endpoints answer in milliseconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One try of an operation, from sending to the last byte of the answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// An operation, with its retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// Tries of one operation, the first included (the SDK's standard mode: throttling and transient
/// errors only, with jittered backoff and a retry quota).
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts above.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The bounded retry policy above.
pub fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(Duration::from_millis(500))
}

/// The SDK's HTTP client: reqwest, on the process's TLS configuration.
#[derive(Debug, Clone)]
pub struct ReqwestHttp(reqwest::Client);

impl ReqwestHttp {
    /// A client with [`CONNECT_TIMEOUT`]; the SDK enforces the attempt and operation timeouts itself.
    pub fn new() -> Result<Self, AwsSetupError> {
        crate::adapters::tls::reqwest_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(Self)
            .map_err(AwsSetupError::HttpClient)
    }
}

fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

impl HttpConnector for ReqwestHttp {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let method =
                reqwest::Method::from_bytes(request.method().as_bytes()).map_err(|e| ConnectorError::user(e.into()))?;
            let mut outbound = client.request(method, request.uri());
            for (name, value) in request.headers() {
                outbound = outbound.header(name, value);
            }
            // DynamoDB and Secrets Manager requests are JSON held in memory; never a stream.
            let body = request.body().bytes().ok_or_else(|| ConnectorError::user("a streaming request body".into()))?;
            let answer = outbound.body(body.to_vec()).send().await.map_err(connector_error)?;
            let status =
                StatusCode::try_from(answer.status().as_u16()).map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers: Vec<(String, String)> = answer
                .headers()
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned())))
                .collect();
            let bytes = answer.bytes().await.map_err(connector_error)?;
            let mut response = HttpResponse::new(status, SdkBody::from(bytes));
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            Ok(response)
        })
    }
}

impl HttpClient for ReqwestHttp {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Why the AWS SDK's configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    /// No region in the environment.
    #[error("AWS_REGION is not set")]
    MissingRegion,
    /// No credentials in the environment.
    #[error("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")]
    MissingCredentials,
    /// reqwest could not build the SDK's HTTP client.
    #[error("the AWS HTTP client could not be built: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Where the SDK's configuration comes from.
pub struct AwsEnvironment {
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub region: String,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: the execution role's, in
    /// Lambda.
    pub credentials: Credentials,
    /// `AWS_ENDPOINT_URL`: a local DynamoDB or moto.
    pub endpoint_url: Option<String>,
}

impl AwsEnvironment {
    /// From variables (`get` is the process environment in Lambda), or what is missing.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, AwsSetupError> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or(AwsSetupError::MissingRegion)?;
        let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) else {
            return Err(AwsSetupError::MissingCredentials);
        };
        let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment");
        Ok(Self { region, credentials, endpoint_url: var("AWS_ENDPOINT_URL") })
    }

    /// The SDK configuration: these settings, simguard's limits, and `http` as the HTTP client.
    pub fn sdk_config(self, http: ReqwestHttp) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region))
            .credentials_provider(SharedCredentialsProvider::new(self.credentials))
            .timeout_config(timeouts())
            .retry_config(retries())
            .http_client(http);
        builder.set_endpoint_url(self.endpoint_url);
        builder.build()
    }
}

/// The execution environment's AWS configuration.
pub fn from_env() -> Result<SdkConfig, AwsSetupError> {
    Ok(AwsEnvironment::from_lookup(|k| std::env::var(k).ok())?.sdk_config(ReqwestHttp::new()?))
}

/// An AWS SDK client, or what builds it. A deployed function builds the clients that not every
/// request needs (Secrets Manager, SQS) when a request first does: building one costs 0.1–0.3 ms of
/// a cold start (README.md, "Performance", `sdk-call`), which requests that never use it (a refusal,
/// a step that notifies nobody) should not pay (docs/security.md R11).
#[derive(Debug)]
pub enum AwsClient<C> {
    /// Built already.
    Ready(C),
    /// Built from this configuration, with this constructor, on first use.
    OnFirstUse(Arc<Unbuilt<C>>),
}

/// What builds an [`AwsClient`] on first use, and where it is kept once built.
#[derive(Debug)]
pub struct Unbuilt<C> {
    config: SdkConfig,
    build: fn(&SdkConfig) -> C,
    built: OnceLock<C>,
}

impl<C> AwsClient<C> {
    /// A client to be built by `build` from `config` when first used.
    pub fn on_first_use(config: SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self::OnFirstUse(Arc::new(Unbuilt { config, build, built: OnceLock::new() }))
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        match self {
            Self::Ready(client) => client,
            Self::OnFirstUse(lazy) => lazy.built.get_or_init(|| (lazy.build)(&lazy.config)),
        }
    }
}

// By hand: a derived `Clone` would ask `C: Clone` of the lazy variant too.
impl<C: Clone> Clone for AwsClient<C> {
    fn clone(&self) -> Self {
        match self {
            Self::Ready(client) => Self::Ready(client.clone()),
            Self::OnFirstUse(lazy) => Self::OnFirstUse(lazy.clone()),
        }
    }
}

impl<C> From<C> for AwsClient<C> {
    fn from(client: C) -> Self {
        Self::Ready(client)
    }
}

/// Runs one SDK call within what is left of the request's deadline; `None` when it ran out. The
/// SDK's own timeouts bound it outside a request.
pub async fn in_time<F: std::future::Future>(call: F) -> Option<F::Output> {
    match crate::ports::deadline::remaining() {
        Some(left) => tokio::time::timeout(left, call).await.ok(),
        None => Some(call.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_client_on_first_use_is_built_once_when_first_needed() {
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        fn build(_: &SdkConfig) -> String {
            BUILT.fetch_add(1, Ordering::SeqCst);
            "client".to_owned()
        }
        let lazy = AwsClient::on_first_use(SdkConfig::builder().build(), build);
        let copy = lazy.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "nothing built before it is needed");
        assert_eq!(lazy.get(), "client");
        assert_eq!(copy.get(), "client");
        assert_eq!(BUILT.load(Ordering::SeqCst), 1, "built once, shared by its clones");
        let ready = AwsClient::from("given".to_owned());
        assert_eq!(ready.get(), "given");
    }
}
