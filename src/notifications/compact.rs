//! Argo's compact subscription annotation, `notifications.argoproj.io/subscriptions`: a YAML list
//! of entries, each naming triggers (none: the default triggers) and destinations:
//!
//! ```yaml
//! notifications.argoproj.io/subscriptions: |
//!   - trigger: [on-rollout-aborted, on-analysis-run-failed]
//!     destinations:
//!       - service: slack
//!         recipients: [deploys, incidents]
//! ```
//!
//! Read as notifications-engine reads it: every annotation whose key starts with that name,
//! field names in any letter case, unknown fields ignored, each entry on its own, so one bad
//! entry does not silence the others. What it ignores or cannot use is returned as problems for
//! the controller to report, where notifications-engine logs at most a parse error.

use serde_json::Value;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

pub const PREFIX: &str = "notifications.argoproj.io/subscriptions";

const SHAPE: &str = "expected a YAML list like \
    `- {trigger: [on-rollout-aborted], destinations: [{service: slack, recipients: [deploys]}]}`";

/// One usable entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Empty: the default triggers of each destination's service.
    pub triggers: Vec<String>,
    pub destinations: Vec<Destination>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub service: String,
    /// Empty: the service alone (a webhook, whose service names the endpoint).
    pub recipients: Vec<String>,
}

/// The Rollout's compact subscriptions, and what in them cannot be used.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub problems: Vec<String>,
}

impl Parsed {
    /// One message for every problem: the annotation, each problem, and the expected shape.
    pub fn report(&self) -> Option<String> {
        (!self.problems.is_empty()).then(|| format!("{}; {SHAPE}", self.problems.join("; ")))
    }
}

/// A hash of the compact annotations' text: the same problems are reported once per Rollout and
/// text, not for every Event.
pub fn fingerprint(uid: &str, annotations: &BTreeMap<String, String>) -> u64 {
    let mut hasher = DefaultHasher::new();
    uid.hash(&mut hasher);
    for (key, value) in annotations.range(PREFIX.to_string()..) {
        if !key.starts_with(PREFIX) {
            break;
        }
        (key, value).hash(&mut hasher);
    }
    hasher.finish()
}

pub fn parse(annotations: &BTreeMap<String, String>) -> Parsed {
    let mut parsed = Parsed::default();
    for (key, value) in annotations.range(PREFIX.to_string()..) {
        if !key.starts_with(PREFIX) {
            break;
        }
        let list = match yaml_serde::from_str::<Value>(value) {
            Ok(Value::Array(list)) => list,
            Ok(Value::Null) => continue,
            Ok(_) => {
                parsed
                    .problems
                    .push(format!("annotation {key} is not a list"));
                continue;
            }
            Err(e) => {
                parsed
                    .problems
                    .push(format!("annotation {key} does not parse: {e}"));
                continue;
            }
        };
        for (i, item) in list.iter().enumerate() {
            let mut problem =
                |what: String| parsed.problems.push(format!("{key} entry {i}: {what}"));
            if let Some(entry) = entry(item, &mut problem) {
                parsed.entries.push(entry);
            }
        }
    }
    parsed
}

/// `item` as an entry, reporting what is ignored; None for one that can send nothing.
fn entry(item: &Value, problem: &mut impl FnMut(String)) -> Option<Entry> {
    let Value::Object(fields) = item else {
        problem("not a mapping of trigger and destinations".into());
        return None;
    };
    let mut triggers = Vec::new();
    let mut destinations = Vec::new();
    for (name, value) in fields {
        match name.to_ascii_lowercase().as_str() {
            "trigger" => match names(value) {
                Some(list) => triggers = list,
                None => {
                    problem(format!(
                        "trigger is {value}, not a trigger name or a list of them"
                    ));
                    return None;
                }
            },
            "destinations" => match value {
                Value::Array(list) => {
                    for (j, item) in list.iter().enumerate() {
                        let mut problem =
                            |what: String| problem(format!("destination {j}: {what}"));
                        destinations.extend(destination(item, &mut problem));
                    }
                }
                Value::Null => {}
                other => problem(format!("destinations is {other}, not a list")),
            },
            _ => problem(format!("unknown field `{name}` (ignored)")),
        }
    }
    if destinations.is_empty() {
        problem("no destinations, so it sends nothing".into());
        return None;
    }
    Some(Entry {
        triggers,
        destinations,
    })
}

/// `item` as a destination, reporting what is ignored; None for one that names no service or
/// whose recipients cannot be read.
fn destination(item: &Value, problem: &mut impl FnMut(String)) -> Option<Destination> {
    let Value::Object(fields) = item else {
        problem(format!("{item} is not a mapping of service and recipients"));
        return None;
    };
    let mut service = None;
    let mut recipients = Vec::new();
    for (name, value) in fields {
        match name.to_ascii_lowercase().as_str() {
            "service" => service = value.as_str().map(str::trim).filter(|s| !s.is_empty()),
            "recipients" => match names(value) {
                Some(list) => recipients = list,
                None => {
                    problem(format!("recipients is {value}, not a list of names"));
                    return None;
                }
            },
            _ => problem(format!("unknown field `{name}` (ignored)")),
        }
    }
    let Some(service) = service else {
        problem("no service".into());
        return None;
    };
    Some(Destination {
        service: service.to_string(),
        recipients,
    })
}

