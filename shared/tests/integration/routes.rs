//! docs/security.md S20: one inventory of routes, and nothing served outside it.

use std::collections::BTreeSet;
use std::sync::Arc;

use simguard::adapters::memory::MemoryStore;
use simguard::assembly::{Assembly, Storage};
use simguard::{Function, ROUTES, Settings};

use crate::support::*;

#[test]
fn the_route_table_snapshot() {
    let table: Vec<String> =
        ROUTES.iter().map(|r| format!("{} {} -> {}", r.method, r.path, r.function.name())).collect();
    assert_eq!(
        table,
        [
            "GET /api/coverage -> coverage",
            "POST /api/reset/check -> create-check",
            "POST /api/login/silent -> create-check",
            "GET /api/reset/callback -> callback",
            "POST /api/reset/callback -> callback",
            "POST /api/reset/password -> reset-password",
            "POST /api/sim-check -> sim-check",
            "POST /api/otp/start -> otp-start",
            "POST /api/otp/verify -> otp-verify",
            "POST /api/phone/finish -> otp-verify",
            "POST /api/register -> account",
            "POST /api/login -> account",
            "POST /api/logout -> account",
            "GET /api/me -> account",
            "POST /api/password -> account",
            "POST /api/logout-everywhere -> account",
            "GET /api/devices -> account",
            "POST /api/devices/forget -> account",
            "POST /api/phone/check -> account",
            "POST /api/phone/change -> account",
            "POST /api/verify/begin -> create-check",
            "POST /api/v1/verifications -> account",
            "POST /api/v1/verifications/redeem -> account",
            "GET /.well-known/jwks.json -> account",
            "POST /api/v1/iam/verifications -> account",
            "POST /api/v1/iam/verifications/redeem -> account",
        ],
        "a route was added, removed or moved: update SAM, CDK, cargo-lambda metadata and api/openapi.yaml with it"
    );
    // Every function has a binary crate of its name.
    for f in Function::ALL {
        let manifest =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../functions/{}/Cargo.toml", f.name()));
        assert!(manifest.exists(), "{}", manifest.display());
    }
}

/// Whether a request reaches a handler: anything but the router's own 404/405 problems.
async fn served(router: &axum::Router, method: &'static str, path: &str) -> bool {
    use tower::ServiceExt;
    let event = Event::new(method, path).header("origin", ORIGIN).header("sec-fetch-site", "same-origin");
    let req = lambda_http::request::from_str(&event.to_json().to_string()).expect("event");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let kind =
        serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["type"].as_str().map(str::to_owned));
    !matches!(kind.as_deref(), Some("urn:simguard:problem:not_found" | "urn:simguard:problem:method_not_allowed"))
}

#[tokio::test]
async fn each_function_serves_exactly_its_routes() {
    let assembly = Assembly::new(Storage::Memory(Arc::new(MemoryStore::new())));
    let vars = |k: &str| (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| ORIGIN.to_owned());
    for f in Function::HTTP {
        let router = assembly.router(Settings::for_function(f, vars).expect("settings")).expect("router");
        for r in ROUTES {
            let is_served = served(&router, r.method, r.path).await;
            assert_eq!(is_served, r.function == f, "{} {} in the {} function", r.method, r.path, f.name());
        }
    }
    let all = assembly.all_functions(vars).expect("router");
    for r in ROUTES {
        assert!(served(&all, r.method, r.path).await, "{} {}", r.method, r.path);
    }
    for (m, p) in [
        ("GET", "/api"),
        ("GET", "/api/reset"),
        ("POST", "/api/v2/reset/check"),
        ("GET", "/api/reset/password"),
        ("DELETE", "/api/me"),
    ] {
        assert!(!served(&all, m, p).await, "{m} {p} must not be served");
    }
}

#[test]
fn the_openapi_document_lists_the_same_routes() {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/openapi.yaml"))
        .expect("api/openapi.yaml");
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            documented.insert(format!(
                "{} {} -> {}",
                method.to_uppercase(),
                path,
                op["x-function"].as_str().unwrap_or("?")
            ));
        }
    }
    let table: BTreeSet<String> =
        ROUTES.iter().map(|r| format!("{} {} -> {}", r.method, r.path, r.function.name())).collect();
    assert_eq!(documented, table);
}

fn workspace_manifest() -> toml::Value {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .expect("Cargo.toml");
    toml::from_str(&text).expect("valid TOML")
}

/// `cargo lambda watch` routes /api/* by the workspace metadata: the same set as the table.
#[test]
fn the_cargo_lambda_watch_router_matches_the_table() {
    let manifest = workspace_manifest();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"].as_table().expect("a watch router");
    let mut watched = BTreeSet::new();
    for (path, routes) in router {
        for r in routes.as_array().expect("a list of {method, function}") {
            watched.insert(format!(
                "{} {path} -> {}",
                r["method"].as_str().unwrap_or("?"),
                r["function"].as_str().unwrap_or("?")
            ));
        }
    }
    let table: BTreeSet<String> =
        ROUTES.iter().map(|r| format!("{} {} -> {}", r.method, r.path, r.function.name())).collect();
    assert_eq!(watched, table);
}

