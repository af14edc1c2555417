//! Structural OpenAPI v3 schemas with the semantics kube-apiserver gives a
//! CustomResourceDefinition's `openAPIV3Schema` (apiextensions.k8s.io/v1), so the harness can
//! treat custom resources as strictly as a real cluster does.
//!
//! [`Schema::compile`] accepts what the CRD API accepts and names what it would reject: unknown
//! or unsupported keywords (`$ref`, `definitions`, `patternProperties`, `uniqueItems: true`,
//! ...), non-structural schemas (missing `type`, `items`, types or defaults inside
//! `anyOf`/`allOf`/`oneOf`/`not`, value validations naming fields the structure lacks),
//! misused `x-kubernetes-*` extensions, invalid list-map keys, `pattern`s that don't compile,
//! and `default`s that are not pruned or don't validate against their own schema.
//!
//! [`Schema::prune_and_default`] follows apiextensions-apiserver's decoder in its order:
//! pruning of unknown fields (`pruning/algorithm.go`, honouring
//! `x-kubernetes-preserve-unknown-fields` and `additionalProperties`), removal of nulls of
//! non-nullable fields without a default (`defaulting/prunenulls.go`), coercion of the root's
//! and embedded resources' `metadata` to `ObjectMeta` (`objectmeta/coerce.go`), then defaulting
//! (`defaulting/algorithm.go`: absent fields of present objects, non-nullable nulls, list items
//! and `additionalProperties` values). [`Schema::pruned_paths`] lists the unknown fields that
//! pruning drops, as the server's strict field validation names them (unknown `metadata`
//! fields included), not the nulls it drops.
//!
//! [`Schema::validate`] follows kube-openapi's `SchemaValidator` (validator order, match counts
//! that choose which `anyOf`/`oneOf` alternative's errors are reported, Go's number rules) and
//! words errors as `kubeOpenAPIResultToFieldErrors` and apimachinery's `field` package do,
//! then checks `x-kubernetes-list-type` `set`/`map` uniqueness (`listtype/validation.go`).
//! Identical messages are reported once, as the server's aggregate does.
//!
//! Known deviations from kube-apiserver:
//! - `x-kubernetes-validations` (CEL rules) are accepted but not evaluated.
//! - No ratcheting: every write is validated as a create (the server skips errors in fields an
//!   update leaves unchanged).
//! - Metadata of the root and of embedded resources is reduced to `ObjectMeta`'s fields with
//!   Go's `omitempty` (empty strings, maps and lists dropped), but its values are not
//!   type-checked (the server rejects, e.g., a non-string label with a decoding error) and
//!   `creationTimestamp: null` is not added. Embedded resources' `metadata` is not validated
//!   (name syntax etc.), and their `apiVersion`/`kind` are not checked to be strings.
//! - String formats `date-time`, `date`, `byte`, `uuid`/`uuid3`/`uuid4`/`uuid5`, `ipv4`, `ipv6`,
//!   `cidr`, `mac`, `hostname`, `hexcolor`, `ssn` and `password` are checked; the other
//!   formats the server supports (`uri`, `email`, `isbn*`, `creditcard`, `rgbcolor`,
//!   `duration`, `quantity`, `bsonobjectid`, `k8s-short-name`, `k8s-long-name`) are accepted
//!   unchecked. `int32`/`int64`/`float`/`double` only affect the type check, as on the server.
//! - `pattern` is matched by the `regex` crate with Go's ASCII meaning of `\d`, `\w`, `\s`,
//!   `\b`; constructs RE2 has and the crate lacks (e.g. `\Q...\E`) are rejected at compile.
//! - Go map iteration is random, so the server reports errors of sibling fields in varying
//!   order; here they come in key order. Go's `%q` quoting of non-printable runes is
//!   approximated.
//! - `prune_and_default` does not reject what the server's decoder rejects before pruning
//!   (malformed metadata, non-string `apiVersion`/`kind`).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::field::{FieldError, child, index};

/// A compiled `openAPIV3Schema` of one CRD version. Send + Sync; the harness shares it in an Arc.
pub(crate) struct Schema {
    root: Node,
}

impl Schema {
    /// Compiles a CRD version's `schema.openAPIV3Schema`. Errors name the schema path of anything
    /// unsupported or not structural.
    pub fn compile(openapi_v3: &serde_json::Value) -> Result<Schema, String> {
        let mut compiler = Compiler { errors: Vec::new() };
        let root = compiler.node(openapi_v3, ROOT_PATH, Scope::root());
        if compiler.errors.is_empty() {
            compiler.defaults(&root, ROOT_PATH);
        }
        match compiler.errors.as_slice() {
            [] => Ok(Schema { root }),
            [one] => Err(one.clone()),
            many => Err(format!("[{}]", many.join(", "))),
        }
    }

    /// What kube-apiserver does to a custom resource before validating it, in its order: drops
    /// unknown fields (where not preserved) and nulls of non-nullable fields, then applies
    /// defaults. In place. The root's apiVersion/kind/metadata are always kept, and metadata is
    /// reduced to ObjectMeta's fields.
    pub fn prune_and_default(&self, obj: &mut serde_json::Value) {
        // The server prunes the root without its metadata, then restores apiVersion, kind and
        // the ObjectMeta it decoded: the same as treating the root as an embedded resource.
        prune_children(obj, &self.root, true, self.root.preserve_unknown, true);
        apply_defaults(obj, &self.root);
    }

    /// Paths `prune_and_default` would drop from `obj`, e.g. ["status.weir", "spec.foo[0].bar"],
    /// so the harness can say what a closed schema prunes.
    pub fn pruned_paths(&self, obj: &serde_json::Value) -> Vec<String> {
        let mut walk = PrunedPaths {
            segs: Vec::new(),
            paths: Vec::new(),
        };
        walk.children(obj, &self.root, true, self.root.preserve_unknown);
        walk.paths.sort();
        walk.paths
    }

    /// Validation errors of an already pruned and defaulted object (empty when valid), worded
    /// as kube-apiserver words them, with paths like `spec.strategy.canary.steps[0].setWeight`.
    pub fn validate(&self, obj: &serde_json::Value) -> Vec<FieldError> {
        let mut v = Validation::new(None);
        v.node(&self.root, obj);
        if self.root.lists_below {
            v.lists(&self.root, obj);
        }
        let mut seen = std::collections::HashSet::new();
        v.errors.retain(|e| seen.insert(e.to_string()));
        v.errors
    }
}

const ROOT_PATH: &str = "openAPIV3Schema";

/// One schema node. Nodes under `anyOf`/`allOf`/`oneOf`/`not` use the same type; only their
/// value validations matter.
#[derive(Debug, Default)]
struct Node {
    ty: Ty,
    /// `format` as the server keeps it: formats it does not support for the type are dropped.
    format: Option<Box<str>>,
    string_format: Option<StringFormat>,
    nullable: bool,
    preserve_unknown: bool,
    embedded: bool,
    /// Sorted by name for binary search.
    properties: Vec<(Box<str>, Node)>,
    additional: Additional,
    items: Option<Box<Node>>,
    required: Vec<Box<str>>,
    enumeration: Option<Vec<Value>>,
    default: Option<Value>,
    list: ListType,
    /// `x-kubernetes-map-type: atomic`, which a set's object items need.
    map_atomic: bool,
    /// Has a title, description or CEL rules: all forbidden on the root's metadata.
    documented: bool,
    max_length: Option<i64>,
    min_length: Option<i64>,
    pattern: Option<Pattern>,
    maximum: Option<f64>,
    exclusive_maximum: bool,
    minimum: Option<f64>,
    exclusive_minimum: bool,
    multiple_of: Option<f64>,
    max_items: Option<i64>,
    min_items: Option<i64>,
    max_properties: Option<i64>,
    min_properties: Option<i64>,
    any_of: Vec<Node>,
    one_of: Vec<Node>,
    all_of: Vec<Node>,
    not: Option<Box<Node>>,
    /// Indexes into `properties` of those with a default, so defaulting never scans them all.
    defaulted: Vec<usize>,
    /// A default applies somewhere strictly below: defaulting skips subtrees without one.
    defaults_below: bool,
    /// This node or one below is a `set` or `map` list: list checks skip subtrees without one.
    lists_below: bool,
}

impl Node {
    fn prop(&self, name: &str) -> Option<&Node> {
        self.properties
            .binary_search_by(|(k, _)| k.as_ref().cmp(name))
            .ok()
            .map(|i| &self.properties[i].1)
    }

    /// The schema a field of this object is pruned and validated with: `None` for an unknown
    /// field, `Some(None)` for one `additionalProperties: true/false` admits without a schema.
    fn field(&self, name: &str) -> Option<Option<&Node>> {
        if let Some(p) = self.prop(name) {
            return Some(Some(p));
        }
        match &self.additional {
            Additional::None => None,
            Additional::Allow | Additional::Deny => Some(None),
            Additional::Schema(a) => Some(Some(a)),
        }
    }

