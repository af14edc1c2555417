//! The object store: every object is a `serde_json::Value` keyed by resource, namespace and
//! name. All write semantics live here (server-managed metadata, optimistic concurrency, status
//! subresource rules, generation, finalizers, owner-reference cascading, admission, namespace
//! lifecycle, CRDs becoming served resources), so the HTTP routes and the in-process kubelet
//! behave identically.
//!
//! Every write bumps one global resource version and publishes an [`Event`] to the resource's
//! bounded history and broadcast channel *while holding the lock*, so a watcher that subscribes
//! under the same lock sees a gap-free, ordered stream.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::admission;
use super::error::ApiError;
use super::meta::{self, GroupResource};
use super::rbac::Policy;
use super::registry::{self, Registry, Resource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One committed change. `previous` lets filtered watches turn a MODIFIED that moves an object
/// into or out of their selector into ADDED or DELETED, as the real server does.
#[derive(Debug)]
pub(crate) struct Event {
    pub kind: EventType,
    pub rv: u64,
    pub object: Arc<Value>,
    pub previous: Option<Arc<Value>>,
}

/// Which parts of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The main resource: for kinds with a status subresource, the stored status is kept.
    Main,
    /// The `/status` subresource: only `status` changes.
    Status,
    /// In-process fixtures and the kubelet: everything the caller sends is stored, and a
    /// missing namespace is created rather than refused.
    Whole,
}

/// Where a watch starts.
pub(crate) enum Since {
    /// Synthesize ADDED events for the current state first (no or `0` resourceVersion, or
    /// `sendInitialEvents=true`).
    Now,
    /// Replay changes committed after this resource version.
    Version(u64),
}

pub(crate) struct Subscription {
    /// Objects to announce as ADDED before anything else (for [`Since::Now`]).
    pub initial: Vec<Arc<Value>>,
    /// Past events to replay (for [`Since::Version`]).
    pub replay: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The resource version the initial state or replay is complete up to.
    pub rv: u64,
}

pub(crate) struct Snapshot {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
}

type ObjectKey = (String, String);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectRef {
    resource: GroupResource,
    namespace: String,
    name: String,
}

struct Collection {
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    history: VecDeque<Arc<Event>>,
    /// Events at or below this version have been dropped from `history`.
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

/// A write whose object lost fields to its CRD's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub resource: GroupResource,
    pub namespace: String,
    pub name: String,
    pub paths: Vec<String>,
}

struct Inner {
    rv: u64,
    registry: Registry,
    pruned: Vec<Pruned>,
    /// Rebuilt whenever a Role, ClusterRole or binding changes.
    policy: Arc<Policy>,
    collections: HashMap<GroupResource, Collection>,
    /// Owner UID → objects naming it in `ownerReferences`, so cascading deletion and the kubelet
    /// find dependents without scanning every collection.
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
    history_limit: usize,
}

