//! Discovery: which Git repository, branch and path a Rollout is synced from, and which Secret
//! holds credentials that can push there.
//!
//! Sources, first match wins:
//! 1. **Annotations** on the Rollout: `weir.dev/git-repo`, with `weir.dev/git-branch` (default
//!    `HEAD`, the remote's default branch: an explicit repository with no branch most likely
//!    means "the main line", and the push layer resolves `HEAD` on the remote instead of Weir
//!    guessing `main` or `master`), `weir.dev/git-path` (default `.`, the repository root) and
//!    `weir.dev/git-secret` (`name` in the Rollout's namespace, or `namespace/name`). Needs no
//!    cluster lookups.
//! 2. **Argo CD**: the Application named by the Rollout's `argocd.argoproj.io/tracking-id`
//!    annotation, else by its `app.kubernetes.io/instance` label (see [`owner_hints`]); its
//!    source's `repoURL`, `targetRevision` and `path` (rules in `argocd.rs`); credentials from
//!    Argo CD's repository Secrets.
//! 3. **Flux**: the Kustomization named by the `kustomize.toolkit.fluxcd.io/name` and
//!    `kustomize.toolkit.fluxcd.io/namespace` labels; its `spec.path`, and the GitRepository
//!    of its `spec.sourceRef` (`url`, `ref`, `secretRef`).
//!
//! `weir.dev/git-branch`, `weir.dev/git-path`, `weir.dev/git-secret` and
//! `weir.dev/git-image-field` also apply on top of Argo CD and Flux, field by field. The common
//! reason: the credentials Argo CD or Flux pull with are often read-only deploy keys, and
//! `weir.dev/git-secret` names one that can push. An explicit `weir.dev/git-branch` also stands
//! in for a revision Weir cannot push to (a tag, a commit): the user said where reverts go.
//!
//! [`discover`] is pure (the tests feed it objects); [`discover_live`] fetches the objects with
//! a kube client first, and reads the credentials.

mod argocd;
mod credentials;
mod flux;
mod live;
#[cfg(test)]
mod tests;

pub use credentials::credentials_from_secret;
pub use live::discover_live;

use super::source::{GitSource, SecretRef};
use crate::api::rollout::Rollout;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use serde_json::Value;
use std::fmt;

/// `"true"` opts a Rollout into Git revert (the same key the abort logic reads).
pub const ANNOTATION_REVERT: &str = crate::rollout::revert_request::ANNOTATION_GIT_REVERT;
pub const ANNOTATION_REPO: &str = "weir.dev/git-repo";
pub const ANNOTATION_BRANCH: &str = "weir.dev/git-branch";
pub const ANNOTATION_PATH: &str = "weir.dev/git-path";
/// `name` (in the Rollout's namespace) or `namespace/name`.
pub const ANNOTATION_SECRET: &str = "weir.dev/git-secret";
pub const ANNOTATION_IMAGE_FIELD: &str = "weir.dev/git-image-field";
/// `"true"`: push the revert to a review branch instead of the tracked branch.
pub const ANNOTATION_REVIEW: &str = "weir.dev/git-review";

/// Argo CD's annotation tracking: `<app>:<group>/<kind>:<namespace>/<name>`.
pub const ARGOCD_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// Argo CD's label tracking (the default label key).
pub const ARGOCD_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The label that marks Argo CD repository Secrets and its values.
pub const ARGOCD_SECRET_TYPE: &str = "argocd.argoproj.io/secret-type";
pub const FLUX_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
pub const FLUX_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// Which Argo CD Application or Flux Kustomization to look up for a Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `app_namespace` is `None` for Applications in the Argo CD namespace (Argo CD writes the
    /// bare name) and `Some` for "apps in any namespace" (Argo CD writes `<namespace>_<name>`).
    ArgoCd {
        app_name: String,
        app_namespace: Option<String>,
    },
    Flux {
        name: String,
        namespace: String,
    },
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::ArgoCd {
                app_name,
                app_namespace: Some(namespace),
            } => write!(f, "Argo CD Application {namespace}/{app_name}"),
            Owner::ArgoCd {
                app_name,
                app_namespace: None,
            } => write!(
                f,
                "Argo CD Application {app_name} (in the Argo CD namespace)"
            ),
            Owner::Flux { name, namespace } => {
                write!(f, "Flux Kustomization {namespace}/{name}")
            }
        }
    }
}

