//! The loop that gives back what deleted Rollouts changed: Services and DestinationRules whose
//! Rollout is gone get their selector and subsets restored (decided by `cleanup`).

use super::cleanup;
use super::failures::Failures;
use super::observe::Stores;
use crate::api::rollout::Rollout;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const CLEANUP_INTERVAL: Duration = Duration::from_secs(2);

pub(super) async fn cleanup_loop(
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