pub(crate) struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    /// `history_limit` bounds both each resource's replay history and how far a watcher may
    /// fall behind before it is told `410 Gone`.
    /// `history_limit` bounds both each resource's replay history and how far a watcher may
    /// fall behind before it is told `410 Gone`. The namespaces every cluster has exist.
    pub fn new(history_limit: usize) -> Self {
        let mut inner = Inner {
            // Start above zero: a list of an empty store must not report "0", which a
            // watch would read as "any version" and answer with state, not history.
            rv: 1,
            registry: Registry::default(),
            pruned: Vec::new(),
            policy: Arc::new(Policy::from_objects(std::iter::empty())),
            collections: HashMap::new(),
            dependents: HashMap::new(),
            history_limit: history_limit.max(1),
        };
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            inner.ensure_namespace(namespace);
        }
        Self {
            inner: Mutex::new(inner),
        }
    }

    /// The resource served under this group and plural, if any.
    pub fn resource(&self, res: &GroupResource) -> Option<Arc<Resource>> {
        self.lock().registry.get(res)
    }

    /// The resource of a kind (for fixtures that name only `apiVersion` and `kind`).
    pub fn resource_by_kind(&self, group: &str, kind: &str) -> Option<Arc<Resource>> {
        self.lock().registry.by_kind(group, kind)
    }

    /// What discovery serves, as of now.
    pub fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.lock().policy.clone()
    }

    /// Every write so far whose object lost fields to pruning, oldest first.
    pub fn pruned(&self) -> Vec<Pruned> {
        self.lock().pruned.clone()
    }

    /// Forgets every collection's watch history, as etcd compaction does: a watch resumed from
    /// any earlier resource version gets `410 Gone` and must list again.
    pub fn compact(&self) {
        let mut inner = self.lock();
        let rv = inner.rv;
        for collection in inner.collections.values_mut() {
            collection.history.clear();
            collection.compacted_rv = rv;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere mid-write; the data is still the last
        // consistent commit because every write mutates only after all validation succeeded.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, res: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let inner = self.lock();
        let key = (namespace.to_string(), name.to_string());
        inner.collections.get(res)?.objects.get(&key).cloned()
    }

    /// Objects of `res`, in one namespace or (with `None`) all of them, sorted by namespace/name.
    pub fn list(&self, res: &GroupResource, namespace: Option<&str>) -> Snapshot {
        let inner = self.lock();
        let items = inner
            .collections
            .get(res)
            .map(|c| match namespace {
                Some(ns) => c
                    .objects
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((obj_ns, _), _)| obj_ns == ns)
                    .map(|(_, obj)| obj.clone())
                    .collect(),
                None => c.objects.values().cloned().collect(),
            })
            .unwrap_or_default();
        Snapshot {
            items,
            rv: inner.rv,
        }
    }

    /// Every stored resource with this plural, whatever its group.
    pub fn resources_named(&self, plural: &str) -> Vec<GroupResource> {
        let inner = self.lock();
        let mut found: Vec<_> = inner
            .collections
            .keys()
            .filter(|r| r.plural == plural)
            .cloned()
            .collect();
        found.sort();
        found
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Live events of `res` from now on (for the in-process kubelet).
    pub fn subscribe(&self, res: &GroupResource) -> broadcast::Receiver<Arc<Event>> {
        let mut inner = self.lock();
        inner.collection(res).tx.subscribe()
    }

    /// Starts a watch; fails with `410 Gone` when `since` predates the retained history.
    pub fn watch(&self, res: &GroupResource, since: Since) -> Result<Subscription, ApiError> {
        let mut inner = self.lock();
        let rv = inner.rv;
        let collection = inner.collection(res);
        let rx = collection.tx.subscribe();
        match since {
            Since::Now => Ok(Subscription {
                initial: collection.objects.values().cloned().collect(),
                replay: Vec::new(),
                rx,
                rv,
            }),
            Since::Version(from) if from < collection.compacted_rv => Err(ApiError::gone(format!(
                "too old resource version: {from} ({})",
                collection.compacted_rv
            ))),
            Since::Version(from) => Ok(Subscription {
                initial: Vec::new(),
                replay: collection
                    .history
                    .iter()
                    .filter(|e| e.rv > from)
                    .cloned()
                    .collect(),
                rx,
                rv: rv.max(from),
            }),
        }
    }

    /// Objects whose `ownerReferences` name `owner_uid`.
    pub fn dependents(&self, owner_uid: &str) -> Vec<(GroupResource, Arc<Value>)> {
        let inner = self.lock();
        inner
            .dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let key = (r.namespace.clone(), r.name.clone());
                let obj = inner.collections.get(&r.resource)?.objects.get(&key)?;
                Some((r.resource.clone(), obj.clone()))
            })
            .collect()
    }

    /// Creates `obj` in `namespace` (ignored for cluster-scoped kinds), honouring
    /// `generateName`. With [`Part::Main`], an incoming status of a status-subresource kind is
    /// dropped, like the real server does on create.
    pub fn create(
        &self,
        res: &GroupResource,
        namespace: &str,
        obj: Value,
        part: Part,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let resource = inner.served(res)?;
        inner.insert_new(&resource, namespace, obj, part)
    }

    /// Read-modify-write of an existing object, atomically: `change` receives the stored object
    /// and returns the desired one, which then goes through the same rules as a PUT.
    pub fn update(
        &self,
        res: &GroupResource,
        namespace: &str,
        name: &str,
        part: Part,
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        self.upsert(res, namespace, name, part, |current| match current {
            Some(current) => change(current),
            None => Err(ApiError::not_found(&res.qualified(), name)),
        })
    }

    /// Like [`Store::update`], but `change` also sees absence (`None`) and may then return an
    /// object to create (server-side apply, fixtures).
    pub fn upsert(
        &self,
        res: &GroupResource,
        namespace: &str,
        name: &str,
        part: Part,
        change: impl FnOnce(Option<&Value>) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let resource = inner.served(res)?;
        let namespace = if resource.namespaced { namespace } else { "" };
        let key = (namespace.to_string(), name.to_string());
        let current = inner
            .collections
            .get(res)
            .and_then(|c| c.objects.get(&key))
            .cloned();
        match current {
            Some(current) => {
                let desired = change(Some(&current))?;
                inner.replace(&resource, key, &current, desired, part)
            }
            None if part == Part::Status => Err(ApiError::not_found(&res.qualified(), name)),
            None => {
                let mut desired = change(None)?;
                let metadata = meta::metadata_mut(&mut desired)?;
                match metadata.get("name").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() && n != name => return Err(name_mismatch()),
                    _ => {
                        metadata.insert("name".into(), Value::String(name.to_string()));
                    }
                }
                metadata.remove("resourceVersion");
                inner.insert_new(&resource, namespace, desired, part)
            }
        }
    }

    /// Deletes an object. With finalizers present it is only marked (`deletionTimestamp`) and
    /// removed once an update empties them. Removal cascades to dependents unless `orphan`.
    /// Returns the object as it was finally stored or removed.
    pub fn delete(
        &self,
        res: &GroupResource,
        namespace: &str,
        name: &str,
        orphan: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let resource = inner.served(res)?;
        let namespace = if resource.namespaced { namespace } else { "" };
        let target = ObjectRef {
            resource: res.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        inner
            .delete_one(&target, orphan)
            .ok_or_else(|| ApiError::not_found(&res.qualified(), name))
    }
}

