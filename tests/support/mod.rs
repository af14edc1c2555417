//! The scenario test bed: the real controller against the in-process API server (with its
//! kubelet stand-in), or against a real cluster when WEIR_E2E_KUBECONFIG is set (each test then
//! works in a fresh namespace, which it deletes at the end).

#![allow(dead_code)]

pub mod prometheus;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weir::api::Rollout;
use weir::harness::{ApiServer, HarnessConfig};

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Bed {
    pub server: Option<ApiServer>,
    pub client: Client,
    pub ns: String,
    controller: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
}

fn resource_for(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = format!("{}s", kind.to_lowercase());
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural)
}

impl Bed {
    pub async fn new() -> Bed {
        match std::env::var("WEIR_E2E_KUBECONFIG") {
            Ok(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(&path)
                    .expect("WEIR_E2E_KUBECONFIG readable");
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .expect("kubeconfig valid");
                let client = Client::try_from(config).expect("client");
                let ns = format!(
                    "weir-e2e-{}",
                    std::process::id() as u64 * 1000 + u64::from(rand_suffix())
                );
                let namespace: Namespace =
                    serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
                Api::<Namespace>::all(client.clone())
                    .create(&PostParams::default(), &namespace)
                    .await
                    .expect("namespace created");
                Bed {
                    server: None,
                    client,
                    ns,
                    controller: None,
                }
            }
            Err(_) => {
                let server = ApiServer::start_with(HarnessConfig {
                    pod_ready_after: Duration::from_millis(100),
                    ..Default::default()
                })
                .await
                .expect("harness starts");
                let client = server.client().expect("harness client");
                Bed {
                    server: Some(server),
                    client,
                    ns: "default".into(),
                    controller: None,
                }
            }
        }
    }

    /// Applies every document of `yaml` (server-side apply) into the bed's namespace.
    pub async fn apply(&self, yaml: &str) {
        for doc in yaml_serde::Deserializer::from_str(yaml) {
            let mut value: Value = serde::Deserialize::deserialize(doc).expect("valid YAML");
            let (Some(api_version), Some(kind)) = (
                value["apiVersion"].as_str().map(String::from),
                value["kind"].as_str().map(String::from),
            ) else {
                continue;
            };
            if kind == "Namespace" {
                continue;
            }
            value["metadata"]["namespace"] = json!(self.ns);
            let resource = resource_for(&api_version, &kind);
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &self.ns, &resource);
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            api.patch(
                &name,
                &PatchParams::apply("weir-tests").force(),
                &Patch::Apply(&value),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
        }
    }

    pub fn start_controller(&mut self) {
        self.start_controller_with(Default::default());
    }

    /// Starts the controller for the bed's namespace with the given settings.
    pub fn start_controller_with(&mut self, config: weir::controller::Config) {
        let (tx, rx) = oneshot::channel::<()>();
        let config = weir::controller::Config {
            namespace: Some(self.ns.clone()),
            ..config
        };
        let client = self.client.clone();
        let handle = tokio::spawn(async move {
            weir::controller::run(client, config, async {
                let _ = rx.await;
            })
            .await;
        });
        self.controller = Some((handle, tx));
    }

    pub async fn stop_controller(&mut self) {
        if let Some((handle, tx)) = self.controller.take() {
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
    }

    pub fn rollouts(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn rollout(&self, name: &str) -> Rollout {
        self.rollouts().get(name).await.expect("rollout exists")
    }

    /// Polls until `done` holds for the Rollout; panics with its status after WAIT.
    pub async fn wait_rollout(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&Rollout) -> bool,
    ) -> Rollout {
        let result = self
            .wait(what, || async {
                let rollout = self.rollouts().get(name).await.ok()?;
                done(&rollout).then_some(rollout)
            })
            .await;
        match result {
            Some(r) => r,
            None => panic!(
                "{what}: not reached; rollout status {:#?}",
                self.rollouts().get(name).await.ok().and_then(|r| r.status)
            ),
        }
    }

    /// Polls `probe` every 25 ms until it returns Some, or None after WAIT.
    pub async fn wait<T, F: Future<Output = Option<T>>>(
        &self,
        _what: &str,
        probe: impl Fn() -> F,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = probe().await {
                return Some(v);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn merge_patch_rollout(&self, name: &str, patch: Value) {
        self.rollouts()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch rollout");
    }

    pub async fn merge_patch_status(&self, name: &str, patch: Value) {
        self.rollouts()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": patch })),
            )
            .await
            .expect("patch status");
    }

    pub async fn set_image(&self, name: &str, image: &str) {
        let patch = json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]);
        let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
        self.rollouts()
            .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
            .expect("set image");
    }

