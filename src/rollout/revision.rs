//! A new revision: the pod template or the steps changed. Creates the ReplicaSet for it and
//! resets the step state, or fast-tracks when the template is the stable one again.

use super::canary::Context;
use super::conditions::{self, PROGRESSING, REASON_REPLICA_SET_UPDATED};
use super::observed::revision_of;
use super::plan::{EventType, Plan};
use super::status;
use crate::api::labels::{POD_TEMPLATE_HASH, REVISION};
use crate::api::rollout::RolloutStatus;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Resource;
use std::collections::BTreeMap;

pub fn needs_new_revision(ctx: &Context, status: &RolloutStatus) -> bool {
    ctx.new_rs.is_none()
        || status.current_pod_hash.as_deref() != Some(ctx.hash.as_str())
        || status.current_step_hash.as_deref() != Some(ctx.steps_hash.as_str())
}

pub fn plan_new_revision(ctx: &Context, plan: &mut Plan) {
    let changed = plan.status.current_pod_hash.as_deref() != Some(ctx.hash.as_str())
        || plan.status.current_step_hash.as_deref() != Some(ctx.steps_hash.as_str());
    let revision = match ctx.new_rs {
        Some(rs) => revision_of(rs),
        None => ctx.next_revision(),
    };
    if ctx.new_rs.is_none() {
        let rs = build_replica_set(ctx, revision);
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        plan.create_replica_set = Some(rs);
        plan.event(
            EventType::Normal,
            "NewReplicaSetCreated",
            format!("Created ReplicaSet {rs_name} (revision {revision})"),
        );
    }
    if changed {
        reset_for_revision(ctx, revision, plan);
        // An image that failed and was reverted in Git comes back (an image updater rolling
        // forward): stay aborted rather than start another canary.
        super::revert_request::hold_if_held(ctx, plan, revision);
    }
    if ctx.new_rs.is_none() {
        status::finish(ctx, plan, revision, None);
    }
}

fn reset_for_revision(ctx: &Context, revision: i64, plan: &mut Plan) {
    let steps = ctx.steps.len() as i32;
    let st = &mut plan.status;
    let stable = st.stable_rs.clone().filter(|s| !s.is_empty());
    st.current_pod_hash = Some(ctx.hash.clone());
    st.current_step_hash = Some(ctx.steps_hash.clone());
    st.pause_conditions = None;
    st.controller_pause = None;
    st.abort = None;
    st.aborted_at = None;
    st.promote_full = None;
    if let Some(canary) = st.canary.as_mut() {
        canary.current_step_analysis_run_status = None;
        canary.current_background_analysis_run_status = None;
    }
    conditions::remove(st, conditions::COMPLETED);
    let index = match stable {
        None => {
            // Initial deploy: nothing to compare against, so the first revision is stable at once.
            st.stable_rs = Some(ctx.hash.clone());
            steps
        }
        Some(stable) if stable == ctx.hash => {
            plan.events.push(super::plan::PlannedEvent {
                type_: EventType::Normal,
                reason: "SkipSteps".into(),
                message: "Rollback to stable ReplicaSets".into(),
            });
            steps
        }
        Some(_) => 0,
    };
    plan.status.current_step_index = (steps > 0).then_some(index);
    plan.event(
        EventType::Normal,
        "RolloutUpdated",
        format!("Rollout updated to revision {revision}"),
    );
    let message = format!("ReplicaSet \"{}\" is progressing.", ctx.new_rs_name());
    conditions::set(
        &mut plan.status,
        PROGRESSING,
        "True",
        REASON_REPLICA_SET_UPDATED,
        &message,
        &ctx.now_time,
        true,
    );
}

fn build_replica_set(ctx: &Context, revision: i64) -> ReplicaSet {
    let mut template = ctx.template.clone();
    let metadata = template.metadata.get_or_insert_with(Default::default);
    let mut labels = metadata.labels.clone().unwrap_or_default();
    labels.insert(POD_TEMPLATE_HASH.to_string(), ctx.hash.clone());
    metadata.labels = Some(labels.clone());
    let selector = ctx.rollout.spec.selector.clone().unwrap_or_default();
    let mut match_labels = selector.match_labels.unwrap_or_default();
    match_labels.insert(POD_TEMPLATE_HASH.to_string(), ctx.hash.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(ctx.new_rs_name()),
            namespace: Some(ctx.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                REVISION.to_string(),
                revision.to_string(),
            )])),
            owner_references: ctx.rollout.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: ctx.rollout.spec.min_ready_seconds,
            selector: LabelSelector {
                match_labels: Some(match_labels),
                match_expressions: selector.match_expressions,
            },
            template: Some(template),
        }),
        status: None,
    }
}
