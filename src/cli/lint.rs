//! `lint -f FILE`: offline checks of a manifest file before it reaches the cluster. Every YAML
//! document is parsed; Rollouts get the controller's own spec validation and AnalysisTemplates
//! the analysis controller's template checks, and fields the types do not know (typos) are
//! reported under `spec`. Each finding names the file, the document and the field.

use super::error::{CliError, Result};
use crate::analysis::template::{Resolved, TemplateError, validate};
use crate::api::validation::validate_rollout;
use crate::api::{AnalysisTemplate, Rollout};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based position of the YAML document in the file.
    pub document: usize,
    /// `Kind name` of the object, when the document got that far.
    pub object: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        if let Some(object) = &self.object {
            write!(f, " ({object})")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

/// Checks every document of `text`.
pub fn lint_text(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = match Value::deserialize(document) {
            Ok(value) => value,
            Err(e) => {
                // The parser cannot resynchronise after a syntax error, so later documents
                // are not checked.
                findings.push(Finding {
                    document: index,
                    object: None,
                    field: String::new(),
                    message: format!("invalid YAML: {e}"),
                });
                break;
            }
        };
        findings.extend(lint_document(index, &value));
    }
    findings
}

fn lint_document(document: usize, value: &Value) -> Vec<Finding> {
    let Some(object) = value.as_object() else {
        // Empty documents (comments only, a trailing `---`) are fine; anything else is not.
        return match value {
            Value::Null => Vec::new(),
            _ => vec![Finding {
                document,
                object: None,
                field: String::new(),
                message: "not a Kubernetes object (expected a mapping)".into(),
            }],
        };
    };
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let argo = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("argoproj.io/"));
    let label = Some(format!("{kind} {name}"));
    let finding = |field: String, message: String| Finding {
        document,
        object: label.clone(),
        field,
        message,
    };
    match (argo, kind) {
        (true, "Rollout") => match serde_json::from_value::<Rollout>(value.clone()) {
            Ok(rollout) => {
                let mut findings = unknown_spec_fields(value, &rollout)
                    .into_iter()
                    .map(|field| finding(field, "unknown field".into()))
                    .collect::<Vec<_>>();
                findings.extend(
                    validate_rollout(&rollout)
                        .into_iter()
                        .map(|e| finding(e.field, e.message)),
                );
                findings
            }
            Err(e) => vec![finding(
                String::new(),
                format!("cannot be read as a Rollout: {e}"),
            )],
        },
        (true, "AnalysisTemplate" | "ClusterAnalysisTemplate") => {
            // A ClusterAnalysisTemplate has the same spec; only its scope differs.
            match serde_json::from_value::<AnalysisTemplate>(value.clone()) {
                Ok(template) => {
                    let mut findings = unknown_spec_fields(value, &template)
                        .into_iter()
                        .map(|field| finding(field, "unknown field".into()))
                        .collect::<Vec<_>>();
                    findings.extend(
                        template_errors(&template)
                            .into_iter()
                            .map(|(field, message)| finding(field, message)),
                    );
                    findings
                }
                Err(e) => vec![finding(
                    String::new(),
                    format!("cannot be read as an {kind}: {e}"),
                )],
            }
        }
        _ => Vec::new(),
    }
}

/// Fields under `spec` that parsing dropped: the type has no such field, so the controller would
/// silently ignore it (usually a typo such as `setWieght`).
fn unknown_spec_fields<T: serde::Serialize>(original: &Value, parsed: &T) -> Vec<String> {
    let parsed = serde_json::to_value(parsed).unwrap_or(Value::Null);
    let mut fields = Vec::new();
    if let (Some(original), Some(parsed)) = (original.get("spec"), parsed.get("spec")) {
        dropped(original, parsed, "spec", &mut fields);
    }
    fields
}

