//! Configuration, read once at start from environment variables and validated, with errors that name
//! the variable. Secrets are not configuration: they come through [`crate::ports::SecretSource`].

use std::time::Duration;

use url::Url;

use crate::adapters::http_client::validate_base_url;
use crate::adapters::twilio::valid_service_sid;
use crate::domain::Phone;
use crate::domain::sim_policy::{SimPolicy, UnavailablePolicy};
use crate::routes::Function;

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
    /// SIM checks (each a paid tru.ID call) per client IP per hour.
    pub sim_checks_per_ip_hour: u32,
    /// Code checks per flow (C3), and SMS sends per flow; each halved or less when the SMS path was
    /// opened without a SIM answer.
    pub otp_attempts_per_flow: u32,
    pub otp_sends_per_flow: u32,
    /// SMS per destination number per 10 minutes and per day (F1).
    pub sms_per_number_10min: u32,
    pub sms_per_number_day: u32,
    /// SMS per client IP (IPv6 /64) and per IPv4 /24, per hour.
    pub sms_per_ip_hour: u32,
    pub sms_per_ip_block_hour: u32,
    /// SMS per destination prefix (the number without its last 4 digits) per hour: pumping runs
    /// through blocks of adjacent numbers.
    pub sms_per_prefix_hour: u32,
    /// Global SMS budget per hour (F2).
    pub sms_global_hour: u32,
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
            sim_checks_per_ip_hour: 20,
            otp_attempts_per_flow: 5,
            otp_sends_per_flow: 3,
            sms_per_number_10min: 3,
            sms_per_number_day: 10,
            sms_per_ip_hour: 10,
            sms_per_ip_block_hour: 30,
            sms_per_prefix_hour: 20,
            sms_global_hour: 500,
        }
    }
}

/// Where the caller's address comes from (SECURITY.md A5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIpSource {
    /// API Gateway's `requestContext.http.sourceIp` (or the TCP peer locally).
    SourceIp,
    /// Behind CloudFront, `sourceIp` is CloudFront's; the viewer's address is in
    /// `CloudFront-Viewer-Address`, trusted only on requests that carry the origin-verify token
    /// CloudFront adds (a caller going around CloudFront cannot forge it).
    CloudFront { origin_verify_token: OriginVerifyToken },
}

/// The shared secret CloudFront sends in `X-Simguard-Origin-Verify`. Never printed; compared in
/// constant time.
#[derive(Clone)]
pub struct OriginVerifyToken(secrecy::SecretString);

impl OriginVerifyToken {
    pub fn matches(&self, presented: &[u8]) -> bool {
        use secrecy::ExposeSecret;
        use subtle::ConstantTimeEq;
        let expected = self.0.expose_secret().as_bytes();
        presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
    }
}

impl std::fmt::Debug for OriginVerifyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginVerifyToken(<redacted>)")
    }
}

impl PartialEq for OriginVerifyToken {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.matches(other.0.expose_secret().as_bytes())
    }
}

impl Eq for OriginVerifyToken {}

/// Which OTP provider sends and checks SMS codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpProviderKind {
    VonageV1,
    VonageV2,
    Twilio,
}

impl OtpProviderKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vonage-v1" => Some(Self::VonageV1),
            "vonage-v2" => Some(Self::VonageV2),
            "twilio" => Some(Self::Twilio),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VonageV1 => "vonage-v1",
            Self::VonageV2 => "vonage-v2",
            Self::Twilio => "twilio",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSettings {
    pub provider: OtpProviderKind,
    pub vonage_base_url: Url,
    pub twilio_base_url: Url,
    /// Required for Twilio: `VA` + 32 hex.
    pub twilio_service_sid: Option<String>,
    /// The name in the SMS ("Your <brand> code is …"), Vonage only (Twilio's is the Service's).
    pub brand: String,
    /// Calling-code prefixes we send SMS to (`44`, `1`, …); `None` means any (F3).
    pub sms_countries: Option<Vec<String>>,
}

impl OtpSettings {
    pub const DEFAULT_VONAGE_BASE_URL: &'static str = "https://api.nexmo.com";
    pub const DEFAULT_TWILIO_BASE_URL: &'static str = "https://verify.twilio.com";

    pub fn new(provider: OtpProviderKind, vonage_base_url: Url, twilio_base_url: Url) -> Self {
        Self {
            provider,
            vonage_base_url,
            twilio_base_url,
            twilio_service_sid: None,
            brand: "simguard".into(),
            sms_countries: Some(vec!["44".into()]),
        }
    }

