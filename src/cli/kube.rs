//! The API client and namespace, chosen as kubectl chooses them: `--kubeconfig`, else
//! `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account; `--context`
//! picks a context; `-n` wins over the context's namespace, which wins over `default`.

use super::error::{CliError, Result};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
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
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
}

/// A client and the namespace commands work in.
pub async fn connect(flags: &KubeFlags) -> Result<(Client, String)> {
    let options = KubeConfigOptions {
        context: flags.context.clone(),
        ..Default::default()
    };
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|e| CliError::Config(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| CliError::Config(e.to_string()))?
        }
        // A named context only exists in a kubeconfig, so there is nothing to fall back to.
        None if flags.context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| CliError::Config(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| CliError::Config(e.to_string()))?,
    };
    let namespace = flags
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(CliError::Kube)?;
    Ok((client, namespace))
}
