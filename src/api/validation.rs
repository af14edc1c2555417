//! Spec validation that needs no other objects (the Istio/Service checks that need the referenced
//! objects live in `traffic`). Messages follow Kubernetes' `field: problem` form and say what to do.
//! Unsupported Argo features are rejected here rather than silently ignored.

use super::duration::parse_int_or_string;
use super::pod_template::PodTemplate;
use super::rollout::{CanaryStep, Rollout, RolloutSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Highest weight a step may set; Istio weights are integers summing to 100.
pub const MAX_WEIGHT: i32 = 100;

pub fn validate_rollout(rollout: &Rollout) -> Vec<FieldError> {
    validate_spec(&rollout.spec)
}

pub fn validate_spec(spec: &RolloutSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.workload_ref.is_some() {
        errors.push(err(
            "spec.workloadRef",
            "workloadRef is not supported by Weir; put the pod template in spec.template",
        ));
    }
    if spec.replicas.is_some_and(|r| r < 0) {
        errors.push(err("spec.replicas", "must be greater than or equal to 0"));
    }
    validate_selector(spec, &mut errors);
    if let (Some(deadline), min_ready) = (spec.progress_deadline_seconds, spec.min_ready_seconds)
        && deadline <= min_ready.unwrap_or(0)
    {
        errors.push(err(
            "spec.progressDeadlineSeconds",
            "must be greater than spec.minReadySeconds",
        ));
    }
    if spec.strategy.blue_green.is_some() {
        errors.push(err(
            "spec.strategy.blueGreen",
            "the blue-green strategy is not supported by Weir; use spec.strategy.canary",
        ));
    }
    match &spec.strategy.canary {
        Some(_) if spec.strategy.blue_green.is_some() => errors.push(err(
            "spec.strategy",
            "set exactly one of canary or blueGreen",
        )),
        Some(_) => validate_canary(spec, &mut errors),
        None if spec.strategy.blue_green.is_none() => errors.push(err(
            "spec.strategy.canary",
            "Required value: set spec.strategy.canary with the canary steps",
        )),
        None => {}
    }
    errors
}

fn validate_selector(spec: &RolloutSpec, errors: &mut Vec<FieldError>) {
    let Some(selector) = &spec.selector else {
        errors.push(err(
            "spec.selector",
            "Required value: add spec.selector.matchLabels matching spec.template.metadata.labels",
        ));
        return;
    };
    let Some(template) = spec.template.as_ref().map(PodTemplate::spec) else {
        errors.push(err(
            "spec.template",
            "Required value: add the pod template the rollout should run",
        ));
        return;
    };
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let match_labels = selector.match_labels.clone().unwrap_or_default();
    if match_labels.is_empty()
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
    {
        errors.push(err(
            "spec.selector",
            "Invalid value: empty selector is invalid for a Rollout; add matchLabels",
        ));
        return;
    }
    for (key, value) in &match_labels {
        if labels.get(key) != Some(value) {
            errors.push(err(
                "spec.selector",
                format!(
                    "Invalid value: selector does not match template labels: spec.template.metadata.labels must contain {key}: {value}"
                ),
            ));
        }
    }
    if selector
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errors.push(err(
            "spec.selector.matchExpressions",
            "matchExpressions are not supported by Weir; use matchLabels",
        ));
    }
    if template
        .spec
        .as_ref()
        .is_none_or(|s| s.containers.is_empty())
    {
        errors.push(err(
            "spec.template.spec.containers",
            "Required value: the pod template needs at least one container",
        ));
    }
}

