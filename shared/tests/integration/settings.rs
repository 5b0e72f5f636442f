//! Each setting is declared once (`simguard::config::SETTINGS`); README.md's configuration table
//! says the same. (The SAM template and the CDK app are held to the same declarations in
//! `infra.rs`.)

use std::path::Path;

use simguard::Function;
use simguard::config::{Kind, Required, SETTINGS, Setting};

/// The first four cells of the setting's README row, as the declaration says they must read.
fn expected_row(s: &Setting) -> [String; 4] {
    let default = match (s.default, s.required) {
        (Some(d), _) => format!("`{d}`"),
        (None, Required::Always) => "— (required)".into(),
        (None, Required::WhenDeployed) => "— (required when deployed)".into(),
        (None, Required::No) => "—".into(),
    };
    let values = match s.kind {
        Kind::Url => "URL".into(),
        Kind::Number { min, max } => format!("{min}–{max}"),
        Kind::Choice(options) => options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
        Kind::Text => "text".into(),
    };
    let readers = if s.readers == Function::ALL {
        "all".into()
    } else if s.readers == Function::HTTP {
        "the API's".into()
    } else if s.readers.len() == Function::HTTP.len() + 1
        && Function::HTTP.iter().chain([&Function::CognitoAuth]).all(|f| s.readers.contains(f))
    {
        "the API's, cognito-auth".into()
    } else {
        s.readers.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    };
    [format!("`{}`", s.name), default, values, readers]
}

#[test]
fn the_readme_table_is_the_declaration() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    // The table of the "Configuration" section (other sections name variables in tables of their own).
    let section = readme.split("\n## Configuration").nth(1).expect("a Configuration section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let rows: Vec<[String; 4]> = section
        .lines()
        .filter(|l| l.starts_with("| `SIMGUARD_"))
        .map(|l| {
            let cells: Vec<String> = l.trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect();
            assert!(cells.len() >= 5, "a configuration row has five cells: {l}");
            [cells[0].clone(), cells[1].clone(), cells[2].clone(), cells[3].clone()]
        })
        .collect();
    let declared: Vec<[String; 4]> = SETTINGS.iter().map(expected_row).collect();
    assert_eq!(rows, declared, "README.md's configuration table (left) vs SETTINGS in shared/src/config.rs (right)");
}
