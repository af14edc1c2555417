//! Errors of the traffic module. Each message names the object (kind and namespace/name), the
//! field involved and what the user should change, because these end up verbatim in a Rollout
//! condition and an Event that the user reads without access to the controller's logs.

use super::targets::Role;
use super::virtual_service::RouteKind;
use crate::api::labels::MANAGED_BY;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrafficError {
    /// The object does not have the shape its kind requires (spec missing, wrong types).
    #[error("{kind} {object}: {detail}; fix the {kind} so it matches the {kind} schema")]
    Malformed {
        kind: &'static str,
        object: String,
        detail: String,
    },

    /// A route the Rollout names (by name, or by port/SNI) does not exist in the VirtualService.
    #[error(
        "VirtualService {vs}: {route_kind} route {wanted} named in {field} was not found; the VirtualService has {route_kind} routes {} — {}",
        quoted_list(.available),
        .route_kind.selector_fix()
    )]
    RouteNotFound {
        vs: String,
        route_kind: RouteKind,
        /// The selector as the user wrote it, e.g. `"primary"` or `port 443, sniHosts ["a"]`.
        wanted: String,
        /// The VirtualService's routes of that kind, described the same way.
        available: Vec<String>,
        field: &'static str,
    },

    /// The Rollout omits the route selector but the VirtualService has several routes of that kind.
    #[error(
        "VirtualService {vs}: {field} must list the route to use because the VirtualService has {count} {route_kind} routes"
    )]
    RoutesRequired {
        vs: String,
        route_kind: RouteKind,
        count: usize,
        field: &'static str,
    },

    /// The Rollout relies on the VirtualService's only route of a kind, but it has none.
    #[error(
        "VirtualService {vs}: has no {route_kind} routes for {field} to select; add a {route_kind} route with destinations for the canary and the stable, or select other routes"
    )]
    NoRoutes {
        vs: String,
        route_kind: RouteKind,
        field: &'static str,
    },

    /// A selected route lacks the canary or the stable destination, so no weight could be set on it.
    #[error(
        "VirtualService {vs}: {route_kind} route {route} has no destination for the {role} ({target_kind} \"{target}\"); add a destination whose {target_kind} is \"{target}\" (from {field}) to that route"
    )]
    MissingDestination {
        vs: String,
        route_kind: RouteKind,
        /// `"name"` for a named HTTP route, else its position such as `spec.tls[0]`.
        route: String,
        role: Role,
        /// `host` or `subset`.
        target_kind: &'static str,
        target: String,
        field: &'static str,
    },

    /// A canary weight outside what Istio accepts for a two-way split.
    #[error(
        "VirtualService {vs}: canary weight {weight} is outside 0..=100; set {field} to a value between 0 and 100"
    )]
    WeightOutOfRange {
        vs: String,
        weight: i32,
        field: &'static str,
    },

    /// The canary or stable subset the Rollout names is not in the DestinationRule.
    #[error(
        "DestinationRule {dr}: subset \"{subset}\" named in {field} was not found; the DestinationRule has subsets {} — add the subset or fix the name",
        quoted_list(.available)
    )]
    SubsetNotFound {
        dr: String,
        subset: String,
        available: Vec<String>,
        field: &'static str,
    },

    /// Another Rollout already injects its pod-template hash into this Service's selector;
    /// taking it over would silently move that Rollout's traffic.
    #[error(
        "Service {service}: annotation {MANAGED_BY} says it is managed by Rollout \"{owner}\", so Rollout \"{rollout}\" cannot use it; give this Rollout its own Service in spec.strategy.canary.canaryService/stableService, or delete Rollout \"{owner}\" first"
    )]
    ManagedByOtherRollout {
        service: String,
        owner: String,
        rollout: String,
    },
}

impl TrafficError {
    /// The Rollout spec field the error is about, if any (for the `virtualServices` form, the
    /// entry named in the message).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TrafficError::RouteNotFound { field, .. }
            | TrafficError::RoutesRequired { field, .. }
            | TrafficError::NoRoutes { field, .. }
            | TrafficError::MissingDestination { field, .. }
            | TrafficError::WeightOutOfRange { field, .. }
            | TrafficError::SubsetNotFound { field, .. } => Some(field),
            TrafficError::Malformed { .. } | TrafficError::ManagedByOtherRollout { .. } => None,
        }
    }
}

