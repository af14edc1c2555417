//! `weir demo`: the real controller against the embedded API server. A healthy release steps
//! through its weights to promotion; then a release whose pods never become ready hits its
//! progress deadline, is aborted, and all traffic snaps back to stable. Every claim the demo
//! prints is checked; a failed check makes it exit non-zero.

pub mod timeline;

use crate::api::Rollout;
use crate::harness::{ApiServer, HarnessConfig};
use crate::rollout::steps::describe;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use timeline::{Snapshot, render};

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web-stable, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary, namespace: default}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: web-vsvc, namespace: default}
spec:
  hosts: [web]
  http:
  - name: primary
    retries: {attempts: 3}
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary}
      weight: 0
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: default}
spec:
  replicas: 5
  progressDeadlineSeconds: 4
  progressDeadlineAbort: true
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.com/web:v1"}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 2
      abortScaleDownDelaySeconds: 2
      trafficRouting:
        istio:
          virtualService: {name: web-vsvc, routes: [primary]}
      steps:
      - setWeight: 20
      - pause: {duration: 2s}
      - setWeight: 50
      - pause: {duration: 2s}
      - setWeight: 80
      - pause: {duration: 1s}
"#;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the embedded API server did not start: {0}")]
    Server(String),
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("demo check failed: {0}")]
    Check(String),
}

struct Demo {
    rollouts: Api<Rollout>,
    replica_sets: Api<ReplicaSet>,
    virtual_services: Api<DynamicObject>,
    started: Instant,
    last: Option<Snapshot>,
    /// Canary weights seen, in order, without repeats.
    weights: Vec<i64>,
}

