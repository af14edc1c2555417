//! Label and annotation keys shared with Argo Rollouts; keeping Argo's keys lets existing
//! dashboards, Argo CD health checks and `kubectl argo rollouts` read Weir's objects.

/// Label on ReplicaSets, pods, Service selectors and DestinationRule subsets.
pub const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
/// Revision number of a ReplicaSet (and the Rollout's current revision).
pub const REVISION: &str = "rollout.argoproj.io/revision";
/// Marks Services and DestinationRules whose selectors/subsets a Rollout controls.
pub const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";
/// RFC3339 time after which an old ReplicaSet may be scaled to zero.
pub const SCALE_DOWN_DEADLINE: &str = "scale-down-deadline";
/// Argo's annotation on the ReplicaSets it creates (Weir never writes it): tells a ReplicaSet
/// Argo made from one Weir made.
pub const ARGO_DESIRED_REPLICAS: &str = "rollout.argoproj.io/desired-replicas";
/// Weir's hash of the pod template, on a ReplicaSet Weir adopted from Argo under Argo's hash.
pub const WEIR_POD_TEMPLATE_HASH: &str = "weir.dev/pod-template-hash";
