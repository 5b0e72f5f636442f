//! The repository explains itself: every reference to a document in code, tests, templates, scripts
//! and documents points at a document in the repository; every requirement id cited from
//! docs/security.md exists there; every section cited by name exists; and the test names and paths
//! the documents cite exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

/// The text files the repository tracks (vendored specs and lock files aside).
fn tracked_text_files() -> Vec<PathBuf> {
    let out = Command::new("git").args(["ls-files", "-z"]).current_dir(repo()).output().expect("git ls-files");
    assert!(out.status.success(), "git ls-files");
    let text = ["rs", "md", "toml", "yaml", "yml", "ts", "mjs", "js", "json", "html", "css", "sh", "txt"];
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            !p.starts_with("provider-specs/") && !p.ends_with("package-lock.json") && !p.ends_with("Cargo.lock")
        })
        .map(|p| repo().join(p))
        .filter(|p| {
            p.extension().is_some_and(|e| text.contains(&e.to_string_lossy().as_ref()))
                || p.parent().is_some_and(|d| d.file_name().is_some_and(|n| n == "scripts" || n == ".ci"))
        })
        .filter(|p| p.is_file())
        .collect()
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// A document as referenced from `from`: relative to its folder, to its crate or top-level folder
/// (tests name files relative to `CARGO_MANIFEST_DIR`), or to the repository root.
fn resolve(from: &Path, reference: &str) -> Option<PathBuf> {
    let reference = reference.split('#').next().unwrap_or(reference);
    let top = from.strip_prefix(repo()).ok().and_then(|r| r.iter().next()).map(|t| repo().join(t));
    [from.parent().map(|d| d.join(reference)), top.map(|t| t.join(reference)), Some(repo().join(reference))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// Every `something.md` in `text`, except inside URLs.
fn md_references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(".md") {
        let after = text[i + 3..].chars().next();
        if after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let start = text[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
            .map_or(0, |(j, c)| j + c.len_utf8());
        let name = &text[start..i + 3];
        let token_start = text[..start].rfind(char::is_whitespace).map_or(0, |j| j + 1);
        if name.len() <= 3 || text[token_start..i].contains("://") || name.starts_with('.') && !name.starts_with("../")
        {
            continue;
        }
        out.push(name.to_owned());
    }
    out
}

/// The ids docs/security.md defines: `### A5. …`, `### S01. …`.
fn security_ids() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/security.md")).expect("docs/security.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter_map(|h| h.split_once(". ").map(|(id, _)| id.to_owned()))
        .filter(|id| {
            id.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && id.chars().any(|c| c.is_ascii_digit())
        })
        .collect()
}

/// Ids cited right after `security.md`: `docs/security.md A5`, `… C1, E1–E3`, `… S14; R5`.
fn cited_ids(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("security.md") {
        let tail: String = text[i + "security.md".len()..].chars().take(40).collect();
        let tail = tail.split(['.', ')', '\n', ':', '"', '`', '(']).next().unwrap_or("");
        for word in tail.split([' ', ',', ';', '/']).filter(|w| !w.is_empty()) {
            let (first, last) = word.split_once('–').unwrap_or((word, word));
            let id = |w: &str| {
                let letters: String = w.chars().take_while(|c| c.is_ascii_uppercase()).collect();
                let digits: String = w[letters.len()..].chars().collect();
                (!letters.is_empty()
                    && letters.len() <= 2
                    && !digits.is_empty()
                    && digits.chars().all(|c| c.is_ascii_digit()))
                .then_some((letters, digits))
            };
            let (Some((l1, d1)), Some((l2, d2))) = (id(first), id(last)) else { break };
            let (Ok(a), Ok(b)) = (d1.parse::<u32>(), d2.parse::<u32>()) else { break };
            assert_eq!(l1, l2, "a range of ids of one kind: {word}");
            for n in a..=b {
                out.push(if d1.len() == 2 { format!("{l1}{n:02}") } else { format!("{l1}{n}") });
            }
        }
    }
    out
}

/// `docs/architecture.md, "Data"`: the sections cited by name.
fn cited_sections(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(".md, \"") {
        let doc: String = md_references(&text[..i + 3]).pop().unwrap_or_default();
        let rest = &text[i + 6..];
        if let Some(end) = rest.find('"') {
            out.push((doc, rest[..end].to_owned()));
        }
    }
    out
}

#[test]
fn no_reference_leaves_the_repository() {
    let forbidden: Vec<String> =
        ["SECURITY", "DESIGN", "PROVIDERS", "TOOLCHAIN"].iter().map(|n| format!("{n}.md")).collect();
    let outside = format!("../{}/", "shared");
    let mut broken = Vec::new();
    // This file's own examples aside.
    for file in tracked_text_files().into_iter().filter(|f| !f.ends_with("documents.rs")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.contains(&outside) {
                broken.push(format!("{}:{}: a path outside the repository", rel(&file), n + 1));
            }
            for f in &forbidden {
                if line.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '_')).any(|w| w == f) {
                    broken.push(format!("{}:{}: {f} is not in the repository", rel(&file), n + 1));
                }
            }
        }
        for reference in md_references(&text) {
            if resolve(&file, &reference).is_none() {
                broken.push(format!("{}: {reference} does not exist", rel(&file)));
            }
        }
        for path in repo_paths(&text) {
            // A path in a package's own files may be the package's (`scripts/vendor.mjs` in
            // static-site/package.json); a file the build writes is ignored by git, not missing.
            if resolve(&file, &path).is_none() && !repo().join(&path).is_dir() && !ignored_by_git(&path) {
                broken.push(format!("{}: {path} does not exist", rel(&file)));
            }
        }
    }
    assert!(broken.is_empty(), "references that lead nowhere:\n{}", broken.join("\n"));
}

