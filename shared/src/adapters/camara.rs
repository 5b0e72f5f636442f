//! CAMARA (GSMA Open Gateway) SIM Swap v2 as a source of the SIM-swap gate:
//! `POST {apiRoot}/sim-swap/v2/check {phoneNumber, maxAge}` → `{swapped}`, with a two-legged
//! (client-credentials) token from the operator's or aggregator's token endpoint, the number in the
//! body. `maxAge` is the window in whole hours, rounded up; the API takes 1–2400, so a longer window
//! cannot be answered by it (and an operator that keeps less history says `OUT_OF_RANGE`): the next
//! source is asked (docs/providers.md, "SIM-swap sources").

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::adapters::http_client::{CallError, ClientError, Retry, build_client, decode, join, read_body, send};
use crate::adapters::oauth_token::TokenCache;
use crate::domain::Phone;
use crate::domain::base_url::validate_base_url;
use crate::ports::{Clock, ProviderFailure, SecretSource, SimSwapAnswer, SimSwapSource};

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
struct TokenBody {
    access_token: String,
    token_type: String,
    expires_in: i64,
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
        if !body.token_type.eq_ignore_ascii_case("bearer") || body.expires_in <= 0 || body.access_token.is_empty() {
            return Err(ProviderFailure::failure("invalid_response", "token"));
        }
        Ok((SecretString::from(body.access_token), body.expires_in))
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
