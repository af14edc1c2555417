//! Status fields derived from the observed ReplicaSets, the Progressing condition and its
//! deadline, the other conditions, and finally phase and message.

use super::canary::Context;
use super::conditions::{
    self, AVAILABLE, COMPLETED, HEALTHY, PAUSED, PHASE_HEALTHY, PROGRESSING, REASON_AVAILABLE,
    REASON_COMPLETED, REASON_DEADLINE, REASON_HEALTHY, REASON_NEW_RS_AVAILABLE, REASON_PAUSED,
    REASON_REPLICA_SET_UPDATED, REASON_RESUMED, REASON_RETRY,
};
use super::observed::{available, current, ready};
use super::plan::{EventType, Plan};
use crate::api::limits::{STATUS_MESSAGE_LIMIT, truncate};
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::RolloutStatus;
use jiff::SignedDuration;
use std::time::Duration;

pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// Fills counts, conditions and phase. `previous` is the status before this plan for a steady
/// reconcile (progress is judged against it); None right after a new revision.
pub fn finish(ctx: &Context, plan: &mut Plan, revision: i64, previous: Option<&RolloutStatus>) {
    let total = |count: fn(&ReplicaSetSummary) -> i32| -> i32 {
        ctx.observed.replica_sets.iter().map(|rs| count(rs)).sum()
    };
    let st = &mut plan.status;
    st.current_pod_hash = Some(ctx.hash.clone());
    st.current_step_hash = Some(ctx.steps_hash.clone());
    st.replicas = Some(total(current));
    st.updated_replicas = Some(ctx.new_rs.map(current).unwrap_or(0));
    st.ready_replicas = Some(total(ready));
    st.available_replicas = Some(total(available));
    st.hpa_replicas = st.replicas;
    st.selector = ctx.rollout.spec.selector.as_ref().map(|s| {
        s.match_labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    if let Some(previous) = previous {
        pause_status(previous, st);
        progress_condition(ctx, plan, previous, revision);
    }
    let st = &mut plan.status;
    let now = &ctx.now_time;
    let paused = ctx.rollout.spec.paused.unwrap_or(false)
        || st.pause_conditions.as_ref().is_some_and(|p| !p.is_empty());
    if paused {
        conditions::set(
            st,
            PAUSED,
            "True",
            REASON_PAUSED,
            "Rollout is paused",
            now,
            false,
        );
    } else {
        conditions::set(
            st,
            PAUSED,
            "False",
            REASON_RESUMED,
            "Rollout is resumed",
            now,
            false,
        );
    }
    let max_unavailable = ctx.fenceposts().max_unavailable;
    if st.available_replicas.unwrap_or(0) >= ctx.replicas - max_unavailable {
        conditions::set(
            st,
            AVAILABLE,
            "True",
            REASON_AVAILABLE,
            "Rollout has minimum availability",
            now,
            false,
        );
    } else {
        conditions::set(
            st,
            AVAILABLE,
            "False",
            REASON_AVAILABLE,
            "Rollout does not have minimum availability",
            now,
            false,
        );
    }
    let promoted = st.stable_rs.as_deref() == Some(ctx.hash.as_str());
    let complete = promoted
        && st.updated_replicas == Some(ctx.replicas)
        && st.available_replicas.unwrap_or(0) >= ctx.replicas;
    let revision_text = format!("revision {revision} ({})", ctx.hash);
    if complete {
        conditions::set(
            st,
            COMPLETED,
            "True",
            REASON_COMPLETED,
            &format!("Rollout completed update to {revision_text}"),
            now,
            false,
        );
    } else {
        conditions::set(
            st,
            COMPLETED,
            "False",
            REASON_COMPLETED,
            &format!("Rollout not completed, started update to {revision_text}"),
            now,
            false,
        );
    }
    let (phase, message) = conditions::phase(&ctx.rollout.spec, st, ctx.traffic_routed);
    if phase == PHASE_HEALTHY {
        conditions::set(
            st,
            HEALTHY,
            "True",
            REASON_HEALTHY,
            "Rollout is healthy",
            now,
            false,
        );
    } else {
        conditions::set(
            st,
            HEALTHY,
            "False",
            REASON_HEALTHY,
            "Rollout is not healthy",
            now,
            false,
        );
    }
    st.phase = Some(phase.to_string());
    st.message = Some(truncate(&message, STATUS_MESSAGE_LIMIT).into_owned());
}

/// Argo's `CalculatePauseStatus`: `controllerPause` is recomputed from the status as it was
/// read, never carried over on its own. It stays true only while pause conditions remain, so a
/// user who clears them together with the step (skip-current-step) leaves no stale "resumed"
/// for the next pause step to find. An abort or a full promotion drops every pause condition.
fn pause_status(read: &RolloutStatus, st: &mut RolloutStatus) {
    let dropped = st.abort == Some(true) || read.promote_full == Some(true);
    let remaining = st
        .pause_conditions
        .take()
        .filter(|c| !c.is_empty() && !dropped);
    let Some(remaining) = remaining else {
        st.controller_pause = None;
        return;
    };
    let added = remaining.iter().any(|c| {
        !read
            .pause_conditions
            .iter()
            .flatten()
            .any(|r| r.reason == c.reason)
    });
    st.controller_pause = (added || read.controller_pause == Some(true)).then_some(true);
    st.pause_conditions = Some(remaining);
}

/// Progressing: aborted and timed-out states stick; a paused rollout does not count toward
/// the deadline; any change of counts, step or weights is progress and restarts the deadline.
fn progress_condition(ctx: &Context, plan: &mut Plan, previous: &RolloutStatus, revision: i64) {
    let now = ctx.now_time.clone();
    let rs_name = ctx.new_rs_name();
    let st = &mut plan.status;
    let existing = conditions::get(st, PROGRESSING).cloned();
    if st.abort == Some(true) {
        return;
    }
    if ctx.rollout.spec.paused.unwrap_or(false)
        || st.pause_conditions.as_ref().is_some_and(|p| !p.is_empty())
    {
        conditions::set(
            st,
            PROGRESSING,
            "Unknown",
            REASON_PAUSED,
            "Rollout is paused",
            &now,
            false,
        );
        return;
    }
    let promoted = st.stable_rs.as_deref() == Some(ctx.hash.as_str());
    if promoted && ctx.new_rs.is_some_and(|rs| available(rs) >= ctx.replicas) {
        let message = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
        conditions::set(
            st,
            PROGRESSING,
            "True",
            REASON_NEW_RS_AVAILABLE,
            &message,
            &now,
            false,
        );
        return;
    }
    let progressed = st.current_step_index != previous.current_step_index
        || st.updated_replicas != previous.updated_replicas
        || st.ready_replicas != previous.ready_replicas
        || st.available_replicas != previous.available_replicas
        || st.stable_rs != previous.stable_rs
        || st.canary.as_ref().and_then(|c| c.weights.as_ref())
            != previous.canary.as_ref().and_then(|c| c.weights.as_ref());
    let resumed = existing
        .as_ref()
        .is_some_and(|c| c.reason == REASON_PAUSED || c.reason == REASON_RETRY);
    let progressing_message = format!("ReplicaSet \"{rs_name}\" is progressing.");
    let timed_out = existing
        .as_ref()
        .is_some_and(|c| c.reason == REASON_DEADLINE);
    if progressed
        || resumed
        || existing.is_none()
        || (!timed_out
            && existing
                .as_ref()
                .is_some_and(|c| c.reason != REASON_REPLICA_SET_UPDATED))
    {
        let touch = progressed || resumed;
        conditions::set(
            st,
            PROGRESSING,
            "True",
            REASON_REPLICA_SET_UPDATED,
            &progressing_message,
            &now,
            touch,
        );
        if existing.as_ref().is_some_and(|c| c.reason == REASON_RETRY) && !progressed {
            return;
        }
    }
    if timed_out {
        return;
    }
    let deadline_seconds = ctx
        .rollout
        .spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    let Some(since) = conditions::get(st, PROGRESSING).and_then(|c| c.last_update_time.clone())
    else {
        return;
    };
    let deadline = since.0 + SignedDuration::from_secs(i64::from(deadline_seconds));
    if ctx.now < deadline {
        plan.requeue(
            Duration::try_from(ctx.now.duration_until(deadline)).unwrap_or(Duration::ZERO),
        );
        return;
    }
    let message = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
    plan.event(EventType::Warning, REASON_DEADLINE, message.clone());
    if ctx.rollout.spec.progress_deadline_abort.unwrap_or(false) {
        super::abort::abort(
            ctx,
            plan,
            super::abort::Cause::ProgressDeadline { message },
            revision,
        );
    } else {
        conditions::set(
            &mut plan.status,
            PROGRESSING,
            "False",
            REASON_DEADLINE,
            &message,
            &now,
            true,
        );
    }
}
