//! The API client and namespace, chosen as kubectl chooses them: `--kubeconfig`, else
//! `WEIR_KUBECONFIG`, else `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service
//! account; `--context` picks a context; `-n` wins over the context's namespace, which wins
//! over `default`.

use super::error::{CliError, Result};
use kube::Client;
use std::path::PathBuf;

/// The connection flags every command accepts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeFlags {
    /// Namespace of the object (default: the kubeconfig context's namespace)
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Name of the kubeconfig context to use
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Path to the kubeconfig file (default: $WEIR_KUBECONFIG, $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

/// A client and the namespace commands work in. The cluster is found exactly as the controller
/// finds it (`controller::startup::target`), so both read kubeconfigs one way and a broken one
/// is an error, not a silent fall-back.
pub async fn connect(flags: &KubeFlags) -> Result<(Client, String)> {
    let target =
        crate::controller::startup::target(flags.kubeconfig.as_deref(), flags.context.as_deref())
            .await
            .map_err(|e| CliError::Config(e.to_string()))?;
    let namespace = flags
        .namespace
        .clone()
        .unwrap_or_else(|| target.config.default_namespace.clone());
    let client = Client::try_from(target.config).map_err(CliError::Kube)?;
    Ok((client, namespace))
}
