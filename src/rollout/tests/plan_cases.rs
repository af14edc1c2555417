//! One test per behaviour of the canary engine, driven through the pure simulator or a single plan.

use super::fixtures::*;
use super::sim::{Sim, deadline_annotation};
use crate::api::rollout::{CanaryStep, SetCanaryScale};
use crate::rollout::conditions;
use crate::rollout::observed::Observed;
use crate::rollout::plan;
use std::collections::BTreeMap;

const V1: &str = "web:v1";
const V2: &str = "web:v2";
const V3: &str = "web:v3";

fn steps() -> Vec<CanaryStep> {
    vec![weight(10), pause(Some("10s")), weight(50), pause(None)]
}

/// A host-split Rollout that has completed its first deploy of v1.
fn healthy_host(steps: Vec<CanaryStep>) -> Sim {
    let rollout = host_rollout(V1, 10, steps);
    let observed = host_observed();
    let mut sim = Sim::new(rollout, observed, t(0));
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim
}

fn healthy_subset(steps: Vec<CanaryStep>) -> Sim {
    let rollout = subset_rollout(V1, 10, steps);
    let observed = Observed {
        virtual_services: BTreeMap::from([(
            ("web-vsvc".to_string(), NS.to_string()),
            subset_virtual_service(0),
        )]),
        destination_rule: Some(destination_rule()),
        ..Default::default()
    };
    let mut sim = Sim::new(rollout, observed, t(0));
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim
}

fn promote(sim: &mut Sim) {
    sim.rollout.status.as_mut().unwrap().pause_conditions = None;
}

#[test]
fn initial_deploy_skips_steps_and_becomes_healthy() {
    let rollout = host_rollout(V1, 10, steps());
    let observed = host_observed();
    let first = plan(&rollout, &observed, t(0));
    let rs = first
        .create_replica_set
        .as_ref()
        .expect("creates the ReplicaSet");
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{}", hash(V1)).as_str())
    );
    assert_eq!(
        rs.metadata.owner_references.as_ref().unwrap()[0].uid,
        "rollout-uid"
    );
    assert_eq!(
        rs.spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .as_ref()
            .unwrap()["rollouts-pod-template-hash"],
        hash(V1)
    );
    assert_eq!(first.status.stable_rs, Some(hash(V1)));
    assert_eq!(first.status.current_step_index, Some(4));

    let sim = healthy_host(steps());
    assert_eq!(sim.rs_replicas(&hash(V1)), Some(10));
    assert_eq!(sim.canary_weight(), 0);
    let stable = &sim.observed.services["web-stable"];
    assert_eq!(
        stable.spec.as_ref().unwrap().selector.as_ref().unwrap()["rollouts-pod-template-hash"],
        hash(V1)
    );
    assert!(
        !sim.reasons().contains(&"RolloutPaused"),
        "initial deploy must not run steps"
    );
    let status = sim.status();
    assert_eq!(
        (
            status.replicas,
            status.available_replicas,
            status.hpa_replicas
        ),
        (Some(10), Some(10), Some(10))
    );
    assert_eq!(status.selector.as_deref(), Some("app=web"));
    assert_eq!(status.observed_generation.as_deref(), Some("1"));
    assert_eq!(
        conditions::get(status, "Healthy").map(|c| c.status.as_str()),
        Some("True")
    );
}

