//! Subset-level splitting: the DestinationRule's canary and stable subsets select pods by
//! `rollouts-pod-template-hash`, which Weir keeps pointed at the canary and stable ReplicaSets.
//!
//! Like the VirtualService, the DestinationRule is edited with a JSON patch on exact paths so
//! traffic policies, other subsets and unknown fields stay as the user wrote them.

use super::error::{TrafficError, object_label};
use crate::api::istio::DestinationRuleSpec;
use crate::api::labels::{MANAGED_BY, POD_TEMPLATE_HASH};
use crate::api::rollout::IstioDestinationRule;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, TestOperation};
use serde::Deserialize;
use serde_json::{Map, Value};

const KIND: &str = "DestinationRule";
const CANARY_FIELD: &str =
    "spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName";
const STABLE_FIELD: &str =
    "spec.strategy.canary.trafficRouting.istio.destinationRule.stableSubsetName";

/// Sets `labels[rollouts-pod-template-hash]` of the canary subset to `canary_hash` and of the
/// stable subset to `stable_hash`, and the managed-by annotation to `rollout_name`; `Ok(None)`
/// when already so. An empty hash removes the label instead, as Argo does, so a subset never
/// selects pods of a ReplicaSet that no longer exists.
///
/// Every touched subset is guarded by a `test` of its `name` at its index, so a concurrent
/// reordering of `subsets` makes the patch fail instead of labelling the wrong subset.
pub fn destination_rule_patch(
    dr: &Value,
    spec: &IstioDestinationRule,
    canary_hash: &str,
    stable_hash: &str,
    rollout_name: &str,
) -> Result<Option<Patch>, TrafficError> {
    let (label, parsed) = parse(dr)?;
    let canary = find_subset(&label, &parsed, &spec.canary_subset_name, CANARY_FIELD)?;
    let stable = find_subset(&label, &parsed, &spec.stable_subset_name, STABLE_FIELD)?;

    // One subset named as both canary and stable gets the canary hash, as in Argo; writing both
    // would flip the label on every reconcile.
    let mut subsets = vec![(canary, &spec.canary_subset_name, canary_hash)];
    if stable != canary {
        subsets.push((stable, &spec.stable_subset_name, stable_hash));
    }
    let mut operations = Vec::new();
    for (index, name, hash) in subsets {
        let labels_path = subset_path(index, "labels");
        let labels = dr.pointer(labels_path.as_str()).and_then(Value::as_object);
        let current = labels
            .and_then(|l| l.get(POD_TEMPLATE_HASH))
            .and_then(Value::as_str);
        let change = match (labels, hash.is_empty()) {
            (_, false) if current == Some(hash) => None,
            (_, true) if current.is_none() => None,
            // RFC 6902 `add` cannot create intermediate objects, so a missing map is added whole.
            (None, false) => Some(add(labels_path, single(POD_TEMPLATE_HASH, hash))),
            (Some(_), false) => Some(add(
                child(&labels_path, POD_TEMPLATE_HASH),
                Value::from(hash),
            )),
            (_, true) => Some(remove(child(&labels_path, POD_TEMPLATE_HASH))),
        };
        if let Some(change) = change {
            operations.push(test(subset_path(index, "name"), Value::from(name.as_str())));
            operations.push(change);
        }
    }

    match dr.pointer("/metadata/annotations") {
        Some(Value::Object(annotations)) => {
            if annotations.get(MANAGED_BY).and_then(Value::as_str) != Some(rollout_name) {
                let path = PointerBuf::from_tokens(["metadata", "annotations", MANAGED_BY]);
                operations.push(add(path, Value::from(rollout_name)));
            }
        }
        _ if dr.get("metadata").is_some_and(Value::is_object) => {
            let path = PointerBuf::from_tokens(["metadata", "annotations"]);
            operations.push(add(path, single(MANAGED_BY, rollout_name)));
        }
        _ => return Err(malformed(&label, "metadata is missing")),
    }
    Ok((!operations.is_empty()).then_some(Patch(operations)))
}

