//! Kubernetes wiring: watches feed reflector stores; each Rollout reconcile observes from the
//! stores, plans (pure), and applies. One watch per resource type is shared by the stores and
//! the reconcile triggers.

mod analysis_run;
mod apply;
mod capabilities;
pub mod cleanup;
pub mod error;
mod events;
mod failures;
mod fresh;
mod git_revert;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod process;
pub mod server;
pub mod startup;
mod watches;

pub use watches::{INSTANCE_ID_LABEL, check_instance_id};

use crate::analysis::assess::{ERROR, FAILED};
use crate::api::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use crate::api::istio::{IstioObject, destination_rule_resource, virtual_service_resource};
use crate::api::labels::POD_TEMPLATE_HASH;
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::Rollout;
use crate::api::service::ServiceSummary;
use crate::rollout::failure::{REASON_RECONCILE_ERROR, WriteFailure};
use crate::traffic::split_vs_name;
use apply::Writer;
use capabilities::Capabilities;
pub use error::Error;
pub(crate) use events::Recorder;
use failures::{Attempts, Failures};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use observe::Stores;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a settled Rollout is re-checked even without changes (Argo's resync is 15 min).
const RESYNC: Duration = Duration::from_secs(900);
const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(60);
const CLEANUP_INTERVAL: Duration = Duration::from_secs(2);

/// Counters a caller can read while the controller runs (benchmarks, demo).
#[derive(Debug, Default)]
pub struct Stats {
    pub reconciles: std::sync::atomic::AtomicU64,
    pub analysis_reconciles: std::sync::atomic::AtomicU64,
    pub reconcile_errors: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Watch one namespace only (namespaced install); None watches all.
    pub namespace: Option<String>,
    pub istio_api_version: String,
    pub concurrency: u16,
    /// AnalysisRuns measured in parallel (Argo's `--analysis-threads`); None is three times
    /// `concurrency` (Argo's defaults are 10 and 30).
    pub analysis_concurrency: Option<u16>,
    /// Argo's `--instance-id`: reconcile only Rollouts (and measure only AnalysisRuns) labelled
    /// [`INSTANCE_ID_LABEL`] with this value; None (or empty) takes only those without the
    /// label, so several controllers can share a cluster or a namespace.
    pub instance_id: Option<String>,
    /// Name written as the reporting controller of Events.
    pub instance: String,
    /// Prometheus address for metrics that set none (Argo: ARGO_ROLLOUTS_PROMETHEUS_ADDRESS).
    pub prometheus_address: Option<String>,
    /// Wait before re-measuring after an Error measurement (Argo: 10 s).
    pub analysis_error_retry: Duration,
    /// Which aborts revert the image in Git.
    pub revert_settings: crate::rollout::gitrevert::RevertSettings,
    /// How reverts are committed (author, message, cache, retries).
    pub revert: crate::gitops::revert::RevertConfig,
    pub stats: Arc<Stats>,
    /// Prometheus series the controller records into; served by [`process::run`].
    pub metrics: Arc<metrics::Metrics>,
    /// Readiness the controller reports (caches synced) for `/readyz`.
    pub health: Arc<health::Health>,
    /// Where the notification ConfigMap and Secret are, and how notifications are delivered.
    pub notifications: crate::notifications::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            istio_api_version: crate::api::istio::DEFAULT_VERSION.to_string(),
            concurrency: 10,
            analysis_concurrency: None,
            instance_id: None,
            instance: "weir-controller".to_string(),
            prometheus_address: None,
            analysis_error_retry: crate::analysis::assess::DEFAULT_ERROR_RETRY,
            revert_settings: Default::default(),
            revert: Default::default(),
            stats: Arc::default(),
            metrics: Arc::default(),
            health: Arc::default(),
            notifications: Default::default(),
        }
    }
}

struct Context {
    /// True once every cache has completed its first list; see [`report_synced`].
    synced: watch::Receiver<bool>,
    stats: Arc<Stats>,
    metrics: Arc<metrics::Metrics>,
    revert_settings: crate::rollout::gitrevert::RevertSettings,
    client: Client,
    recorder: Recorder,
    stores: Stores,
    status_writes: fresh::StatusWrites,
    failures: Arc<Failures>,
    attempts: Attempts<ObjectRef<Rollout>>,
}

fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn dynamic_api(
    client: &Client,
    namespace: &Option<String>,
    resource: &kube::core::ApiResource,
) -> Api<IstioObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Runs the Rollout controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let vs_resource = virtual_service_resource(&config.istio_api_version);
    let dr_resource = destination_rule_resource(&config.istio_api_version);

    let health = &config.health;
    let (rs_reader, rs_writer) = reflector::store();
    // Only ReplicaSets Rollouts created carry the hash label: unrelated ones are never cached.
    let rs_watch = watches::watch(
        api::<ReplicaSetSummary>(&client, &config.namespace),
        watcher::Config::default().labels(POD_TEMPLATE_HASH),
        "replicasets",
        health,
    );
    let rs_stream = triggers(reflector(rs_writer, rs_watch).touched_objects());

    let (svc_reader, svc_writer) = reflector::store();
    let svc_watch = watches::watch(
        api::<ServiceSummary>(&client, &config.namespace),
        watcher::Config::default(),
        "services",
        health,
    );
    let svc_stream = triggers(reflector(svc_writer, svc_watch).touched_objects());

    let vs_writer = reflector::store::Writer::new(vs_resource.clone());
    let vs_reader = vs_writer.as_reader();
    let vs_watch = watches::watch(
        dynamic_api(&client, &config.namespace, &vs_resource),
        watcher::Config::default(),
        "virtualservices",
        health,
    );
    let vs_stream = triggers(reflector(vs_writer, vs_watch).touched_objects());

    let dr_writer = reflector::store::Writer::new(dr_resource.clone());
    let dr_reader = dr_writer.as_reader();
    let dr_watch = watches::watch(
        dynamic_api(&client, &config.namespace, &dr_resource),
        watcher::Config::default(),
        "destinationrules",
        health,
    );
    let dr_stream = triggers(reflector(dr_writer, dr_watch).touched_objects());

    let instance_id = config.instance_id.as_deref();
    let (ar_reader, ar_writer) = reflector::store();
    let ar_watch = watches::watch(
        api::<AnalysisRun>(&client, &config.namespace),
        watches::for_instance(watcher::Config::default(), instance_id),
        "analysisruns",
        health,
    );
    let ar_stream = triggers(reflector(ar_writer, ar_watch).touched_objects());

    let (at_reader, at_writer) = reflector::store();
    let at_watch = watches::watch(
        api::<AnalysisTemplate>(&client, &config.namespace),
        watches::for_instance(watcher::Config::default(), instance_id),
        "analysistemplates",
        health,
    );
    let at_stream = triggers(reflector(at_writer, at_watch).touched_objects());

    // Namespaced installs may not read cluster-scoped objects.
    let (cat_reader, cat_stream) = if config.namespace.is_none() {
        let (reader, writer) = reflector::store();
        let watch = watches::watch(
            Api::<ClusterAnalysisTemplate>::all(client.clone()),
            watches::for_instance(watcher::Config::default(), instance_id),
            "clusteranalysistemplates",
            health,
        );
        (
            Some(reader),
            Some(triggers(reflector(writer, watch).touched_objects())),
        )
    } else {
        (None, None)
    };

    let (pod_reader, pod_writer) = reflector::store();
    let pod_watch = watches::watch(
        api::<crate::api::pod::PodSummary>(&client, &config.namespace),
        watcher::Config::default().labels(POD_TEMPLATE_HASH),
        "pods",
        health,
    );
    // Pod changes reach Rollouts through their ReplicaSets' status; this stream only fills the store.
    let pod_stream = reflector(pod_writer, pod_watch).touched_objects();

    let stores = Stores {
        pods: pod_reader,
        analysis_runs: ar_reader,
        analysis_templates: at_reader,
        cluster_analysis_templates: cat_reader,
        replica_sets: rs_reader,
        services: svc_reader,
        virtual_services: vs_reader,
        destination_rules: dr_reader,
        virtual_service_resource: vs_resource.clone(),
        destination_rule_resource: dr_resource.clone(),
    };
    let (notifier, notifier_inbox) =
        crate::notifications::Notifier::new(&config.notifications, config.metrics.clone());
    // One for all loops: Events are keyed by the object they regard, so sharing loses nothing.
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: config.instance.clone(),
            instance: None,
        },
        config.metrics.clone(),
    )
    .with_notifier(notifier);
    let (synced_tx, synced) = watch::channel(false);
    let notifications_synced = synced.clone();
    let (failures, failure_triggers) = Failures::new();
    let failures = Arc::new(failures);
    let capabilities = Arc::new(Capabilities::default());
    capabilities.refresh(&client).await;
    let context = Arc::new(Context {
        synced: synced.clone(),
        revert_settings: config.revert_settings,
        stats: config.stats.clone(),
        metrics: config.metrics.clone(),
        client: client.clone(),
        recorder: recorder.clone(),
        stores: stores.clone(),
        status_writes: Default::default(),
        failures: failures.clone(),
        attempts: Attempts::default(),
    });

    // As Controller::new, with the cached Rollouts stripped like every other cached object.
    let (rollouts, rollout_writer) = reflector::store();
    let rollout_watch = watches::watch(
        api::<Rollout>(&client, &config.namespace),
        watches::for_instance(watcher::Config::default(), instance_id),
        "rollouts",
        health,
    );
    // Every Rollout's name, whichever controller it belongs to: the sweeper restores Services
    // and DestinationRules only of Rollouts that are gone, not of another instance's.
    let (all_rollouts, all_rollouts_writer) = reflector::store();
    let all_rollouts_stream = reflector(
        all_rollouts_writer,
        watches::watch(
            api::<PartialObjectMeta<Rollout>>(&client, &config.namespace),
            watcher::Config::default(),
            "rollouts (all instances)",
            health,
        ),
    )
    .touched_objects();
    let controller = Controller::for_stream(
        triggers(reflector(rollout_writer, rollout_watch).applied_objects()),
        rollouts.clone(),
    );
    config.metrics.attach(metrics::Sources {
        synced: synced.clone(),
        rollouts: rollouts.clone(),
        analysis_runs: stores.analysis_runs.clone(),
        analysis_templates: stores.analysis_templates.clone(),
        cluster_analysis_templates: stores.cluster_analysis_templates.clone(),
    });
    let report = report_synced(
        rollouts.clone(),
        all_rollouts.clone(),
        stores.clone(),
        synced_tx,
        config.health.clone(),
    );
    let (svc_rollouts, vs_rollouts, dr_rollouts, at_rollouts, cat_rollouts) = (
        rollouts.clone(),
        rollouts.clone(),
        rollouts.clone(),
        rollouts.clone(),
        rollouts.clone(),
    );
    let shutdown = shutdown.shared();
    let shutdown_runs = shutdown.clone();
    let shutdown_pods = shutdown.clone();
    let shutdown_all_rollouts = shutdown.clone();
    let shutdown_reverts = shutdown.clone();
    let shutdown_synced = shutdown.clone();
    let shutdown_probe = shutdown.clone();
    let shutdown_notifications = shutdown.clone();
    let sweeper = cleanup_loop(
        client.clone(),
        rollouts.clone(),
        all_rollouts,
        stores.clone(),
        failures.clone(),
        synced,
        shutdown.clone(),
    );
    let mut controller = controller
        .reconcile_on(failure_triggers)
        .owns_stream(rs_stream)
        .owns_stream(ar_stream)
        .watches_stream(at_stream, move |t: AnalysisTemplate| {
            let ns = t.namespace().unwrap_or_default();
            referencing(&at_rollouts, |r, rollout_ns| {
                rollout_ns == ns && names_template(r, &t.name_any(), false)
            })
        });
    if let Some(stream) = cat_stream {
        controller = controller.watches_stream(stream, move |t: ClusterAnalysisTemplate| {
            referencing(&cat_rollouts, |r, _| names_template(r, &t.name_any(), true))
        });
    }
    let controller = controller
        .watches_stream(svc_stream, move |svc: ServiceSummary| {
            let (name, svc_ns) = (svc.name_any(), svc.namespace().unwrap_or_default());
            referencing(&svc_rollouts, |r, ns| {
                let canary = r.spec.strategy.canary.as_ref();
                ns == svc_ns
                    && canary.is_some_and(|c| {
                        c.canary_service.as_deref() == Some(name.as_str())
                            || c.stable_service.as_deref() == Some(name.as_str())
                    })
            })
        })
        .watches_stream_with(
            vs_stream,
            move |vs: IstioObject| {
                let (name, ns) = (vs.name_any(), vs.namespace().unwrap_or_default());
                referencing(&vs_rollouts, |r, rollout_ns| {
                    istio(r).is_some_and(|i| {
                        i.virtual_service
                            .iter()
                            .chain(i.virtual_services.iter().flatten())
                            .any(|v| {
                                let (v_name, v_ns) = split_vs_name(&v.name, rollout_ns);
                                v_name == name && v_ns == ns
                            })
                    })
                })
            },
            vs_resource,
        )
        .watches_stream_with(
            dr_stream,
            move |dr: IstioObject| {
                let (name, ns) = (dr.name_any(), dr.namespace().unwrap_or_default());
                referencing(&dr_rollouts, |r, rollout_ns| {
                    rollout_ns == ns
                        && istio(r)
                            .and_then(|i| i.destination_rule.as_ref())
                            .is_some_and(|d| d.name == name)
                })
            },
            dr_resource,
        )
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not complete");
            }
        });
    let run_context = Arc::new(analysis_run::RunContext {
        client: client.clone(),
        recorder: recorder.clone(),
        default_prometheus_address: config.prometheus_address.clone(),
        error_retry: config.analysis_error_retry,
        stats: config.stats.clone(),
        metrics: config.metrics.clone(),
        capabilities,
        failures: failures.clone(),
        attempts: Attempts::default(),
    });
    let (run_cache, run_writer) = reflector::store();
    let run_watch = watches::watch(
        api::<AnalysisRun>(&client, &config.namespace),
        watches::for_instance(watcher::Config::default(), instance_id),
        "analysisruns (measured)",
        health,
    );
    let runs = Controller::for_stream(
        triggers(reflector(run_writer, run_watch).applied_objects()),
        run_cache,
    )
    .with_config(
        ControllerConfig::default().concurrency(
            config
                .analysis_concurrency
                .unwrap_or(config.concurrency.saturating_mul(3)),
        ),
    )
    .graceful_shutdown_on(shutdown_runs)
    .run(
        analysis_run::reconcile,
        analysis_run::error_policy,
        run_context,
    )
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!(error = %e, "AnalysisRun reconcile did not complete");
        }
    });
    let pods = async move {
        tokio::select! {
            _ = pod_stream.for_each(|_| futures::future::ready(())) => {}
            _ = shutdown_pods => {}
        }
    };
    let all_rollouts_task = async move {
        tokio::select! {
            _ = all_rollouts_stream.for_each(|_| futures::future::ready(())) => {}
            _ = shutdown_all_rollouts => {}
        }
    };
    let notifications = crate::notifications::run(
        client.clone(),
        notifier_inbox,
        config.notifications.clone(),
        crate::notifications::Sources {
            rollouts: rollouts.clone(),
            analysis_runs: stores.analysis_runs.clone(),
            synced: notifications_synced,
        },
        recorder.clone(),
        config.metrics.clone(),
        shutdown_notifications,
    );
    let reverts = git_revert::revert_loop(
        client.clone(),
        rollouts.clone(),
        recorder,
        config.revert.clone(),
        config.metrics.clone(),
        failures,
        shutdown_reverts,
    );
    let report = async move {
        tokio::select! {
            _ = report => {}
            _ = shutdown_synced => {}
        }
    };
    let probe = probe_api_server(client.clone(), config.health.clone(), shutdown_probe);
    futures::join!(
        controller,
        runs,
        sweeper,
        pods,
        all_rollouts_task,
        reverts,
        report,
        probe,
        notifications
    );
    config.health.set_caches_synced(false);
}