#[test]
fn host_split_walks_every_step_to_promotion() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    let (h1, h2) = (hash(V1), hash(V2));

    // setWeight 10: one canary pod first, weight only once it is available.
    let p = sim.step();
    assert!(p.create_replica_set.is_some());
    assert_eq!(sim.status().current_step_index, Some(0));
    let p = sim.step();
    assert_eq!(
        p.replica_set_updates
            .iter()
            .find(|u| u.name.ends_with(&h2))
            .and_then(|u| u.replicas),
        Some(1)
    );
    assert_eq!(
        sim.canary_weight(),
        0,
        "no weight before the canary pod is available"
    );
    assert_eq!(sim.phase(), "Progressing");
    sim.run_until(5, |s| s.status().current_step_index == Some(1));
    assert_eq!(
        sim.weights(),
        vec![("web-stable".into(), 90), ("web-canary".into(), 10)]
    );
    let canary_svc = &sim.observed.services["web-canary"];
    assert_eq!(
        canary_svc.spec.as_ref().unwrap().selector.as_ref().unwrap()["rollouts-pod-template-hash"],
        h2
    );

    // pause 10s: paused, then resumes by itself.
    sim.step();
    assert_eq!(sim.phase(), "Paused");
    assert_eq!(sim.status().message.as_deref(), Some("CanaryPauseStep"));
    let paused_at = sim.now;
    sim.run_until(30, |s| s.status().current_step_index == Some(2));
    assert!(paused_at.duration_until(sim.now) >= jiff::SignedDuration::from_secs(10));

    // setWeight 50 then indefinite pause until promote.
    sim.run_until(10, |s| s.phase() == "Paused");
    assert_eq!(sim.status().current_step_index, Some(3));
    assert_eq!(sim.canary_weight(), 50);
    assert_eq!(sim.rs_replicas(&h2), Some(5));
    assert_eq!(sim.rs_replicas(&h1), Some(10), "stable stays at 100%");
    for _ in 0..5 {
        sim.step();
    }
    assert_eq!(sim.phase(), "Paused", "indefinite pause waits for promote");
    promote(&mut sim);
    sim.run_until(10, |s| s.phase() == "Healthy");
    let status = sim.status();
    assert_eq!(status.stable_rs, Some(h2.clone()));
    assert_eq!(status.current_step_index, Some(4));
    assert_eq!(sim.canary_weight(), 0);
    let stable_svc = &sim.observed.services["web-stable"];
    assert_eq!(
        stable_svc.spec.as_ref().unwrap().selector.as_ref().unwrap()["rollouts-pod-template-hash"],
        h2
    );
    assert!(sim.reasons().contains(&"RolloutCompleted"));
    assert!(sim.reasons().contains(&"RolloutResumed"));

    // The old stable keeps its pods for scaleDownDelaySeconds (30 s), then goes to zero.
    assert!(deadline_annotation(&sim, &h1).is_some());
    assert_eq!(sim.rs_replicas(&h1), Some(10));
    sim.run_until(40, |s| s.rs_replicas(&h1) == Some(0));
    assert!(deadline_annotation(&sim, &h1).is_none());
}

#[test]
fn weight_waits_for_available_canary_pods() {
    let mut sim = healthy_host(steps());
    sim.never_ready = Some(V2.into());
    sim.set_image(V2);
    for _ in 0..10 {
        sim.step();
    }
    assert_eq!(sim.canary_weight(), 0);
    assert_eq!(sim.status().current_step_index, Some(0));
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(1));
    assert_eq!(sim.phase(), "Progressing");
}

#[test]
fn abort_sends_all_traffic_to_stable_in_the_same_plan() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    sim.run_until(40, |s| s.status().current_step_index == Some(3));
    assert_eq!(sim.canary_weight(), 50);
    sim.rollout.status.as_mut().unwrap().abort = Some(true);
    let p = sim.step();
    assert_eq!(p.virtual_service_patches.len(), 1);
    assert_eq!(p.virtual_service_patches[0].canary_weight, 0);
    assert_eq!(sim.canary_weight(), 0);
    let canary_svc = &sim.observed.services["web-canary"];
    assert_eq!(
        canary_svc.spec.as_ref().unwrap().selector.as_ref().unwrap()["rollouts-pod-template-hash"],
        hash(V1)
    );
    assert_eq!(sim.phase(), "Degraded");
    assert_eq!(
        sim.status().message.as_deref(),
        Some("RolloutAborted: Rollout aborted update to revision 2")
    );
    assert_eq!(sim.status().current_step_index, Some(0));
    assert!(sim.status().aborted_at.is_some());
    let warning = p
        .events
        .iter()
        .find(|e| e.reason == "RolloutAborted")
        .expect("event");
    assert_eq!(warning.type_, crate::rollout::EventType::Warning);

    // Canary pods stay for abortScaleDownDelaySeconds (30 s) then are removed.
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(5));
    sim.run_until(40, |s| s.rs_replicas(&hash(V2)) == Some(0));
    assert_eq!(sim.phase(), "Degraded");

    // retry: back to step 0 with a fresh canary.
    sim.rollout.status.as_mut().unwrap().abort = Some(false);
    sim.step();
    assert!(sim.reasons().contains(&"RolloutRetry"));
    sim.run_until(10, |s| s.status().current_step_index == Some(1));
    assert_eq!(sim.canary_weight(), 10);
    assert!(deadline_annotation(&sim, &hash(V2)).is_none());
}

