//! Git revert end to end: the real controller, a real Prometheus whose error rate fails the
//! analysis, and a real Git repository created by the test. The test plays Argo CD: it syncs
//! the image the repository declares into the Rollout.

use crate::git_server::{TempRepo, bare_repo_with};
use crate::support::prometheus::Prometheus;
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

const IMAGE: &str = "ghcr.io/myorg/nodejs-app";

fn overlay(tag: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\n\nimages:\n# bumped by CI\n- name: {IMAGE}\n  newTag: \"{tag}\"  # release tag\n"
    )
}

fn repo() -> TempRepo {
    let mut files: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("docs/page-{i:04}.md"), format!("# page {i}\n")))
        .collect();
    files.push((
        "base/kustomization.yaml".into(),
        "resources:\n- rollout.yaml\n".into(),
    ));
    files.push(("base/rollout.yaml".into(), format!("kind: Rollout\nmetadata:\n  name: nodejs-app\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {IMAGE}:v1.0.0\n")));
    files.push(("overlays/prod/kustomization.yaml".into(), overlay("v1.0.0")));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    bare_repo_with(&refs, "main")
}

fn manifests(prom: &Prometheus, repo_url: &str) -> String {
    let rollout = format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: nodejs-app
  annotations:
    weir.dev/git-revert: "true"
    weir.dev/git-repo: {repo_url}
    weir.dev/git-branch: main
    weir.dev/git-path: overlays/prod
spec:
  replicas: 4
  selector: {{matchLabels: {{app: nodejs-app}}}}
  template:
    metadata: {{labels: {{app: nodejs-app}}}}
    spec: {{containers: [{{name: app, image: "{IMAGE}:v1.0.0"}}]}}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {{name: nodejs-app-vsvc, routes: [primary]}}
          destinationRule: {{name: nodejs-app-destrule, canarySubsetName: canary, stableSubsetName: stable}}
      steps:
      - setWeight: 20
      - analysis: {{templates: [{{templateName: error-ratio}}]}}
      - setWeight: 100
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: error-ratio}}
spec:
  metrics:
  - name: error-ratio
    interval: 1s
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        address: {}
        query: sum(rate(http_requests_total{{status=~"5.."}}[5m])) / sum(rate(http_requests_total[5m]))
"#,
        prom.url()
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed-004/");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).unwrap();
    [
        read("service.yaml"),
        read("virtualservice.yaml"),
        read("destinationrule.yaml"),
        rollout,
    ]
    .join("\n---\n")
}

