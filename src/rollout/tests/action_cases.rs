//! Pause bookkeeping and Argo CD's Rollout actions (resource_customizations/argoproj.io/Rollout/
//! actions in argo-cd): each case makes the object change the action's Lua script makes and
//! checks what the next plan records, as Argo's CalculatePauseStatus, CompletedCanaryPauseStep
//! and syncRolloutStatusCanary would.

use super::fixtures::*;
use super::sim::Sim;
use crate::api::rollout::{CanaryStep, PauseCondition, Rollout};
use crate::rollout::canary::PAUSE_REASON_CANARY_STEP;
use crate::rollout::conditions;
use crate::rollout::plan;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const V1: &str = "web:v1";
const V2: &str = "web:v2";

/// Two indefinite pauses with a weight between them: a pause passed without its own resume
/// shows as step 3 completing.
fn steps() -> Vec<CanaryStep> {
    vec![weight(10), pause(None), weight(50), pause(None)]
}

fn timed_steps() -> Vec<CanaryStep> {
    vec![weight(10), pause(Some("10s")), weight(50), pause(None)]
}

/// v1 Healthy, then v2 run until `reached`.
fn release(steps: Vec<CanaryStep>, reached: fn(&Sim) -> bool) -> Sim {
    let mut sim = Sim::new(host_rollout(V1, 10, steps), host_observed(), t(0));
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim.set_image(V2);
    sim.run_until(40, reached);
    sim
}

fn at_pause(sim: &Sim) -> bool {
    sim.phase() == "Paused" && sim.status().current_step_index == Some(1)
}

fn at_second_weight(sim: &Sim) -> bool {
    sim.status().current_step_index == Some(2)
}

/// Right after step 0 completed: the pause step is current and not entered yet.
fn before_pause(sim: &Sim) -> bool {
    sim.status().current_step_index == Some(1) && sim.status().pause_conditions.is_none()
}

fn pause_reasons(sim: &Sim) -> Vec<String> {
    sim.status()
        .pause_conditions
        .iter()
        .flatten()
        .map(|c| c.reason.clone())
        .collect()
}

// The Lua scripts, as the object changes they make (Argo CD applies the status part through
// the status subresource, then the spec part).

/// abort/action.lua
fn abort(r: &mut Rollout) {
    r.status.as_mut().unwrap().abort = Some(true);
}

/// pause/action.lua
fn pause_spec(r: &mut Rollout) {
    r.spec.paused = Some(true);
}

/// resume/action.lua: clears the pause conditions and a manual pause.
fn resume(r: &mut Rollout) {
    r.status.as_mut().unwrap().pause_conditions = None;
    if r.spec.paused == Some(true) {
        r.spec.paused = Some(false);
    }
}

/// resume/action.lua's status part landing while `spec.paused` is still true.
fn resume_status_only(r: &mut Rollout) {
    pause_spec(r);
    r.status.as_mut().unwrap().pause_conditions = None;
}

/// promote-full/action.lua on Argo Rollouts v0.10+ (observedGeneration is current).
fn promote_full(r: &mut Rollout) {
    r.status.as_mut().unwrap().promote_full = Some(true);
}

/// retry/action.lua
fn retry(r: &mut Rollout) {
    let status = r.status.as_mut().unwrap();
    status.abort = None;
    if let Some(canary) = status.canary.as_mut() {
        canary.current_step_analysis_run_status = None;
        canary.current_background_analysis_run_status = None;
    }
}

/// skip-current-step/action.lua
fn skip_current_step(r: &mut Rollout) {
    let steps = r
        .spec
        .strategy
        .canary
        .as_ref()
        .unwrap()
        .steps
        .as_ref()
        .unwrap()
        .len() as i32;
    let status = r.status.as_mut().unwrap();
    if status.current_step_index.unwrap_or(0) < steps {
        status.pause_conditions = None;
        status.current_step_index = Some(status.current_step_index.unwrap_or(0) + 1);
    }
}

