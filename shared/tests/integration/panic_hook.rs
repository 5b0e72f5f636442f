//! docs/security.md S14: a panic's message may quote request data; the hook logs only where it was.

use crate::support::logs::capture;

#[test]
fn panic_messages_never_reach_the_logs() {
    let (logs, _capturing) = capture();
    let previous = std::panic::take_hook();
    simguard::telemetry::install_panic_hook();
    let canary = "password=hunter2-canary&code=94dae426fg";
    let result = std::panic::catch_unwind(|| {
        let body: Option<&str> = std::hint::black_box(None);
        body.unwrap_or_else(|| panic!("could not parse request body {canary}")).len()
    });
    // The hook is the process's: give the other tests theirs back.
    std::panic::set_hook(previous);
    assert!(result.is_err());
    let text = logs.text();
    assert!(text.contains("\"event\":\"panic\""), "{text}");
    assert!(text.contains("panic_hook.rs"), "the location is kept: {text}");
    assert!(!text.contains("hunter2") && !text.contains("94dae426fg"), "{text}");
}
