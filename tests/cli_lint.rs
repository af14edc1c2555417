//! `kubectl weir lint` run as a user runs it: the built binary, with kubectl's `-f` semantics
//! (standard input, directories, `-R`, several `-f`), its report and summary, and its exit
//! codes (0 clean, 1 problems, 2 when it cannot run as asked).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BAD_ROLLOUT: &str = r#"# The web canary: weights above 100 are a typo for 10.
# Second comment line.

apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
  strategy:
    canary:
      steps:
      - setWeight: 110
"#;

const GOOD_ROLLOUT: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: nginx}]}
  strategy: {canary: {steps: [{setWeight: 10}]}}
"#;

const BAD_TEMPLATE: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  metrics: []
"#;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the plugin in `dir` with `stdin` on its standard input.
fn lint(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-weir"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A fresh directory holding `files` (path relative to it, text).
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-cli-lint-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_problem_names_file_line_object_and_field() {
    let dir = tree("line", &[("rollout.yaml", BAD_ROLLOUT)]);
    let run = lint(&dir, &["lint", "-f", "rollout.yaml"], "");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "rollout.yaml:16: Rollout web: spec.strategy.canary.steps[0].setWeight: Invalid value: 110: SetWeight needs to be between 0 and 100\n"
    );
    assert_eq!(
        run.stderr,
        "Error: 1 object in 1 file, 1 problem: rollout.yaml (1)\n"
    );
}

#[test]
fn the_object_line_counts_from_the_start_of_the_file() {
    // The second document has no selector and no template: no field line, so its own first
    // line, past the marker and the comment.
    let text = format!(
        "{GOOD_ROLLOUT}---\n# second\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: x}}\nspec: {{strategy: {{canary: {{}}}}}}\n"
    );
    let dir = tree("object-line", &[("two.yaml", &text)]);
    let run = lint(&dir, &["lint", "-f", "two.yaml"], "");
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stdout,
        "two.yaml:15: Rollout x: spec.selector: Required value: add spec.selector.matchLabels matching spec.template.metadata.labels\n"
    );
}

#[test]
fn dash_reads_standard_input() {
    let dir = tree("stdin", &[]);
    let run = lint(&dir, &["lint", "-f", "-"], BAD_TEMPLATE);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "STDIN:5: AnalysisTemplate rate: spec.metrics: Required value: add at least one metric\n"
    );
    assert_eq!(
        run.stderr,
        "Error: 1 object in 1 file, 1 problem: STDIN (1)\n"
    );
    let run = lint(&dir, &["lint", "-f", "-"], GOOD_ROLLOUT);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "1 object in 1 file, 0 problems\n")
    );
}

#[test]
fn a_directory_gives_its_manifests_and_dash_r_its_subdirectories() {
    let dir = tree(
        "dir",
        &[
            ("manifests/a.yaml", GOOD_ROLLOUT),
            ("manifests/b.yml", "kind: ConfigMap\n---\nkind: Service\n"),
            ("manifests/c.json", "{\"kind\": \"ConfigMap\"}\n"),
            ("manifests/notes.txt", "not: [a manifest\n"),
            ("manifests/nested/d.yaml", BAD_TEMPLATE),
        ],
    );
    let run = lint(&dir, &["lint", "-f", "manifests"], "");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "4 objects in 3 files, 0 problems\n");
    assert_eq!(run.stderr, "");
    for recursive in ["-R", "--recursive"] {
        let run = lint(&dir, &["lint", recursive, "-f", "manifests"], "");
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert_eq!(
            run.stdout,
            "manifests/nested/d.yaml:5: AnalysisTemplate rate: spec.metrics: Required value: add at least one metric\n"
        );
        assert_eq!(
            run.stderr,
            "Error: 5 objects in 4 files, 1 problem: manifests/nested/d.yaml (1)\n"
        );
    }
}

#[test]
fn the_summary_names_every_failing_file() {
    let dir = tree(
        "several",
        &[
            ("bad.yaml", BAD_ROLLOUT),
            ("good.yaml", GOOD_ROLLOUT),
            ("template.yaml", BAD_TEMPLATE),
        ],
    );
    let run = lint(
        &dir,
        &["lint", "-f", "bad.yaml", "-f", "good.yaml,template.yaml"],
        "",
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].starts_with("bad.yaml:16: Rollout web: "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("template.yaml:5: AnalysisTemplate rate: "),
        "{lines:?}"
    );
    assert_eq!(
        run.stderr,
        "Error: 3 objects in 3 files, 2 problems: bad.yaml (1), template.yaml (1)\n"
    );
}

#[test]
fn clean_manifests_get_a_summary() {
    let dir = tree(
        "clean",
        &[("a.yaml", GOOD_ROLLOUT), ("b.yaml", "kind: ConfigMap\n")],
    );
    let run = lint(&dir, &["lint", "-f", "a.yaml", "-f", "b.yaml"], "");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "2 objects in 2 files, 0 problems\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn inputs_that_cannot_be_read_exit_2_with_nothing_printed() {
    let dir = tree(
        "missing",
        &[("bad.yaml", BAD_ROLLOUT), ("empty/README.md", "")],
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["lint", "-f", "bad.yaml", "-f", "missing.yaml"],
            "Error: -f missing.yaml: the path does not exist; give a manifest file, a directory of them, or - for standard input\n",
        ),
        (
            &["lint", "-f", "empty"],
            "Error: -f empty: the directory has no .yaml, .yml or .json files (-R also reads its subdirectories)\n",
        ),
        (
            &["lint", "-f", "-", "-f", "-"],
            "Error: -f -: standard input can be read only once; give -f - a single time\n",
        ),
    ];
    for (args, stderr) in cases {
        let run = lint(&dir, args, "");
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (Some(2), "", *stderr),
            "{args:?}"
        );
    }
}

#[test]
fn usage_lines_say_kubectl_weir() {
    let dir = tree("usage", &[]);
    let run = lint(&dir, &["lint"], "");
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("Usage: kubectl weir lint --filename <FILE>"),
        "{}",
        run.stderr
    );
    let run = lint(&dir, &["--help"], "");
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout
            .contains("Usage: kubectl weir [OPTIONS] <COMMAND>"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("kubectl-weir ["), "{}", run.stdout);
}

#[test]
fn a_closed_stdout_keeps_the_verdict() {
    let dir = tree(
        "closed",
        &[("bad.yaml", BAD_ROLLOUT), ("good.yaml", GOOD_ROLLOUT)],
    );
    for (file, code, stderr) in [
        (
            "bad.yaml",
            Some(1),
            "Error: 1 object in 1 file, 1 problem: bad.yaml (1)\n",
        ),
        ("good.yaml", Some(0), ""),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_kubectl-weir"))
            .current_dir(&dir)
            .args(["lint", "-f", file])
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), code, "{file}");
        assert_eq!(String::from_utf8(output.stderr).unwrap(), stderr, "{file}");
    }
}
