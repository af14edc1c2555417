//! Property tests for DESIGN.md section 4: over random step lists, replica counts and abort
//! points, every plan keeps route weights summing to 100 and never sends traffic to a
//! ReplicaSet without available pods (checked inside `Sim::step`), and an abort puts the
//! canary weight to 0 in the very plan that notices it.

use super::fixtures::*;
use super::sim::Sim;
use crate::api::rollout::{CanaryStep, SetCanaryScale};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;

fn step_strategy() -> impl Strategy<Value = CanaryStep> {
    prop_oneof![
        (0..=100i32).prop_map(weight),
        Just(pause(Some("0s"))),
        Just(pause(Some("2s"))),
        Just(pause(None)),
        (0..=5i32).prop_map(|r| CanaryStep {
            set_canary_scale: Some(SetCanaryScale {
                replicas: Some(r),
                ..Default::default()
            }),
            ..Default::default()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn releases_keep_traffic_invariants(
        steps in prop::collection::vec(step_strategy(), 0..8),
        replicas in 1..12i32,
        abort_after in prop::option::of(1..30usize),
        subset in any::<bool>(),
    ) {
        let build = if subset { subset_rollout } else { host_rollout };
        let rollout = build("web:v1", replicas, steps);
        let observed = if subset {
            crate::rollout::Observed {
                virtual_services: [(("web-vsvc".to_string(), NS.to_string()), subset_virtual_service(0))].into(),
                destination_rule: Some(destination_rule()),
                ..Default::default()
            }
        } else {
            host_observed()
        };
        let mut sim = Sim::new(rollout, observed, t(0));
        sim.run_until(30, |s| s.phase() == "Healthy");
        sim.set_image("web:v2");
        for i in 0..80 {
            if abort_after == Some(i) && sim.status().stable_rs.as_deref() != sim.status().current_pod_hash.as_deref() {
                sim.rollout.status.as_mut().unwrap().abort = Some(true);
                sim.step();
                prop_assert_eq!(sim.canary_weight(), 0);
                continue;
            }
            if sim.phase() == "Paused" {
                sim.rollout.status.as_mut().unwrap().pause_conditions = None;
            }
            sim.step();
        }
        if abort_after.is_none() {
            prop_assert_eq!(sim.phase(), "Healthy");
            prop_assert_eq!(sim.canary_weight(), 0);
        }
    }
}

fn fencepost_strategy() -> impl Strategy<Value = Option<IntOrString>> {
    prop_oneof![
        Just(None),
        (0..=3i32).prop_map(|v| Some(IntOrString::Int(v))),
        prop_oneof![Just("0%"), Just("10%"), Just("25%"), Just("50%")]
            .prop_map(|p| Some(IntOrString::String(p.into()))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Argo's basic canary (no traffic routing) always makes progress: over random replicas,
    /// maxSurge/maxUnavailable and weights, also with every stable pod crash-looping, a release
    /// reaches Healthy with the stable ReplicaSet drained, and never has more pods than
    /// replicas + maxSurge.
    #[test]
    fn basic_canary_always_completes_within_max_surge(
        weights in prop::collection::vec(0..=100i32, 1..5),
        replicas in 1..12i32,
        max_surge in fencepost_strategy(),
        max_unavailable in fencepost_strategy(),
        stable_crash_looping in any::<bool>(),
    ) {
        let zero = |v: &Option<IntOrString>| matches!(v, Some(IntOrString::Int(0))) ||
            matches!(v, Some(IntOrString::String(s)) if s == "0%");
        prop_assume!(!(zero(&max_surge) && zero(&max_unavailable)));
        let steps = weights.into_iter().flat_map(|w| [weight(w), pause(None)]).collect();
        let mut rollout = host_rollout("web:v1", replicas, steps);
        let canary = rollout.spec.strategy.canary.as_mut().unwrap();
        canary.traffic_routing = None;
        canary.max_surge = max_surge.clone();
        canary.max_unavailable = max_unavailable.clone();
        let surge = crate::rollout::replicas::fenceposts(max_surge.as_ref(), max_unavailable.as_ref(), replicas).max_surge;
        // Plain Services only: no VirtualService (whose weights the invariants check).
        let mut observed = host_observed();
        observed.virtual_services.clear();
        let mut sim = Sim::new(rollout, observed, t(0));
        sim.run_until(40, |s| s.phase() == "Healthy");
        if stable_crash_looping {
            sim.never_ready = Some("web:v1".into());
        }
        let first = sim.status().stable_rs.clone();
        sim.set_image("web:v2");
        for _ in 0..200 {
            if sim.phase() == "Healthy" && sim.status().stable_rs != first {
                break;
            }
            if sim.phase() == "Paused" {
                sim.rollout.status.as_mut().unwrap().pause_conditions = None;
            }
            sim.step();
            let pods: i32 = sim.observed.replica_sets.iter().map(|rs| crate::rollout::observed::spec_replicas(rs)).sum();
            prop_assert!(pods <= replicas + surge, "{pods} pods for {replicas} replicas + maxSurge {surge}");
        }
        prop_assert_eq!(sim.phase(), "Healthy");
        prop_assert_ne!(sim.status().stable_rs.clone(), first);
        let old: i32 = sim.observed.replica_sets.iter()
            .filter(|rs| crate::rollout::observed::hash_of(rs) != sim.status().stable_rs.as_deref())
            .map(|rs| crate::rollout::observed::spec_replicas(rs))
            .sum();
        prop_assert_eq!(old, 0, "the old stable drained");
    }
}
