//! Loads the providers' OpenAPI files and turns a response schema into a JSON Schema validator:
//! cross-file `$ref`s are inlined, OpenAPI 3.0's `nullable` becomes a `null` type, and `oneOf` is
//! read as `anyOf` (the tru.ID spec's alternatives overlap — e.g. the redirect's success and error
//! bodies have no required fields — so `oneOf` would reject every body).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value};

/// Known mistakes in the providers' files, each rewritten to what the provider documents and sends.
/// tru.ID's coverage model points response `product_id`s at the lower-case path form `ProductID`
/// (`pck|sck|suk`); its own `ProductIDResponse` (`PCK|SCK|SUK`) is what responses carry, as the
/// reachability docs and the seed tutorial's working code show.
const ERRATA: &[(&str, &str)] = &[(
    "../common/DataTypes.v1.yaml#/components/schemas/ProductID",
    "../common/DataTypes.v1.yaml#/components/schemas/ProductIDResponse",
)];

/// Known gaps in the providers' schemas, patched in after loading: (file, JSON pointer of an object,
/// key, JSON value) — the key is set to the value.
/// - Vonage v1 start: status `7` carries `network` (docs/providers.md, "Vonage Verify v1"), which `requestErrorResponse`
///   does not declare.
/// - Vonage v1 search: `searchErrorResponse.status` lists only `IN PROGRESS|FAILED|EXPIRED|CANCELLED|101`,
///   yet the same operation's examples answer `1`–`5` (throttled, missing parameter, invalid
///   parameter, bad credentials, internal error) with that schema.
const SCHEMA_ERRATA: &[(&str, &str, &str, &str)] = &[
    (
        "vonage/verify-v1.yml",
        "/components/schemas/requestErrorResponse/properties",
        "network",
        r#"{"type": "string", "description": "The network the number belongs to (status 7)"}"#,
    ),
    (
        "vonage/verify-v1.yml",
        "/components/schemas/searchErrorResponse/properties/status",
        "enum",
        r#"["IN PROGRESS", "FAILED", "EXPIRED", "CANCELLED", "101", "1", "2", "3", "4", "5"]"#,
    ),
];

pub struct Specs {
    files: HashMap<PathBuf, Value>,
}

impl Specs {
    pub fn new() -> Self {
        Self { files: HashMap::new() }
    }