fn ignored_by_git(path: &str) -> bool {
    Command::new("git").args(["check-ignore", "-q", path]).current_dir(repo()).status().is_ok_and(|s| s.success())
}

/// Every path from the repository's root that `text` names (`shared/src/routes.rs`, `infra/cdk/`),
/// in comments and templates alike: a file renamed or moved leaves them pointing nowhere.
fn repo_paths(text: &str) -> Vec<String> {
    const TOP: [&str; 15] = [
        "admin/",
        "api/",
        "bench/",
        "docs/",
        "e2e/",
        "events/",
        "examples/",
        "functions/",
        "infra/",
        "local/",
        "provider-specs/",
        "sandbox/",
        "scripts/",
        "shared/",
        "static-site/",
    ];
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    let mut out = Vec::new();
    for top in TOP {
        for (i, _) in text.match_indices(top) {
            // A root-relative path starts a word: not `/api/…` (a URL path), nor one after `../`.
            if text[..i].chars().next_back().is_some_and(|c| is_path_char(c) || c == '*' || c == '$' || c == '}') {
                continue;
            }
            let end = text[i..].find(|c: char| !is_path_char(c)).map_or(text.len(), |j| i + j);
            let path = text[i..end].trim_end_matches(['.', '/']);
            // Only named files (with an extension), and never a glob or a template's placeholder.
            let named_file = path.rsplit('/').next().is_some_and(|f| f.contains('.') && !f.starts_with('.'));
            let follows = text[end..].chars().next();
            if named_file && !follows.is_some_and(|c| matches!(c, '*' | '{' | '<' | '$')) {
                out.push(path.to_owned());
            }
        }
    }
    out
}

#[test]
fn cited_security_ids_and_sections_exist() {
    let ids = security_ids();
    for must in ["A1", "B3", "C1", "D2", "E2", "F7", "G1", "H2", "S01", "S20", "R1", "R6"] {
        assert!(ids.contains(must), "docs/security.md defines {must}");
    }
    let mut broken = Vec::new();
    for file in tracked_text_files().into_iter().filter(|f| !f.ends_with("documents.rs")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for id in cited_ids(&text) {
            if !ids.contains(&id) {
                broken.push(format!("{}: docs/security.md has no {id}", rel(&file)));
            }
        }
        for (doc, section) in cited_sections(&text) {
            let Some(path) = resolve(&file, &doc) else {
                broken.push(format!("{}: {doc} does not exist", rel(&file)));
                continue;
            };
            let headings = std::fs::read_to_string(&path).unwrap_or_default();
            if !headings.lines().any(|l| l.starts_with('#') && l.contains(&section)) {
                broken.push(format!("{}: {doc} has no section \"{section}\"", rel(&file)));
            }
        }
    }
    assert!(broken.is_empty(), "citations that lead nowhere:\n{}", broken.join("\n"));
}