/// restart/action.lua, clicked after the pods were created and before the plan.
fn restart(r: &mut Rollout) {
    r.spec.restart_at = Some(Time(t(1)));
}

fn no_action(_: &mut Rollout) {}

/// What the plan after the action records.
struct Expect {
    index: i32,
    pauses: &'static [&'static str],
    controller_pause: Option<bool>,
    abort: Option<bool>,
    phase: &'static str,
    events: &'static [&'static str],
    not_events: &'static [&'static str],
}

#[test]
fn one_plan_after_each_action() {
    type Reached = fn(&Sim) -> bool;
    type Action = fn(&mut Rollout);
    let paused = &[PAUSE_REASON_CANARY_STEP][..];
    let cases: Vec<(&str, Vec<CanaryStep>, Reached, Action, Expect)> = vec![
        (
            "indefinite pause, no action: stays",
            steps(),
            at_pause,
            no_action,
            Expect {
                index: 1,
                pauses: paused,
                controller_pause: Some(true),
                abort: None,
                phase: "Paused",
                events: &[],
                not_events: &["RolloutStepCompleted", "RolloutResumed"],
            },
        ),
        (
            "resume at the indefinite pause: that step completes",
            steps(),
            at_pause,
            resume,
            Expect {
                index: 2,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Progressing",
                events: &["RolloutResumed", "RolloutStepCompleted"],
                not_events: &[],
            },
        ),
        (
            "skip-current-step at the indefinite pause: controllerPause goes with the conditions",
            steps(),
            at_pause,
            skip_current_step,
            Expect {
                index: 2,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Progressing",
                events: &[],
                not_events: &["RolloutResumed", "RolloutStepCompleted"],
            },
        ),
        (
            "skip-current-step at the timed pause",
            timed_steps(),
            at_pause,
            skip_current_step,
            Expect {
                index: 2,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Progressing",
                events: &[],
                not_events: &["RolloutStepCompleted"],
            },
        ),
        (
            "resume at the timed pause: it ends early",
            timed_steps(),
            at_pause,
            resume,
            Expect {
                index: 2,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Progressing",
                events: &["RolloutResumed", "RolloutStepCompleted"],
                not_events: &[],
            },
        ),
        (
            "entering a pause step adds its condition and controllerPause",
            steps(),
            before_pause,
            no_action,
            Expect {
                index: 1,
                pauses: paused,
                controller_pause: Some(true),
                abort: None,
                phase: "Paused",
                events: &["RolloutPaused"],
                not_events: &["RolloutStepCompleted"],
            },
        ),
        (
            "pause (spec.paused) at the indefinite pause: the condition stays",
            steps(),
            at_pause,
            pause_spec,
            Expect {
                index: 1,
                pauses: paused,
                controller_pause: Some(true),
                abort: None,
                phase: "Paused",
                events: &[],
                not_events: &["RolloutStepCompleted", "RolloutResumed"],
            },
        ),
        (
            "pause (spec.paused) before the pause step: not entered while paused",
            steps(),
            before_pause,
            pause_spec,
            Expect {
                index: 1,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Paused",
                events: &[],
                not_events: &["RolloutPaused", "RolloutStepCompleted"],
            },
        ),
        (
            // Between resume's status and spec patches: nothing paused by the controller is
            // left, so the step is paused again once spec.paused is false (Argo does the same).
            "resume's status part while spec.paused: the step is not passed",
            steps(),
            at_pause,
            resume_status_only,
            Expect {
                index: 1,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Paused",
                events: &[],
                not_events: &["RolloutStepCompleted", "RolloutResumed"],
            },
        ),
        (
            "abort at the indefinite pause: pauses dropped, back to step 0",
            steps(),
            at_pause,
            abort,
            Expect {
                index: 0,
                pauses: &[],
                controller_pause: None,
                abort: Some(true),
                phase: "Degraded",
                events: &["RolloutAborted"],
                not_events: &["RolloutStepCompleted"],
            },
        ),
        (
            "promote-full at the indefinite pause: pauses dropped, index past the last step",
            steps(),
            at_pause,
            promote_full,
            Expect {
                index: 4,
                pauses: &[],
                controller_pause: None,
                abort: None,
                phase: "Progressing",
                events: &[],
                not_events: &["RolloutResumed", "RolloutStepCompleted"],
            },
        ),
        (
            "restart at the indefinite pause: pods go, the pause stays",
            steps(),
            at_pause,
            restart,
            Expect {
                index: 1,
                pauses: paused,
                controller_pause: Some(true),
                abort: None,
                phase: "Paused",
                events: &["RestartingPods"],
                not_events: &["RolloutStepCompleted"],
            },
        ),
        (
            "skip-current-step at a setWeight step: the next pause is entered",
            timed_steps(),
            at_second_weight,
            skip_current_step,
            Expect {
                index: 3,
                pauses: paused,
                controller_pause: Some(true),
                abort: None,
                phase: "Paused",
                events: &["RolloutPaused"],
                not_events: &["RolloutStepCompleted", "RolloutResumed"],
            },
        ),
    ];
    for (name, steps, reached, action, expect) in cases {
        let mut sim = release(steps, reached);
        // Pods only the restart case acts on.
        sim.observed.pods = (0..3)
            .map(|i| std::sync::Arc::new(pod(&format!("web-{i}"))))
            .collect();
        action(&mut sim.rollout);
        let p = sim.step();
        let status = sim.status();
        assert_eq!(
            status.current_step_index,
            Some(expect.index),
            "{name}: index"
        );
        assert_eq!(
            pause_reasons(&sim),
            expect.pauses,
            "{name}: pause conditions"
        );
        assert_eq!(
            status.controller_pause, expect.controller_pause,
            "{name}: controllerPause"
        );
        assert_eq!(status.abort, expect.abort, "{name}: abort");
        assert_eq!(sim.phase(), expect.phase, "{name}: phase");
        let reasons: Vec<&str> = p.events.iter().map(|e| e.reason.as_str()).collect();
        for wanted in expect.events {
            assert!(
                reasons.contains(wanted),
                "{name}: no {wanted} in {reasons:?}"
            );
        }
        for unwanted in expect.not_events {
            assert!(
                !reasons.contains(unwanted),
                "{name}: {unwanted} in {reasons:?}"
            );
        }
    }
}

