//! Scenario tests: the real controller against the in-process API server (or a real cluster
//! with WEIR_E2E_KUBECONFIG), taking Rollouts through whole releases.

use crate::support::*;
use serde_json::json;

pub const V1: &str = "registry.k8s.io/pause:3.9";
pub const V2: &str = "registry.k8s.io/pause:3.10";
const V3: &str = "registry.k8s.io/pause:3.8";

pub const ROUTING: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web-stable}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: web-vsvc}
spec:
  hosts: [web]
  http:
  - name: primary
    timeout: 5s
    retries: {attempts: 3, perTryTimeout: 2s}
    headers: {request: {set: {x-env: prod}}}
    mirror: {host: shadow}
    route:
    - destination: {host: web-stable, port: {number: 80}}
      weight: 100
    - destination: {host: web-canary, port: {number: 80}}
      weight: 0
  - name: legacy
    match: [{uri: {prefix: /legacy}}]
    route:
    - destination: {host: legacy}
"#;

pub fn rollout_yaml(steps: &str) -> String {
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "{V1}"}}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 2
      abortScaleDownDelaySeconds: 2
      trafficRouting:
        istio:
          virtualService: {{name: web-vsvc, routes: [primary]}}
      steps:
{steps}
"#
    )
}

pub const STEPS: &str = "      - setWeight: 25\n      - pause: {duration: 1s}\n      - setWeight: 50\n      - pause: {}\n";

/// A bed with `web` deployed at V1 and Healthy.
async fn healthy(steps: &str) -> (Bed, String) {
    healthy_with(steps, Default::default()).await
}

/// A bed with `web` deployed at V1 and Healthy, the controller run with `config`.
pub async fn healthy_with(steps: &str, config: weir::controller::Config) -> (Bed, String) {
    let mut bed = Bed::new().await;
    bed.apply(ROUTING).await;
    bed.apply(&rollout_yaml(steps)).await;
    bed.start_controller_with(config);
    let rollout = bed
        .wait_rollout("web", "initial deploy Healthy", |r| phase(r) == "Healthy")
        .await;
    let stable = rollout
        .status
        .and_then(|s| s.stable_rs)
        .expect("stable hash");
    (bed, stable)
}

/// Changes the image and returns the new revision's hash.
pub async fn update(bed: &Bed, image: &str, previous: &str) -> String {
    bed.set_image("web", image).await;
    let rollout = bed
        .wait_rollout("web", "new revision observed", |r| {
            status_hash(r).1.as_deref().is_some_and(|h| h != previous)
        })
        .await;
    status_hash(&rollout).1.expect("current hash")
}

pub async fn host_split_release_to_full_promotion() {
    let (bed, h1) = healthy(STEPS).await;
    assert_eq!(
        bed.service_hash("web-stable").await.as_deref(),
        Some(h1.as_str())
    );
    let original_vs = bed.virtual_service("web-vsvc").await;
    let h2 = update(&bed, V2, &h1).await;

    // The weight rises only once the canary pod for it is available.
    let weight = bed
        .wait("canary weight 25", || async {
            (bed.canary_weight("web-vsvc").await == 25).then_some(())
        })
        .await;
    assert!(weight.is_some(), "weight 25 never set");
    let (_, available) = bed.rs_counts(&h2).await;
    assert!(
        available >= 1,
        "weight 25 set with {available} canary pods available"
    );
    assert_eq!(
        bed.service_hash("web-canary").await.as_deref(),
        Some(h2.as_str())
    );

    let paused = bed
        .wait_rollout("web", "indefinite pause", |r| {
            phase(r) == "Paused" && step(r) == Some(3)
        })
        .await;
    assert_eq!(
        paused.status.as_ref().and_then(|s| s.message.as_deref()),
        Some("CanaryPauseStep")
    );
    assert_eq!(
        bed.weights("web-vsvc").await,
        vec![("web-stable".into(), 50), ("web-canary".into(), 50)]
    );
    assert_eq!(bed.rs_counts(&h2).await, (2, 2));
    assert_eq!(bed.rs_counts(&h1).await.0, 4, "stable stays at 100%");

    bed.merge_patch_status("web", json!({"pauseConditions": null}))
        .await;
    let done = bed
        .wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    assert_eq!(step(&done), Some(4));
    assert_eq!(bed.canary_weight("web-vsvc").await, 0);
    assert_eq!(
        bed.service_hash("web-stable").await.as_deref(),
        Some(h2.as_str())
    );

    // Every VirtualService field Weir does not own is as it was.
    let mut after = bed.virtual_service("web-vsvc").await;
    let mut before = original_vs.clone();
    for vs in [&mut after, &mut before] {
        vs["metadata"] = json!(null);
        for route in vs["spec"]["http"][0]["route"].as_array_mut().unwrap() {
            route["weight"] = json!(null);
        }
    }
    assert_eq!(after, before);

    // The old stable is scaled down after scaleDownDelaySeconds.
    bed.wait("old stable scaled down", || async {
        (bed.rs_counts(&h1).await == (0, 0)).then_some(())
    })
    .await
    .expect("old stable scaled to 0");
    // Each step's message is its own Event, as with Argo: `kubectl describe` lists them all.
    for step in 1..=4 {
        let prefix = format!("Rollout step {step}/4 completed");
        bed.expect_event(|r, note| r == "RolloutStepCompleted" && note.starts_with(&prefix))
            .await;
    }
    for wanted in [
        "RolloutUpdated",
        "NewReplicaSetCreated",
        "ScalingReplicaSet",
        "TrafficWeightUpdated",
        "RolloutStepCompleted",
        "RolloutPaused",
        "RolloutResumed",
        "RolloutCompleted",
        "SwitchService",
    ] {
        bed.expect_event(|reason, _| reason == wanted).await;
    }
    bed.finish().await;
}

