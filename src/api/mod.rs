//! CRD types Weir serves (Argo's `argoproj.io/v1alpha1` kinds), the Istio objects it edits, and
//! the slim views of Pods, ReplicaSets and Services it caches.

pub mod analysis;
pub mod crds;
pub mod duration;
pub mod istio;
pub mod labels;
pub mod limits;
pub mod pod;
pub mod pod_template;
pub mod replica_set;
pub mod rollout;
mod schema;
pub mod service;
pub mod validation;

pub use analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
pub use rollout::{Rollout, RolloutSpec, RolloutStatus};

/// Makes a slim cached view of a built-in kind a `kube::Resource`, so it can be watched and
/// stored like the API type it summarizes.
macro_rules! cached_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = if $group.is_empty() {
                $version
            } else {
                concat!($group, "/", $version)
            };
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::NamespaceResourceScope;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}
use cached_resource;
