//! Capturing what the code logs, as JSON lines, for tests that look for what must never be logged.
//!
//! One global subscriber for the whole test binary (per-thread subscribers would race over tracing's
//! global callsite cache when tests run in parallel); it writes each line to the capture of the
//! thread that logged it, if that thread is capturing. A `#[tokio::test]` runs its tasks on its own
//! thread, so a capture sees a whole flow and nothing of the tests running beside it.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// What the global subscriber lets through: simguard's own events at TRACE (stricter than
/// production), everything else at the production default.
pub const FILTER: &str = "info,simguard=trace,simguard_sandbox=info";

/// Everything one thread logged while it was capturing.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture")).into_owned()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CURRENT.with(|c| {
            if let Some(capture) = &*c.borrow() {
                capture.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            }
            Ok(buf.len())
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the capture when dropped.
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Captures this thread's logs until the guard is dropped.
pub fn capture() -> (Capture, Capturing) {
    static GLOBAL: OnceLock<()> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let layer = tracing_subscriber::fmt::layer().json().with_writer(|| ThreadWriter);
        let filter: tracing_subscriber::filter::Targets = FILTER.parse().expect("the test filter");
        let subscriber = tracing_subscriber::registry().with(layer).with(filter);
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber of the test binary");
    });
    let capture = Capture::default();
    CURRENT.with(|c| *c.borrow_mut() = Some(capture.clone()));
    (capture, Capturing)
}
