//! The validation kube-apiserver applies to the built-in kinds Weir writes, as pure functions that
//! return field errors worded like the real server's (current upstream `master`; see below for
//! where releases differ).
//!
//! Validated:
//! - object metadata of every kind ([`validate_metadata`], apimachinery's `ValidateObjectMeta` and
//!   `ValidateObjectMetaUpdate`): name per [`NameRule`], generateName, namespace format,
//!   generation, labels, annotations (keys and the 256 KiB total), ownerReferences, finalizers;
//!   on update resourceVersion, generation, the finalizers of an object being deleted, and the
//!   immutable name, namespace, uid, creationTimestamp, deletionTimestamp and
//!   deletionGracePeriodSeconds;
//! - kind-specific rules ([`validate_builtin`]): `events.k8s.io/v1` Events on create and update
//!   (the strict validation the server applies to that API version, with the internal
//!   `core.Event` field paths the server prints: `message`, not `note`), `apps/v1` ReplicaSets,
//!   `v1` Services (the selector), `coordination.k8s.io/v1` Leases and the `DeleteOptions` of a
//!   Pod eviction body.
//!
//! Deliberately not validated, because the harness or the schema owns it, or Weir never writes
//! it:
//! - whether a namespace is required or forbidden (the caller knows the scope; only a present
//!   namespace's format is checked), and name generation itself (the caller appends the suffix,
//!   truncating the prefix to 58 bytes as `SimpleNameGenerator` does, before calling);
//! - field types and unknown fields (a non-string where a string belongs reads as absent here;
//!   the real server fails decoding first);
//! - managedFields, and the extra "standard finalizer name or fully qualified" check the core and
//!   apps kinds add on top of apimachinery's finalizer rules;
//! - everything the real server defaults before validating (imagePullPolicy,
//!   terminationMessagePolicy, Service ports, type, clusterIP, sessionAffinity) and the rest of
//!   the Pod spec and Service spec rules;
//! - the eviction body's name matching the URL, which is a 400, not a field error.
//!
//! On update, [`validate_metadata`] applies `ValidateObjectMetaUpdate`'s rules only. ReplicaSets
//! and Services also re-run their create validation on update; of its metadata rules only
//! generation ≥ 0 and a namespace's format can newly fail there, and the immutability and
//! decrement checks already cover those.
//!
//! Go iterates label and annotation maps in random order, so its error order varies between
//! calls; here keys are checked in sorted order. The server's message lists each distinct error
//! once (`ErrorList.ToAggregate`), so rules the server applies twice (an Event's `reason`
//! immutability) are reported once.
//!
//! Wording differs across releases in two places: labels and label keys say "must be no more
//! than 63 bytes" (apimachinery's `validate/content`, which current servers use) where older
//! ones said "characters", and a key with two slashes says "a valid label key" where older ones
//! said "a qualified name". DNS names still say "characters".

use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use serde_json::{Map, Value, json};

use super::field::{FieldError, child, index};

/// Which name rule a kind's metadata.name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// At most 253 characters of `[a-z0-9.-]` in dot-separated labels (most kinds).
    Dns1123Subdomain,
    /// At most 63 characters of `[a-z0-9-]` (Namespaces, StatefulSets).
    Dns1123Label,
    /// A DNS-1123 label that starts with a letter (Services).
    Dns1035Label,
    /// Anything that is a safe URL path segment (RBAC roles and bindings).
    PathSegment,
}