pub async fn subset_split_seed_004_to_completion() {
    let mut bed = Bed::new().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    for file in [
        "seed-004/service.yaml",
        "seed-004/virtualservice.yaml",
        "seed-004/destinationrule.yaml",
        "quick/rollout-nodejs-app.yaml",
    ] {
        bed.apply(&std::fs::read_to_string(format!("{dir}/{file}")).unwrap())
            .await;
    }
    bed.start_controller();
    let first = bed
        .wait_rollout("nodejs-app", "initial deploy", |r| phase(r) == "Healthy")
        .await;
    let h1 = first.status.and_then(|s| s.stable_rs).unwrap();
    let dr = bed.destination_rule("nodejs-app-destrule").await;
    assert_eq!(
        dr["spec"]["subsets"][1]["labels"]["rollouts-pod-template-hash"],
        json!(h1)
    );
    assert_eq!(
        dr["metadata"]["annotations"]["argo-rollouts.argoproj.io/managed-by-rollouts"],
        json!("nodejs-app")
    );

    bed.set_image("nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0")
        .await;
    let paused = bed
        .wait_rollout("nodejs-app", "first pause", |r| phase(r) == "Paused")
        .await;
    let h2 = paused
        .status
        .as_ref()
        .and_then(|s| s.current_pod_hash.clone())
        .unwrap();
    assert_eq!(
        bed.weights("nodejs-app-vsvc").await,
        vec![("stable".into(), 90), ("canary".into(), 10)]
    );
    let dr = bed.destination_rule("nodejs-app-destrule").await;
    assert_eq!(
        dr["spec"]["subsets"][0]["labels"]["rollouts-pod-template-hash"],
        json!(h2)
    );
    assert_eq!(
        dr["spec"]["subsets"][0]["labels"]["app"],
        json!("nodejs-app")
    );

    bed.wait_rollout("nodejs-app", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    let dr = bed.destination_rule("nodejs-app-destrule").await;
    assert_eq!(
        dr["spec"]["subsets"][1]["labels"]["rollouts-pod-template-hash"],
        json!(h2)
    );
    assert_eq!(
        bed.virtual_service("nodejs-app-vsvc").await["spec"]["http"][0]["retries"]["attempts"],
        json!(3)
    );

    // Deleting the Rollout gives the DestinationRule back as it was.
    bed.delete_rollout("nodejs-app").await;
    let restored = bed
        .wait("subsets restored", || async {
            let dr = bed.destination_rule("nodejs-app-destrule").await;
            let clean = dr["spec"]["subsets"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["labels"].get("rollouts-pod-template-hash").is_none());
            clean.then_some(dr)
        })
        .await
        .expect("DestinationRule restored");
    assert!(
        restored["metadata"]["annotations"]
            .get("argo-rollouts.argoproj.io/managed-by-rollouts")
            .is_none()
    );
    bed.finish().await;
}

pub async fn abort_returns_all_traffic_to_stable_then_retry() {
    let (bed, h1) = healthy(STEPS).await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "at 50%", |r| step(r) == Some(3))
        .await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 50);

    bed.merge_patch_status("web", json!({"abort": true})).await;
    bed.wait("weight 0", || async {
        (bed.canary_weight("web-vsvc").await == 0).then_some(())
    })
    .await
    .expect("weight back to 0");
    let aborted = bed
        .wait_rollout("web", "Degraded", |r| phase(r) == "Degraded")
        .await;
    let status = aborted.status.unwrap();
    assert_eq!(
        status.message.as_deref(),
        Some("RolloutAborted: Rollout aborted update to revision 2")
    );
    assert!(status.aborted_at.is_some());
    assert_eq!(
        bed.service_hash("web-canary").await.as_deref(),
        Some(h1.as_str())
    );
    // Canary pods go after abortScaleDownDelaySeconds (2 s), never before traffic left them.
    bed.wait("canary scaled down", || async {
        (bed.rs_counts(&h2).await.0 == 0).then_some(())
    })
    .await
    .expect("canary scaled to 0");
    bed.expect_event(|reason, _| reason == "RolloutAborted")
        .await;

    bed.merge_patch_status("web", json!({"abort": false})).await;
    bed.wait_rollout("web", "retried to 50%", |r| {
        step(r) == Some(3) && phase(r) == "Paused"
    })
    .await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 50);
    bed.finish().await;
}

