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
//! - Server-managed metadata: `uid`, `creationTimestamp`, a global integer `resourceVersion`,
//!   and `generation`, which increases when anything outside `metadata`/`status` changes for
//!   kinds with a status subresource, and when `spec` changes for other kinds.
//! - Kinds with a status subresource (`rollouts`, `analysisruns`, `replicasets`,
//!   `deployments`, `pods`, `services`, `experiments`): writes to the main resource keep the
//!   stored status, writes to `/status` change only status. Cluster-scoped kinds are
//!   `namespaces`, `nodes`, `clusteranalysistemplates`, `customresourcedefinitions`,
//!   `clusterroles`, `clusterrolebindings`.
//! - A write that changes nothing is a no-op: no new resourceVersion, no watch event.
//! - Deleting an object with finalizers only sets `deletionTimestamp`; an update that empties
//!   them removes it. Removal cascades to objects whose `ownerReferences` name its uid
//!   (unless `propagationPolicy=Orphan`).
//! - In-process helpers ([`ApiServer::put_object`], [`ApiServer::apply_yaml`]) store the whole
//!   object, status included, and ignore any `resourceVersion` in it: they are for fixtures.
//!
//! Known deviations from a real API server: no authentication, admission, defaulting, schema
//! validation or discovery endpoints (only `/version`); `limit`/`continue` are ignored (lists
//! are complete); `dryRun`, `/scale`, managed fields and field-ownership conflicts of
//! server-side apply are not implemented (apply is a deep merge where lists are replaced);
//! strategic merge patch only knows "lists of objects with a `name` merge by name"; objects in
//! namespaces that don't exist are accepted; DELETE is immediate (no graceful termination).

mod error;
mod kubelet;
mod log;
mod meta;
mod patch;
mod routes;
mod selector;
mod store;
mod watch;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinHandle;

pub use error::{ApiError, HarnessError};
pub use log::{RequestRecord, WriteKey};

use kubelet::Knobs;
use log::RequestLog;
use meta::GroupResource;
use store::{Part, Store};

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
}

impl Default for HarnessConfig {
    fn default() -> Self {
        Self {
            pod_ready_after: Duration::from_millis(200),
            run_kubelet: true,
            bookmark_interval: Duration::from_secs(5),
            watch_history: 8192,
        }
    }
}

/// A running in-process API server. Dropping it stops it (in the background);
/// [`ApiServer::shutdown`] stops it and waits.
pub struct ApiServer {
    url: String,
    uri: Uri,
    store: Arc<Store>,
    log: Arc<RequestLog>,
    knobs: Arc<Knobs>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server with [`HarnessConfig::default`].
    ///
    /// # Errors
    /// Fails only if no loopback port can be bound.
    pub async fn start() -> io::Result<Self> {
        Self::start_with(HarnessConfig::default()).await
    }

    /// Binds `127.0.0.1:0` and starts serving (and the kubelet, if configured).
    ///
    /// # Errors
    /// Fails only if no loopback port can be bound.
    pub async fn start_with(config: HarnessConfig) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let uri = url
            .parse::<Uri>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let store = Arc::new(Store::new(config.watch_history));
        let log = Arc::new(RequestLog::default());
        let knobs = Arc::new(Knobs::new(config.pod_ready_after));
        let (stop, stopping) = tokio::sync::watch::channel(false);

        let state = Arc::new(routes::AppState {
            store: store.clone(),
            log: log.clone(),
            shutdown: stopping.clone(),
            bookmark_interval: config.bookmark_interval,
        });
        let mut signal = stopping.clone();
        let server = tokio::spawn(async move {
            // Graceful: open watches see the same signal and end, so connections drain.
            let graceful = async move {
                let _ = signal.wait_for(|stop| *stop).await;
            };
            let serve =
                axum::serve(listener, routes::router(state)).with_graceful_shutdown(graceful);
            if let Err(error) = serve.await {
                tracing::debug!(%error, "harness API server stopped with an error");
            }
        });
        let mut tasks = vec![server];
        if config.run_kubelet {
            tasks.push(tokio::spawn(kubelet::run(
                store.clone(),
                knobs.clone(),
                stopping,
            )));
        }
        Ok(Self {
            url,
            uri,
            store,
            log,
            knobs,
            stop,
            tasks,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client for this server with default namespace `default`.
    ///
    /// # Errors
    /// Whatever `kube::Client::try_from` reports (in practice, TLS backend set-up failures).
    pub fn client(&self) -> kube::Result<kube::Client> {
        let mut config = kube::Config::new(self.uri.clone());
        config.default_namespace = "default".to_string();
        kube::Client::try_from(config)
    }

    /// Stops serving, ends open watches and the kubelet, and waits for them (up to 5 s).
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        for mut task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.records()
    }

    /// Forgets logged requests and resets the write counters.
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

    /// Creates or replaces an object, as given: `apiVersion` and `kind` are required (the
    /// plural is derived from the kind), the namespace defaults to `default`, `generateName`
    /// works, status is stored too and `resourceVersion` is ignored. Watchers see the change.
    ///
    /// # Errors
    /// [`HarnessError::Api`] when `apiVersion` or `kind` is missing or the store refuses the
    /// object (e.g. an invalid name).
    pub fn put_object(&self, mut obj: Value) -> Result<Value, HarnessError> {
        let (Some(api_version), Some(kind)) = (
            obj.get("apiVersion").and_then(Value::as_str),
            obj.get("kind").and_then(Value::as_str),
        ) else {
            return Err(ApiError::bad_request("apiVersion and kind are required").into());
        };
        let res = GroupResource::from_api_version(api_version, &meta::plural_for_kind(kind));
        let namespace = namespace_for(&res, meta::meta_str(&obj, "namespace")).to_string();
        meta::metadata_mut(&mut obj)?.remove("resourceVersion");
        let stored = match meta::name(&obj).map(str::to_string) {
            Some(name) => self
                .store
                .upsert(&res, &namespace, &name, Part::Whole, |_| Ok(obj))?,
            None => self.store.create(&res, &namespace, obj, Part::Whole)?,
        };
        Ok((*stored).clone())
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
        let namespace = namespace_for(&res, namespace);
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
                let namespace = namespace.filter(|_| !res.cluster_scoped());
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
        let namespace = namespace_for(&res, namespace);
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

fn namespace_for<'a>(res: &GroupResource, namespace: Option<&'a str>) -> &'a str {
    if res.cluster_scoped() {
        ""
    } else {
        namespace.unwrap_or("default")
    }
}