/// The name rule of a built-in or custom resource (custom resources: DNS-1123 subdomain).
pub(crate) fn name_rule(api_group: &str, plural: &str) -> NameRule {
    match (api_group, plural) {
        // ValidateNamespaceName = NameIsDNSLabel; StatefulSet pods' hostnames carry the name.
        ("", "namespaces") | ("apps", "statefulsets") => NameRule::Dns1123Label,
        // ValidateServiceName = NameIsDNS1035Label: the name becomes a DNS label and env vars.
        ("", "services") => NameRule::Dns1035Label,
        // ValidateRBACName = path.IsValidPathSegmentName.
        (
            "rbac.authorization.k8s.io",
            "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings",
        ) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// metadata of any object on create (`old == None`) or update: name (per rule), generateName,
/// namespace, labels, annotations (incl. the 256 KiB total), ownerReferences, finalizers; on update
/// the immutable fields.
pub(crate) fn validate_metadata(
    obj: &Value,
    old: Option<&Value>,
    rule: NameRule,
) -> Vec<FieldError> {
    let meta = &obj["metadata"];
    let mut errs = Vec::new();
    match old {
        None => {
            let generate_name = text(meta, "generateName");
            if !generate_name.is_empty() {
                for msg in name_errors(rule, generate_name, true) {
                    errs.push(invalid_str("metadata.generateName", generate_name, &msg));
                }
            }
            let name = text(meta, "name");
            if name.is_empty() {
                errs.push(required_because(
                    "metadata.name",
                    "name or generateName is required",
                ));
            } else {
                for msg in name_errors(rule, name, false) {
                    errs.push(invalid_str("metadata.name", name, &msg));
                }
            }
            let namespace = text(meta, "namespace");
            if !namespace.is_empty() {
                for msg in dns1123_label_errors(namespace) {
                    errs.push(invalid_str("metadata.namespace", namespace, &msg));
                }
            }
            let generation = int(meta, "generation");
            if generation < 0 {
                errs.push(FieldError::invalid(
                    "metadata.generation",
                    &json!(generation),
                    "must be greater than or equal to 0",
                ));
            }
            errs.extend(labels_errors(&meta["labels"], "metadata.labels"));
            errs.extend(annotations_errors(
                &meta["annotations"],
                "metadata.annotations",
            ));
            errs.extend(owner_references_errors(&meta["ownerReferences"]));
            errs.extend(finalizers_errors(&meta["finalizers"]));
        }
        Some(old) => {
            let old_meta = &old["metadata"];
            if present(&old_meta["deletionTimestamp"]) {
                errs.extend(new_finalizers_errors(
                    &meta["finalizers"],
                    &old_meta["finalizers"],
                ));
            }
            if text(meta, "resourceVersion").is_empty() {
                errs.push(invalid_str(
                    "metadata.resourceVersion",
                    "",
                    "must be specified for an update",
                ));
            }
            let generation = int(meta, "generation");
            if generation < int(old_meta, "generation") {
                errs.push(FieldError::invalid(
                    "metadata.generation",
                    &json!(generation),
                    "must not be decremented",
                ));
            }
            for key in ["name", "namespace", "uid"] {
                if text(meta, key) != text(old_meta, key) {
                    errs.push(immutable(&child("metadata", key), &json!(text(meta, key))));
                }
            }
            for key in ["creationTimestamp", "deletionTimestamp"] {
                if !same_time(&meta[key], &old_meta[key]) {
                    errs.push(immutable(&child("metadata", key), &meta[key]));
                }
            }
            let grace = "deletionGracePeriodSeconds";
            if meta[grace].as_i64() != old_meta[grace].as_i64() {
                errs.push(immutable(&child("metadata", grace), &meta[grace]));
            }
            errs.extend(labels_errors(&meta["labels"], "metadata.labels"));
            errs.extend(annotations_errors(
                &meta["annotations"],
                "metadata.annotations",
            ));
            errs.extend(owner_references_errors(&meta["ownerReferences"]));
        }
    }
    errs
}

/// The kind-specific rules of the built-in kinds Weir writes (events.k8s.io/v1 Event create and
/// update, apps/v1 ReplicaSet, v1 Service, coordination.k8s.io/v1 Lease); empty for other kinds.
/// Does not repeat validate_metadata.
///
/// A Pod eviction is `("", "pods/eviction")` with the Eviction body as `obj`; its errors belong
/// to `DeleteOptions.meta.k8s.io ""`, as the server reports them.
pub(crate) fn validate_builtin(
    api_group: &str,
    plural: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    match (api_group, plural) {
        ("events.k8s.io", "events") => validate_event(obj, old),
        ("apps", "replicasets") => validate_replica_set(obj, old),
        ("", "services") => labels_errors(&obj["spec"]["selector"], "spec.selector"),
        ("coordination.k8s.io", "leases") => validate_lease_spec(&obj["spec"]),
        ("", "pods/eviction") => validate_delete_options(&obj["deleteOptions"]),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Events (pkg/apis/core/validation/events.go). The server converts events.k8s.io/v1 to the
// internal core.Event before validating, so paths name the internal fields: note → message,
// regarding → involvedObject, deprecatedCount → count, deprecatedSource → source,
// deprecatedFirstTimestamp/deprecatedLastTimestamp → firstTimestamp/lastTimestamp.

const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
const ACTION_LENGTH_LIMIT: usize = 128;
const REASON_LENGTH_LIMIT: usize = 128;
const NOTE_LENGTH_LIMIT: usize = 1024;

fn validate_event(event: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = legacy_event_errors(event);
    match old {
        None => {
            errs.extend(series_errors(&event["series"]));
            if zero_time(&event["eventTime"]) {
                errs.push(FieldError::required("eventTime"));
            }
            let type_ = text(event, "type");
            if type_ != "Normal" && type_ != "Warning" {
                errs.push(invalid_str(
                    "type",
                    "",
                    &format!("has invalid value: {type_}"),
                ));
            }
            for (v1, internal) in [
                ("deprecatedFirstTimestamp", "firstTimestamp"),
                ("deprecatedLastTimestamp", "lastTimestamp"),
            ] {
                if !zero_time(&event[v1]) {
                    errs.push(invalid_str(internal, "", "needs to be unset"));
                }
            }
            if int(event, "deprecatedCount") != 0 {
                errs.push(invalid_str("count", "", "needs to be unset"));
            }
            let source = &event["deprecatedSource"];
            if !text(source, "component").is_empty() || !text(source, "host").is_empty() {
                errs.push(invalid_str("source", "", "needs to be unset"));
            }
        }
        Some(old) => {
            if !same_series(&event["series"], &old["series"]) {
                errs.extend(series_errors(&event["series"]));
            }
            errs.extend(event_immutable_errors(event, old));
        }
    }
    errs
}

/// `legacyValidateEvent`: what every Event must satisfy whatever API version wrote it.
fn legacy_event_errors(event: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let namespace = text(&event["metadata"], "namespace");
    let regarding_namespace = text(&event["regarding"], "namespace");
    let mismatch = || {
        invalid_str(
            "involvedObject.namespace",
            regarding_namespace,
            "does not match event.namespace",
        )
    };
    if zero_time(&event["eventTime"]) {
        // Old-style Events: the namespaces must agree (or the Event sits in "default").
        let agree = if regarding_namespace.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == regarding_namespace
        };
        if !agree {
            errs.push(mismatch());
        }
    } else {
        if regarding_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(mismatch());
        }
        let controller = text(event, "reportingController");
        if controller.is_empty() {
            errs.push(FieldError::required("reportingController"));
        }
        for msg in qualified_name_errors(controller) {
            errs.push(invalid_str("reportingController", controller, &msg));
        }
        for (path, limit) in [
            ("reportingInstance", REPORTING_INSTANCE_LENGTH_LIMIT),
            ("action", ACTION_LENGTH_LIMIT),
            ("reason", REASON_LENGTH_LIMIT),
        ] {
            let value = text(event, path);
            if value.is_empty() {
                errs.push(FieldError::required(path));
            }
            if value.len() > limit {
                errs.push(at_most_characters(path, limit));
            }
        }
        // Go's len(): bytes, whatever the message says.
        if text(event, "note").len() > NOTE_LENGTH_LIMIT {
            errs.push(at_most_characters("message", NOTE_LENGTH_LIMIT));
        }
    }
    for msg in dns1123_subdomain_errors(namespace, CHARACTERS) {
        errs.push(invalid_str("namespace", namespace, &msg));
    }
    errs
}

/// `<path>: Invalid value: "": can have at most N characters` (the value is left out on purpose).
fn at_most_characters(path: &str, limit: usize) -> FieldError {
    invalid_str(path, "", &format!("can have at most {limit} characters"))
}

fn series_errors(series: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if present(series) {
        if int(series, "count") < 2 {
            errs.push(invalid_str("series.count", "", "should be at least 2"));
        }
        if zero_time(&series["lastObservedTime"]) {
            errs.push(FieldError::required("series.lastObservedTime"));
        }
    }
    errs
}

fn same_series(new: &Value, old: &Value) -> bool {
    present(new) == present(old)
        && int(new, "count") == int(old, "count")
        && same_time(&new["lastObservedTime"], &old["lastObservedTime"])
}

/// `ValidateEventUpdate`'s immutable fields, in the server's order (its second `reason` check
/// collapses into the first in the server's message).
fn event_immutable_errors(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let object = |path: &str, v1: &str, errs: &mut Vec<FieldError>| {
        if !same_object(&new[v1], &old[v1]) {
            errs.push(immutable(path, &new[v1]));
        }
    };
    let string = |path: &str, v1: &str, errs: &mut Vec<FieldError>| {
        if text(new, v1) != text(old, v1) {
            errs.push(immutable(path, &json!(text(new, v1))));
        }
    };
    let time = |path: &str, v1: &str, errs: &mut Vec<FieldError>| {
        if !same_time(&new[v1], &old[v1]) {
            errs.push(immutable(path, &new[v1]));
        }
    };
    object("involvedObject", "regarding", &mut errs);
    string("reason", "reason", &mut errs);
    string("message", "note", &mut errs);
    object("source", "deprecatedSource", &mut errs);
    time("firstTimestamp", "deprecatedFirstTimestamp", &mut errs);
    time("lastTimestamp", "deprecatedLastTimestamp", &mut errs);
    let count = int(new, "deprecatedCount");
    if count != int(old, "deprecatedCount") {
        errs.push(immutable("count", &json!(count)));
    }
    string("type", "type", &mut errs);
    // Sub-microsecond changes are tolerated: clients truncate to microseconds when they
    // serialize (kubernetes/kubernetes#111928).
    let micros = |v: &Value| {
        let truncate = TimestampRound::new()
            .smallest(Unit::Microsecond)
            .mode(RoundMode::Trunc);
        timestamp(v).and_then(|t| t.round(truncate).ok())
    };
    if micros(&new["eventTime"]) != micros(&old["eventTime"]) {
        errs.push(immutable("eventTime", &new["eventTime"]));
    }
    string("action", "action", &mut errs);
    object("related", "related", &mut errs);
    string("reportingController", "reportingController", &mut errs);
    string("reportingInstance", "reportingInstance", &mut errs);
    errs
}

// ---------------------------------------------------------------------------------------------
// ReplicaSets (pkg/apis/apps/validation/validation.go, pkg/registry/apps/replicaset/strategy.go).

fn validate_replica_set(rs: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = &rs["spec"];
    let mut errs = Vec::new();
    // Defaulted to 1 when absent, so only a present value can be negative.
    for key in ["replicas", "minReadySeconds"] {
        let value = int(spec, key);
        if value < 0 {
            errs.push(FieldError::invalid(
                &child("spec", key),
                &json!(value),
                "must be greater than or equal to 0",
            ));
        }
    }
    let selector = &spec["selector"];
    if present(selector) {
        errs.extend(label_selector_errors(selector, "spec.selector"));
        if map_len(&selector["matchLabels"]) + list(&selector["matchExpressions"]).len() == 0 {
            errs.push(FieldError::invalid(
                "spec.selector",
                &selector_json(selector),
                "empty selector is invalid for deployment",
            ));
        }
    } else {
        errs.push(FieldError::required("spec.selector"));
    }
    if present(selector) && !selector_parses(selector) {
        errs.push(FieldError::invalid(
            "spec.selector",
            &selector_json(selector),
            "invalid label selector",
        ));
    } else {
        errs.extend(template_errors(&spec["template"], selector));
    }
    if let Some(old) = old {
        // apps/v1 (every version but extensions/v1beta1) forbids changing the selector.
        let old_selector = &old["spec"]["selector"];
        if selector_json(selector) != selector_json(old_selector) {
            errs.push(immutable("spec.selector", &selector_json(selector)));
        }
    }
    errs
}

/// `ValidatePodTemplateSpecForReplicaSet`, less the Pod spec rules Weir's templates cannot break
/// (defaults, volumes, probes): selector match, template labels and annotations, containers,
/// restartPolicy and activeDeadlineSeconds.
fn template_errors(template: &Value, selector: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta = &template["metadata"];
    let labels = &meta["labels"];
    // A missing selector matches nothing; an empty one ({}) matches everything and is not
    // checked (it was already reported as empty).
    let empty = map_len(&selector["matchLabels"]) + list(&selector["matchExpressions"]).len() == 0;
    let matched = present(selector) && (empty || selector_matches(selector, labels));
    if !matched {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            &string_map_json(labels),
            "`selector` does not match template `labels`",
        ));
    }
    // ValidatePodTemplateSpec's paths leave out `metadata`.
    errs.extend(labels_errors(labels, "spec.template.labels"));
    errs.extend(annotations_errors(
        &meta["annotations"],
        "spec.template.annotations",
    ));
    let pod = &template["spec"];
    let containers = list(&pod["containers"]);
    if containers.is_empty() {
        errs.push(FieldError::required("spec.template.spec.containers"));
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, container) in containers.iter().enumerate() {
        let path = index("spec.template.spec.containers", i);
        let name_path = child(&path, "name");
        let name = text(container, "name");
        if name.is_empty() {
            errs.push(FieldError::required(&name_path));
        } else {
            for msg in dns1123_label_errors(name) {
                errs.push(invalid_str(&name_path, name, &msg));
            }
            if names.contains(&name) {
                errs.push(FieldError {
                    path: name_path,
                    detail: format!("Duplicate value: {name:?}"),
                });
            } else {
                names.push(name);
            }
        }
        if text(container, "image").is_empty() {
            errs.push(FieldError::required(&child(&path, "image")));
        }
    }
    // Defaulted to Always when absent.
    let restart = text(pod, "restartPolicy");
    if !restart.is_empty() && restart != "Always" {
        errs.push(FieldError::unsupported(
            "spec.template.spec.restartPolicy",
            &json!(restart),
            &["Always".to_string()],
        ));
    }
    let deadline = &pod["activeDeadlineSeconds"];
    if present(deadline) {
        errs.push(FieldError::invalid(
            "spec.template.spec.activeDeadlineSeconds",
            deadline,
            "must not be specified",
        ));
    }
    errs
}

