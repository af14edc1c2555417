//! Replica math for the canary strategy, with Argo's semantics (utils/replicaset/canary.go and
//! replicaset.go): the fenceposts, the weighted split, the counts for the next reconcile with and
//! without traffic routing, and how far older ReplicaSets may be drained. Pure; the planner
//! (scaling.rs) feeds it counts and applies what it returns. Argo's own test tables are in
//! tests/argo_canary.rs.

use crate::api::rollout::SetCanaryScale;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Argo's default for both maxSurge and maxUnavailable of a canary.
const DEFAULT_FENCEPOST: &str = "25%";

/// A ReplicaSet as the replica math sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RsCounts {
    /// `spec.replicas`.
    pub spec: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `status.replicas`: pods that exist, available or not.
    pub created: i32,
}

/// What the current step asks of the canary (Argo's GetCanaryReplicasOrWeight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryTarget {
    /// A traffic weight, 0–100 (setCanaryScale.weight may go beyond 100).
    Weight(i32),
    /// A fixed canary count from setCanaryScale.replicas.
    Replicas(i32),
}

impl CanaryTarget {
    pub fn weight(self) -> i32 {
        match self {
            CanaryTarget::Weight(w) => w,
            CanaryTarget::Replicas(_) => 0,
        }
    }
}

/// The Rollout facts GetCanaryReplicasOrWeight reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetInputs<'a> {
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// No stable ReplicaSet yet, or the current pod hash is the stable one.
    pub stable_is_current: bool,
    /// `status.abort`.
    pub aborted: bool,
    pub traffic_routed: bool,
    /// `abortScaleDownDelaySeconds` resolves to a delay (Argo: anything but an explicit 0).
    pub abort_delay: bool,
    /// Index of the current step; `None` past the last step.
    pub current_step: Option<usize>,
    /// The last setWeight at or before the current step.
    pub set_weight: Option<i32>,
    /// The setCanaryScale in force (the last one at or before the current step, unless it has
    /// matchTrafficWeight).
    pub set_canary_scale: Option<&'a SetCanaryScale>,
}

/// Argo's GetCanaryReplicasOrWeight with GetCurrentSetWeight and UseSetCanaryScale.
pub fn canary_target(input: TargetInputs) -> CanaryTarget {
    if input.promote_full || input.stable_is_current {
        return CanaryTarget::Weight(100);
    }
    // setCanaryScale needs traffic routing; an abort with a scale-down delay drops it (the
    // delay, not the step, keeps the canary up), while abortScaleDownDelaySeconds: 0 keeps it.
    let scale = input
        .set_canary_scale
        .filter(|_| input.traffic_routed && input.current_step.is_some())
        .filter(|_| !(input.aborted && input.abort_delay));
    if let Some(scale) = scale {
        if let Some(r) = scale.replicas {
            return CanaryTarget::Replicas(r);
        }
        if let Some(w) = scale.weight {
            return CanaryTarget::Weight(w);
        }
    }
    if input.aborted {
        return CanaryTarget::Weight(0);
    }
    match input.current_step {
        None => CanaryTarget::Weight(100),
        Some(_) => CanaryTarget::Weight(input.set_weight.unwrap_or(0)),
    }
}

/// Scales an int-or-percent against `replicas` like Kubernetes' GetScaledValueFromIntOrPercent
/// (percentages round up for maxSurge, down for maxUnavailable). Validation rejects anything
/// but an integer or "N%" (api/validation.rs), so a bad value never reaches here; it would count
/// as 0.
fn scaled(value: &IntOrString, replicas: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(v) => *v,
        IntOrString::String(s) => {
            let percent: i64 = s.trim_end_matches('%').trim().parse().unwrap_or(0);
            let product = percent * i64::from(replicas);
            let value = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(value).unwrap_or(i32::MAX)
        }
    }
}

/// Resolved maxSurge and maxUnavailable (Argo's MaxSurge/MaxUnavailable over resolveFenceposts):
/// when both resolve to 0 maxUnavailable becomes 1, so that a rollout can always make progress
/// (replicas 5 with maxSurge 0 % and maxUnavailable 10 % would otherwise never move), and
/// maxUnavailable never exceeds the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenceposts {
    pub max_surge: i32,
    pub max_unavailable: i32,
}

