//! Moving forward: completing the current step (weights reached, pause over, analysis
//! successful) and promoting the revision to stable after the last one.

use super::canary::{Context, Decision, PAUSE_REASON_CANARY_STEP};
use super::observed::{self, scale_down_deadline, spec_replicas};
use super::plan::{EventType, Plan, ReplicaSetUpdate};
use super::steps;
use crate::api::labels::SCALE_DOWN_DEADLINE;
use crate::api::rollout::{CanaryStep, PauseCondition, RolloutStatus};
use jiff::SignedDuration;
use std::time::Duration;

pub(super) fn promote(
    ctx: &Context,
    plan: &mut Plan,
    d: &mut Decision,
    revision: i64,
    promote_full: bool,
) {
    let st = &mut plan.status;
    st.stable_rs = Some(ctx.hash.clone());
    st.pause_conditions = None;
    st.controller_pause = None;
    st.promote_full = None;
    d.step_index = ctx.steps.len();
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

/// What completing the current step depends on, from the scaling, routing and analysis parts.
pub(super) struct StepProgress {
    pub(super) at_desired: bool,
    /// Canary weight in force after this plan.
    pub(super) weight: i32,
    pub(super) canary_pods: i32,
    pub(super) analysis_successful: bool,
}

/// Argo's completedCurrentCanaryStep for the step current when the reconcile started (`read` is
/// the status as read); at most one step completes per plan.
pub(super) fn advance_step(
    ctx: &Context,
    plan: &mut Plan,
    d: &mut Decision,
    read: &RolloutStatus,
    progress: &StepProgress,
) {
    let step = &ctx.steps[d.step_index];
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
    d.step_index += 1;
    plan.event(
        EventType::Normal,
        "RolloutStepCompleted",
        format!(
            "Rollout step {}/{} completed ({})",
            d.step_index,
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
