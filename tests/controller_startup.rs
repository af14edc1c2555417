//! The `weir-controller` binary's start-up failures, as an operator meets them: one line on
//! stderr that says what to fix (naming the API server when it cannot be reached), nothing on
//! stdout, no colour escapes, and a non-zero exit.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the controller with `args` in an environment with no kubeconfig and no cluster, with
/// `env` added.
fn run(args: &[&str], env: &[(&str, &str)], home: &Path) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir-controller"));
    command
        .args(args)
        .args(["--metrics-addr=127.0.0.1:0", "--health-addr=127.0.0.1:0"])
        .env_remove("KUBECONFIG")
        .env_remove("WEIR_KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("POD_NAMESPACE")
        .env_remove("WEIR_LOG")
        .env_remove("NO_COLOR")
        .env("HOME", home);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("weir-controller runs");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The one line every start-up failure prints, after checking the rest of the contract.
fn failure(outcome: &Outcome, case: &str) -> String {
    assert_ne!(outcome.code, Some(0), "{case}: must fail");
    assert!(outcome.code.is_some(), "{case}: exits, not killed");
    assert_eq!(outcome.stdout, "", "{case}: nothing on stdout");
    assert!(
        !outcome.stderr.contains('\u{1b}'),
        "{case}: no ANSI escapes: {:?}",
        outcome.stderr
    );
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: one line on stderr: {:?}",
        outcome.stderr
    );
    let line = lines[0];
    assert!(line.starts_with("error: "), "{case}: {line}");
    line.to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-startup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    dir
}

/// A kubeconfig whose server is a loopback port nothing listens on.
fn closed_port_kubeconfig(dir: &Path) -> (PathBuf, String) {
    let server = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://{}", listener.local_addr().unwrap())
    }; // dropped: the port is closed again
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: shop\n\
             clusters: [{{name: c, cluster: {{server: \"{server}\"}}}}]\n\
             users: [{{name: u, user: {{token: not-a-secret}}}}]\n\
             contexts: [{{name: shop, context: {{cluster: c, user: u, namespace: shop}}}}]\n"
        ),
    )
    .unwrap();
    (path, server)
}

#[test]
fn no_kubeconfig_says_how_to_give_one() {
    let dir = scratch("none");
    let line = failure(&run(&[], &[], &dir.join("home")), "no kubeconfig");
    assert_eq!(
        line,
        "error: no kubeconfig: set --kubeconfig, WEIR_KUBECONFIG or KUBECONFIG, or run in a cluster"
    );
    // An empty WEIR_KUBECONFIG is no kubeconfig, not a flag without a value.
    let empty = run(&[], &[("WEIR_KUBECONFIG", "")], &dir.join("home"));
    assert_eq!(failure(&empty, "empty WEIR_KUBECONFIG"), line);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_kubeconfig_is_named_with_where_it_came_from() {
    let dir = scratch("missing");
    let missing = dir.join("nope");
    let missing = missing.to_str().unwrap();
    let home = dir.join("home");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (&["--kubeconfig", missing], &[], "--kubeconfig"),
        (&[], &[("WEIR_KUBECONFIG", missing)], "WEIR_KUBECONFIG"),
        (&[], &[("KUBECONFIG", missing)], "KUBECONFIG"),
    ];
    for (args, env, from) in cases {
        let line = failure(&run(args, env, &home), from);
        assert_eq!(
            line,
            format!("error: cannot read kubeconfig {missing} (from {from}): no such file")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_server_is_named() {
    let dir = scratch("closed");
    let (config, server) = closed_port_kubeconfig(&dir);
    let config = config.to_str().unwrap();
    let home = dir.join("home");
    let want = format!(
        "error: cannot reach the API server {server} (from kubeconfig {config}, context shop): connection refused"
    );
    // With and without leader election: neither may wait forever for a server that is not there.
    for extra in [&[][..], &["--leader-elect=false"][..]] {
        let mut args = vec!["--kubeconfig", config];
        args.extend_from_slice(extra);
        assert_eq!(failure(&run(&args, &[], &home), "closed port"), want);
    }
    let from_env = run(&[], &[("WEIR_KUBECONFIG", config)], &home);
    assert_eq!(failure(&from_env, "closed port via WEIR_KUBECONFIG"), want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_argo_flag_weir_does_not_support_is_refused() {
    let dir = scratch("unsupported");
    let (config, _) = closed_port_kubeconfig(&dir);
    let home = dir.join("home");
    for flag in ["--experiment-threads=4", "--qps=50", "--kloglevel=2"] {
        let args = ["--kubeconfig", config.to_str().unwrap(), flag];
        let line = failure(&run(&args, &[], &home), flag);
        let name = flag.split('=').next().unwrap();
        assert!(
            line.starts_with(&format!(
                "error: {name} is an Argo Rollouts flag Weir does not support ("
            )),
            "{line}"
        );
        assert!(line.ends_with("; remove it"), "{line}");
    }
    // A flag neither Argo nor Weir has gets clap's message, on one line too.
    let args = ["--kubeconfig", config.to_str().unwrap(), "--frobnicate"];
    let line = failure(&run(&args, &[], &home), "unknown flag");
    assert!(line.contains("'--frobnicate'"), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn argo_flags_weir_maps_are_accepted() {
    let dir = scratch("mapped");
    let (config, server) = closed_port_kubeconfig(&dir);
    let config = config.to_str().unwrap();
    let home = dir.join("home");
    // Every mapped Argo flag at once, Argo's spellings: start-up gets as far as the API server.
    let args = [
        "--kubeconfig",
        config,
        "--instance-id=a",
        "--rollout-threads=4",
        "--analysis-threads=12",
        "--namespaced",
        "--loglevel=debug",
        "--logformat=json",
        "--leader-elect",
        "--leader-election-lease-duration=15s",
        "--leader-election-renew-deadline=10s",
        "--istio-api-version=v1beta1",
    ];
    let line = failure(&run(&args, &[], &home), "mapped flags");
    assert!(
        line.starts_with(&format!("error: cannot reach the API server {server} ")),
        "{line}"
    );
    // The port flags replace --metrics-addr/--health-addr, so they are given alone here.
    let ports = [
        "--kubeconfig",
        config,
        "--metricsport=0",
        "--healthzPort=0",
        "--leader-elect=false",
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir-controller"));
    let output = command
        .args(ports)
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .env_remove("WEIR_KUBECONFIG")
        .output()
        .unwrap();
    let outcome = Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let line = failure(&outcome, "port flags");
    assert!(line.contains(&server), "{line}");
    // Both spellings of one setting is a mistake worth stopping for.
    let both = run(
        &[
            "--kubeconfig",
            config,
            "--loglevel=info",
            "--log-level=debug",
        ],
        &[],
        &home,
    );
    assert_eq!(
        failure(&both, "two log levels"),
        "error: --loglevel and --log-level both set; keep one"
    );
    let bad_id = run(&["--kubeconfig", config, "--instance-id=a/b"], &[], &home);
    assert!(
        failure(&bad_id, "bad instance id").contains("--instance-id \"a/b\" is not a label value")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
