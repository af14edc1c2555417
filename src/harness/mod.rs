//! An in-process Kubernetes API server for scenario tests, demos and benchmarks.
//!
//! [`ApiServer`] speaks the Kubernetes REST and watch protocol over plain HTTP on a free
//! loopback port, closely enough for `kube::Client`, watchers, reflectors, controllers and the
//! event recorder. Any resource can be stored (objects are schemaless JSON), addressed as
//! `/api/v1/...` or `/apis/{group}/{version}/...`; storage is keyed by group and plural, never
//! by version. A built-in kubelet stand-in plays the ReplicaSet controller: it creates and
//! deletes pods to match `spec.replicas`, marks them ready after a delay and maintains
//! ReplicaSet status.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use weir::harness::ApiServer;
//! let server = ApiServer::start().await?;
//! server.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")?;
//! let client = server.client()?; // default namespace "default"
//! // ... run the controller against `client`, then inspect:
//! assert!(server.get("v1", "configmaps", Some("default"), "settings").is_some());
//! let patches = server.write_count("rollouts", Some("status"));
//! # let _ = (client, patches);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Semantics worth knowing (see also the deviations below):
//! - Strict like kube-apiserver for what Weir touches. Only built-in kinds and kinds of stored
//!   CustomResourceDefinitions are served (anything else is 404); a custom resource's scope,
//!   status subresource and schema come from its CRD ([`HarnessConfig::rollout_crds`] picks
//!   Weir's `crds/` or Argo Rollouts' own; Istio's CRDs are always installed). Writes of custom
//!   resources are pruned, defaulted and validated by that schema; metadata and Events are
//!   validated as the real server does; a JSON patch that does not apply is a generic 422
//!   distinct from a 409 conflict. Discovery (`/api`, `/apis`, ...) reflects all of this.
//! - Authentication by bearer token ([`ApiServer::client_as`]) and RBAC authorization from the
//!   stored Roles, ClusterRoles and bindings: a client acting as deploy/'s ServiceAccount is
//!   refused what deploy/ does not grant, with the real server's 403 message. [`ApiServer::client`]
//!   is an administrator (system:masters).
//! - Server-managed metadata: `uid`, `creationTimestamp`, a global integer `resourceVersion`,
//!   and `generation` as the real server keeps it.
//! - Kinds with a status subresource: writes to the main resource keep the stored status,
//!   writes to `/status` change only status. Without one (Argo's AnalysisRun CRD), status is
//!   written with the object and `/status` is a NotFound.
//! - A write that changes nothing is a no-op: no new resourceVersion, no watch event.
//! - Namespaces: `default`, `kube-system`, `kube-public` and `kube-node-lease` exist; creating
//!   in a namespace that does not exist is a 404, and deleting a namespace deletes its contents.
//! - Deleting an object with finalizers only sets `deletionTimestamp`; an update that empties
//!   them removes it. Removal cascades to objects whose `ownerReferences` name its uid
//!   (unless `propagationPolicy=Orphan`).
//! - The HTTP front end can be killed and brought back on the same port with the same store
//!   ([`ApiServer::stop_serving`], [`ApiServer::resume_serving`], [`ApiServer::compact`]), as a
//!   control-plane upgrade restarts kube-apiserver; the kubelet stand-in keeps running meanwhile.
//! - In-process helpers ([`ApiServer::put_object`], [`ApiServer::apply_yaml`]) store the whole
//!   object, status included, ignore any `resourceVersion` in it and create missing namespaces:
//!   they are for fixtures. They go through the same admission as HTTP writes.
//!
//! Known deviations from a real API server: no admission webhooks, no CEL
//! (`x-kubernetes-validations`) rules, no `/scale` and no OpenAPI endpoints; `limit`/`continue`
//! are ignored (lists are complete); `dryRun`, managed fields and field-ownership conflicts of
//! server-side apply are not implemented (apply is a deep merge where lists are replaced);
//! strategic merge patch only knows "lists of objects with a `name` merge by name"; objects are
//! returned in the `apiVersion` they were written with; core and `events.k8s.io` Events are
//! separate collections; DELETE is immediate (no graceful termination).

