//! Runs pending Git reverts recorded in Rollout statuses. A request is acted on only once it
//! is in the watch cache, i.e. persisted; the result is written back with a JSON patch that
//! first tests the request is still the same one, then Events say what happened.

use super::events::Recorder;
use super::metrics::Metrics;
use crate::api::rollout::{GitRevertStatus, Rollout};
use crate::gitops::revert::{self, PHASE_ALREADY_REVERTED, PHASE_COMMITTED, RevertConfig};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// A pass over the in-memory cache; cheap even with thousands of Rollouts.
const SCAN_INTERVAL: Duration = Duration::from_millis(100);
/// On shutdown, reverts already started get this long to push and record their result,
/// inside the Deployment's 30 s termination grace period. One cut short is safe: its request
/// is still Pending in status, and the next leader finds the pushed commit by its
/// Weir-Revert-Id instead of committing twice.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn revert_loop(
    client: Client,
    rollouts: Store<Rollout>,
    recorder: Recorder,
    config: RevertConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let in_flight: Arc<Mutex<HashSet<ObjectRef<Rollout>>>> = Arc::default();
    let mut running = tokio::task::JoinSet::new();
    let scan = async {
        let mut interval = tokio::time::interval(SCAN_INTERVAL);
        loop {
            interval.tick().await;
            let now = jiff::Timestamp::now();
            for rollout in rollouts.state() {
                let Some(request) = rollout
                    .status
                    .as_ref()
                    .and_then(|s| s.weir.as_ref())
                    .and_then(|w| w.git_revert.clone())
                else {
                    continue;
                };
                if !revert::due(&request, &config, now) {
                    continue;
                }
                let key = ObjectRef::from_obj(&*rollout);
                let claimed = in_flight
                    .lock()
                    .map(|mut set| set.insert(key.clone()))
                    .unwrap_or(false);
                if !claimed {
                    continue;
                }
                let (client, recorder, config, in_flight, metrics) = (
                    client.clone(),
                    recorder.clone(),
                    config.clone(),
                    in_flight.clone(),
                    metrics.clone(),
                );
                // Reap finished jobs so the set holds only those in flight.
                while running.try_join_next().is_some() {}
                running.spawn(async move {
                    let next = revert::run(&client, &rollout, &request, &config).await;
                    metrics.git_revert(&next.phase);
                    record(&client, &recorder, &rollout, &request, &next).await;
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

async fn record(
    client: &Client,
    recorder: &Recorder,
    rollout: &Rollout,
    request: &GitRevertStatus,
    next: &GitRevertStatus,
) {
    let namespace = rollout.namespace().unwrap_or_else(|| "default".into());
    let patch = json!([
        {"op": "test", "path": "/status/weir/gitRevert/podHash", "value": request.pod_hash},
        {"op": "replace", "path": "/status/weir/gitRevert", "value": next},
    ]);
    let written = match serde_json::from_value::<json_patch::Patch>(patch) {
        Ok(patch) => Api::<Rollout>::namespaced(client.clone(), &namespace)
            .patch_status(
                &rollout.name_any(),
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = written {
        // The next scan retries: the request is still Pending/Failed in status.
        tracing::warn!(rollout = %rollout.name_any(), error = %e, "could not record the Git revert result");
        return;
    }
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
                if next.phase == revert::PHASE_CONFLICT {
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
    if let Err(e) = recorder.publish(&event, &rollout.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish Git revert event");
    }
}
