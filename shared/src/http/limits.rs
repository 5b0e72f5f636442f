//! Rate-limit buckets. Keys never hold an address or email in the clear.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::app::Core;
use crate::config::Limits;
use crate::domain::{Email, FlowKind, Phone, SmsKeys, Timestamp};
use crate::http::Problem;
use crate::ports::{Metric, RateDecision};

/// An hour, in seconds.
pub const HOUR: u64 = 3600;
/// A quarter of an hour, in seconds.
pub const QUARTER_HOUR: u64 = 900;
/// Ten minutes, in seconds.
pub const TEN_MINUTES: u64 = 600;
/// A day, in seconds.
pub const DAY: u64 = 86400;

/// IPv4 per address; IPv6 per /64, the block one subscriber usually gets.
pub fn ip_key(ip: IpAddr) -> String {
    let scope = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    };
    hex::encode(&Sha256::digest(scope.as_bytes())[..16])
}

/// IPv4 per /24, IPv6 per /48: the block a pumping script rotates addresses within.
pub fn ip_block_key(ip: IpAddr) -> String {
    let scope = match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    };
    hex::encode(&Sha256::digest(scope.as_bytes())[..16])
}

/// A phone number or number prefix, hashed.
pub fn phone_key(number_or_prefix: &str) -> String {
    hex::encode(&Sha256::digest(number_or_prefix.as_bytes())[..16])
}

/// The per-number SMS limits' keys of a flow: the account's number and its prefix, or, for an unknown
/// email, stand-ins derived from its key, so that the limits behave the same for it (docs/security.md
/// S24).
pub fn sms_keys(phone: Option<&Phone>, unknown_email_key: Option<&str>) -> SmsKeys {
    match phone {
        Some(p) => SmsKeys { number: phone_key(p.e164()), prefix: phone_key(p.prefix_bucket()) },
        None => {
            let stand_in = unknown_email_key.unwrap_or_default();
            SmsKeys { number: phone_key(stand_in), prefix: phone_key(stand_in.get(..4).unwrap_or("")) }
        }
    }
}

/// An email address, hashed.
pub fn email_key(email: &Email) -> String {
    hex::encode(&Sha256::digest(email.as_str().as_bytes())[..16])
}

/// One rate limit a request counts in.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The bucket's name, for logs and metrics (the key itself is never logged).
    pub kind: &'static str,
    /// Whose events it counts (a hash).
    pub key: String,
    /// Events allowed per window.
    pub limit: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

impl Limit {
    /// `limit` events of `kind` for `key` per `window_secs`.
    pub fn new(kind: &'static str, key: impl Into<String>, limit: u32, window_secs: u64) -> Self {
        Self { kind, key: key.into(), limit, window_secs }
    }

    fn bucket(&self) -> String {
        format!("{}#{}", self.kind, self.key)
    }
}

/// Counts one event in each of `limits`; over any of them it is the generic 429 and nothing else
/// happens. Independent counters are counted at once — one round trip, not one per limit
/// (docs/security.md R11) — and what the others counted is given back when one refuses, so a
/// refused request uses up no budget.
pub async fn enforce(core: &Core, limits: &[Limit]) -> Result<(), Problem> {
    let mut taken = Reservations::default();
    taken.take_all(core, limits).await?;
    Ok(())
}

/// Events counted in rate-limit buckets by one request, to give back if what they counted does not
/// happen (docs/security.md R8): a send the provider refused or never answered uses up no budget.
#[derive(Default)]
pub struct Reservations {
    taken: Vec<(String, u64)>,
    at: Option<Timestamp>,
}

impl Reservations {
    /// Counts one event in each of `limits`, all at once. Over any limit, everything taken (by this
    /// call and earlier ones) is given back — nothing happened — and the answer is the generic 429,
    /// with the longest wait of the limits that refused.
    pub async fn take_all(&mut self, core: &Core, limits: &[Limit]) -> Result<(), Problem> {
        let now = *self.at.get_or_insert_with(|| core.clock.now());
        let buckets: Vec<String> = limits.iter().map(Limit::bucket).collect();
        let hits = limits.iter().zip(&buckets).map(|(l, b)| core.limiter.hit(b, l.limit, l.window_secs, now));
        let decisions = futures_util::future::join_all(hits).await;
        let mut wait = None;
        let mut failure = None;
        for ((l, bucket), decision) in limits.iter().zip(buckets).zip(decisions) {
            match decision {
                Ok(RateDecision::Allowed) => self.taken.push((bucket, l.window_secs)),
                Ok(RateDecision::Limited { retry_after_secs }) => {
                    tracing::warn!(event = "rate_limited", bucket = l.kind, "request refused by a rate limit");
                    core.metrics.record(Metric::RateLimited { bucket: l.kind });
                    wait = wait.max(Some(retry_after_secs));
                }
                Err(e) => failure = Some(e),
            }
        }
        let refused = match (wait, failure) {
            (Some(secs), _) => Problem::rate_limited(secs),
            (None, Some(e)) => e.into(),
            (None, None) => return Ok(()),
        };
        std::mem::take(self).release(core).await;
        Err(refused)
    }

    /// Gives back every event taken, all at once. A failure to give one back leaves it counted: the
    /// limit errs on the side of refusing.
    pub async fn release(self, core: &Core) {
        let Some(at) = self.at else { return };
        let releases = self.taken.iter().map(|(bucket, window_secs)| core.limiter.release(bucket, *window_secs, at));
        for result in futures_util::future::join_all(releases).await {
            if let Err(e) = result {
                tracing::warn!(event = "limit_not_released", error = %e, "a rate-limit reservation was kept");
            }
        }
    }
}

