//! Which VirtualService routes a Rollout controls, and the JSON patch that moves their weights.
//!
//! The VirtualService is read through the typed views in `api::istio`, but the patch is built
//! from the stored JSON so that every field Weir does not own (retries, timeouts, headers,
//! mirrors, ports, unknown fields) is written back exactly as it was read.

use super::error::{TrafficError, object_label};
use super::targets::{Role, Targets};
use crate::api::istio::{HttpRoute, RouteDestination, TcpMatch, TlsMatch, VirtualServiceSpec};
use crate::api::rollout::{IstioVirtualService, TcpRoute as TcpSelector, TlsRoute as TlsSelector};
use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, ReplaceOperation, TestOperation};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

const KIND: &str = "VirtualService";
const WEIGHT_FIELD: &str = "spec.strategy.canary.steps[].setWeight";

/// The three route sections of a VirtualService; Weir shifts weights in all of them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Http,
    Tls,
    Tcp,
}

impl RouteKind {
    /// The key of this section under the VirtualService's `spec`.
    pub fn json_key(self) -> &'static str {
        match self {
            RouteKind::Http => "http",
            RouteKind::Tls => "tls",
            RouteKind::Tcp => "tcp",
        }
    }

    /// The Rollout field that selects routes of this kind.
    pub fn spec_field(self) -> &'static str {
        match self {
            RouteKind::Http => "spec.strategy.canary.trafficRouting.istio.virtualService.routes",
            RouteKind::Tls => "spec.strategy.canary.trafficRouting.istio.virtualService.tlsRoutes",
            RouteKind::Tcp => "spec.strategy.canary.trafficRouting.istio.virtualService.tcpRoutes",
        }
    }

    /// What the user changes when a selector of this kind matches nothing.
    pub(crate) fn selector_fix(self) -> &'static str {
        match self {
            RouteKind::Http => "fix the route name",
            RouteKind::Tls => "fix the port or sniHosts",
            RouteKind::Tcp => "fix the port",
        }
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteKind::Http => "HTTP",
            RouteKind::Tls => "TLS",
            RouteKind::Tcp => "TCP",
        })
    }
}

/// `name` or `name.namespace` (Argo syntax) -> (name, namespace), defaulting to the rollout's
/// namespace. Like Argo, anything after a second '.' is ignored.
pub fn split_vs_name(name: &str, default_namespace: &str) -> (String, String) {
    let mut parts = name.split('.');
    let vs_name = parts.next().unwrap_or(name);
    let namespace = parts
        .next()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_namespace);
    (vs_name.to_owned(), namespace.to_owned())
}

/// Checks the VirtualService against the Rollout exactly as the weight patch will use it: the
/// selected routes exist and each has a destination for the canary and for the stable.
///
/// Selection: named `routes` pick HTTP routes by name; `tlsRoutes` entries pick every TLS route
/// with a `match` entry on that port (if given) listing all the given `sniHosts`; `tcpRoutes`
/// entries pick every TCP route with a `match` entry on that port. An empty `tlsRoutes`/
/// `tcpRoutes` list means "the only TLS/TCP route". When the Rollout selects nothing at all, the
/// VirtualService's only HTTP route is used.
pub fn validate_virtual_service(
    vs: &Value,
    spec: &IstioVirtualService,
    targets: &Targets,
) -> Result<(), TrafficError> {
    let (label, parsed) = parse(vs)?;
    checked_selection(&label, &parsed, spec, targets).map(drop)
}

/// JSON patch that sets canary weight `canary_weight` and stable `100 - canary_weight` on every
/// selected route, removing the route's other destinations (as Argo does) so the weights sum to
/// 100. `Ok(None)` when nothing would change.
///
/// Per changed route the patch is `test` of the current `route` array (so a concurrent edit, or
/// routes shifting index, makes the API server reject it with 422 and the controller re-plans)
/// followed by `replace` of that array with the kept entries verbatim except for `weight`.
pub fn virtual_service_patch(
    vs: &Value,
    spec: &IstioVirtualService,
    targets: &Targets,
    canary_weight: i32,
) -> Result<Option<Patch>, TrafficError> {
    let (label, parsed) = parse(vs)?;
    if !(0..=100).contains(&canary_weight) {
        return Err(TrafficError::WeightOutOfRange {
            vs: label,
            weight: canary_weight,
            field: WEIGHT_FIELD,
        });
    }
    let selected = checked_selection(&label, &parsed, spec, targets)?;
    let mut operations = Vec::new();
    for route in &selected {
        let index = route.index.to_string();
        let path =
            PointerBuf::from_tokens(["spec", route.kind.json_key(), index.as_str(), "route"]);
        let current = vs
            .pointer(path.as_str())
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(&label, format!("{} has no route array", route.position())))?;
        let mut desired = Vec::with_capacity(current.len());
        for (raw, typed) in current.iter().zip(route.destinations) {
            let weight = match targets.role_of(&typed.destination) {
                Some(Role::Canary) => canary_weight,
                Some(Role::Stable) => 100 - canary_weight,
                None => continue,
            };
            let mut entry = raw.as_object().cloned().ok_or_else(|| {
                malformed(
                    &label,
                    format!(
                        "{} has a destination that is not an object",
                        route.position()
                    ),
                )
            })?;
            entry.insert("weight".to_owned(), Value::from(weight));
            desired.push(Value::Object(entry));
        }
        if desired != *current {
            operations.push(PatchOperation::Test(TestOperation {
                path: path.clone(),
                value: Value::Array(current.clone()),
            }));
            operations.push(PatchOperation::Replace(ReplaceOperation {
                path,
                value: Value::Array(desired),
            }));
        }
    }
    Ok((!operations.is_empty()).then_some(Patch(operations)))
}

