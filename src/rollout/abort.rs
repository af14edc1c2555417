//! Where an abort is decided. Whatever the cause (a user's `abort`, a failed or errored
//! AnalysisRun, the progress deadline with `progressDeadlineAbort`, an image held after a Git
//! revert), [`abort`] is the one function that sets `status.abort`, records the abort once
//! (`abortedAt`, the Progressing condition, the Event, pauses dropped, the Git revert asked for),
//! and marks the plan that records it (`Plan::aborting`, which apply reads to time how long
//! traffic takes to get back to stable). Routing and scaling read `status.abort` from the plan.

use super::canary::Context;
use super::conditions::{self, PROGRESSING, REASON_ABORTED};
use super::plan::{EventType, Plan};
use super::revert_request;
use crate::api::rollout::RevertEvidence;

/// Why the update is aborted.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// `status.abort` set from outside (`kubectl weir abort`, Argo CD's abort action).
    Manual,
    /// A step or background AnalysisRun ended Failed or Error; `message` is Argo's abort text.
    Analysis {
        message: String,
        evidence: RevertEvidence,
    },
    /// The progress deadline passed with `progressDeadlineAbort: true`; `message` says which
    /// ReplicaSet timed out.
    ProgressDeadline { message: String },
    /// The new revision declares an image held after an earlier revert.
    HeldImage { message: String },
}

/// The Event reason of a held image's abort, whose message tells how to release it.
pub const REASON_IMAGE_HELD: &str = "ImageHeld";

/// Aborts the update to `revision`, or keeps the abort already in force (a plan of an aborted
/// Rollout calls this with [`Cause::Manual`]: only the first plan records anything).
pub fn abort(ctx: &Context, plan: &mut Plan, cause: Cause, revision: i64) {
    let st = &mut plan.status;
    st.abort = Some(true);
    if st.aborted_at.is_some() {
        return;
    }
    plan.aborting = true;
    let st = &mut plan.status;
    st.aborted_at = Some(ctx.now_time.clone());
    st.pause_conditions = None;
    st.controller_pause = None;
    st.promote_full = None;
    let message = match &cause {
        // An Aborted condition already there (written by an earlier controller with the abort's
        // reason) keeps its words.
        Cause::Manual => conditions::get(st, PROGRESSING)
            .filter(|c| c.reason == REASON_ABORTED)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| format!("Rollout aborted update to revision {revision}")),
        Cause::Analysis { message, .. } => message.clone(),
        Cause::ProgressDeadline { message } => {
            format!("Rollout aborted update to revision {revision}: {message}")
        }
        Cause::HeldImage { message } => message.clone(),
    };
    conditions::set(
        st,
        PROGRESSING,
        "False",
        REASON_ABORTED,
        &message,
        &ctx.now_time,
        true,
    );
    if let Cause::HeldImage { .. } = cause {
        revert_request::set_held(ctx, plan, &message);
        plan.event(EventType::Warning, REASON_IMAGE_HELD, message);
        return;
    }
    plan.event(EventType::Warning, REASON_ABORTED, message);
    revert_request::request(ctx, plan, &cause, revision);
}
