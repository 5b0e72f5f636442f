//! The verification API (function `account`): a relying site's backend asks simguard to prove that
//! its user holds a phone number, and redeems the signed result; anyone may read the public keys.
//!
//! - `POST /api/v1/verifications` — `X-Simguard-Api-Key: <API key>`, `{phone, purpose, return_url,
//!   state?}` → `201 {id, url, expires_at}`: the browser is sent to `url`, simguard's hosted page.
//! - `POST /api/v1/verifications/redeem` — the same key, `{token}` → `200` with the token's claims,
//!   once: a token redeemed before is `409 result_token_used`.
//! - `GET /.well-known/jwks.json` — the result tokens' public keys (a rollover publishes two).
//! - `POST /api/v1/iam/verifications` and `…/iam/verifications/redeem` — the same, for a backend
//!   inside AWS: API Gateway authorises its IAM signature, and the principal names the site.
//!
//! These routes take no cookies and make no use of the browser's origin: the key is the credential,
//! so they are exempt from the site's same-origin rule (docs/security.md S36). The key travels in a
//! header of its own rather than `Authorization`, which CloudFront forwards to an origin only as part
//! of a cache key.

/// The header that carries a site's API key.
pub const API_KEY_HEADER: &str = "x-simguard-api-key";

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::{Core, PasswordApp};
use crate::domain::relying_site::{PresentedKey, RelyingSite, principal};
use crate::domain::result_token::Purpose;
use crate::domain::verification::{
    BEGIN_WITHIN_SECS, Verification, VerificationStatus, VerificationSubject, valid_state,
};
use crate::domain::{Phone, Token};
use crate::http::extract::IamCaller;
use crate::http::limits::{HOUR, Limit, enforce};
use crate::http::{ApiJson, Problem};
use crate::ports::{Metric, SignerError};

/// Verifications a site may create per hour (each can cost an SMS; the SMS limits apply as well).
pub const VERIFICATIONS_PER_SITE_HOUR: u32 = 600;

/// `POST /api/v1/verifications`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVerification {
    /// The number to prove, in E.164 (`+447700900001`).
    pub phone: String,
    /// Why the site asks.
    pub purpose: Purpose,
    /// Where the browser goes back: one of the site's registered return URLs, exactly.
    pub return_url: String,
    /// The site's own value, handed back untouched on the return URL (printable ASCII, ≤ 256).
    #[serde(default)]
    pub state: Option<String>,
}

/// `POST /api/v1/verifications/redeem`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    /// The result token from the return URL.
    pub token: String,
}

/// The site whose live API key the request presents in [`API_KEY_HEADER`]. One answer for every
/// failure (no header, not a key, unknown site or key, revoked, wrong secret).
async fn authenticate(core: &Core, headers: &HeaderMap) -> Result<RelyingSite, Problem> {
    let presented =
        headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| PresentedKey::parse(v.trim()));
    let Some(presented) = presented else {
        tracing::warn!(event = "api_key_refused", why = "malformed", "a verification API call without a key");
        return Err(Problem::api_key_invalid());
    };
    let (record, site) =
        tokio::join!(core.store.api_key(&presented.site, &presented.key_id), core.store.site(&presented.site));
    match (record?, site?) {
        (Some(record), Some(site)) if presented.matches(&record) => Ok(site),
        _ => {
            tracing::warn!(event = "api_key_refused", site = presented.site.as_str(), "not a live key of the site");
            Err(Problem::api_key_invalid())
        }
    }
}

/// The site an IAM-authorised caller is registered for (`simguard-admin put-site-principal`): a
/// role's every session, or a user. One answer for every failure.
async fn authenticate_iam(core: &Core, caller: Option<String>) -> Result<RelyingSite, Problem> {
    let Some(principal) = caller.as_deref().and_then(principal) else {
        tracing::warn!(event = "api_key_refused", why = "no_iam_principal", "an IAM route without a known principal");
        return Err(Problem::api_key_invalid());
    };
    let site = match core.store.site_of_principal(&principal).await? {
        Some(id) => core.store.site(&id).await?,
        None => None,
    };
    site.ok_or_else(|| {
        tracing::warn!(event = "api_key_refused", why = "principal_not_registered", "an IAM caller of no site");
        Problem::api_key_invalid()
    })
}

/// `POST /api/v1/verifications`: [`start`] for the site whose API key the request presents.
pub async fn create(
    State(app): State<PasswordApp>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewVerification>,
) -> Result<Response, Problem> {
    let site = authenticate(&app, &headers).await?;
    start(&app, site, body).await
}

/// `POST /api/v1/iam/verifications`: [`start`] for the site the IAM principal is registered for.
pub async fn create_iam(
    State(app): State<PasswordApp>,
    IamCaller(caller): IamCaller,
    ApiJson(body): ApiJson<NewVerification>,
) -> Result<Response, Problem> {
    let site = authenticate_iam(&app, caller).await?;
    start(&app, site, body).await
}

