//! Notification templates: Argo's `template.<name>` entries (a `message`, a `slack` section with
//! `attachments` and `blocks`, `webhook.<name>` sections with `method`, `path` and `body`),
//! each field a Go template over the variables Argo exposes (`.rollout`, see [`super::vars`]).
//! Sections for services Weir does not serve (`email`, `teams`, ...) are accepted and unused,
//! so Argo's catalog applies unmodified.

use gtmpl::{Func, FuncError, Template as Go, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A template as written: every field is Go template source, checked when the config loads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Template {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub slack: Option<SlackTemplate>,
    #[serde(default)]
    pub webhook: BTreeMap<String, WebhookTemplate>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlackTemplate {
    #[serde(default)]
    pub attachments: Option<String>,
    #[serde(default)]
    pub blocks: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebhookTemplate {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

/// A rendered template: plain text, ready for any service. Kept in the Rollout's notification
/// record while its delivery is pending, so it holds no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_attachments: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_blocks: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub webhook: BTreeMap<String, RenderedWebhook>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedWebhook {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// The functions templates may call besides Go's built-ins (`len`, `index`, `eq`, `not`,
/// `printf`, ...): the sprig helpers Argo's catalog and common templates use.
const FUNCS: [(&str, Func); 6] = [
    ("add", add),
    ("sub", sub),
    ("upper", upper),
    ("lower", lower),
    ("trim", trim),
    ("toJson", to_json),
];

fn integers(name: &str, args: &[Value]) -> Result<Vec<i64>, FuncError> {
    args.iter()
        .map(|a| match a {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| FuncError::Generic(format!("{name}: {n} is not an integer"))),
            Value::String(s) => s
                .parse()
                .map_err(|_| FuncError::Generic(format!("{name}: {s:?} is not an integer"))),
            other => Err(FuncError::Generic(format!(
                "{name}: {other} is not an integer"
            ))),
        })
        .collect()
}

fn add(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(integers("add", args)?.iter().sum::<i64>()))
}

fn sub(args: &[Value]) -> Result<Value, FuncError> {
    match integers("sub", args)?.as_slice() {
        [a, b] => Ok(Value::from(a - b)),
        _ => Err(FuncError::ExactlyXArgs("sub".into(), 2)),
    }
}

fn text(name: &str, args: &[Value]) -> Result<String, FuncError> {
    match args {
        [Value::String(s)] => Ok(s.clone()),
        [other] => Ok(other.to_string()),
        _ => Err(FuncError::ExactlyXArgs(name.into(), 1)),
    }
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(text("upper", args)?.to_uppercase()))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(text("lower", args)?.to_lowercase()))
}

fn trim(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::from(text("trim", args)?.trim().to_string()))
}

/// Sprig's `toJson`: the value as JSON, so that free text (an analysis message with quotes)
/// can go into a Slack attachment or a webhook body.
fn to_json(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [value] => Ok(Value::from(json_of(value).to_string())),
        _ => Err(FuncError::ExactlyXArgs("toJson".into(), 1)),
    }
}

fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => n
            .as_i64()
            .map(Json::from)
            .or_else(|| n.as_f64().map(Json::from))
            .unwrap_or(Json::Null),
        Value::Array(items) => Json::Array(items.iter().map(json_of).collect()),
        Value::Map(fields) | Value::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
        ),
        _ => Json::Null,
    }
}

fn compile(source: &str) -> Result<Go, String> {
    let mut go = Go::default();
    for (name, f) in FUNCS {
        go.add_func(name, f);
    }
    go.parse(source).map_err(|e| e.to_string())?;
    Ok(go)
}

fn render_one(field: &str, source: &str, vars: &Value) -> Result<String, String> {
    let go = compile(source).map_err(|e| format!("{field}: {e}"))?;
    go.render(&gtmpl::Context::from(vars.clone()))
        .map_err(|e| format!("{field}: {e}"))
}

impl Template {
    /// Every field with its name, for messages.
    fn fields(&self) -> Vec<(String, &str)> {
        let mut fields = Vec::new();
        if let Some(m) = &self.message {
            fields.push(("message".to_string(), m.as_str()));
        }
        if let Some(slack) = &self.slack {
            if let Some(a) = &slack.attachments {
                fields.push(("slack.attachments".to_string(), a.as_str()));
            }
            if let Some(b) = &slack.blocks {
                fields.push(("slack.blocks".to_string(), b.as_str()));
            }
        }
        for (name, hook) in &self.webhook {
            for (part, source) in [
                ("method", &hook.method),
                ("path", &hook.path),
                ("body", &hook.body),
            ] {
                if let Some(source) = source {
                    fields.push((format!("webhook.{name}.{part}"), source.as_str()));
                }
            }
        }
        fields
    }

    /// Parses every field: the first that does not parse, named.
    pub fn check(&self) -> Result<(), String> {
        for (field, source) in self.fields() {
            compile(source).map_err(|e| format!("{field} does not parse: {e}"))?;
        }
        Ok(())
    }

