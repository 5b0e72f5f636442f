//! CAMARA (GSMA Open Gateway) through an operator or aggregator: Number Verification v2 as a silent
//! prover (below), and SIM Swap v2 as a source of the SIM-swap gate:
//! `POST {apiRoot}/sim-swap/v2/check {phoneNumber, maxAge}` → `{swapped}`, with a two-legged
//! (client-credentials) token from the operator's or aggregator's token endpoint, the number in the
//! body. `maxAge` is the window in whole hours, rounded up; the API takes 1–2400, so a longer window
//! cannot be answered by it (and an operator that keeps less history says `OUT_OF_RANGE`): the next
//! source is asked (docs/providers.md, "SIM-swap sources").

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::adapters::http_client::{CallError, ClientError, Retry, build_client, decode, join, read_body, send};
use crate::adapters::oauth_token::{TokenBody, TokenCache};
use crate::domain::base_url::validate_base_url;
use crate::domain::{CheckOutcome, Phone};
use crate::ports::{
    Clock, ProviderFailure, Random, RedirectParams, SecretSource, SilentProver, SilentReport, SilentStart,
    SimSwapAnswer, SimSwapSource,
};

/// The longest `maxAge` SIM Swap v2 accepts, in hours.
pub const MAX_AGE_HOURS: u32 = 2400;

/// Where the operator's (or aggregator's) API and token endpoint are.
#[derive(Debug, Clone)]
pub struct CamaraConfig {
    /// `{apiRoot}`: SIM Swap is under `/sim-swap/v2`.
    pub api_root: Url,
    /// The OAuth 2.0 token endpoint (client credentials).
    pub token_url: Url,
    /// Per call.
    pub timeout: Duration,
}

/// The CAMARA SIM Swap client, with its token cache.
pub struct CamaraSimSwap {
    http: reqwest::Client,
    api_root: Url,
    token_url: Url,
    timeout: Duration,
    secrets: Arc<dyn SecretSource>,
    token: TokenCache,
}

#[derive(Deserialize)]
struct CheckBody {
    swapped: bool,
}

/// CAMARA's error body: `{status, code, message}`; only `code` is acted on.
#[derive(Deserialize, Default)]
struct ErrorInfo {
    #[serde(default)]
    code: String,
}

impl From<CallError> for ProviderFailure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => ProviderFailure::failure("timeout", "timed out"),
            CallError::Unavailable(s) => ProviderFailure::failure("unavailable", s),
            CallError::InvalidResponse(s) => ProviderFailure::failure("invalid_response", s),
        }
    }
}

/// The window in whole hours (rounded up), if SIM Swap v2 can be asked about all of it.
pub fn max_age_hours(window_minutes: u32) -> Option<u32> {
    Some(window_minutes.div_ceil(60).max(1)).filter(|h| *h <= MAX_AGE_HOURS)
}

impl CamaraSimSwap {
    /// A client; nothing is fetched until the first check.
    pub fn new(
        config: CamaraConfig,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        validate_base_url(&config.token_url).map_err(|reason| ClientError::BaseUrl { provider: "CAMARA", reason })?;
        let http = build_client("CAMARA", &config.api_root, config.timeout)?;
        Ok(Self {
            http,
            api_root: config.api_root,
            token_url: config.token_url,
            timeout: config.timeout,
            secrets,
            token: TokenCache::new(clock),
        })
    }

    async fn fetch_token(&self, force_secret_refresh: bool) -> Result<(SecretString, i64), ProviderFailure> {
        let secrets = self.secrets.load(force_secret_refresh).await.map_err(|_| ProviderFailure::unauthorized())?;
        let (Some(id), Some(secret)) = (secrets.camara_client_id.clone(), secrets.camara_client_secret.clone()) else {
            return Err(ProviderFailure::unauthorized());
        };
        let url = self.token_url.as_str();
        let resp = send(Retry::Idempotent { retries: 2 }, self.timeout, || {
            self.http
                .post(url)
                .basic_auth(&id, Some(secret.expose_secret()))
                .form(&[("grant_type", "client_credentials"), ("scope", "sim-swap:check")])
        })
        .await?;
        match resp.status().as_u16() {
            200 => {}
            400 | 401 | 403 => return Err(ProviderFailure::unauthorized()),
            s => return Err(ProviderFailure::failure("unavailable", format!("token status {s}"))),
        }
        let body: TokenBody = decode(resp).await?;
        body.bearer().ok_or_else(|| ProviderFailure::failure("invalid_response", "token"))
    }

    async fn bearer(&self, force_secret_refresh: bool) -> Result<SecretString, ProviderFailure> {
        let id = self.secrets.load(false).await.ok().and_then(|s| s.camara_client_id.clone()).unwrap_or_default();
        self.token.bearer(&id, || self.fetch_token(force_secret_refresh)).await
    }

