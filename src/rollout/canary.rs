//! The canary step machine for an existing revision: abort/retry/promote, replica counts,
//! where the Services, DestinationRule and VirtualService weights point, and step advance.
//! Argo's order is kept: traffic only moves onto pods that are available, and after an abort
//! the canary weight is 0 in the same plan that notices the abort.

use super::conditions::{self, PROGRESSING, REASON_ABORTED, REASON_RETRY};
use super::hash::{pod_template_hash, steps_hash};
use super::observed::{
    self, Observed, available, hash_of, revision_of, scale_down_deadline, spec_replicas,
};
use super::plan::{EventType, Plan, ReplicaSetUpdate, VirtualServicePatch};
use super::replicas::{self, BasicInputs, RsCounts, TargetInputs};
use super::{analysis, gitrevert, status, steps};
use crate::api::labels::{MANAGED_BY, SCALE_DOWN_DEADLINE};
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::{
    CanaryStep, CanaryStrategy, PauseCondition, Rollout, RolloutStatus, TrafficWeights,
    WeightDestination,
};
use crate::traffic::{
    Targets, destination_rule_patch, service_selected_hash, service_selector_patch, split_vs_name,
    virtual_service_patch,
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeSet;
use std::time::Duration;

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
    pub template: &'a PodTemplateSpec,
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
        let template = rollout.spec.template.as_ref()?;
        let collision = rollout.status.as_ref().and_then(|s| s.collision_count);
        let template_hash = pod_template_hash(template, collision);
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
            .map(revision_of)
            .max()
            .unwrap_or(0)
            + 1
    }

    pub fn rs_by_hash(&self, hash: &str) -> Option<&'a ReplicaSetSummary> {
        self.observed
            .replica_sets
            .iter()
            .find(|rs| hash_of(rs) == Some(hash))
    }

    fn scale_down_delay(&self) -> i32 {
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

    fn abort_scale_down_delay(&self) -> i32 {
        self.canary
            .abort_scale_down_delay_seconds
            .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS)
    }
}

/// State decided while planning, shared by the routing, scaling and status parts.
struct Decision {
    index: usize,
    aborted: bool,
    promoted: bool,
    /// Hash the stable routing points to after this plan (the previous stable until promotion).
    stable_hash: Option<String>,
    /// Hash the canary Service/subset selects after this plan.
    canary_target: Option<String>,
    stable_target: Option<String>,
    canary_weight: i32,
    /// ReplicaSet hashes that receive traffic or are selected after this plan: never scaled down.
    referenced: BTreeSet<String>,
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
        index: usize::try_from(plan.status.current_step_index.unwrap_or(0))
            .unwrap_or(0)
            .min(len),
        aborted: plan.status.abort == Some(true),
        promoted: stable_hash.as_deref() == Some(ctx.hash.as_str()),
        stable_hash,
        canary_target: None,
        stable_target: None,
        canary_weight: 0,
        referenced: BTreeSet::new(),
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
    handle_retry(ctx, plan, &mut d);
    let promote_full = plan.status.promote_full == Some(true);
    let analysis = analysis::reconcile(
        ctx,
        plan,
        d.index,
        d.aborted,
        d.promoted || promote_full,
        revision,
    );
    d.aborted = plan.status.abort == Some(true);
    handle_abort(ctx, plan, &mut d, revision, analysis.abort_evidence.clone());
    let promote_full = promote_full && !d.aborted;
    if promote_full {
        // As Argo records it while a full promotion waits for the canary's pods.
        d.index = len;
    }
    let manually_paused = ctx.rollout.spec.paused.unwrap_or(false);

    let counts = desired_counts(ctx, &d, promote_full);
    let at_desired = at_desired_counts(ctx, &d, &counts);
    if !d.promoted
        && !d.aborted
        && !manually_paused
        && d.stable_hash.is_some()
        && available(new_rs) >= ctx.replicas
        && spec_replicas(new_rs) >= ctx.replicas
        // A user's full promotion skips analysis, as in Argo; the automatic one waits for it.
        && (promote_full || (d.index >= len && !analysis.unrecorded))
    {
        promote(ctx, plan, &mut d, revision, promote_full);
    }

