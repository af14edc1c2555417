//! The figure for `get rollout` at scale: a Rollout mid-release in a namespace that also holds
//! 10,000 unrelated ReplicaSets and 10,000 unrelated Pods (other applications), in the scenario
//! harness. Prints the time of the read `get rollout` makes (its four requests) and, for
//! comparison, of listing every ReplicaSet and Pod of the namespace as Argo's plugin does
//! (argo-rollouts #1711: ~40 s there). Asserts only what is read, never how fast:
//!
//! ```sh
//! cargo test --release --test cli_figure -- --nocapture
//! ```

mod cli_support;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use weir::cli::fetch;
use weir::cli::style::Style;
use weir::cli::tree;
use weir::harness::{ApiServer, HarnessConfig};

const UNRELATED: usize = 10_000;
const RUNS: usize = 7;

const WEB: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "registry.k8s.io/pause:3.9"}]}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {}}]
"#;

fn unrelated_replica_set(i: usize) -> serde_json::Value {
    let hash = format!("h{i:05}");
    let app = format!("app-{}", i % 500);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{app}-{hash}"),
            "labels": {"app": app, "rollouts-pod-template-hash": hash},
            "annotations": {"rollout.argoproj.io/revision": "1"},
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": app, "rollouts-pod-template-hash": hash}},
            "template": {
                "metadata": {"labels": {"app": app, "rollouts-pod-template-hash": hash}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
        "status": {"replicas": 0, "observedGeneration": 1},
    })
}

fn unrelated_pod(i: usize) -> serde_json::Value {
    let app = format!("app-{}", i % 500);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{app}-pod-{i:05}"),
            "labels": {"app": app, "rollouts-pod-template-hash": format!("h{i:05}")},
        },
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "app:1", "imageID": "", "ready": true,
                                   "restartCount": 0, "state": {"running": {}}}],
        },
    })
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_rollout_among_ten_thousand_unrelated_objects() {
    let server = ApiServer::start_with(HarnessConfig {
        pod_ready_after: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let client = server.client().unwrap();
    server.apply_yaml(WEB).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let controller = tokio::spawn(weir::controller::run(
        client.clone(),
        weir::controller::Config {
            namespace: Some("default".into()),
            ..Default::default()
        },
        async {
            let _ = stopped.await;
        },
    ));
    let rollouts: Api<weir::api::Rollout> = Api::default_namespaced(client.clone());
    let healthy = |phase: &str| {
        let phase = phase.to_string();
        let rollouts = rollouts.clone();
        async move {
            for _ in 0..2400 {
                let rollout = rollouts.get("web").await.unwrap();
                if weir::cli::info::phase(&rollout).0 == phase {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("web never reached {phase}");
        }
    };
    healthy("Healthy").await;
    weir::cli::actions::set_image(&rollouts, "web", "web", "registry.k8s.io/pause:3.10")
        .await
        .unwrap();
    healthy("Paused").await;

    let loading = Instant::now();
    for i in 0..UNRELATED {
        server.put_object(unrelated_replica_set(i)).unwrap();
        server.put_object(unrelated_pod(i)).unwrap();
    }
    let loaded = loading.elapsed();

    server.clear_requests();
    let mut reads = Vec::new();
    let mut renders = Vec::new();
    let mut objects = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let fetched = fetch::rollout_objects(&client, "default", "web")
            .await
            .unwrap();
        reads.push(started.elapsed());
        let started = Instant::now();
        let text = tree::render(&fetched, jiff::Timestamp::now(), Style::PLAIN);
        renders.push(started.elapsed());
        objects = Some((fetched, text));
    }
    let requests = server.requests();
    let (objects, text) = objects.expect("at least one run");
    assert_eq!(objects.replica_sets.len(), 2, "{text}");
    assert_eq!(objects.pods.len(), 4, "{text}");
    assert_eq!(requests.len(), 4 * RUNS, "{requests:#?}");
    assert!(
        requests
            .iter()
            .filter(|r| !r.path.ends_with("/rollouts/web"))
            .all(|r| r
                .query
                .as_deref()
                .unwrap_or_default()
                .contains("labelSelector=")),
        "a list without a selector: {requests:#?}"
    );

    // Once is enough for a comparison that is an order of magnitude off.
    let whole = {
        let started = Instant::now();
        let sets = Api::<ReplicaSet>::default_namespaced(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let pods = Api::<Pod>::default_namespaced(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        assert!(sets.items.len() > UNRELATED && pods.items.len() > UNRELATED);
        started.elapsed()
    };

    println!("{text}");
    println!(
        "get rollout with {UNRELATED} unrelated ReplicaSets and {UNRELATED} unrelated Pods in the namespace \
         (loaded in {loaded:.1?}):\n  read (4 selective requests): median {:.1?} of {RUNS} (min {:.1?}, max {:.1?})\n  \
         render: median {:.1?}\n  for comparison, listing every ReplicaSet and Pod of the namespace: {:.1?}",
        median(reads.clone()),
        reads.iter().min().copied().unwrap_or_default(),
        reads.iter().max().copied().unwrap_or_default(),
        median(renders),
        whole,
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), controller).await;
    server.shutdown().await;
}
