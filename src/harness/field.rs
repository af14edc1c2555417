//! Field errors worded as kube-apiserver words them (apimachinery's `util/validation/field`), and
//! the `422 Invalid` that carries them. Schema validation and the built-in kinds' rules both
//! report through these, so every rejection reads like the real server's.

use serde_json::Value;

use super::error::ApiError;

/// One problem at one field path, e.g. `spec.replicas: Required value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// Dotted path with list indexes: `status.conditions[0].message`.
    pub path: String,
    /// Everything after `path: `.
    pub detail: String,
}

impl FieldError {
    pub fn required(path: &str) -> Self {
        Self::new(path, "Required value".to_string())
    }

    /// `path: Invalid value: <value>: detail`
    pub fn invalid(path: &str, value: &Value, detail: &str) -> Self {
        Self::new(
            path,
            format!("Invalid value: {}: {detail}", render_value(value)),
        )
    }

    /// `path: Unsupported value: "x": supported values: "a", "b"`
    pub fn unsupported(path: &str, value: &Value, supported: &[String]) -> Self {
        let supported = supported
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        Self::new(
            path,
            format!(
                "Unsupported value: {}: supported values: {supported}",
                render_value(value)
            ),
        )
    }

    /// `path: Too long: may not be more than N bytes` (strings measured in bytes, as Go does).
    pub fn too_long(path: &str, max: usize) -> Self {
        Self::new(path, format!("Too long: may not be more than {max} bytes"))
    }

    pub fn forbidden(path: &str, detail: &str) -> Self {
        Self::new(path, format!("Forbidden: {detail}"))
    }

    fn new(path: &str, detail: String) -> Self {
        Self {
            path: path.to_string(),
            detail,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.detail)
    }
}

/// Go's `%#v`-ish rendering the server uses in `Invalid value:`: strings quoted, scalars bare,
/// objects and lists as JSON.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// `Kind.group "name" is invalid: <errors>`: one error as is, several in brackets, as the server
/// joins an `ErrorList`. `qualified_kind` is `Rollout.argoproj.io`, or `Event.events.k8s.io`, or
/// `Pod` for the core group.
pub(crate) fn invalid_object(qualified_kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let list = match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    ApiError::invalid(format!("{qualified_kind} \"{name}\" is invalid: {list}"))
}

/// Joins a parent path and a child key: `""` + `spec` → `spec`; `spec` + `replicas` →
/// `spec.replicas`.
pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `status.conditions` + 0 → `status.conditions[0]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wording_matches_the_api_server() {
        assert_eq!(
            FieldError::required("spec.selector").to_string(),
            "spec.selector: Required value"
        );
        assert_eq!(
            FieldError::invalid(
                "spec.replicas",
                &json!("two"),
                "spec.replicas in body must be of type integer: \"string\""
            )
            .to_string(),
            "spec.replicas: Invalid value: \"two\": spec.replicas in body must be of type integer: \"string\""
        );
        assert_eq!(
            FieldError::unsupported("type", &json!("Info"), &["Normal".into(), "Warning".into()])
                .to_string(),
            "type: Unsupported value: \"Info\": supported values: \"Normal\", \"Warning\""
        );
        let one = invalid_object(
            "Rollout.argoproj.io",
            "web",
            &[FieldError::required("spec")],
        );
        assert_eq!(
            one.message,
            "Rollout.argoproj.io \"web\" is invalid: spec: Required value"
        );
        assert_eq!(one.code, 422);
        let two = invalid_object(
            "Event.events.k8s.io",
            "e",
            &[
                FieldError::required("action"),
                FieldError::required("reason"),
            ],
        );
        assert_eq!(
            two.message,
            "Event.events.k8s.io \"e\" is invalid: [action: Required value, reason: Required value]"
        );
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(
            index(&child("status", "conditions"), 0),
            "status.conditions[0]"
        );
    }
}
