//! The layers of docs/architecture.md, enforced: which top-level module of the `simguard` crate may
//! use which, no cycles between any two modules, and no I/O in the domain. Read from the sources
//! (every `use crate::…` and every inline `crate::…` path outside tests and doc comments).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each layer may use besides itself. Keep docs/architecture.md ("Layers") in step.
const ALLOWED: &[(&str, &[&str])] = &[
    ("function", &[]),
    ("site", &[]),
    ("telemetry", &[]),
    ("domain", &[]),
    ("ports", &["domain"]),
    ("adapters", &["ports", "domain"]),
    ("config", &["ports", "domain", "function"]),
    ("app", &["config", "ports", "domain"]),
    ("http", &["app", "config", "ports", "domain"]),
    ("consumer", &["ports", "domain"]),
    ("cognito", &["http", "app", "config", "ports", "domain"]),
    ("import", &["ports", "domain"]),
    ("routes", &["http", "app", "config", "ports", "domain", "function"]),
    (
        "assembly",
        &[
            "routes",
            "http",
            "consumer",
            "cognito",
            "app",
            "config",
            "adapters",
            "ports",
            "domain",
            "function",
            "telemetry",
        ],
    ),
];

/// What the domain never touches: runtimes, clients, the clock, the environment, randomness, logs.
const IO_IN_DOMAIN: &[&str] = &[
    "tokio",
    "reqwest",
    "aws_",
    "axum",
    "lambda_http",
    "std::fs",
    "std::env",
    "std::net::Tcp",
    "std::time::SystemTime",
    "Instant::now",
    "now_utc",
    "getrandom",
    "tracing",
    "spawn_blocking",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `domain/flow.rs` → `domain::flow`; `domain/mod.rs` → `domain`; `lib.rs` → ``.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src").with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod" && *p != "lib").collect();
    parts.join("::")
}

fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files.into_iter().map(|p| (module_of(&p), std::fs::read_to_string(&p).expect("source"))).collect()
}

/// The code of a file without its tests and doc comments.
fn code(text: &str) -> String {
    let production = text.split("#[cfg(test)]").next().unwrap_or("");
    production
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return if path.is_empty() { vec![] } else { vec![path.to_owned()] };
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .flat_map(expand)
        .map(|p| if p == "self" { prefix.to_owned() } else { format!("{prefix}::{p}") })
        .collect()
}

