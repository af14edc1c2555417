//! A Service as the controller caches it: identity, annotations and the selector, which is all
//! host-split routing reads and patches. Every Service in the watched namespaces is cached, not
//! only Rollouts' (a Service carries no label to filter by), so ports, cluster IPs and status
//! are skipped on the way in. Same JSON shape as the API's `Service`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ServiceSpecSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpecSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
}

super::cached_resource!(ServiceSummary, "", "v1", "Service", "services");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_identity_annotations_and_selector_only() {
        let api = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-stable", "namespace": "shop",
                         "annotations": {"argo-rollouts.argoproj.io/managed-by-rollouts": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}],
                     "clusterIP": "10.0.0.1", "type": "ClusterIP"},
            "status": {"loadBalancer": {}}
        });
        let svc: ServiceSummary = serde_json::from_value(api.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&svc).unwrap(),
            json!({"metadata": api["metadata"], "spec": {"selector": {"app": "web"}}})
        );
    }
}