    /// A null here is dropped before defaulting (`isNonNullableNonDefaultableNull`).
    fn drops_null(&self) -> bool {
        !self.nullable && self.default.is_none()
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Ty {
    #[default]
    Any,
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string`, which the server turns into `type: [integer, string]`.
    IntOrString,
}

impl Ty {
    fn parse(name: &str) -> Option<Ty> {
        Some(match name {
            "object" => Ty::Object,
            "array" => Ty::Array,
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            _ => return None,
        })
    }

    /// As kube-openapi joins the type list in messages.
    fn name(self) -> &'static str {
        match self {
            Ty::Any => "",
            Ty::Object => "object",
            Ty::Array => "array",
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::Boolean => "boolean",
            Ty::IntOrString => "integer,string",
        }
    }

    fn contains(self, name: &str) -> bool {
        match self {
            Ty::Any => false,
            Ty::IntOrString => name == "integer" || name == "string",
            t => t.name() == name,
        }
    }
}

#[derive(Debug, Default)]
enum Additional {
    #[default]
    None,
    /// `additionalProperties: true`: any key, whose object values the server prunes empty.
    Allow,
    /// `additionalProperties: false` (without `properties`): keys are kept but rejected.
    Deny,
    Schema(Box<Node>),
}

#[derive(Debug, Default, PartialEq, Eq)]
enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<Box<str>>),
}

impl ListType {
    fn name(&self) -> &'static str {
        match self {
            ListType::Atomic => "atomic",
            ListType::Set => "set",
            ListType::Map(_) => "map",
        }
    }
}

#[derive(Debug)]
struct Pattern {
    /// As written, for messages.
    source: Box<str>,
    regex: Regex,
}

#[derive(Debug, Clone, Copy)]
enum StringFormat {
    DateTime,
    Date,
    Byte,
    Uuid(Option<u8>),
    Ipv4,
    Ipv6,
    Cidr,
    Mac,
    Hostname,
    HexColor,
    Ssn,
    /// Supported by the server; accepted unchecked here (see the module deviations).
    Unchecked,
}

/// The formats apiextensions keeps on strings (`supportedVersionedFormats`, compared without
/// dashes as go-openapi normalizes names); any other string format is dropped.
fn string_format(name: &str) -> Option<StringFormat> {
    let normalized = name.replace('-', "");
    Some(match normalized.as_str() {
        "datetime" => StringFormat::DateTime,
        "date" => StringFormat::Date,
        "byte" => StringFormat::Byte,
        "uuid" => StringFormat::Uuid(None),
        "uuid3" => StringFormat::Uuid(Some(b'3')),
        "uuid4" => StringFormat::Uuid(Some(b'4')),
        "uuid5" => StringFormat::Uuid(Some(b'5')),
        "ipv4" => StringFormat::Ipv4,
        "ipv6" => StringFormat::Ipv6,
        "cidr" => StringFormat::Cidr,
        "mac" => StringFormat::Mac,
        "hostname" => StringFormat::Hostname,
        "hexcolor" => StringFormat::HexColor,
        "ssn" => StringFormat::Ssn,
        "password" | "bsonobjectid" | "uri" | "email" | "isbn" | "isbn10" | "isbn13"
        | "creditcard" | "rgbcolor" | "duration" | "quantity" | "k8sshortname" | "k8slongname" => {
            StringFormat::Unchecked
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Compilation

struct Compiler {
    errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Items,
    Field,
}

/// What the CRD validation knows about a node's place in the schema.
#[derive(Debug, Clone, Copy)]
struct Scope {
    level: Level,
    /// Under `anyOf`/`allOf`/`oneOf`/`not`: value validation only.
    nested: bool,
    /// One arm of the `anyOf: [{type: integer}, {type: string}]` of an int-or-string, whose
    /// `type` structural schemas allow.
    int_or_string_arm: bool,
    /// Inside the root's or an embedded resource's apiVersion/kind/metadata.
    in_resource_meta: bool,
    /// Why a `default` is not allowed here, if it is not.
    forbid_default: Option<&'static str>,
}

impl Scope {
    fn root() -> Scope {
        Scope {
            level: Level::Root,
            nested: false,
            int_or_string_arm: false,
            in_resource_meta: false,
            forbid_default: None,
        }
    }

    fn nested(self) -> Scope {
        Scope {
            nested: true,
            int_or_string_arm: false,
            ..self
        }
    }
}

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn is_meta_field(key: &str) -> bool {
    META_FIELDS.contains(&key)
}

impl Compiler {
    fn error(&mut self, path: &str, detail: impl std::fmt::Display) {
        self.errors.push(format!("{path}: {detail}"));
    }

    fn node(&mut self, v: &Value, path: &str, scope: Scope) -> Node {
        let Value::Object(obj) = v else {
            self.error(
                path,
                format_args!("Invalid value: {}: must be a schema object", go_value(v)),
            );
            return Node::default();
        };
        let mut node = Node::default();
        let mut declared_type: Option<&str> = None;
        let mut format: Option<&str> = None;
        let mut has_title = false;
        let mut has_description = false;
        let mut int_or_string = false;
        let mut preserve: Option<bool> = None;
        let mut unique_items = false;
        let mut has_validations = false;
        let mut list_type: Option<&str> = None;
        let mut list_keys: Option<Vec<Box<str>>> = None;
        let mut map_type: Option<&str> = None;
        let mut properties: Option<&Map<String, Value>> = None;
        let mut additional: Option<&Value> = None;
        let mut items: Option<&Value> = None;
        let mut any_of: Option<&Vec<Value>> = None;
        let mut all_of: Option<&Vec<Value>> = None;
        let mut one_of: Option<&Vec<Value>> = None;
        let mut not: Option<&Value> = None;
        let mut pattern: Option<&str> = None;

        for (key, value) in obj {
            // Go decodes an explicit null into an unset pointer or zero value.
            if value.is_null() {
                continue;
            }
            let at = format!("{path}.{key}");
            match key.as_str() {
                "type" => declared_type = self.string(value, &at),
                "format" => format = self.string(value, &at),
                "title" => has_title = self.string(value, &at).is_some(),
                "description" => has_description = self.string(value, &at).is_some(),
                "example" | "externalDocs" => {}
                "default" => node.default = Some(value.clone()),
                "nullable" => node.nullable = self.boolean(value, &at),
                "enum" => match value {
                    Value::Array(values) if !values.is_empty() => {
                        node.enumeration = Some(values.clone());
                    }
                    Value::Array(_) => {}
                    _ => self.not_a(&at, value, "list"),
                },
                "required" => node.required = self.strings(value, &at),
                "maximum" => node.maximum = self.number(value, &at),
                "minimum" => node.minimum = self.number(value, &at),
                "multipleOf" => node.multiple_of = self.number(value, &at),
                "exclusiveMaximum" => node.exclusive_maximum = self.boolean(value, &at),
                "exclusiveMinimum" => node.exclusive_minimum = self.boolean(value, &at),
                "maxLength" => node.max_length = self.integer(value, &at),
                "minLength" => node.min_length = self.integer(value, &at),
                "maxItems" => node.max_items = self.integer(value, &at),
                "minItems" => node.min_items = self.integer(value, &at),
                "maxProperties" => node.max_properties = self.integer(value, &at),
                "minProperties" => node.min_properties = self.integer(value, &at),
                "pattern" => pattern = self.string(value, &at),
                "uniqueItems" => unique_items = self.boolean(value, &at),
                "properties" => match value {
                    Value::Object(p) => properties = Some(p),
                    _ => self.not_a(&at, value, "map of schemas"),
                },
                "additionalProperties" => additional = Some(value),
                "items" => items = Some(value),
                "anyOf" => any_of = self.schemas(value, &at),
                "allOf" => all_of = self.schemas(value, &at),
                "oneOf" => one_of = self.schemas(value, &at),
                "not" => not = Some(value),
                "x-kubernetes-preserve-unknown-fields" => preserve = Some(self.boolean(value, &at)),
                "x-kubernetes-embedded-resource" => node.embedded = self.boolean(value, &at),
                "x-kubernetes-int-or-string" => int_or_string = self.boolean(value, &at),
                "x-kubernetes-list-type" => list_type = self.string(value, &at),
                "x-kubernetes-list-map-keys" => list_keys = Some(self.strings(value, &at)),
                "x-kubernetes-map-type" => map_type = self.string(value, &at),
                "x-kubernetes-validations" => match value {
                    Value::Array(rules) => has_validations = !rules.is_empty(),
                    _ => self.not_a(&at, value, "list of rules"),
                },
                "id" => self.error(&at, "Forbidden: id is not supported"),
                "$schema" => self.error(&at, "Forbidden: $schema is not supported"),
                "$ref" => self.error(&at, "Forbidden: $ref is not supported"),
                "definitions" => self.error(&at, "Forbidden: definitions is not supported"),
                "dependencies" => self.error(&at, "Forbidden: dependencies is not supported"),
                "patternProperties" => {
                    self.error(&at, "Forbidden: patternProperties is not supported");
                }
                "additionalItems" => self.error(&at, "Forbidden: additionalItems is not supported"),
                _ => self.error(&at, "Forbidden: unknown field"),
            }
        }

        match declared_type {
            Some("null") => self.error(
                &format!("{path}.type"),
                "Forbidden: type cannot be set to null, use nullable as an alternative",
            ),
            Some(t) => match Ty::parse(t) {
                Some(ty) => node.ty = ty,
                None => self.error(
                    &format!("{path}.type"),
                    format_args!(
                        "Unsupported value: {}: supported values: \"array\", \"boolean\", \
                         \"integer\", \"number\", \"object\", \"string\"",
                        go_quote(t)
                    ),
                ),
            },
            None => {}
        }
        if int_or_string {
            node.ty = Ty::IntOrString;
        }
        // StripUnsupportedFormatsPostProcess decides by the converted type list, which has two
        // entries for int-or-string.
        if let Some(f) = format {
            let keep = match node.ty {
                Ty::Any | Ty::String | Ty::IntOrString => {
                    node.string_format = string_format(f);
                    node.string_format.is_some()
                }
                Ty::Integer => f == "int32" || f == "int64",
                Ty::Number => f == "float" || f == "double",
                _ => false,
            };
            if keep {
                node.format = Some(f.into());
            }
        }
        if let Some(p) = pattern {
            match compile_pattern(p) {
                Ok(regex) => {
                    node.pattern = Some(Pattern {
                        source: p.into(),
                        regex,
                    });
                }
                Err(e) => self.error(
                    &format!("{path}.pattern"),
                    format_args!(
                        "Invalid value: {}: must be a valid regular expression, but isn't: {e}",
                        go_quote(p)
                    ),
                ),
            }
        }
        match preserve {
            Some(true) => node.preserve_unknown = true,
            Some(false) => self.error(
                &format!("{path}.x-kubernetes-preserve-unknown-fields"),
                "Invalid value: false: must be true or undefined",
            ),
            None => {}
        }
        if unique_items {
            self.error(
                &format!("{path}.uniqueItems"),
                "Forbidden: uniqueItems cannot be set to true since the runtime complexity \
                 becomes quadratic",
            );
        }
        if scope.in_resource_meta && node.embedded {
            self.error(
                &format!("{path}.x-kubernetes-embedded-resource"),
                "Forbidden: must not be used inside of resource meta",
            );
        }
        if node.default.is_some()
            && !scope.nested
            && let Some(reason) = scope.forbid_default
        {
            self.error(
                &format!("{path}.default"),
                format_args!("Forbidden: must not be set {reason}"),
            );
        }

        if let Some(props) = properties {
            let mut parsed = Vec::with_capacity(props.len());
            for (name, schema) in props {
                let mut sub = Scope {
                    level: Level::Field,
                    int_or_string_arm: false,
                    ..scope
                };
                if (scope.level == Level::Root || node.embedded) && is_meta_field(name) {
                    sub.in_resource_meta = true;
                    if scope.level == Level::Root {
                        sub.forbid_default = Some(match name.as_str() {
                            "metadata" => "in top-level metadata",
                            "kind" => "in top-level kind",
                            _ => "in top-level apiVersion",
                        });
                    }
                }
                let at = format!("{path}.properties[{name}]");
                parsed.push((Box::<str>::from(name.as_str()), self.node(schema, &at, sub)));
            }
            parsed.sort_by(|a, b| a.0.cmp(&b.0));
            node.properties = parsed;
        }
        if let Some(a) = additional {
            let at = format!("{path}.additionalProperties");
            node.additional = match a {
                Value::Bool(true) => Additional::Allow,
                Value::Bool(false) => Additional::Deny,
                Value::Object(_) => {
                    let mut sub = Scope {
                        level: Level::Field,
                        int_or_string_arm: false,
                        ..scope
                    };
                    if scope.in_resource_meta {
                        sub.forbid_default =
                            Some("inside additionalProperties applying to object metadata");
                    }
                    Additional::Schema(Box::new(self.node(a, &at, sub)))
                }
                other => {
                    self.not_a(&at, other, "boolean or schema");
                    Additional::None
                }
            };
            if !node.properties.is_empty()
                && matches!(node.additional, Additional::Deny | Additional::Schema(_))
            {
                self.error(
                    &at,
                    "Forbidden: additionalProperties and properties are mutual exclusive",
                );
            }
        }
        if let Some(i) = items {
            let at = format!("{path}.items");
            match i {
                Value::Object(_) => {
                    let sub = Scope {
                        level: Level::Items,
                        int_or_string_arm: false,
                        ..scope
                    };
                    node.items = Some(Box::new(self.node(i, &at, sub)));
                }
                Value::Array(_) => self.error(
                    &at,
                    "Forbidden: items must be a schema object and not an array",
                ),
                other => self.not_a(&at, other, "schema"),
            }
        }
        let int_or_string_any_of = any_of.is_some_and(|arms| is_int_or_string_pattern(arms));
        let int_or_string_all_of = all_of
            .and_then(|arms| arms.first())
            .and_then(|first| first.get("anyOf"))
            .and_then(Value::as_array)
            .is_some_and(|arms| is_int_or_string_pattern(arms));
        if let Some(arms) = any_of {
            node.any_of = arms
                .iter()
                .enumerate()
                .map(|(i, arm)| {
                    let sub = Scope {
                        int_or_string_arm: int_or_string_any_of,
                        ..scope.nested()
                    };
                    self.node(arm, &format!("{path}.anyOf[{i}]"), sub)
                })
                .collect();
        }
        if let Some(arms) = all_of {
            node.all_of = arms
                .iter()
                .enumerate()
                .map(|(i, arm)| {
                    let at = format!("{path}.allOf[{i}]");
                    if i == 0 && int_or_string_all_of {
                        self.node_with_int_or_string_any_of(arm, &at, scope.nested())
                    } else {
                        self.node(arm, &at, scope.nested())
                    }
                })
                .collect();
        }
        if let Some(arms) = one_of {
            node.one_of = arms
                .iter()
                .enumerate()
                .map(|(i, arm)| self.node(arm, &format!("{path}.oneOf[{i}]"), scope.nested()))
                .collect();
        }
        if let Some(n) = not {
            node.not = Some(Box::new(self.node(
                n,
                &format!("{path}.not"),
                scope.nested(),
            )));
        }

        node.documented = has_title || has_description || has_validations;
        let has_list_keys = list_keys.as_ref().is_some_and(|k| !k.is_empty());
        self.extensions(&mut node, path, list_type, list_keys, map_type);

        if scope.nested {
            self.nested_restrictions(
                &node,
                path,
                scope,
                NestedFlags {
                    declared_type: declared_type.is_some(),
                    has_title,
                    has_description,
                    int_or_string,
                    has_preserve: preserve.is_some(),
                    list_type: list_type.is_some(),
                    list_keys: has_list_keys,
                    map_type: map_type.is_some(),
                    has_validations,
                    additional: additional.is_some(),
                },
            );
        } else {
            self.structural_invariants(&node, path, scope, int_or_string, additional.is_some());
            self.completeness(&node, path);
        }

        node.defaulted = node
            .properties
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.default.is_some())
            .map(|(i, _)| i)
            .collect();
        let below = |n: &Node| n.default.is_some() || n.defaults_below;
        node.defaults_below = node.properties.iter().any(|(_, p)| below(p))
            || node.items.as_deref().is_some_and(below)
            || matches!(&node.additional, Additional::Schema(a) if below(a));
        node.lists_below = node.list != ListType::Atomic
            || node.properties.iter().any(|(_, p)| p.lists_below)
            || node.items.as_deref().is_some_and(|i| i.lists_below)
            || matches!(&node.additional, Additional::Schema(a) if a.lists_below);
        node
    }

    /// The first `allOf` arm of the second int-or-string pattern: its own `anyOf` arms may
    /// carry `type`.
    fn node_with_int_or_string_any_of(&mut self, v: &Value, path: &str, scope: Scope) -> Node {
        let Value::Object(obj) = v else {
            return self.node(v, path, scope);
        };
        let mut without = obj.clone();
        let arms = without.remove("anyOf");
        let mut node = self.node(&Value::Object(without), path, scope);
        if let Some(Value::Array(arms)) = arms {
            node.any_of = arms
                .iter()
                .enumerate()
                .map(|(i, arm)| {
                    let sub = Scope {
                        int_or_string_arm: true,
                        ..scope
                    };
                    self.node(arm, &format!("{path}.anyOf[{i}]"), sub)
                })
                .collect();
        }
        node
    }

    fn extensions(
        &mut self,
        node: &mut Node,
        path: &str,
        list_type: Option<&str>,
        list_keys: Option<Vec<Box<str>>>,
        map_type: Option<&str>,
    ) {
        if let Some(m) = map_type {
            node.map_atomic = m == "atomic";
            if node.ty != Ty::Object {
                self.type_must_be(
                    node.ty,
                    path,
                    "object if x-kubernetes-map-type is specified",
                );
            }
            if m != "atomic" && m != "granular" {
                self.error(
                    &format!("{path}.x-kubernetes-map-type"),
                    format_args!(
                        "Unsupported value: {}: supported values: \"atomic\", \"granular\"",
                        go_quote(m)
                    ),
                );
            }
        }
        let keys = list_keys.unwrap_or_default();
        if !keys.is_empty() && list_type != Some("map") {
            match list_type {
                None => self.error(
                    &format!("{path}.x-kubernetes-list-type"),
                    "Required value: must be map if x-kubernetes-list-map-keys is non-empty",
                ),
                Some(t) => self.error(
                    &format!("{path}.x-kubernetes-list-type"),
                    format_args!(
                        "Invalid value: {}: must be map if x-kubernetes-list-map-keys is non-empty",
                        go_quote(t)
                    ),
                ),
            }
        }
        let Some(list_type) = list_type else {
            return;
        };
        if node.ty != Ty::Array {
            self.type_must_be(
                node.ty,
                path,
                "array if x-kubernetes-list-type is specified",
            );
        }
        match list_type {
            "atomic" => {}
            "set" => {
                node.list = ListType::Set;
                if let Some(items) = node.items.as_deref() {
                    if items.nullable {
                        self.error(
                            &format!("{path}.items.nullable"),
                            "Forbidden: cannot be nullable when x-kubernetes-list-type is set",
                        );
                    }
                    // A set's items must compare as wholes.
                    match items.ty {
                        Ty::Array if items.list != ListType::Atomic => self.error(
                            &format!("{path}.items.x-kubernetes-list-type"),
                            format_args!(
                                "Invalid value: {}: must be atomic as item of a list with \
                                 x-kubernetes-list-type=set",
                                go_quote(items.list.name())
                            ),
                        ),
                        Ty::Object if !items.map_atomic => self.error(
                            &format!("{path}.items.x-kubernetes-map-type"),
                            "Invalid value: null: must be atomic as item of a list with \
                             x-kubernetes-list-type=set",
                        ),
                        _ => {}
                    }
                }
            }
            "map" => {
                if keys.is_empty() {
                    self.error(
                        &format!("{path}.x-kubernetes-list-map-keys"),
                        "Required value: must not be empty if x-kubernetes-list-type is map",
                    );
                }
                match node.items.as_deref() {
                    None => self.error(
                        &format!("{path}.items"),
                        "Required value: must have a schema if x-kubernetes-list-type is map",
                    ),
                    Some(items) if items.ty != Ty::Object => self.error(
                        &format!("{path}.items.type"),
                        format_args!(
                            "Invalid value: {}: must be object if parent array's \
                             x-kubernetes-list-type is map",
                            go_quote(items.ty.name())
                        ),
                    ),
                    Some(items) => {
                        if items.nullable {
                            self.error(
                                &format!("{path}.items.nullable"),
                                "Forbidden: cannot be nullable when x-kubernetes-list-type is map",
                            );
                        }
                        let shown_keys = go_json(&Value::Array(
                            keys.iter().map(|k| Value::String(k.to_string())).collect(),
                        ));
                        for (i, k) in keys.iter().enumerate() {
                            let key_path = format!("{path}.items.properties[{k}]");
                            match items.prop(k) {
                                Some(p) => {
                                    if matches!(p.ty, Ty::Array | Ty::Object) {
                                        self.error(
                                            &format!("{key_path}.type"),
                                            "Invalid value: \"object\": must be a scalar type if \
                                             parent array's x-kubernetes-list-type is map",
                                        );
                                    }
                                    if !items.required.iter().any(|r| r == k) && p.default.is_none()
                                    {
                                        self.error(
                                            &format!("{key_path}.default"),
                                            "Required value: this property is in \
                                             x-kubernetes-list-map-keys, so it must have a \
                                             default or be a required property",
                                        );
                                    }
                                    if p.nullable {
                                        self.error(
                                            &format!("{key_path}.nullable"),
                                            "Forbidden: this property is in \
                                             x-kubernetes-list-map-keys, so it cannot be nullable",
                                        );
                                    }
                                }
                                None => self.error(
                                    &format!("{path}.x-kubernetes-list-map-keys"),
                                    format_args!(
                                        "Invalid value: {shown_keys}: entries must all be names \
                                         of item properties"
                                    ),
                                ),
                            }
                            if keys[..i].contains(k) {
                                self.error(
                                    &format!("{path}.x-kubernetes-list-map-keys"),
                                    format_args!(
                                        "Invalid value: {shown_keys}: must not contain duplicate \
                                         entries"
                                    ),
                                );
                            }
                        }
                    }
                }
                node.list = ListType::Map(keys);
            }
            other => self.error(
                &format!("{path}.x-kubernetes-list-type"),
                format_args!(
                    "Unsupported value: {}: supported values: \"atomic\", \"set\", \"map\"",
                    go_quote(other)
                ),
            ),
        }
    }

    fn type_must_be(&mut self, ty: Ty, path: &str, what: &str) {
        if ty == Ty::Any {
            self.error(
                &format!("{path}.type"),
                format_args!("Required value: must be {what}"),
            );
        } else {
            self.error(
                &format!("{path}.type"),
                format_args!("Invalid value: {}: must be {what}", go_quote(ty.name())),
            );
        }
    }

    /// `validateStructuralInvariants` of a node outside value validations.
    fn structural_invariants(
        &mut self,
        node: &Node,
        path: &str,
        scope: Scope,
        int_or_string: bool,
        has_additional: bool,
    ) {
        if node.ty == Ty::Array && node.items.is_none() {
            self.error(
                &format!("{path}.items"),
                "Required value: must be specified",
            );
        }
        if has_additional && scope.level == Level::Root {
            self.error(
                &format!("{path}.additionalProperties"),
                "Forbidden: must not be used at the root",
            );
        }
        if node.embedded && node.ty != Ty::Object {
            self.type_must_be(
                node.ty,
                path,
                "object if x-kubernetes-embedded-resource is true",
            );
        } else if node.ty == Ty::Any && !int_or_string && !node.preserve_unknown {
            let detail = match scope.level {
                Level::Root => "must not be empty at the root",
                Level::Items => "must not be empty for specified array items",
                Level::Field => "must not be empty for specified object fields",
            };
            self.error(
                &format!("{path}.type"),
                format_args!("Required value: {detail}"),
            );
        }
        if node.embedded && has_additional {
            self.error(
                &format!("{path}.additionalProperties"),
                "Forbidden: must not be used if x-kubernetes-embedded-resource is set",
            );
        }
        if scope.level == Level::Root {
            if node.ty != Ty::Any && node.ty != Ty::Object {
                self.error(
                    &format!("{path}.type"),
                    format_args!(
                        "Invalid value: {}: must be object at the root",
                        go_quote(node.ty.name())
                    ),
                );
            }
            if node.nullable {
                self.error(
                    &format!("{path}.nullable"),
                    "Forbidden: nullable cannot be true at the root",
                );
            }
        }
        let check_meta = scope.level == Level::Root || node.embedded;
        if check_meta {
            for key in ["kind", "apiVersion"] {
                if let Some(p) = node.prop(key)
                    && p.ty != Ty::String
                {
                    self.error(
                        &format!("{path}.properties[{key}].type"),
                        format_args!("Invalid value: {}: must be string", go_quote(p.ty.name())),
                    );
                }
            }
            if let Some(m) = node.prop("metadata") {
                let at = format!("{path}.properties[metadata]");
                if m.ty != Ty::Object {
                    self.error(
                        &format!("{at}.type"),
                        format_args!("Invalid value: {}: must be object", go_quote(m.ty.name())),
                    );
                }
                if scope.level == Level::Root && !is_plain_root_metadata(m) {
                    self.error(
                        &at,
                        "Forbidden: must not specify anything other than name and generateName, \
                         but metadata is implicitly specified",
                    );
                }
            }
        }
        if node.embedded && !node.preserve_unknown && node.properties.is_empty() {
            self.error(
                &format!("{path}.properties"),
                "Required value: must not be empty if x-kubernetes-embedded-resource is true \
                 without x-kubernetes-preserve-unknown-fields",
            );
        }
        if int_or_string && node.preserve_unknown {
            self.error(
                &format!("{path}.x-kubernetes-preserve-unknown-fields"),
                "Invalid value: true: must be false if x-kubernetes-int-or-string is true",
            );
        }
        if int_or_string && node.embedded {
            self.error(
                &format!("{path}.x-kubernetes-embedded-resource"),
                "Invalid value: true: must be false if x-kubernetes-int-or-string is true",
            );
        }
    }

    /// `validateNestedValueValidation`: what a schema under a logic junctor may not specify.
    fn nested_restrictions(&mut self, node: &Node, path: &str, scope: Scope, f: NestedFlags) {
        let forbid = |c: &mut Compiler, what: &str, detail: &str| {
            c.error(
                &format!("{path}.{what}"),
                format_args!("Forbidden: {detail}"),
            );
        };
        if f.declared_type && !scope.int_or_string_arm {
            forbid(self, "type", "must be empty to be structural");
        }
        if f.additional {
            forbid(
                self,
                "additionalProperties",
                "must be undefined to be structural",
            );
        }
        if node.default.is_some() {
            forbid(self, "default", "must be undefined to be structural");
        }
        if f.has_title {
            forbid(self, "title", "must be empty to be structural");
        }
        if f.has_description {
            forbid(self, "description", "must be empty to be structural");
        }
        if node.nullable {
            forbid(self, "nullable", "must be false to be structural");
        }
        if f.has_preserve {
            forbid(
                self,
                "x-kubernetes-preserve-unknown-fields",
                "must be false to be structural",
            );
        }
        if node.embedded {
            forbid(
                self,
                "x-kubernetes-embedded-resource",
                "must be false to be structural",
            );
        }
        if f.int_or_string {
            forbid(
                self,
                "x-kubernetes-int-or-string",
                "must be false to be structural",
            );
        }
        if f.list_keys {
            forbid(
                self,
                "x-kubernetes-list-map-keys",
                "must be empty to be structural",
            );
        }
        if f.list_type {
            forbid(
                self,
                "x-kubernetes-list-type",
                "must be undefined to be structural",
            );
        }
        if f.map_type {
            forbid(
                self,
                "x-kubernetes-map-type",
                "must be undefined to be structural",
            );
        }
        if f.has_validations {
            forbid(
                self,
                "x-kubernetes-validations",
                "must be empty to be structural",
            );
        }
        if node.prop("metadata").is_some() {
            forbid(
                self,
                "properties[metadata]",
                "must not be specified in a nested context",
            );
        }
    }

    /// `validateStructuralCompleteness`: fields and items value validations speak of must
    /// exist in the structure.
    fn completeness(&mut self, node: &Node, path: &str) {
        let junctors = junctors(node, path);
        for (vpath, nested) in junctors {
            self.nested_completeness(nested, Some(node), path, &vpath);
        }
    }

    fn nested_completeness(&mut self, v: &Node, s: Option<&Node>, spath: &str, vpath: &str) {
        let Some(s) = s else {
            self.error(
                spath,
                format_args!("Required value: because it is defined in {vpath}"),
            );
            return;
        };
        let junctors = junctors(v, vpath);
        for (jpath, nested) in junctors {
            self.nested_completeness(nested, Some(s), spath, &jpath);
        }
        if let Some(items) = v.items.as_deref() {
            self.nested_completeness(
                items,
                s.items.as_deref(),
                &format!("{spath}.items"),
                &format!("{vpath}.items"),
            );
        }
        for (k, p) in &v.properties {
            self.nested_completeness(
                p,
                s.prop(k),
                &format!("{spath}.properties[{k}]"),
                &format!("{vpath}.properties[{k}]"),
            );
        }
    }

    /// `ValidateDefaults`: every default must be pruned already and valid against its schema.
    fn defaults(&mut self, node: &Node, path: &str) {
        if let Some(d) = &node.default {
            let mut pruned = d.clone();
            prune_value(&mut pruned, Some(node), false);
            if &pruned != d {
                self.error(
                    &format!("{path}.default"),
                    format_args!(
                        "Invalid value: {}: must not have unknown fields",
                        go_value(d)
                    ),
                );
            }
            let mut v = Validation::new(Some(format!("{path}.default")));
            v.node(node, d);
            for e in v.errors {
                self.errors.push(e.to_string());
            }
        }
        // Defaults are not followed into additionalProperties, as on the server.
        if let Some(items) = node.items.as_deref() {
            self.defaults(items, &format!("{path}.items"));
        }
        for (k, p) in &node.properties {
            self.defaults(p, &format!("{path}.properties[{k}]"));
        }
    }

    fn string<'v>(&mut self, v: &'v Value, at: &str) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.not_a(at, other, "string");
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value, at: &str) -> bool {
        match v {
            Value::Bool(b) => *b,
            other => {
                self.not_a(at, other, "boolean");
                false
            }
        }
    }

    fn integer(&mut self, v: &Value, at: &str) -> Option<i64> {
        match v.as_i64() {
            Some(i) => Some(i),
            None => {
                self.not_a(at, v, "integer");
                None
            }
        }
    }

    fn number(&mut self, v: &Value, at: &str) -> Option<f64> {
        match v.as_f64() {
            Some(f) => Some(f),
            None => {
                self.not_a(at, v, "number");
                None
            }
        }
    }

    fn strings(&mut self, v: &Value, at: &str) -> Vec<Box<str>> {
        match v {
            Value::Array(items) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(Box::from)
                .collect(),
            other => {
                self.not_a(at, other, "list of strings");
                Vec::new()
            }
        }
    }

    fn schemas<'v>(&mut self, v: &'v Value, at: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(items) => Some(items),
            other => {
                self.not_a(at, other, "list of schemas");
                None
            }
        }
    }

    fn not_a(&mut self, at: &str, v: &Value, what: &str) {
        self.error(
            at,
            format_args!("Invalid value: {}: must be a {what}", go_value(v)),
        );
    }
}

/// A node's `anyOf`/`allOf`/`oneOf`/`not` schemas with their schema paths.
fn junctors<'n>(n: &'n Node, path: &str) -> Vec<(String, &'n Node)> {
    let arms = |list: &'n [Node], name: &'static str| {
        list.iter()
            .enumerate()
            .map(move |(i, a)| (format!("{path}.{name}[{i}]"), a))
    };
    arms(&n.any_of, "anyOf")
        .chain(arms(&n.all_of, "allOf"))
        .chain(arms(&n.one_of, "oneOf"))
        .chain(n.not.iter().map(|a| (format!("{path}.not"), &**a)))
        .collect()
}

/// Which nested-only restrictions a node's raw keywords trip.
#[derive(Debug, Clone, Copy)]
struct NestedFlags {
    declared_type: bool,
    has_title: bool,
    has_description: bool,
    int_or_string: bool,
    has_preserve: bool,
    list_type: bool,
    list_keys: bool,
    map_type: bool,
    has_validations: bool,
    additional: bool,
}

/// `anyOf: [{type: integer}, {type: string}]` exactly, the shape int-or-string fields carry.
fn is_int_or_string_pattern(arms: &[Value]) -> bool {
    let only_type = |arm: &Value, t: &str| {
        arm.as_object()
            .is_some_and(|o| o.len() == 1 && o.get("type").and_then(Value::as_str) == Some(t))
    };
    arms.len() == 2 && only_type(&arms[0], "integer") && only_type(&arms[1], "string")
}

/// The root's metadata schema may only be `type: object` and restrict name/generateName.
fn is_plain_root_metadata(m: &Node) -> bool {
    let names_only = m
        .properties
        .iter()
        .all(|(k, _)| k.as_ref() == "name" || k.as_ref() == "generateName");
    names_only
        && !m.documented
        && !m.nullable
        && !m.preserve_unknown
        && !m.embedded
        && matches!(m.additional, Additional::None)
        && m.items.is_none()
        && m.required.is_empty()
        && m.enumeration.is_none()
        && m.list == ListType::Atomic
        && m.format.is_none()
        && m.pattern.is_none()
        && m.max_length.is_none()
        && m.min_length.is_none()
        && m.maximum.is_none()
        && m.minimum.is_none()
        && m.multiple_of.is_none()
        && m.max_items.is_none()
        && m.min_items.is_none()
        && m.max_properties.is_none()
        && m.min_properties.is_none()
        && m.any_of.is_empty()
        && m.all_of.is_empty()
        && m.one_of.is_empty()
        && m.not.is_none()
}

/// Compiles an RE2 pattern with the `regex` crate, giving `\d \w \s \b` Go's ASCII meaning.
fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match e {
                    'd' => Some(("0-9", false)),
                    'D' => Some(("0-9", true)),
                    'w' => Some(("0-9A-Za-z_", false)),
                    'W' => Some(("0-9A-Za-z_", true)),
                    's' => Some(("\\t\\n\\x0C\\r ", false)),
                    'S' => Some(("\\t\\n\\x0C\\r ", true)),
                    _ => None,
                };
                match (class, in_class) {
                    (Some((set, false)), false) => {
                        out.push('[');
                        out.push_str(set);
                        out.push(']');
                    }
                    (Some((set, true)), false) => {
                        out.push_str("[^");
                        out.push_str(set);
                        out.push(']');
                    }
                    (Some((set, false)), true) => out.push_str(set),
                    _ if !in_class && (e == 'b' || e == 'B') => {
                        out.push_str("(?-u:\\");
                        out.push(e);
                        out.push(')');
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `]` (after an optional `^`) is a literal in RE2.
                let rest = chars.as_str();
                let (neg, rest) = match rest.strip_prefix('^') {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                if neg {
                    out.push('^');
                    chars.next();
                }
                if rest.starts_with(']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.as_str().starts_with(':') => {
                // POSIX class like [:alpha:] inside a bracket expression.
                out.push('[');
                for c2 in chars.by_ref() {
                    out.push(c2);
                    if c2 == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Literals in RE2 classes that the regex crate reads as nesting or set operators.
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Regex::new(&out)
}

// ---------------------------------------------------------------------------------------------
// Pruning

/// `prune` (and, when `full`, the null pruning and metadata coercion that follow it on the
/// server) of one value against its schema; `None` prunes every field below.
fn prune_value(x: &mut Value, s: Option<&Node>, full: bool) {
    match s {
        Some(n) => prune_children(x, n, n.embedded, n.preserve_unknown, full),
        None => prune_all(x),
    }
}

fn prune_all(x: &mut Value) {
    match x {
        Value::Object(map) => map.clear(),
        Value::Array(items) => items.iter_mut().for_each(prune_all),
        _ => {}
    }
}

/// `prune`, or `skipPrune` when `preserve`, of a value whose schema is `n`; `embedded` keeps
/// apiVersion/kind/metadata untouched (the root is pruned that way too).
fn prune_children(x: &mut Value, n: &Node, embedded: bool, preserve: bool, full: bool) {
    match x {
        Value::Object(map) => {
            map.retain(|k, v| {
                if embedded && is_meta_field(k) {
                    return true;
                }
                let Some(schema) = n.field(k) else {
                    return preserve;
                };
                if full && v.is_null() && schema.is_some_and(Node::drops_null) {
                    return false;
                }
                prune_value(v, schema, full);
                true
            });
            if full
                && embedded
                && let Some(meta) = map.get_mut("metadata")
            {
                coerce_object_meta(meta);
            }
        }
        Value::Array(items) => {
            if preserve {
                // skipPrune applies its own semantics to the items schema, preserve or not.
                if let Some(it) = n.items.as_deref() {
                    for v in items {
                        prune_children(v, it, it.embedded, true, full);
                    }
                }
            } else {
                for v in items {
                    prune_value(v, n.items.as_deref(), full);
                }
            }
        }
        _ => {}
    }
}

const OBJECT_META_FIELDS: [&str; 15] = [
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];
const OWNER_REFERENCE_FIELDS: [&str; 6] = [
    "apiVersion",
    "blockOwnerDeletion",
    "controller",
    "kind",
    "name",
    "uid",
];
const MANAGED_FIELDS_ENTRY_FIELDS: [&str; 7] = [
    "apiVersion",
    "fieldsType",
    "fieldsV1",
    "manager",
    "operation",
    "subresource",
    "time",
];

/// What a JSON round trip through `metav1.ObjectMeta` leaves: its fields, minus those
/// `omitempty` drops.
fn coerce_object_meta(meta: &mut Value) {
    let Value::Object(m) = meta else {
        return;
    };
    m.retain(|k, v| {
        OBJECT_META_FIELDS.contains(&k.as_str())
            && match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                // generation is a plain int64; deletionGracePeriodSeconds a pointer.
                Value::Number(n) => k != "generation" || n.as_f64() != Some(0.0),
                Value::Bool(_) => true,
            }
    });
    for (list, fields) in [
        ("ownerReferences", &OWNER_REFERENCE_FIELDS[..]),
        ("managedFields", &MANAGED_FIELDS_ENTRY_FIELDS[..]),
    ] {
        if let Some(Value::Array(entries)) = m.get_mut(list) {
            for e in entries {
                if let Value::Object(o) = e {
                    o.retain(|k, v| fields.contains(&k.as_str()) && !v.is_null());
                }
            }
        }
    }
}

/// The read-only twin of pruning: records what it would drop.
struct PrunedPaths<'v> {
    segs: Vec<Seg<'v>>,
    paths: Vec<String>,
}

impl<'v> PrunedPaths<'v> {
    fn record(&mut self, key: &'v str) {
        self.segs.push(Seg::Key(key));
        self.paths.push(render(&self.segs));
        self.segs.pop();
    }

    fn value(&mut self, x: &'v Value, s: Option<&Node>) {
        match s {
            Some(n) => self.children(x, n, n.embedded, n.preserve_unknown),
            None => self.all(x),
        }
    }

    fn all(&mut self, x: &'v Value) {
        match x {
            Value::Object(map) => map.keys().for_each(|k| self.record(k)),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.segs.push(Seg::Index(i));
                    self.all(v);
                    self.segs.pop();
                }
            }
            _ => {}
        }
    }

    fn children(&mut self, x: &'v Value, n: &Node, embedded: bool, preserve: bool) {
        match x {
            Value::Object(map) => {
                for (k, v) in map {
                    if embedded && is_meta_field(k) {
                        continue;
                    }
                    match n.field(k) {
                        None if !preserve => self.record(k),
                        None => {}
                        Some(schema) => {
                            self.segs.push(Seg::Key(k));
                            self.value(v, schema);
                            self.segs.pop();
                        }
                    }
                }
                if embedded && let Some(meta) = map.get("metadata") {
                    self.segs.push(Seg::Key("metadata"));
                    self.object_meta(meta);
                    self.segs.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.segs.push(Seg::Index(i));
                    if preserve {
                        if let Some(it) = n.items.as_deref() {
                            self.children(v, it, it.embedded, true);
                        }
                    } else {
                        self.value(v, n.items.as_deref());
                    }
                    self.segs.pop();
                }
            }
            _ => {}
        }
    }

    fn object_meta(&mut self, meta: &'v Value) {
        let Value::Object(m) = meta else {
            return;
        };
        for (k, v) in m {
            let fields = match k.as_str() {
                "ownerReferences" => &OWNER_REFERENCE_FIELDS[..],
                "managedFields" => &MANAGED_FIELDS_ENTRY_FIELDS[..],
                name if OBJECT_META_FIELDS.contains(&name) => continue,
                _ => {
                    self.record(k);
                    continue;
                }
            };
            let Value::Array(entries) = v else {
                continue;
            };
            self.segs.push(Seg::Key(k));
            for (i, e) in entries.iter().enumerate() {
                if let Value::Object(o) = e {
                    self.segs.push(Seg::Index(i));
                    for key in o.keys().filter(|key| !fields.contains(&key.as_str())) {
                        self.record(key);
                    }
                    self.segs.pop();
                }
            }
            self.segs.pop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaulting

/// `structuraldefaulting.Default`, walking only towards defaults.
fn apply_defaults(x: &mut Value, n: &Node) {
    if !n.defaults_below {
        return;
    }
    match x {
        Value::Object(map) => {
            for &i in &n.defaulted {
                let (k, p) = &n.properties[i];
                let Some(d) = &p.default else {
                    continue;
                };
                match map.get_mut(k.as_ref()) {
                    None => {
                        map.insert(k.to_string(), d.clone());
                    }
                    Some(v) if v.is_null() && !p.nullable => *v = d.clone(),
                    Some(_) => {}
                }
            }
            for (k, p) in &n.properties {
                if p.defaults_below
                    && let Some(v) = map.get_mut(k.as_ref())
                {
                    apply_defaults(v, p);
                }
            }
            if let Additional::Schema(a) = &n.additional
                && (a.defaults_below || a.default.is_some())
            {
                for (k, v) in map.iter_mut() {
                    if n.prop(k).is_some() {
                        continue;
                    }
                    if v.is_null()
                        && !a.nullable
                        && let Some(d) = &a.default
                    {
                        *v = d.clone();
                    }
                    apply_defaults(v, a);
                }
            }
        }
        Value::Array(items) => {
            if let Some(it) = n.items.as_deref() {
                for v in items {
                    if v.is_null()
                        && !it.nullable
                        && let Some(d) = &it.default
                    {
                        *v = d.clone();
                    }
                    apply_defaults(v, it);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// A step of a field path, kept unrendered until an error needs it.
#[derive(Debug, Clone, Copy)]
enum Seg<'v> {
    /// `.name`, as kube-openapi joins property and additionalProperties keys.
    Key(&'v str),
    Index(usize),
    /// `[key]`, as `field.Path.Key` renders map keys in list-type errors.
    MapKey(&'v str),
}

fn render(segs: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in segs {
        out = match seg {
            Seg::Key(k) => child(&out, k),
            Seg::Index(i) => index(&out, *i),
            Seg::MapKey(k) => format!("{out}[{k}]"),
        };
    }
    out
}

/// A JSON number as Go's decoder types it: integral literals as int64, others as float64.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn num(n: &serde_json::Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

struct Validation<'v> {
    segs: Vec<Seg<'v>>,
    errors: Vec<FieldError>,
    /// The field path errors hang off: none (`<nil>`) for an object, `....default` for a
    /// schema's default.
    base: Option<String>,
}

impl<'v> Validation<'v> {
    fn new(base: Option<String>) -> Self {
        Validation {
            segs: Vec::new(),
            errors: Vec::new(),
            base,
        }
    }

    fn name(&self) -> String {
        render(&self.segs)
    }

    /// `fldPath.Child(name)` of `kubeOpenAPIResultToFieldErrors`.
    fn field_path(&self, name: &str) -> String {
        match (&self.base, name.is_empty()) {
            (Some(b), true) => b.clone(),
            (Some(b), false) => format!("{b}.{name}"),
            (None, true) => "<nil>".to_string(),
            (None, false) => name.to_string(),
        }
    }

    fn push(&mut self, name: &str, detail: String) {
        let path = self.field_path(name);
        self.errors.push(FieldError { path, detail });
    }

    fn invalid(&mut self, name: &str, value: &str, message: String) {
        self.push(name, format!("Invalid value: {value}: {message}"));
    }

    fn type_error(&mut self, expected: &str, got: &str) {
        let name = self.name();
        let got = go_quote(got);
        self.invalid(
            &name,
            &got,
            format!("{name} in body must be of type {expected}: {got}"),
        );
    }

    /// kube-openapi's errors without a field (`errors.New`), which the server reports against
    /// the root path.
    fn composite(&mut self, message: String) {
        self.push("", format!("Invalid value: \"\": {message}"));
    }

    /// `SchemaValidator.Validate`: returns kube-openapi's match count, which picks the
    /// alternative whose errors an `anyOf`/`oneOf` failure reports.
    fn node(&mut self, n: &Node, v: &'v Value) -> u32 {
        if v.is_null() {
            let mut count = 0;
            if n.ty != Ty::Any && !n.nullable {
                self.type_error(n.ty.name(), "null");
            } else {
                count = 1;
            }
            self.check_enum(n, v);
            return count;
        }
        let mut count = 1;
        if n.ty != Ty::Any || n.format.is_some() {
            count += 1 + self.check_type(n, v);
        }
        count += 1 + self.junctors(n, v);
        if let Value::String(s) = v {
            count += 1;
            self.check_string(n, s, v);
            if let Some(f) = n.string_format {
                count += 1;
                if !format_ok(f, s) {
                    let name = self.name();
                    let q = go_quote(s);
                    let format = n.format.as_deref().unwrap_or_default();
                    self.invalid(
                        &name,
                        &q,
                        format!("{name} in body must be of type {format}: {q}"),
                    );
                }
            }
        }
        if let Value::Number(x) = v {
            count += 2;
            self.check_number(n, num(x), v);
        }
        if let Value::Array(items) = v {
            count += 2 + self.check_array(n, items);
        }
        count += 1;
        self.check_enum(n, v);
        if let Value::Object(m) = v {
            count += 1 + self.check_object(n, m);
        }
        count
    }

    /// `typeValidator.Validate`.
    fn check_type(&mut self, n: &Node, v: &Value) -> u32 {
        let (found, found_format) = match v {
            Value::Bool(_) => ("boolean", ""),
            Value::String(_) => ("string", ""),
            Value::Number(x) => match num(x) {
                Num::Int(_) => ("integer", "int64"),
                Num::Float(_) => ("number", "float64"),
            },
            Value::Array(_) => ("array", ""),
            Value::Object(_) => ("object", ""),
            Value::Null => return 1,
        };
        let ty = n.ty;
        let format = n.format.as_deref().unwrap_or_default();
        let float_int = matches!(v, Value::Number(x) if matches!(num(x), Num::Float(f) if is_json_integer(f)))
            && ty.contains("integer");
        let int_float = found == "integer" && ty.contains("number");
        let string_or_slice = matches!(v, Value::String(_) | Value::Array(_));
        let has_format = !format.is_empty();
        let compatible = ty.contains(found) || float_int || int_float;
        // A format (int32, double, ...) names the expected type of non-string scalars.
        if has_format && !string_or_slice && !compatible && found_format != format {
            self.type_error(format, found_format);
            return 0;
        }
        let numeric = ty.contains("number") || ty.contains("integer");
        if has_format && string_or_slice && !numeric {
            return 1;
        }
        if !compatible {
            self.type_error(ty.name(), found);
            return 0;
        }
        1
    }

    /// `schemaPropsValidator.Validate`: anyOf, oneOf, allOf, not.
    fn junctors(&mut self, n: &Node, v: &'v Value) -> u32 {
        let mut count = 1;
        if !n.any_of.is_empty() {
            let mut best: Option<(u32, Vec<FieldError>)> = None;
            let mut success = None;
            for arm in &n.any_of {
                let (c, errors) = self.isolated(arm, v);
                if errors.is_empty() {
                    success = Some(c);
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|(b, _)| c > *b) {
                    best = Some((c, errors));
                }
            }
            if success.is_none() {
                let q = go_quote(&self.name());
                self.composite(format!("{q} must validate at least one schema (anyOf)"));
            }
            if let Some((c, errors)) = best {
                count += c;
                self.errors.extend(errors);
            } else if let Some(c) = success {
                count += c;
            }
        }
        if !n.one_of.is_empty() {
            let mut best: Option<(u32, Vec<FieldError>)> = None;
            let mut first = None;
            let mut valid = 0;
            for arm in &n.one_of {
                let (c, errors) = self.isolated(arm, v);
                if errors.is_empty() {
                    valid += 1;
                    best = None;
                    first.get_or_insert(c);
                    continue;
                }
                if valid == 0 && best.as_ref().is_none_or(|(b, _)| c > *b) {
                    best = Some((c, errors));
                }
            }
            if valid != 1 {
                let found = if valid == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                let q = go_quote(&self.name());
                self.composite(format!(
                    "{q} must validate one and only one schema (oneOf). {found}"
                ));
                if let Some((c, errors)) = best {
                    count += c;
                    self.errors.extend(errors);
                }
            } else if let Some(c) = first {
                count += c;
            }
        }
        if !n.all_of.is_empty() {
            let mut valid = 0;
            for arm in &n.all_of {
                let before = self.errors.len();
                count += self.node(arm, v);
                if self.errors.len() == before {
                    valid += 1;
                }
            }
            if valid != n.all_of.len() {
                let none = if valid == 0 { ". None validated" } else { "" };
                let q = go_quote(&self.name());
                self.composite(format!("{q} must validate all the schemas (allOf){none}"));
            }
        }
        if let Some(not) = n.not.as_deref() {
            let (_, errors) = self.isolated(not, v);
            if errors.is_empty() {
                let q = go_quote(&self.name());
                self.composite(format!("{q} must not validate the schema (not)"));
            }
        }
        count
    }

    /// Validates against an alternative without reporting its errors yet.
    fn isolated(&mut self, n: &Node, v: &'v Value) -> (u32, Vec<FieldError>) {
        let saved = std::mem::take(&mut self.errors);
        let count = self.node(n, v);
        (count, std::mem::replace(&mut self.errors, saved))
    }

    /// `stringValidator`: stops at the first failure.
    fn check_string(&mut self, n: &Node, s: &str, v: &Value) {
        if n.max_length.is_none() && n.min_length.is_none() && n.pattern.is_none() {
            return;
        }
        // kube-openapi counts runes, though the message says bytes.
        let len = s.chars().count() as i64;
        if let Some(max) = n.max_length
            && len > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            let name = self.name();
            self.push(
                &name,
                format!("Too long: may not be more than {max} {unit}"),
            );
            return;
        }
        if let Some(min) = n.min_length
            && len < min
        {
            let name = self.name();
            let msg = format!("{name} in body should be at least {min} chars long");
            self.invalid(&name, &go_value(v), msg);
            return;
        }
        if let Some(p) = &n.pattern
            && !p.regex.is_match(s)
        {
            let name = self.name();
            let msg = format!("{name} in body should match '{}'", p.source);
            self.invalid(&name, &go_value(v), msg);
        }
    }

    /// `numberValidator`: multipleOf, minimum, maximum, with Go's int64/float64 split.
    fn check_number(&mut self, n: &Node, x: Num, v: &Value) {
        if let Some(factor) = n.multiple_of {
            match x {
                Num::Int(d) => {
                    let f = factor as i64;
                    if f < 0 {
                        let name = self.name();
                        let msg =
                            format!("factor MultipleOf declared for {name} must be positive: {f}");
                        self.invalid(&name, &f.to_string(), msg);
                    } else if f != 0 && d % f != 0 {
                        let name = self.name();
                        let msg = format!("{name} in body should be a multiple of {f}");
                        self.invalid(&name, &go_value(v), msg);
                    }
                }
                Num::Float(d) => {
                    if factor < 0.0 {
                        let name = self.name();
                        let f = go_float(factor);
                        let msg =
                            format!("factor MultipleOf declared for {name} must be positive: {f}");
                        self.invalid(&name, &f, msg);
                    } else {
                        let mult = if factor < 1.0 {
                            1.0 / factor * d
                        } else {
                            d / factor
                        };
                        if !is_json_integer(mult) {
                            let name = self.name();
                            let msg = format!(
                                "{name} in body should be a multiple of {}",
                                go_float(factor)
                            );
                            self.invalid(&name, &go_value(v), msg);
                        }
                    }
                }
            }
        }
        if let Some(min) = n.minimum {
            let excl = n.exclusive_minimum;
            let (fails, bound) = match x {
                Num::Int(d) => {
                    let m = min as i64;
                    ((!excl && d < m) || (excl && d <= m), m.to_string())
                }
                Num::Float(d) => ((!excl && d < min) || (excl && d <= min), go_float(min)),
            };
            if fails {
                let name = self.name();
                let rel = if excl {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                let msg = format!("{name} in body should be {rel} {bound}");
                self.invalid(&name, &go_value(v), msg);
            }
        }
        if let Some(max) = n.maximum {
            let excl = n.exclusive_maximum;
            let (fails, bound) = match x {
                Num::Int(d) => {
                    let m = max as i64;
                    ((!excl && d > m) || (excl && d >= m), m.to_string())
                }
                Num::Float(d) => ((!excl && d > max) || (excl && d >= max), go_float(max)),
            };
            if fails {
                let name = self.name();
                let rel = if excl {
                    "less than"
                } else {
                    "less than or equal to"
                };
                let msg = format!("{name} in body should be {rel} {bound}");
                self.invalid(&name, &go_value(v), msg);
            }
        }
    }

    /// `schemaSliceValidator`: items, then minItems and maxItems.
    fn check_array(&mut self, n: &Node, items: &'v [Value]) -> u32 {
        let mut count = 0;
        if let Some(it) = n.items.as_deref() {
            for (i, x) in items.iter().enumerate() {
                self.segs.push(Seg::Index(i));
                count += self.node(it, x);
                self.segs.pop();
            }
        }
        let len = items.len() as i64;
        if let Some(min) = n.min_items
            && len < min
        {
            let name = self.name();
            let msg = format!("{name} in body should have at least {min} items");
            self.invalid(&name, &len.to_string(), msg);
        }
        if let Some(max) = n.max_items
            && len > max
        {
            let name = self.name();
            self.push(&name, too_many(len, max));
        }
        count
    }

    /// `basicCommonValidator`: enum, with Go's reflect conversions.
    fn check_enum(&mut self, n: &Node, v: &Value) {
        let Some(values) = &n.enumeration else {
            return;
        };
        if values.iter().any(|e| enum_matches(v, e)) {
            return;
        }
        let supported = values
            .iter()
            .map(|e| match e {
                Value::String(s) => go_quote(s),
                other => go_quote(&go_json(other)),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let name = self.name();
        self.push(
            &name,
            format!(
                "Unsupported value: {}: supported values: {supported}",
                go_value(v)
            ),
        );
    }

    /// `objectValidator`: property counts (which end the object's validation), forbidden keys,
    /// fields, then required.
    fn check_object(&mut self, n: &Node, m: &'v Map<String, Value>) -> u32 {
        let len = m.len() as i64;
        if let Some(min) = n.min_properties
            && len < min
        {
            let name = self.name();
            let msg = format!("{name} in body should have at least {min} properties");
            self.invalid(&name, &len.to_string(), msg);
            return 0;
        }
        if let Some(max) = n.max_properties
            && len > max
        {
            let name = self.name();
            self.push(&name, too_many(len, max));
            return 0;
        }
        if matches!(n.additional, Additional::Deny) {
            for k in m.keys().filter(|k| n.prop(k).is_none()) {
                let name = self.name();
                let msg = format!("{name}.{k} in body is a forbidden property");
                self.invalid(&name, &go_quote(k), msg);
            }
        }
        let mut count = 0;
        for (k, x) in m {
            let schema = match (n.prop(k), &n.additional) {
                (Some(p), _) => p,
                (None, Additional::Schema(a)) => a,
                _ => continue,
            };
            self.segs.push(Seg::Key(k));
            count += self.node(schema, x);
            self.segs.pop();
        }
        for r in &n.required {
            if !m.contains_key(r.as_ref()) {
                let path = self.field_path(&child(&self.name(), r));
                self.errors.push(FieldError::required(&path));
            }
        }
        count
    }

    /// `ValidateListSetsAndMaps` of an object against the structural schema.
    fn lists(&mut self, n: &Node, v: &'v Value) {
        match v {
            Value::Object(m) => {
                if let Additional::Schema(a) = &n.additional
                    && a.lists_below
                {
                    for (k, x) in m {
                        self.segs.push(Seg::MapKey(k));
                        self.lists(a, x);
                        self.segs.pop();
                    }
                }
                for (k, x) in m {
                    if let Some(p) = n.prop(k)
                        && p.lists_below
                    {
                        self.segs.push(Seg::Key(k));
                        self.lists(p, x);
                        self.segs.pop();
                    }
                }
            }
            Value::Array(items) => {
                match &n.list {
                    ListType::Set => {
                        let keys = items.iter().map(ListKey::of).collect::<Vec<_>>();
                        for i in duplicates(&keys) {
                            self.duplicate(i, go_value(&items[i]));
                        }
                    }
                    ListType::Map(fields) => self.list_map(fields, items),
                    ListType::Atomic => {}
                }
                if let Some(it) = n.items.as_deref()
                    && it.lists_below
                {
                    for (i, x) in items.iter().enumerate() {
                        self.segs.push(Seg::Index(i));
                        self.lists(it, x);
                        self.segs.pop();
                    }
                }
            }
            _ => {}
        }
    }

    fn duplicate(&mut self, i: usize, shown: String) {
        self.segs.push(Seg::Index(i));
        let path = self.name();
        self.segs.pop();
        self.errors.push(FieldError {
            path,
            detail: format!("Duplicate value: {shown}"),
        });
    }

    /// `validateListMap`: items must be objects (or null) with unique key tuples.
    fn list_map(&mut self, fields: &[Box<str>], items: &'v [Value]) {
        if let Some(i) = items.iter().position(|x| !x.is_null() && !x.is_object()) {
            self.segs.push(Seg::Index(i));
            let path = self.name();
            self.segs.pop();
            self.errors.push(FieldError {
                path,
                detail: format!(
                    "Invalid value: {}: must be an object for an array of list-type map",
                    go_value(&items[i])
                ),
            });
            return;
        }
        if items.len() <= 1 {
            return;
        }
        if let [field] = fields {
            let keys = items
                .iter()
                .map(|x| match x.get(field.as_ref()) {
                    Some(k) => ListKey::of(k),
                    None => ListKey::Unspecified,
                })
                .collect::<Vec<_>>();
            for i in duplicates(&keys) {
                let shown = match items[i].get(field.as_ref()) {
                    Some(k) => format!("{{{}:{}}}", go_json_string(field), go_json(k)),
                    None => "{}".to_string(),
                };
                self.duplicate(i, shown);
            }
            return;
        }
        let tuples = items
            .iter()
            .map(|x| {
                let mut key = Map::new();
                for f in fields {
                    if let Some(k) = x.get(f.as_ref()) {
                        key.insert(f.to_string(), k.clone());
                    }
                }
                Value::Object(key)
            })
            .collect::<Vec<_>>();
        let keys = tuples.iter().map(ListKey::of).collect::<Vec<_>>();
        for i in duplicates(&keys) {
            self.duplicate(i, go_json(&tuples[i]));
        }
    }
}

/// How `validateListSet` tells items apart: scalars by Go `==` (so 1 and 1.0 differ), compound
/// values by their JSON (so they don't).
#[derive(Debug, PartialEq)]
enum ListKey<'v> {
    Unspecified,
    Scalar(&'v Value),
    Compound(String),
}

impl<'v> ListKey<'v> {
    fn of(v: &'v Value) -> ListKey<'v> {
        match v {
            Value::Array(_) | Value::Object(_) => ListKey::Compound(go_json(v)),
            scalar => ListKey::Scalar(scalar),
        }
    }
}

/// Indexes of the second appearance of every repeated key.
fn duplicates(keys: &[ListKey<'_>]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].iter().filter(|p| *p == k).count() == 1 {
            out.push(i);
        }
    }
    out
}

fn too_many(actual: i64, max: i64) -> String {
    let unit = if max == 1 { "item" } else { "items" };
    format!("Too many: {actual}: must have at most {max} {unit}")
}

/// Whether enum value `e` accepts `data`, as `reflect.Value.Convert` + `DeepEqual` decide.
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (e, data) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(es), Value::String(s)) => es == s,
        (Value::String(es), Value::Number(n)) => match num(n) {
            // Go converts an integer to the string of that code point.
            Num::Int(i) => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                es.chars().eq(std::iter::once(c))
            }
            Num::Float(_) => false,
        },
        (Value::Number(en), Value::Number(dn)) => match (num(en), num(dn)) {
            (Num::Int(e), Num::Int(d)) => e == d,
            (Num::Int(e), Num::Float(d)) => d as i64 == e,
            (Num::Float(e), Num::Int(d)) => d as f64 == e,
            (Num::Float(e), Num::Float(d)) => d == e,
        },
        (Value::Bool(eb), Value::Bool(b)) => eb == b,
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => e == data,
        _ => false,
    }
}

/// `swag.IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let t = f.trunc();
    if f == t {
        return true;
    }
    let diff = (f - t).abs();
    if t == 0.0 {
        return diff < 1e-9 * f64::MIN_POSITIVE;
    }
    diff / (f.abs() + t.abs()) < 1e-9
}

// ---------------------------------------------------------------------------------------------
// String formats (kube-openapi's strfmt registry)

fn format_ok(f: StringFormat, s: &str) -> bool {
    match f {
        StringFormat::DateTime => is_date_time(s),
        StringFormat::Date => is_date(s),
        StringFormat::Byte => is_base64(s),
        StringFormat::Uuid(version) => is_uuid(s, version),
        StringFormat::Ipv4 => s.contains('.') && parse_ip_sloppy(s),
        StringFormat::Ipv6 => s.contains(':') && parse_ip_sloppy(s),
        StringFormat::Cidr => is_cidr(s),
        StringFormat::Mac => is_mac(s),
        StringFormat::Hostname => is_hostname(s),
        StringFormat::HexColor => is_hex_color(s),
        StringFormat::Ssn => is_ssn(s),
        StringFormat::Unchecked => true,
    }
}

/// strfmt's `IsDateTime`: a full date, `t`, then `HH:MM:SS`, optional fraction, and `z` or an
/// offset; case-insensitive.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let chars = time.chars().collect::<Vec<_>>();
    let two = |i: usize| {
        chars
            .get(i..i + 2)
            .is_some_and(|d| d.iter().all(char::is_ascii_digit))
    };
    if chars.len() < 8 || !two(0) || chars[2] != ':' || !two(3) || chars[5] != ':' || !two(6) {
        return false;
    }
    let zone = |rest: &[char]| {
        rest == ['z']
            || (rest.len() == 6
                && (rest[0] == '+' || rest[0] == '-')
                && rest[1..3].iter().all(char::is_ascii_digit)
                && rest[3] == ':'
                && rest[4..6].iter().all(char::is_ascii_digit))
    };
    let rest = &chars[8..];
    // `(.[0-9]+)?`: any one character, then digits.
    let fraction = rest.len() > 2 && rest[1].is_ascii_digit() && {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        zone(&rest[1 + digits..])
    };
    if !(zone(rest) || fraction) {
        return false;
    }
    let field = |i: usize| chars[i..i + 2].iter().collect::<String>();
    field(0).as_str() <= "23" && field(3).as_str() <= "59" && field(6).as_str() <= "59"
}

