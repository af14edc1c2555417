//! Which trigger an Event fires. Argo's recorder sends a notification for every Event it records
//! whose reason, in kebab case behind `on-`, names a configured trigger (argo-rollouts
//! `utils/record/record.go`): `RolloutCompleted` fires `on-rollout-completed`. Weir's own
//! reasons (`GitRevertCommitted`, `ImageHeld`, ...) fire triggers the same way.

/// Reasons that never notify: the notifier's own reports, so a failing destination subscribed
/// to every trigger cannot feed on its own failures.
pub const SILENT_REASONS: [&str; 2] = [REASON_NOTIFICATION_FAILED, REASON_INVALID_CONFIG];

/// The Warning Event on a Rollout when a notification was given up.
pub const REASON_NOTIFICATION_FAILED: &str = "NotificationFailed";
/// The Warning Event on the ConfigMap for each item of it that cannot be used, and on a Rollout
/// whose compact subscription annotation has parts that cannot be used.
pub const REASON_INVALID_CONFIG: &str = "InvalidNotificationConfig";

/// `on-` and the reason in kebab case, as Argo's two regular expressions make it: a capital
/// followed by lower case starts a word, and so does a capital after a lower-case letter or a
/// digit (`ScalingReplicaSet` → `on-scaling-replica-set`, `HTTPError` → `on-http-error`).
pub fn trigger_of(reason: &str) -> String {
    let chars: Vec<char> = reason.chars().collect();
    let mut out = String::from("on-");
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let after_word = prev.is_ascii_lowercase() || prev.is_ascii_digit();
            if after_word || next_lower {
                out.push('-');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_become_argo_trigger_names() {
        let cases = [
            ("RolloutCompleted", "on-rollout-completed"),
            ("RolloutStepCompleted", "on-rollout-step-completed"),
            ("RolloutUpdated", "on-rollout-updated"),
            ("RolloutPaused", "on-rollout-paused"),
            ("RolloutAborted", "on-rollout-aborted"),
            ("ScalingReplicaSet", "on-scaling-replica-set"),
            ("AnalysisRunRunning", "on-analysis-run-running"),
            ("AnalysisRunFailed", "on-analysis-run-failed"),
            ("AnalysisRunError", "on-analysis-run-error"),
            ("GitRevertCommitted", "on-git-revert-committed"),
            ("GitRevertFailed", "on-git-revert-failed"),
            ("ImageHeld", "on-image-held"),
            ("HTTPError", "on-http-error"),
            ("Step2Done", "on-step2-done"),
            ("Paused", "on-paused"),
        ];
        for (reason, trigger) in cases {
            assert_eq!(trigger_of(reason), trigger, "{reason}");
        }
    }
}