pub fn fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> Fenceposts {
    let default = IntOrString::String(DEFAULT_FENCEPOST.into());
    let surge = scaled(max_surge.unwrap_or(&default), replicas, true);
    let mut unavailable = scaled(max_unavailable.unwrap_or(&default), replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Fenceposts {
        max_surge: surge,
        max_unavailable: if replicas == 0 {
            0
        } else {
            unavailable.min(replicas)
        },
    }
}

/// Canary replicas for a traffic weight: `ceil(weight * replicas / 100)` (trafficWeightToReplicas).
pub fn weight_to_replicas(weight: i32, replicas: i32) -> i32 {
    let product = i64::from(weight.max(0)) * i64::from(replicas.max(0));
    i32::try_from((product + 99) / 100).unwrap_or(i32::MAX)
}

/// Canary and stable counts with traffic routing (CalculateReplicaCountsForTrafficRoutedCanary
/// without dynamicStableScale, which Weir rejects): the stable stays at 100 %, the canary follows
/// setCanaryScale or the weight, at least minPodsPerReplicaSet when not zero.
pub fn traffic_routed_counts(
    replicas: i32,
    target: CanaryTarget,
    min_pods_per_replica_set: Option<i32>,
) -> (i32, i32) {
    let canary = match target {
        CanaryTarget::Replicas(r) => r,
        CanaryTarget::Weight(w) => {
            let canary = weight_to_replicas(w, replicas);
            match min_pods_per_replica_set {
                Some(min) if canary > 0 => canary.max(min),
                _ => canary,
            }
        }
    };
    (canary, replicas)
}

/// Argo's approximateWeightedCanaryStableReplicaCounts: the canary/stable split closest to the
/// weight, allowed to use one surge replica (so replicas 1, weight 50, maxSurge 1 gives 1 + 1),
/// never zero pods on either side for a weight of 1–99 when there are two or more pods.
pub fn weighted_split(replicas: i32, weight: i32, max_surge: i32) -> (i32, i32) {
    if replicas == 0 {
        return (0, 0);
    }
    // The float expressions are Argo's, so that rounding ties resolve the same way.
    let exact = f64::from(replicas * weight) / 100.0;
    let ceil = exact.ceil() as i32;
    let floor = exact.floor() as i32;
    let tied = |total: i32| (f64::from(total) * (f64::from(weight) / 100.0)).fract() == 0.5;
    let zero_allowed = weight == 100 || weight == 0 || (replicas == 1 && max_surge == 0);
    // Candidates in Argo's order; the first of equally close ones wins.
    let mut options: Vec<(i32, i32)> = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        options.push((ceil, replicas));
    }
    if !tied(replicas) && (floor != 0 || zero_allowed) {
        options.push((floor, replicas));
    }
    if max_surge > 0 {
        options.push((ceil, replicas + 1));
        if !tied(replicas + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, replicas + 1));
        }
    }
    let delta = |(canary, total): (i32, i32)| {
        (f64::from(canary * 100) / f64::from(total) - f64::from(weight)).abs()
    };
    let mut best = match options.first() {
        Some(first) => *first,
        None => return (0, replicas),
    };
    for option in options.iter().skip(1) {
        if delta(*option) < delta(best) {
            best = *option;
        }
    }
    (best.0, best.1 - best.0)
}

/// Inputs of the basic (no traffic routing) canary.
#[derive(Debug, Clone, Default)]
pub struct BasicInputs {
    pub replicas: i32,
    /// The weight the current step asks for (see `canary_target`).
    pub weight: i32,
    pub fenceposts: Option<Fenceposts>,
    pub new_rs: Option<RsCounts>,
    /// `None` when there is no stable ReplicaSet or it is the new one.
    pub stable_rs: Option<RsCounts>,
    /// Every other ReplicaSet of the Rollout.
    pub older: Vec<RsCounts>,
}

