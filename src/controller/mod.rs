//! Kubernetes wiring: watches feed reflector stores and their indexes (`watches`, `index`);
//! their changes trigger reconciles of the Rollouts they concern (`triggers`); each Rollout
//! reconcile observes from the stores, plans (pure), and applies (`reconcile`), and failures go
//! through `error_policy`. One watch per resource type serves the caches and the triggers of
//! every loop: the Rollout controller, the AnalysisRun controller (`analysis_run`), the Git
//! revert loop (`revert_loop`) and the sweeper of deleted Rollouts' objects (`sweeper`).

mod analysis_run;
mod apply;
mod capabilities;
pub mod cleanup;
pub mod error;
mod error_policy;
mod events;
mod failures;
mod fresh;
pub mod health;
mod index;
pub mod metrics;
pub mod observe;
pub mod process;
mod readiness;
mod reconcile;
mod revert_loop;
pub mod server;
pub mod startup;
mod sweeper;
mod triggers;
mod watches;

pub use watches::{INSTANCE_ID_LABEL, check_instance_id};

use crate::api::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use crate::api::istio::{IstioObject, destination_rule_resource, virtual_service_resource};
use crate::api::labels::POD_TEMPLATE_HASH;
use crate::api::pod::PodSummary;
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::Rollout;
use crate::api::service::ServiceSummary;
use capabilities::Capabilities;
pub use error::Error;
pub(crate) use events::Recorder;
use failures::{Attempts, Failures};
use futures::{FutureExt, StreamExt};
use index::Index;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use observe::{Stores, strip_unread};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use triggers::{Reference, Referrers};
use watches::{cache, fan_out, keep_name_only};

