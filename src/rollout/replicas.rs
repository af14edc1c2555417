//! Replica math for the canary strategy (Argo's utils/replicaset/canary.go semantics).

use crate::api::rollout::SetCanaryScale;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Canary replicas for a traffic weight: `ceil(weight * replicas / 100)`.
pub fn weight_to_replicas(weight: i32, replicas: i32) -> i32 {
    let product = i64::from(weight.clamp(0, 100)) * i64::from(replicas.max(0));
    i32::try_from((product + 99) / 100).unwrap_or(i32::MAX)
}

/// Desired canary count with traffic routing: the stable ReplicaSet stays at 100 %.
pub fn traffic_routed_canary(
    replicas: i32,
    weight: i32,
    scale: Option<&SetCanaryScale>,
    min_pods_per_replica_set: Option<i32>,
) -> i32 {
    let desired = match scale {
        Some(SetCanaryScale {
            replicas: Some(r), ..
        }) => *r,
        Some(SetCanaryScale {
            weight: Some(w), ..
        }) => weight_to_replicas(*w, replicas),
        _ => weight_to_replicas(weight, replicas),
    };
    match min_pods_per_replica_set {
        Some(min) if desired > 0 && desired < min => min.min(replicas),
        _ => desired,
    }
}

/// Resolves maxSurge (rounds up) or maxUnavailable (rounds down) against `replicas`.
pub fn resolve_int_or_percent(value: Option<&IntOrString>, replicas: i32, round_up: bool) -> i32 {
    match value {
        None => {
            resolve_int_or_percent(Some(&IntOrString::String("25%".into())), replicas, round_up)
        }
        Some(IntOrString::Int(v)) => *v,
        Some(IntOrString::String(s)) => {
            let percent: i64 = s.trim_end_matches('%').trim().parse().unwrap_or(0);
            let product = percent * i64::from(replicas);
            let value = if round_up {
                (product + 99) / 100
            } else {
                product / 100
            };
            i32::try_from(value).unwrap_or(i32::MAX)
        }
    }
}

/// Counts in a basic (no traffic routing) canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicCounts {
    pub canary: i32,
    pub stable: i32,
}

/// Current state of the ReplicaSets a basic canary moves between.
#[derive(Debug, Clone, Copy, Default)]
pub struct BasicState {
    pub canary_spec: i32,
    pub canary_available: i32,
    pub stable_spec: i32,
    pub stable_available: i32,
    /// ReplicaSets that are neither canary nor stable (their pods count against the budgets).
    pub others_spec: i32,
    pub others_available: i32,
}

/// Basic canary: split `replicas` by weight (nearest integer, ties up, Argo's
/// approximateWeightedCanaryStableReplicaCounts) and move toward it within the maxSurge budget
/// for scale-ups and the maxUnavailable budget for scale-downs.
pub fn basic_canary(
    replicas: i32,
    weight: i32,
    max_surge: i32,
    max_unavailable: i32,
    state: BasicState,
) -> BasicCounts {
    let (want_canary, want_stable) = weighted_split(replicas, weight);
    let mut canary = state.canary_spec;
    let mut stable = state.stable_spec;

    let mut scale_up = replicas + max_surge - (canary + stable + state.others_spec);
    if scale_up > 0 && canary < want_canary {
        let step = (want_canary - canary).min(scale_up);
        canary += step;
        scale_up -= step;
    }
    if scale_up > 0 && stable < want_stable {
        stable += (want_stable - stable).min(scale_up);
    }

    let available = state.canary_available + state.stable_available + state.others_available;
    let mut scale_down = available - (replicas - max_unavailable);
    // Old ReplicaSets drain first (the caller scales them to zero); their available pods use the budget.
    scale_down -= state.others_available.min(scale_down.max(0));
    if scale_down > 0 && stable > want_stable {
        let step = (stable - want_stable).min(scale_down);
        stable -= step;
        scale_down -= step;
    }
    if scale_down > 0 && canary > want_canary {
        canary -= (canary - want_canary).min(scale_down);
    }
    BasicCounts { canary, stable }
}