/// Counts for the next reconcile of a basic canary (CalculateReplicaCountsForBasicCanary):
/// scale up within maxSurge, stable before canary; scale down within maxUnavailable only once
/// older ReplicaSets are empty, ignoring the availability of the side that is growing (so
/// crash-looping stable pods do not block the canary) and never breaking either fencepost.
pub fn basic_counts(input: &BasicInputs) -> (i32, i32) {
    let replicas = input.replicas;
    let Fenceposts {
        max_surge,
        max_unavailable,
    } = input
        .fenceposts
        .unwrap_or_else(|| fenceposts(None, None, replicas));
    let (mut want_new, mut want_stable) = weighted_split(replicas, input.weight, max_surge);
    let mut new_count = input.new_rs.map_or(0, |rs| rs.spec);
    let mut stable_count = input.stable_rs.map_or(0, |rs| rs.spec);
    if input.stable_rs.is_none() {
        // Without a stable ReplicaSet the steps do not apply: the new one goes to 100 %.
        want_new = replicas;
        want_stable = 0;
    }
    let max_total = replicas + max_surge;
    let older_spec: i32 = input.older.iter().map(|rs| rs.spec).sum();
    let mut scale_up = max_total - (older_spec + new_count + stable_count);

    if let Some(stable) = input.stable_rs
        && stable.spec < want_stable
        && scale_up > 0
    {
        stable_count = (stable.spec + scale_up).min(want_stable);
        scale_up -= stable_count - stable.spec;
    }
    if let Some(new) = input.new_rs
        && new.spec < want_new
        && scale_up > 0
    {
        new_count = (new.spec + scale_up).min(want_new);
    }
    if older_spec > 0 {
        // Older ReplicaSets drain before the new or stable one gives up a pod.
        return (new_count, stable_count);
    }

    let min_available = replicas - max_unavailable;
    let increasing = input.new_rs.is_none_or(|rs| want_new >= rs.spec);
    let scalable =
        scale_down_basis(input.new_rs, !increasing) + scale_down_basis(input.stable_rs, increasing);
    if scalable <= min_available {
        return (new_count, stable_count);
    }
    let scale_down = scalable - min_available;
    // The side that shrinks (the stable while the canary grows; the canary on a lower weight
    // or an abort) drains; the other keeps the pair within maxSurge and maxUnavailable.
    if increasing && input.stable_rs.is_none() {
        return (new_count, stable_count);
    }
    let new = (input.new_rs, want_new, new_count);
    let stable = (input.stable_rs, want_stable, stable_count);
    let (drained, adjusted) = if increasing {
        (stable, new)
    } else {
        (new, stable)
    };
    let drained_count = drain(drained.0, drained.1, scale_down, drained.2);
    let (drained_count, adjusted_count) = within_limits(
        drained.0,
        adjusted.0,
        drained_count,
        adjusted.2,
        max_total,
        min_available,
    );
    if increasing {
        (adjusted_count, drained_count)
    } else {
        (drained_count, adjusted_count)
    }
}

/// How many of a ReplicaSet's pods count toward a scale-down (GetReplicasForScaleDown): its
/// spec when it is shrinking anyway or when its availability is ignored, else its available
/// pods (so pods that are not up are not counted as capacity).
pub(crate) fn scale_down_basis(rs: Option<RsCounts>, ignore_availability: bool) -> i32 {
    match rs {
        None => 0,
        Some(rs) if rs.spec < rs.available || ignore_availability => rs.spec,
        Some(rs) => rs.available,
    }
}

/// The side that shrinks: toward its target by at most `scale_down`.
fn drain(rs: Option<RsCounts>, want: i32, scale_down: i32, count: i32) -> i32 {
    match rs {
        Some(rs) if rs.spec > want => want.max(rs.spec - scale_down),
        _ => count,
    }
}

/// Keeps the pair within maxSurge and maxUnavailable after a drain (adjustReplicaWithinLimits):
/// the other side gives back what exceeds the surge, but not pods needed for availability; what
/// is still over then comes off the drained side.
fn within_limits(
    drained: Option<RsCounts>,
    adjusted: Option<RsCounts>,
    mut drained_count: i32,
    mut adjusted_count: i32,
    max_total: i32,
    min_available: i32,
) -> (i32, i32) {
    let Some(adjusted_rs) = adjusted else {
        return (drained_count, adjusted_count);
    };
    let over = (adjusted_count + drained_count - max_total).max(0);
    let mut available = drained.map_or(0, |rs| rs.available.min(drained_count));
    adjusted_count -= over;
    available += adjusted_rs.available.min(adjusted_count);
    let lost = (adjusted_rs.available - adjusted_count).max(0);
    let short = (min_available - available).max(0);
    adjusted_count += lost.min(short);
    let over = (adjusted_count + drained_count - max_total).max(0);
    drained_count -= over;
    (drained_count, adjusted_count)
}

