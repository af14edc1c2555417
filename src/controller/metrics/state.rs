//! Series describing objects as they are now (`rollout_info`, `analysis_run_metric_phase`, ...),
//! computed from the controller's caches at scrape time, the way Argo's collectors read their
//! listers. Everything here is a pure function of one object so the label values can be
//! checked against Argo's without a cluster.

use crate::api::analysis::{AnalysisRun, Metric};
use crate::api::rollout::Rollout;
use crate::rollout::conditions::{
    INVALID_SPEC, PROGRESSING, REASON_ABORTED, REASON_DEADLINE, REASON_NEW_RS_AVAILABLE,
    REASON_PAUSED,
};

/// Argo's reason for a ReplicaSet that could not be created (`conditions.FailedRSCreateReason`).
const REASON_RS_CREATE_ERROR: &str = "ReplicaSetCreateError";

/// Phases of the deprecated `rollout_phase` series, in Argo's order.
pub const ROLLOUT_PHASES: [&str; 6] = [
    "Completed",
    "Progressing",
    "Paused",
    "Timeout",
    "Error",
    "Abort",
];

/// Phases of the per-phase AnalysisRun series, in Argo's order.
pub const ANALYSIS_PHASES: [&str; 6] = [
    "Pending",
    "Error",
    "Failed",
    "Successful",
    "Running",
    "Inconclusive",
];

/// The `phase` label of `rollout_info`: Argo derives it from the Progressing condition's
/// reason (and InvalidSpec), not from `status.phase`, so dashboards see `Completed`/`Abort`.
pub fn rollout_phase(rollout: &Rollout) -> &'static str {
    let conditions = rollout.status.as_ref().and_then(|s| s.conditions.as_ref());
    let find = |type_: &str| conditions.and_then(|c| c.iter().find(|c| c.type_ == type_));
    if find(INVALID_SPEC).is_some() {
        return "InvalidSpec";
    }
    match find(PROGRESSING).map(|c| c.reason.as_str()) {
        Some(REASON_NEW_RS_AVAILABLE) => "Completed",
        Some(REASON_PAUSED) => "Paused",
        Some(REASON_RS_CREATE_ERROR) => "Error",
        Some(REASON_DEADLINE) => "Timeout",
        Some(REASON_ABORTED) => "Abort",
        _ => "Progressing",
    }
}

/// `(strategy, traffic_router)` labels as Argo names them.
pub fn strategy_and_router(rollout: &Rollout) -> (&'static str, &'static str) {
    let strategy = &rollout.spec.strategy;
    if strategy.blue_green.is_some() {
        return ("blueGreen", "");
    }
    match &strategy.canary {
        None => ("none", ""),
        Some(canary) => match &canary.traffic_routing {
            Some(routing) if routing.istio.is_some() => ("canary", "Istio"),
            _ => ("canary", ""),
        },
    }
}

/// `(available, unavailable, desired, updated)` replicas, as Argo's gauges compute them.
pub fn replica_counts(rollout: &Rollout) -> [i64; 4] {
    let status = rollout.status.as_ref();
    let read = |f: fn(&crate::api::rollout::RolloutStatus) -> Option<i32>| {
        i64::from(status.and_then(f).unwrap_or(0))
    };
    let available = read(|s| s.available_replicas);
    let replicas = read(|s| s.replicas);
    let desired = i64::from(rollout.spec.replicas.unwrap_or(1));
    [
        available,
        replicas - available,
        desired,
        read(|s| s.updated_replicas),
    ]
}

