//! Configuration: every setting is declared once in [`SETTINGS`] — its variable, default, allowed
//! values and the functions that read it — and that declaration drives the parsing, each function's
//! variable list (a deployed function sees only its own, and so does every function in the local
//! stack and the tests), and the tests that hold README.md, the SAM template and the CDK app to it.
//! Values are read once at start and validated; an error names the variable. Secrets are not
//! configuration: they come through [`crate::ports::SecretSource`].

use std::time::Duration;

use url::Url;

use crate::Function;
use crate::domain::base_url::validate_base_url;
use crate::domain::phone::Region;
use crate::domain::sim_policy::{SimPolicy, UnavailablePolicy};
use crate::domain::{Email, Phone};
use crate::ports::{Site, SmsSender, TwilioServiceSid};

/// A setting that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Required and not set.
    #[error("{0} is required but not set")]
    Missing(&'static str),
    /// Set to something it may not be.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Why.
        reason: String,
    },
}

/// What values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An `https://` URL (plain HTTP on loopback only).
    Url,
    /// A whole number in `min..=max`.
    Number {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// Free text, checked by the parser.
    Text,
}

/// When a setting must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Never (it has a default, or it is optional).
    No,
    /// Always.
    Always,
    /// By a deployed function (the local stack and the tests run without it).
    WhenDeployed,
}

/// One setting's declaration.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable.
    pub name: &'static str,
    /// The value used when it is not set, as written in the README.
    pub default: Option<&'static str>,
    /// Whether it must be set.
    pub required: Required,
    /// The values it takes.
    pub kind: Kind,
    /// The functions that read it: in Lambda, no other function sees it.
    pub readers: &'static [Function],
}

use Function::{
    Account, Callback, CognitoAuth, Coverage, CreateCheck, Notify, OtpStart, OtpVerify, ResetPassword, SimCheck,
};

const ALL: &[Function] = &Function::ALL;
/// The functions behind the API (every one but the queue consumer).
const HTTP: &[Function] = &Function::HTTP;
const TRUID: &[Function] = &[Coverage, CreateCheck, Callback, SimCheck, CognitoAuth];
const OTP: &[Function] = &[OtpStart, OtpVerify, CognitoAuth];
const PROVIDERS: &[Function] = &[Coverage, CreateCheck, Callback, SimCheck, OtpStart, OtpVerify, CognitoAuth];
const WINDOW: &[Function] = &[CreateCheck, Callback, SimCheck, CognitoAuth];
/// The silent proof's functions (the Cognito triggers run one of their own).
const SILENT: &[Function] = &[Coverage, CreateCheck, Callback, CognitoAuth];
/// The functions that may talk to Vonage: for codes, or as a silent prover.
const VONAGE: &[Function] = &[Coverage, CreateCheck, Callback, OtpStart, OtpVerify, CognitoAuth];
/// The functions that ask the SIM-swap sources: the SIM check, the callback after a proof that
/// does not cover the SIM change, and the Cognito triggers' gate.
const SIM_GATE: &[Function] = &[Callback, SimCheck, CognitoAuth];
/// The functions that may talk to a CAMARA operator or aggregator (its provers and sources).
const CAMARA: &[Function] = &[Coverage, CreateCheck, Callback, SimCheck, CognitoAuth];
/// The functions that read the provider secret: the API's, and the Cognito triggers.
const SECRET: &[Function] =
    &[Coverage, CreateCheck, Callback, ResetPassword, SimCheck, OtpStart, OtpVerify, Account, CognitoAuth];
/// The functions that text codes, and count the per-number SMS limits.
const SMS: &[Function] = &[OtpStart, CognitoAuth];
const FLOW_STARTS: &[Function] = &[CreateCheck, OtpStart, Account];
/// The functions that tell an account's owner something by email (they put it on the queue).
const NOTIFY: &[Function] = &[Callback, ResetPassword, SimCheck, OtpVerify, Account];

const fn number(
    name: &'static str,
    default: &'static str,
    min: i64,
    max: i64,
    readers: &'static [Function],
) -> Setting {
    Setting { name, default: Some(default), required: Required::No, kind: Kind::Number { min, max }, readers }
}

const fn url(name: &'static str, default: &'static str, readers: &'static [Function]) -> Setting {
    Setting { name, default: Some(default), required: Required::No, kind: Kind::Url, readers }
}