mod admission;
pub mod crds;
mod error;
mod field;
mod kubelet;
mod log;
mod meta;
mod patch;
mod rbac;
mod registry;
mod routes;
mod schema;
mod selector;
mod serve;
mod store;
mod tokens;
mod validation;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::Uri;
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

pub use error::{ApiError, HarnessError};
pub use log::{RequestRecord, WriteKey};
pub use rbac::Permission;

use kubelet::Knobs;
use log::RequestLog;
use meta::GroupResource;
use rbac::UserInfo;
use store::{Part, Store};
use tokens::Tokens;

/// Settings for [`ApiServer::start_with`].
#[derive(Debug, Clone)]
pub struct HarnessConfig {
    /// How long after creation a pod becomes ready (also adjustable at runtime).
    pub pod_ready_after: Duration,
    /// Run the kubelet / ReplicaSet-controller stand-in.
    pub run_kubelet: bool,
    /// How often watches that allow bookmarks receive one.
    pub bookmark_interval: Duration,
    /// Events kept per resource for watch resumption; also how far a watcher may fall behind
    /// before it gets `410 Gone` and must re-list.
    pub watch_history: usize,
    /// Which CRDs define Rollout, AnalysisRun and the templates. Istio's VirtualService and
    /// DestinationRule CRDs are installed either way.
    pub rollout_crds: RolloutCrds,
}

impl Default for HarnessConfig {
    fn default() -> Self {
        Self {
            pod_ready_after: Duration::from_millis(200),
            run_kubelet: true,
            bookmark_interval: Duration::from_secs(5),
            watch_history: 8192,
            rollout_crds: RolloutCrds::Weir,
        }
    }
}

/// The CRDs a cluster serves Argo's kinds with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutCrds {
    /// Weir's generated `crds/crds.yaml`.
    Weir,
    /// Argo Rollouts' own CRDs (v1.8.4), as on a cluster that ran Argo: closed status schemas,
    /// and no status subresource on AnalysisRun and the templates.
    ArgoRollouts,
    /// None: the kinds are not served until a test installs CRDs itself.
    None,
}

/// Who a client authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A member of `system:masters`: allowed everything.
    Admin,
    /// `system:serviceaccount:<namespace>:<name>`, allowed what RBAC grants it.
    ServiceAccount { namespace: String, name: String },
    /// No credentials: only what the bootstrap policy allows everyone (discovery, `/version`).
    Anonymous,
}

impl Identity {
    /// The ServiceAccount deploy/ runs the controller as.
    pub fn weir_controller() -> Self {
        Identity::ServiceAccount {
            namespace: "weir-system".into(),
            name: "weir-controller".into(),
        }
    }

    fn user(&self) -> Option<UserInfo> {
        match self {
            Identity::Admin => Some(UserInfo::admin("harness-admin")),
            Identity::ServiceAccount { namespace, name } => {
                Some(UserInfo::service_account(namespace, name))
            }
            Identity::Anonymous => None,
        }
    }

    /// The user name the server logs requests under.
    pub fn user_name(&self) -> String {
        self.user().unwrap_or_else(UserInfo::anonymous).name
    }
}

