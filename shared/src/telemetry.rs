//! Logging: JSON lines (CloudWatch-friendly) with no secrets. Nothing here logs request URLs, query
//! strings, headers or bodies; handlers log fixed event names and safe fields only (docs/security.md H2).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter used unless `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info";

/// `RUST_LOG` as target directives (`info`, `simguard=debug,warn`, `off`); anything unreadable is
/// [`DEFAULT_FILTER`].
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log.and_then(|v| v.parse::<Targets>().ok()).unwrap_or_else(|| DEFAULT_FILTER.parse().unwrap_or_default())
}

/// One JSON object per line, the event's fields under `fields` (`fields.event` is what the stacks'
/// metric filters match, docs/operations.md).
fn json_lines<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(writer)
}

/// JSON logs on stdout, once per process. Safe to call twice (the second call does nothing).
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry().with(json_lines(std::io::stdout)).with(filter).try_init();
    install_panic_hook();
}

/// Panic messages can quote data (an `expect` on a parsed value, a failed index); the hook reports only
/// where the panic happened.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(event = "panic", location = %location, "panic (message withheld: it may contain request data)");
        eprintln!("panic at {location} (message withheld)");
    }));
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    /// The stacks' metric filters match `$.fields.event`.
    #[test]
    fn an_event_name_is_at_fields_event() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let writer = move || Line(sink.clone());
        let subscriber = tracing_subscriber::registry().with(super::json_lines(writer));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(event = "sim_check_unavailable_allowed", "a line");
        });
        let text = String::from_utf8(buffer.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
        assert_eq!(line["fields"]["event"], "sim_check_unavailable_allowed", "{text}");
    }

    struct Line(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Line {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(data);
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rust_log_is_read_as_target_directives() {
        let f = super::filter(Some("simguard=debug,warn"));
        assert!(f.would_enable("simguard::http", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(super::filter(None).would_enable("anything", &Level::INFO));
        assert!(!super::filter(Some("off")).would_enable("anything", &Level::ERROR));
    }
}
