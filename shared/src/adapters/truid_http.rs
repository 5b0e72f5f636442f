//! tru.ID over HTTPS with reqwest (rustls). Redirects are never followed, every call has a timeout,
//! and every answer is decoded strictly: a body we cannot trust is an error, never a pass.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::adapters::http_client::{ClientError, Retry, build_client, decode, join, read_body, same_origin, send};
use crate::adapters::oauth_token::{TokenBody, TokenCache};
use crate::domain::{CheckStatus, Phone};
use crate::ports::truid::{
    CheckCode, CheckId, Coverage, CreatedCheck, NewSubscriberCheck, SimCheckReport, SubscriberCheckReport,
};
use crate::ports::{Clock, SecretSource, TruId, TruIdError};

/// Scopes requested for the one token this client caches.
pub const SCOPES: &str = "coverage subscriber_check sim_check";

/// Where tru.ID is and how long a call may take.
#[derive(Debug, Clone)]
pub struct TruIdHttpConfig {
    /// `https://{eu,in,us}.api.tru.id`, an IDlayr host, or the sandbox on loopback.
    pub base_url: Url,
    /// Per call.
    pub timeout: Duration,
}

/// The tru.ID client, with its token cache.
pub struct TruIdClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
    secrets: Arc<dyn SecretSource>,
    /// The access token (single flight, refreshed before expiry).
    token: TokenCache,
}

#[derive(Deserialize)]
struct ProblemBody {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Turns a non-2xx answer into a typed error.
async fn problem(resp: reqwest::Response) -> TruIdError {
    let status = resp.status().as_u16();
    if status == 429 {
        let retry_after_secs = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        return TruIdError::RateLimited { retry_after_secs };
    }
    if status == 401 || status == 403 {
        return TruIdError::Unauthorized;
    }
    if status >= 500 {
        return TruIdError::Unavailable(format!("status {status}"));
    }
    let slug = read_body(resp)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<ProblemBody>(&b).ok())
        .and_then(|p| p.kind)
        .and_then(|t| t.rsplit_once('#').map(|(_, s)| s.to_owned()))
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'));
    TruIdError::Problem { status, slug }
}

#[derive(Deserialize)]
struct ReachabilityBody {
    #[serde(default)]
    products: Vec<ProductBody>,
}

#[derive(Deserialize)]
struct ProductBody {
    product_id: String,
}

#[derive(Deserialize)]
struct Link {
    href: String,
}

#[derive(Deserialize)]
struct CreateLinks {
    check_url: Link,
}

#[derive(Deserialize)]
struct CreateBody {
    check_id: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(rename = "_links")]
    links: CreateLinks,
}

#[derive(Deserialize)]
struct CheckBody {
    check_id: String,
    status: String,
    #[serde(rename = "match")]
    matched: Option<bool>,
    no_sim_change: Option<bool>,
    sim_change_within: Option<u32>,
    error_code: Option<String>,
}

#[derive(Deserialize)]
struct SimCheckBody {
    status: String,
    no_sim_change: Option<bool>,
    sim_change_within: Option<u32>,
    error_code: Option<String>,
}

impl TruIdClient {
    /// A client; nothing is fetched until the first call.
    pub fn new(
        config: TruIdHttpConfig,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        let http = build_client("tru.ID", &config.base_url, config.timeout)?;
        let mut base = config.base_url;
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        Ok(Self { http, base, timeout: config.timeout, secrets, token: TokenCache::new(clock) })
    }

    /// `path` is built only from constants and validated values (UUIDs, IP addresses).
    fn url(&self, path: &str) -> String {
        join(&self.base, path)
    }

    /// A client-credentials token and its `expires_in`.
    async fn fetch_token(&self, force_secret_refresh: bool) -> Result<(SecretString, i64), TruIdError> {
        let secrets = self.secrets.load(force_secret_refresh).await.map_err(|_| TruIdError::Unauthorized)?;
        let (Some(client_id), Some(secret)) = (secrets.truid_client_id.clone(), secrets.truid_client_secret.clone())
        else {
            return Err(TruIdError::Unauthorized);
        };
        let url = self.url("/oauth2/v1/token");
        let resp = send(Retry::Idempotent { retries: 2 }, self.timeout, || {
            self.http
                .post(&url)
                .basic_auth(&client_id, Some(secret.expose_secret()))
                .form(&[("grant_type", "client_credentials"), ("scope", SCOPES)])
        })
        .await?;
        if !resp.status().is_success() {
            return Err(problem(resp).await);
        }
        let body: TokenBody = decode(resp).await?;
        body.bearer().ok_or_else(|| TruIdError::InvalidResponse("token".into()))
    }

    /// A bearer token from the cache, for the client id the secret names now (a rotated client gets
    /// a new token). Failures are returned, never cached.
    async fn bearer(&self, force_secret_refresh: bool) -> Result<SecretString, TruIdError> {
        let client_id = self.secrets.load(false).await.ok().and_then(|s| s.truid_client_id.clone()).unwrap_or_default();
        self.token.bearer(&client_id, || self.fetch_token(force_secret_refresh)).await
    }

    /// Drops the cached token if it is still the one that was refused.
    async fn invalidate(&self, refused: &SecretString) {
        self.token.invalidate(refused).await;
    }

