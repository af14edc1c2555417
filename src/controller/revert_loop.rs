//! Runs pending Git reverts recorded in Rollouts' `weir.dev/state`. A request is acted on only
//! once it is in the watch cache, i.e. persisted; the result is written back into the same
//! annotation if the request is still the same one, then Events say what happened. A result
//! that cannot be written is retried with backoff and shown on the Rollout until it is.

use super::error::Category;
use super::events::Recorder;
use super::failures::{Attempts, Failures};
use super::metrics::Metrics;
use crate::api::rollout::{GitRevertStatus, Rollout, WEIR_STATE_ANNOTATION};
use crate::gitops::commit_revert::{self, PHASE_ALREADY_REVERTED, PHASE_COMMITTED, RevertConfig};
use crate::rollout::failure::WriteFailure;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// A pass over the in-memory cache; cheap even with thousands of Rollouts.
const SCAN_INTERVAL: Duration = Duration::from_millis(100);
/// On shutdown, reverts already started get this long to push and record their result,
/// inside the Deployment's 30 s termination grace period. One cut short is safe: its request
/// is still Pending in status, and the next leader finds the pushed commit by its
/// Weir-Revert-Id instead of committing twice.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How the result is written, in failures and RBAC.
const RECORD_VERB: &str = "patch";

/// What a revert job needs besides its request.
#[derive(Clone)]
struct Worker {
    client: Client,
    recorder: Recorder,
    config: RevertConfig,
    metrics: Arc<Metrics>,
    failures: Arc<Failures>,
    /// Results that could not be written, waiting for their next attempt: only the write is
    /// retried, not the Git work.
    unrecorded: Arc<Mutex<HashMap<ObjectRef<Rollout>, Unrecorded>>>,
    /// Results just written, until the cache shows them: a scan in between would otherwise
    /// see the old request and start the same revert again.
    recorded: Arc<Mutex<HashMap<ObjectRef<Rollout>, Written>>>,
    attempts: Arc<Attempts<ObjectRef<Rollout>>>,
}

/// Longer than a watch event takes to reach the cache.
const CACHE_LAG: Duration = Duration::from_secs(10);

/// A result written, and when.
type Written = (GitRevertStatus, Instant);

struct Unrecorded {
    request: GitRevertStatus,
    next: GitRevertStatus,
    retry_at: Instant,
}

pub async fn revert_loop(
    client: Client,
    rollouts: Store<Rollout>,
    recorder: Recorder,
    config: RevertConfig,
    metrics: Arc<Metrics>,
    failures: Arc<Failures>,
    shutdown: impl Future<Output = ()>,
) {
    let worker = Worker {
        client,
        recorder,
        config,
        metrics,
        failures,
        unrecorded: Arc::default(),
        recorded: Arc::default(),
        attempts: Arc::default(),
    };
    let in_flight: Arc<Mutex<HashSet<ObjectRef<Rollout>>>> = Arc::default();
    let mut running = tokio::task::JoinSet::new();
    let scan = async {
        let mut interval = tokio::time::interval(SCAN_INTERVAL);
        loop {
            interval.tick().await;
            let now = jiff::Timestamp::now();
            for rollout in rollouts.state() {
                let Some(request) = rollout.weir_state().and_then(|w| w.git_revert) else {
                    continue;
                };
                if !commit_revert::due(&request, &worker.config, now) {
                    continue;
                }
                let key = ObjectRef::from_obj(&*rollout);
                let catching_up = worker.recorded.lock().ok().is_some_and(|mut recorded| {
                    recorded.retain(|_, (_, at)| at.elapsed() < CACHE_LAG);
                    match recorded.get(&key) {
                        Some((written, _)) if *written == request => {
                            recorded.remove(&key);
                            false
                        }
                        Some((written, _)) => written.pod_hash == request.pod_hash,
                        None => false,
                    }
                });
                if catching_up {
                    continue;
                }
                // A result already computed for this request is written again when its wait is
                // over; one for an older request is forgotten.
                let pending = worker.unrecorded.lock().ok().and_then(|mut unrecorded| {
                    match unrecorded.get(&key) {
                        Some(u) if u.request.pod_hash != request.pod_hash => {
                            unrecorded.remove(&key);
                            None
                        }
                        Some(u) => Some((u.retry_at, u.next.clone())),
                        None => None,
                    }
                });
                if pending.as_ref().is_some_and(|(at, _)| *at > Instant::now()) {
                    continue;
                }
                let claimed = in_flight
                    .lock()
                    .map(|mut set| set.insert(key.clone()))
                    .unwrap_or(false);
                if !claimed {
                    continue;
                }
                let (worker, in_flight) = (worker.clone(), in_flight.clone());
                // Reap finished jobs so the set holds only those in flight.
                while running.try_join_next().is_some() {}
                running.spawn(async move {
                    let next = match pending {
                        Some((_, next)) => next,
                        None => {
                            let next = commit_revert::run(
                                &worker.client,
                                &rollout,
                                &request,
                                &worker.config,
                            )
                            .await;
                            worker.metrics.git_revert(&next.phase);
                            next
                        }
                    };
                    worker.record(&rollout, &request, &next).await;
                    if let Ok(mut set) = in_flight.lock() {
                        set.remove(&key);
                    }
                });
            }
        }
    };
    tokio::select! {
        _ = scan => {}
        _ = shutdown => {}
    }
    if !running.is_empty() {
        tracing::info!(
            reverts = running.len(),
            "waiting for Git reverts in flight to finish"
        );
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("Git reverts still running at shutdown; the next leader resumes them");
        }
    }
}

