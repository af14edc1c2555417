//! `kubectl weir`: the kubectl plugin, with the commands, flags and output of
//! `kubectl argo rollouts` (see the README). This module holds the command line and dispatches;
//! each command lives in its own module and takes a client, so tests drive them directly.

pub mod actions;
pub mod age;
pub mod analysisrun;
pub mod columns;
pub mod error;
pub mod fetch;
pub mod get;
pub mod info;
pub mod kube;
pub mod lint;
pub mod screen;
pub mod status;
pub mod style;
pub mod table;
pub mod tree;

use self::error::{CliError, Result};
use self::kube::KubeFlags;
use self::style::Style;
use crate::api::Rollout;
use crate::api::duration::parse_int_or_string;
use ::kube::api::Api;
use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-weir",
    // kubectl runs the plugin as `kubectl weir`, so that is what usage lines tell people to type.
    bin_name = "kubectl weir",
    version,
    about = "Manage Weir (Argo Rollouts-compatible) rollouts: kubectl weir <command>"
)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeFlags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get details about a rollout or an analysis run
    Get {
        #[command(subcommand)]
        what: GetCommand,
    },
    /// List rollouts
    List {
        #[command(subcommand)]
        what: ListCommand,
    },
    /// Promote a rollout: leave the current pause (or resume a manual one); --full skips all remaining steps
    Promote {
        name: String,
        /// Perform a full promotion, skipping analysis, pauses, and steps
        #[arg(long)]
        full: bool,
    },
    /// Abort a rollout: all traffic back to stable; spec.template still holds the new version
    Abort { name: String },
    /// Retry an aborted rollout
    Retry {
        #[command(subcommand)]
        what: RetryCommand,
    },
    /// Pause a rollout (resume with promote)
    Pause { name: String },
    /// Update a rollout's pod template
    Set {
        #[command(subcommand)]
        what: SetCommand,
    },
    /// Restart the pods of a rollout
    Restart {
        name: String,
        /// Amount of time before a restart (e.g. 30s, 5m, 1h)
        #[arg(short = 'i', long = "in", value_name = "DURATION")]
        delay: Option<String>,
    },
    /// Roll back to a previous revision's pod template
    Undo {
        name: String,
        /// The revision to roll back to (0: the previous one)
        #[arg(long, default_value_t = 0)]
        to_revision: i64,
    },
    /// Show the status of a rollout; exits 0 when Healthy, 1 when Degraded or on timeout
    Status {
        name: String,
        /// Watch the status until it is Healthy or Degraded (--watch=false prints it once)
        #[arg(
            short = 'w',
            long,
            default_value_t = true,
            action = ArgAction::Set,
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "true"
        )]
        watch: bool,
        /// How long to watch before giving up (e.g. 10m); 0 waits for ever
        #[arg(short = 't', long, value_name = "DURATION", default_value = "0")]
        timeout: String,
    },
    /// Check Rollout and AnalysisTemplate manifests offline; exits 0 when clean, 1 on problems, 2 when an input cannot be read
    Lint {
        /// A manifest file, a directory of .yaml/.yml/.json files, or - for standard input; repeat or separate with commas
        #[arg(
            short = 'f',
            long = "filename",
            required = true,
            value_delimiter = ',',
            value_name = "FILE"
        )]
        files: Vec<PathBuf>,
        /// Also read the subdirectories of the directories given with -f
        #[arg(short = 'R', long)]
        recursive: bool,
    },
    /// Print the plugin version
    Version {
        /// Print only the version line
        #[arg(long)]
        short: bool,
    },
    /// Print a shell completion script for kubectl-weir; `kubectl weir <TAB>` is completed by kubectl_complete-weir
    Completion { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// The rollout's header and tree of revisions, ReplicaSets, Pods and AnalysisRuns
    #[command(visible_aliases = ["ro", "rollouts"])]
    Rollout {
        name: String,
        /// Watch live updates to the rollout
        #[arg(short = 'w', long)]
        watch: bool,
        /// Do not colorize output
        #[arg(long)]
        no_color: bool,
        /// Stop watching after this many seconds
        #[arg(long)]
        timeout_seconds: Option<u64>,
    },
    /// An analysis run's metrics and measurements
    #[command(visible_aliases = ["ar", "analysisruns"])]
    Analysisrun {
        name: String,
        /// Do not colorize output
        #[arg(long)]
        no_color: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// List rollouts
    #[command(visible_aliases = ["ro", "rollout"])]
    Rollouts {
        /// Include all namespaces
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Only show the rollout with this name
        #[arg(long)]
        name: Option<String>,
        /// Watch for changes
        #[arg(short = 'w', long)]
        watch: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetryCommand {
    /// Retry an aborted rollout
    #[command(visible_aliases = ["ro", "rollouts"])]
    Rollout { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Set the image of a container (`*` for all), init and ephemeral containers included
    Image {
        name: String,
        #[arg(value_name = "CONTAINER=IMAGE")]
        image: String,
    },
}

/// Durations as Argo's flags take them: Go durations ("30s", "5m", "1h30m") or seconds.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration> {
    parse_int_or_string(&IntOrString::String(text.to_string()))
        .map_err(|e| CliError::Usage(format!("{flag}: {e}")))
}

/// `CONTAINER=IMAGE`.
pub fn parse_image(arg: &str) -> Result<(&str, &str)> {
    match arg.split_once('=') {
        Some((container, image)) if !container.is_empty() && !image.is_empty() => {
            Ok((container, image))
        }
        _ => Err(CliError::Usage(format!(
            "expected CONTAINER=IMAGE (or *=IMAGE), got {arg:?}"
        ))),
    }
}

pub fn version(short: bool) -> String {
    let line = format!("kubectl-weir: v{}", env!("CARGO_PKG_VERSION"));
    if short {
        line + "\n"
    } else {
        format!(
            "{line}\n  Platform: {}/{}\n",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    }
}

/// What the completion scripts start with: how to install them, and how `kubectl weir` (rather
/// than `kubectl-weir`) gets completed. Every shell clap writes for reads `#` as a comment.
const COMPLETION_HEADER: &str = "\
# Shell completion for kubectl-weir, Weir's kubectl plugin.
#
# `kubectl weir <TAB>` is completed by kubectl itself (1.26 and later): it runs the executable
# kubectl_complete-weir, shipped next to kubectl-weir. Put both on PATH and load kubectl's
# completion, e.g. for bash: source <(kubectl completion bash)
#
# This script completes the plugin typed under its own name (kubectl-weir <TAB>). Load it from
# your shell's startup file, e.g. for bash: source <(kubectl weir completion bash)

";

/// The completion script for `shell`, built in memory and written with one write, so that a
/// reader that goes away (`| head`) is an error to handle rather than a panic in clap_complete.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = COMPLETION_HEADER.as_bytes().to_vec();
    // The functions the script defines are named after the executable, which has no space.
    clap_complete::generate(shell, &mut Cli::command(), "kubectl-weir", &mut script);
    script
}

/// The client, the namespace, and the Rollouts of that namespace.
struct Target {
    client: ::kube::Client,
    namespace: String,
    rollouts: Api<Rollout>,
}

async fn connect(flags: &KubeFlags) -> Result<Target> {
    let (client, namespace) = kube::connect(flags).await?;
    Ok(Target {
        rollouts: Api::namespaced(client.clone(), &namespace),
        client,
        namespace,
    })
}

/// Runs one command, writing its output to stdout. Only commands that talk to the cluster
/// load the kubeconfig, so `lint`, `version` and `completion` work anywhere.
pub async fn run(cli: Cli) -> Result<()> {
    let mut stdout = std::io::stdout();
    let out: &mut (dyn Write + Send) = &mut stdout;
    let flags = &cli.kube;
    let message = match cli.command {
        Command::Version { short } => {
            out.write_all(version(short).as_bytes())?;
            return Ok(());
        }
        Command::Completion { shell } => {
            out.write_all(&completion_script(shell))?;
            return Ok(());
        }
        Command::Lint { files, recursive } => {
            return lint::run(&files, recursive, &mut std::io::stdin().lock(), out);
        }
        Command::Get { what } => {
            let t = connect(flags).await?;
            return match what {
                GetCommand::Rollout {
                    name,
                    watch: false,
                    no_color,
                    ..
                } => {
                    get::rollout_once(&t.client, &t.namespace, &name, Style::detect(no_color), out)
                        .await
                }
                GetCommand::Rollout {
                    name,
                    no_color,
                    timeout_seconds,
                    ..
                } => {
                    let timeout = timeout_seconds.filter(|s| *s > 0).map(Duration::from_secs);
                    get::rollout_watch(
                        &t.client,
                        &t.namespace,
                        &name,
                        Style::detect(no_color),
                        timeout,
                    )
                    .await
                }
                GetCommand::Analysisrun { name, no_color } => {
                    get::analysis_run(&t.client, &t.namespace, &name, Style::detect(no_color), out)
                        .await
                }
            };
        }
        Command::List {
            what:
                ListCommand::Rollouts {
                    all_namespaces,
                    name,
                    watch,
                },
        } => {
            let t = connect(flags).await?;
            let scope = (!all_namespaces).then_some(t.namespace.as_str());
            return if watch {
                table::watch(&t.client, scope, name.as_deref(), out).await
            } else {
                table::list(
                    &t.client,
                    scope,
                    name.as_deref(),
                    out,
                    &mut std::io::stderr(),
                )
                .await
            };
        }
        Command::Status {
            name,
            watch,
            timeout,
        } => {
            let timeout = parse_duration("--timeout", &timeout)?;
            let options = status::Options {
                watch,
                timeout: (!timeout.is_zero()).then_some(timeout),
            };
            let t = connect(flags).await?;
            return status::run(&t.rollouts, &name, options, out).await;
        }
        Command::Promote { name, full } => {
            actions::promote(&connect(flags).await?.rollouts, &name, full).await?
        }
        Command::Abort { name } => actions::abort(&connect(flags).await?.rollouts, &name).await?,
        Command::Retry {
            what: RetryCommand::Rollout { name },
        } => actions::retry(&connect(flags).await?.rollouts, &name).await?,
        Command::Pause { name } => actions::pause(&connect(flags).await?.rollouts, &name).await?,
        Command::Set {
            what: SetCommand::Image { name, image },
        } => {
            let (container, image) = parse_image(&image)?;
            actions::set_image(&connect(flags).await?.rollouts, &name, container, image).await?
        }
        Command::Restart { name, delay } => {
            let text = delay.unwrap_or_else(|| "0s".to_string());
            let duration = parse_duration("--in", &text)?;
            let rollouts = connect(flags).await?.rollouts;
            actions::restart(&rollouts, &name, duration, &text, jiff::Timestamp::now()).await?
        }
        Command::Undo { name, to_revision } => {
            let t = connect(flags).await?;
            actions::undo(&t.client, &t.namespace, &name, to_revision).await?
        }
    };
    writeln!(out, "{message}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn status_watch_flag_forms() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Status { watch, .. }) => watch,
            other => panic!("{other:?}"),
        };
        assert!(parse(&["kubectl-weir", "status", "web"]));
        assert!(parse(&["kubectl-weir", "status", "-w", "web"]));
        assert!(!parse(&["kubectl-weir", "status", "web", "--watch=false"]));
    }

    #[test]
    fn aliases_and_global_flags() {
        let cli = Cli::try_parse_from(["kubectl-weir", "get", "ro", "web", "-n", "prod"]).unwrap();
        assert_eq!(cli.kube.namespace.as_deref(), Some("prod"));
        assert!(matches!(
            cli.command,
            Command::Get {
                what: GetCommand::Rollout { .. }
            }
        ));
        assert!(Cli::try_parse_from(["kubectl-weir", "list", "ro", "-A"]).is_ok());
        assert!(Cli::try_parse_from(["kubectl-weir", "retry", "rollout", "web"]).is_ok());
    }

    #[test]
    fn image_argument() {
        assert_eq!(parse_image("web=nginx:1.2").unwrap(), ("web", "nginx:1.2"));
        assert_eq!(parse_image("*=nginx").unwrap(), ("*", "nginx"));
        assert!(parse_image("nginx").is_err());
    }
}
