//! observe: reads what one Rollout's plan needs from the reflector stores. No writes, no
//! API calls: the stores are filled by the watches the controller runs.

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

#[derive(Clone)]
pub struct Stores {
    /// Pods carrying the pod-template-hash label (the pods of Rollout ReplicaSets).
    pub pods: Store<PodSummary>,
    pub analysis_runs: Store<AnalysisRun>,
    pub analysis_templates: Store<AnalysisTemplate>,
    /// None in namespaced mode, which may not read cluster-scoped objects.
    pub cluster_analysis_templates: Option<Store<ClusterAnalysisTemplate>>,
    pub replica_sets: Store<ReplicaSetSummary>,
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

/// Objects in `namespace` whose controlling owner is the object with `uid`.
fn owned<K>(store: &Store<K>, namespace: &str, uid: Option<&str>) -> Vec<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .state()
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
        .filter(|o| {
            o.owner_references()
                .iter()
                .any(|r| r.controller == Some(true) && Some(r.uid.as_str()) == uid)
        })
        .map(|o| (*o).clone())
        .collect()
}

pub fn observe(rollout: &Rollout, stores: &Stores) -> Observed {
    let namespace = rollout.namespace().unwrap_or_else(|| "default".to_string());
    let uid = rollout.uid();
    let replica_sets = owned(&stores.replica_sets, &namespace, uid.as_deref());
    let analysis_runs = owned(&stores.analysis_runs, &namespace, uid.as_deref());
    let mut observed = Observed {
        replica_sets,
        analysis_runs,
        ..Default::default()
    };
    let rs_uids: Vec<String> = observed
        .replica_sets
        .iter()
        .filter_map(|rs| rs.metadata.uid.clone())
        .collect();
    observed.pods = stores
        .pods
        .state()
        .into_iter()
        .filter(|pod| pod.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|pod| {
            pod.owner_references()
                .iter()
                .any(|o| rs_uids.contains(&o.uid))
        })
        .map(|pod| (*pod).clone())
        .collect();
    observed.templates.namespaced = stores
        .analysis_templates
        .state()
        .into_iter()
        .filter(|t| t.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .map(|t| (t.name_any(), (*t).clone()))
        .collect();
    if let Some(cluster) = &stores.cluster_analysis_templates {
        observed.templates.cluster = cluster
            .state()
            .into_iter()
            .map(|t| (t.name_any(), (*t).clone()))
            .collect();
    }
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