    /// `POST /check`: a read, so one retry; on 401 the token is dropped, the credentials re-read and
    /// the call made once more.
    async fn check_once(&self, phone: &Phone, max_age: u32) -> Result<SimSwapAnswer, ProviderFailure> {
        let url = join(&self.api_root, "/sim-swap/v2/check");
        let body = json!({ "phoneNumber": phone.e164(), "maxAge": max_age });
        let mut resp = None;
        for force in [false, true] {
            let token = self.bearer(force).await?;
            let r = send(Retry::Idempotent { retries: 1 }, self.timeout, || {
                self.http.post(&url).bearer_auth(token.expose_secret()).json(&body)
            })
            .await?;
            if r.status().as_u16() != 401 {
                resp = Some(r);
                break;
            }
            self.token.invalidate(&token).await;
        }
        let Some(resp) = resp else { return Err(ProviderFailure::unauthorized()) };
        let status = resp.status().as_u16();
        if status == 200 {
            let checked: CheckBody = decode(resp).await?;
            return Ok(if checked.swapped { SimSwapAnswer::Changed } else { SimSwapAnswer::NotChanged });
        }
        let code = read_body(resp)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<ErrorInfo>(&b).ok())
            .unwrap_or_default()
            .code;
        match (status, code.as_str()) {
            // The operator keeps less history than the window: it cannot answer for all of it.
            (400, "OUT_OF_RANGE") => Ok(SimSwapAnswer::CannotTell("out_of_range")),
            // Not a number this operator (or aggregator) serves.
            (404, _) | (422, "SERVICE_NOT_APPLICABLE") => Ok(SimSwapAnswer::CannotTell("not_covered")),
            (401, _) => Err(ProviderFailure::unauthorized()),
            (403, _) => Err(ProviderFailure::failure("permission_denied", "permission denied")),
            (429, _) => Err(ProviderFailure::rate_limited()),
            (s, _) => Err(ProviderFailure::failure("unavailable", format!("status {s}"))),
        }
    }
}

#[async_trait]
impl SimSwapSource for CamaraSimSwap {
    fn name(&self) -> &'static str {
        "camara"
    }

    async fn check(&self, phone: &Phone, window_minutes: u32) -> Result<SimSwapAnswer, ProviderFailure> {
        let Some(max_age) = max_age_hours(window_minutes) else {
            return Ok(SimSwapAnswer::CannotTell("window_too_long"));
        };
        self.check_once(phone, max_age).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_in_hours_rounds_up_and_stays_in_range() {
        assert_eq!(max_age_hours(10_080), Some(168));
        assert_eq!(max_age_hours(61), Some(2));
        assert_eq!(max_age_hours(1), Some(1));
        assert_eq!(max_age_hours(2400 * 60), Some(2400));
        assert_eq!(max_age_hours(2400 * 60 + 1), None, "beyond what SIM Swap v2 answers for");
    }
}

/// Where the operator's (or aggregator's) authorization server and Number Verification are.
#[derive(Debug, Clone)]
pub struct CamaraNumberVerificationConfig {
    /// `{apiRoot}`: Number Verification is under `/number-verification/v2`.
    pub api_root: Url,
    /// The OpenID Connect authorization endpoint the device opens over mobile data.
    pub authorize_url: Url,
    /// The token endpoint (the authorization code, with its PKCE verifier).
    pub token_url: Url,
    /// Our callback: the authorization's `redirect_uri`, and the token request's.
    pub redirect_url: String,
    /// Per call.
    pub timeout: Duration,
}

/// CAMARA Number Verification v2 as a silent prover: the OpenID Connect authorization-code flow
/// with network-based authentication (`prompt=none`: the device, on mobile data, is recognised by
/// the operator, with no user interaction), PKCE (S256) and `state` bound to the flow, the code
/// exchanged for a three-legged token at the callback, then `POST /verify {phoneNumber}`:
/// `devicePhoneNumberVerified` decides. It says nothing of the SIM change: the SIM-swap sources
/// follow a match (docs/providers.md, "Silent provers").
pub struct CamaraNumberVerification {
    http: reqwest::Client,
    config: CamaraNumberVerificationConfig,
    secrets: Arc<dyn SecretSource>,
    random: Arc<dyn Random>,
}

#[derive(Deserialize)]
struct VerifyBody {
    #[serde(rename = "devicePhoneNumberVerified")]
    verified: bool,
}

/// The authorization server's redirect errors (RFC 6749 4.1.2.1, OpenID Connect 3.1.2.6), as a fixed
/// label; the description is never used.
fn authorization_error_label(error: &str) -> &'static str {
    match error {
        // Not recognised without interaction: not on this operator's mobile data.
        "login_required" | "interaction_required" => "login_required",
        "consent_required" => "consent_required",
        "access_denied" => "access_denied",
        "server_error" | "temporarily_unavailable" => "server_error",
        _ => "other",
    }
}

