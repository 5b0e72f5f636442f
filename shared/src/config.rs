//! Configuration, read once at start from environment variables and validated, with errors that name
//! the variable. Secrets are not configuration: they come through [`crate::ports::SecretSource`].

use std::time::Duration;

use url::Url;

use crate::adapters::truid_http::validate_base_url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Limits of SECURITY.md §5, one constant each. Windows are fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Reset starts per account (normalised email, known or not) per hour.
    pub reset_per_account_hour: u32,
    /// Reset starts per client IP (IPv6 per /64) per hour.
    pub reset_per_ip_hour: u32,
    /// Global budget of reset starts per hour. Each start may create one paid SubscriberCheck, so
    /// this caps the spend; it counts every start (known email or not) so it cannot leak which
    /// accounts exist.
    pub reset_global_hour: u32,
    /// Coverage lookups per client IP per hour.
    pub coverage_per_ip_hour: u32,
    /// Login attempts per account per 15 minutes, and per IP per hour.
    pub login_per_account_15min: u32,
    pub login_per_ip_hour: u32,
    /// Registrations per IP per hour.
    pub register_per_ip_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            reset_per_account_hour: 5,
            reset_per_ip_hour: 20,
            reset_global_hour: 1000,
            coverage_per_ip_hour: 60,
            login_per_account_15min: 10,
            login_per_ip_hour: 100,
            register_per_ip_hour: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The site's public origin (`https://example.com`). tru.ID's `redirect_url`, the allowed `Origin`
    /// and links in notifications are built from it, never from the `Host` header.
    pub public_base_url: Url,
    pub truid_base_url: Url,
    pub provider_timeout: Duration,
    /// tru.ID `period` and the new-account grace window, in minutes.
    pub sim_change_window_minutes: u32,
    pub flow_ttl_secs: i64,
    pub session_ttl_secs: i64,
    pub coverage_cache_secs: i64,
    pub limits: Limits,
}

impl Settings {
    pub const DEFAULT_TRUID_BASE_URL: &'static str = "https://eu.api.tru.id";