/// Every setting. Keep README.md's configuration table in this order (a test compares them).
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "SIMGUARD_PUBLIC_BASE_URL",
        default: None,
        required: Required::Always,
        kind: Kind::Url,
        readers: ALL,
    },
    url("SIMGUARD_TRUID_BASE_URL", "https://eu.api.tru.id", TRUID),
    number("SIMGUARD_PROVIDER_TIMEOUT_MS", "3000", 100, 10_000, PROVIDERS),
    number("SIMGUARD_REQUEST_BUDGET_MS", "9000", 500, 29_000, HTTP),
    number("SIMGUARD_SIM_CHANGE_WINDOW_MINUTES", "10080", 60, 540_000, WINDOW),
    // NIST SP 800-63B: an out-of-band secret is invalid after 10 minutes.
    number("SIMGUARD_FLOW_TTL_SECONDS", "600", 60, 600, FLOW_STARTS),
    number("SIMGUARD_SESSION_TTL_SECONDS", "28800", 300, 30 * 86_400, &[Callback, SimCheck, OtpVerify]),
    number("SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR", "5", 1, 100, &[CreateCheck]),
    number("SIMGUARD_LIMIT_RESET_PER_IP_HOUR", "20", 1, 10_000, &[CreateCheck]),
    number("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR", "1000", 1, 1_000_000, &[CreateCheck]),
    number("SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR", "60", 1, 10_000, &[Coverage]),
    number("SIMGUARD_LIMIT_LOGIN_PER_ACCOUNT_15MIN", "10", 1, 100, &[Account]),
    number("SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR", "100", 1, 100_000, &[Account]),
    number("SIMGUARD_LIMIT_REGISTER_PER_IP_HOUR", "10", 1, 10_000, &[Account]),
    Setting {
        name: "SIMGUARD_OTP_PROVIDER",
        default: Some("vonage-v2"),
        required: Required::No,
        kind: Kind::Choice(&["vonage-v1", "vonage-v2", "twilio"]),
        readers: OTP,
    },
    url("SIMGUARD_VONAGE_BASE_URL", "https://api.nexmo.com", VONAGE),
    url("SIMGUARD_TWILIO_BASE_URL", "https://verify.twilio.com", OTP),
    Setting {
        name: "SIMGUARD_TWILIO_SERVICE_SID",
        default: None,
        required: Required::No,
        kind: Kind::Text,
        readers: OTP,
    },
    Setting {
        name: "SIMGUARD_OTP_BRAND",
        default: Some("simguard"),
        required: Required::No,
        kind: Kind::Text,
        readers: &[Coverage, CreateCheck, Callback, OtpStart, CognitoAuth],
    },
    Setting {
        name: "SIMGUARD_SMS_SENDER",
        default: None,
        required: Required::No,
        kind: Kind::Text,
        readers: &[OtpVerify],
    },
    Setting {
        name: "SIMGUARD_DEFAULT_REGION",
        default: Some("GB"),
        required: Required::No,
        kind: Kind::Text,
        readers: &[Account],
    },
    Setting {
        name: "SIMGUARD_SMS_COUNTRIES",
        default: Some("44"),
        required: Required::No,
        kind: Kind::Text,
        readers: &[OtpStart, Account, CognitoAuth],
    },
    Setting {
        name: "SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY",
        default: Some("deny"),
        required: Required::No,
        kind: Kind::Choice(&["deny", "allow_with_notice"]),
        readers: &[SimCheck],
    },
    Setting {
        name: "SIMGUARD_SILENT_PROVIDERS",
        default: Some("truid"),
        required: Required::No,
        kind: Kind::Text,
        readers: SILENT,
    },
    Setting {
        name: "SIMGUARD_SIM_SWAP_SOURCES",
        default: Some("truid"),
        required: Required::No,
        kind: Kind::Text,
        readers: SIM_GATE,
    },
    Setting {
        name: "SIMGUARD_CAMARA_BASE_URL",
        default: None,
        required: Required::No,
        kind: Kind::Url,
        readers: CAMARA,
    },
    Setting {
        name: "SIMGUARD_CAMARA_TOKEN_URL",
        default: None,
        required: Required::No,
        kind: Kind::Url,
        readers: CAMARA,
    },
    Setting {
        name: "SIMGUARD_CAMARA_AUTHORIZE_URL",
        default: None,
        required: Required::No,
        kind: Kind::Url,
        readers: SILENT,
    },
    Setting {
        name: "SIMGUARD_COGNITO_RETURN_URL",
        default: None,
        required: Required::No,
        kind: Kind::Url,
        readers: &[CognitoAuth],
    },
    url("SIMGUARD_TWILIO_LOOKUP_BASE_URL", "https://lookups.twilio.com", SIM_GATE),
    number("SIMGUARD_LIMIT_SIM_CHECKS_PER_IP_HOUR", "20", 1, 10_000, &[SimCheck]),
    number("SIMGUARD_LIMIT_OTP_ATTEMPTS_PER_FLOW", "5", 1, 5, &[OtpVerify]),
    number("SIMGUARD_LIMIT_OTP_SENDS_PER_FLOW", "3", 1, 5, &[OtpStart]),
    number("SIMGUARD_LIMIT_SMS_PER_NUMBER_10MIN", "3", 1, 5, SMS),
    number("SIMGUARD_LIMIT_SMS_PER_NUMBER_DAY", "10", 1, 100, SMS),
    number("SIMGUARD_LIMIT_SMS_PER_IP_HOUR", "10", 1, 10_000, &[OtpStart]),
    number("SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR", "30", 1, 100_000, &[OtpStart]),
    number("SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR", "20", 1, 100_000, SMS),
    number("SIMGUARD_LIMIT_SMS_GLOBAL_HOUR", "500", 1, 1_000_000, SMS),
    Setting {
        name: "SIMGUARD_TABLE_NAME",
        default: None,
        required: Required::WhenDeployed,
        kind: Kind::Text,
        readers: ALL,
    },
    Setting {
        name: "SIMGUARD_SECRET_ID",
        default: None,
        required: Required::WhenDeployed,
        kind: Kind::Text,
        readers: SECRET,
    },
    number("SIMGUARD_SECRET_TTL_SECONDS", "300", 0, 300, SECRET),
    Setting {
        name: "SIMGUARD_CLIENT_IP_SOURCE",
        default: Some("source_ip"),
        required: Required::No,
        kind: Kind::Choice(&["source_ip", "cloudfront"]),
        readers: HTTP,
    },
    Setting {
        name: "SIMGUARD_ORIGIN_VERIFY_TOKEN",
        default: None,
        required: Required::No,
        kind: Kind::Text,
        readers: HTTP,
    },
    Setting {
        name: "SIMGUARD_METRICS_NAMESPACE",
        default: Some("simguard"),
        required: Required::No,
        kind: Kind::Text,
        readers: ALL,
    },
    Setting {
        name: "SIMGUARD_SITE_NAME",
        default: Some("simguard"),
        required: Required::No,
        kind: Kind::Text,
        readers: &[Notify, OtpVerify],
    },
    Setting {
        name: "SIMGUARD_SUPPORT_CONTACT",
        default: None,
        required: Required::No,
        kind: Kind::Text,
        readers: &[Notify, OtpVerify],
    },
    Setting {
        name: "SIMGUARD_NOTIFY_QUEUE_URL",
        default: None,
        required: Required::WhenDeployed,
        kind: Kind::Url,
        readers: NOTIFY,
    },
    Setting {
        name: "SIMGUARD_MAIL_FROM",
        default: None,
        required: Required::WhenDeployed,
        kind: Kind::Text,
        readers: &[Notify],
    },
    Setting {
        name: "SIMGUARD_MAIL_REPLY_TO",
        default: None,
        required: Required::No,
        kind: Kind::Text,
        readers: &[Notify],
    },
    Setting {
        name: "SIMGUARD_SES_CONFIGURATION_SET",
        default: None,
        required: Required::No,
        kind: Kind::Text,
        readers: &[Notify],
    },
];

/// The declaration of `name`. Every name the parser asks for is declared (a unit test reads them all).
fn spec(name: &str) -> Result<&'static Setting, ConfigError> {
    SETTINGS.iter().find(|s| s.name == name).ok_or(ConfigError::Missing("an undeclared setting"))
}

/// The variables `function` reads, in declaration order. This is what its code can see (see
/// [`Settings::for_function`]); the infrastructure tests hold the environment SAM and CDK give each
/// function to it: nothing it does not read, everything it requires.
pub fn variables(function: Function) -> Vec<&'static str> {
    SETTINGS.iter().filter(|s| s.readers.contains(&function)).map(|s| s.name).collect()
}

/// The variables a deployed function cannot start without.
pub fn required_when_deployed(function: Function) -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|s| s.readers.contains(&function) && matches!(s.required, Required::Always | Required::WhenDeployed))
        .map(|s| s.name)
        .collect()
}

