//! Scale figures (run with `cargo bench --bench scale`): 1,000 Rollouts, each with its own
//! stable/canary Services and VirtualService, 2 replicas, taken by the real controller through a
//! 3-step canary (`setWeight: 33`, `pause: 0s`, `setWeight: 66`) in the scenario harness.
//!
//! Phases: (1) create everything and wait until every Rollout is Healthy (initial deploy);
//! (2) change every Rollout's image and time until all are Healthy at the new revision, counting
//! reconciles and API requests; (3) idle for 10 s and read the controller's RSS.
//!
//! The controller runs in a child process (this binary re-executed with `--controller <url>`) so
//! its memory is measured apart from the harness: the parent hosts the API server and the kubelet
//! stand-in and reads the child's `/proc/<pid>/status`. The child reports its reconcile counters
//! on stdout and stops when its stdin closes, so it never outlives the parent.
//!
//! Sizes are arguments (`cargo bench --bench scale -- 1000 3000 10000`; default 1000, or
//! `WEIR_SCALE_ROLLOUTS`); each size runs on a fresh harness and controller, and a table per size
//! ends the output. Prints figures; exits non-zero if a phase times out or the controller dies,
//! asserts nothing about time. Timeouts grow with the size.
//!
//! `WEIR_SCALE_WRAP=<program>` starts the controller child under that program, e.g.
//! `WEIR_SCALE_WRAP=heaptrack` to see where its memory goes (the RSS figures then describe the
//! wrapper, not the controller).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use futures::StreamExt;
use serde_json::Value;
use weir::api::{Rollout, RolloutStatus};
use weir::controller::{Config, Stats};
use weir::harness::{ApiServer, HarnessConfig, Identity, RequestRecord};

const DEFAULT_ROLLOUTS: usize = 1000;
/// `sysconf(_SC_CLK_TCK)`, 100 on every Linux the project runs on (x86-64 and arm64).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
const REPLICAS: u32 = 2;
/// Short enough that the controller, not the simulated pod start-up, dominates convergence.
const POD_READY_AFTER: Duration = Duration::from_millis(50);
/// The controller binary's default (`--concurrency`), so the figures describe a default install.
const CONCURRENCY: u16 = 10;
const STEPS: &str = "[{setWeight: 33}, {pause: {duration: 0s}}, {setWeight: 66}]";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(180);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(240);
const IDLE: Duration = Duration::from_secs(10);
/// How often waits poll the store and print progress.
const POLL: Duration = Duration::from_millis(250);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How often the child reports its counters; bounds how stale the parent's view is.
const STATS_EVERY: Duration = Duration::from_millis(50);
/// Concurrent image patches: enough to change all Rollouts in about a second without
/// turning the start of the converge phase into a thundering herd of connections.
const PATCH_CONCURRENCY: usize = 32;
/// The targets for the controller's peak RSS, in decimal megabytes, by number of Rollouts:
/// 64 MB at 1,000 and 300 MB at 10,000 (a tenth of what Argo Rollouts is reported to need at
/// 11,000, argo-rollouts#2855).
const TARGET_PEAK_MB: [(usize, f64); 2] = [(1000, 64.0), (10_000, 300.0)];