    /// Whether we send SMS to this number's country.
    pub fn sms_allowed_to(&self, phone: &Phone) -> bool {
        self.sms_countries
            .as_ref()
            .is_none_or(|list| list.iter().any(|prefix| phone.digits().starts_with(prefix.as_str())))
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
    /// Login only: what to do when tru.ID gives no SIM answer (resets always refuse).
    pub login_when_sim_unavailable: UnavailablePolicy,
    pub otp: OtpSettings,
    pub limits: Limits,
    /// The DynamoDB table (required by a deployed function; the local stack keeps data in memory).
    pub table_name: Option<String>,
    /// The Secrets Manager secret with the provider credentials; without it they come from the
    /// environment (local runs).
    pub secret_id: Option<String>,
    pub secret_ttl_secs: i64,
    pub client_ip: ClientIpSource,
    /// The CloudWatch namespace of the metrics (one per deployment, so that stacks in one account
    /// do not mix their numbers).
    pub metrics_namespace: String,
}

impl Settings {
    pub const DEFAULT_TRUID_BASE_URL: &'static str = "https://eu.api.tru.id";

    /// For tests and the local stack: defaults, the site and tru.ID URLs, and one URL for the OTP
    /// provider (both Vonage and Twilio point at it).
    pub fn new(public_base_url: Url, truid_base_url: Url) -> Self {
        let otp_base = truid_base_url.clone();
        Self {
            public_base_url,
            truid_base_url,
            provider_timeout: Duration::from_secs(3),
            sim_change_window_minutes: 10080,
            flow_ttl_secs: 600,
            session_ttl_secs: 8 * 3600,
            coverage_cache_secs: 300,
            login_when_sim_unavailable: UnavailablePolicy::Deny,
            otp: OtpSettings::new(OtpProviderKind::VonageV2, otp_base.clone(), otp_base),
            limits: Limits::default(),
            table_name: None,
            secret_id: None,
            secret_ttl_secs: 300,
            client_ip: ClientIpSource::SourceIp,
            metrics_namespace: crate::metrics::DEFAULT_NAMESPACE.into(),
        }
    }

    pub fn sim_policy(&self) -> SimPolicy {
        SimPolicy {
            window_minutes: self.sim_change_window_minutes,
            login_when_unavailable: self.login_when_sim_unavailable,
        }
    }

    /// Every variable, for a process that runs every function (the local stack).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// A deployed function's settings: from the variables [`variables`] lists for it, and no
    /// others — a variable meant for another function cannot change what this one does.
    pub fn from_env_for(function: Function) -> Result<Self, ConfigError> {
        Self::for_function(function, |k| std::env::var(k).ok())
    }