/// Per-flow and per-window limits (docs/security.md, "Default limits"). Windows are fixed.
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
    /// Login attempts per account per client IP per 15 minutes (never per account alone: anyone
    /// could then lock its owner out).
    pub login_per_account_15min: u32,
    /// Login attempts per IP per hour.
    pub login_per_ip_hour: u32,
    /// Registrations per IP per hour.
    pub register_per_ip_hour: u32,
    /// SIM checks (each a paid tru.ID call) per client IP per hour.
    pub sim_checks_per_ip_hour: u32,
    /// Code checks per flow (C3); fewer when the SMS path was opened without a SIM answer.
    pub otp_attempts_per_flow: u32,
    /// SMS sends per flow; fewer when the SMS path was opened without a SIM answer.
    pub otp_sends_per_flow: u32,
    /// Sign-in SMS per destination number per 10 minutes (F1); resets send at most one per 5.
    pub sms_per_number_10min: u32,
    /// SMS per destination number per day (F1), for resets and for sign-ins apart.
    pub sms_per_number_day: u32,
    /// SMS per client IP (IPv6 /64) per hour.
    pub sms_per_ip_hour: u32,
    /// SMS per IPv4 /24 (IPv6 /48) per hour.
    pub sms_per_ip_block_hour: u32,
    /// SMS per destination prefix (the number without its last 4 digits) per hour: pumping runs
    /// through blocks of adjacent numbers.
    pub sms_per_prefix_hour: u32,
    /// Global SMS ceiling per hour (F2), for every SMS; resets and site verifications may each use a
    /// quarter of it.
    pub sms_global_hour: u32,
}

/// Where the caller's address comes from (docs/security.md A5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIpSource {
    /// API Gateway's `requestContext.http.sourceIp` (or the TCP peer locally).
    SourceIp,
    /// Behind CloudFront, `sourceIp` is CloudFront's; the viewer's address is in
    /// `CloudFront-Viewer-Address`, trusted only on requests that carry the origin-verify token
    /// CloudFront adds (a caller going around CloudFront cannot forge it).
    CloudFront {
        /// What CloudFront sends in `X-Simguard-Origin-Verify`.
        origin_verify_token: OriginVerifyToken,
    },
}

/// The shared secret CloudFront sends in `X-Simguard-Origin-Verify`. Never printed; compared in
/// constant time.
#[derive(Clone)]
pub struct OriginVerifyToken(secrecy::SecretString);

impl OriginVerifyToken {
    /// Whether a request presented this token.
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
    /// Vonage Verify v1.
    VonageV1,
    /// Vonage Verify v2.
    VonageV2,
    /// Twilio Verify v2.
    Twilio,
}

impl OtpProviderKind {
    /// From its configuration name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vonage-v1" => Some(Self::VonageV1),
            "vonage-v2" => Some(Self::VonageV2),
            "twilio" => Some(Self::Twilio),
            _ => None,
        }
    }
    /// Its configuration name (also the provider's name in logs, metrics and flows).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VonageV1 => "vonage-v1",
            Self::VonageV2 => "vonage-v2",
            Self::Twilio => "twilio",
        }
    }
}

/// The OTP provider and where it may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSettings {
    /// Which provider.
    pub provider: OtpProviderKind,
    /// Vonage's API base.
    pub vonage_base_url: Url,
    /// Twilio Verify's API base.
    pub twilio_base_url: Url,
    /// Required for Twilio.
    pub twilio_service_sid: Option<TwilioServiceSid>,
    /// The name in the SMS ("Your <brand> code is …"), Vonage only (Twilio's is the Service's).
    pub brand: String,
    /// Calling-code prefixes we send SMS to (`44`, `1`, …); `None` means any (F3).
    pub sms_countries: Option<Vec<String>>,
    /// Who notices come from (the old number told of a phone change); `None`: no notice is texted.
    pub notice_sender: Option<SmsSender>,
}

impl OtpSettings {
    /// Whether we send SMS to this number's country.
    pub fn sms_allowed_to(&self, phone: &Phone) -> bool {
        self.sms_countries
            .as_ref()
            .is_none_or(|list| list.iter().any(|prefix| phone.digits().starts_with(prefix.as_str())))
    }
}

/// One function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Whose settings these are.
    pub function: Function,
    /// The site's public origin (`https://example.com`). tru.ID's `redirect_url`, the allowed `Origin`
    /// and links in notifications are built from it, never from the `Host` header.
    pub public_base_url: Url,
    /// tru.ID's API base.
    pub truid_base_url: Url,
    /// Per provider call.
    pub provider_timeout: Duration,
    /// How long a request may take outside Lambda (in Lambda, the invocation's own deadline rules).
    pub request_budget: Duration,
    /// tru.ID `period` and the new-account grace window, in minutes.
    pub sim_change_window_minutes: u32,
    /// Life of a flow and its reset token.
    pub flow_ttl_secs: i64,
    /// Life of a session.
    pub session_ttl_secs: i64,
    /// Login only: what to do when tru.ID gives no SIM answer (resets always refuse).
    pub login_when_sim_unavailable: UnavailablePolicy,
    /// The OTP provider.
    pub otp: OtpSettings,
    /// Who answers the SIM-swap gate, in order.
    pub sim_swap: SimSwapSettings,
    /// Who proves possession silently, in order.
    pub silent: SilentSettings,
    /// Where a phone number typed without `+` and a country code is read (registration).
    pub default_region: Region,
    /// Rate limits.
    pub limits: Limits,
    /// The DynamoDB table (required by a deployed function; the local stack keeps data in memory).
    pub table_name: Option<String>,
    /// The Secrets Manager secret with the provider credentials; without it they come from the
    /// environment (local runs).
    pub secret_id: Option<String>,
    /// How long the secret is cached.
    pub secret_ttl_secs: i64,
    /// Where the caller's address comes from.
    pub client_ip: ClientIpSource,
    /// The CloudWatch namespace of the metrics (one per deployment, so that stacks in one account
    /// do not mix their numbers).
    pub metrics_namespace: String,
    /// Who the emails come from: the site's name, its support contact, its origin.
    pub site: Site,
    /// The queue notifications go on (a deployed function); without it they stay in this process.
    pub notify_queue_url: Option<Url>,
    /// How the consumer sends them.
    pub mail: MailSettings,
}

/// How the consumer sends email through Amazon SES.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailSettings {
    /// The sending address, of an identity verified in SES (required when deployed).
    pub from: Option<Email>,
    /// Where replies go, if not to `from`.
    pub reply_to: Option<Email>,
    /// The SES configuration set (its event destinations count bounces and complaints).
    pub configuration_set: Option<String>,
}

