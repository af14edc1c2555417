//! weir-controller: runs the Rollout controller against the cluster from a kubeconfig or the
//! pod's service account until SIGTERM or Ctrl-C, electing a leader among replicas and serving
//! /metrics, /healthz and /readyz. Accepts Argo Rollouts' controller flags where Weir has the
//! same setting, so a migrating team keeps its Deployment's args.

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use weir::controller::process::{self, LeaderElection, ProcessConfig};
use weir::controller::server::parse_listen_addr;
use weir::controller::startup::{self, describe};
use weir::controller::{Config, check_instance_id};

const ARGO: &str = "Argo Rollouts flags (mapped to Weir's)";
const DEFAULT_LEASE: &str = "weir-controller-lock";

#[derive(Debug, Parser)]
#[command(
    name = "weir-controller",
    version,
    about = "Argo Rollouts-compatible canary controller for Istio"
)]
struct Args {
    /// Path to one kubeconfig, also read from WEIR_KUBECONFIG. When neither is set: the files
    /// listed in KUBECONFIG (merged, as kubectl does), else ~/.kube/config, else the pod's
    /// service account (in-cluster).
    #[arg(long)]
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
    #[arg(long, default_value_t = 10, visible_alias = "rollout-threads")]
    concurrency: u16,
    /// AnalysisRuns measured in parallel [default: 3 x --concurrency].
    #[arg(long, visible_alias = "analysis-threads")]
    analysis_concurrency: Option<u16>,
    /// Reconcile only Rollouts labelled argo-rollouts.argoproj.io/controller-instance-id=<ID>
    /// (without it: only Rollouts without that label), as Argo's --instance-id.
    #[arg(long, value_name = "ID")]
    instance_id: Option<String>,
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
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    leader_elect: bool,
    /// Namespace of the leader-election Lease; defaults to the controller's own namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Namespace of the notification ConfigMap and Secret (argo-rollouts-notification-configmap
    /// and -secret): the controller's own, as Argo reads them.
    #[arg(long, env = "POD_NAMESPACE", default_value = weir::notifications::DEFAULT_NAMESPACE)]
    notification_namespace: String,
    /// Name of the leader-election Lease [default: weir-controller-lock, with an instance id
    /// weir-controller-lock-<ID>, so each instance elects its own leader].
    #[arg(long)]
    leader_election_lease_name: Option<String>,
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

    /// Watch only the namespace of the kubeconfig context or service account (Argo's
    /// --namespaced); --namespace names another.
    #[arg(long, help_heading = ARGO, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = false)]
    namespaced: bool,
    /// Port of /metrics on all interfaces: --metrics-addr=:PORT.
    #[arg(long = "metricsport", help_heading = ARGO, value_name = "PORT",
          conflicts_with = "metrics_addr")]
    metricsport: Option<u16>,
    /// Port of /healthz (and /readyz) on all interfaces: --health-addr=:PORT.
    #[arg(long = "healthzPort", help_heading = ARGO, value_name = "PORT",
          conflicts_with = "health_addr")]
    healthz_port: Option<u16>,
    /// debug, info, warn or error (also trace, warning, fatal, panic): --log-level=LEVEL.
    #[arg(long = "loglevel", help_heading = ARGO, value_name = "LEVEL",
          value_parser = ["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"],
          ignore_case = true)]
    loglevel: Option<String>,
    /// text or json: --log-format.
    #[arg(long = "logformat", help_heading = ARGO, value_name = "FORMAT",
          value_parser = ["text", "json"], ignore_case = true, conflicts_with = "log_format")]
    logformat: Option<String>,
}