/// `base64url(sha256(verifier))`, without padding (RFC 7636 S256).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A 64-hex-digit `state` (the handle a redirect must name).
fn is_state(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

impl CamaraNumberVerification {
    /// A client; nothing is sent until the first proof.
    pub fn new(
        config: CamaraNumberVerificationConfig,
        secrets: Arc<dyn SecretSource>,
        random: Arc<dyn Random>,
    ) -> Result<Self, ClientError> {
        for url in [&config.authorize_url, &config.token_url] {
            validate_base_url(url).map_err(|reason| ClientError::BaseUrl { provider: "CAMARA", reason })?;
        }
        let http = build_client("CAMARA", &config.api_root, config.timeout)?;
        Ok(Self { http, config, secrets, random })
    }

    fn random_hex(&self, bytes: usize) -> Result<String, ProviderFailure> {
        let mut buf = vec![0u8; bytes];
        self.random.fill(&mut buf).map_err(|_| ProviderFailure::failure("no_randomness", "no randomness"))?;
        Ok(hex::encode(buf))
    }

    async fn client(&self) -> Result<(String, SecretString), ProviderFailure> {
        let secrets = self.secrets.load(false).await.map_err(|_| ProviderFailure::unauthorized())?;
        match (secrets.camara_client_id.clone(), secrets.camara_client_secret.clone()) {
            (Some(id), Some(secret)) => Ok((id, secret)),
            _ => Err(ProviderFailure::unauthorized()),
        }
    }

    /// The authorization code for a three-legged token: one request, never repeated (a code is
    /// single-use).
    async fn exchange(&self, code: &str, verifier: &str) -> Result<SecretString, ProviderFailure> {
        let (id, secret) = self.client().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", verifier),
        ];
        let url = self.config.token_url.as_str();
        let resp = send(Retry::ConnectOnly, self.config.timeout, || {
            self.http.post(url).basic_auth(&id, Some(secret.expose_secret())).form(&form)
        })
        .await?;
        match resp.status().as_u16() {
            200 => {}
            // `invalid_grant`: a code spent, expired or not ours — about this request, not a failure.
            400 => return Err(ProviderFailure::answer("invalid_grant", "code refused")),
            401 | 403 => return Err(ProviderFailure::unauthorized()),
            s => return Err(ProviderFailure::failure("unavailable", format!("token status {s}"))),
        }
        let body: TokenBody = decode(resp).await?;
        body.once().ok_or_else(|| ProviderFailure::failure("invalid_response", "token"))
    }
}

#[async_trait]
impl SilentProver for CamaraNumberVerification {
    fn name(&self) -> &'static str {
        "camara"
    }

    /// The operator says only at the authorization whether it recognises the connection.
    async fn covers(&self, _ip: IpAddr) -> Result<Option<bool>, ProviderFailure> {
        Ok(None)
    }

    async fn start(&self, _phone: &Phone, _redirect_url: &str, _window: u32) -> Result<SilentStart, ProviderFailure> {
        let (client_id, _) = self.client().await?;
        let state = self.random_hex(32)?;
        let verifier = self.random_hex(32)?;
        let mut url = self.config.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", "openid number-verification:verify")
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            // No `login_hint`: this URL goes to whoever started the proof, and a `tel:` hint would
            // show them the account's number. The operator knows the SIM from the connection.
            .append_pair("prompt", "none");
        Ok(SilentStart {
            handle: state,
            device_url: SecretString::from(url.to_string()),
            secret: Some(SecretString::from(verifier)),
        })
    }

    fn presented_handle(&self, redirect: &RedirectParams) -> Option<String> {
        redirect.get("state").filter(|s| is_state(s)).map(|s| s.to_ascii_lowercase())
    }

    fn redirect_error(&self, redirect: &RedirectParams) -> Option<&'static str> {
        redirect.get("error").map(|e| authorization_error_label(e))
    }

    async fn complete(
        &self,
        _handle: &str,
        secret: Option<&SecretString>,
        redirect: &RedirectParams,
        phone: &Phone,
        _window: u32,
    ) -> Result<SilentReport, ProviderFailure> {
        let Some(verifier) = secret else { return Err(ProviderFailure::failure("no_verifier", "no PKCE verifier")) };
        let Some(code) = redirect.get("code").filter(|c| (1..=512).contains(&c.len())) else {
            return Err(ProviderFailure::answer("bad_redirect", "no usable code"));
        };
        let token = self.exchange(code, verifier.expose_secret()).await?;
        let url = join(&self.config.api_root, "/number-verification/v2/verify");
        let body = json!({ "phoneNumber": phone.e164() });
        // A read of what the token says: one retry is safe.
        let resp = send(Retry::Idempotent { retries: 1 }, self.config.timeout, || {
            self.http.post(&url).bearer_auth(token.expose_secret()).json(&body)
        })
        .await?;
        match resp.status().as_u16() {
            200 => {
                let verified: VerifyBody = decode(resp).await?;
                let outcome = if verified.verified { CheckOutcome::Verified } else { CheckOutcome::Mismatch };
                Ok(SilentReport { outcome, sim_checked: false })
            }
            401 => Err(ProviderFailure::unauthorized()),
            403 => Err(ProviderFailure::answer("permission_denied", "not authorised for this number")),
            s => Err(ProviderFailure::failure("unavailable", format!("verify status {s}"))),
        }
    }

    /// A spent authorization code cannot be read back.
    async fn read_back(&self, _handle: &str, _window: u32) -> Result<Option<SilentReport>, ProviderFailure> {
        Ok(None)
    }
}