/// A function's view of the variables: only those declared for it.
struct Vars<'a> {
    function: Function,
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    /// The trimmed value, or the default; `None` for a variable this function does not read.
    fn raw(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let s = spec(name)?;
        if !s.readers.contains(&self.function) {
            return Ok(s.default.map(str::to_owned));
        }
        let given = (self.get)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(given.or_else(|| s.default.map(str::to_owned)))
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.raw(name)?.ok_or(ConfigError::Missing(name))
    }

    fn number<T: TryFrom<i64>>(&self, name: &'static str) -> Result<T, ConfigError> {
        let raw = self.required(name)?;
        let v: i64 = raw.parse().map_err(|_| invalid(name, format!("{raw:?} is not a number")))?;
        if let Kind::Number { min, max } = spec(name)?.kind
            && !(min..=max).contains(&v)
        {
            return Err(invalid(name, format!("{v} is outside {min}..={max}")));
        }
        T::try_from(v).map_err(|_| invalid(name, format!("{v} is out of range")))
    }

    fn choice(&self, name: &'static str) -> Result<String, ConfigError> {
        let raw = self.required(name)?;
        match spec(name)?.kind {
            Kind::Choice(options) if !options.contains(&raw.as_str()) => {
                Err(invalid(name, format!("{raw:?} is not one of {}", options.join(", "))))
            }
            _ => Ok(raw),
        }
    }

    fn url(&self, name: &'static str) -> Result<Url, ConfigError> {
        let raw = self.required(name)?;
        let url = Url::parse(&raw).map_err(|e| invalid(name, e.to_string()))?;
        validate_base_url(&url).map_err(|e| invalid(name, e.to_string()))?;
        Ok(url)
    }
}

impl Settings {
    /// A deployed function's settings, from the process environment: only its own variables.
    pub fn from_env_for(function: Function) -> Result<Self, ConfigError> {
        Self::deployed(function, |k| std::env::var(k).ok())
    }

    /// [`Settings::for_function`], refusing to start without a variable a deployed function needs
    /// (its table, its secret, the notification queue, the sender): without them it would run but
    /// keep data, credentials or emails where nobody sees them.
    pub fn deployed(function: Function, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        for name in required_when_deployed(function) {
            if get(name).is_none_or(|v| v.trim().is_empty()) {
                return Err(ConfigError::Missing(name));
            }
        }
        Self::for_function(function, get)
    }

    /// `function`'s settings from the variables `get` gives, reading only those declared for it —
    /// a variable meant for another function cannot change what this one does. The local stack and
    /// the tests build every function this way too, so they behave as the deployed functions do.
    pub fn for_function(function: Function, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let v = Vars { function, get: &get };
        let public_base_url = v.url("SIMGUARD_PUBLIC_BASE_URL")?;
        if public_base_url.path() != "/" {
            return Err(invalid(
                "SIMGUARD_PUBLIC_BASE_URL",
                "must be an origin without a path (the site is served at /)".into(),
            ));
        }
        let login_when_sim_unavailable = match v.choice("SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY")?.as_str() {
            "allow_with_notice" => UnavailablePolicy::AllowWithNotice,
            _ => UnavailablePolicy::Deny,
        };
        let table_name = v.raw("SIMGUARD_TABLE_NAME")?;
        if let Some(t) = &table_name
            && !(3..=255).contains(&t.len())
        {
            return Err(invalid("SIMGUARD_TABLE_NAME", "a DynamoDB table name has 3 to 255 characters".into()));
        }
        let client_ip = match v.choice("SIMGUARD_CLIENT_IP_SOURCE")?.as_str() {
            "cloudfront" => {
                let token = v
                    .raw("SIMGUARD_ORIGIN_VERIFY_TOKEN")?
                    .ok_or(ConfigError::Missing("SIMGUARD_ORIGIN_VERIFY_TOKEN"))?;
                if token.len() < 32 {
                    return Err(invalid("SIMGUARD_ORIGIN_VERIFY_TOKEN", "must be at least 32 characters".into()));
                }
                ClientIpSource::CloudFront { origin_verify_token: OriginVerifyToken(token.into()) }
            }
            _ => ClientIpSource::SourceIp,
        };
        let metrics_namespace = v.required("SIMGUARD_METRICS_NAMESPACE")?;
        // CloudWatch: 1 to 255 characters, no leading colon, printable ASCII.
        if metrics_namespace.len() > 255
            || metrics_namespace.starts_with(':')
            || !metrics_namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(invalid("SIMGUARD_METRICS_NAMESPACE", "1 to 255 printable ASCII characters".into()));
        }
        let site_name = v.required("SIMGUARD_SITE_NAME")?;
        if site_name.is_empty() || site_name.chars().count() > 100 || site_name.chars().any(char::is_control) {
            return Err(invalid("SIMGUARD_SITE_NAME", "1 to 100 characters, no control characters".into()));
        }
        let support_contact = v.raw("SIMGUARD_SUPPORT_CONTACT")?.filter(|c| !c.is_empty());
        if support_contact.as_ref().is_some_and(|c| c.chars().count() > 200 || c.chars().any(char::is_control)) {
            return Err(invalid("SIMGUARD_SUPPORT_CONTACT", "at most 200 characters, no control characters".into()));
        }
        let site = Site { name: site_name, support_contact, origin: public_base_url.origin().ascii_serialization() };
        let notify_queue_url = match v.raw("SIMGUARD_NOTIFY_QUEUE_URL")? {
            Some(_) => Some(v.url("SIMGUARD_NOTIFY_QUEUE_URL")?),
            None => None,
        };
        Ok(Settings {
            function,
            site,
            notify_queue_url,
            mail: mail_settings(&v)?,
            public_base_url,
            truid_base_url: v.url("SIMGUARD_TRUID_BASE_URL")?,
            provider_timeout: Duration::from_millis(v.number("SIMGUARD_PROVIDER_TIMEOUT_MS")?),
            request_budget: Duration::from_millis(v.number("SIMGUARD_REQUEST_BUDGET_MS")?),
            sim_change_window_minutes: v.number("SIMGUARD_SIM_CHANGE_WINDOW_MINUTES")?,
            flow_ttl_secs: v.number("SIMGUARD_FLOW_TTL_SECONDS")?,
            session_ttl_secs: v.number("SIMGUARD_SESSION_TTL_SECONDS")?,
            login_when_sim_unavailable,
            otp: otp_settings(&v)?,
            default_region: Region::parse(&v.required("SIMGUARD_DEFAULT_REGION")?).ok_or_else(|| {
                invalid("SIMGUARD_DEFAULT_REGION", "an ISO 3166 country code such as GB, FR or US".into())
            })?,
            limits: limits(&v)?,
            sim_swap: sim_swap_settings(&v)?,
            silent: silent_settings(&v)?,
            table_name,
            secret_id: v.raw("SIMGUARD_SECRET_ID")?,
            secret_ttl_secs: v.number("SIMGUARD_SECRET_TTL_SECONDS")?,
            client_ip,
            metrics_namespace,
        })
    }

    /// The SIM-swap policy these settings describe.
    pub fn sim_policy(&self) -> SimPolicy {
        SimPolicy {
            window_minutes: self.sim_change_window_minutes,
            login_when_unavailable: self.login_when_sim_unavailable,
        }
    }

    /// `https://example.com`: the only `Origin` allowed to make state-changing requests.
    pub fn public_origin(&self) -> String {
        self.public_base_url.origin().ascii_serialization()
    }

    /// An absolute URL on the site.
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{}", self.public_origin(), path)
    }

    /// The tru.ID `redirect_url`: fixed, from configuration (docs/security.md A6).
    pub fn truid_redirect_url(&self) -> String {
        match (self.function, &self.silent.cognito_return_url) {
            // A Cognito sign-in's proof returns to the app's page that answers Cognito's challenge
            // (without one, no Cognito sign-in starts a silent proof: docs/cognito.md).
            (Function::CognitoAuth, Some(url)) => url.to_string(),
            _ => self.public_url("/api/reset/callback"),
        }
    }

    /// Where a provider that returns its result in the URL's fragment (Vonage) sends the device:
    /// the page that posts the fragment to the callback.
    pub fn silent_return_url(&self) -> String {
        match self.function {
            Function::CognitoAuth => self.truid_redirect_url(),
            _ => self.public_url("/reset/silent-return.html"),
        }
    }
}