/// Every `use` statement (`pub use` included, when `public`), expanded.
fn uses(code: &str, public_only: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let at_statement =
            before.ends_with('\n') || before.is_empty() || before.ends_with("pub ") || before.ends_with("    ");
        let public = before.ends_with("pub ");
        let end = rest[i..].find(';').map_or(rest.len(), |e| i + e);
        if at_statement && (public || !public_only) {
            out.extend(expand(&rest[i + 4..end]));
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out
}

/// Inline `crate::a::b` paths outside `use` statements.
fn inline_paths(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .map(|(i, _)| {
            code[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect::<String>()
        })
        .map(|p| p.trim_end_matches(':').to_owned())
        .collect()
}

struct Crate {
    modules: BTreeSet<String>,
    /// `pub use` re-exports: (module, name) → the module that defines it.
    reexports: BTreeMap<(String, String), String>,
}

impl Crate {
    /// The module a `crate::…` path lands in (the deepest module file on it, through re-exports).
    fn resolve(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.strip_prefix("crate::")?.split("::").collect();
        let mut current = String::new();
        for p in parts {
            let next = if current.is_empty() { p.to_owned() } else { format!("{current}::{p}") };
            if self.modules.contains(&next) {
                current = next;
            } else if let Some(target) = self.reexports.get(&(current.clone(), p.to_owned())) {
                return self.resolve(&format!("crate::{target}"));
            } else {
                break;
            }
        }
        (!current.is_empty()).then_some(current)
    }
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Module → the modules its code uses (re-exports of `mod.rs` files are structure, not use).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut reexports = BTreeMap::new();
    for (module, text) in &sources {
        for path in uses(&code(text), true) {
            let full = if path.starts_with("crate::") {
                path.clone()
            } else if module.is_empty() {
                format!("crate::{path}")
            } else {
                format!("crate::{module}::{path}")
            };
            if let Some((target, name)) = full.strip_prefix("crate::").and_then(|p| p.rsplit_once("::")) {
                reexports.insert((module.clone(), name.to_owned()), format!("{target}::{name}"));
            }
        }
    }
    let krate = Crate { modules, reexports };
    let mut graph = BTreeMap::new();
    for (module, text) in &sources {
        let code = code(text);
        let reexported: BTreeSet<String> = uses(&code, true).into_iter().collect();
        let mut deps = BTreeSet::new();
        for path in uses(&code, false).into_iter().filter(|p| !reexported.contains(p)).chain(inline_paths(&code)) {
            if let Some(target) = krate.resolve(&path)
                && &target != module
            {
                deps.insert(target);
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

#[test]
fn layers_use_only_what_lies_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    for (module, deps) in graph() {
        if module.is_empty() {
            continue; // lib.rs: declarations and re-exports only
        }
        let from = layer(&module);
        let Some(may) = allowed.get(from) else {
            violations.push(format!("{module}: the layer {from} is not in the table"));
            continue;
        };
        for d in deps {
            let to = layer(&d);
            if to != from && !may.contains(&to) {
                violations.push(format!("{module} uses {d}"));
            }
        }
    }
    assert!(violations.is_empty(), "imports across layers:\n{}", violations.join("\n"));
}

#[test]
fn handler_modules_never_use_each_other() {
    let handlers =
        ["account", "callback", "coverage", "create_check", "otp_start", "otp_verify", "reset_password", "sim_check"];
    for (module, deps) in graph() {
        let Some(name) = module.strip_prefix("http::") else { continue };
        if !handlers.contains(&name) {
            continue;
        }
        for d in deps {
            let other = d.strip_prefix("http::").unwrap_or("");
            assert!(!handlers.contains(&other), "{module} uses the handler module {d}: share it through http::support");
        }
    }
}

#[test]
fn no_two_modules_depend_on_each_other() {
    let g = graph();
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for d in g.get(m).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == d).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0
            && let Some(cycle) = visit(m, &g, &mut state, &mut Vec::new())
        {
            panic!("a cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_domain_does_no_io() {
    for (module, text) in sources() {
        if layer(&module) != "domain" {
            continue;
        }
        let code = code(&text);
        for word in IO_IN_DOMAIN {
            assert!(!code.contains(word), "{module} mentions {word}: the domain does no I/O");
        }
    }
}

/// The checker itself: it sees what it must see.
#[test]
fn the_checker_reads_use_trees_and_reexports() {
    assert_eq!(
        expand("crate::domain::{Email, sim_policy::{self, Account}, Timestamp as T}"),
        [
            "crate::domain::Email",
            "crate::domain::sim_policy",
            "crate::domain::sim_policy::Account",
            "crate::domain::Timestamp"
        ]
    );
    let g = graph();
    assert!(g["http::coverage"].contains("http::support"), "{:?}", g["http::coverage"]);
    assert!(g["domain::sim_policy"].contains("domain::check"), "through the re-export: {:?}", g["domain::sim_policy"]);
    assert!(g["assembly"].contains("adapters::argon2"));
    assert!(g["adapters::dynamo"].contains("ports::store"), "{:?}", g["adapters::dynamo"]);
}

/// The table above is the one docs/architecture.md ("Layers") shows: a layer's row names what it may
/// use (`—` for nothing), and the layers that stand apart are named in
/// the paragraph below it.
#[test]
fn the_documented_layers_are_the_enforced_ones() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md"))
        .expect("docs/architecture.md");
    let table = doc.split("| layer | what it is | may use |").nth(1).expect("the layer table");
    let table = table.split("\n\n").next().unwrap_or(table);
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let (Some(name), Some(uses)) = (cells.first(), cells.last()) else { continue };
        let name = name.trim_matches('`').to_owned();
        let uses: BTreeSet<String> = match *uses {
            "—" => BTreeSet::new(),
            list => list.split(", ").map(|u| u.trim_matches('`').to_owned()).collect(),
        };
        documented.insert(name, uses);
    }
    let end = doc.find("stand apart").expect("the layers that stand apart");
    let apart = &doc[doc[..end].rfind("\n\n").unwrap_or(0)..end];
    for layer in ["function", "site", "telemetry"] {
        assert!(apart.contains(&format!("`{layer}`")), "docs name {layer} as standing apart");
        documented.insert(layer.to_owned(), BTreeSet::new());
    }
    let enforced: BTreeMap<String, BTreeSet<String>> =
        ALLOWED.iter().map(|(l, may)| ((*l).to_owned(), may.iter().map(|m| (*m).to_owned()).collect())).collect();
    assert_eq!(documented, enforced, "docs/architecture.md's layer table and ALLOWED differ");
}