/// Argo Rollouts controller flags Weir does not take, and what to do instead. Refused rather
/// than ignored: a flag that silently does nothing is worse than one that stops the rollout of
/// the controller.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("experiment-threads", "Weir does not run Experiments"),
    (
        "service-threads",
        "Weir updates Services in the Rollout reconcile, sized by --concurrency",
    ),
    (
        "ingress-threads",
        "Weir routes traffic through Istio only, not Ingresses",
    ),
    (
        "rollout-resync",
        "Weir re-checks every Rollout every 15 minutes, Argo's default",
    ),
    ("qps", "Weir sets no client-side rate limit"),
    ("burst", "Weir sets no client-side rate limit"),
    (
        "kloglevel",
        "use --log-level, e.g. --log-level=info,kube=debug",
    ),
    (
        "leader-election-retry-period",
        "Weir retries the Lease on the schedule of --leader-election-renew-deadline",
    ),
    (
        "ambassador-api-version",
        "Weir routes traffic through Istio only",
    ),
    (
        "traffic-split-api-version",
        "Weir routes traffic through Istio only",
    ),
    (
        "ingress-api-version",
        "Weir routes traffic through Istio only",
    ),
    (
        "appmesh-crd-version",
        "Weir routes traffic through Istio only",
    ),
    (
        "alb-ingress-classes",
        "Weir routes traffic through Istio only",
    ),
    (
        "nginx-ingress-classes",
        "Weir routes traffic through Istio only",
    ),
    (
        "alb-verify-weight",
        "Weir routes traffic through Istio only",
    ),
    (
        "aws-verify-target-group",
        "Weir routes traffic through Istio only",
    ),
    (
        "self-service-notification-enabled",
        "Weir does not send notifications",
    ),
    (
        "controllers",
        "Weir always runs its Rollout and AnalysisRun controllers",
    ),
    ("enable-pprof-address", "Weir has no profiling endpoint"),
    ("server", "set the server in the kubeconfig"),
    ("token", "set the token in the kubeconfig"),
    ("cluster", "choose it through --context"),
    ("user", "choose it through --context"),
    ("as", "set impersonation in the kubeconfig"),
    ("as-group", "set impersonation in the kubeconfig"),
    ("certificate-authority", "set it in the kubeconfig"),
    ("client-certificate", "set it in the kubeconfig"),
    ("client-key", "set it in the kubeconfig"),
    ("insecure-skip-tls-verify", "set it in the kubeconfig"),
    ("request-timeout", "Weir sets its own timeouts"),
];

/// The first unsupported Argo flag among `args`, as an error line.
fn unsupported_argo_flag(args: &[std::ffi::OsString]) -> Option<String> {
    for arg in args.iter().skip(1) {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let name = flag.split_once('=').map_or(flag, |(name, _)| name);
        if let Some((_, instead)) = UNSUPPORTED.iter().find(|(argo, _)| *argo == name) {
            return Some(format!(
                "--{name} is an Argo Rollouts flag Weir does not support ({instead}); remove it"
            ));
        }
    }
    None
}

/// A clap error as one line: its message and its tip, without usage or colour.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    match lines.find_map(|l| l.strip_prefix("tip: ")) {
        Some(tip) => format!("{message} ({tip}); see --help"),
        None => format!("{message}; see --help"),
    }
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    weir::api::duration::parse_go_duration(value).map_err(|e| format!("{e}; use e.g. 15s"))
}

/// libgit2 keeps its network timeouts in C globals that are only safe to set before any
/// thread exists, so they are set here, before the runtime starts: a stalled Git server
/// then fails the revert (which is retried) instead of holding a worker thread and the
/// repository's lock.
fn set_git_timeouts() -> Result<(), git2::Error> {
    // SAFETY: called first thing in main, while this is the only thread.
    unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(15_000)?;
        git2::opts::set_server_timeout_in_milliseconds(60_000)?;
    }
    Ok(())
}

/// Every start-up failure ends here: one line on stderr, never colour, exit code 1 (2 for
/// flags, as clap's own errors).
fn fail(message: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(message) = unsupported_argo_flag(&argv) {
        return fail(message, 2);
    }
    let matches = match Args::command().try_get_matches_from(&argv) {
        Ok(matches) => matches,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                e.exit();
            }
            return fail(one_line(&e), 2);
        }
    };
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => return fail(one_line(&e), 2),
    };
    let explicit_log_level = matches.value_source("log_level") == Some(ValueSource::CommandLine);
    let settings = match Settings::from_args(args, explicit_log_level) {
        Ok(settings) => settings,
        Err(message) => return fail(message, 2),
    };
    if let Err(e) = set_git_timeouts() {
        return fail(format!("cannot set Git network timeouts: {e}"), 1);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}"), 1),
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message, 1),
    }
}

/// The flags, checked and with Argo's flags folded into Weir's.
struct Settings {
    args: Args,
    log_filter: tracing_subscriber::EnvFilter,
    json_logs: bool,
    metrics_addr: std::net::SocketAddr,
    health_addr: std::net::SocketAddr,
    instance_id: Option<String>,
    lease_name: String,
    message_template: Option<String>,
}