fn validate_canary(spec: &RolloutSpec, errors: &mut Vec<FieldError>) {
    let Some(canary) = &spec.strategy.canary else {
        return;
    };
    let base = "spec.strategy.canary";
    let routing = canary.traffic_routing.as_ref();
    let istio = routing.and_then(|r| r.istio.as_ref());
    if let Some(routing) = routing {
        for name in routing.other.keys() {
            errors.push(err(
                format!("{base}.trafficRouting.{name}"),
                "this traffic router is not supported by Weir; use trafficRouting.istio",
            ));
        }
        if routing.managed_routes.is_some() {
            errors.push(err(
                format!("{base}.trafficRouting.managedRoutes"),
                "managed routes (setHeaderRoute/setMirrorRoute) are not supported by Weir; remove them",
            ));
        }
        if routing.max_traffic_weight.is_some_and(|w| w != MAX_WEIGHT) {
            errors.push(err(
                format!("{base}.trafficRouting.maxTrafficWeight"),
                "Istio weights always sum to 100; remove maxTrafficWeight",
            ));
        }
        match istio {
            None if routing.other.is_empty() => errors.push(err(
                format!("{base}.trafficRouting.istio"),
                "Required value: trafficRouting needs an istio section",
            )),
            None => {}
            Some(istio) => {
                let field = format!("{base}.trafficRouting.istio");
                match (&istio.virtual_service, &istio.virtual_services) {
                    (Some(_), Some(_)) => errors.push(err(
                        format!("{field}.virtualServices"),
                        "set either virtualService or virtualServices, not both",
                    )),
                    (None, None) => errors.push(err(
                        format!("{field}.virtualService"),
                        "Required value: name the VirtualService whose weights Weir sets",
                    )),
                    (None, Some(list)) if list.is_empty() => errors.push(err(
                        format!("{field}.virtualServices"),
                        "Required value: list at least one VirtualService",
                    )),
                    _ => {}
                }
                if let Some(dr) = &istio.destination_rule
                    && dr.canary_subset_name == dr.stable_subset_name
                {
                    errors.push(err(
                        format!("{field}.destinationRule.canarySubsetName"),
                        "canary and stable subsets must differ",
                    ));
                }
            }
        }
        let subset_mode = istio.is_some_and(|i| i.destination_rule.is_some());
        if !subset_mode {
            if canary.canary_service.as_deref().unwrap_or("").is_empty() {
                errors.push(err(
                    format!("{base}.canaryService"),
                    "Required value: traffic routing by host needs canaryService (or an istio destinationRule for subset routing)",
                ));
            }
            if canary.stable_service.as_deref().unwrap_or("").is_empty() {
                errors.push(err(
                    format!("{base}.stableService"),
                    "Required value: traffic routing by host needs stableService (or an istio destinationRule for subset routing)",
                ));
            }
        }
    } else {
        for (value, name) in [
            (canary.scale_down_delay_seconds, "scaleDownDelaySeconds"),
            (
                canary.abort_scale_down_delay_seconds,
                "abortScaleDownDelaySeconds",
            ),
            (canary.min_pods_per_replica_set, "minPodsPerReplicaSet"),
        ] {
            if value.is_some() {
                errors.push(err(
                    format!("{base}.{name}"),
                    "can only be used with trafficRouting; remove it or configure trafficRouting.istio",
                ));
            }
        }
    }
    if let (Some(c), Some(s)) = (&canary.canary_service, &canary.stable_service)
        && !c.is_empty()
        && c == s
    {
        errors.push(err(
            format!("{base}.stableService"),
            "canaryService and stableService must be different Services",
        ));
    }
    for (value, name, max_percent) in [
        (&canary.max_surge, "maxSurge", None),
        (&canary.max_unavailable, "maxUnavailable", Some(100)),
    ] {
        if let Some(message) = value.as_ref().and_then(|v| fencepost_error(v, max_percent)) {
            errors.push(err(format!("{base}.{name}"), message));
        }
    }
    if is_zero(&canary.max_surge) && is_zero(&canary.max_unavailable) {
        errors.push(err(
            format!("{base}.maxUnavailable"),
            "maxSurge and maxUnavailable cannot both be 0",
        ));
    }
    for (value, name) in [
        (canary.scale_down_delay_seconds, "scaleDownDelaySeconds"),
        (
            canary.abort_scale_down_delay_seconds,
            "abortScaleDownDelaySeconds",
        ),
        (canary.min_pods_per_replica_set, "minPodsPerReplicaSet"),
    ] {
        if value.is_some_and(|v| v < 0) {
            errors.push(err(
                format!("{base}.{name}"),
                "must be greater than or equal to 0",
            ));
        }
    }
    for (present, name, why) in [
        (
            canary.dynamic_stable_scale.unwrap_or(false),
            "dynamicStableScale",
            "remove it; Weir keeps the stable ReplicaSet at full size",
        ),
        (
            canary.ping_pong.is_some(),
            "pingPong",
            "use canaryService and stableService",
        ),
        (
            canary.anti_affinity.is_some(),
            "antiAffinity",
            "set affinity in the pod template",
        ),
        (
            canary.canary_metadata.is_some(),
            "canaryMetadata",
            "remove it",
        ),
        (
            canary.stable_metadata.is_some(),
            "stableMetadata",
            "remove it",
        ),
        (
            canary.replica_progress_threshold.is_some(),
            "replicaProgressThreshold",
            "remove it; Weir waits for all canary pods",
        ),
    ] {
        if present {
            errors.push(err(
                format!("{base}.{name}"),
                format!("not supported by Weir; {why}"),
            ));
        }
    }
    for (index, step) in canary.steps.iter().flatten().enumerate() {
        validate_step(
            &format!("{base}.steps[{index}]"),
            step,
            routing.is_some(),
            errors,
        );
    }
}