    route_services(ctx, plan, &mut d);
    let applied_weight = route_weights(ctx, plan, &mut d, &counts, at_desired, promote_full);
    if !d.promoted
        && !d.aborted
        && !manually_paused
        && !promote_full
        && d.index < len
        && !analysis.unrecorded
    {
        let progress = StepProgress {
            at_desired,
            weight: applied_weight,
            canary_pods: counts.target_canary,
            analysis_successful: analysis.step_successful,
        };
        advance_step(ctx, plan, &mut d, &previous, &progress);
    }
    scale_replica_sets(ctx, plan, &d, &counts);
    super::restart::plan_restart(ctx, plan);
    plan.status.current_step_index = (len > 0).then_some(d.index as i32);
    status::finish(ctx, plan, revision, Some(&previous));
}

fn handle_abort(
    ctx: &Context,
    plan: &mut Plan,
    d: &mut Decision,
    revision: i64,
    evidence: Option<crate::api::rollout::RevertEvidence>,
) {
    let st = &mut plan.status;
    if !d.aborted {
        return;
    }
    // Argo puts an aborted canary back at the first step on every reconcile, so a step skipped
    // while aborted is not where a retry starts.
    d.index = 0;
    if st.aborted_at.is_some() {
        return;
    }
    st.aborted_at = Some(ctx.now_time.clone());
    st.pause_conditions = None;
    st.controller_pause = None;
    st.promote_full = None;
    // An abort the controller decided (analysis, progress deadline) already wrote its reason.
    let existing = conditions::get(st, PROGRESSING)
        .filter(|c| c.reason == REASON_ABORTED)
        .map(|c| c.message.clone());
    let message =
        existing.unwrap_or_else(|| format!("Rollout aborted update to revision {revision}"));
    conditions::set(
        st,
        PROGRESSING,
        "False",
        REASON_ABORTED,
        &message,
        &ctx.now_time,
        true,
    );
    plan.event(EventType::Warning, REASON_ABORTED, message);
    let cause = evidence.map_or(
        gitrevert::AbortCause::Manual,
        gitrevert::AbortCause::Analysis,
    );
    gitrevert::request(ctx, plan, cause, revision);
}

/// `retry` clears `status.abort`: start again from the first step with fresh AnalysisRuns.
fn handle_retry(ctx: &Context, plan: &mut Plan, d: &mut Decision) {
    let st = &mut plan.status;
    if d.aborted || st.aborted_at.is_none() {
        return;
    }
    st.aborted_at = None;
    st.abort = None;
    gitrevert::release(ctx, plan);
    let st = &mut plan.status;
    if let Some(canary) = st.canary.as_mut() {
        canary.current_step_analysis_run_status = None;
        canary.current_background_analysis_run_status = None;
    }
    if !d.promoted {
        d.index = 0;
    }
    conditions::set(
        st,
        PROGRESSING,
        "Unknown",
        REASON_RETRY,
        "Retrying Rollout after abort",
        &ctx.now_time,
        true,
    );
    plan.event(
        EventType::Normal,
        REASON_RETRY,
        "Retrying Rollout after abort",
    );
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    /// Desired canary (new ReplicaSet) count before abort delays are applied.
    canary: i32,
    stable: i32,
    /// Target split used to decide whether the step's counts are reached (basic canary only
    /// differs from `canary`/`stable` while surge/unavailable budgets hold it back).
    target_canary: i32,
    target_stable: i32,
    /// Weight the replica math used.
    weight: i32,
}

fn desired_counts(ctx: &Context, d: &Decision, promote_full: bool) -> Counts {
    let len = ctx.steps.len();
    let current_step = (d.index < len).then_some(d.index);
    let target = replicas::canary_target(TargetInputs {
        promote_full,
        stable_is_current: d.promoted || d.stable_hash.is_none(),
        aborted: d.aborted,
        traffic_routed: ctx.traffic_routed,
        abort_delay: ctx.abort_scale_down_delay() != 0,
        current_step,
        set_weight: current_step.map(|i| steps::set_weight_at(ctx.steps, i)),
        set_canary_scale: current_step.and_then(|i| steps::canary_scale_at(ctx.steps, i)),
    });
    let weight = target.weight();
    if d.promoted {
        return Counts {
            canary: ctx.replicas,
            stable: ctx.replicas,
            target_canary: ctx.replicas,
            target_stable: ctx.replicas,
            weight,
        };
    }
    if ctx.traffic_routed {
        let (canary, stable) = if d.aborted {
            // The canary keeps its pods until abortScaleDownDelaySeconds has passed
            // (scale_replica_sets), so its count is the one it has.
            (ctx.new_rs.map(spec_replicas).unwrap_or(0), ctx.replicas)
        } else {
            replicas::traffic_routed_counts(
                ctx.replicas,
                target,
                ctx.canary.min_pods_per_replica_set,
            )
        };
        return Counts {
            canary,
            stable,
            target_canary: if d.aborted { 0 } else { canary },
            target_stable: stable,
            weight,
        };
    }
    // Without traffic routing Argo's step is reached when the counts of the next reconcile are
    // the counts there are, so the target is the next counts.
    let (canary, stable) = replicas::basic_counts(&BasicInputs {
        replicas: ctx.replicas,
        weight,
        fenceposts: Some(ctx.fenceposts()),
        new_rs: ctx.new_rs.map(rs_counts),
        stable_rs: stable_rs(ctx, d).map(rs_counts),
        older: older_rss(ctx, d).map(rs_counts).collect(),
    });
    Counts {
        canary,
        stable,
        target_canary: canary,
        target_stable: stable,
        weight,
    }
}