/// The canary weight currently on the first selected route (`None` if that route has no canary
/// destination or the destination has no weight). Only selection errors are reported: reading
/// the weight should work even while a destination is missing.
pub fn current_canary_weight(
    vs: &Value,
    spec: &IstioVirtualService,
    targets: &Targets,
) -> Result<Option<i32>, TrafficError> {
    let (label, parsed) = parse(vs)?;
    let selected = select_routes(&label, &parsed, spec)?;
    Ok(selected.first().and_then(|route| {
        route
            .destinations
            .iter()
            .find(|d| targets.role_of(&d.destination) == Some(Role::Canary))
            .and_then(|d| d.weight)
            .and_then(|weight| i32::try_from(weight).ok())
    }))
}

/// One route the Rollout controls.
struct Selected<'a> {
    kind: RouteKind,
    index: usize,
    /// HTTP routes are known to users by name; other routes only by position.
    name: Option<&'a str>,
    destinations: &'a [RouteDestination],
}

impl Selected<'_> {
    fn position(&self) -> String {
        format!("spec.{}[{}]", self.kind.json_key(), self.index)
    }

    fn label(&self) -> String {
        match self.name {
            Some(name) => format!("{name:?}"),
            None => self.position(),
        }
    }
}

fn malformed(label: &str, detail: String) -> TrafficError {
    TrafficError::Malformed {
        kind: KIND,
        object: label.to_owned(),
        detail,
    }
}

fn parse(vs: &Value) -> Result<(String, VirtualServiceSpec), TrafficError> {
    let label = object_label(vs);
    let Some(spec) = vs.get("spec") else {
        return Err(malformed(&label, "spec is missing".to_owned()));
    };
    if !spec.is_object() {
        return Err(malformed(&label, "spec is not an object".to_owned()));
    }
    match VirtualServiceSpec::deserialize(spec) {
        Ok(parsed) => Ok((label, parsed)),
        Err(error) => Err(malformed(&label, format!("spec cannot be read ({error})"))),
    }
}

fn checked_selection<'a>(
    label: &str,
    parsed: &'a VirtualServiceSpec,
    spec: &IstioVirtualService,
    targets: &Targets,
) -> Result<Vec<Selected<'a>>, TrafficError> {
    let selected = select_routes(label, parsed, spec)?;
    for route in &selected {
        check_destinations(label, route, targets)?;
    }
    Ok(selected)
}

fn select_routes<'a>(
    label: &str,
    parsed: &'a VirtualServiceSpec,
    spec: &IstioVirtualService,
) -> Result<Vec<Selected<'a>>, TrafficError> {
    let mut selected: Vec<Selected<'a>> = Vec::new();
    let mut add = |kind: RouteKind, index: usize| {
        // A route picked twice (duplicate name, overlapping port selectors) is patched once.
        if !selected.iter().any(|s| s.kind == kind && s.index == index) {
            let (name, destinations) = match kind {
                RouteKind::Http => (
                    parsed.http[index].name.as_deref(),
                    &parsed.http[index].route[..],
                ),
                RouteKind::Tls => (None, &parsed.tls[index].route[..]),
                RouteKind::Tcp => (None, &parsed.tcp[index].route[..]),
            };
            selected.push(Selected {
                kind,
                index,
                name,
                destinations,
            });
        }
    };

    let names = spec.routes.as_deref().unwrap_or_default();
    for name in names {
        let index = parsed
            .http
            .iter()
            .position(|route| route.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| TrafficError::RouteNotFound {
                vs: label.to_owned(),
                route_kind: RouteKind::Http,
                wanted: format!("{name:?}"),
                available: parsed.http.iter().map(http_name).collect(),
                field: RouteKind::Http.spec_field(),
            })?;
        add(RouteKind::Http, index);
    }
    // Argo's default when nothing is named; skipped when TLS/TCP routes are selected so an
    // HTTP section the Rollout does not mention is left alone.
    if names.is_empty() && spec.tls_routes.is_none() && spec.tcp_routes.is_none() {
        add(
            RouteKind::Http,
            only_route(label, RouteKind::Http, parsed.http.len())?,
        );
    }

    if let Some(wanted) = &spec.tls_routes {
        if wanted.is_empty() {
            add(
                RouteKind::Tls,
                only_route(label, RouteKind::Tls, parsed.tls.len())?,
            );
        }
        for selector in wanted {
            let indexes = matching(parsed.tls.iter().map(|r| &r.match_[..]), |m| {
                tls_matches(selector, m)
            });
            if indexes.is_empty() {
                return Err(TrafficError::RouteNotFound {
                    vs: label.to_owned(),
                    route_kind: RouteKind::Tls,
                    wanted: describe_tls_selector(selector),
                    available: parsed
                        .tls
                        .iter()
                        .enumerate()
                        .map(|(i, r)| describe_tls_route(i, &r.match_))
                        .collect(),
                    field: RouteKind::Tls.spec_field(),
                });
            }
            indexes
                .into_iter()
                .for_each(|index| add(RouteKind::Tls, index));
        }
    }

    if let Some(wanted) = &spec.tcp_routes {
        if wanted.is_empty() {
            add(
                RouteKind::Tcp,
                only_route(label, RouteKind::Tcp, parsed.tcp.len())?,
            );
        }
        for selector in wanted {
            let indexes = matching(parsed.tcp.iter().map(|r| &r.match_[..]), |m| {
                tcp_matches(selector, m)
            });
            if indexes.is_empty() {
                return Err(TrafficError::RouteNotFound {
                    vs: label.to_owned(),
                    route_kind: RouteKind::Tcp,
                    wanted: describe_tcp_selector(selector),
                    available: parsed
                        .tcp
                        .iter()
                        .enumerate()
                        .map(|(i, r)| describe_tcp_route(i, &r.match_))
                        .collect(),
                    field: RouteKind::Tcp.spec_field(),
                });
            }
            indexes
                .into_iter()
                .for_each(|index| add(RouteKind::Tcp, index));
        }
    }
    Ok(selected)
}

