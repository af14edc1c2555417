//! The Rollout's side of analysis: runs created with Argo's names, labels and args; Successful
//! advances, Failed/Error aborts in the same plan, Inconclusive pauses; background analysis;
//! retry and resume create fresh runs; history limits; bad templates are InvalidSpec.

use super::fixtures::*;
use super::sim::Sim;
use crate::api::analysis::{AnalysisTemplate, Argument};
use crate::api::rollout::{
    AnalysisRunArgument, AnalysisTemplateRef, ArgumentValueFrom, CanaryStep, FieldRef,
    RolloutAnalysis, RolloutAnalysisBackground,
};
use crate::rollout::{EventType, plan};

const V1: &str = "web:v1";
const V2: &str = "web:v2";

fn template(yaml_condition: &str, provider: &str) -> AnalysisTemplate {
    let text = format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: success-rate, namespace: default}}
spec:
  args:
  - name: service-name
  metrics:
  - name: success-rate
    interval: 1m
    count: 5
    successCondition: "{yaml_condition}"
    failureLimit: 3
    provider:
      {provider}
"#
    );
    yaml_serde::from_str(&text).expect("template parses")
}

fn good_template() -> AnalysisTemplate {
    template(
        "result[0] >= 0.95",
        "prometheus: {address: 'http://prometheus:9090', query: 'sum(rate(x{service=\"{{args.service-name}}\"}[5m]))'}",
    )
}