/// The first of [`owner_hints`]: the owner Weir looks up first.
pub fn owner_hint(rollout: &Rollout, argocd_namespace: &str) -> Option<Owner> {
    owner_hints(rollout, argocd_namespace).into_iter().next()
}

/// Every owner the Rollout's metadata points at, most reliable first: the Argo CD tracking-id
/// annotation, the `app.kubernetes.io/instance` label, the Flux labels. All are returned
/// because the instance label is also set by Helm charts and by hand (the Kubernetes
/// recommended labels), so a Flux-managed Rollout often carries one that names no Application;
/// the lookup then falls through to the next hint.
///
/// A tracking-id that names another resource is ignored, as Argo CD does: it was copied (by a
/// tool or a template) and does not say who manages this Rollout.
pub fn owner_hints(rollout: &Rollout, argocd_namespace: &str) -> Vec<Owner> {
    let namespace = rollout_namespace(rollout);
    let name = rollout.name_any();
    let mut hints = Vec::new();
    let mut push = |owner: Owner| {
        if !hints.contains(&owner) {
            hints.push(owner);
        }
    };
    if let Some(id) = annotation(rollout, ARGOCD_TRACKING_ID).and_then(TrackingId::parse)
        && id.names(&namespace, &name)
    {
        push(argocd_owner(&id.app, argocd_namespace));
    }
    if let Some(instance) = label(rollout, ARGOCD_INSTANCE_LABEL) {
        push(argocd_owner(instance, argocd_namespace));
    }
    if let Some(flux_name) = label(rollout, FLUX_NAME_LABEL) {
        // Flux sets both labels; without the namespace one, the Rollout's own namespace is the
        // likeliest place (a Kustomization applying into its own namespace).
        let flux_namespace = label(rollout, FLUX_NAMESPACE_LABEL).unwrap_or(&namespace);
        push(Owner::Flux {
            name: flux_name.to_string(),
            namespace: flux_namespace.to_string(),
        });
    }
    hints
}

/// An Argo CD instance name: `<namespace>_<name>` for apps outside the Argo CD namespace
/// (Kubernetes names cannot contain `_`, so the split is unambiguous), else the bare name.
fn argocd_owner(instance: &str, argocd_namespace: &str) -> Owner {
    match instance.split_once('_') {
        Some((namespace, app)) if namespace != argocd_namespace => Owner::ArgoCd {
            app_name: app.to_string(),
            app_namespace: Some(namespace.to_string()),
        },
        Some((_, app)) => Owner::ArgoCd {
            app_name: app.to_string(),
            app_namespace: None,
        },
        None => Owner::ArgoCd {
            app_name: instance.to_string(),
            app_namespace: None,
        },
    }
}

/// A parsed `argocd.argoproj.io/tracking-id` value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TrackingId {
    app: String,
    group: String,
    kind: String,
    namespace: String,
    name: String,
}