fn mail_settings(v: &Vars) -> Result<MailSettings, ConfigError> {
    let address = |name: &'static str| -> Result<Option<Email>, ConfigError> {
        v.raw(name)?
            .map(|raw| {
                Email::parse(&raw).map_err(|e| invalid(name, format!("{e} (a bare address: notices@example.com)")))
            })
            .transpose()
    };
    let configuration_set = v.raw("SIMGUARD_SES_CONFIGURATION_SET")?;
    // SES: letters, digits, `_` and `-`, at most 64.
    if configuration_set
        .as_ref()
        .is_some_and(|c| c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(invalid("SIMGUARD_SES_CONFIGURATION_SET", "at most 64 letters, digits, _ or -".into()));
    }
    Ok(MailSettings {
        from: address("SIMGUARD_MAIL_FROM")?,
        reply_to: address("SIMGUARD_MAIL_REPLY_TO")?,
        configuration_set,
    })
}

fn limits(v: &Vars) -> Result<Limits, ConfigError> {
    Ok(Limits {
        reset_per_account_hour: v.number("SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR")?,
        reset_per_ip_hour: v.number("SIMGUARD_LIMIT_RESET_PER_IP_HOUR")?,
        reset_global_hour: v.number("SIMGUARD_LIMIT_RESET_GLOBAL_HOUR")?,
        coverage_per_ip_hour: v.number("SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR")?,
        login_per_account_15min: v.number("SIMGUARD_LIMIT_LOGIN_PER_ACCOUNT_15MIN")?,
        login_per_ip_hour: v.number("SIMGUARD_LIMIT_LOGIN_PER_IP_HOUR")?,
        register_per_ip_hour: v.number("SIMGUARD_LIMIT_REGISTER_PER_IP_HOUR")?,
        sim_checks_per_ip_hour: v.number("SIMGUARD_LIMIT_SIM_CHECKS_PER_IP_HOUR")?,
        otp_attempts_per_flow: v.number("SIMGUARD_LIMIT_OTP_ATTEMPTS_PER_FLOW")?,
        otp_sends_per_flow: v.number("SIMGUARD_LIMIT_OTP_SENDS_PER_FLOW")?,
        sms_per_number_10min: v.number("SIMGUARD_LIMIT_SMS_PER_NUMBER_10MIN")?,
        sms_per_number_day: v.number("SIMGUARD_LIMIT_SMS_PER_NUMBER_DAY")?,
        sms_per_ip_hour: v.number("SIMGUARD_LIMIT_SMS_PER_IP_HOUR")?,
        sms_per_ip_block_hour: v.number("SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR")?,
        sms_per_prefix_hour: v.number("SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR")?,
        sms_global_hour: v.number("SIMGUARD_LIMIT_SMS_GLOBAL_HOUR")?,
    })
}

fn otp_settings(v: &Vars) -> Result<OtpSettings, ConfigError> {
    let provider = OtpProviderKind::parse(&v.choice("SIMGUARD_OTP_PROVIDER")?).unwrap_or(OtpProviderKind::VonageV2);
    let brand = v.required("SIMGUARD_OTP_BRAND")?;
    // Vonage refuses longer brands and these characters (422).
    if brand.chars().count() > 18 || brand.contains(['/', '{', '}', ':', '$']) {
        return Err(invalid("SIMGUARD_OTP_BRAND", "at most 18 characters, none of / { } : $".into()));
    }
    let twilio_service_sid = match v.raw("SIMGUARD_TWILIO_SERVICE_SID")? {
        Some(raw) => Some(
            TwilioServiceSid::parse(&raw)
                .ok_or_else(|| invalid("SIMGUARD_TWILIO_SERVICE_SID", "must be VA followed by 32 hex digits".into()))?,
        ),
        None if provider == OtpProviderKind::Twilio && v.function.is_otp() => {
            return Err(ConfigError::Missing("SIMGUARD_TWILIO_SERVICE_SID"));
        }
        None => None,
    };
    let sms_countries = match v.required("SIMGUARD_SMS_COUNTRIES")?.as_str() {
        "*" => None,
        list => {
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
    Ok(OtpSettings {
        provider,
        vonage_base_url: v.url("SIMGUARD_VONAGE_BASE_URL")?,
        twilio_base_url: v.url("SIMGUARD_TWILIO_BASE_URL")?,
        twilio_service_sid,
        brand,
        sms_countries,
        notice_sender: match v.raw("SIMGUARD_SMS_SENDER")?.filter(|s| !s.is_empty()) {
            Some(raw) => Some(SmsSender::parse(&raw).ok_or_else(|| {
                invalid(
                    "SIMGUARD_SMS_SENDER",
                    "a Twilio Messaging Service SID (MG and 32 hex digits), a number with + and the country code, or 1 to 11 letters, digits or spaces".into(),
                )
            })?),
            None => None,
        },
    })
}

/// A silent prover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilentProviderKind {
    /// tru.ID SubscriberCheck.
    TruId,
    /// CAMARA (Open Gateway) Number Verification, through an operator or aggregator.
    Camara,
    /// Vonage Verify v2 silent authentication.
    Vonage,
}

impl SilentProviderKind {
    /// As `SIMGUARD_SILENT_PROVIDERS` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TruId => "truid",
            Self::Camara => "camara",
            Self::Vonage => "vonage",
        }
    }
}

/// What `SIMGUARD_SILENT_PROVIDERS` takes.
const SILENT_NAMES: &str = "truid, camara, vonage";

/// The silent provers (docs/providers.md, "Silent provers").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentSettings {
    /// Tried in this order: the first that may reach the device's network and starts a proof.
    pub providers: Vec<SilentProviderKind>,
    /// CAMARA's OpenID Connect authorization endpoint (Number Verification).
    pub camara_authorize_url: Option<Url>,
    /// Where a Cognito sign-in's silent proof returns: the app's own page that answers Cognito's
    /// challenge (`SIMGUARD_COGNITO_RETURN_URL`). Without it the triggers start no silent proof.
    pub cognito_return_url: Option<Url>,
}

