//! The controller's Prometheus metrics, under Argo Rollouts' names and labels so existing
//! dashboards and alerts keep working, plus Weir's own (`weir_*`).
//!
//! Two kinds of series:
//! - recorded as things happen (reconcile durations, errors, events, Git reverts, abort-to-safe
//!   latency), kept per object and dropped when the object leaves the cache, so deleted
//!   Rollouts and pruned AnalysisRuns do not grow the series count forever;
//! - computed at scrape time from the caches (`rollout_info`, `analysis_run_info`, ...), as
//!   Argo's collectors read their listers (see [`state`]).

mod objects;
pub mod state;

use crate::api::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Metric};
use crate::api::rollout::Rollout;
use crate::rollout::failure::Category;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use objects::Objects;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What `/metrics` answers with. (`Registry::register` ends each help text with a period, so
/// registered help strings have none.)
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The target for abort-to-safe is 200 ms; buckets resolve well below and above it.
const ABORT_TO_SAFE_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    trigger: String,
    service: String,
    result: String,
}

/// The caches the scrape-time series are read from; attached once the controller starts.
#[derive(Clone)]
pub struct Sources {
    /// True once the caches completed their first list (until then every object looks deleted).
    pub synced: tokio::sync::watch::Receiver<bool>,
    pub rollouts: Store<Rollout>,
    pub analysis_runs: Store<AnalysisRun>,
    pub analysis_templates: Store<AnalysisTemplate>,
    pub cluster_analysis_templates: Option<Store<ClusterAnalysisTemplate>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while counting leaves the counts usable; metrics must never take the process down.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Handle the controller records into and the HTTP server encodes from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles, reconcile errors and Events of each Rollout, dropped with the Rollout.
    rollouts: Arc<Mutex<Objects>>,
    /// Reconciles and reconcile errors of each AnalysisRun, dropped with the run.
    runs: Arc<Mutex<Objects>>,
    git_reverts: Family<ResultLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
    notification_config_errors: Gauge,
    abort_to_safe: Histogram,
    sources: Arc<OnceLock<Sources>>,
    /// When this process judged an AnalysisRun Failed or Error: the start of abort-to-safe.
    failed_runs: Mutex<HashMap<(String, String), Instant>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sources")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let rollouts = Arc::<Mutex<Objects>>::default();
        let runs = Arc::<Mutex<Objects>>::default();
        let git_reverts = Family::<ResultLabels, Counter>::default();
        let notifications = Family::<NotificationLabels, Counter>::default();
        let notification_config_errors = Gauge::default();
        let abort_to_safe = Histogram::new(ABORT_TO_SAFE_BUCKETS);
        let sources = Arc::new(OnceLock::new());
        registry.register(
            "weir_git_revert",
            "Git revert attempts by result: the revert's phase (Committed, AlreadyReverted, Failed, Conflict)",
            git_reverts.clone(),
        );
        registry.register(
            "weir_notifications",
            "Notifications by trigger, service and result (sent, failed: given up after the \
             tries or refused by the receiver, dropped: the queue was full)",
            notifications.clone(),
        );
        registry.register(
            "weir_notification_config_errors",
            "Items of the notification ConfigMap that cannot be used (each is logged and an \
             Event on the ConfigMap)",
            notification_config_errors.clone(),
        );
        registry.register(
            "weir_abort_to_safe_seconds",
            "Seconds from learning of an abort (an AnalysisRun judged Failed/Error by this \
             process, otherwise the reconcile that saw it) to the VirtualService write that \
             sent all traffic to stable",
            abort_to_safe.clone(),
        );
        registry.register_collector(Box::new(StateCollector {
            sources: sources.clone(),
            rollouts: rollouts.clone(),
            runs: runs.clone(),
        }));
        Metrics {
            registry,
            rollouts,
            runs,
            git_reverts,
            notifications,
            notification_config_errors,
            abort_to_safe,
            sources,
            failed_runs: Mutex::default(),
        }
    }

    /// Lets scrapes read the controller's caches. Later calls are ignored: one controller per
    /// process.
    pub fn attach(&self, sources: Sources) {
        let _ = self.sources.set(sources);
    }

    pub fn rollout_reconciled(&self, namespace: &str, name: &str, took: Duration) {
        lock(&self.rollouts).reconciled(namespace, name, took.as_secs_f64());
    }

    pub fn analysis_run_reconciled(&self, namespace: &str, name: &str, took: Duration) {
        lock(&self.runs).reconciled(namespace, name, took.as_secs_f64());
    }

    /// A failed reconcile of a Rollout, or a failed write of its Git revert's result.
    pub fn rollout_reconcile_error(&self, namespace: &str, name: &str, category: Category) {
        lock(&self.rollouts).error(namespace, name, category);
    }

    pub fn analysis_run_reconcile_error(&self, namespace: &str, name: &str, category: Category) {
        lock(&self.runs).error(namespace, name, category);
    }

    /// One Event published for a Rollout (`type` is Normal or Warning).
    pub fn rollout_event(&self, namespace: &str, name: &str, type_: &str, reason: &str) {
        lock(&self.rollouts).event(namespace, name, type_, reason);
    }

    pub fn git_revert(&self, result: &str) {
        self.git_reverts
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// One notification's end (`sent`, `failed`, `dropped`).
    pub fn notification(&self, trigger: &str, service: &str, result: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                trigger: trigger.to_string(),
                service: service.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// How many items of the current notification config are unusable.
    pub fn notification_config_errors(&self, count: usize) {
        self.notification_config_errors
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// This process wrote Failed/Error as an AnalysisRun's phase.
    pub fn analysis_run_failed(&self, namespace: &str, name: &str) {
        lock(&self.failed_runs)
            .entry((namespace.to_string(), name.to_string()))
            .or_insert_with(Instant::now);
    }

    /// All traffic went back to stable at `safe_at` after an abort. `runs` are the failed runs
    /// that may have caused it; `noticed` is when the reconcile that made the write started.
    pub fn traffic_safe(
        &self,
        namespace: &str,
        runs: impl IntoIterator<Item = String>,
        noticed: Instant,
        safe_at: Instant,
    ) {
        let failed = lock(&self.failed_runs);
        let start = runs
            .into_iter()
            .filter_map(|run| failed.get(&(namespace.to_string(), run)))
            .min()
            .copied()
            .unwrap_or(noticed);
        drop(failed);
        self.abort_to_safe
            .observe(safe_at.saturating_duration_since(start).as_secs_f64());
    }

    /// The text exposition of every series; drops series of objects no longer cached first.
    pub fn encode(&self) -> String {
        self.prune();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn prune(&self) {
        let Some(sources) = self.sources.get() else {
            return;
        };
        if !*sources.synced.borrow() {
            return;
        }
        lock(&self.rollouts).retain(|namespace, name| {
            sources
                .rollouts
                .get(&ObjectRef::new(name).within(namespace))
                .is_some()
        });
        let run_cached = |namespace: &str, name: &str| {
            sources
                .analysis_runs
                .get(&ObjectRef::new(name).within(namespace))
                .is_some()
        };
        lock(&self.runs).retain(run_cached);
        lock(&self.failed_runs).retain(|(namespace, name), _| run_cached(namespace, name));
    }
}

/// Scrape-time series read from the caches, and the series recorded per object.
#[derive(Debug)]
struct StateCollector {
    sources: Arc<OnceLock<Sources>>,
    rollouts: Arc<Mutex<Objects>>,
    runs: Arc<Mutex<Objects>>,
}

/// Writes one gauge family: `rows` are label pairs and values.
fn gauges<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    rows: impl IntoIterator<Item = (Vec<(&'a str, String)>, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in rows {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

fn object_labels(namespace: String, name: String) -> Vec<(&'static str, String)> {
    vec![("namespace", namespace), ("name", name)]
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let rollouts = lock(&self.rollouts).clone();
            rollouts.encode_reconciles(
                &mut encoder,
                "rollout_reconcile",
                "Rollout reconciliation performance.",
            )?;
            rollouts.encode_events(&mut encoder, "rollout_events", "Count of rollout events.")?;
            rollouts.encode_errors(
                &mut encoder,
                "rollout_reconcile_error",
                "Error occurring during the rollout",
            )?;
        }
        {
            let runs = lock(&self.runs).clone();
            runs.encode_reconciles(
                &mut encoder,
                "analysis_run_reconcile",
                "Analysis Run reconciliation performance.",
            )?;
            runs.encode_errors(
                &mut encoder,
                "analysis_run_reconcile_error",
                "Error occurring during the analysis run",
            )?;
        }
        gauges(
            &mut encoder,
            "weir_controller_info",
            "Running Weir version",
            MetricType::Gauge,
            [(vec![("version", env!("CARGO_PKG_VERSION").to_string())], 1)],
        )?;
        let Some(sources) = self.sources.get() else {
            return Ok(());
        };
        encode_rollouts(&mut encoder, &sources.rollouts.state())?;
        encode_runs(&mut encoder, &sources.analysis_runs.state())?;
        let mut templates: Vec<(String, String, Vec<Metric>)> = sources
            .analysis_templates
            .state()
            .iter()
            .map(|t| {
                (
                    t.namespace().unwrap_or_default(),
                    t.name_any(),
                    t.spec.metrics.clone(),
                )
            })
            .collect();
        if let Some(cluster) = &sources.cluster_analysis_templates {
            templates.extend(
                cluster
                    .state()
                    .iter()
                    .map(|t| (String::new(), t.name_any(), t.spec.template.metrics.clone())),
            );
        }
        encode_templates(&mut encoder, &templates)
    }
}

fn encode_rollouts(
    encoder: &mut DescriptorEncoder,
    rollouts: &[Arc<Rollout>],
) -> Result<(), std::fmt::Error> {
    let ids = |r: &Rollout| object_labels(r.namespace().unwrap_or_default(), r.name_any());
    gauges(
        encoder,
        "rollout_info",
        "Information about rollout.",
        MetricType::Gauge,
        rollouts.iter().map(|r| {
            let (strategy, router) = state::strategy_and_router(r);
            let mut labels = ids(r);
            labels.extend([
                ("strategy", strategy.to_string()),
                ("traffic_router", router.to_string()),
                ("phase", state::rollout_phase(r).to_string()),
            ]);
            (labels, 1)
        }),
    )?;
    let replica_series = [
        (
            "rollout_info_replicas_available",
            "The number of available replicas per rollout.",
        ),
        (
            "rollout_info_replicas_unavailable",
            "The number of unavailable replicas per rollout.",
        ),
        (
            "rollout_info_replicas_desired",
            "The number of desired replicas per rollout.",
        ),
        (
            "rollout_info_replicas_updated",
            "The number of updated replicas per rollout.",
        ),
    ];
    for (i, (name, help)) in replica_series.into_iter().enumerate() {
        gauges(
            encoder,
            name,
            help,
            MetricType::Gauge,
            rollouts
                .iter()
                .map(|r| (ids(r), state::replica_counts(r)[i])),
        )?;
    }
    gauges(
        encoder,
        "rollout_phase",
        "Information on the state of the rollout (DEPRECATED - use rollout_info)",
        MetricType::Gauge,
        rollouts.iter().flat_map(|r| {
            let (strategy, _) = state::strategy_and_router(r);
            let phase = state::rollout_phase(r);
            state::ROLLOUT_PHASES.into_iter().map(move |p| {
                let mut labels = ids(r);
                labels.extend([("strategy", strategy.to_string()), ("phase", p.to_string())]);
                (labels, i64::from(p == phase))
            })
        }),
    )
}

fn encode_runs(
    encoder: &mut DescriptorEncoder,
    runs: &[Arc<AnalysisRun>],
) -> Result<(), std::fmt::Error> {
    let ids = |r: &AnalysisRun| object_labels(r.namespace().unwrap_or_default(), r.name_any());
    gauges(
        encoder,
        "analysis_run_info",
        "Information about analysis run.",
        MetricType::Gauge,
        runs.iter().map(|r| {
            let mut labels = ids(r);
            labels.push(("phase", state::run_phase(r).to_string()));
            (labels, 1)
        }),
    )?;
    gauges(
        encoder,
        "analysis_run_phase",
        "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
        MetricType::Gauge,
        runs.iter().flat_map(|r| {
            let phase = state::run_phase(r);
            state::ANALYSIS_PHASES.into_iter().map(move |p| {
                let mut labels = ids(r);
                labels.push(("phase", p.to_string()));
                (labels, i64::from(p == phase))
            })
        }),
    )?;
    gauges(
        encoder,
        "analysis_run_metric_type",
        "Information on the type of a specific metric in the Analysis Runs",
        MetricType::Gauge,
        runs.iter().flat_map(|r| {
            state::metric_phases(r).into_iter().map(move |m| {
                let mut labels = ids(r);
                labels.extend([("metric", m.metric), ("type", m.type_)]);
                (labels, 1)
            })
        }),
    )?;
    gauges(
        encoder,
        "analysis_run_metric_phase",
        "Information on the duration of a specific metric in the Analysis Run",
        MetricType::Gauge,
        runs.iter().flat_map(|r| {
            state::metric_phases(r).into_iter().flat_map(move |m| {
                state::ANALYSIS_PHASES.into_iter().map(move |p| {
                    let mut labels = ids(r);
                    labels.extend([
                        ("metric", m.metric.clone()),
                        ("type", m.type_.clone()),
                        ("dry_run", m.dry_run.to_string()),
                        ("phase", p.to_string()),
                    ]);
                    (labels, i64::from(p == m.phase))
                })
            })
        }),
    )
}

fn encode_templates(
    encoder: &mut DescriptorEncoder,
    templates: &[(String, String, Vec<Metric>)],
) -> Result<(), std::fmt::Error> {
    gauges(
        encoder,
        "analysis_template_info",
        "Information about analysis templates.",
        MetricType::Gauge,
        templates
            .iter()
            .map(|(ns, name, _)| (object_labels(ns.clone(), name.clone()), 1)),
    )?;
    gauges(
        encoder,
        "analysis_template_metric_info",
        "Information on metrics in analysis templates.",
        MetricType::Gauge,
        templates.iter().flat_map(|(ns, name, metrics)| {
            metrics.iter().map(move |m| {
                let mut labels = object_labels(ns.clone(), name.clone());
                labels.extend([("type", state::metric_type(m)), ("metric", m.name.clone())]);
                (labels, 1)
            })
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;
    use kube::runtime::watcher::Event;

    fn rollout(name: &str) -> Rollout {
        yaml_serde::from_str(&format!(
            "
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: web, image: web:1}}]}}}}
  strategy: {{canary: {{trafficRouting: {{istio: {{virtualService: {{name: web}}}}}}}}}}
status:
  replicas: 2
  availableReplicas: 2
  updatedReplicas: 2
  conditions: [{{type: Progressing, status: 'True', reason: NewReplicaSetAvailable}}]
"
        ))
        .unwrap()
    }

    fn run(name: &str) -> AnalysisRun {
        yaml_serde::from_str(&format!(
            "
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {{name: {name}, namespace: shop}}
spec: {{metrics: [{{name: error-rate, provider: {{prometheus: {{query: up}}}}}}]}}
status: {{phase: Failed, metricResults: [{{name: error-rate, phase: Failed}}]}}
"
        ))
        .unwrap()
    }

    /// Stores holding the given objects, reported as synced.
    fn sources(rollouts: Vec<Rollout>, runs: Vec<AnalysisRun>) -> Sources {
        fn filled<K>(objects: Vec<K>) -> Store<K>
        where
            K: kube::Resource<DynamicType = ()> + Clone + 'static,
        {
            let mut writer = Writer::<K>::default();
            let reader = writer.as_reader();
            writer.apply_watcher_event(&Event::Init);
            for object in objects {
                writer.apply_watcher_event(&Event::InitApply(object));
            }
            writer.apply_watcher_event(&Event::InitDone);
            reader
        }
        Sources {
            synced: tokio::sync::watch::channel(true).1,
            rollouts: filled(rollouts),
            analysis_runs: filled(runs),
            analysis_templates: filled(Vec::new()),
            cluster_analysis_templates: None,
        }
    }

    fn lines_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect()
    }

    #[test]
    fn exposes_argo_names_and_labels() {
        let metrics = Metrics::new();
        metrics.attach(sources(vec![rollout("web")], vec![run("web-1")]));
        metrics.rollout_reconciled("shop", "web", Duration::from_micros(700));
        metrics.rollout_reconcile_error("shop", "web", Category::Forbidden);
        metrics.rollout_event("shop", "web", "Warning", "RolloutAborted");
        metrics.analysis_run_reconciled("shop", "web-1", Duration::from_millis(3));
        metrics.git_revert("committed");
        let text = metrics.encode();

        assert_eq!(
            lines_of(&text, "rollout_info"),
            [
                r#"rollout_info{namespace="shop",name="web",strategy="canary",traffic_router="Istio",phase="Completed"} 1"#
            ]
        );
        assert_eq!(
            lines_of(&text, "rollout_info_replicas_desired"),
            [r#"rollout_info_replicas_desired{namespace="shop",name="web"} 2"#]
        );
        assert_eq!(
            lines_of(&text, "rollout_reconcile_error"),
            [r#"rollout_reconcile_error{namespace="shop",name="web",category="forbidden"} 1"#],
            "no _total suffix: Argo's name"
        );
        assert_eq!(
            lines_of(&text, "rollout_events_total"),
            [
                r#"rollout_events_total{namespace="shop",name="web",type="Warning",reason="RolloutAborted"} 1"#
            ]
        );
        assert!(
            text.contains(r#"rollout_reconcile_bucket{le="0.001",namespace="shop",name="web"} 1"#),
            "a 0.7 ms reconcile lands in the 1 ms bucket:\n{text}"
        );
        assert!(text.contains(r#"analysis_run_reconcile_count{namespace="shop",name="web-1"} 1"#));
        assert_eq!(
            lines_of(&text, "analysis_run_info"),
            [r#"analysis_run_info{namespace="shop",name="web-1",phase="Failed"} 1"#]
        );
        assert!(text.contains(
            r#"analysis_run_metric_phase{namespace="shop",name="web-1",metric="error-rate",type="Prometheus",dry_run="false",phase="Failed"} 1"#
        ));
        assert!(text.contains(
            r#"analysis_run_metric_phase{namespace="shop",name="web-1",metric="error-rate",type="Prometheus",dry_run="false",phase="Successful"} 0"#
        ));
        assert!(text.contains(r#"weir_git_revert_total{result="committed"} 1"#));
        assert!(text.contains("# TYPE weir_abort_to_safe_seconds histogram"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn series_of_deleted_objects_are_dropped() {
        let metrics = Metrics::new();
        metrics.attach(sources(vec![rollout("kept")], vec![]));
        for name in ["kept", "deleted"] {
            metrics.rollout_reconciled("shop", name, Duration::from_millis(1));
            metrics.rollout_reconcile_error("shop", name, Category::Conflict);
            metrics.rollout_event("shop", name, "Normal", "RolloutCompleted");
        }
        metrics.analysis_run_reconciled("shop", "pruned-run", Duration::from_millis(1));
        let text = metrics.encode();
        assert!(text.contains(r#"name="kept""#));
        assert!(!text.contains(r#"name="deleted""#), "{text}");
        assert!(!text.contains(r#"name="pruned-run""#), "{text}");
    }

    #[test]
    fn nothing_is_pruned_before_the_caches_sync() {
        let metrics = Metrics::new();
        let (_tx, syncing) = tokio::sync::watch::channel(false);
        metrics.attach(Sources {
            synced: syncing,
            ..sources(vec![], vec![])
        });
        metrics.rollout_reconcile_error("shop", "web", Category::Forbidden);
        assert!(metrics.encode().contains(
            r#"rollout_reconcile_error{namespace="shop",name="web",category="forbidden"} 1"#
        ));
    }

    #[test]
    fn abort_to_safe_starts_when_the_run_failed() {
        let metrics = Metrics::new();
        metrics.analysis_run_failed("shop", "web-1");
        std::thread::sleep(Duration::from_millis(20));
        // The reconcile noticed later than the run failed; the run's instant wins.
        let now = Instant::now();
        metrics.traffic_safe("shop", ["web-1".to_string()], now, now);
        let text = metrics.encode();
        assert!(
            text.contains("weir_abort_to_safe_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"weir_abort_to_safe_seconds_bucket{le="0.01"} 0"#),
            "measured from the failure, not from the reconcile:\n{text}"
        );
    }
}