/// `POST /api/v1/verifications/redeem`: [`redeem_for`] the site whose API key the request presents.
pub async fn redeem(
    State(app): State<PasswordApp>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Redeem>,
) -> Result<Response, Problem> {
    let site = authenticate(&app, &headers).await?;
    redeem_for(&app, site, body).await
}

/// `POST /api/v1/iam/verifications/redeem`: [`redeem_for`] the IAM principal's site.
pub async fn redeem_iam(
    State(app): State<PasswordApp>,
    IamCaller(caller): IamCaller,
    ApiJson(body): ApiJson<Redeem>,
) -> Result<Response, Problem> {
    let site = authenticate_iam(&app, caller).await?;
    redeem_for(&app, site, body).await
}

/// Starts a verification for the site's user: checks the return URL (exactly registered), the number
/// and the per-site limit; answers the hosted page's URL with a single-use token in its fragment
/// (never sent to a server by the browser, never in a `Referer`).
async fn start(app: &PasswordApp, site: RelyingSite, body: NewVerification) -> Result<Response, Problem> {
    if !site.allows_return_url(&body.return_url) {
        tracing::warn!(event = "verification_refused", why = "return_url", site = site.id.as_str(), "return URL");
        return Err(Problem::return_url_not_registered());
    }
    if body.state.as_deref().is_some_and(|s| !valid_state(s)) {
        return Err(Problem::invalid_request().with_reason("state"));
    }
    // E.164 only: a site's backend knows the country; no guessing from a default region.
    let phone = match body.phone.starts_with('+') {
        true => Phone::parse(&body.phone, None).map_err(|_| Problem::invalid_phone())?,
        false => return Err(Problem::invalid_phone()),
    };
    let limit = [Limit::new("verifications_site", site.id.as_str(), VERIFICATIONS_PER_SITE_HOUR, HOUR)];
    // No keys, no verification: a flow that could never end in a result is not started.
    let (allowed, keys) = tokio::join!(enforce(app, &limit), app.results.jwks());
    allowed?;
    if let Err(e) = keys {
        tracing::error!(event = "verifications_unavailable", error = %e, "no result signing key");
        return Err(Problem::verifications_unavailable());
    }
    let now = app.clock.now();
    let link: Token = app.random.token()?;
    let id = format!("vrf_{}", app.random.id()?);
    let verification = Verification {
        begin_hash: link.hash(),
        subject: VerificationSubject {
            id: id.clone(),
            site: site.id.clone(),
            phone,
            purpose: body.purpose,
            return_url: body.return_url,
            state: body.state,
        },
        site_name: site.name.clone(),
        status: VerificationStatus::Pending,
        created_at: now,
        expires_at: now.plus_secs(BEGIN_WITHIN_SECS),
    };
    app.store.put_verification(&verification).await?;
    tracing::info!(event = "verification_created", site = site.id.as_str(), "verification created");
    app.metrics.record(Metric::StepOutcome { step: "verification", outcome: "created" });
    let url = app.settings.public_url(&format!("/verify/#{}", link.expose()));
    let body = json!({ "id": id, "url": url, "expires_at": verification.expires_at.0 });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Checks a result token (ours, for this site, alive) and marks it used: the claims the first time,
/// `result_token_used` ever after.
async fn redeem_for(app: &PasswordApp, site: RelyingSite, body: Redeem) -> Result<Response, Problem> {
    let now = app.clock.now();
    let claims = match app.results.verify(&body.token, site.id.as_str(), now).await {
        Ok(claims) => claims,
        Err(SignerError::Expired) => return Err(Problem::result_token_expired()),
        Err(SignerError::Invalid) => {
            tracing::warn!(event = "result_refused", site = site.id.as_str(), "not a result token for this site");
            return Err(Problem::result_token_invalid());
        }
        Err(e @ SignerError::Unavailable(_)) => {
            tracing::error!(event = "verifications_unavailable", error = %e, "no result signing key");
            return Err(Problem::verifications_unavailable());
        }
    };
    if !app.store.redeem_result(&claims.jti, crate::domain::Timestamp(claims.exp), now).await? {
        tracing::warn!(event = "result_replayed", site = site.id.as_str(), "a result token redeemed twice");
        return Err(Problem::result_token_used());
    }
    app.metrics.record(Metric::StepOutcome { step: "verification", outcome: "redeemed" });
    Ok(axum::Json(claims).into_response())
}

/// The public keys of the result tokens. Cached briefly by clients and CloudFront: a new key is
/// published a while before it signs (docs/verification-api.md, "Keys").
pub async fn jwks(State(app): State<PasswordApp>) -> Result<Response, Problem> {
    let keys = app.results.jwks().await.map_err(|e| {
        tracing::error!(event = "verifications_unavailable", error = %e, "no result signing key");
        Problem::verifications_unavailable()
    })?;
    let mut resp = axum::Json(keys).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(resp)
}
