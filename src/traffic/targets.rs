//! How a route destination is recognised as the canary or the stable side of the split.

use crate::api::istio::Destination;
use crate::api::rollout::CanaryStrategy;
use std::fmt;

/// Which side of the canary split a destination (or a subset, or a Service) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Canary,
    Stable,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Canary => "canary",
            Role::Stable => "stable",
        })
    }
}

/// How canary and stable destinations are recognised in a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Host-level split: destination.host's short name (text before the first '.') equals the
    /// Service name.
    Host {
        canary_service: String,
        stable_service: String,
    },
    /// Subset split: destination.subset equals the DestinationRule subset name.
    Subset {
        canary_subset: String,
        stable_subset: String,
    },
}

impl Targets {
    /// Subset mode when `trafficRouting.istio.destinationRule` is set, else host mode from
    /// `canaryService`/`stableService`. `None` when the names that mode needs are missing or
    /// empty: an empty name would match destinations that merely omit the field, so Argo treats
    /// it as "not configured" and so does Weir.
    pub fn from_strategy(canary: &CanaryStrategy) -> Option<Targets> {
        let destination_rule = canary
            .traffic_routing
            .as_ref()
            .and_then(|routing| routing.istio.as_ref())
            .and_then(|istio| istio.destination_rule.as_ref());
        if let Some(rule) = destination_rule {
            return (!rule.canary_subset_name.is_empty() && !rule.stable_subset_name.is_empty())
                .then(|| Targets::Subset {
                    canary_subset: rule.canary_subset_name.clone(),
                    stable_subset: rule.stable_subset_name.clone(),
                });
        }
        let canary_service = canary.canary_service.as_deref().filter(|s| !s.is_empty())?;
        let stable_service = canary.stable_service.as_deref().filter(|s| !s.is_empty())?;
        Some(Targets::Host {
            canary_service: canary_service.to_owned(),
            stable_service: stable_service.to_owned(),
        })
    }

    /// The side a destination sends traffic to, or `None` for a destination Weir does not own
    /// (those are removed from selected routes, as Argo does, so the two weights sum to 100).
    pub fn role_of(&self, destination: &Destination) -> Option<Role> {
        let (found, canary, stable) = match self {
            Targets::Host {
                canary_service,
                stable_service,
            } => (
                Some(host_short_name(&destination.host)),
                canary_service,
                stable_service,
            ),
            Targets::Subset {
                canary_subset,
                stable_subset,
            } => (destination.subset.as_deref(), canary_subset, stable_subset),
        };
        match found {
            Some(name) if name == canary => Some(Role::Canary),
            Some(name) if name == stable => Some(Role::Stable),
            _ => None,
        }
    }

    /// What a destination must carry to be `role`: (`"host"` | `"subset"`, expected value).
    pub fn expected(&self, role: Role) -> (&'static str, &str) {
        match (self, role) {
            (Targets::Host { canary_service, .. }, Role::Canary) => ("host", canary_service),
            (Targets::Host { stable_service, .. }, Role::Stable) => ("host", stable_service),
            (Targets::Subset { canary_subset, .. }, Role::Canary) => ("subset", canary_subset),
            (Targets::Subset { stable_subset, .. }, Role::Stable) => ("subset", stable_subset),
        }
    }

    /// The Rollout field that names `role`'s target, for error messages.
    pub fn field(&self, role: Role) -> &'static str {
        match (self, role) {
            (Targets::Host { .. }, Role::Canary) => "spec.strategy.canary.canaryService",
            (Targets::Host { .. }, Role::Stable) => "spec.strategy.canary.stableService",
            (Targets::Subset { .. }, Role::Canary) => {
                "spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName"
            }
            (Targets::Subset { .. }, Role::Stable) => {
                "spec.strategy.canary.trafficRouting.istio.destinationRule.stableSubsetName"
            }
        }
    }
}

/// The Service name a destination host refers to: Istio accepts both `svc` and
/// `svc.ns.svc.cluster.local`, and Argo compares only the part before the first '.'.
pub fn host_short_name(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{IstioDestinationRule, IstioTrafficRouting, RolloutTrafficRouting};

    fn strategy(
        canary: Option<&str>,
        stable: Option<&str>,
        subsets: Option<(&str, &str)>,
    ) -> CanaryStrategy {
        CanaryStrategy {
            canary_service: canary.map(str::to_owned),
            stable_service: stable.map(str::to_owned),
            traffic_routing: Some(RolloutTrafficRouting {
                istio: Some(IstioTrafficRouting {
                    destination_rule: subsets.map(|(c, s)| IstioDestinationRule {
                        name: "dr".into(),
                        canary_subset_name: c.into(),
                        stable_subset_name: s.into(),
                        additional_subset_names: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn host(canary: &str, stable: &str) -> Targets {
        Targets::Host {
            canary_service: canary.into(),
            stable_service: stable.into(),
        }
    }

    fn subset(canary: &str, stable: &str) -> Targets {
        Targets::Subset {
            canary_subset: canary.into(),
            stable_subset: stable.into(),
        }
    }

    #[test]
    fn from_strategy_picks_mode() {
        let cases = [
            (strategy(Some("c"), Some("s"), None), Some(host("c", "s"))),
            (
                strategy(Some("c"), Some("s"), Some(("canary", "stable"))),
                Some(subset("canary", "stable")),
            ),
            (
                strategy(None, None, Some(("canary", "stable"))),
                Some(subset("canary", "stable")),
            ),
            (strategy(Some("c"), None, None), None),
            (strategy(Some(""), Some("s"), None), None),
            (strategy(None, None, Some(("", "stable"))), None),
        ];
        for (input, want) in cases {
            assert_eq!(Targets::from_strategy(&input), want, "{input:?}");
        }
    }

    #[test]
    fn role_of_matches_short_host_or_subset() {
        let dest = |host: &str, subset: Option<&str>| Destination {
            host: host.into(),
            subset: subset.map(str::to_owned),
            ..Default::default()
        };
        let cases = [
            (
                host("app-canary", "app-stable"),
                dest("app-canary", None),
                Some(Role::Canary),
            ),
            (
                host("app-canary", "app-stable"),
                dest("app-stable.prod.svc.cluster.local", Some("x")),
                Some(Role::Stable),
            ),
            (
                host("app-canary", "app-stable"),
                dest("app-canary-v2", None),
                None,
            ),
            (
                host("app-canary", "app-stable"),
                dest(".app-canary", None),
                None,
            ),
            (
                subset("canary", "stable"),
                dest("app", Some("canary")),
                Some(Role::Canary),
            ),
            (
                subset("canary", "stable"),
                dest("app", Some("stable")),
                Some(Role::Stable),
            ),
            (subset("canary", "stable"), dest("canary", None), None),
        ];
        for (targets, destination, want) in cases {
            assert_eq!(
                targets.role_of(&destination),
                want,
                "{targets:?} {destination:?}"
            );
        }
    }

    #[test]
    fn expected_and_field_name_the_rollout_setting() {
        let h = host("c", "s");
        assert_eq!(h.expected(Role::Canary), ("host", "c"));
        assert_eq!(h.field(Role::Stable), "spec.strategy.canary.stableService");
        let s = subset("canary", "stable");
        assert_eq!(s.expected(Role::Stable), ("subset", "stable"));
        assert!(
            s.field(Role::Canary)
                .ends_with("destinationRule.canarySubsetName")
        );
    }
}