fn silent_settings(v: &Vars) -> Result<SilentSettings, ConfigError> {
    let mut providers = Vec::new();
    for name in v.required("SIMGUARD_SILENT_PROVIDERS")?.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = match name {
            "truid" => SilentProviderKind::TruId,
            "camara" => SilentProviderKind::Camara,
            "vonage" => SilentProviderKind::Vonage,
            // Twilio's Silent Network Auth gives its verdict to whoever names the verification, not
            // to the browser that started it: a relayed URL would let another browser complete the
            // proof (docs/security.md S34). Not offered for the web flows.
            "twilio-sna" => {
                return Err(invalid(
                    "SIMGUARD_SILENT_PROVIDERS",
                    "twilio-sna is not offered: its result is not bound to the browser that started the flow (docs/providers.md, \"Twilio Silent Network Auth\")".into(),
                ));
            }
            _ => {
                return Err(invalid(
                    "SIMGUARD_SILENT_PROVIDERS",
                    format!("a comma-separated list, in order, of {SILENT_NAMES}"),
                ));
            }
        };
        if !providers.contains(&kind) {
            providers.push(kind);
        }
    }
    if providers.is_empty() {
        return Err(invalid("SIMGUARD_SILENT_PROVIDERS", format!("at least one of {SILENT_NAMES}")));
    }
    let camara_authorize_url = match v.raw("SIMGUARD_CAMARA_AUTHORIZE_URL")?.filter(|u| !u.is_empty()) {
        Some(_) => Some(v.url("SIMGUARD_CAMARA_AUTHORIZE_URL")?),
        None => None,
    };
    if SILENT.contains(&v.function) && providers.contains(&SilentProviderKind::Camara) {
        for name in ["SIMGUARD_CAMARA_AUTHORIZE_URL", "SIMGUARD_CAMARA_BASE_URL", "SIMGUARD_CAMARA_TOKEN_URL"] {
            if v.raw(name)?.is_none_or(|u| u.is_empty()) {
                return Err(ConfigError::Missing(name));
            }
        }
    }
    let cognito_return_url = match v.raw("SIMGUARD_COGNITO_RETURN_URL")?.filter(|u| !u.is_empty()) {
        Some(_) => Some(v.url("SIMGUARD_COGNITO_RETURN_URL")?),
        None => None,
    };
    Ok(SilentSettings { providers, camara_authorize_url, cognito_return_url })
}

/// A source of the SIM-swap gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimSwapSourceKind {
    /// tru.ID SIMCheck.
    TruId,
    /// CAMARA (Open Gateway) SIM Swap `POST /check`, through an operator or aggregator.
    Camara,
    /// Twilio Lookup v2 with the `sim_swap` package.
    TwilioLookup,
}

impl SimSwapSourceKind {
    /// As `SIMGUARD_SIM_SWAP_SOURCES` names it (and metrics and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TruId => "truid",
            Self::Camara => "camara",
            Self::TwilioLookup => "twilio-lookup",
        }
    }
}

/// The SIM-swap gate's sources (docs/providers.md, "SIM-swap sources").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSwapSettings {
    /// Asked in this order: the first that can tell decides; one that cannot hands over.
    pub sources: Vec<SimSwapSourceKind>,
    /// The operator's or aggregator's API root (`{apiRoot}`; SIM Swap is under `/sim-swap/v2`).
    pub camara_base_url: Option<Url>,
    /// Its OAuth 2.0 token endpoint (client credentials).
    pub camara_token_url: Option<Url>,
    /// Twilio Lookup's API base.
    pub twilio_lookup_base_url: Url,
}

fn sim_swap_settings(v: &Vars) -> Result<SimSwapSettings, ConfigError> {
    let named = v.required("SIMGUARD_SIM_SWAP_SOURCES")?;
    let mut sources = Vec::new();
    for name in named.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = match name {
            "truid" => SimSwapSourceKind::TruId,
            "camara" => SimSwapSourceKind::Camara,
            "twilio-lookup" => SimSwapSourceKind::TwilioLookup,
            _ => {
                return Err(invalid(
                    "SIMGUARD_SIM_SWAP_SOURCES",
                    "a comma-separated list, in order, of truid, camara, twilio-lookup".into(),
                ));
            }
        };
        if !sources.contains(&kind) {
            sources.push(kind);
        }
    }
    if sources.is_empty() {
        return Err(invalid("SIMGUARD_SIM_SWAP_SOURCES", "at least one of truid, camara, twilio-lookup".into()));
    }
    let optional_url = |name: &'static str| -> Result<Option<Url>, ConfigError> {
        match v.raw(name)?.filter(|u| !u.is_empty()) {
            Some(_) => Ok(Some(v.url(name)?)),
            None => Ok(None),
        }
    };
    let camara_base_url = optional_url("SIMGUARD_CAMARA_BASE_URL")?;
    let camara_token_url = optional_url("SIMGUARD_CAMARA_TOKEN_URL")?;
    if SIM_GATE.contains(&v.function) && sources.contains(&SimSwapSourceKind::Camara) {
        if camara_base_url.is_none() {
            return Err(ConfigError::Missing("SIMGUARD_CAMARA_BASE_URL"));
        }
        if camara_token_url.is_none() {
            return Err(ConfigError::Missing("SIMGUARD_CAMARA_TOKEN_URL"));
        }
    }
    Ok(SimSwapSettings {
        sources,
        camara_base_url,
        camara_token_url,
        twilio_lookup_base_url: v.url("SIMGUARD_TWILIO_LOOKUP_BASE_URL")?,
    })
}

impl Function {
    /// Whether this function talks to the OTP provider.
    fn is_otp(self) -> bool {
        OTP.contains(&self)
    }
}

