//! `spec.restartAt` (`kubectl weir restart`): evict every pod created before that time, never
//! more than maxUnavailable at once (at least one), stable pods first, then the canary's; when
//! none is left, record `status.restartedAt`.

use super::canary::Context;
use super::plan::{EventType, Plan};
use crate::api::pod::PodSummary;
use std::sync::Arc;
use std::time::Duration;

pub fn plan_restart(ctx: &Context, plan: &mut Plan) {
    let Some(restart_at) = ctx.rollout.spec.restart_at.clone() else {
        return;
    };
    if plan.status.restarted_at.as_ref() == Some(&restart_at) {
        return;
    }
    if restart_at.0 > ctx.now {
        plan.requeue(Duration::try_from(ctx.now.duration_until(restart_at.0)).unwrap_or_default());
        return;
    }
    let pods: Vec<&PodSummary> = ctx
        .observed
        .pods
        .iter()
        .map(Arc::as_ref)
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let stable = plan.status.stable_rs.clone();
    let mut old: Vec<&PodSummary> = pods
        .iter()
        .copied()
        .filter(|p| {
            p.metadata
                .creation_timestamp
                .as_ref()
                .is_some_and(|t| t.0 < restart_at.0)
        })
        .collect();
    if old.is_empty() {
        plan.status.restarted_at = Some(restart_at);
        plan.event(
            EventType::Normal,
            "RolloutRestarted",
            "All pods created before restartAt have been replaced",
        );
        return;
    }
    let rank = |p: &PodSummary| {
        let hash = p.pod_template_hash.as_deref();
        if hash.is_some() && hash == stable.as_deref() {
            0
        } else if hash == Some(ctx.hash.as_str()) {
            1
        } else {
            2
        }
    };
    old.sort_by_key(|p| (rank(p), p.metadata.name.clone()));
    let max_unavailable = ctx.fenceposts().max_unavailable.max(1);
    let unavailable = i32::try_from(pods.iter().filter(|p| !p.ready).count()).unwrap_or(i32::MAX);
    let budget = usize::try_from(max_unavailable - unavailable).unwrap_or(0);
    if budget == 0 {
        // Replacement pods becoming ready re-trigger the reconcile; this is a fallback.
        plan.requeue(Duration::from_secs(1));
        return;
    }
    for pod in old.into_iter().take(budget) {
        plan.evict_pods
            .push(pod.metadata.name.clone().unwrap_or_default());
    }
    plan.event(
        EventType::Normal,
        "RestartingPods",
        format!(
            "Evicting {} pod(s) created before {}",
            plan.evict_pods.len(),
            restart_at.0
        ),
    );
}
