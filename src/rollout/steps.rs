//! Reading the step list: which step is current, the weight in force, sticky setCanaryScale.

use crate::api::duration::parse_int_or_string;
use crate::api::rollout::{CanaryStep, SetCanaryScale};
use std::time::Duration;

/// Weight of the last `setWeight` at or before `index` (Argo's `GetCurrentSetWeight` without
/// the abort/promotion cases, which the planner decides).
pub fn set_weight_at(steps: &[CanaryStep], index: usize) -> i32 {
    steps
        .iter()
        .take(index.saturating_add(1))
        .rev()
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
}

/// Weight of the last `setWeight` strictly before `index`: the weight that may stay in force
/// while the canary pods for the current step are not yet available.
pub fn previous_set_weight(steps: &[CanaryStep], index: usize) -> i32 {
    if index == 0 {
        return 0;
    }
    set_weight_at(steps, index - 1)
}

/// The `setCanaryScale` in force at `index`: sticky until a later one with matchTrafficWeight.
pub fn canary_scale_at(steps: &[CanaryStep], index: usize) -> Option<&SetCanaryScale> {
    steps
        .iter()
        .take(index.saturating_add(1))
        .rev()
        .find_map(|s| s.set_canary_scale.as_ref())
        .filter(|s| !s.match_traffic_weight.unwrap_or(false))
}

/// Pause length of a pause step; `None` = indefinite. Invalid durations never reach here
/// (validation rejects them), so they are treated as indefinite rather than skipped.
pub fn pause_duration(step: &CanaryStep) -> Option<Duration> {
    step.pause
        .as_ref()
        .and_then(|p| p.duration.as_ref())
        .and_then(|d| parse_int_or_string(d).ok())
}

/// Human text for events: "setWeight: 20", "pause: 5m", "pause", "analysis".
pub fn describe(step: &CanaryStep) -> String {
    if let Some(w) = step.set_weight {
        return format!("setWeight: {w}");
    }
    if let Some(p) = &step.pause {
        return match &p.duration {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(s)) => {
                format!("pause: {s}s")
            }
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => {
                format!("pause: {s}")
            }
            None => "pause".to_string(),
        };
    }
    if step.analysis.is_some() {
        return "analysis".to_string();
    }
    if let Some(scale) = &step.set_canary_scale {
        return match (scale.replicas, scale.weight) {
            (Some(r), _) => format!("setCanaryScale: replicas {r}"),
            (_, Some(w)) => format!("setCanaryScale: weight {w}"),
            _ => "setCanaryScale: matchTrafficWeight".to_string(),
        };
    }
    "step".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(w: i32) -> CanaryStep {
        CanaryStep {
            set_weight: Some(w),
            ..Default::default()
        }
    }
    fn pause() -> CanaryStep {
        CanaryStep {
            pause: Some(Default::default()),
            ..Default::default()
        }
    }
    fn scale(replicas: Option<i32>, match_traffic: bool) -> CanaryStep {
        CanaryStep {
            set_canary_scale: Some(SetCanaryScale {
                replicas,
                weight: None,
                match_traffic_weight: match_traffic.then_some(true),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn weights_in_force() {
        let steps = vec![weight(10), pause(), weight(50), pause()];
        let cases = [(0, 10, 0), (1, 10, 10), (2, 50, 10), (3, 50, 50)];
        for (index, at, previous) in cases {
            assert_eq!(set_weight_at(&steps, index), at, "at {index}");
            assert_eq!(
                previous_set_weight(&steps, index),
                previous,
                "previous {index}"
            );
        }
        assert_eq!(set_weight_at(&[pause()], 0), 0);
    }

    #[test]
    fn canary_scale_is_sticky_until_match_traffic_weight() {
        let steps = vec![
            scale(Some(3), false),
            weight(10),
            pause(),
            scale(None, true),
            weight(20),
        ];
        assert_eq!(canary_scale_at(&steps, 0).and_then(|s| s.replicas), Some(3));
        assert_eq!(canary_scale_at(&steps, 2).and_then(|s| s.replicas), Some(3));
        assert!(canary_scale_at(&steps, 3).is_none());
        assert!(canary_scale_at(&steps, 4).is_none());
    }
}
