//! observe: reads what one Rollout's plan needs from the reflector stores, through indexes and
//! lookups by name, so its cost follows the Rollout's own objects, not the cluster's. No writes,
//! no API calls: the stores are filled by the watches the controller runs.

use super::index::{self, Index};
use super::triggers::templates_named;
use crate::analysis::template::Templates;
use crate::api::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use crate::api::istio::IstioObject;
use crate::api::pod::PodSummary;
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::Rollout;
use crate::api::service::ServiceSummary;
use crate::rollout::Observed;
use crate::traffic::split_vs_name;
use kube::ResourceExt;
use kube::core::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;

#[derive(Clone)]
pub struct Stores {
    /// Pods carrying the pod-template-hash label (the pods of Rollout ReplicaSets).
    pub pods: Store<PodSummary>,
    pub analysis_runs: Store<AnalysisRun>,
    pub analysis_templates: Store<AnalysisTemplate>,
    /// None in namespaced mode, which may not read cluster-scoped objects.
    pub cluster_analysis_templates: Option<Store<ClusterAnalysisTemplate>>,
    pub replica_sets: Store<ReplicaSetSummary>,
    /// The ReplicaSets by controlling owner (Rollout uid).
    pub replica_set_index: Index<ReplicaSetSummary>,
    /// The pods by owner (ReplicaSet uid).
    pub pod_index: Index<PodSummary>,
    /// The AnalysisRuns by controlling owner (Rollout uid).
    pub analysis_run_index: Index<AnalysisRun>,
    pub services: Store<ServiceSummary>,
    pub virtual_services: Store<IstioObject>,
    pub destination_rules: Store<IstioObject>,
    pub virtual_service_resource: ApiResource,
    pub destination_rule_resource: ApiResource,
}

/// The `kubectl apply` annotation: a copy of the whole object as last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what Weir never reads from a watched object before it is cached: its managed fields
/// and `kubectl apply`'s copy of it, often most of an object's bytes on a real API server.
/// Managed fields become absent, not empty: the cached Rollout is sent back on status writes,
/// and an empty list there would clear the object's field ownership.
pub fn strip_unread<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// The cached objects whose controlling owner has `uid`, found through `index`.
fn owned<K>(store: &Store<K>, index: &Index<K>, uid: &str) -> Vec<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    index.lookup(store, index::owner_key(uid), |o| {
        index::owned_by(o, uid, true)
    })
}

pub fn observe(rollout: &Rollout, stores: &Stores) -> Observed {
    let namespace = rollout.namespace().unwrap_or_else(|| "default".to_string());
    let uid = rollout.uid().unwrap_or_default();
    let replica_sets = owned(&stores.replica_sets, &stores.replica_set_index, &uid);
    let mut observed = Observed {
        analysis_runs: owned(&stores.analysis_runs, &stores.analysis_run_index, &uid),
        ..Default::default()
    };
    for rs in &replica_sets {
        let rs_uid = rs.metadata.uid.as_deref().unwrap_or_default();
        observed.pods.extend(stores.pod_index.lookup(
            &stores.pods,
            index::owner_key(rs_uid),
            |pod| index::owned_by(pod, rs_uid, false),
        ));
    }
    observed.replica_sets = replica_sets;
    observed.templates = templates(rollout, &namespace, stores);
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return observed;
    };
    for name in [&canary.canary_service, &canary.stable_service]
        .into_iter()
        .flatten()
    {
        if let Some(svc) = stores
            .services
            .get(&ObjectRef::new(name).within(&namespace))
        {
            observed.services.insert(name.clone(), (*svc).clone());
        }
    }
    let Some(istio) = canary
        .traffic_routing
        .as_ref()
        .and_then(|r| r.istio.as_ref())
    else {
        return observed;
    };
    for vs in istio
        .virtual_service
        .iter()
        .chain(istio.virtual_services.iter().flatten())
    {
        let (name, vs_namespace) = split_vs_name(&vs.name, &namespace);
        let key = ObjectRef::new_with(&name, stores.virtual_service_resource.clone())
            .within(&vs_namespace);
        if let Some(object) = stores.virtual_services.get(&key)
            && let Ok(value) = object.to_value()
        {
            observed
                .virtual_services
                .insert((name, vs_namespace), value);
        }
    }
    if let Some(dr) = &istio.destination_rule {
        let key = ObjectRef::new_with(&dr.name, stores.destination_rule_resource.clone())
            .within(&namespace);
        observed.destination_rule = stores
            .destination_rules
            .get(&key)
            .and_then(|object| object.to_value().ok());
    }
    observed
}

/// The templates the Rollout names and those they include through `spec.templates`, each
/// looked up by name; a missing one is left out for validation to report.
fn templates(rollout: &Rollout, namespace: &str, stores: &Stores) -> Templates {
    let mut found = Templates::default();
    let mut wanted = templates_named(rollout);
    while let Some((name, cluster)) = wanted.pop() {
        let nested = if cluster {
            if found.cluster.contains_key(&name) {
                continue;
            }
            let Some(template) = stores
                .cluster_analysis_templates
                .as_ref()
                .and_then(|s| s.get(&ObjectRef::new(&name)))
            else {
                continue;
            };
            let nested = template.spec.template.templates.clone();
            found.cluster.insert(name, (*template).clone());
            nested
        } else {
            if found.namespaced.contains_key(&name) {
                continue;
            }
            let Some(template) = stores
                .analysis_templates
                .get(&ObjectRef::new(&name).within(namespace))
            else {
                continue;
            };
            let nested = template.spec.templates.clone();
            found.namespaced.insert(name, (*template).clone());
            nested
        };
        wanted.extend(
            nested
                .into_iter()
                .flatten()
                .map(|t| (t.template_name, t.cluster_scope.unwrap_or(false))),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_unread_keeps_what_weir_reads() {
        let mut rs: ReplicaSetSummary = serde_json::from_value(json!({
            "metadata": {
                "name": "web-abc",
                "annotations": {LAST_APPLIED: "{}", "rollout.argoproj.io/revision": "2"},
                "managedFields": [{"manager": "weir", "operation": "Update"}]
            },
            "spec": {"replicas": 2, "selector": {}}
        }))
        .unwrap();
        strip_unread(&mut rs);
        assert_eq!(
            rs.metadata.managed_fields, None,
            "absent, not an empty list"
        );
        assert_eq!(
            serde_json::to_value(&rs.metadata).unwrap(),
            json!({"name": "web-abc", "annotations": {"rollout.argoproj.io/revision": "2"}})
        );
        assert_eq!(rs.spec.unwrap().replicas, Some(2));
    }
}