fn pod(name: &str) -> crate::api::pod::PodSummary {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": t(-100).to_string(),
                     "labels": {"app": "web", "rollouts-pod-template-hash": hash(V1)}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

/// Argo's CalculatePauseStatus over the states a pause can be read in: `controllerPause` is
/// true after the plan only while a pause condition remains.
#[test]
fn controller_pause_is_recomputed_from_the_status_as_read() {
    let condition = |reason: &str| PauseCondition {
        reason: reason.into(),
        start_time: Time(t(0)),
    };
    let cases = [
        ReadPause {
            name: "stale controllerPause at a setWeight step is dropped",
            read: vec![],
            controller_pause: Some(true),
            after: &[],
            after_controller_pause: None,
        },
        ReadPause {
            name: "a condition left from an earlier pause step goes when the step completes",
            read: vec![condition(PAUSE_REASON_CANARY_STEP)],
            controller_pause: Some(true),
            after: &[],
            after_controller_pause: None,
        },
        ReadPause {
            name: "an inconclusive-analysis pause keeps controllerPause",
            read: vec![condition("InconclusiveAnalysisRun")],
            controller_pause: Some(true),
            after: &["InconclusiveAnalysisRun"],
            after_controller_pause: Some(true),
        },
        ReadPause {
            name: "a condition the controller did not add keeps controllerPause false",
            read: vec![condition("InconclusiveAnalysisRun")],
            controller_pause: None,
            after: &["InconclusiveAnalysisRun"],
            after_controller_pause: None,
        },
    ];
    for case in cases {
        let name = case.name;
        let mut sim = release(timed_steps(), at_second_weight);
        // Pods for setWeight 50 are up, so the step completes in this plan.
        sim.run_until(10, |s| s.rs_replicas(&hash(V2)) == Some(5));
        let status = sim.rollout.status.as_mut().unwrap();
        status.current_step_index = Some(2);
        status.pause_conditions = (!case.read.is_empty()).then_some(case.read);
        status.controller_pause = case.controller_pause;
        sim.step();
        assert_eq!(sim.status().current_step_index, Some(3), "{name}: index");
        assert_eq!(pause_reasons(&sim), case.after, "{name}: conditions");
        assert_eq!(
            sim.status().controller_pause,
            case.after_controller_pause,
            "{name}: controllerPause"
        );
    }
}

/// A status read at the setWeight step before the second pause, and what the plan leaves.
struct ReadPause {
    name: &'static str,
    read: Vec<PauseCondition>,
    controller_pause: Option<bool>,
    after: &'static [&'static str],
    after_controller_pause: Option<bool>,
}

