//! Reads one Rollout and only its objects. Argo's plugin lists every ReplicaSet, Pod and
//! AnalysisRun of the namespace through informers (tens of seconds at 10,000 objects, argo-rollouts
//! #1711); here each list is narrowed on the server by labels and then checked by owner uid:
//! ReplicaSets by the Rollout's selector, Pods and AnalysisRuns by the ReplicaSets' pod-template
//! hashes. That is four requests whatever else the namespace holds.

use super::error::{CliError, Result, not_found_as};
use crate::api::labels::POD_TEMPLATE_HASH;
use crate::api::{AnalysisRun, Rollout};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};

pub const ROLLOUTS: &str = "rollouts.argoproj.io";
pub const ANALYSIS_RUNS: &str = "analysisruns.argoproj.io";

/// A Rollout and the objects `get rollout` shows under it.
#[derive(Debug, Clone, Default)]
pub struct RolloutObjects {
    pub rollout: Rollout,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub analysis_runs: Vec<AnalysisRun>,
}

/// GETs a Rollout, turning a 404 into `rollouts.argoproj.io "name" not found`.
pub async fn rollout(api: &Api<Rollout>, name: &str) -> Result<Rollout> {
    api.get(name)
        .await
        .map_err(|e| not_found_as(e, ROLLOUTS, name))
}

/// A label selector in the query syntax; `None` when it selects nothing in particular (an
/// empty selector would match the whole namespace, which is exactly what must not be listed).
pub fn selector_query(selector: Option<&LabelSelector>) -> Option<String> {
    let selector = selector?;
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.clone().unwrap_or_default().join(",");
        let key = &expression.key;
        parts.push(match expression.operator.as_str() {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.clone(),
            _ => format!("!{key}"),
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

fn owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|o| o.uid == uid)
}

/// The ReplicaSets the Rollout owns, found through its selector.
pub async fn replica_sets(client: &Client, rollout: &Rollout) -> Result<Vec<ReplicaSet>> {
    let Some(selector) = selector_query(rollout.spec.selector.as_ref()) else {
        return Ok(Vec::new());
    };
    let namespace = rollout.meta().namespace.as_deref().unwrap_or("default");
    let uid = rollout.meta().uid.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|rs| owned_by(&rs.metadata, &uid))
        .collect())
}

/// Reads the Rollout and its ReplicaSets, Pods and AnalysisRuns.
pub async fn rollout_objects(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<RolloutObjects> {
    let rollout = rollout(&Api::namespaced(client.clone(), namespace), name).await?;
    let replica_sets = replica_sets(client, &rollout).await?;
    let hashes: Vec<&str> = replica_sets
        .iter()
        .filter_map(|rs| rs.metadata.labels.as_ref()?.get(POD_TEMPLATE_HASH))
        .map(String::as_str)
        .collect();
    if hashes.is_empty() {
        return Ok(RolloutObjects {
            rollout,
            replica_sets,
            ..Default::default()
        });
    }
    let by_hash = format!("{POD_TEMPLATE_HASH} in ({})", hashes.join(","));
    // Pods carry the template labels, so the selector narrows them further; AnalysisRuns that
    // Argo created carry only the hash, so they are selected by it alone.
    let pod_selector = match selector_query(rollout.spec.selector.as_ref()) {
        Some(selector) => format!("{selector},{by_hash}"),
        None => by_hash.clone(),
    };
    let rs_uids: Vec<String> = replica_sets
        .iter()
        .filter_map(|rs| rs.metadata.uid.clone())
        .collect();
    let rollout_uid = rollout.meta().uid.clone().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let runs_api: Api<AnalysisRun> = Api::namespaced(client.clone(), namespace);
    let pod_params = ListParams::default().labels(&pod_selector);
    let run_params = ListParams::default().labels(&by_hash);
    let (pods, runs) = futures::join!(pods_api.list(&pod_params), runs_api.list(&run_params));
    let pods = pods?
        .items
        .into_iter()
        .filter(|pod| rs_uids.iter().any(|uid| owned_by(&pod.metadata, uid)))
        .collect();
    let analysis_runs = match runs {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|run| owned_by(&run.metadata, &rollout_uid))
            .collect(),
        // A cluster without the AnalysisRun CRD simply has no runs to show.
        Err(kube::Error::Api(status)) if status.is_not_found() => Vec::new(),
        Err(e) => return Err(CliError::from(e)),
    };
    Ok(RolloutObjects {
        rollout,
        replica_sets,
        pods,
        analysis_runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use std::collections::BTreeMap;

    #[test]
    fn selector_query_syntax() {
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([
                ("app".to_string(), "web".to_string()),
                ("tier".to_string(), "front".to_string()),
            ])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_query(Some(&selector)).as_deref(),
            Some("app=web,tier=front,env in (a,b),!legacy")
        );
        assert_eq!(selector_query(Some(&LabelSelector::default())), None);
        assert_eq!(selector_query(None), None);
    }
}
