//! What kube-apiserver does to an object between decoding a write and storing it: custom
//! resources are pruned, defaulted and validated by the schema of the CRD that is installed
//! (not by what the client believes it is), every object's metadata is validated, the built-in
//! kinds get their own rules, and a CRD is checked and compiled before it is stored.

use serde_json::Value;

use super::error::ApiError;
use super::field::{self, FieldError};
use super::meta;
use super::registry::{self, Registry, Resource};
use super::validation;

/// A write that passed admission; a CRD brings the resource it defines, to be served once the
/// write commits.
pub(crate) struct Admitted {
    pub defines: Option<Resource>,
    /// Fields the schema dropped because it does not know them (`status.weir`), which a
    /// client will not find when it reads the object back.
    pub pruned: Vec<String>,
}

/// A Secret's write-only `stringData` goes into `data`, base64-encoded, overriding a key both
/// have, and is never stored: readers (Weir's notification Secret among them) see only `data`.
fn fold_string_data(secret: &mut Value) {
    let Some(object) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = object.remove("stringData") else {
        return;
    };
    let data = object
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    if let Some(data) = data.as_object_mut() {
        for (key, value) in strings {
            let bytes = value.as_str().unwrap_or_default().as_bytes().to_vec();
            let encoded = serde_json::to_value(k8s_openapi::ByteString(bytes)).unwrap_or_default();
            data.insert(key, encoded);
        }
    }
}

/// Prunes and defaults `next` in place and validates it, as an update of `old` or a create.
pub(crate) fn admit(
    registry: &Registry,
    resource: &Resource,
    next: &mut Value,
    old: Option<&Value>,
) -> Result<Admitted, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut pruned = Vec::new();
    if resource.group.is_empty() && resource.plural == "secrets" {
        fold_string_data(next);
    }
    if resource.custom
        && let Some(schema) = resource.version_of(next).and_then(|v| v.schema.clone())
    {
        pruned = schema.pruned_paths(next);
        schema.prune_and_default(next);
        errors.extend(schema.validate(next));
    }
    // Core v1 Events are the one kind the real server stores without validating metadata.
    if !(resource.group.is_empty() && resource.plural == "events") {
        errors.extend(validation::validate_metadata(
            next,
            old,
            validation::name_rule(&resource.group, &resource.plural),
        ));
    }
    errors.extend(validation::validate_builtin(
        &resource.group,
        &resource.plural,
        next,
        old,
    ));
    let mut defines = None;
    if resource.key() == registry::crds() && errors.is_empty() {
        match registry.compile_crd(next) {
            Ok(defined) => defines = Some(defined),
            Err(crd_errors) => errors.extend(crd_errors),
        }
    }
    if errors.is_empty() {
        Ok(Admitted { defines, pruned })
    } else {
        let name = meta::name(next).unwrap_or_default();
        Err(field::invalid_object(
            &resource.qualified_kind(),
            name,
            &errors,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_is_folded_into_data() {
        let cases = [
            (
                json!({"stringData": {"token": "xoxb-1"}}),
                json!({"data": {"token": "eG94Yi0x"}}),
            ),
            (
                json!({"data": {"token": "b2xk", "url": "dQ=="}, "stringData": {"token": "new"}}),
                json!({"data": {"token": "bmV3", "url": "dQ=="}}),
            ),
            (
                json!({"data": {"a": "YQ=="}}),
                json!({"data": {"a": "YQ=="}}),
            ),
        ];
        for (mut secret, expected) in cases {
            fold_string_data(&mut secret);
            assert_eq!(secret, expected);
        }
    }
}
