//! Taking over a Rollout that Argo Rollouts managed, mid-release, without a new revision.
//!
//! Argo names a revision by a hash of Go's JSON rendering of the pod template, which Weir cannot
//! reproduce for every template (Go's field order, its rendering of empty structs and quantities,
//! and the Kubernetes library version Argo was built with all go into it). Instead Weir trusts
//! what Argo recorded: when the status was written for this very generation of the spec, its
//! `currentPodHash` names the ReplicaSet of the current pod template. That ReplicaSet is adopted
//! as the revision — its hash, name, Services, DestinationRule subsets and AnalysisRuns stay as
//! they are — and marked with Weir's own hash of the template, so the next plans find it
//! whatever the status says. Argo's own `FindNewReplicaSet` falls back to comparing templates,
//! so the reverse (Weir's ReplicaSets handed back to Argo) needs nothing.

use super::canary::Context;
use super::observed::{Observed, hash_of, revision_of};
use super::plan::{EventType, Plan, ReplicaSetUpdate};
use crate::api::labels::{ARGO_DESIRED_REPLICAS, WEIR_POD_TEMPLATE_HASH};
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::Rollout;
use std::sync::Arc;

/// The ReplicaSet of the current pod template, and under which hash it goes.
pub struct NewReplicaSet<'a> {
    pub hash: String,
    pub rs: Option<&'a ReplicaSetSummary>,
    /// Found through Argo's status: the plan marks it and takes over Argo's step hash.
    pub adopted: bool,
}

fn annotation<'a>(rs: &'a ReplicaSetSummary, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Finds the new ReplicaSet for the template whose Weir hash is `template_hash`: the one with
/// that hash label, else the one marked with it, else the one Argo's status names.
pub fn new_replica_set<'a>(
    rollout: &Rollout,
    observed: &'a Observed,
    template_hash: &str,
) -> NewReplicaSet<'a> {
    let found = |rs: &'a ReplicaSetSummary, adopted| NewReplicaSet {
        hash: hash_of(rs).unwrap_or(template_hash).to_string(),
        rs: Some(rs),
        adopted,
    };
    let rss: Vec<&ReplicaSetSummary> = observed.replica_sets.iter().map(Arc::as_ref).collect();
    if let Some(rs) = rss.iter().find(|rs| hash_of(rs) == Some(template_hash)) {
        return found(rs, false);
    }
    if let Some(rs) = rss
        .iter()
        .find(|rs| annotation(rs, WEIR_POD_TEMPLATE_HASH) == Some(template_hash))
    {
        return found(rs, false);
    }
    if let Some(rs) = argo_current(rollout, &rss) {
        return found(rs, true);
    }
    NewReplicaSet {
        hash: template_hash.to_string(),
        rs: None,
        adopted: false,
    }
}

/// The ReplicaSet Argo's status records for the current spec: the status was written for this
/// generation, and the ReplicaSet is Argo's (it has Argo's desired-replicas annotation, which
/// Weir never writes) and not yet marked by Weir for another template. A status Weir wrote
/// after a template change it could not act on (an invalid spec) names Weir's ReplicaSet, so it
/// is never mistaken for the new template's.
fn argo_current<'a>(
    rollout: &Rollout,
    rss: &[&'a ReplicaSetSummary],
) -> Option<&'a ReplicaSetSummary> {
    let status = rollout.status.as_ref()?;
    let generation = rollout.metadata.generation?.to_string();
    if status.observed_generation.as_deref() != Some(generation.as_str()) {
        return None;
    }
    let hash = status
        .current_pod_hash
        .as_deref()
        .filter(|h| !h.is_empty())?;
    rss.iter().copied().find(|rs| {
        hash_of(rs) == Some(hash)
            && annotation(rs, ARGO_DESIRED_REPLICAS).is_some()
            && annotation(rs, WEIR_POD_TEMPLATE_HASH).is_none()
    })
}

