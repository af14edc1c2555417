//! Who gets a trigger's notifications: the Rollout's subscription annotations
//! (`notifications.argoproj.io/subscribe.<trigger>.<service>: <recipient>;<recipient>`, or
//! `subscribe.<service>` for the default triggers, and `notifications.argoproj.io/subscriptions`,
//! a YAML list of triggers and destinations) and the ConfigMap's `subscriptions`, which apply to
//! every Rollout whose labels match their selector, as in Argo's notifications engine.

use super::compact;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const SUBSCRIBE_PREFIX: &str = "notifications.argoproj.io/subscribe.";

/// One place a notification goes: a configured service and what it calls a recipient (a Slack
/// channel; empty for a webhook, whose service names the endpoint).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    pub service: String,
    pub recipient: String,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.recipient.is_empty() {
            f.write_str(&self.service)
        } else {
            write!(f, "{}:{}", self.service, self.recipient)
        }
    }
}

/// A `subscriptions` entry of the ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSubscription {
    pub destinations: Vec<Destination>,
    /// Empty: the default triggers.
    pub triggers: Vec<String>,
    pub selector: Vec<Requirement>,
}

/// One term of a label selector: `key=value`, `key==value` or `key!=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub key: String,
    pub value: String,
    pub equal: bool,
}

/// The triggers a subscription without a trigger means: the service's own default triggers
/// (`defaultTriggers.<service>`) if it has some, else `defaultTriggers`.
pub struct Defaults<'a> {
    pub triggers: &'a [String],
    pub per_service: &'a BTreeMap<String, Vec<String>>,
}

impl Defaults<'_> {
    fn for_service(&self, service: &str) -> &[String] {
        self.per_service
            .get(service)
            .map_or(self.triggers, Vec::as_slice)
    }
}

/// `key=value,key!=value`; an empty selector matches every Rollout.
pub fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .map(|term| {
            let (key, value, equal) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, v, true)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, v, true)
            } else {
                return Err(format!(
                    "selector term {term:?} is not key=value, key==value or key!=value"
                ));
            };
            Ok(Requirement {
                key: key.trim().to_string(),
                value: value.trim().to_string(),
                equal,
            })
        })
        .collect()
}

fn matches(selector: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    selector
        .iter()
        .all(|r| (labels.get(&r.key) == Some(&r.value)) == r.equal)
}

/// `service:recipient` (a ConfigMap subscription's recipient); no colon is a service alone.
pub fn parse_destination(text: &str) -> Destination {
    let (service, recipient) = text.split_once(':').unwrap_or((text, ""));
    Destination {
        service: service.trim().to_string(),
        recipient: recipient.trim().to_string(),
    }
}

/// Recipients of an annotation value: separated by `;` or `,`, as Argo splits them. A value
/// with none (a webhook subscription) is one empty recipient.
fn recipients(value: &str) -> Vec<String> {
    let list: Vec<String> = value
        .split([';', ','])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        vec![String::new()]
    } else {
        list
    }
}

