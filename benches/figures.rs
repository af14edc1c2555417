//! Figures for the canary engine (run with `cargo bench --bench figures`):
//! - plan time for a 10-step rollout (pure `plan()` calls on a mid-rollout state);
//! - API writes per step transition and reconciles per completed rollout, from the real
//!   controller taking a 10-step rollout with zero pauses through the scenario harness.
//!
//! Prints figures; asserts nothing about time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use weir::api::Rollout;
use weir::api::replica_set::ReplicaSetSummary;
use weir::controller::{Config, Stats};
use weir::harness::{ApiServer, HarnessConfig};

const STEPS: &str = "
      - setWeight: 10
      - pause: {duration: 0s}
      - setWeight: 20
      - setWeight: 30
      - pause: {duration: 0s}
      - setWeight: 50
      - setWeight: 60
      - pause: {duration: 0s}
      - setWeight: 80
      - setWeight: 90";

fn manifests(image: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: web-stable, namespace: default}}
spec: {{selector: {{app: web}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-canary, namespace: default}}
spec: {{selector: {{app: web}}}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: web-vsvc, namespace: default}}
spec:
  hosts: [web]
  http:
  - name: primary
    route:
    - destination: {{host: web-stable}}
      weight: 100
    - destination: {{host: web-canary}}
      weight: 0
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web, namespace: default, uid: bench-uid, generation: 1}}
spec:
  replicas: 10
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "{image}"}}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 0
      trafficRouting:
        istio:
          virtualService: {{name: web-vsvc, routes: [primary]}}
      steps:{STEPS}
"#
    )
}

fn plan_time() {
    let docs: Vec<serde_json::Value> = yaml_serde::Deserializer::from_str(&manifests("web:v1"))
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    let mut rollout: Rollout = serde_json::from_value(docs[3].clone()).expect("rollout");
    let mut observed = weir::rollout::Observed::default();
    for doc in &docs[..2] {
        observed.services.insert(
            doc["metadata"]["name"].as_str().unwrap().into(),
            serde_json::from_value(doc.clone()).unwrap(),
        );
    }
    observed
        .virtual_services
        .insert(("web-vsvc".into(), "default".into()), docs[2].clone());
    // Walk to a mid-rollout state with the pure planner, then time plans there.
    let mut now = jiff::Timestamp::now();
    for _ in 0..3 {
        let plan = weir::rollout::plan(&rollout, &observed, now);
        if let Some(rs) = &plan.create_replica_set {
            let mut rs = ReplicaSetSummary::from(rs);
            rs.spec.as_mut().unwrap().replicas = Some(10);
            rs.status = Some(k8s_openapi::api::apps::v1::ReplicaSetStatus {
                replicas: 10,
                available_replicas: Some(10),
                ready_replicas: Some(10),
                ..Default::default()
            });
            observed.replica_sets.push(std::sync::Arc::new(rs));
        }
        rollout.status = Some(plan.status);
        now += jiff::SignedDuration::from_secs(1);
    }
    rollout
        .spec
        .template
        .as_mut()
        .unwrap()
        .edit(|t| t.spec.as_mut().unwrap().containers[0].image = Some("web:v2".into()));
    let plan = weir::rollout::plan(&rollout, &observed, now);
    let mut rs = ReplicaSetSummary::from(plan.create_replica_set.as_ref().expect("new revision"));
    rs.spec.as_mut().unwrap().replicas = Some(3);
    rs.status = Some(k8s_openapi::api::apps::v1::ReplicaSetStatus {
        replicas: 3,
        available_replicas: Some(3),
        ready_replicas: Some(3),
        ..Default::default()
    });
    observed.replica_sets.push(std::sync::Arc::new(rs));
    rollout.status = Some(plan.status);
    rollout.status.as_mut().unwrap().current_step_index = Some(4);

    let iterations = 20_000;
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(weir::rollout::plan(
            std::hint::black_box(&rollout),
            &observed,
            now,
        ));
    }
    let per_plan = started.elapsed() / iterations;
    println!(
        "plan() for a 10-step rollout, mid-rollout: {:.1} µs per plan ({iterations} plans)",
        per_plan.as_secs_f64() * 1e6
    );
}

async fn release_figures() {
    let server = ApiServer::start_with(HarnessConfig {
        pod_ready_after: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .expect("harness");
    server.apply_yaml(&manifests("web:v1")).expect("manifests");
    let client = server.client().expect("client");
    let stats = Arc::new(Stats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = Config {
        stats: stats.clone(),
        ..Default::default()
    };
    let controller = tokio::spawn(weir::controller::run(client.clone(), config, async {
        let _ = stopped.await;
    }));
    let api: kube::Api<Rollout> = kube::Api::namespaced(client, "default");
    let healthy = |hash: Option<String>| {
        let api = api.clone();
        async move {
            loop {
                let r = api.get("web").await.expect("rollout");
                let s = r.status.unwrap_or_default();
                if s.phase.as_deref() == Some("Healthy")
                    && s.stable_rs == s.current_pod_hash
                    && (hash.is_none() || s.current_pod_hash != hash)
                {
                    return s.current_pod_hash;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let v1 = healthy(None).await;
    server.clear_requests();
    let reconciles_before = stats.reconciles.load(Ordering::Relaxed);
    let started = Instant::now();
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "web:v2"}])).unwrap();
    api.patch(
        "web",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::<()>::Json(patch),
    )
    .await
    .expect("update");
    healthy(v1).await;
    let elapsed = started.elapsed();
    let reconciles = stats.reconciles.load(Ordering::Relaxed) - reconciles_before;
    let counts = server.write_counts();
    let by_controller: u64 = counts
        .iter()
        .filter(|((plural, _), _)| plural != "pods")
        .map(|(_, n)| n)
        .sum::<u64>()
        - 1;
    let transitions = 10 + 1; // ten steps, then promotion
    println!(
        "10-step release, 10 replicas, zero pauses, pods ready after 20 ms: {:.2} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  reconciles for the release: {reconciles} (errors/conflicts: {})",
        stats.reconcile_errors.load(Ordering::Relaxed)
    );
    println!(
        "  controller API writes: {by_controller} = {:.1} per step transition ({transitions} transitions)",
        by_controller as f64 / transitions as f64
    );
    for ((plural, sub), n) in &counts {
        if plural == "pods" {
            continue;
        }
        let n = if plural == "rollouts" && sub.is_none() {
            n - 1
        } else {
            *n
        };
        println!(
            "    {plural}{}: {n}",
            sub.as_deref().map(|s| format!("/{s}")).unwrap_or_default()
        );
    }
    println!(
        "  (the kubelet stand-in's pod and ReplicaSet-status writes are not counted; the user's image patch is excluded)"
    );
    let _ = stop.send(());
    let _ = controller.await;
    server.shutdown().await;
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`; figures are for `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    plan_time();
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(release_figures());
}
