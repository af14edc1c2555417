//! What the views say about a Rollout and its objects, derived the way Argo's plugin derives it
//! (pkg/kubectl-argo-rollouts/info): phase and message, step, set and actual weight, images,
//! ReplicaSet health, pod status and AnalysisRun counts. Pure functions of the fetched objects.

use super::age::human_duration;
use super::style::{
    ICON_BAD, ICON_NEUTRAL, ICON_OK, ICON_PROGRESSING, ICON_UNKNOWN, ICON_WARNING, TAG_CANARY,
    TAG_STABLE, analysis_icon,
};
use crate::api::labels::{POD_TEMPLATE_HASH, REVISION, SCALE_DOWN_DEADLINE};
use crate::api::{AnalysisRun, Rollout, RolloutStatus};
use crate::rollout::conditions;
use crate::rollout::steps::set_weight_at;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

// A static default rather than a literal: other fields may be added to the status type.
static NO_STATUS: LazyLock<RolloutStatus> = LazyLock::new(RolloutStatus::default);

pub fn status(rollout: &Rollout) -> &RolloutStatus {
    rollout.status.as_ref().unwrap_or(&NO_STATUS)
}

/// Argo's `GetRolloutPhase`: what a client should show. Until the controller has seen the latest
/// spec (or a cleared pause), the stored phase is stale, so it reports Progressing instead.
pub fn phase(rollout: &Rollout) -> (String, String) {
    let status = status(rollout);
    if !generation_observed(rollout) {
        return (
            conditions::PHASE_PROGRESSING.to_string(),
            "waiting for rollout spec update to be observed".to_string(),
        );
    }
    if status.controller_pause == Some(true)
        && status.pause_conditions.as_ref().is_none_or(Vec::is_empty)
    {
        return (
            conditions::PHASE_PROGRESSING.to_string(),
            "waiting for rollout to unpause".to_string(),
        );
    }
    if let Some(phase) = status.phase.as_deref().filter(|p| !p.is_empty()) {
        return (
            phase.to_string(),
            status.message.clone().unwrap_or_default(),
        );
    }
    let routed = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .is_some_and(|c| c.traffic_routing.is_some());
    let (phase, message) = conditions::phase(&rollout.spec, status, routed);
    (phase.to_string(), message)
}

fn generation_observed(rollout: &Rollout) -> bool {
    let observed = status(rollout)
        .observed_generation
        .as_deref()
        .and_then(|g| g.parse::<i64>().ok());
    // Argo treats an unparsable observedGeneration (old hash format, or none yet) as observed.
    match (observed, rollout.metadata.generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        _ => true,
    }
}

pub fn strategy(rollout: &Rollout) -> Option<&'static str> {
    if rollout.spec.strategy.canary.is_some() {
        Some("Canary")
    } else if rollout.spec.strategy.blue_green.is_some() {
        Some("BlueGreen")
    } else {
        None
    }
}

fn step_count(rollout: &Rollout) -> usize {
    rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.steps.as_ref())
        .map_or(0, Vec::len)
}

/// "index/count" when the Rollout has steps and the controller has set an index.
pub fn step(rollout: &Rollout) -> Option<String> {
    let count = step_count(rollout);
    let index = status(rollout).current_step_index?;
    (count > 0).then(|| format!("{index}/{count}"))
}

/// Argo's `GetCurrentCanaryStep`: the index of the step in progress, if any is.
pub fn current_step(rollout: &Rollout) -> Option<usize> {
    let count = step_count(rollout);
    let index = usize::try_from(status(rollout).current_step_index.unwrap_or(0)).unwrap_or(0);
    (index < count).then_some(index)
}

/// Argo's `GetCurrentSetWeight`: the weight the steps ask for now (not what traffic gets).
pub fn set_weight(rollout: &Rollout) -> i32 {
    if status(rollout).abort == Some(true) {
        return 0;
    }
    let steps = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.steps.as_deref())
        .unwrap_or_default();
    match current_step(rollout) {
        Some(index) => set_weight_at(steps, index),
        None => 100,
    }
}

/// Share of traffic the canary gets: the weight the controller last wrote to the mesh when
/// traffic is routed, the canary's share of available pods otherwise.
pub fn actual_weight(rollout: &Rollout, replica_sets: &[ReplicaSetInfo]) -> String {
    if current_step(rollout).is_none() {
        return "100".to_string();
    }
    let status = status(rollout);
    let available = status.available_replicas.unwrap_or(0);
    if available <= 0 {
        return "0".to_string();
    }
    let routed = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .is_some_and(|c| c.traffic_routing.is_some());
    if routed {
        return status
            .canary
            .as_ref()
            .and_then(|c| c.weights.as_ref())
            .map_or_else(|| set_weight(rollout), |w| w.canary.weight)
            .to_string();
    }
    replica_sets
        .iter()
        .rfind(|rs| rs.canary)
        .map_or(0, |rs| rs.available * 100 / available)
        .to_string()
}

