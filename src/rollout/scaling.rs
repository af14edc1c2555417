//! How many pods each ReplicaSet gets: the desired canary/stable counts for the step (the
//! replica math is `replicas.rs`), whether they are reached, and the scaling, delayed
//! scale-downs and revisionHistoryLimit deletions that follow.

use super::canary::{Context, DEFAULT_REVISION_HISTORY_LIMIT, Decision};
use super::observed::{self, available, hash_of, revision_of, scale_down_deadline, spec_replicas};
use super::plan::{EventType, Plan, ReplicaSetUpdate};
use super::replicas::{self, BasicInputs, RsCounts, TargetInputs};
use super::steps;
use crate::api::labels::SCALE_DOWN_DEADLINE;
use crate::api::replica_set::ReplicaSetSummary;
use jiff::SignedDuration;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(super) struct Counts {
    /// Desired canary (new ReplicaSet) count before abort delays are applied.
    pub(super) canary: i32,
    pub(super) stable: i32,
    /// Target split used to decide whether the step's counts are reached (basic canary only
    /// differs from `canary`/`stable` while surge/unavailable budgets hold it back).
    pub(super) target_canary: i32,
    pub(super) target_stable: i32,
    /// Weight the replica math used.
    pub(super) weight: i32,
}

pub(super) fn desired_counts(ctx: &Context, d: &Decision, promote_full: bool) -> Counts {
    let len = ctx.steps.len();
    let current_step = (d.step_index < len).then_some(d.step_index);
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

pub(super) fn rs_counts(rs: &ReplicaSetSummary) -> RsCounts {
    RsCounts {
        spec: spec_replicas(rs),
        available: available(rs),
        created: observed::current(rs),
    }
}

/// The stable ReplicaSet while it is not the new one.
pub(super) fn stable_rs<'a>(ctx: &Context<'a>, d: &Decision) -> Option<&'a ReplicaSetSummary> {
    d.stable_hash
        .as_deref()
        .filter(|h| *h != ctx.hash)
        .and_then(|h| ctx.rs_by_hash(h))
}

/// Every ReplicaSet of the Rollout that is neither the new nor the stable one.
pub(super) fn older_rss<'a, 'b>(
    ctx: &'b Context<'a>,
    d: &'b Decision,
) -> impl Iterator<Item = &'a ReplicaSetSummary> + 'b {
    ctx.observed
        .replica_sets
        .iter()
        .map(Arc::as_ref)
        .filter(move |rs| !is_new_or_stable(ctx, d, rs))
}

fn is_new_or_stable(ctx: &Context, d: &Decision, rs: &ReplicaSetSummary) -> bool {
    let hash = hash_of(rs);
    hash == Some(ctx.hash.as_str()) || (hash.is_some() && hash == d.stable_hash.as_deref())
}

pub(super) fn at_desired_counts(ctx: &Context, d: &Decision, counts: &Counts) -> bool {
    let older_available = (!ctx.traffic_routed).then(|| older_rss(ctx, d).map(available).sum());
    replicas::at_desired(
        (counts.target_canary, counts.target_stable),
        ctx.new_rs.map(rs_counts),
        stable_rs(ctx, d).map(rs_counts),
        older_available,
    )
}

pub(super) fn scale_replica_sets(ctx: &Context, plan: &mut Plan, d: &Decision, counts: &Counts) {
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
        if delay > 0 && stable_whole && spec_replicas(new_rs) > 0 && !d.in_use.contains(&ctx.hash) {
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
        if d.in_use.contains(hash_of(rs).unwrap_or_default()) {
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
        let all_available = ctx
            .observed
            .replica_sets
            .iter()
            .map(|rs| available(rs))
            .sum();
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
