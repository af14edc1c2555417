//! Every way a `kubectl weir` command fails. The binary prints `Error: <message>` on stderr and
//! exits with 1, as Argo's plugin does, so messages are written for people reading a terminal
//! or a CI log.

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

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Writing to stdout failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),

    /// The individual findings were already printed; this is the summary line.
    #[error("{file}: {errors} error(s) found")]
    Lint { file: String, errors: usize },
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