    /// For tests and the local stack: defaults plus the two URLs.
    pub fn new(public_base_url: Url, truid_base_url: Url) -> Self {
        Self {
            public_base_url,
            truid_base_url,
            provider_timeout: Duration::from_secs(3),
            sim_change_window_minutes: 10080,
            flow_ttl_secs: 600,
            session_ttl_secs: 8 * 3600,
            coverage_cache_secs: 300,
            limits: Limits::default(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let public_base_url =
            parse_origin("SIMGUARD_PUBLIC_BASE_URL", get("SIMGUARD_PUBLIC_BASE_URL"))?;
        let truid_raw = get("SIMGUARD_TRUID_BASE_URL")
            .unwrap_or_else(|| Self::DEFAULT_TRUID_BASE_URL.to_owned());
        let truid_base_url = Url::parse(&truid_raw)
            .map_err(|e| invalid("SIMGUARD_TRUID_BASE_URL", e.to_string()))?;
        validate_base_url(&truid_base_url)
            .map_err(|e| invalid("SIMGUARD_TRUID_BASE_URL", e.into()))?;

        let mut s = Self::new(public_base_url, truid_base_url);
        s.provider_timeout = Duration::from_millis(number(
            &get,
            "SIMGUARD_PROVIDER_TIMEOUT_MS",
            3000,
            100..=10_000,
        )?);
        s.sim_change_window_minutes = number(
            &get,
            "SIMGUARD_SIM_CHANGE_WINDOW_MINUTES",
            10080,
            60..=540_000,
        )?;
        // NIST 800-63B: an out-of-band secret is invalid after 10 minutes.
        s.flow_ttl_secs = number(&get, "SIMGUARD_FLOW_TTL_SECONDS", 600, 60..=600)?;
        s.session_ttl_secs = number(
            &get,
            "SIMGUARD_SESSION_TTL_SECONDS",
            8 * 3600,
            300..=30 * 86400,
        )?;
        let d = Limits::default();
        s.limits = Limits {
            reset_per_account_hour: number(
                &get,
                "SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR",
                d.reset_per_account_hour,
                1..=100,
            )?,
            reset_per_ip_hour: number(
                &get,
                "SIMGUARD_LIMIT_RESET_PER_IP_HOUR",
                d.reset_per_ip_hour,
                1..=10_000,
            )?,
            reset_global_hour: number(
                &get,
                "SIMGUARD_LIMIT_RESET_GLOBAL_HOUR",
                d.reset_global_hour,
                1..=1_000_000,
            )?,
            coverage_per_ip_hour: number(
                &get,
                "SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR",
                d.coverage_per_ip_hour,
                1..=10_000,
            )?,
            login_per_account_15min: number(
                &get,
                "SIMGUARD_LIMIT_LOGIN_PER_ACCOUNT_15MIN",
                d.login_per_account_15min,
                1..=100,
            )?,
            login_per_ip_hour: number(
                &get,
                "SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR",
                d.login_per_ip_hour,
                1..=100_000,
            )?,
            register_per_ip_hour: number(
                &get,
                "SIMGUARD_LIMIT_REGISTER_PER_IP_HOUR",
                d.register_per_ip_hour,
                1..=10_000,
            )?,
        };
        Ok(s)
    }

    /// `https://example.com`: the only `Origin` allowed to make state-changing requests.
    pub fn public_origin(&self) -> String {
        self.public_base_url.origin().ascii_serialization()
    }

    pub fn public_url(&self, path: &str) -> String {
        format!("{}{}", self.public_origin(), path)
    }

    /// The tru.ID `redirect_url`: fixed, from configuration (SECURITY.md A6).
    pub fn truid_redirect_url(&self) -> String {
        self.public_url("/api/reset/callback")
    }
}

fn invalid(var: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { var, reason }
}

fn parse_origin(var: &'static str, raw: Option<String>) -> Result<Url, ConfigError> {
    let raw = raw.ok_or(ConfigError::Missing(var))?;
    let url = Url::parse(&raw).map_err(|e| invalid(var, e.to_string()))?;
    validate_base_url(&url).map_err(|e| invalid(var, e.into()))?;
    if url.path() != "/" {
        return Err(invalid(
            var,
            "must be an origin without a path (the site is served at /)".into(),
        ));
    }
    Ok(url)
}

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let v: T = raw
        .parse()
        .map_err(|_| invalid(var, format!("{raw:?} is not a number")))?;
    if !range.contains(&v) {
        return Err(invalid(
            var,
            format!("{v} is outside {}..={}", range.start(), range.end()),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_public_url_is_required_and_named() {
        assert_eq!(
            settings(&[]),
            Err(ConfigError::Missing("SIMGUARD_PUBLIC_BASE_URL"))
        );
        let e = settings(&[("SIMGUARD_PUBLIC_BASE_URL", "http://example.com")])
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("SIMGUARD_PUBLIC_BASE_URL is invalid")));
    }

    #[test]
    fn defaults() {
        let s = settings(&[("SIMGUARD_PUBLIC_BASE_URL", "https://example.com")]).expect("valid");
        assert_eq!(s.truid_base_url.as_str(), "https://eu.api.tru.id/");
        assert_eq!(s.sim_change_window_minutes, 10080);
        assert_eq!(s.flow_ttl_secs, 600);
        assert_eq!(
            s.truid_redirect_url(),
            "https://example.com/api/reset/callback"
        );
        assert_eq!(s.public_origin(), "https://example.com");
        assert_eq!(s.limits, Limits::default());
    }

    #[test]
    fn bad_values_are_named() {
        let base = ("SIMGUARD_PUBLIC_BASE_URL", "https://example.com");
        for (var, val) in [
            ("SIMGUARD_TRUID_BASE_URL", "http://eu.api.tru.id"),
            ("SIMGUARD_TRUID_BASE_URL", "not a url"),
            ("SIMGUARD_SIM_CHANGE_WINDOW_MINUTES", "59"),
            ("SIMGUARD_FLOW_TTL_SECONDS", "3600"),
            ("SIMGUARD_PROVIDER_TIMEOUT_MS", "soon"),
            ("SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR", "0"),
        ] {
            match settings(&[base, (var, val)]) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={val}: {other:?}"),
            }
        }
        assert!(settings(&[("SIMGUARD_PUBLIC_BASE_URL", "https://example.com/app")]).is_err());
        assert!(
            settings(&[
                base,
                ("SIMGUARD_TRUID_BASE_URL", "https://us.api.idlayr.com")
            ])
            .is_ok()
        );
        assert!(settings(&[("SIMGUARD_PUBLIC_BASE_URL", "http://127.0.0.1:8080")]).is_ok());
    }
}
