//! Writes that keep failing, one scenario per class (forbidden, not found, invalid): each is
//! shown on the Rollout as the `ReconcileError` condition and a Warning Event that name the
//! object, the verb and the fix, is counted in `rollout_reconcile_error` by category, and is
//! retried with backoff rather than in a loop; the release does not move on while it fails.
//! Also: an AnalysisRun whose results cannot be stored holds its Rollout instead of letting it
//! promote unmeasured, and messages too long for an Event or a condition are cut to fit.
//!
//! These need the in-process API server (its RBAC, its CRDs) and return at once on a real
//! cluster.

use crate::analysis::{release, seed_004, serve, start};
use crate::scenarios::{ROUTING, STEPS, V2, healthy_with, rollout_yaml, update};
use crate::support::prometheus::Prometheus;
use crate::support::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use weir::controller::metrics::Metrics;

fn with_metrics() -> (Arc<Metrics>, weir::controller::Config) {
    let metrics = Arc::new(Metrics::new());
    let config = weir::controller::Config {
        metrics: metrics.clone(),
        ..Default::default()
    };
    (metrics, config)
}

/// Waits until `/metrics` counts a failure of `name` in `category`.
async fn counted(bed: &Bed, metrics: &Metrics, name: &str, category: &str) {
    let series = format!(
        r#"rollout_reconcile_error{{namespace="{}",name="{name}",category="{category}"}}"#,
        bed.ns
    );
    bed.wait("error counted", || async {
        metrics.encode().contains(&series).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("no {series} in:\n{}", metrics.encode()));
}

pub async fn a_forbidden_write_is_shown_counted_backed_off_and_recovers() {
    if e2e() {
        return;
    }
    let (metrics, config) = with_metrics();
    let (bed, h1) = healthy_with(STEPS, config).await;
    bed.revoke("networking.istio.io", "virtualservices", "patch");
    update(&bed, V2, &h1).await;

    let failing = bed
        .wait_rollout("web", "ReconcileError shown", |r| {
            condition(r, "ReconcileError").is_some_and(|c| c.reason == "Forbidden")
        })
        .await;
    let message = &condition(&failing, "ReconcileError").unwrap().message;
    for part in [
        format!("cannot patch VirtualService {}/web-vsvc:", bed.ns),
        "is forbidden: User \"system:serviceaccount:weir-system:weir-controller\" cannot patch \
         resource \"virtualservices\" in API group \"networking.istio.io\""
            .to_string(),
        "deploy/cluster-rbac/rbac.yaml".to_string(),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message:?}");
    }
    bed.expect_event(|reason, note| {
        reason == "ReconcileError" && note.contains("cannot patch VirtualService")
    })
    .await;
    counted(&bed, &metrics, "web", "forbidden").await;

    tokio::time::sleep(Duration::from_secs(7)).await;
    let attempts = bed.refused("virtualservices", None, "patch", 403);
    assert_backs_off(&attempts, 20);
    assert_eq!(
        bed.canary_weight("web-vsvc").await,
        0,
        "no traffic moves while the VirtualService cannot be written"
    );
    assert_eq!(step(&bed.rollout("web").await), Some(0), "no step advanced");

    bed.restore_rbac();
    bed.wait("weight 25 once allowed", || async {
        (bed.canary_weight("web-vsvc").await == 25).then_some(())
    })
    .await
    .expect("the release goes on once RBAC allows the write");
    bed.wait_rollout("web", "condition cleared", |r| {
        condition(r, "ReconcileError").is_none()
    })
    .await;
    bed.finish().await;
}

/// A Rollout CRD without a status subresource (hand-made or outdated): every status write is
/// a NotFound. The condition cannot be shown where status cannot be written; the Event names
/// the write and what to check.
pub async fn a_write_to_a_missing_subresource_is_named_counted_and_backed_off() {
    if e2e() {
        return;
    }
    let (metrics, config) = with_metrics();
    let mut bed = Bed::new().await;
    let server = bed.server();
    let mut crd = server
        .get(
            "apiextensions.k8s.io/v1",
            "customresourcedefinitions",
            None,
            "rollouts.argoproj.io",
        )
        .expect("the Rollout CRD");
    for version in crd["spec"]["versions"].as_array_mut().unwrap() {
        version["subresources"] = json!({});
    }
    server.put_object(crd).expect("CRD updated");
    bed.apply(ROUTING).await;
    bed.apply(&rollout_yaml(STEPS)).await;
    bed.start_controller_with(config);

    bed.expect_event(|reason, note| {
        reason == "ReconcileError"
            && note.contains("cannot update status Rollout")
            && note.contains("rollouts.argoproj.io \"web\" not found")
            && note.contains("check that the installed CRDs serve it")
    })
    .await;
    counted(&bed, &metrics, "web", "not_found").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_backs_off(&bed.refused("rollouts", Some("status"), "update", 404), 20);
    assert!(bed.rollout("web").await.status.is_none(), "nothing written");
    bed.finish().await;
}

