//! Where traffic goes: which ReplicaSet the stable and canary Services and DestinationRule
//! subsets select, and the canary weight the VirtualServices carry.

use super::canary::{Context, Decision};
use super::observed::{available, spec_replicas};
use super::plan::{EventType, Plan, PlannedEvent, VirtualServicePatch};
use super::replicas;
use super::scaling::Counts;
use super::steps;
use crate::api::labels::MANAGED_BY;
use crate::api::rollout::{IstioTrafficRouting, RolloutStatus, TrafficWeights, WeightDestination};
use crate::traffic::{
    Targets, destination_rule_patch, service_selected_hash, service_selector_patch, split_vs_name,
    virtual_service_patch,
};

/// Points the stable/canary Services and DestinationRule subsets. A Service or subset never
/// selects a ReplicaSet without available pods; one Weir has not managed before waits until
/// the ReplicaSet is fully available.
pub(super) fn route_services(ctx: &Context, plan: &mut Plan, d: &mut Decision) {
    let stable_wanted = d.stable_hash.clone();
    let canary_wanted = if d.promoted || d.aborted {
        stable_wanted.clone()
    } else if ctx.new_rs.is_some_and(|rs| available(rs) > 0) {
        Some(ctx.hash.clone())
    } else {
        None
    };
    let mut stable_target = stable_wanted.clone();
    let mut canary_target = canary_wanted.clone();
    for (service, wanted, target) in [
        (
            &ctx.canary.stable_service,
            &stable_wanted,
            &mut stable_target,
        ),
        (
            &ctx.canary.canary_service,
            &canary_wanted,
            &mut canary_target,
        ),
    ] {
        let Some(svc) = service
            .as_deref()
            .and_then(|n| ctx.observed.services.get(n))
        else {
            continue;
        };
        let current = service_selected_hash(svc).map(str::to_string);
        let managed = svc
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MANAGED_BY))
            .is_some_and(|m| m == ctx.name);
        let Some(hash) = wanted.as_deref() else {
            *target = current;
            continue;
        };
        if current.as_deref() == Some(hash) || !can_select(ctx, hash, managed) {
            *target = current;
            continue;
        }
        match service_selector_patch(svc, hash, ctx.name) {
            Ok(Some(patch)) => {
                plan.service_patches
                    .push((svc.metadata.name.clone().unwrap_or_default(), patch));
                plan.event(
                    EventType::Normal,
                    "SwitchService",
                    format!(
                        "Switched selector for service '{}' from '{}' to '{hash}'",
                        svc.metadata.name.as_deref().unwrap_or_default(),
                        current.as_deref().unwrap_or("")
                    ),
                );
            }
            Ok(None) => {}
            Err(e) => {
                plan.event(EventType::Warning, "TrafficRoutingError", e.to_string());
                *target = current;
            }
        }
    }
    if let Some(dr_spec) = ctx
        .canary
        .traffic_routing
        .as_ref()
        .and_then(|r| r.istio.as_ref())
        .and_then(|i| i.destination_rule.as_ref())
        && let Some(dr) = &ctx.observed.destination_rule
    {
        let labels = subset_labels(dr, dr_spec);
        let managed = dr
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(MANAGED_BY))
            .and_then(|m| m.as_str())
            == Some(ctx.name);
        let pick = |wanted: &Option<String>, current: &Option<String>| match wanted {
            Some(h) if current.as_deref() == Some(h.as_str()) || can_select(ctx, h, managed) => {
                Some(h.clone())
            }
            _ => current.clone(),
        };
        let canary_label = pick(&canary_wanted, &labels.0);
        let stable_label = pick(&stable_wanted, &labels.1);
        if let (Some(c), Some(s)) = (&canary_label, &stable_label) {
            match destination_rule_patch(dr, dr_spec, c, s, ctx.name) {
                Ok(Some(patch)) => {
                    plan.destination_rule_patch = Some((dr_spec.name.clone(), patch));
                    plan.event(
                        EventType::Normal,
                        "UpdatedDestinationRule",
                        format!(
                            "DestinationRule {} subsets updated: {}={c}, {}={s}",
                            dr_spec.name, dr_spec.canary_subset_name, dr_spec.stable_subset_name
                        ),
                    );
                }
                Ok(None) => {}
                Err(e) => plan.event(EventType::Warning, "TrafficRoutingError", e.to_string()),
            }
        }
        // In subset mode the subsets decide where weighted traffic lands.
        canary_target = canary_label.or(canary_target);
        stable_target = stable_label.or(stable_target);
    }
    d.in_use.extend(canary_target.iter().cloned());
    d.in_use.extend(stable_target.iter().cloned());
    d.canary_selector = canary_target;
    d.stable_selector = stable_target;
}

fn can_select(ctx: &Context, hash: &str, managed: bool) -> bool {
    ctx.rs_by_hash(hash).is_some_and(|rs| {
        let avail = available(rs);
        avail > 0 && (managed || avail >= spec_replicas(rs))
    })
}

