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

/// Prunes and defaults `next` in place and validates it, as an update of `old` or a create.
pub(crate) fn admit(
    registry: &Registry,
    resource: &Resource,
    next: &mut Value,
    old: Option<&Value>,
) -> Result<Admitted, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut pruned = Vec::new();
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