/// The reported bug: skip-current-step at an indefinite pause left `controllerPause: true`, so
/// the next indefinite pause counted as resumed and the release was promoted. Each pause waits
/// for its own resume.
#[test]
fn skip_current_step_at_a_pause_stops_at_the_next_pause() {
    let mut sim = release(steps(), at_pause);
    skip_current_step(&mut sim.rollout);
    sim.run_until(20, |s| s.status().current_step_index == Some(3));
    for _ in 0..30 {
        sim.step();
        assert_eq!(sim.status().current_step_index, Some(3), "passed the pause");
        assert_eq!(sim.phase(), "Paused");
    }
    assert_eq!(pause_reasons(&sim), [PAUSE_REASON_CANARY_STEP]);
    assert_eq!(sim.status().controller_pause, Some(true));
    assert_eq!(sim.status().stable_rs, Some(hash(V1)));
    assert_eq!(sim.canary_weight(), 50);
    assert!(!sim.reasons().contains(&"RolloutResumed"));
    resume(&mut sim.rollout);
    sim.run_until(20, |s| s.phase() == "Healthy");
    assert_eq!(sim.status().stable_rs, Some(hash(V2)));
}

/// resume/action.lua on a manually paused Rollout at a pause step clears both in one action:
/// the pause step completes once, and the next one still waits.
#[test]
fn resume_of_a_manual_pause_at_a_pause_step_passes_only_that_step() {
    let mut sim = release(steps(), at_pause);
    pause_spec(&mut sim.rollout);
    for _ in 0..5 {
        sim.step();
    }
    assert_eq!(sim.status().message.as_deref(), Some("manually paused"));
    resume(&mut sim.rollout);
    sim.run_until(20, |s| s.status().current_step_index == Some(3));
    for _ in 0..10 {
        sim.step();
    }
    assert_eq!(sim.status().current_step_index, Some(3));
    assert_eq!(sim.phase(), "Paused");
    assert_eq!(sim.status().message.as_deref(), Some("CanaryPauseStep"));
}

/// Argo's `pause: {duration: 0}` is a pause step like any other: its condition is added, and the
/// next reconcile finds it expired.
#[test]
fn zero_duration_pause_is_entered_then_left() {
    let mut sim = release(
        vec![weight(10), pause(Some("0s")), weight(50), pause(None)],
        before_pause,
    );
    sim.step();
    assert_eq!(pause_reasons(&sim), [PAUSE_REASON_CANARY_STEP]);
    assert_eq!(sim.status().current_step_index, Some(1));
    sim.step();
    assert_eq!(sim.status().current_step_index, Some(2));
    assert_eq!(sim.status().pause_conditions, None);
    assert_eq!(sim.status().controller_pause, None);
}

