//! Taking over from Argo Rollouts mid-release: the objects exactly as Argo's controller leaves
//! them when it is stopped at an analysis step (its hashes, ReplicaSets, annotations, Service
//! selectors, VirtualService weights, status and an AnalysisRun in flight), then Weir started.
//! Weir must finish the release with no new ReplicaSet and never move traffic backwards.

use crate::scenarios::{V1, V2};
use crate::support::prometheus::Prometheus;
use crate::support::*;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

/// Hashes as Argo computes them (FNV of Go's JSON, safe-encoded): not Weir's.
const STABLE: &str = "75c9d8f6b4";
const CANARY: &str = "5b8dc6f7d9";
/// Argo's hash of the steps.
const STEPS_HASH: &str = "7d6f9b8c5";
const RUN: &str = "web-5b8dc6f7d9-2-1";

/// The template's metrics, which the run Argo created from it copies.
fn metrics(prom: &Prometheus) -> String {
    format!(
        r#"spec:
  metrics:
  - name: ok
    interval: 1s
    count: 3
    successCondition: "result[0] == 1"
    provider:
      prometheus: {{address: "{}", query: "vector(1)"}}
"#,
        prom.url()
    )
}

fn rollout(prom: &Prometheus) -> String {
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: always-ok}}
{metrics}---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "{V2}"}}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 1
      trafficRouting:
        istio:
          virtualService: {{name: web-vsvc, routes: [primary]}}
      steps:
      - setWeight: 25
      - analysis: {{templates: [{{templateName: always-ok}}]}}
      - setWeight: 50
      - pause: {{}}
"#,
        metrics = metrics(prom)
    )
}

/// A ReplicaSet as Argo creates it: named `<rollout>-<hash>`, hash label on it, its selector and
/// its pods, revision and desired-replicas annotations, owned by the Rollout.
fn argo_replica_set(uid: &str, hash: &str, image: &str, revision: u32, replicas: i32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-{hash}
  labels: {{app: web, rollouts-pod-template-hash: "{hash}"}}
  annotations:
    rollout.argoproj.io/revision: "{revision}"
    rollout.argoproj.io/desired-replicas: "4"
  ownerReferences:
  - {{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: "{uid}", controller: true, blockOwnerDeletion: true}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web, rollouts-pod-template-hash: "{hash}"}}}}
  template:
    metadata: {{labels: {{app: web, rollouts-pod-template-hash: "{hash}"}}}}
    spec:
      containers: [{{name: web, image: "{image}"}}]
"#
    )
}

/// Services, VirtualService weights and the in-flight step AnalysisRun as Argo leaves them at
/// step 1 (the analysis) of revision 2, after setWeight 25.
fn argo_routing_and_run(uid: &str, prom: &Prometheus) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: web-stable
  annotations: {{argo-rollouts.argoproj.io/managed-by-rollouts: web}}
spec: {{selector: {{app: web, rollouts-pod-template-hash: "{STABLE}"}}, ports: [{{name: http, port: 80}}]}}
---
apiVersion: v1
kind: Service
metadata:
  name: web-canary
  annotations: {{argo-rollouts.argoproj.io/managed-by-rollouts: web}}
spec: {{selector: {{app: web, rollouts-pod-template-hash: "{CANARY}"}}, ports: [{{name: http, port: 80}}]}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: web-vsvc}}
spec:
  hosts: [web]
  http:
  - name: primary
    timeout: 5s
    retries: {{attempts: 3, perTryTimeout: 2s}}
    headers: {{request: {{set: {{x-env: prod}}}}}}
    mirror: {{host: shadow}}
    route:
    - destination: {{host: web-stable, port: {{number: 80}}}}
      weight: 75
    - destination: {{host: web-canary, port: {{number: 80}}}}
      weight: 25
  - name: legacy
    match: [{{uri: {{prefix: /legacy}}}}]
    route:
    - destination: {{host: legacy}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: {RUN}
  labels: {{rollouts-pod-template-hash: "{CANARY}", rollout-type: Step, step-index: "1"}}
  annotations: {{rollout.argoproj.io/revision: "2"}}
  ownerReferences:
  - {{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: web, uid: "{uid}", controller: true, blockOwnerDeletion: true}}
{metrics}"#,
        metrics = metrics(prom)
    )
}