/// `ValidateLabelSelector`.
fn label_selector_errors(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = labels_errors(&selector["matchLabels"], &child(path, "matchLabels"));
    for (i, expr) in list(&selector["matchExpressions"]).iter().enumerate() {
        let expr_path = index(&child(path, "matchExpressions"), i);
        let values = list(&expr["values"]);
        match text(expr, "operator") {
            "In" | "NotIn" if values.is_empty() => errs.push(required_because(
                &child(&expr_path, "values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                &child(&expr_path, "values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(invalid_str(
                &child(&expr_path, "operator"),
                other,
                "not a valid selector operator",
            )),
        }
        let key = text(expr, "key");
        for msg in qualified_name_errors(key) {
            errs.push(invalid_str(&child(&expr_path, "key"), key, &msg));
        }
    }
    errs
}

/// Whether `metav1.LabelSelectorAsSelector` accepts the selector: known operators with the
/// right number of values, and valid keys and values throughout.
fn selector_parses(selector: &Value) -> bool {
    let labels_ok = object(&selector["matchLabels"]).iter().all(|(k, v)| {
        qualified_name_errors(k).is_empty() && label_value_errors(as_text(v)).is_empty()
    });
    labels_ok
        && list(&selector["matchExpressions"]).iter().all(|expr| {
            let values = list(&expr["values"]);
            let arity = match text(expr, "operator") {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            arity
                && qualified_name_errors(text(expr, "key")).is_empty()
                && values
                    .iter()
                    .all(|v| label_value_errors(as_text(v)).is_empty())
        })
}

fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let labels = object(labels);
    let get = |k: &str| labels.get(k).map(as_text);
    object(&selector["matchLabels"])
        .iter()
        .all(|(k, v)| get(k) == Some(as_text(v)))
        && list(&selector["matchExpressions"]).iter().all(|expr| {
            let value = get(text(expr, "key"));
            let listed = |v: &str| list(&expr["values"]).iter().any(|x| as_text(x) == v);
            match text(expr, "operator") {
                "In" => value.is_some_and(listed),
                "NotIn" => !value.is_some_and(listed),
                "Exists" => value.is_some(),
                _ => value.is_none(),
            }
        })
}

/// A LabelSelector as Go's encoding/json writes it: struct fields in declaration order,
/// `omitempty` dropping empty ones, map keys sorted.
fn selector_json(selector: &Value) -> Value {
    if !present(selector) {
        return Value::Null;
    }
    let mut out = Map::new();
    if map_len(&selector["matchLabels"]) > 0 {
        out.insert(
            "matchLabels".into(),
            string_map_json(&selector["matchLabels"]),
        );
    }
    let exprs: Vec<Value> = list(&selector["matchExpressions"])
        .iter()
        .map(|expr| {
            let mut e = Map::new();
            e.insert("key".into(), json!(text(expr, "key")));
            e.insert("operator".into(), json!(text(expr, "operator")));
            let values = list(&expr["values"]);
            if !values.is_empty() {
                e.insert("values".into(), Value::Array(values.to_vec()));
            }
            Value::Object(e)
        })
        .collect();
    if !exprs.is_empty() {
        out.insert("matchExpressions".into(), Value::Array(exprs));
    }
    Value::Object(out)
}

/// A Go `map[string]string` as encoding/json writes it (keys sorted; nil as null).
fn string_map_json(map: &Value) -> Value {
    if !present(map) {
        return Value::Null;
    }
    Value::Object(
        sorted(map)
            .into_iter()
            .map(|(k, v)| (k.clone(), json!(as_text(v))))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Leases (pkg/apis/coordination/validation/validation.go) and eviction DeleteOptions
// (apimachinery's meta/v1/validation ValidateDeleteOptions, run by rest.BeforeDelete).

fn validate_lease_spec(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let duration = &spec["leaseDurationSeconds"];
    if present(duration) && int(spec, "leaseDurationSeconds") <= 0 {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            duration,
            "must be greater than 0",
        ));
    }
    let transitions = &spec["leaseTransitions"];
    if present(transitions) && int(spec, "leaseTransitions") < 0 {
        errs.push(FieldError::invalid(
            "spec.leaseTransitions",
            transitions,
            "must be greater than or equal to 0",
        ));
    }
    let strategy = text(spec, "strategy");
    if present(&spec["strategy"]) {
        // The server appends "strategy" to a path that already ends in it.
        let path = "spec.strategy.strategy";
        if strategy.contains('/') {
            for msg in qualified_name_errors(strategy) {
                errs.push(invalid_str(path, strategy, &msg));
            }
        } else if strategy != "OldestEmulationVersion" {
            errs.push(FieldError::unsupported(
                path,
                &json!(strategy),
                &["OldestEmulationVersion".to_string()],
            ));
        }
    }
    if !text(spec, "preferredHolder").is_empty() && strategy.is_empty() {
        errs.push(FieldError::forbidden(
            "spec.preferredHolder",
            "may only be specified if `strategy` is defined",
        ));
    }
    errs
}

fn validate_delete_options(options: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let policy = &options["propagationPolicy"];
    if present(&options["orphanDependents"]) && present(policy) {
        errs.push(FieldError::invalid(
            "propagationPolicy",
            policy,
            "orphanDependents and deletionPropagation cannot be both set",
        ));
    }
    if present(policy) && !matches!(as_text(policy), "Foreground" | "Background" | "Orphan") {
        let supported = ["Foreground", "Background", "Orphan", "nil"].map(String::from);
        errs.push(FieldError::unsupported(
            "propagationPolicy",
            policy,
            &supported,
        ));
    }
    let dry_run = list(&options["dryRun"]);
    if dry_run.iter().any(|v| as_text(v) != "All") {
        errs.push(FieldError::unsupported(
            "dryRun",
            &Value::Array(dry_run.to_vec()),
            &["All".to_string()],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Metadata pieces (apimachinery's api/validation/objectmeta.go, meta/v1/validation).

const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * (1 << 10);

fn labels_errors(labels: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in sorted(labels) {
        for msg in qualified_name_errors(key) {
            errs.push(invalid_str(path, key, &msg));
        }
        let value = as_text(value);
        for msg in label_value_errors(value) {
            errs.push(invalid_str(path, value, &msg));
        }
    }
    errs
}

fn annotations_errors(annotations: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (key, value) in sorted(annotations) {
        // Qualified names, except that case does not matter.
        for msg in qualified_name_errors(&key.to_lowercase()) {
            errs.push(invalid_str(path, key, &msg));
        }
        total += key.len() + as_text(value).len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B));
    }
    errs
}

fn owner_references_errors(refs: &Value) -> Vec<FieldError> {
    let path = "metadata.ownerReferences";
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for reference in list(refs) {
        let api_version = text(reference, "apiVersion");
        let kind = text(reference, "kind");
        let (group, version) = parse_group_version(api_version);
        // Paths are the list's, not the item's: the server passes the list path down.
        if version.is_empty() {
            errs.push(invalid_str(
                &child(path, "apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        for (key, value) in [
            ("kind", kind),
            ("name", text(reference, "name")),
            ("uid", text(reference, "uid")),
        ] {
            if value.is_empty() {
                errs.push(invalid_str(&child(path, key), "", "must not be empty"));
            }
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                &owner_reference_json(reference),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if reference["controller"].as_bool() == Some(true) {
            let current = format!("{kind}/{}", text(reference, "name"));
            match &first_controller {
                Some(first) => {
                    let all: Vec<Value> = list(refs).iter().map(owner_reference_json).collect();
                    errs.push(FieldError::invalid(
                        path,
                        &Value::Array(all),
                        &format!(
                            "Only one reference can have Controller set to true. Found \"true\" \
                             in references for {first} and {current}"
                        ),
                    ));
                }
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// `schema.ParseGroupVersion`, where an unparseable value yields no group and no version.
fn parse_group_version(api_version: &str) -> (&str, &str) {
    match api_version.matches('/').count() {
        0 => ("", api_version),
        1 => api_version.split_once('/').unwrap_or_default(),
        _ => ("", ""),
    }
}

/// An OwnerReference as Go's encoding/json writes it: declaration order, the optional booleans
/// only when set.
fn owner_reference_json(reference: &Value) -> Value {
    let mut out = Map::new();
    for key in ["apiVersion", "kind", "name", "uid"] {
        out.insert(key.into(), json!(text(reference, key)));
    }
    for key in ["controller", "blockOwnerDeletion"] {
        if let Some(flag) = reference[key].as_bool() {
            out.insert(key.into(), json!(flag));
        }
    }
    Value::Object(out)
}

fn finalizers_errors(finalizers: &Value) -> Vec<FieldError> {
    let path = "metadata.finalizers";
    let mut errs = Vec::new();
    for finalizer in list(finalizers) {
        let finalizer = as_text(finalizer);
        for msg in qualified_name_errors(finalizer) {
            errs.push(invalid_str(path, finalizer, &msg));
        }
    }
    let has = |name: &str| list(finalizers).iter().any(|f| as_text(f) == name);
    if has("orphan") && has("foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            finalizers,
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn new_finalizers_errors(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut extra: Vec<&str> = list(new)
        .iter()
        .map(as_text)
        .filter(|f| !list(old).iter().any(|o| as_text(o) == *f))
        .collect();
    extra.sort_unstable();
    extra.dedup();
    if extra.is_empty() {
        return Vec::new();
    }
    // Go's %#v of a []string.
    let listed = extra
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    vec![FieldError::forbidden(
        "metadata.finalizers",
        &format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers \
             []string{{{listed}}}"
        ),
    )]
}

// ---------------------------------------------------------------------------------------------
// Name formats (apimachinery's util/validation, api/validate/content, api/validation/path).

/// util/validation's length unit (DNS names); `validate/content`'s is bytes (label keys, values).
const CHARACTERS: &str = "characters";
const BYTES: &str = "bytes";

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case \
     alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower \
     case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
     character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric \
     characters or '-', start with an alphabetic character, and end with an alphanumeric \
     character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and \
     must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of \
     alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
     character";
const DNS1123_LABEL_MAX_LENGTH: usize = 63;
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
const LABEL_MAX_LENGTH: usize = 63;

fn name_errors(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    // A generateName may end in '-': the server masks the end before checking. Its mask drops
    // two bytes, not one (`name[:len(name)-2] + "a"`), and a bare "-" makes it panic; this
    // keeps the two-byte drop and treats "-" as "a".
    let masked;
    let name = if prefix && rule != NameRule::PathSegment && name.ends_with('-') {
        masked = format!(
            "{}a",
            name.get(..name.len().saturating_sub(2)).unwrap_or("")
        );
        masked.as_str()
    } else {
        name
    };
    match rule {
        NameRule::Dns1123Subdomain => dns1123_subdomain_errors(name, CHARACTERS),
        NameRule::Dns1123Label => dns1123_label_errors(name),
        NameRule::Dns1035Label => dns1035_label_errors(name),
        NameRule::PathSegment => path_segment_errors(name),
    }
}

fn max_len_error(length: usize, unit: &str) -> String {
    format!("must be no more than {length} {unit}")
}

/// `RegexError`, double space before "or" included.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: String = examples
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{}'{e}', ", if i > 0 { " or " } else { "" }))
        .collect();
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label_ok(value: &str) -> bool {
    value.starts_with(is_lower_alnum)
        && value.ends_with(is_lower_alnum)
        && value.chars().all(|c| is_lower_alnum(c) || c == '-')
}

fn dns1123_subdomain_ok(value: &str) -> bool {
    value.split('.').all(dns1123_label_ok)
}

fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH, CHARACTERS));
    }
    if !dns1123_label_ok(value) {
        if dns1123_subdomain_ok(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

fn dns1123_subdomain_errors(value: &str, unit: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH, unit));
    }
    if !dns1123_subdomain_ok(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH, CHARACTERS));
    }
    if !(value.starts_with(|c: char| c.is_ascii_lowercase()) && dns1123_label_ok(value)) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

fn path_segment_errors(value: &str) -> Vec<String> {
    if value == "." || value == ".." {
        return vec![format!("may not be '{value}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| value.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

fn label_name_ok(value: &str) -> bool {
    let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric())
        && value.chars().all(inner)
}

/// `IsQualifiedName` (= `content.IsLabelKey`): an optional DNS subdomain prefix and '/', then a
/// name of at most 63 bytes.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain_errors(prefix, BYTES)
                        .into_iter()
                        .map(|msg| format!("prefix part {msg}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. \
                 'example.com/MyName')",
                regex_error(
                    LABEL_KEY_ERR_MSG,
                    LABEL_KEY_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > LABEL_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(LABEL_MAX_LENGTH, BYTES)
        ));
    }
    if !label_name_ok(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR_MSG,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `IsValidLabelValue` (= `content.IsLabelValue`).
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_MAX_LENGTH {
        errs.push(max_len_error(LABEL_MAX_LENGTH, BYTES));
    }
    if !value.is_empty() && !label_name_ok(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Reading JSON the way Go reads it into structs: absent, null and the zero value are the same.

fn present(value: &Value) -> bool {
    !value.is_null()
}

fn as_text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    as_text(&value[key])
}

fn int(value: &Value, key: &str) -> i64 {
    value[key].as_i64().unwrap_or_default()
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn map_len(value: &Value) -> usize {
    value.as_object().map_or(0, Map::len)
}

fn sorted(map: &Value) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.as_object().into_iter().flatten().collect();
    entries.sort_by_key(|(k, _)| *k);
    entries
}

fn timestamp(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(|s| s.parse().ok())
}

/// 0001-01-01T00:00:00Z, Go's zero `time.Time`, in Unix seconds.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// Go's zero `time.Time`, which (Micro)Time encodes as null.
fn zero_time(value: &Value) -> bool {
    match value {
        Value::Null => true,
        // An unparseable time never gets here on the real server (decoding fails first).
        other => timestamp(other).is_some_and(|t| t.as_second() == GO_ZERO_TIME_UNIX),
    }
}

/// `apiequality.Semantic`: times compare as instants.
fn same_time(new: &Value, old: &Value) -> bool {
    match (timestamp(new), timestamp(old)) {
        (Some(a), Some(b)) => a == b,
        _ => (zero_time(new) && zero_time(old)) || new == old,
    }
}

/// Struct equality: a field that is absent, null or empty is its zero value.
fn same_object(new: &Value, old: &Value) -> bool {
    let fields = |v: &Value| -> Vec<(String, Value)> {
        let mut kept: Vec<(String, Value)> = object(v)
            .into_iter()
            .filter(|(_, v)| !v.is_null() && *v != "" && *v != 0)
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        kept
    };
    fields(new) == fields(old)
}

fn invalid_str(path: &str, value: &str, detail: &str) -> FieldError {
    FieldError::invalid(path, &json!(value), detail)
}

fn immutable(path: &str, value: &Value) -> FieldError {
    FieldError::invalid(path, value, "field is immutable")
}

/// `field.Required` with a detail, which field.rs's `required` does not take.
fn required_because(path: &str, detail: &str) -> FieldError {
    FieldError {
        path: path.to_string(),
        detail: format!("Required value: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    const SUBDOMAIN_REGEX: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
         alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
         character (e.g. 'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_REGEX: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
         characters or '-', and must start and end with an alphanumeric character (e.g. \
         'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1035_REGEX: &str = "a DNS-1035 label must consist of lower case alphanumeric \
         characters or '-', start with an alphabetic character, and end with an alphanumeric \
         character (e.g. 'my-name',  or 'abc-123', regex used for validation is \
         '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const KEY_REGEX: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must \
         start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
         '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_REGEX: &str = "a valid label must be an empty string or consist of alphanumeric \
         characters, '-', '_' or '.', and must start and end with an alphanumeric character \
         (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
         '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn meta(metadata: Value) -> Value {
        json!({ "metadata": metadata })
    }

    #[test]
    fn name_rules_by_kind() {
        let cases = [
            ("", "services", NameRule::Dns1035Label),
            ("", "namespaces", NameRule::Dns1123Label),
            ("apps", "statefulsets", NameRule::Dns1123Label),
            ("apps", "replicasets", NameRule::Dns1123Subdomain),
            ("", "pods", NameRule::Dns1123Subdomain),
            ("events.k8s.io", "events", NameRule::Dns1123Subdomain),
            ("coordination.k8s.io", "leases", NameRule::Dns1123Subdomain),
            ("argoproj.io", "rollouts", NameRule::Dns1123Subdomain),
            (
                "rbac.authorization.k8s.io",
                "clusterroles",
                NameRule::PathSegment,
            ),
        ];
        for (group, plural, rule) in cases {
            assert_eq!(name_rule(group, plural), rule, "{group}/{plural}");
        }
    }

    #[test]
    fn names_follow_their_rule() {
        let long = |n: usize| "a".repeat(n);
        let cases: Vec<(NameRule, String, Vec<String>)> = vec![
            (NameRule::Dns1123Subdomain, "web-6d4f9c".into(), vec![]),
            (NameRule::Dns1123Subdomain, "web.1.canary".into(), vec![]),
            (NameRule::Dns1123Subdomain, long(253), vec![]),
            (
                NameRule::Dns1123Subdomain,
                long(254),
                vec![format!(
                    "metadata.name: Invalid value: \"{}\": must be no more than 253 characters",
                    long(254)
                )],
            ),
            (
                NameRule::Dns1123Subdomain,
                "Web".into(),
                vec![format!(
                    "metadata.name: Invalid value: \"Web\": {SUBDOMAIN_REGEX}"
                )],
            ),
            (NameRule::Dns1035Label, "web".into(), vec![]),
            (
                NameRule::Dns1035Label,
                "9web".into(),
                vec![format!(
                    "metadata.name: Invalid value: \"9web\": {DNS1035_REGEX}"
                )],
            ),
            (NameRule::Dns1123Label, "9web".into(), vec![]),
            (
                NameRule::Dns1123Label,
                "a.b".into(),
                vec!["metadata.name: Invalid value: \"a.b\": must not contain dots".into()],
            ),
            (
                NameRule::Dns1123Label,
                "a_b".into(),
                vec![format!(
                    "metadata.name: Invalid value: \"a_b\": {LABEL_REGEX}"
                )],
            ),
            (
                NameRule::Dns1123Label,
                long(64),
                vec![format!(
                    "metadata.name: Invalid value: \"{}\": must be no more than 63 characters",
                    long(64)
                )],
            ),
            (NameRule::PathSegment, "system:controller:x".into(), vec![]),
            (
                NameRule::PathSegment,
                "..".into(),
                vec!["metadata.name: Invalid value: \"..\": may not be '..'".into()],
            ),
            (
                NameRule::PathSegment,
                "a/b%".into(),
                vec![
                    "metadata.name: Invalid value: \"a/b%\": may not contain '/'".into(),
                    "metadata.name: Invalid value: \"a/b%\": may not contain '%'".into(),
                ],
            ),
        ];
        for (rule, name, want) in cases {
            let got = rendered(&validate_metadata(
                &meta(json!({ "name": name })),
                None,
                rule,
            ));
            assert_eq!(got, want, "{rule:?} {name}");
        }
    }

    #[test]
    fn generate_name_and_missing_name() {
        let cases = [
            (
                json!({ "generateName": "web-", "name": "web-x7k2p" }),
                vec![],
            ),
            (
                json!({}),
                vec!["metadata.name: Required value: name or generateName is required"],
            ),
            (
                json!({ "generateName": "Web-", "name": "web-x7k2p" }),
                vec![
                    "metadata.generateName: Invalid value: \"Web-\": a lowercase RFC 1123 \
                     subdomain must consist of lower case alphanumeric characters, '-' or '.', \
                     and must start and end with an alphanumeric character (e.g. 'example.com', \
                     regex used for validation is \
                     '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                ],
            ),
        ];
        for (metadata, want) in cases {
            let got = rendered(&validate_metadata(
                &meta(metadata.clone()),
                None,
                NameRule::Dns1123Subdomain,
            ));
            assert_eq!(got, want, "{metadata}");
        }
    }

    #[test]
    fn namespace_generation_labels_annotations_finalizers() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B - 1);
        let cases = [
            (json!({ "name": "a", "namespace": "default" }), vec![]),
            (
                json!({ "name": "a", "namespace": "a.b" }),
                vec!["metadata.namespace: Invalid value: \"a.b\": must not contain dots".into()],
            ),
            (
                json!({ "name": "a", "generation": -1 }),
                vec![
                    "metadata.generation: Invalid value: -1: must be greater than or equal to 0"
                        .into(),
                ],
            ),
            (
                json!({ "name": "a", "labels": { "app": "a".repeat(63), "example.com/x": "" } }),
                vec![],
            ),
            (
                json!({ "name": "a", "labels": { "app": "a".repeat(64) } }),
                vec![format!(
                    "metadata.labels: Invalid value: \"{}\": must be no more than 63 bytes",
                    "a".repeat(64)
                )],
            ),
            (
                json!({ "name": "a", "labels": { "app": "-web" } }),
                vec![format!(
                    "metadata.labels: Invalid value: \"-web\": {VALUE_REGEX}"
                )],
            ),
            (
                json!({ "name": "a", "labels": { "a/b/c": "x", "/x": "y" } }),
                vec![
                    "metadata.labels: Invalid value: \"/x\": prefix part must be non-empty"
                        .to_string(),
                    format!(
                        "metadata.labels: Invalid value: \"a/b/c\": a valid label key {KEY_REGEX} \
                         with an optional DNS subdomain prefix and '/' (e.g. \
                         'example.com/MyName')"
                    ),
                ],
            ),
            (
                json!({ "name": "a", "annotations": { "Example.com/Key": "v" } }),
                vec![],
            ),
            (
                json!({ "name": "a", "annotations": { "k_": "v" } }),
                vec![format!(
                    "metadata.annotations: Invalid value: \"k_\": name part {KEY_REGEX}"
                )],
            ),
            // key (1 byte) + value: exactly 262,144 bytes passes, one more fails.
            (json!({ "name": "a", "annotations": { "k": big } }), vec![]),
            (
                json!({ "name": "a", "annotations": { "k": format!("{big}x") } }),
                vec!["metadata.annotations: Too long: may not be more than 262144 bytes".into()],
            ),
            (
                json!({ "name": "a", "finalizers": ["weir.dev/cleanup"] }),
                vec![],
            ),
            (
                json!({ "name": "a", "finalizers": ["orphan", "foregroundDeletion", "a b"] }),
                vec![
                    format!("metadata.finalizers: Invalid value: \"a b\": name part {KEY_REGEX}"),
                    "metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\",\
                     \"a b\"]: finalizer orphan and foregroundDeletion cannot be both set"
                        .into(),
                ],
            ),
        ];
        for (metadata, want) in cases {
            let got = rendered(&validate_metadata(
                &meta(metadata.clone()),
                None,
                NameRule::Dns1123Subdomain,
            ));
            let shown = metadata.to_string();
            assert_eq!(got, want, "{}", &shown[..shown.len().min(120)]);
        }
    }

    #[test]
    fn owner_references() {
        let owner = |name: &str, controller: bool| {
            json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name,
                    "uid": format!("uid-{name}"), "controller": controller,
                    "blockOwnerDeletion": true })
        };
        let cases = [
            (json!([owner("web", true), owner("api", false)]), vec![]),
            (
                json!([owner("web", true), owner("api", true)]),
                vec![
                    "metadata.ownerReferences: Invalid value: [{\"apiVersion\":\
                     \"argoproj.io/v1alpha1\",\"blockOwnerDeletion\":true,\"controller\":true,\
                     \"kind\":\"Rollout\",\"name\":\"web\",\"uid\":\"uid-web\"},{\"apiVersion\":\
                     \"argoproj.io/v1alpha1\",\"blockOwnerDeletion\":true,\"controller\":true,\
                     \"kind\":\"Rollout\",\"name\":\"api\",\"uid\":\"uid-api\"}]: Only one \
                     reference can have Controller set to true. Found \"true\" in references for \
                     Rollout/web and Rollout/api",
                ],
            ),
            (
                json!([{ "apiVersion": "apps/", "kind": "", "name": "", "uid": "" }]),
                vec![
                    "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must \
                     not be empty",
                    "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty",
                    "metadata.ownerReferences.name: Invalid value: \"\": must not be empty",
                    "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty",
                ],
            ),
            (
                json!([{ "apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u" }]),
                vec![
                    "metadata.ownerReferences: Invalid value: {\"apiVersion\":\"v1\",\"kind\":\
                     \"Event\",\"name\":\"e\",\"uid\":\"u\"}: /v1, Kind=Event is disallowed from \
                     being an owner",
                ],
            ),
        ];
        for (refs, want) in cases {
            let obj = meta(json!({ "name": "web-6d4f9c", "ownerReferences": refs }));
            let got = rendered(&validate_metadata(&obj, None, NameRule::Dns1123Subdomain));
            assert_eq!(got, want);
        }
    }

    #[test]
    fn metadata_updates() {
        let old = meta(json!({
            "name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7",
            "generation": 3, "creationTimestamp": "2026-12-01T09:42:39Z",
            "finalizers": ["a.io/x"],
        }));
        let with = |change: Value| {
            let mut obj = old.clone();
            for (k, v) in change.as_object().unwrap() {
                obj["metadata"][k] = v.clone();
            }
            obj
        };
        let deleting = with(json!({ "deletionTimestamp": "2026-12-01T10:00:00Z" }));
        let cases = [
            (
                with(json!({ "labels": { "app": "web" } })),
                old.clone(),
                vec![],
            ),
            (
                with(json!({ "name": "api", "uid": "u2", "namespace": "prod" })),
                old.clone(),
                vec![
                    "metadata.name: Invalid value: \"api\": field is immutable",
                    "metadata.namespace: Invalid value: \"prod\": field is immutable",
                    "metadata.uid: Invalid value: \"u2\": field is immutable",
                ],
            ),
            (
                with(json!({ "creationTimestamp": "2026-12-01T09:42:40Z" })),
                old.clone(),
                vec![
                    "metadata.creationTimestamp: Invalid value: \"2026-12-01T09:42:40Z\": field \
                     is immutable",
                ],
            ),
            (
                with(json!({ "resourceVersion": null, "generation": 2 })),
                old.clone(),
                vec![
                    "metadata.resourceVersion: Invalid value: \"\": must be specified for an \
                     update",
                    "metadata.generation: Invalid value: 2: must not be decremented",
                ],
            ),
            (
                with(json!({ "deletionTimestamp": "2026-12-01T10:00:00Z",
                             "finalizers": ["a.io/x", "b.io/y"] })),
                deleting.clone(),
                vec![
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the \
                     object is being deleted, found new finalizers []string{\"b.io/y\"}",
                ],
            ),
            (
                with(json!({ "deletionTimestamp": "2026-12-01T10:00:00Z", "finalizers": [] })),
                deleting,
                vec![],
            ),
        ];
        for (new, old, want) in cases {
            let got = rendered(&validate_metadata(
                &new,
                Some(&old),
                NameRule::Dns1123Subdomain,
            ));
            assert_eq!(got, want, "{new}");
        }
    }

    /// The Event Weir's recorder creates (`src/controller/events.rs`, `fn event`), serialized as
    /// k8s-openapi does.
    fn weir_event() -> Value {
        let now: Timestamp = "2026-12-01T09:42:39.123456789Z".parse().unwrap();
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "action": "RolloutStepCompleted",
            "reason": "RolloutStepCompleted",
            "eventTime": "2026-12-01T09:42:39.123456Z",
            "regarding": {
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "namespace": "default", "name": "web", "uid": "0b6c1c8e-6f1d-4a55-8f77-1e2d3c4b5a69",
            },
            "note": "Rollout step 2/3 completed (setWeight: 40)",
            "metadata": {
                "namespace": "default",
                "name": format!("web.{:x}", now.as_nanosecond()),
            },
            "reportingController": "weir-controller",
            "reportingInstance": "weir-controller",
            "type": "Normal",
        })
    }

    fn event_with(change: Value) -> Value {
        let mut event = weir_event();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                event.as_object_mut().unwrap().remove(k);
            } else {
                event[k] = v.clone();
            }
        }
        event
    }

    fn event_errors(event: &Value, old: Option<&Value>) -> Vec<String> {
        let mut errs = validate_metadata(event, old, name_rule("events.k8s.io", "events"));
        errs.extend(validate_builtin("events.k8s.io", "events", event, old));
        rendered(&errs)
    }

    #[test]
    fn weir_events_pass() {
        let event = weir_event();
        assert!(
            text(&event["metadata"], "name").starts_with("web.")
                && dns1123_subdomain_ok(text(&event["metadata"], "name"))
        );
        assert_eq!(event_errors(&event, None), Vec::<String>::new());
    }

    #[test]
    fn event_create_rules() {
        let at_limit = "n".repeat(1024);
        // 'é' is two bytes: 512 of them are 1,024 bytes, 513 are 1,026.
        let cases = [
            (json!({ "note": at_limit }), vec![]),
            (
                json!({ "note": format!("{at_limit}n") }),
                vec!["message: Invalid value: \"\": can have at most 1024 characters"],
            ),
            (json!({ "note": "é".repeat(512) }), vec![]),
            (
                json!({ "note": "é".repeat(513) }),
                vec!["message: Invalid value: \"\": can have at most 1024 characters"],
            ),
            (
                json!({ "reportingController": null, "reportingInstance": null,
                        "action": null, "reason": null }),
                vec![
                    "reportingController: Required value",
                    "reportingController: Invalid value: \"\": name part must be non-empty",
                    "reportingController: Invalid value: \"\": name part must consist of \
                     alphanumeric characters, '-', '_' or '.', and must start and end with an \
                     alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex \
                     used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                    "reportingInstance: Required value",
                    "action: Required value",
                    "reason: Required value",
                ],
            ),
            (
                json!({ "reportingController": "weir.dev/controller",
                        "reportingInstance": "i".repeat(129), "action": "a".repeat(129),
                        "reason": "r".repeat(129) }),
                vec![
                    "reportingInstance: Invalid value: \"\": can have at most 128 characters",
                    "action: Invalid value: \"\": can have at most 128 characters",
                    "reason: Invalid value: \"\": can have at most 128 characters",
                ],
            ),
            (
                json!({ "eventTime": null }),
                vec!["eventTime: Required value"],
            ),
            (
                json!({ "type": "Info" }),
                vec!["type: Invalid value: \"\": has invalid value: Info"],
            ),
            (
                json!({ "series": { "count": 1, "lastObservedTime": "2026-12-01T09:43:00.000000Z" } }),
                vec!["series.count: Invalid value: \"\": should be at least 2"],
            ),
            (
                json!({ "series": { "count": 2 } }),
                vec!["series.lastObservedTime: Required value"],
            ),
            (
                json!({ "deprecatedCount": 3, "deprecatedSource": { "component": "weir" },
                        "deprecatedFirstTimestamp": "2026-12-01T09:42:39Z",
                        "deprecatedLastTimestamp": "2026-12-01T09:42:39Z" }),
                vec![
                    "firstTimestamp: Invalid value: \"\": needs to be unset",
                    "lastTimestamp: Invalid value: \"\": needs to be unset",
                    "count: Invalid value: \"\": needs to be unset",
                    "source: Invalid value: \"\": needs to be unset",
                ],
            ),
            // A cluster-scoped object's Events may sit in "default" (where Weir puts them)...
            (
                json!({ "regarding": { "kind": "Node", "name": "n1" } }),
                vec![],
            ),
            // ...but not in another namespace.
            (
                json!({ "regarding": { "kind": "Node", "name": "n1" },
                        "metadata": { "name": "n1.1", "namespace": "prod" } }),
                vec![
                    "involvedObject.namespace: Invalid value: \"\": does not match event.namespace",
                ],
            ),
        ];
        for (change, want) in cases {
            let shown = change.to_string();
            assert_eq!(
                event_errors(&event_with(change), None),
                want,
                "{}",
                &shown[..shown.len().min(120)]
            );
        }
    }

    #[test]
    fn event_updates() {
        let mut stored = weir_event();
        stored["metadata"]["resourceVersion"] = json!("5");
        let patched = |change: Value| {
            let mut e = stored.clone();
            for (k, v) in change.as_object().unwrap() {
                e[k] = v.clone();
            }
            e
        };
        let cases = [
            // Weir's recorder bumps a repeat with a merge patch of `series` alone.
            (
                patched(json!({ "series": { "count": 2,
                                            "lastObservedTime": "2026-12-01T09:44:00.000000Z" } })),
                vec![],
            ),
            (
                patched(json!({ "series": { "count": 1,
                                            "lastObservedTime": "2026-12-01T09:44:00.000000Z" } })),
                vec!["series.count: Invalid value: \"\": should be at least 2".to_string()],
            ),
            (
                patched(json!({ "note": "another note", "reason": "Other" })),
                vec![
                    "reason: Invalid value: \"Other\": field is immutable".to_string(),
                    "message: Invalid value: \"another note\": field is immutable".to_string(),
                ],
            ),
            (
                // Nanoseconds the client dropped are not a change.
                patched(json!({ "eventTime": "2026-12-01T09:42:39.123456000Z" })),
                vec![],
            ),
            (
                patched(json!({ "eventTime": "2026-12-01T09:42:40.000000Z",
                                "type": "Warning", "action": "Other",
                                "reportingController": "other", "reportingInstance": "other",
                                "deprecatedCount": 2 })),
                vec![
                    "count: Invalid value: 2: field is immutable".to_string(),
                    "type: Invalid value: \"Warning\": field is immutable".to_string(),
                    "eventTime: Invalid value: \"2026-12-01T09:42:40.000000Z\": field is \
                     immutable"
                        .to_string(),
                    "action: Invalid value: \"Other\": field is immutable".to_string(),
                    "reportingController: Invalid value: \"other\": field is immutable".to_string(),
                    "reportingInstance: Invalid value: \"other\": field is immutable".to_string(),
                ],
            ),
            (
                patched(
                    json!({ "regarding": { "kind": "Rollout", "namespace": "default",
                                               "name": "api" } }),
                ),
                vec![
                    "involvedObject: Invalid value: {\"kind\":\"Rollout\",\"name\":\"api\",\
                     \"namespace\":\"default\"}: field is immutable"
                        .to_string(),
                ],
            ),
        ];
        for (new, want) in cases {
            assert_eq!(event_errors(&new, Some(&stored)), want, "{new}");
        }
    }

    fn replica_set(selector: Value, template_labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": { "name": "web-6d4f9c", "namespace": "default" },
            "spec": {
                "replicas": 0,
                "selector": selector,
                "template": {
                    "metadata": { "labels": template_labels },
                    "spec": { "containers": [{ "name": "app", "image": "nginx:1.27" }] },
                },
            },
        })
    }

    fn rs_errors(rs: &Value, old: Option<&Value>) -> Vec<String> {
        let mut errs = validate_metadata(rs, old, name_rule("apps", "replicasets"));
        errs.extend(validate_builtin("apps", "replicasets", rs, old));
        rendered(&errs)
    }

    #[test]
    fn replica_sets() {
        let labels = json!({ "app": "web", "rollouts-pod-template-hash": "6d4f9c" });
        let good = replica_set(json!({ "matchLabels": labels.clone() }), labels.clone());
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut rs = good.clone();
            f(&mut rs);
            rs
        };
        let cases = [
            (good.clone(), vec![]),
            (
                replica_set(
                    json!({ "matchExpressions": [{ "key": "app", "operator": "In",
                                                   "values": ["web", "api"] }] }),
                    labels.clone(),
                ),
                vec![],
            ),
            (
                replica_set(json!({ "matchLabels": { "app": "api" } }), labels.clone()),
                vec![
                    "spec.template.metadata.labels: Invalid value: {\"app\":\"web\",\
                     \"rollouts-pod-template-hash\":\"6d4f9c\"}: `selector` does not match \
                     template `labels`"
                        .to_string(),
                ],
            ),
            (
                edit(&|rs| {
                    rs["spec"].as_object_mut().unwrap().remove("selector");
                }),
                vec![
                    "spec.selector: Required value".to_string(),
                    "spec.template.metadata.labels: Invalid value: {\"app\":\"web\",\
                     \"rollouts-pod-template-hash\":\"6d4f9c\"}: `selector` does not match \
                     template `labels`"
                        .to_string(),
                ],
            ),
            (
                replica_set(json!({}), labels.clone()),
                vec![
                    "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
                        .to_string(),
                ],
            ),
            (
                replica_set(
                    json!({ "matchExpressions": [{ "key": "app", "operator": "Near" }] }),
                    labels.clone(),
                ),
                vec![
                    "spec.selector.matchExpressions[0].operator: Invalid value: \"Near\": not a \
                     valid selector operator"
                        .to_string(),
                    "spec.selector: Invalid value: {\"matchExpressions\":[{\"key\":\"app\",\
                     \"operator\":\"Near\"}]}: invalid label selector"
                        .to_string(),
                ],
            ),
            (
                edit(&|rs| {
                    rs["spec"]["replicas"] = json!(-1);
                    rs["spec"]["minReadySeconds"] = json!(-5);
                }),
                vec![
                    "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
                        .to_string(),
                    "spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0"
                        .to_string(),
                ],
            ),
            (
                edit(&|rs| {
                    rs["spec"]["template"]["spec"] = json!({
                        "containers": [{ "name": "app" }, { "name": "app", "image": "x" },
                                       { "name": "App", "image": "x" }],
                        "restartPolicy": "Never",
                    });
                }),
                vec![
                    "spec.template.spec.containers[0].image: Required value".to_string(),
                    "spec.template.spec.containers[1].name: Duplicate value: \"app\"".to_string(),
                    format!(
                        "spec.template.spec.containers[2].name: Invalid value: \"App\": \
                         {LABEL_REGEX}"
                    ),
                    "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported \
                     values: \"Always\""
                        .to_string(),
                ],
            ),
            (
                edit(&|rs| rs["spec"]["template"]["spec"] = json!({})),
                vec!["spec.template.spec.containers: Required value".to_string()],
            ),
            (
                edit(&|rs| {
                    rs["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x".repeat(64));
                }),
                vec![format!(
                    "spec.template.labels: Invalid value: \"{}\": must be no more than 63 bytes",
                    "x".repeat(64)
                )],
            ),
        ];
        for (rs, want) in cases {
            assert_eq!(rs_errors(&rs, None), want, "{rs}");
        }
        let mut stored = good.clone();
        stored["metadata"]["resourceVersion"] = json!("3");
        let mut scaled = stored.clone();
        scaled["spec"]["replicas"] = json!(3);
        assert_eq!(rs_errors(&scaled, Some(&stored)), Vec::<String>::new());
        let mut reselected = stored.clone();
        reselected["spec"]["selector"]["matchLabels"]["tier"] = json!("web");
        reselected["spec"]["template"]["metadata"]["labels"]["tier"] = json!("web");
        assert_eq!(
            rs_errors(&reselected, Some(&stored)),
            vec![
                "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\
                 \"rollouts-pod-template-hash\":\"6d4f9c\",\"tier\":\"web\"}}: field is immutable"
                    .to_string()
            ]
        );
    }

    #[test]
    fn services() {
        let service = |name: &str, selector: Value| {
            json!({ "metadata": { "name": name, "namespace": "default" },
                    "spec": { "selector": selector, "ports": [{ "port": 80 }] } })
        };
        let errors = |svc: &Value| {
            let mut errs = validate_metadata(svc, None, name_rule("", "services"));
            errs.extend(validate_builtin("", "services", svc, None));
            rendered(&errs)
        };
        let cases = [
            (
                service(
                    "web",
                    json!({ "app": "web", "rollouts-pod-template-hash": "6d4f9c" }),
                ),
                vec![],
            ),
            (service("web-canary", Value::Null), vec![]),
            (
                service("9web", json!({ "app": "web" })),
                vec![format!(
                    "metadata.name: Invalid value: \"9web\": {DNS1035_REGEX}"
                )],
            ),
            (
                service("web", json!({ "app": "web!" })),
                vec![format!(
                    "spec.selector: Invalid value: \"web!\": {VALUE_REGEX}"
                )],
            ),
        ];
        for (svc, want) in cases {
            assert_eq!(errors(&svc), want, "{svc}");
        }
    }

    #[test]
    fn leases() {
        let cases = [
            (
                json!({ "holderIdentity": "weir-0", "leaseDurationSeconds": 15,
                        "leaseTransitions": 0, "renewTime": "2026-12-01T09:42:39.123456Z" }),
                vec![],
            ),
            (
                json!({ "leaseDurationSeconds": 0, "leaseTransitions": -1 }),
                vec![
                    "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                    "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
                ],
            ),
            (
                json!({ "strategy": "Newest", "preferredHolder": "weir-1" }),
                vec![
                    "spec.strategy.strategy: Unsupported value: \"Newest\": supported values: \
                     \"OldestEmulationVersion\"",
                ],
            ),
            (
                json!({ "preferredHolder": "weir-1" }),
                vec![
                    "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined",
                ],
            ),
        ];
        for (spec, want) in cases {
            let lease = json!({ "metadata": { "name": "weir-controller" }, "spec": spec });
            let got = rendered(&validate_builtin(
                "coordination.k8s.io",
                "leases",
                &lease,
                None,
            ));
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn eviction_delete_options() {
        let cases = [
            // kube's `Api::evict` with default EvictParams.
            (
                json!({ "apiVersion": "policy/v1", "kind": "Eviction",
                     "metadata": { "name": "web-6d4f9c-x7k2p", "namespace": "default" },
                     "deleteOptions": {} }),
                vec![],
            ),
            (
                json!({ "deleteOptions": { "propagationPolicy": "Background", "dryRun": ["All"] } }),
                vec![],
            ),
            (
                json!({ "deleteOptions": { "orphanDependents": true,
                                           "propagationPolicy": "Sideways", "dryRun": ["Some"] } }),
                vec![
                    "propagationPolicy: Invalid value: \"Sideways\": orphanDependents and \
                     deletionPropagation cannot be both set",
                    "propagationPolicy: Unsupported value: \"Sideways\": supported values: \
                     \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
                    "dryRun: Unsupported value: [\"Some\"]: supported values: \"All\"",
                ],
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                rendered(&validate_builtin("", "pods/eviction", &body, None)),
                want
            );
        }
    }

    #[test]
    fn other_kinds_have_no_builtin_rules() {
        let anything = json!({ "spec": { "replicas": -1 } });
        assert!(validate_builtin("argoproj.io", "rollouts", &anything, None).is_empty());
    }
}