/// While a watch is failing, asks the API server for its version every second: the watches
/// count as live again only once it answers (see `health`).
async fn probe_api_server(
    client: Client,
    health: Arc<health::Health>,
    shutdown: impl Future<Output = ()>,
) {
    let probe = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if health.watches_failing() && client.apiserver_version().await.is_ok() {
                health.api_answered();
            }
        }
    };
    tokio::select! {
        _ = probe => {}
        _ = shutdown => {}
    }
}

/// A watch's objects as reconcile triggers. Its failures are left out: the watch reports them
/// to /readyz and reconnects on its own backoff, and a failure reaching the controller's trigger
/// stream would pause every trigger (kube backs off the whole stream, up to 30 s).
fn triggers<K: Send>(
    stream: impl futures::Stream<Item = Result<K, watcher::Error>> + Send,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send {
    stream.filter(|item| futures::future::ready(item.is_ok()))
}

/// Publishes "every cache has completed its first list" to reconciles, the sweeper, metrics
/// and `/readyz`. This task is the only waiter on the stores: a store's readiness signal
/// keeps a single waker, so concurrent waiters (or a `now_or_never` probe) would steal each
/// other's wake-up and leave a reconcile asleep until its timeout.
async fn report_synced(
    rollouts: Store<Rollout>,
    all_rollouts: Store<PartialObjectMeta<Rollout>>,
    stores: Stores,
    synced: watch::Sender<bool>,
    health: Arc<health::Health>,
) {
    let _ = rollouts.wait_until_ready().await;
    let _ = all_rollouts.wait_until_ready().await;
    let _ = stores.replica_sets.wait_until_ready().await;
    let _ = stores.services.wait_until_ready().await;
    let _ = stores.virtual_services.wait_until_ready().await;
    let _ = stores.destination_rules.wait_until_ready().await;
    let _ = stores.analysis_runs.wait_until_ready().await;
    let _ = stores.pods.wait_until_ready().await;
    let _ = stores.analysis_templates.wait_until_ready().await;
    if let Some(cluster) = &stores.cluster_analysis_templates {
        let _ = cluster.wait_until_ready().await;
    }
    let _ = synced.send(true);
    health.set_caches_synced(true);
    tracing::info!("caches synced");
}

/// Whether the Rollout's steps or background analysis name this template.
fn names_template(rollout: &Rollout, name: &str, cluster: bool) -> bool {
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return false;
    };
    canary
        .steps
        .iter()
        .flatten()
        .filter_map(|s| s.analysis.as_ref())
        .chain(canary.analysis.as_ref().map(|b| &b.analysis))
        .flat_map(|a| a.templates.iter().flatten())
        .any(|t| t.template_name == name && t.cluster_scope.unwrap_or(false) == cluster)
}