/// Whether a step's counts are reached (AtDesiredReplicaCountsForCanary): every desired canary
/// pod is available, every desired stable pod exists, and (basic canary only, where their pods
/// take traffic) no older ReplicaSet has an available pod. `desired` is what `basic_counts` or
/// `traffic_routed_counts` returns for the current state.
pub fn at_desired(
    desired: (i32, i32),
    new_rs: Option<RsCounts>,
    stable_rs: Option<RsCounts>,
    older_available: Option<i32>,
) -> bool {
    let (want_new, want_stable) = desired;
    new_rs.is_some_and(|rs| rs.spec == want_new && rs.available == want_new)
        && stable_rs.is_some_and(|rs| rs.spec == want_stable && rs.created == want_stable)
        && older_available.is_none_or(|a| a == 0)
}

/// New `spec.replicas` for the older ReplicaSets of a basic canary (scaleDownOldReplicaSetsForCanary
/// after cleanupUnhealthyReplicas), in the order given (newest revision first): pods that are not
/// available go at once, since removing them costs no availability; then available pods go while
/// every ReplicaSet's available pods stay above `replicas - maxUnavailable`. Their pods take
/// traffic through the Service, so they all drain to zero in the end.
pub fn drain_older(
    replicas: i32,
    max_unavailable: i32,
    available_in_all: i32,
    older: &[RsCounts],
) -> Vec<i32> {
    let mut budget = available_in_all - (replicas - max_unavailable);
    older
        .iter()
        .map(|rs| {
            let healthy = rs.spec.min(rs.available.max(0));
            if healthy == 0 || budget <= 0 {
                return healthy;
            }
            let after = (healthy - budget).max(0);
            budget -= healthy - after;
            after
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i32) -> IntOrString {
        IntOrString::Int(v)
    }
    fn pct(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn fenceposts_round_and_never_both_zero() {
        // (maxSurge, maxUnavailable, replicas) → (surge, unavailable)
        let cases = [
            (None, None, 10, (3, 2)),
            (Some(int(1)), Some(int(0)), 10, (1, 0)),
            (Some(pct("10%")), Some(pct("10%")), 5, (1, 0)),
            (Some(pct("0%")), Some(pct("10%")), 5, (0, 1)),
            (Some(pct("0%")), Some(pct("0%")), 10, (0, 1)),
            (Some(int(0)), Some(int(20)), 10, (0, 10)),
            (Some(int(0)), Some(int(0)), 0, (0, 0)),
        ];
        for (surge, unavailable, replicas, (want_surge, want_unavailable)) in cases {
            assert_eq!(
                fenceposts(surge.as_ref(), unavailable.as_ref(), replicas),
                Fenceposts {
                    max_surge: want_surge,
                    max_unavailable: want_unavailable
                },
                "{surge:?} {unavailable:?} of {replicas}"
            );
        }
    }

    #[test]
    fn weight_to_replicas_rounds_up() {
        let cases = [
            (10, 10, 1),
            (20, 10, 2),
            (15, 10, 2),
            (1, 10, 1),
            (0, 10, 0),
            (100, 10, 10),
            (33, 3, 1),
            (50, 1, 1),
            (200, 4, 8),
        ];
        for (weight, replicas, want) in cases {
            assert_eq!(
                weight_to_replicas(weight, replicas),
                want,
                "{weight}% of {replicas}"
            );
        }
    }

    #[test]
    fn older_replica_sets_drain_within_max_unavailable() {
        // (replicas, maxUnavailable, available in all, older) → new counts
        type Case = (i32, i32, i32, Vec<RsCounts>, Vec<i32>);
        let cases: [Case; 4] = [
            // Enough new/stable pods up: everything older goes.
            (
                10,
                1,
                13,
                vec![RsCounts {
                    spec: 3,
                    available: 3,
                    created: 3,
                }],
                vec![0],
            ),
            // Only one pod of slack: one pod goes.
            (
                10,
                1,
                10,
                vec![RsCounts {
                    spec: 3,
                    available: 3,
                    created: 3,
                }],
                vec![2],
            ),
            // Crash-looping pods go without using the budget.
            (
                10,
                0,
                10,
                vec![RsCounts {
                    spec: 3,
                    available: 0,
                    created: 3,
                }],
                vec![0],
            ),
            // Newest first: the budget is spent in order.
            (
                4,
                0,
                6,
                vec![
                    RsCounts {
                        spec: 1,
                        available: 1,
                        created: 1,
                    },
                    RsCounts {
                        spec: 2,
                        available: 2,
                        created: 2,
                    },
                ],
                vec![0, 1],
            ),
        ];
        for (replicas, unavailable, all, older, want) in cases {
            assert_eq!(drain_older(replicas, unavailable, all, &older), want);
        }
    }
}
