//! Kubernetes RBAC authorization as kube-apiserver performs it, so that the harness can run a
//! controller as the ServiceAccount of its install manifests and every missing (or unused)
//! permission shows up.
//!
//! Modelled, after the Kubernetes sources:
//! - Rule matching (`pkg/apis/rbac/v1/evaluation_helpers.go`): `*` verbs, groups and resources,
//!   `resource/subresource` and `*/subresource`, `resourceNames` (a rule with names never
//!   matches a request without one, such as a plain list or a create), `nonResourceURLs` with
//!   `*` and trailing-`*` prefixes.
//! - Rule resolution (`pkg/registry/rbac/validation/rule.go`): ClusterRoleBindings grant their
//!   ClusterRole everywhere, cluster-scoped and all-namespace requests included; RoleBindings
//!   grant their Role (of the binding's namespace) or ClusterRole only in the binding's
//!   namespace. Subjects `User` and `Group` match the user name or a group; `ServiceAccount`
//!   matches the user `system:serviceaccount:<ns>:<name>`, where a RoleBinding subject without
//!   a namespace means the binding's namespace and a ClusterRoleBinding subject without one
//!   matches nobody. A binding whose role does not exist grants nothing and, if it applies to
//!   the user, is named in the denial (`RBAC: role.rbac.authorization.k8s.io "x" not found`).
//! - The superuser group `system:masters`, allowed everything before RBAC is consulted
//!   (`pkg/kubeapiserver/authorizer/reload.go`), and the bootstrap policy's ClusterRoles and
//!   ClusterRoleBindings for discovery (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`):
//!   `cluster-admin` (system:masters), `system:discovery` and `system:basic-user` (every
//!   authenticated user), `system:public-info-viewer` (authenticated and unauthenticated users:
//!   GET `/healthz`, `/livez`, `/readyz`, `/version`) and
//!   `system:service-account-issuer-discovery` (ServiceAccounts). A stored object of the same
//!   kind and name replaces its bootstrap counterpart.
//! - ClusterRole `aggregationRule` in the steady state the clusterrole-aggregation controller
//!   reaches (`pkg/controller/clusterroleaggregation`): the aggregated role's rules become the
//!   de-duplicated union of the rules of every other ClusterRole matched by a selector
//!   (`matchLabels` and `matchExpressions`; an empty selector matches all), its own `rules`
//!   being discarded.
//! - The verb RequestInfo derives from method, name and `?watch` ([`verb`]), and the 403 message
//!   (`responsewriters/errors.go` wrapped by `apierrors.NewForbidden`).
//!
//! Not modelled: the Node, ABAC and webhook authorizers; impersonation; the escalation checks
//! on writes of Roles and bindings (`escalate`, `bind`); authorization by field and label
//! selectors (RBAC ignores them anyway); the deprecated `/watch/` and `/proxy/` path prefixes;
//! the delay with which the aggregation controller catches up (here aggregation is immediate);
//! bootstrap roles beyond the discovery ones listed above; and checks made inside the handlers
//! rather than by the authorization filter. The one that matters for controllers: a
//! server-side apply PATCH that creates its object is authorized as `patch` and then, because
//! the object does not exist, as `create` with the same attributes (`handlers/patch.go`,
//! `withAuthorization`; JSON, merge and strategic patches of a missing object get a 404
//! instead). A denied `create` there answers 403 `<resource>[.<group>] "<name>" is forbidden: `
//! followed only by the authorizer's reason, which is empty unless RBAC met errors. The caller
//! has to make that second check and word its message.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde_json::Value;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const SUPERUSER_GROUP: &str = "system:masters";
const AUTHENTICATED: &str = "system:authenticated";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// Who sends a request, as an authenticator would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// `system:serviceaccount:<ns>:<name>` with groups system:serviceaccounts,
    /// system:serviceaccounts:<ns>, system:authenticated.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            name: service_account_user(namespace, name),
            groups: vec![
                SERVICE_ACCOUNTS.to_string(),
                format!("{SERVICE_ACCOUNTS}:{namespace}"),
                AUTHENTICATED.to_string(),
            ],
        }
    }

    /// A member of system:masters (and system:authenticated): allowed everything, as cluster-admin.
    pub fn admin(name: &str) -> Self {
        UserInfo {
            name: name.to_string(),
            groups: vec![SUPERUSER_GROUP.to_string(), AUTHENTICATED.to_string()],
        }
    }

    /// system:anonymous in system:unauthenticated.
    pub fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".to_string(),
            groups: vec![UNAUTHENTICATED.to_string()],
        }
    }
}

/// What a request asks to do, as RequestInfo describes it.
///
/// `name` is the name in the path (none for collections and for plain creates; the parent's
/// name for subresources such as `pods/<name>/eviction`), or the value of a
/// `fieldSelector=metadata.name=<name>` on a list or watch, which RequestInfo also reports as
/// the name so that `resourceNames` can match it (if it is a valid path segment: not `.` or
/// `..`, without `/` or `%`). `namespace` is none for cluster-scoped and
/// all-namespace requests; for `namespaces/<name>` RequestInfo sets it to `<name>`. The verb of
/// a non-resource request is the lower-case HTTP method (`get`, `head`, `post`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request<'a> {
    Resource {
        verb: &'a str,
        api_group: &'a str,
        resource: &'a str,
        subresource: Option<&'a str>,
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    },
    NonResource {
        verb: &'a str,
        path: &'a str,
    },
}

/// The verb kube-apiserver's RequestInfo derives: get, list, watch, create, update, patch, delete, deletecollection.
///
/// `has_name` is whether the path names an object; `watch` is whether the query has `watch`
/// with any value but `false` or `0`, which only turns a collection GET into a watch (a GET of
/// a named object stays `get`, as in RequestInfo). A `fieldSelector=metadata.name=` does not
/// change the verb. Methods RequestInfo does not map give `""`, which only a `*` verb grants
/// (the handler then answers 405).
pub(crate) fn verb(method: &str, has_name: bool, watch: bool) -> &'static str {
    match method {
        "POST" => "create",
        "GET" | "HEAD" if has_name => "get",
        "GET" | "HEAD" if watch => "watch",
        "GET" | "HEAD" => "list",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if has_name => "delete",
        "DELETE" => "deletecollection",
        _ => "",
    }
}