/// "(target < N MB: met)" for a size that has a target, else nothing.
fn peak_target(count: usize, peak_mb: f64) -> String {
    TARGET_PEAK_MB
        .iter()
        .find(|(size, _)| *size == count)
        .map(|(_, target)| {
            let verdict = if peak_mb < *target { "met" } else { "MISSED" };
            format!(" (target < {target:.0} MB: {verdict})")
        })
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--controller") {
        let Some(url) = args.get(i + 1) else {
            eprintln!("--controller needs the harness URL");
            return ExitCode::FAILURE;
        };
        return match controller_child(url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("controller child failed: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo test --all-targets` runs this binary without `--bench`; figures are for `cargo bench`.
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let sizes: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let result = tokio::runtime::Runtime::new()
        .context("tokio runtime")
        .and_then(|runtime| runtime.block_on(scale_sizes(sizes)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale bench FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child: the controller, as the weir-controller binary runs it (multi-threaded runtime, default
// settings), against the harness URL.

/// The controller child's bearer token: deploy/'s ServiceAccount on the harness.
const TOKEN_VAR: &str = "WEIR_SCALE_TOKEN";

fn controller_child(url: &str) -> Result<()> {
    let token = std::env::var(TOKEN_VAR).context("the parent passes a token")?;
    // Warnings only, to stderr (inherited): stdout carries the counters to the parent. Logging
    // every reconcile at info would measure the terminal more than the controller.
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let stats = Arc::new(Stats::default());
    // Shut down when the parent closes our stdin, or dies (which closes it too).
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = stop.send(());
    });
    // A plain thread, so reporting does not compete with reconciles for runtime workers.
    let reported = stats.clone();
    std::thread::spawn(move || {
        let mut out = std::io::stdout().lock();
        loop {
            let line = format!(
                "stats {} {}\n",
                reported.reconciles.load(Ordering::Relaxed),
                reported.reconcile_errors.load(Ordering::Relaxed)
            );
            // The parent stopped listening: nothing left to report to.
            if out
                .write_all(line.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return;
            }
            std::thread::sleep(STATS_EVERY);
        }
    });

    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let mut config = kube::Config::new(url.parse().context("harness URL")?);
        config.default_namespace = "default".to_string();
        config.auth_info.token = Some(token.into());
        let client = kube::Client::try_from(config).context("kube client")?;
        let config = Config {
            stats,
            concurrency: CONCURRENCY,
            ..Default::default()
        };
        weir::controller::run(client, config, async {
            let _ = stopped.await;
        })
        .await;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Parent: the child process handle.

/// The controller child. Dropping it kills the process, so no exit path leaves it running.
struct ControllerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    reconciles: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
}

impl ControllerProcess {
    /// The controller child for the harness at `url`, authenticating with `token`.
    fn spawn(url: &str, token: &str) -> Result<Self> {
        let exe = std::env::current_exe().context("locating the bench binary")?;
        // A profiler or debugger around the controller (see the module docs).
        let mut command = match std::env::var("WEIR_SCALE_WRAP") {
            Ok(wrap) => {
                let mut c = Command::new(wrap);
                c.arg(exe);
                c
            }
            Err(_) => Command::new(exe),
        };
        let mut child = command
            .arg("--controller")
            .arg(url)
            // Through the environment, not the command line, like any credential.
            .env(TOKEN_VAR, token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the controller child")?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("controller child has no stdout"))?;
        let reconciles = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let (r, e) = (reconciles.clone(), errors.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let mut fields = line.split_whitespace();
                if fields.next() != Some("stats") {
                    continue;
                }
                let mut number = || fields.next().and_then(|n| n.parse::<u64>().ok());
                if let (Some(reconciles), Some(errors)) = (number(), number()) {
                    r.store(reconciles, Ordering::Relaxed);
                    e.store(errors, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            reconciles,
            errors,
        })
    }

    fn reconciles(&self) -> u64 {
        self.reconciles.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Fails if the child has exited: every wait checks this so a crash ends the bench at once.
    fn check_alive(&mut self) -> Result<()> {
        match self
            .child
            .try_wait()
            .context("polling the controller child")?
        {
            None => Ok(()),
            Some(status) => bail!("the controller child exited early ({status})"),
        }
    }

    fn memory(&self) -> Result<Memory> {
        Memory::read(&format!("/proc/{}/status", self.child.id()))
    }

    /// User plus system CPU time so far (`/proc/<pid>/stat` fields 14 and 15, in clock ticks).
    fn cpu_seconds(&self) -> Result<f64> {
        let path = format!("/proc/{}/stat", self.child.id());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // The command name (field 2) is parenthesised and may hold spaces: count after it.
        let after = text
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("stat has a command name")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> Result<f64> {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .with_context(|| format!("{path}: field {}", i + 3))
        };
        // After ")" the fields start at 3 (state): utime is field 14, stime 15.
        Ok((ticks(11)? + ticks(12)?) / CLOCK_TICKS_PER_SECOND)
    }

    /// Closes stdin (the child's shutdown signal) and waits up to 5 s before killing it.
    fn stop(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("controller did not stop within 5 s of its shutdown signal; killing it");
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Memory figures from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    /// Peak resident set (`VmHWM`), kept by the kernel: no sampling can miss a spike.
    peak: u64,
    rss: u64,
    /// Heap and other anonymous memory (`RssAnon`): RSS without the mapped binary.
    anon: u64,
}

impl Memory {
    fn read(path: &str) -> Result<Self> {
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> Result<u64> {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .ok_or_else(|| anyhow!("{path} has no {name}"))
        };
        Ok(Self {
            peak: field("VmHWM")?,
            rss: field("VmRSS")?,
            anon: field("RssAnon")?,
        })
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Decimal megabytes, the unit of the target (64 MB is 61.0 MiB).
fn megabytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

// ---------------------------------------------------------------------------------------------
// Parent: fixtures and waits.

fn name(i: usize) -> String {
    format!("r{i:04}")
}

/// One Rollout with its own Services and VirtualService (host split), like figures.rs's.
fn manifests(name: &str, image: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: {name}-stable, namespace: default}}
spec: {{selector: {{app: {name}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}-canary, namespace: default}}
spec: {{selector: {{app: {name}}}}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: {name}-vsvc, namespace: default}}
spec:
  hosts: [{name}]
  http:
  - name: primary
    route:
    - destination: {{host: {name}-stable}}
      weight: 100
    - destination: {{host: {name}-canary}}
      weight: 0
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: "{image}"}}]
  strategy:
    canary:
      canaryService: {name}-canary
      stableService: {name}-stable
      scaleDownDelaySeconds: 0
      trafficRouting:
        istio:
          virtualService: {{name: {name}-vsvc, routes: [primary]}}
      steps: {STEPS}
"#
    )
}

/// Every Rollout's name and status, read from the store in-process (so polling adds no API
/// requests to the counts).
fn statuses(server: &ApiServer) -> Result<Vec<(String, RolloutStatus)>> {
    server
        .list("rollouts", Some("default"))
        .into_iter()
        .map(|mut obj| {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let status = match obj.get_mut("status").map(Value::take) {
                Some(status) => serde_json::from_value(status)
                    .with_context(|| format!("status of Rollout {name}"))?,
                None => RolloutStatus::default(),
            };
            Ok((name, status))
        })
        .collect()
}

/// Healthy and fully promoted: the stable ReplicaSet is the current revision.
fn settled(status: &RolloutStatus) -> bool {
    status.phase.as_deref() == Some("Healthy")
        && status.current_pod_hash.is_some()
        && status.stable_rs == status.current_pod_hash
}

/// Polls until `done` holds for all `count` Rollouts; prints progress; fails after `timeout`.
async fn wait_all(
    server: &ApiServer,
    controller: &mut ControllerProcess,
    phase: &str,
    count: usize,
    timeout: Duration,
    done: impl Fn(&str, &RolloutStatus) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    let mut last_progress = started;
    loop {
        controller.check_alive()?;
        let statuses = statuses(server)?;
        let finished = statuses.iter().filter(|(n, s)| done(n, s)).count();
        if finished >= count {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            let stuck: Vec<String> = statuses
                .iter()
                .filter(|(n, s)| !done(n, s))
                .take(5)
                .map(|(n, s)| {
                    format!(
                        "{n}: phase {:?}, step {:?}, message {:?}",
                        s.phase, s.current_step_index, s.message
                    )
                })
                .collect();
            bail!(
                "{phase}: only {finished}/{count} Rollouts done after {} s; first stuck: {stuck:#?}",
                timeout.as_secs()
            );
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            println!(
                "  {phase}: {finished}/{count} done after {:.0} s ({} reconciles so far, controller RSS {:.1} MiB)",
                started.elapsed().as_secs_f64(),
                controller.reconciles(),
                mib(controller.memory().map(|m| m.rss).unwrap_or_default()),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the reconcile counter has not moved for a second, so trailing reconciles of one
/// phase are not counted in the next.
async fn settle(controller: &mut ControllerProcess) -> Result<()> {
    let started = Instant::now();
    let mut last = controller.reconciles();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(1) {
        controller.check_alive()?;
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!(
                "the controller kept reconciling for {} s after all Rollouts were Healthy",
                SETTLE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = controller.reconciles();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    Ok(())
}

/// Waits until the controller has started its Rollout watch, i.e. it is up and listening.
async fn wait_for_controller(server: &ApiServer, controller: &mut ControllerProcess) -> Result<()> {
    let started = Instant::now();
    loop {
        controller.check_alive()?;
        let watching = server
            .requests()
            .iter()
            .any(|r| classify(r).0 == "WATCH" && classify(r).1 == "rollouts");
        if watching {
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            bail!(
                "the controller did not watch Rollouts within {} s",
                START_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: request accounting.

/// `(verb, resource[/subresource])` of a logged request, verbs as in Kubernetes audit logs.
fn classify(record: &RequestRecord) -> (&'static str, String) {
    let verb = match record.verb.as_str() {
        "watch" => "WATCH",
        "get" => "GET",
        "list" => "LIST",
        "create" => "CREATE",
        "update" => "UPDATE",
        "patch" => "PATCH",
        "delete" | "deletecollection" => "DELETE",
        _ => "OTHER",
    };
    match (&record.resource, &record.subresource) {
        (Some(resource), Some(sub)) => (verb, format!("{resource}/{sub}")),
        (Some(resource), None) => (verb, resource.clone()),
        (None, _) => ("OTHER", record.path.clone()),
    }
}

/// Requests by `(verb, resource)` and how many of them failed (status >= 400).
fn tally(records: &[RequestRecord]) -> BTreeMap<(&'static str, String), (u64, u64)> {
    let mut counts = BTreeMap::new();
    for record in records {
        let entry: &mut (u64, u64) = counts.entry(classify(record)).or_default();
        entry.0 += 1;
        if record.status >= 400 {
            entry.1 += 1;
        }
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Parent: the run.

/// One size's figures, for the closing table.
struct Row {
    count: usize,
    peak_kib: u64,
    idle_kib: u64,
    converge: Duration,
    reconciles_per_rollout: f64,
    requests_per_rollout: f64,
    cpu_seconds: f64,
}

async fn scale_sizes(mut sizes: Vec<usize>) -> Result<()> {
    if sizes.is_empty() {
        sizes.push(match std::env::var("WEIR_SCALE_ROLLOUTS") {
            Ok(n) => n.parse().context("WEIR_SCALE_ROLLOUTS must be a number")?,
            Err(_) => DEFAULT_ROLLOUTS,
        });
    }
    let mut rows = Vec::new();
    for count in sizes {
        rows.push(scale(count).await?);
        println!();
    }
    println!("FIGURE scale table (controller process; converge = image change to all Healthy):");
    println!(
        "  {:>8} {:>14} {:>14} {:>12} {:>18} {:>17} {:>12}",
        "Rollouts",
        "peak RSS MiB",
        "idle RSS MiB",
        "converge s",
        "reconciles/Rollout",
        "requests/Rollout",
        "CPU s"
    );
    for row in &rows {
        println!(
            "  {:>8} {:>14.1} {:>14.1} {:>12.1} {:>18.1} {:>17.1} {:>12.1}",
            row.count,
            mib(row.peak_kib),
            mib(row.idle_kib),
            row.converge.as_secs_f64(),
            row.reconciles_per_rollout,
            row.requests_per_rollout,
            row.cpu_seconds
        );
    }
    Ok(())
}

/// Timeouts are for 1,000 Rollouts; larger runs get proportionally longer.
fn scaled(timeout: Duration, count: usize) -> Duration {
    timeout.mul_f64((count as f64 / 1000.0).max(1.0))
}

async fn scale(count: usize) -> Result<Row> {
    let run_started = Instant::now();
    println!(
        "scale: {count} Rollouts x {REPLICAS} replicas, steps {STEPS}, pods ready after {} ms, controller concurrency {CONCURRENCY}",
        POD_READY_AFTER.as_millis()
    );
    let server = ApiServer::start_with(HarnessConfig {
        pod_ready_after: POD_READY_AFTER,
        ..Default::default()
    })
    .await
    .context("starting the harness")?;
    // The controller acts as deploy/'s ServiceAccount, under deploy/'s cluster RBAC.
    server
        .apply_yaml(include_str!("../deploy/cluster-rbac/rbac.yaml"))
        .context("deploy/'s RBAC")?;
    // And deploy/'s Role for the notification ConfigMap and Secret, in the namespace kustomize
    // puts it in: without it the notification config stays unknown and every Event is queued.
    let notification_rbac = include_str!("../deploy/controller/notifications.yaml")
        .replace(
            "  name: weir-controller-notifications\n",
            "  name: weir-controller-notifications\n  namespace: weir-system\n",
        )
        .replace(
            "  name: weir-controller\n",
            "  name: weir-controller\n  namespace: weir-system\n",
        );
    server
        .apply_yaml(&notification_rbac)
        .context("deploy/'s notification RBAC")?;
    let identity = Identity::weir_controller();
    let token = server
        .token(&identity)
        .context("a token for the controller")?;
    let mut controller = ControllerProcess::spawn(server.url(), &token)?;
    wait_for_controller(&server, &mut controller).await?;
    let empty = controller.memory()?;
    println!(
        "controller (pid {}) is watching; RSS with no objects {:.1} MiB",
        controller.child.id(),
        mib(empty.rss)
    );

    // Phase 1: initial deploy. Objects go straight into the store (unlogged): they are the
    // user's manifests, not controller traffic.
    println!("phase 1: creating {count} Rollouts with their Services and VirtualServices");
    let created = Instant::now();
    for i in 0..count {
        server
            .apply_yaml(&manifests(&name(i), "app:v1"))
            .with_context(|| format!("creating {}", name(i)))?;
    }
    let create_time = created.elapsed();
    wait_all(
        &server,
        &mut controller,
        "initial deploy",
        count,
        scaled(DEPLOY_TIMEOUT, count),
        |_, s| settled(s),
    )
    .await?;
    let deploy_time = created.elapsed();
    let deploy_reconciles = controller.reconciles();
    println!(
        "phase 1 done: all Healthy {:.1} s after creation started ({:.1} s to create)",
        deploy_time.as_secs_f64(),
        create_time.as_secs_f64()
    );
    settle(&mut controller).await?;
    let after_deploy = controller.memory()?;

    // Phase 2: new image everywhere; converged when every Rollout is Healthy at a new hash.
    let before: HashMap<String, String> = statuses(&server)?
        .into_iter()
        .filter_map(|(n, s)| Some((n, s.current_pod_hash?)))
        .collect();
    println!("phase 2: changing the image of all {count} Rollouts");
    let api: kube::Api<Rollout> =
        kube::Api::namespaced(server.client().context("harness client")?, "default");
    server.clear_requests();
    let reconciles_before = controller.reconciles();
    let errors_before = controller.errors();
    let started = Instant::now();
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:v2"}
    ]))
    .context("image patch")?;
    let patch = kube::api::Patch::<()>::Json(patch);
    let params = kube::api::PatchParams::default();
    let mut patches = futures::stream::iter(0..count)
        .map(|i| {
            let (api, patch, params) = (&api, &patch, &params);
            async move {
                api.patch(&name(i), params, patch)
                    .await
                    .with_context(|| format!("patching the image of {}", name(i)))
            }
        })
        .buffer_unordered(PATCH_CONCURRENCY);
    // Our own PATCHes land in the request log; we know exactly how many to take out again.
    let mut user_patches = 0u64;
    while let Some(result) = patches.next().await {
        result?;
        user_patches += 1;
    }
    drop(patches);
    let patch_time = started.elapsed();
    println!(
        "  {user_patches} image patches sent in {:.2} s",
        patch_time.as_secs_f64()
    );
    wait_all(
        &server,
        &mut controller,
        "converge",
        count,
        scaled(CONVERGE_TIMEOUT, count),
        |n, s| settled(s) && s.current_pod_hash.as_ref() != before.get(n),
    )
    .await?;
    let converge_time = started.elapsed();
    let converge_reconciles = controller.reconciles() - reconciles_before;
    let converge_errors = controller.errors() - errors_before;
    let converge_requests = server.requests();
    let after_converge = controller.memory()?;
    println!(
        "phase 2 done: all converged in {:.1} s",
        converge_time.as_secs_f64()
    );

    // Phase 3: idle. Whatever the controller still does here is the tail of the release plus
    // steady-state cost (resyncs, watch restarts, bookmarks).
    println!("phase 3: idling {} s", IDLE.as_secs());
    let idle_started = Instant::now();
    let idle_reconciles_before = controller.reconciles();
    let idle_requests_before = server.requests().len();
    while idle_started.elapsed() < IDLE {
        controller.check_alive()?;
        tokio::time::sleep(POLL).await;
    }
    let idle = controller.memory()?;
    let idle_reconciles = controller.reconciles() - idle_reconciles_before;
    let idle_requests = server.requests().len() - idle_requests_before;

    // Sanity: traffic is back on stable everywhere and every Rollout runs only its new pods.
    let vs_off_stable = server
        .list("virtualservices", Some("default"))
        .iter()
        .filter(|vs| vs.pointer("/spec/http/0/route/0/weight") != Some(&Value::from(100)))
        .count();
    let pods = server.list("pods", Some("default")).len();
    // What the controller's reflector caches hold, as JSON, to put its RSS in proportion.
    let cached: Vec<(&str, usize, usize)> = [
        "rollouts",
        "replicasets",
        "pods",
        "services",
        "virtualservices",
    ]
    .into_iter()
    .map(|plural| {
        let objects = server.list(plural, Some("default"));
        let bytes = objects
            .iter()
            .map(|o| serde_json::to_vec(o).map_or(0, |v| v.len()))
            .sum();
        (plural, objects.len(), bytes)
    })
    .collect();
    let harness = Memory::read("/proc/self/status")?;
    let cpu_seconds = controller.cpu_seconds()?;
    controller.stop();
    server.shutdown().await;

    // Figures.
    let n = count as f64;
    let total_time = run_started.elapsed();
    let controller_requests = converge_requests.len() as u64 - user_patches;
    let mut by_kind = tally(&converge_requests);
    if let Some(entry) = by_kind.get_mut(&("PATCH", "rollouts".to_string())) {
        entry.0 -= user_patches;
    }
    let writes: u64 = by_kind
        .iter()
        .filter(|((verb, _), _)| !matches!(*verb, "GET" | "LIST" | "WATCH"))
        .map(|(_, (n, _))| n)
        .sum();
    let failed: u64 = by_kind.values().map(|(_, f)| f).sum();
    let peak = idle.peak;

    println!();
    println!(
        "FIGURE scale: {count} Rollouts x {REPLICAS} replicas, 3-step canary (setWeight 33, pause 0s, setWeight 66), pods ready after {} ms, concurrency {CONCURRENCY}",
        POD_READY_AFTER.as_millis()
    );
    println!(
        "FIGURE scale: controller peak RSS {:.1} MiB = {:.1} MB{}; peak after initial deploy {:.1} MiB, after converge {:.1} MiB",
        mib(peak),
        megabytes(peak),
        peak_target(count, megabytes(peak)),
        mib(after_deploy.peak),
        mib(after_converge.peak),
    );
    println!(
        "FIGURE scale: controller RSS when idle {:.1} MiB (anonymous {:.1} MiB) after {} s idle; {:.1} MiB with no objects",
        mib(idle.rss),
        mib(idle.anon),
        IDLE.as_secs(),
        mib(empty.rss)
    );
    println!(
        "FIGURE scale: initial deploy of {count} Rollouts: {:.1} s, {deploy_reconciles} reconciles",
        deploy_time.as_secs_f64()
    );
    println!(
        "FIGURE scale: time to converge all {count} Rollouts to a new image: {:.1} s (patches sent in {:.2} s)",
        converge_time.as_secs_f64(),
        patch_time.as_secs_f64()
    );
    println!(
        "FIGURE scale: reconciles during converge {converge_reconciles} = {:.1} per Rollout, {:.0} reconciles/s, {converge_errors} reconcile errors",
        converge_reconciles as f64 / n,
        converge_reconciles as f64 / converge_time.as_secs_f64()
    );
    println!(
        "FIGURE scale: controller API requests during converge {controller_requests} = {:.1} per Rollout ({:.1} writes per Rollout, {failed} failed)",
        controller_requests as f64 / n,
        writes as f64 / n
    );
    for ((verb, resource), (requests, failed)) in &by_kind {
        if *requests == 0 {
            continue;
        }
        println!(
            "    {verb:<6} {resource:<28} {requests:>7} = {:>5.2} per Rollout{}",
            *requests as f64 / n,
            if *failed > 0 {
                format!(" ({failed} failed)")
            } else {
                String::new()
            }
        );
    }
    println!(
        "    (the kubelet stand-in writes pods and ReplicaSet status to the store directly and is not counted; the bench's {user_patches} image patches are excluded)"
    );
    println!(
        "FIGURE scale: idle {} s after converge: {idle_reconciles} reconciles, {idle_requests} API requests",
        IDLE.as_secs()
    );
    let cached_text: Vec<String> = cached
        .iter()
        .map(|(plural, objects, bytes)| {
            format!("{objects} {plural} {:.1} MiB", mib(*bytes as u64 / 1024))
        })
        .collect();
    println!(
        "FIGURE scale: objects the controller caches at the end, as JSON: {} (total {:.1} MiB)",
        cached_text.join(", "),
        mib(cached.iter().map(|(_, _, b)| *b as u64).sum::<u64>() / 1024)
    );
    println!(
        "FIGURE scale: harness process (API server, kubelet stand-in, bench) peak RSS {:.1} MiB",
        mib(harness.peak)
    );
    println!(
        "FIGURE scale: whole run {:.0} s{}",
        total_time.as_secs_f64(),
        if total_time > Duration::from_secs(300) {
            " (over the 5-minute budget on this machine)"
        } else {
            ""
        }
    );
    println!(
        "FIGURE scale: controller CPU time for the whole run {cpu_seconds:.1} s (user + system)"
    );
    if vs_off_stable > 0 || pods != count * REPLICAS as usize {
        bail!(
            "end state is wrong: {vs_off_stable} VirtualServices not at 100% stable, {pods} pods (expected {})",
            count * REPLICAS as usize
        );
    }
    Ok(Row {
        count,
        peak_kib: peak,
        idle_kib: idle.rss,
        converge: converge_time,
        reconciles_per_rollout: converge_reconciles as f64 / n,
        requests_per_rollout: controller_requests as f64 / n,
        cpu_seconds,
    })
}
