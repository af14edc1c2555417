//! Property tests for DESIGN.md section 4: over random step lists, replica counts and abort
//! points, every plan keeps route weights summing to 100 and never sends traffic to a
//! ReplicaSet without available pods (checked inside `Sim::step`), and an abort puts the
//! canary weight to 0 in the very plan that notices it.

use super::fixtures::*;
use super::sim::Sim;
use crate::api::rollout::{CanaryStep, SetCanaryScale};
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
