//! What the installed CRDs offer, read from discovery, so writes go where the cluster accepts
//! them. Weir's CRDs give AnalysisRuns a status subresource; Argo Rollouts' own CRDs (which a
//! cluster migrating from Argo keeps) do not, and there a `/status` write is a NotFound while
//! status is written with the object itself. Discovery needs no RBAC rule: every
//! authenticated user may read it.

use kube::Client;
use kube::core::GroupVersion;
use kube::discovery::{self, ApiCapabilities, ApiResource};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub struct Capabilities {
    analysis_run_status: AtomicBool,
}

impl Default for Capabilities {
    /// Until discovery answers: Weir's own CRDs.
    fn default() -> Self {
        Self {
            analysis_run_status: AtomicBool::new(true),
        }
    }
}

/// Whether `plural` is served with a `status` subresource, in discovery's answer.
fn has_status(resources: &[(ApiResource, ApiCapabilities)], plural: &str) -> Option<bool> {
    resources
        .iter()
        .find(|(resource, _)| resource.plural == plural)
        .map(|(_, caps)| {
            caps.subresources
                .iter()
                .any(|(sub, _)| sub.plural == "status")
        })
}

impl Capabilities {
    /// Whether AnalysisRun status is written through `/status`.
    pub fn analysis_run_status_subresource(&self) -> bool {
        self.analysis_run_status.load(Ordering::Relaxed)
    }

    /// Asks discovery again (at start, and when a `/status` write meets a NotFound, as after
    /// the CRDs were replaced). Keeps what it knew when discovery cannot be read.
    pub async fn refresh(&self, client: &Client) {
        let version = GroupVersion::gv("argoproj.io", "v1alpha1");
        match discovery::pinned_group(client, &version).await {
            Ok(group) => {
                let resources = group.versioned_resources("v1alpha1");
                match has_status(&resources, "analysisruns") {
                    Some(status) => {
                        let before = self.analysis_run_status.swap(status, Ordering::Relaxed);
                        if before != status || !status {
                            tracing::info!(
                                status_subresource = status,
                                "AnalysisRun status is written {}",
                                if status {
                                    "through the status subresource"
                                } else {
                                    "with the object: the installed CRD has no status \
                                     subresource (Argo Rollouts' CRDs)"
                                }
                            );
                        }
                    }
                    None => tracing::warn!(
                        "argoproj.io/v1alpha1 serves no analysisruns: install Weir's CRDs \
                         (kubectl apply --server-side -k crds) or keep Argo Rollouts' CRDs"
                    ),
                }
            }
            Err(error) => tracing::warn!(
                %error,
                "cannot read discovery for argoproj.io/v1alpha1; assuming AnalysisRuns have a \
                 status subresource until it answers"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::GroupVersionKind;
    use kube::discovery::Scope;

    fn resource(plural: &str, subresources: &[&str]) -> (ApiResource, ApiCapabilities) {
        let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AnalysisRun");
        let api = ApiResource::from_gvk_with_plural(&gvk, plural);
        let subresources = subresources
            .iter()
            .map(|sub| {
                let sub_api = ApiResource::from_gvk_with_plural(&gvk, sub);
                (
                    sub_api,
                    ApiCapabilities {
                        scope: Scope::Namespaced,
                        subresources: vec![],
                        operations: vec![],
                    },
                )
            })
            .collect();
        (
            api,
            ApiCapabilities {
                scope: Scope::Namespaced,
                subresources,
                operations: vec![],
            },
        )
    }

    #[test]
    fn reads_the_status_subresource_from_discovery() {
        let weir = [
            resource("analysisruns", &["status"]),
            resource("rollouts", &["status"]),
        ];
        let argo = [
            resource("analysisruns", &[]),
            resource("rollouts", &["status", "scale"]),
        ];
        assert_eq!(has_status(&weir, "analysisruns"), Some(true));
        assert_eq!(has_status(&argo, "analysisruns"), Some(false));
        assert_eq!(has_status(&argo, "experiments"), None);
    }
}