pub fn weighted_split(replicas: i32, weight: i32) -> (i32, i32) {
    let exact = f64::from(replicas) * f64::from(weight.clamp(0, 100)) / 100.0;
    let canary = if exact.fract() >= 0.5 {
        exact.ceil()
    } else {
        exact.floor()
    } as i32;
    // A non-zero weight always gets a pod and a non-100 weight always keeps one stable pod,
    // as in Argo, when there is more than one replica.
    let canary = if weight > 0 && canary == 0 && replicas > 0 {
        1
    } else if weight < 100 && canary == replicas && replicas > 1 {
        replicas - 1
    } else {
        canary
    };
    (canary, replicas - canary)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn set_canary_scale_overrides_weight() {
        let replicas = |r| SetCanaryScale {
            replicas: Some(r),
            ..Default::default()
        };
        let weight = |w| SetCanaryScale {
            weight: Some(w),
            ..Default::default()
        };
        let cases: [(Option<SetCanaryScale>, Option<i32>, i32); 5] = [
            (None, None, 2),
            (Some(replicas(5)), None, 5),
            (Some(weight(50)), None, 5),
            (None, Some(3), 3),
            (Some(replicas(0)), Some(3), 0),
        ];
        for (scale, min_pods, want) in cases {
            assert_eq!(
                traffic_routed_canary(10, 20, scale.as_ref(), min_pods),
                want,
                "{scale:?} {min_pods:?}"
            );
        }
    }

    #[test]
    fn surge_and_unavailable_resolution() {
        assert_eq!(resolve_int_or_percent(None, 10, true), 3);
        assert_eq!(resolve_int_or_percent(None, 10, false), 2);
        assert_eq!(
            resolve_int_or_percent(Some(&IntOrString::Int(1)), 10, true),
            1
        );
        assert_eq!(
            resolve_int_or_percent(Some(&IntOrString::String("10%".into())), 5, true),
            1
        );
        assert_eq!(
            resolve_int_or_percent(Some(&IntOrString::String("10%".into())), 5, false),
            0
        );
    }

    #[test]
    fn basic_canary_moves_within_budgets() {
        let start = BasicState {
            stable_spec: 10,
            stable_available: 10,
            ..Default::default()
        };
        // 20% of 10, surge 3, unavailable 2: both moves fit the budgets in one step.
        assert_eq!(
            basic_canary(10, 20, 3, 2, start),
            BasicCounts {
                canary: 2,
                stable: 8
            }
        );
        // Surge 1: only one canary pod can be added; unavailable 0: nothing may go down.
        assert_eq!(
            basic_canary(10, 20, 1, 0, start),
            BasicCounts {
                canary: 1,
                stable: 10
            }
        );
        // Canary pods not yet available: stable may not drop below replicas - maxUnavailable.
        let unready = BasicState {
            canary_spec: 2,
            canary_available: 0,
            ..start
        };
        assert_eq!(
            basic_canary(10, 20, 3, 1, unready),
            BasicCounts {
                canary: 2,
                stable: 9
            }
        );
        // Abort (weight 0) with no spare availability: stable comes back before the canary drains.
        let aborting = BasicState {
            canary_spec: 2,
            canary_available: 2,
            stable_spec: 8,
            stable_available: 8,
            ..Default::default()
        };
        assert_eq!(
            basic_canary(10, 0, 3, 0, aborting),
            BasicCounts {
                canary: 2,
                stable: 10
            }
        );
        let restored = BasicState {
            stable_spec: 10,
            stable_available: 10,
            ..aborting
        };
        assert_eq!(
            basic_canary(10, 0, 3, 0, restored),
            BasicCounts {
                canary: 0,
                stable: 10
            }
        );
    }
}