impl Worker {
    /// Writes `next` in place of `request` and says what happened; a failed write is retried
    /// with backoff (the request is still Pending or Failed in the annotation, and the pushed
    /// commit is found again by its Weir-Revert-Id, so a retry never commits twice).
    async fn record(&self, rollout: &Rollout, request: &GitRevertStatus, next: &GitRevertStatus) {
        let key = ObjectRef::from_obj(rollout);
        let namespace = rollout.namespace().unwrap_or_else(|| "default".into());
        let written = write_result(&self.client, rollout, request, next).await;
        if written.is_ok() {
            if let Ok(mut unrecorded) = self.unrecorded.lock() {
                unrecorded.remove(&key);
            }
            if let Ok(mut recorded) = self.recorded.lock() {
                recorded.insert(key.clone(), (next.clone(), Instant::now()));
            }
        }
        match written {
            Ok(true) => {}
            // Superseded (a retry, a newer abort): this result is no longer wanted.
            Ok(false) => return,
            Err(error) => {
                let category = Category::of(&error);
                let delay = self.attempts.failed(key.clone(), category);
                if let Ok(mut unrecorded) = self.unrecorded.lock() {
                    unrecorded.insert(
                        key.clone(),
                        Unrecorded {
                            request: request.clone(),
                            next: next.clone(),
                            retry_at: Instant::now() + delay,
                        },
                    );
                }
                self.metrics
                    .rollout_reconcile_error(&namespace, &rollout.name_any(), category);
                if !category.refused() {
                    // A conflict (the reconciler wrote the Rollout meanwhile; the cache has it
                    // in a moment) or an API server that is away: only retried.
                    tracing::debug!(rollout = %rollout.name_any(), error = %error, retry_in = ?delay, "Git revert result not written; retrying");
                    return;
                }
                tracing::warn!(
                    rollout = %rollout.name_any(), error = %error, category = category.as_str(),
                    retry_in = ?delay, "could not record the Git revert result"
                );
                self.failures.failed(
                    key,
                    WriteFailure {
                        kind: "Rollout".into(),
                        namespace,
                        name: rollout.name_any(),
                        verb: RECORD_VERB.into(),
                        category,
                        message: match &error {
                            kube::Error::Api(status) => status.message.clone(),
                            other => other.to_string(),
                        },
                    },
                );
                return;
            }
        }
        self.attempts.succeeded(&key);
        self.failures
            .succeeded(&key, "Rollout", &rollout.name_any(), RECORD_VERB);
        self.announce(rollout, next).await;
    }

    async fn announce(&self, rollout: &Rollout, next: &GitRevertStatus) {
        let images = next
            .images
            .iter()
            .map(|i| format!("{} -> {}", i.bad_image, i.stable_image))
            .collect::<Vec<_>>()
            .join(", ");
        let (type_, reason, note) = match next.phase.as_str() {
            PHASE_COMMITTED | PHASE_ALREADY_REVERTED => (
                EventType::Normal,
                "GitRevertCommitted",
                format!(
                    "Reverted {images} in {}: {}",
                    next.repo.as_deref().unwrap_or("Git"),
                    next.message.as_deref().unwrap_or("")
                ),
            ),
            _ => (
                EventType::Warning,
                "GitRevertFailed",
                format!(
                    "Git revert of {images} failed (attempt {}): {}{}",
                    next.attempts.unwrap_or(1),
                    next.message.as_deref().unwrap_or("unknown error"),
                    if next.phase == commit_revert::PHASE_CONFLICT {
                        "; not retried"
                    } else {
                        "; will retry"
                    }
                ),
            ),
        };
        tracing::info!(rollout = %rollout.name_any(), reason, "{note}");
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        // The result as written, for the notifications this Event fires.
        let mut about = rollout.clone();
        if let Some(mut state) = about.weir_state() {
            state.git_revert = Some(next.clone());
            about
                .annotations_mut()
                .insert(WEIR_STATE_ANNOTATION.into(), state.to_annotation());
        }
        if let Err(e) = self.recorder.publish_about(&event, &about).await {
            tracing::warn!(error = %e, "could not publish Git revert event");
        }
    }
}

/// Puts `next` into the Rollout's state if its request is still `request` (same revision):
/// `Ok(false)` if it is not. The write is guarded by the resourceVersion of the cached Rollout
/// it was computed from; a conflict is retried from the cache at the next scan.
async fn write_result(
    client: &Client,
    rollout: &Rollout,
    request: &GitRevertStatus,
    next: &GitRevertStatus,
) -> Result<bool, kube::Error> {
    let Some(mut state) = rollout.weir_state() else {
        return Ok(false);
    };
    if state.git_revert.as_ref().map(|r| &r.pod_hash) != Some(&request.pod_hash) {
        return Ok(false);
    }
    state.git_revert = Some(next.clone());
    let patch = json!({"metadata": {
        "resourceVersion": rollout.resource_version(),
        "annotations": {WEIR_STATE_ANNOTATION: state.to_annotation()},
    }});
    Api::<Rollout>::namespaced(
        client.clone(),
        &rollout.namespace().unwrap_or_else(|| "default".into()),
    )
    .patch(
        &rollout.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(true)
}