/// Go's `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// govalidator's base64 regex: groups of four, the last possibly padded.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let (body, last) = b.split_at(b.len() - 4);
    body.iter().all(alphabet)
        && match last {
            [a, b2, b'=', b'='] => alphabet(a) && alphabet(b2),
            [a, b2, c, b'='] => alphabet(a) && alphabet(b2) && alphabet(c),
            group => group.iter().all(alphabet),
        }
}

/// strfmt's UUID patterns: 8-4-4-4-12 hex digits, dashes optional, any case; versions 4 and 5
/// also fix the variant.
fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut hex = Vec::with_capacity(32);
    for (g, n) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if g > 0 && b.get(i) == Some(&b'-') {
            i += 1;
        }
        let Some(group) = b.get(i..i + n) else {
            return false;
        };
        if !group.iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        hex.extend(group.iter().map(u8::to_ascii_lowercase));
        i += n;
    }
    i == b.len()
        && match version {
            None => true,
            Some(v) => hex[12] == v && (v == b'3' || matches!(hex[16], b'8' | b'9' | b'a' | b'b')),
        }
}

/// `net.ParseIP` as k8s.io/utils forks it: IPv4 octets may have leading zeros.
fn parse_ip_sloppy(s: &str) -> bool {
    parse_ipv4_sloppy(s) || s.parse::<std::net::Ipv6Addr>().is_ok()
}