#[test]
fn abort_scale_down_delay_zero_keeps_canary() {
    let mut sim = healthy_host(steps());
    sim.rollout
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .abort_scale_down_delay_seconds = Some(0);
    sim.set_image(V2);
    sim.run_until(40, |s| s.status().current_step_index == Some(1));
    sim.rollout.status.as_mut().unwrap().abort = Some(true);
    for _ in 0..60 {
        sim.step();
    }
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(1));
    assert_eq!(sim.canary_weight(), 0);
}

#[test]
fn full_promotion_skips_remaining_steps() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    sim.run_until(40, |s| s.phase() == "Paused");
    let status = sim.rollout.status.as_mut().unwrap();
    status.promote_full = Some(true);
    sim.run_until(10, |s| s.phase() == "Healthy");
    assert_eq!(sim.status().stable_rs, Some(hash(V2)));
    assert!(
        sim.events
            .iter()
            .any(|e| e.message.ends_with("Full promotion requested"))
    );
    assert_eq!(sim.status().promote_full, None);
}

#[test]
fn new_revision_mid_rollout_restarts_steps_safely() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    sim.run_until(40, |s| s.status().current_step_index == Some(3));
    sim.set_image(V3);
    sim.step();
    assert_eq!(sim.status().current_step_index, Some(0));
    assert_eq!(sim.status().current_pod_hash, Some(hash(V3)));
    sim.run_until(10, |s| s.status().current_step_index == Some(1));
    assert_eq!(sim.canary_weight(), 10);
    assert_eq!(
        sim.rs_replicas(&hash(V2)),
        Some(0),
        "the superseded canary is scaled down"
    );
    assert_eq!(sim.status().stable_rs, Some(hash(V1)));
}

#[test]
fn template_back_to_stable_fast_tracks() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    sim.run_until(40, |s| s.status().current_step_index == Some(3));
    sim.set_image(V1);
    sim.run_until(10, |s| s.phase() == "Healthy");
    assert!(sim.reasons().contains(&"SkipSteps"));
    assert_eq!(sim.canary_weight(), 0);
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(0));
    assert_eq!(sim.status().current_step_index, Some(4));
}

#[test]
fn timed_pause_survives_a_restart() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    sim.run_until(40, |s| s.phase() == "Paused");
    let started = sim.status().pause_conditions.as_ref().unwrap()[0]
        .start_time
        .0;
    // A restarted controller has only the Rollout's status: plan again from it, 5 s later.
    let later = plan(
        &sim.rollout,
        &sim.observed,
        started + jiff::SignedDuration::from_secs(5),
    );
    assert_eq!(
        later.status.pause_conditions.as_ref().unwrap()[0]
            .start_time
            .0,
        started
    );
    assert_eq!(later.requeue_after, Some(std::time::Duration::from_secs(5)));
    assert_eq!(later.status.current_step_index, Some(1));
    let after = plan(
        &sim.rollout,
        &sim.observed,
        started + jiff::SignedDuration::from_secs(10),
    );
    assert_eq!(after.status.current_step_index, Some(2));
}

#[test]
fn manual_pause_holds_steps() {
    let mut sim = healthy_host(vec![weight(10), weight(20), weight(30)]);
    sim.set_image(V2);
    sim.rollout.spec.paused = Some(true);
    for _ in 0..10 {
        sim.step();
    }
    assert_eq!(sim.phase(), "Paused");
    assert_eq!(sim.status().message.as_deref(), Some("manually paused"));
    assert_eq!(sim.status().current_step_index, Some(0));
    sim.rollout.spec.paused = None;
    sim.run_until(20, |s| s.phase() == "Healthy");
}