/// One permission a user holds, as written in a rule (see [`Policy::granted`]), or one a
/// request needed. Public, unlike the rest of this module, because the harness reports
/// permissions granted and used through its own public API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// A verb such as `get` or `deletecollection`, or `*`.
    pub verb: String,
    /// The API group, empty for the core group, or `*`.
    pub api_group: String,
    /// The plural, `plural/subresource`, `*/subresource` or `*`.
    pub resource: String,
}

impl fmt::Display for Permission {
    /// `<verb> <resource>[.<group>]`, the way kubectl names a group's resource.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.api_group.is_empty() {
            write!(f, ".{}", self.api_group)?;
        }
        Ok(())
    }
}

/// Roles and bindings as stored (any iterator of JSON objects of those four kinds; other kinds ignored).
///
/// Everything is resolved when the policy is built (bindings to rules, aggregation, bootstrap
/// policy), and bindings are indexed by the user names and groups they apply to, so that
/// [`Policy::authorize`] only looks at the bindings of the requesting user.
#[derive(Debug)]
pub(crate) struct Policy {
    /// Cluster bindings sorted by name, then role bindings sorted by namespace and name: the
    /// order in which RBAC visits them, which decides the order of errors in a denial.
    bindings: Vec<Binding>,
    cluster: SubjectIndex,
    namespaced: HashMap<String, SubjectIndex>,
}

#[derive(Debug)]
struct Binding {
    /// From the bootstrap policy rather than a stored object: every cluster has it, so
    /// [`Policy::granted`] leaves it out of what an install grants.
    bootstrap: bool,
    /// The rules of the referenced role, or the error RBAC reports when it cannot be found.
    rules: Result<Arc<[Rule]>, String>,
}

/// Binding indexes (into [`Policy::bindings`], ascending) by the user names and groups their
/// subjects match.
#[derive(Debug, Default)]
struct SubjectIndex {
    users: HashMap<String, Vec<usize>>,
    groups: HashMap<String, Vec<usize>>,
}

impl SubjectIndex {
    fn add(&mut self, subject: &Subject, binding_namespace: &str, index: usize) {
        let (map, key) = match subject {
            Subject::User(name) => (&mut self.users, name.clone()),
            Subject::Group(name) => (&mut self.groups, name.clone()),
            Subject::ServiceAccount { namespace, name } => {
                // rule.go appliesToUser: an unqualified subject means the binding's namespace;
                // with neither (a ClusterRoleBinding) it matches nobody.
                let namespace = if namespace.is_empty() {
                    binding_namespace
                } else {
                    namespace
                };
                if namespace.is_empty() {
                    return;
                }
                (&mut self.users, service_account_user(namespace, name))
            }
            Subject::Other => return,
        };
        let indexes = map.entry(key).or_default();
        // A binding naming the same user twice applies once.
        if indexes.last() != Some(&index) {
            indexes.push(index);
        }
    }

    /// Indexes of the bindings that apply to `user`; one binding can appear more than once
    /// (matched by name and by a group).
    fn lookup<'s>(&'s self, user: &'s UserInfo) -> impl Iterator<Item = usize> + 's {
        self.users
            .get(&user.name)
            .into_iter()
            .chain(
                user.groups
                    .iter()
                    .filter_map(|group| self.groups.get(group)),
            )
            .flatten()
            .copied()
    }
}

impl Policy {
    /// Resolves bindings, roles, aggregation and the bootstrap policy once; build a new policy
    /// whenever an RBAC object changes.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Policy {
        let mut roles: HashMap<(String, String), Arc<[Rule]>> = HashMap::new();
        let mut cluster_roles = bootstrap_cluster_roles();
        let mut cluster_bindings = bootstrap_cluster_bindings();
        let mut role_bindings: BTreeMap<(String, String), BindingSpec> = BTreeMap::new();
        for object in objects {
            let Some(kind) = rbac_kind(object) else {
                continue;
            };
            let metadata = &object["metadata"];
            let name = str_field(metadata, "name").to_string();
            let namespace = str_field(metadata, "namespace").to_string();
            match kind {
                "Role" => {
                    roles.insert((namespace, name), rules(&object["rules"]).into());
                }
                "ClusterRole" => {
                    cluster_roles.insert(name, ClusterRoleSpec::from_json(object));
                }
                "RoleBinding" => {
                    role_bindings.insert((namespace, name), BindingSpec::from_json(object));
                }
                "ClusterRoleBinding" => {
                    cluster_bindings.insert(name, BindingSpec::from_json(object));
                }
                _ => {}
            }
        }
        let cluster_rules = aggregate(&cluster_roles);