impl TrackingId {
    /// `<app>:<group>/<kind>:<namespace>/<name>`; the group is empty for core kinds and the
    /// namespace for cluster-scoped ones. None of the parts can contain `:`.
    fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(':');
        let (app, group_kind, namespaced_name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || app.is_empty() {
            return None;
        }
        let (group, kind) = group_kind.split_once('/')?;
        let (namespace, name) = namespaced_name.split_once('/')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(TrackingId {
            app: app.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    fn names(&self, namespace: &str, name: &str) -> bool {
        self.group == "argoproj.io"
            && self.kind == "Rollout"
            && self.name == name
            && (self.namespace.is_empty() || self.namespace == namespace)
    }
}

/// Objects the controller looked up for [`discover`], as JSON (Application, Kustomization and
/// GitRepository are other projects' CRDs; Weir reads a handful of fields).
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The Argo CD Application (`argoproj.io/v1alpha1`) managing the Rollout.
    pub application: Option<Value>,
    /// The Flux Kustomization (`kustomize.toolkit.fluxcd.io/v1`) managing the Rollout.
    pub kustomization: Option<Value>,
    /// The Flux GitRepository (`source.toolkit.fluxcd.io/v1`) the Kustomization's sourceRef names.
    pub git_repository: Option<Value>,
    /// Argo CD's repository Secrets (labelled `argocd.argoproj.io/secret-type`).
    pub argocd_secrets: Vec<Secret>,
}

/// Why no usable Git source was found. Every message names the Rollout, what was looked at and
/// what to do; none contains secret material (values are never read into messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error(
        "Rollout {rollout}: no Git source found: it has no weir.dev/git-repo annotation, no Argo CD tracking (argocd.argoproj.io/tracking-id annotation or app.kubernetes.io/instance label) and no Flux labels (kustomize.toolkit.fluxcd.io/name and kustomize.toolkit.fluxcd.io/namespace); add the weir.dev/git-repo annotation (and weir.dev/git-branch, weir.dev/git-path, weir.dev/git-secret as needed)"
    )]
    NoSource { rollout: String },
    #[error(
        "Rollout {rollout}: looked for {looked_for} and found none; fix the Rollout's tracking labels/annotations or the Argo CD namespace setting, or add the weir.dev/git-repo annotation"
    )]
    NotFound { rollout: String, looked_for: String },
    #[error("Rollout {rollout}: annotation {annotation}={value:?} {problem}")]
    Annotation {
        rollout: String,
        annotation: &'static str,
        value: String,
        problem: String,
    },
    #[error("Rollout {rollout}: Argo CD Application {application} {problem}")]
    Application {
        rollout: String,
        application: String,
        problem: String,
    },
    #[error("Rollout {rollout}: Flux Kustomization {kustomization} {problem}")]
    Kustomization {
        rollout: String,
        kustomization: String,
        problem: String,
    },
    #[error("Rollout {rollout}: Flux GitRepository {git_repository} {problem}")]
    GitRepository {
        rollout: String,
        git_repository: String,
        problem: String,
    },
    /// `rollout` is `None` only from [`credentials_from_secret`] called on its own.
    #[error("{}Secret {secret} {problem}", rollout_prefix(.rollout))]
    Credentials {
        rollout: Option<String>,
        secret: String,
        problem: String,
    },
    #[error(
        "Rollout {rollout}: Secret {secret} (named by {referenced_by}) was not found; create it, or point the weir.dev/git-secret annotation at a Secret with push credentials"
    )]
    SecretNotFound {
        rollout: String,
        secret: String,
        referenced_by: String,
    },
    #[error("Rollout {rollout}: cannot read {what}: {message}; Weir retries")]
    Lookup {
        rollout: String,
        what: String,
        message: String,
    },
}

fn rollout_prefix(rollout: &Option<String>) -> String {
    rollout
        .as_ref()
        .map(|r| format!("Rollout {r}: "))
        .unwrap_or_default()
}

impl DiscoverError {
    /// Names the Rollout in a credentials error that was raised without one.
    fn for_rollout(self, id: &str) -> Self {
        match self {
            DiscoverError::Credentials {
                rollout: None,
                secret,
                problem,
            } => DiscoverError::Credentials {
                rollout: Some(id.to_string()),
                secret,
                problem,
            },
            other => other,
        }
    }
}

/// Where the Rollout's image is declared in Git, by the precedence in the module docs.
///
/// # Errors
/// [`DiscoverError`] when no source applies, an object it needs is missing, or the source
/// cannot take a push (a tag, a commit, a Helm repository, an OCI source).
pub fn discover(rollout: &Rollout, found: &Found) -> Result<GitSource, DiscoverError> {
    let id = rollout_id(rollout);
    let wanted = Overrides::read(rollout, &id)?;
    if let Some(repo_url) = annotation(rollout, ANNOTATION_REPO) {
        return Ok(GitSource {
            repo_url: repo_url.to_string(),
            branch: wanted.branch.unwrap_or_else(|| "HEAD".to_string()),
            path: wanted.path.unwrap_or_else(|| ".".to_string()),
            credentials: wanted.secret,
            helm_image_field: wanted.image_field,
            discovered_from: format!("annotation {ANNOTATION_REPO} on Rollout {id}"),
        });
    }
    let declared = if let Some(application) = &found.application {
        argocd::declared(
            &id,
            application,
            &found.argocd_secrets,
            wanted.image_field.as_deref(),
            wanted.path.is_some(),
        )?
    } else if let Some(kustomization) = &found.kustomization {
        flux::declared(&id, kustomization, found.git_repository.as_ref())?
    } else {
        let hints = owner_hints(rollout, "");
        if hints.is_empty() {
            return Err(DiscoverError::NoSource { rollout: id });
        }
        return Err(not_found(&id, hints.iter().map(ToString::to_string)));
    };
    // An explicit branch also replaces a revision Weir could not push to (module docs).
    let branch = match (wanted.branch, declared.branch) {
        (Some(branch), _) | (None, Ok(branch)) => branch,
        (None, Err(error)) => return Err(error),
    };
    Ok(GitSource {
        repo_url: declared.repo_url,
        branch,
        path: wanted.path.unwrap_or(declared.path),
        credentials: wanted.secret.or(declared.credentials),
        helm_image_field: wanted.image_field,
        discovered_from: declared.discovered_from,
    })
}