fn name_mismatch() -> ApiError {
    ApiError::bad_request("the name of the object does not match the name on the URL".to_string())
}

impl Inner {
    fn collection(&mut self, res: &GroupResource) -> &mut Collection {
        let capacity = self.history_limit;
        self.collections
            .entry(res.clone())
            .or_insert_with(|| Collection {
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted_rv: 0,
                tx: broadcast::channel(capacity).0,
            })
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn publish(&mut self, res: &GroupResource, event: Event) {
        let limit = self.history_limit;
        let collection = self.collection(res);
        let event = Arc::new(event);
        collection.history.push_back(event.clone());
        while collection.history.len() > limit {
            if let Some(dropped) = collection.history.pop_front() {
                collection.compacted_rv = dropped.rv;
            }
        }
        // An error only means nobody is watching right now, which is fine.
        let _ = collection.tx.send(event);
    }

    fn index_owners(&mut self, res: &GroupResource, obj: &Value, add: bool) {
        let Some(name) = meta::name(obj) else { return };
        let target = ObjectRef {
            resource: res.clone(),
            namespace: meta::meta_str(obj, "namespace")
                .unwrap_or_default()
                .to_string(),
            name: name.to_string(),
        };
        for owner in meta::owner_uids(obj) {
            if add {
                self.dependents
                    .entry(owner.to_string())
                    .or_default()
                    .insert(target.clone());
            } else if let Some(set) = self.dependents.get_mut(owner) {
                set.remove(&target);
                if set.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
    }

    /// The served resource, or the 404 a server without it answers.
    fn served(&self, res: &GroupResource) -> Result<Arc<Resource>, ApiError> {
        self.registry
            .get(res)
            .ok_or_else(|| ApiError::no_route(&res.qualified()))
    }

    /// Creates a namespace that does not exist yet (fixtures, and the built-in ones).
    fn ensure_namespace(&mut self, name: &str) {
        let key = (String::new(), name.to_string());
        if self.collection(&namespaces()).objects.contains_key(&key) {
            return;
        }
        let Some(resource) = self.registry.get(&namespaces()) else {
            return;
        };
        let namespace = serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
        });
        if let Err(error) = self.insert_new(&resource, "", namespace, Part::Whole) {
            tracing::debug!(%error, namespace = name, "could not create namespace");
        }
    }

    /// NamespaceLifecycle admission: no new objects in a namespace that does not exist or is
    /// being deleted.
    fn check_namespace(&self, namespace: &str) -> Result<(), ApiError> {
        let key = (String::new(), namespace.to_string());
        match self
            .collections
            .get(&namespaces())
            .and_then(|c| c.objects.get(&key))
        {
            None => Err(ApiError::not_found("namespaces", namespace)),
            Some(ns) if meta::is_terminating(ns) => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {namespace} because it is being \
                 terminated"
            ))),
            Some(_) => Ok(()),
        }
    }

    fn insert_new(
        &mut self,
        resource: &Resource,
        namespace: &str,
        mut obj: Value,
        part: Part,
    ) -> Result<Arc<Value>, ApiError> {
        if part == Part::Status {
            return Err(ApiError::method_not_allowed("POST"));
        }
        let res = resource.key();
        let namespace = if resource.namespaced { namespace } else { "" };
        let metadata = meta::metadata_mut(&mut obj)?;
        match metadata.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != namespace && !namespace.is_empty() => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request",
                ));
            }
            _ => {}
        }
        let name = match metadata.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                let prefix = metadata
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "metadata.name: Required value: name or generateName is required",
                        )
                    })?
                    .to_string();
                self.unused_name(&res, namespace, &prefix)
            }
        };
        if !namespace.is_empty() {
            if part == Part::Whole {
                self.ensure_namespace(namespace);
            } else {
                self.check_namespace(namespace)?;
            }
        }
        let key = (namespace.to_string(), name.clone());
        if self.collection(&res).objects.contains_key(&key) {
            return Err(ApiError::already_exists(&res.qualified(), &name));
        }

        let metadata = meta::metadata_mut(&mut obj)?;
        metadata.insert("name".into(), Value::String(name));
        if namespace.is_empty() {
            metadata.remove("namespace");
        } else {
            metadata.insert("namespace".into(), Value::String(namespace.to_string()));
        }
        metadata.insert("uid".into(), Value::String(meta::new_uid()));
        metadata.insert(
            "creationTimestamp".into(),
            Value::String(meta::now_rfc3339()),
        );
        metadata.insert("generation".into(), Value::from(1));
        metadata.remove("deletionTimestamp");
        metadata.remove("deletionGracePeriodSeconds");
        if part == Part::Main
            && resource.status_subresource(&obj)
            && let Some(root) = obj.as_object_mut()
        {
            root.remove("status");
        }
        let mut admitted = admission::admit(&self.registry, resource, &mut obj, None)?;
        self.note_pruned(&res, &obj, &mut admitted);
        if admitted.defines.is_some() {
            let now = meta::now_rfc3339();
            let status = registry::accepted_status(&obj, &now);
            set_field(&mut obj, "status", Some(status));
        }
        let rv = self.next_rv();
        meta::metadata_mut(&mut obj)?
            .insert("resourceVersion".into(), Value::String(rv.to_string()));

        let obj = Arc::new(obj);
        self.index_owners(&res, &obj, true);
        self.collection(&res).objects.insert(key, obj.clone());
        self.publish(
            &res,
            Event {
                kind: EventType::Added,
                rv,
                object: obj.clone(),
                previous: None,
            },
        );
        self.committed(&res, admitted);
        Ok(obj)
    }

    /// What a commit changes beyond the collection: a CRD's resource is served (or updated),
    /// RBAC objects change the policy.
    /// Remembers what admission pruned from a write, committed or a no-op.
    fn note_pruned(
        &mut self,
        res: &GroupResource,
        obj: &Value,
        admitted: &mut admission::Admitted,
    ) {
        if !admitted.pruned.is_empty() {
            self.pruned.push(Pruned {
                resource: res.clone(),
                namespace: meta::meta_str(obj, "namespace")
                    .unwrap_or_default()
                    .to_string(),
                name: meta::name(obj).unwrap_or_default().to_string(),
                paths: std::mem::take(&mut admitted.pruned),
            });
        }
    }

    fn committed(&mut self, res: &GroupResource, admitted: admission::Admitted) {
        if let Some(defined) = admitted.defines {
            self.registry.install(defined);
        }
        if res.group == "rbac.authorization.k8s.io" {
            self.rebuild_policy();
        }
    }

    fn rebuild_policy(&mut self) {
        let objects: Vec<Arc<Value>> = [
            "roles",
            "clusterroles",
            "rolebindings",
            "clusterrolebindings",
        ]
        .iter()
        .filter_map(|plural| {
            self.collections
                .get(&GroupResource::new("rbac.authorization.k8s.io", plural))
        })
        .flat_map(|c| c.objects.values().cloned())
        .collect();
        self.policy = Arc::new(Policy::from_objects(objects.iter().map(|o| &**o)));
    }

    fn unused_name(&mut self, res: &GroupResource, namespace: &str, prefix: &str) -> String {
        let collection = self.collection(res);
        loop {
            let candidate = format!("{prefix}{}", meta::random_suffix(5));
            if !collection
                .objects
                .contains_key(&(namespace.to_string(), candidate.clone()))
            {
                return candidate;
            }
        }
    }

    fn replace(
        &mut self,
        resource: &Resource,
        key: ObjectKey,
        current: &Arc<Value>,
        desired: Value,
        part: Part,
    ) -> Result<Arc<Value>, ApiError> {
        if !desired.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let res = resource.key();
        let stored_rv = meta::meta_str(current, "resourceVersion").unwrap_or_default();
        if let Some(sent_rv) = meta::meta_str(&desired, "resourceVersion")
            && sent_rv != stored_rv
        {
            return Err(ApiError::conflict(&res.qualified(), &key.1));
        }
        if meta::name(&desired).is_some_and(|n| n != key.1) {
            return Err(name_mismatch());
        }

        let status_subresource = resource.status_subresource(current);
        let mut next = match part {
            Part::Status => {
                let mut next = (**current).clone();
                set_field(&mut next, "status", desired.get("status").cloned());
                next
            }
            Part::Main | Part::Whole => {
                let mut next = desired;
                if part == Part::Main && status_subresource {
                    set_field(&mut next, "status", current.get("status").cloned());
                }
                keep_system_metadata(current, &mut next)?;
                next
            }
        };
        let mut admitted = admission::admit(&self.registry, resource, &mut next, Some(current))?;
        self.note_pruned(&res, &next, &mut admitted);
        if admitted.defines.is_some() {
            let now = meta::now_rfc3339();
            let status = registry::accepted_status(&next, &now);
            set_field(&mut next, "status", Some(status));
        }
        let generation = if spec_changed(current, &next, resource, status_subresource) {
            meta::generation(current).saturating_add(1)
        } else {
            meta::generation(current)
        };
        meta::metadata_mut(&mut next)?.insert("generation".into(), Value::from(generation));

        // A write that changes nothing is a no-op, as on a real server: no new resource
        // version and no watch event, so controllers that re-write identical status don't
        // trigger themselves forever.
        if next == **current {
            return Ok(current.clone());
        }

        let rv = self.next_rv();
        meta::metadata_mut(&mut next)?
            .insert("resourceVersion".into(), Value::String(rv.to_string()));
        let next = Arc::new(next);
        if meta::is_terminating(&next) && !meta::has_finalizers(&next) {
            self.remove(&res, &key, next.clone(), Some(current.clone()), rv, false);
            return Ok(next);
        }
        self.index_owners(&res, current, false);
        self.index_owners(&res, &next, true);
        self.collection(&res).objects.insert(key, next.clone());
        self.publish(
            &res,
            Event {
                kind: EventType::Modified,
                rv,
                object: next.clone(),
                previous: Some(current.clone()),
            },
        );
        self.committed(&res, admitted);
        Ok(next)
    }

    /// Removes a stored object (already stamped with `rv`), publishes DELETED and, unless
    /// orphaning, deletes its dependents — background propagation, done immediately. A
    /// namespace takes its contents with it, a CRD its resource and every object of it.
    fn remove(
        &mut self,
        res: &GroupResource,
        key: &ObjectKey,
        obj: Arc<Value>,
        previous: Option<Arc<Value>>,
        rv: u64,
        orphan: bool,
    ) {
        self.collection(res).objects.remove(key);
        if let Some(previous) = &previous {
            self.index_owners(res, previous, false);
        }
        self.index_owners(res, &obj, false);
        let uid = meta::uid(&obj).map(str::to_string);
        self.publish(
            res,
            Event {
                kind: EventType::Deleted,
                rv,
                object: obj.clone(),
                previous,
            },
        );
        if *res == namespaces() {
            self.delete_contents(|_, namespace| namespace == key.1);
        } else if *res == registry::crds()
            && let Some(served) = self.registry.remove_crd(&obj)
        {
            let gone = served.key();
            self.delete_contents(|resource, _| *resource == gone);
            self.collections.remove(&gone);
        } else if res.group == "rbac.authorization.k8s.io" {
            self.rebuild_policy();
        }
        if orphan {
            return;
        }
        let dependents = uid
            .and_then(|uid| self.dependents.remove(&uid))
            .unwrap_or_default();
        for dependent in dependents {
            self.delete_one(&dependent, false);
        }
    }

    /// Deletes every object for which `matches(resource, namespace)` holds, finalizers
    /// notwithstanding (as the namespace and CRD cleanup controllers eventually do).
    fn delete_contents(&mut self, matches: impl Fn(&GroupResource, &str) -> bool) {
        let doomed: Vec<ObjectRef> = self
            .collections
            .iter()
            .flat_map(|(resource, collection)| {
                collection
                    .objects
                    .keys()
                    .filter(|(namespace, _)| matches(resource, namespace))
                    .map(|(namespace, name)| ObjectRef {
                        resource: resource.clone(),
                        namespace: namespace.clone(),
                        name: name.clone(),
                    })
            })
            .collect();
        for target in doomed {
            let key = (target.namespace.clone(), target.name.clone());
            let Some(current) = self
                .collections
                .get(&target.resource)
                .and_then(|c| c.objects.get(&key))
                .cloned()
            else {
                continue;
            };
            let rv = self.next_rv();
            let mut gone = (*current).clone();
            if let Ok(metadata) = meta::metadata_mut(&mut gone) {
                metadata.insert("resourceVersion".into(), Value::String(rv.to_string()));
            }
            self.remove(&target.resource, &key, Arc::new(gone), None, rv, true);
        }
    }

    fn delete_one(&mut self, target: &ObjectRef, orphan: bool) -> Option<Arc<Value>> {
        let key = (target.namespace.clone(), target.name.clone());
        let current = self
            .collections
            .get(&target.resource)?
            .objects
            .get(&key)?
            .clone();
        let finalizing = meta::has_finalizers(&current);
        if finalizing && meta::is_terminating(&current) {
            // Already marked and still waiting for its finalizers: nothing to change.
            return Some(current);
        }
        let rv = self.next_rv();
        let mut next = (*current).clone();
        let metadata = meta::metadata_mut(&mut next).ok()?;
        metadata.insert("resourceVersion".into(), Value::String(rv.to_string()));
        if finalizing {
            metadata.insert(
                "deletionTimestamp".into(),
                Value::String(meta::now_rfc3339()),
            );
            metadata.insert("deletionGracePeriodSeconds".into(), Value::from(0));
            let next = Arc::new(next);
            self.collection(&target.resource)
                .objects
                .insert(key, next.clone());
            self.publish(
                &target.resource,
                Event {
                    kind: EventType::Modified,
                    rv,
                    object: next.clone(),
                    previous: Some(current),
                },
            );
            return Some(next);
        }
        let next = Arc::new(next);
        self.remove(&target.resource, &key, next.clone(), None, rv, orphan);
        Some(next)
    }
}

