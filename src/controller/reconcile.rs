//! One Rollout reconcile: observe from the caches, plan (pure), apply; a write the apply could
//! not make is shown on the Rollout (condition and Event) before the error policy retries.

use super::apply::{self, Writer};
use super::events::Recorder;
use super::failures::{Attempts, Failures};
use super::{Error, RESYNC, Stats, fresh, metrics, observe};
use crate::analysis::assess::{ERROR, FAILED};
use crate::api::rollout::Rollout;
use crate::rollout::failure::{REASON_RECONCILE_ERROR, WriteFailure};
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use observe::Stores;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// What every Rollout reconcile shares.
pub(super) struct Context {
    /// True once every cache has completed its first list; see [`report_synced`].
    pub(super) synced: watch::Receiver<bool>,
    pub(super) stats: Arc<Stats>,
    pub(super) metrics: Arc<metrics::Metrics>,
    pub(super) revert_settings: crate::rollout::revert_request::RevertSettings,
    pub(super) client: Client,
    pub(super) recorder: Recorder,
    pub(super) stores: Stores,
    pub(super) status_writes: fresh::StatusWrites,
    pub(super) failures: Arc<Failures>,
    pub(super) attempts: Attempts<ObjectRef<Rollout>>,
}

pub(super) async fn reconcile(rollout: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.stats
        .reconciles
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let result = reconcile_rollout(&rollout, &ctx, started).await;
    ctx.metrics.rollout_reconciled(
        &rollout.namespace().unwrap_or_default(),
        &rollout.name_any(),
        started.elapsed(),
    );
    match &result {
        Ok(_) => ctx.attempts.succeeded(&ObjectRef::from_obj(&*rollout)),
        Err(error) => {
            if let Some(failure) = error.write_failure() {
                report_failure(&rollout, &failure, &ctx).await;
            }
        }
    }
    result
}

/// Shows a write this reconcile could not make on the Rollout right away: its condition (if
/// that changed; the status write is the only one a failing apply still makes) and a Warning
/// Event, which repeats join as a series. The next plan whose writes all succeed clears it.
async fn report_failure(rollout: &Rollout, failure: &WriteFailure, ctx: &Context) {
    let namespace = rollout.namespace().unwrap_or_else(|| "default".into());
    let mut status = rollout.status.clone().unwrap_or_default();
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    // Where status itself cannot be written, the Event is all there is.
    let status_writable = !(failure.kind == "Rollout" && failure.verb == apply::STATUS_VERB);
    if status_writable && crate::rollout::failure::report(&mut status, failure, &now) {
        let mut updated = rollout.clone();
        updated.status = Some(status);
        let written = Api::<Rollout>::namespaced(ctx.client.clone(), &namespace)
            .replace_status(&rollout.name_any(), &PostParams::default(), &updated)
            .await;
        if let Err(e) = written {
            tracing::warn!(rollout = %rollout.name_any(), error = %e, "could not show the failure in the Rollout's status");
        }
    }
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: REASON_RECONCILE_ERROR.into(),
        note: Some(failure.describe()),
        action: REASON_RECONCILE_ERROR.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &rollout.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish the failure event");
    }
}

async fn reconcile_rollout(
    rollout: &Rollout,
    ctx: &Context,
    started: std::time::Instant,
) -> Result<Action, Error> {
    let stores = &ctx.stores;
    let mut synced = ctx.synced.clone();
    match tokio::time::timeout(CACHE_SYNC_TIMEOUT, synced.wait_for(|s| *s)).await {
        Ok(Ok(_)) => {}
        _ => return Err(Error::CacheNotReady(CACHE_SYNC_TIMEOUT)),
    }
    if ctx
        .status_writes
        .is_stale(rollout, std::time::Instant::now())
    {
        // The Rollout watch event of that write triggers the next reconcile; this is a fallback.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let mut observed = observe::observe(rollout, stores);
    observed.revert_settings = ctx.revert_settings;
    observed.write_failures = ctx.failures.for_rollout(&ObjectRef::from_obj(rollout));
    let plan = crate::rollout::plan(rollout, &observed, jiff::Timestamp::now());
    let span = tracing::info_span!(
        "reconcile",
        namespace = %rollout.namespace().unwrap_or_default(),
        rollout = %rollout.name_any(),
        revision = plan.status.current_pod_hash.as_deref().unwrap_or(""),
        step = plan.status.current_step_index.unwrap_or(0),
    );
    let _enter = span.enter();
    for event in &plan.events {
        tracing::info!(reason = %event.reason, "{}", event.message);
    }
    drop(_enter);
    let writer = Writer {
        client: &ctx.client,
        recorder: &ctx.recorder,
        virtual_service_resource: &stores.virtual_service_resource,
        destination_rule_resource: &stores.destination_rule_resource,
    };
    let writes = writer.apply(rollout, &plan).await?;
    if writes.status > 0 {
        ctx.status_writes.replaced(
            rollout,
            writes.state_written_at.clone(),
            std::time::Instant::now(),
        );
    }
    if let Some(safe_at) = writes.traffic_safe_at {
        let failed = observed
            .analysis_runs
            .iter()
            .filter(|r| {
                r.status
                    .as_ref()
                    .is_some_and(|s| matches!(s.phase.as_str(), FAILED | ERROR))
            })
            .map(|r| r.name_any());
        ctx.metrics.traffic_safe(
            &rollout.namespace().unwrap_or_default(),
            failed,
            started,
            safe_at,
        );
    }
    Ok(Action::requeue(
        plan.requeue_after.map_or(RESYNC, |d| d.min(RESYNC)),
    ))
}
