//! Flux: from a Kustomization and its GitRepository to a Git source.
//!
//! The path is the Kustomization's `spec.path` (the repository root when unset). The branch
//! comes from the GitRepository's `spec.ref`, whose fields take precedence as in Flux: `commit`
//! over `name` over `semver` over `tag` over `branch`, and no `ref` at all means `master`
//! (Flux's default). Only `branch` and `name: refs/heads/...` can take a push; a commit, tag or
//! semver range is something Flux would keep deploying whatever Weir pushed. Credentials are
//! the GitRepository's `spec.secretRef`, which Flux resolves in the GitRepository's namespace.

use super::{Declared, DiscoverError, normalize_path, not_found, object_id, str_at};
use crate::gitops::source::SecretRef;
use serde_json::Value;

const FIX_REF: &str = "Weir only pushes to branches: point spec.ref at a branch, or set the weir.dev/git-branch annotation to say where the revert should go";

/// The Git source a Kustomization (and the GitRepository it names) declares.
pub(super) fn declared(
    rollout: &str,
    kustomization: &Value,
    git_repository: Option<&Value>,
) -> Result<Declared, DiscoverError> {
    let kustomization_id = object_id(kustomization);
    let fail = |problem: String| DiscoverError::Kustomization {
        rollout: rollout.to_string(),
        kustomization: kustomization_id.clone(),
        problem,
    };
    let Some(kind) = str_at(kustomization, &["spec", "sourceRef", "kind"]) else {
        return Err(fail(
            "has no spec.sourceRef; add the weir.dev/git-repo annotation to say where the image is declared".to_string(),
        ));
    };
    let Some((namespace, name)) = git_repository_ref(kustomization) else {
        return Err(fail(format!(
            "takes its manifests from a {kind}, not a GitRepository, so there is no Git branch to push to; add the weir.dev/git-repo annotation (and weir.dev/git-branch, weir.dev/git-path) if they come from Git"
        )));
    };
    let repo_id = format!("{namespace}/{name}");
    let Some(repo) = git_repository.filter(|repo| object_id(repo) == repo_id) else {
        return Err(not_found(
            rollout,
            std::iter::once(format!(
                "Flux GitRepository {repo_id} (spec.sourceRef of Kustomization {kustomization_id})"
            )),
        ));
    };
    let repo_fail = |problem: String| DiscoverError::GitRepository {
        rollout: rollout.to_string(),
        git_repository: repo_id.clone(),
        problem,
    };
    let Some(url) = str_at(repo, &["spec", "url"]) else {
        return Err(repo_fail(
            "has no spec.url; add the weir.dev/git-repo annotation".to_string(),
        ));
    };
    Ok(Declared {
        repo_url: url.to_string(),
        branch: branch_for_ref(repo.pointer("/spec/ref")).map_err(repo_fail),
        path: normalize_path(str_at(kustomization, &["spec", "path"]).unwrap_or(".")),
        credentials: str_at(repo, &["spec", "secretRef", "name"]).map(|secret| SecretRef {
            namespace: namespace.clone(),
            name: secret.to_string(),
        }),
        discovered_from: format!("Flux Kustomization {kustomization_id} (GitRepository {repo_id})"),
    })
}

/// `(namespace, name)` of the GitRepository a Kustomization's `spec.sourceRef` names (its
/// namespace defaults to the Kustomization's), or `None` when the source is not a
/// GitRepository (OCIRepository, Bucket, ExternalArtifact).
pub(super) fn git_repository_ref(kustomization: &Value) -> Option<(String, String)> {
    if str_at(kustomization, &["spec", "sourceRef", "kind"])? != "GitRepository" {
        return None;
    }
    let name = str_at(kustomization, &["spec", "sourceRef", "name"])?;
    let namespace = str_at(kustomization, &["spec", "sourceRef", "namespace"])
        .or_else(|| str_at(kustomization, &["metadata", "namespace"]))
        .unwrap_or("default");
    Some((namespace.to_string(), name.to_string()))
}

/// The branch a GitRepository's `spec.ref` follows, or why it follows no branch.
fn branch_for_ref(reference: Option<&Value>) -> Result<String, String> {
    let field = |key: &str| reference.and_then(|r| str_at(r, &[key]));
    if let Some(commit) = field("commit") {
        return Err(format!("pins commit {commit} (spec.ref.commit); {FIX_REF}"));
    }
    if let Some(name) = field("name") {
        return match name.strip_prefix("refs/heads/") {
            Some(branch) => Ok(branch.to_string()),
            None => Err(format!(
                "follows {name} (spec.ref.name), which is not a branch; {FIX_REF}"
            )),
        };
    }
    if let Some(range) = field("semver") {
        return Err(format!(
            "follows the newest tag in semver range {range:?} (spec.ref.semver); {FIX_REF}"
        ));
    }
    if let Some(tag) = field("tag") {
        return Err(format!("follows tag {tag} (spec.ref.tag); {FIX_REF}"));
    }
    Ok(field("branch").unwrap_or("master").to_string())
}
