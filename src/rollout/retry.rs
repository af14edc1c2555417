//! `retry` of an aborted Rollout (Argo's `status.abort` cleared): start again from the first
//! step with fresh AnalysisRuns, releasing a held image.

use super::canary::{Context, Decision};
use super::conditions::{self, PROGRESSING, REASON_RETRY};
use super::plan::{EventType, Plan};
use super::revert_request;

/// `retry` clears `status.abort`: start again from the first step with fresh AnalysisRuns.
pub(super) fn handle_retry(ctx: &Context, plan: &mut Plan, d: &mut Decision) {
    let st = &mut plan.status;
    if d.aborted || st.aborted_at.is_none() {
        return;
    }
    st.aborted_at = None;
    st.abort = None;
    revert_request::release(ctx, plan);
    let st = &mut plan.status;
    if let Some(canary) = st.canary.as_mut() {
        canary.current_step_analysis_run_status = None;
        canary.current_background_analysis_run_status = None;
    }
    if !d.promoted {
        d.step_index = 0;
    }
    conditions::set(
        st,
        PROGRESSING,
        "Unknown",
        REASON_RETRY,
        "Retrying Rollout after abort",
        &ctx.now_time,
        true,
    );
    plan.event(
        EventType::Normal,
        REASON_RETRY,
        "Retrying Rollout after abort",
    );
}
