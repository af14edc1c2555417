//! Label and field selectors, parsed from query strings or from `LabelSelector` objects, plus the
//! combined filter (namespace + selectors) that list, watch and delete-collection apply.

use serde_json::Value;

use super::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        match self {
            Self::Equals(k, v) => get(k) == Some(v.as_str()),
            // Like the real server, `!=` and `notin` also match objects without the label.
            Self::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Self::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Self::NotIn(k, vs) => !get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Self::Exists(k) => get(k).is_some(),
            Self::DoesNotExist(k) => get(k).is_none(),
        }
    }
}

/// A conjunction of label requirements; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax: `a=b,c==d,e!=f,g in (h,i),j notin (k),l,!m`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let requirements = split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(parse_requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    /// Converts a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`).
    pub fn from_object(selector: &Value) -> Self {
        let mut requirements: Vec<Requirement> = selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some(Requirement::Equals(k.clone(), v.as_str()?.to_string())))
            .collect();
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        for expr in expressions.into_iter().flatten() {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let values = || {
                expr.get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            };
            let key = key.to_string();
            requirements.push(match expr.get("operator").and_then(Value::as_str) {
                Some("In") => Requirement::In(key, values()),
                Some("NotIn") => Requirement::NotIn(key, values()),
                Some("Exists") => Requirement::Exists(key),
                _ => Requirement::DoesNotExist(key),
            });
        }
        Self { requirements }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// Splits on commas that are not inside `( … )` value lists.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, ApiError> {
    let bad = || ApiError::bad_request(format!("unable to parse requirement: \"{part}\""));
    let key = |k: &str| {
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            Err(bad())
        } else {
            Ok(k.to_string())
        }
    };
    if let Some(rest) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key(rest)?));
    }
    if let Some((head, values)) = part.split_once('(') {
        let values = values.strip_suffix(')').ok_or_else(bad)?;
        let values = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let mut words = head.split_whitespace();
        let (k, op) = (words.next().ok_or_else(bad)?, words.next().ok_or_else(bad)?);
        if words.next().is_some() {
            return Err(bad());
        }
        return match op {
            "in" => Ok(Requirement::In(key(k)?, values)),
            "notin" => Ok(Requirement::NotIn(key(k)?, values)),
            _ => Err(bad()),
        };
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k)?, v.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key(k)?, v.trim().to_string()));
    }
    Ok(Requirement::Exists(key(part)?))
}

/// `fieldSelector`: `path=value`, `path==value`, `path!=value` on any dotted field path
/// (`metadata.name`, `metadata.namespace`, `status.phase`, …), compared as strings.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSelector {
    requirements: Vec<(Vec<String>, bool, String)>,
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let requirements = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (path, equal, value) = if let Some((p, v)) = part.split_once("!=") {
                    (p, false, v)
                } else if let Some((p, v)) = part.split_once("==").or_else(|| part.split_once('='))
                {
                    (p, true, v)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid field selector: \"{part}\""
                    )));
                };
                let path = path.trim().split('.').map(str::to_string).collect();
                Ok((path, equal, value.trim().to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|(path, equal, expected)| {
            let actual = match path.iter().try_fold(obj, |v, key| v.get(key)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *expected) == *equal
        })
    }
}

/// Everything a list or watch filters on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, obj: &Value) -> bool {
        let namespace_ok = self.namespace.as_deref().is_none_or(|ns| {
            obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
        });
        namespace_ok && self.labels.matches(obj) && self.fields.matches(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selector_syntax() {
        let obj = pod(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (api, web)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing,app in (web),tier", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&obj), expected, "{selector}");
        }
        for bad in ["app in web)", "a b=c", "app foo (x)", "!"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_selector_objects() {
        let selector = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
        }));
        assert!(selector.matches(&pod(json!({"app": "web", "tier": "front"}))));
        assert!(!selector.matches(&pod(json!({"app": "web"}))));
    }

    #[test]
    fn field_selector() {
        let obj = pod(json!({}));
        let matches = |s: &str| FieldSelector::parse(s).unwrap().matches(&obj);
        assert!(matches("metadata.name=p,metadata.namespace==ns"));
        assert!(matches("status.phase!=Pending"));
        assert!(!matches("metadata.name=q"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