fn rs_counts(rs: &ReplicaSetSummary) -> RsCounts {
    RsCounts {
        spec: spec_replicas(rs),
        available: available(rs),
        created: observed::current(rs),
    }
}

/// The stable ReplicaSet while it is not the new one.
fn stable_rs<'a>(ctx: &Context<'a>, d: &Decision) -> Option<&'a ReplicaSetSummary> {
    d.stable_hash
        .as_deref()
        .filter(|h| *h != ctx.hash)
        .and_then(|h| ctx.rs_by_hash(h))
}

/// Every ReplicaSet of the Rollout that is neither the new nor the stable one.
fn older_rss<'a, 'b>(
    ctx: &'b Context<'a>,
    d: &'b Decision,
) -> impl Iterator<Item = &'a ReplicaSetSummary> + 'b {
    ctx.observed
        .replica_sets
        .iter()
        .filter(move |rs| !is_new_or_stable(ctx, d, rs))
}

fn is_new_or_stable(ctx: &Context, d: &Decision, rs: &ReplicaSetSummary) -> bool {
    let hash = hash_of(rs);
    hash == Some(ctx.hash.as_str()) || (hash.is_some() && hash == d.stable_hash.as_deref())
}

fn at_desired_counts(ctx: &Context, d: &Decision, counts: &Counts) -> bool {
    let older_available = (!ctx.traffic_routed).then(|| older_rss(ctx, d).map(available).sum());
    replicas::at_desired(
        (counts.target_canary, counts.target_stable),
        ctx.new_rs.map(rs_counts),
        stable_rs(ctx, d).map(rs_counts),
        older_available,
    )
}

fn promote(ctx: &Context, plan: &mut Plan, d: &mut Decision, revision: i64, promote_full: bool) {
    let st = &mut plan.status;
    st.stable_rs = Some(ctx.hash.clone());
    st.pause_conditions = None;
    st.controller_pause = None;
    st.promote_full = None;
    d.index = ctx.steps.len();
    d.promoted = true;
    let old_stable = d.stable_hash.replace(ctx.hash.clone());
    let reason = if promote_full {
        "Full promotion requested".to_string()
    } else {
        format!("Completed all {} canary steps", ctx.steps.len())
    };
    plan.event(
        EventType::Normal,
        "RolloutCompleted",
        format!(
            "Rollout completed update to revision {revision} ({}): {reason}",
            ctx.hash
        ),
    );
    // The previous stable keeps serving until the Services/subsets move; its scale-down delay
    // starts now so the mesh has time to converge before its pods go away.
    if let Some(old) = old_stable.and_then(|h| ctx.rs_by_hash(&h)) {
        let delay = ctx.scale_down_delay();
        if delay > 0 && spec_replicas(old) > 0 && scale_down_deadline(old).is_none() {
            let deadline = ctx.now + SignedDuration::from_secs(i64::from(delay));
            plan.replica_set_updates.push(ReplicaSetUpdate {
                name: observed::name(old).to_string(),
                replicas: None,
                annotations: [(SCALE_DOWN_DEADLINE.to_string(), Some(deadline.to_string()))].into(),
            });
            plan.requeue(Duration::from_secs(delay as u64));
        }
    }
}