fn dropped(original: &Value, parsed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, parsed) {
        (Value::Object(original), Value::Object(parsed)) => {
            for (key, value) in original.iter().filter(|(_, v)| !v.is_null()) {
                let child = format!("{path}.{key}");
                match parsed.get(key) {
                    Some(parsed) => dropped(value, parsed, &child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(original), Value::Array(parsed)) => {
            for (i, (original, parsed)) in original.iter().zip(parsed).enumerate() {
                dropped(original, parsed, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Template checks: at least one metric (unless it only includes other templates), exactly one
/// provider per metric, then the analysis controller's own validation of the metrics.
fn template_errors(template: &AnalysisTemplate) -> Vec<(String, String)> {
    let spec = &template.spec;
    let includes = spec.templates.as_ref().is_some_and(|t| !t.is_empty());
    if spec.metrics.is_empty() {
        return if includes {
            Vec::new()
        } else {
            vec![(
                "spec.metrics".to_string(),
                "Required value: add at least one metric".to_string(),
            )]
        };
    }
    let mut errors = Vec::new();
    for (i, metric) in spec.metrics.iter().enumerate() {
        let providers =
            usize::from(metric.provider.prometheus.is_some()) + metric.provider.other.len();
        if providers == 0 {
            errors.push((
                format!("spec.metrics[{i}].provider"),
                "Required value: set a metric provider (provider.prometheus)".to_string(),
            ));
        } else if providers > 1 {
            errors.push((
                format!("spec.metrics[{i}].provider"),
                "Invalid value: set exactly one metric provider".to_string(),
            ));
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let name = template.metadata.name.clone().unwrap_or_default();
    let resolved = Resolved {
        metrics: spec
            .metrics
            .iter()
            .map(|m| (name.clone(), m.clone()))
            .collect(),
        args: spec
            .args
            .iter()
            .flatten()
            .map(|a| (name.clone(), a.clone()))
            .collect(),
        dry_run: spec.dry_run.clone().unwrap_or_default(),
        measurement_retention: spec.measurement_retention.clone().unwrap_or_default(),
    };
    match validate(&resolved, spec.args.as_deref().unwrap_or_default()) {
        Ok(()) => Vec::new(),
        Err(TemplateError::Metric {
            metric,
            field,
            message,
            ..
        }) => {
            let index = spec
                .metrics
                .iter()
                .position(|m| m.name == metric)
                .unwrap_or(0);
            vec![(format!("spec.metrics[{index}].{field}"), message)]
        }
        Err(TemplateError::Spec { field, message }) => vec![(format!("spec.{field}"), message)],
        Err(other) => vec![("spec".to_string(), other.to_string())],
    }
}

/// Lints `path`, printing one line per finding to `out`; fails when there is any.
pub fn lint_file(path: &Path, out: &mut (dyn Write + Send)) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let findings = lint_text(&text);
    for finding in &findings {
        writeln!(out, "{}: {finding}", path.display())?;
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(CliError::Lint {
            file: path.display().to_string(),
            errors: findings.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_typos_and_invalid_values_with_document_and_field() {
        let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
  strategy:
    canary:
      steps: [{setWieght: 20}, {setWeight: 120}]
"#;
        let findings = lint_text(text);
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert!(
            lines.contains(
                &"document 2 (Rollout web): spec.strategy.canary.steps[0].setWieght: unknown field"
                    .to_string()
            ),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l
                .starts_with("document 2 (Rollout web): spec.strategy.canary.steps[1].setWeight:")),
            "{lines:#?}"
        );
    }

    #[test]
    fn templates_need_a_metric_with_a_provider() {
        let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: empty}
spec: {metrics: []}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: no-provider}
spec:
  metrics: [{name: m, successCondition: "result[0] < 1"}]
"#;
        let lines: Vec<String> = lint_text(text).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "document 1 (AnalysisTemplate empty): spec.metrics: Required value: add at least one metric",
                "document 2 (AnalysisTemplate no-provider): spec.metrics[0].provider: Required value: set a metric provider (provider.prometheus)",
            ]
        );
    }

    #[test]
    fn syntax_errors_name_the_document() {
        let findings = lint_text("a: 1\n---\nb: [\n");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].document, 2);
        assert!(findings[0].message.starts_with("invalid YAML"));
    }
}
