//! An OAuth 2.0 client-credentials access token, cached in memory for the life of the process
//! (docs/providers.md, "Credentials"): refreshed a minute before it expires, dropped when the
//! provider refuses it or the client id changes (a rotated secret), and fetched by one request at a
//! time — concurrent requests wait for that fetch instead of each making their own. Failures are
//! never cached. tru.ID's client and the CAMARA client share it.

use std::future::Future;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::Timestamp;
use crate::ports::Clock;

/// An OAuth 2.0 token answer (RFC 6749 5.1), as far as we use it.
#[derive(serde::Deserialize)]
pub struct TokenBody {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

impl TokenBody {
    /// A bearer token to cache, with its `expires_in`; `None` for an answer that is not one (another
    /// type, empty, no or a spent life).
    pub fn bearer(self) -> Option<(SecretString, i64)> {
        let life = self.expires_in.filter(|s| *s > 0)?;
        self.once().map(|token| (token, life))
    }

    /// A bearer token for one call right away (`expires_in` is only recommended: RFC 6749 5.1).
    pub fn once(self) -> Option<SecretString> {
        let usable = self.token_type.eq_ignore_ascii_case("bearer") && !self.access_token.is_empty();
        usable.then(|| SecretString::from(self.access_token))
    }
}

/// A token is refreshed this long before it expires.
pub const REFRESH_MARGIN_SECS: i64 = 60;

struct Cached {
    client_id: String,
    token: SecretString,
    expires_at: Timestamp,
}

/// One provider's cached token.
pub struct TokenCache {
    /// Held across a refresh: the single flight.
    slot: tokio::sync::Mutex<Option<Cached>>,
    clock: Arc<dyn Clock>,
}

impl TokenCache {
    /// Empty; the first `bearer` fetches.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { slot: tokio::sync::Mutex::new(None), clock }
    }

    /// The cached token of `client_id` while it is fresh; else `fetch`'s (the token and its
    /// `expires_in`), cached.
    pub async fn bearer<E, F, Fut>(&self, client_id: &str, fetch: F) -> Result<SecretString, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SecretString, i64), E>>,
    {
        let mut slot = self.slot.lock().await;
        let now = self.clock.now();
        if let Some(t) = slot.as_ref()
            && t.client_id == client_id
            && t.expires_at > now.plus_secs(REFRESH_MARGIN_SECS)
        {
            return Ok(t.token.clone());
        }
        *slot = None;
        let (token, expires_in) = fetch().await?;
        *slot = Some(Cached {
            client_id: client_id.to_owned(),
            token: token.clone(),
            expires_at: self.clock.now().plus_secs(expires_in),
        });
        Ok(token)
    }

    /// Drops the cached token if it is still the one that was refused (another request may already
    /// have replaced it).
    pub async fn invalidate(&self, refused: &SecretString) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|t| t.token.expose_secret() == refused.expose_secret()) {
            *slot = None;
        }
    }
}