        let mut policy = Policy {
            bindings: Vec::with_capacity(cluster_bindings.len() + role_bindings.len()),
            cluster: SubjectIndex::default(),
            namespaced: HashMap::new(),
        };
        let resolve = |spec: &BindingSpec, namespace: &str| match spec.role_kind.as_str() {
            // GetRoleReferenceRules: a ClusterRoleBinding looks its Role up in namespace "",
            // where none can exist.
            "Role" => roles
                .get(&(namespace.to_string(), spec.role_name.clone()))
                .filter(|_| !namespace.is_empty())
                .cloned()
                .ok_or_else(|| not_found("role", &spec.role_name)),
            "ClusterRole" => cluster_rules
                .get(&spec.role_name)
                .cloned()
                .ok_or_else(|| not_found("clusterrole", &spec.role_name)),
            other => Err(format!("unsupported role reference kind: {}", quote(other))),
        };
        for spec in cluster_bindings.values() {
            let index = policy.bindings.len();
            policy.bindings.push(Binding {
                bootstrap: spec.bootstrap,
                rules: resolve(spec, ""),
            });
            for subject in &spec.subjects {
                policy.cluster.add(subject, "", index);
            }
        }
        for ((namespace, _), spec) in &role_bindings {
            let index = policy.bindings.len();
            policy.bindings.push(Binding {
                bootstrap: spec.bootstrap,
                rules: resolve(spec, namespace),
            });
            let subjects = policy.namespaced.entry(namespace.clone()).or_default();
            for subject in &spec.subjects {
                subjects.add(subject, namespace, index);
            }
        }
        policy
    }

    /// Ok, or Err with the message of the 403 Forbidden the real server returns, e.g.
    /// `rollouts.argoproj.io "web" is forbidden: User "system:serviceaccount:weir-system:weir-controller" cannot patch resource "rollouts/status" in API group "argoproj.io" in the namespace "default"`.
    ///
    /// The message names the resource qualified by its group but without the subresource
    /// (`pods`, `rollouts.argoproj.io`), then the object's name if the request has one; it is
    /// `forbidden: User "..." cannot get path "/apis"` for non-resource requests. When a binding
    /// that applies to the user refers to a missing role, `: RBAC: <error>` follows, as on a
    /// real server.
    pub fn authorize(&self, user: &UserInfo, request: &Request) -> Result<(), String> {
        // The superuser authorizer runs before RBAC (and before any rule is looked at).
        if user.groups.iter().any(|group| group == SUPERUSER_GROUP) {
            return Ok(());
        }
        let namespace = request_namespace(request);
        let allowed = self.applicable(user, namespace).any(|index| {
            self.bindings[index]
                .rules
                .as_ref()
                .is_ok_and(|rules| rules.iter().any(|rule| rule.allows(request)))
        });
        if allowed {
            Ok(())
        } else {
            Err(self.forbidden(user, request, namespace))
        }
    }

    /// Every (verb, api_group, resource[/subresource]) that `user` is granted, namespace-insensitive,
    /// for comparing what an install grants with what a controller used. Wildcards (`*` verbs,
    /// groups or resources, resourceNames restrictions) are returned as written, not expanded.
    ///
    /// Only stored bindings count: the bootstrap policy (discovery, `system:basic-user`,
    /// `system:masters`) is part of every cluster, not of an install. A rule restricted by
    /// `resourceNames` yields its permissions without the restriction; non-resource rules yield
    /// nothing.
    pub fn granted(&self, user: &UserInfo) -> BTreeSet<Permission> {
        let indexes = self.cluster.lookup(user).chain(
            self.namespaced
                .values()
                .flat_map(|subjects| subjects.lookup(user)),
        );
        let mut granted = BTreeSet::new();
        for index in indexes {
            let binding = &self.bindings[index];
            let Ok(rules) = &binding.rules else {
                continue;
            };
            if binding.bootstrap {
                continue;
            }
            for rule in rules.iter() {
                for verb in &rule.verbs {
                    for api_group in &rule.api_groups {
                        for resource in &rule.resources {
                            granted.insert(Permission {
                                verb: verb.clone(),
                                api_group: api_group.clone(),
                                resource: resource.clone(),
                            });
                        }
                    }
                }
            }
        }
        granted
    }

    /// Bindings that apply to `user` for a request in `namespace`: cluster bindings always,
    /// role bindings only for namespaced requests (rule.go VisitRulesFor).
    fn applicable<'s>(
        &'s self,
        user: &'s UserInfo,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = usize> + 's {
        let local = namespace.and_then(|namespace| self.namespaced.get(namespace));
        self.cluster
            .lookup(user)
            .chain(local.into_iter().flat_map(|subjects| subjects.lookup(user)))
    }

    /// The message of the 403: forbiddenMessage, the RBAC reason, then NewForbidden's prefix.
    fn forbidden(&self, user: &UserInfo, request: &Request, namespace: Option<&str>) -> String {
        let (qualified, name, mut message) = match *request {
            Request::NonResource { verb, path } => (
                String::new(),
                "",
                format!(
                    "User {} cannot {verb} path {}",
                    quote(&user.name),
                    quote(path)
                ),
            ),
            Request::Resource {
                verb,
                api_group,
                resource,
                subresource,
                name,
                ..
            } => {
                let shown = match subresource.filter(|s| !s.is_empty()) {
                    Some(subresource) => format!("{resource}/{subresource}"),
                    None => resource.to_string(),
                };
                let scope = match namespace {
                    Some(namespace) => format!("in the namespace {}", quote(namespace)),
                    None => "at the cluster scope".to_string(),
                };
                let message = format!(
                    "User {} cannot {verb} resource {} in API group {} {scope}",
                    quote(&user.name),
                    quote(&shown),
                    quote(api_group),
                );
                // schema.GroupResource.String(), which leaves the subresource out.
                let qualified = match (resource, api_group) {
                    (resource, "") => resource.to_string(),
                    (resource, group) => format!("{resource}.{group}"),
                };
                (qualified, name.unwrap_or(""), message)
            }
        };
        // Forbidden() escapes what could pass for HTML in the message, not in the reason.
        message = message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        if let Some(reason) = self.reason(user, namespace) {
            message.push_str(": ");
            message.push_str(&reason);
        }
        match (qualified.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {message}"),
            (false, true) => format!("{qualified} is forbidden: {message}"),
            (false, false) => format!("{qualified} {} is forbidden: {message}", quote(name)),
        }
    }

    /// RBAC's reason for a denial: the errors met resolving the bindings that apply, as
    /// `RBAC: <aggregate>` (one error as is, several de-duplicated in brackets).
    fn reason(&self, user: &UserInfo, namespace: Option<&str>) -> Option<String> {
        let mut indexes: Vec<usize> = self.applicable(user, namespace).collect();
        indexes.sort_unstable();
        indexes.dedup();
        let mut errors: Vec<&str> = Vec::new();
        for index in indexes {
            if let Err(error) = &self.bindings[index].rules
                && !errors.contains(&error.as_str())
            {
                errors.push(error);
            }
        }
        match errors.as_slice() {
            [] => None,
            [error] => Some(format!("RBAC: {error}")),
            errors => Some(format!("RBAC: [{}]", errors.join(", "))),
        }
    }
}

fn request_namespace<'a>(request: &Request<'a>) -> Option<&'a str> {
    match *request {
        Request::Resource { namespace, .. } => namespace.filter(|ns| !ns.is_empty()),
        Request::NonResource { .. } => None,
    }
}

/// A PolicyRule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
}

impl Rule {
    fn from_json(rule: &Value) -> Rule {
        Rule {
            verbs: strings(&rule["verbs"]),
            api_groups: strings(&rule["apiGroups"]),
            resources: strings(&rule["resources"]),
            resource_names: strings(&rule["resourceNames"]),
            non_resource_urls: strings(&rule["nonResourceURLs"]),
        }
    }

