//! Every way a `kubectl weir` command fails. The binary prints `Error: <message>` on stderr and
//! exits with [`CliError::exit_code`], so messages are written for people reading a terminal
//! or a CI log.

use super::lint::Summary;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Worded like the API server's own NotFound message, which users grep for.
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: &'static str, name: String },

    /// The object exists but the requested action makes no sense in its current state.
    #[error("{0}")]
    NotApplicable(String),

    #[error("{0}")]
    Usage(String),

    #[error("The rollout is in a degraded state with message: {0}")]
    Degraded(String),

    #[error("Rollout status watch exceeded timeout")]
    Timeout,

    /// A request the API server refused, shown the way kubectl shows it.
    #[error("Error from server ({reason}): {message}")]
    Server { reason: String, message: String },

    #[error(transparent)]
    Kube(kube::Error),

    #[error("cannot load the kubeconfig: {0}")]
    Config(String),

    /// A manifest given to `lint -f` that exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),

    /// The individual findings were already printed; this is the summary line.
    #[error("{0}")]
    Lint(Summary),
}

impl CliError {
    /// 1 when the command ran and found something wrong (as Argo's plugin does), 2 when it
    /// could not run as asked (a bad flag value, an unreadable input), as clap exits for a bad
    /// command line: CI scripts tell "the manifests are wrong" from "the job is wrong".
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Io { .. } => 2,
            _ => 1,
        }
    }

    /// The reader of stdout went away (`| head`): there is nobody left to tell, so the binary
    /// exits quietly with 0, as `ls | head` does.
    pub fn is_closed_output(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<kube::Error> for CliError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => CliError::Server {
                reason: if status.reason.is_empty() {
                    status.code.to_string()
                } else {
                    status.reason.clone()
                },
                message: status.message.clone(),
            },
            other => CliError::Kube(other),
        }
    }
}

/// Maps a 404 on a named object to [`CliError::NotFound`]; other errors convert as usual.
pub fn not_found_as(error: kube::Error, kind: &'static str, name: &str) -> CliError {
    match &error {
        kube::Error::Api(status) if status.is_not_found() => CliError::NotFound {
            kind,
            name: name.to_string(),
        },
        _ => error.into(),
    }
}

pub type Result<T> = std::result::Result<T, CliError>;
