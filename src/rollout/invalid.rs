//! Invalid specs and broken references: the `InvalidSpec` condition names the first bad field,
//! as Argo's does, and a Warning event names every one; no traffic or ReplicaSet is touched
//! until the spec is fixed.

use super::conditions::{self, INVALID_SPEC};
use super::observed::Observed;
use super::plan::{EventType, Plan};
use crate::analysis::template::{ArgContext, resolve, run_args, validate};
use crate::api::istio::DestinationRuleSpec;
use crate::api::limits::{STATUS_MESSAGE_LIMIT, truncate};
use crate::api::rollout::{IstioVirtualService, Rollout, RolloutAnalysis};
use crate::api::validation::{FieldError, validate_rollout};
use crate::traffic::{Targets, split_vs_name, validate_virtual_service};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Spec errors plus errors about the objects the spec names (Services, VirtualServices,
/// routes, DestinationRule subsets).
pub fn collect_errors(rollout: &Rollout, observed: &Observed) -> Vec<FieldError> {
    let mut errors = validate_rollout(rollout);
    if errors.is_empty() {
        reference_errors(rollout, observed, &mut errors);
        analysis_errors(rollout, observed, &mut errors);
    }
    errors
}

/// Every analysis the Rollout names must resolve to runnable metrics now, not when its step
/// is reached: missing templates, unresolvable args, unsupported providers and unparsable
/// conditions are reported up front.
fn analysis_errors(rollout: &Rollout, observed: &Observed, errors: &mut Vec<FieldError>) {
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return;
    };
    let mut analyses: Vec<(String, &RolloutAnalysis)> = canary
        .steps
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, step)| {
            step.analysis
                .as_deref()
                .map(|a| (format!("spec.strategy.canary.steps[{i}].analysis"), a))
        })
        .collect();
    if let Some(background) = &canary.analysis {
        analyses.push((
            "spec.strategy.canary.analysis".to_string(),
            &background.analysis,
        ));
    }
    for (field, analysis) in analyses {
        let refs = analysis.templates.as_deref().unwrap_or_default();
        if refs.is_empty() {
            continue;
        }
        let resolved = match resolve(refs, &observed.templates) {
            Ok(resolved) => resolved,
            Err(e) => {
                errors.push(FieldError {
                    field: format!("{field}.templates"),
                    message: e.to_string(),
                });
                continue;
            }
        };
        // Placeholder hashes: only whether each arg can be resolved matters here.
        let ctx = ArgContext {
            rollout,
            stable_hash: Some("stable"),
            latest_hash: "latest",
        };
        let args = match run_args(
            &resolved,
            analysis.args.as_deref().unwrap_or_default(),
            &ctx,
        ) {
            Ok(args) => args,
            Err(e) => {
                errors.push(FieldError {
                    field: format!("{field}.args"),
                    message: e.to_string(),
                });
                continue;
            }
        };
        if let Err(e) = validate(&resolved, &args) {
            errors.push(FieldError {
                field: format!("{field}.templates"),
                message: e.to_string(),
            });
        }
    }
}

