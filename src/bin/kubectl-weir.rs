//! `kubectl-weir`: the kubectl plugin (`kubectl weir ...`). On PATH, kubectl finds it by name.
//! Errors go to stderr as `Error: <message>` with exit code 1, as Argo's plugin does.

use clap::Parser;
use std::process::ExitCode;
use weir::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
