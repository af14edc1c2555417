//! Argo CD: from an Application to a Git source, and from Argo CD's repository Secrets to the
//! one holding credentials for it.
//!
//! Which source of an Application declares the Rollout:
//! - `spec.sourceHydrator.drySource` when present (the hydrator renders it; the DRY source is
//!   where people edit images), else `spec.sources` when non-empty (Argo CD ignores
//!   `spec.source` then), else `spec.source`.
//! - Of several sources, the first one with a `path`: sources without one are Helm charts from
//!   a Helm repository or `ref`-only sources that just lend values files, and neither is a Git
//!   directory that produces manifests. A single source without `path` and without `chart` is
//!   the repository root.
//! - Helm (a `helm` section or a `chart`): the image sits in a values file, which field only the
//!   `weir.dev/git-image-field` annotation says. With it, the path is the *last* entry of
//!   `helm.valueFiles` (Helm merges them in order, so the last one that sets the field wins;
//!   environment-specific files come last by convention), resolved relative to the chart
//!   directory, or via `$<ref>/file` to the source with that `ref`, whose repository and branch
//!   are then the ones to push to. Without value files, the chart directory.
//!   `weir.dev/git-path` overrides this choice.
//!
//! `targetRevision`: empty or `HEAD` is the remote's default branch, `refs/heads/x` is `x`, and a
//! commit SHA, `refs/tags/...`, other `refs/...` or a semver range cannot be pushed to. Any other
//! name is taken as a branch: a plain tag name cannot be told from a branch without asking the
//! remote, and the push layer fails cleanly when no such branch exists.

use super::{ARGOCD_SECRET_TYPE, Declared, DiscoverError, normalize_path, object_id, str_at};
use crate::gitops::source::SecretRef;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use serde_json::Value;

const FIX: &str = "add the weir.dev/git-repo annotation (and weir.dev/git-branch, weir.dev/git-path) to say where the image is declared";