/// How often a settled Rollout is re-checked even without changes (Argo's resync is 15 min).
const RESYNC: Duration = Duration::from_secs(900);

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
    pub revert_settings: crate::rollout::revert_request::RevertSettings,
    /// How reverts are committed (author, message, cache, retries).
    pub revert: crate::gitops::commit_revert::RevertConfig,
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
    let (health, ns) = (&config.health, &config.namespace);
    let all = watcher::Config::default;
    // Argo's own kinds are narrowed to this controller's instance, as Argo's informers are.
    let mine = || watches::for_instance(all(), config.instance_id.as_deref());
    // Only ReplicaSets and pods of Rollouts carry the hash label: unrelated ones are never cached.
    let hashed = || all().labels(POD_TEMPLATE_HASH);

    let replica_set_index = Index::new(index::by_controller::<ReplicaSetSummary>);
    let (rs_reader, rs_writer) = reflector::store();
    let rs_stream = cache(
        api::<ReplicaSetSummary>(&client, ns),
        hashed(),
        "replicasets",
        health,
        rs_writer,
        Some(replica_set_index.clone()),
        strip_unread,
    );
    let pod_index = Index::new(index::by_owner::<PodSummary>);
    let (pod_reader, pod_writer) = reflector::store();
    // Pod changes reach Rollouts through their ReplicaSets' status; this stream only fills the store.
    let pod_stream = cache(
        api::<PodSummary>(&client, ns),
        hashed(),
        "pods",
        health,
        pod_writer,
        Some(pod_index.clone()),
        strip_unread,
    );
    let (svc_reader, svc_writer) = reflector::store();
    let svc_stream = cache(
        api::<ServiceSummary>(&client, ns),
        all(),
        "services",
        health,
        svc_writer,
        None,
        strip_unread,
    );
    let vs_writer = Writer::new(vs_resource.clone());
    let vs_reader = vs_writer.as_reader();
    let vs_stream = cache(
        dynamic_api(&client, ns, &vs_resource),
        all(),
        "virtualservices",
        health,
        vs_writer,
        None,
        strip_unread,
    );
    let dr_writer = Writer::new(dr_resource.clone());
    let dr_reader = dr_writer.as_reader();
    let dr_stream = cache(
        dynamic_api(&client, ns, &dr_resource),
        all(),
        "destinationrules",
        health,
        dr_writer,
        None,
        strip_unread,
    );
    // One AnalysisRun cache for both controllers: the Rollout controller owns the runs, the
    // AnalysisRun controller measures them.
    let analysis_run_index = Index::new(index::by_controller::<AnalysisRun>);
    let (ar_reader, ar_writer) = reflector::store();
    let (ar_watch, ar_owned, ar_measured) = fan_out(cache(
        api::<AnalysisRun>(&client, ns),
        mine(),
        "analysisruns",
        health,
        ar_writer,
        Some(analysis_run_index.clone()),
        strip_unread,
    ));
    let (at_reader, at_writer) = reflector::store();
    let at_stream = cache(
        api::<AnalysisTemplate>(&client, ns),
        mine(),
        "analysistemplates",
        health,
        at_writer,
        None,
        strip_unread,
    );
    // Namespaced installs may not read cluster-scoped objects.
    let (cat_reader, cat_stream) = match ns {
        None => {
            let (reader, writer) = reflector::store();
            let stream = cache(
                Api::<ClusterAnalysisTemplate>::all(client.clone()),
                mine(),
                "clusteranalysistemplates",
                health,
                writer,
                None,
                strip_unread,
            );
            (Some(reader), Some(stream))
        }
        Some(_) => (None, None),
    };
    let rollout_index = Index::new(triggers::reference_keys);
    let (rollouts, rollout_writer) = reflector::store();
    let rollout_stream = cache(
        api::<Rollout>(&client, ns),
        mine(),
        "rollouts",
        health,
        rollout_writer,
        Some(rollout_index.clone()),
        strip_unread,
    );
    // Every Rollout's name, whichever controller it belongs to: the sweeper restores Services
    // and DestinationRules only of Rollouts that are gone, not of another instance's. Names are
    // all it reads, so nothing else of the metadata is kept.
    let (all_rollouts, all_rollouts_writer) = reflector::store();
    let all_rollouts_stream = cache(
        api::<PartialObjectMeta<Rollout>>(&client, ns),
        all(),
        "rollouts (all instances)",
        health,
        all_rollouts_writer,
        None,
        keep_name_only,
    );

    let stores = Stores {
        pods: pod_reader,
        pod_index,
        analysis_runs: ar_reader,
        analysis_run_index,
        analysis_templates: at_reader,
        cluster_analysis_templates: cat_reader,
        replica_sets: rs_reader,
        replica_set_index,
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
    let context = Arc::new(reconcile::Context {
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
    config.metrics.attach(metrics::Sources {
        synced: synced.clone(),
        rollouts: rollouts.clone(),
        analysis_runs: stores.analysis_runs.clone(),
        analysis_templates: stores.analysis_templates.clone(),
        cluster_analysis_templates: stores.cluster_analysis_templates.clone(),
    });
    let report = readiness::report_synced(
        rollouts.clone(),
        all_rollouts.clone(),
        stores.clone(),
        synced_tx,
        config.health.clone(),
    );
    let shutdown = shutdown.shared();
    let sweeper = sweeper::cleanup_loop(
        client.clone(),
        rollouts.clone(),
        all_rollouts,
        stores.clone(),
        failures.clone(),
        synced,
        shutdown.clone(),
    );

    let referrers = Referrers {
        rollouts: rollouts.clone(),
        index: rollout_index,
    };
    let of = |reference: fn(String, String) -> Reference| {
        let referrers = referrers.clone();
        move |namespace: Option<String>, name: String| {
            referrers.of(reference(namespace.unwrap_or_default(), name))
        }
    };
    let service = of(|namespace, name| Reference::Service { namespace, name });
    let virtual_service = of(|namespace, name| Reference::VirtualService { namespace, name });
    let destination_rule = of(|namespace, name| Reference::DestinationRule { namespace, name });
    let template = of(|namespace, name| Reference::AnalysisTemplate { namespace, name });
    let cluster_template = of(|_, name| Reference::ClusterAnalysisTemplate { name });
    let mut controller = Controller::for_stream(rollout_stream, rollouts.clone())
        .reconcile_on(failure_triggers)
        .owns_stream(rs_stream)
        .owns_shared_stream(ar_owned)
        .watches_stream(at_stream, move |t: AnalysisTemplate| {
            template(t.namespace(), t.name_any())
        })
        .watches_stream(svc_stream, move |s: ServiceSummary| {
            service(s.namespace(), s.name_any())
        })
        .watches_stream_with(
            vs_stream,
            move |vs: IstioObject| virtual_service(vs.namespace(), vs.name_any()),
            vs_resource,
        )
        .watches_stream_with(
            dr_stream,
            move |dr: IstioObject| destination_rule(dr.namespace(), dr.name_any()),
            dr_resource,
        );
    if let Some(stream) = cat_stream {
        controller = controller.watches_stream(stream, move |t: ClusterAnalysisTemplate| {
            cluster_template(None, t.name_any())
        });
    }
    let controller = controller
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile::reconcile, error_policy::error_policy, context)
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
    let runs = Controller::for_shared_stream(ar_measured, stores.analysis_runs.clone())
        .with_config(
            ControllerConfig::default().concurrency(
                config
                    .analysis_concurrency
                    .unwrap_or(config.concurrency.saturating_mul(3)),
            ),
        )
        .graceful_shutdown_on(shutdown.clone())
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
        shutdown.clone(),
    );
    let reverts = revert_loop::revert_loop(
        client.clone(),
        rollouts.clone(),
        recorder,
        config.revert.clone(),
        config.metrics.clone(),
        failures,
        shutdown.clone(),
    );
    let probe =
        readiness::probe_api_server(client.clone(), config.health.clone(), shutdown.clone());
    // Watches nothing reconciles on only fill their caches.
    let fill_only = futures::future::join3(
        ar_watch,
        pod_stream.for_each(|_| futures::future::ready(())),
        all_rollouts_stream.for_each(|_| futures::future::ready(())),
    );
    let background = async move {
        tokio::select! {
            _ = futures::future::join(fill_only, report) => {}
            _ = shutdown => {}
        }
    };
    futures::join!(
        controller,
        runs,
        sweeper,
        reverts,
        notifications,
        probe,
        background
    );
    config.health.set_caches_synced(false);
}
