//! Which resources the server serves, as discovery would report them: the built-in kinds Weir
//! and its tests touch, plus one entry per stored CustomResourceDefinition. A resource that is
//! not here is answered with 404, exactly like a cluster where the CRD was never installed; a
//! custom resource's scope, status subresource and schema come from its CRD and nothing else.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::field::{self, FieldError};
use super::meta::GroupResource;
use super::schema::Schema;

/// One served version of a resource.
#[derive(Clone)]
pub(crate) struct Version {
    pub name: String,
    /// `/status` is a separate endpoint, and main-resource writes keep the stored status.
    pub status: bool,
    /// Custom resources only: what kube-apiserver prunes, defaults and validates with.
    pub schema: Option<Arc<Schema>>,
}

#[derive(Clone)]
pub(crate) struct Resource {
    pub group: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub short_names: Vec<String>,
    pub namespaced: bool,
    /// Served versions, the storage version first.
    pub versions: Vec<Version>,
    /// Subresources other than status (`pods/eviction`, `namespaces/finalize`). `/scale` is not
    /// served: nothing Weir does uses it.
    pub extra_subresources: &'static [&'static str],
    /// Defined by a CustomResourceDefinition rather than built in.
    pub custom: bool,
}

impl Resource {
    pub fn key(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    pub fn version(&self, name: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// The version an object's own `apiVersion` names, else the storage version.
    pub fn version_of(&self, obj: &Value) -> Option<&Version> {
        obj.get("apiVersion")
            .and_then(Value::as_str)
            .map(|v| v.rsplit_once('/').map_or(v, |(_, version)| version))
            .and_then(|v| self.version(v))
            .or_else(|| self.versions.first())
    }

    /// Whether `/status` exists for the object's version (the same for every version of the
    /// built-in kinds and, in practice, of every CRD Weir meets).
    pub fn status_subresource(&self, obj: &Value) -> bool {
        self.version_of(obj).is_some_and(|v| v.status)
    }

    pub fn has_subresource(&self, version: &str, sub: &str) -> bool {
        match sub {
            "status" => self.version(version).is_some_and(|v| v.status),
            other => self.extra_subresources.contains(&other),
        }
    }

    /// `Rollout.argoproj.io`, or `Pod` in the core group, as `is invalid` messages name kinds.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn qualified(&self) -> String {
        self.key().qualified()
    }
}

/// (group, version, plural, kind, namespaced, status subresource, other subresources)
type BuiltIn = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    &'static [&'static str],
);

/// The built-in kinds a Weir cluster has and Weir, its tests or its Git revert read or write.
const BUILT_IN: &[BuiltIn] = &[
    ("", "v1", "pods", "Pod", true, true, &["eviction"]),
    ("", "v1", "services", "Service", true, true, &[]),
    ("", "v1", "configmaps", "ConfigMap", true, false, &[]),
    ("", "v1", "secrets", "Secret", true, false, &[]),
    (
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        false,
        &[],
    ),
    ("", "v1", "endpoints", "Endpoints", true, false, &[]),
    ("", "v1", "events", "Event", true, false, &[]),
    (
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        true,
        &["finalize"],
    ),
    ("", "v1", "nodes", "Node", false, true, &[]),
    ("apps", "v1", "replicasets", "ReplicaSet", true, true, &[]),
    ("apps", "v1", "deployments", "Deployment", true, true, &[]),
    ("apps", "v1", "statefulsets", "StatefulSet", true, true, &[]),
    ("apps", "v1", "daemonsets", "DaemonSet", true, true, &[]),
    ("events.k8s.io", "v1", "events", "Event", true, false, &[]),
    (
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        false,
        &[],
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        true,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        false,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        false,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        false,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        false,
        &[],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        true,
        &[],
    ),
];

pub(crate) fn crds() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

/// Names and scope of a CRD, validated as kube-apiserver validates a CRD on create.
struct CrdNames {
    group: String,
    plural: String,
    singular: String,
    kind: String,
    short_names: Vec<String>,
    namespaced: bool,
}

#[derive(Clone)]
pub(crate) struct Registry {
    resources: HashMap<GroupResource, Arc<Resource>>,
}

impl Default for Registry {
    fn default() -> Self {
        let resources = BUILT_IN
            .iter()
            .map(
                |&(group, version, plural, kind, namespaced, status, extra)| {
                    let resource = Resource {
                        group: group.to_string(),
                        plural: plural.to_string(),
                        singular: kind.to_ascii_lowercase(),
                        kind: kind.to_string(),
                        short_names: Vec::new(),
                        namespaced,
                        versions: vec![Version {
                            name: version.to_string(),
                            status,
                            schema: None,
                        }],
                        extra_subresources: extra,
                        custom: false,
                    };
                    (resource.key(), Arc::new(resource))
                },
            )
            .collect();
        Self { resources }
    }
}

impl Registry {
    pub fn get(&self, res: &GroupResource) -> Option<Arc<Resource>> {
        self.resources.get(res).cloned()
    }

