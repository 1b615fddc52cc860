//! The settings are declared once (src/config.rs): `serve --help` lists every one with its
//! default, and README's table and `.env.example` say the same.

use std::collections::BTreeMap;

use concert_queue::Config;

/// Variables the engine reads that are not its own settings (tracing's filter).
const OUTSIDE_SETTINGS: &[&str] = &["RUST_LOG"];

fn declared() -> BTreeMap<String, Option<String>> {
    Config::documented().into_iter().collect()
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn serve_help_lists_every_setting_with_its_default() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_concert-queue"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (name, default) in declared() {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} missing from --help"
        );
        if let Some(default) = default.filter(|d| !d.is_empty() && name != "TOKEN_SECRET") {
            assert!(
                help.contains(&format!("[default: {default}]")),
                "{name}'s default {default} missing from --help"
            );
        }
    }
    assert!(
        !help.contains(concert_queue::config::DEV_TOKEN_SECRET),
        "the development secret is not shown"
    );
}

#[test]
fn the_readme_table_matches_the_declared_settings() {
    let readme = repo_file("README.md");
    let table = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Configuration section");
    let mut rows: BTreeMap<String, String> = BTreeMap::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        rows.insert(cells[1].trim_matches('`').to_string(), cells[2].to_string());
    }
    let declared = declared();
    for (name, default) in &declared {
        let cell = rows
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in README's table"));
        match default {
            Some(default) if !default.is_empty() && name != "TOKEN_SECRET" => {
                assert_eq!(cell, &format!("`{default}`"), "{name}'s default in README")
            }
            _ => assert!(
                !cell.starts_with('`'),
                "{name} has no fixed default: {cell}"
            ),
        }
    }
    for name in rows.keys() {
        assert!(
            declared.contains_key(name) || OUTSIDE_SETTINGS.contains(&name.as_str()),
            "README's table has {name}, which is no setting"
        );
    }
}

#[test]
fn env_example_shows_every_setting_at_its_default() {
    let example = repo_file(".env.example");
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    for line in example.lines() {
        let line = line.trim_start_matches("# ").trim();
        if let Some((name, value)) = line.split_once('=') {
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                shown.insert(name.to_string(), value.to_string());
            }
        }
    }
    let declared = declared();
    for (name, default) in &declared {
        let value = shown
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in .env.example"));
        if let Some(default) = default {
            assert_eq!(value, default, "{name} in .env.example");
        }
    }
    for name in shown.keys() {
        assert!(
            declared.contains_key(name) || OUTSIDE_SETTINGS.contains(&name.as_str()),
            ".env.example has {name}, which is no setting"
        );
    }
}

#[test]
fn a_blank_setting_counts_as_unset_and_a_bad_one_is_named() {
    let config =
        Config::from_lookup(|name| (name == "QUEUE_MAX_ACTIVE").then(|| "  ".into())).unwrap();
    assert_eq!(config.queue_max_active, 500);
    let err =
        Config::from_lookup(|name| (name == "ACTIVE_TTL_SECS").then(|| "soon".into())).unwrap_err();
    assert!(err.to_string().contains("ACTIVE_TTL_SECS"), "{err}");
}