/// A name, a list of names, or nothing (null); trimmed, empty ones dropped.
fn names(value: &Value) -> Option<Vec<String>> {
    let list = match value {
        Value::Null => Vec::new(),
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    Some(
        list.into_iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn destination(service: &str, recipients: &[&str]) -> Destination {
        Destination {
            service: service.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn entry(triggers: &[&str], destinations: Vec<Destination>) -> Entry {
        Entry {
            triggers: triggers.iter().map(|t| t.to_string()).collect(),
            destinations,
        }
    }

    #[test]
    fn reads_argos_documented_form_and_its_variants() {
        let value = "
- trigger: [on-rollout-updated, on-rollout-step-completed]
  destinations:
    - service: slack
      recipients: [my-channel-1, ' my-channel-2 ']
    - service: email
      recipients: [recipient-1]
- Trigger: on-rollout-paused
  Destinations: [{Service: slack, Recipients: paused}]
- destinations: [{service: hook}, {service: slack, recipients: ~}]
";
        let parsed = parse(&annotations(&[(PREFIX, value)]));
        assert_eq!(parsed.problems, Vec::<String>::new());
        assert_eq!(
            parsed.entries,
            [
                entry(
                    &["on-rollout-updated", "on-rollout-step-completed"],
                    vec![
                        destination("slack", &["my-channel-1", "my-channel-2"]),
                        destination("email", &["recipient-1"]),
                    ]
                ),
                entry(
                    &["on-rollout-paused"],
                    vec![destination("slack", &["paused"])]
                ),
                entry(
                    &[],
                    vec![destination("hook", &[]), destination("slack", &[])]
                ),
            ]
        );
        assert_eq!(parsed.report(), None);
    }

    #[test]
    fn every_annotation_with_the_prefix_counts() {
        let parsed = parse(&annotations(&[
            (PREFIX, "- destinations: [{service: a}]"),
            (
                "notifications.argoproj.io/subscriptions-team",
                "- destinations: [{service: b}]",
            ),
            (
                "notifications.argoproj.io/subscribe.slack",
                "- destinations: [{service: c}]",
            ),
        ]));
        let services: Vec<&str> = parsed
            .entries
            .iter()
            .map(|e| e.destinations[0].service.as_str())
            .collect();
        assert_eq!(services, ["a", "b"]);
    }

    #[test]
    fn a_bad_entry_is_reported_and_the_others_still_work() {
        // (annotation value, problem expected, services of the entries still used)
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "- {trigger: [a], destination: [{service: x}]}\n- {destinations: [{service: ok}]}",
                "entry 0: unknown field `destination` (ignored)",
                &["ok"],
            ),
            (
                "- {trigger: [a], destinations: []}\n- {destinations: [{service: ok}]}",
                "entry 0: no destinations, so it sends nothing",
                &["ok"],
            ),
            (
                "- {trigger: {a: 1}, destinations: [{service: x}]}\n- {destinations: [{service: ok}]}",
                "entry 0: trigger is {\"a\":1}, not a trigger name or a list of them",
                &["ok"],
            ),
            (
                "- {destinations: [{recipients: [a]}, {service: ok}]}",
                "entry 0: destination 0: no service",
                &["ok"],
            ),
            (
                "- {destinations: [{service: ' ', recipients: [a]}, {service: ok}]}",
                "entry 0: destination 0: no service",
                &["ok"],
            ),
            (
                "- {destinations: [{service: x, channel: a}, {service: ok}]}",
                "entry 0: destination 0: unknown field `channel` (ignored)",
                &["x", "ok"],
            ),
            (
                "- {destinations: [{service: x, recipients: {a: 1}}, {service: ok}]}",
                "entry 0: destination 0: recipients is {\"a\":1}, not a list of names",
                &["ok"],
            ),
            (
                "- just-a-name\n- {destinations: [{service: ok}]}",
                "entry 0: not a mapping",
                &["ok"],
            ),
            ("trigger: on-rollout-aborted", "is not a list", &[]),
            ("- [unclosed", "does not parse", &[]),
        ];
        for (value, problem, services) in cases {
            let parsed = parse(&annotations(&[(PREFIX, value)]));
            let report = parsed.report().unwrap_or_default();
            assert!(report.contains(problem), "{value}: {report}");
            assert!(report.contains(PREFIX), "{report}");
            assert!(report.contains("expected a YAML list"), "{report}");
            let used: Vec<&str> = parsed
                .entries
                .iter()
                .flat_map(|e| e.destinations.iter().map(|d| d.service.as_str()))
                .collect();
            assert_eq!(&used, services, "{value}");
        }
    }

    #[test]
    fn the_fingerprint_follows_the_rollout_and_the_text() {
        let a = annotations(&[(PREFIX, "- x"), ("other", "1")]);
        let b = annotations(&[(PREFIX, "- x"), ("other", "2")]);
        let c = annotations(&[(PREFIX, "- y")]);
        assert_eq!(
            fingerprint("u", &a),
            fingerprint("u", &b),
            "other annotations do not count"
        );
        assert_ne!(fingerprint("u", &a), fingerprint("u", &c));
        assert_ne!(fingerprint("u", &a), fingerprint("v", &a));
    }
}
