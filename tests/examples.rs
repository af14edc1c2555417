//! Every manifest in examples/ parses into Weir's types, and the Rollouts that are meant to run
//! are valid against the Services, VirtualServices and DestinationRules shipped beside them.

use k8s_openapi::api::core::v1::Service;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use weir::api::istio::{DestinationRuleSpec, VirtualServiceSpec};
use weir::api::{AnalysisTemplate, Rollout};
use weir::rollout::Observed;

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && path.file_name().is_some_and(|n| n != "kustomization.yaml")
        {
            out.push(path);
        }
    }
}

/// (file, kind, document) for every document under `dir`.
fn documents(dir: &str) -> Vec<(PathBuf, String, Value)> {
    let mut files = Vec::new();
    yaml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut files);
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if value.is_null() {
                continue;
            }
            let kind = value["kind"].as_str().unwrap_or_default().to_string();
            docs.push((file.clone(), kind, value));
        }
    }
    docs
}

#[test]
fn every_example_parses_into_the_types() {
    let docs = documents("examples");
    let mut kinds = BTreeMap::<String, usize>::new();
    for (file, kind, value) in &docs {
        let ctx = format!("{} ({kind})", file.display());
        match kind.as_str() {
            "Rollout" => {
                let rollout: Rollout =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                // Nothing is lost in the round trip.
                assert_eq!(
                    serde_json::to_value(&rollout).unwrap()["spec"],
                    value["spec"],
                    "{ctx}"
                );
            }
            "AnalysisTemplate" => {
                let template: AnalysisTemplate =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert!(!template.spec.metrics.is_empty(), "{ctx}");
                assert!(
                    template.spec.metrics[0].provider.prometheus.is_some(),
                    "{ctx}"
                );
            }
            "Service" => {
                serde_json::from_value::<Service>(value.clone())
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            }
            "VirtualService" => {
                let spec: VirtualServiceSpec = serde_json::from_value(value["spec"].clone())
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert!(!spec.http.is_empty(), "{ctx}");
            }
            "DestinationRule" => {
                serde_json::from_value::<DestinationRuleSpec>(value["spec"].clone())
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            }
            // The quick start's load generator.
            "Namespace" | "Deployment" => {}
            other => panic!("{ctx}: unexpected kind {other}"),
        }
        *kinds.entry(kind.clone()).or_default() += 1;
    }
    // Seeds 002 and 004: three Rollouts (plus the quick copy), two templates, and their routing;
    // the quick start's Rollout and template.
    assert_eq!(kinds.get("Rollout"), Some(&5), "{kinds:?}");
    assert_eq!(kinds.get("AnalysisTemplate"), Some(&5), "{kinds:?}");
    assert!(kinds.get("VirtualService").is_some_and(|n| *n >= 2));
    assert!(kinds.get("DestinationRule").is_some_and(|n| *n >= 1));
}

fn observed_for(rollout: &Rollout, docs: &[(PathBuf, String, Value)]) -> Observed {
    let namespace = rollout
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let ns_of = |v: &Value| {
        v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string()
    };
    let name_of = |v: &Value| {
        v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let mut observed = Observed::default();
    for (_, kind, value) in docs {
        // A template without a namespace lands beside its Rollout (the kustomization sets it).
        if kind == "AnalysisTemplate" && value["metadata"]["namespace"].is_null() {
            let template: weir::api::AnalysisTemplate =
                serde_json::from_value(value.clone()).unwrap();
            observed
                .templates
                .namespaced
                .insert(name_of(value), template);
            continue;
        }
        if ns_of(value) != namespace {
            continue;
        }
        match kind.as_str() {
            "Service" => {
                observed.services.insert(
                    name_of(value),
                    serde_json::from_value(value.clone()).unwrap(),
                );
            }
            "VirtualService" => {
                observed
                    .virtual_services
                    .insert((name_of(value), namespace.clone()), value.clone());
            }
            "DestinationRule" => {
                let wanted = rollout
                    .spec
                    .strategy
                    .canary
                    .as_ref()
                    .and_then(|c| c.traffic_routing.as_ref())
                    .and_then(|r| r.istio.as_ref())
                    .and_then(|i| i.destination_rule.as_ref())
                    .map(|d| d.name.clone());
                if wanted.as_deref() == Some(name_of(value).as_str()) {
                    observed.destination_rule = Some(value.clone());
                }
            }
            _ => {}
        }
    }
    observed
}

#[test]
fn runnable_seed_rollouts_are_valid_against_their_objects() {
    for dir in [
        "examples/seed-002",
        "examples/seed-004",
        "examples/quick",
        "examples/quickstart",
    ] {
        let mut docs = documents(dir);
        if dir == "examples/quick" {
            docs.extend(
                documents("examples/seed-004")
                    .into_iter()
                    .filter(|(_, k, _)| k != "Rollout"),
            );
        }
        for (file, _, value) in docs.iter().filter(|(_, k, _)| k == "Rollout") {
            let mut rollout: Rollout = serde_json::from_value(value.clone()).unwrap();
            rollout.metadata.uid = Some("uid".into());
            let observed = observed_for(&rollout, &docs);
            let plan = weir::rollout::plan(&rollout, &observed, jiff::Timestamp::UNIX_EPOCH);
            let invalid = plan
                .status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "InvalidSpec");
            if rollout.metadata.name.as_deref() == Some("my-app") {
                // The seed's snippet has no selector or template.
                let message = &invalid.expect("my-app is invalid").message;
                assert!(
                    message.contains("spec.selector: Required value"),
                    "{message}"
                );
            } else {
                assert!(
                    invalid.is_none(),
                    "{}: {:?}",
                    file.display(),
                    invalid.map(|c| &c.message)
                );
                assert!(
                    plan.create_replica_set.is_some(),
                    "{}: first plan creates the ReplicaSet",
                    file.display()
                );
            }
        }
    }
}