/// promote-full/action.lua sets only `promoteFull`, also on an aborted Rollout; Argo lifts the
/// abort (syncRolloutStatusCanary's RemoveAbort) and promotes.
#[test]
fn promote_full_on_an_aborted_rollout_promotes() {
    let mut sim = release(steps(), at_pause);
    abort(&mut sim.rollout);
    sim.run_until(40, |s| s.rs_replicas(&hash(V2)) == Some(0));
    assert_eq!(sim.phase(), "Degraded");
    promote_full(&mut sim.rollout);
    let p = sim.step();
    assert_eq!(sim.status().abort, None);
    assert_eq!(sim.status().aborted_at, None);
    assert_eq!(sim.status().current_step_index, Some(4));
    assert_ne!(
        conditions::get(sim.status(), conditions::PROGRESSING).map(|c| c.reason.as_str()),
        Some(conditions::REASON_ABORTED)
    );
    assert!(
        p.events
            .iter()
            .any(|e| e.reason == conditions::REASON_RETRY)
    );
    assert!(!p.events.iter().any(|e| e.reason == "RolloutAborted"));
    sim.run_until(30, |s| s.phase() == "Healthy");
    assert_eq!(sim.status().stable_rs, Some(hash(V2)));
    assert_eq!(sim.status().promote_full, None);
    assert!(
        sim.events
            .iter()
            .any(|e| e.message.ends_with("Full promotion requested"))
    );
}

/// retry/action.lua: back to step 0, and every pause is entered again.
#[test]
fn retry_walks_the_steps_again_and_stops_at_the_first_pause() {
    let mut sim = release(steps(), at_pause);
    abort(&mut sim.rollout);
    sim.run_until(40, |s| s.rs_replicas(&hash(V2)) == Some(0));
    retry(&mut sim.rollout);
    sim.step();
    assert_eq!(sim.status().current_step_index, Some(0));
    assert_eq!(sim.status().aborted_at, None);
    sim.run_until(20, at_pause);
    for _ in 0..10 {
        sim.step();
    }
    assert!(at_pause(&sim));
    assert_eq!(sim.canary_weight(), 10);
}

/// skip-current-step/action.lua does not look at `abort`: an aborted canary stays at step 0, as
/// Argo resets it there on every reconcile, so a retry starts from the first step.
#[test]
fn skip_while_aborted_keeps_step_zero() {
    let mut sim = release(steps(), at_pause);
    abort(&mut sim.rollout);
    sim.step();
    skip_current_step(&mut sim.rollout);
    sim.step();
    assert_eq!(sim.status().current_step_index, Some(0));
    assert_eq!(sim.phase(), "Degraded");
}

/// Argo drops an abort or full promotion of a fully promoted Rollout (newRolloutContext,
/// calculateBaseStatus): a Healthy Rollout stays Healthy and nothing is reverted.
#[test]
fn abort_or_promote_full_of_a_promoted_rollout_is_dropped() {
    for action in [abort as fn(&mut Rollout), promote_full] {
        let mut sim = Sim::new(host_rollout(V1, 10, steps()), host_observed(), t(0));
        sim.run_until(20, |s| s.phase() == "Healthy");
        action(&mut sim.rollout);
        let p = sim.step();
        assert_eq!(sim.phase(), "Healthy");
        assert_eq!(sim.status().abort, None);
        assert_eq!(sim.status().aborted_at, None);
        assert_eq!(sim.status().promote_full, None);
        assert!(p.events.is_empty(), "{:?}", p.events);
    }
}

/// A Rollout read again after the plan that resumed it (a restarted controller, or a re-plan
/// after a conflict) does not pass the next pause: nothing of the resume is left in status.
#[test]
fn replanning_after_a_resume_keeps_the_next_pause() {
    let mut sim = release(steps(), at_pause);
    resume(&mut sim.rollout);
    sim.run_until(20, |s| s.status().current_step_index == Some(3));
    let again = plan(&sim.rollout, &sim.observed, sim.now);
    assert_eq!(again.status.current_step_index, Some(3));
    assert_eq!(again.status.controller_pause, Some(true));
}
