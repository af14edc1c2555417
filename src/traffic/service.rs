//! Host-level splitting: the canary and stable Services select pods of one ReplicaSet each by
//! adding `rollouts-pod-template-hash` to their selector, as Argo does (`rollout/service.go`).
//!
//! Merge patches suffice here: they name only the one selector key and the one annotation, so
//! the user's other selector keys, ports and annotations are untouched.

use super::error::TrafficError;
use crate::api::labels::{MANAGED_BY, POD_TEMPLATE_HASH};
use crate::api::service::ServiceSummary;
use serde_json::{Value, json};

/// Merge patch setting `spec.selector[rollouts-pod-template-hash] = hash` and the managed-by
/// annotation; `Ok(None)` if already so. A Service managed by another Rollout is an error: two
/// Rollouts rewriting one selector would take turns stealing each other's traffic.
pub fn service_selector_patch(
    svc: &ServiceSummary,
    hash: &str,
    rollout_name: &str,
) -> Result<Option<Value>, TrafficError> {
    match managed_by(svc) {
        Some(owner) if owner != rollout_name => {
            return Err(TrafficError::ManagedByOtherRollout {
                service: service_label(svc),
                owner: owner.to_owned(),
                rollout: rollout_name.to_owned(),
            });
        }
        Some(_) if service_selected_hash(svc) == Some(hash) => return Ok(None),
        _ => {}
    }
    Ok(Some(json!({
        "metadata": {"annotations": {MANAGED_BY: rollout_name}},
        "spec": {"selector": {POD_TEMPLATE_HASH: hash}},
    })))
}

/// Merge patch that removes the selector key and the annotation when the Rollout is deleted, so
/// the Service selects all of the app's pods again; `None` unless this Rollout manages it.
pub fn service_restore_patch(svc: &ServiceSummary, rollout_name: &str) -> Option<Value> {
    (managed_by(svc) == Some(rollout_name)).then(|| {
        json!({
            "metadata": {"annotations": {MANAGED_BY: null}},
            "spec": {"selector": {POD_TEMPLATE_HASH: null}},
        })
    })
}

/// The hash a Service currently selects (the selector's `rollouts-pod-template-hash`), if any.
pub fn service_selected_hash(svc: &ServiceSummary) -> Option<&str> {
    svc.spec
        .as_ref()?
        .selector
        .as_ref()?
        .get(POD_TEMPLATE_HASH)
        .map(String::as_str)
}

fn managed_by(svc: &ServiceSummary) -> Option<&str> {
    svc.metadata
        .annotations
        .as_ref()?
        .get(MANAGED_BY)
        .map(String::as_str)
}

fn service_label(svc: &ServiceSummary) -> String {
    let name = svc.metadata.name.as_deref().unwrap_or("<unnamed>");
    match svc.metadata.namespace.as_deref() {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(selector: Value, annotations: Value) -> ServiceSummary {
        serde_json::from_value(json!({
            "metadata": {"name": "myapp-canary", "namespace": "default", "annotations": annotations},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .unwrap()
    }

    fn merged(svc: &ServiceSummary, patch: &Value) -> ServiceSummary {
        let mut doc = serde_json::to_value(svc).unwrap();
        json_patch::merge(&mut doc, patch);
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn selector_injection() {
        let plain = service(json!({"app": "myapp"}), json!({"team": "x"}));
        let ours = service(
            json!({"app": "myapp", POD_TEMPLATE_HASH: "abc"}),
            json!({MANAGED_BY: "myapp"}),
        );
        let old_hash = service(
            json!({"app": "myapp", POD_TEMPLATE_HASH: "old"}),
            json!({MANAGED_BY: "myapp"}),
        );
        let hash_unannotated =
            service(json!({"app": "myapp", POD_TEMPLATE_HASH: "abc"}), json!({}));
        let theirs = service(
            json!({"app": "myapp", POD_TEMPLATE_HASH: "abc"}),
            json!({MANAGED_BY: "other"}),
        );

        // (name, service, Ok(patch applies) | Err)
        let cases = [
            ("inject", &plain, Ok(true)),
            ("idempotent", &ours, Ok(false)),
            ("switch hash", &old_hash, Ok(true)),
            ("adopt unannotated", &hash_unannotated, Ok(true)),
            ("managed by another rollout", &theirs, Err(())),
        ];
        for (name, svc, want) in cases {
            let got = service_selector_patch(svc, "abc", "myapp");
            match (got, want) {
                (Ok(Some(patch)), Ok(true)) => {
                    let after = merged(svc, &patch);
                    assert_eq!(service_selected_hash(&after), Some("abc"), "{name}");
                    assert_eq!(managed_by(&after), Some("myapp"), "{name}");
                    let selector = after.spec.as_ref().unwrap().selector.as_ref().unwrap();
                    assert_eq!(
                        selector.get("app").map(String::as_str),
                        Some("myapp"),
                        "{name}"
                    );
                    // A merge patch naming only the selector leaves ports and the rest alone.
                    assert_eq!(
                        patch["spec"]
                            .as_object()
                            .unwrap()
                            .keys()
                            .collect::<Vec<_>>(),
                        ["selector"],
                        "{name}"
                    );
                    assert_eq!(
                        service_selector_patch(&after, "abc", "myapp"),
                        Ok(None),
                        "{name}"
                    );
                }
                (Ok(None), Ok(false)) => {}
                (Err(error), Err(())) => {
                    assert_eq!(
                        error,
                        TrafficError::ManagedByOtherRollout {
                            service: "default/myapp-canary".into(),
                            owner: "other".into(),
                            rollout: "myapp".into(),
                        },
                        "{name}"
                    );
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn restore() {
        let ours = service(
            json!({"app": "myapp", POD_TEMPLATE_HASH: "abc"}),
            json!({MANAGED_BY: "myapp", "team": "x"}),
        );
        let patch = service_restore_patch(&ours, "myapp").unwrap();
        let after = merged(&ours, &patch);
        assert_eq!(service_selected_hash(&after), None);
        assert_eq!(
            after
                .metadata
                .annotations
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            vec![("team".to_owned(), "x".to_owned())]
        );
        assert_eq!(after.spec.unwrap().selector.unwrap().len(), 1);

        assert_eq!(service_restore_patch(&ours, "other"), None);
        assert_eq!(
            service_restore_patch(&service(json!({"app": "myapp"}), json!({})), "myapp"),
            None
        );
    }

    #[test]
    fn selected_hash() {
        let cases = [
            (
                service(json!({"app": "a", POD_TEMPLATE_HASH: "h"}), json!({})),
                Some("h"),
            ),
            (service(json!({"app": "a"}), json!({})), None),
            (ServiceSummary::default(), None),
        ];
        for (svc, want) in &cases {
            assert_eq!(service_selected_hash(svc), *want);
        }
    }
}
