//! Readiness: when every cache has synced, and whether the API server answers again while a
//! watch is failing; both feed `/readyz` through [`Health`].

use super::health::Health;
use super::observe::Stores;
use crate::api::rollout::Rollout;
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// While a watch is failing, asks the API server for its version every second: the watches
/// count as live again only once it answers (see `health`).
pub(super) async fn probe_api_server(
    client: Client,
    health: Arc<Health>,
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

/// Publishes "every cache has completed its first list" to reconciles, the sweeper, metrics
/// and `/readyz`. This task is the only waiter on the stores: a store's readiness signal
/// keeps a single waker, so concurrent waiters (or a `now_or_never` probe) would steal each
/// other's wake-up and leave a reconcile asleep until its timeout.
pub(super) async fn report_synced(
    rollouts: Store<Rollout>,
    all_rollouts: Store<PartialObjectMeta<Rollout>>,
    stores: Stores,
    synced: watch::Sender<bool>,
    health: Arc<Health>,
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
