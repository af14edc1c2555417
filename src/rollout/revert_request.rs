//! Deciding a Git revert (pure): when an abort qualifies and the Rollout opted in, record the
//! request in Weir's state (the `weir.dev/state` annotation, written before any Git work, so a
//! restarted controller resumes it) and hold the failed images so an image updater rolling them
//! forward does not start a canary again.

use super::abort::{self, Cause};
use super::canary::Context;
use super::conditions;
use super::plan::{EventType, Plan};
use crate::api::rollout::{GitRevertStatus, HeldRevision, ImageRevert, RevertEvidence};
use k8s_openapi::api::core::v1::PodTemplateSpec;

pub const ANNOTATION_GIT_REVERT: &str = "weir.dev/git-revert";
pub const CONDITION_HELD: &str = "Held";
pub const PHASE_PENDING: &str = "Pending";
/// Held revisions kept per Rollout, newest last; older ones are released so the annotation
/// stays small however many releases fail.
pub const HELD_LIMIT: usize = 10;

/// Controller-wide Git revert settings the planner needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevertSettings {
    /// Revert every Rollout, not only those annotated `weir.dev/git-revert: "true"`.
    pub all_rollouts: bool,
    /// Also revert after a manual `abort`.
    pub on_manual_abort: bool,
}

/// (container, image) of a pod template, init containers first, as `ReplicaSetSummary::images`
/// lists the stable ReplicaSet's.
fn images(template: &PodTemplateSpec) -> Vec<(String, String)> {
    template
        .spec
        .iter()
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

/// Records a revert request for the current revision if the abort qualifies.
pub fn request(ctx: &Context, plan: &mut Plan, cause: &Cause, revision: i64) {
    let opted_in = ctx.observed.revert_settings.all_rollouts
        || ctx
            .rollout
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_GIT_REVERT))
            .is_some_and(|v| v == "true");
    if !opted_in || (*cause == Cause::Manual && !ctx.observed.revert_settings.on_manual_abort) {
        return;
    }
    if plan
        .weir
        .as_ref()
        .and_then(|w| w.git_revert.as_ref())
        .is_some_and(|r| r.pod_hash == ctx.hash)
    {
        return;
    }
    let Some(stable) = plan
        .status
        .stable_rs
        .as_deref()
        .and_then(|h| ctx.rs_by_hash(h))
    else {
        return;
    };
    let stable_images = stable.images();
    let reverts: Vec<ImageRevert> = images(&ctx.template)
        .into_iter()
        .filter_map(|(container, bad)| {
            let stable_image = stable_images
                .iter()
                .find(|(c, _)| *c == container)?
                .1
                .clone();
            (stable_image != bad).then_some(ImageRevert {
                container,
                bad_image: bad,
                stable_image,
            })
        })
        .collect();
    if reverts.is_empty() {
        return;
    }
    let (cause_name, evidence) = match cause {
        Cause::Analysis { evidence, .. } => ("analysis", Some(evidence.clone())),
        Cause::ProgressDeadline { message } => (
            "progressDeadline",
            Some(RevertEvidence {
                message: message.clone(),
                ..Default::default()
            }),
        ),
        Cause::Manual => ("manual", None),
        // The held image is the result of a revert, not a reason for another.
        Cause::HeldImage { .. } => return,
    };
    let summary = reverts
        .iter()
        .map(|r| format!("{} -> {}", r.bad_image, r.stable_image))
        .collect::<Vec<_>>()
        .join(", ");
    let held_images: Vec<String> = reverts.iter().map(|r| r.bad_image.clone()).collect();
    let weir = plan.weir.get_or_insert_default();
    weir.git_revert = Some(GitRevertStatus {
        phase: PHASE_PENDING.into(),
        revision: revision.to_string(),
        pod_hash: ctx.hash.clone(),
        images: reverts,
        cause: cause_name.into(),
        evidence,
        requested_at: ctx.now_time.clone(),
        attempts: None,
        last_attempt_at: None,
        repo: None,
        file: None,
        branch: None,
        commit: None,
        message: None,
    });
    let held = weir.held.get_or_insert_with(Vec::new);
    held.retain(|h| h.pod_hash != ctx.hash);
    held.push(HeldRevision {
        pod_hash: ctx.hash.clone(),
        images: held_images,
        reason: format!("revision {revision} was aborted ({cause_name})"),
    });
    if held.len() > HELD_LIMIT {
        held.drain(..held.len() - HELD_LIMIT);
    }
    plan.event(EventType::Normal, "GitRevertStarted", format!("Reverting {summary} in Git: the canary of revision {revision} was aborted ({cause_name})"));
}

/// A new revision whose template is a held one: stay aborted instead of starting a canary.
pub fn hold_if_held(ctx: &Context, plan: &mut Plan, revision: i64) -> bool {
    let held = plan
        .weir
        .as_ref()
        .and_then(|w| w.held.as_ref())
        .and_then(|h| h.iter().find(|h| holds(h, ctx)))
        .cloned();
    let Some(held) = held else {
        conditions::remove(&mut plan.status, CONDITION_HELD);
        return false;
    };
    let message = format!(
        "Rollout aborted update to revision {revision}: image {} is held because {}; run `kubectl weir retry rollout {}` to roll it out again, or change the image",
        held.images.join(", "),
        held.reason,
        ctx.name
    );
    abort::abort(ctx, plan, Cause::HeldImage { message }, revision);
    true
}

/// The Held condition of a revision [`abort::abort`] keeps aborted for a held image.
pub fn set_held(ctx: &Context, plan: &mut Plan, message: &str) {
    conditions::set(
        &mut plan.status,
        CONDITION_HELD,
        "True",
        abort::REASON_IMAGE_HELD,
        message,
        &ctx.now_time,
        false,
    );
}

/// `retry` rolls a held revision out again.
pub fn release(ctx: &Context, plan: &mut Plan) {
    if let Some(held) = plan.weir.as_mut().and_then(|w| w.held.as_mut()) {
        held.retain(|h| !holds(h, ctx));
    }
    conditions::remove(&mut plan.status, CONDITION_HELD);
}

/// The same template, or any container declaring a held image (other fields may have changed
/// alongside it).
fn holds(held: &HeldRevision, ctx: &Context) -> bool {
    held.pod_hash == ctx.hash
        || images(&ctx.template)
            .iter()
            .any(|(_, image)| held.images.contains(image))
}