fn not_found(rollout: &str, looked_for: impl Iterator<Item = String>) -> DiscoverError {
    DiscoverError::NotFound {
        rollout: rollout.to_string(),
        looked_for: looked_for.collect::<Vec<_>>().join(", then "),
    }
}

/// What Argo CD or Flux declare, before the Rollout's annotations are applied.
struct Declared {
    repo_url: String,
    /// The branch, or why the declared revision cannot be pushed to (an explicit
    /// `weir.dev/git-branch` still makes the source usable).
    branch: Result<String, DiscoverError>,
    path: String,
    credentials: Option<SecretRef>,
    discovered_from: String,
}

/// The `weir.dev/git-*` annotations that refine any source.
struct Overrides {
    branch: Option<String>,
    path: Option<String>,
    secret: Option<SecretRef>,
    image_field: Option<String>,
}

impl Overrides {
    fn read(rollout: &Rollout, id: &str) -> Result<Self, DiscoverError> {
        let secret = annotation(rollout, ANNOTATION_SECRET)
            .map(|value| parse_secret_annotation(value, &rollout_namespace(rollout), id))
            .transpose()?;
        Ok(Overrides {
            branch: annotation(rollout, ANNOTATION_BRANCH)
                .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string()),
            path: annotation(rollout, ANNOTATION_PATH).map(normalize_path),
            secret,
            image_field: annotation(rollout, ANNOTATION_IMAGE_FIELD).map(str::to_string),
        })
    }
}

fn parse_secret_annotation(
    value: &str,
    rollout_namespace: &str,
    id: &str,
) -> Result<SecretRef, DiscoverError> {
    let (namespace, name) = value.split_once('/').unwrap_or((rollout_namespace, value));
    let valid = |part: &str| !part.is_empty() && !part.contains(['/', ' ']);
    if valid(namespace) && valid(name) {
        Ok(SecretRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    } else {
        Err(DiscoverError::Annotation {
            rollout: id.to_string(),
            annotation: ANNOTATION_SECRET,
            value: value.to_string(),
            problem: "is not a Secret reference; write \"name\" (a Secret in the Rollout's namespace) or \"namespace/name\"".to_string(),
        })
    }
}

/// An annotation's value, trimmed; blank counts as absent (templating often renders an unset
/// value as "").
fn annotation<'a>(rollout: &'a Rollout, key: &str) -> Option<&'a str> {
    rollout
        .annotations()
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn label<'a>(rollout: &'a Rollout, key: &str) -> Option<&'a str> {
    rollout
        .labels()
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn rollout_namespace(rollout: &Rollout) -> String {
    rollout.namespace().unwrap_or_else(|| "default".to_string())
}

/// `namespace/name`, as messages name the Rollout.
fn rollout_id(rollout: &Rollout) -> String {
    format!("{}/{}", rollout_namespace(rollout), rollout.name_any())
}

/// `namespace/name` of a JSON object.
fn object_id(object: &Value) -> String {
    let field = |key| str_at(object, &["metadata", key]).unwrap_or_default();
    format!("{}/{}", field("namespace"), field("name"))
}

/// A non-blank string at `path`.
fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A repository-relative path in one spelling: no `./`, no trailing `/`, `..` resolved, and
/// `.` for the root, so equal locations compare equal whatever Argo CD / Flux / users wrote.
fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            // Above the root is outside the repository; Argo CD and Flux refuse such paths,
            // and clamping keeps Weir inside the checkout.
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}