    pub fn render(&self, vars: &Value) -> Result<Notification, String> {
        let opt = |field: &str, source: &Option<String>| {
            source
                .as_deref()
                .map(|s| render_one(field, s, vars))
                .transpose()
        };
        let slack = self.slack.clone().unwrap_or_default();
        let mut webhook = BTreeMap::new();
        for (name, hook) in &self.webhook {
            webhook.insert(
                name.clone(),
                RenderedWebhook {
                    method: opt(&format!("webhook.{name}.method"), &hook.method)?
                        .unwrap_or_default(),
                    path: opt(&format!("webhook.{name}.path"), &hook.path)?.unwrap_or_default(),
                    body: opt(&format!("webhook.{name}.body"), &hook.body)?.unwrap_or_default(),
                },
            );
        }
        Ok(Notification {
            message: opt("message", &self.message)?.unwrap_or_default(),
            slack_attachments: opt("slack.attachments", &slack.attachments)?,
            slack_blocks: opt("slack.blocks", &slack.blocks)?,
            webhook,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::vars::to_value;
    use serde_json::json;

    fn vars() -> Value {
        to_value(&json!({"rollout": {
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {
                "replicas": 4,
                "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]}},
                "template": {"spec": {"containers": [
                    {"name": "app", "image": "web:v1.2.0"},
                    {"name": "proxy", "image": "envoy:1.30"}
                ]}}
            },
            "status": {"currentStepIndex": 1, "phase": "Degraded"}
        }}))
    }

    fn message(source: &str) -> Template {
        Template {
            message: Some(source.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn renders_what_argos_templates_use() {
        let cases = [
            (
                "Rollout {{.rollout.metadata.name}} has been aborted.",
                "Rollout web has been aborted.",
            ),
            (
                "{{range $index, $c := .rollout.spec.template.spec.containers}}{{if ne $index 0}}, {{end}}{{$c.image}}{{end}}",
                "web:v1.2.0, envoy:1.30",
            ),
            (
                "step {{ add .rollout.status.currentStepIndex 1}}/{{len .rollout.spec.strategy.canary.steps}}",
                "step 2/3",
            ),
            (
                "{{if .rollout.spec.strategy.blueGreen}}BlueGreen{{end}}{{if .rollout.spec.strategy.canary}}Canary{{end}}",
                "Canary",
            ),
            (
                "{{(index .rollout.spec.template.spec.containers 0).image}}",
                "web:v1.2.0",
            ),
            (
                "{{if eq .rollout.status.phase \"Degraded\"}}bad{{else}}good{{end}}",
                "bad",
            ),
            (
                "{{ .rollout.metadata.name | upper }} {{ sub 5 2 }}",
                "WEB 3",
            ),
            ("{{ .rollout.spec.replicas }}", "4"),
            (
                "{{ toJson .rollout.metadata.name }} {{ toJson (index .rollout.spec.template.spec.containers 1) }}",
                r#""web" {"image":"envoy:1.30","name":"proxy"}"#,
            ),
        ];
        for (source, expected) in cases {
            let rendered = message(source).render(&vars()).unwrap();
            assert_eq!(rendered.message, expected, "{source}");
        }
    }

    #[test]
    fn bad_templates_are_named_by_field() {
        let unparsable = message("Rollout {{.rollout.metadata.name");
        let error = unparsable.check().unwrap_err();
        assert!(error.starts_with("message does not parse"), "{error}");
        let mut hook = Template::default();
        hook.webhook.insert(
            "github".into(),
            WebhookTemplate {
                body: Some("{{ end }}".into()),
                ..Default::default()
            },
        );
        let error = hook.check().unwrap_err();
        assert!(
            error.starts_with("webhook.github.body does not parse"),
            "{error}"
        );
        let error = message("{{ add .rollout.metadata.name 1 }}")
            .render(&vars())
            .unwrap_err();
        assert!(error.starts_with("message:"), "{error}");
    }

    #[test]
    fn slack_and_webhook_sections_render() {
        let template: Template = yaml_serde::from_str(
            "message: m {{.rollout.metadata.name}}\nslack:\n  attachments: '[{\"title\": \"{{.rollout.metadata.name}}\"}]'\nwebhook:\n  receiver:\n    method: POST\n    path: /hooks/{{.rollout.metadata.namespace}}\n    body: '{\"text\": \"{{.rollout.metadata.name}}\"}'\nemail:\n  subject: unused\n",
        )
        .unwrap();
        let rendered = template.render(&vars()).unwrap();
        assert_eq!(rendered.message, "m web");
        assert_eq!(
            rendered.slack_attachments.as_deref(),
            Some("[{\"title\": \"web\"}]")
        );
        assert_eq!(rendered.slack_blocks, None);
        let hook = &rendered.webhook["receiver"];
        assert_eq!(
            (hook.method.as_str(), hook.path.as_str()),
            ("POST", "/hooks/prod")
        );
        assert_eq!(hook.body, "{\"text\": \"web\"}");
    }
}
