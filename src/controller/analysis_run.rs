//! The AnalysisRun reconciler: assess (pure) which metrics are due, take those measurements
//! concurrently, book them, assess again and write the status. Secrets named by args are read
//! here, per measurement round, and never stored.

use super::capabilities::Capabilities;
use super::error::Error;
use super::events::Recorder;
use super::failures::{Attempts, Failures};
use crate::analysis::assess::{self, assess, is_completed, record, retention_for};
use crate::analysis::measure::{self, ArgValues, Settings};
use crate::analysis::providers::prometheus::metric_result_metadata;
use crate::api::analysis::AnalysisRun;
use crate::api::limits::STATUS_MESSAGE_LIMIT;
use crate::api::rollout::Rollout;
use crate::rollout::failure::{REASON_RECONCILE_ERROR, WriteFailure};
use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub struct RunContext {
    pub client: Client,
    pub recorder: Recorder,
    pub default_prometheus_address: Option<String>,
    pub error_retry: Duration,
    pub stats: Arc<super::Stats>,
    pub metrics: Arc<super::metrics::Metrics>,
    pub capabilities: Arc<Capabilities>,
    /// Where a run whose results cannot be stored is reported to its Rollout.
    pub failures: Arc<Failures>,
    pub attempts: Attempts<ObjectRef<AnalysisRun>>,
}

/// Literal args as they are; `secretKeyRef` args read from their Secret now.
async fn arg_values(
    client: &Client,
    namespace: &str,
    run: &AnalysisRun,
) -> Result<ArgValues, String> {
    let mut values = ArgValues::default();
    for arg in run.spec.args.iter().flatten() {
        if let Some(value) = &arg.value {
            values.values.insert(arg.name.clone(), value.clone());
            continue;
        }
        let Some(secret_ref) = arg
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        else {
            return Err(format!(
                "argument {:?} has no value; set value or valueFrom.secretKeyRef",
                arg.name
            ));
        };
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = secrets.get(&secret_ref.name).await.map_err(|e| {
            format!(
                "argument {:?}: cannot read Secret {namespace}/{}: {e}",
                arg.name, secret_ref.name
            )
        })?;
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&secret_ref.key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&secret_ref.key))
                    .map(|s| s.clone().into_bytes())
            })
            .ok_or_else(|| {
                format!(
                    "argument {:?}: Secret {namespace}/{} has no key {:?}",
                    arg.name, secret_ref.name, secret_ref.key
                )
            })?;
        let value = String::from_utf8(bytes).map_err(|_| {
            format!(
                "argument {:?}: Secret {namespace}/{} key {:?} is not UTF-8 text",
                arg.name, secret_ref.name, secret_ref.key
            )
        })?;
        values.secrets.push(value.clone());
        values.values.insert(arg.name.clone(), value);
    }
    Ok(values)
}

pub async fn reconcile(run: Arc<AnalysisRun>, ctx: Arc<RunContext>) -> Result<Action, Error> {
    ctx.stats
        .analysis_reconciles
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let result = reconcile_run(run.clone(), &ctx).await;
    ctx.metrics.analysis_run_reconciled(
        &run.namespace().unwrap_or_default(),
        &run.name_any(),
        started.elapsed(),
    );
    let owner = owning_rollout(&run);
    match &result {
        Ok(_) => {
            ctx.attempts.succeeded(&ObjectRef::from_obj(&*run));
            if let Some(owner) = &owner {
                ctx.failures
                    .succeeded(owner, "AnalysisRun", &run.name_any(), STATUS_VERB);
            }
        }
        Err(error) => {
            if let Some(failure) = error.write_failure() {
                report(&ctx, &run, owner, failure).await;
            }
        }
    }
    result
}

/// What writing a run's results is called in failures and RBAC.
const STATUS_VERB: &str = "patch status";

/// The Rollout that owns `run`, which shows the failures of its runs.
fn owning_rollout(run: &AnalysisRun) -> Option<ObjectRef<Rollout>> {
    let owner = run
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "Rollout")?;
    Some(ObjectRef::new(&owner.name).within(&run.namespace().unwrap_or_default()))
}

/// A run whose results could not be written: a Warning on the run, and the failure handed to
/// its Rollout, which shows it and does not advance on an unknown verdict.
async fn report(
    ctx: &RunContext,
    run: &AnalysisRun,
    owner: Option<ObjectRef<Rollout>>,
    failure: WriteFailure,
) {
    let event = Event {
        type_: EventType::Warning,
        reason: REASON_RECONCILE_ERROR.into(),
        note: Some(failure.describe()),
        action: REASON_RECONCILE_ERROR.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &run.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish AnalysisRun event");
    }
    if let Some(owner) = owner {
        ctx.failures.failed(owner, failure);
    }
}

