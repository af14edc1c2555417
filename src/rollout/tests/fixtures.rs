//! Builders for Rollouts, ReplicaSets, Services and Istio objects used by the plan tests.

use crate::api::rollout::*;
use crate::api::service::{ServiceSpecSummary, ServiceSummary};
use crate::rollout::hash::pod_template_hash;
use crate::rollout::observed::Observed;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const NS: &str = "default";

pub fn weight(w: i32) -> CanaryStep {
    CanaryStep {
        set_weight: Some(w),
        ..Default::default()
    }
}

pub fn pause(duration: Option<&str>) -> CanaryStep {
    CanaryStep {
        pause: Some(RolloutPause {
            duration: duration.map(|d| {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(d.into())
            }),
        }),
        ..Default::default()
    }
}

pub fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

pub fn hash(image: &str) -> String {
    pod_template_hash(&template(image), None)
}

/// Host-split Rollout `web` on VirtualService `web-vsvc` route `primary`.
pub fn host_rollout(image: &str, replicas: i32, steps: Vec<CanaryStep>) -> Rollout {
    let mut rollout = Rollout::new(
        "web",
        RolloutSpec {
            replicas: Some(replicas),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                ..Default::default()
            }),
            template: Some(template(image).into()),
            strategy: RolloutStrategy {
                canary: Some(Box::new(CanaryStrategy {
                    canary_service: Some("web-canary".into()),
                    stable_service: Some("web-stable".into()),
                    steps: Some(steps),
                    traffic_routing: Some(RolloutTrafficRouting {
                        istio: Some(IstioTrafficRouting {
                            virtual_service: Some(IstioVirtualService {
                                name: "web-vsvc".into(),
                                routes: Some(vec!["primary".into()]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    rollout.metadata.namespace = Some(NS.into());
    rollout.metadata.uid = Some("rollout-uid".into());
    rollout.metadata.generation = Some(1);
    rollout
}

/// Subset-split variant: one Service `web`, DestinationRule `web-destrule`.
pub fn subset_rollout(image: &str, replicas: i32, steps: Vec<CanaryStep>) -> Rollout {
    let mut rollout = host_rollout(image, replicas, steps);
    let canary = rollout.spec.strategy.canary.as_mut().unwrap();
    canary.canary_service = None;
    canary.stable_service = None;
    canary
        .traffic_routing
        .as_mut()
        .unwrap()
        .istio
        .as_mut()
        .unwrap()
        .destination_rule = Some(IstioDestinationRule {
        name: "web-destrule".into(),
        canary_subset_name: "canary".into(),
        stable_subset_name: "stable".into(),
        additional_subset_names: None,
    });
    rollout
}

pub fn service(name: &str) -> ServiceSummary {
    let selector = BTreeMap::from([("app".to_string(), "web".to_string())]);
    ServiceSummary {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpecSummary {
            selector: Some(selector),
        }),
    }
}

/// The VirtualService with fields Weir does not own (retries, timeout, a second route).
pub fn host_virtual_service(canary_weight: i64) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "web-vsvc", "namespace": NS},
        "spec": {
            "hosts": ["web"],
            "http": [
                {"name": "primary", "retries": {"attempts": 3}, "timeout": "5s",
                 "route": [
                    {"destination": {"host": "web-stable"}, "weight": 100 - canary_weight},
                    {"destination": {"host": "web-canary"}, "weight": canary_weight}
                 ]},
                {"name": "other", "route": [{"destination": {"host": "legacy"}}]}
            ]
        }
    })
}

pub fn subset_virtual_service(canary_weight: i64) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "web-vsvc", "namespace": NS},
        "spec": {"hosts": ["web"], "http": [{"name": "primary", "route": [
            {"destination": {"host": "web", "subset": "stable"}, "weight": 100 - canary_weight},
            {"destination": {"host": "web", "subset": "canary"}, "weight": canary_weight}
        ]}]}
    })
}

pub fn destination_rule() -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "DestinationRule",
        "metadata": {"name": "web-destrule", "namespace": NS},
        "spec": {"host": "web", "subsets": [
            {"name": "canary", "labels": {"app": "web"}},
            {"name": "stable", "labels": {"app": "web"}}
        ]}
    })
}

/// A cluster before the first deploy: unmanaged Services and the VirtualService all-stable.
pub fn host_observed() -> Observed {
    Observed {
        replica_sets: Vec::new(),
        services: BTreeMap::from([
            ("web-stable".to_string(), service("web-stable")),
            ("web-canary".to_string(), service("web-canary")),
        ]),
        virtual_services: BTreeMap::from([(
            ("web-vsvc".to_string(), NS.to_string()),
            host_virtual_service(0),
        )]),
        destination_rule: None,
        ..Default::default()
    }
}

pub fn t(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}
