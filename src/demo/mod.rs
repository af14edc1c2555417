//! `weir demo`: the real controller against the embedded API server, a built-in metrics
//! source whose error rate the demo controls, and a temporary Git repository. A healthy release
//! steps through its weights and analysis to promotion; a bad release fails analysis, traffic
//! snaps back to stable, and the revert commit appears in the repository; syncing it
//! fast-tracks back to stable. Every claim the demo prints is checked; a failed check makes it
//! exit non-zero. The repository is removed on exit unless `--keep` is given.

mod metrics;
mod notify;
mod repo;
pub mod timeline;

use crate::api::labels::REVISION;
use crate::api::{AnalysisRun, Rollout};
use crate::harness::{ApiServer, HarnessConfig};
use crate::rollout::steps::describe;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use metrics::MetricsSource;
use repo::{DemoRepo, OVERLAY, overlay};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use timeline::{Analysis, Progress, Side, Snapshot, WIDTH, render, render_analysis};

const ROUTING: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web-stable, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: web-vsvc, namespace: default}
spec:
  hosts: [web]
  http:
  - name: primary
    retries: {attempts: 3}
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary}
      weight: 0
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-rate, namespace: default}
spec:
  metrics:
  - name: error-rate
    interval: 1s
    count: 3
    successCondition: result[0] < 0.05
    failureLimit: 1
    provider:
      prometheus:
        query: sum(rate(http_requests_total{service="web",code=~"5.."}[1m])) / sum(rate(http_requests_total{service="web"}[1m]))
"#;

fn rollout(repo_url: &str) -> String {
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: default
  annotations:
    weir.dev/git-revert: "true"
    weir.dev/git-repo: {repo_url}
    weir.dev/git-branch: main
    weir.dev/git-path: deploy
{SUBSCRIPTIONS}
spec:
  replicas: 5
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "example.com/web:v1"}}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 2
      abortScaleDownDelaySeconds: 2
      trafficRouting:
        istio:
          virtualService: {{name: web-vsvc, routes: [primary]}}
      steps:
      - setWeight: 20
      - analysis: {{templates: [{{templateName: error-rate}}]}}
      - setWeight: 50
      - pause: {{duration: 1s}}
      - setWeight: 80
"#,
        SUBSCRIPTIONS = notify::SUBSCRIPTIONS
    )
}

/// `weir demo`'s options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Keep the demo's Git repository after the demo ends (its path is printed), to inspect
    /// the revert commit with `git -C <path> log -p`.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo's embedded services did not start: {0}")]
    Setup(String),
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("demo check failed: {0}")]
    Check(String),
}

fn setup<E: std::fmt::Display>(e: E) -> DemoError {
    DemoError::Setup(e.to_string())
}

struct Demo {
    rollouts: Api<Rollout>,
    replica_sets: Api<ReplicaSet>,
    runs: Api<AnalysisRun>,
    virtual_services: Api<DynamicObject>,
    started: Instant,
    last: Option<Snapshot>,
    /// Canary weights seen, in order, without repeats.
    weights: Vec<i64>,
    /// The AnalysisRun of the current release the timeline follows, kept after the step ends
    /// so its last measurements are shown too.
    followed: Option<String>,
    last_analysis: Option<Analysis>,
}