/// Desired replicas (Argo's default is 1).
pub fn desired(rollout: &Rollout) -> i32 {
    rollout.spec.replicas.unwrap_or(1)
}

fn owned_by(meta: &ObjectMeta, uids: &[&str]) -> Option<String> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| uids.contains(&o.uid.as_str()))
        .map(|o| o.uid.clone())
}

fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub name: String,
    pub created: Option<Time>,
    pub status: String,
    pub icon: &'static str,
    pub ready: String,
    pub restarts: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSetInfo {
    pub name: String,
    pub created: Option<Time>,
    pub revision: i64,
    pub status: &'static str,
    pub icon: &'static str,
    pub stable: bool,
    pub canary: bool,
    /// Raw `scale-down-deadline` annotation, when set.
    pub scale_down_deadline: Option<String>,
    pub replicas: i32,
    pub available: i32,
    pub images: Vec<String>,
    pub pods: Vec<PodInfo>,
}

impl ReplicaSetInfo {
    /// INFO tags in Argo's order: stable/canary, then `delay:<time left|passed>`.
    pub fn tags(&self, now: Timestamp) -> Vec<String> {
        let mut tags = Vec::new();
        if self.stable {
            tags.push(TAG_STABLE.to_string());
        }
        if self.canary {
            tags.push(TAG_CANARY.to_string());
        }
        if let Some(deadline) = &self.scale_down_deadline {
            tags.push(format!("delay:{}", scale_down_delay(deadline, now)));
        }
        tags
    }
}

fn scale_down_delay(deadline: &str, now: Timestamp) -> String {
    match deadline.parse::<Timestamp>() {
        Ok(at) if at < now => "passed".to_string(),
        Ok(at) => human_duration(now.duration_until(at)),
        Err(_) => String::new(),
    }
}

/// Argo's `getReplicaSetHealth`.
fn replica_set_health(rs: &ReplicaSet) -> &'static str {
    let spec_replicas = rs.spec.as_ref().and_then(|s| s.replicas);
    let status = rs.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    if rs.metadata.generation.unwrap_or(0) > observed {
        return "Progressing";
    }
    let failed = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "ReplicaFailure" && c.status == "True");
    if failed {
        return "ReplicaFailure";
    }
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    if spec_replicas.is_some_and(|r| available < r) {
        return "Progressing";
    }
    if spec_replicas == Some(0) {
        return "ScaledDown";
    }
    "Healthy"
}

fn replica_set_icon(status: &str) -> &'static str {
    match status {
        "Progressing" => ICON_PROGRESSING,
        "Healthy" => ICON_OK,
        "ReplicaFailure" => ICON_BAD,
        "ScaledDown" => ICON_NEUTRAL,
        _ => " ",
    }
}