/// The reset path sends at most one SMS to a number per this many seconds. Anyone who knows an email
/// can start resets, so their sends must leave room under the provider's own per-number limit (Twilio:
/// 5 per 10 minutes) for the owner's sign-in: fixed five-minute windows put at most three reset SMS
/// in any ten minutes (docs/security.md S22).
const RESET_SMS_EVERY_SECS: u64 = 300;

/// The share of the hourly SMS budget that each anonymous kind of flow (resets, relying sites'
/// verifications) may use: a quarter each (at least one SMS), so that at least half is left for
/// sign-ins whenever the budget is 4 or more.
const ANONYMOUS_SHARE_DIVISOR: u32 = 4;

/// The limits on texting a number of a flow of `kind`: the number's (per few minutes and per day),
/// its prefix's and the global budget. The global budget (`SIMGUARD_LIMIT_SMS_GLOBAL_HOUR`) is one
/// ceiling on every SMS sent, whatever the flow; resets and relying sites' verifications may each use
/// only a quarter of it, and the number's and prefix's budgets are kept apart by kind: anyone who
/// knows an email can start resets, and a site may let anyone start a verification for a number
/// they type; neither must use up the budget the owner's sign-in (a Cognito sign-in's too) draws on
/// (docs/security.md F2, S22, S36). The caller's address's limits are the step's own (a Cognito
/// trigger does not know it).
pub fn number_limits(l: &Limits, kind: FlowKind, keys: &SmsKeys) -> Vec<Limit> {
    let share = (l.sms_global_hour / ANONYMOUS_SHARE_DIVISOR).max(1);
    // (share of the global budget, prefix, day) buckets; a phone change is its signed-in owner's, as
    // a sign-in is.
    let (anonymous_share, prefix, day) = match kind {
        FlowKind::Reset => (Some("sms_global_reset"), "sms_prefix_reset", "sms_number_day_reset"),
        FlowKind::Verification => (Some("sms_global_verify"), "sms_prefix_verify", "sms_number_day_verify"),
        FlowKind::Login | FlowKind::PhoneChange => (None, "sms_prefix_login", "sms_number_day_login"),
    };
    // The anonymous kinds at the reset's pace: one SMS per number per five minutes.
    let per_10_minutes = match kind {
        FlowKind::Reset => Limit::new("sms_number_5min_reset", &*keys.number, 1, RESET_SMS_EVERY_SECS),
        FlowKind::Verification => Limit::new("sms_number_5min_verify", &*keys.number, 1, RESET_SMS_EVERY_SECS),
        FlowKind::Login | FlowKind::PhoneChange => {
            Limit::new("sms_number_10min_login", &*keys.number, l.sms_per_number_10min, TEN_MINUTES)
        }
    };
    let mut limits = vec![Limit::new("sms_global", "all", l.sms_global_hour, HOUR)];
    limits.extend(anonymous_share.map(|bucket| Limit::new(bucket, "all", share, HOUR)));
    limits.extend([
        Limit::new(prefix, &*keys.prefix, l.sms_per_prefix_hour, HOUR),
        per_10_minutes,
        Limit::new(day, &*keys.number, l.sms_per_number_day, DAY),
    ]);
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/security.md F2, S22, S36: resets, site verifications and sign-ins share only the global
    /// ceiling; the anonymous kinds' shares of it leave at least half for sign-ins; a phone change is
    /// its owner's, as a sign-in is.
    #[test]
    fn budgets_are_kept_apart_by_kind() {
        let site = |k: &str| (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| "https://example.com".to_owned());
        let settings = crate::config::Settings::for_function(crate::Function::OtpStart, site).expect("settings");
        let keys = SmsKeys { number: "n".into(), prefix: "p".into() };
        let limits = |k: FlowKind| number_limits(&settings.limits, k, &keys);
        let kinds =
            |k: FlowKind| limits(k).into_iter().map(|l| l.kind).filter(|k| *k != "sms_global").collect::<Vec<_>>();
        let (reset, verify, login) = (kinds(FlowKind::Reset), kinds(FlowKind::Verification), kinds(FlowKind::Login));
        for (a, b) in [(&reset, &verify), (&reset, &login), (&verify, &login)] {
            assert!(a.iter().all(|x| !b.contains(x)), "{a:?} and {b:?} share a bucket");
        }
        assert_eq!(kinds(FlowKind::PhoneChange), login);
        let total = settings.limits.sms_global_hour;
        let global = |k: FlowKind, bucket: &str| limits(k).into_iter().find(|l| l.kind == bucket).map(|l| l.limit);
        for kind in [FlowKind::Reset, FlowKind::Verification, FlowKind::Login, FlowKind::PhoneChange] {
            assert_eq!(global(kind, "sms_global"), Some(total), "{kind:?} counts against the one ceiling");
        }
        let anonymous = global(FlowKind::Reset, "sms_global_reset").unwrap_or(total)
            + global(FlowKind::Verification, "sms_global_verify").unwrap_or(total);
        assert!(anonymous * 2 <= total, "resets and verifications leave half of {total} for sign-ins");
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(ip_key(mapped), ip_key("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn blocks() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(ip_block_key(ip("192.0.2.1")), ip_block_key(ip("192.0.2.254")));
        assert_ne!(ip_block_key(ip("192.0.2.1")), ip_block_key(ip("192.0.3.1")));
        assert_eq!(ip_block_key(ip("2001:db8:1:2::1")), ip_block_key(ip("2001:db8:1:ffff::1")));
        assert_ne!(ip_block_key(ip("2001:db8:1::1")), ip_block_key(ip("2001:db8:2::1")));
    }
}
