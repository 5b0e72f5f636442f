//! SECURITY.md §2 #14: a panic's message may quote request data; the hook logs only where it was.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn panic_messages_never_reach_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    simguard::telemetry::install_panic_hook();

    let canary = "password=hunter2-canary&code=94dae426fg";
    let result = std::panic::catch_unwind(|| {
        let body: Option<&str> = std::hint::black_box(None);
        body.unwrap_or_else(|| panic!("could not parse request body {canary}")).len()
    });
    let _ = std::panic::take_hook();
    assert!(result.is_err());
    let text = String::from_utf8(capture.0.lock().expect("capture").clone()).expect("utf-8");
    assert!(text.contains("\"event\":\"panic\""), "{text}");
    assert!(text.contains("panic_hook.rs"), "the location is kept: {text}");
    assert!(!text.contains("hunter2") && !text.contains("94dae426fg"), "{text}");
}