fn parse_ipv4_sloppy(s: &str) -> bool {
    let parts = s.split('.').collect::<Vec<_>>();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|c| c.is_ascii_digit())
                && p.trim_start_matches('0').len() <= 3
                && p.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let max = if parse_ipv4_sloppy(ip) {
        32
    } else if ip.parse::<std::net::Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    !bits.is_empty()
        && bits.bytes().all(|c| c.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|n| n <= max)
}

/// `net.ParseMAC`: 6, 8 or 20 octets separated by `:` or `-`, or dotted groups of four.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|c| c.is_ascii_hexdigit());
    for sep in [':', '-'] {
        if s.contains(sep) {
            let parts = s.split(sep).collect::<Vec<_>>();
            return matches!(parts.len(), 6 | 8 | 20) && parts.iter().all(|p| hex(p, 2));
        }
    }
    let parts = s.split('.').collect::<Vec<_>>();
    matches!(parts.len(), 3 | 4 | 10) && parts.iter().all(|p| hex(p, 4))
}

static HOSTNAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    )
    .ok()
});

fn is_hostname(s: &str) -> bool {
    HOSTNAME.as_ref().is_none_or(|re| re.is_match(s))
        && s.len() <= 255
        && s.split('.').all(|label| label.len() <= 63)
}

fn is_hex_color(s: &str) -> bool {
    let h = s.strip_prefix('#').unwrap_or(s);
    (h.len() == 3 || h.len() == 6) && h.bytes().all(|c| c.is_ascii_hexdigit())
}