fn namespaces() -> GroupResource {
    GroupResource::new("", "namespaces")
}

/// Sets (or with `None`/`null`, removes) a top-level field.
fn set_field(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Some(root) = obj.as_object_mut() {
        match value {
            Some(v) if !v.is_null() => {
                root.insert(field.to_string(), v);
            }
            _ => {
                root.remove(field);
            }
        }
    }
}

/// Restores the metadata only the server may set; clients' values for these are ignored.
fn keep_system_metadata(current: &Value, next: &mut Value) -> Result<(), ApiError> {
    const SYSTEM: &[&str] = &[
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ];
    let old = current.get("metadata").and_then(Value::as_object);
    let metadata = meta::metadata_mut(next)?;
    for field in SYSTEM {
        match old.and_then(|m| m.get(*field)) {
            Some(value) => metadata.insert((*field).to_string(), value.clone()),
            None => metadata.remove(*field),
        };
    }
    Ok(())
}

/// Whether a write changes what `metadata.generation` tracks. Custom resources: everything
/// outside metadata, and outside status too when status is a subresource. Built-in kinds with a
/// status subresource: everything outside metadata and status; the others: `spec`.
fn spec_changed(old: &Value, new: &Value, resource: &Resource, status_subresource: bool) -> bool {
    if !resource.custom && !status_subresource {
        return old.get("spec") != new.get("spec");
    }
    let ignored: &[&str] = if status_subresource {
        &["metadata", "status", "kind", "apiVersion"]
    } else {
        &["metadata", "kind", "apiVersion"]
    };
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    old.keys()
        .chain(new.keys())
        .filter(|k| !ignored.contains(&k.as_str()))
        .any(|k| old.get(k) != new.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollouts() -> GroupResource {
        GroupResource::new("argoproj.io", "rollouts")
    }

    fn rollout(name: &str) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": name}, "spec": {"replicas": 1}, "status": {"phase": "x"}})
    }

    /// A store serving Rollouts (open schema, status subresource) with namespace `ns`.
    fn store_with_history(history: usize) -> Store {
        let store = Store::new(history);
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "rollouts.argoproj.io"},
            "spec": {"group": "argoproj.io", "scope": "Namespaced",
                     "names": {"plural": "rollouts", "kind": "Rollout"},
                     "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": true}}}]},
        });
        store
            .create(&registry::crds(), "", crd, Part::Whole)
            .unwrap();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}});
        store.create(&namespaces(), "", ns, Part::Main).unwrap();
        store
    }

    fn store() -> Store {
        store_with_history(16)
    }

    #[test]
    fn create_stamps_metadata_and_drops_status() {
        let store = store();
        let before = store.current_rv();
        let obj = store
            .create(&rollouts(), "ns", rollout("a"), Part::Main)
            .unwrap();
        assert_eq!(obj["metadata"]["namespace"], "ns");
        assert_eq!(obj["metadata"]["generation"], 1);
        assert_eq!(obj["metadata"]["resourceVersion"], (before + 1).to_string());
        assert!(obj.get("status").is_none());
        let err = store
            .create(&rollouts(), "ns", rollout("a"), Part::Main)
            .unwrap_err();
        assert_eq!(err.code, 409);
    }

    #[test]
    fn generation_and_noop_writes() {
        let store = store();
        let res = rollouts();
        let created = store.create(&res, "ns", rollout("a"), Part::Main).unwrap();
        let same = store
            .update(&res, "ns", "a", Part::Main, |cur| Ok(cur.clone()))
            .unwrap();
        assert_eq!(
            same["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        let status = store
            .update(&res, "ns", "a", Part::Status, |cur| {
                let mut next = cur.clone();
                next["status"] = json!({"phase": "Healthy"});
                Ok(next)
            })
            .unwrap();
        assert_eq!(status["metadata"]["generation"], 1);
        let spec = store
            .update(&res, "ns", "a", Part::Main, |cur| {
                let mut next = cur.clone();
                next["spec"]["replicas"] = json!(3);
                next["status"] = json!({"phase": "ignored"});
                Ok(next)
            })
            .unwrap();
        assert_eq!(spec["metadata"]["generation"], 2);
        assert_eq!(spec["status"]["phase"], "Healthy");
    }

    #[test]
    fn history_compaction_means_gone() {
        let store = store_with_history(2);
        let res = rollouts();
        let start = store.current_rv();
        for name in ["a", "b", "c", "d"] {
            store.create(&res, "ns", rollout(name), Part::Main).unwrap();
        }
        assert_eq!(
            store
                .watch(&res, Since::Version(start + 1))
                .err()
                .unwrap()
                .code,
            410
        );
        let sub = store.watch(&res, Since::Version(start + 2)).ok().unwrap();
        assert_eq!(sub.replay.len(), 2);
        store.compact();
        assert_eq!(
            store
                .watch(&res, Since::Version(start + 3))
                .err()
                .unwrap()
                .code,
            410,
            "compaction forgets everything up to now"
        );
    }

    #[test]
    fn cascade_and_finalizers() {
        let store = store();
        let res = rollouts();
        let owner = store
            .create(&res, "ns", rollout("owner"), Part::Main)
            .unwrap();
        let mut child = rollout("child");
        child["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "owner",
            "uid": owner["metadata"]["uid"],
        }]);
        child["metadata"]["finalizers"] = json!(["keep"]);
        store.create(&res, "ns", child, Part::Main).unwrap();
        store.delete(&res, "ns", "owner", false).unwrap();
        assert!(store.get(&res, "ns", "owner").is_none());
        let child = store.get(&res, "ns", "child").unwrap();
        assert!(meta::is_terminating(&child));
        store
            .update(&res, "ns", "child", Part::Main, |cur| {
                let mut next = cur.clone();
                next["metadata"]["finalizers"] = json!([]);
                Ok(next)
            })
            .unwrap();
        assert!(store.get(&res, "ns", "child").is_none());
    }
}