/// The Rollout's ReplicaSets (owner-checked), newest revision first, each with its pods.
pub fn replica_sets(
    rollout: &Rollout,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
) -> Vec<ReplicaSetInfo> {
    let rollout_uid = rollout.metadata.uid.as_deref().unwrap_or_default();
    let status = status(rollout);
    let canary_strategy = rollout.spec.strategy.canary.is_some();
    let mut infos: Vec<(String, ReplicaSetInfo)> = replica_sets
        .iter()
        .filter(|rs| owned_by(&rs.metadata, &[rollout_uid]).is_some())
        .map(|rs| {
            let hash = rs
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH))
                .cloned()
                .unwrap_or_default();
            let stable = canary_strategy && status.stable_rs.as_deref() == Some(hash.as_str());
            let canary = canary_strategy
                && !stable
                && status.current_pod_hash.as_deref() == Some(hash.as_str());
            let template_spec = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref());
            let health = replica_set_health(rs);
            let info = ReplicaSetInfo {
                name: rs.metadata.name.clone().unwrap_or_default(),
                created: rs.metadata.creation_timestamp.clone(),
                revision: revision(&rs.metadata),
                status: health,
                icon: replica_set_icon(health),
                stable,
                canary,
                scale_down_deadline: rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(SCALE_DOWN_DEADLINE))
                    .filter(|d| !d.is_empty())
                    .cloned(),
                replicas: rs.status.as_ref().map_or(0, |s| s.replicas),
                available: rs
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0),
                images: template_spec
                    .map(|s| {
                        s.containers
                            .iter()
                            .filter_map(|c| c.image.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
                pods: Vec::new(),
            };
            (rs.metadata.uid.clone().unwrap_or_default(), info)
        })
        .collect();
    let uids: Vec<String> = infos.iter().map(|(uid, _)| uid.clone()).collect();
    let uid_refs: Vec<&str> = uids.iter().map(String::as_str).collect();
    for pod in pods {
        if let Some(owner) = owned_by(&pod.metadata, &uid_refs)
            && let Some((_, info)) = infos.iter_mut().find(|(uid, _)| *uid == owner)
        {
            info.pods.push(pod_info(pod));
        }
    }
    let mut infos: Vec<ReplicaSetInfo> = infos.into_iter().map(|(_, info)| info).collect();
    for info in &mut infos {
        info.pods.sort_by(|a, b| {
            time_key(&a.created)
                .cmp(&time_key(&b.created))
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    infos.sort_by(|a, b| {
        b.revision
            .cmp(&a.revision)
            .then_with(|| a.name.cmp(&b.name))
    });
    infos
}

fn time_key(time: &Option<Time>) -> Option<Timestamp> {
    time.as_ref().map(|t| t.0)
}

/// Argo's `newPodInfo` (itself kubectl's STATUS column logic).
pub fn pod_info(pod: &Pod) -> PodInfo {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let total = spec.map_or(0, |s| s.containers.len());
    let mut reason = status
        .and_then(|s| s.reason.clone().filter(|r| !r.is_empty()))
        .or_else(|| status.and_then(|s| s.phase.clone()))
        .unwrap_or_default();
    let mut restarts = 0;
    let mut ready = 0;
    let init_containers = spec.and_then(|s| s.init_containers.as_ref());
    let sidecar = |name: &str| {
        init_containers
            .into_iter()
            .flatten()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    let init_total = init_containers.map_or(0, Vec::len);
    let mut initializing = false;
    for (i, container) in status
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        restarts += container.restart_count;
        let state = container.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting_reason = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty());
        if let Some(t) = terminated {
            if t.exit_code == 0 {
                continue;
            }
            reason = match (t.reason.as_deref().filter(|r| !r.is_empty()), t.signal) {
                (Some(r), _) => format!("Init:{r}"),
                (None, Some(signal)) if signal != 0 => format!("Init:Signal:{signal}"),
                (None, _) => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if sidecar(&container.name) && container.started == Some(true) {
            if container.ready {
                continue;
            }
        } else if let Some(r) = waiting_reason.filter(|r| *r != "PodInitializing") {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{init_total}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut running = false;
        for container in status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .rev()
        {
            restarts += container.restart_count;
            let state = container.state.as_ref();
            let waiting = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(r) = waiting {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = match (t.reason.as_deref().filter(|r| !r.is_empty()), t.signal) {
                    (Some(r), _) => r.to_string(),
                    (None, Some(signal)) if signal != 0 => format!("Signal:{signal}"),
                    (None, _) => format!("ExitCode:{}", t.exit_code),
                };
            } else if container.ready && state.and_then(|s| s.running.as_ref()).is_some() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = "Running".to_string();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = if status.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            "Unknown".to_string()
        } else {
            "Terminating".to_string()
        };
    }
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        created: pod.metadata.creation_timestamp.clone(),
        icon: pod_icon(&reason),
        status: reason,
        ready: format!("{ready}/{total}"),
        restarts,
    }
}

fn pod_icon(status: &str) -> &'static str {
    if status.starts_with("Init:") {
        return ICON_PROGRESSING;
    }
    if status.starts_with("Signal:") || status.starts_with("ExitCode:") {
        return ICON_BAD;
    }
    if status.ends_with("Error") || status.starts_with("Err") {
        return ICON_WARNING;
    }
    match status {
        "Pending" | "Terminating" | "ContainerCreating" => ICON_PROGRESSING,
        "Running" | "Completed" => ICON_OK,
        "Failed" | "InvalidImageName" | "CrashLoopBackOff" => ICON_BAD,
        "ImagePullBackOff" | "RegistryUnavailable" => ICON_WARNING,
        "Unknown" => ICON_UNKNOWN,
        _ => " ",
    }
}

/// Images running in ReplicaSets that have pods, with their stable/canary tags, sorted by image.
pub fn images(replica_sets: &[ReplicaSetInfo]) -> Vec<(String, Vec<String>)> {
    let mut images: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rs in replica_sets.iter().filter(|rs| rs.replicas > 0) {
        for image in &rs.images {
            let tags = images.entry(image.clone()).or_default();
            if rs.canary {
                tags.insert(TAG_CANARY.to_string());
            }
            if rs.stable {
                tags.insert(TAG_STABLE.to_string());
            }
        }
    }
    images
        .into_iter()
        .map(|(image, tags)| (image, tags.into_iter().collect()))
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRunInfo {
    pub name: String,
    pub created: Option<Time>,
    pub revision: i64,
    pub status: String,
    pub icon: &'static str,
    pub counts: Counts,
}

/// Measurement outcomes summed over metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub successful: i32,
    pub failed: i32,
    pub inconclusive: i32,
    pub error: i32,
}

/// A run's phase; a run the analysis controller has not picked up yet has none and is Pending.
pub fn run_phase(run: &AnalysisRun) -> String {
    run.status
        .as_ref()
        .map(|s| s.phase.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Pending".to_string())
}

pub fn run_counts(run: &AnalysisRun) -> Counts {
    let mut counts = Counts::default();
    for result in run
        .status
        .as_ref()
        .and_then(|s| s.metric_results.as_ref())
        .into_iter()
        .flatten()
    {
        counts.successful += result.successful.unwrap_or(0);
        counts.failed += result.failed.unwrap_or(0);
        counts.inconclusive += result.inconclusive.unwrap_or(0);
        counts.error += result.error.unwrap_or(0);
    }
    counts
}

/// The Rollout's AnalysisRuns (owner-checked): newest revision first, then oldest first.
pub fn analysis_runs(rollout: &Rollout, runs: &[AnalysisRun]) -> Vec<AnalysisRunInfo> {
    let rollout_uid = rollout.metadata.uid.as_deref().unwrap_or_default();
    let mut infos: Vec<AnalysisRunInfo> = runs
        .iter()
        .filter(|run| owned_by(&run.metadata, &[rollout_uid]).is_some())
        .map(|run| {
            let status = run_phase(run);
            AnalysisRunInfo {
                name: run.metadata.name.clone().unwrap_or_default(),
                created: run.metadata.creation_timestamp.clone(),
                revision: revision(&run.metadata),
                icon: analysis_icon(&status),
                status,
                counts: run_counts(run),
            }
        })
        .collect();
    infos.sort_by(|a, b| {
        b.revision
            .cmp(&a.revision)
            .then_with(|| time_key(&a.created).cmp(&time_key(&b.created)))
            .then_with(|| b.name.cmp(&a.name))
    });
    infos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{CanaryStep, CanaryStrategy, RolloutSpec};

    fn rollout(steps: Vec<CanaryStep>, index: Option<i32>, abort: bool) -> Rollout {
        let mut rollout = Rollout::new(
            "web",
            RolloutSpec {
                strategy: crate::api::rollout::RolloutStrategy {
                    canary: Some(Box::new(CanaryStrategy {
                        steps: Some(steps),
                        ..Default::default()
                    })),
                    blue_green: None,
                },
                ..Default::default()
            },
        );
        rollout.status = Some(RolloutStatus {
            current_step_index: index,
            abort: abort.then_some(true),
            ..Default::default()
        });
        rollout
    }

    fn weight(w: i32) -> CanaryStep {
        CanaryStep {
            set_weight: Some(w),
            ..Default::default()
        }
    }

    fn pause() -> CanaryStep {
        CanaryStep {
            pause: Some(Default::default()),
            ..Default::default()
        }
    }

    #[test]
    fn set_weight_follows_argo() {
        let steps = vec![weight(20), pause(), weight(50)];
        assert_eq!(set_weight(&rollout(steps.clone(), Some(1), false)), 20);
        assert_eq!(set_weight(&rollout(steps.clone(), Some(3), false)), 100);
        assert_eq!(set_weight(&rollout(steps.clone(), None, false)), 20);
        assert_eq!(set_weight(&rollout(steps, Some(2), true)), 0);
        assert_eq!(set_weight(&rollout(vec![], None, false)), 100);
    }

    #[test]
    fn stale_generation_reads_as_progressing() {
        let mut r = rollout(vec![weight(20)], Some(1), false);
        r.metadata.generation = Some(3);
        if let Some(s) = r.status.as_mut() {
            s.observed_generation = Some("2".into());
            s.phase = Some("Healthy".into());
        }
        assert_eq!(
            phase(&r).1,
            "waiting for rollout spec update to be observed"
        );
        if let Some(s) = r.status.as_mut() {
            s.observed_generation = Some("3".into());
        }
        assert_eq!(phase(&r), ("Healthy".to_string(), String::new()));
    }
}