/// The functions started by `cargo lambda watch` get a complete, valid configuration.
#[test]
fn the_cargo_lambda_watch_environment_is_a_valid_configuration() {
    let manifest = workspace_manifest();
    let env = manifest["workspace"]["metadata"]["lambda"]["env"].as_table().expect("a lambda env").clone();
    // Each binary starts as a deployed one does: with everything a deployed function requires.
    for f in Function::ALL {
        let settings = Settings::deployed(f, |k| env.get(k).and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_else(|e| panic!("{}: {e}", f.name()));
        assert_eq!(settings.table_name.as_deref(), Some("simguard-local"));
        // (cognito-auth starts no silent proof without SIMGUARD_COGNITO_RETURN_URL, unset here.)
        assert_eq!(settings.truid_redirect_url(), "http://127.0.0.1:8080/api/reset/callback");
    }
    for aws in ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(env.contains_key(aws), "{aws}");
    }
}

fn openapi() -> serde_json::Value {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/openapi.yaml"))
        .expect("api/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("yaml")
}

/// The API document is the truth about statuses: every route, sent what a careless or hostile client
/// sends — no cookies, no JSON, the wrong type, a body over the limit, broken JSON, no `Origin`, an
/// `Origin` of another site, and with its store out of reach — answers only statuses its entry
/// lists, and every problem it answers has a `type` of the document's enum. (schemathesis, run by
/// `scripts/test` against the local stack, fuzzes the bodies and parameters themselves.)
#[tokio::test]
async fn every_status_a_route_answers_is_documented() {
    let doc = openapi();
    let slugs: BTreeSet<String> = doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let stall = Stall::start().await;
    let aws = stall.aws().await;
    let healthy = Env::start().await;
    let down = Env::builder()
        .store_on(aws_sdk_dynamodb::Client::new(&aws), "simguard".into())
        .var("SIMGUARD_REQUEST_BUDGET_MS", "500")
        .start()
        .await;
    let mut undocumented = Vec::new();
    for route in ROUTES {
        let listed: BTreeSet<u16> = doc["paths"][route.path][route.method.to_lowercase()]["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .filter_map(|k| k.parse().ok())
            .collect();
        let base = || match route.method {
            "POST" => Event::post(route.path, serde_json::json!({})),
            _ => Event::get(route.path),
        };
        let probes = [
            ("as is", base()),
            ("text/plain", base().header("content-type", "text/plain").body("{}".into())),
            ("too large", base().body(format!("{{\"email\":\"{}\"}}", "a".repeat(20_000)))),
            ("broken JSON", base().body("{\"email\":".into())),
            ("a JSON array", base().body("[]".into())),
            ("no Origin", base().without_header("origin")),
            ("another Origin", base().header("origin", "https://evil.example")),
            ("a stranger's cookie", base().cookie(FLOW, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").csrf("x")),
        ];
        for (env, what) in [(&healthy, ""), (&down, ", store down")] {
            for (probe, event) in &probes {
                let r = env.send(event).await;
                if !listed.contains(&r.status) {
                    undocumented.push(format!("{} {} ({probe}{what}): {}", route.method, route.path, r.status));
                }
                if let Some(t) = r.problem_type().filter(|t| !slugs.contains(t)) {
                    undocumented.push(format!("{} {} ({probe}{what}): type {t}", route.method, route.path));
                }
            }
        }
    }
    assert!(undocumented.is_empty(), "answers api/openapi.yaml does not list:\n{}", undocumented.join("\n"));
}

/// Each function's binary builds its router on the clients of one state type, named in its
/// `main.rs`: the type it serves with, and no other (a wrong one fails at start-up, never silently).
#[test]
fn each_function_binary_names_the_state_it_serves_with() {
    use simguard::app::{WithHasher, WithOtp, WithPasswords, WithSilent, WithSilentGate, WithSimGate};
    let assembly = Assembly::new(Storage::Memory(Arc::new(MemoryStore::new())));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let notify = std::fs::read_to_string(root.join("functions/notify/src/main.rs")).expect("main.rs");
    assert!(notify.contains("simguard::assembly::run_consumer()"), "the consumer's main runs the consumer");
    for f in Function::HTTP {
        let main = std::fs::read_to_string(root.join(format!("functions/{}/src/main.rs", f.name()))).expect("main.rs");
        let named: Vec<&str> =
            ["WithSilent", "WithSilentGate", "WithSimGate", "WithOtp", "WithHasher", "WithPasswords"]
                .into_iter()
                .filter(|p| main.contains(&format!("run_lambda::<simguard::app::{p}>")))
                .collect();
        assert_eq!(named.len(), 1, "{}: main.rs names one state type: {main}", f.name());
        let settings = || {
            Settings::for_function(f, |k| (k == "SIMGUARD_PUBLIC_BASE_URL").then(|| "https://example.com".into()))
                .expect("settings")
        };
        let serves = [
            ("WithSilent", assembly.router_with::<WithSilent>(settings()).is_ok()),
            ("WithSilentGate", assembly.router_with::<WithSilentGate>(settings()).is_ok()),
            ("WithSimGate", assembly.router_with::<WithSimGate>(settings()).is_ok()),
            ("WithOtp", assembly.router_with::<WithOtp>(settings()).is_ok()),
            ("WithHasher", assembly.router_with::<WithHasher>(settings()).is_ok()),
            ("WithPasswords", assembly.router_with::<WithPasswords>(settings()).is_ok()),
        ];
        for (state, ok) in serves {
            assert_eq!(ok, state == named[0], "{} on {state}", f.name());
        }
    }
}
