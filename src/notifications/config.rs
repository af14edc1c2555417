//! The notification configuration: Argo's `argo-rollouts-notification-configmap` (services,
//! templates, triggers, default triggers, subscriptions, context) over Argo's built-in catalog,
//! with `$key` references resolved from `argo-rollouts-notification-secret`. Every item that
//! cannot be used is one [`ConfigError`] naming its key and the fix; the others work.

use super::services::{self, Service};
use super::subscriptions::{GlobalSubscription, parse_destination, parse_selector};
use super::template::Template;
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

const CATALOG: &str = include_str!("catalog.yaml");

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// By the name subscriptions use: `slack`, or a webhook's `<name>`.
    pub services: BTreeMap<String, Service>,
    pub templates: BTreeMap<String, Template>,
    /// Each trigger's templates. Argo's recorder sends the first condition's `send` list and
    /// evaluates no `when`: the Event is the condition.
    pub triggers: BTreeMap<String, Vec<String>>,
    pub default_triggers: Vec<String>,
    pub service_default_triggers: BTreeMap<String, Vec<String>>,
    pub subscriptions: Vec<GlobalSubscription>,
    pub context: BTreeMap<String, String>,
}

/// One unusable item of the ConfigMap. Its text names the key and never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn error(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
struct Condition {
    #[serde(default)]
    send: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscription {
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    selector: String,
}

/// Argo's catalog: the entries any ConfigMap starts from.
pub fn catalog() -> BTreeMap<String, String> {
    // The catalog is part of the binary and a unit test parses it.
    yaml_serde::from_str(CATALOG).unwrap_or_default()
}

/// Replaces every `$key` in the strings of `value` with the Secret's value of `key` (letters,
/// digits, `-`, `_` and `.`), as Argo does; a key the Secret lacks is an error naming it.
fn resolve(value: &mut Json, secret: &BTreeMap<String, String>) -> Result<(), String> {
    match value {
        Json::String(text) => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(at) = rest.find('$') {
                out.push_str(&rest[..at]);
                let after = &rest[at + 1..];
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                    .unwrap_or(after.len());
                let key = &after[..len];
                if key.is_empty() {
                    out.push('$');
                } else {
                    let found = secret.get(key).ok_or_else(|| {
                        format!(
                            "${key} is not a key of the Secret {}; add it there or fix the reference",
                            super::SECRET
                        )
                    })?;
                    out.push_str(found);
                }
                rest = &after[len..];
            }
            out.push_str(rest);
            *text = out;
            Ok(())
        }
        Json::Array(items) => items.iter_mut().try_for_each(|v| resolve(v, secret)),
        Json::Object(fields) => fields.values_mut().try_for_each(|v| resolve(v, secret)),
        _ => Ok(()),
    }
}

fn yaml<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, ConfigError> {
    yaml_serde::from_str(text).map_err(|e| error(key, format!("is not valid YAML here: {e}")))
}