#[test]
fn set_canary_scale_decouples_pods_from_weight() {
    let scale = CanaryStep {
        set_canary_scale: Some(SetCanaryScale {
            replicas: Some(3),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut sim = healthy_host(vec![scale, weight(10), pause(None)]);
    sim.set_image(V2);
    sim.run_until(20, |s| s.phase() == "Paused");
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(3));
    assert_eq!(sim.canary_weight(), 10);
}

#[test]
fn subset_split_labels_destination_rule_and_promotes() {
    let mut sim = healthy_subset(vec![weight(20), pause(None)]);
    let dr = sim.observed.destination_rule.clone().unwrap();
    assert_eq!(
        dr.pointer("/spec/subsets/1/labels/rollouts-pod-template-hash")
            .and_then(|v| v.as_str()),
        Some(hash(V1).as_str())
    );
    sim.set_image(V2);
    sim.run_until(20, |s| s.phase() == "Paused");
    assert_eq!(
        sim.weights(),
        vec![("stable".into(), 80), ("canary".into(), 20)]
    );
    let dr = sim.observed.destination_rule.clone().unwrap();
    assert_eq!(
        dr.pointer("/spec/subsets/0/labels/rollouts-pod-template-hash")
            .and_then(|v| v.as_str()),
        Some(hash(V2).as_str())
    );
    assert_eq!(
        dr.pointer("/spec/subsets/0/labels/app")
            .and_then(|v| v.as_str()),
        Some("web")
    );
    promote(&mut sim);
    sim.run_until(20, |s| s.phase() == "Healthy");
    let dr = sim.observed.destination_rule.clone().unwrap();
    assert_eq!(
        dr.pointer("/spec/subsets/1/labels/rollouts-pod-template-hash")
            .and_then(|v| v.as_str()),
        Some(hash(V2).as_str())
    );
    assert_eq!(sim.canary_weight(), 0);
}

#[test]
fn unowned_virtual_service_fields_survive() {
    let mut sim = healthy_host(steps());
    sim.set_image(V2);
    sim.run_until(40, |s| s.status().current_step_index == Some(3));
    let vs = sim.observed.virtual_services.values().next().unwrap();
    assert_eq!(
        vs.pointer("/spec/http/0/retries/attempts")
            .and_then(|v| v.as_i64()),
        Some(3)
    );
    assert_eq!(
        vs.pointer("/spec/http/0/timeout").and_then(|v| v.as_str()),
        Some("5s")
    );
    assert_eq!(
        vs.pointer("/spec/http/1"),
        host_virtual_service(0).pointer("/spec/http/1")
    );
}

#[test]
fn progress_deadline_degrades_and_optionally_aborts() {
    for abort in [false, true] {
        let mut sim = healthy_host(steps());
        sim.rollout.spec.progress_deadline_seconds = Some(30);
        sim.rollout.spec.progress_deadline_abort = Some(abort);
        sim.never_ready = Some(V2.into());
        sim.set_image(V2);
        sim.run_until(60, |s| s.phase() == "Degraded");
        let message = sim.status().message.clone().unwrap_or_default();
        if abort {
            assert!(
                message.starts_with(
                    "RolloutAborted: Rollout aborted update to revision 2: ReplicaSet"
                ),
                "{message}"
            );
            sim.step();
            assert_eq!(sim.canary_weight(), 0);
        } else {
            assert!(
                message.starts_with("ProgressDeadlineExceeded: ReplicaSet"),
                "{message}"
            );
            assert_eq!(sim.status().abort, None);
        }
        assert!(sim.reasons().contains(&"ProgressDeadlineExceeded"));
    }
}

#[test]
fn revision_history_limit_deletes_oldest_idle_replica_sets() {
    let mut sim = healthy_host(vec![]);
    sim.rollout.spec.revision_history_limit = Some(2);
    for revision in 2..=6 {
        let image = format!("web:v{revision}");
        sim.set_image(&image);
        sim.run_until(60, |s| {
            s.status().stable_rs == Some(hash(&image))
                && s.observed
                    .replica_sets
                    .iter()
                    .filter(|rs| rs.spec.as_ref().unwrap().replicas != Some(0))
                    .count()
                    == 1
        });
    }
    sim.step();
    let names: Vec<String> = sim
        .observed
        .replica_sets
        .iter()
        .map(|rs| rs.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "current plus two idle revisions: {names:?}");
    assert!(names.contains(&format!("web-{}", hash("web:v6"))));
    assert!(names.contains(&format!("web-{}", hash("web:v5"))));
    assert!(names.contains(&format!("web-{}", hash("web:v4"))));
}

#[test]
fn basic_canary_splits_replicas_by_weight() {
    let mut sim = healthy_host(vec![weight(20), pause(None)]);
    sim.rollout
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .traffic_routing = None;
    sim.set_image(V2);
    sim.run_until(20, |s| s.phase() == "Paused");
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(2));
    assert_eq!(sim.rs_replicas(&hash(V1)), Some(8));
    promote(&mut sim);
    sim.run_until(20, |s| s.phase() == "Healthy");
    assert_eq!(sim.rs_replicas(&hash(V2)), Some(10));
    assert_eq!(sim.rs_replicas(&hash(V1)), Some(0));
}

#[test]
fn invalid_specs_touch_nothing_and_recover() {
    type Breaker = fn(&mut crate::api::rollout::Rollout, &mut Observed);
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "setWeight 110",
            |r, _| r.spec.strategy.canary.as_mut().unwrap().steps = Some(vec![weight(110)]),
            "spec.strategy.canary.steps[0].setWeight",
        ),
        (
            "two keys in a step",
            |r, _| {
                let mut step = weight(10);
                step.pause = Some(Default::default());
                r.spec.strategy.canary.as_mut().unwrap().steps = Some(vec![step]);
            },
            "spec.strategy.canary.steps[0]: Step must have exactly one",
        ),
        (
            "missing canaryService",
            |r, _| r.spec.strategy.canary.as_mut().unwrap().canary_service = None,
            "spec.strategy.canary.canaryService",
        ),
        (
            "Service not found",
            |_, o| {
                o.services.remove("web-canary");
            },
            "Service default/web-canary not found",
        ),
        (
            "VirtualService not found",
            |_, o| o.virtual_services.clear(),
            "VirtualService default/web-vsvc not found",
        ),
        (
            "route not found",
            |r, _| {
                let istio = r
                    .spec
                    .strategy
                    .canary
                    .as_mut()
                    .unwrap()
                    .traffic_routing
                    .as_mut()
                    .unwrap()
                    .istio
                    .as_mut()
                    .unwrap();
                istio.virtual_service.as_mut().unwrap().routes = Some(vec!["nope".into()]);
            },
            "\"nope\"",
        ),
        (
            "route without canary destination",
            |_, o| {
                let vs = o.virtual_services.values_mut().next().unwrap();
                vs["spec"]["http"][0]["route"].as_array_mut().unwrap().pop();
            },
            "canary",
        ),
        (
            "selector does not match template",
            |r, _| {
                r.spec.selector.as_mut().unwrap().match_labels =
                    Some(BTreeMap::from([("app".into(), "other".into())]));
            },
            "spec.selector",
        ),
        (
            "unparsable duration",
            |r, _| {
                r.spec.strategy.canary.as_mut().unwrap().steps =
                    Some(vec![pause(Some("five minutes"))])
            },
            "spec.strategy.canary.steps[0].pause.duration",
        ),
    ];
    for (name, breaker, expected) in cases {
        let healthy = healthy_host(steps());
        let mut rollout = healthy.rollout.clone();
        let mut observed = healthy.observed.clone();
        rollout.spec.template = Some(template(V2).into());
        breaker(&mut rollout, &mut observed);
        let p = plan(&rollout, &observed, t(100));
        assert!(
            !p.touches_cluster_objects(),
            "{name}: an invalid spec must not touch the cluster"
        );
        let condition = conditions::get(&p.status, "InvalidSpec")
            .unwrap_or_else(|| panic!("{name}: no InvalidSpec"));
        assert!(
            condition.message.contains(expected),
            "{name}: {}",
            condition.message
        );
        assert_eq!(p.status.phase.as_deref(), Some("Degraded"), "{name}");
        assert!(p.events.iter().any(|e| e.reason == "InvalidSpec" && e.type_ == crate::rollout::EventType::Warning), "{name}");
        // Same input again: no duplicate event.
        let mut again = rollout.clone();
        again.status = Some(p.status.clone());
        assert!(
            plan(&again, &observed, t(101)).events.is_empty(),
            "{name}: repeated event"
        );
        // Fixed: the condition goes away and the release proceeds.
        let mut fixed = healthy.rollout.clone();
        fixed.status = Some(p.status.clone());
        fixed.spec.template = Some(template(V2).into());
        let p = plan(&fixed, &healthy.observed, t(102));
        assert!(
            conditions::get(&p.status, "InvalidSpec").is_none(),
            "{name}: did not recover"
        );
        assert!(p.create_replica_set.is_some(), "{name}: did not proceed");
    }
}

