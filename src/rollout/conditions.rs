//! Rollout conditions and phase, as Argo computes them (utils/conditions, utils/rollout/rolloututil.go).

use crate::api::limits::{STATUS_MESSAGE_LIMIT, truncate};
use crate::api::rollout::{RolloutCondition, RolloutSpec, RolloutStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const PAUSED: &str = "Paused";
pub const COMPLETED: &str = "Completed";
pub const HEALTHY: &str = "Healthy";
pub const INVALID_SPEC: &str = "InvalidSpec";

pub const REASON_REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const REASON_PAUSED: &str = "RolloutPaused";
pub const REASON_RESUMED: &str = "RolloutResumed";
pub const REASON_ABORTED: &str = "RolloutAborted";
pub const REASON_RETRY: &str = "RolloutRetry";
pub const REASON_DEADLINE: &str = "ProgressDeadlineExceeded";
pub const REASON_AVAILABLE: &str = "AvailableReason";
pub const REASON_COMPLETED: &str = "RolloutCompleted";
pub const REASON_HEALTHY: &str = "RolloutHealthy";

pub const PHASE_HEALTHY: &str = "Healthy";
pub const PHASE_PROGRESSING: &str = "Progressing";
pub const PHASE_PAUSED: &str = "Paused";
pub const PHASE_DEGRADED: &str = "Degraded";

pub fn get<'a>(status: &'a RolloutStatus, type_: &str) -> Option<&'a RolloutCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// Sets a condition, keeping `lastTransitionTime` unless the status value flips and
/// `lastUpdateTime` unless something about the condition changed. `touch` forces a new
/// `lastUpdateTime` (Progressing uses it to record progress for the deadline).
pub fn set(
    status: &mut RolloutStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: &Time,
    touch: bool,
) {
    let message = &*truncate(message, STATUS_MESSAGE_LIMIT);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let changed = existing.status != value
                || existing.reason != reason
                || existing.message != message;
            if existing.status != value {
                existing.last_transition_time = Some(now.clone());
            }
            if changed || touch {
                existing.last_update_time = Some(now.clone());
            }
            existing.status = value.to_string();
            existing.reason = reason.to_string();
            existing.message = message.to_string();
        }
        None => conditions.push(RolloutCondition {
            type_: type_.to_string(),
            status: value.to_string(),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(now.clone()),
            reason: reason.to_string(),
            message: message.to_string(),
        }),
    }
}