/// `^\d{3}[- ]?\d{2}[- ]?\d{4}$`.
fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |n: usize, i: &mut usize| {
        let ok = b
            .get(*i..*i + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        *i += n;
        ok
    };
    let sep = |i: &mut usize| {
        if matches!(b.get(*i), Some(b'-' | b' ')) {
            *i += 1;
        }
    };
    let ok = digits(3, &mut i);
    sep(&mut i);
    let ok = ok && digits(2, &mut i);
    sep(&mut i);
    ok && digits(4, &mut i) && i == b.len()
}

// ---------------------------------------------------------------------------------------------
// Go renderings

/// A value as apimachinery's `ErrorBody` prints it: strings `%q`, numbers and booleans `%v`,
/// null as `null`, objects and lists as JSON.
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float(f),
        },
        Value::String(s) => go_quote(s),
        Value::Array(_) | Value::Object(_) => go_json(v),
    }
}

/// `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of `unicode.IsPrint`.
fn is_go_printable(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'))
}

/// Shortest decimal digits and decimal-point position of a finite, non-zero `f.abs()`.
fn shortest_digits(f: f64) -> (String, i32) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits = mantissa.replace('.', "");
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

fn fixed(digits: &str, dp: i32) -> String {
    let nd = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

fn exponential(digits: &str, dp: i32, min_exp_digits: usize) -> String {
    let exp = dp - 1;
    let mantissa = if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!(
        "{mantissa}e{sign}{:0width$}",
        exp.abs(),
        width = min_exp_digits
    )
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    // %v is %g with the shortest digits, which switches to %e from exponent 6 on.
    if !(-4..6).contains(&exp) {
        format!("{sign}{}", exponential(&digits, dp, 2))
    } else {
        format!("{sign}{}", fixed(&digits, dp))
    }
}

/// `encoding/json`'s float64 encoding.
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let (digits, dp) = shortest_digits(f);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        format!("{sign}{}", exponential(&digits, dp, 1))
    } else {
        format!("{sign}{}", fixed(&digits, dp))
    }
}

