//! The Plan a reconcile executes, and `plan()`, the pure decision function:
//! `(rollout, observed, now) -> Plan`. No I/O and no clock reads happen here.

use super::observed::Observed;
use super::{canary, invalid, revision};
use crate::api::analysis::AnalysisRun;
use crate::api::rollout::{Rollout, RolloutStatus, WeirStatus};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// Change to an existing ReplicaSet: its replica count and/or annotations (None removes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaSetUpdate {
    pub name: String,
    pub replicas: Option<i32>,
    pub annotations: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServicePatch {
    pub namespace: String,
    pub name: String,
    pub patch: json_patch::Patch,
    /// Canary weight the patch sets, for events and logs.
    pub canary_weight: i32,
}

/// Everything one reconcile writes, in the order `apply` performs it: new ReplicaSet, Services,
/// DestinationRule, VirtualServices (traffic moves before pods go away), ReplicaSet scaling,
/// deletions, AnalysisRuns, then status and events.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub create_replica_set: Option<ReplicaSet>,
    /// Merge patches for Services by name.
    pub service_patches: Vec<(String, Value)>,
    pub destination_rule_patch: Option<(String, json_patch::Patch)>,
    pub virtual_service_patches: Vec<VirtualServicePatch>,
    pub replica_set_updates: Vec<ReplicaSetUpdate>,
    pub delete_replica_sets: Vec<String>,
    /// Pods to evict for `spec.restartAt`.
    pub evict_pods: Vec<String>,
    pub create_analysis_runs: Vec<AnalysisRun>,
    /// Runs to stop (`spec.terminate: true`).
    pub terminate_analysis_runs: Vec<String>,
    /// Completed runs beyond the history limits.
    pub delete_analysis_runs: Vec<String>,
    pub status: RolloutStatus,
    /// Weir's own state (Git revert, held images), written to the Rollout's
    /// `weir.dev/state` annotation when it differs from what the annotation holds.
    pub weir: Option<WeirStatus>,
    pub events: Vec<PlannedEvent>,
    pub requeue_after: Option<Duration>,
    /// This plan records a new abort (set only by `abort::abort`): its VirtualService writes
    /// are the ones that send traffic back to stable.
    pub aborting: bool,
}

impl Plan {
    pub(super) fn new(status: RolloutStatus, weir: Option<WeirStatus>) -> Self {
        Plan {
            status,
            weir,
            ..Default::default()
        }
    }

    pub(super) fn event(&mut self, type_: EventType, reason: &str, message: impl Into<String>) {
        self.events.push(PlannedEvent {
            type_,
            reason: reason.to_string(),
            message: message.into(),
        });
    }

    /// Keeps the earliest wake-up.
    pub(super) fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |d| d.min(after)));
    }

    /// True when the plan writes anything besides status.
    pub fn touches_cluster_objects(&self) -> bool {
        self.create_replica_set.is_some()
            || !self.service_patches.is_empty()
            || self.destination_rule_patch.is_some()
            || !self.virtual_service_patches.is_empty()
            || !self.replica_set_updates.is_empty()
            || !self.delete_replica_sets.is_empty()
            || !self.evict_pods.is_empty()
            || !self.create_analysis_runs.is_empty()
            || !self.terminate_analysis_runs.is_empty()
            || !self.delete_analysis_runs.is_empty()
    }
}

/// Decides what one reconcile of `rollout` does.
pub fn plan(rollout: &Rollout, observed: &Observed, now: Timestamp) -> Plan {
    let mut status = rollout.status.clone().unwrap_or_default();
    // Weir's state moved from `status.weir` (pruned by Argo's closed status schema) to an
    // annotation; a Rollout last written by an older Weir has it moved over by this plan.
    status.weir = None;
    let mut plan = Plan::new(status, rollout.weir_state());
    plan.status.observed_generation = rollout.metadata.generation.map(|g| g.to_string());
    report_write_failures(observed, now, &mut plan);
    let errors = invalid::collect_errors(rollout, observed);
    if !errors.is_empty() {
        invalid::plan_invalid(rollout, &errors, now, &mut plan);
        return plan;
    }
    invalid::clear(&mut plan);
    let Some(ctx) = canary::Context::new(rollout, observed, now) else {
        return plan;
    };
    super::takeover::plan_adoption(&ctx, &mut plan);
    if revision::needs_new_revision(&ctx, &plan.status) {
        revision::plan_new_revision(&ctx, &mut plan);
        if ctx.new_rs.is_none() {
            // The ReplicaSet must exist before anything can be scaled or routed to it.
            return plan;
        }
    }
    canary::plan_canary(&ctx, &mut plan);
    plan
}

/// Writes other loops keep failing to make show as the `ReconcileError` condition; once they
/// go through, it goes.
fn report_write_failures(observed: &Observed, now: Timestamp, plan: &mut Plan) {
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now);
    match observed.write_failures.first() {
        Some(failure) => {
            if super::failure::report(&mut plan.status, failure, &now) {
                plan.event(
                    EventType::Warning,
                    super::failure::REASON_RECONCILE_ERROR,
                    failure.describe(),
                );
            }
        }
        None => super::failure::clear(&mut plan.status),
    }
}
