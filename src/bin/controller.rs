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
            ..Default::default()
        },
        shutdown,
    )
    .await;
    Ok(())
}
