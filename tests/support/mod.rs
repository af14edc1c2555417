//! The scenario test bed: the real controller against the in-process API server (with its
//! kubelet stand-in), or against a real cluster when WEIR_E2E_KUBECONFIG is set. Either way each
//! test works in a fresh namespace of its own (deleted at the end on a real cluster), so no
//! test can depend on the namespace it runs in.
//!
//! On the harness the controller runs as deploy/'s ServiceAccount, authorized by deploy/'s RBAC
//! exactly as rendered by `kubectl kustomize deploy/`, against the CRDs of the thread's
//! [`Crds`] mode; every permission it used is collected for the RBAC coverage check, and a
//! write whose fields the CRDs pruned fails the test.

#![allow(dead_code)]

pub mod prometheus;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weir::api::Rollout;
use weir::harness::{ApiServer, HarnessConfig, Identity, Permission, RolloutCrds};

pub const WAIT: Duration = Duration::from_secs(60);

/// Which CRDs serve Argo's kinds in this thread's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crds {
    /// Weir's `crds/`.
    Weir,
    /// Argo Rollouts' own (v1.8.4), as on a cluster migrating from Argo.
    Argo,
}

impl Crds {
    pub fn label(self) -> &'static str {
        match self {
            Crds::Weir => "weir-crds",
            Crds::Argo => "argo-crds",
        }
    }

    pub fn harness(self) -> RolloutCrds {
        match self {
            Crds::Weir => RolloutCrds::Weir,
            Crds::Argo => RolloutCrds::ArgoRollouts,
        }
    }
}

thread_local! {
    static CRDS: Cell<Crds> = const { Cell::new(Crds::Weir) };
}

/// Sets the CRD mode of the tests run on this thread (the cluster runner does, per trial).
pub fn set_crds(crds: Crds) {
    CRDS.with(|c| c.set(crds));
}

pub fn crds() -> Crds {
    CRDS.with(Cell::get)
}

/// Whether the tests run against a real cluster (WEIR_E2E_KUBECONFIG).
pub fn e2e() -> bool {
    std::env::var_os("WEIR_E2E_KUBECONFIG").is_some()
}

