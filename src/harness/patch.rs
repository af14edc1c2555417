//! PATCH bodies: JSON patch (RFC 6902), merge patch (RFC 7386), a strategic-merge
//! approximation, and server-side apply (YAML or JSON, deep merge without field ownership).

use serde_json::Value;

use super::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, ApiError> {
        let raw = content_type.unwrap_or_default();
        let media = raw.split(';').next().unwrap_or_default().trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            _ => Err(ApiError::unsupported_media_type(raw)),
        }
    }
}

/// A parsed patch, ready to apply to any number of candidate objects.
pub(crate) enum Patch {
    Json(json_patch::Patch),
    Merge(Value),
    Strategic(Value),
    Apply(Value),
}

impl Patch {
    pub fn parse(kind: PatchKind, body: &[u8]) -> Result<Self, ApiError> {
        let json = || {
            serde_json::from_slice::<Value>(body)
                .map_err(|e| ApiError::bad_request(format!("invalid patch body: {e}")))
        };
        Ok(match kind {
            PatchKind::Json => Self::Json(
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?,
            ),
            PatchKind::Merge => Self::Merge(json()?),
            PatchKind::Strategic => Self::Strategic(json()?),
            // JSON is the common case (kube-rs sends it) and much cheaper to parse than YAML.
            PatchKind::Apply => Self::Apply(json().or_else(|_| {
                yaml_serde::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("invalid apply body: {e}")))
            })?),
        })
    }

    /// The object for server-side apply to create when none exists.
    pub fn apply_body(&self) -> Option<&Value> {
        match self {
            Self::Apply(body) => Some(body),
            _ => None,
        }
    }

    /// Applies the patch to a copy of `current`.
    pub fn apply_to(&self, current: &Value) -> Result<Value, ApiError> {
        let mut next = current.clone();
        match self {
            Self::Json(ops) => json_patch::patch(&mut next, ops).map_err(|error| {
                tracing::debug!(%error, "JSON patch not applied");
                ApiError::patch_not_applied()
            })?,
            // Apply without managed fields is a deep merge where maps merge and lists are
            // replaced — exactly RFC 7386.
            Self::Merge(patch) | Self::Apply(patch) => json_patch::merge(&mut next, patch),
            Self::Strategic(patch) => strategic_merge(&mut next, patch),
        }
        Ok(next)
    }
}

/// RFC 7386, except that lists of objects that all carry a `name` (containers, ports, env,
/// volumes) merge item by item, and an item with `$patch: delete` removes its namesake.
fn strategic_merge(doc: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *doc = patch.clone();
        return;
    };
    if !doc.is_object() {
        *doc = Value::Object(serde_json::Map::new());
    }
    let Value::Object(doc_map) = doc else { return };
    for (key, value) in patch_map {
        if value.is_null() {
            doc_map.remove(key);
            continue;
        }
        match (doc_map.get_mut(key), value) {
            (Some(Value::Array(existing)), Value::Array(incoming))
                if all_named(existing) && all_named(incoming) =>
            {
                merge_by_name(existing, incoming);
            }
            (Some(existing), _) => strategic_merge(existing, value),
            (None, _) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, value);
                doc_map.insert(key.clone(), fresh);
            }
        }
    }
}

fn item_name(item: &Value) -> Option<&str> {
    item.get("name").and_then(Value::as_str)
}

fn all_named(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| item_name(item).is_some())
}

fn merge_by_name(existing: &mut Vec<Value>, incoming: &[Value]) {
    for item in incoming {
        let position = existing
            .iter()
            .position(|e| item_name(e) == item_name(item));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (Some(i), false) => strategic_merge(&mut existing[i], item),
            (None, true) => {}
            (None, false) => existing.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(kind: PatchKind, current: Value, body: &str) -> Result<Value, ApiError> {
        Patch::parse(kind, body.as_bytes())?.apply_to(&current)
    }

    #[test]
    fn content_types() {
        let kind =
            PatchKind::from_content_type(Some("application/merge-patch+json; charset=utf-8"));
        assert_eq!(kind.unwrap(), PatchKind::Merge);
        assert_eq!(
            PatchKind::from_content_type(Some("text/plain"))
                .unwrap_err()
                .code,
            415
        );
        assert_eq!(PatchKind::from_content_type(None).unwrap_err().code, 415);
    }

    #[test]
    fn json_patch_test_failure_is_invalid() {
        let body =
            r#"[{"op":"test","path":"/a","value":2},{"op":"replace","path":"/a","value":3}]"#;
        let err = apply(PatchKind::Json, json!({"a": 1}), body).unwrap_err();
        assert_eq!(err.code, 422);
        let ok = apply(PatchKind::Json, json!({"a": 2}), body).unwrap();
        assert_eq!(ok, json!({"a": 3}));
    }

    #[test]
    fn strategic_merges_named_lists() {
        let current = json!({"spec": {"containers": [
            {"name": "app", "image": "v1", "ports": [{"name": "http", "containerPort": 80}]},
            {"name": "sidecar", "image": "s1"}
        ]}});
        let body = r#"{"spec": {"containers": [
            {"name": "app", "image": "v2"},
            {"name": "sidecar", "$patch": "delete"},
            {"name": "new", "image": "n1"}
        ], "paused": null}}"#;
        let next = apply(PatchKind::Strategic, current, body).unwrap();
        assert_eq!(
            next,
            json!({"spec": {"containers": [
                {"name": "app", "image": "v2", "ports": [{"name": "http", "containerPort": 80}]},
                {"name": "new", "image": "n1"}
            ]}})
        );
    }

    #[test]
    fn apply_accepts_yaml_and_replaces_lists() {
        let current = json!({"spec": {"a": 1, "list": [1, 2]}});
        let next = apply(PatchKind::Apply, current, "spec:\n  b: 2\n  list: [3]\n").unwrap();
        assert_eq!(next, json!({"spec": {"a": 1, "b": 2, "list": [3]}}));
        assert_eq!(
            apply(PatchKind::Apply, json!({}), "a: [").unwrap_err().code,
            400
        );
    }
}
