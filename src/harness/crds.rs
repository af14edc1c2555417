//! The CRDs a harness can start with, bundled as published: Weir's generated `crds/crds.yaml`,
//! Argo Rollouts' own (v1.8.4, as a cluster that ran Argo keeps them) and Istio's networking
//! CRDs. Each is parsed once per process; the test fixtures live in `tests/fixtures/`.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

/// Weir's CRDs (Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun).
pub const WEIR_YAML: &str = include_str!("../../crds/crds.yaml");
/// Argo Rollouts' CRDs at v1.8.4, unmodified.
pub const ARGO_ROLLOUTS_YAML: &str =
    include_str!("../../tests/fixtures/argo-rollouts-crds-v1.8.4.yaml");
/// Istio's VirtualService and DestinationRule CRDs (v1, v1beta1, v1alpha3), unmodified.
pub const ISTIO_YAML: &str = include_str!("../../tests/fixtures/istio-networking-crds.yaml");

static WEIR: LazyLock<Vec<Value>> = LazyLock::new(|| documents(WEIR_YAML));
static ARGO_ROLLOUTS: LazyLock<Vec<Value>> = LazyLock::new(|| documents(ARGO_ROLLOUTS_YAML));
static ISTIO: LazyLock<Vec<Value>> = LazyLock::new(|| documents(ISTIO_YAML));

pub(crate) fn weir() -> &'static [Value] {
    &WEIR
}

pub(crate) fn argo_rollouts() -> &'static [Value] {
    &ARGO_ROLLOUTS
}

pub(crate) fn istio() -> &'static [Value] {
    &ISTIO
}

/// The YAML's documents; the bundled files are checked by the tests below, so a document that
/// does not parse cannot ship.
fn documents(yaml: &str) -> Vec<Value> {
    yaml_serde::Deserializer::from_str(yaml)
        .filter_map(|document| Value::deserialize(document).ok())
        .filter(|document| !document.is_null())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_crds_parse_completely() {
        let kinds = |docs: &[Value]| -> Vec<String> {
            docs.iter()
                .map(|d| {
                    d["spec"]["names"]["kind"]
                        .as_str()
                        .unwrap_or("?")
                        .to_string()
                })
                .collect()
        };
        assert_eq!(
            kinds(weir()),
            [
                "Rollout",
                "AnalysisTemplate",
                "ClusterAnalysisTemplate",
                "AnalysisRun"
            ]
        );
        assert_eq!(
            kinds(argo_rollouts()),
            [
                "Rollout",
                "AnalysisRun",
                "AnalysisTemplate",
                "ClusterAnalysisTemplate",
                "Experiment"
            ]
        );
        assert_eq!(kinds(istio()), ["DestinationRule", "VirtualService"]);
        for yaml in [WEIR_YAML, ARGO_ROLLOUTS_YAML, ISTIO_YAML] {
            assert!(
                yaml_serde::Deserializer::from_str(yaml)
                    .all(|document| Value::deserialize(document).is_ok())
            );
        }
    }
}