/// maxSurge/maxUnavailable as Kubernetes reads them (GetScaledValueFromIntOrPercent): a
/// non-negative integer or a percentage; a bare number in a string is not a percentage.
fn fencepost_error(value: &IntOrString, max_percent: Option<i64>) -> Option<String> {
    match value {
        IntOrString::Int(v) if *v < 0 => Some(format!(
            "Invalid value: {v}: must be greater than or equal to 0"
        )),
        IntOrString::Int(_) => None,
        IntOrString::String(s) => {
            let percent = s
                .strip_suffix('%')
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<i64>().ok());
            match percent {
                None => Some(format!(
                    "Invalid value: \"{s}\": must be an integer or a percentage such as \"25%\""
                )),
                Some(p) if max_percent.is_some_and(|max| p > max) => Some(format!(
                    "Invalid value: \"{s}\": must not be greater than 100%"
                )),
                Some(_) => None,
            }
        }
    }
}

fn is_zero(value: &Option<IntOrString>) -> bool {
    match value {
        Some(IntOrString::Int(0)) => true,
        Some(IntOrString::String(s)) => s == "0" || s == "0%",
        _ => false,
    }
}

fn validate_step(
    field: &str,
    step: &CanaryStep,
    traffic_routed: bool,
    errors: &mut Vec<FieldError>,
) {
    let keys = [
        step.set_weight.is_some(),
        step.pause.is_some(),
        step.analysis.is_some(),
        step.set_canary_scale.is_some(),
        step.experiment.is_some(),
        step.set_header_route.is_some(),
        step.set_mirror_route.is_some(),
        step.plugin.is_some(),
    ];
    match keys.iter().filter(|k| **k).count() {
        0 => errors.push(err(
            field,
            "Step must have one of the following set: setWeight, pause, analysis or setCanaryScale",
        )),
        1 => {}
        _ => errors.push(err(
            field,
            "Step must have exactly one of the following set: setWeight, pause, analysis or setCanaryScale; split it into separate steps",
        )),
    }
    if let Some(weight) = step.set_weight
        && !(0..=MAX_WEIGHT).contains(&weight)
    {
        errors.push(err(
            format!("{field}.setWeight"),
            format!("Invalid value: {weight}: SetWeight needs to be between 0 and {MAX_WEIGHT}"),
        ));
    }
    if let Some(duration) = step.pause.as_ref().and_then(|p| p.duration.as_ref())
        && let Err(e) = parse_int_or_string(duration)
    {
        errors.push(err(format!("{field}.pause.duration"), e.to_string()));
    }
    if let Some(scale) = &step.set_canary_scale {
        let f = format!("{field}.setCanaryScale");
        if !traffic_routed {
            errors.push(err(&f, "SetCanaryScale requires trafficRouting to be set"));
        }
        let set = [
            scale.replicas.is_some(),
            scale.weight.is_some(),
            scale.match_traffic_weight.unwrap_or(false),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            errors.push(err(
                &f,
                "set exactly one of replicas, weight or matchTrafficWeight: true",
            ));
        }
        if scale.weight.is_some_and(|w| !(0..=100).contains(&w)) {
            errors.push(err(format!("{f}.weight"), "must be between 0 and 100"));
        }
        if scale.replicas.is_some_and(|r| r < 0) {
            errors.push(err(
                format!("{f}.replicas"),
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(analysis) = &step.analysis
        && analysis.templates.as_ref().is_none_or(Vec::is_empty)
    {
        errors.push(err(
            format!("{field}.analysis.templates"),
            "Required value: list at least one templateName",
        ));
    }
    for (present, name) in [
        (step.experiment.is_some(), "experiment"),
        (step.set_header_route.is_some(), "setHeaderRoute"),
        (step.set_mirror_route.is_some(), "setMirrorRoute"),
        (step.plugin.is_some(), "plugin"),
    ] {
        if present {
            errors.push(err(
                format!("{field}.{name}"),
                format!("{name} steps are not supported by Weir; remove the step"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenceposts_are_integers_or_percentages() {
        let int = IntOrString::Int;
        let text = |s: &str| IntOrString::String(s.into());
        // (value, limit in percent, error)
        let cases = [
            (int(0), None, None),
            (int(3), Some(100), None),
            (
                int(-1),
                None,
                Some("Invalid value: -1: must be greater than or equal to 0"),
            ),
            (text("25%"), Some(100), None),
            (text("0%"), None, None),
            (
                text("5"),
                None,
                Some("Invalid value: \"5\": must be an integer or a percentage such as \"25%\""),
            ),
            (
                text("oops"),
                None,
                Some("Invalid value: \"oops\": must be an integer or a percentage such as \"25%\""),
            ),
            (
                text("-5%"),
                None,
                Some("Invalid value: \"-5%\": must be an integer or a percentage such as \"25%\""),
            ),
            (text("150%"), None, None),
            (
                text("150%"),
                Some(100),
                Some("Invalid value: \"150%\": must not be greater than 100%"),
            ),
        ];
        for (value, max, want) in cases {
            assert_eq!(fencepost_error(&value, max).as_deref(), want, "{value:?}");
        }
    }
}
