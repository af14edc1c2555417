//! `weir demo` end to end, as a user runs it: the timeline says what is true (no step on the
//! first revision, an abort says where traffic is, every measurement behind "failed (n)" is
//! shown, no status message contradicting the counts), the abort and the revert reach Slack
//! (a local receiver), every line fits 100 columns, and the Git repository is removed on exit
//! unless `--keep` keeps it with the revert commit in it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn demo(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("demo")
        .args(args)
        .output()
        .expect("weir demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "weir demo failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The lines of section `n` (from its "n. " heading to the next heading).
fn section(out: &str, n: u32) -> Vec<&str> {
    out.lines()
        .skip_while(|l| !l.starts_with(&format!("{n}. ")))
        .skip(1)
        .take_while(|l| !l.starts_with(&format!("{}. ", n + 1)))
        .collect()
}

/// Checks that hold for every run, with or without `--keep`.
fn check_timeline(out: &str) {
    for line in out.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line}"
        );
    }
    let first = section(out, 1);
    let timeline: Vec<_> = first.iter().filter(|l| l.starts_with('[')).collect();
    assert!(!timeline.is_empty(), "{out}");
    for line in &timeline {
        assert!(!line.contains("step"), "first deploy shows a step: {line}");
        assert!(
            line.contains("revision 1 deploy")
                && line.contains("(no canary for the first revision)"),
            "{line}"
        );
        assert!(!line[9..].starts_with(' '), "blank phase: {line}");
    }
    assert!(
        timeline
            .last()
            .is_some_and(|l| l.contains("] Healthy     revision 1 deployed (no canary")),
        "{timeline:#?}"
    );

    assert!(!out.contains("more replicas need to be updated"), "{out}");
    assert!(!out.contains("(CanaryPauseStep)"), "{out}");

    let third = section(out, 3);
    let degraded: Vec<_> = third.iter().filter(|l| l.contains("] Degraded")).collect();
    assert!(!degraded.is_empty(), "{out}");
    for line in &degraded {
        assert!(line.contains("aborted, all traffic on stable"), "{line}");
        assert!(
            line.contains("stable v2 100%") && line.contains("canary v3   0%"),
            "{line}"
        );
        assert!(!line.contains("step"), "{line}");
    }
    let message = third.join(" ");
    let failed: usize = message
        .split("failed (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failed (n) in {message}"));
    let analysis = third
        .iter()
        .rev()
        .find(|l| l.contains("analysis Failed, error-rate:"))
        .unwrap_or_else(|| panic!("no failed analysis line in {third:#?}"));
    assert_eq!(analysis.matches("] Failed").count(), failed, "{analysis}");
    assert!(out.contains("as `git log -1 -p main` shows it"), "{out}");
    assert!(
        out.contains("-  newTag: v3  # set by CI on release"),
        "{out}"
    );
    assert!(
        out.contains("+  newTag: v2  # set by CI on release"),
        "{out}"
    );
    // The failing release's notifications, as the local Slack receiver got them.
    assert!(
        third.contains(&"   #deploys: Rollout web has been aborted."),
        "{out}"
    );
    assert!(
        third.iter().any(|l| l.starts_with(
            "   #deploys: Rollout web: example.com/web:v3 rolled back to example.com/web:v2 in Git,"
        )),
        "{out}"
    );
}

fn repo_url_path(out: &str) -> PathBuf {
    let url = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("file://"))
        .unwrap_or_else(|| panic!("no repository URL in {out}"));
    PathBuf::from(url)
}

#[test]
fn without_keep_the_repository_is_removed_and_the_output_says_so() {
    let out = demo(&[]);
    check_timeline(&out);
    assert!(
        out.contains("The Git repository is removed on exit; `weir demo --keep` keeps it."),
        "{out}"
    );
    let path = repo_url_path(&out);
    assert!(!path.exists(), "{} is still there", path.display());
}

#[test]
fn keep_leaves_the_repository_with_the_revert_commit() {
    let out = demo(&["--keep"]);
    check_timeline(&out);
    let path = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("git -C "))
        .and_then(|rest| rest.strip_suffix(" log -p"))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no `git -C <path> log -p` in {out}"));
    assert_eq!(path, repo_url_path(&out));
    assert!(
        out.contains(&format!("The Git repository is kept at {}", path.display())),
        "{out}"
    );
    let result = std::panic::catch_unwind(|| check_kept(&path, &out));
    let _ = std::fs::remove_dir_all(&path);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn check_kept(path: &Path, out: &str) {
    let repo = git2::Repository::open(path).expect("the kept repository opens");
    let head = repo
        .find_reference("refs/heads/main")
        .and_then(|r| r.peel_to_commit())
        .expect("main has commits");
    assert_eq!(head.author().name().ok(), Some("Weir"));
    assert!(
        head.message()
            .unwrap_or_default()
            .starts_with("Revert web to example.com/web:v2"),
        "{:?}",
        head.message()
    );
    let parent = head.parent(0).expect("the revert has a parent");
    let diff = repo
        .diff_tree_to_tree(
            Some(&parent.tree().unwrap()),
            Some(&head.tree().unwrap()),
            None,
        )
        .unwrap();
    let mut changed = Vec::new();
    diff.print(git2::DiffFormat::Patch, |delta, _, line| {
        if matches!(line.origin(), '+' | '-') {
            changed.push(format!(
                "{} {}{}",
                delta.new_file().path().unwrap().display(),
                line.origin(),
                String::from_utf8_lossy(line.content()).trim_end()
            ));
        }
        true
    })
    .unwrap();
    assert_eq!(
        changed,
        [
            "deploy/kustomization.yaml -  newTag: v3  # set by CI on release",
            "deploy/kustomization.yaml +  newTag: v2  # set by CI on release",
        ]
    );

    // What the demo printed is what git itself shows, when git is installed.
    let Ok(git) = Command::new("git")
        .args(["-C"])
        .arg(path)
        .args(["log", "-1", "-p", "main"])
        .output()
    else {
        return;
    };
    assert!(
        git.status.success(),
        "{}",
        String::from_utf8_lossy(&git.stderr)
    );
    let shown: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("   commit "))
        .take_while(|l| !l.starts_with("4. ") && !l.starts_with("   The notifications Slack"))
        .map(|l| l.strip_prefix("   ").unwrap_or(l))
        .collect();
    let shown = shown.join("\n");
    let real: Vec<&str> = std::str::from_utf8(&git.stdout)
        .unwrap()
        .lines()
        .map(str::trim_end)
        .collect();
    assert_eq!(shown.trim_end(), real.join("\n").trim_end());
}
