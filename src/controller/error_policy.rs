//! What happens after a failed reconcile: counted by category, logged (a conflict only at debug:
//! it is expected under concurrency), and retried with a per-Rollout backoff.

use super::error::{self, Error};
use super::reconcile::Context;
use crate::api::rollout::Rollout;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;

/// Retries with backoff per Rollout: quickly after a conflict (fresh state is one watch event
/// away), further apart for failures a person has to fix.
pub(super) fn error_policy(rollout: Arc<Rollout>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.stats
        .reconcile_errors
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let category = error.category();
    ctx.metrics.rollout_reconcile_error(
        &rollout.namespace().unwrap_or_default(),
        &rollout.name_any(),
        category,
    );
    let delay = ctx
        .attempts
        .failed(ObjectRef::from_obj(&*rollout), category);
    if category == error::Category::Conflict {
        tracing::debug!(rollout = %rollout.name_any(), error = %error, retry_in = ?delay, "re-planning");
    } else {
        tracing::warn!(
            rollout = %rollout.name_any(), error = %error, category = category.as_str(),
            retry_in = ?delay, "reconcile failed"
        );
    }
    Action::requeue(delay)
}
