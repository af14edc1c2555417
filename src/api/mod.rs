//! CRD types Weir serves (Argo's `argoproj.io/v1alpha1` kinds), the Istio objects it edits, and
//! the slim view of Pods it caches.

pub mod analysis;
pub mod crds;
pub mod duration;
pub mod istio;
pub mod labels;
pub mod pod;
pub mod rollout;
mod schema;
pub mod validation;

pub use analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
pub use rollout::{Rollout, RolloutSpec, RolloutStatus};