fn reference_errors(rollout: &Rollout, observed: &Observed, errors: &mut Vec<FieldError>) {
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or("default");
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return;
    };
    for (field, name) in [
        ("canaryService", &canary.canary_service),
        ("stableService", &canary.stable_service),
    ] {
        if let Some(name) = name.as_deref().filter(|n| !n.is_empty())
            && !observed.services.contains_key(name)
        {
            errors.push(FieldError {
                field: format!("spec.strategy.canary.{field}"),
                message: format!(
                    "Service {namespace}/{name} not found; create the Service or fix the name"
                ),
            });
        }
    }
    let Some(istio) = canary
        .traffic_routing
        .as_ref()
        .and_then(|r| r.istio.as_ref())
    else {
        return;
    };
    let Some(targets) = Targets::from_strategy(canary) else {
        return;
    };
    let virtual_services: Vec<(String, &IstioVirtualService)> =
        match (&istio.virtual_service, &istio.virtual_services) {
            (Some(vs), _) => vec![(
                "spec.strategy.canary.trafficRouting.istio.virtualService".to_string(),
                vs,
            )],
            (None, Some(list)) => list
                .iter()
                .enumerate()
                .map(|(i, vs)| {
                    (
                        format!("spec.strategy.canary.trafficRouting.istio.virtualServices[{i}]"),
                        vs,
                    )
                })
                .collect(),
            (None, None) => Vec::new(),
        };
    for (field, vs_spec) in virtual_services {
        let key = split_vs_name(&vs_spec.name, namespace);
        match observed.virtual_services.get(&key) {
            None => errors.push(FieldError {
                field: format!("{field}.name"),
                message: format!(
                    "VirtualService {}/{} not found; create the VirtualService or fix the name",
                    key.1, key.0
                ),
            }),
            Some(vs) => {
                if let Err(e) = validate_virtual_service(vs, vs_spec, &targets) {
                    errors.push(FieldError {
                        field: e.field().map(|f| f.to_string()).unwrap_or(field),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    if let Some(dr_spec) = &istio.destination_rule {
        let field = "spec.strategy.canary.trafficRouting.istio.destinationRule";
        let spec = observed
            .destination_rule
            .as_ref()
            .and_then(|dr| dr.get("spec").cloned())
            .map(serde_json::from_value::<DestinationRuleSpec>);
        match spec {
            None => errors.push(FieldError {
                field: format!("{field}.name"),
                message: format!(
                    "DestinationRule {namespace}/{} not found; create the DestinationRule or fix the name",
                    dr_spec.name
                ),
            }),
            Some(Err(e)) => errors.push(FieldError {
                field: format!("{field}.name"),
                message: format!("DestinationRule {namespace}/{} has an unreadable spec: {e}", dr_spec.name),
            }),
            Some(Ok(spec)) => {
                for (subset_field, subset) in [
                    ("canarySubsetName", &dr_spec.canary_subset_name),
                    ("stableSubsetName", &dr_spec.stable_subset_name),
                ] {
                    if !spec.subsets.iter().any(|s| &s.name == subset) {
                        errors.push(FieldError {
                            field: format!("{field}.{subset_field}"),
                            message: format!(
                                "DestinationRule {namespace}/{} has no subset {subset:?}; add the subset or fix the name",
                                dr_spec.name
                            ),
                        });
                    }
                }
            }
        }
    }
}

pub fn plan_invalid(rollout: &Rollout, errors: &[FieldError], now: Timestamp, plan: &mut Plan) {
    let Some(first) = errors.first() else {
        return;
    };
    let name = rollout.metadata.name.as_deref().unwrap_or_default();
    // Argo's createInvalidRolloutCondition names the first error only; Argo CD shows it.
    let message = format!("The Rollout \"{name}\" is invalid: {first}");
    let unchanged = conditions::get(&plan.status, INVALID_SPEC)
        .is_some_and(|c| c.message == truncate(&message, STATUS_MESSAGE_LIMIT));
    if !unchanged {
        // A different error is a new condition in Argo, with both times new.
        conditions::remove(&mut plan.status, INVALID_SPEC);
        // The Event lists every error, so that all of them can be fixed in one go.
        let all = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        plan.event(
            EventType::Warning,
            INVALID_SPEC,
            format!("The Rollout \"{name}\" is invalid: {all}"),
        );
    }
    conditions::set(
        &mut plan.status,
        INVALID_SPEC,
        "True",
        INVALID_SPEC,
        &message,
        &Time(now),
        false,
    );
    let traffic_routed = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .is_some_and(|c| c.traffic_routing.is_some());
    let (phase, phase_message) = conditions::phase(&rollout.spec, &plan.status, traffic_routed);
    plan.status.phase = Some(phase.to_string());
    plan.status.message = Some(truncate(&phase_message, STATUS_MESSAGE_LIMIT).into_owned());
}

/// Drops a stale InvalidSpec condition once the spec is valid again.
pub fn clear(plan: &mut Plan) {
    conditions::remove(&mut plan.status, INVALID_SPEC);
}
