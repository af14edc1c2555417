//! The canary step machine for an existing revision, in Argo's order: retry (`retry.rs`),
//! analysis and abort (`analysis.rs`, `abort.rs`), replica counts (`scaling.rs`), promotion,
//! Services/subsets and weights (`routing.rs`), step advance (`advance.rs`), scaling, status.
//! Traffic only moves onto pods that are available, and after an abort the canary weight is 0
//! in the same plan that notices the abort.

use super::hash::{pod_template_hash, steps_hash};
use super::observed::{Observed, available, hash_of, revision_of, spec_replicas};
use super::plan::Plan;
use super::replicas;
use super::{abort, advance, analysis, retry, routing, scaling, status};
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::{CanaryStep, CanaryStrategy, Rollout};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const PAUSE_REASON_CANARY_STEP: &str = "CanaryPauseStep";
/// Default delay before the previous stable / aborted canary is scaled down (traffic-routed).
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Inputs resolved once per plan.
pub struct Context<'a> {
    pub rollout: &'a Rollout,
    pub name: &'a str,
    pub namespace: &'a str,
    pub canary: &'a CanaryStrategy,
    /// `spec.template`, parsed once for the plan.
    pub template: PodTemplateSpec,
    pub steps: &'a [CanaryStep],
    pub replicas: i32,
    /// The revision's hash: Weir's hash of the template, or the hash of the ReplicaSet adopted
    /// from Argo Rollouts for it (see takeover.rs).
    pub hash: String,
    /// Weir's hash of the pod template.
    pub template_hash: String,
    /// The new ReplicaSet was adopted from Argo Rollouts' status in this plan.
    pub adopted: bool,
    pub steps_hash: String,
    pub observed: &'a Observed,
    pub now: Timestamp,
    pub now_time: Time,
    pub new_rs: Option<&'a ReplicaSetSummary>,
    pub traffic_routed: bool,
}

impl<'a> Context<'a> {
    /// None only for specs validation rejects (no canary strategy or template).
    pub fn new(rollout: &'a Rollout, observed: &'a Observed, now: Timestamp) -> Option<Self> {
        let canary = rollout.spec.strategy.canary.as_ref()?;
        let template = rollout.spec.template.as_ref()?.spec();
        let collision = rollout.status.as_ref().and_then(|s| s.collision_count);
        let template_hash = pod_template_hash(&template, collision);
        let found = super::takeover::new_replica_set(rollout, observed, &template_hash);
        let steps = canary.steps.as_deref().unwrap_or_default();
        Some(Context {
            rollout,
            name: rollout.metadata.name.as_deref().unwrap_or_default(),
            namespace: rollout.metadata.namespace.as_deref().unwrap_or("default"),
            canary,
            template,
            steps,
            replicas: rollout.spec.replicas.unwrap_or(1),
            steps_hash: steps_hash(&steps),
            hash: found.hash,
            template_hash,
            adopted: found.adopted,
            observed,
            now,
            now_time: Time(now),
            new_rs: found.rs,
            traffic_routed: canary.traffic_routing.is_some(),
        })
    }

    pub fn new_rs_name(&self) -> String {
        format!("{}-{}", self.name, self.hash)
    }

    pub fn next_revision(&self) -> i64 {
        self.observed
            .replica_sets
            .iter()
            .map(|rs| revision_of(rs))
            .max()
            .unwrap_or(0)
            + 1
    }

    pub fn rs_by_hash(&self, hash: &str) -> Option<&'a ReplicaSetSummary> {
        self.observed
            .replica_sets
            .iter()
            .map(Arc::as_ref)
            .find(|rs| hash_of(rs) == Some(hash))
    }

    pub(super) fn scale_down_delay(&self) -> i32 {
        match self.canary.scale_down_delay_seconds {
            Some(d) => d,
            None if self.traffic_routed => DEFAULT_SCALE_DOWN_DELAY_SECONDS,
            None => 0,
        }
    }

    pub fn fenceposts(&self) -> replicas::Fenceposts {
        replicas::fenceposts(
            self.canary.max_surge.as_ref(),
            self.canary.max_unavailable.as_ref(),
            self.replicas,
        )
    }

    pub(super) fn abort_scale_down_delay(&self) -> i32 {
        self.canary
            .abort_scale_down_delay_seconds
            .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS)
    }
}