/// Marks the adopted ReplicaSet with Weir's template hash and takes the steps as Argo last
/// recorded them (same generation, so the same steps) under Weir's steps hash, so the plan
/// continues the release from Argo's current step instead of starting a new revision.
pub fn plan_adoption(ctx: &Context, plan: &mut Plan) {
    let Some(rs) = ctx.new_rs.filter(|_| ctx.adopted) else {
        return;
    };
    let name = rs.metadata.name.clone().unwrap_or_default();
    plan.status.current_step_hash = Some(ctx.steps_hash.clone());
    plan.replica_set_updates.push(ReplicaSetUpdate {
        name: name.clone(),
        replicas: None,
        annotations: [(
            WEIR_POD_TEMPLATE_HASH.to_string(),
            Some(ctx.template_hash.clone()),
        )]
        .into(),
    });
    plan.event(
        EventType::Normal,
        "ReplicaSetAdopted",
        format!(
            "Adopted ReplicaSet {name} (revision {}) from Argo Rollouts' status as the current pod template",
            revision_of(rs)
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::labels::POD_TEMPLATE_HASH;
    use crate::api::rollout::RolloutStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs(hash: &str, annotations: &[(&str, &str)]) -> ReplicaSetSummary {
        ReplicaSetSummary {
            metadata: ObjectMeta {
                name: Some(format!("web-{hash}")),
                labels: Some([(POD_TEMPLATE_HASH.to_string(), hash.to_string())].into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: None,
            status: None,
        }
    }

    fn rollout(generation: i64, observed: &str, current: &str) -> Rollout {
        let mut r = Rollout::new("web", Default::default());
        r.metadata.generation = Some(generation);
        r.status = Some(RolloutStatus {
            observed_generation: Some(observed.into()),
            current_pod_hash: Some(current.into()),
            ..Default::default()
        });
        r
    }

    #[test]
    fn which_replica_set_is_the_current_templates() {
        let argo = [(ARGO_DESIRED_REPLICAS, "5")];
        let marked = [
            (ARGO_DESIRED_REPLICAS, "5"),
            (WEIR_POD_TEMPLATE_HASH, "other"),
        ];
        let marked_t = [(WEIR_POD_TEMPLATE_HASH, "t")];
        // (case, rollout, replica sets, → hash, found, adopted); Weir's template hash is "t".
        type Case = (
            &'static str,
            Rollout,
            Vec<ReplicaSetSummary>,
            &'static str,
            bool,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "Weir's own",
                rollout(2, "2", "t"),
                vec![rs("t", &[])],
                "t",
                true,
                false,
            ),
            (
                "marked earlier",
                rollout(3, "2", "a"),
                vec![rs("a", &marked_t)],
                "a",
                true,
                false,
            ),
            (
                "Argo's, same generation",
                rollout(2, "2", "a"),
                vec![rs("a", &argo)],
                "a",
                true,
                true,
            ),
            (
                "Argo's, spec changed since",
                rollout(3, "2", "a"),
                vec![rs("a", &argo)],
                "t",
                false,
                false,
            ),
            (
                "not Argo's (Weir, invalid spec)",
                rollout(2, "2", "w"),
                vec![rs("w", &[])],
                "t",
                false,
                false,
            ),
            (
                "marked for another template",
                rollout(2, "2", "a"),
                vec![rs("a", &marked)],
                "t",
                false,
                false,
            ),
            (
                "status names none",
                rollout(2, "2", "gone"),
                vec![rs("a", &argo)],
                "t",
                false,
                false,
            ),
        ];
        for (case, rollout, rss, hash, found, adopted) in cases {
            let observed = Observed {
                replica_sets: rss.into_iter().map(Arc::new).collect(),
                ..Default::default()
            };
            let got = new_replica_set(&rollout, &observed, "t");
            assert_eq!(got.hash, hash, "{case}");
            assert_eq!(got.rs.is_some(), found, "{case}");
            assert_eq!(got.adopted, adopted, "{case}");
        }
    }
}