/// The index of the VirtualService's single route of `kind`, which a Rollout may leave unnamed.
fn only_route(label: &str, kind: RouteKind, count: usize) -> Result<usize, TrafficError> {
    match count {
        1 => Ok(0),
        0 => Err(TrafficError::NoRoutes {
            vs: label.to_owned(),
            route_kind: kind,
            field: kind.spec_field(),
        }),
        _ => Err(TrafficError::RoutesRequired {
            vs: label.to_owned(),
            route_kind: kind,
            count,
            field: kind.spec_field(),
        }),
    }
}

fn matching<'a, M: 'a>(
    routes: impl Iterator<Item = &'a [M]>,
    select: impl Fn(&[M]) -> bool,
) -> Vec<usize> {
    routes
        .enumerate()
        .filter(|(_, matches)| select(matches))
        .map(|(index, _)| index)
        .collect()
}

fn tls_matches(selector: &TlsSelector, matches: &[TlsMatch]) -> bool {
    let hosts = selector.sni_hosts.as_deref().unwrap_or_default();
    matches.iter().any(|m| {
        selector.port.is_none_or(|port| m.port == Some(port))
            && hosts.iter().all(|host| m.sni_hosts.contains(host))
    })
}

/// A selector without a port picks routes that do not restrict the port, mirroring Argo where
/// an unset port (0) equals a route match without one.
fn tcp_matches(selector: &TcpSelector, matches: &[TcpMatch]) -> bool {
    match selector.port {
        Some(port) => matches.iter().any(|m| m.port == Some(port)),
        None => matches.iter().all(|m| m.port.is_none()),
    }
}

fn check_destinations(
    label: &str,
    route: &Selected<'_>,
    targets: &Targets,
) -> Result<(), TrafficError> {
    for role in [Role::Canary, Role::Stable] {
        if !route
            .destinations
            .iter()
            .any(|d| targets.role_of(&d.destination) == Some(role))
        {
            let (target_kind, target) = targets.expected(role);
            return Err(TrafficError::MissingDestination {
                vs: label.to_owned(),
                route_kind: route.kind,
                route: route.label(),
                role,
                target_kind,
                target: target.to_owned(),
                field: targets.field(role),
            });
        }
    }
    Ok(())
}

fn http_name(route: &HttpRoute) -> String {
    route.name.clone().unwrap_or_else(|| "(unnamed)".to_owned())
}

fn describe_tls_selector(selector: &TlsSelector) -> String {
    let hosts = selector.sni_hosts.as_deref().unwrap_or_default();
    match selector.port {
        Some(port) => format!("matching port {port} and sniHosts [{}]", hosts.join(", ")),
        None => format!("matching sniHosts [{}]", hosts.join(", ")),
    }
}

fn describe_tls_route(index: usize, matches: &[TlsMatch]) -> String {
    let entries: Vec<String> = matches
        .iter()
        .map(|m| match m.port {
            Some(port) => format!("port {port} sniHosts [{}]", m.sni_hosts.join(", ")),
            None => format!("sniHosts [{}]", m.sni_hosts.join(", ")),
        })
        .collect();
    format!("spec.tls[{index}]: {}", entries.join("; "))
}

fn describe_tcp_selector(selector: &TcpSelector) -> String {
    match selector.port {
        Some(port) => format!("matching port {port}"),
        None => "without a port".to_owned(),
    }
}