/// The test as Argo CD: the image the overlay declares goes into the Rollout.
async fn sync(bed: &Bed, repo: &TempRepo) -> String {
    let text = repo
        .read_file("main", "overlays/prod/kustomization.yaml")
        .unwrap();
    let tag = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("newTag: \""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_string();
    bed.set_image("nodejs-app", &format!("{IMAGE}:{tag}")).await;
    tag
}

async fn failing_setup() -> (
    Prometheus,
    TempRepo,
    Bed,
    String,
    std::sync::Arc<weir::controller::metrics::Metrics>,
) {
    let prom = Prometheus::new().await;
    prom.set_rate("http_requests_total", &[("status", "200")], 80.0);
    prom.set_rate("http_requests_total", &[("status", "500")], 20.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let repo = repo();
    let mut bed = Bed::new().await;
    bed.apply(&manifests(&prom, &repo.url_file())).await;
    let config = weir::controller::Config {
        revert: weir::gitops::commit_revert::RevertConfig {
            cache_dir: std::env::temp_dir().join(format!("weir-cache-{}", std::process::id())),
            retry_after: Duration::from_millis(500),
            ..Default::default()
        },
        ..Default::default()
    };
    let metrics = config.metrics.clone();
    bed.start_controller_with(config);
    let first = bed
        .wait_rollout("nodejs-app", "v1.0.0 Healthy", |r| phase(r) == "Healthy")
        .await;
    let stable = first.status.and_then(|s| s.stable_rs).unwrap();
    (prom, repo, bed, stable, metrics)
}

pub async fn failed_analysis_reverts_the_image_in_git() {
    let (_prom, repo, bed, stable, metrics) = failing_setup().await;
    // CI releases v1.1.0; Argo CD syncs it.
    repo.commit_file(
        "main",
        "overlays/prod/kustomization.yaml",
        &overlay("v1.1.0"),
        "release v1.1.0",
    );
    let released = repo.head("main").unwrap();
    assert_eq!(sync(&bed, &repo).await, "v1.1.0");

    let aborted = bed
        .wait_rollout("nodejs-app", "aborted by analysis", |r| {
            phase(r) == "Degraded"
        })
        .await;
    let seen_abort = Instant::now();
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    let pending = aborted
        .weir_state()
        .and_then(|w| w.git_revert)
        .expect("revert recorded with the abort");
    assert_eq!(pending.cause, "analysis");

    let head = bed
        .wait("revert commit pushed", || async {
            repo.head("main").filter(|h| *h != released)
        })
        .await
        .expect("a revert commit");
    eprintln!(
        "FIGURE abort-to-revert-commit (1,000-file repo, file://): {:.0} ms",
        seen_abort.elapsed().as_secs_f64() * 1000.0
    );
    // The event is published after the result is recorded in status, so wait for both.
    let event = format!(
        r#"rollout_events_total{{namespace="{}",name="nodejs-app",type="Normal",reason="GitRevertCommitted"}} 1"#,
        bed.ns
    );
    let counted = bed
        .wait("the revert counted in /metrics", || async {
            let text = metrics.encode();
            (text.contains(r#"weir_git_revert_total{result="Committed"} 1"#)
                && text.contains(&event))
            .then_some(())
        })
        .await;
    assert!(counted.is_some(), "{}", metrics.encode());
    let log = repo.log("main");
    let commit = &log[0];
    assert_eq!(commit.sha, head);
    assert_eq!(
        commit.parents,
        vec![released.clone()],
        "on top of the release, no force-push"
    );
    assert_eq!(
        commit.files,
        vec!["overlays/prod/kustomization.yaml".to_string()],
        "exactly one file"
    );
    assert_eq!(commit.author_name, "Weir");
    assert_eq!(
        repo.read_file("main", "overlays/prod/kustomization.yaml")
            .unwrap(),
        overlay("v1.0.0"),
        "one scalar changed, every other byte kept"
    );
    let rollout_line = format!("Weir-Rollout: {}/nodejs-app", bed.ns);
    for line in [
        rollout_line.as_str(),
        "Weir-Reverted-Image: ghcr.io/myorg/nodejs-app:v1.1.0",
        "Metric:      error-ratio",
        "Condition:   successCondition: result[0] < 0.05",
    ] {
        assert!(
            commit.message.lines().any(|l| l == line),
            "missing {line:?} in:\n{}",
            commit.message
        );
    }
    assert!(
        commit.message.contains("Weir-AnalysisRun: nodejs-app-"),
        "{}",
        commit.message
    );
    assert!(
        commit.message.contains("Measured:    [0.2")
            || commit.message.contains("Measured:    [0.19"),
        "{}",
        commit.message
    );

    let committed = bed
        .wait_rollout("nodejs-app", "revert recorded", |r| {
            r.weir_state()
                .and_then(|w| w.git_revert)
                .is_some_and(|g| g.phase == "Committed")
        })
        .await;
    let revert = committed.weir_state().unwrap().git_revert.unwrap();
    assert_eq!(revert.commit.as_deref(), Some(head.as_str()));
    assert_eq!(
        revert.file.as_deref(),
        Some("overlays/prod/kustomization.yaml")
    );
    for wanted in ["GitRevertStarted", "GitRevertCommitted"] {
        bed.expect_event(|reason, _| reason == wanted).await;
    }

    // Argo CD syncs the revert: the template is the stable one again, fast-tracked.
    assert_eq!(sync(&bed, &repo).await, "v1.0.0");
    bed.wait_rollout("nodejs-app", "fast-tracked to stable", |r| {
        phase(r) == "Healthy" && status_hash(r).1.as_deref() == Some(stable.as_str())
    })
    .await;
    bed.expect_event(|reason, _| reason == "SkipSteps").await;

    // An image updater rolls the bad image forward again: held, no canary.
    repo.commit_file(
        "main",
        "overlays/prod/kustomization.yaml",
        &overlay("v1.1.0"),
        "image updater: v1.1.0",
    );
    sync(&bed, &repo).await;
    let held = bed
        .wait_rollout("nodejs-app", "held", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Held"))
        })
        .await;
    assert!(held.status.unwrap().message.unwrap().contains("is held"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    bed.expect_event(|reason, _| reason == "ImageHeld").await;
    assert_eq!(
        repo.log("main")
            .iter()
            .filter(|c| c.author_name == "Weir")
            .count(),
        1,
        "no second revert for a held image"
    );
    bed.finish().await;
}

pub async fn a_revert_interrupted_after_the_push_is_not_committed_twice() {
    let (_prom, repo, mut bed, _, _) = failing_setup().await;
    repo.commit_file(
        "main",
        "overlays/prod/kustomization.yaml",
        &overlay("v1.1.0"),
        "release v1.1.0",
    );
    sync(&bed, &repo).await;
    bed.wait_rollout("nodejs-app", "revert recorded", |r| {
        r.weir_state()
            .and_then(|w| w.git_revert)
            .is_some_and(|g| g.phase == "Committed")
    })
    .await;
    // A controller that crashed after pushing but before recording the result: Weir's state
    // still says Pending when the next controller starts.
    bed.stop_controller().await;
    let mut state = bed.rollout("nodejs-app").await.weir_state().unwrap();
    let revert = state.git_revert.as_mut().unwrap();
    revert.phase = "Pending".into();
    revert.commit = None;
    bed.merge_patch_rollout(
        "nodejs-app",
        json!({"metadata": {"annotations": {"weir.dev/state": state.to_annotation()}}}),
    )
    .await;
    bed.start_controller();
    let again = bed
        .wait_rollout("nodejs-app", "resumed revert done", |r| {
            r.weir_state()
                .and_then(|w| w.git_revert)
                .is_some_and(|g| g.phase == "Committed")
        })
        .await;
    let revert = again.weir_state().unwrap().git_revert.unwrap();
    assert!(
        revert
            .message
            .unwrap_or_default()
            .contains("already committed")
    );
    assert_eq!(
        repo.log("main")
            .iter()
            .filter(|c| c.author_name == "Weir")
            .count(),
        1,
        "exactly one revert commit"
    );
    bed.finish().await;
}

pub async fn an_unreachable_remote_fails_cleanly_with_traffic_already_safe() {
    let prom = Prometheus::new().await;
    prom.set_rate("http_requests_total", &[("status", "200")], 80.0);
    prom.set_rate("http_requests_total", &[("status", "500")], 20.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let mut bed = Bed::new().await;
    bed.apply(&manifests(&prom, "file:///nonexistent/weir-test-repo.git"))
        .await;
    let config = weir::controller::Config {
        revert: weir::gitops::commit_revert::RevertConfig {
            retry_after: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    bed.start_controller_with(config);
    bed.wait_rollout("nodejs-app", "Healthy", |r| phase(r) == "Healthy")
        .await;
    bed.set_image("nodejs-app", &format!("{IMAGE}:v1.1.0"))
        .await;
    bed.wait_rollout("nodejs-app", "aborted", |r| phase(r) == "Degraded")
        .await;
    assert_eq!(
        bed.canary_weight("nodejs-app-vsvc").await,
        0,
        "traffic is safe before any Git work"
    );
    let failed = bed
        .wait_rollout("nodejs-app", "retried", |r| {
            r.weir_state()
                .and_then(|w| w.git_revert)
                .is_some_and(|g| g.phase == "Failed" && g.attempts >= Some(2))
        })
        .await;
    let message = failed
        .weir_state()
        .unwrap()
        .git_revert
        .unwrap()
        .message
        .unwrap();
    assert!(message.contains("nonexistent"), "{message}");
    bed.expect_event(|reason, note| reason == "GitRevertFailed" && note.contains("will retry"))
        .await;
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario failed_analysis_reverts_the_image_in_git,
        scenario a_revert_interrupted_after_the_push_is_not_committed_twice,
        scenario an_unreachable_remote_fails_cleanly_with_traffic_already_safe,
    ]
}