/// The provider type label (`Prometheus`, `Web`, `Job`, ...) of a metric.
pub fn metric_type(metric: &Metric) -> String {
    if metric.provider.prometheus.is_some() {
        return "Prometheus".to_string();
    }
    let Some(name) = metric.provider.other.keys().next() else {
        return String::new();
    };
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// One row of `analysis_run_metric_phase`: metric, type, dry_run and its current phase
/// (empty until measured, which Argo reports as Pending).
#[derive(Debug, PartialEq, Eq)]
pub struct MetricPhase {
    pub metric: String,
    pub type_: String,
    pub dry_run: bool,
    pub phase: String,
}

pub fn metric_phases(run: &AnalysisRun) -> Vec<MetricPhase> {
    let results = run.status.as_ref().and_then(|s| s.metric_results.as_ref());
    run.spec
        .metrics
        .iter()
        .map(|metric| {
            let result = results.and_then(|r| r.iter().find(|r| r.name == metric.name));
            MetricPhase {
                metric: metric.name.clone(),
                type_: metric_type(metric),
                dry_run: result.and_then(|r| r.dry_run).unwrap_or(false),
                phase: match result.map(|r| r.phase.as_str()) {
                    None | Some("") => "Pending".to_string(),
                    Some(phase) => phase.to_string(),
                },
            }
        })
        .collect()
}

/// The run's phase, with "not yet assessed" reported as Pending like Argo.
pub fn run_phase(run: &AnalysisRun) -> &str {
    match run.status.as_ref().map(|s| s.phase.as_str()) {
        None | Some("") => "Pending",
        Some(phase) => phase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(yaml: &str) -> Rollout {
        yaml_serde::from_str(yaml).expect("rollout fixture parses")
    }

    const CANARY_ISTIO: &str = "
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: web:1}]}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting: {istio: {virtualService: {name: web}}}
";

    fn with_status(status: &str) -> Rollout {
        rollout(&format!("{CANARY_ISTIO}status: {status}\n"))
    }

    #[test]
    fn phase_follows_argo_condition_reasons() {
        let cases = [
            ("{}", "Progressing"),
            (
                "{conditions: [{type: Progressing, status: 'True', reason: NewReplicaSetAvailable}]}",
                "Completed",
            ),
            (
                "{conditions: [{type: Progressing, status: Unknown, reason: RolloutPaused}]}",
                "Paused",
            ),
            (
                "{conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}]}",
                "Timeout",
            ),
            (
                "{conditions: [{type: Progressing, status: 'False', reason: RolloutAborted}]}",
                "Abort",
            ),
            (
                "{conditions: [{type: Progressing, status: 'False', reason: ReplicaSetCreateError}]}",
                "Error",
            ),
            (
                "{conditions: [{type: Progressing, status: 'True', reason: ReplicaSetUpdated}]}",
                "Progressing",
            ),
            (
                "{conditions: [{type: Progressing, status: 'True', reason: NewReplicaSetAvailable}, {type: InvalidSpec, status: 'True', reason: InvalidSpec}]}",
                "InvalidSpec",
            ),
        ];
        for (status, want) in cases {
            assert_eq!(rollout_phase(&with_status(status)), want, "status {status}");
        }
    }

    #[test]
    fn strategy_and_router_labels() {
        assert_eq!(
            strategy_and_router(&rollout(CANARY_ISTIO)),
            ("canary", "Istio")
        );
        let plain = CANARY_ISTIO.replace(
            "      trafficRouting: {istio: {virtualService: {name: web}}}\n",
            "",
        );
        assert_eq!(strategy_and_router(&rollout(&plain)), ("canary", ""));
    }

    #[test]
    fn replicas_as_argo_counts_them() {
        let r = with_status("{replicas: 5, availableReplicas: 3, updatedReplicas: 1}");
        assert_eq!(replica_counts(&r), [3, 2, 4, 1]);
        let fresh = rollout(&CANARY_ISTIO.replace("  replicas: 4\n", ""));
        assert_eq!(
            replica_counts(&fresh),
            [0, 0, 1, 0],
            "spec.replicas defaults to 1"
        );
    }

    #[test]
    fn metric_phases_default_to_pending_and_carry_dry_run() {
        let run: AnalysisRun = yaml_serde::from_str(
            "
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: web-1, namespace: shop}
spec:
  metrics:
  - {name: success-rate, provider: {prometheus: {query: up}}}
  - {name: latency, provider: {prometheus: {query: up}}}
  - {name: smoke, provider: {web: {url: 'http://x'}}}
status:
  phase: Running
  metricResults:
  - {name: success-rate, phase: Failed}
  - {name: latency, phase: Running, dryRun: true}
",
        )
        .unwrap();
        let phases = metric_phases(&run);
        let rows: Vec<_> = phases
            .iter()
            .map(|p| {
                (
                    p.metric.as_str(),
                    p.type_.as_str(),
                    p.dry_run,
                    p.phase.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("success-rate", "Prometheus", false, "Failed"),
                ("latency", "Prometheus", true, "Running"),
                ("smoke", "Web", false, "Pending"),
            ]
        );
        assert_eq!(run_phase(&run), "Running");
    }
}