pub async fn argo_mid_release_is_finished_without_a_new_revision() {
    let prom = Prometheus::new().await;
    let mut bed = Bed::new().await;
    bed.apply(&rollout(&prom)).await;
    let uid = bed.rollout("web").await.metadata.uid.expect("uid");
    bed.apply(&argo_replica_set(&uid, STABLE, V1, 1, 4)).await;
    bed.apply(&argo_replica_set(&uid, CANARY, V2, 2, 1)).await;
    bed.apply(&argo_routing_and_run(&uid, &prom)).await;
    let started = "2026-12-01T10:00:00Z";
    let runs = Api::<DynamicObject>::namespaced_with(
        bed.client.clone(),
        &bed.ns,
        &kube::api::ApiResource::erase::<weir::api::AnalysisRun>(&()),
    );
    let run_status = json!({"status": {
        "phase": "Running",
        "startedAt": started,
        "metricResults": [{"name": "ok", "phase": "Running", "count": 1, "successful": 1,
            "measurements": [{"phase": "Successful", "value": "[1]",
                "startedAt": started, "finishedAt": started}]}],
    }});
    // Argo's AnalysisRun CRD has no status subresource; Weir's has.
    if runs
        .patch_status(RUN, &PatchParams::default(), &Patch::Merge(&run_status))
        .await
        .is_err()
    {
        runs.patch(RUN, &PatchParams::default(), &Patch::Merge(&run_status))
            .await
            .expect("run status");
    }
    let generation = bed
        .rollout("web")
        .await
        .metadata
        .generation
        .expect("generation");
    bed.merge_patch_status(
        "web",
        json!({
            "observedGeneration": generation.to_string(),
            "currentPodHash": CANARY,
            "stableRS": STABLE,
            "currentStepHash": STEPS_HASH,
            "currentStepIndex": 1,
            "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5, "availableReplicas": 5,
            "phase": "Progressing",
            "message": "more replicas need to be updated",
            "canary": {
                "currentStepAnalysisRunStatus": {"name": RUN, "status": "Running"},
                "weights": {
                    "canary": {"weight": 25, "podTemplateHash": CANARY, "serviceName": "web-canary"},
                    "stable": {"weight": 75, "podTemplateHash": STABLE, "serviceName": "web-stable"},
                },
            },
            "conditions": [{
                "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                "message": format!("ReplicaSet \"web-{CANARY}\" is progressing."),
                "lastTransitionTime": started, "lastUpdateTime": started,
            }],
        }),
    )
    .await;
    bed.wait("Argo's pods running", || async {
        (bed.rs_counts(STABLE).await.1 == 4 && bed.rs_counts(CANARY).await.1 == 1).then_some(())
    })
    .await
    .expect("the harness runs the ReplicaSets' pods");

    bed.start_controller();
    // Through the rest of the release: the same two ReplicaSets, traffic never below 25 % until
    // promotion, the Services on the same pods.
    let paused = bed
        .wait("at the pause after setWeight 50", || async {
            let r = bed.rollout("web").await;
            let weight = bed.canary_weight("web-vsvc").await;
            let hashes: Vec<String> = bed
                .replica_sets()
                .await
                .iter()
                .filter_map(|rs| rs.metadata.name.clone())
                .collect();
            assert_eq!(
                hashes.len(),
                2,
                "no new ReplicaSet besides Argo's two: {hashes:?}"
            );
            assert!(weight >= 25, "traffic moved backwards to {weight} %");
            assert_eq!(
                bed.service_hash("web-stable").await.as_deref(),
                Some(STABLE)
            );
            assert_eq!(
                bed.service_hash("web-canary").await.as_deref(),
                Some(CANARY)
            );
            let status = r.status.clone().unwrap_or_default();
            (status.current_step_index == Some(3) && weight == 50 && phase(&r) == "Paused")
                .then_some(r)
        })
        .await;
    let Some(paused) = paused else {
        panic!(
            "never paused at step 3; status {:#?}",
            bed.rollout("web").await.status
        );
    };
    let status = paused.status.clone().unwrap();
    assert_eq!(status.current_pod_hash.as_deref(), Some(CANARY));
    assert_eq!(status.stable_rs.as_deref(), Some(STABLE));
    let run = bed
        .runs()
        .await
        .into_iter()
        .find(|r| r.metadata.name.as_deref() == Some(RUN))
        .expect("Argo's run kept");
    let run_status = run.status.expect("run measured");
    assert_eq!(
        run_status.phase, "Successful",
        "Argo's run finished by Weir"
    );
    assert_eq!(bed.runs().await.len(), 1, "no second run for the same step");
    let events = bed.events().await;
    assert!(
        events
            .iter()
            .any(|(reason, _)| reason == "ReplicaSetAdopted"),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(reason, _)| reason == "NewReplicaSetCreated"),
        "{events:?}"
    );

    // Resume the indefinite pause as `kubectl argo rollouts promote` does: promoted, Argo's
    // canary ReplicaSet is now stable, Argo's stable one drained.
    bed.merge_patch_status("web", json!({"pauseConditions": null}))
        .await;
    bed.wait_rollout("web", "promoted", |r| is_healthy_at(r, CANARY))
        .await;
    bed.wait("old stable drained", || async {
        (bed.rs_counts(STABLE).await.0 == 0).then_some(())
    })
    .await
    .expect("Argo's stable ReplicaSet scaled down");
    assert_eq!(bed.replica_sets().await.len(), 2);
    assert_eq!(
        bed.service_hash("web-stable").await.as_deref(),
        Some(CANARY)
    );
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![scenario argo_mid_release_is_finished_without_a_new_revision]
}
