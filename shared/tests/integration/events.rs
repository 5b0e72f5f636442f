//! Every file in `events/` (the API Gateway events of `cargo lambda invoke`, README "Run the functions
//! with cargo lambda watch") goes through the router of the function its folder names, as Lambda
//! hands it over, and gets the status its file name promises: `<what>.<status>.json`.

use std::path::Path;

use serde_json::Value;
use simguard::{Function, ROUTES};

use crate::support::*;

/// The site the events come from (their `Origin`): the `cargo lambda watch` recipe's.
const EVENTS_ORIGIN: &str = "http://127.0.0.1:8080";

#[tokio::test]
async fn every_event_gets_the_status_in_its_name() {
    let env = Env::builder().var("SIMGUARD_PUBLIC_BASE_URL", EVENTS_ORIGIN).start().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut seen = 0;
    for folder in std::fs::read_dir(&dir).expect("events/").flatten().filter(|e| e.path().is_dir()) {
        let name = folder.file_name().to_string_lossy().into_owned();
        let function = Function::by_name(&name).unwrap_or_else(|| panic!("events/{name} is not a function"));
        for file in std::fs::read_dir(folder.path()).expect("a function's events").flatten() {
            let file_name = file.file_name().to_string_lossy().into_owned();
            let status: u16 = file_name
                .strip_suffix(".json")
                .and_then(|n| n.rsplit_once('.'))
                .and_then(|(_, s)| s.parse().ok())
                .unwrap_or_else(|| panic!("events/{name}/{file_name}: name it <what>.<status>.json"));
            let json = std::fs::read_to_string(file.path()).expect("event");
            let event: Value = serde_json::from_str(&json).expect("JSON");
            let path = event["rawPath"].as_str().expect("rawPath");
            let method = event["requestContext"]["http"]["method"].as_str().expect("method");
            assert!(
                ROUTES.iter().any(|r| r.path == path && r.method == method && r.function == function),
                "events/{name}/{file_name}: {method} {path} is not a route of {name}"
            );
            let resp = env.send_event_json(path, &json).await;
            assert_eq!(resp.status, status, "events/{name}/{file_name}: {}", resp.text());
            seen += 1;
        }
    }
    assert!(seen >= Function::ALL.len(), "every function has an event: {seen}");
}