    pub fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../provider-specs")
    }

    fn load(&mut self, path: &Path) -> Value {
        let path = path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(v) = self.files.get(&path) {
            return v.clone();
        }
        // Parsed files are shared by every test of the binary: Twilio's is 9,500 lines.
        static PARSED: OnceLock<Mutex<HashMap<PathBuf, Value>>> = OnceLock::new();
        let parsed = PARSED.get_or_init(Mutex::default);
        let cached = parsed.lock().expect("cache").get(&path).cloned();
        if let Some(v) = cached {
            self.files.insert(path, v.clone());
            return v;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut v: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (file, pointer, key, value) in SCHEMA_ERRATA {
            if path.ends_with(file) {
                let target = v
                    .pointer_mut(pointer)
                    .and_then(Value::as_object_mut)
                    .unwrap_or_else(|| panic!("erratum: {file}#{pointer} is not an object"));
                let value = serde_json::from_str(value).expect("erratum value");
                target.insert((*key).to_owned(), value);
            }
        }
        parsed.lock().expect("cache").insert(path.clone(), v.clone());
        self.files.insert(path, v.clone());
        v
    }

    fn resolve(&mut self, v: &Value, file: &Path, depth: u32) -> Value {
        assert!(depth < 64, "reference cycle near {}", file.display());
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let r = ERRATA.iter().find(|(from, _)| from == r).map_or(r.as_str(), |(_, to)| to);
                    let (target, pointer) = r.split_once('#').unwrap_or((r, ""));
                    let target_file =
                        if target.is_empty() { file.to_path_buf() } else { file.parent().expect("dir").join(target) };
                    let target_file =
                        target_file.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", target_file.display()));
                    let doc = self.load(&target_file);
                    let node =
                        doc.pointer(pointer).unwrap_or_else(|| panic!("{r} not found from {}", file.display())).clone();
                    return self.resolve(&node, &target_file, depth + 1);
                }
                let mut out = Map::new();
                for (k, val) in map {
                    match k.as_str() {
                        "example" | "examples" | "format" | "discriminator" | "xml" | "externalDocs" | "x-tags" => {}
                        k if k.starts_with("x-") => {}
                        "oneOf" => {
                            out.insert("anyOf".into(), self.resolve(val, file, depth + 1));
                        }
                        _ => {
                            out.insert(k.clone(), self.resolve(val, file, depth + 1));
                        }
                    }
                }
                let nullable = out.remove("nullable") == Some(Value::Bool(true));
                if let (true, Some(Value::String(t))) = (nullable, out.get("type").cloned()) {
                    out.insert("type".into(), Value::Array(vec![Value::String(t), Value::String("null".into())]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.resolve(i, file, depth + 1)).collect()),
            other => other.clone(),
        }
    }

    /// The schema of `responses[status].content[content_type]` of `method path` in `spec_file`.
    pub fn response_schema(
        &mut self,
        spec_file: &str,
        path: &str,
        method: &str,
        status: u16,
        content_type: &str,
    ) -> Value {
        let file = Self::root().join(spec_file);
        let doc = self.load(&file);
        let esc = |s: &str| s.replace('~', "~0").replace('/', "~1");
        let canonical = file.canonicalize().expect("spec file");
        // A response may be a `$ref` to `components/responses` (CAMARA's `Generic400`, ...).
        let response = format!("/paths/{}/{method}/responses/{status}", esc(path));
        let node = doc.pointer(&response).unwrap_or_else(|| panic!("{spec_file}: no response at {response}")).clone();
        let node = self.resolve(&node, &canonical, 0);
        let pointer = format!("/content/{}/schema", esc(content_type));
        node.pointer(&pointer).unwrap_or_else(|| panic!("{spec_file}: no schema at {response}{pointer}")).clone()
    }

    /// The schema under `#/components/schemas/<name>` of a file.
    pub fn component(&mut self, spec_file: &str, name: &str) -> Value {
        let file = Self::root().join(spec_file);
        let doc = self.load(&file);
        let node = doc
            .pointer(&format!("/components/schemas/{name}"))
            .unwrap_or_else(|| panic!("{spec_file}: no schema {name}"))
            .clone();
        self.resolve(&node, &file.canonicalize().expect("spec file"), 0)
    }

    /// Panics with every violation when `body` does not match the response schema.
    pub fn assert_response(
        &mut self,
        spec_file: &str,
        path: &str,
        method: &str,
        status: u16,
        content_type: &str,
        body: &Value,
    ) {
        let schema = self.response_schema(spec_file, path, method, status, content_type);
        assert_valid(&schema, body, &format!("{method} {path} {status}"));
    }
}

impl Specs {
    /// [`Specs::assert_response`] with the schema reshaped first (by [`closed`] or [`complete`]).
    #[allow(clippy::too_many_arguments)]
    pub fn assert_response_as(
        &mut self,
        shape: fn(Value) -> Value,
        spec_file: &str,
        path: &str,
        method: &str,
        status: u16,
        content_type: &str,
        body: &Value,
    ) {
        let schema = shape(self.response_schema(spec_file, path, method, status, content_type));
        assert_valid(&schema, body, &format!("{method} {path} {status}"));
    }

    /// A component schema, reshaped, against `body`.
    pub fn assert_component_as(&mut self, shape: fn(Value) -> Value, spec_file: &str, name: &str, body: &Value) {
        let schema = shape(self.component(spec_file, name));
        assert_valid(&schema, body, name);
    }
}

pub fn assert_valid(schema: &Value, body: &Value, what: &str) {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(schema)
        .unwrap_or_else(|e| panic!("{what}: schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: body {body} violates the spec:\n{}", errors.join("\n"));
}

/// Every object schema that lists `properties` rejects other keys. The providers' schemas declare
/// no `additionalProperties` (nor `required`), so without this any object would pass; with it, a
/// field the sandbox invented or misspelt fails.
pub fn closed(schema: Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut map: Map<String, Value> = map.into_iter().map(|(k, v)| (k, closed(v))).collect();
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(map)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(closed).collect()),
        other => other,
    }
}

/// [`closed`], and every top-level property required: for resources that always carry all their
/// fields (Twilio's, with `null` for the unused ones).
pub fn complete(schema: Value) -> Value {
    let mut schema = closed(schema);
    let names: Vec<Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    schema["required"] = Value::Array(names);
    schema
}

/// Runs `f` and returns the panic message it ended with, or `None` if it did not panic: proves a
/// validator rejects a broken body.
pub fn panic_message(f: impl FnOnce()) -> Option<String> {
    // The panic still prints into this test's captured output; harmless.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// A reqwest client builder. reqwest is built without a crypto provider of its own (the functions give
/// it theirs): the tests install rustls's `ring` provider as the process default, once.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