pub async fn run(options: Options) -> Result<(), DemoError> {
    let server = ApiServer::start_with(HarnessConfig {
        pod_ready_after: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .map_err(setup)?;
    let metrics = MetricsSource::start(0.01).await.map_err(setup)?;
    let slack = crate::notifications::receiver::Receiver::start()
        .await
        .map_err(setup)?;
    let mut repo = DemoRepo::create().map_err(setup)?;
    if options.keep {
        repo.keep();
    }
    let manifest = rollout(&repo.url());
    repo.commit("deploy/rollout.yaml", &manifest, "add the Rollout")
        .map_err(setup)?;
    server
        .apply_yaml(&format!(
            "{ROUTING}\n---\n{}\n---\n{manifest}",
            notify::manifests(&slack)
        ))
        .map_err(setup)?;
    let client = server.client()?;
    let cache = repo.path().with_extension("cache");
    let config = crate::controller::Config {
        prometheus_address: Some(metrics.url().to_string()),
        revert: crate::gitops::commit_revert::RevertConfig {
            cache_dir: cache.clone(),
            ..Default::default()
        },
        notifications: crate::notifications::Settings {
            namespace: notify::NAMESPACE.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let exported = config.metrics.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(crate::controller::run(client.clone(), config, async {
        let _ = stopped.await;
    }));
    let mut demo = Demo {
        rollouts: Api::namespaced(client.clone(), "default"),
        replica_sets: Api::namespaced(client.clone(), "default"),
        runs: Api::namespaced(client.clone(), "default"),
        virtual_services: Api::namespaced_with(
            client,
            "default",
            &crate::api::istio::virtual_service_resource("v1alpha3"),
        ),
        started: Instant::now(),
        last: None,
        weights: Vec::new(),
        followed: None,
        last_analysis: None,
    };
    let result = demo
        .script(&metrics, &repo, &exported, &options, &slack)
        .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), controller).await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(cache);
    if result.is_err() && options.keep {
        eprintln!(
            "weir demo: the Git repository is kept at {}",
            repo.path().display()
        );
    }
    result
}

impl Demo {
    async fn script(
        &mut self,
        metrics: &MetricsSource,
        repo: &DemoRepo,
        exported: &crate::controller::metrics::Metrics,
        options: &Options,
        slack: &crate::notifications::receiver::Receiver,
    ) -> Result<(), DemoError> {
        println!(
            "Weir demo: the controller runs against an embedded Kubernetes API server, a built-in"
        );
        println!("metrics source (error rate set by the demo) and a Git repository:");
        println!("   {}", repo.url());
        println!("Timeline: time, phase, where the Rollout is, then for the stable and the canary");
        println!("ReplicaSet its image tag, traffic weight and available/desired pods.\n");
        println!("1. First deploy of web:v1 (Argo promotes a first revision at once, no steps).");
        let v1 = self
            .until("v1 Healthy", Duration::from_secs(15), |r| {
                phase(r) == "Healthy"
            })
            .await?;
        let v1_hash = v1
            .status
            .and_then(|s| s.current_pod_hash)
            .unwrap_or_default();

        println!("\n2. CI releases web:v2 in Git; Argo CD syncs it. Error rate 1 %.");
        println!("   Steps: setWeight 20, analysis (error rate < 5 %, 3 measurements 1s apart),");
        println!("   setWeight 50, pause 1s, setWeight 80, then promotion.");
        repo.commit(OVERLAY, &overlay("v2"), "release v2")
            .map_err(setup)?;
        self.weights.clear();
        self.followed = None;
        self.sync(repo).await?;
        let done = self
            .until("v2 promoted", Duration::from_secs(40), |r| {
                phase(r) == "Healthy"
                    && r.status.as_ref().is_some_and(|s| {
                        s.current_pod_hash.as_deref() != Some(v1_hash.as_str())
                            && s.stable_rs == s.current_pod_hash
                    })
            })
            .await?;
        let v2_hash = done.status.and_then(|s| s.stable_rs).unwrap_or_default();
        if !self.weights.ends_with(&[80, 0])
            || !self.weights.contains(&20)
            || !self.weights.contains(&50)
        {
            return Err(DemoError::Check(format!(
                "canary weights went {:?}, expected 0 -> 20 -> 50 -> 80 -> 0",
                self.weights
            )));
        }
        println!(
            "   checked: canary weights went {:?}, analysis passed, v2 is stable.",
            self.weights
        );

        println!("\n3. CI releases web:v3; Argo CD syncs it. Its error rate is 20 %.");
        let released = repo
            .commit(OVERLAY, &overlay("v3"), "release v3")
            .map_err(setup)?;
        metrics.set_error_rate(0.2);
        self.weights.clear();
        self.followed = None;
        self.sync(repo).await?;
        let aborted = self
            .until("v3 aborted", Duration::from_secs(30), |r| {
                phase(r) == "Degraded"
            })
            .await?;
        let status = aborted.status.unwrap_or_default();
        let canary = self.canary_weight().await?;
        if canary != 0 || status.stable_rs.as_deref() != Some(v2_hash.as_str()) {
            return Err(DemoError::Check(format!(
                "after the abort the canary weight is {canary} and stable is {:?}",
                status.stable_rs
            )));
        }
        let message = status.message.unwrap_or_default();
        let run = match &self.followed {
            Some(name) => self.runs.get_opt(name).await?,
            None => None,
        };
        let analysis = run.as_ref().map(summarize);
        let failed = analysis.as_ref().map_or(0, |a| {
            a.measurements
                .iter()
                .filter(|(_, phase)| phase == "Failed")
                .count()
        });
        if !status.abort.unwrap_or(false)
            || analysis.as_ref().is_none_or(|a| a.phase != "Failed")
            || !message.contains(&format!("failed ({failed})"))
        {
            return Err(DemoError::Check(format!(
                "the abort is not the analysis' doing: message {message:?}, analysis {analysis:?}"
            )));
        }
        println!(
            "   checked: aborted by the analysis ({failed} failed measurements, as the message \
             says),"
        );
        println!("   all traffic on stable v2.");
        self.followed = None;
        self.until("revert committed", Duration::from_secs(20), |r| {
            r.weir_state()
                .and_then(|w| w.git_revert)
                .is_some_and(|g| g.phase == "Committed")
        })
        .await?;
        let head = repo.head().map_err(setup)?;
        if head.id() == released
            || head.author().name().ok() != Some("Weir")
            || repo.read(OVERLAY).is_none_or(|t| t != overlay("v2"))
        {
            return Err(DemoError::Check(
                "the revert commit is not the head of main, or it changed more than the tag".into(),
            ));
        }
        println!("\n   The revert commit Weir pushed to main, as `git log -1 -p main` shows it:\n");
        for line in repo.log_patch_head().map_err(setup)?.lines() {
            println!("{}", format!("   {line}").trim_end());
        }
        notify::show(slack).await?;

        println!(
            "\n4. Argo CD syncs the revert: the template is v2 again, fast-tracked without steps."
        );
        self.sync(repo).await?;
        self.until("back on v2", Duration::from_secs(15), |r| {
            phase(r) == "Healthy"
                && r.status
                    .as_ref()
                    .and_then(|s| s.current_pod_hash.as_deref())
                    == Some(v2_hash.as_str())
        })
        .await?;
        println!("   checked: Healthy on v2, and Git says v2.");

        println!(
            "\n5. What the controller's /metrics says (Argo's names, so Argo dashboards read it):\n"
        );
        let text = exported.encode();
        let wanted = [
            r#"rollout_info{namespace="default",name="web",strategy="canary",traffic_router="Istio",phase="Completed"} 1"#,
            r#"rollout_events_total{namespace="default",name="web",type="Warning",reason="RolloutAborted"} 1"#,
            r#"weir_git_revert_total{result="Committed"} 1"#,
            "weir_abort_to_safe_seconds_count 1",
        ];
        for line in wanted {
            if !text.lines().any(|l| l == line) {
                return Err(DemoError::Check(format!("/metrics lacks {line}")));
            }
        }
        let shown = text.lines().filter(|l| {
            wanted.contains(l)
                || l.starts_with("weir_abort_to_safe_seconds_sum")
                || (l.starts_with("analysis_run_metric_phase{") && l.ends_with("} 1"))
        });
        for line in shown {
            for part in wrap_sample(line, 3) {
                println!("{part}");
            }
        }
        let path = repo.path().display();
        if options.keep {
            println!("\nThe Git repository is kept at {path}");
            println!("To see the revert commit:\n   git -C {path} log -p");
        } else {
            println!("\nThe Git repository is removed on exit; `weir demo --keep` keeps it.");
        }
        println!("\nDone in {:.1}s.", self.started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Plays Argo CD: the image the overlay declares goes into the Rollout.
    async fn sync(&self, repo: &DemoRepo) -> Result<(), DemoError> {
        let text = repo.read(OVERLAY).unwrap_or_default();
        let tag = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("newTag: "))
            .map(|t| t.split_whitespace().next().unwrap_or_default().to_string())
            .ok_or_else(|| DemoError::Check(format!("{OVERLAY} declares no newTag")))?;
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": format!("example.com/web:{tag}")}
        ]))
        .map_err(|e| DemoError::Check(e.to_string()))?;
        self.rollouts
            .patch("web", &PatchParams::default(), &Patch::<()>::Json(patch))
            .await?;
        Ok(())
    }

    async fn canary_weight(&self) -> Result<i64, DemoError> {
        let vs =
            serde_json::to_value(self.virtual_services.get("web-vsvc").await?).unwrap_or_default();
        Ok(weight_of(&vs, "web-canary"))
    }

    /// Prints timeline lines until `done` holds for the Rollout, or fails after `limit`.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Rollout) -> bool,
    ) -> Result<Rollout, DemoError> {
        let deadline = Instant::now() + limit;
        loop {
            let rollout = self.rollouts.get("web").await?;
            self.print_changes(&rollout).await?;
            if done(&rollout) {
                return Ok(rollout);
            }
            if Instant::now() > deadline {
                return Err(DemoError::Check(format!(
                    "{what} did not happen within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn print_changes(&mut self, rollout: &Rollout) -> Result<(), DemoError> {
        let status = rollout.status.clone().unwrap_or_default();
        let Some(phase) = status.phase.clone().filter(|p| !p.is_empty()) else {
            // The controller has not written a status yet: nothing true to show.
            return Ok(());
        };
        let vs =
            serde_json::to_value(self.virtual_services.get("web-vsvc").await?).unwrap_or_default();
        let steps = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .and_then(|c| c.steps.clone())
            .unwrap_or_default();
        let rs_list = self
            .replica_sets
            .list(&ListParams::default().labels("app=web"))
            .await?;
        let find = |hash: &Option<String>| {
            rs_list.items.iter().find(|rs| {
                hash.is_some()
                    && rs
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("rollouts-pod-template-hash"))
                        == hash.as_ref()
            })
        };
        let side = |rs: &ReplicaSet| Side {
            tag: rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.as_deref())
                .and_then(|i| i.rsplit(':').next())
                .unwrap_or_default()
                .to_string(),
            available: rs
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0),
            desired: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        };
        let on_stable = status.current_pod_hash == status.stable_rs;
        let current_revision = find(&status.current_pod_hash)
            .and_then(|rs| rs.metadata.annotations.as_ref()?.get(REVISION).cloned());
        let index = status.current_step_index.unwrap_or(0);
        let progress = if status.abort.unwrap_or(false) {
            Progress::Aborted
        } else if on_stable && current_revision.as_deref() == Some("1") {
            Progress::FirstRevision {
                revision: "1".into(),
            }
        } else if steps.is_empty() {
            Progress::NoSteps
        } else {
            Progress::Step {
                index,
                total: steps.len(),
                text: usize::try_from(index)
                    .ok()
                    .and_then(|i| steps.get(i))
                    .map(describe)
                    .unwrap_or_else(|| "done".into()),
            }
        };
        let snapshot = Snapshot {
            phase,
            progress,
            message: status.message.clone().unwrap_or_default(),
            stable_weight: weight_of(&vs, "web-stable"),
            canary_weight: weight_of(&vs, "web-canary"),
            stable: find(&status.stable_rs).map(side),
            canary: (!on_stable)
                .then(|| find(&status.current_pod_hash).map(side))
                .flatten(),
        };
        if let Some(current) = status
            .canary
            .as_ref()
            .and_then(|c| c.current_step_analysis_run_status.as_ref())
        {
            self.followed = Some(current.name.clone());
        }
        let analysis = match &self.followed {
            Some(name) => self.runs.get_opt(name).await?.as_ref().map(summarize),
            None => None,
        };
        if self.weights.last() != Some(&snapshot.canary_weight) {
            self.weights.push(snapshot.canary_weight);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        if self.last.as_ref() != Some(&snapshot) {
            for line in render(elapsed, &snapshot) {
                println!("{line}");
            }
            self.last = Some(snapshot);
        }
        if let Some(a) = analysis
            && self.last_analysis.as_ref() != Some(&a)
        {
            for line in render_analysis(elapsed, &a) {
                println!("{line}");
            }
            self.last_analysis = Some(a);
        }
        Ok(())
    }
}

/// The run's phase and every measurement of the metric that decides it: the first failed or
/// errored metric, else the first metric.
fn summarize(run: &AnalysisRun) -> Analysis {
    let status = run.status.clone().unwrap_or_default();
    let results = status.metric_results.unwrap_or_default();
    let deciding = results
        .iter()
        .find(|m| m.phase == "Failed" || m.phase == "Error")
        .or(results.first());
    Analysis {
        phase: if status.phase.is_empty() {
            "Pending".into()
        } else {
            status.phase
        },
        metric: deciding.map(|m| m.name.clone()).unwrap_or_default(),
        measurements: deciding
            .and_then(|m| m.measurements.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.value.unwrap_or_default(), m.phase))
            .collect(),
    }
}

/// A Prometheus sample line, broken after label commas to fit [`WIDTH`] columns; continuation
/// lines line up after the `{`.
fn wrap_sample(line: &str, indent: usize) -> Vec<String> {
    let first = format!("{}{line}", " ".repeat(indent));
    if first.chars().count() <= WIDTH {
        return vec![first];
    }
    let hang = indent + line.find('{').map_or(0, |i| i + 1);
    let mut parts = line.split_inclusive(',');
    let mut lines = vec![format!(
        "{}{}",
        " ".repeat(indent),
        parts.next().unwrap_or_default()
    )];
    for part in parts {
        match lines.last_mut() {
            Some(last) if last.chars().count() + part.chars().count() <= WIDTH => {
                last.push_str(part)
            }
            _ => lines.push(format!("{}{part}", " ".repeat(hang))),
        }
    }
    lines
}

fn phase(rollout: &Rollout) -> &str {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn weight_of(vs: &Value, host: &str) -> i64 {
    vs.pointer("/spec/http/0/route")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r.pointer("/destination/host").and_then(Value::as_str) == Some(host))
        .and_then(|r| r["weight"].as_i64())
        .unwrap_or(0)
}