pub fn remove(status: &mut RolloutStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// Argo's `CalculateRolloutPhase`: the first matching rule wins.
pub fn phase(
    spec: &RolloutSpec,
    status: &RolloutStatus,
    traffic_routed: bool,
) -> (&'static str, String) {
    if let Some(invalid) = get(status, INVALID_SPEC) {
        return (
            PHASE_DEGRADED,
            format!("{INVALID_SPEC}: {}", invalid.message),
        );
    }
    for condition in status.conditions.iter().flatten() {
        if condition.reason == REASON_ABORTED || condition.reason == REASON_DEADLINE {
            return (
                PHASE_DEGRADED,
                format!("{}: {}", condition.reason, condition.message),
            );
        }
    }
    if spec.paused.unwrap_or(false) {
        return (PHASE_PAUSED, "manually paused".to_string());
    }
    if let Some(pause) = status.pause_conditions.iter().flatten().next() {
        return (PHASE_PAUSED, pause.reason.clone());
    }
    if spec.restart_at.is_some() && spec.restart_at != status.restarted_at {
        return (PHASE_PROGRESSING, "rollout is restarting".to_string());
    }
    let replicas = spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    if updated < replicas {
        return (
            PHASE_PROGRESSING,
            "more replicas need to be updated".to_string(),
        );
    }
    if status.available_replicas.unwrap_or(0) < updated {
        return (
            PHASE_PROGRESSING,
            "updated replicas are still becoming available".to_string(),
        );
    }
    if !traffic_routed && status.replicas.unwrap_or(0) > updated {
        return (
            PHASE_PROGRESSING,
            "old replicas are pending termination".to_string(),
        );
    }
    match (&status.stable_rs, &status.current_pod_hash) {
        (Some(stable), Some(current)) if !stable.is_empty() && stable == current => {
            (PHASE_HEALTHY, String::new())
        }
        _ => (
            PHASE_PROGRESSING,
            "waiting for all steps to complete".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::PauseCondition;

    fn now() -> Time {
        Time(jiff::Timestamp::UNIX_EPOCH)
    }

    fn status(
        updated: i32,
        available: i32,
        replicas: i32,
        stable: &str,
        current: &str,
    ) -> RolloutStatus {
        RolloutStatus {
            updated_replicas: Some(updated),
            available_replicas: Some(available),
            replicas: Some(replicas),
            stable_rs: Some(stable.into()),
            current_pod_hash: Some(current.into()),
            ..Default::default()
        }
    }

    #[test]
    fn phase_rules_in_argo_order() {
        let spec = RolloutSpec {
            replicas: Some(10),
            ..Default::default()
        };
        let paused_spec = RolloutSpec {
            replicas: Some(10),
            paused: Some(true),
            ..Default::default()
        };
        let mut aborted = status(10, 10, 10, "a", "b");
        set(
            &mut aborted,
            PROGRESSING,
            "False",
            REASON_ABORTED,
            "Rollout aborted update to revision 2",
            &now(),
            false,
        );
        let mut invalid = aborted.clone();
        set(
            &mut invalid,
            INVALID_SPEC,
            "True",
            INVALID_SPEC,
            "spec.selector: Required value",
            &now(),
            false,
        );
        let mut step_paused = status(2, 12, 12, "a", "b");
        step_paused.pause_conditions = Some(vec![PauseCondition {
            reason: "CanaryPauseStep".into(),
            start_time: now(),
        }]);

        let cases: Vec<(&RolloutSpec, RolloutStatus, bool, &str, &str)> = vec![
            (
                &spec,
                invalid,
                true,
                PHASE_DEGRADED,
                "InvalidSpec: spec.selector: Required value",
            ),
            (
                &spec,
                aborted,
                true,
                PHASE_DEGRADED,
                "RolloutAborted: Rollout aborted update to revision 2",
            ),
            (
                &paused_spec,
                status(2, 2, 12, "a", "b"),
                true,
                PHASE_PAUSED,
                "manually paused",
            ),
            (&spec, step_paused, true, PHASE_PAUSED, "CanaryPauseStep"),
            (
                &spec,
                status(2, 12, 12, "a", "b"),
                true,
                PHASE_PROGRESSING,
                "more replicas need to be updated",
            ),
            (
                &spec,
                status(10, 8, 12, "a", "b"),
                true,
                PHASE_PROGRESSING,
                "updated replicas are still becoming available",
            ),
            (
                &spec,
                status(10, 10, 12, "b", "b"),
                false,
                PHASE_PROGRESSING,
                "old replicas are pending termination",
            ),
            (&spec, status(10, 10, 12, "b", "b"), true, PHASE_HEALTHY, ""),
            (
                &spec,
                status(10, 10, 10, "a", "b"),
                true,
                PHASE_PROGRESSING,
                "waiting for all steps to complete",
            ),
        ];
        for (spec, status, routed, want_phase, want_message) in cases {
            assert_eq!(
                phase(spec, &status, routed),
                (want_phase, want_message.to_string())
            );
        }
    }

    #[test]
    fn set_keeps_transition_time_when_status_is_unchanged() {
        let mut status = RolloutStatus::default();
        let t0 = now();
        let t1 = Time(jiff::Timestamp::from_second(60).unwrap());
        set(
            &mut status,
            PROGRESSING,
            "True",
            REASON_REPLICA_SET_UPDATED,
            "m",
            &t0,
            false,
        );
        set(
            &mut status,
            PROGRESSING,
            "True",
            REASON_REPLICA_SET_UPDATED,
            "m",
            &t1,
            false,
        );
        let c = get(&status, PROGRESSING).unwrap();
        assert_eq!(c.last_update_time, Some(t0.clone()));
        set(
            &mut status,
            PROGRESSING,
            "True",
            REASON_REPLICA_SET_UPDATED,
            "m",
            &t1,
            true,
        );
        let c = get(&status, PROGRESSING).unwrap();
        assert_eq!(
            (c.last_update_time.clone(), c.last_transition_time.clone()),
            (Some(t1.clone()), Some(t0))
        );
    }
}
