//! Which Rollouts a change to another object concerns: the objects a Rollout names (its
//! Services, VirtualServices, DestinationRule and analysis templates), indexed from the Rollout
//! watch so a changed Service finds its Rollout without reading every Rollout.

use super::index::{self, Index};
use crate::api::rollout::{IstioTrafficRouting, Rollout};
use crate::traffic::split_vs_name;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

/// An object a Rollout names, with the namespace it is looked up in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Service { namespace: String, name: String },
    VirtualService { namespace: String, name: String },
    DestinationRule { namespace: String, name: String },
    AnalysisTemplate { namespace: String, name: String },
    ClusterAnalysisTemplate { name: String },
}

impl Reference {
    fn key(&self) -> u64 {
        index::key(("reference", self))
    }
}

fn istio(rollout: &Rollout) -> Option<&IstioTrafficRouting> {
    rollout
        .spec
        .strategy
        .canary
        .as_ref()?
        .traffic_routing
        .as_ref()?
        .istio
        .as_ref()
}

/// The templates the Rollout's steps and background analysis name directly, as
/// (name, cluster-scoped).
pub fn templates_named(rollout: &Rollout) -> Vec<(String, bool)> {
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return Vec::new();
    };
    canary
        .steps
        .iter()
        .flatten()
        .filter_map(|s| s.analysis.as_deref())
        .chain(canary.analysis.as_ref().map(|b| &b.analysis))
        .flat_map(|a| a.templates.iter().flatten())
        .map(|t| (t.template_name.clone(), t.cluster_scope.unwrap_or(false)))
        .collect()
}

/// Every object the Rollout names.
pub fn references(rollout: &Rollout) -> Vec<Reference> {
    let namespace = rollout.namespace().unwrap_or_default();
    let mut refs = Vec::new();
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return refs;
    };
    for name in [&canary.canary_service, &canary.stable_service]
        .into_iter()
        .flatten()
    {
        refs.push(Reference::Service {
            namespace: namespace.clone(),
            name: name.clone(),
        });
    }
    if let Some(istio) = istio(rollout) {
        for vs in istio
            .virtual_service
            .iter()
            .chain(istio.virtual_services.iter().flatten())
        {
            let (name, namespace) = split_vs_name(&vs.name, &namespace);
            refs.push(Reference::VirtualService { namespace, name });
        }
        if let Some(dr) = &istio.destination_rule {
            refs.push(Reference::DestinationRule {
                namespace: namespace.clone(),
                name: dr.name.clone(),
            });
        }
    }
    for (name, cluster) in templates_named(rollout) {
        refs.push(if cluster {
            Reference::ClusterAnalysisTemplate { name }
        } else {
            Reference::AnalysisTemplate {
                namespace: namespace.clone(),
                name,
            }
        });
    }
    refs
}

/// Index keys of a Rollout: one per object it names.
pub fn reference_keys(rollout: &Rollout) -> Vec<u64> {
    references(rollout).iter().map(Reference::key).collect()
}

/// Looks up the Rollouts that name an object.
#[derive(Clone)]
pub struct Referrers {
    pub rollouts: Store<Rollout>,
    pub index: Index<Rollout>,
}

impl Referrers {
    /// The Rollouts naming `reference`, to reconcile when it changes.
    pub fn of(&self, reference: Reference) -> Vec<ObjectRef<Rollout>> {
        self.index
            .lookup(&self.rollouts, reference.key(), |r| {
                references(r).contains(&reference)
            })
            .iter()
            .map(|r| ObjectRef::from_obj(&**r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher;
    use serde_json::json;

    fn rollout(name: &str, canary: serde_json::Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"strategy": {"canary": canary}}
        }))
        .unwrap()
    }

    #[test]
    fn every_named_object_finds_its_rollout() {
        let web = rollout(
            "web",
            json!({
                "canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": {"istio": {
                    "virtualServices": [{"name": "web-vs"}, {"name": "edge.gateways"}],
                    "destinationRule": {"name": "web-dr", "canarySubsetName": "c", "stableSubsetName": "s"}
                }},
                "analysis": {"templates": [{"templateName": "errors"}]},
                "steps": [{"analysis": {"templates": [{"templateName": "latency", "clusterScope": true}]}}]
            }),
        );
        let api = rollout("api", json!({"stableService": "api-stable"}));
        let index = Index::new(reference_keys);
        let (rollouts, mut writer) = kube::runtime::reflector::store();
        for r in [&web, &api] {
            index.observe(&watcher::Event::Apply(r.clone()));
            writer.apply_watcher_event(&watcher::Event::Apply(r.clone()));
        }
        let referrers = Referrers { rollouts, index };
        let names = |reference: Reference| -> Vec<String> {
            referrers
                .of(reference)
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        let (shop, name) = (|| "shop".to_string(), |n: &str| n.to_string());
        let cases = [
            (
                Reference::Service {
                    namespace: shop(),
                    name: name("web-canary"),
                },
                vec!["web"],
            ),
            (
                Reference::Service {
                    namespace: shop(),
                    name: name("web-stable"),
                },
                vec!["web"],
            ),
            (
                Reference::Service {
                    namespace: shop(),
                    name: name("api-stable"),
                },
                vec!["api"],
            ),
            (
                Reference::Service {
                    namespace: name("other"),
                    name: name("web-stable"),
                },
                vec![],
            ),
            (
                Reference::VirtualService {
                    namespace: shop(),
                    name: name("web-vs"),
                },
                vec!["web"],
            ),
            (
                Reference::VirtualService {
                    namespace: name("gateways"),
                    name: name("edge"),
                },
                vec!["web"],
            ),
            (
                Reference::DestinationRule {
                    namespace: shop(),
                    name: name("web-dr"),
                },
                vec!["web"],
            ),
            (
                Reference::AnalysisTemplate {
                    namespace: shop(),
                    name: name("errors"),
                },
                vec!["web"],
            ),
            (
                Reference::AnalysisTemplate {
                    namespace: shop(),
                    name: name("latency"),
                },
                vec![],
            ),
            (
                Reference::ClusterAnalysisTemplate {
                    name: name("latency"),
                },
                vec!["web"],
            ),
        ];
        for (reference, expected) in cases {
            assert_eq!(names(reference.clone()), expected, "{reference:?}");
        }
    }
}