async fn reconcile_run(run: Arc<AnalysisRun>, ctx: &RunContext) -> Result<Action, Error> {
    let namespace = run.namespace().unwrap_or_else(|| "default".to_string());
    let first = assess(&run, jiff::Timestamp::now(), ctx.error_retry);
    let mut status = first.status;
    let mut events = first.events;
    let mut requeue = first.requeue_after;
    if !first.due.is_empty() {
        let settings = Settings {
            default_prometheus_address: ctx.default_prometheus_address.as_deref(),
        };
        let args = arg_values(&ctx.client, &namespace, &run).await;
        let measurements = join_all(first.due.iter().map(|name| {
            let metric = metric_of(&run, name);
            let (args, settings) = (&args, &settings);
            async move {
                let measurement = match (metric, args) {
                    (Some(metric), Ok(args)) => measure::measure(metric, args, settings).await,
                    (_, Err(message)) => error_measurement(message.clone()),
                    (None, _) => {
                        error_measurement(format!("metric {name:?} is not in the run's spec"))
                    }
                };
                (name.clone(), measurement)
            }
        }))
        .await;
        for (name, mut measurement) in measurements {
            tracing::info!(
                analysisrun = %run.name_any(), metric = %name, phase = %measurement.phase,
                value = measurement.value.as_deref().unwrap_or(""),
                message = measurement.message.as_deref().unwrap_or(""), "measurement"
            );
            // Provider errors (a PromQL parse error, an HTML error page) can be long; the log
            // line above has the whole text.
            if let Some(message) = measurement.message.as_mut() {
                crate::api::limits::truncate_in_place(message, STATUS_MESSAGE_LIMIT);
            }
            let retention = retention_for(&run, &name);
            if let Some(result) = status
                .metric_results
                .iter_mut()
                .flatten()
                .find(|r| r.name == name)
            {
                record(result, measurement, retention);
                let query = metric_of(&run, &name).zip(args.as_ref().ok());
                if let Some(query) = query.and_then(|(m, a)| measure::resolved_query(m, a)) {
                    result
                        .metadata
                        .get_or_insert_with(Default::default)
                        .extend(metric_result_metadata(&query));
                }
            }
        }
        let mut measured = (*run).clone();
        measured.status = Some(status);
        let second = assess(&measured, jiff::Timestamp::now(), ctx.error_retry);
        status = second.status;
        events.extend(second.events);
        requeue = second.requeue_after;
    }
    if run.status.as_ref() != Some(&status) {
        write_status(ctx, &namespace, &run.name_any(), &status).await?;
        if matches!(status.phase.as_str(), assess::FAILED | assess::ERROR) {
            // The start of abort-to-safe: the Rollout reacts to this write.
            ctx.metrics.analysis_run_failed(&namespace, &run.name_any());
        }
    }
    let reference = run.object_ref(&());
    for event in events {
        let published = ctx
            .recorder
            .publish(
                &Event {
                    type_: if event.warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: event.reason.clone(),
                    note: Some(event.message),
                    action: event.reason,
                    secondary: None,
                },
                &reference,
            )
            .await;
        if let Err(e) = published {
            tracing::warn!(error = %e, "could not publish AnalysisRun event");
        }
    }
    Ok(match requeue {
        Some(after) => Action::requeue(after),
        None if is_completed(&status.phase) => Action::await_change(),
        None => Action::requeue(Duration::from_secs(60)),
    })
}

/// Replaces the run's status: through `/status` where the CRD has that subresource, else with
/// the object (Argo's CRD). The status belongs to this reconciler alone; `add /status` replaces
/// it whole without a resourceVersion, so a concurrent `spec.terminate` patch does not discard
/// measurements. A NotFound from `/status` may mean the CRDs were replaced: discovery is asked
/// again, and the write retried once the other way if that is why.
async fn write_status(
    ctx: &RunContext,
    namespace: &str,
    name: &str,
    status: &crate::api::analysis::AnalysisRunStatus,
) -> Result<(), Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/status", "value": status}]))
            .map_err(|e| Error::Internal(format!("status patch: {e}")))?;
    let api = Api::<AnalysisRun>::namespaced(ctx.client.clone(), namespace);
    let params = PatchParams::default();
    let write = |subresource: bool| {
        let (api, params, patch) = (&api, &params, Patch::<()>::Json(patch.clone()));
        async move {
            if subresource {
                api.patch_status(name, params, &patch).await.map(|_| ())
            } else {
                api.patch(name, params, &patch).await.map(|_| ())
            }
        }
    };
    let subresource = ctx.capabilities.analysis_run_status_subresource();
    let mut result = write(subresource).await;
    if matches!(&result, Err(kube::Error::Api(s)) if s.code == 404) {
        ctx.capabilities.refresh(&ctx.client).await;
        let now = ctx.capabilities.analysis_run_status_subresource();
        if now != subresource {
            result = write(now).await;
        }
    }
    match result {
        Ok(()) => Ok(()),
        // Deleted meanwhile (history limit, the Rollout's deletion): nothing left to record.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::from_kube(
            "AnalysisRun",
            STATUS_VERB,
            namespace,
            name,
            e,
        )),
    }
}

fn metric_of<'a>(run: &'a AnalysisRun, name: &str) -> Option<&'a crate::api::analysis::Metric> {
    run.spec.metrics.iter().find(|m| m.name == name)
}

fn error_measurement(message: String) -> crate::api::analysis::Measurement {
    let now = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ));
    crate::api::analysis::Measurement {
        phase: assess::ERROR.to_string(),
        message: Some(message),
        started_at: now.clone(),
        finished_at: now,
        ..Default::default()
    }
}

pub fn error_policy(run: Arc<AnalysisRun>, error: &Error, ctx: Arc<RunContext>) -> Action {
    ctx.stats
        .reconcile_errors
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let category = error.category();
    ctx.metrics.analysis_run_reconcile_error(
        &run.namespace().unwrap_or_default(),
        &run.name_any(),
        category,
    );
    let delay = ctx.attempts.failed(ObjectRef::from_obj(&*run), category);
    tracing::warn!(
        analysisrun = %run.name_any(), error = %error, category = category.as_str(),
        retry_in = ?delay, "AnalysisRun reconcile failed"
    );
    Action::requeue(delay)
}
