//! The cluster suites: the real controller (and the plugin, and the controller binary) against
//! the in-process API server, or a real cluster with WEIR_E2E_KUBECONFIG. One binary, so that
//! after every test has run it can check deploy/'s RBAC against what the controller used: a
//! permission it needed and was not granted fails its test with a 403, and one granted but
//! never used across all suites fails the run here.
//!
//! On the harness every scenario runs twice, once with Weir's CRDs and once with Argo Rollouts'
//! own (as a cluster migrating from Argo keeps them); names start with `weir-crds::` or
//! `argo-crds::`, so `cargo test --test cluster argo-crds::scenarios` picks a subset.

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../support/git_server.rs"]
mod git_server;
#[path = "../support/mod.rs"]
mod support;

mod actions;
mod analysis;
mod cli;
mod discover;
mod failures;
mod gitrevert;
mod instance;
mod notifications;
mod process;
mod quickstart;
mod rbac;
mod restarts;
mod scenarios;
mod takeover;

use libtest_mimic::{Arguments, Failed, Trial};
use std::future::Future;
use std::pin::Pin;
use support::Crds;

type AsyncTest = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// One test of a suite, and how it runs.
pub enum Test {
    /// On a current-thread runtime, once per CRD mode.
    Scenario(&'static str, AsyncTest),
    /// On a current-thread runtime, once.
    Once(&'static str, AsyncTest),
    /// On a two-worker runtime (tests that wait on child processes), once.
    Multi(&'static str, AsyncTest),
    /// A plain function, once.
    Plain(&'static str, fn()),
}

/// `tests![scenario name, once name, multi name, plain name]`: the suite's tests.
#[macro_export]
macro_rules! tests {
    ($($kind:ident $name:ident),* $(,)?) => {
        vec![$($crate::tests!(@one $kind $name)),*]
    };
    (@one scenario $name:ident) => {
        $crate::Test::Scenario(stringify!($name), || Box::pin($name()))
    };
    (@one once $name:ident) => {
        $crate::Test::Once(stringify!($name), || Box::pin($name()))
    };
    (@one multi $name:ident) => {
        $crate::Test::Multi(stringify!($name), || Box::pin($name()))
    };
    (@one plain $name:ident) => {
        $crate::Test::Plain(stringify!($name), $name)
    };
}

fn run_async(crds: Crds, multi: bool, test: AsyncTest) -> Result<(), Failed> {
    support::set_crds(crds);
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .map_err(|e| Failed::from(format!("runtime: {e}")))?;
    runtime.block_on(test());
    Ok(())
}

fn trials(suite: &str, tests: Vec<Test>) -> Vec<Trial> {
    // A real cluster has whichever CRDs it has: everything runs once there.
    let modes: &[Crds] = if support::e2e() {
        &[Crds::Weir]
    } else {
        &[Crds::Weir, Crds::Argo]
    };
    let mut trials = Vec::new();
    for test in tests {
        match test {
            Test::Scenario(name, body) => {
                for &crds in modes {
                    trials.push(Trial::test(
                        format!("{}::{suite}::{name}", crds.label()),
                        move || run_async(crds, false, body),
                    ));
                }
            }
            Test::Once(name, body) => trials.push(Trial::test(
                format!("{}::{suite}::{name}", Crds::Weir.label()),
                move || run_async(Crds::Weir, false, body),
            )),
            Test::Multi(name, body) => trials.push(Trial::test(
                format!("{}::{suite}::{name}", Crds::Weir.label()),
                move || run_async(Crds::Weir, true, body),
            )),
            Test::Plain(name, body) => {
                trials.push(Trial::test(format!("{suite}::{name}"), move || {
                    body();
                    Ok(())
                }))
            }
        }
    }
    trials
}

fn main() {
    let args = Arguments::from_args();
    let suites = [
        ("scenarios", scenarios::tests()),
        ("actions", actions::tests()),
        ("analysis", analysis::tests()),
        ("gitrevert", gitrevert::tests()),
        ("failures", failures::tests()),
        ("restarts", restarts::tests()),
        ("cli", cli::tests()),
        ("process", process::tests()),
        ("discover", discover::tests()),
        ("rbac", rbac::tests()),
        ("takeover", takeover::tests()),
        ("instance", instance::tests()),
        ("quickstart", quickstart::tests()),
        ("notifications", notifications::tests()),
    ];
    let all: Vec<Trial> = suites
        .into_iter()
        .flat_map(|(suite, tests)| trials(suite, tests))
        .collect();
    let conclusion = libtest_mimic::run(&args, all);
    let complete = args.filter.is_none()
        && args.skip.is_empty()
        && !args.list
        && conclusion.num_filtered_out == 0
        && conclusion.num_failed == 0;
    if complete && !support::e2e() && !rbac::coverage_holds() {
        std::process::exit(101);
    }
    conclusion.exit();
}