/// `namespace/name` of an unstructured object, for messages; the name alone when it has no
/// namespace, and a placeholder rather than an error when metadata is missing, since the message
/// is then about that malformation anyway.
pub(crate) fn object_label(object: &Value) -> String {
    let text = |key: &str| {
        object
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
    };
    match (text("namespace"), text("name")) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.to_owned(),
        (_, None) => "<unnamed>".to_owned(),
    }
}

/// `["a","b"]`: compact and unambiguous even when a name is empty.
fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_name_object_field_and_fix() {
        let cases = [
            (
                TrafficError::RouteNotFound {
                    vs: "default/myapp-vsvc".into(),
                    route_kind: RouteKind::Http,
                    wanted: "\"primary\"".into(),
                    available: vec!["a".into(), "b".into()],
                    field: RouteKind::Http.spec_field(),
                },
                "VirtualService default/myapp-vsvc: HTTP route \"primary\" named in spec.strategy.canary.trafficRouting.istio.virtualService.routes was not found; the VirtualService has HTTP routes [\"a\",\"b\"] — fix the route name",
            ),
            (
                TrafficError::RoutesRequired {
                    vs: "default/myapp-vsvc".into(),
                    route_kind: RouteKind::Http,
                    count: 2,
                    field: RouteKind::Http.spec_field(),
                },
                "VirtualService default/myapp-vsvc: spec.strategy.canary.trafficRouting.istio.virtualService.routes must list the route to use because the VirtualService has 2 HTTP routes",
            ),
            (
                TrafficError::MissingDestination {
                    vs: "default/myapp-vsvc".into(),
                    route_kind: RouteKind::Http,
                    route: "\"primary\"".into(),
                    role: Role::Canary,
                    target_kind: "host",
                    target: "myapp-canary".into(),
                    field: "spec.strategy.canary.canaryService",
                },
                "VirtualService default/myapp-vsvc: HTTP route \"primary\" has no destination for the canary (host \"myapp-canary\"); add a destination whose host is \"myapp-canary\" (from spec.strategy.canary.canaryService) to that route",
            ),
            (
                TrafficError::SubsetNotFound {
                    dr: "default/dr".into(),
                    subset: "canary".into(),
                    available: vec!["stable".into()],
                    field: "spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName",
                },
                "DestinationRule default/dr: subset \"canary\" named in spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName was not found; the DestinationRule has subsets [\"stable\"] — add the subset or fix the name",
            ),
            (
                TrafficError::Malformed {
                    kind: "VirtualService",
                    object: "default/vs".into(),
                    detail: "spec is missing".into(),
                },
                "VirtualService default/vs: spec is missing; fix the VirtualService so it matches the VirtualService schema",
            ),
        ];
        for (error, want) in cases {
            assert_eq!(error.to_string(), want);
        }
    }

    #[test]
    fn field_accessor() {
        let managed = TrafficError::ManagedByOtherRollout {
            service: "default/svc".into(),
            owner: "a".into(),
            rollout: "b".into(),
        };
        assert_eq!(managed.field(), None);
        assert!(managed.to_string().contains(MANAGED_BY));
        let weight = TrafficError::WeightOutOfRange {
            vs: "default/vs".into(),
            weight: 101,
            field: "spec.strategy.canary.steps[].setWeight",
        };
        assert_eq!(
            weight.field(),
            Some("spec.strategy.canary.steps[].setWeight")
        );
    }

    #[test]
    fn object_label_forms() {
        let cases = [
            (
                json!({"metadata": {"name": "a", "namespace": "ns"}}),
                "ns/a",
            ),
            (json!({"metadata": {"name": "a"}}), "a"),
            (json!({}), "<unnamed>"),
        ];
        for (object, want) in cases {
            assert_eq!(object_label(&object), want);
        }
    }
}
