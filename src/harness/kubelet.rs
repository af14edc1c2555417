//! A stand-in for the kubelet and the ReplicaSet controller, working on the store directly.
//!
//! One task reacts to ReplicaSet and Pod events: it keeps each ReplicaSet's pod count at
//! `spec.replicas`, marks pods ready after a configurable delay (unless their image matches
//! the never-ready knob), and maintains ReplicaSet status. Timers live in one heap inside the
//! task, so there is no per-pod task and no polling.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::error::ApiError;
use super::meta::{self, GroupResource};
use super::selector::LabelSelector;
use super::store::{Event, EventType, Part, Store};

/// Runtime-adjustable behaviour, shared with [`super::ApiServer`].
pub(crate) struct Knobs {
    settings: Mutex<Settings>,
    changed: Notify,
}

struct Settings {
    pod_ready_after: Duration,
    never_ready: Option<String>,
}

impl Knobs {
    pub fn new(pod_ready_after: Duration) -> Self {
        Self {
            settings: Mutex::new(Settings {
                pod_ready_after,
                never_ready: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Settings> {
        // Plain values: a panic elsewhere cannot leave them inconsistent.
        self.settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_pod_ready_after(&self, delay: Duration) {
        self.lock().pod_ready_after = delay;
        self.changed.notify_one();
    }

    pub fn set_never_ready(&self, image_substring: Option<String>) {
        self.lock().never_ready = image_substring;
        self.changed.notify_one();
    }

    fn pod_ready_after(&self) -> Duration {
        self.lock().pod_ready_after
    }

    fn blocks(&self, pod: &Value) -> bool {
        let settings = self.lock();
        let Some(needle) = settings.never_ready.as_deref() else {
            return false;
        };
        containers(pod).any(|c| {
            c.get("image")
                .and_then(Value::as_str)
                .is_some_and(|image| image.contains(needle))
        })
    }
}

fn pods() -> GroupResource {
    GroupResource::new("", "pods")
}

fn replicasets() -> GroupResource {
    GroupResource::new("apps", "replicasets")
}

type ObjectKey = (String, String);

fn key_of(obj: &Value) -> Option<ObjectKey> {
    Some((
        meta::meta_str(obj, "namespace")
            .unwrap_or_default()
            .to_string(),
        meta::name(obj)?.to_string(),
    ))
}

#[derive(Debug, Clone, Copy)]
enum Source {
    ReplicaSets,
    Pods,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    PodReady(ObjectKey),
    /// A ready pod of this ReplicaSet passes `minReadySeconds`.
    Available(ObjectKey),
}

/// Runs until `shutdown` turns true or the store goes away.
pub(crate) async fn run(store: Arc<Store>, knobs: Arc<Knobs>, mut shutdown: watch::Receiver<bool>) {
    // Subscribe before the first full scan so nothing committed in between is missed.
    let mut rs_events = store.subscribe(&replicasets());
    let mut pod_events = store.subscribe(&pods());
    let mut kubelet = Kubelet {
        store,
        knobs,
        timers: BinaryHeap::new(),
        dirty: BTreeSet::new(),
    };
    kubelet.resync();
    loop {
        kubelet.reconcile_dirty();
        let next_timer = kubelet.timers.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            _ = shutdown.wait_for(|stopping| *stopping) => return,
            received = rs_events.recv() => {
                if !kubelet.received(Source::ReplicaSets, received) {
                    return;
                }
            }
            received = pod_events.recv() => {
                if !kubelet.received(Source::Pods, received) {
                    return;
                }
            }
            () = kubelet.knobs.changed.notified() => kubelet.resync(),
            () = sleep_until(next_timer) => kubelet.fire_timers(),
        }
        // Take everything already queued before reconciling, so a burst of events costs one
        // reconcile per ReplicaSet rather than one per event.
        for (source, events) in [
            (Source::ReplicaSets, &mut rs_events),
            (Source::Pods, &mut pod_events),
        ] {
            loop {
                match events.try_recv() {
                    Ok(event) => kubelet.on_event(source, &event),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(_)) => kubelet.resync(),
                    Err(TryRecvError::Closed) => return,
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Kubelet {
    store: Arc<Store>,
    knobs: Arc<Knobs>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// ReplicaSets to reconcile at the end of this turn.
    dirty: BTreeSet<ObjectKey>,
}

impl Kubelet {
    /// Handles a channel result; `false` means the store is gone.
    fn received(&mut self, source: Source, received: Result<Arc<Event>, RecvError>) -> bool {
        match received {
            Ok(event) => self.on_event(source, &event),
            // Events were missed: fall back to looking at everything.
            Err(RecvError::Lagged(_)) => self.resync(),
            Err(RecvError::Closed) => return false,
        }
        true
    }

    fn on_event(&mut self, source: Source, event: &Event) {
        let obj = &event.object;
        match source {
            // A deleted ReplicaSet's pods go by cascading deletion; nothing to reconcile.
            Source::ReplicaSets if event.kind == EventType::Deleted => {}
            Source::ReplicaSets => self.dirty.extend(key_of(obj)),
            Source::Pods => {
                self.dirty.extend(owning_replicaset(obj));
                if event.kind == EventType::Added {
                    self.schedule_readiness(obj);
                }
            }
        }
    }

    /// Re-examines everything: after missed events or a knob change.
    fn resync(&mut self) {
        for rs in self.store.list(&replicasets(), None).items {
            self.dirty.extend(key_of(&rs));
        }
        for pod in self.store.list(&pods(), None).items {
            self.schedule_readiness(&pod);
        }
    }

    fn schedule_readiness(&mut self, pod: &Value) {
        if is_ready(pod) || meta::is_terminating(pod) {
            return;
        }
        if let Some(key) = key_of(pod) {
            let at = meta::instant_after(self.knobs.pod_ready_after());
            self.timers.push(Reverse((at, Timer::PodReady(key))));
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, timer))) = self.timers.pop() else {
                break;
            };
            match timer {
                Timer::PodReady((ns, name)) => self.start_pod(&ns, &name),
                Timer::Available(key) => {
                    self.dirty.insert(key);
                }
            }
        }
    }

    /// Moves a pod to Running, Ready unless the never-ready knob matches its image.
    fn start_pod(&self, namespace: &str, name: &str) {
        let Some(pod) = self.store.get(&pods(), namespace, name) else {
            return;
        };
        if is_ready(&pod) || meta::is_terminating(&pod) {
            return;
        }
        let ready = !self.knobs.blocks(&pod);
        let result = self
            .store
            .update(&pods(), namespace, name, Part::Status, |current| {
                let mut next = current.clone();
                next["status"] = running_status(current, ready);
                Ok(next)
            });
        log_failure("mark pod running", result);
    }

    fn reconcile_dirty(&mut self) {
        for (ns, name) in std::mem::take(&mut self.dirty) {
            self.reconcile(&ns, &name);
        }
    }

    fn reconcile(&mut self, namespace: &str, name: &str) {
        let Some(rs) = self.store.get(&replicasets(), namespace, name) else {
            return;
        };
        // Like the real controller, leave a ReplicaSet being deleted alone.
        let Some(uid) = meta::uid(&rs).filter(|_| !meta::is_terminating(&rs)) else {
            return;
        };
        let desired = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize;
        let mut owned = self.owned_pods(uid);
        if owned.len() < desired {
            for _ in owned.len()..desired {
                let result =
                    self.store
                        .create(&pods(), namespace, new_pod(&rs, name, uid), Part::Whole);
                log_failure("create pod", result);
            }
            owned = self.owned_pods(uid);
        } else if owned.len() > desired {
            // Not-ready pods go first, then the newest.
            owned.sort_by_key(|pod| {
                (
                    is_ready(pod),
                    Reverse(meta::meta_str(pod, "creationTimestamp").map(str::to_string)),
                    Reverse(meta::name(pod).map(str::to_string)),
                )
            });
            for pod in owned.drain(..owned.len() - desired) {
                if let Some(pod_name) = meta::name(&pod) {
                    let result = self.store.delete(&pods(), namespace, pod_name, false);
                    log_failure("delete pod", result);
                }
            }
        }
        let status = self.replicaset_status(&rs, &owned);
        let result = self
            .store
            .update(&replicasets(), namespace, name, Part::Status, |current| {
                // Other status fields (conditions) written by clients are kept.
                let mut merged = current
                    .get("status")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                merged.extend(status);
                let mut next = current.clone();
                next["status"] = Value::Object(merged);
                // Identical status is a no-op in the store: no version bump, no event.
                Ok(next)
            });
        log_failure("update replicaset status", result);
    }

    fn owned_pods(&self, rs_uid: &str) -> Vec<Arc<Value>> {
        self.store
            .dependents(rs_uid)
            .into_iter()
            .filter(|(res, pod)| {
                *res == pods()
                    && meta::controller_uid(pod) == Some(rs_uid)
                    && !meta::is_terminating(pod)
            })
            .map(|(_, pod)| pod)
            .collect()
    }

    /// Counts for `status`, scheduling a re-check for pods still inside `minReadySeconds`.
    fn replicaset_status(&mut self, rs: &Value, owned: &[Arc<Value>]) -> Map<String, Value> {
        let selector = rs
            .pointer("/spec/selector")
            .map(LabelSelector::from_object)
            .unwrap_or_default();
        let min_ready = rs
            .pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let now = jiff::Timestamp::now();
        let mut next_check: Option<Duration> = None;
        let mut available = 0;
        for pod in owned.iter().filter(|pod| is_ready(pod)) {
            let since = ready_since(pod).unwrap_or(now);
            let remaining = since
                .checked_add(jiff::SignedDuration::from_secs(min_ready))
                .map_or(jiff::SignedDuration::ZERO, |at| at.duration_since(now));
            match Duration::try_from(remaining) {
                Ok(wait) if !wait.is_zero() => {
                    next_check = Some(next_check.map_or(wait, |w| w.min(wait)));
                }
                _ => available += 1,
            }
        }
        if let (Some(wait), Some(key)) = (next_check, key_of(rs)) {
            // Whole-second timestamps: a small margin avoids waking just before the boundary.
            let at = meta::instant_after(wait.saturating_add(Duration::from_millis(50)));
            self.timers.push(Reverse((at, Timer::Available(key))));
        }
        Map::from_iter([
            ("replicas".to_string(), json!(owned.len())),
            (
                "fullyLabeledReplicas".to_string(),
                json!(owned.iter().filter(|pod| selector.matches(pod)).count()),
            ),
            (
                "readyReplicas".to_string(),
                json!(owned.iter().filter(|pod| is_ready(pod)).count()),
            ),
            ("availableReplicas".to_string(), json!(available)),
            (
                "observedGeneration".to_string(),
                json!(meta::generation(rs)),
            ),
        ])
    }
}

fn log_failure<T>(action: &str, result: Result<T, ApiError>) {
    if let Err(error) = result {
        // Races with clients (an object deleted meanwhile) are expected and retried on the
        // next event, so they are not worth more than a debug line.
        tracing::debug!(%error, action, "kubelet write failed");
    }
}

/// `namespace/name` of the ReplicaSet controlling this pod.
fn owning_replicaset(pod: &Value) -> Option<ObjectKey> {
    let owner = pod
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|o| {
            o.get("controller").and_then(Value::as_bool) == Some(true)
                && o.get("kind").and_then(Value::as_str) == Some("ReplicaSet")
        })?;
    Some((
        meta::meta_str(pod, "namespace")
            .unwrap_or_default()
            .to_string(),
        owner.get("name")?.as_str()?.to_string(),
    ))
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
}

fn is_ready(pod: &Value) -> bool {
    ready_condition(pod)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some("True")
}

fn ready_since(pod: &Value) -> Option<jiff::Timestamp> {
    ready_condition(pod)?
        .get("lastTransitionTime")?
        .as_str()?
        .parse()
        .ok()
}

fn new_pod(rs: &Value, rs_name: &str, rs_uid: &str) -> Value {
    let template = rs.pointer("/spec/template").cloned().unwrap_or_default();
    let mut metadata = json!({
        "generateName": format!("{rs_name}-"),
        "ownerReferences": [{
            "apiVersion": rs.get("apiVersion").and_then(Value::as_str).unwrap_or("apps/v1"),
            "kind": "ReplicaSet",
            "name": rs_name,
            "uid": rs_uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }],
    });
    for field in ["labels", "annotations"] {
        if let Some(value) = template.pointer(&format!("/metadata/{field}")) {
            metadata[field] = value.clone();
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": {"phase": "Pending"},
    })
}

fn running_status(pod: &Value, ready: bool) -> Value {
    let now = meta::now_rfc3339();
    let readiness = if ready { "True" } else { "False" };
    let condition = |kind: &str, status: &str| json!({"type": kind, "status": status, "lastTransitionTime": now});
    let container_statuses: Vec<Value> = containers(pod)
        .map(|c| {
            json!({
                "name": c.get("name").cloned().unwrap_or_default(),
                "image": c.get("image").cloned().unwrap_or_default(),
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": true,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    json!({
        "phase": "Running",
        "startTime": pod.pointer("/status/startTime").cloned().unwrap_or_else(|| json!(now)),
        "conditions": [
            condition("PodScheduled", "True"),
            condition("Initialized", "True"),
            condition("ContainersReady", readiness),
            condition("Ready", readiness),
        ],
        "containerStatuses": container_statuses,
    })
}