/// The configuration of `data` (the ConfigMap's) over the catalog, with `secret` (the Secret's
/// data, as text) for `$key` references, and every item that could not be used.
pub fn parse(
    data: &BTreeMap<String, String>,
    secret: &BTreeMap<String, String>,
) -> (Config, Vec<ConfigError>) {
    let mut merged = catalog();
    merged.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut config = Config::default();
    let mut errors = Vec::new();
    let mut triggers = BTreeMap::new();
    for (key, text) in &merged {
        let result = if let Some(rest) = key.strip_prefix("service.") {
            yaml::<Json>(key, text).and_then(|mut value| {
                // Checked before the Secret's values are in: a type error quotes the value.
                services::parse(rest, value.clone()).map_err(|m| error(key, m))?;
                resolve(&mut value, secret).map_err(|m| error(key, m))?;
                let (name, service) = services::parse(rest, value).map_err(|m| error(key, m))?;
                config.services.insert(name, service);
                Ok(())
            })
        } else if let Some(name) = key.strip_prefix("template.") {
            yaml::<Template>(key, text).and_then(|template| {
                template.check().map_err(|m| error(key, m))?;
                config.templates.insert(name.to_string(), template);
                Ok(())
            })
        } else if let Some(name) = key.strip_prefix("trigger.") {
            yaml::<Vec<Condition>>(key, text).and_then(|conditions| {
                let send = conditions
                    .into_iter()
                    .next()
                    .map(|c| c.send)
                    .unwrap_or_default();
                if send.is_empty() {
                    return Err(error(
                        key,
                        "names no template: write `- send: [<template>]`",
                    ));
                }
                triggers.insert(name.to_string(), send);
                Ok(())
            })
        } else if key == "defaultTriggers" {
            yaml::<Vec<String>>(key, text).map(|list| config.default_triggers = list)
        } else if let Some(service) = key.strip_prefix("defaultTriggers.") {
            yaml::<Vec<String>>(key, text).map(|list| {
                config
                    .service_default_triggers
                    .insert(service.to_string(), list);
            })
        } else if key == "subscriptions" {
            yaml::<Vec<Subscription>>(key, text).and_then(|list| {
                for (i, s) in list.into_iter().enumerate() {
                    let selector = parse_selector(&s.selector)
                        .map_err(|m| error(key, format!("entry {i}: {m}")))?;
                    config.subscriptions.push(GlobalSubscription {
                        destinations: s.recipients.iter().map(|r| parse_destination(r)).collect(),
                        triggers: s.triggers,
                        selector,
                    });
                }
                Ok(())
            })
        } else if key == "context" {
            yaml::<BTreeMap<String, String>>(key, text).map(|c| config.context = c)
        } else {
            Err(error(
                key,
                "is not a notification setting (service.*, template.*, trigger.*, defaultTriggers, subscriptions, context)",
            ))
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    for (name, send) in triggers {
        match send.iter().find(|t| !config.templates.contains_key(*t)) {
            Some(missing) => errors.push(error(
                &format!("trigger.{name}"),
                format!("sends template {missing}, which is not defined (or did not parse); add template.{missing}"),
            )),
            None => {
                config.triggers.insert(name, send);
            }
        }
    }
    let known = |t: &String| config.triggers.contains_key(t);
    for (key, list) in std::iter::once(("defaultTriggers".to_string(), &config.default_triggers))
        .chain(
            config
                .service_default_triggers
                .iter()
                .map(|(s, l)| (format!("defaultTriggers.{s}"), l)),
        )
    {
        if let Some(unknown) = list.iter().find(|t| !known(t)) {
            errors.push(error(
                &key,
                format!("names trigger {unknown}, which is not defined; add trigger.{unknown}"),
            ));
        }
    }
    (config, errors)
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

    #[test]
    fn the_catalog_parses_whole() {
        let (config, errors) = parse(&BTreeMap::new(), &BTreeMap::new());
        assert_eq!(errors, vec![]);
        for trigger in [
            "on-rollout-completed",
            "on-rollout-step-completed",
            "on-rollout-updated",
            "on-rollout-paused",
            "on-rollout-aborted",
            "on-scaling-replica-set",
            "on-analysis-run-running",
            "on-analysis-run-error",
            "on-analysis-run-failed",
            "on-git-revert-committed",
            "on-git-revert-failed",
            "on-image-held",
        ] {
            assert!(config.triggers.contains_key(trigger), "{trigger}");
        }
        assert!(config.services.is_empty());
    }

    /// A canary mid-release whose revert was committed, as the templates see it.
    fn aborted_rollout() -> crate::api::rollout::Rollout {
        let state = serde_json::json!({"gitRevert": {
            "phase": "Committed", "revision": "2", "podHash": "6d4f8b7c9",
            "images": [{"container": "app", "badImage": "web:v1.2.0", "stableImage": "web:v1.1.0"}],
            "cause": "analysis",
            "evidence": {"analysisRun": "web-6d4f8b7c9-2-1", "metric": "error-rate", "value": "0.12",
                         "condition": "result < 0.05", "message": "error rate too high: \"error-rate\" failed"},
            "requestedAt": "2026-01-01T00:00:00Z",
            "repo": "https://github.com/org/deploy.git", "file": "apps/web/kustomization.yaml",
            "branch": "main", "commit": "0a1b2c3"
        }});
        serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "prod",
                         "annotations": {"weir.dev/state": state.to_string()}},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "app", "image": "web:v1.2.0"}]}},
                     "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": {"currentStepIndex": 1, "currentPodHash": "6d4f8b7c9", "updatedReplicas": 1,
                       "abort": true, "phase": "Degraded"}
        }))
        .unwrap()
    }

    #[test]
    fn every_catalog_template_renders_a_slack_message() {
        use crate::notifications::services::{self, Service, Slack};
        use crate::notifications::vars::{Fired, vars};
        let (config, _) = parse(&BTreeMap::new(), &BTreeMap::new());
        let fired = Fired {
            reason: "GitRevertCommitted".into(),
            message: "Reverted web:v1.2.0 -> web:v1.1.0".into(),
            warning: false,
        };
        let vars = vars(&aborted_rollout(), &fired, &BTreeMap::new());
        let slack: Slack = serde_json::from_value(serde_json::json!({"token": "t"})).unwrap();
        let slack = Service::Slack(slack);
        for (name, template) in &config.templates {
            let rendered = template
                .render(&vars)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                rendered.message.contains("web"),
                "{name}: {}",
                rendered.message
            );
            services::request("slack", &slack, "deploys", &rendered)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let committed = config.templates["git-revert-committed"]
            .render(&vars)
            .unwrap();
        assert_eq!(
            committed.message,
            "Rollout web: web:v1.2.0 rolled back to web:v1.1.0 in Git, reason: error rate too high: \"error-rate\" failed. \
             Commit 0a1b2c3 in https://github.com/org/deploy.git (apps/web/kustomization.yaml): \
             https://github.com/org/deploy/commit/0a1b2c3"
        );
        let step = config.templates["rollout-step-completed"]
            .render(&vars)
            .unwrap();
        assert_eq!(
            step.message,
            "Rollout web step number 2/2 has been completed."
        );
    }

    #[test]
    fn secrets_resolve_into_services() {
        let secret = map(&[("slack-token", "xoxb-1"), ("hook.path", "T/B/X")]);
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("$slack-token", Ok("xoxb-1")),
            ("Bearer $slack-token!", Ok("Bearer xoxb-1!")),
            (
                "https://hooks.slack.com/services/$hook.path",
                Ok("https://hooks.slack.com/services/T/B/X"),
            ),
            ("costs $ 5", Ok("costs $ 5")),
            (
                "$missing",
                Err("$missing is not a key of the Secret argo-rollouts-notification-secret"),
            ),
        ];
        for (text, expected) in cases {
            let mut value = Json::String(text.to_string());
            match (resolve(&mut value, &secret), expected) {
                (Ok(()), Ok(want)) => assert_eq!(value, Json::String(want.to_string())),
                (Err(e), Err(want)) => assert!(e.starts_with(want), "{e}"),
                (got, want) => panic!("{text}: {got:?} {value}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn each_bad_item_is_one_error_and_the_rest_works() {
        let data = map(&[
            (
                "service.slack",
                "token: $slack-token\napiURL: http://127.0.0.1:1/api/",
            ),
            ("service.teams", "recipientUrls: {}"),
            ("service.webhook.hook", "url: $hook-url"),
            (
                "service.webhook.typo",
                "url: http://127.0.0.1:1\nheaders: $slack-token",
            ),
            ("template.broken", "message: '{{.rollout.metadata.name'"),
            ("template.good", "message: hello {{.rollout.metadata.name}}"),
            ("trigger.on-custom", "- send: [good]"),
            ("trigger.on-dangling", "- send: [nowhere]"),
            ("trigger.on-broken", "- send: [broken]"),
            ("trigger.on-empty", "- when: 'true'"),
            ("defaultTriggers", "- on-rollout-aborted\n- on-nothing"),
            (
                "subscriptions",
                "- recipients: [slack:deploys]\n  selector: env in (prod)",
            ),
            ("colour", "blue"),
        ]);
        let (config, errors) = parse(&data, &map(&[("slack-token", "xoxb-1")]));
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "colour",
                "service.teams",
                "service.webhook.hook",
                "service.webhook.typo",
                "subscriptions",
                "template.broken",
                "trigger.on-empty",
                "trigger.on-broken",
                "trigger.on-dangling",
                "defaultTriggers",
            ]
        );
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text[1].contains("service teams is not supported"),
            "{}",
            text[1]
        );
        assert!(text[2].contains("$hook-url is not a key"), "{}", text[2]);
        assert!(text[3].contains("$slack-token"), "{}", text[3]);
        assert!(text[8].contains("sends template nowhere"), "{}", text[8]);
        assert!(text[9].contains("names trigger on-nothing"), "{}", text[9]);
        assert!(!text.iter().any(|t| t.contains("xoxb-1")));
        assert!(config.services.contains_key("slack"));
        assert_eq!(config.triggers["on-custom"], vec!["good".to_string()]);
        assert!(config.triggers.contains_key("on-rollout-aborted"));
        assert_eq!(
            config.default_triggers,
            vec!["on-rollout-aborted".to_string(), "on-nothing".to_string()]
        );
    }

    #[test]
    fn configmap_entries_replace_the_catalogs() {
        let data = map(&[
            (
                "template.rollout-aborted",
                "message: custom {{.rollout.metadata.name}}",
            ),
            (
                "subscriptions",
                "- recipients: [slack:deploys, receiver]\n  triggers: [on-rollout-aborted]\n  selector: env=prod",
            ),
            ("defaultTriggers.slack", "[on-rollout-completed]"),
            ("context", "environment: production"),
        ]);
        let (config, errors) = parse(&data, &BTreeMap::new());
        assert_eq!(errors, vec![]);
        assert_eq!(
            config.templates["rollout-aborted"].message.as_deref(),
            Some("custom {{.rollout.metadata.name}}")
        );
        assert_eq!(config.subscriptions[0].destinations.len(), 2);
        assert_eq!(config.subscriptions[0].destinations[1].service, "receiver");
        assert_eq!(
            config.service_default_triggers["slack"],
            vec!["on-rollout-completed".to_string()]
        );
        assert_eq!(config.context["environment"], "production");
    }
}
