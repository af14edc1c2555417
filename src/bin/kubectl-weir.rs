//! `kubectl-weir`: the kubectl plugin (`kubectl weir ...`). On PATH, kubectl finds it by name.
//! Errors go to stderr as `Error: <message>`; the exit code is 1 when the command found
//! something wrong (as Argo's plugin does) and 2 when it could not run as asked. A reader that
//! closes stdout early (`| head`) ends the command quietly with 0.

use clap::Parser;
use std::process::ExitCode;
use weir::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_closed_output() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
