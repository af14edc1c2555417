//! The README cannot drift from the code: every repository path it names exists, every
//! kustomize directory it applies renders, every `kubectl weir` command line it shows parses,
//! every binary it runs exists, and every controller flag in its table is one the controller
//! accepts. (`tests/cluster/quickstart.rs` runs the quick start's example itself.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Top-level entries of the repository; a backticked word starting with one is a path.
const TOP: &[&str] = &[
    "src/",
    "tests/",
    "examples/",
    "deploy/",
    "deploy",
    "crds/",
    "crds",
    ".ci/",
    "benches/",
];

fn readme() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md")
}

/// The text of every fenced code block with its language, and the section it is in.
fn code_blocks(text: &str) -> Vec<(String, String, String)> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if current.is_none() && line.starts_with("## ") {
            section = line.trim_start_matches('#').trim().to_string();
        }
        if let Some(lang) = trimmed.strip_prefix("```") {
            match current.take() {
                Some((lang, body)) => blocks.push((section.clone(), lang, body)),
                None => current = Some((lang.trim().to_string(), String::new())),
            }
            continue;
        }
        if let Some((_, body)) = current.as_mut() {
            body.push_str(trimmed);
            body.push('\n');
        }
    }
    blocks
}

/// Shell command lines of a block: continuation lines joined, comments dropped, `&&` split.
fn commands(body: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut pending = String::new();
    for line in body.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim_end();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        joined.push(std::mem::take(&mut pending));
    }
    joined
        .iter()
        .flat_map(|l| l.split("&&").map(|c| c.trim().to_string()))
        .filter(|c| !c.is_empty() && !c.starts_with('#'))
        .collect()
}

#[test]
fn every_path_it_names_exists() {
    let text = readme();
    let mut missing = BTreeSet::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let words: Vec<&str> = part.split_whitespace().collect();
        for (j, word) in words.iter().enumerate() {
            // `kubectl ... set env deploy/loadgen`, `rollout status deploy/x`: a resource.
            if j > 0 && ["env", "status", "scale"].contains(&words[j - 1]) {
                continue;
            }
            let word = word.trim_end_matches([',', '.', ')', ':', ';']);
            let word = word.split(':').next().unwrap_or_default();
            if !TOP.iter().any(|t| word.starts_with(t)) || word.contains(['*', '<', '{']) {
                continue;
            }
            if !Path::new(ROOT).join(word).exists() {
                missing.insert(word.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README names paths that do not exist: {missing:?}"
    );
}

#[test]
fn every_kustomization_it_applies_renders() {
    let mut dirs = BTreeSet::new();
    for (section, lang, body) in code_blocks(&readme()) {
        if lang != "sh" {
            continue;
        }
        for command in commands(&body) {
            let words: Vec<&str> = command.split_whitespace().collect();
            let Some(k) = words.iter().position(|w| *w == "-k") else {
                continue;
            };
            if !words.starts_with(&["kubectl"]) {
                continue;
            }
            let dir = words.get(k + 1).copied().unwrap_or_default();
            // The quick start applies its own copy of examples/quickstart.
            let dir = if dir == "." && section.starts_with("Quick start") {
                "examples/quickstart"
            } else {
                dir
            };
            if dir.starts_with("my-weir") {
                continue;
            }
            dirs.insert(dir.trim_end_matches('/').to_string());
        }
    }
    assert!(dirs.contains("examples/quickstart"), "{dirs:?}");
    assert!(dirs.contains("crds"), "{dirs:?}");
    for dir in dirs {
        let out = Command::new("kubectl")
            .args(["kustomize", &dir])
            .current_dir(ROOT)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "README applies -k {dir}, which does not render: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_plugin_command_it_shows_parses() {
    let mut checked = 0;
    for (_, lang, body) in code_blocks(&readme()) {
        if lang != "sh" {
            continue;
        }
        for command in commands(&body) {
            let Some(rest) = command.strip_prefix("kubectl weir ") else {
                continue;
            };
            let args: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with('[') && !w.ends_with(']'))
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_kubectl-weir"))
                .args(&args)
                .arg("--help")
                .output()
                .expect("plugin runs");
            assert!(
                out.status.success(),
                "README shows `{command}`, which the plugin rejects: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} plugin commands found");
}

#[test]
fn every_binary_it_runs_exists() {
    let cargo = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).expect("Cargo.toml");
    let binaries: BTreeSet<String> = cargo
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_string())
        .collect();
    let text = readme();
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[0] == "--bin" {
            let name = pair[1].trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
            assert!(
                binaries.contains(name),
                "README runs --bin {name}; binaries: {binaries:?}"
            );
        }
    }
    for name in ["weir-controller", "kubectl-weir"] {
        assert!(
            text.contains(&format!("target/release/{name}")),
            "README says where {name} is built"
        );
    }
}

#[test]
fn every_controller_flag_in_its_table_exists() {
    let help = Command::new(env!("CARGO_BIN_EXE_weir-controller"))
        .arg("--help")
        .output()
        .expect("controller runs");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let text = readme();
    let table = text
        .split("Flags (`weir-controller --help` lists them all):")
        .nth(1)
        .expect("the flags table")
        .split("\n\n")
        .nth(1)
        .expect("table rows");
    let mut flags = 0;
    for row in table.lines().filter(|l| l.starts_with("| `--")) {
        let first = row.split('|').nth(1).unwrap_or_default();
        for flag in first.split('`').filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap_or_default();
            assert!(
                help.contains(&format!("{flag} "))
                    || help.contains(&format!("{flag}="))
                    || help.contains(&format!("{flag}\n")),
                "README's flag {flag} is not in `weir-controller --help`"
            );
            flags += 1;
        }
    }
    assert!(flags >= 10, "only {flags} flags found in the table");
}
