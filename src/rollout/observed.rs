//! What the planner sees: the Rollout's ReplicaSets and the routing objects it references,
//! read from reflector stores by the controller. Plain data, no client.

use crate::analysis::template::Templates;
use crate::api::analysis::AnalysisRun;
use crate::api::labels::{POD_TEMPLATE_HASH, REVISION, SCALE_DOWN_DEADLINE};
use crate::api::pod::PodSummary;
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::service::ServiceSummary;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// ReplicaSets owned by the Rollout. Shared with the cache they were read from (as are the
    /// pods and AnalysisRuns): observing clones pointers, not objects.
    pub replica_sets: Vec<Arc<ReplicaSetSummary>>,
    /// Services named by canaryService/stableService that exist, by name.
    pub services: BTreeMap<String, ServiceSummary>,
    /// VirtualServices named by the Rollout that exist, by (namespace, name), as stored JSON.
    pub virtual_services: BTreeMap<(String, String), Value>,
    /// The DestinationRule named by the Rollout, as stored JSON.
    pub destination_rule: Option<Value>,
    /// Pods of the Rollout's ReplicaSets (for `restartAt`).
    pub pods: Vec<Arc<PodSummary>>,
    /// AnalysisRuns owned by the Rollout.
    pub analysis_runs: Vec<Arc<AnalysisRun>>,
    /// AnalysisTemplates of the Rollout's namespace and ClusterAnalysisTemplates.
    pub templates: Templates,
    /// Controller settings for Git reverts (not observed; passed through so plan stays pure).
    pub revert_settings: crate::rollout::revert_request::RevertSettings,
    /// Writes for this Rollout that Weir's other loops could not make and are retrying: its
    /// AnalysisRuns' status, its Git revert's result.
    pub write_failures: Vec<crate::rollout::failure::WriteFailure>,
}

pub fn hash_of(rs: &ReplicaSetSummary) -> Option<&str> {
    rs.metadata
        .labels
        .as_ref()?
        .get(POD_TEMPLATE_HASH)
        .map(String::as_str)
}

pub fn revision_of(rs: &ReplicaSetSummary) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn spec_replicas(rs: &ReplicaSetSummary) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn available(rs: &ReplicaSetSummary) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn ready(rs: &ReplicaSetSummary) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub fn current(rs: &ReplicaSetSummary) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

pub fn scale_down_deadline(rs: &ReplicaSetSummary) -> Option<jiff::Timestamp> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(SCALE_DOWN_DEADLINE)?
        .parse()
        .ok()
}

pub fn name(rs: &ReplicaSetSummary) -> &str {
    rs.metadata.name.as_deref().unwrap_or_default()
}