    pub async fn virtual_service(&self, name: &str) -> Value {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &resource_for("networking.istio.io/v1alpha3", "VirtualService"),
        );
        serde_json::to_value(api.get(name).await.expect("VirtualService exists")).unwrap()
    }

    pub async fn destination_rule(&self, name: &str) -> Value {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &resource_for("networking.istio.io/v1alpha3", "DestinationRule"),
        );
        serde_json::to_value(api.get(name).await.expect("DestinationRule exists")).unwrap()
    }

    /// (host or subset, weight) of the VirtualService's first HTTP route.
    pub async fn weights(&self, vs: &str) -> Vec<(String, i64)> {
        let vs = self.virtual_service(vs).await;
        weights_of(&vs)
    }

    pub async fn canary_weight(&self, vs: &str) -> i64 {
        self.weights(vs)
            .await
            .iter()
            .filter(|(k, _)| k.contains("canary"))
            .map(|(_, w)| *w)
            .sum()
    }

    pub async fn service(&self, name: &str) -> Service {
        Api::<Service>::namespaced(self.client.clone(), &self.ns)
            .get(name)
            .await
            .expect("Service exists")
    }

    pub async fn service_hash(&self, name: &str) -> Option<String> {
        self.service(name)
            .await
            .spec?
            .selector?
            .get("rollouts-pod-template-hash")
            .cloned()
    }

    pub async fn replica_set(&self, hash: &str) -> Option<ReplicaSet> {
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &self.ns);
        let list = api
            .list(&ListParams::default().labels(&format!("rollouts-pod-template-hash={hash}")))
            .await
            .ok()?;
        list.items.into_iter().next()
    }

    pub async fn rs_counts(&self, hash: &str) -> (i32, i32) {
        self.replica_set(hash)
            .await
            .map(|rs| {
                let spec = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                let available = rs
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                (spec, available)
            })
            .unwrap_or((0, 0))
    }

    /// (reason, note) of the events recorded for objects in the namespace.
    pub async fn events(&self) -> Vec<(String, String)> {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &resource_for("events.k8s.io/v1", "Event"),
        );
        let list = api.list(&ListParams::default()).await.expect("events list");
        list.items
            .into_iter()
            .map(|e| {
                let v = serde_json::to_value(&e).unwrap();
                (
                    v["reason"].as_str().unwrap_or_default().to_string(),
                    v["note"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn analysis_runs(&self) -> Api<weir::api::AnalysisRun> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The Rollout's AnalysisRuns, oldest first.
    pub async fn runs(&self) -> Vec<weir::api::AnalysisRun> {
        let mut runs = self
            .analysis_runs()
            .list(&ListParams::default())
            .await
            .expect("list runs")
            .items;
        runs.sort_by_key(|r| {
            (
                r.metadata.creation_timestamp.as_ref().map(|t| t.0),
                r.metadata.name.clone(),
            )
        });
        runs
    }

    pub async fn delete_rollout(&self, name: &str) {
        self.rollouts()
            .delete(name, &DeleteParams::background())
            .await
            .expect("delete rollout");
    }

    pub async fn finish(mut self) {
        self.stop_controller().await;
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        } else {
            let _ = Api::<Namespace>::all(self.client.clone())
                .delete(&self.ns, &DeleteParams::default())
                .await;
        }
    }
}

pub fn weights_of(vs: &Value) -> Vec<(String, i64)> {
    vs.pointer("/spec/http/0/route")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let d = &r["destination"];
            let key = d
                .get("subset")
                .or(d.get("host"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (key.to_string(), r["weight"].as_i64().unwrap_or(0))
        })
        .collect()
}

pub fn status_hash(rollout: &Rollout) -> (Option<String>, Option<String>) {
    let status = rollout.status.clone().unwrap_or_default();
    (status.stable_rs, status.current_pod_hash)
}

pub fn phase(rollout: &Rollout) -> &str {
    rollout
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn step(rollout: &Rollout) -> Option<i32> {
    rollout.status.as_ref().and_then(|s| s.current_step_index)
}

pub fn is_healthy_at(rollout: &Rollout, hash: &str) -> bool {
    phase(rollout) == "Healthy"
        && rollout.status.as_ref().and_then(|s| s.stable_rs.as_deref()) == Some(hash)
}

fn rand_suffix() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos % 1000) as u16
}

pub fn name_of(v: &impl ResourceExt) -> String {
    v.name_any()
}
