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

/// JSON logs on stdout, once per process. Safe to call twice (the second call does nothing).
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let json = tracing_subscriber::fmt::layer().json().with_current_span(false).with_span_list(false).with_ansi(false);
    let _ = tracing_subscriber::registry().with(json).with(filter).try_init();
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

    #[test]
    fn rust_log_is_read_as_target_directives() {
        let f = super::filter(Some("simguard=debug,warn"));
        assert!(f.would_enable("simguard::http", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(super::filter(None).would_enable("anything", &Level::INFO));
        assert!(!super::filter(Some("off")).would_enable("anything", &Level::ERROR));
    }
}
