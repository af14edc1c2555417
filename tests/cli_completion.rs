//! Shell completion as a user gets it: `kubectl weir completion SHELL` (piped into `head` too),
//! and `kubectl_complete-weir`, which kubectl runs to complete `kubectl weir ...`.

use std::process::{Command, Output};

fn plugin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-weir"))
        .args(args)
        .output()
        .unwrap()
}

fn helper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl_complete-weir"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn scripts_say_how_kubectl_weir_is_completed() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = plugin(&["completion", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        for want in [
            "kubectl weir <TAB>",
            "kubectl_complete-weir",
            "kubectl-weir",
        ] {
            assert!(script.contains(want), "{shell}: no {want:?} in\n{script}");
        }
    }
    let bash = String::from_utf8(plugin(&["completion", "bash"]).stdout).unwrap();
    // The static script registers for the executable's name, the one without a space.
    assert!(
        bash.lines()
            .any(|l| l.trim_start().starts_with("complete -F") && l.ends_with(" kubectl-weir")),
        "{bash}"
    );
}

#[test]
fn a_closed_stdout_ends_the_script_quietly() {
    for shell in ["bash", "fish"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_kubectl-weir"))
            .args(["completion", shell])
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert_eq!(String::from_utf8(output.stderr).unwrap(), "", "{shell}");
    }
}

#[test]
fn the_helper_answers_in_cobras_format() {
    // kubectl passes the words after `kubectl weir`, the last one being completed; cobra-style
    // wrappers put `__complete` first.
    for args in [&["get", ""][..], &["__complete", "get", ""][..]] {
        let output = helper(args);
        assert_eq!(output.status.code(), Some(0));
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(
            text.starts_with("rollout\tThe rollout's header"),
            "{args:?}: {text}"
        );
        assert!(text.contains("\nanalysisrun\t"), "{args:?}: {text}");
        assert!(text.ends_with("\n:4\n"), "{args:?}: {text}");
    }
    let text = String::from_utf8(helper(&["completion", "z"]).stdout).unwrap();
    assert_eq!(text, "zsh\n:4\n");
    // File names for -f: the shell's own completion, directive 0.
    let text = String::from_utf8(helper(&["lint", "-f", ""]).stdout).unwrap();
    assert_eq!(text, ":0\n");
}
