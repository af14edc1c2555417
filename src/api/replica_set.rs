//! A ReplicaSet as the controller caches it. Planning reads a ReplicaSet's identity, labels,
//! annotations, owner, replica counts and, for Git reverts, its containers' images; nothing
//! else of the pod template. The API's `ReplicaSet` keeps a full `PodSpec` and `Container`s
//! inline (over 4 KiB per object before any string), which made it the largest cache; this
//! type has the same JSON shape with only the read fields, so serde skips the rest on the way
//! in and field paths read the same as on the API type.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSetSummary {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ReplicaSetSpecSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplicaSetStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSetSpecSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodTemplateSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpecSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecSummary {
    #[serde(default)]
    pub containers: Vec<ContainerImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<ContainerImage>>,
}

/// A container's name and image: what a Git revert needs from the stable ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerImage {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl From<&ReplicaSet> for ReplicaSetSummary {
    /// The summary the cache would hold for `rs` (through JSON, so both paths agree).
    fn from(rs: &ReplicaSet) -> Self {
        serde_json::to_value(rs)
            .and_then(serde_json::from_value)
            .expect("a ReplicaSet's JSON has the summary's shape")
    }
}

impl ReplicaSetSummary {
    /// (container, image) of the pod template, init containers first.
    pub fn images(&self) -> Vec<(String, String)> {
        self.spec
            .iter()
            .filter_map(|s| s.template.as_ref()?.spec.as_ref())
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect()
    }
}

super::cached_resource!(ReplicaSetSummary, "apps", "v1", "ReplicaSet", "replicasets");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_identity_counts_and_images_only() {
        let api = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "web-abc",
                "namespace": "shop",
                "labels": {"rollouts-pod-template-hash": "abc"},
                "annotations": {"rollout.argoproj.io/revision": "2"},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                     "name": "web", "uid": "r-1", "controller": true}]
            },
            "spec": {
                "replicas": 3,
                "minReadySeconds": 5,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "initContainers": [{"name": "init", "image": "busybox:1"}],
                        "containers": [{"name": "app", "image": "app:v1",
                                        "env": [{"name": "A", "value": "1"}],
                                        "ports": [{"containerPort": 8080}]}],
                        "volumes": [{"name": "v", "emptyDir": {}}]
                    }
                }
            },
            "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 1}
        });
        let rs: ReplicaSetSummary = serde_json::from_value(api.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&rs).unwrap(),
            json!({
                "metadata": api["metadata"],
                "spec": {
                    "replicas": 3,
                    "template": {"spec": {
                        "initContainers": [{"name": "init", "image": "busybox:1"}],
                        "containers": [{"name": "app", "image": "app:v1"}]
                    }}
                },
                "status": api["status"]
            })
        );
        assert_eq!(
            rs.images(),
            [("init", "busybox:1"), ("app", "app:v1")].map(|(c, i)| (c.into(), i.into()))
        );
        let full: ReplicaSet = serde_json::from_value(api).unwrap();
        assert_eq!(ReplicaSetSummary::from(&full), rs);
    }
}
