//! Twilio Lookup v2 with the `sim_swap` package as a source of the SIM-swap gate:
//! `GET {base}/v2/PhoneNumbers/{E164}?Fields=sim_swap`, HTTP Basic `AccountSid:AuthToken` (the Verify
//! account's). The answer is `sim_swap.last_sim_swap {last_sim_swap_date, swapped_period,
//! swapped_in_period}`, over a period the operator chooses, not ours: a swap dated inside the window,
//! or "swapped in the period" (which may reach into the window), is a change; "not swapped" over a
//! period at least as long as the window — or a last swap dated before it — is no change; anything
//! else cannot tell, and the next source is asked (docs/providers.md, "SIM-swap sources").

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use crate::adapters::http_client::{ClientError, Retry, build_client, decode, join, send};
use crate::domain::time::iso8601_duration_minutes;
use crate::domain::{Phone, Timestamp};
use crate::ports::{Clock, ProviderFailure, SecretSource, SimSwapAnswer, SimSwapSource};

/// Where Twilio Lookup is.
#[derive(Debug, Clone)]
pub struct TwilioLookupConfig {
    /// `https://lookups.twilio.com`, or the sandbox on loopback.
    pub base_url: Url,
    /// Per call.
    pub timeout: Duration,
}

/// The Twilio Lookup v2 client.
pub struct TwilioLookup {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
    secrets: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
struct PhoneNumber {
    #[serde(default)]
    sim_swap: Option<SimSwap>,
}

#[derive(Deserialize)]
struct SimSwap {
    #[serde(default)]
    last_sim_swap: Option<LastSimSwap>,
    #[serde(default)]
    error_code: Option<u32>,
}

#[derive(Deserialize)]
struct LastSimSwap {
    #[serde(default)]
    last_sim_swap_date: Option<String>,
    #[serde(default)]
    swapped_period: Option<String>,
    #[serde(default)]
    swapped_in_period: Option<bool>,
}

/// What Lookup's `last_sim_swap` says about the last `window_minutes` before `now`.
fn answer(last: &LastSimSwap, window_minutes: u32, now: Timestamp) -> SimSwapAnswer {
    let window_start = now.minus_secs(i64::from(window_minutes) * 60);
    if let Some(date) = last.last_sim_swap_date.as_deref() {
        return match Timestamp::parse_rfc3339(date) {
            Some(at) if at < window_start => SimSwapAnswer::NotChanged,
            Some(_) => SimSwapAnswer::Changed,
            None => SimSwapAnswer::Changed,
        };
    }
    let period = last.swapped_period.as_deref().and_then(iso8601_duration_minutes);
    match (last.swapped_in_period, period) {
        // A swap somewhere in the period may be in the window: not positively excluded.
        (Some(true), _) => SimSwapAnswer::Changed,
        (Some(false), Some(p)) if p >= u64::from(window_minutes) => SimSwapAnswer::NotChanged,
        (Some(false), Some(_)) => SimSwapAnswer::CannotTell("shorter_period"),
        _ => SimSwapAnswer::CannotTell("incomplete"),
    }
}

impl TwilioLookup {
    /// A client; nothing is sent until the first check.
    pub fn new(
        config: TwilioLookupConfig,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        let http = build_client("Twilio Lookup", &config.base_url, config.timeout)?;
        Ok(Self { http, base: config.base_url, timeout: config.timeout, secrets, clock })
    }
}

#[async_trait]
impl SimSwapSource for TwilioLookup {
    fn name(&self) -> &'static str {
        "twilio-lookup"
    }

    /// A read: one retry; refused credentials are re-read once.
    async fn check(&self, phone: &Phone, window_minutes: u32) -> Result<SimSwapAnswer, ProviderFailure> {
        // The number is a path segment: E.164 only, `+` encoded.
        let url = join(&self.base, &format!("/v2/PhoneNumbers/%2B{}?Fields=sim_swap", phone.digits()));
        let mut resp = None;
        for force in [false, true] {
            let secrets = self.secrets.load(force).await.map_err(|_| ProviderFailure::unauthorized())?;
            let (Some(sid), Some(token)) = (secrets.twilio_account_sid.clone(), secrets.twilio_auth_token.clone())
            else {
                return Err(ProviderFailure::unauthorized());
            };
            let r = send(Retry::Idempotent { retries: 1 }, self.timeout, || {
                self.http.get(&url).basic_auth(&sid, Some(token.expose_secret()))
            })
            .await?;
            if !matches!(r.status().as_u16(), 401 | 403) {
                resp = Some(r);
                break;
            }
        }
        let Some(resp) = resp else { return Err(ProviderFailure::unauthorized()) };
        match resp.status().as_u16() {
            200 => {}
            // Not a number Lookup knows.
            404 => return Ok(SimSwapAnswer::CannotTell("not_found")),
            429 => return Err(ProviderFailure::rate_limited()),
            s if (400..500).contains(&s) => return Ok(SimSwapAnswer::CannotTell("refused")),
            // 5xx, and what Lookup never answers (a redirect is not followed): a failure.
            s => return Err(ProviderFailure::failure("unavailable", format!("status {s}"))),
        }
        let body: PhoneNumber = decode(resp).await?;
        Ok(match body.sim_swap {
            // The package is not available for this number (its operator, its country).
            Some(SimSwap { error_code: Some(_), .. }) => SimSwapAnswer::CannotTell("not_covered"),
            Some(SimSwap { last_sim_swap: Some(last), .. }) => answer(&last, window_minutes, self.clock.now()),
            _ => SimSwapAnswer::CannotTell("no_data"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: u32 = 10_080;
    const NOW: Timestamp = Timestamp(1_800_000_000);

    fn last(date: Option<&str>, period: Option<&str>, swapped: Option<bool>) -> LastSimSwap {
        LastSimSwap {
            last_sim_swap_date: date.map(str::to_owned),
            swapped_period: period.map(str::to_owned),
            swapped_in_period: swapped,
        }
    }

    #[test]
    fn only_a_complete_no_passes() {
        let eight_days_ago = Timestamp(NOW.0 - 8 * 86_400).to_rfc3339();
        let yesterday = Timestamp(NOW.0 - 86_400).to_rfc3339();
        let cases = [
            (last(Some(&eight_days_ago), Some("PT24H"), Some(false)), SimSwapAnswer::NotChanged),
            (last(Some(&yesterday), Some("PT24H"), Some(false)), SimSwapAnswer::Changed),
            (last(Some("not a date"), None, Some(false)), SimSwapAnswer::Changed),
            (last(None, Some("PT48H"), Some(true)), SimSwapAnswer::Changed),
            (last(None, Some("P14D"), Some(true)), SimSwapAnswer::Changed),
            (last(None, Some("P7D"), Some(false)), SimSwapAnswer::NotChanged),
            (last(None, Some("PT168H"), Some(false)), SimSwapAnswer::NotChanged),
            (last(None, Some("PT24H"), Some(false)), SimSwapAnswer::CannotTell("shorter_period")),
            (last(None, Some("P1Y"), Some(false)), SimSwapAnswer::CannotTell("incomplete")),
            (last(None, None, Some(false)), SimSwapAnswer::CannotTell("incomplete")),
            (last(None, Some("P7D"), None), SimSwapAnswer::CannotTell("incomplete")),
        ];
        for (l, want) in cases {
            assert_eq!(
                answer(&l, WEEK, NOW),
                want,
                "{:?} {:?} {:?}",
                l.last_sim_swap_date,
                l.swapped_period,
                l.swapped_in_period
            );
        }
    }
}
