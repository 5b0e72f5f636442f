//! What every provider client shares: one way to build the HTTP client (timeouts, no redirects,
//! HTTPS only outside loopback), bounded body reads, strict decoding, and the retry loop.

use std::time::Duration;

use url::Url;

use crate::domain::base_url::{BaseUrlError, is_loopback, validate_base_url};
use crate::ports::{OtpError, TruIdError, deadline};

/// Bodies larger than this are not provider answers we expect.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A failure below the provider's own semantics; each port's error type converts from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer in time.
    Timeout,
    /// Connection or transport failure, or a 5xx; a fixed label, never a URL or body.
    Unavailable(String),
    /// An answer we could not read; a fixed label.
    InvalidResponse(String),
}

impl From<CallError> for TruIdError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => TruIdError::Timeout,
            CallError::Unavailable(s) => TruIdError::Unavailable(s),
            CallError::InvalidResponse(s) => TruIdError::InvalidResponse(s),
        }
    }
}

/// A provider client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL breaks the rule of [`crate::domain::base_url`].
    #[error("the {provider} base URL {reason}")]
    BaseUrl {
        /// Which provider.
        provider: &'static str,
        /// Why.
        reason: BaseUrlError,
    },
    /// The TLS stack could not be set up.
    #[error("the {provider} HTTP client could not be built")]
    Build {
        /// Which provider.
        provider: &'static str,
    },
}

impl From<CallError> for OtpError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => OtpError::Timeout,
            CallError::Unavailable(s) => OtpError::Unavailable(s),
            CallError::InvalidResponse(s) => OtpError::InvalidResponse(s),
        }
    }
}

/// A client for one provider: its timeout, redirects never followed (no SSRF through an answer),
/// HTTPS enforced unless the base is loopback.
pub fn build_client(provider: &'static str, base: &Url, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    validate_base_url(base).map_err(|reason| ClientError::BaseUrl { provider, reason })?;
    crate::adapters::tls::reqwest_builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!is_loopback(base))
        .user_agent(concat!("simguard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| ClientError::Build { provider })
}

/// Whether `url` (a URL a provider answered, for the device to open) is on the provider's own origin
/// (scheme, host and port): an answer never sends the device anywhere else.
pub fn same_origin(base: &Url, url: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// `base` + `path`, where `path` is built only from constants and validated values.
pub fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// A reqwest failure as a [`CallError`], with a fixed label.
pub fn transport_error(e: &reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else {
        // A fixed label: the error's text may name the URL.
        CallError::Unavailable(if e.is_connect() { "connect".into() } else { "transport".into() })
    }
}

/// The body, up to [`MAX_BODY_BYTES`].
pub async fn read_body(resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(CallError::InvalidResponse("body too large".into()));
    }
    let bytes = resp.bytes().await.map_err(|e| transport_error(&e))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(CallError::InvalidResponse("body too large".into()));
    }
    Ok(bytes.to_vec())
}

/// Strict decoding: a body of the wrong shape or types is an error, never a partial pass.
pub fn decode_bytes<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CallError> {
    serde_json::from_slice(body).map_err(|e| {
        let category = match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
        CallError::InvalidResponse(format!("decode: {category}"))
    })
}

/// The body, strictly decoded.
pub async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, CallError> {
    decode_bytes(&read_body(resp).await?)
}

/// When a call may be sent again.
#[derive(Debug, Clone, Copy)]
pub enum Retry {
    /// Reads and token requests: retry transport failures, timeouts and 5xx.
    Idempotent {
        /// At most this many more tries.
        retries: u32,
    },
    /// Creates and code checks: only when the request provably never reached the server.
    ConnectOnly,
}

/// The least time worth starting a call with: less than this left of the request, and the call is
/// not made (it would only time out).
pub const MIN_CALL: Duration = Duration::from_millis(50);

/// Kept back from every provider call for the work after it: the store writes that record the
/// outcome, and the answer (docs/security.md R7).
pub const KEEP_AFTER_CALL: Duration = Duration::from_millis(300);

/// Sends, retrying per `retry` with exponential backoff and jitter (REL05-BP03), at most twice. Each
/// try takes at most `timeout`, and never longer than what is left of the request's deadline less
/// [`KEEP_AFTER_CALL`]; no try starts that could not finish in time.
pub async fn send(
    retry: Retry,
    timeout: Duration,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, CallError> {
    let mut attempt = 0u32;
    loop {
        let Some(this_try) = deadline::capped_leaving(timeout, KEEP_AFTER_CALL).filter(|t| *t >= MIN_CALL) else {
            return Err(CallError::Timeout);
        };
        let result = build().timeout(this_try).send().await;
        let retryable = match (&result, retry) {
            (Err(e), Retry::ConnectOnly) => e.is_connect(),
            (Err(_), Retry::Idempotent { retries }) => attempt < retries,
            (Ok(r), Retry::Idempotent { retries }) => r.status().is_server_error() && attempt < retries,
            (Ok(_), Retry::ConnectOnly) => false,
        };
        if !retryable || attempt >= 2 {
            return result.map_err(|e| transport_error(&e));
        }
        attempt += 1;
        let mut jitter = [0u8; 1];
        let _ = getrandom::fill(&mut jitter);
        let pause = Duration::from_millis(50 * 2u64.pow(attempt) + u64::from(jitter[0] % 50));
        if !deadline::time_for(pause + MIN_CALL + KEEP_AFTER_CALL) {
            return result.map_err(|e| transport_error(&e));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Runs `call` with credentials picked from the secret; if the provider refuses them, re-reads the
/// secret once (a rotated key, docs/security.md R5) and tries again. A refused request did nothing, so
/// repeating it is safe.
pub async fn with_rotating_credentials<T, F, Fut>(
    secrets: &dyn crate::ports::SecretSource,
    pick: fn(&crate::ports::ProviderSecrets) -> Option<(String, secrecy::SecretString)>,
    call: F,
) -> Result<T, OtpError>
where
    F: Fn(String, secrecy::SecretString) -> Fut,
    Fut: std::future::Future<Output = Result<T, OtpError>>,
{
    let mut outcome = Err(OtpError::Unauthorized);
    for force_refresh in [false, true] {
        let loaded = secrets.load(force_refresh).await.map_err(|_| OtpError::Unauthorized)?;
        let (key, secret) = pick(&loaded).ok_or(OtpError::Unauthorized)?;
        outcome = call(key, secret).await;
        if !matches!(outcome, Err(OtpError::Unauthorized)) {
            break;
        }
    }
    outcome
}
