//! Metrics in CloudWatch's embedded metric format (EMF): one JSON line per data point on stdout,
//! which CloudWatch Logs turns into metrics — no API call, no extra latency. The alarms of the SAM
//! template and the CDK app are built on these names (SECURITY.md §3.6).
//!
//! Dimensions are few and fixed (function, step, outcome, provider), so the metric count stays small.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

/// The namespace when `SIMGUARD_METRICS_NAMESPACE` is not set (the SAM template and the CDK app set
/// it to the stack's name).
pub const DEFAULT_NAMESPACE: &str = "simguard";

/// Every metric simguard emits. Names are the CloudWatch metric names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// A step of a flow ended: `step` (`reset_start`, `subscriber_check`, `sim_check`, `otp_start`,
    /// `otp_verify`, `reset_password`, `login`) with a fixed `outcome`.
    StepOutcome {
        step: &'static str,
        outcome: &'static str,
    },
    /// A provider call failed (timeout, 5xx, refusal of our credentials, an answer we could not read).
    ProviderError {
        provider: &'static str,
        call: &'static str,
    },
    /// An SMS code was sent, and one was verified: their ratio is the conversion the pumping alarm
    /// watches (SECURITY.md F5).
    SmsSent {
        provider: &'static str,
    },
    OtpVerified {
        provider: &'static str,
    },
    /// A SIM changed within the window stopped a reset or a login.
    SimChangeBlocked,
    /// A request was refused by a rate limit.
    RateLimited {
        bucket: &'static str,
    },
}

impl Metric {
    /// Every metric name (the alarms of the SAM template and the CDK app may use only these).
    pub const NAMES: &[&str] =
        &["StepOutcome", "ProviderError", "SmsSent", "OtpVerified", "SimChangeBlocked", "RateLimited"];

    pub fn name(&self) -> &'static str {
        match self {
            Metric::StepOutcome { .. } => "StepOutcome",
            Metric::ProviderError { .. } => "ProviderError",
            Metric::SmsSent { .. } => "SmsSent",
            Metric::OtpVerified { .. } => "OtpVerified",
            Metric::SimChangeBlocked => "SimChangeBlocked",
            Metric::RateLimited { .. } => "RateLimited",
        }
    }

    pub fn dimensions(&self) -> Vec<(&'static str, &'static str)> {
        match *self {
            Metric::StepOutcome { step, outcome } => vec![("Step", step), ("Outcome", outcome)],
            Metric::ProviderError { provider, call } => vec![("Provider", provider), ("Call", call)],
            Metric::SmsSent { provider } | Metric::OtpVerified { provider } => vec![("Provider", provider)],
            Metric::SimChangeBlocked => vec![],
            Metric::RateLimited { bucket } => vec![("Bucket", bucket)],
        }
    }

    /// The EMF document for one count of this metric, at `timestamp_ms`. Every metric also has an
    /// aggregate without dimensions (the second dimension set), which is what alarms use.
    pub fn to_emf(&self, namespace: &str, function: &str, timestamp_ms: i64) -> Value {
        let dims = self.dimensions();
        let mut set: Vec<&str> = vec!["Function"];
        set.extend(dims.iter().map(|(k, _)| *k));
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [set, Vec::<&str>::new()],
                    "Metrics": [{ "Name": self.name(), "Unit": "Count" }]
                }]
            }),
        );
        doc.insert("Function".into(), json!(function));
        for (k, v) in dims {
            doc.insert(k.into(), json!(v));
        }
        doc.insert(self.name().into(), json!(1));
        Value::Object(doc)
    }
}

pub trait MetricsSink: Send + Sync {
    fn record(&self, metric: Metric);
}

/// EMF lines on stdout, as Lambda expects them.
pub struct EmfStdout {
    namespace: String,
    function: &'static str,
}

impl EmfStdout {
    pub fn new(namespace: impl Into<String>, function: &'static str) -> Self {
        Self { namespace: namespace.into(), function }
    }
}

impl MetricsSink for EmfStdout {
    fn record(&self, metric: Metric) {
        let now = time::OffsetDateTime::now_utc();
        let ms = now.unix_timestamp() * 1000 + i64::from(now.millisecond());
        let line = metric.to_emf(&self.namespace, self.function, ms).to_string();
        // One write per line keeps lines whole when several tasks log at once.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// Keeps what was recorded (tests, the local stack).
#[derive(Default)]
pub struct MemoryMetrics(Mutex<Vec<Metric>>);

impl MemoryMetrics {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn recorded(&self) -> Vec<Metric> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
    pub fn count(&self, metric: &Metric) -> usize {
        self.recorded().iter().filter(|m| *m == metric).count()
    }
}

impl MetricsSink for MemoryMetrics {
    fn record(&self, metric: Metric) {
        if let Ok(mut m) = self.0.lock() {
            m.push(metric);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document follows the EMF specification: `_aws.CloudWatchMetrics[].Metrics[].Name` and every
    /// dimension key are top-level members, the timestamp is in milliseconds.
    #[test]
    fn emf_documents_are_well_formed() {
        let metrics = [
            Metric::StepOutcome { step: "otp_verify", outcome: "verified" },
            Metric::ProviderError { provider: "twilio", call: "otp_start" },
            Metric::SmsSent { provider: "vonage-v2" },
            Metric::OtpVerified { provider: "vonage-v2" },
            Metric::SimChangeBlocked,
            Metric::RateLimited { bucket: "sms_prefix" },
        ];
        let names: Vec<&str> = metrics.iter().map(Metric::name).collect();
        assert_eq!(names, Metric::NAMES, "one example of every metric, and NAMES lists them all");
        for m in metrics {
            let doc = m.to_emf(DEFAULT_NAMESPACE, "otp-start", 1_800_000_000_123);
            let aws = &doc["_aws"];
            assert_eq!(aws["Timestamp"], 1_800_000_000_123i64);
            let directive = &aws["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], DEFAULT_NAMESPACE);
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("name");
                assert_eq!(doc[name], 1, "{name} is a top-level value");
                assert_eq!(metric["Unit"], "Count");
            }
            for set in directive["Dimensions"].as_array().expect("dimension sets") {
                for key in set.as_array().expect("a set") {
                    let key = key.as_str().expect("a key");
                    assert!(doc[key].is_string(), "dimension {key} is a top-level string");
                }
            }
            assert_eq!(doc["Function"], "otp-start");
            // At most 30 dimensions per set (EMF limit); ours are tiny.
            assert!(directive["Dimensions"][0].as_array().is_some_and(|s| s.len() <= 3));
        }
    }
}