/// A running in-process API server. Dropping it stops it (in the background);
/// [`ApiServer::shutdown`] stops it and waits.
pub struct ApiServer {
    addr: SocketAddr,
    url: String,
    uri: Uri,
    store: Arc<Store>,
    log: Arc<RequestLog>,
    knobs: Arc<Knobs>,
    tokens: Arc<Tokens>,
    state: Arc<routes::AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    /// The HTTP front end; `None` while stopped with [`ApiServer::stop_serving`].
    serving: Mutex<Option<serve::Serving>>,
    kubelet: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server with [`HarnessConfig::default`].
    ///
    /// # Errors
    /// Fails only if no loopback port can be bound.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(HarnessConfig::default()).await
    }

    /// Binds `127.0.0.1:0`, installs the configured CRDs and starts serving (and the kubelet,
    /// if configured).
    ///
    /// # Errors
    /// Fails if no loopback port can be bound or a bundled CRD is refused (a harness bug).
    pub async fn start_with(config: HarnessConfig) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let uri = url
            .parse::<Uri>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let store = Arc::new(Store::new(config.watch_history));
        let invalid = |e: HarnessError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        let mut bundled = vec![crds::istio()];
        match config.rollout_crds {
            RolloutCrds::Weir => bundled.push(crds::weir()),
            RolloutCrds::ArgoRollouts => bundled.push(crds::argo_rollouts()),
            RolloutCrds::None => {}
        }
        for crd in bundled.into_iter().flatten() {
            put(&store, crd.clone()).map_err(invalid)?;
        }
        let log = Arc::new(RequestLog::default());
        let knobs = Arc::new(Knobs::new(config.pod_ready_after));
        let tokens = Arc::new(Tokens::default());
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let state = Arc::new(routes::AppState {
            store: store.clone(),
            log: log.clone(),
            tokens: tokens.clone(),
            shutdown: stopping.clone(),
            bookmark_interval: config.bookmark_interval,
        });
        let serving =
            serve::Serving::start(listener, routes::router(state.clone()), stopping.clone());
        let kubelet = config
            .run_kubelet
            .then(|| tokio::spawn(kubelet::run(store.clone(), knobs.clone(), stopping)));
        Ok(Self {
            addr,
            url,
            uri,
            store,
            log,
            knobs,
            tokens,
            state,
            stop,
            serving: Mutex::new(Some(serving)),
            kubelet,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An administrator's client for this server, with default namespace `default`.
    ///
    /// # Errors
    /// Whatever `kube::Client::try_from` reports (in practice, TLS backend set-up failures).
    pub fn client(&self) -> kube::Result<kube::Client> {
        self.client_as(&Identity::Admin)
    }

    /// A client that authenticates as `identity` (default namespace `default`).
    ///
    /// # Errors
    /// As [`ApiServer::client`].
    pub fn client_as(&self, identity: &Identity) -> kube::Result<kube::Client> {
        let mut config = kube::Config::new(self.uri.clone());
        config.default_namespace = "default".to_string();
        config.auth_info.token = self.token(identity).map(Into::into);
        kube::Client::try_from(config)
    }

    /// The bearer token of `identity` (None for anonymous), e.g. for a kubeconfig.
    pub fn token(&self, identity: &Identity) -> Option<String> {
        identity.user().map(|user| self.tokens.issue(user))
    }

    /// A kubeconfig (YAML) for this server that authenticates as `identity`, with `namespace`
    /// as its context's namespace: for kubectl and for the binaries under test.
    pub fn kubeconfig(&self, identity: &Identity, namespace: &str) -> String {
        let user = match self.token(identity) {
            Some(token) => format!("{{token: \"{token}\"}}"),
            None => "{}".to_string(),
        };
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: harness\n\
             clusters: [{{name: harness, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: tester, user: {user}}}]\n\
             contexts: [{{name: harness, context: {{cluster: harness, user: tester, namespace: {namespace}}}}}]\n",
            self.url
        )
    }

    /// What RBAC grants `identity`, rule by rule (wildcards as written).
    pub fn permissions_granted(&self, identity: &Identity) -> BTreeSet<Permission> {
        let user = identity.user().unwrap_or_else(UserInfo::anonymous);
        self.store.policy().granted(&user)
    }

    /// Every (verb, resource) `identity` was allowed to use so far, from the request log.
    pub fn permissions_used(&self, identity: &Identity) -> BTreeSet<Permission> {
        let user = identity.user_name();
        self.log
            .records()
            .iter()
            .filter(|r| r.user == user && r.status != 403)
            .filter_map(RequestRecord::permission)
            .collect()
    }

    /// Every committed write so far whose object lost fields to its CRD's schema, as
    /// `(resource.group, namespace/name, dropped paths)`, oldest first: with Argo Rollouts'
    /// closed schemas, anything Weir writes that is not in them shows up here.
    pub fn pruned_fields(&self) -> Vec<(String, String, Vec<String>)> {
        self.store
            .pruned()
            .into_iter()
            .map(|p| {
                (
                    p.resource.qualified(),
                    format!("{}/{}", p.namespace, p.name),
                    p.paths,
                )
            })
            .collect()
    }

    /// Kills the HTTP front end as a crashed kube-apiserver would: the port closes and every
    /// open connection and watch is cut, with no graceful end. The store and the kubelet keep
    /// going (etcd and the nodes survive an API server restart).
    pub async fn stop_serving(&self) {
        let serving = self.serving_slot().take();
        if let Some(serving) = serving {
            serving.kill().await;
        }
    }

    /// Serves again on the same address, with the same store, tokens and log.
    ///
    /// # Errors
    /// Fails if the port cannot be bound again.
    pub async fn resume_serving(&self) -> io::Result<()> {
        if self.serving_slot().is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        let serving = serve::Serving::start(
            listener,
            routes::router(self.state.clone()),
            self.stop.subscribe(),
        );
        *self.serving_slot() = Some(serving);
        Ok(())
    }

    /// Forgets the watch history, as etcd compaction does while an API server is away: a
    /// watch resumed from an earlier resourceVersion is told `410 Gone` and must list again.
    pub fn compact(&self) {
        self.store.compact();
    }

    /// [`ApiServer::stop_serving`], `down_for`, optionally [`ApiServer::compact`], then
    /// [`ApiServer::resume_serving`]: a control-plane restart in one call.
    ///
    /// # Errors
    /// As [`ApiServer::resume_serving`].
    pub async fn restart(&self, down_for: Duration, force_relist: bool) -> io::Result<()> {
        self.stop_serving().await;
        tokio::time::sleep(down_for).await;
        if force_relist {
            self.compact();
        }
        self.resume_serving().await
    }

    fn serving_slot(&self) -> MutexGuard<'_, Option<serve::Serving>> {
        // Only ever replaced whole: consistent whatever panicked.
        self.serving
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops serving, ends open watches and the kubelet, and waits for them (up to 5 s).
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        let serving = self.serving_slot().take();
        if let Some(serving) = serving {
            serving.drain(Duration::from_secs(5)).await;
        }
        if let Some(mut kubelet) = self.kubelet.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut kubelet)
                .await
                .is_err()
        {
            kubelet.abort();
        }
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.records()
    }

    /// Forgets logged requests and resets the write counters (and with them what
    /// [`ApiServer::permissions_used`] reports).
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// HTTP writes (POST/PUT/PATCH/DELETE, successful or not) to `plural` (any group), on the
    /// main resource (`None`) or a subresource (`Some("status")`).
    pub fn write_count(&self, plural: &str, subresource: Option<&str>) -> u64 {
        let key = (plural.to_string(), subresource.map(str::to_string));
        self.log.writes().get(&key).copied().unwrap_or(0)
    }

    /// All write counters, keyed by `(plural, subresource)`.
    pub fn write_counts(&self) -> BTreeMap<WriteKey, u64> {
        self.log.writes()
    }

    /// Creates or replaces every document of a multi-document YAML string (see
    /// [`ApiServer::put_object`]). Returns the stored objects.
    ///
    /// # Errors
    /// [`HarnessError::Yaml`] if any document fails to parse (then nothing is stored), or the
    /// first [`HarnessError::Api`] a document's write fails with (earlier ones stay stored).
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<Value>, HarnessError> {
        let documents = yaml_serde::Deserializer::from_str(yaml)
            .map(|document| {
                Value::deserialize(document).map_err(|e| HarnessError::Yaml(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        documents
            .into_iter()
            .filter(|doc| !doc.is_null())
            .map(|doc| self.put_object(doc))
            .collect()
    }

    /// Creates or replaces an object, as given: `apiVersion` and `kind` are required and must
    /// name a served kind, the namespace defaults to `default` (and is created if missing),
    /// `generateName` works, status is stored too and `resourceVersion` is ignored. Admission
    /// (pruning, defaulting, validation) applies as to any write. Watchers see the change.
    ///
    /// # Errors
    /// [`HarnessError::Api`] when `apiVersion` or `kind` is missing or not served, or the
    /// object is refused (an invalid name, a schema violation).
    pub fn put_object(&self, obj: Value) -> Result<Value, HarnessError> {
        Ok((*put(&self.store, obj)?).clone())
    }

    /// One object. `namespace` is ignored for cluster-scoped kinds and defaults to `default`.
    pub fn get(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let res = GroupResource::from_api_version(api_version, plural);
        let namespace = namespace_for(&self.store, &res, namespace);
        self.store
            .get(&res, namespace, name)
            .map(|obj| (*obj).clone())
    }

    /// Objects of `plural` in every group that has one, in one namespace or (with `None`) all.
    pub fn list(&self, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        self.store
            .resources_named(plural)
            .iter()
            .flat_map(|res| {
                let namespaced = self.store.resource(res).is_some_and(|r| r.namespaced);
                let namespace = namespace.filter(|_| namespaced);
                self.store.list(res, namespace).items
            })
            .map(|obj| (*obj).clone())
            .collect()
    }

    /// Deletes like an HTTP DELETE (finalizers and cascading apply). Returns the object as
    /// last stored, or `None` if it did not exist.
    pub fn delete(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let res = GroupResource::from_api_version(api_version, plural);
        let namespace = namespace_for(&self.store, &res, namespace);
        self.store
            .delete(&res, namespace, name, false)
            .ok()
            .map(|obj| (*obj).clone())
    }

    /// Pods with any container image containing `image_substring` never become ready: they
    /// run with `Ready=False`. Applies to pods not yet ready.
    pub fn set_never_ready(&self, image_substring: &str) {
        self.knobs
            .set_never_ready(Some(image_substring.to_string()));
    }

    /// Lifts [`ApiServer::set_never_ready`]; held-back pods become ready after the usual delay.
    pub fn clear_never_ready(&self) {
        self.knobs.set_never_ready(None);
    }

    /// Changes how long new (and currently unready) pods take to become ready.
    pub fn set_pod_ready_after(&self, delay: Duration) {
        self.knobs.set_pod_ready_after(delay);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// `put_object` on a store: resolves the kind through the registry and upserts the whole object.
fn put(store: &Store, mut obj: Value) -> Result<Arc<Value>, HarnessError> {
    let (Some(api_version), Some(kind)) = (
        obj.get("apiVersion").and_then(Value::as_str),
        obj.get("kind").and_then(Value::as_str),
    ) else {
        return Err(ApiError::bad_request("apiVersion and kind are required").into());
    };
    let resource = store
        .resource_by_kind(meta::group_of(api_version), kind)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "no resource for kind {kind} in {api_version} is served; install its CRD first"
            ))
        })?;
    let res = resource.key();
    let namespace = namespace_for(store, &res, meta::meta_str(&obj, "namespace")).to_string();
    meta::metadata_mut(&mut obj)?.remove("resourceVersion");
    let stored = match meta::name(&obj).map(str::to_string) {
        Some(name) => store.upsert(&res, &namespace, &name, Part::Whole, |_| Ok(obj))?,
        None => store.create(&res, &namespace, obj, Part::Whole)?,
    };
    Ok(stored)
}

fn namespace_for<'a>(store: &Store, res: &GroupResource, namespace: Option<&'a str>) -> &'a str {
    if store.resource(res).is_some_and(|r| !r.namespaced) {
        ""
    } else {
        namespace.unwrap_or("default")
    }
}
