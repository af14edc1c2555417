//! weir-controller: runs the Rollout controller against the cluster from KUBECONFIG / in-cluster
//! configuration until SIGTERM or Ctrl-C, electing a leader among replicas and serving
//! /metrics, /healthz and /readyz.

use clap::{ArgAction, Parser};
use std::time::Duration;
use weir::controller::Config;
use weir::controller::process::{self, LeaderElection, ProcessConfig};
use weir::controller::server::parse_listen_addr;

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
    /// Elect a leader through a Lease so only one replica reconciles (--leader-elect=false to
    /// run every replica as an active controller, e.g. for local development).
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease; defaults to the controller's own namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    leader_election_namespace: Option<String>,
    #[arg(long, default_value = "weir-controller-lock")]
    leader_election_lease_name: String,
    /// How long a Lease is valid after its last renewal; a standby takes over after this.
    #[arg(long, default_value = "15s", value_parser = parse_seconds)]
    leader_election_lease_duration: Duration,
    /// The leader renews its Lease before this much of the lease duration has passed.
    #[arg(long, default_value = "10s", value_parser = parse_seconds)]
    leader_election_renew_deadline: Duration,
    /// Where /metrics is served (Argo's metrics port is 8090).
    #[arg(long, default_value = ":8090")]
    metrics_addr: String,
    /// Where /healthz and /readyz are served (Argo's healthz port is 8080).
    #[arg(long, default_value = ":8080")]
    health_addr: String,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log filter, e.g. info or weir=debug.
    #[arg(long, default_value = "info", env = "WEIR_LOG")]
    log_level: String,
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    weir::api::duration::parse_go_duration(value).map_err(|e| format!("{e}; use e.g. 15s"))
}

/// libgit2 keeps its network timeouts in C globals that are only safe to set before any
/// thread exists, so they are set here, before the runtime starts: a stalled Git server
/// then fails the revert (which is retried) instead of holding a worker thread and the
/// repository's lock.
fn set_git_timeouts() -> anyhow::Result<()> {
    // SAFETY: called first thing in main, while this is the only thread.
    unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(15_000)?;
        git2::opts::set_server_timeout_in_milliseconds(60_000)?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = set_git_timeouts() {
        eprintln!("weir-controller: cannot set Git network timeouts: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("weir-controller: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("weir-controller: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
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
    let metrics_addr =
        parse_listen_addr("--metrics-addr", &args.metrics_addr).map_err(anyhow::Error::msg)?;
    let health_addr =
        parse_listen_addr("--health-addr", &args.health_addr).map_err(anyhow::Error::msg)?;
    let leader_election = args.leader_elect.then(|| LeaderElection {
        namespace: args
            .leader_election_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string()),
        lease_name: args.leader_election_lease_name.clone(),
        identity: identity(),
        lease_duration: args.leader_election_lease_duration,
        renew_deadline: args.leader_election_renew_deadline,
    });
    // Registered now, so a SIGTERM during start-up already stops gracefully.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing in-flight reconciles");
    };
    tracing::info!(
        namespace = ?args.namespace, %metrics_addr, %health_addr,
        leader_elect = args.leader_elect, "weir-controller starting"
    );
    let controller = Config {
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
    };
    process::run(
        client,
        ProcessConfig {
            controller,
            metrics_addr,
            health_addr,
            leader_election,
        },
        shutdown,
    )
    .await?;
    tracing::info!("weir-controller stopped");
    Ok(())
}

/// The Lease holder identity: the pod name (hostname) plus a per-start suffix, so a restarted
/// pod with the same name is never mistaken for the previous holder.
fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "weir-controller".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{host}_{:x}", nanos ^ std::process::id())
}