/// deploy/'s RBAC for `variant` (`deploy` or `deploy/namespaced`), as `kubectl kustomize`
/// renders it: Roles, ClusterRoles, their bindings and the Namespace. Rendered once per process.
pub fn deploy_rbac(variant: &str) -> String {
    static RENDERED: OnceLock<Mutex<std::collections::BTreeMap<String, String>>> = OnceLock::new();
    let cache = RENDERED.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    cache
        .entry(variant.to_string())
        .or_insert_with(|| {
            let dir = format!("{}/{variant}", env!("CARGO_MANIFEST_DIR"));
            let output = std::process::Command::new("kubectl")
                .args(["kustomize", &dir])
                .output()
                .expect("kubectl (with kustomize) is installed");
            assert!(
                output.status.success(),
                "kubectl kustomize {dir}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let rendered = String::from_utf8(output.stdout).unwrap();
            rendered
                .split("\n---\n")
                .filter(|doc| {
                    doc.lines().any(|l| {
                        matches!(
                            l,
                            "kind: Role"
                                | "kind: ClusterRole"
                                | "kind: RoleBinding"
                                | "kind: ClusterRoleBinding"
                                | "kind: Namespace"
                        )
                    })
                })
                .collect::<Vec<_>>()
                .join("\n---\n")
        })
        .clone()
}

/// Installs `variant`'s RBAC on `server` and returns a client acting as the controller's
/// ServiceAccount.
pub fn controller_client(server: &ApiServer, variant: &str) -> Client {
    server
        .apply_yaml(&deploy_rbac(variant))
        .expect("deploy/ RBAC installs");
    server
        .client_as(&Identity::weir_controller())
        .expect("controller client")
}

/// Every permission the controller used on any harness this process ran.
static USED: Mutex<BTreeSet<Permission>> = Mutex::new(BTreeSet::new());

/// Adds what the controller used on `server` to the process-wide record.
pub fn record_permissions(server: &ApiServer) {
    USED.lock()
        .unwrap()
        .extend(server.permissions_used(&Identity::weir_controller()));
}

pub fn permissions_used() -> BTreeSet<Permission> {
    USED.lock().unwrap().clone()
}

pub struct Bed {
    pub server: Option<ApiServer>,
    /// An administrator's client, for the test's own reads and writes.
    pub client: Client,
    /// The controller's client: on the harness, deploy/'s ServiceAccount.
    pub controller_client: Client,
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
                let ns = fresh_namespace(&client, "weir-e2e").await;
                Bed {
                    server: None,
                    controller_client: client.clone(),
                    client,
                    ns,
                    controller: None,
                }
            }
            Err(_) => {
                let server = ApiServer::start_with(HarnessConfig {
                    pod_ready_after: Duration::from_millis(100),
                    rollout_crds: crds().harness(),
                    ..Default::default()
                })
                .await
                .expect("harness starts");
                let client = server.client().expect("harness client");
                let ns = fresh_namespace(&client, "weir-test").await;
                let controller_client = controller_client(&server, "deploy");
                Bed {
                    server: Some(server),
                    client,
                    controller_client,
                    ns,
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
        let client = self.controller_client.clone();
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

    /// Every ReplicaSet in the namespace.
    pub async fn replica_sets(&self) -> Vec<ReplicaSet> {
        Api::<ReplicaSet>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("list ReplicaSets")
            .items
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

    /// The in-process API server; panics on a real cluster (tests that need it return early
    /// there, see [`e2e`]).
    pub fn server(&self) -> &ApiServer {
        self.server
            .as_ref()
            .expect("this test needs the in-process API server")
    }

    /// Restarts the in-process API server as a control-plane upgrade restarts kube-apiserver:
    /// every connection and watch cut, the port closed for `down`, then serving the same store
    /// again; with `relist`, the watch history is gone too, so the controller's watches are
    /// told `410 Gone` and must list again.
    pub async fn restart_api_server(&self, down: Duration, relist: bool) {
        self.server()
            .restart(down, relist)
            .await
            .expect("the API server comes back on its port");
    }

    /// Takes `verb` on `resource` (in `group`) away from deploy/'s ClusterRole.
    pub fn revoke(&self, group: &str, resource: &str, verb: &str) {
        let server = self.server();
        let mut role = server
            .get(
                "rbac.authorization.k8s.io/v1",
                "clusterroles",
                None,
                "weir-controller",
            )
            .expect("deploy/'s ClusterRole");
        for rule in role["rules"].as_array_mut().unwrap() {
            let names = |key: &str| -> Vec<String> {
                rule[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            };
            if names("apiGroups").iter().any(|g| g == group)
                && names("resources").iter().any(|r| r == resource)
            {
                let verbs: Vec<String> = names("verbs").into_iter().filter(|v| v != verb).collect();
                rule["verbs"] = json!(verbs);
            }
        }
        server.put_object(role).expect("ClusterRole updated");
    }

    /// deploy/'s RBAC as rendered, again.
    pub fn restore_rbac(&self) {
        self.server()
            .apply_yaml(&deploy_rbac("deploy"))
            .expect("deploy/ RBAC installs");
    }

    /// When the controller was refused `verb` on `resource` (`subresource`), oldest first.
    pub fn refused(
        &self,
        resource: &str,
        subresource: Option<&str>,
        verb: &str,
        status: u16,
    ) -> Vec<std::time::Instant> {
        let user = Identity::weir_controller().user_name();
        self.server()
            .requests()
            .into_iter()
            .filter(|r| {
                r.user == user
                    && r.verb == verb
                    && r.status == status
                    && r.resource.as_deref() == Some(resource)
                    && r.subresource.as_deref() == subresource
            })
            .map(|r| r.at)
            .collect()
    }

    /// Waits for an Event in the namespace for which `matches(reason, note)` holds: Events are
    /// published after the writes they describe, so a test that has seen the write may not
    /// see its Event yet. Panics with the Events there are after WAIT.
    pub async fn expect_event(&self, matches: impl Fn(&str, &str) -> bool) {
        let found = self
            .wait("event", || async {
                self.events()
                    .await
                    .iter()
                    .any(|(reason, note)| matches(reason, note))
                    .then_some(())
            })
            .await;
        if found.is_none() {
            panic!("no such event among {:#?}", self.events().await);
        }
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
            record_permissions(&server);
            let pruned = server.pruned_fields();
            assert!(
                pruned.is_empty(),
                "the installed CRDs ({:?}) pruned fields that were written: {pruned:#?}",
                crds()
            );
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

/// The Rollout's condition of `type_`, if set.
pub fn condition<'a>(
    rollout: &'a Rollout,
    type_: &str,
) -> Option<&'a weir::api::rollout::RolloutCondition> {
    rollout
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Checks that a failing write was retried with backoff, not in a loop: no more than `most`
/// attempts in all (a hot loop makes dozens a second), and the last two at least a second
/// apart (the waits double from one second). Watch events, such as pods becoming ready, may
/// trigger extra attempts early on; they stop when the cluster settles.
pub fn assert_backs_off(attempts: &[std::time::Instant], most: usize) {
    assert!(
        attempts.len() >= 3,
        "retried: {} attempts so far",
        attempts.len()
    );
    assert!(
        attempts.len() <= most,
        "{} attempts: a hot loop, not a backoff",
        attempts.len()
    );
    let last = attempts[attempts.len() - 1].duration_since(attempts[attempts.len() - 2]);
    assert!(
        last >= Duration::from_secs(1),
        "the last two attempts were {last:?} apart"
    );
}

pub fn step(rollout: &Rollout) -> Option<i32> {
    rollout.status.as_ref().and_then(|s| s.current_step_index)
}

pub fn is_healthy_at(rollout: &Rollout, hash: &str) -> bool {
    phase(rollout) == "Healthy"
        && rollout.status.as_ref().and_then(|s| s.stable_rs.as_deref()) == Some(hash)
}

/// Creates a namespace named `<prefix>-<unique number>` and returns its name.
async fn fresh_namespace(client: &Client, prefix: &str) -> String {
    let ns = format!("{prefix}-{}", rand_suffix());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace created");
    ns
}

/// A number for unique names: the time, the process and a counter (tests run in parallel).
fn rand_suffix() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (u64::from(nanos % 100_000) * 1000 + u64::from(std::process::id() % 1000)) * 100 + n % 100
}

pub fn name_of(v: &impl ResourceExt) -> String {
    v.name_any()
}

/// A controller started next to the bed's own (see [`Bed::spawn_controller`]).
pub struct ExtraController {
    handle: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl ExtraController {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
    }
}

impl Bed {
    /// Starts one more controller for the bed's namespace, as the same ServiceAccount, e.g. a
    /// second `--instance-id`; the caller stops it before [`Bed::finish`].
    pub fn spawn_controller(&self, config: weir::controller::Config) -> ExtraController {
        let (stop, rx) = oneshot::channel::<()>();
        let config = weir::controller::Config {
            namespace: Some(self.ns.clone()),
            ..config
        };
        let client = self.controller_client.clone();
        let handle = tokio::spawn(async move {
            weir::controller::run(client, config, async {
                let _ = rx.await;
            })
            .await;
        });
        ExtraController { handle, stop }
    }

    /// (regarding name, reason, reporting controller) of the Events in the namespace.
    pub async fn event_reporters(&self) -> Vec<(String, String, String)> {
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
                let text = |pointer: &str| {
                    v.pointer(pointer)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                (
                    text("/regarding/name"),
                    text("/reason"),
                    text("/reportingController"),
                )
            })
            .collect()
    }
}