/// The Git source an Application declares for the Rollout.
pub(super) fn declared(
    rollout: &str,
    application: &Value,
    secrets: &[Secret],
    image_field: Option<&str>,
    path_overridden: bool,
) -> Result<Declared, DiscoverError> {
    let app_id = object_id(application);
    let fail = |problem: String| DiscoverError::Application {
        rollout: rollout.to_string(),
        application: app_id.clone(),
        problem,
    };
    let spec = application.get("spec").unwrap_or(&Value::Null);
    let (sources, field): (Vec<&Value>, &str) =
        if let Some(dry) = spec.get("sourceHydrator").and_then(|h| h.get("drySource")) {
            (vec![dry], "spec.sourceHydrator.drySource")
        } else if let Some(list) = spec
            .get("sources")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        {
            (list.iter().collect(), "spec.sources")
        } else if let Some(source) = spec.get("source").filter(|s| s.is_object()) {
            (vec![source], "spec.source")
        } else {
            return Err(fail(format!(
                "has no spec.source, spec.sources or spec.sourceHydrator; {FIX}"
            )));
        };
    let multi = field == "spec.sources";
    let name_of = |index: usize| {
        if multi {
            format!("{field}[{index}]")
        } else {
            field.to_string()
        }
    };

    let chosen = sources
        .iter()
        .position(|s| str_at(s, &["path"]).is_some())
        .or_else(|| (!multi && str_at(sources[0], &["chart"]).is_none()).then_some(0));
    // (index of the source to push to, path within it)
    let (index, path) = match chosen {
        Some(index) => {
            let source = sources[index];
            let chart_dir = normalize_path(str_at(source, &["path"]).unwrap_or("."));
            let is_helm = source.get("helm").is_some();
            match (is_helm && !path_overridden, image_field) {
                (false, _) => (index, chart_dir),
                (true, None) => {
                    return Err(fail(format!(
                        "renders the Helm chart at {chart_dir} ({}); Weir cannot tell which values field holds the image: add the weir.dev/git-image-field annotation (e.g. image.tag), or weir.dev/git-path if the image is declared elsewhere",
                        name_of(index)
                    )));
                }
                (true, Some(_)) => values_file(&sources, index).unwrap_or((index, chart_dir)),
            }
        }
        None => {
            // Only chart sources (and ref sources lending values files) are left: the image
            // can still be in a values file in Git.
            let Some(chart) = sources.iter().position(|s| str_at(s, &["chart"]).is_some()) else {
                return Err(fail(format!(
                    "has no source with a path in Git ({field}); {FIX}"
                )));
            };
            let chart_name = str_at(sources[chart], &["chart"]).unwrap_or_default();
            let chart_repo = str_at(sources[chart], &["repoURL"]).unwrap_or_default();
            if image_field.is_none() && !path_overridden {
                return Err(fail(format!(
                    "deploys Helm chart {chart_name} from the Helm repository {chart_repo} ({}), not from Git; if a values file in Git sets the image, add the weir.dev/git-image-field annotation (e.g. image.tag); otherwise {FIX}",
                    name_of(chart),
                )));
            }
            values_file(&sources, chart).ok_or_else(|| {
                fail(format!(
                    "deploys Helm chart {chart_name} from the Helm repository {chart_repo} ({}), and none of its helm.valueFiles is in a Git source ($<ref>/file); {FIX}",
                    name_of(chart),
                ))
            })?
        }
    };

    let source = sources[index];
    let Some(repo_url) = str_at(source, &["repoURL"]) else {
        return Err(fail(format!("has no repoURL in {}; {FIX}", name_of(index))));
    };
    if repo_url.starts_with("oci://") {
        return Err(fail(format!(
            "takes {} from the OCI registry {repo_url}, not from Git; {FIX}",
            name_of(index)
        )));
    }
    let revision = str_at(source, &["targetRevision"]).unwrap_or("HEAD");
    let branch = branch_for_revision(revision).map_err(|problem| {
        fail(format!(
            "tracks targetRevision {revision:?} ({}), {problem}; Weir only pushes to branches: make the Application track a branch, or set the weir.dev/git-branch annotation to say where the revert should go",
            name_of(index)
        ))
    });
    let project = str_at(application, &["spec", "project"]).unwrap_or("default");
    Ok(Declared {
        repo_url: repo_url.to_string(),
        branch,
        path,
        credentials: credentials_secret(secrets, repo_url, project).map(|secret| SecretRef {
            namespace: secret.namespace().unwrap_or_default(),
            name: secret.name_any(),
        }),
        // The plain single-source case reads like the Application; others say which source.
        discovered_from: if field == "spec.source" {
            format!("Argo CD Application {app_id}")
        } else {
            format!("Argo CD Application {app_id} {}", name_of(index))
        },
    })
}

/// The values file of Helm source `index` that most likely sets the image: its last
/// `helm.valueFiles` entry that is in Git. Returns the source holding it and the
/// repository-relative path. URLs are skipped (nothing to push to).
fn values_file(sources: &[&Value], index: usize) -> Option<(usize, String)> {
    let source = sources[index];
    let files = source
        .get("helm")
        .and_then(|h| h.get("valueFiles"))
        .and_then(Value::as_array)?;
    files
        .iter()
        .filter_map(Value::as_str)
        .rev()
        .find_map(|file| {
            if file.contains("://") {
                None
            } else if let Some(rest) = file.strip_prefix('$') {
                let (reference, path) = rest.split_once('/')?;
                let holder = sources
                    .iter()
                    .position(|s| str_at(s, &["ref"]) == Some(reference))?;
                Some((holder, normalize_path(path)))
            } else if str_at(source, &["chart"]).is_some() {
                // A chart from a Helm repository: relative values files live in the chart
                // package, not in Git.
                None
            } else if file.starts_with('/') {
                Some((index, normalize_path(file)))
            } else {
                let chart_dir = str_at(source, &["path"]).unwrap_or(".");
                Some((index, normalize_path(&format!("{chart_dir}/{file}"))))
            }
        })
}