pub async fn run() -> Result<(), DemoError> {
    let server = ApiServer::start_with(HarnessConfig {
        pod_ready_after: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .map_err(|e| DemoError::Server(e.to_string()))?;
    server
        .apply_yaml(MANIFESTS)
        .map_err(|e| DemoError::Server(e.to_string()))?;
    let client = server.client()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(crate::controller::run(
        client.clone(),
        Default::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut demo = Demo {
        rollouts: Api::namespaced(client.clone(), "default"),
        replica_sets: Api::namespaced(client.clone(), "default"),
        virtual_services: Api::namespaced_with(
            client,
            "default",
            &crate::api::istio::virtual_service_resource("v1alpha3"),
        ),
        started: Instant::now(),
        last: None,
        weights: Vec::new(),
    };
    let result = demo.script(&server).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), controller).await;
    server.shutdown().await;
    result
}

impl Demo {
    async fn script(&mut self, server: &ApiServer) -> Result<(), DemoError> {
        println!("Weir demo: the controller runs against an embedded Kubernetes API server.\n");
        println!("1. First deploy of web:v1 (no steps on a first deploy).");
        let v1 = self
            .until("v1 Healthy", Duration::from_secs(15), |r| {
                phase(r) == "Healthy"
            })
            .await?;
        let v1_hash = v1
            .status
            .and_then(|s| s.current_pod_hash)
            .unwrap_or_default();

        println!(
            "\n2. Release web:v2: setWeight 20 -> pause -> 50 -> pause -> 80 -> pause -> promoted."
        );
        self.weights.clear();
        self.set_image("example.com/web:v2").await?;
        let done = self
            .until("v2 promoted", Duration::from_secs(30), |r| {
                phase(r) == "Healthy"
                    && r.status.as_ref().is_some_and(|s| {
                        s.current_pod_hash.as_deref() != Some(v1_hash.as_str())
                            && s.stable_rs == s.current_pod_hash
                    })
            })
            .await?;
        let stable_v2 = done.status.and_then(|s| s.stable_rs).unwrap_or_default();
        let expected = [0, 20, 50, 80, 0];
        if !self.weights.ends_with(&[80, 0])
            || self.weights.iter().filter(|w| expected.contains(w)).count() < 4
        {
            return Err(DemoError::Check(format!(
                "canary weights went {:?}, expected 0 -> 20 -> 50 -> 80 -> 0",
                self.weights
            )));
        }
        println!(
            "   checked: canary weights went {:?} and v2 is stable.",
            self.weights
        );

        println!(
            "\n3. Release web:v3, whose pods never become ready (progressDeadlineSeconds: 4, progressDeadlineAbort)."
        );
        server.set_never_ready("web:v3");
        self.weights.clear();
        self.set_image("example.com/web:v3").await?;
        let aborted = self
            .until("v3 aborted", Duration::from_secs(20), |r| {
                phase(r) == "Degraded"
            })
            .await?;
        let canary = self.canary_weight().await?;
        let status = aborted.status.unwrap_or_default();
        if canary != 0 || status.stable_rs.as_deref() != Some(stable_v2.as_str()) {
            return Err(DemoError::Check(format!(
                "after the abort the canary weight is {canary} and stable is {:?}",
                status.stable_rs
            )));
        }
        println!(
            "   checked: aborted ({}), all traffic on stable v2.",
            status.message.unwrap_or_default()
        );
        println!("\nDone in {:.1}s.", self.started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn set_image(&self, image: &str) -> Result<(), DemoError> {
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}
        ]))
        .map_err(|e| DemoError::Check(e.to_string()))?;
        self.rollouts
            .patch("web", &PatchParams::default(), &Patch::<()>::Json(patch))
            .await?;
        Ok(())
    }

    async fn canary_weight(&self) -> Result<i64, DemoError> {
        let vs =
            serde_json::to_value(self.virtual_services.get("web-vsvc").await?).unwrap_or_default();
        Ok(weight_of(&vs, "web-canary"))
    }

    /// Prints timeline lines until `done` holds for the Rollout, or fails after `limit`.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Rollout) -> bool,
    ) -> Result<Rollout, DemoError> {
        let deadline = Instant::now() + limit;
        loop {
            let rollout = self.rollouts.get("web").await?;
            self.print_changes(&rollout).await?;
            if done(&rollout) {
                return Ok(rollout);
            }
            if Instant::now() > deadline {
                return Err(DemoError::Check(format!(
                    "{what} did not happen within {limit:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn print_changes(&mut self, rollout: &Rollout) -> Result<(), DemoError> {
        let status = rollout.status.clone().unwrap_or_default();
        let vs =
            serde_json::to_value(self.virtual_services.get("web-vsvc").await?).unwrap_or_default();
        let steps = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .and_then(|c| c.steps.clone())
            .unwrap_or_default();
        let rs_list = self
            .replica_sets
            .list(&ListParams::default().labels("app=web"))
            .await?;
        let image = |rs: &ReplicaSet| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default()
        };
        let mut pods = Vec::new();
        for (label, hash) in [
            ("stable", &status.stable_rs),
            ("canary", &status.current_pod_hash),
        ] {
            if label == "canary" && status.current_pod_hash == status.stable_rs {
                continue;
            }
            let rs = rs_list.items.iter().find(|rs| {
                rs.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("rollouts-pod-template-hash"))
                    == hash.as_ref()
            });
            if let Some(rs) = rs {
                let tag = image(rs).rsplit(':').next().unwrap_or_default().to_string();
                let ready = rs
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                pods.push((format!("{label} {tag}"), ready, desired));
            }
        }
        let index = status.current_step_index.unwrap_or(0);
        let snapshot = Snapshot {
            revision: status.current_pod_hash.clone().unwrap_or_default(),
            phase: status.phase.clone().unwrap_or_default(),
            message: status.message.clone().unwrap_or_default(),
            step: (!steps.is_empty()).then_some((index, steps.len())),
            step_text: usize::try_from(index)
                .ok()
                .and_then(|i| steps.get(i))
                .map(describe)
                .unwrap_or_else(|| "done".into()),
            stable_weight: weight_of(&vs, "web-stable"),
            canary_weight: weight_of(&vs, "web-canary"),
            pods,
        };
        if self.weights.last() != Some(&snapshot.canary_weight) {
            self.weights.push(snapshot.canary_weight);
        }
        if self.last.as_ref() != Some(&snapshot) {
            println!(
                "{}",
                render(self.started.elapsed().as_secs_f64(), &snapshot)
            );
            self.last = Some(snapshot);
        }
        Ok(())
    }
}

fn phase(rollout: &Rollout) -> &str {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn weight_of(vs: &Value, host: &str) -> i64 {
    vs.pointer("/spec/http/0/route")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|r| r.pointer("/destination/host").and_then(Value::as_str) == Some(host))
        .and_then(|r| r["weight"].as_i64())
        .unwrap_or(0)
}