/// Undoes [`destination_rule_patch`] when the Rollout is deleted: removes the hash label from
/// the canary and stable subsets and the managed-by annotation, but only if the annotation
/// names this Rollout (another Rollout may have taken the DestinationRule over). Subsets that
/// are gone are skipped: there is nothing left to restore on them.
pub fn destination_rule_restore_patch(
    dr: &Value,
    spec: &IstioDestinationRule,
    rollout_name: &str,
) -> Result<Option<Patch>, TrafficError> {
    let (_, parsed) = parse(dr)?;
    let annotation = PointerBuf::from_tokens(["metadata", "annotations", MANAGED_BY]);
    if dr.pointer(annotation.as_str()).and_then(Value::as_str) != Some(rollout_name) {
        return Ok(None);
    }
    // Guard the ownership check itself: if another Rollout takes over meanwhile, do nothing.
    let mut operations = vec![test(annotation.clone(), Value::from(rollout_name))];
    let mut names = vec![&spec.canary_subset_name];
    if spec.stable_subset_name != spec.canary_subset_name {
        // Removing the same label twice would make the whole patch fail.
        names.push(&spec.stable_subset_name);
    }
    for name in names {
        let Some(index) = parsed.subsets.iter().position(|s| &s.name == name) else {
            continue;
        };
        if parsed.subsets[index].labels.contains_key(POD_TEMPLATE_HASH) {
            operations.push(test(subset_path(index, "name"), Value::from(name.as_str())));
            operations.push(remove(child(
                &subset_path(index, "labels"),
                POD_TEMPLATE_HASH,
            )));
        }
    }
    operations.push(remove(annotation));
    Ok(Some(Patch(operations)))
}

fn malformed(label: &str, detail: &str) -> TrafficError {
    TrafficError::Malformed {
        kind: KIND,
        object: label.to_owned(),
        detail: detail.to_owned(),
    }
}

fn parse(dr: &Value) -> Result<(String, DestinationRuleSpec), TrafficError> {
    let label = object_label(dr);
    let Some(spec) = dr.get("spec") else {
        return Err(malformed(&label, "spec is missing"));
    };
    if !spec.is_object() {
        return Err(malformed(&label, "spec is not an object"));
    }
    match DestinationRuleSpec::deserialize(spec) {
        Ok(parsed) => Ok((label, parsed)),
        Err(error) => Err(malformed(&label, &format!("spec cannot be read ({error})"))),
    }
}

fn find_subset(
    label: &str,
    parsed: &DestinationRuleSpec,
    name: &str,
    field: &'static str,
) -> Result<usize, TrafficError> {
    parsed
        .subsets
        .iter()
        .position(|subset| subset.name == name)
        .ok_or_else(|| TrafficError::SubsetNotFound {
            dr: label.to_owned(),
            subset: name.to_owned(),
            available: parsed.subsets.iter().map(|s| s.name.clone()).collect(),
            field,
        })
}

fn subset_path(index: usize, key: &str) -> PointerBuf {
    let index = index.to_string();
    PointerBuf::from_tokens(["spec", "subsets", index.as_str(), key])
}

fn child(parent: &PointerBuf, key: &str) -> PointerBuf {
    let mut path = parent.clone();
    path.push_back(key);
    path
}

fn single(key: &str, value: &str) -> Value {
    Value::Object(Map::from_iter([(key.to_owned(), Value::from(value))]))
}