/// Points the stable/canary Services and DestinationRule subsets. A Service or subset never
/// selects a ReplicaSet without available pods; one Weir has not managed before waits until
/// the ReplicaSet is fully available.
fn route_services(ctx: &Context, plan: &mut Plan, d: &mut Decision) {
    let stable_wanted = d.stable_hash.clone();
    let canary_wanted = if d.promoted || d.aborted {
        stable_wanted.clone()
    } else if ctx.new_rs.is_some_and(|rs| available(rs) > 0) {
        Some(ctx.hash.clone())
    } else {
        None
    };
    let mut stable_target = stable_wanted.clone();
    let mut canary_target = canary_wanted.clone();
    for (service, wanted, target) in [
        (
            &ctx.canary.stable_service,
            &stable_wanted,
            &mut stable_target,
        ),
        (
            &ctx.canary.canary_service,
            &canary_wanted,
            &mut canary_target,
        ),
    ] {
        let Some(svc) = service
            .as_deref()
            .and_then(|n| ctx.observed.services.get(n))
        else {
            continue;
        };
        let current = service_selected_hash(svc).map(str::to_string);
        let managed = svc
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MANAGED_BY))
            .is_some_and(|m| m == ctx.name);
        let Some(hash) = wanted.as_deref() else {
            *target = current;
            continue;
        };
        if current.as_deref() == Some(hash) || !can_select(ctx, hash, managed) {
            *target = current;
            continue;
        }
        match service_selector_patch(svc, hash, ctx.name) {
            Ok(Some(patch)) => {
                plan.service_patches
                    .push((svc.metadata.name.clone().unwrap_or_default(), patch));
                plan.event(
                    EventType::Normal,
                    "SwitchService",
                    format!(
                        "Switched selector for service '{}' from '{}' to '{hash}'",
                        svc.metadata.name.as_deref().unwrap_or_default(),
                        current.as_deref().unwrap_or("")
                    ),
                );
            }
            Ok(None) => {}
            Err(e) => {
                plan.event(EventType::Warning, "TrafficRoutingError", e.to_string());
                *target = current;
            }
        }
    }
    if let Some(dr_spec) = ctx
        .canary
        .traffic_routing
        .as_ref()
        .and_then(|r| r.istio.as_ref())
        .and_then(|i| i.destination_rule.as_ref())
        && let Some(dr) = &ctx.observed.destination_rule
    {
        let labels = subset_labels(dr, dr_spec);
        let managed = dr
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(MANAGED_BY))
            .and_then(|m| m.as_str())
            == Some(ctx.name);
        let pick = |wanted: &Option<String>, current: &Option<String>| match wanted {
            Some(h) if current.as_deref() == Some(h.as_str()) || can_select(ctx, h, managed) => {
                Some(h.clone())
            }
            _ => current.clone(),
        };
        let canary_label = pick(&canary_wanted, &labels.0);
        let stable_label = pick(&stable_wanted, &labels.1);
        if let (Some(c), Some(s)) = (&canary_label, &stable_label) {
            match destination_rule_patch(dr, dr_spec, c, s, ctx.name) {
                Ok(Some(patch)) => {
                    plan.destination_rule_patch = Some((dr_spec.name.clone(), patch));
                    plan.event(
                        EventType::Normal,
                        "UpdatedDestinationRule",
                        format!(
                            "DestinationRule {} subsets updated: {}={c}, {}={s}",
                            dr_spec.name, dr_spec.canary_subset_name, dr_spec.stable_subset_name
                        ),
                    );
                }
                Ok(None) => {}
                Err(e) => plan.event(EventType::Warning, "TrafficRoutingError", e.to_string()),
            }
        }
        // In subset mode the subsets decide where weighted traffic lands.
        canary_target = canary_label.or(canary_target);
        stable_target = stable_label.or(stable_target);
    }
    d.referenced.extend(canary_target.iter().cloned());
    d.referenced.extend(stable_target.iter().cloned());
    d.canary_target = canary_target;
    d.stable_target = stable_target;
}

fn can_select(ctx: &Context, hash: &str, managed: bool) -> bool {
    ctx.rs_by_hash(hash).is_some_and(|rs| {
        let avail = available(rs);
        avail > 0 && (managed || avail >= spec_replicas(rs))
    })
}