/// Argo's createInvalidRolloutCondition: `The Rollout "<name>" is invalid: <first error>`, and a
/// new condition (both times new) when that error changes. The Event lists every error.
#[test]
fn invalid_spec_condition_names_the_first_error() {
    let healthy = healthy_host(steps());
    let mut rollout = healthy.rollout.clone();
    rollout.spec.strategy.canary.as_mut().unwrap().steps = Some(vec![weight(110), weight(120)]);
    let p = plan(&rollout, &healthy.observed, t(100));
    let condition = conditions::get(&p.status, "InvalidSpec").expect("InvalidSpec");
    let first = "The Rollout \"web\" is invalid: spec.strategy.canary.steps[0].setWeight: Invalid value: 110: ";
    assert!(
        condition.message.starts_with(first),
        "{}",
        condition.message
    );
    assert!(
        !condition.message.contains("steps[1]"),
        "{}",
        condition.message
    );
    assert_eq!(
        p.status.message.as_deref(),
        Some(format!("InvalidSpec: {}", condition.message).as_str())
    );
    let event = p.events.iter().find(|e| e.reason == "InvalidSpec").unwrap();
    assert!(event.message.starts_with(first), "{}", event.message);
    assert!(
        event.message.contains("steps[1].setWeight"),
        "{}",
        event.message
    );

    // The first error fixed: the condition names the next one, as a new condition.
    rollout.status = Some(p.status.clone());
    rollout.spec.strategy.canary.as_mut().unwrap().steps = Some(vec![weight(10), weight(120)]);
    let p = plan(&rollout, &healthy.observed, t(200));
    let condition = conditions::get(&p.status, "InvalidSpec").expect("InvalidSpec");
    assert!(
        condition
            .message
            .starts_with("The Rollout \"web\" is invalid: spec.strategy.canary.steps[1].setWeight"),
        "{}",
        condition.message
    );
    assert_eq!(
        condition.last_transition_time.as_ref().map(|t| t.0),
        Some(t(200))
    );
    assert_eq!(p.events.len(), 1);
}