/// The branch a `targetRevision` tracks, or why it is not a branch.
fn branch_for_revision(revision: &str) -> Result<String, String> {
    if revision.is_empty() || revision == "HEAD" {
        return Ok("HEAD".to_string());
    }
    if let Some(branch) = revision.strip_prefix("refs/heads/") {
        return Ok(branch.to_string());
    }
    if revision.starts_with("refs/tags/") {
        return Err("which is a tag".to_string());
    }
    if revision.starts_with("refs/") {
        return Err("which is not a branch".to_string());
    }
    let hex = revision.chars().all(|c| c.is_ascii_hexdigit());
    if hex && (revision.len() == 40 || revision.len() == 64) {
        return Err("which pins a commit".to_string());
    }
    if revision.contains(['*', '^', '~', '>', '<', '=', ' ', ',', '|']) {
        return Err("which is a semver range over tags".to_string());
    }
    Ok(revision.to_string())
}

/// Secret types in the order Weir uses them, and whether their `url` must equal the
/// repository's or be a prefix of it (credential templates). The write types come first: they
/// exist (since Argo CD 3, for the source hydrator) precisely to hold push credentials, while
/// the pull credentials of the plain types are often read-only deploy keys.
const SECRET_TYPES: [(&str, bool); 4] = [
    ("repository-write", false),
    ("repo-write-creds", true),
    ("repository", false),
    ("repo-creds", true),
];

/// The Argo CD Secret with credentials for `repo_url`, as Argo CD picks it: a repository Secret
/// whose `url` equals the repository's (see [`normalize_url`]), else the credential template
/// with the longest `url` prefix. Secrets without credentials (a repository registered only for
/// other settings gets them from a template), of type `helm`/`oci`, or scoped to another
/// AppProject are skipped. Ties go to the first by name, for a stable choice.
pub(super) fn credentials_secret<'a>(
    secrets: &'a [Secret],
    repo_url: &str,
    project: &str,
) -> Option<&'a Secret> {
    let repo = normalize_url(repo_url);
    let mut usable: Vec<&Secret> = secrets
        .iter()
        .filter(|s| {
            let kind = value(s, "type");
            let scope = value(s, "project");
            (kind.is_none() || kind.as_deref() == Some("git"))
                && scope.is_none_or(|p| p == project)
                && has_credentials(s)
        })
        .collect();
    usable.sort_by_key(|s| s.name_any());
    SECRET_TYPES.iter().find_map(|(kind, prefix)| {
        let of_kind = usable
            .iter()
            .filter(|s| s.labels().get(ARGOCD_SECRET_TYPE).map(String::as_str) == Some(*kind))
            .filter_map(|s| Some((*s, normalize_url(&value(s, "url")?))));
        if *prefix {
            of_kind
                .filter(|(_, url)| !url.is_empty() && repo.starts_with(url.as_str()))
                // `max_by_key` keeps the last maximum; reversing keeps the first by name.
                .rev()
                .max_by_key(|(_, url)| url.len())
                .map(|(s, _)| s)
        } else {
            of_kind
                .filter(|(_, url)| *url == repo)
                .map(|(s, _)| s)
                .next()
        }
    })
}

fn has_credentials(secret: &Secret) -> bool {
    [
        "username",
        "password",
        "sshPrivateKey",
        "bearerToken",
        "githubAppPrivateKey",
    ]
    .iter()
    .any(|key| value(secret, key).is_some())
}

/// A non-blank text value of a Secret key (`stringData` as written, or `data`), for the
/// non-secret keys Weir matches on (`url`, `type`, `project`) and for presence checks.
fn value(secret: &Secret, key: &str) -> Option<String> {
    let text = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key).cloned())
        .or_else(|| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        })?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A repository URL in the form Argo CD compares them in: lower case, surrounding space,
/// trailing `/` and `.git` removed, and SSH URLs (`ssh://user@host/path` or the scp-like
/// `user@host:path`) both written `user@host/path`.
pub(super) fn normalize_url(url: &str) -> String {
    let mut url = url.trim().to_ascii_lowercase();
    while url.ends_with('/') {
        url.pop();
    }
    if let Some(stripped) = url.strip_suffix(".git") {
        url = stripped.trim_end_matches('/').to_string();
    }
    if let Some(rest) = url.strip_prefix("ssh://") {
        return rest.to_string();
    }
    if !url.contains("://")
        && let Some((host, path)) = url.split_once(':')
        && !host.contains('/')
    {
        return format!("{host}/{path}");
    }
    url
}
