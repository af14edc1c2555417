//! Restores Services and DestinationRules whose Rollout is gone. Argo does this from Service
//! and DestinationRule controllers; Weir sweeps the caches it already holds, so a deletion that
//! happened while Weir was down is repaired too and no finalizer blocks Rollout deletion.

use crate::api::istio::IstioObject;
use crate::api::labels::{MANAGED_BY, POD_TEMPLATE_HASH};
use crate::api::rollout::IstioDestinationRule;
use crate::api::service::ServiceSummary;
use crate::traffic::{destination_rule_restore_patch, service_restore_patch};
use kube::ResourceExt;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Restore {
    Service {
        namespace: String,
        name: String,
        patch: Value,
    },
    DestinationRule {
        namespace: String,
        name: String,
        patch: json_patch::Patch,
    },
}

/// Restores for objects managed by a Rollout for which `exists(namespace, rollout)` is false.
/// Takes the cached objects by reference: it runs every few seconds over every Service and
/// DestinationRule, and almost all of them need nothing.
pub fn orphan_restores<'a>(
    services: impl IntoIterator<Item = &'a ServiceSummary>,
    destination_rules: impl IntoIterator<Item = &'a IstioObject>,
    exists: impl Fn(&str, &str) -> bool,
) -> Vec<Restore> {
    let mut restores = Vec::new();
    for svc in services {
        let namespace = svc.namespace().unwrap_or_default();
        let Some(owner) = svc.annotations().get(MANAGED_BY) else {
            continue;
        };
        if exists(&namespace, owner) {
            continue;
        }
        if let Some(patch) = service_restore_patch(svc, owner) {
            restores.push(Restore::Service {
                namespace,
                name: svc.name_any(),
                patch,
            });
        }
    }
    for object in destination_rules {
        let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let Some(owner) = object.annotations().get(MANAGED_BY) else {
            continue;
        };
        if exists(namespace, owner) {
            continue;
        }
        // Only an orphan is worth turning into JSON for the restore patch.
        let Ok(dr) = object.to_value() else {
            continue;
        };
        // The Rollout's spec is gone; the subsets Weir labelled are the ones carrying the hash.
        let labelled: Vec<&str> = dr
            .pointer("/spec/subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|s| s.pointer(&format!("/labels/{POD_TEMPLATE_HASH}")).is_some())
            .filter_map(|s| s.get("name").and_then(Value::as_str))
            .collect();
        let spec = IstioDestinationRule {
            name: name.to_string(),
            canary_subset_name: labelled.first().copied().unwrap_or_default().to_string(),
            stable_subset_name: labelled
                .get(1)
                .or(labelled.first())
                .copied()
                .unwrap_or_default()
                .to_string(),
            additional_subset_names: None,
        };
        if let Ok(Some(patch)) = destination_rule_restore_patch(&dr, &spec, owner) {
            restores.push(Restore::DestinationRule {
                namespace: namespace.to_string(),
                name: name.to_string(),
                patch,
            });
        }
    }
    restores
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(owner: Option<&str>) -> ServiceSummary {
        serde_json::from_value(json!({
            "metadata": {"name": "web-stable", "namespace": "default",
                         "annotations": owner.map(|o| json!({MANAGED_BY: o})).unwrap_or(json!({}))},
            "spec": {"selector": {"app": "web", POD_TEMPLATE_HASH: "abc"}}
        }))
        .unwrap()
    }

    fn destination_rule(owner: &str) -> IstioObject {
        serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "DestinationRule",
            "metadata": {"name": "web", "namespace": "default", "annotations": {MANAGED_BY: owner}},
            "spec": {"host": "web", "subsets": [
                {"name": "canary", "labels": {"app": "web", POD_TEMPLATE_HASH: "b"}},
                {"name": "stable", "labels": {"app": "web", POD_TEMPLATE_HASH: "a"}},
                {"name": "other", "labels": {"app": "web"}}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn restores_only_objects_of_missing_rollouts() {
        let services = [service(Some("gone")), service(Some("alive")), service(None)];
        let drs = [destination_rule("gone"), destination_rule("alive")];
        let restores = orphan_restores(&services, &drs, |_, name| name == "alive");
        assert_eq!(restores.len(), 2);
        let Restore::DestinationRule { patch, .. } = &restores[1] else {
            panic!("expected a DestinationRule restore")
        };
        let mut dr = drs[0].to_value().unwrap();
        json_patch::patch(&mut dr, patch).unwrap();
        assert_eq!(dr["spec"]["subsets"][0]["labels"], json!({"app": "web"}));
        assert_eq!(dr["spec"]["subsets"][1]["labels"], json!({"app": "web"}));
        assert!(dr["metadata"]["annotations"].get(MANAGED_BY).is_none());
    }
}