fn subset_labels(
    dr: &serde_json::Value,
    spec: &crate::api::rollout::IstioDestinationRule,
) -> (Option<String>, Option<String>) {
    let label = |subset: &str| {
        dr.pointer("/spec/subsets")
            .and_then(|s| s.as_array())
            .and_then(|subsets| {
                subsets
                    .iter()
                    .find(|s| s.get("name").and_then(|n| n.as_str()) == Some(subset))
            })
            .and_then(|s| {
                s.pointer(&format!(
                    "/labels/{}",
                    crate::api::labels::POD_TEMPLATE_HASH
                ))
            })
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    (
        label(&spec.canary_subset_name),
        label(&spec.stable_subset_name),
    )
}

/// Sets the VirtualService weights and records them in status. Returns the canary weight in
/// force after this plan.
fn route_weights(
    ctx: &Context,
    plan: &mut Plan,
    d: &mut Decision,
    counts: &Counts,
    at_desired: bool,
    promote_full: bool,
) -> i32 {
    let Some(istio) = ctx
        .canary
        .traffic_routing
        .as_ref()
        .and_then(|r| r.istio.as_ref())
    else {
        return counts.weight;
    };
    let Some(targets) = Targets::from_strategy(ctx.canary) else {
        return 0;
    };
    let len = ctx.steps.len();
    let current = plan
        .status
        .canary
        .as_ref()
        .and_then(|c| c.weights.as_ref())
        .map(|w| w.canary.weight)
        .unwrap_or(0);
    let canary_available = ctx.new_rs.map(available).unwrap_or(0);
    let mut weight = if d.promoted
        || d.aborted
        || d.canary_target.as_deref() != Some(ctx.hash.as_str())
        || canary_available == 0
    {
        0
    } else if promote_full {
        current
    } else if !at_desired {
        steps::previous_set_weight(ctx.steps, d.index)
    } else if d.index >= len {
        100
    } else {
        steps::set_weight_at(ctx.steps, d.index)
    };
    // Never move traffic onto the stable side beyond what its available pods can take.
    if weight > current && !d.aborted {
        let stable_available = d
            .stable_hash
            .as_deref()
            .and_then(|h| ctx.rs_by_hash(h))
            .map(available)
            .unwrap_or(0);
        if stable_available < replicas::weight_to_replicas(100 - weight, ctx.replicas) {
            weight = current;
        }
    }
    let virtual_services = istio
        .virtual_service
        .iter()
        .chain(istio.virtual_services.iter().flatten());
    for vs_spec in virtual_services {
        let key = split_vs_name(&vs_spec.name, ctx.namespace);
        let Some(vs) = ctx.observed.virtual_services.get(&key) else {
            continue;
        };
        match virtual_service_patch(vs, vs_spec, &targets, weight) {
            Ok(Some(patch)) => plan.virtual_service_patches.push(VirtualServicePatch {
                namespace: key.1.clone(),
                name: key.0.clone(),
                patch,
                canary_weight: weight,
            }),
            Ok(None) => {}
            Err(e) => plan.event(EventType::Warning, "TrafficRoutingError", e.to_string()),
        }
    }
    if weight > 0 {
        d.referenced.insert(ctx.hash.clone());
    }
    d.canary_weight = weight;
    let weights = TrafficWeights {
        canary: WeightDestination {
            weight,
            service_name: ctx.canary.canary_service.clone(),
            pod_template_hash: d.canary_target.clone(),
        },
        stable: WeightDestination {
            weight: 100 - weight,
            service_name: ctx.canary.stable_service.clone(),
            pod_template_hash: d.stable_target.clone(),
        },
        additional: None,
        verified: None,
    };
    let canary_status = plan.status.canary.get_or_insert_with(Default::default);
    if canary_status.weights.as_ref() != Some(&weights) {
        if canary_status.weights.as_ref().map(|w| w.canary.weight) != Some(weight) {
            plan.events.push(super::plan::PlannedEvent {
                type_: EventType::Normal,
                reason: "TrafficWeightUpdated".into(),
                message: format!("Traffic weight updated from {current} to {weight}"),
            });
        }
        canary_status.weights = Some(weights);
    }
    weight
}

/// What completing the current step depends on, from the scaling, routing and analysis parts.
struct StepProgress {
    at_desired: bool,
    /// Canary weight in force after this plan.
    weight: i32,
    canary_pods: i32,
    analysis_successful: bool,
}

/// Argo's completedCurrentCanaryStep for the step current when the reconcile started (`read` is
/// the status as read); at most one step completes per plan.
fn advance_step(
    ctx: &Context,
    plan: &mut Plan,
    d: &mut Decision,
    read: &RolloutStatus,
    progress: &StepProgress,
) {
    let step = &ctx.steps[d.index];
    let complete = if let Some(set_weight) = step.set_weight {
        // A canary held at zero pods by setCanaryScale cannot take weight; Argo completes on counts.
        progress.at_desired
            && (!ctx.traffic_routed || progress.weight == set_weight || progress.canary_pods == 0)
    } else if step.set_canary_scale.is_some() {
        progress.at_desired
    } else if step.pause.is_some() {
        pause_complete(ctx, plan, step, read)
    } else {
        step.analysis.is_some() && progress.analysis_successful
    };
    if !complete {
        return;
    }
    if step.analysis.is_some()
        && let Some(canary) = plan.status.canary.as_mut()
    {
        canary.current_step_analysis_run_status = None;
    }
    // Whatever step completed, its pause (if any) is over.
    if let Some(list) = plan.status.pause_conditions.as_mut() {
        list.retain(|c| c.reason != PAUSE_REASON_CANARY_STEP);
    }
    d.index += 1;
    plan.event(
        EventType::Normal,
        "RolloutStepCompleted",
        format!(
            "Rollout step {}/{} completed ({})",
            d.index,
            ctx.steps.len(),
            steps::describe(step)
        ),
    );
}

/// Argo's CompletedCanaryPauseStep and reconcileCanaryPause, both judged from the status as it
/// was read: the step was resumed when the controller had paused (`controllerPause`) and the
/// user has since removed its condition; a timed pause is over once its duration has passed
/// since the condition's start. A pause step without a condition that the controller has not
/// paused yet gets one. `status::pause_status` then recomputes `controllerPause`.
fn pause_complete(ctx: &Context, plan: &mut Plan, step: &CanaryStep, read: &RolloutStatus) -> bool {
    let condition = read
        .pause_conditions
        .iter()
        .flatten()
        .find(|c| c.reason == PAUSE_REASON_CANARY_STEP);
    let controller_paused = read.controller_pause == Some(true);
    let duration = steps::pause_duration(step);
    if controller_paused && condition.is_none() {
        plan.event(EventType::Normal, "RolloutResumed", "Rollout is resumed");
        return true;
    }
    match (condition, duration) {
        (Some(condition), Some(duration)) => {
            let expiry = condition.start_time.0
                + SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
            if ctx.now >= expiry {
                return true;
            }
            let left = ctx.now.duration_until(expiry);
            plan.requeue(Duration::try_from(left).unwrap_or(Duration::ZERO));
        }
        (Some(_), None) => {}
        (None, duration) => {
            plan.status
                .pause_conditions
                .get_or_insert_with(Vec::new)
                .push(PauseCondition {
                    reason: PAUSE_REASON_CANARY_STEP.into(),
                    start_time: ctx.now_time.clone(),
                });
            plan.event(
                EventType::Normal,
                "RolloutPaused",
                format!("Rollout is paused ({PAUSE_REASON_CANARY_STEP})"),
            );
            if let Some(duration) = duration {
                plan.requeue(duration);
            }
        }
    }
    false
}

fn scale_replica_sets(ctx: &Context, plan: &mut Plan, d: &Decision, counts: &Counts) {
    let Some(new_rs) = ctx.new_rs else {
        return;
    };
    // The new ReplicaSet.
    if d.aborted && ctx.traffic_routed && !d.promoted {
        let delay = ctx.abort_scale_down_delay();
        let stable_whole = d
            .stable_hash
            .as_deref()
            .and_then(|h| ctx.rs_by_hash(h))
            .is_some_and(|rs| available(rs) >= ctx.replicas);
        if delay > 0
            && stable_whole
            && spec_replicas(new_rs) > 0
            && !d.referenced.contains(&ctx.hash)
        {
            delayed_scale_down(ctx, plan, new_rs, delay);
        }
    } else {
        let clear_deadline = scale_down_deadline(new_rs).map(|_| None);
        set_replica_set(plan, new_rs, Some(counts.canary), clear_deadline);
    }

    // The stable ReplicaSet (when it is not the new one).
    if !d.promoted
        && let Some(stable) = d.stable_hash.as_deref().and_then(|h| ctx.rs_by_hash(h))
    {
        set_replica_set(plan, stable, Some(counts.stable), None);
    }

    // Everything else: previous stables and superseded canaries.
    let mut idle: Vec<&ReplicaSetSummary> = Vec::new();
    let mut draining: Vec<&ReplicaSetSummary> = Vec::new();
    for rs in older_rss(ctx, d) {
        if d.referenced.contains(hash_of(rs).unwrap_or_default()) {
            continue;
        }
        if spec_replicas(rs) == 0 {
            idle.push(rs);
            continue;
        }
        if !ctx.traffic_routed {
            draining.push(rs);
            continue;
        }
        let just_demoted = plan.replica_set_updates.iter().any(|u| {
            u.name == observed::name(rs) && u.annotations.contains_key(SCALE_DOWN_DEADLINE)
        });
        if just_demoted {
            continue;
        }
        match scale_down_deadline(rs) {
            Some(_) => delayed_scale_down(ctx, plan, rs, 0),
            None => set_replica_set(plan, rs, Some(0), None),
        }
    }

    // Without traffic routing their pods take traffic: they drain, newest first, within
    // maxUnavailable of every available pod of the Rollout.
    if !draining.is_empty() {
        draining.sort_by_key(|rs| std::cmp::Reverse(revision_of(rs)));
        let counts: Vec<RsCounts> = draining.iter().map(|rs| rs_counts(rs)).collect();
        let all_available = ctx.observed.replica_sets.iter().map(available).sum();
        let drained = replicas::drain_older(
            ctx.replicas,
            ctx.fenceposts().max_unavailable,
            all_available,
            &counts,
        );
        for (rs, replicas) in draining.into_iter().zip(drained) {
            set_replica_set(plan, rs, Some(replicas), None);
        }
    }

    // revisionHistoryLimit: the oldest idle ReplicaSets beyond the limit are deleted.
    let limit = usize::try_from(
        ctx.rollout
            .spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT),
    )
    .unwrap_or(0);
    idle.sort_by_key(|rs| std::cmp::Reverse(revision_of(rs)));
    for rs in idle.into_iter().skip(limit) {
        if observed::current(rs) == 0 {
            plan.delete_replica_sets
                .push(observed::name(rs).to_string());
        }
    }
}