pub async fn full_promotion_skips_the_remaining_steps() {
    let (bed, h1) = healthy(STEPS).await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "first step done", |r| step(r) >= Some(1))
        .await;
    bed.merge_patch_status("web", json!({"promoteFull": true}))
        .await;
    bed.wait_rollout("web", "fully promoted", |r| is_healthy_at(r, &h2))
        .await;
    bed.expect_event(|_, note| note.ends_with("Full promotion requested"))
        .await;
    bed.finish().await;
}

pub async fn new_revision_mid_rollout_supersedes_the_canary() {
    let (bed, h1) = healthy(STEPS).await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "v2 at 50%", |r| step(r) == Some(3))
        .await;
    let h3 = update(&bed, V3, &h2).await;
    bed.wait_rollout("web", "v3 at 50%", |r| {
        step(r) == Some(3) && status_hash(r).1.as_deref() == Some(h3.as_str())
    })
    .await;
    assert_eq!(
        bed.service_hash("web-canary").await.as_deref(),
        Some(h3.as_str())
    );
    assert_eq!(
        bed.rs_counts(&h2).await.0,
        0,
        "superseded canary scaled down"
    );
    assert_eq!(bed.rs_counts(&h1).await.0, 4);
    bed.finish().await;
}

pub async fn rollback_to_stable_fast_tracks() {
    let (bed, h1) = healthy(STEPS).await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "v2 at 50%", |r| step(r) == Some(3))
        .await;
    bed.set_image("web", V1).await;
    let back = bed
        .wait_rollout("web", "back on v1", |r| {
            status_hash(r).1.as_deref() == Some(h1.as_str()) && phase(r) == "Healthy"
        })
        .await;
    assert_eq!(step(&back), Some(4));
    bed.wait("canary weight 0 and v2 down", || async {
        (bed.canary_weight("web-vsvc").await == 0 && bed.rs_counts(&h2).await.0 == 0).then_some(())
    })
    .await
    .expect("fast-tracked");
    bed.expect_event(|reason, _| reason == "SkipSteps").await;
    bed.finish().await;
}

