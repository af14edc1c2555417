//! `weir`: project commands. `weir demo` shows the controller doing its job with no cluster.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "weir",
    version,
    about = "Weir: Argo Rollouts-compatible canaries on Istio"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a release, and a failing release, against an embedded API server and print the timeline.
    Demo(weir::demo::Options),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .init();
    match cli.command {
        Command::Demo(options) => match weir::demo::run(options).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("weir demo failed: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