/// A Rollout named so long that `<name>-<hash>` is not a valid ReplicaSet name: the API server
/// refuses the ReplicaSet (422 with a field cause, not a patch conflict).
pub async fn an_invalid_write_is_shown_counted_and_backed_off() {
    if e2e() {
        return;
    }
    let (metrics, config) = with_metrics();
    let mut bed = Bed::new().await;
    let name = format!("web-{}", "x".repeat(240));
    bed.apply(ROUTING).await;
    bed.apply(&rollout_yaml(STEPS).replace(
        "metadata: {name: web}",
        &format!("metadata: {{name: {name}}}"),
    ))
    .await;
    bed.start_controller_with(config);
    let failing = bed
        .wait_rollout(&name, "ReconcileError shown", |r| {
            condition(r, "ReconcileError").is_some_and(|c| c.reason == "Invalid")
        })
        .await;
    let message = &condition(&failing, "ReconcileError").unwrap().message;
    assert!(
        message.contains("cannot create ReplicaSet")
            && message.contains("is invalid: metadata.name")
            && message.contains("correct what the API server names"),
        "{message}"
    );
    bed.expect_event(|reason, note| {
        reason == "ReconcileError" && note.contains("cannot create ReplicaSet")
    })
    .await;
    counted(&bed, &metrics, &name, "invalid").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_backs_off(&bed.refused("replicasets", None, "create", 422), 20);
    bed.finish().await;
}

/// Without the permission to store an AnalysisRun's results, the background analysis never
/// measures. The Rollout must not promote on an unknown verdict: it holds at its last step and
/// says why, and goes on once the results can be written.
pub async fn an_analysis_run_whose_results_cannot_be_stored_holds_the_rollout() {
    if e2e() {
        return;
    }
    let prom = Prometheus::new().await;
    serve(&prom, 97.0, 3.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let yaml = seed_004(&prom, "1s").replace("      count: 5\n", "");
    let (bed, h1) = start(&prom, &yaml, Default::default()).await;
    // Argo's CRD has no status subresource: results go with the object.
    match crds() {
        Crds::Weir => bed.revoke("argoproj.io", "analysisruns/status", "patch"),
        Crds::Argo => bed.revoke("argoproj.io", "analysisruns", "patch"),
    }
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    let held = bed
        .wait_rollout("nodejs-app", "held with the failure shown", |r| {
            condition(r, "ReconcileError").is_some_and(|c| {
                c.reason == "Forbidden" && c.message.contains("cannot patch status AnalysisRun")
            })
        })
        .await;
    assert!(!is_healthy_at(&held, &h2));
    // Long enough for every step to have passed (three 2 s pauses).
    tokio::time::sleep(Duration::from_secs(9)).await;
    let still = bed.rollout("nodejs-app").await;
    assert!(
        !is_healthy_at(&still, &h2),
        "promoted without a measurement: {:?}",
        still.status
    );
    bed.expect_event(|reason, note| {
        reason == "ReconcileError" && note.contains("cannot patch status AnalysisRun")
    })
    .await;

    bed.restore_rbac();
    bed.wait_rollout("nodejs-app", "promoted once measured", |r| {
        is_healthy_at(r, &h2) && condition(r, "ReconcileError").is_none()
    })
    .await;
    bed.finish().await;
}

/// A spec with many errors: the InvalidSpec condition names the first, as Argo's does, and the
/// Event names them all, far more than an Event note may hold: it is still published (the API
/// refuses notes over 1 KiB), cut to fit.
pub async fn long_messages_are_cut_to_fit_events_and_conditions() {
    let mut bed = Bed::new().await;
    bed.apply(ROUTING).await;
    let steps = "      - setWeight: 150\n".repeat(60);
    bed.apply(&rollout_yaml(&steps)).await;
    bed.start_controller();
    let invalid = bed
        .wait_rollout("web", "InvalidSpec", |r| {
            condition(r, "InvalidSpec").is_some()
        })
        .await;
    let message = &condition(&invalid, "InvalidSpec").unwrap().message;
    assert!(
        message.starts_with(
            "The Rollout \"web\" is invalid: spec.strategy.canary.steps[0].setWeight: Invalid value: 150: "
        ),
        "{message}"
    );
    assert!(!message.contains("steps[1]"), "{message}");
    bed.expect_event(|reason, note| {
        reason == "InvalidSpec"
            && note.len() <= weir::api::limits::EVENT_NOTE_LIMIT
            && note.ends_with("(truncated; the controller log has the full text)")
    })
    .await;
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario a_forbidden_write_is_shown_counted_backed_off_and_recovers,
        scenario a_write_to_a_missing_subresource_is_named_counted_and_backed_off,
        scenario an_invalid_write_is_shown_counted_and_backed_off,
        scenario an_analysis_run_whose_results_cannot_be_stored_holds_the_rollout,
        scenario long_messages_are_cut_to_fit_events_and_conditions,
    ]
}