fn analysis_step(args: Vec<AnalysisRunArgument>) -> CanaryStep {
    CanaryStep {
        analysis: Some(Box::new(RolloutAnalysis {
            templates: Some(vec![AnalysisTemplateRef {
                template_name: "success-rate".into(),
                cluster_scope: None,
            }]),
            args: Some(args),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn arg(name: &str, value: &str) -> AnalysisRunArgument {
    AnalysisRunArgument {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn healthy(steps: Vec<CanaryStep>, background: Option<RolloutAnalysisBackground>) -> Sim {
    let mut rollout = host_rollout(V1, 10, steps);
    rollout.metadata.labels = Some([("env".to_string(), "prod".to_string())].into());
    rollout.spec.strategy.canary.as_mut().unwrap().analysis = background;
    let mut observed = host_observed();
    observed
        .templates
        .namespaced
        .insert("success-rate".into(), good_template());
    let mut sim = Sim::new(rollout, observed, t(0));
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim
}

fn steps() -> Vec<CanaryStep> {
    vec![
        weight(20),
        analysis_step(vec![arg("service-name", "web-canary")]),
        weight(50),
        pause(None),
    ]
}

#[test]
fn step_run_is_created_with_argo_name_labels_and_args() {
    let mut sim = healthy(steps(), None);
    sim.set_image(V2);
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    let h2 = hash(V2);
    let run = &sim.observed.analysis_runs[0];
    assert_eq!(
        run.metadata.name.as_deref(),
        Some(format!("web-{h2}-2-1").as_str())
    );
    let labels = run.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["rollout-type"], "Step");
    assert_eq!(labels["step-index"], "1");
    assert_eq!(labels["rollouts-pod-template-hash"], h2);
    assert_eq!(labels["app"], "web");
    assert_eq!(
        run.metadata.owner_references.as_ref().unwrap()[0].uid,
        "rollout-uid"
    );
    assert_eq!(run.spec.metrics[0].name, "success-rate");
    let args = run.spec.args.as_ref().unwrap();
    assert_eq!(
        args,
        &vec![Argument {
            name: "service-name".into(),
            value: Some("web-canary".into()),
            value_from: None
        }]
    );
    let entry = sim
        .status()
        .canary
        .as_ref()
        .unwrap()
        .current_step_analysis_run_status
        .clone()
        .unwrap();
    assert_eq!(entry.name, format!("web-{h2}-2-1"));

    // Still running: the step waits.
    sim.set_run_phase(&format!("web-{h2}-2-1"), "Running", None);
    for _ in 0..5 {
        sim.step();
    }
    assert_eq!(sim.status().current_step_index, Some(1));
    assert_eq!(
        sim.reasons()
            .iter()
            .filter(|r| **r == "AnalysisRunRunning")
            .count(),
        1,
        "Argo's Event for the phase change (on-analysis-run-running notifies it), once"
    );
    assert_eq!(sim.observed.analysis_runs.len(), 1, "one run per step");
    sim.set_run_phase(&format!("web-{h2}-2-1"), "Successful", None);
    sim.run_until(10, |s| s.status().current_step_index == Some(3));
    assert!(sim.reasons().contains(&"AnalysisRunSuccessful"));
    assert!(
        sim.status()
            .canary
            .as_ref()
            .unwrap()
            .current_step_analysis_run_status
            .is_none()
    );
}

#[test]
fn failed_run_aborts_with_traffic_back_in_the_same_plan() {
    let mut sim = healthy(steps(), None);
    sim.set_image(V2);
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    assert_eq!(sim.canary_weight(), 20);
    let name = sim.run_names()[0].clone();
    let message = "Metric \"success-rate\" assessed Failed due to failed (4) > failureLimit (3)";
    sim.set_run_phase(&name, "Failed", Some(message));
    let p = sim.step();
    assert_eq!(
        p.virtual_service_patches[0].canary_weight, 0,
        "weight 0 in the plan that sees the failure"
    );
    assert_eq!(sim.canary_weight(), 0);
    assert_eq!(sim.phase(), "Degraded");
    assert_eq!(
        sim.status().message.as_deref(),
        Some(format!("RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: {message}").as_str())
    );
    let failed = p
        .events
        .iter()
        .find(|e| e.reason == "AnalysisRunFailed")
        .expect("AnalysisRunFailed event");
    assert_eq!(failed.type_, EventType::Warning);
    assert!(
        p.events
            .iter()
            .any(|e| e.reason == "RolloutAborted" && e.message.contains(message))
    );

    // retry: a fresh run for the step.
    sim.rollout.status.as_mut().unwrap().abort = Some(false);
    sim.run_until(20, |s| s.observed.analysis_runs.len() == 2);
    assert_eq!(sim.run_names()[1], format!("{name}.1"));
}

#[test]
fn error_run_also_aborts() {
    let mut sim = healthy(steps(), None);
    sim.set_image(V2);
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    let name = sim.run_names()[0].clone();
    sim.set_run_phase(&name, "Error", Some("Metric \"success-rate\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)"));
    sim.step();
    assert_eq!(sim.canary_weight(), 0);
    assert_eq!(sim.phase(), "Degraded");
}

#[test]
fn inconclusive_pauses_and_resume_measures_again() {
    let mut sim = healthy(steps(), None);
    sim.set_image(V2);
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    let name = sim.run_names()[0].clone();
    sim.set_run_phase(&name, "Inconclusive", None);
    sim.step();
    assert_eq!(sim.phase(), "Paused");
    assert_eq!(
        sim.status().message.as_deref(),
        Some("InconclusiveAnalysisRun")
    );
    assert_eq!(
        sim.canary_weight(),
        20,
        "inconclusive keeps the traffic where it is"
    );
    // Argo CD's resume action clears the pause conditions only: a fresh run measures again.
    sim.rollout.status.as_mut().unwrap().pause_conditions = None;
    sim.step();
    assert_eq!(sim.run_names(), [name.clone(), format!("{name}.1")]);
    assert_eq!(sim.status().current_step_index, Some(1));
    // `kubectl weir promote` on an inconclusive step skips it instead.
    sim.set_run_phase(&format!("{name}.1"), "Inconclusive", None);
    sim.step();
    let status = sim.rollout.status.as_mut().unwrap();
    status.pause_conditions = None;
    status.controller_pause = None;
    status.current_step_index = Some(2);
    sim.run_until(20, |s| {
        s.phase() == "Paused" && s.status().current_step_index == Some(3)
    });
}

#[test]
fn background_analysis_starts_at_its_step_and_ends_successful_at_promotion() {
    let background = RolloutAnalysisBackground {
        analysis: RolloutAnalysis {
            templates: Some(vec![AnalysisTemplateRef {
                template_name: "success-rate".into(),
                cluster_scope: None,
            }]),
            args: Some(vec![arg("service-name", "web")]),
            ..Default::default()
        },
        starting_step: Some(2),
    };
    let mut sim = healthy(
        vec![weight(20), pause(Some("1s")), weight(50), pause(None)],
        Some(background),
    );
    assert!(
        sim.observed.analysis_runs.is_empty(),
        "no background run on the initial deploy"
    );
    sim.set_image(V2);
    sim.run_until(20, |s| s.status().current_step_index == Some(1));
    assert!(
        sim.observed.analysis_runs.is_empty(),
        "background analysis waits for startingStep"
    );
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    assert!(sim.status().current_step_index >= Some(2));
    let run = sim.observed.analysis_runs[0].clone();
    let name = run.metadata.name.clone().unwrap();
    assert_eq!(name, format!("web-{}-2", hash(V2)));
    assert_eq!(
        run.metadata.labels.as_ref().unwrap()["rollout-type"],
        "Background"
    );
    sim.set_run_phase(&name, "Running", None);
    sim.run_until(20, |s| s.phase() == "Paused");
    sim.rollout.status.as_mut().unwrap().pause_conditions = None;
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim.step();
    let run = sim
        .observed
        .analysis_runs
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
        .unwrap();
    assert_eq!(
        run.spec.terminate,
        Some(true),
        "background run terminated at promotion"
    );
}

#[test]
fn failing_background_run_aborts() {
    let background = RolloutAnalysisBackground {
        analysis: RolloutAnalysis {
            templates: Some(vec![AnalysisTemplateRef {
                template_name: "success-rate".into(),
                cluster_scope: None,
            }]),
            args: Some(vec![arg("service-name", "web")]),
            ..Default::default()
        },
        starting_step: None,
    };
    let mut sim = healthy(vec![weight(20), pause(None)], Some(background));
    sim.set_image(V2);
    sim.run_until(20, |s| s.phase() == "Paused");
    let name = sim.run_names()[0].clone();
    sim.set_run_phase(
        &name,
        "Failed",
        Some("Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)"),
    );
    sim.step();
    assert_eq!(sim.canary_weight(), 0);
    assert!(
        sim.status()
            .message
            .as_deref()
            .unwrap()
            .contains("Background analysis phase error/failed")
    );
}

/// The abort's words (Argo's rollout/analysis_test.go TestErrorConditionAfterErrorAnalysisRun*):
/// the run's message follows the prefix verbatim, provider error included; a run without a
/// message leaves the prefix alone.
#[test]
fn abort_messages_carry_the_run_message_as_argo_words_them() {
    let background = || RolloutAnalysisBackground {
        analysis: RolloutAnalysis {
            templates: Some(vec![AnalysisTemplateRef {
                template_name: "success-rate".into(),
                cluster_scope: None,
            }]),
            args: Some(vec![arg("service-name", "web")]),
            ..Default::default()
        },
        starting_step: None,
    };
    let provider_error = "Metric \"success-rate\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: Post \\\"http://prometheus:9090/api/v1/query\\\": dial tcp: connection refused\"";
    let cases = [
        (
            false,
            "Error",
            Some("Error"),
            "Step-based analysis phase error/failed: Error".to_string(),
        ),
        (
            true,
            "Error",
            None,
            "Background analysis phase error/failed".to_string(),
        ),
        (
            false,
            "Error",
            Some(provider_error),
            format!("Step-based analysis phase error/failed: {provider_error}"),
        ),
        (
            true,
            "Failed",
            Some(""),
            "Background analysis phase error/failed".to_string(),
        ),
    ];
    for (in_background, phase, message, want) in cases {
        let mut sim = if in_background {
            let mut sim = healthy(vec![weight(20), pause(None)], Some(background()));
            sim.set_image(V2);
            sim.run_until(20, |s| s.phase() == "Paused");
            sim
        } else {
            let mut sim = healthy(steps(), None);
            sim.set_image(V2);
            sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
            sim
        };
        let name = sim.run_names()[0].clone();
        sim.set_run_phase(&name, phase, message);
        sim.step();
        let want = format!("Rollout aborted update to revision 2: {want}");
        assert_eq!(
            sim.status().message.as_deref(),
            Some(format!("RolloutAborted: {want}").as_str()),
            "{message:?}"
        );
        let progressing = sim
            .status()
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(
            (progressing.reason.as_str(), progressing.message.as_str()),
            ("RolloutAborted", want.as_str())
        );
    }
}

#[test]
fn args_from_pod_template_hashes_and_fields() {
    let args = vec![
        arg("service-name", "web"),
        AnalysisRunArgument {
            name: "stable-hash".into(),
            value: None,
            value_from: Some(ArgumentValueFrom {
                pod_template_hash_value: Some("Stable".into()),
                field_ref: None,
            }),
        },
        AnalysisRunArgument {
            name: "latest-hash".into(),
            value: None,
            value_from: Some(ArgumentValueFrom {
                pod_template_hash_value: Some("Latest".into()),
                field_ref: None,
            }),
        },
        AnalysisRunArgument {
            name: "env".into(),
            value: None,
            value_from: Some(ArgumentValueFrom {
                pod_template_hash_value: None,
                field_ref: Some(FieldRef {
                    field_path: "metadata.labels['env']".into(),
                }),
            }),
        },
    ];
    let mut sim = healthy(vec![weight(20), analysis_step(args)], None);
    sim.set_image(V2);
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    let args = sim.observed.analysis_runs[0].spec.args.clone().unwrap();
    let value = |n: &str| {
        args.iter()
            .find(|a| a.name == n)
            .and_then(|a| a.value.clone())
    };
    assert_eq!(value("stable-hash"), Some(hash(V1)));
    assert_eq!(value("latest-hash"), Some(hash(V2)));
    assert_eq!(value("env").as_deref(), Some("prod"));
}

#[test]
fn completed_runs_beyond_the_history_limits_are_deleted() {
    let mut sim = healthy(
        vec![weight(20), analysis_step(vec![arg("service-name", "web")])],
        None,
    );
    for revision in 2..=9 {
        sim.set_image(&format!("web:v{revision}"));
        sim.run_until(20, |s| {
            s.run_names()
                .iter()
                .any(|n| n.contains(&format!("-{revision}-1")))
        });
        let name = sim
            .run_names()
            .into_iter()
            .find(|n| n.contains(&format!("-{revision}-1")))
            .unwrap();
        sim.set_run_phase(&name, "Successful", None);
        let image = format!("web:v{revision}");
        sim.run_until(30, |s| s.status().stable_rs == Some(hash(&image)));
    }
    sim.step();
    assert_eq!(sim.observed.analysis_runs.len(), 5, "{:?}", sim.run_names());
}

#[test]
fn bad_analysis_references_are_invalid_spec() {
    type Breaker = fn(&mut Sim);
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "missing template",
            |s| {
                s.observed.templates.namespaced.clear();
            },
            "AnalysisTemplate success-rate not found",
        ),
        (
            "unresolvable arg",
            |s| {
                let steps = s
                    .rollout
                    .spec
                    .strategy
                    .canary
                    .as_mut()
                    .unwrap()
                    .steps
                    .as_mut()
                    .unwrap();
                steps[1] = analysis_step(vec![]);
            },
            "AnalysisTemplate success-rate argument \"service-name\" has no value",
        ),
        (
            "unknown provider",
            |s| {
                s.observed.templates.namespaced.insert(
                    "success-rate".into(),
                    template("result[0] >= 0.95", "web: {url: 'http://x'}"),
                );
            },
            "metric \"success-rate\": provider.web",
        ),
        (
            "unparsable condition",
            |s| {
                s.observed.templates.namespaced.insert(
                    "success-rate".into(),
                    template("result[0] >=> 0.95", "prometheus: {query: 'up'}"),
                );
            },
            "metric \"success-rate\": successCondition",
        ),
    ];
    for (name, breaker, expected) in cases {
        let mut sim = healthy(steps(), None);
        breaker(&mut sim);
        sim.set_image(V2);
        let p = plan(&sim.rollout, &sim.observed, t(100));
        let condition = p
            .status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "InvalidSpec")
            .unwrap_or_else(|| panic!("{name}: not invalid"));
        assert!(
            condition.message.contains(expected),
            "{name}: {}",
            condition.message
        );
        assert!(
            condition
                .message
                .contains("spec.strategy.canary.steps[1].analysis"),
            "{name}: {}",
            condition.message
        );
        assert!(!p.touches_cluster_objects(), "{name}");
    }
}

fn opted_in(sim: &mut Sim) {
    sim.rollout.metadata.annotations =
        Some([("weir.dev/git-revert".to_string(), "true".to_string())].into());
}

fn fail_first_run(sim: &mut Sim) {
    sim.set_image(V2);
    sim.run_until(20, |s| !s.observed.analysis_runs.is_empty());
    let name = sim.run_names()[0].clone();
    let run = sim
        .observed
        .analysis_runs
        .iter_mut()
        .map(std::sync::Arc::make_mut)
        .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
        .unwrap();
    run.status = Some(crate::api::analysis::AnalysisRunStatus {
        phase: "Failed".into(),
        message: Some(
            "Metric \"success-rate\" assessed Failed due to failed (4) > failureLimit (3)".into(),
        ),
        metric_results: Some(vec![crate::api::analysis::MetricResult {
            name: "success-rate".into(),
            phase: "Failed".into(),
            measurements: Some(vec![crate::api::analysis::Measurement {
                phase: "Failed".into(),
                value: Some("[0.8]".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        ..Default::default()
    });
}

#[test]
fn analysis_abort_records_a_git_revert_with_evidence() {
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    fail_first_run(&mut sim);
    let p = sim.step();
    assert_eq!(sim.canary_weight(), 0);
    let revert = sim
        .weir()
        .and_then(|w| w.git_revert)
        .expect("revert requested in the abort's write");
    assert_eq!(
        (
            revert.phase.as_str(),
            revert.cause.as_str(),
            revert.revision.as_str()
        ),
        ("Pending", "analysis", "2")
    );
    assert_eq!(revert.pod_hash, hash(V2));
    assert_eq!(revert.images.len(), 1);
    assert_eq!(
        (
            revert.images[0].bad_image.as_str(),
            revert.images[0].stable_image.as_str()
        ),
        (V2, V1)
    );
    let evidence = revert.evidence.unwrap();
    assert_eq!(
        evidence.analysis_run.as_deref(),
        Some(format!("web-{}-2-1", hash(V2)).as_str())
    );
    assert_eq!(evidence.metric.as_deref(), Some("success-rate"));
    assert_eq!(evidence.value.as_deref(), Some("[0.8]"));
    assert_eq!(
        evidence.condition.as_deref(),
        Some("successCondition: result[0] >= 0.95")
    );
    assert!(evidence.message.contains("failed (4) > failureLimit (3)"));
    assert!(
        p.events
            .iter()
            .any(|e| e.reason == "GitRevertStarted" && e.message.contains("web:v2 -> web:v1"))
    );
    // The request is made once.
    for _ in 0..3 {
        assert!(
            !sim.step()
                .events
                .iter()
                .any(|e| e.reason == "GitRevertStarted")
        );
    }
}

#[test]
fn revert_needs_opt_in_and_manual_aborts_need_the_setting() {
    let mut sim = healthy(steps(), None);
    fail_first_run(&mut sim);
    sim.step();
    assert!(sim.weir().is_none(), "not opted in");

    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    sim.set_image(V2);
    sim.run_until(20, |s| s.status().current_step_index == Some(1));
    sim.rollout.status.as_mut().unwrap().abort = Some(true);
    sim.step();
    assert!(
        sim.weir().is_none(),
        "manual abort does not revert by default"
    );

    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    sim.observed.revert_settings.on_manual_abort = true;
    sim.set_image(V2);
    sim.run_until(20, |s| s.status().current_step_index == Some(1));
    sim.rollout.status.as_mut().unwrap().abort = Some(true);
    sim.step();
    let revert = sim.weir().and_then(|w| w.git_revert).unwrap();
    assert_eq!(revert.cause, "manual");

    let mut sim = healthy(steps(), None);
    sim.observed.revert_settings.all_rollouts = true;
    fail_first_run(&mut sim);
    sim.step();
    assert!(
        sim.weir().and_then(|w| w.git_revert).is_some(),
        "controller-wide setting"
    );
}

#[test]
fn progress_deadline_abort_reverts_too() {
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    sim.rollout.spec.progress_deadline_seconds = Some(10);
    sim.rollout.spec.progress_deadline_abort = Some(true);
    sim.never_ready = Some(V2.into());
    sim.set_image(V2);
    sim.run_until(40, |s| s.phase() == "Degraded");
    let revert = sim.weir().and_then(|w| w.git_revert).unwrap();
    assert_eq!(revert.cause, "progressDeadline");
    assert!(
        revert
            .evidence
            .unwrap()
            .message
            .contains("timed out progressing")
    );
}

#[test]
fn a_held_image_does_not_start_a_canary_until_retry() {
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    fail_first_run(&mut sim);
    sim.step();
    // Git is reverted and synced: the template is the stable one again.
    sim.set_image(V1);
    sim.run_until(20, |s| s.phase() == "Healthy");
    // An image updater rolls the bad image forward again.
    let leftover = sim.rs_replicas(&hash(V2)).unwrap_or(0);
    sim.set_image(V2);
    let p = sim.step();
    assert!(
        p.events
            .iter()
            .any(|e| e.reason == "ImageHeld" && e.type_ == EventType::Warning)
    );
    for _ in 0..10 {
        sim.step();
    }
    assert_eq!(sim.phase(), "Degraded");
    assert!(
        sim.status()
            .message
            .as_deref()
            .unwrap()
            .contains("is held because revision 2 was aborted (analysis)")
    );
    assert!(
        sim.status()
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Held" && c.status == "True")
    );
    assert_eq!(sim.canary_weight(), 0);
    assert!(
        sim.rs_replicas(&hash(V2)).unwrap_or(0) <= leftover,
        "a held image is not scaled up"
    );
    sim.run_until(40, |s| s.rs_replicas(&hash(V2)) == Some(0));
    // retry rolls it out again, with a fresh analysis run.
    sim.rollout.status.as_mut().unwrap().abort = Some(false);
    sim.run_until(20, |s| s.canary_weight() == 20);
    assert!(
        !sim.status()
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Held")
    );
    assert!(sim.weir().and_then(|w| w.held).is_none_or(|h| h.is_empty()));
}

#[test]
fn another_image_is_not_held() {
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    fail_first_run(&mut sim);
    sim.step();
    sim.set_image("web:v3");
    sim.run_until(20, |s| s.canary_weight() == 20);
    assert_ne!(sim.phase(), "Degraded");
}

#[test]
fn a_held_image_is_held_even_if_other_fields_change() {
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    fail_first_run(&mut sim);
    sim.step();
    sim.set_image(V1);
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim.set_image(V2);
    let template = sim.rollout.spec.template.as_mut().unwrap();
    template.edit(|t| {
        t.metadata.as_mut().unwrap().annotations =
            Some([("rolled".to_string(), "again".to_string())].into());
    });
    let p = sim.step();
    assert!(
        p.events.iter().any(|e| e.reason == "ImageHeld"),
        "{:?}",
        p.events
    );
}

/// A Rollout an earlier Weir wrote keeps its state in `status.weir`: the next plan moves it to
/// the annotation and drops it from status, and what it held stays held.
#[test]
fn state_in_the_legacy_status_field_moves_to_the_annotation() {
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    fail_first_run(&mut sim);
    sim.step();
    let state = sim.weir().expect("state recorded");
    // As an earlier Weir left it: in status, no annotation.
    sim.rollout
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .remove(crate::api::rollout::WEIR_STATE_ANNOTATION);
    sim.rollout.status.as_mut().unwrap().weir = Some(Box::new(state.clone()));
    assert_eq!(sim.weir(), Some(state.clone()), "read from status");

    sim.step();
    assert!(sim.status().weir.is_none(), "no longer written to status");
    assert_eq!(
        sim.rollout.weir_state_annotation().map(str::to_string),
        Some(state.to_annotation()),
        "moved to the annotation as it was"
    );
    // The failed image is still held against a roll-forward.
    sim.set_image(V1);
    sim.run_until(20, |s| s.phase() == "Healthy");
    sim.set_image(V2);
    let p = sim.step();
    assert!(p.events.iter().any(|e| e.reason == "ImageHeld"));
}

/// However many releases fail, the annotation keeps the last HELD_LIMIT held revisions.
#[test]
fn held_revisions_are_bounded() {
    use crate::rollout::revert_request::HELD_LIMIT;
    let mut sim = healthy(steps(), None);
    opted_in(&mut sim);
    let state = crate::api::rollout::WeirStatus {
        held: Some(
            (0..HELD_LIMIT + 5)
                .map(|i| crate::api::rollout::HeldRevision {
                    pod_hash: format!("old{i}"),
                    images: vec![format!("web:old{i}")],
                    reason: "revision was aborted (analysis)".into(),
                })
                .collect(),
        ),
        ..Default::default()
    };
    sim.rollout.metadata.annotations.as_mut().unwrap().insert(
        crate::api::rollout::WEIR_STATE_ANNOTATION.into(),
        state.to_annotation(),
    );
    fail_first_run(&mut sim);
    sim.step();
    let held = sim.weir().unwrap().held.unwrap();
    assert_eq!(held.len(), HELD_LIMIT);
    assert_eq!(
        held.last().unwrap().pod_hash,
        hash(V2),
        "the newest is kept"
    );
}