    /// rbac.go RuleAllows.
    fn allows(&self, request: &Request) -> bool {
        match *request {
            Request::Resource {
                verb,
                api_group,
                resource,
                subresource,
                name,
                ..
            } => {
                let subresource = subresource.unwrap_or("");
                let name = name.unwrap_or("");
                contains_or_all(&self.verbs, verb)
                    && contains_or_all(&self.api_groups, api_group)
                    && self
                        .resources
                        .iter()
                        .any(|rule| resource_matches(rule, resource, subresource))
                    && (self.resource_names.is_empty()
                        || self.resource_names.iter().any(|n| n == name))
            }
            Request::NonResource { verb, path } => {
                contains_or_all(&self.verbs, verb)
                    && self.non_resource_urls.iter().any(|rule| {
                        rule == "*"
                            || rule == path
                            || (rule.ends_with('*') && path.starts_with(rule.trim_end_matches('*')))
                    })
            }
        }
    }
}

/// VerbMatches and APIGroupMatches.
fn contains_or_all(values: &[String], wanted: &str) -> bool {
    values.iter().any(|value| value == "*" || value == wanted)
}

/// ResourceMatches: `*`, the combined `resource/subresource`, or `*/subresource`; compared
/// piecewise so that no string is built per check.
fn resource_matches(rule: &str, resource: &str, subresource: &str) -> bool {
    if rule == "*" {
        return true;
    }
    if subresource.is_empty() {
        return rule == resource;
    }
    rule.split_once('/')
        .is_some_and(|(parent, sub)| sub == subresource && (parent == resource || parent == "*"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn rules(value: &Value) -> Vec<Rule> {
    value
        .as_array()
        .map(|rules| rules.iter().map(Rule::from_json).collect())
        .unwrap_or_default()
}

fn str_field<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or("")
}

/// The kind of an object of the RBAC group (any version: storage is keyed by group).
fn rbac_kind(object: &Value) -> Option<&str> {
    let (group, _version) = str_field(object, "apiVersion").split_once('/')?;
    (group == RBAC_GROUP).then(|| str_field(object, "kind"))
}

fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The NotFound a client-go lister returns, whose resource is the lower-case kind.
fn not_found(kind: &str, name: &str) -> String {
    format!("{kind}.{RBAC_GROUP} {} not found", quote(name))
}

/// Go's `%q`, which the messages use for every name: quotes, backslashes and control
/// characters are escaped.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            c if c.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[derive(Debug)]
enum Subject {
    User(String),
    Group(String),
    ServiceAccount {
        namespace: String,
        name: String,
    },
    /// A kind appliesToUser does not know: matches nobody.
    Other,
}

#[derive(Debug)]
struct BindingSpec {
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
    bootstrap: bool,
}

impl BindingSpec {
    fn from_json(binding: &Value) -> BindingSpec {
        let subjects = binding["subjects"]
            .as_array()
            .map(|subjects| {
                subjects
                    .iter()
                    .map(|subject| {
                        let name = str_field(subject, "name").to_string();
                        match str_field(subject, "kind") {
                            "User" => Subject::User(name),
                            "Group" => Subject::Group(name),
                            "ServiceAccount" => Subject::ServiceAccount {
                                namespace: str_field(subject, "namespace").to_string(),
                                name,
                            },
                            _ => Subject::Other,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        BindingSpec {
            role_kind: str_field(&binding["roleRef"], "kind").to_string(),
            role_name: str_field(&binding["roleRef"], "name").to_string(),
            subjects,
            bootstrap: false,
        }
    }
}

#[derive(Debug)]
struct ClusterRoleSpec {
    labels: BTreeMap<String, String>,
    rules: Vec<Rule>,
    aggregation: Aggregation,
}

#[derive(Debug)]
enum Aggregation {
    /// No aggregationRule: the role's own rules count.
    Absent,
    /// A selector LabelSelectorAsSelector rejects: the controller gives up and the stored
    /// rules stay.
    Unparsable,
    /// One requirement list per clusterRoleSelector; a role matching any of them contributes.
    Select(Vec<Vec<Requirement>>),
}

#[derive(Debug)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            // Like the labels package, NotIn also matches objects without the label.
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        }
    }
}

impl ClusterRoleSpec {
    fn from_json(role: &Value) -> ClusterRoleSpec {
        let labels = role["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let aggregation = match role["aggregationRule"].as_object() {
            None => Aggregation::Absent,
            Some(rule) => {
                let selectors: Option<Vec<Vec<Requirement>>> = rule
                    .get("clusterRoleSelectors")
                    .and_then(Value::as_array)
                    .map_or(Some(Vec::new()), |selectors| {
                        selectors.iter().map(selector).collect()
                    });
                selectors.map_or(Aggregation::Unparsable, Aggregation::Select)
            }
        };
        ClusterRoleSpec {
            labels,
            rules: rules(&role["rules"]),
            aggregation,
        }
    }
}

/// A metav1.LabelSelector as requirements, or None where LabelSelectorAsSelector fails
/// (unknown operator, values missing for In/NotIn or present for Exists/DoesNotExist).
fn selector(selector: &Value) -> Option<Vec<Requirement>> {
    let mut requirements = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (key, value) in labels {
            requirements.push(Requirement::In(
                key.clone(),
                vec![value.as_str()?.to_string()],
            ));
        }
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = str_field(expression, "key").to_string();
        let values = strings(&expression["values"]);
        requirements.push(
            match (str_field(expression, "operator"), values.is_empty()) {
                ("In", false) => Requirement::In(key, values),
                ("NotIn", false) => Requirement::NotIn(key, values),
                ("Exists", true) => Requirement::Exists(key),
                ("DoesNotExist", true) => Requirement::DoesNotExist(key),
                _ => return None,
            },
        );
    }
    Some(requirements)
}

/// The rules of every ClusterRole once the aggregation controller has caught up.
fn aggregate(roles: &BTreeMap<String, ClusterRoleSpec>) -> HashMap<String, Arc<[Rule]>> {
    let mut resolved = HashMap::new();
    for name in roles.keys() {
        resolve_cluster_role(name, roles, &mut resolved, &mut Vec::new());
    }
    resolved
}

fn resolve_cluster_role<'r>(
    name: &'r str,
    roles: &'r BTreeMap<String, ClusterRoleSpec>,
    resolved: &mut HashMap<String, Arc<[Rule]>>,
    resolving: &mut Vec<&'r str>,
) -> Arc<[Rule]> {
    if let Some(rules) = resolved.get(name) {
        return rules.clone();
    }
    let Some(role) = roles.get(name) else {
        return Arc::from([]);
    };
    let selectors = match &role.aggregation {
        // A cycle of aggregated roles has no steady state; cut it at the stored rules.
        Aggregation::Select(selectors) if !resolving.contains(&name) => selectors,
        _ => {
            let rules: Arc<[Rule]> = role.rules.clone().into();
            resolved.insert(name.to_string(), rules.clone());
            return rules;
        }
    };
    resolving.push(name);
    let mut union: Vec<Rule> = Vec::new();
    for requirements in selectors {
        // The controller visits the matching roles by name, skipping the aggregated one.
        for (other, other_role) in roles {
            if other == name || !requirements.iter().all(|r| r.matches(&other_role.labels)) {
                continue;
            }
            for rule in resolve_cluster_role(other, roles, resolved, resolving).iter() {
                if !union.contains(rule) {
                    union.push(rule.clone());
                }
            }
        }
    }
    resolving.pop();
    let rules: Arc<[Rule]> = union.into();
    resolved.insert(name.to_string(), rules.clone());
    rules
}

fn rule(verbs: &[&str], api_groups: &[&str], resources: &[&str], urls: &[&str]) -> Rule {
    let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    Rule {
        verbs: owned(verbs),
        api_groups: owned(api_groups),
        resources: owned(resources),
        resource_names: Vec::new(),
        non_resource_urls: owned(urls),
    }
}

/// The bootstrap ClusterRoles the bindings below refer to, as in bootstrappolicy's
/// testdata/cluster-roles.yaml.
fn bootstrap_cluster_roles() -> BTreeMap<String, ClusterRoleSpec> {
    let roles = [
        (
            "cluster-admin",
            vec![
                rule(&["*"], &["*"], &["*"], &[]),
                rule(&["*"], &[], &[], &["*"]),
            ],
        ),
        (
            "system:discovery",
            vec![rule(
                &["get"],
                &[],
                &[],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        (
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &[],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &[],
                ),
            ],
        ),
        (
            "system:public-info-viewer",
            vec![rule(
                &["get"],
                &[],
                &[],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        (
            "system:service-account-issuer-discovery",
            vec![rule(
                &["get"],
                &[],
                &[],
                &["/.well-known/openid-configuration", "/openid/v1/jwks"],
            )],
        ),
    ];
    roles
        .into_iter()
        .map(|(name, rules)| {
            let labels = BTreeMap::from([(
                "kubernetes.io/bootstrapping".to_string(),
                "rbac-defaults".to_string(),
            )]);
            let spec = ClusterRoleSpec {
                labels,
                rules,
                aggregation: Aggregation::Absent,
            };
            (name.to_string(), spec)
        })
        .collect()
}

/// bootstrappolicy clusterRoleBindings(): since Kubernetes 1.14 only public-info-viewer is
/// bound to unauthenticated users.
fn bootstrap_cluster_bindings() -> BTreeMap<String, BindingSpec> {
    let bindings: [(&str, &[&str]); 5] = [
        ("cluster-admin", &[SUPERUSER_GROUP]),
        ("system:basic-user", &[AUTHENTICATED]),
        ("system:discovery", &[AUTHENTICATED]),
        (
            "system:public-info-viewer",
            &[AUTHENTICATED, UNAUTHENTICATED],
        ),
        (
            "system:service-account-issuer-discovery",
            &[SERVICE_ACCOUNTS],
        ),
    ];
    bindings
        .into_iter()
        .map(|(name, groups)| {
            let spec = BindingSpec {
                role_kind: "ClusterRole".to_string(),
                role_name: name.to_string(),
                subjects: groups
                    .iter()
                    .map(|g| Subject::Group(g.to_string()))
                    .collect(),
                bootstrap: true,
            };
            (name.to_string(), spec)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const SA: &str = "system:serviceaccount:weir-system:weir-controller";

    const CLUSTER_RBAC: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/cluster-rbac/rbac.yaml"
    ));
    const NAMESPACED_RBAC: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/namespaced/rbac.yaml"
    ));
    const LEADER_ELECTION: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/controller/leader-election.yaml"
    ));

    fn documents(yaml: &str) -> Vec<Value> {
        yaml_serde::Deserializer::from_str(yaml)
            .map(|doc| Value::deserialize(doc).expect("valid YAML"))
            .filter(|doc| !doc.is_null())
            .collect()
    }

    /// What `namespace: weir-system` in the kustomizations does to the RBAC objects: it puts
    /// the Roles and RoleBindings there and qualifies unqualified ServiceAccount subjects.
    fn kustomize(mut objects: Vec<Value>) -> Vec<Value> {
        for object in &mut objects {
            if matches!(object["kind"].as_str(), Some("Role" | "RoleBinding")) {
                object["metadata"]["namespace"] = "weir-system".into();
            }
            for subject in object["subjects"].as_array_mut().into_iter().flatten() {
                if subject["kind"] == "ServiceAccount" && subject.get("namespace").is_none() {
                    subject["namespace"] = "weir-system".into();
                }
            }
        }
        objects
    }

    /// The controller's RBAC in the cluster-wide or the namespaced install.
    fn install(rbac: &str) -> Policy {
        let mut objects = documents(rbac);
        objects.extend(documents(LEADER_ELECTION));
        Policy::from_objects(&kustomize(objects))
    }

    fn controller() -> UserInfo {
        UserInfo::service_account("weir-system", "weir-controller")
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// `<verb> <resource>[/<subresource>][.<group>] <namespace, or - for none> [<name>]`
    /// (resources written as [`Permission`] prints them), or `<verb> <path>`.
    fn request(case: &str) -> Request<'_> {
        let words: Vec<&str> = case.split_whitespace().collect();
        match words[..] {
            [verb, path] if path.starts_with('/') => Request::NonResource { verb, path },
            [verb, qualified, namespace, ref name @ ..] => {
                let (resource, api_group) = qualified.split_once('.').unwrap_or((qualified, ""));
                let (resource, subresource) = match resource.split_once('/') {
                    Some((resource, subresource)) => (resource, Some(subresource)),
                    None => (resource, None),
                };
                Request::Resource {
                    verb,
                    api_group,
                    resource,
                    subresource,
                    namespace: Some(namespace).filter(|ns| *ns != "-"),
                    name: name.first().copied(),
                }
            }
            _ => panic!("bad case {case:?}"),
        }
    }

    /// Each case: a request and `None` if it is allowed, or the exact 403 message (`{SA}`
    /// standing for the controller's user name).
    fn check(policy: &Policy, user: &UserInfo, cases: &[(&str, Option<&str>)]) {
        for (case, expected) in cases {
            let got = policy.authorize(user, &request(case)).err();
            let expected = expected.map(|message| message.replace("{SA}", SA));
            assert_eq!(got, expected, "{} {case}", user.name);
        }
    }

    #[test]
    fn cluster_install_grants_what_the_cluster_role_lists() {
        let cases = [
            ("patch rollouts.argoproj.io default web", None),
            ("list rollouts.argoproj.io -", None),
            ("watch rollouts.argoproj.io default", None),
            ("update rollouts/status.argoproj.io default web", None),
            (
                "patch rollouts/status.argoproj.io default web",
                Some(
                    r#"rollouts.argoproj.io "web" is forbidden: User "{SA}" cannot patch resource "rollouts/status" in API group "argoproj.io" in the namespace "default""#,
                ),
            ),
            (
                "update rollouts.argoproj.io default web",
                Some(
                    r#"rollouts.argoproj.io "web" is forbidden: User "{SA}" cannot update resource "rollouts" in API group "argoproj.io" in the namespace "default""#,
                ),
            ),
            ("patch analysisruns/status.argoproj.io default run", None),
            (
                "update analysisruns/status.argoproj.io default run",
                Some(
                    r#"analysisruns.argoproj.io "run" is forbidden: User "{SA}" cannot update resource "analysisruns/status" in API group "argoproj.io" in the namespace "default""#,
                ),
            ),
            ("create analysisruns.argoproj.io default", None),
            ("delete analysisruns.argoproj.io default run", None),
            (
                "deletecollection analysisruns.argoproj.io default",
                Some(
                    r#"analysisruns.argoproj.io is forbidden: User "{SA}" cannot deletecollection resource "analysisruns" in API group "argoproj.io" in the namespace "default""#,
                ),
            ),
            ("list secrets argocd", None),
            ("get secrets default db", None),
            (
                "watch secrets argocd",
                Some(
                    r#"secrets is forbidden: User "{SA}" cannot watch resource "secrets" in API group "" in the namespace "argocd""#,
                ),
            ),
            ("watch pods -", None),
            ("create pods/eviction default web-1", None),
            (
                "delete pods default web-1",
                Some(
                    r#"pods "web-1" is forbidden: User "{SA}" cannot delete resource "pods" in API group "" in the namespace "default""#,
                ),
            ),
            ("list clusteranalysistemplates.argoproj.io -", None),
            (
                "create clusteranalysistemplates.argoproj.io -",
                Some(
                    r#"clusteranalysistemplates.argoproj.io is forbidden: User "{SA}" cannot create resource "clusteranalysistemplates" in API group "argoproj.io" at the cluster scope"#,
                ),
            ),
            (
                "list nodes -",
                Some(
                    r#"nodes is forbidden: User "{SA}" cannot list resource "nodes" in API group "" at the cluster scope"#,
                ),
            ),
            ("create events.events.k8s.io default", None),
            (
                "create events default",
                Some(
                    r#"events is forbidden: User "{SA}" cannot create resource "events" in API group "" in the namespace "default""#,
                ),
            ),
            ("patch virtualservices.networking.istio.io default vs", None),
            // The leader-election Role, in weir-system only.
            (
                "get leases.coordination.k8s.io weir-system weir-controller-lock",
                None,
            ),
            ("create leases.coordination.k8s.io weir-system", None),
            (
                "patch leases.coordination.k8s.io weir-system weir-controller-lock",
                None,
            ),
            (
                "get leases.coordination.k8s.io default weir-controller-lock",
                Some(
                    r#"leases.coordination.k8s.io "weir-controller-lock" is forbidden: User "{SA}" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "default""#,
                ),
            ),
            (
                "list leases.coordination.k8s.io weir-system",
                Some(
                    r#"leases.coordination.k8s.io is forbidden: User "{SA}" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "weir-system""#,
                ),
            ),
            // system:basic-user, bound to every authenticated user.
            (
                "create selfsubjectaccessreviews.authorization.k8s.io -",
                None,
            ),
        ];
        check(&install(CLUSTER_RBAC), &controller(), &cases);

        // Another ServiceAccount of the namespace gets nothing from the install.
        check(
            &install(CLUSTER_RBAC),
            &UserInfo::service_account("weir-system", "default"),
            &[(
                "get rollouts.argoproj.io default web",
                Some(
                    r#"rollouts.argoproj.io "web" is forbidden: User "system:serviceaccount:weir-system:default" cannot get resource "rollouts" in API group "argoproj.io" in the namespace "default""#,
                ),
            )],
        );
    }

    #[test]
    fn namespaced_install_grants_only_in_its_namespace() {
        let cases = [
            ("patch rollouts.argoproj.io weir-system web", None),
            ("watch rollouts.argoproj.io weir-system", None),
            ("update rollouts/status.argoproj.io weir-system web", None),
            (
                "patch leases.coordination.k8s.io weir-system weir-controller-lock",
                None,
            ),
            (
                "patch rollouts.argoproj.io default web",
                Some(
                    r#"rollouts.argoproj.io "web" is forbidden: User "{SA}" cannot patch resource "rollouts" in API group "argoproj.io" in the namespace "default""#,
                ),
            ),
            (
                "list rollouts.argoproj.io -",
                Some(
                    r#"rollouts.argoproj.io is forbidden: User "{SA}" cannot list resource "rollouts" in API group "argoproj.io" at the cluster scope"#,
                ),
            ),
            (
                "patch rollouts/status.argoproj.io weir-system web",
                Some(
                    r#"rollouts.argoproj.io "web" is forbidden: User "{SA}" cannot patch resource "rollouts/status" in API group "argoproj.io" in the namespace "weir-system""#,
                ),
            ),
            (
                "list clusteranalysistemplates.argoproj.io -",
                Some(
                    r#"clusteranalysistemplates.argoproj.io is forbidden: User "{SA}" cannot list resource "clusteranalysistemplates" in API group "argoproj.io" at the cluster scope"#,
                ),
            ),
            // Argo CD's repository Secrets live in its own namespace, out of the Role's reach.
            (
                "list secrets argocd",
                Some(
                    r#"secrets is forbidden: User "{SA}" cannot list resource "secrets" in API group "" in the namespace "argocd""#,
                ),
            ),
        ];
        check(&install(NAMESPACED_RBAC), &controller(), &cases);

        // Without kustomize the subject has no namespace; in a RoleBinding that means the
        // binding's own (rule.go appliesToUser), so the Role still applies.
        let mut objects = documents(NAMESPACED_RBAC);
        for object in &mut objects {
            object["metadata"]["namespace"] = "weir-system".into();
        }
        check(
            &Policy::from_objects(&objects),
            &controller(),
            &[("patch rollouts.argoproj.io weir-system web", None)],
        );
    }

    const SYNTHETIC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: status-writer}
rules:
- apiGroups: ["*"]
  resources: ["*/status"]
  verbs: [update, patch]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [settings]
  verbs: [get, list, watch]
- nonResourceURLs: [/metrics, /logs/*]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-status, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: status-writer}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
- {kind: ServiceAccount, name: builder}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-status}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: status-writer}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: ops}
- {kind: ServiceAccount, name: unqualified}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-reader: "true"}
  - matchExpressions:
    - {key: example.com/tier, operator: In, values: [read]}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader-pods
  labels: {example.com/aggregate-to-reader: "true"}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader-services
  labels: {example.com/tier: read}
rules:
- apiGroups: [""]
  resources: [services]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: readers}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling-cluster-role, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: missing}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling-role, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: missing}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: bobs}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-rbac, namespace: team-a}
"#;

    fn synthetic() -> Policy {
        Policy::from_objects(&documents(SYNTHETIC))
    }

    #[test]
    fn rules_match_subresources_names_and_binding_scope() {
        let policy = synthetic();
        let cases = [
            // `*/status` in any group, but only where the RoleBinding is.
            ("update pods/status team-a p", None),
            ("patch rollouts/status.argoproj.io team-a web", None),
            (
                "update pods/status team-b p",
                Some(
                    r#"pods "p" is forbidden: User "alice" cannot update resource "pods/status" in API group "" in the namespace "team-b""#,
                ),
            ),
            (
                "update pods team-a p",
                Some(
                    r#"pods "p" is forbidden: User "alice" cannot update resource "pods" in API group "" in the namespace "team-a""#,
                ),
            ),
            (
                "update deployments/scale.apps team-a d",
                Some(
                    r#"deployments.apps "d" is forbidden: User "alice" cannot update resource "deployments/scale" in API group "apps" in the namespace "team-a""#,
                ),
            ),
            // A RoleBinding to a ClusterRole grants nothing cluster-scoped.
            (
                "patch nodes/status - n",
                Some(
                    r#"nodes "n" is forbidden: User "alice" cannot patch resource "nodes/status" in API group "" at the cluster scope"#,
                ),
            ),
            // resourceNames: a named get, or a list/watch by fieldSelector=metadata.name.
            ("get configmaps team-a settings", None),
            ("watch configmaps team-a settings", None),
            (
                "get configmaps team-a other",
                Some(
                    r#"configmaps "other" is forbidden: User "alice" cannot get resource "configmaps" in API group "" in the namespace "team-a""#,
                ),
            ),
            (
                "list configmaps team-a",
                Some(
                    r#"configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "team-a""#,
                ),
            ),
        ];
        check(&policy, &user("alice", &[AUTHENTICATED]), &cases);

        // The same ClusterRole through a ClusterRoleBinding applies everywhere.
        let cases = [
            ("patch nodes/status - n", None),
            ("update pods/status team-b p", None),
        ];
        check(&policy, &user("carol", &["ops", AUTHENTICATED]), &cases);

        // ServiceAccount subjects without a namespace: the RoleBinding's namespace, and
        // nobody at all in a ClusterRoleBinding.
        let case = "update pods/status team-a p";
        let cases = [
            ("team-a", "builder", None),
            (
                "team-b",
                "builder",
                Some(
                    r#"pods "p" is forbidden: User "system:serviceaccount:team-b:builder" cannot update resource "pods/status" in API group "" in the namespace "team-a""#,
                ),
            ),
            (
                "team-a",
                "unqualified",
                Some(
                    r#"pods "p" is forbidden: User "system:serviceaccount:team-a:unqualified" cannot update resource "pods/status" in API group "" in the namespace "team-a""#,
                ),
            ),
        ];
        for (namespace, name, expected) in cases {
            let sa = UserInfo::service_account(namespace, name);
            check(&policy, &sa, &[(case, expected)]);
        }
    }

    #[test]
    fn aggregation_replaces_the_rules_of_the_aggregated_role() {
        let cases = [
            ("get pods x p", None),
            ("list services x", None),
            // The aggregated role's own rules are overwritten by the union.
            (
                "get secrets x s",
                Some(
                    r#"secrets "s" is forbidden: User "dave" cannot get resource "secrets" in API group "" in the namespace "x""#,
                ),
            ),
            (
                "delete pods x p",
                Some(
                    r#"pods "p" is forbidden: User "dave" cannot delete resource "pods" in API group "" in the namespace "x""#,
                ),
            ),
        ];
        check(
            &synthetic(),
            &user("dave", &["readers", AUTHENTICATED]),
            &cases,
        );
    }

    #[test]
    fn bindings_to_missing_roles_are_named_in_the_denial() {
        let policy = synthetic();
        let cases = [
            (
                "get pods team-a p",
                Some(
                    r#"pods "p" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "team-a": RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found, role.rbac.authorization.k8s.io "missing" not found]"#,
                ),
            ),
            // The bindings do not apply outside their namespace, so nothing is added there.
            (
                "get pods team-b p",
                Some(
                    r#"pods "p" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "team-b""#,
                ),
            ),
        ];
        check(&policy, &user("bob", &["bobs", AUTHENTICATED]), &cases);

        // One error is not bracketed.
        let cases = [(
            "list pods team-a",
            Some(
                r#"pods is forbidden: User "robert" cannot list resource "pods" in API group "" in the namespace "team-a": RBAC: role.rbac.authorization.k8s.io "missing" not found"#,
            ),
        )];
        check(&policy, &user("robert", &["bobs"]), &cases);
    }

    #[test]
    fn non_resource_paths_follow_the_bootstrap_policy() {
        let policy = install(CLUSTER_RBAC);
        let cases = [
            // system:discovery, system:public-info-viewer and (for ServiceAccounts)
            // system:service-account-issuer-discovery.
            ("get /apis", None),
            ("get /apis/argoproj.io/v1alpha1", None),
            ("get /api/v1", None),
            ("get /openapi/v3", None),
            ("get /version", None),
            ("get /healthz", None),
            ("get /.well-known/openid-configuration", None),
            (
                "get /metrics",
                Some(r#"forbidden: User "{SA}" cannot get path "/metrics""#),
            ),
            (
                "get /healthz/etcd",
                Some(r#"forbidden: User "{SA}" cannot get path "/healthz/etcd""#),
            ),
        ];
        check(&policy, &controller(), &cases);

        // Unauthenticated users only get system:public-info-viewer (since Kubernetes 1.14).
        let cases = [
            ("get /version", None),
            ("get /healthz", None),
            ("get /livez", None),
            ("get /readyz", None),
            (
                "get /apis",
                Some(r#"forbidden: User "system:anonymous" cannot get path "/apis""#),
            ),
            (
                "get /api",
                Some(r#"forbidden: User "system:anonymous" cannot get path "/api""#),
            ),
            (
                "head /healthz",
                Some(r#"forbidden: User "system:anonymous" cannot head path "/healthz""#),
            ),
            (
                "get /openid/v1/jwks",
                Some(r#"forbidden: User "system:anonymous" cannot get path "/openid/v1/jwks""#),
            ),
            (
                "list pods default",
                Some(
                    r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#,
                ),
            ),
            (
                "create selfsubjectaccessreviews.authorization.k8s.io -",
                Some(
                    r#"selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "system:anonymous" cannot create resource "selfsubjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope"#,
                ),
            ),
        ];
        check(&policy, &UserInfo::anonymous(), &cases);

        // A trailing `*` is a prefix match; a RoleBinding never grants a path.
        let synthetic = synthetic();
        let cases = [
            ("get /metrics", None),
            ("get /logs/kube-apiserver.log", None),
            (
                "get /logs",
                Some(r#"forbidden: User "carol" cannot get path "/logs""#),
            ),
        ];
        check(&synthetic, &user("carol", &["ops", AUTHENTICATED]), &cases);
        let cases = [(
            "get /metrics",
            Some(r#"forbidden: User "alice" cannot get path "/metrics""#),
        )];
        check(&synthetic, &user("alice", &[AUTHENTICATED]), &cases);
    }

    #[test]
    fn admins_are_allowed_everything() {
        let cases = [
            ("delete nodes - n", None),
            ("deletecollection rollouts.argoproj.io -", None),
            ("escalate clusterroles.rbac.authorization.k8s.io - x", None),
            ("post /metrics", None),
        ];
        check(&Policy::from_objects([]), &UserInfo::admin("root"), &cases);
    }

    #[test]
    fn messages_quote_and_escape_like_the_server() {
        let odd = user("ev\"il <x>\n", &[]);
        let cases = [(
            "get /a&b",
            Some(r#"forbidden: User "ev\"il &lt;x&gt;\n" cannot get path "/a&amp;b""#),
        )];
        check(&Policy::from_objects([]), &odd, &cases);
    }

    #[test]
    fn verbs_follow_request_info() {
        let cases = [
            ("GET", true, false, "get"),
            ("HEAD", true, false, "get"),
            ("GET", false, false, "list"),
            ("GET", false, true, "watch"),
            ("GET", true, true, "get"),
            ("POST", false, false, "create"),
            ("POST", true, false, "create"),
            ("PUT", true, false, "update"),
            ("PATCH", true, false, "patch"),
            ("DELETE", true, false, "delete"),
            ("DELETE", false, false, "deletecollection"),
            ("OPTIONS", false, false, ""),
        ];
        for (method, has_name, watch, expected) in cases {
            let got = verb(method, has_name, watch);
            assert_eq!(got, expected, "{method} name={has_name} watch={watch}");
        }
    }

    fn granted(policy: &Policy, user: &UserInfo) -> Vec<String> {
        policy
            .granted(user)
            .iter()
            .map(Permission::to_string)
            .collect()
    }

    #[test]
    fn granted_lists_the_install_as_written() {
        let mut expected = vec![
            "list rollouts.argoproj.io",
            "watch rollouts.argoproj.io",
            "patch rollouts.argoproj.io",
            "update rollouts/status.argoproj.io",
            "list analysisruns.argoproj.io",
            "watch analysisruns.argoproj.io",
            "create analysisruns.argoproj.io",
            "patch analysisruns.argoproj.io",
            "delete analysisruns.argoproj.io",
            "patch analysisruns/status.argoproj.io",
            "list analysistemplates.argoproj.io",
            "watch analysistemplates.argoproj.io",
            "list clusteranalysistemplates.argoproj.io",
            "watch clusteranalysistemplates.argoproj.io",
            "get secrets",
            "list secrets",
            "list pods",
            "watch pods",
            "create pods/eviction",
            "get applications.argoproj.io",
            "get kustomizations.kustomize.toolkit.fluxcd.io",
            "get gitrepositories.source.toolkit.fluxcd.io",
            "get configmaps",
            "list replicasets.apps",
            "watch replicasets.apps",
            "create replicasets.apps",
            "patch replicasets.apps",
            "delete replicasets.apps",
            "list services",
            "watch services",
            "patch services",
            "list virtualservices.networking.istio.io",
            "watch virtualservices.networking.istio.io",
            "patch virtualservices.networking.istio.io",
            "list destinationrules.networking.istio.io",
            "watch destinationrules.networking.istio.io",
            "patch destinationrules.networking.istio.io",
            "create events.events.k8s.io",
            "patch events.events.k8s.io",
            // From the leader-election Role.
            "get leases.coordination.k8s.io",
            "create leases.coordination.k8s.io",
            "patch leases.coordination.k8s.io",
        ];
        expected.sort_unstable();
        let mut got = granted(&install(CLUSTER_RBAC), &controller());
        got.sort_unstable();
        assert_eq!(got, expected);

        // Wildcards and resourceNames as written; the bootstrap policy (self-reviews,
        // discovery, cluster-admin for system:masters) is not part of an install.
        let alice = user("alice", &[AUTHENTICATED]);
        let expected = [
            "get configmaps",
            "list configmaps",
            "patch */status.*",
            "update */status.*",
            "watch configmaps",
        ];
        assert_eq!(granted(&synthetic(), &alice), expected);
        assert!(granted(&synthetic(), &UserInfo::admin("root")).is_empty());
        assert!(granted(&install(CLUSTER_RBAC), &UserInfo::anonymous()).is_empty());
    }
}
