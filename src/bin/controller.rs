//! weir-controller: runs the Rollout controller against the cluster from KUBECONFIG / in-cluster
//! configuration until SIGTERM or Ctrl-C.

use clap::Parser;
use weir::controller::{self, Config};

#[derive(Debug, Parser)]
#[command(
    name = "weir-controller",
    version,
    about = "Argo Rollouts-compatible canary controller for Istio"
)]
struct Args {
    /// Path to a kubeconfig; defaults to KUBECONFIG, ~/.kube/config, then in-cluster configuration.
    #[arg(long, env = "WEIR_KUBECONFIG")]
    kubeconfig: Option<std::path::PathBuf>,
    /// kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// Only watch Rollouts in this namespace (namespaced install).
    #[arg(long)]
    namespace: Option<String>,
    /// Istio API version of VirtualService and DestinationRule.
    #[arg(long, default_value = weir::api::istio::DEFAULT_VERSION)]
    istio_api_version: String,
    /// Rollouts reconciled in parallel.
    #[arg(long, default_value_t = 10)]
    concurrency: u16,
    /// Prometheus address for metrics that set none.
    #[arg(long, env = "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS")]
    prometheus_address: Option<String>,
    /// Revert the image in Git for every Rollout, not only those annotated weir.dev/git-revert: "true".
    #[arg(long)]
    git_revert_all: bool,
    /// Also revert in Git after a manual abort (analysis and progress-deadline aborts always do).
    #[arg(long)]
    git_revert_on_manual_abort: bool,
    /// Author of revert commits.
    #[arg(long, default_value = "Weir")]
    git_author_name: String,
    #[arg(long, default_value = "weir@weir.dev")]
    git_author_email: String,
    /// File with a commit message template ({{rollout}}, {{bad_image}}, {{stable_image}}, {{analysis_run}}, {{metric}}, {{value}}, {{condition}}, ...).
    #[arg(long)]
    git_commit_message_file: Option<std::path::PathBuf>,
    /// Directory for the local clones of reverted repositories.
    #[arg(long, env = "WEIR_GIT_CACHE_DIR")]
    git_cache_dir: Option<std::path::PathBuf>,
    /// Namespace of Argo CD's Applications and repository Secrets.
    #[arg(long, default_value = "argocd")]
    argocd_namespace: String,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log filter, e.g. info or weir=debug.
    #[arg(long, default_value = "info", env = "WEIR_LOG")]
    log_level: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)?;
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if args.log_format == "json" {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    let client = kube::Client::try_from(config)?;
    let shutdown = async {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing in-flight reconciles");
    };
    tracing::info!(namespace = ?args.namespace, "weir-controller starting");
    controller::run(
        client,
        Config {
            namespace: args.namespace,
            istio_api_version: args.istio_api_version,
            concurrency: args.concurrency,
            prometheus_address: args.prometheus_address,
            revert_settings: weir::rollout::gitrevert::RevertSettings {
                all_rollouts: args.git_revert_all,
                on_manual_abort: args.git_revert_on_manual_abort,
            },
            revert: weir::gitops::revert::RevertConfig {
                cache_dir: args
                    .git_cache_dir
                    .unwrap_or_else(|| std::env::temp_dir().join("weir-git-cache")),
                argocd_namespace: args.argocd_namespace,
                author_name: args.git_author_name,
                author_email: args.git_author_email,
                message_template: match &args.git_commit_message_file {
                    Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                        anyhow::anyhow!("--git-commit-message-file {}: {e}", path.display())
                    })?),
                    None => None,
                },
                ..Default::default()
            },
            ..Default::default()
        },
        shutdown,
    )
    .await;
    Ok(())
}