fn pod(name: &str, hash_of_image: &str, created: i64, ready: bool) -> crate::api::pod::PodSummary {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": t(created).to_string(),
                     "labels": {"app": "web", "rollouts-pod-template-hash": hash(hash_of_image)}},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

#[test]
fn restart_at_evicts_old_pods_within_max_unavailable() {
    let mut sim = healthy_host(steps());
    let pods: Vec<_> = (0..10)
        .map(|i| pod(&format!("web-{i}"), V1, 0, true))
        .collect();
    sim.observed.pods = pods.iter().cloned().map(std::sync::Arc::new).collect();
    let restart_at = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(100));
    sim.rollout.spec.restart_at = Some(restart_at.clone());

    let early = plan(&sim.rollout, &sim.observed, t(50));
    assert!(early.evict_pods.is_empty());
    assert_eq!(
        early.requeue_after,
        Some(std::time::Duration::from_secs(50))
    );

    let due = plan(&sim.rollout, &sim.observed, t(100));
    assert_eq!(
        due.evict_pods,
        ["web-0", "web-1"],
        "maxUnavailable 25% of 10 = 2"
    );
    assert_eq!(due.status.phase.as_deref(), Some("Progressing"));
    assert_eq!(due.status.message.as_deref(), Some("rollout is restarting"));

    sim.observed.pods[0] = std::sync::Arc::new(pod("web-0", V1, 0, false));
    let one_down = plan(&sim.rollout, &sim.observed, t(100));
    assert_eq!(
        one_down.evict_pods.len(),
        1,
        "an unavailable pod uses the budget"
    );

    sim.observed.pods = (0..10)
        .map(|i| std::sync::Arc::new(pod(&format!("web-new-{i}"), V1, 101, true)))
        .collect();
    let done = plan(&sim.rollout, &sim.observed, t(110));
    assert!(done.evict_pods.is_empty());
    assert_eq!(done.status.restarted_at, Some(restart_at));
    assert!(done.events.iter().any(|e| e.reason == "RolloutRestarted"));
}