fn invalid(var: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { var, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Function::ResetPassword;
    use std::collections::{BTreeSet, HashMap};

    fn settings(function: Function, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Settings::for_function(function, |k| map.get(k).cloned())
    }

    const SITE: (&str, &str) = ("SIMGUARD_PUBLIC_BASE_URL", "https://example.com");

    /// The first function that reads `var`.
    fn reader(var: &str) -> Function {
        SETTINGS.iter().find(|s| s.name == var).map(|s| s.readers[0]).expect("declared")
    }

    #[test]
    fn every_default_parses_and_lies_in_its_range() {
        for f in Function::ALL {
            let s = settings(f, &[SITE]).unwrap_or_else(|e| panic!("{}: {e}", f.name()));
            assert_eq!(s.function, f);
        }
        for s in SETTINGS {
            if let (Kind::Number { min, max }, Some(d)) = (s.kind, s.default) {
                let d: i64 = d.parse().expect("numeric default");
                assert!((min..=max).contains(&d), "{}", s.name);
            }
            if let (Kind::Choice(options), Some(d)) = (s.kind, s.default) {
                assert!(options.contains(&d), "{}", s.name);
            }
            assert!(!s.readers.is_empty(), "{} is read by some function", s.name);
        }
        let names: BTreeSet<&str> = SETTINGS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), SETTINGS.len(), "declared once");
    }

    #[test]
    fn the_public_url_is_required_and_named() {
        assert_eq!(settings(Account, &[]), Err(ConfigError::Missing("SIMGUARD_PUBLIC_BASE_URL")));
        let e = settings(Account, &[("SIMGUARD_PUBLIC_BASE_URL", "http://example.com")]).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("SIMGUARD_PUBLIC_BASE_URL is invalid")));
        assert!(settings(Account, &[("SIMGUARD_PUBLIC_BASE_URL", "https://example.com/app")]).is_err());
        assert!(settings(Account, &[("SIMGUARD_PUBLIC_BASE_URL", "http://127.0.0.1:8080")]).is_ok());
    }

    #[test]
    fn defaults() {
        let s = settings(CreateCheck, &[SITE]).expect("valid");
        assert_eq!(s.truid_base_url.as_str(), "https://eu.api.tru.id/");
        assert_eq!(s.sim_change_window_minutes, 10080);
        assert_eq!(s.flow_ttl_secs, 600);
        assert_eq!(s.limits.reset_per_account_hour, 5);
        assert_eq!(s.truid_redirect_url(), "https://example.com/api/reset/callback");
        assert_eq!(s.public_origin(), "https://example.com");
        assert_eq!(s.metrics_namespace, "simguard");
    }

    #[test]
    fn bad_values_are_named() {
        for (var, val) in [
            ("SIMGUARD_TRUID_BASE_URL", "http://eu.api.tru.id"),
            ("SIMGUARD_TRUID_BASE_URL", "not a url"),
            ("SIMGUARD_SIM_CHANGE_WINDOW_MINUTES", "59"),
            ("SIMGUARD_FLOW_TTL_SECONDS", "3600"),
            ("SIMGUARD_PROVIDER_TIMEOUT_MS", "soon"),
            ("SIMGUARD_LIMIT_RESET_PER_ACCOUNT_HOUR", "0"),
            ("SIMGUARD_OTP_PROVIDER", "sinch"),
            ("SIMGUARD_TWILIO_SERVICE_SID", "VA123"),
            ("SIMGUARD_OTP_BRAND", "a brand that is far too long"),
            ("SIMGUARD_SMS_COUNTRIES", "44,uk"),
            ("SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY", "allow"),
            ("SIMGUARD_LIMIT_OTP_ATTEMPTS_PER_FLOW", "50"),
            ("SIMGUARD_VONAGE_BASE_URL", "http://api.nexmo.com"),
            ("SIMGUARD_CLIENT_IP_SOURCE", "x-forwarded-for"),
            ("SIMGUARD_METRICS_NAMESPACE", ":bad"),
            ("SIMGUARD_DEFAULT_REGION", "UK"),
            ("SIMGUARD_NOTIFY_QUEUE_URL", "http://sqs.eu-west-1.amazonaws.com/1/q"),
            ("SIMGUARD_MAIL_FROM", "Example <notices@example.com>"),
            ("SIMGUARD_MAIL_REPLY_TO", "support"),
            ("SIMGUARD_SES_CONFIGURATION_SET", "no spaces"),
            ("SIMGUARD_SITE_NAME", "Example\nBank"),
            ("SIMGUARD_SUPPORT_CONTACT", "help@bank.example\r\nBcc: x@evil.example"),
        ] {
            match settings(reader(var), &[SITE, (var, val)]) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={val}: {other:?}"),
            }
        }
        assert!(settings(SimCheck, &[SITE, ("SIMGUARD_TRUID_BASE_URL", "https://us.api.idlayr.com")]).is_ok());
    }

    /// The provider chains: names in order, duplicates dropped; what a provider needs is required where
    /// it is used, named by its variable.
    #[test]
    fn provider_chains() {
        let with = |f, pairs: &[(&str, &str)]| {
            let mut env = vec![SITE];
            env.extend_from_slice(pairs);
            settings(f, &env)
        };
        let s = with(SimCheck, &[("SIMGUARD_SIM_SWAP_SOURCES", "twilio-lookup, truid,twilio-lookup")]).expect("valid");
        assert_eq!(s.sim_swap.sources, [SimSwapSourceKind::TwilioLookup, SimSwapSourceKind::TruId]);
        // Empty is unset (a template's optional parameter): the default.
        let empty = with(SimCheck, &[("SIMGUARD_SIM_SWAP_SOURCES", "")]).expect("valid");
        assert_eq!(empty.sim_swap.sources, [SimSwapSourceKind::TruId]);
        for bad in ["truid,sinch", " , "] {
            assert!(matches!(
                with(SimCheck, &[("SIMGUARD_SIM_SWAP_SOURCES", bad)]),
                Err(ConfigError::Invalid { var: "SIMGUARD_SIM_SWAP_SOURCES", .. })
            ));
        }
        assert_eq!(
            with(SimCheck, &[("SIMGUARD_SIM_SWAP_SOURCES", "camara")]),
            Err(ConfigError::Missing("SIMGUARD_CAMARA_BASE_URL"))
        );
        let camara = [
            ("SIMGUARD_SILENT_PROVIDERS", "camara,truid"),
            ("SIMGUARD_CAMARA_BASE_URL", "https://api.operator.example"),
            ("SIMGUARD_CAMARA_TOKEN_URL", "https://auth.operator.example/token"),
        ];
        assert_eq!(with(CreateCheck, &camara), Err(ConfigError::Missing("SIMGUARD_CAMARA_AUTHORIZE_URL")));
        let mut complete = camara.to_vec();
        complete.push(("SIMGUARD_CAMARA_AUTHORIZE_URL", "https://auth.operator.example/authorize"));
        let s = with(Callback, &complete).expect("valid");
        assert_eq!(s.silent.providers, [SilentProviderKind::Camara, SilentProviderKind::TruId]);
        // Vonage; Twilio SNA is refused, whatever else is set (its result is not bound to the browser).
        let s = with(Callback, &[("SIMGUARD_SILENT_PROVIDERS", "vonage,truid")]).expect("valid");
        assert_eq!(s.silent.providers, [SilentProviderKind::Vonage, SilentProviderKind::TruId]);
        let sid = ("SIMGUARD_TWILIO_SERVICE_SID", "VA0123456789abcdef0123456789abcdef");
        assert!(matches!(
            with(CreateCheck, &[("SIMGUARD_SILENT_PROVIDERS", "truid,twilio-sna"), sid]),
            Err(ConfigError::Invalid { var: "SIMGUARD_SILENT_PROVIDERS", .. })
        ));
        // Read only where used: the account function ignores them all.
        assert!(with(Account, &[("SIMGUARD_SILENT_PROVIDERS", "nonsense")]).is_ok());
        assert!(matches!(
            with(Coverage, &[("SIMGUARD_SILENT_PROVIDERS", "nonsense")]),
            Err(ConfigError::Invalid { var: "SIMGUARD_SILENT_PROVIDERS", .. })
        ));
    }

    /// A function's settings ignore the variables of others: a variable listed under the wrong
    /// function has no effect anywhere, not only in Lambda.
    #[test]
    fn each_function_reads_only_its_own_variables() {
        let env = [SITE, ("SIMGUARD_OTP_PROVIDER", "vonage-v1"), ("SIMGUARD_SIM_CHANGE_WINDOW_MINUTES", "1440")];
        let account = settings(Account, &env).expect("valid");
        assert_eq!((account.otp.provider, account.sim_change_window_minutes), (OtpProviderKind::VonageV2, 10080));
        assert_eq!(settings(OtpStart, &env).map(|s| s.otp.provider), Ok(OtpProviderKind::VonageV1));
        assert_eq!(settings(SimCheck, &env).map(|s| s.sim_change_window_minutes), Ok(1440));
        // Twilio without its Service is refused where it is used, and ignored elsewhere.
        let twilio = [SITE, ("SIMGUARD_OTP_PROVIDER", "twilio")];
        assert_eq!(settings(OtpStart, &twilio), Err(ConfigError::Missing("SIMGUARD_TWILIO_SERVICE_SID")));
        assert!(settings(Account, &twilio).is_ok());
        assert_eq!(
            variables(Coverage),
            [
                "SIMGUARD_PUBLIC_BASE_URL",
                "SIMGUARD_TRUID_BASE_URL",
                "SIMGUARD_PROVIDER_TIMEOUT_MS",
                "SIMGUARD_REQUEST_BUDGET_MS",
                "SIMGUARD_LIMIT_COVERAGE_PER_IP_HOUR",
                "SIMGUARD_VONAGE_BASE_URL",
                "SIMGUARD_OTP_BRAND",
                "SIMGUARD_SILENT_PROVIDERS",
                "SIMGUARD_CAMARA_BASE_URL",
                "SIMGUARD_CAMARA_TOKEN_URL",
                "SIMGUARD_CAMARA_AUTHORIZE_URL",
                "SIMGUARD_TABLE_NAME",
                "SIMGUARD_SECRET_ID",
                "SIMGUARD_SECRET_TTL_SECONDS",
                "SIMGUARD_CLIENT_IP_SOURCE",
                "SIMGUARD_ORIGIN_VERIFY_TOKEN",
                "SIMGUARD_METRICS_NAMESPACE"
            ]
        );
        assert_eq!(
            required_when_deployed(ResetPassword),
            ["SIMGUARD_PUBLIC_BASE_URL", "SIMGUARD_TABLE_NAME", "SIMGUARD_SECRET_ID", "SIMGUARD_NOTIFY_QUEUE_URL"]
        );
        assert_eq!(
            required_when_deployed(Notify),
            ["SIMGUARD_PUBLIC_BASE_URL", "SIMGUARD_TABLE_NAME", "SIMGUARD_MAIL_FROM"]
        );
    }

    /// Deployed, a function does not start without what it needs to keep its data and send its
    /// emails; the local stack and the tests run without them.
    #[test]
    fn a_deployed_function_names_what_it_lacks() {
        let deployed = |f: Function, vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            Settings::deployed(f, |k| map.get(k).cloned())
        };
        let base = [SITE, ("SIMGUARD_TABLE_NAME", "simguard"), ("SIMGUARD_SECRET_ID", "simguard/providers")];
        assert_eq!(deployed(SimCheck, &base), Err(ConfigError::Missing("SIMGUARD_NOTIFY_QUEUE_URL")));
        let queue = ("SIMGUARD_NOTIFY_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/simguard-notify");
        let s = deployed(SimCheck, &[base[0], base[1], base[2], queue]).expect("valid");
        assert_eq!(s.notify_queue_url.as_ref().map(Url::as_str), Some(queue.1));
        assert!(deployed(Coverage, &base).is_ok(), "coverage tells nobody anything");
        let consumer = [SITE, base[1]];
        assert_eq!(deployed(Notify, &consumer), Err(ConfigError::Missing("SIMGUARD_MAIL_FROM")));
        let s = deployed(Notify, &[SITE, base[1], ("SIMGUARD_MAIL_FROM", "notices@bank.example")]).expect("valid");
        assert_eq!(s.mail.from.as_ref().map(Email::as_str), Some("notices@bank.example"));
        assert!(settings(Notify, &[SITE]).is_ok_and(|s| s.mail == MailSettings::default()));
    }

    #[test]
    fn otp_provider_settings() {
        let sid = "VAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let t = settings(OtpVerify, &[SITE, ("SIMGUARD_OTP_PROVIDER", "twilio"), ("SIMGUARD_TWILIO_SERVICE_SID", sid)])
            .expect("twilio");
        assert_eq!(t.otp.provider, OtpProviderKind::Twilio);
        assert_eq!(t.otp.twilio_service_sid.as_ref().map(TwilioServiceSid::as_str), Some(sid));
        let c = settings(OtpStart, &[SITE, ("SIMGUARD_SMS_COUNTRIES", "+44, 1")]).expect("valid");
        assert_eq!(c.otp.sms_countries, Some(vec!["44".to_owned(), "1".to_owned()]));
        let uk = Phone::from_e164("+447700900123").expect("phone");
        let fr = Phone::from_e164("+33612345678").expect("phone");
        assert!(c.otp.sms_allowed_to(&uk) && !c.otp.sms_allowed_to(&fr));
        assert_eq!(settings(Account, &[SITE, ("SIMGUARD_SMS_COUNTRIES", "*")]).map(|s| s.otp.sms_countries), Ok(None));
        let lenient = settings(SimCheck, &[SITE, ("SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY", "allow_with_notice")]);
        assert_eq!(lenient.map(|s| s.login_when_sim_unavailable), Ok(UnavailablePolicy::AllowWithNotice));
    }

    #[test]
    fn behind_cloudfront_the_token_is_required() {
        let cf = ("SIMGUARD_CLIENT_IP_SOURCE", "cloudfront");
        assert_eq!(settings(Account, &[SITE, cf]), Err(ConfigError::Missing("SIMGUARD_ORIGIN_VERIFY_TOKEN")));
        let short = ("SIMGUARD_ORIGIN_VERIFY_TOKEN", "short");
        assert!(matches!(settings(Account, &[SITE, cf, short]), Err(ConfigError::Invalid { .. })));
        let token = "t".repeat(32);
        let s = settings(Account, &[SITE, cf, ("SIMGUARD_ORIGIN_VERIFY_TOKEN", &token)]).expect("valid");
        assert!(matches!(s.client_ip, ClientIpSource::CloudFront { .. }));
    }
}