impl Settings {
    fn from_args(args: Args, explicit_log_level: bool) -> Result<Settings, String> {
        let level = match (&args.loglevel, explicit_log_level) {
            (Some(_), true) => {
                return Err("--loglevel and --log-level both set; keep one".to_string());
            }
            (Some(argo), false) => match argo.to_ascii_lowercase().as_str() {
                "warning" => "warn".to_string(),
                "fatal" | "panic" => "error".to_string(),
                other => other.to_string(),
            },
            (None, _) => args.log_level.clone(),
        };
        let log_filter = tracing_subscriber::EnvFilter::try_new(&level)
            .map_err(|e| format!("--log-level {level:?}: {e}; use e.g. info or weir=debug"))?;
        let json_logs = args
            .logformat
            .as_deref()
            .unwrap_or(&args.log_format)
            .eq_ignore_ascii_case("json");
        let metrics_addr = match args.metricsport {
            Some(port) => format!(":{port}"),
            None => args.metrics_addr.clone(),
        };
        let metrics_addr = parse_listen_addr("--metrics-addr", &metrics_addr)?;
        let health_addr = match args.healthz_port {
            Some(port) => format!(":{port}"),
            None => args.health_addr.clone(),
        };
        let health_addr = parse_listen_addr("--health-addr", &health_addr)?;
        // Argo treats an empty --instance-id as none.
        let instance_id = args.instance_id.clone().filter(|id| !id.is_empty());
        if let Some(id) = &instance_id {
            check_instance_id(id)?;
        }
        let lease_name = match (&args.leader_election_lease_name, &instance_id) {
            (Some(name), _) => name.clone(),
            (None, Some(id)) => format!("{DEFAULT_LEASE}-{id}"),
            (None, None) => DEFAULT_LEASE.to_string(),
        };
        let message_template = match &args.git_commit_message_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("--git-commit-message-file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let settings = Settings {
            args,
            log_filter,
            json_logs,
            metrics_addr,
            health_addr,
            instance_id,
            lease_name,
            message_template,
        };
        if settings.args.leader_elect {
            settings.leader_election(String::new()).check()?;
        }
        Ok(settings)
    }

    fn leader_election(&self, namespace: String) -> LeaderElection {
        LeaderElection {
            namespace,
            lease_name: self.lease_name.clone(),
            identity: identity(),
            lease_duration: self.args.leader_election_lease_duration,
            renew_deadline: self.args.leader_election_renew_deadline,
        }
    }
}

/// Logs go to stdout; colour only when stdout is a terminal and NO_COLOR is unset.
fn init_logs(filter: tracing_subscriber::EnvFilter, json: bool) {
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}

async fn run(settings: Settings) -> Result<(), String> {
    let args = &settings.args;
    let target = startup::target(args.kubeconfig.as_deref(), args.context.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let client = target.client().map_err(|e| e.to_string())?;
    let namespace = match (&args.namespace, args.namespaced) {
        (Some(ns), _) => Some(ns.clone()),
        (None, true) => Some(client.default_namespace().to_string()),
        (None, false) => None,
    };
    let leader_election = args.leader_elect.then(|| {
        settings.leader_election(
            args.leader_election_namespace
                .clone()
                .unwrap_or_else(|| client.default_namespace().to_string()),
        )
    });
    // Registered now, so a SIGTERM during start-up already stops gracefully.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing in-flight reconciles");
    };
    let controller = Config {
        namespace: namespace.clone(),
        istio_api_version: args.istio_api_version.clone(),
        concurrency: args.concurrency,
        analysis_concurrency: args.analysis_concurrency,
        instance_id: settings.instance_id.clone(),
        prometheus_address: args.prometheus_address.clone(),
        revert_settings: weir::rollout::revert_request::RevertSettings {
            all_rollouts: args.git_revert_all,
            on_manual_abort: args.git_revert_on_manual_abort,
        },
        revert: weir::gitops::commit_revert::RevertConfig {
            cache_dir: args
                .git_cache_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("weir-git-cache")),
            argocd_namespace: args.argocd_namespace.clone(),
            author_name: args.git_author_name.clone(),
            author_email: args.git_author_email.clone(),
            message_template: settings.message_template.clone(),
            ..Default::default()
        },
        notifications: weir::notifications::Settings {
            namespace: args.notification_namespace.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let config = ProcessConfig {
        controller,
        metrics_addr: settings.metrics_addr,
        health_addr: settings.health_addr,
        leader_election,
    };
    let bound = process::bind(&config).await.map_err(|e| describe(&e))?;
    startup::check_api_server(&client, &target)
        .await
        .map_err(|e| e.to_string())?;
    // Only now: until the API server has answered, a failure is the one line on stderr, and
    // kube's own logs of the failed request would only repeat it on stdout.
    init_logs(settings.log_filter, settings.json_logs);
    tracing::info!(
        server = %target.server(), origin = %target.origin, namespace = ?namespace,
        instance_id = ?settings.instance_id, metrics_addr = %settings.metrics_addr,
        health_addr = %settings.health_addr, leader_elect = args.leader_elect,
        "weir-controller starting"
    );
    // A failure is printed once, by main, on stderr.
    process::run_bound(client, config, bound, shutdown)
        .await
        .map_err(|e| describe(&e))?;
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
