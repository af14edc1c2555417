//! Analysis scenarios: the real controller and a real Prometheus (Debian's package) scraping a
//! test exporter, with the seeds' AnalysisTemplates. The templates name the cluster address
//! `http://prometheus:9090`; tests substitute the fixture's address and shorten intervals,
//! nothing else.

use crate::support::prometheus::Prometheus;
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn example(path: &str) -> String {
    std::fs::read_to_string(format!("{}/examples/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("example exists")
}

/// Seed 004's objects, its quick Rollout (background analysis `success-rate`) and template.
pub fn seed_004(prom: &Prometheus, interval: &str) -> String {
    let rollout = example("quick/rollout-nodejs-app.yaml")
        .replace("http://prometheus:9090", &prom.url())
        .replace("interval: 5s", &format!("interval: {interval}"))
        .replace("duration: 5s", "duration: 2s");
    [
        example("seed-004/service.yaml"),
        example("seed-004/virtualservice.yaml"),
        example("seed-004/destinationrule.yaml"),
        rollout,
    ]
    .join("\n---\n")
}

/// Requests per second by status code for service nodejs-app.
pub fn serve(prom: &Prometheus, ok: f64, errors: f64) {
    prom.set_rate(
        "http_requests_total",
        &[("service", "nodejs-app"), ("status", "200")],
        ok,
    );
    prom.set_rate(
        "http_requests_total",
        &[("service", "nodejs-app"), ("status", "500")],
        errors,
    );
}

pub async fn start(
    prom: &Prometheus,
    yaml: &str,
    config: weir::controller::Config,
) -> (Bed, String) {
    let mut bed = Bed::new().await;
    bed.apply(yaml).await;
    bed.start_controller_with(config);
    let first = bed
        .wait_rollout("nodejs-app", "initial deploy", |r| phase(r) == "Healthy")
        .await;
    let _ = prom;
    (
        bed,
        first.status.and_then(|s| s.stable_rs).unwrap_or_default(),
    )
}

pub async fn release(bed: &Bed, name: &str, image: &str, previous: &str) -> String {
    bed.set_image(name, image).await;
    let r = bed
        .wait_rollout(name, "new revision", |r| {
            status_hash(r).1.as_deref().is_some_and(|h| h != previous)
        })
        .await;
    status_hash(&r).1.unwrap()
}

pub async fn seed_004_success_rate_passing_promotes() {
    let prom = Prometheus::new().await;
    serve(&prom, 97.0, 3.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let (bed, h1) = start(&prom, &seed_004(&prom, "1s"), Default::default()).await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    bed.wait_rollout("nodejs-app", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let runs = bed.runs().await;
    assert_eq!(runs.len(), 1, "one background run");
    let run = &runs[0];
    assert_eq!(
        run.metadata.labels.as_ref().unwrap()["rollout-type"],
        "Background"
    );
    let status = run.status.clone().unwrap();
    assert_eq!(status.phase, "Successful");
    let result = &status.metric_results.unwrap()[0];
    assert!(result.successful.unwrap_or(0) >= 1);
    let value = result.measurements.as_ref().unwrap()[0]
        .value
        .clone()
        .unwrap();
    assert!(
        value.starts_with("[0.9"),
        "value stored as Argo does: {value}"
    );
    bed.finish().await;
}

pub async fn seed_004_success_rate_failing_aborts_to_stable() {
    let prom = Prometheus::new().await;
    serve(&prom, 80.0, 20.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let config = weir::controller::Config::default();
    let metrics = config.metrics.clone();
    let (bed, h1) = start(&prom, &seed_004(&prom, "1s"), config).await;
    release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;

    // Figure: from the run turning Failed to the canary weight being 0 on the VirtualService.
    let mut failed_at = None;
    let deadline = Instant::now() + WAIT;
    let latency = loop {
        assert!(Instant::now() < deadline, "never aborted");
        if failed_at.is_none()
            && bed
                .runs()
                .await
                .iter()
                .any(|r| r.status.as_ref().is_some_and(|s| s.phase == "Failed"))
        {
            failed_at = Some(Instant::now());
        }
        if let Some(at) = failed_at
            && bed.canary_weight("nodejs-app-vsvc").await == 0
        {
            break at.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    eprintln!(
        "FIGURE analysis-failure-to-weight-0: {:.1} ms (poll resolution ~2 ms)",
        latency.as_secs_f64() * 1000.0
    );

    let aborted = bed
        .wait_rollout("nodejs-app", "Degraded", |r| phase(r) == "Degraded")
        .await;
    let message = aborted.status.unwrap().message.unwrap();
    assert!(message.contains("Background analysis phase error/failed: Metric \"success-rate\" assessed Failed due to failed (4) > failureLimit (3)"), "{message}");
    let run = bed.runs().await.remove(0);
    let result = run.status.unwrap().metric_results.unwrap().remove(0);
    assert_eq!((result.failed, result.phase.as_str()), (Some(4), "Failed"));
    let resolved = result
        .metadata
        .as_ref()
        .and_then(|m| m.get("ResolvedPrometheusQuery"))
        .expect("the query as sent is recorded, as Argo does");
    assert!(
        !resolved.contains("{{") && resolved.contains("http_requests_total"),
        "{resolved}"
    );
    // Stored as Argo stores a vector: `[<sample>]` (rate() arithmetic may give 0.7999999999999998).
    let value = result.measurements.unwrap()[0].value.clone().unwrap();
    let sample: f64 = value
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .expect("one sample");
    assert!((sample - 0.8).abs() < 1e-6, "{value}");
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    bed.expect_event(|reason, note| reason == "AnalysisRunFailed" && note.contains("Failed"))
        .await;
    // The same abort as the controller measures it and dashboards see it.
    let text = metrics.encode();
    assert!(
        text.contains("weir_abort_to_safe_seconds_count 1\n"),
        "one abort-to-safe observation:\n{text}"
    );
    let seconds: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("weir_abort_to_safe_seconds_sum "))
        .and_then(|v| v.parse().ok())
        .expect("a sum");
    eprintln!(
        "FIGURE abort-to-safe as the controller measures it: {:.1} ms",
        seconds * 1000.0
    );
    let ns = &bed.ns;
    assert!(text.contains(&format!(
        r#"rollout_info{{namespace="{ns}",name="nodejs-app",strategy="canary",traffic_router="Istio",phase="Abort"}} 1"#
    )), "{text}");
    assert!(text.contains(&format!(r#"analysis_run_info{{namespace="{ns}",name=""#)));
    assert!(
        text.contains(
            r#"metric="success-rate",type="Prometheus",dry_run="false",phase="Failed"} 1"#
        )
    );
    assert!(text.contains(&format!(r#"rollout_events_total{{namespace="{ns}",name="nodejs-app",type="Warning",reason="RolloutAborted"}} 1"#)));
    bed.finish().await;
}

/// Seed 002's `error-rate-check` as a step analysis, interval shortened to 1s.
fn seed_002(prom: &Prometheus) -> String {
    let template = example("seed-002/analysistemplate-error-rate-check.yaml")
        .replace("http://prometheus:9090", &prom.url())
        .replace("interval: 1m", "interval: 1s");
    let rollout = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: nodejs-app}
spec:
  replicas: 4
  selector: {matchLabels: {app: nodejs-app}}
  template:
    metadata: {labels: {app: nodejs-app}}
    spec: {containers: [{name: app, image: "ghcr.io/myorg/nodejs-app:v1.0.0"}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: nodejs-app-vsvc, routes: [primary]}
          destinationRule: {name: nodejs-app-destrule, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 20
      - analysis:
          templates:
          - templateName: error-rate-check
      - setWeight: 100
"#;
    [
        example("seed-004/service.yaml"),
        example("seed-004/virtualservice.yaml"),
        example("seed-004/destinationrule.yaml"),
        template,
        rollout.to_string(),
    ]
    .join("\n---\n")
}

/// Seed 004's objects and a Rollout whose second step runs `template` (named `check`).
pub fn step_analysis(template: &str) -> String {
    let rollout = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: nodejs-app}
spec:
  replicas: 4
  selector: {matchLabels: {app: nodejs-app}}
  template:
    metadata: {labels: {app: nodejs-app}}
    spec: {containers: [{name: app, image: "ghcr.io/myorg/nodejs-app:v1.0.0"}]}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: nodejs-app-vsvc, routes: [primary]}
          destinationRule: {name: nodejs-app-destrule, canarySubsetName: canary, stableSubsetName: stable}
      steps:
      - setWeight: 20
      - analysis:
          templates:
          - templateName: check
          args:
          - name: service-name
            value: nodejs-app
      - setWeight: 100
"#;
    [
        example("seed-004/service.yaml"),
        example("seed-004/virtualservice.yaml"),
        example("seed-004/destinationrule.yaml"),
        template.to_string(),
        rollout.to_string(),
    ]
    .join("\n---\n")
}

pub fn check_template(prom: &Prometheus, metric: &str) -> String {
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: check}}
spec:
  args:
  - name: service-name
  metrics:
  - name: error-ratio
{metric}
    provider:
      prometheus:
        address: {}
        query: sum(rate(http_requests_total{{service="{{{{args.service-name}}}}", status=~"5.."}}[5m])) / sum(rate(http_requests_total{{service="{{{{args.service-name}}}}"}}[5m]))
"#,
        prom.url()
    )
}

pub async fn seed_002_error_rate_check_aborts_on_the_fourth_failure() {
    let prom = Prometheus::new().await;
    serve(&prom, 95.0, 5.0);
    prom.wait_for("rate(http_requests_total{status=~\"5..\"}[5m]) > 0")
        .await;
    let (bed, h1) = start(&prom, &seed_002(&prom), Default::default()).await;
    release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    let aborted = bed
        .wait_rollout("nodejs-app", "aborted", |r| phase(r) == "Degraded")
        .await;
    let run = bed.runs().await.remove(0);
    assert_eq!(run.metadata.labels.as_ref().unwrap()["step-index"], "1");
    let result = run.status.unwrap().metric_results.unwrap().remove(0);
    assert_eq!(
        (result.count, result.failed),
        (Some(4), Some(4)),
        "failed on the 4th measurement, not before or after"
    );
    let fourth = result.measurements.as_ref().unwrap()[3]
        .finished_at
        .clone()
        .unwrap();
    let aborted_at = aborted.status.unwrap().aborted_at.unwrap();
    assert!(aborted_at.0 >= fourth.0, "aborted before the 4th failure");
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    bed.finish().await;
}

pub async fn prometheus_down_errors_abort_after_the_fifth_consecutive_error() {
    let mut prom = Prometheus::new().await;
    serve(&prom, 97.0, 3.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let config = weir::controller::Config {
        analysis_error_retry: Duration::from_millis(500),
        ..Default::default()
    };
    // An indefinite background metric so that only errors can end it.
    let yaml = seed_004(&prom, "1s").replace("      count: 5\n", "");
    let (bed, h1) = start(&prom, &yaml, config).await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    bed.wait("a first measurement", || async {
        bed.runs()
            .await
            .iter()
            .any(|r| {
                r.status
                    .as_ref()
                    .and_then(|s| s.metric_results.as_ref())
                    .is_some_and(|m| m[0].successful >= Some(1))
            })
            .then_some(())
    })
    .await
    .expect("measured");
    prom.stop();
    let aborted = bed
        .wait_rollout("nodejs-app", "aborted", |r| phase(r) == "Degraded")
        .await;
    assert_ne!(
        aborted.status.as_ref().and_then(|s| s.stable_rs.as_deref()),
        Some(h2.as_str()),
        "never promoted"
    );
    let status = bed.runs().await.remove(0).status.unwrap();
    let result = status.metric_results.clone().unwrap().remove(0);
    assert_eq!(
        (result.phase.as_str(), result.consecutive_error),
        ("Error", Some(5))
    );
    // The metric keeps what Prometheus' client answered; the run and the Rollout say, in
    // Argo's words, which limit ended it and that answer.
    let provider_error = result.message.clone().unwrap();
    let last = result.measurements.as_ref().unwrap().last().unwrap();
    assert_eq!(last.message.as_ref(), Some(&provider_error));
    let run_message = status.message.unwrap();
    assert_eq!(
        run_message,
        format!(
            "Metric \"{}\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: {provider_error}\"",
            result.name
        )
    );
    let rollout_message = aborted.status.unwrap().message.unwrap();
    assert!(
        rollout_message.ends_with(&format!("analysis phase error/failed: {run_message}")),
        "{rollout_message}"
    );
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    bed.finish().await;
}

pub async fn inconclusive_pauses_and_promote_resumes() {
    let prom = Prometheus::new().await;
    serve(&prom, 80.0, 20.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let metric = "    interval: 1s\n    successCondition: result[0] < 0.05\n    failureCondition: result[0] > 0.5";
    let (bed, h1) = start(
        &prom,
        &step_analysis(&check_template(&prom, metric)),
        Default::default(),
    )
    .await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    let paused = bed
        .wait_rollout("nodejs-app", "inconclusive pause", |r| phase(r) == "Paused")
        .await;
    assert_eq!(
        paused.status.as_ref().and_then(|s| s.message.as_deref()),
        Some("InconclusiveAnalysisRun")
    );
    assert_eq!(
        bed.runs().await[0]
            .status
            .as_ref()
            .map(|s| s.phase.as_str()),
        Some("Inconclusive")
    );
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 20);
    // `kubectl weir promote` on an inconclusive analysis step: clear the pause, skip the step.
    bed.merge_patch_status(
        "nodejs-app",
        json!({"pauseConditions": null, "controllerPause": null, "currentStepIndex": 2}),
    )
    .await;
    bed.wait_rollout("nodejs-app", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    bed.finish().await;
}

pub async fn background_analysis_from_starting_step_is_terminated_successful_at_promotion() {
    let prom = Prometheus::new().await;
    serve(&prom, 97.0, 3.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let yaml = seed_004(&prom, "1s")
        .replace("      count: 5\n", "")
        .replace(
            "      analysis:\n        templates:",
            "      analysis:\n        startingStep: 2\n        templates:",
        );
    let (bed, h1) = start(&prom, &yaml, Default::default()).await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    bed.wait_rollout("nodejs-app", "in the first pause", |r| step(r) == Some(1))
        .await;
    assert!(
        bed.runs().await.is_empty(),
        "no background run before startingStep"
    );
    let at_two = bed
        .wait_rollout("nodejs-app", "step 2", |r| step(r) >= Some(2))
        .await;
    assert!(step(&at_two) >= Some(2));
    bed.wait_rollout("nodejs-app", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let run = bed
        .wait("background run terminated", || async {
            let run = bed.runs().await.into_iter().next()?;
            (run.status.as_ref()?.phase == "Successful").then_some(run)
        })
        .await
        .expect("run ended");
    assert_eq!(run.spec.terminate, Some(true));
    assert!(
        run.status.unwrap().metric_results.unwrap()[0]
            .successful
            .unwrap_or(0)
            >= 1
    );
    bed.finish().await;
}

pub async fn controller_restart_keeps_measurements_and_schedule() {
    let prom = Prometheus::new().await;
    serve(&prom, 97.0, 3.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let metric = "    interval: 2s\n    count: 5\n    successCondition: result[0] < 0.05";
    let (mut bed, h1) = start(
        &prom,
        &step_analysis(&check_template(&prom, metric)),
        Default::default(),
    )
    .await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    let measured = |n: i32| {
        let bed = &bed;
        async move {
            let run = bed.runs().await.into_iter().next()?;
            let result = run
                .status
                .as_ref()?
                .metric_results
                .as_ref()?
                .first()?
                .clone();
            (result.count >= Some(n)).then_some(result)
        }
    };
    let before = bed
        .wait("two measurements", || measured(2))
        .await
        .expect("measured twice");
    bed.stop_controller().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    bed.start_controller();
    bed.wait_rollout("nodejs-app", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let run = bed.runs().await.remove(0);
    let result = run.status.unwrap().metric_results.unwrap().remove(0);
    assert_eq!(
        result.count,
        Some(5),
        "count 5: no measurement lost or repeated"
    );
    let kept = result.measurements.unwrap();
    let first_before = before.measurements.unwrap()[0].started_at.clone();
    assert_eq!(
        kept[0].started_at, first_before,
        "measurements from before the restart kept"
    );
    for pair in kept.windows(2) {
        let gap = pair[0]
            .finished_at
            .clone()
            .unwrap()
            .0
            .duration_until(pair[1].started_at.clone().unwrap().0);
        assert!(
            gap >= jiff::SignedDuration::from_secs(1),
            "interval kept across the restart: {gap:?}"
        );
    }
    bed.finish().await;
}

/// Three releases with a step analysis each, keeping one old revision and one successful run:
/// the older ReplicaSets and AnalysisRuns are deleted, as Argo's history limits say.
pub async fn history_limits_delete_old_replica_sets_and_runs() {
    let prom = Prometheus::new().await;
    serve(&prom, 99.0, 1.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let template = check_template(
        &prom,
        "    interval: 1s\n    count: 1\n    successCondition: result[0] < 0.05",
    );
    let rollout = step_analysis("check").replace(
        "spec:\n  replicas: 4\n",
        "spec:\n  replicas: 4\n  revisionHistoryLimit: 1\n  analysis: {successfulRunHistoryLimit: 1}\n",
    );
    let (bed, mut stable) = start(
        &prom,
        &format!("{rollout}\n---\n{template}"),
        Default::default(),
    )
    .await;
    for tag in ["v1.1.0", "v1.2.0", "v1.3.0"] {
        let next = release(
            &bed,
            "nodejs-app",
            &format!("ghcr.io/myorg/nodejs-app:{tag}"),
            &stable,
        )
        .await;
        bed.wait_rollout("nodejs-app", "promoted", |r| is_healthy_at(r, &next))
            .await;
        stable = next;
    }
    let trimmed = bed
        .wait("old ReplicaSets deleted", || async {
            (bed.replica_sets().await.len() <= 2).then_some(())
        })
        .await;
    assert!(
        trimmed.is_some(),
        "ReplicaSets kept: {}",
        bed.replica_sets().await.len()
    );
    let trimmed = bed
        .wait("old runs deleted", || async {
            (bed.runs().await.len() == 1).then_some(())
        })
        .await;
    assert!(trimmed.is_some(), "runs kept: {}", bed.runs().await.len());
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario history_limits_delete_old_replica_sets_and_runs,
        scenario seed_004_success_rate_passing_promotes,
        scenario seed_004_success_rate_failing_aborts_to_stable,
        scenario seed_002_error_rate_check_aborts_on_the_fourth_failure,
        scenario prometheus_down_errors_abort_after_the_fifth_consecutive_error,
        scenario inconclusive_pauses_and_promote_resumes,
        scenario background_analysis_from_starting_step_is_terminated_successful_at_promotion,
        scenario controller_restart_keeps_measurements_and_schedule,
    ]
}