fn istio(rollout: &Rollout) -> Option<&crate::api::rollout::IstioTrafficRouting> {
    rollout
        .spec
        .strategy
        .canary
        .as_ref()?
        .traffic_routing
        .as_ref()?
        .istio
        .as_ref()
}

/// Rollouts for which `matches(rollout, rollout_namespace)` holds. Linear in Rollouts; runs only
/// on Service/VirtualService/DestinationRule changes.
fn referencing(
    rollouts: &Store<Rollout>,
    matches: impl Fn(&Rollout, &str) -> bool,
) -> Vec<ObjectRef<Rollout>> {
    rollouts
        .state()
        .iter()
        .filter(|r| matches(r, r.metadata.namespace.as_deref().unwrap_or_default()))
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

async fn reconcile(rollout: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action, Error> {
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

/// Retries with backoff per Rollout: quickly after a conflict (fresh state is one watch event
/// away), further apart for failures a person has to fix.
fn error_policy(rollout: Arc<Rollout>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.stats
        .reconcile_errors
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let category = error.category();
    ctx.metrics.rollout_reconcile_error(
        &rollout.namespace().unwrap_or_default(),
        &rollout.name_any(),
        category,
    );
    let delay = ctx
        .attempts
        .failed(ObjectRef::from_obj(&*rollout), category);
    if category == error::Category::Conflict {
        tracing::debug!(rollout = %rollout.name_any(), error = %error, retry_in = ?delay, "re-planning");
    } else {
        tracing::warn!(
            rollout = %rollout.name_any(), error = %error, category = category.as_str(),
            retry_in = ?delay, "reconcile failed"
        );
    }
    Action::requeue(delay)
}

async fn cleanup_loop(
    client: Client,
    rollouts: Store<Rollout>,
    all_rollouts: Store<PartialObjectMeta<Rollout>>,
    stores: Stores,
    failures: Arc<Failures>,
    synced: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let sweep = async {
        let mut interval = tokio::time::interval(CLEANUP_INTERVAL);
        loop {
            interval.tick().await;
            if !*synced.borrow() {
                continue;
            }
            failures.retain(|rollout| rollouts.get(rollout).is_some());
            let services = stores.services.state();
            let drs = stores.destination_rules.state();
            let restores = cleanup::orphan_restores(
                services.iter().map(|s| &**s),
                drs.iter().map(|d| &**d),
                |ns, name| all_rollouts.get(&ObjectRef::new(name).within(ns)).is_some(),
            );
            for restore in restores {
                let result = match &restore {
                    cleanup::Restore::Service {
                        namespace,
                        name,
                        patch,
                    } => Api::<Service>::namespaced(client.clone(), namespace)
                        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .map(|_| ()),
                    cleanup::Restore::DestinationRule {
                        namespace,
                        name,
                        patch,
                    } => Api::<DynamicObject>::namespaced_with(
                        client.clone(),
                        namespace,
                        &stores.destination_rule_resource,
                    )
                    .patch(
                        name,
                        &PatchParams::default(),
                        &Patch::<()>::Json(patch.clone()),
                    )
                    .await
                    .map(|_| ()),
                };
                match result {
                    Ok(()) => tracing::info!(?restore, "restored object of a deleted Rollout"),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not restore object of a deleted Rollout")
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = sweep => {}
        _ = shutdown => {}
    }
}
