//! Logging: JSON lines (CloudWatch-friendly) with no secrets. Nothing here logs request URLs, query
//! strings, headers or bodies; handlers log fixed event names and safe fields only (docs/security.md H2).

use tracing_subscriber::EnvFilter;

/// The filter used unless `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info";

/// JSON logs on stdout, once per process. Safe to call twice (the second call does nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .try_init();
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
