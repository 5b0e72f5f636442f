//! Metrics in CloudWatch's embedded metric format (EMF): one JSON line per data point on stdout,
//! which CloudWatch Logs turns into metrics — no API call, no extra latency.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::ports::{Metric, MetricsSink};

/// The EMF document for one data point of this metric, at `timestamp_ms`. Every metric also has an
/// aggregate without dimensions (the second dimension set), which is what alarms use.
pub fn emf_document(metric: &Metric, namespace: &str, function: &str, timestamp_ms: i64) -> Value {
    let dims = metric.dimensions();
    let (value, unit) = metric.value();
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
                "Metrics": [{ "Name": metric.name(), "Unit": unit }]
            }]
        }),
    );
    doc.insert("Function".into(), json!(function));
    for (k, v) in dims {
        doc.insert(k.into(), json!(v));
    }
    doc.insert(metric.name().into(), json!(value));
    Value::Object(doc)
}

/// EMF lines on stdout, as Lambda expects them.
pub struct EmfStdout {
    namespace: String,
    function: &'static str,
}

impl EmfStdout {
    /// EMF lines for `function`, in `namespace`.
    pub fn new(namespace: impl Into<String>, function: &'static str) -> Self {
        Self { namespace: namespace.into(), function }
    }
}

impl MetricsSink for EmfStdout {
    fn record(&self, metric: Metric) {
        let now = time::OffsetDateTime::now_utc();
        let ms = now.unix_timestamp() * 1000 + i64::from(now.millisecond());
        let line = emf_document(&metric, &self.namespace, self.function, ms).to_string();
        // One write per line keeps lines whole when several tasks log at once.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// Keeps what was recorded (tests, the local stack).
#[derive(Default)]
pub struct MemoryMetrics(Mutex<Vec<Metric>>);

impl MemoryMetrics {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Everything recorded, in order.
    pub fn recorded(&self) -> Vec<Metric> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
    /// How many times `metric` was recorded.
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
            Metric::ProviderLatency { provider: "truid", call: "truid.sim_check", millis: 412 },
            Metric::SmsSent { provider: "vonage-v2" },
            Metric::OtpVerified { provider: "vonage-v2" },
            Metric::SimChangeBlocked,
            Metric::RateLimited { bucket: "sms_prefix" },
            Metric::Notification { outcome: "sent" },
            Metric::NotificationNotQueued,
            Metric::SimSwapAnswer { source: "camara", answer: "cannot_tell" },
            Metric::SilentAttempt { provider: "vonage", outcome: "started" },
        ];
        let names: Vec<&str> = metrics.iter().map(Metric::name).collect();
        assert_eq!(names, Metric::NAMES, "one example of every metric, and NAMES lists them all");
        for m in metrics {
            let doc = emf_document(&m, "simguard", "otp-start", 1_800_000_000_123);
            let aws = &doc["_aws"];
            assert_eq!(aws["Timestamp"], 1_800_000_000_123i64);
            let directive = &aws["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "simguard");
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("name");
                let (value, unit) = if name == "ProviderLatency" { (412, "Milliseconds") } else { (1, "Count") };
                assert_eq!(doc[name], value, "{name} is a top-level value");
                assert_eq!(metric["Unit"], unit);
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