/// Records a replica count and/or scale-down-deadline change (None in the inner option removes
/// the annotation), merging with an update already planned for the same ReplicaSet.
fn set_replica_set(
    plan: &mut Plan,
    rs: &ReplicaSetSummary,
    replicas: Option<i32>,
    deadline: Option<Option<String>>,
) {
    let name = observed::name(rs).to_string();
    let current = spec_replicas(rs);
    let replicas = replicas.filter(|r| *r != current);
    if let Some(r) = replicas {
        let verb = if r > current { "up" } else { "down" };
        plan.event(
            EventType::Normal,
            "ScalingReplicaSet",
            format!(
                "Scaled {verb} ReplicaSet {name} (revision {}) from {current} to {r}",
                revision_of(rs)
            ),
        );
    }
    let current_deadline = scale_down_deadline(rs).map(|t| t.to_string());
    let annotations: std::collections::BTreeMap<String, Option<String>> = deadline
        .filter(|want| *want != current_deadline)
        .map(|want| [(SCALE_DOWN_DEADLINE.to_string(), want)].into())
        .unwrap_or_default();
    if replicas.is_none() && annotations.is_empty() {
        return;
    }
    match plan.replica_set_updates.iter_mut().find(|u| u.name == name) {
        Some(existing) => {
            existing.replicas = replicas.or(existing.replicas);
            existing.annotations.extend(annotations);
        }
        None => plan.replica_set_updates.push(ReplicaSetUpdate {
            name,
            replicas,
            annotations,
        }),
    }
}

/// Annotates `scale-down-deadline` the first time, then scales to zero once it has passed.
fn delayed_scale_down(ctx: &Context, plan: &mut Plan, rs: &ReplicaSetSummary, delay_seconds: i32) {
    match scale_down_deadline(rs) {
        Some(deadline) if ctx.now >= deadline => set_replica_set(plan, rs, Some(0), Some(None)),
        Some(deadline) => plan.requeue(
            Duration::try_from(ctx.now.duration_until(deadline)).unwrap_or(Duration::ZERO),
        ),
        None => {
            let deadline = ctx.now + SignedDuration::from_secs(i64::from(delay_seconds));
            set_replica_set(plan, rs, None, Some(Some(deadline.to_string())));
            plan.requeue(Duration::from_secs(delay_seconds.max(0) as u64));
        }
    }
}
