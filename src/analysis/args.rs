//! Analysis arguments: merging template args with the Rollout's, `{{args.name}}` substitution,
//! and redaction of Secret values (Argo shows them as `*****`).

use crate::api::analysis::Argument;
use std::collections::BTreeMap;

pub const REDACTED: &str = "*****";

/// Merges args: later lists override earlier ones by name; a name keeps its first position.
/// Argo merges template args first, then the Rollout's over them.
pub fn merge(lists: &[&[Argument]]) -> Vec<Argument> {
    let mut merged: Vec<Argument> = Vec::new();
    for list in lists {
        for arg in *list {
            match merged.iter_mut().find(|a| a.name == arg.name) {
                Some(existing) => {
                    if arg.value.is_some() || arg.value_from.is_some() {
                        *existing = arg.clone();
                    }
                }
                None => merged.push(arg.clone()),
            }
        }
    }
    merged
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "failed to resolve {{{{args.{name}}}}}: the argument has no value; set it in the Rollout's analysis args"
)]
pub struct UnresolvedArg {
    pub name: String,
}

/// Replaces every `{{args.name}}` (whitespace inside the braces allowed) with its value.
/// An unknown name is an error, as in Argo; text without placeholders is returned unchanged.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, UnresolvedArg> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + 2 + len].trim();
        out.push_str(&rest[..start]);
        match inner.strip_prefix("args.") {
            Some(name) => match values.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    return Err(UnresolvedArg {
                        name: name.to_string(),
                    });
                }
            },
            // Not an argument placeholder: keep it verbatim (e.g. Go templates in a query).
            None => out.push_str(&rest[start..start + 2 + len + 2]),
        }
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Names of the args a text refers to.
pub fn referenced(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        if let Some(name) = rest[start + 2..start + 2 + len]
            .trim()
            .strip_prefix("args.")
        {
            names.push(name.to_string());
        }
        rest = &rest[start + 2 + len + 2..];
    }
    names
}

/// Replaces every occurrence of each secret value in `text` with `*****`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: &str, value: Option<&str>) -> Argument {
        Argument {
            name: name.into(),
            value: value.map(String::from),
            value_from: None,
        }
    }

    #[test]
    fn rollout_args_override_template_args() {
        let template = [arg("service-name", None), arg("threshold", Some("0.95"))];
        let rollout = [
            arg("service-name", Some("web-canary")),
            arg("extra", Some("x")),
        ];
        let merged = merge(&[&template, &rollout]);
        let values: Vec<_> = merged
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_deref()))
            .collect();
        assert_eq!(
            values,
            [
                ("service-name", Some("web-canary")),
                ("threshold", Some("0.95")),
                ("extra", Some("x"))
            ]
        );
        // A valueless later entry does not erase an earlier value.
        let merged = merge(&[&[arg("a", Some("1"))], &[arg("a", None)]]);
        assert_eq!(merged[0].value.as_deref(), Some("1"));
    }

    #[test]
    fn substitution_cases() {
        let values = BTreeMap::from([
            ("service-name".to_string(), "web".to_string()),
            ("t".to_string(), "s3cret".to_string()),
        ]);
        let cases: &[(&str, Result<&str, &str>)] = &[
            (
                "up{service=\"{{args.service-name}}\"}",
                Ok("up{service=\"web\"}"),
            ),
            ("{{ args.service-name }}-{{args.t}}", Ok("web-s3cret")),
            ("no placeholders", Ok("no placeholders")),
            ("{{workflow.name}} stays", Ok("{{workflow.name}} stays")),
            (
                "unterminated {{args.service-name",
                Ok("unterminated {{args.service-name"),
            ),
            ("{{args.missing}}", Err("missing")),
        ];
        for (text, want) in cases {
            let got = substitute(text, &values).map_err(|e| e.name);
            assert_eq!(got.as_deref().map_err(String::as_str), *want, "{text}");
        }
        assert_eq!(
            UnresolvedArg { name: "x".into() }.to_string(),
            "failed to resolve {{args.x}}: the argument has no value; set it in the Rollout's analysis args"
        );
    }

    #[test]
    fn references_and_redaction() {
        assert_eq!(
            referenced("a {{args.x}} b {{ args.y }} {{other}}"),
            ["x", "y"]
        );
        assert_eq!(
            redact("Bearer s3cret failed", &["s3cret".into(), String::new()]),
            "Bearer ***** failed"
        );
    }
}