fn describe_tcp_route(index: usize, matches: &[TcpMatch]) -> String {
    let ports: Vec<String> = matches
        .iter()
        .filter_map(|m| m.port)
        .map(|p| p.to_string())
        .collect();
    if ports.is_empty() {
        format!("spec.tcp[{index}]: no port")
    } else {
        format!("spec.tcp[{index}]: port {}", ports.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn host_targets() -> Targets {
        Targets::Host {
            canary_service: "myapp-canary".into(),
            stable_service: "myapp-stable".into(),
        }
    }

    fn subset_targets() -> Targets {
        Targets::Subset {
            canary_subset: "canary".into(),
            stable_subset: "stable".into(),
        }
    }

    fn named(routes: &[&str]) -> IstioVirtualService {
        IstioVirtualService {
            name: "vs".into(),
            routes: Some(routes.iter().map(|r| (*r).to_owned()).collect()),
            ..Default::default()
        }
    }

    fn unnamed() -> IstioVirtualService {
        IstioVirtualService {
            name: "vs".into(),
            ..Default::default()
        }
    }

    fn tls(port: Option<i64>, hosts: &[&str]) -> TlsSelector {
        TlsSelector {
            port,
            sni_hosts: (!hosts.is_empty()).then(|| hosts.iter().map(|h| (*h).to_owned()).collect()),
        }
    }

    fn with_tls(selectors: Vec<TlsSelector>) -> IstioVirtualService {
        IstioVirtualService {
            tls_routes: Some(selectors),
            ..unnamed()
        }
    }

    fn with_tcp(ports: &[Option<i64>]) -> IstioVirtualService {
        IstioVirtualService {
            tcp_routes: Some(ports.iter().map(|&port| TcpSelector { port }).collect()),
            ..unnamed()
        }
    }

    /// The seed document 002 VirtualService (host-level split; its subsets are not used).
    fn myapp_vsvc() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "VirtualService",
            "metadata": {"name": "myapp-vsvc", "namespace": "default"},
            "spec": {
                "hosts": ["myapp"],
                "http": [{
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "myapp-stable", "subset": "stable"}, "weight": 90},
                        {"destination": {"host": "myapp-canary", "subset": "canary"}, "weight": 10}
                    ]
                }]
            }
        })
    }

    /// The seed document 004 layout: one host, subsets from the DestinationRule.
    fn nodejs_app_vsvc() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1alpha3",
            "kind": "VirtualService",
            "metadata": {"name": "nodejs-app-vsvc", "namespace": "default"},
            "spec": {
                "hosts": ["nodejs-app"],
                "http": [{
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "nodejs-app", "subset": "stable"}, "weight": 100},
                        {"destination": {"host": "nodejs-app", "subset": "canary"}, "weight": 0}
                    ]
                }]
            }
        })
    }

    /// Everything Weir must not touch: retries, timeout, headers, mirror, match, destination
    /// ports, another HTTP route, tls and tcp sections, unknown fields at every level.
    fn rich_vs() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "VirtualService",
            "metadata": {"name": "rich", "namespace": "shop", "resourceVersion": "42",
                         "annotations": {"team": "payments"}},
            "spec": {
                "hosts": ["myapp", "myapp.example.com"],
                "gateways": ["mesh", "istio-system/public"],
                "exportTo": ["."],
                "x-unknown-spec": {"nested": [1, 2, {"deep": true}]},
                "http": [
                    {
                        "name": "header-route",
                        "match": [{"headers": {"x-canary": {"exact": "yes"}}}],
                        "route": [{"destination": {"host": "myapp-canary", "subset": "canary"}}]
                    },
                    {
                        "name": "primary",
                        "match": [{"uri": {"prefix": "/api"}}, {"port": 8080}],
                        "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx"},
                        "timeout": "10s",
                        "headers": {"request": {"set": {"x-env": "prod"}}},
                        "mirror": {"host": "myapp-shadow", "port": {"number": 80}},
                        "mirrorPercentage": {"value": 5.5},
                        "corsPolicy": {"allowOrigins": [{"exact": "https://example.com"}]},
                        "x-unknown-route": "kept",
                        "route": [
                            {
                                "destination": {"host": "myapp-stable.shop.svc.cluster.local", "subset": "stable",
                                                "port": {"number": 80}, "x-unknown-dest": 1},
                                "weight": 75,
                                "headers": {"response": {"add": {"x-version": "stable"}}}
                            },
                            {
                                "destination": {"host": "myapp-canary.shop.svc.cluster.local", "subset": "canary",
                                                "port": {"number": 80}},
                                "weight": 25,
                                "x-unknown-weighted": [true]
                            }
                        ]
                    },
                    {
                        "name": "fallback",
                        "route": [{"destination": {"host": "legacy"}, "weight": 100}]
                    }
                ],
                "tls": [{
                    "match": [{"port": 443, "sniHosts": ["myapp.example.com"]}],
                    "route": [
                        {"destination": {"host": "myapp-stable", "subset": "stable", "port": {"number": 443}}, "weight": 70},
                        {"destination": {"host": "myapp-canary", "subset": "canary", "port": {"number": 443}}, "weight": 30}
                    ]
                }],
                "tcp": [{
                    "match": [{"port": 5432}],
                    "route": [
                        {"destination": {"host": "myapp-stable", "subset": "stable"}, "weight": 60},
                        {"destination": {"host": "myapp-canary", "subset": "canary"}, "weight": 40}
                    ]
                }]
            }
        })
    }

    fn apply(doc: &Value, patch: &Patch) -> Result<Value, json_patch::PatchError> {
        let mut out = doc.clone();
        json_patch::patch(&mut out, patch)?;
        Ok(out)
    }

    fn set(doc: &mut Value, pointer: &str, value: Value) {
        *doc.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} missing")) = value;
    }

    #[test]
    fn seed_layouts_all_weights() {
        let layouts = [
            (myapp_vsvc(), host_targets()),
            (nodejs_app_vsvc(), subset_targets()),
        ];
        for (vs, targets) in layouts {
            let spec = named(&["primary"]);
            for weight in [0, 10, 50, 100] {
                let patched = match virtual_service_patch(&vs, &spec, &targets, weight).unwrap() {
                    Some(patch) => apply(&vs, &patch).unwrap(),
                    None => vs.clone(),
                };
                let mut expected = vs.clone();
                set(
                    &mut expected,
                    "/spec/http/0/route/0/weight",
                    json!(100 - weight),
                );
                set(&mut expected, "/spec/http/0/route/1/weight", json!(weight));
                assert_eq!(patched, expected, "weight {weight}");
                assert_eq!(
                    current_canary_weight(&patched, &spec, &targets),
                    Ok(Some(weight))
                );
                assert_eq!(
                    virtual_service_patch(&patched, &spec, &targets, weight),
                    Ok(None),
                    "idempotent at {weight}"
                );
            }
        }
    }

    #[test]
    fn already_at_weight_is_no_write() {
        let cases = [
            (myapp_vsvc(), host_targets(), 10),
            (nodejs_app_vsvc(), subset_targets(), 0),
        ];
        for (vs, targets, weight) in cases {
            assert_eq!(
                virtual_service_patch(&vs, &named(&["primary"]), &targets, weight),
                Ok(None)
            );
        }
    }

    #[test]
    fn patch_has_test_then_replace_of_the_route_array() {
        let vs = myapp_vsvc();
        let patch = virtual_service_patch(&vs, &named(&["primary"]), &host_targets(), 20)
            .unwrap()
            .unwrap();
        let want = json!([
            {"op": "test", "path": "/spec/http/0/route", "value": vs["spec"]["http"][0]["route"]},
            {"op": "replace", "path": "/spec/http/0/route", "value": [
                {"destination": {"host": "myapp-stable", "subset": "stable"}, "weight": 80},
                {"destination": {"host": "myapp-canary", "subset": "canary"}, "weight": 20}
            ]}
        ]);
        assert_eq!(serde_json::to_value(&patch).unwrap(), want);
    }

    #[test]
    fn only_selected_weights_change_in_a_rich_virtual_service() {
        // (selector, targets, weight, pointers of [stable, canary] weights that must change)
        let host_primary = ("/spec/http/1/route/0/weight", "/spec/http/1/route/1/weight");
        let tls0 = ("/spec/tls/0/route/0/weight", "/spec/tls/0/route/1/weight");
        let tcp0 = ("/spec/tcp/0/route/0/weight", "/spec/tcp/0/route/1/weight");
        let cases = [
            (named(&["primary"]), host_targets(), 0, vec![host_primary]),
            (named(&["primary"]), host_targets(), 10, vec![host_primary]),
            (
                named(&["primary"]),
                subset_targets(),
                50,
                vec![host_primary],
            ),
            (
                named(&["primary"]),
                subset_targets(),
                100,
                vec![host_primary],
            ),
            (
                with_tls(vec![tls(Some(443), &["myapp.example.com"])]),
                host_targets(),
                10,
                vec![tls0],
            ),
            (with_tcp(&[Some(5432)]), subset_targets(), 50, vec![tcp0]),
            (
                IstioVirtualService {
                    tls_routes: Some(vec![tls(Some(443), &[])]),
                    tcp_routes: Some(vec![TcpSelector { port: Some(5432) }]),
                    ..named(&["primary"])
                },
                host_targets(),
                100,
                vec![host_primary, tls0, tcp0],
            ),
        ];
        for (spec, targets, weight, pointers) in cases {
            let vs = rich_vs();
            let patch = virtual_service_patch(&vs, &spec, &targets, weight)
                .unwrap()
                .unwrap();
            let patched = apply(&vs, &patch).unwrap();
            let mut expected = vs.clone();
            for (stable, canary) in pointers {
                set(&mut expected, stable, json!(100 - weight));
                set(&mut expected, canary, json!(weight));
            }
            assert_eq!(patched, expected, "{spec:?} at {weight}");
            assert_eq!(
                virtual_service_patch(&patched, &spec, &targets, weight),
                Ok(None)
            );
        }
    }

    #[test]
    fn extra_destinations_are_removed() {
        let mut vs = myapp_vsvc();
        set(
            &mut vs,
            "/spec/http/0/route",
            json!([
                {"destination": {"host": "myapp-experiment"}, "weight": 5},
                {"destination": {"host": "myapp-stable", "subset": "stable"}, "weight": 85},
                {"destination": {"host": "myapp-canary", "subset": "canary", "port": {"number": 8080}}, "weight": 10,
                 "headers": {"request": {"set": {"x": "y"}}}},
                {"destination": {"host": "other"}}
            ]),
        );
        let spec = named(&["primary"]);
        // Already at 10 but the extra destinations still have to go.
        let patch = virtual_service_patch(&vs, &spec, &host_targets(), 10)
            .unwrap()
            .unwrap();
        let patched = apply(&vs, &patch).unwrap();
        assert_eq!(
            patched["spec"]["http"][0]["route"],
            json!([
                {"destination": {"host": "myapp-stable", "subset": "stable"}, "weight": 90},
                {"destination": {"host": "myapp-canary", "subset": "canary", "port": {"number": 8080}}, "weight": 10,
                 "headers": {"request": {"set": {"x": "y"}}}}
            ])
        );
    }

    #[test]
    fn concurrent_edit_makes_the_patch_fail() {
        let vs = rich_vs();
        let spec = named(&["primary"]);
        let patch = virtual_service_patch(&vs, &spec, &host_targets(), 30)
            .unwrap()
            .unwrap();

        let mut weight_edited = vs.clone();
        set(&mut weight_edited, "/spec/http/1/route/0/weight", json!(50));
        set(&mut weight_edited, "/spec/http/1/route/1/weight", json!(50));

        let mut route_inserted = vs.clone();
        route_inserted["spec"]["http"]
            .as_array_mut()
            .unwrap()
            .insert(
                0,
                json!({"name": "new", "route": [{"destination": {"host": "x"}}]}),
            );

        let mut destination_added = vs.clone();
        destination_added["spec"]["http"][1]["route"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": {"host": "myapp-preview"}, "weight": 0}));

        for edited in [weight_edited, route_inserted, destination_added] {
            let error = apply(&edited, &patch).unwrap_err();
            assert!(
                matches!(error.kind, json_patch::PatchErrorKind::TestFailed),
                "{error}"
            );
        }

        // Edits elsewhere do not touch the guarded array, so the weight change still lands.
        let mut timeout_edited = vs.clone();
        set(&mut timeout_edited, "/spec/http/1/timeout", json!("30s"));
        assert!(apply(&timeout_edited, &patch).is_ok());
    }

    #[test]
    fn route_selection() {
        let two_routes = json!({
            "metadata": {"name": "vs", "namespace": "ns"},
            "spec": {"http": [
                {"name": "a", "route": [{"destination": {"host": "myapp-stable"}}, {"destination": {"host": "myapp-canary"}}]},
                {"name": "b", "route": [{"destination": {"host": "myapp-stable"}}, {"destination": {"host": "myapp-canary"}}]}
            ]}
        });
        let one_unnamed = json!({
            "metadata": {"name": "vs", "namespace": "ns"},
            "spec": {"http": [
                {"route": [{"destination": {"host": "myapp-stable"}, "weight": 100}, {"destination": {"host": "myapp-canary"}, "weight": 0}]}
            ]}
        });
        let tls_only = json!({
            "metadata": {"name": "vs", "namespace": "ns"},
            "spec": {"tls": [
                {"match": [{"port": 443, "sniHosts": ["a.example.com", "b.example.com"]}],
                 "route": [{"destination": {"host": "myapp-stable"}}, {"destination": {"host": "myapp-canary"}}]},
                {"match": [{"port": 8443, "sniHosts": ["a.example.com"]}],
                 "route": [{"destination": {"host": "myapp-stable"}}, {"destination": {"host": "myapp-canary"}}]}
            ]}
        });
        let tcp_routes = json!({
            "metadata": {"name": "vs", "namespace": "ns"},
            "spec": {"tcp": [
                {"match": [{"port": 5432}], "route": [{"destination": {"host": "myapp-stable"}}, {"destination": {"host": "myapp-canary"}}]},
                {"route": [{"destination": {"host": "myapp-stable"}}, {"destination": {"host": "myapp-canary"}}]}
            ]}
        });
        let ok = |paths: &[&str]| Ok(paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>());
        // (name, VirtualService, selector, replaced route paths or the error)
        type Case<'a> = (
            &'a str,
            &'a Value,
            IstioVirtualService,
            Result<Vec<String>, TrafficError>,
        );
        let cases: Vec<Case> = vec![
            (
                "named both",
                &two_routes,
                named(&["b", "a"]),
                ok(&["/spec/http/1/route", "/spec/http/0/route"]),
            ),
            (
                "named duplicate",
                &two_routes,
                named(&["a", "a"]),
                ok(&["/spec/http/0/route"]),
            ),
            (
                "omitted, one route",
                &one_unnamed,
                unnamed(),
                ok(&["/spec/http/0/route"]),
            ),
            (
                "empty list, one route",
                &one_unnamed,
                named(&[]),
                ok(&["/spec/http/0/route"]),
            ),
            (
                "omitted, two routes",
                &two_routes,
                unnamed(),
                Err(TrafficError::RoutesRequired {
                    vs: "ns/vs".into(),
                    route_kind: RouteKind::Http,
                    count: 2,
                    field: RouteKind::Http.spec_field(),
                }),
            ),
            (
                "not found",
                &two_routes,
                named(&["primary"]),
                Err(TrafficError::RouteNotFound {
                    vs: "ns/vs".into(),
                    route_kind: RouteKind::Http,
                    wanted: "\"primary\"".into(),
                    available: vec!["a".into(), "b".into()],
                    field: RouteKind::Http.spec_field(),
                }),
            ),
            (
                "omitted, no http routes",
                &tls_only,
                unnamed(),
                Err(TrafficError::NoRoutes {
                    vs: "ns/vs".into(),
                    route_kind: RouteKind::Http,
                    field: RouteKind::Http.spec_field(),
                }),
            ),
            (
                "tls port+sni",
                &tls_only,
                with_tls(vec![tls(Some(443), &["b.example.com"])]),
                ok(&["/spec/tls/0/route"]),
            ),
            (
                "tls sni only",
                &tls_only,
                with_tls(vec![tls(None, &["a.example.com"])]),
                ok(&["/spec/tls/0/route", "/spec/tls/1/route"]),
            ),
            (
                "tls port only",
                &tls_only,
                with_tls(vec![tls(Some(8443), &[])]),
                ok(&["/spec/tls/1/route"]),
            ),
            (
                "tls sni not all present",
                &tls_only,
                with_tls(vec![tls(Some(8443), &["a.example.com", "b.example.com"])]),
                Err(TrafficError::RouteNotFound {
                    vs: "ns/vs".into(),
                    route_kind: RouteKind::Tls,
                    wanted: "matching port 8443 and sniHosts [a.example.com, b.example.com]".into(),
                    available: vec![
                        "spec.tls[0]: port 443 sniHosts [a.example.com, b.example.com]".into(),
                        "spec.tls[1]: port 8443 sniHosts [a.example.com]".into(),
                    ],
                    field: RouteKind::Tls.spec_field(),
                }),
            ),
            (
                "tls empty list with two routes",
                &tls_only,
                with_tls(vec![]),
                Err(TrafficError::RoutesRequired {
                    vs: "ns/vs".into(),
                    route_kind: RouteKind::Tls,
                    count: 2,
                    field: RouteKind::Tls.spec_field(),
                }),
            ),
            (
                "tcp port",
                &tcp_routes,
                with_tcp(&[Some(5432)]),
                ok(&["/spec/tcp/0/route"]),
            ),
            (
                "tcp without port",
                &tcp_routes,
                with_tcp(&[None]),
                ok(&["/spec/tcp/1/route"]),
            ),
            (
                "tcp port missing",
                &tcp_routes,
                with_tcp(&[Some(3306)]),
                Err(TrafficError::RouteNotFound {
                    vs: "ns/vs".into(),
                    route_kind: RouteKind::Tcp,
                    wanted: "matching port 3306".into(),
                    available: vec![
                        "spec.tcp[0]: port 5432".into(),
                        "spec.tcp[1]: no port".into(),
                    ],
                    field: RouteKind::Tcp.spec_field(),
                }),
            ),
        ];
        for (name, vs, spec, want) in cases {
            assert_eq!(
                validate_virtual_service(vs, &spec, &host_targets()),
                want.clone().map(drop),
                "{name}"
            );
            let got = virtual_service_patch(vs, &spec, &host_targets(), 33).map(|patch| {
                patch
                    .map(|p| {
                        p.0.iter()
                            .filter(|op| matches!(op, PatchOperation::Replace(_)))
                            .map(|op| op.path().to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn missing_destinations() {
        let cases = [
            (
                myapp_vsvc(),
                host_targets(),
                "/spec/http/0/route/1/destination/host",
                json!("other"),
                Role::Canary,
                "host",
                "myapp-canary",
            ),
            (
                myapp_vsvc(),
                host_targets(),
                "/spec/http/0/route/0/destination/host",
                json!("myapp"),
                Role::Stable,
                "host",
                "myapp-stable",
            ),
            (
                nodejs_app_vsvc(),
                subset_targets(),
                "/spec/http/0/route/1/destination/subset",
                json!("v2"),
                Role::Canary,
                "subset",
                "canary",
            ),
            (
                nodejs_app_vsvc(),
                subset_targets(),
                "/spec/http/0/route",
                json!([]),
                Role::Canary,
                "subset",
                "canary",
            ),
        ];
        for (mut vs, targets, pointer, value, role, target_kind, target) in cases {
            set(&mut vs, pointer, value);
            let want = Err(TrafficError::MissingDestination {
                vs: object_label(&vs),
                route_kind: RouteKind::Http,
                route: "\"primary\"".into(),
                role,
                target_kind,
                target: target.into(),
                field: targets.field(role),
            });
            assert_eq!(
                validate_virtual_service(&vs, &named(&["primary"]), &targets),
                want
            );
            assert_eq!(
                virtual_service_patch(&vs, &named(&["primary"]), &targets, 10).map(|_| ()),
                want
            );
        }
    }

    #[test]
    fn weight_out_of_range_and_malformed() {
        let spec = named(&["primary"]);
        for weight in [-1, 101] {
            assert_eq!(
                virtual_service_patch(&myapp_vsvc(), &spec, &host_targets(), weight)
                    .unwrap_err()
                    .field(),
                Some(WEIGHT_FIELD)
            );
        }
        let cases = [
            (
                json!({"metadata": {"name": "vs", "namespace": "ns"}}),
                "spec is missing",
            ),
            (
                json!({"metadata": {"name": "vs", "namespace": "ns"}, "spec": []}),
                "spec is not an object",
            ),
            (
                json!({"metadata": {"name": "vs", "namespace": "ns"},
                       "spec": {"http": [{"name": "primary", "route": [{"destination": {"host": "a"}, "weight": "10"}]}]}}),
                "spec cannot be read",
            ),
        ];
        for (vs, detail) in cases {
            match validate_virtual_service(&vs, &spec, &host_targets()) {
                Err(TrafficError::Malformed {
                    kind,
                    object,
                    detail: got,
                }) => {
                    assert_eq!((kind, object.as_str()), (KIND, "ns/vs"));
                    assert!(got.starts_with(detail), "{got}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn current_weight_cases() {
        let spec = named(&["primary"]);
        let mut no_weight = myapp_vsvc();
        no_weight["spec"]["http"][0]["route"][1]
            .as_object_mut()
            .unwrap()
            .remove("weight");
        let mut no_canary = myapp_vsvc();
        set(
            &mut no_canary,
            "/spec/http/0/route/1/destination/host",
            json!("other"),
        );
        let cases = [
            (myapp_vsvc(), Some(10)),
            (no_weight, None),
            (no_canary, None),
        ];
        for (vs, want) in cases {
            assert_eq!(current_canary_weight(&vs, &spec, &host_targets()), Ok(want));
        }
        assert!(current_canary_weight(&myapp_vsvc(), &named(&["nope"]), &host_targets()).is_err());
    }

    #[test]
    fn split_names() {
        let cases = [
            ("vs", ("vs", "rollouts")),
            ("vs.istio-system", ("vs", "istio-system")),
            ("vs.ns.extra", ("vs", "ns")),
            ("vs.", ("vs", "rollouts")),
        ];
        for (input, (name, namespace)) in cases {
            assert_eq!(
                split_vs_name(input, "rollouts"),
                (name.to_owned(), namespace.to_owned()),
                "{input}"
            );
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9 ]{0,8}".prop_map(Value::from),
            prop::collection::vec(any::<u8>().prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
    }

    fn extras() -> impl Strategy<Value = serde_json::Map<String, Value>> {
        prop::collection::btree_map("x-[a-z]{1,6}", leaf(), 0..4)
            .prop_map(|m| m.into_iter().collect())
    }

    fn destination(
        host: &str,
        weight: Option<i64>,
        extra: serde_json::Map<String, Value>,
    ) -> Value {
        let mut entry = extra;
        entry.insert(
            "destination".into(),
            json!({"host": host, "port": {"number": 80}}),
        );
        if let Some(weight) = weight {
            entry.insert("weight".into(), json!(weight));
        }
        Value::Object(entry)
    }

    proptest! {
        #[test]
        fn weights_sum_to_100_and_nothing_else_changes(
            weight in 0..=100i32,
            old_canary in prop::option::of(0..=100i64),
            canary_first in any::<bool>(),
            spec_extra in extras(),
            route_extra in extras(),
            dest_extras in prop::collection::vec(extras(), 2),
            strangers in prop::collection::vec(prop::option::of(0..=100i64), 0..3),
        ) {
            let mut route_entries = vec![
                destination("myapp-stable", old_canary.map(|w| 100 - w), dest_extras[0].clone()),
                destination("myapp-canary.default.svc.cluster.local", old_canary, dest_extras[1].clone()),
            ];
            if canary_first {
                route_entries.reverse();
            }
            for (i, stranger) in strangers.iter().enumerate() {
                route_entries.insert(i % (route_entries.len() + 1), destination(&format!("other-{i}"), *stranger, serde_json::Map::new()));
            }
            let mut route = route_extra;
            route.insert("name".into(), json!("primary"));
            route.insert("route".into(), Value::Array(route_entries.clone()));
            let mut spec_obj = spec_extra;
            spec_obj.insert("http".into(), json!([{"name": "other", "route": [{"destination": {"host": "x"}}]}, route]));
            spec_obj.insert("tcp".into(), json!([{"route": [{"destination": {"host": "myapp-stable"}, "weight": 50}]}]));
            let vs = json!({"metadata": {"name": "vs", "namespace": "ns"}, "spec": spec_obj});

            let spec = named(&["primary"]);
            let patched = match virtual_service_patch(&vs, &spec, &host_targets(), weight).unwrap() {
                Some(patch) => apply(&vs, &patch).unwrap(),
                None => vs.clone(),
            };
            let after = patched["spec"]["http"][1]["route"].as_array().unwrap();
            let total: i64 = after.iter().map(|d| d["weight"].as_i64().unwrap()).sum();
            prop_assert_eq!(total, 100);
            let canary: Vec<&Value> = after.iter().filter(|d| d["destination"]["host"].as_str().unwrap().starts_with("myapp-canary")).collect();
            prop_assert_eq!(canary.len(), 1);
            prop_assert_eq!(canary[0]["weight"].as_i64(), Some(i64::from(weight)));

            // Expected: the original entries that are canary/stable, verbatim except for weight.
            let kept: Vec<Value> = route_entries
                .into_iter()
                .filter(|d| !d["destination"]["host"].as_str().unwrap().starts_with("other-"))
                .map(|mut d| {
                    let is_canary = d["destination"]["host"].as_str().unwrap().starts_with("myapp-canary");
                    d["weight"] = json!(if is_canary { weight } else { 100 - weight });
                    d
                })
                .collect();
            let mut expected = vs.clone();
            expected["spec"]["http"][1]["route"] = Value::Array(kept);
            prop_assert_eq!(&patched, &expected);
            prop_assert_eq!(virtual_service_patch(&patched, &spec, &host_targets(), weight), Ok(None));
        }
    }
}