pub async fn controller_restart_does_not_restart_a_timed_pause() {
    let steps = "      - setWeight: 50\n      - pause: {duration: 4s}\n      - setWeight: 75\n";
    let (mut bed, h1) = healthy(steps).await;
    let h2 = update(&bed, V2, &h1).await;
    let paused = bed
        .wait_rollout("web", "timed pause", |r| phase(r) == "Paused")
        .await;
    let started = paused
        .status
        .as_ref()
        .unwrap()
        .pause_conditions
        .as_ref()
        .unwrap()[0]
        .start_time
        .clone();
    bed.stop_controller().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    bed.start_controller();
    // While the pause lasts, the restarted controller keeps the original start time.
    bed.wait("pause ended", || async {
        let rollout = bed.rollout("web").await;
        if let Some(condition) = rollout
            .status
            .as_ref()
            .and_then(|s| s.pause_conditions.as_ref())
            .and_then(|p| p.first())
        {
            assert_eq!(condition.start_time, started, "the pause was restarted");
        }
        (step(&rollout) >= Some(2)).then_some(())
    })
    .await
    .expect("pause ended");
    let ended = jiff::Timestamp::now();
    assert!(
        started.0.duration_until(ended) >= jiff::SignedDuration::from_secs(4),
        "pause cut short"
    );
    bed.wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let pauses = bed
        .events()
        .await
        .iter()
        .filter(|(reason, _)| reason == "RolloutPaused")
        .count();
    assert_eq!(pauses, 1, "the pause step was entered twice");
    bed.finish().await;
}

pub async fn invalid_spec_is_reported_and_recovers() {
    let mut bed = Bed::new().await;
    bed.apply(ROUTING).await;
    bed.apply(&rollout_yaml("      - setWeight: 110\n")).await;
    bed.start_controller();
    let invalid = bed
        .wait_rollout("web", "InvalidSpec", |r| phase(r) == "Degraded")
        .await;
    let message = invalid.status.unwrap().message.unwrap();
    assert!(
        message.contains("spec.strategy.canary.steps[0].setWeight: Invalid value: 110"),
        "{message}"
    );
    bed.expect_event(|reason, note| reason == "InvalidSpec" && note.contains("setWeight"))
        .await;
    assert!(bed.replica_set("").await.is_none() || bed.rs_counts("").await == (0, 0));
    assert_eq!(bed.canary_weight("web-vsvc").await, 0);

    bed.apply(&rollout_yaml("      - setWeight: 10\n")).await;
    bed.wait_rollout("web", "recovered", |r| phase(r) == "Healthy")
        .await;
    bed.finish().await;
}

pub async fn deleting_the_rollout_restores_service_selectors() {
    let (bed, _) = healthy(STEPS).await;
    assert!(bed.service_hash("web-stable").await.is_some());
    bed.delete_rollout("web").await;
    bed.wait("selectors restored", || async {
        (bed.service_hash("web-stable").await.is_none()
            && bed.service_hash("web-canary").await.is_none())
        .then_some(())
    })
    .await
    .expect("Service selectors restored");
    let svc = bed.service("web-stable").await;
    let annotations = svc.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("argo-rollouts.argoproj.io/managed-by-rollouts"));
    bed.finish().await;
}

pub async fn restart_at_replaces_every_pod() {
    let (bed, h1) = healthy(STEPS).await;
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(bed.client.clone(), &bed.ns);
    let before: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(before.len(), 4);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = jiff::Timestamp::now();
    bed.merge_patch_rollout("web", json!({"spec": {"restartAt": now.to_string()}}))
        .await;
    let done = bed
        .wait_rollout("web", "restarted", |r| {
            r.status
                .as_ref()
                .and_then(|s| s.restarted_at.as_ref())
                .is_some()
                && phase(r) == "Healthy"
        })
        .await;
    assert_eq!(done.status.and_then(|s| s.stable_rs), Some(h1));
    let after: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(after.len(), 4);
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "every pod was replaced: {before:?} -> {after:?}"
    );
    bed.expect_event(|reason, _| reason == "RestartingPods")
        .await;
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario host_split_release_to_full_promotion,
        scenario subset_split_seed_004_to_completion,
        scenario abort_returns_all_traffic_to_stable_then_retry,
        scenario full_promotion_skips_the_remaining_steps,
        scenario new_revision_mid_rollout_supersedes_the_canary,
        scenario rollback_to_stable_fast_tracks,
        scenario controller_restart_does_not_restart_a_timed_pause,
        scenario invalid_spec_is_reported_and_recovers,
        scenario deleting_the_rollout_restores_service_selectors,
        scenario restart_at_replaces_every_pod,
    ]
}
