//! A Pod as the controller caches it. The pod cache exists only for `spec.restartAt`, which
//! needs each pod's identity, owner, age, pod-template hash and readiness. Deserializing the
//! API's Pod JSON into this type skips the spec and the rest of the status instead of storing
//! them: a full `Pod` per replica was the largest cache the controller held. The one label read
//! is kept outside the metadata: a label map is a B-tree node of about 540 bytes however few
//! labels it holds, and pods (Istio's among them) carry many labels nothing here reads.

use super::labels::POD_TEMPLATE_HASH;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "PodJson")]
pub struct PodSummary {
    /// Without labels, annotations and managed fields, which nothing reads.
    pub metadata: ObjectMeta,
    /// The pod's `rollouts-pod-template-hash` label.
    pub pod_template_hash: Option<String>,
    /// The pod's `Ready` condition is `True`.
    pub ready: bool,
}

/// The parts of a Pod's JSON that are read; serde skips every other field.
#[derive(Deserialize)]
struct PodJson {
    metadata: ObjectMeta,
    status: Option<StatusJson>,
}

#[derive(Deserialize)]
struct StatusJson {
    conditions: Option<Vec<ConditionJson>>,
}

#[derive(Deserialize)]
struct ConditionJson {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

impl From<PodJson> for PodSummary {
    fn from(pod: PodJson) -> Self {
        let mut metadata = pod.metadata;
        let pod_template_hash = metadata
            .labels
            .take()
            .and_then(|mut labels| labels.remove(POD_TEMPLATE_HASH));
        metadata.annotations = None;
        metadata.managed_fields = None;
        let ready = pod
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        PodSummary {
            metadata,
            pod_template_hash,
            ready,
        }
    }
}

super::cached_resource!(PodSummary, "", "v1", "Pod", "pods");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_identity_and_readiness_only() {
        let pod: PodSummary = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-abc-1",
                "namespace": "default",
                "labels": {"rollouts-pod-template-hash": "abc", "app": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubelet", "operation": "Update"}],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": "web-abc", "uid": "rs-1", "controller": true}]
            },
            "spec": {"containers": [{"name": "app", "image": "app:v1"}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "ContainersReady", "status": "True"},
                {"type": "Ready", "status": "True"}
            ]}
        }))
        .unwrap();
        assert!(pod.ready);
        assert_eq!(pod.metadata.name.as_deref(), Some("web-abc-1"));
        assert_eq!(
            pod.metadata.owner_references.as_ref().unwrap()[0].uid,
            "rs-1"
        );
        assert_eq!(pod.pod_template_hash.as_deref(), Some("abc"));
        assert_eq!(pod.metadata.labels, None);
        assert_eq!(pod.metadata.annotations, None);
        assert_eq!(pod.metadata.managed_fields, None);
    }

    #[test]
    fn not_ready_without_a_true_ready_condition() {
        for status in [
            json!(null),
            json!({"phase": "Pending"}),
            json!({"conditions": [{"type": "Ready", "status": "False"}]}),
            json!({"conditions": [{"type": "ContainersReady", "status": "True"}]}),
        ] {
            let pod: PodSummary =
                serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status}))
                    .unwrap();
            assert!(!pod.ready, "{status}");
        }
    }
}