/// What this plan has decided so far, read by the parts that follow: abort and retry, then
/// promotion, routing, step advance and scaling.
pub(super) struct Decision {
    /// The canary step the Rollout is at (`steps.len()` once past the last).
    pub(super) step_index: usize,
    /// The update is aborted (`status.abort` after this plan).
    pub(super) aborted: bool,
    /// The new revision is the stable one.
    pub(super) promoted: bool,
    /// Hash the stable routing points to after this plan (the previous stable until promotion).
    pub(super) stable_hash: Option<String>,
    /// Hash the canary Service/subset selects after this plan.
    pub(super) canary_selector: Option<String>,
    /// Hash the stable Service/subset selects after this plan.
    pub(super) stable_selector: Option<String>,
    /// ReplicaSet hashes that receive traffic or are selected after this plan: never scaled down.
    pub(super) in_use: BTreeSet<String>,
}

pub fn plan_canary(ctx: &Context, plan: &mut Plan) {
    let Some(new_rs) = ctx.new_rs else {
        return;
    };
    let len = ctx.steps.len();
    let revision = revision_of(new_rs);
    let previous = plan.status.clone();
    let stable_hash = plan.status.stable_rs.clone().filter(|s| !s.is_empty());
    let mut d = Decision {
        step_index: usize::try_from(plan.status.current_step_index.unwrap_or(0))
            .unwrap_or(0)
            .min(len),
        aborted: plan.status.abort == Some(true),
        promoted: stable_hash.as_deref() == Some(ctx.hash.as_str()),
        stable_hash,
        canary_selector: None,
        stable_selector: None,
        in_use: BTreeSet::new(),
    };
    if d.promoted {
        // Argo (calculateBaseStatus, newRolloutContext): a fully promoted Rollout has nothing to
        // promote or abort, so both requests are dropped.
        plan.status.promote_full = None;
        plan.status.abort = None;
        d.aborted = false;
    } else if plan.status.promote_full == Some(true) {
        // Argo's syncRolloutStatusCanary: a full promotion lifts an abort (Argo CD's promote-full
        // action sets only `promoteFull`, also on an aborted Rollout).
        plan.status.abort = None;
        d.aborted = false;
    }
    retry::handle_retry(ctx, plan, &mut d);
    let promote_full = plan.status.promote_full == Some(true);
    let analysis = analysis::reconcile(
        ctx,
        plan,
        d.step_index,
        d.aborted,
        d.promoted || promote_full,
        revision,
    );
    if let Some(cause) = analysis.abort.clone() {
        abort::abort(ctx, plan, cause, revision);
    } else if d.aborted {
        abort::abort(ctx, plan, abort::Cause::Manual, revision);
    }
    d.aborted = plan.status.abort == Some(true);
    if d.aborted {
        // Argo puts an aborted canary back at the first step on every reconcile, so a step
        // skipped while aborted is not where a retry starts.
        d.step_index = 0;
    }
    let promote_full = promote_full && !d.aborted;
    if promote_full {
        // As Argo records it while a full promotion waits for the canary's pods.
        d.step_index = len;
    }
    let manually_paused = ctx.rollout.spec.paused.unwrap_or(false);

    let counts = scaling::desired_counts(ctx, &d, promote_full);
    let at_desired = scaling::at_desired_counts(ctx, &d, &counts);
    if !d.promoted
        && !d.aborted
        && !manually_paused
        && d.stable_hash.is_some()
        && available(new_rs) >= ctx.replicas
        && spec_replicas(new_rs) >= ctx.replicas
        // A user's full promotion skips analysis, as in Argo; the automatic one waits for it.
        && (promote_full || (d.step_index >= len && !analysis.unrecorded))
    {
        advance::promote(ctx, plan, &mut d, revision, promote_full);
    }

    routing::route_services(ctx, plan, &mut d);
    let current = routing::current_weight(&plan.status);
    let weight = routing::route_weights(ctx, &d, current, &counts, at_desired, promote_full);
    routing::patch_virtual_services(ctx, plan, weight);
    routing::record_weights(ctx, plan, &mut d, current, weight);
    if !d.promoted
        && !d.aborted
        && !manually_paused
        && !promote_full
        && d.step_index < len
        && !analysis.unrecorded
    {
        let progress = advance::StepProgress {
            at_desired,
            weight,
            canary_pods: counts.target_canary,
            analysis_successful: analysis.step_successful,
        };
        advance::advance_step(ctx, plan, &mut d, &previous, &progress);
    }
    scaling::scale_replica_sets(ctx, plan, &d, &counts);
    super::restart::plan_restart(ctx, plan);
    plan.status.current_step_index = (len > 0).then_some(d.step_index as i32);
    status::finish(ctx, plan, revision, Some(&previous));
}