    /// A product call with the cached token; on 401/403 the token is dropped, the credentials are
    /// re-read, and the call is made once more.
    async fn authed(
        &self,
        retry: Retry,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, TruIdError> {
        let token = self.bearer(false).await?;
        let resp = send(retry, self.timeout, || build(token.expose_secret())).await?;
        if !matches!(resp.status().as_u16(), 401 | 403) {
            return Ok(resp);
        }
        self.invalidate(&token).await;
        let token = self.bearer(true).await?;
        Ok(send(retry, self.timeout, || build(token.expose_secret())).await?)
    }

    fn report(expected: &CheckId, body: CheckBody) -> Result<SubscriberCheckReport, TruIdError> {
        if CheckId::parse(&body.check_id).as_ref() != Some(expected) {
            return Err(TruIdError::InvalidResponse("check_id differs".into()));
        }
        Ok(SubscriberCheckReport {
            status: CheckStatus::parse(&body.status),
            matched: body.matched,
            no_sim_change: body.no_sim_change,
            sim_change_within: body.sim_change_within,
            error_code: body.error_code,
        })
    }
}

#[async_trait]
impl TruId for TruIdClient {
    async fn coverage(&self, ip: IpAddr) -> Result<Coverage, TruIdError> {
        // `IpAddr`'s Display is digits, dots, colons and hex only: safe as a path segment.
        let url = self.url(&format!("/coverage/v0.1/device_ips/{ip}"));
        let resp = self.authed(Retry::Idempotent { retries: 1 }, |t| self.http.get(&url).bearer_auth(t)).await?;
        match resp.status().as_u16() {
            200 => {
                let body: ReachabilityBody = decode(resp).await?;
                let silent = body.products.iter().any(|x| x.product_id.eq_ignore_ascii_case("SUK"));
                Ok(if silent { Coverage::SubscriberCheck } else { Coverage::None })
            }
            400 | 404 | 412 => match problem(resp).await {
                TruIdError::Problem { status: 400, slug } if slug.as_deref() != Some("mno_not_supported") => {
                    Err(TruIdError::Problem { status: 400, slug })
                }
                _ => Ok(Coverage::None),
            },
            _ => Err(problem(resp).await),
        }
    }

    async fn create_subscriber_check(&self, check: &NewSubscriberCheck) -> Result<CreatedCheck, TruIdError> {
        let url = self.url("/subscriber_check/v0.2/checks");
        let body = serde_json::json!({
            "phone_number": check.phone.e164(),
            "redirect_url": check.redirect_url,
            "reference_id": check.reference_id,
            "period": check.period_minutes,
        });
        let resp = self.authed(Retry::ConnectOnly, |t| self.http.post(&url).bearer_auth(t).json(&body)).await?;
        if resp.status().as_u16() != 201 {
            return Err(problem(resp).await);
        }
        let created: CreateBody = decode(resp).await?;
        let check_id =
            CheckId::parse(&created.check_id).ok_or_else(|| TruIdError::InvalidResponse("check_id".into()))?;
        let check_url =
            Url::parse(&created.links.check_url.href).map_err(|_| TruIdError::InvalidResponse("check_url".into()))?;
        // The browser is sent to this URL: only ever to the provider we configured.
        if !same_origin(&self.base, &check_url) {
            return Err(TruIdError::InvalidResponse("check_url host".into()));
        }
        Ok(CreatedCheck {
            check_id,
            check_url: SecretString::from(check_url.to_string()),
            ttl_secs: created.ttl.unwrap_or(120),
        })
    }

    async fn complete_subscriber_check(
        &self,
        id: &CheckId,
        code: &CheckCode,
    ) -> Result<SubscriberCheckReport, TruIdError> {
        let url = self.url(&format!("/subscriber_check/v0.2/checks/{}", id.expose()));
        let body = serde_json::json!([{ "op": "add", "path": "/code", "value": code.expose() }]);
        let resp = self
            .authed(Retry::ConnectOnly, |t| {
                self.http
                    .patch(&url)
                    .bearer_auth(t)
                    .header(reqwest::header::CONTENT_TYPE, "application/json-patch+json")
                    .body(body.to_string())
            })
            .await?;
        if resp.status().as_u16() != 200 {
            return Err(problem(resp).await);
        }
        Self::report(id, decode(resp).await?)
    }

    async fn get_subscriber_check(&self, id: &CheckId) -> Result<SubscriberCheckReport, TruIdError> {
        let url = self.url(&format!("/subscriber_check/v0.2/checks/{}", id.expose()));
        let resp = self.authed(Retry::Idempotent { retries: 1 }, |t| self.http.get(&url).bearer_auth(t)).await?;
        if resp.status().as_u16() != 200 {
            return Err(problem(resp).await);
        }
        Self::report(id, decode(resp).await?)
    }

    async fn create_sim_check(
        &self,
        phone: &Phone,
        reference_id: &str,
        period_minutes: u32,
    ) -> Result<SimCheckReport, TruIdError> {
        let url = self.url("/sim_check/v0.1/checks");
        let body =
            serde_json::json!({ "phone_number": phone.e164(), "reference_id": reference_id, "period": period_minutes });
        let resp =
            self.authed(Retry::Idempotent { retries: 1 }, |t| self.http.post(&url).bearer_auth(t).json(&body)).await?;
        if resp.status().as_u16() != 201 {
            return Err(problem(resp).await);
        }
        let b: SimCheckBody = decode(resp).await?;
        Ok(SimCheckReport {
            status: CheckStatus::parse(&b.status),
            no_sim_change: b.no_sim_change,
            sim_change_within: b.sim_change_within,
            error_code: b.error_code,
        })
    }
}