fn test(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Test(TestOperation { path, value })
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

fn remove(path: PointerBuf) -> PatchOperation {
    PatchOperation::Remove(RemoveOperation { path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule_spec() -> IstioDestinationRule {
        IstioDestinationRule {
            name: "nodejs-app-destrule".into(),
            canary_subset_name: "canary".into(),
            stable_subset_name: "stable".into(),
            additional_subset_names: None,
        }
    }

    /// The seed document 004 DestinationRule plus fields Weir must keep.
    fn nodejs_app_destrule() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "DestinationRule",
            "metadata": {"name": "nodejs-app-destrule", "namespace": "default"},
            "spec": {
                "host": "nodejs-app",
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 100}}},
                "subsets": [
                    {"name": "legacy", "labels": {"version": "v0"}},
                    {"name": "stable", "labels": {"app": "nodejs-app"}, "x-unknown": 1},
                    {"name": "canary", "labels": {"app": "nodejs-app"},
                     "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}
                ]
            }
        })
    }

    fn apply(doc: &Value, patch: &Patch) -> Value {
        let mut out = doc.clone();
        json_patch::patch(&mut out, patch).unwrap();
        out
    }

    fn set(doc: &mut Value, pointer: &str, value: Value) {
        *doc.pointer_mut(pointer).unwrap() = value;
    }

    #[test]
    fn label_updates() {
        let mut no_labels = nodejs_app_destrule();
        no_labels["spec"]["subsets"][2]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        let mut old_hashes = nodejs_app_destrule();
        set(
            &mut old_hashes,
            "/spec/subsets/1/labels",
            json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "old-stable"}),
        );
        set(
            &mut old_hashes,
            "/spec/subsets/2/labels",
            json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "old-canary"}),
        );
        old_hashes["metadata"]["annotations"] = json!({"keep": "me", MANAGED_BY: "someone-else"});

        // (name, input, expected canary labels, expected stable labels, expected annotations)
        let cases = [
            (
                "add",
                nodejs_app_destrule(),
                json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "c1"}),
                json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "s1"}),
                json!({MANAGED_BY: "nodejs-app"}),
            ),
            (
                "missing labels map",
                no_labels,
                json!({POD_TEMPLATE_HASH: "c1"}),
                json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "s1"}),
                json!({MANAGED_BY: "nodejs-app"}),
            ),
            (
                "update",
                old_hashes,
                json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "c1"}),
                json!({"app": "nodejs-app", POD_TEMPLATE_HASH: "s1"}),
                json!({"keep": "me", MANAGED_BY: "nodejs-app"}),
            ),
        ];
        for (name, dr, canary, stable, annotations) in cases {
            let patch = destination_rule_patch(&dr, &rule_spec(), "c1", "s1", "nodejs-app")
                .unwrap()
                .unwrap();
            let patched = apply(&dr, &patch);
            let mut expected = dr.clone();
            expected["spec"]["subsets"][2]["labels"] = canary;
            expected["spec"]["subsets"][1]["labels"] = stable;
            expected["metadata"]["annotations"] = annotations;
            assert_eq!(patched, expected, "{name}");
            assert_eq!(
                destination_rule_patch(&patched, &rule_spec(), "c1", "s1", "nodejs-app"),
                Ok(None),
                "{name} idempotent"
            );
        }
    }

    #[test]
    fn patch_shape_guards_subset_names() {
        let dr = nodejs_app_destrule();
        let patch = destination_rule_patch(&dr, &rule_spec(), "c1", "s1", "ro")
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!([
                {"op": "test", "path": "/spec/subsets/2/name", "value": "canary"},
                {"op": "add", "path": "/spec/subsets/2/labels/rollouts-pod-template-hash", "value": "c1"},
                {"op": "test", "path": "/spec/subsets/1/name", "value": "stable"},
                {"op": "add", "path": "/spec/subsets/1/labels/rollouts-pod-template-hash", "value": "s1"},
                {"op": "add", "path": "/metadata/annotations", "value": {MANAGED_BY: "ro"}}
            ])
        );
        // Someone reorders the subsets between read and write: the patch must not apply.
        let mut reordered = dr.clone();
        reordered["spec"]["subsets"]
            .as_array_mut()
            .unwrap()
            .swap(1, 2);
        let mut out = reordered.clone();
        assert!(json_patch::patch(&mut out, &patch).is_err());
        assert_eq!(
            out, reordered,
            "a failed patch leaves the document unchanged"
        );
    }

    #[test]
    fn same_hash_on_both_subsets_and_empty_hash() {
        let dr = nodejs_app_destrule();
        let patched = apply(
            &dr,
            &destination_rule_patch(&dr, &rule_spec(), "h", "h", "ro")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            patched["spec"]["subsets"][1]["labels"][POD_TEMPLATE_HASH],
            "h"
        );
        assert_eq!(
            patched["spec"]["subsets"][2]["labels"][POD_TEMPLATE_HASH],
            "h"
        );

        let cleared = apply(
            &patched,
            &destination_rule_patch(&patched, &rule_spec(), "", "h", "ro")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            cleared["spec"]["subsets"][2]["labels"],
            json!({"app": "nodejs-app"})
        );
        assert_eq!(
            destination_rule_patch(&cleared, &rule_spec(), "", "h", "ro"),
            Ok(None)
        );
    }

    #[test]
    fn one_subset_for_canary_and_stable_gets_the_canary_hash() {
        let spec = IstioDestinationRule {
            stable_subset_name: "canary".into(),
            ..rule_spec()
        };
        let dr = nodejs_app_destrule();
        let patch = destination_rule_patch(&dr, &spec, "c1", "s1", "ro")
            .unwrap()
            .unwrap();
        let patched = apply(&dr, &patch);
        assert_eq!(
            patched["spec"]["subsets"][2]["labels"][POD_TEMPLATE_HASH],
            "c1"
        );
        assert_eq!(
            destination_rule_patch(&patched, &spec, "c1", "s1", "ro"),
            Ok(None)
        );
        let restore = destination_rule_restore_patch(&patched, &spec, "ro")
            .unwrap()
            .unwrap();
        assert_eq!(apply(&patched, &restore)["spec"], dr["spec"]);
    }

    #[test]
    fn subset_not_found() {
        let cases = [
            (
                IstioDestinationRule {
                    canary_subset_name: "preview".into(),
                    ..rule_spec()
                },
                "preview",
                CANARY_FIELD,
            ),
            (
                IstioDestinationRule {
                    stable_subset_name: "prod".into(),
                    ..rule_spec()
                },
                "prod",
                STABLE_FIELD,
            ),
        ];
        for (spec, subset, field) in cases {
            let err =
                destination_rule_patch(&nodejs_app_destrule(), &spec, "c", "s", "ro").unwrap_err();
            assert_eq!(
                err,
                TrafficError::SubsetNotFound {
                    dr: "default/nodejs-app-destrule".into(),
                    subset: subset.into(),
                    available: vec!["legacy".into(), "stable".into(), "canary".into()],
                    field,
                }
            );
            assert_eq!(err.field(), Some(field));
        }
    }

    #[test]
    fn malformed_rules() {
        let cases = [
            (json!({"metadata": {"name": "dr"}}), "spec is missing"),
            (
                json!({"metadata": {"name": "dr"}, "spec": "x"}),
                "spec is not an object",
            ),
            (
                json!({"metadata": {"name": "dr"}, "spec": {"subsets": [{"labels": {}}]}}),
                "spec cannot be read",
            ),
            (
                json!({"spec": {"subsets": [{"name": "canary"}, {"name": "stable"}]}}),
                "metadata is missing",
            ),
        ];
        for (dr, detail) in cases {
            match destination_rule_patch(&dr, &rule_spec(), "c", "s", "ro") {
                Err(TrafficError::Malformed {
                    kind: KIND,
                    detail: got,
                    ..
                }) => assert!(got.starts_with(detail), "{got}"),
                other => panic!("{detail}: {other:?}"),
            }
        }
    }

    #[test]
    fn restore() {
        let dr = nodejs_app_destrule();
        let managed = apply(
            &dr,
            &destination_rule_patch(&dr, &rule_spec(), "c1", "s1", "ro")
                .unwrap()
                .unwrap(),
        );

        let patch = destination_rule_restore_patch(&managed, &rule_spec(), "ro")
            .unwrap()
            .unwrap();
        let restored = apply(&managed, &patch);
        let mut expected = dr.clone();
        expected["metadata"]["annotations"] = json!({});
        assert_eq!(restored, expected);
        assert_eq!(
            destination_rule_restore_patch(&restored, &rule_spec(), "ro"),
            Ok(None)
        );

        // Not ours, or never managed: nothing to do.
        assert_eq!(
            destination_rule_restore_patch(&managed, &rule_spec(), "other"),
            Ok(None)
        );
        assert_eq!(
            destination_rule_restore_patch(&dr, &rule_spec(), "ro"),
            Ok(None)
        );

        // A subset deleted by the user is skipped; the annotation still goes.
        let mut subset_gone = managed.clone();
        subset_gone["spec"]["subsets"]
            .as_array_mut()
            .unwrap()
            .remove(2);
        let restored = apply(
            &subset_gone,
            &destination_rule_restore_patch(&subset_gone, &rule_spec(), "ro")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            restored["spec"]["subsets"][1]["labels"],
            json!({"app": "nodejs-app"})
        );
        assert_eq!(restored["metadata"]["annotations"], json!({}));

        // Taken over by another Rollout after the patch was built: the guard rejects it.
        let mut taken = managed.clone();
        set(
            &mut taken,
            &format!("/metadata/annotations/{}", MANAGED_BY.replace('/', "~1")),
            json!("other"),
        );
        assert!(json_patch::patch(&mut taken, &patch).is_err());
    }
}