    pub fn for_function(function: Function, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = variables(function);
        Self::from_lookup(|k| if read.contains(&k) { get(k) } else { None })
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let public_base_url = parse_origin("SIMGUARD_PUBLIC_BASE_URL", get("SIMGUARD_PUBLIC_BASE_URL"))?;
        let truid_raw = get("SIMGUARD_TRUID_BASE_URL").unwrap_or_else(|| Self::DEFAULT_TRUID_BASE_URL.to_owned());
        let truid_base_url = Url::parse(&truid_raw).map_err(|e| invalid("SIMGUARD_TRUID_BASE_URL", e.to_string()))?;
        validate_base_url(&truid_base_url).map_err(|e| invalid("SIMGUARD_TRUID_BASE_URL", e.into()))?;

        let mut s = Self::new(public_base_url, truid_base_url);
        s.provider_timeout = Duration::from_millis(number(&get, "SIMGUARD_PROVIDER_TIMEOUT_MS", 3000, 100..=10_000)?);
        s.sim_change_window_minutes = number(&get, "SIMGUARD_SIM_CHANGE_WINDOW_MINUTES", 10080, 60..=540_000)?;
        // NIST 800-63B: an out-of-band secret is invalid after 10 minutes.
        s.flow_ttl_secs = number(&get, "SIMGUARD_FLOW_TTL_SECONDS", 600, 60..=600)?;
        s.session_ttl_secs = number(&get, "SIMGUARD_SESSION_TTL_SECONDS", 8 * 3600, 300..=30 * 86400)?;
        s.login_when_sim_unavailable = match get("SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY").as_deref() {
            None | Some("deny") => UnavailablePolicy::Deny,
            Some("allow_with_notice") => UnavailablePolicy::AllowWithNotice,
            Some(other) => {
                return Err(invalid(
                    "SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY",
                    format!("{other:?} is not deny or allow_with_notice"),
                ));
            }
        };
        s.otp = otp_settings(&get)?;
        s.table_name = get("SIMGUARD_TABLE_NAME");
        if let Some(t) = &s.table_name
            && !(3..=255).contains(&t.len())
        {
            return Err(invalid("SIMGUARD_TABLE_NAME", "a DynamoDB table name has 3 to 255 characters".into()));
        }
        s.secret_id = get("SIMGUARD_SECRET_ID");
        s.secret_ttl_secs = number(&get, "SIMGUARD_SECRET_TTL_SECONDS", 300, 0..=300)?;
        s.client_ip = match get("SIMGUARD_CLIENT_IP_SOURCE").as_deref() {
            None | Some("source_ip") => ClientIpSource::SourceIp,
            Some("cloudfront") => {
                let token =
                    get("SIMGUARD_ORIGIN_VERIFY_TOKEN").ok_or(ConfigError::Missing("SIMGUARD_ORIGIN_VERIFY_TOKEN"))?;
                if token.len() < 32 {
                    return Err(invalid("SIMGUARD_ORIGIN_VERIFY_TOKEN", "must be at least 32 characters".into()));
                }
                ClientIpSource::CloudFront { origin_verify_token: OriginVerifyToken(token.into()) }
            }
            Some(other) => {
                return Err(invalid("SIMGUARD_CLIENT_IP_SOURCE", format!("{other:?} is not source_ip or cloudfront")));
            }
        };
        if let Some(ns) = get("SIMGUARD_METRICS_NAMESPACE") {
            // CloudWatch: 1 to 255 characters, no leading colon, printable ASCII.
            if ns.len() > 255 || ns.starts_with(':') || !ns.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err(invalid("SIMGUARD_METRICS_NAMESPACE", "1 to 255 printable ASCII characters".into()));
            }
            s.metrics_namespace = ns;
        }
        let d = Limits::default();
        let limit = |var: &'static str, default: u32, max: u32| number(&get, var, default, 1..=max);
        s.limits = Limits {
            reset_per_account_hour: limit("SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR", d.reset_per_account_hour, 100)?,
            reset_per_ip_hour: limit("SIMGUARD_LIMIT_RESET_PER_IP_HOUR", d.reset_per_ip_hour, 10_000)?,
            reset_global_hour: limit("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR", d.reset_global_hour, 1_000_000)?,
            coverage_per_ip_hour: limit("SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR", d.coverage_per_ip_hour, 10_000)?,
            login_per_account_15min: limit("SIMGUARD_LIMIT_LOGIN_PER_ACCOUNT_15MIN", d.login_per_account_15min, 100)?,
            login_per_ip_hour: limit("SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR", d.login_per_ip_hour, 100_000)?,
            register_per_ip_hour: limit("SIMGUARD_LIMIT_REGISTER_PER_IP_HOUR", d.register_per_ip_hour, 10_000)?,
            sim_checks_per_ip_hour: limit("SIMGUARD_LIMIT_SIM_CHECKS_PER_IP_HOUR", d.sim_checks_per_ip_hour, 10_000)?,
            otp_attempts_per_flow: limit("SIMGUARD_LIMIT_OTP_ATTEMPTS_PER_FLOW", d.otp_attempts_per_flow, 5)?,
            otp_sends_per_flow: limit("SIMGUARD_LIMIT_OTP_SENDS_PER_FLOW", d.otp_sends_per_flow, 5)?,
            sms_per_number_10min: limit("SIMGUARD_LIMIT_SMS_PER_NUMBER_10MIN", d.sms_per_number_10min, 5)?,
            sms_per_number_day: limit("SIMGUARD_LIMIT_SMS_PER_NUMBER_DAY", d.sms_per_number_day, 100)?,
            sms_per_ip_hour: limit("SIMGUARD_LIMIT_SMS_PER_IP_HOUR", d.sms_per_ip_hour, 10_000)?,
            sms_per_ip_block_hour: limit("SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR", d.sms_per_ip_block_hour, 100_000)?,
            sms_per_prefix_hour: limit("SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR", d.sms_per_prefix_hour, 100_000)?,
            sms_global_hour: limit("SIMGUARD_LIMIT_SMS_GLOBAL_HOUR", d.sms_global_hour, 1_000_000)?,
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

/// Read by every function: where the site is, where the data and the credentials are, how to
/// find the caller's address, where the metrics go.
const COMMON: &[&str] = &[
    "SIMGUARD_PUBLIC_BASE_URL",
    "SIMGUARD_TABLE_NAME",
    "SIMGUARD_SECRET_ID",
    "SIMGUARD_SECRET_TTL_SECONDS",
    "SIMGUARD_CLIENT_IP_SOURCE",
    "SIMGUARD_ORIGIN_VERIFY_TOKEN",
    "SIMGUARD_METRICS_NAMESPACE",
];
const TRUID: &[&str] = &["SIMGUARD_TRUID_BASE_URL", "SIMGUARD_PROVIDER_TIMEOUT_MS"];
const OTP: &[&str] = &[
    "SIMGUARD_OTP_PROVIDER",
    "SIMGUARD_VONAGE_BASE_URL",
    "SIMGUARD_TWILIO_BASE_URL",
    "SIMGUARD_TWILIO_SERVICE_SID",
    "SIMGUARD_PROVIDER_TIMEOUT_MS",
];

/// The variables each function reads. This list is what the function's code can see (see
/// [`Settings::for_function`]); the infrastructure tests hold the environment SAM and CDK give each
/// function to it: nothing it does not read, everything it requires.
pub fn variables(function: Function) -> Vec<&'static str> {
    let own: &[&[&str]] = match function {
        Function::Coverage => &[TRUID, &["SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR"]],
        Function::CreateCheck => &[
            TRUID,
            &[
                "SIMGUARD_SIM_CHANGE_WINDOW_MINUTES",
                "SIMGUARD_FLOW_TTL_SECONDS",
                "SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR",
                "SIMGUARD_LIMIT_RESET_PER_IP_HOUR",
                "SIMGUARD_LIMIT_RESET_GLOBAL_HOUR",
            ],
        ],
        Function::Callback => &[TRUID, &["SIMGUARD_SIM_CHANGE_WINDOW_MINUTES"]],
        Function::ResetPassword => &[],
        Function::SimCheck => &[
            TRUID,
            &[
                "SIMGUARD_SIM_CHANGE_WINDOW_MINUTES",
                "SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY",
                "SIMGUARD_LIMIT_SIM_CHECKS_PER_IP_HOUR",
            ],
        ],
        Function::OtpStart => &[
            OTP,
            &[
                "SIMGUARD_OTP_BRAND",
                "SIMGUARD_SMS_COUNTRIES",
                "SIMGUARD_FLOW_TTL_SECONDS",
                "SIMGUARD_LIMIT_OTP_SENDS_PER_FLOW",
                "SIMGUARD_LIMIT_SMS_PER_NUMBER_10MIN",
                "SIMGUARD_LIMIT_SMS_PER_NUMBER_DAY",
                "SIMGUARD_LIMIT_SMS_PER_IP_HOUR",
                "SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR",
                "SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR",
                "SIMGUARD_LIMIT_SMS_GLOBAL_HOUR",
            ],
        ],
        Function::OtpVerify => &[OTP, &["SIMGUARD_SESSION_TTL_SECONDS", "SIMGUARD_LIMIT_OTP_ATTEMPTS_PER_FLOW"]],
        Function::Account => &[&[
            "SIMGUARD_SMS_COUNTRIES",
            "SIMGUARD_FLOW_TTL_SECONDS",
            "SIMGUARD_LIMIT_REGISTER_PER_IP_HOUR",
            "SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR",
            "SIMGUARD_LIMIT_LOGIN_PER_ACCOUNT_15MIN",
        ]],
    };
    let mut vars: Vec<&'static str> = COMMON.iter().chain(own.iter().flat_map(|g| g.iter())).copied().collect();
    vars.sort_unstable();
    vars.dedup();
    vars
}

/// The variables a deployed function cannot start without (in Lambda, credentials come from
/// Secrets Manager, never from the environment).
pub fn required_when_deployed(_function: Function) -> &'static [&'static str] {
    &["SIMGUARD_PUBLIC_BASE_URL", "SIMGUARD_TABLE_NAME", "SIMGUARD_SECRET_ID"]
}

fn base_url(get: &impl Fn(&str) -> Option<String>, var: &'static str, default: &str) -> Result<Url, ConfigError> {
    let raw = get(var).unwrap_or_else(|| default.to_owned());
    let url = Url::parse(&raw).map_err(|e| invalid(var, e.to_string()))?;
    validate_base_url(&url).map_err(|e| invalid(var, e.into()))?;
    Ok(url)
}

fn otp_settings(get: &impl Fn(&str) -> Option<String>) -> Result<OtpSettings, ConfigError> {
    let provider = match get("SIMGUARD_OTP_PROVIDER") {
        None => OtpProviderKind::VonageV2,
        Some(p) => OtpProviderKind::parse(&p)
            .ok_or_else(|| invalid("SIMGUARD_OTP_PROVIDER", format!("{p:?} is not vonage-v1, vonage-v2 or twilio")))?,
    };
    let mut o = OtpSettings::new(
        provider,
        base_url(get, "SIMGUARD_VONAGE_BASE_URL", OtpSettings::DEFAULT_VONAGE_BASE_URL)?,
        base_url(get, "SIMGUARD_TWILIO_BASE_URL", OtpSettings::DEFAULT_TWILIO_BASE_URL)?,
    );
    if let Some(brand) = get("SIMGUARD_OTP_BRAND") {
        // Vonage refuses longer brands and these characters (422).
        if brand.chars().count() > 18 || brand.contains(['/', '{', '}', ':', '$']) {
            return Err(invalid("SIMGUARD_OTP_BRAND", "at most 18 characters, none of / { } : $".into()));
        }
        o.brand = brand;
    }
    o.twilio_service_sid = get("SIMGUARD_TWILIO_SERVICE_SID");
    match (&o.twilio_service_sid, provider) {
        (Some(sid), _) if !valid_service_sid(sid) => {
            return Err(invalid("SIMGUARD_TWILIO_SERVICE_SID", "must be VA followed by 32 hex digits".into()));
        }
        (None, OtpProviderKind::Twilio) => {
            return Err(ConfigError::Missing("SIMGUARD_TWILIO_SERVICE_SID"));
        }
        _ => {}
    }
    o.sms_countries = match get("SIMGUARD_SMS_COUNTRIES").as_deref() {
        None => o.sms_countries,
        Some("*") => None,
        Some(list) => {
            let codes: Vec<String> = list
                .split(',')
                .map(|c| c.trim().trim_start_matches('+').to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            if codes.is_empty()
                || codes.iter().any(|c| c.len() > 4 || !c.bytes().all(|b| b.is_ascii_digit()) || c.starts_with('0'))
            {
                return Err(invalid(
                    "SIMGUARD_SMS_COUNTRIES",
                    "a comma-separated list of calling codes (44,1,33) or *".into(),
                ));
            }
            Some(codes)
        }
    };
    Ok(o)
}

fn invalid(var: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { var, reason }
}

fn parse_origin(var: &'static str, raw: Option<String>) -> Result<Url, ConfigError> {
    let raw = raw.ok_or(ConfigError::Missing(var))?;
    let url = Url::parse(&raw).map_err(|e| invalid(var, e.to_string()))?;
    validate_base_url(&url).map_err(|e| invalid(var, e.into()))?;
    if url.path() != "/" {
        return Err(invalid(var, "must be an origin without a path (the site is served at /)".into()));
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
    let v: T = raw.parse().map_err(|_| invalid(var, format!("{raw:?} is not a number")))?;
    if !range.contains(&v) {
        return Err(invalid(var, format!("{v} is outside {}..={}", range.start(), range.end())));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_public_url_is_required_and_named() {
        assert_eq!(settings(&[]), Err(ConfigError::Missing("SIMGUARD_PUBLIC_BASE_URL")));
        let e = settings(&[("SIMGUARD_PUBLIC_BASE_URL", "http://example.com")]).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("SIMGUARD_PUBLIC_BASE_URL is invalid")));
    }

    #[test]
    fn defaults() {
        let s = settings(&[("SIMGUARD_PUBLIC_BASE_URL", "https://example.com")]).expect("valid");
        assert_eq!(s.truid_base_url.as_str(), "https://eu.api.tru.id/");
        assert_eq!(s.sim_change_window_minutes, 10080);
        assert_eq!(s.flow_ttl_secs, 600);
        assert_eq!(s.truid_redirect_url(), "https://example.com/api/reset/callback");
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
        assert!(settings(&[base, ("SIMGUARD_TRUID_BASE_URL", "https://us.api.idlayr.com")]).is_ok());
        assert!(settings(&[("SIMGUARD_PUBLIC_BASE_URL", "http://127.0.0.1:8080")]).is_ok());
    }

    /// Every variable the parser reads belongs to at least one function, and a function's settings
    /// ignore the variables of others.
    #[test]
    fn variables_by_function() {
        let listed: std::collections::BTreeSet<String> =
            Function::ALL.iter().flat_map(|f| variables(*f)).map(str::to_owned).collect();
        let all = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let _ = Settings::from_lookup(|k| {
            if let Ok(mut r) = all.lock() {
                r.insert(k.to_owned());
            }
            // Values that take every branch that reads another variable.
            match k {
                "SIMGUARD_PUBLIC_BASE_URL" => Some("https://example.com".to_owned()),
                "SIMGUARD_CLIENT_IP_SOURCE" => Some("cloudfront".to_owned()),
                "SIMGUARD_ORIGIN_VERIFY_TOKEN" => Some("x".repeat(32)),
                _ => None,
            }
        });
        let all = all.into_inner().unwrap_or_default();
        assert_eq!(all, listed, "variables read by Settings vs listed per function");

        let env = |k: &str| match k {
            "SIMGUARD_PUBLIC_BASE_URL" => Some("https://example.com".to_owned()),
            "SIMGUARD_OTP_PROVIDER" => Some("vonage-v1".to_owned()),
            "SIMGUARD_SIM_CHANGE_WINDOW_MINUTES" => Some("1440".to_owned()),
            _ => None,
        };
        let account = Settings::for_function(Function::Account, env).expect("valid");
        assert_eq!((account.otp.provider, account.sim_change_window_minutes), (OtpProviderKind::VonageV2, 10080));
        let otp = Settings::for_function(Function::OtpStart, env).expect("valid");
        assert_eq!(otp.otp.provider, OtpProviderKind::VonageV1);
        let sim = Settings::for_function(Function::SimCheck, env).expect("valid");
        assert_eq!(sim.sim_change_window_minutes, 1440);
    }

    #[test]
    fn otp_provider_settings() {
        let base = ("SIMGUARD_PUBLIC_BASE_URL", "https://example.com");
        let s = settings(&[base]).expect("defaults");
        assert_eq!(s.otp.provider, OtpProviderKind::VonageV2);
        assert_eq!(s.otp.vonage_base_url.as_str(), "https://api.nexmo.com/");
        assert_eq!(s.login_when_sim_unavailable, UnavailablePolicy::Deny);
        assert_eq!(
            settings(&[base, ("SIMGUARD_OTP_PROVIDER", "twilio")]),
            Err(ConfigError::Missing("SIMGUARD_TWILIO_SERVICE_SID"))
        );
        let sid = "VAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let t = settings(&[base, ("SIMGUARD_OTP_PROVIDER", "twilio"), ("SIMGUARD_TWILIO_SERVICE_SID", sid)])
            .expect("twilio");
        assert_eq!((t.otp.provider, t.otp.twilio_service_sid.as_deref()), (OtpProviderKind::Twilio, Some(sid)));
        for (var, val) in [
            ("SIMGUARD_OTP_PROVIDER", "sinch"),
            ("SIMGUARD_TWILIO_SERVICE_SID", "VA123"),
            ("SIMGUARD_OTP_BRAND", "a brand that is far too long"),
            ("SIMGUARD_SMS_COUNTRIES", "44,uk"),
            ("SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY", "allow"),
            ("SIMGUARD_LIMIT_OTP_ATTEMPTS_PER_FLOW", "50"),
            ("SIMGUARD_VONAGE_BASE_URL", "http://api.nexmo.com"),
        ] {
            match settings(&[base, (var, val)]) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={val}: {other:?}"),
            }
        }
        let c = settings(&[
            base,
            ("SIMGUARD_SMS_COUNTRIES", "+44, 1"),
            ("SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY", "allow_with_notice"),
        ])
        .expect("valid");
        assert_eq!(c.otp.sms_countries, Some(vec!["44".to_owned(), "1".to_owned()]));
        assert_eq!(c.login_when_sim_unavailable, UnavailablePolicy::AllowWithNotice);
        let uk = Phone::parse("+447700900123").expect("phone");
        let fr = Phone::parse("+33612345678").expect("phone");
        assert!(c.otp.sms_allowed_to(&uk) && !c.otp.sms_allowed_to(&fr));
        assert_eq!(settings(&[base, ("SIMGUARD_SMS_COUNTRIES", "*")]).map(|s| s.otp.sms_countries), Ok(None));
    }
}