fn subset_labels(
    dr: &serde_json::Value,
    spec: &crate::api::rollout::IstioDestinationRule,
) -> (Option<String>, Option<String>) {
    let label = |subset: &str| {
        dr.pointer("/spec/subsets")
            .and_then(|s| s.as_array())
            .and_then(|subsets| {
                subsets
                    .iter()
                    .find(|s| s.get("name").and_then(|n| n.as_str()) == Some(subset))
            })
            .and_then(|s| {
                s.pointer(&format!(
                    "/labels/{}",
                    crate::api::labels::POD_TEMPLATE_HASH
                ))
            })
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    (
        label(&spec.canary_subset_name),
        label(&spec.stable_subset_name),
    )
}

/// Istio routing and the Service/subset names it splits between, when the Rollout routes by weight.
fn istio_targets<'a>(ctx: &Context<'a>) -> Option<(&'a IstioTrafficRouting, Targets)> {
    Some((istio(ctx)?, Targets::from_strategy(ctx.canary)?))
}

fn istio<'a>(ctx: &Context<'a>) -> Option<&'a IstioTrafficRouting> {
    ctx.canary
        .traffic_routing
        .as_ref()
        .and_then(|r| r.istio.as_ref())
}

/// The canary weight status records as in force before this plan.
pub(super) fn current_weight(status: &RolloutStatus) -> i32 {
    status
        .canary
        .as_ref()
        .and_then(|c| c.weights.as_ref())
        .map(|w| w.canary.weight)
        .unwrap_or(0)
}

/// Decides the canary weight after this plan (decision only: [`patch_virtual_services`] and
/// [`record_weights`] carry it out). Without Istio the weight is the replica math's; it is 0
/// once promoted or aborted, or while the canary has no available pods or is not what the
/// canary side selects; the step's weight once the step's counts are reached, else the previous
/// step's; and never more than the stable side's available pods can take back.
pub(super) fn route_weights(
    ctx: &Context,
    d: &Decision,
    current: i32,
    counts: &Counts,
    at_desired: bool,
    promote_full: bool,
) -> i32 {
    if istio(ctx).is_none() {
        return counts.weight;
    }
    if istio_targets(ctx).is_none() {
        return 0;
    }
    let len = ctx.steps.len();
    let canary_available = ctx.new_rs.map(available).unwrap_or(0);
    let weight = if d.promoted
        || d.aborted
        || d.canary_selector.as_deref() != Some(ctx.hash.as_str())
        || canary_available == 0
    {
        0
    } else if promote_full {
        current
    } else if !at_desired {
        steps::previous_set_weight(ctx.steps, d.step_index)
    } else if d.step_index >= len {
        100
    } else {
        steps::set_weight_at(ctx.steps, d.step_index)
    };
    if weight > current && !d.aborted {
        let stable_available = d
            .stable_hash
            .as_deref()
            .and_then(|h| ctx.rs_by_hash(h))
            .map(available)
            .unwrap_or(0);
        if stable_available < replicas::weight_to_replicas(100 - weight, ctx.replicas) {
            return current;
        }
    }
    weight
}

/// The VirtualService patches that set the canary weight to `weight`.
pub(super) fn patch_virtual_services(ctx: &Context, plan: &mut Plan, weight: i32) {
    let Some((istio, targets)) = istio_targets(ctx) else {
        return;
    };
    let virtual_services = istio
        .virtual_service
        .iter()
        .chain(istio.virtual_services.iter().flatten());
    for vs_spec in virtual_services {
        let key = split_vs_name(&vs_spec.name, ctx.namespace);
        let Some(vs) = ctx.observed.virtual_services.get(&key) else {
            continue;
        };
        match virtual_service_patch(vs, vs_spec, &targets, weight) {
            Ok(Some(patch)) => plan.virtual_service_patches.push(VirtualServicePatch {
                namespace: key.1.clone(),
                name: key.0.clone(),
                patch,
                canary_weight: weight,
            }),
            Ok(None) => {}
            Err(e) => plan.event(EventType::Warning, "TrafficRoutingError", e.to_string()),
        }
    }
}

/// Records the weights in status (with an Event when the canary's changes from `current`), and
/// keeps a canary that takes traffic from being scaled down.
pub(super) fn record_weights(
    ctx: &Context,
    plan: &mut Plan,
    d: &mut Decision,
    current: i32,
    weight: i32,
) {
    if istio_targets(ctx).is_none() {
        return;
    }
    if weight > 0 {
        d.in_use.insert(ctx.hash.clone());
    }
    let weights = TrafficWeights {
        canary: WeightDestination {
            weight,
            service_name: ctx.canary.canary_service.clone(),
            pod_template_hash: d.canary_selector.clone(),
        },
        stable: WeightDestination {
            weight: 100 - weight,
            service_name: ctx.canary.stable_service.clone(),
            pod_template_hash: d.stable_selector.clone(),
        },
        additional: None,
        verified: None,
    };
    let canary_status = plan.status.canary.get_or_insert_with(Default::default);
    if canary_status.weights.as_ref() != Some(&weights) {
        if canary_status.weights.as_ref().map(|w| w.canary.weight) != Some(weight) {
            plan.events.push(PlannedEvent {
                type_: EventType::Normal,
                reason: "TrafficWeightUpdated".into(),
                message: format!("Traffic weight updated from {current} to {weight}"),
            });
        }
        canary_status.weights = Some(weights);
    }
}
