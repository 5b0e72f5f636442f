//! Rate-limit buckets. Keys never hold an address or email in the clear.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::app::Core;
use crate::domain::{Email, Timestamp};
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

/// An email address, hashed.
pub fn email_key(email: &Email) -> String {
    hex::encode(&Sha256::digest(email.as_str().as_bytes())[..16])
}

/// Counts one event in `bucket`; over the limit it is the generic 429 and nothing else happens.
/// `kind` is the bucket's name for logs and metrics (the key itself is not logged).
pub async fn enforce(core: &Core, kind: &'static str, key: &str, limit: u32, window_secs: u64) -> Result<(), Problem> {
    let bucket = format!("{kind}#{key}");
    match core.limiter.hit(&bucket, limit, window_secs, core.clock.now()).await? {
        RateDecision::Allowed => Ok(()),
        RateDecision::Limited { retry_after_secs } => {
            tracing::warn!(event = "rate_limited", bucket = kind, "request refused by a rate limit");
            core.metrics.record(Metric::RateLimited { bucket: kind });
            Err(Problem::rate_limited(retry_after_secs))
        }
    }
}

/// Events counted in rate-limit buckets by one request, to give back if what they counted does not
/// happen (docs/security.md R8): a send the provider refused or never answered uses up no budget.
#[derive(Default)]
pub struct Reservations {
    taken: Vec<(String, u64)>,
    at: Option<Timestamp>,
}

impl Reservations {
    /// Counts one event in `bucket` as [`enforce`] does; over a limit, everything taken so far is
    /// given back (nothing happened) and the answer is the generic 429.
    pub async fn take(
        &mut self,
        core: &Core,
        kind: &'static str,
        key: &str,
        limit: u32,
        window_secs: u64,
    ) -> Result<(), Problem> {
        let now = *self.at.get_or_insert_with(|| core.clock.now());
        let bucket = format!("{kind}#{key}");
        let refused = match core.limiter.hit(&bucket, limit, window_secs, now).await {
            Ok(RateDecision::Allowed) => {
                self.taken.push((bucket, window_secs));
                return Ok(());
            }
            Ok(RateDecision::Limited { retry_after_secs }) => {
                tracing::warn!(event = "rate_limited", bucket = kind, "request refused by a rate limit");
                core.metrics.record(Metric::RateLimited { bucket: kind });
                Problem::rate_limited(retry_after_secs)
            }
            Err(e) => e.into(),
        };
        std::mem::take(self).release(core).await;
        Err(refused)
    }

    /// Gives back every event taken. A failure to give one back leaves it counted: the limit errs on
    /// the side of refusing.
    pub async fn release(self, core: &Core) {
        let Some(at) = self.at else { return };
        for (bucket, window_secs) in self.taken {
            if let Err(e) = core.limiter.release(&bucket, window_secs, at).await {
                tracing::warn!(event = "limit_not_released", error = %e, "a rate-limit reservation was kept");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