    /// The resource of a kind in a group (for fixtures that name only `apiVersion` and `kind`).
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<Resource>> {
        self.resources
            .values()
            .find(|r| r.group == group && r.kind == kind)
            .cloned()
    }

    /// Checks a CRD as kube-apiserver does before storing it, and compiles its schemas: the
    /// resource it would serve, or the reasons it is invalid. A CRD may not take over a
    /// built-in resource or another CRD's kind.
    pub fn compile_crd(&self, crd: &Value) -> Result<Resource, Vec<FieldError>> {
        let names = crd_names(crd)?;
        let key = GroupResource::new(&names.group, &names.plural);
        if self.resources.get(&key).is_some_and(|r| !r.custom) {
            return Err(vec![FieldError::invalid(
                "spec.group",
                &json!(names.group),
                "the group and plural name a built-in resource",
            )]);
        }
        let mut errors = Vec::new();
        let mut versions = Vec::new();
        let listed = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if listed.is_empty() {
            errors.push(FieldError::required("spec.versions"));
        }
        let storage = listed
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .count();
        if !listed.is_empty() && storage != 1 {
            errors.push(FieldError::invalid(
                "spec.versions",
                &json!(storage),
                "must have exactly one version marked as storage version",
            ));
        }
        for (i, version) in listed.iter().enumerate() {
            let path = field::index("spec.versions", i);
            let Some(name) = version.get("name").and_then(Value::as_str) else {
                errors.push(FieldError::required(&field::child(&path, "name")));
                continue;
            };
            let schema = match version.pointer("/schema/openAPIV3Schema") {
                Some(schema) => match Schema::compile(schema) {
                    Ok(schema) => Some(Arc::new(schema)),
                    Err(message) => {
                        errors.push(FieldError::invalid(
                            &field::child(&path, "schema.openAPIV3Schema"),
                            &json!(""),
                            &message,
                        ));
                        None
                    }
                },
                None => {
                    errors.push(FieldError::required(&field::child(
                        &path,
                        "schema.openAPIV3Schema",
                    )));
                    None
                }
            };
            if version.get("served").and_then(Value::as_bool) != Some(true) {
                continue;
            }
            let compiled = Version {
                name: name.to_string(),
                status: version.pointer("/subresources/status").is_some(),
                schema,
            };
            if version.get("storage").and_then(Value::as_bool) == Some(true) {
                versions.insert(0, compiled);
            } else {
                versions.push(compiled);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Resource {
            group: names.group,
            plural: names.plural,
            singular: names.singular,
            kind: names.kind,
            short_names: names.short_names,
            namespaced: names.namespaced,
            versions,
            extra_subresources: &[],
            custom: true,
        })
    }

    pub fn install(&mut self, resource: Resource) {
        self.resources.insert(resource.key(), Arc::new(resource));
    }

    /// Forgets a CRD's resource; returns it if it was served.
    pub fn remove_crd(&mut self, crd: &Value) -> Option<Arc<Resource>> {
        let names = crd_names(crd).ok()?;
        let key = GroupResource::new(&names.group, &names.plural);
        if self.resources.get(&key).is_some_and(|r| r.custom) {
            self.resources.remove(&key)
        } else {
            None
        }
    }

    /// `/api` (core) or `/apis` (groups) as `APIVersions` / `APIGroupList`.
    pub fn group_list(&self) -> Value {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for resource in self.resources.values().filter(|r| !r.group.is_empty()) {
            let versions = groups.entry(&resource.group).or_default();
            for version in &resource.versions {
                if !versions.contains(&version.name.as_str()) {
                    versions.push(&version.name);
                }
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(group, versions)| {
                let versions: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                    .collect();
                json!({
                    "name": group,
                    "versions": versions,
                    "preferredVersion": versions.first().cloned().unwrap_or_default(),
                })
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/{group}` as an `APIGroup`, if anything is served in it.
    pub fn group(&self, group: &str) -> Option<Value> {
        let list = self.group_list();
        list["groups"]
            .as_array()?
            .iter()
            .find(|g| g["name"] == group)
            .map(|g| {
                let mut g = g.clone();
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                g
            })
    }

    /// `/api/v1` or `/apis/{group}/{version}` as an `APIResourceList`, subresources included.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let mut served: Vec<&Arc<Resource>> = self
            .resources
            .values()
            .filter(|r| r.group == group && r.version(version).is_some())
            .collect();
        if served.is_empty() {
            return None;
        }
        served.sort_by(|a, b| a.plural.cmp(&b.plural));
        const VERBS: [&str; 8] = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        let mut resources = Vec::new();
        for resource in served {
            resources.push(json!({
                "name": resource.plural,
                "singularName": resource.singular,
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": VERBS,
                "shortNames": resource.short_names,
            }));
            let mut subs: Vec<(&str, &str, Vec<&str>)> = Vec::new();
            if resource.has_subresource(version, "status") {
                subs.push(("status", &resource.kind, vec!["get", "patch", "update"]));
            }
            for extra in resource.extra_subresources {
                let kind = if *extra == "eviction" {
                    "Eviction"
                } else {
                    &resource.kind
                };
                let verbs = if *extra == "eviction" {
                    vec!["create"]
                } else {
                    vec!["update"]
                };
                subs.push((extra, kind, verbs));
            }
            for (sub, kind, verbs) in subs {
                resources.push(json!({
                    "name": format!("{}/{sub}", resource.plural),
                    "singularName": "",
                    "namespaced": resource.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }));
            }
        }
        let group_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }))
    }
}

fn crd_names(crd: &Value) -> Result<CrdNames, Vec<FieldError>> {
    let text = |pointer: &str| crd.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let (group, plural, kind) = (
        text("/spec/group"),
        text("/spec/names/plural"),
        text("/spec/names/kind"),
    );
    let mut errors = Vec::new();
    for (path, value) in [
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", kind),
    ] {
        if value.is_empty() {
            errors.push(FieldError::required(path));
        }
    }
    let scope = text("/spec/scope");
    if !matches!(scope, "Namespaced" | "Cluster") {
        errors.push(FieldError::unsupported(
            "spec.scope",
            &json!(scope),
            &["Cluster".into(), "Namespaced".into()],
        ));
    }
    let name = text("/metadata/name");
    let expected = format!("{plural}.{group}");
    if errors.is_empty() && name != expected {
        errors.push(FieldError::invalid(
            "metadata.name",
            &json!(name),
            &format!("must be spec.names.plural+\".\"+spec.group (\"{expected}\")"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let singular = match text("/spec/names/singular") {
        "" => kind.to_ascii_lowercase(),
        s => s.to_string(),
    };
    let short_names = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    Ok(CrdNames {
        group: group.to_string(),
        plural: plural.to_string(),
        singular,
        kind: kind.to_string(),
        short_names,
        namespaced: scope == "Namespaced",
    })
}

/// The status kube-apiserver's CRD controllers give an accepted CRD: names accepted and
/// established at once (the harness serves a CRD as soon as it is stored).
pub(crate) fn accepted_status(crd: &Value, now: &str) -> Value {
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "lastTransitionTime": now,
               "reason": reason, "message": message})
    };
    let names = crd.pointer("/spec/names").cloned().unwrap_or_default();
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(scope: &str, status: bool) -> Value {
        let mut version = json!({
            "name": "v1alpha1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        });
        if status {
            version["subresources"] = json!({"status": {}});
        }
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": scope,
                     "names": {"plural": "widgets", "kind": "Widget"}, "versions": [version]},
        })
    }

    #[test]
    fn crds_define_scope_and_subresources() {
        let mut registry = Registry::default();
        let widget = registry.compile_crd(&crd("Namespaced", false)).unwrap();
        assert!(widget.namespaced && widget.custom);
        assert!(!widget.has_subresource("v1alpha1", "status"));
        assert_eq!(widget.singular, "widget");
        assert_eq!(widget.qualified_kind(), "Widget.example.com");
        registry.install(widget);
        let list = registry.resource_list("example.com", "v1alpha1").unwrap();
        assert_eq!(list["resources"].as_array().unwrap().len(), 1);

        let with_status = registry.compile_crd(&crd("Cluster", true)).unwrap();
        assert!(!with_status.namespaced);
        registry.install(with_status);
        let list = registry.resource_list("example.com", "v1alpha1").unwrap();
        assert_eq!(list["resources"][1]["name"], "widgets/status");
        assert!(registry.group("example.com").is_some());
        assert!(registry.remove_crd(&crd("Cluster", true)).is_some());
        assert!(
            registry
                .get(&GroupResource::new("example.com", "widgets"))
                .is_none()
        );
    }

    #[test]
    fn invalid_crds_are_refused() {
        let registry = Registry::default();
        let mut misnamed = crd("Namespaced", false);
        misnamed["metadata"]["name"] = json!("widgets");
        let errors = registry.compile_crd(&misnamed).err().unwrap();
        assert!(
            errors[0]
                .to_string()
                .starts_with("metadata.name: Invalid value")
        );
        let mut scope = crd("Global", false);
        scope["spec"]["versions"][0]["storage"] = json!(false);
        let errors = registry.compile_crd(&scope).err().unwrap();
        assert!(errors[0].to_string().contains("supported values"));
        let mut pods = crd("Namespaced", false);
        pods["spec"]["group"] = json!("");
        pods["spec"]["names"]["plural"] = json!("pods");
        assert!(registry.compile_crd(&pods).is_err());
    }

    #[test]
    fn built_ins_are_served() {
        let registry = Registry::default();
        let pods = registry.get(&GroupResource::new("", "pods")).unwrap();
        assert!(pods.has_subresource("v1", "eviction") && pods.has_subresource("v1", "status"));
        assert!(!pods.has_subresource("v1", "scale"), "scale is not served");
        let core = registry.resource_list("", "v1").unwrap();
        assert!(
            core["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "pods/eviction")
        );
        assert!(registry.resource_list("argoproj.io", "v1alpha1").is_none());
        assert!(
            registry.group_list()["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "events.k8s.io")
        );
    }
}