/// The documents cite real files, and real tests in them: `` `path/to/file.rs` `test_name` ``.
#[test]
fn documents_cite_files_and_tests_that_exist() {
    let roots = [
        "shared/",
        "sandbox/",
        "local/",
        "admin/",
        "functions/",
        "infra/",
        "static-site/",
        "e2e/",
        "events/",
        "api/",
        "docs/",
        "scripts/",
        "provider-specs/",
        "bench/",
    ];
    let mut broken = Vec::new();
    let docs = std::fs::read_dir(repo().join("docs")).expect("docs/").flatten().map(|e| e.path());
    for doc in docs.chain([repo().join("README.md")]) {
        let text = std::fs::read_to_string(&doc).unwrap_or_default();
        let spans: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
        for (i, span) in spans.iter().enumerate() {
            let path = span.split([':', ' ']).next().unwrap_or("");
            if !roots.iter().any(|r| path.starts_with(r)) || path.contains(['<', '*', '{', '…']) {
                continue;
            }
            let full = repo().join(path.trim_end_matches('/'));
            if !full.exists() {
                broken.push(format!("{}: `{path}` does not exist", rel(&doc)));
                continue;
            }
            // A test cited right after its file.
            let is_code = path.ends_with(".rs");
            if let (true, Some(next)) = (is_code, spans.get(i + 1))
                && next.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && next.contains('_')
            {
                // A test function, a suite entry, or at least a name the file uses.
                let source = std::fs::read_to_string(&full).unwrap_or_default();
                if !source.contains(next) {
                    broken.push(format!("{}: `{path}` has no test `{next}`", rel(&doc)));
                }
            }
        }
    }
    assert!(broken.is_empty(), "the documents cite what is not there:\n{}", broken.join("\n"));
}

/// The checkers themselves.
#[test]
fn the_checkers_find_what_they_look_for() {
    assert_eq!(
        repo_paths(
            "# Kept by shared/tests/infra.rs. GET /api/me, ../bench/x.rs, static-site/public/js/*.js, infra/cdk/"
        ),
        ["shared/tests/infra.rs"]
    );
    assert_eq!(
        md_references("see docs/security.md and [x](providers.md#tru-id), https://a.example/README.md"),
        ["docs/security.md", "providers.md"]
    );
    assert_eq!(
        cited_ids("(docs/security.md C1, E1–E3). And security.md S14; R5"),
        ["C1", "E1", "E2", "E3", "S14", "R5"]
    );
    assert_eq!(
        cited_sections("the store (docs/architecture.md, \"Data\"): …"),
        [("docs/architecture.md".to_owned(), "Data".to_owned())]
    );
}

/// The first cells of the table rows (`| `name` | …`) in the section of `doc` under `heading`.
fn table_names(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc.split(heading).nth(1).unwrap_or_default();
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// Every `event = "…"` a function logs.
pub fn logged_events() -> BTreeSet<String> {
    let mut events = BTreeSet::new();
    let mut dirs = vec![repo().join("shared/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("shared/src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for piece in text.split("event = \"").skip(1) {
                    events.insert(piece.split('"').next().unwrap_or_default().to_owned());
                }
            }
        }
    }
    events
}

#[test]
fn operations_lists_every_log_event_and_metric() {
    let doc = std::fs::read_to_string(repo().join("docs/operations.md")).expect("docs/operations.md");
    let code = logged_events();
    assert!(code.len() > 30, "the scan finds the events: {code:?}");
    assert_eq!(table_names(&doc, "\n## Logs"), code, "docs/operations.md's log events (left) vs the code's (right)");
    let metrics: BTreeSet<String> = simguard::ports::Metric::NAMES.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(table_names(&doc, "\n## Metrics"), metrics, "docs/operations.md's metrics (left) vs the code's");
    // A runbook entry for every alarm the stacks create (SAM and CDK create the same ones).
    let sam = std::fs::read_to_string(repo().join("infra/sam/template.yaml")).expect("template");
    let lines: Vec<&str> = sam.lines().collect();
    let alarms: Vec<&str> = lines
        .windows(2)
        .filter(|w| w[1].trim() == "Type: AWS::CloudWatch::Alarm")
        .map(|w| w[0].trim().trim_end_matches(':'))
        .collect();
    assert!(!alarms.is_empty(), "the scan finds the alarms");
    for alarm in alarms {
        // One entry serves the alarm every function has (`CoverageFunctionAlarm`, …).
        let entry = if alarm.ends_with("FunctionAlarm") { "FunctionAlarm" } else { alarm };
        assert!(doc.contains(&format!("\n### {entry}\n")), "docs/operations.md has no runbook entry for {alarm}");
    }
}