/// Every destination of `trigger` for a Rollout with these annotations and labels; `compact` is
/// what of its compact annotation can be used (see [`compact::parse`]).
pub fn destinations(
    trigger: &str,
    annotations: &BTreeMap<String, String>,
    compact: &[compact::Entry],
    labels: &BTreeMap<String, String>,
    global: &[GlobalSubscription],
    defaults: &Defaults,
) -> BTreeSet<Destination> {
    let mut out = BTreeSet::new();
    for (key, value) in annotations {
        let Some(rest) = key.strip_prefix(SUBSCRIBE_PREFIX) else {
            continue;
        };
        // Trigger names have no dots, service names (`webhook.<name>` is configured as
        // `service.webhook.<name>` but subscribed as `<name>`) have none either.
        let (triggers, service): (Vec<&str>, &str) = match rest.split_once('.') {
            Some((t, s)) if !t.is_empty() => (vec![t], s),
            Some((_, s)) => (
                defaults.for_service(s).iter().map(String::as_str).collect(),
                s,
            ),
            None => (
                defaults
                    .for_service(rest)
                    .iter()
                    .map(String::as_str)
                    .collect(),
                rest,
            ),
        };
        if service.is_empty() || !triggers.contains(&trigger) {
            continue;
        }
        for recipient in recipients(value) {
            out.insert(Destination {
                service: service.to_string(),
                recipient,
            });
        }
    }
    for entry in compact {
        for destination in &entry.destinations {
            let service = destination.service.as_str();
            let subscribed = if entry.triggers.is_empty() {
                defaults.for_service(service).iter().any(|t| t == trigger)
            } else {
                entry.triggers.iter().any(|t| t == trigger)
            };
            if !subscribed {
                continue;
            }
            let recipients: Vec<&str> = match destination.recipients.as_slice() {
                [] => vec![""],
                named => named.iter().map(String::as_str).collect(),
            };
            out.extend(recipients.into_iter().map(|recipient| Destination {
                service: service.to_string(),
                recipient: recipient.to_string(),
            }));
        }
    }
    for subscription in global {
        let triggers: &[String] = if subscription.triggers.is_empty() {
            defaults.triggers
        } else {
            &subscription.triggers
        };
        if triggers.iter().any(|t| t == trigger) && matches(&subscription.selector, labels) {
            out.extend(subscription.destinations.iter().cloned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A trigger, the Rollout's annotations or labels, and the destinations expected.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)]);

    fn dest(service: &str, recipient: &str) -> Destination {
        Destination {
            service: service.into(),
            recipient: recipient.into(),
        }
    }

    #[test]
    fn annotations_name_trigger_service_and_recipients() {
        let defaults_list = vec!["on-rollout-aborted".to_string()];
        let per_service = BTreeMap::new();
        let defaults = Defaults {
            triggers: &defaults_list,
            per_service: &per_service,
        };
        let cases: &[Case] = &[
            (
                "on-rollout-aborted",
                &[(
                    "notifications.argoproj.io/subscribe.on-rollout-aborted.slack",
                    "deploys",
                )],
                &[("slack", "deploys")],
            ),
            (
                "on-rollout-aborted",
                &[(
                    "notifications.argoproj.io/subscribe.on-rollout-aborted.slack",
                    "a; b,c ;",
                )],
                &[("slack", "a"), ("slack", "b"), ("slack", "c")],
            ),
            (
                "on-rollout-completed",
                &[(
                    "notifications.argoproj.io/subscribe.on-rollout-aborted.slack",
                    "deploys",
                )],
                &[],
            ),
            (
                "on-rollout-aborted",
                &[("notifications.argoproj.io/subscribe.slack", "deploys")],
                &[("slack", "deploys")],
            ),
            (
                "on-rollout-aborted",
                &[("notifications.argoproj.io/subscribe..slack", "deploys")],
                &[("slack", "deploys")],
            ),
            (
                "on-rollout-completed",
                &[("notifications.argoproj.io/subscribe.slack", "deploys")],
                &[],
            ),
            (
                "on-rollout-aborted",
                &[(
                    "notifications.argoproj.io/subscribe.on-rollout-aborted.receiver",
                    "",
                )],
                &[("receiver", "")],
            ),
            (
                "on-rollout-aborted",
                &[("example.com/subscribe.on-rollout-aborted.slack", "deploys")],
                &[],
            ),
        ];
        for (trigger, annotations, expected) in cases {
            let got = destinations(trigger, &map(annotations), &[], &map(&[]), &[], &defaults);
            let expected: BTreeSet<_> = expected.iter().map(|(s, r)| dest(s, r)).collect();
            assert_eq!(got, expected, "{trigger} {annotations:?}");
        }
    }

    #[test]
    fn the_subscriptions_annotation_lists_triggers_and_destinations() {
        let defaults_list = vec!["on-rollout-aborted".to_string()];
        let per_service =
            BTreeMap::from([("hook".to_string(), vec!["on-rollout-completed".to_string()])]);
        let defaults = Defaults {
            triggers: &defaults_list,
            per_service: &per_service,
        };
        // Argo's documented example, plus a trigger-less entry and a webhook without recipients.
        let value = "
- trigger: [on-rollout-updated, on-rollout-step-completed]
  destinations:
    - service: slack
      recipients: [my-channel-1, my-channel-2]
    - service: email
      recipients: [recipient-1]
- trigger: [on-rollout-aborted]
  destinations:
    - {service: slack, recipients: [incidents]}
- destinations:
    - {service: slack, recipients: [defaults]}
    - {service: hook}
- trigger: on-rollout-paused
  destinations: [{service: slack, recipients: [' paused ']}]
";
        let annotations = map(&[(compact::PREFIX, value)]);
        let parsed = compact::parse(&annotations);
        assert_eq!(parsed.problems, Vec::<String>::new());
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "on-rollout-updated",
                &[
                    ("email", "recipient-1"),
                    ("slack", "my-channel-1"),
                    ("slack", "my-channel-2"),
                ],
            ),
            (
                "on-rollout-aborted",
                &[("slack", "defaults"), ("slack", "incidents")],
            ),
            ("on-rollout-completed", &[("hook", "")]),
            ("on-rollout-paused", &[("slack", "paused")]),
            ("on-analysis-run-failed", &[]),
        ];
        for (trigger, expected) in cases {
            let got = destinations(
                trigger,
                &annotations,
                &parsed.entries,
                &map(&[]),
                &[],
                &defaults,
            );
            let expected: BTreeSet<_> = expected.iter().map(|(s, r)| dest(s, r)).collect();
            assert_eq!(got, expected, "{trigger}");
        }
    }

    #[test]
    fn service_defaults_replace_the_global_defaults() {
        let global = vec!["on-rollout-aborted".to_string()];
        let per_service = BTreeMap::from([(
            "slack".to_string(),
            vec!["on-rollout-completed".to_string()],
        )]);
        let defaults = Defaults {
            triggers: &global,
            per_service: &per_service,
        };
        let annotations = map(&[("notifications.argoproj.io/subscribe.slack", "deploys")]);
        let none = map(&[]);
        assert!(
            destinations(
                "on-rollout-aborted",
                &annotations,
                &[],
                &none,
                &[],
                &defaults
            )
            .is_empty()
        );
        assert_eq!(
            destinations(
                "on-rollout-completed",
                &annotations,
                &[],
                &none,
                &[],
                &defaults
            ),
            BTreeSet::from([dest("slack", "deploys")])
        );
    }

    #[test]
    fn configmap_subscriptions_apply_by_selector() {
        let defaults_list = vec!["on-rollout-aborted".to_string()];
        let per_service = BTreeMap::new();
        let defaults = Defaults {
            triggers: &defaults_list,
            per_service: &per_service,
        };
        let global = vec![
            GlobalSubscription {
                destinations: vec![parse_destination("slack:prod")],
                triggers: vec!["on-rollout-completed".into()],
                selector: parse_selector("env=prod, team != payments").unwrap(),
            },
            GlobalSubscription {
                destinations: vec![parse_destination("hook")],
                triggers: vec![],
                selector: vec![],
            },
        ];
        let cases: &[Case] = &[
            (
                "on-rollout-completed",
                &[("env", "prod")],
                &[("slack", "prod")],
            ),
            (
                "on-rollout-completed",
                &[("env", "prod"), ("team", "payments")],
                &[],
            ),
            ("on-rollout-completed", &[("env", "dev")], &[]),
            ("on-rollout-aborted", &[("env", "prod")], &[("hook", "")]),
        ];
        for (trigger, labels, expected) in cases {
            let got = destinations(trigger, &map(&[]), &[], &map(labels), &global, &defaults);
            let expected: BTreeSet<_> = expected.iter().map(|(s, r)| dest(s, r)).collect();
            assert_eq!(got, expected, "{trigger} {labels:?}");
        }
    }

    #[test]
    fn selectors_parse_or_say_what_is_wrong() {
        assert_eq!(parse_selector("").unwrap(), vec![]);
        assert_eq!(
            parse_selector("a==b").unwrap(),
            vec![Requirement {
                key: "a".into(),
                value: "b".into(),
                equal: true
            }]
        );
        let error = parse_selector("env in (prod)").unwrap_err();
        assert!(error.contains("env in (prod)"), "{error}");
    }
}
