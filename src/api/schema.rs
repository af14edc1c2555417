//! Schemas for fields whose Rust types come from k8s-openapi without schemars support, or that
//! Weir carries opaquely. Keeping the pod template and selectors as preserve-unknown objects keeps
//! the CRD small enough for client-side `kubectl apply` (Argo's full pod schema is not).

use schemars::{Schema, SchemaGenerator, json_schema};

pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

pub fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "date-time"
    })
}

pub fn int_or_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true
    })
}