/// `encoding/json` of a string, HTML-escaped as Go does by default.
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `json.Marshal` of a decoded value: keys sorted, numbers as Go prints int64 and float64.
fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => out.push_str(&i.to_string()),
            Num::Float(f) => out.push_str(&go_json_float(f)),
        },
        Value::String(s) => out.push_str(&go_json_string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys = m.keys().collect::<Vec<_>>();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&go_json_string(k));
                out.push(':');
                write_go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn read(relative: &str) -> String {
        let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn documents(yaml: &str) -> Vec<Value> {
        yaml_serde::Deserializer::from_str(yaml)
            .map(|doc| Value::deserialize(doc).expect("YAML document"))
            .filter(|v| !v.is_null())
            .collect()
    }

    /// (CRD name, version, openAPIV3Schema) of every CRD version in a file.
    fn crd_versions(relative: &str) -> Vec<(String, String, Value)> {
        documents(&read(relative))
            .into_iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .flat_map(|d| {
                let name = d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                d["spec"]["versions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |v| {
                        (
                            name.clone(),
                            v["name"].as_str().unwrap_or_default().to_string(),
                            v["schema"]["openAPIV3Schema"].clone(),
                        )
                    })
            })
            .collect()
    }

    #[test]
    fn every_crd_version_compiles() {
        let mut failures = Vec::new();
        for file in [
            "tests/fixtures/argo-rollouts-crds-v1.8.4.yaml",
            "tests/fixtures/istio-networking-crds.yaml",
            "crds/crds.yaml",
        ] {
            let versions = crd_versions(file);
            assert!(!versions.is_empty(), "{file} has CRDs");
            for (name, version, schema) in versions {
                if let Err(e) = Schema::compile(&schema) {
                    failures.push(format!("{file} {name} {version}: {e}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn schema_of(relative: &str, crd: &str, version: &str) -> Schema {
        let (_, _, v) = crd_versions(relative)
            .into_iter()
            .find(|(n, v, _)| n == crd && v == version)
            .unwrap_or_else(|| panic!("{crd} {version} in {relative}"));
        Schema::compile(&v).expect("compiles")
    }

    const ARGO: &str = "tests/fixtures/argo-rollouts-crds-v1.8.4.yaml";
    const ISTIO: &str = "tests/fixtures/istio-networking-crds.yaml";
    const WEIR: &str = "crds/crds.yaml";

    fn yaml(text: &str) -> Value {
        documents(text)
            .into_iter()
            .next()
            .expect("one YAML document")
    }

    fn compile(schema: &str) -> Schema {
        Schema::compile(&yaml(schema)).unwrap_or_else(|e| panic!("compile: {e}"))
    }

    /// prune_and_default, then validate, as the server runs them on a write.
    fn admit(schema: &Schema, mut obj: Value) -> (Value, Vec<String>) {
        schema.prune_and_default(&mut obj);
        let errors = schema
            .validate(&obj)
            .iter()
            .map(ToString::to_string)
            .collect();
        (obj, errors)
    }

    fn errors(schema: &Schema, obj: Value) -> Vec<String> {
        admit(schema, obj).1
    }

    fn seeds(kind: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for dir in ["examples/seed-004", "examples/seed-002"] {
            let path = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
            let mut files = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect::<Vec<_>>();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).expect("seed file");
                for doc in documents(&text).into_iter().filter(|d| d["kind"] == kind) {
                    out.push((file.display().to_string(), doc));
                }
            }
        }
        assert!(!out.is_empty(), "seeds have a {kind}");
        out
    }

    /// A schema with one field `x` under `spec`, for the rule tables.
    fn field_schema(x: &str) -> Schema {
        let indented = x
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        compile(&format!(
            "type: object\nproperties:\n  spec:\n    type: object\n    properties:\n      x:\n{indented}\n"
        ))
    }

    #[test]
    fn value_rules_are_worded_as_the_api_server_words_them() {
        let cases: &[(&str, Value, &[&str])] = &[
            // type
            ("type: integer", json!(3), &[]),
            (
                "type: integer",
                json!("string"),
                &[
                    r#"spec.x: Invalid value: "string": spec.x in body must be of type integer: "string""#,
                ],
            ),
            ("type: integer", json!(2.0), &[]),
            (
                "type: integer",
                json!(2.5),
                &[
                    r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#,
                ],
            ),
            ("type: number", json!(2), &[]),
            (
                "{type: string}",
                json!({"a": 1}),
                &[
                    r#"spec.x: Invalid value: "object": spec.x in body must be of type string: "object""#,
                ],
            ),
            (
                "{type: boolean}",
                json!([true]),
                &[
                    r#"spec.x: Invalid value: "array": spec.x in body must be of type boolean: "array""#,
                ],
            ),
            // format affects the type check of integers
            (
                "{type: integer, format: int32}",
                json!(1.5),
                &[
                    r#"spec.x: Invalid value: "float64": spec.x in body must be of type int32: "float64""#,
                ],
            ),
            // int32's range is not enforced by kube-openapi
            (
                "{type: integer, format: int32}",
                json!(4_294_967_296_i64),
                &[],
            ),
            // nullable
            ("{type: string, nullable: true}", json!(null), &[]),
            // enum
            ("{type: string, enum: [b, c]}", json!("b"), &[]),
            (
                "{type: string, enum: [b, c]}",
                json!("a"),
                &[r#"spec.x: Unsupported value: "a": supported values: "b", "c""#],
            ),
            (
                "{type: integer, enum: [1, 2]}",
                json!(3),
                &[r#"spec.x: Unsupported value: 3: supported values: "1", "2""#],
            ),
            (
                "{type: string, nullable: true, enum: [b]}",
                json!(null),
                &[r#"spec.x: Unsupported value: null: supported values: "b""#],
            ),
            // numbers
            ("{type: integer, maximum: 100}", json!(100), &[]),
            (
                "{type: integer, maximum: 100}",
                json!(101),
                &["spec.x: Invalid value: 101: spec.x in body should be less than or equal to 100"],
            ),
            (
                "{type: integer, maximum: 100, exclusiveMaximum: true}",
                json!(100),
                &["spec.x: Invalid value: 100: spec.x in body should be less than 100"],
            ),
            (
                "{type: number, maximum: 100}",
                json!(100.5),
                &[
                    "spec.x: Invalid value: 100.5: spec.x in body should be less than or equal to 100",
                ],
            ),
            (
                "{type: number, maximum: 1000000}",
                json!(1_000_000.5),
                &[
                    "spec.x: Invalid value: 1.0000005e+06: spec.x in body should be less than or equal to 1e+06",
                ],
            ),
            (
                "{type: integer, minimum: 0}",
                json!(-1),
                &["spec.x: Invalid value: -1: spec.x in body should be greater than or equal to 0"],
            ),
            (
                "{type: integer, minimum: 0, exclusiveMinimum: true}",
                json!(0),
                &["spec.x: Invalid value: 0: spec.x in body should be greater than 0"],
            ),
            ("{type: integer, multipleOf: 5}", json!(10), &[]),
            (
                "{type: integer, multipleOf: 5}",
                json!(7),
                &["spec.x: Invalid value: 7: spec.x in body should be a multiple of 5"],
            ),
            ("{type: number, multipleOf: 0.5}", json!(2.5), &[]),
            (
                "{type: number, multipleOf: 0.5}",
                json!(2.25),
                &["spec.x: Invalid value: 2.25: spec.x in body should be a multiple of 0.5"],
            ),
            // strings: runes are counted, the message says bytes
            ("{type: string, maxLength: 5}", json!("ééééé"), &[]),
            (
                "{type: string, maxLength: 5}",
                json!("abcdef"),
                &["spec.x: Too long: may not be more than 5 bytes"],
            ),
            (
                "{type: string, maxLength: 1}",
                json!("ab"),
                &["spec.x: Too long: may not be more than 1 byte"],
            ),
            (
                "{type: string, minLength: 3}",
                json!("ab"),
                &[r#"spec.x: Invalid value: "ab": spec.x in body should be at least 3 chars long"#],
            ),
            (
                "{type: string, pattern: '^[a-z]+$'}",
                json!("A1"),
                &[r#"spec.x: Invalid value: "A1": spec.x in body should match '^[a-z]+$'"#],
            ),
            // Go's \d is ASCII
            (
                r"{type: string, pattern: '^\d+$'}",
                json!("٣"),
                &[r#"spec.x: Invalid value: "٣": spec.x in body should match '^\d+$'"#],
            ),
            // the string validator stops at its first failure
            (
                "{type: string, maxLength: 2, pattern: '^[0-9]+$'}",
                json!("abc"),
                &["spec.x: Too long: may not be more than 2 bytes"],
            ),
            // arrays
            (
                "{type: array, items: {type: string}, maxItems: 2}",
                json!(["a", "b", "c"]),
                &["spec.x: Too many: 3: must have at most 2 items"],
            ),
            (
                "{type: array, items: {type: string}, maxItems: 1}",
                json!(["a", "b"]),
                &["spec.x: Too many: 2: must have at most 1 item"],
            ),
            (
                "{type: array, items: {type: string}, minItems: 1}",
                json!([]),
                &["spec.x: Invalid value: 0: spec.x in body should have at least 1 items"],
            ),
            (
                "{type: array, items: {type: integer}}",
                json!([1, "two"]),
                &[
                    r#"spec.x[1]: Invalid value: "string": spec.x[1] in body must be of type integer: "string""#,
                ],
            ),
            // a null item is not pruned
            (
                "{type: array, items: {type: string}}",
                json!(["a", null]),
                &[
                    r#"spec.x[1]: Invalid value: "null": spec.x[1] in body must be of type string: "null""#,
                ],
            ),
            // objects
            (
                "{type: object, additionalProperties: {type: string}, maxProperties: 1}",
                json!({"a": "1", "b": "2"}),
                &["spec.x: Too many: 2: must have at most 1 item"],
            ),
            (
                "{type: object, additionalProperties: {type: string}, minProperties: 1}",
                json!({}),
                &["spec.x: Invalid value: 0: spec.x in body should have at least 1 properties"],
            ),
            (
                "{type: object, additionalProperties: {type: string}}",
                json!({"a": 1}),
                &[
                    r#"spec.x.a: Invalid value: "integer": spec.x.a in body must be of type string: "integer""#,
                ],
            ),
            (
                "{type: object, properties: {a: {type: string}, b: {type: string}}, required: [a, b]}",
                json!({"b": "x"}),
                &["spec.x.a: Required value"],
            ),
            // a present null satisfies required (only non-nullable nulls are pruned first)
            (
                "{type: object, properties: {a: {type: string, nullable: true}}, required: [a]}",
                json!({"a": null}),
                &[],
            ),
            (
                "{type: object, properties: {a: {type: string}}, required: [a]}",
                json!({"a": null}),
                &["spec.x.a: Required value"],
            ),
            // min/maxProperties end the object's validation
            (
                "{type: object, properties: {a: {type: string}}, maxProperties: 0}",
                json!({"a": 1}),
                &["spec.x: Too many: 1: must have at most 0 items"],
            ),
            // string formats
            (
                "{type: string, format: date-time}",
                json!("2024-01-02T03:04:05Z"),
                &[],
            ),
            (
                "{type: string, format: date-time}",
                json!("2024-01-02t03:04:05.123+02:00"),
                &[],
            ),
            (
                "{type: string, format: date-time}",
                json!("yesterday"),
                &[
                    r#"spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday""#,
                ],
            ),
            (
                "{type: string, format: date-time}",
                json!("2024-02-30T00:00:00Z"),
                &[
                    r#"spec.x: Invalid value: "2024-02-30T00:00:00Z": spec.x in body must be of type date-time: "2024-02-30T00:00:00Z""#,
                ],
            ),
            (
                "{type: string, format: date-time}",
                json!("2024-01-02T24:00:00Z"),
                &[
                    r#"spec.x: Invalid value: "2024-01-02T24:00:00Z": spec.x in body must be of type date-time: "2024-01-02T24:00:00Z""#,
                ],
            ),
            ("{type: string, format: date}", json!("2024-02-29"), &[]),
            (
                "{type: string, format: date}",
                json!("2023-02-29"),
                &[
                    r#"spec.x: Invalid value: "2023-02-29": spec.x in body must be of type date: "2023-02-29""#,
                ],
            ),
            ("{type: string, format: byte}", json!("aGVsbG8="), &[]),
            (
                "{type: string, format: byte}",
                json!("hello!"),
                &[
                    r#"spec.x: Invalid value: "hello!": spec.x in body must be of type byte: "hello!""#,
                ],
            ),
            (
                "{type: string, format: uuid}",
                json!("123e4567-e89b-12d3-a456-426614174000"),
                &[],
            ),
            (
                "{type: string, format: uuid4}",
                json!("123e4567-e89b-12d3-a456-426614174000"),
                &[
                    r#"spec.x: Invalid value: "123e4567-e89b-12d3-a456-426614174000": spec.x in body must be of type uuid4: "123e4567-e89b-12d3-a456-426614174000""#,
                ],
            ),
            ("{type: string, format: ipv4}", json!("10.0.0.01"), &[]),
            (
                "{type: string, format: ipv4}",
                json!("10.0.0.256"),
                &[
                    r#"spec.x: Invalid value: "10.0.0.256": spec.x in body must be of type ipv4: "10.0.0.256""#,
                ],
            ),
            ("{type: string, format: cidr}", json!("fd00::/8"), &[]),
            (
                "{type: string, format: hostname}",
                json!("api.example.com"),
                &[],
            ),
            (
                "{type: string, format: hostname}",
                json!("-bad-.example.com"),
                &[
                    r#"spec.x: Invalid value: "-bad-.example.com": spec.x in body must be of type hostname: "-bad-.example.com""#,
                ],
            ),
            // unsupported formats are dropped by the server
            ("{type: string, format: int32}", json!("anything"), &[]),
        ];
        for (schema, value, want) in cases {
            let s = field_schema(schema);
            let got = errors(&s, json!({"spec": {"x": value}}));
            assert_eq!(got, *want, "schema {schema}, value {value}");
        }
    }

    #[test]
    fn int_or_string_accepts_both_and_reports_the_anyof() {
        let s = field_schema(
            "anyOf: [{type: integer}, {type: string}]\nx-kubernetes-int-or-string: true",
        );
        assert!(errors(&s, json!({"spec": {"x": 1}})).is_empty());
        assert!(errors(&s, json!({"spec": {"x": "25%"}})).is_empty());
        assert_eq!(
            errors(&s, json!({"spec": {"x": true}})),
            [
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean""#,
                r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer: "boolean""#,
            ]
        );
        // Argo's own int-or-string fields
        let argo = schema_of(ARGO, "rollouts.argoproj.io", "v1alpha1");
        for surge in [json!("25%"), json!(2)] {
            let ro = json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
                "spec": {"strategy": {"canary": {"maxSurge": surge, "maxUnavailable": 0}}}
            });
            assert_eq!(errors(&argo, ro), Vec::<String>::new());
        }
    }

    #[test]
    fn junctors_report_the_best_alternative() {
        let s = field_schema(
            "type: object\nproperties: {a: {type: string}, b: {type: string}}\n\
             oneOf: [{required: [a]}, {required: [b]}]",
        );
        assert!(errors(&s, json!({"spec": {"x": {"a": "1"}}})).is_empty());
        assert_eq!(
            errors(&s, json!({"spec": {"x": {"a": "1", "b": "2"}}})),
            [
                r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
            ]
        );
        assert_eq!(
            errors(&s, json!({"spec": {"x": {}}})),
            [
                r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found none valid"#,
                "spec.x.a: Required value",
            ]
        );
        let s = field_schema(
            "type: object\nproperties: {a: {type: string}, b: {type: string}}\n\
             anyOf: [{required: [a]}, {required: [b]}]",
        );
        assert_eq!(
            errors(&s, json!({"spec": {"x": {}}})),
            [
                r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
                "spec.x.a: Required value",
            ]
        );
        let s = field_schema("type: integer\nallOf: [{minimum: 1}, {maximum: 5}]");
        assert_eq!(
            errors(&s, json!({"spec": {"x": 9}})),
            [
                "spec.x: Invalid value: 9: spec.x in body should be less than or equal to 5",
                r#"<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)"#,
            ]
        );
        let s = field_schema("type: string\nnot: {enum: [forbidden]}");
        assert!(errors(&s, json!({"spec": {"x": "fine"}})).is_empty());
        assert_eq!(
            errors(&s, json!({"spec": {"x": "forbidden"}})),
            [r#"<nil>: Invalid value: "": "spec.x" must not validate the schema (not)"#]
        );
    }

    #[test]
    fn pruning_drops_unknown_fields_unless_preserved() {
        let s = compile(
            "type: object
properties:
  spec:
    type: object
    properties:
      known: {type: string}
      open:
        type: object
        x-kubernetes-preserve-unknown-fields: true
        properties:
          closed: {type: object, properties: {a: {type: string}}}
      labels:
        type: object
        additionalProperties: {type: object, properties: {v: {type: string}}}
      anything:
        type: object
        additionalProperties: true
      list:
        type: array
        items: {type: object, properties: {a: {type: string}}}
",
        );
        let obj = json!({
            "apiVersion": "x/v1", "kind": "X",
            "metadata": {"name": "n", "bogus": 1, "labels": {}, "ownerReferences": [{"name": "o", "extra": 1}]},
            "spec": {
                "known": "k", "unknown": 1,
                "open": {"kept": {"deep": 1}, "closed": {"a": "1", "b": 2}},
                "labels": {"x": {"v": "1", "w": "2"}},
                "anything": {"scalar": 1, "obj": {"dropped": 1}},
                "list": [{"a": "1", "b": 2}],
            },
            "status": {"weir": {}},
        });
        assert_eq!(
            s.pruned_paths(&obj),
            [
                "metadata.bogus",
                "metadata.ownerReferences[0].extra",
                "spec.anything.obj.dropped",
                "spec.labels.x.w",
                "spec.list[0].b",
                "spec.open.closed.b",
                "spec.unknown",
                "status",
            ]
        );
        let (pruned, errs) = admit(&s, obj);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            pruned,
            json!({
                "apiVersion": "x/v1", "kind": "X",
                "metadata": {"name": "n", "ownerReferences": [{"name": "o"}]},
                "spec": {
                    "known": "k",
                    "open": {"kept": {"deep": 1}, "closed": {"a": "1"}},
                    "labels": {"x": {"v": "1"}},
                    "anything": {"scalar": 1, "obj": {}},
                    "list": [{"a": "1"}],
                },
            })
        );
    }

    #[test]
    fn embedded_resources_keep_their_type_and_object_meta() {
        let s = compile(
            "type: object
properties:
  spec:
    type: object
    properties:
      template:
        type: object
        x-kubernetes-embedded-resource: true
        properties:
          spec: {type: object, properties: {a: {type: string}}}
",
        );
        let (pruned, errs) = admit(
            &s,
            json!({"spec": {"template": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "junk": true, "annotations": {"a": "b"}},
                "spec": {"a": "1", "b": 2},
                "other": 1,
            }}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            pruned,
            json!({"spec": {"template": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "annotations": {"a": "b"}},
                "spec": {"a": "1"},
            }}})
        );
    }

    #[test]
    fn nulls_and_defaults_follow_the_server() {
        let s = compile(
            "type: object
properties:
  spec:
    type: object
    properties:
      plain: {type: string}
      open: {type: string, nullable: true}
      withDefault: {type: string, default: d}
      nullableDefault: {type: string, nullable: true, default: d}
      nested:
        type: object
        default: {}
        properties:
          inner: {type: integer, default: 3}
      absentParent:
        type: object
        properties:
          inner: {type: integer, default: 3}
      list:
        type: array
        items: {type: string, default: item}
      map:
        type: object
        additionalProperties: {type: string, default: value}
",
        );
        let (obj, errs) = admit(
            &s,
            json!({"spec": {
                "plain": null, "open": null, "withDefault": null, "nullableDefault": null,
                "list": ["a", null], "map": {"k": null},
            }}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            obj,
            json!({"spec": {
                "open": null,
                "withDefault": "d",
                "nullableDefault": null,
                "nested": {"inner": 3},
                "list": ["a", "item"],
                "map": {"k": "value"},
            }})
        );
        // Nothing is defaulted under an absent parent; an absent spec gets nothing at all.
        let (obj, _) = admit(&s, json!({"metadata": {"name": "n"}}));
        assert_eq!(obj, json!({"metadata": {"name": "n"}}));
    }

    #[test]
    fn list_types_reject_duplicates() {
        let s = compile(
            "type: object
properties:
  spec:
    type: object
    properties:
      ports:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [port, protocol]
        items:
          type: object
          required: [port]
          properties:
            port: {type: integer}
            protocol: {type: string, default: TCP}
      names:
        type: array
        x-kubernetes-list-type: map
        x-kubernetes-list-map-keys: [name]
        items: {type: object, required: [name], properties: {name: {type: string}}}
      tags:
        type: array
        x-kubernetes-list-type: set
        items: {type: string}
      byKey:
        type: object
        additionalProperties:
          type: array
          x-kubernetes-list-type: set
          items: {type: integer}
      atomic:
        type: array
        x-kubernetes-list-type: atomic
        items: {type: string}
",
        );
        assert_eq!(
            errors(
                &s,
                json!({"spec": {
                    "ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}],
                    "names": [{"name": "a"}, {"name": "b"}, {"name": "a"}, {"name": "a"}],
                    "tags": ["x", "y", "x"],
                    "byKey": {"k": [1, 1]},
                    "atomic": ["z", "z"],
                }})
            ),
            [
                "spec.byKey[k][1]: Duplicate value: 1",
                r#"spec.names[2]: Duplicate value: {"name":"a"}"#,
                r#"spec.ports[2]: Duplicate value: {"port":80,"protocol":"TCP"}"#,
                r#"spec.tags[2]: Duplicate value: "x""#,
            ]
        );
        assert_eq!(
            errors(&s, json!({"spec": {"names": [{"name": "a"}, "b"]}})),
            [
                r#"spec.names[1]: Invalid value: "string": spec.names[1] in body must be of type object: "string""#,
                r#"spec.names[1]: Invalid value: "b": must be an object for an array of list-type map"#,
            ]
        );
    }

    #[test]
    fn compile_names_what_the_crd_api_rejects() {
        let cases: &[(&str, &str)] = &[
            (
                "type: object\nproperties: {a: {type: array, items: {type: string}, uniqueItems: true}}",
                "openAPIV3Schema.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ),
            (
                "type: object\nproperties: {a: {}}",
                "openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields",
            ),
            (
                "type: object\nproperties: {a: {type: array}}",
                "openAPIV3Schema.properties[a].items: Required value: must be specified",
            ),
            (
                "type: object\nproperties: {a: {$ref: '#/x'}}",
                "openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported",
            ),
            (
                "type: object\nproperties: {a: {type: string, anyOf: [{type: string}]}}",
                "openAPIV3Schema.properties[a].anyOf[0].type: Forbidden: must be empty to be structural",
            ),
            (
                "type: object\nproperties: {a: {type: object, anyOf: [{properties: {b: {minLength: 1}}}]}}",
                "openAPIV3Schema.properties[a].properties[b]: Required value: because it is defined in openAPIV3Schema.properties[a].anyOf[0].properties[b]",
            ),
            (
                "type: object\nproperties: {a: {type: integer, default: x}}",
                r#"openAPIV3Schema.properties[a].default: Invalid value: "string":  in body must be of type integer: "string""#,
            ),
            (
                "type: object\nproperties: {a: {type: object, properties: {b: {type: string}}, default: {c: 1}}}",
                r#"openAPIV3Schema.properties[a].default: Invalid value: {"c":1}: must not have unknown fields"#,
            ),
            (
                "type: object\nproperties: {a: {type: array, x-kubernetes-list-type: map, x-kubernetes-list-map-keys: [k], items: {type: object, properties: {k: {type: string}}}}}",
                "openAPIV3Schema.properties[a].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ),
            (
                "type: object\nnullable: true",
                "openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root",
            ),
            (
                "type: object\nproperties: {metadata: {type: object, properties: {labels: {type: object}}}}",
                "openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
            ),
            (
                "type: object\nproperties: {a: {type: object, properties: {b: {type: string}}, additionalProperties: {type: string}}}",
                "openAPIV3Schema.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
            ),
            (
                "type: object\nproperties: {a: {type: object, x-kubernetes-preserve-unknown-fields: false}}",
                "openAPIV3Schema.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined",
            ),
            (
                "type: object\nproperties: {a: {type: string, pattern: '(['}}",
                "openAPIV3Schema.properties[a].pattern: Invalid value: \"([\": must be a valid regular expression",
            ),
            (
                "type: object\nproperties: {a: {type: strin}}",
                r#"openAPIV3Schema.properties[a].type: Unsupported value: "strin": supported values: "array", "boolean", "integer", "number", "object", "string""#,
            ),
            (
                "type: object\nproperties: {a: {type: string, maxLenght: 3}}",
                "openAPIV3Schema.properties[a].maxLenght: Forbidden: unknown field",
            ),
            (
                "type: object\nproperties: {metadata: {type: object, default: {}}}",
                "openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata",
            ),
        ];
        for (schema, want) in cases {
            match Schema::compile(&yaml(schema)) {
                Ok(_) => panic!("{schema} compiled"),
                Err(e) => assert!(e.contains(want), "{schema}:\n got {e}\nwant {want}"),
            }
        }
        // The int-or-string anyOf may carry types; so may uniqueItems: false and CEL rules.
        compile(
            "type: object\nproperties:\n  a: {anyOf: [{type: integer}, {type: string}], x-kubernetes-int-or-string: true}\n  \
             b: {type: array, items: {type: string}, uniqueItems: false}\n  \
             c: {type: string, x-kubernetes-validations: [{rule: self != ''}]}",
        );
    }

    #[test]
    fn argo_rollout_schema_prunes_weirs_status_extension() {
        let argo = schema_of(ARGO, "rollouts.argoproj.io", "v1alpha1");
        let weir = schema_of(WEIR, "rollouts.argoproj.io", "v1alpha1");
        let (_, seed) = seeds("Rollout").remove(0);
        let mut ro = seed.clone();
        ro["status"] = json!({
            "phase": "Progressing",
            "observedGeneration": "3",
            "canary": {"weights": {
                "canary": {"weight": 10, "podTemplateHash": "abc"},
                "stable": {"weight": 90, "podTemplateHash": "def"},
            }},
            "conditions": [{
                "type": "Progressing", "status": "True", "reason": "RolloutUpdated",
                "message": "updated", "lastUpdateTime": "2024-01-02T03:04:05Z",
                "lastTransitionTime": "2024-01-02T03:04:05Z",
            }],
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-02T03:04:05Z"}],
            "weir": {"held": [{"podHash": "abc", "images": ["app:v2"], "reason": "failed"}]},
        });
        assert_eq!(argo.pruned_paths(&ro), ["status.weir"]);
        assert!(weir.pruned_paths(&ro).is_empty());
        let (kept, errs) = admit(&argo, ro.clone());
        assert!(errs.is_empty(), "{errs:?}");
        assert!(kept["status"].get("weir").is_none());
        assert_eq!(
            kept["status"]["canary"]["weights"],
            ro["status"]["canary"]["weights"]
        );
        assert_eq!(kept["status"]["conditions"], ro["status"]["conditions"]);
        assert_eq!(
            kept["status"]["pauseConditions"],
            ro["status"]["pauseConditions"]
        );
        let (_, errs) = admit(&weir, ro.clone());
        assert!(errs.is_empty(), "{errs:?}");

        // Argo's status is closed and typed.
        let mut bad = ro;
        bad["status"]["conditions"][0]["lastUpdateTime"] = json!("yesterday");
        bad["status"]["canary"]["weights"]["canary"] = json!({"podTemplateHash": "abc"});
        assert_eq!(
            errors(&argo, bad),
            [
                "status.canary.weights.canary.weight: Required value",
                r#"status.conditions[0].lastUpdateTime: Invalid value: "yesterday": status.conditions[0].lastUpdateTime in body must be of type date-time: "yesterday""#,
            ]
        );
    }

    #[test]
    fn argo_prunes_the_fields_weir_adds_to_its_rollouts() {
        let argo = schema_of(ARGO, "rollouts.argoproj.io", "v1alpha1");
        let weir = schema_of(WEIR, "rollouts.argoproj.io", "v1alpha1");
        let (_, mut ro) = seeds("Rollout").remove(0);
        ro["spec"]["strategy"]["canary"]["replicaProgressThreshold"] =
            json!({"type": "Percent", "value": 90});
        ro["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["destinationRule"]["additionalSubsetNames"] =
            json!(["preview"]);
        ro["status"] = json!({"weir": {"held": []}});
        assert!(weir.pruned_paths(&ro).is_empty());
        assert_eq!(
            argo.pruned_paths(&ro),
            [
                "spec.strategy.canary.replicaProgressThreshold",
                "spec.strategy.canary.trafficRouting.istio.destinationRule.additionalSubsetNames",
                "status.weir",
            ]
        );
    }

    #[test]
    fn argo_analysis_run_status_requires_phases() {
        let s = schema_of(ARGO, "analysisruns.argoproj.io", "v1alpha1");
        let run = |status: Value| {
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": {"name": "r"},
                "spec": {"metrics": [{"name": "m", "provider": {"prometheus": {"query": "up"}}}]},
                "status": status,
            })
        };
        assert_eq!(errors(&s, run(json!({}))), ["status.phase: Required value"]);
        assert_eq!(
            errors(
                &s,
                run(
                    json!({"phase": "Running", "metricResults": [{"name": "m", "phase": "Running", "measurements": [{"value": "1"}]}]})
                )
            ),
            ["status.metricResults[0].measurements[0].phase: Required value"]
        );
        assert!(errors(&s, run(json!({"phase": "Successful"}))).is_empty());
    }

    #[test]
    fn seed_rollouts_and_templates_validate_against_weir_and_argo() {
        for (crd, kind) in [
            ("rollouts.argoproj.io", "Rollout"),
            ("analysistemplates.argoproj.io", "AnalysisTemplate"),
        ] {
            let argo = schema_of(ARGO, crd, "v1alpha1");
            let weir = schema_of(WEIR, crd, "v1alpha1");
            for (file, doc) in seeds(kind) {
                for (name, s) in [("argo", &argo), ("weir", &weir)] {
                    let (_, errs) = admit(s, doc.clone());
                    assert!(errs.is_empty(), "{file} against {name}: {errs:?}");
                }
            }
        }
    }

    #[test]
    fn seed_istio_resources_validate_against_v1alpha3() {
        let vs = schema_of(ISTIO, "virtualservices.networking.istio.io", "v1alpha3");
        let dr = schema_of(ISTIO, "destinationrules.networking.istio.io", "v1alpha3");
        for (kind, s) in [("VirtualService", &vs), ("DestinationRule", &dr)] {
            for (file, doc) in seeds(kind) {
                assert!(s.pruned_paths(&doc).is_empty(), "{file}");
                let (_, errs) = admit(s, doc);
                assert!(errs.is_empty(), "{file}: {errs:?}");
            }
        }
        let (_, mut doc) = seeds("VirtualService").remove(0);
        doc["spec"]["http"][0]["route"][0]["destination"]["weightHint"] = json!(5);
        assert_eq!(
            vs.pruned_paths(&doc),
            ["spec.http[0].route[0].destination.weightHint"]
        );
        let (pruned, errs) = admit(&vs, doc.clone());
        assert!(errs.is_empty(), "{errs:?}");
        assert!(
            pruned["spec"]["http"][0]["route"][0]["destination"]
                .get("weightHint")
                .is_none()
        );

        doc["spec"]["http"][0]["route"][1]["weight"] = json!("fifty");
        assert_eq!(
            errors(&vs, doc),
            [
                r#"spec.http[0].route[1].weight: Invalid value: "string": spec.http[0].route[1].weight in body must be of type integer: "string""#
            ]
        );
    }

    #[test]
    fn argo_list_map_keys_reject_duplicate_ports_after_defaulting() {
        let argo = schema_of(ARGO, "rollouts.argoproj.io", "v1alpha1");
        let (_, mut ro) = seeds("Rollout").remove(0);
        // protocol defaults to TCP, so the two ports collide on (3000, TCP).
        ro["spec"]["template"]["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": 3000}, {"containerPort": 3000, "protocol": "TCP"}]);
        assert_eq!(
            errors(&argo, ro),
            [
                r#"spec.template.spec.containers[0].ports[1]: Duplicate value: {"containerPort":3000,"protocol":"TCP"}"#
            ]
        );
    }

    #[test]
    fn schema_is_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Schema>();
    }

    #[test]
    fn patterns_use_re2_meanings() {
        let cases: &[(&str, &str, bool)] = &[
            (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "my-app", true),
            (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "-app", false),
            (r"^\w+$", "héllo", false),
            (r"^\s$", "\u{a0}", false),
            (r"^[]a]+$", "a]a", true),
            (r"^[[:alpha:]]+$", "abc", true),
            (r"^[a&]+$", "&a", true),
            (r"\bfoo\b", "a foo b", true),
            // unanchored, as Go's MatchString
            ("b", "abc", true),
        ];
        for (pattern, input, matches) in cases {
            let re = compile_pattern(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(re.is_match(input), *matches, "{pattern} on {input:?}");
        }
    }

    #[test]
    fn more_structure_rules() {
        // additionalProperties: false keeps keys (emptying object values) but rejects them.
        let s = field_schema("type: object\nadditionalProperties: false");
        assert_eq!(
            admit(&s, json!({"spec": {"x": {"k": {"a": 1}}}})),
            (
                json!({"spec": {"x": {"k": {}}}}),
                vec![
                    r#"spec.x: Invalid value: "k": spec.x.k in body is a forbidden property"#
                        .to_string()
                ]
            )
        );
        // Items of a preserved list keep unknown fields, and their declared fields are checked.
        let s = field_schema(
            "type: array\nx-kubernetes-preserve-unknown-fields: true\n\
             items: {type: object, properties: {a: {type: string}}}",
        );
        let (obj, errs) = admit(&s, json!({"spec": {"x": [{"a": 1, "b": 2}]}}));
        assert_eq!(obj, json!({"spec": {"x": [{"a": 1, "b": 2}]}}));
        assert_eq!(
            errs,
            [
                r#"spec.x[0].a: Invalid value: "integer": spec.x[0].a in body must be of type string: "integer""#
            ]
        );
        // A list-map item without its key collides with another such item.
        let s = field_schema(
            "type: array\nx-kubernetes-list-type: map\nx-kubernetes-list-map-keys: [name]\n\
             items: {type: object, properties: {name: {type: string, default: ''}, v: {type: string}}}",
        );
        let (obj, errs) = admit(&s, json!({"spec": {"x": [{"v": "1"}, {"v": "2"}]}}));
        assert_eq!(
            obj["spec"]["x"],
            json!([{"name": "", "v": "1"}, {"name": "", "v": "2"}])
        );
        assert_eq!(errs, [r#"spec.x[1]: Duplicate value: {"name":""}"#]);
        // Sets of objects compare whole items.
        let s = field_schema(
            "type: array\nx-kubernetes-list-type: set\n\
             items: {type: object, x-kubernetes-map-type: atomic, properties: {a: {type: number}}}",
        );
        assert_eq!(
            errors(&s, json!({"spec": {"x": [{"a": 1}, {"a": 1.0}]}})),
            [r#"spec.x[1]: Duplicate value: {"a":1}"#]
        );
        for (schema, want) in [
            (
                "type: string\nx-kubernetes-list-type: set",
                "openAPIV3Schema.properties[spec].properties[x].type: Invalid value: \"string\": must be array if x-kubernetes-list-type is specified",
            ),
            (
                "type: array\nx-kubernetes-list-type: set\nitems: {type: object}",
                "openAPIV3Schema.properties[spec].properties[x].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set",
            ),
            (
                "type: object\nx-kubernetes-map-type: sparse",
                r#"openAPIV3Schema.properties[spec].properties[x].x-kubernetes-map-type: Unsupported value: "sparse": supported values: "atomic", "granular""#,
            ),
            (
                "type: object\nx-kubernetes-embedded-resource: true",
                "openAPIV3Schema.properties[spec].properties[x].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
            ),
        ] {
            let text = format!(
                "type: object\nproperties:\n  spec:\n    type: object\n    properties:\n      x:\n{}\n",
                schema
                    .lines()
                    .map(|l| format!("        {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let err = Schema::compile(&yaml(&text)).err().unwrap_or_default();
            assert!(err.contains(want), "{schema}:\n got {err}\nwant {want}");
        }
    }

    #[test]
    fn go_renderings() {
        for (f, want) in [
            (100.0, "100"),
            (100.5, "100.5"),
            (1e6, "1e+06"),
            (123_456.0, "123456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(go_float(f), want);
        }
        assert_eq!(
            go_json(&json!({"b": 1.0, "a": "<&>", "c": [1e21, 0.5]})),
            r#"{"a":"\u003c\u0026\u003e","b":1,"c":[1e+21,0.5]}"#
        );
        assert_eq!(go_quote("a\"b\\\n\u{7}é"), r#""a\"b\\\n\aé""#);
    }
}
