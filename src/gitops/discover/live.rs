//! Discovery against a cluster: fetch what [`discover`] needs, then the credentials Secret.

use super::{
    ANNOTATION_REPO, ANNOTATION_SECRET, ARGOCD_SECRET_TYPE, DiscoverError, Found, Owner,
    annotation, credentials_from_secret, discover, flux, not_found, owner_hints, rollout_id,
};
use crate::api::rollout::Rollout;
use crate::gitops::source::{Credentials, GitSource, SecretRef};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// Where Argo CD keeps SSH known hosts (its repository Secrets have none).
const ARGOCD_KNOWN_HOSTS_CONFIGMAP: &str = "argocd-ssh-known-hosts-cm";
const ARGOCD_KNOWN_HOSTS_KEY: &str = "ssh_known_hosts";

fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

fn kustomization_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    )
}

fn git_repository_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    )
}

/// Fetches the objects [`discover`] needs, then discovers, then reads the credentials Secret.
///
/// Lookups, in precedence order, stopping at the first owner that exists: the Argo CD
/// Application (in `argocd_namespace`, default Argo CD's `argocd`, unless the instance name
/// says another namespace), then the Flux Kustomization and its GitRepository. Argo CD's
/// repository Secrets (label `argocd.argoproj.io/secret-type` in `argocd_namespace`) are
/// listed only when an Application was found and no `weir.dev/git-secret` names the Secret.
/// A Rollout with `weir.dev/git-repo` needs no lookups but its Secret.
///
/// SSH credentials get the user from the repository URL when it names one (`ssh://user@host/…`,
/// `user@host:…`), and for Argo CD Secrets the known hosts from Argo CD's
/// `argocd-ssh-known-hosts-cm` ConfigMap.
///
/// # Errors
/// Whatever [`discover`] reports; [`DiscoverError::NotFound`] when the Rollout names owners
/// none of which exists; [`DiscoverError::SecretNotFound`] or a credentials error for the
/// Secret; [`DiscoverError::Lookup`] when the API server fails (retryable).
pub async fn discover_live(
    client: &kube::Client,
    rollout: &Rollout,
    argocd_namespace: &str,
) -> Result<(GitSource, Option<Credentials>), DiscoverError> {
    let argocd_namespace = if argocd_namespace.is_empty() {
        "argocd"
    } else {
        argocd_namespace
    };
    let id = rollout_id(rollout);
    let found = if annotation(rollout, ANNOTATION_REPO).is_some() {
        Found::default()
    } else {
        find_owner(client, rollout, argocd_namespace, &id).await?
    };
    let source = discover(rollout, &found)?;
    let Some(secret_ref) = &source.credentials else {
        return Ok((source, None));
    };
    let listed = found.argocd_secrets.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(&secret_ref.namespace)
            && s.metadata.name.as_deref() == Some(&secret_ref.name)
    });
    let secret = match listed {
        Some(secret) => secret.clone(),
        None => fetch_secret(client, secret_ref, rollout, &source, &id).await?,
    };
    let mut credentials = credentials_from_secret(&secret).map_err(|e| e.for_rollout(&id))?;
    if let Credentials::SshKey {
        username,
        known_hosts,
        ..
    } = &mut credentials
    {
        if let Some(user) = ssh_user(&source.repo_url) {
            *username = user.to_string();
        }
        let from_argocd = secret
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(ARGOCD_SECRET_TYPE));
        if known_hosts.is_none() && from_argocd {
            *known_hosts = argocd_known_hosts(client, &secret_ref.namespace, &id).await?;
        }
    }
    Ok((source, Some(credentials)))
}

/// Looks up the Rollout's owners in [`owner_hints`] order and returns the first that exists,
/// with what [`discover`] needs next to it.
async fn find_owner(
    client: &kube::Client,
    rollout: &Rollout,
    argocd_namespace: &str,
    id: &str,
) -> Result<Found, DiscoverError> {
    let mut found = Found::default();
    let mut looked_for = Vec::new();
    for owner in owner_hints(rollout, argocd_namespace) {
        match &owner {
            Owner::ArgoCd {
                app_name,
                app_namespace,
            } => {
                let namespace = app_namespace.as_deref().unwrap_or(argocd_namespace);
                let what = format!("Argo CD Application {namespace}/{app_name}");
                let api = Api::namespaced_with(client.clone(), namespace, &application_resource());
                if let Some(application) = get(&api, app_name, id, &what).await? {
                    found.application = Some(application);
                    // A weir.dev/git-secret replaces Argo CD's credentials: no need to list them.
                    if annotation(rollout, ANNOTATION_SECRET).is_none() {
                        found.argocd_secrets = argocd_secrets(client, argocd_namespace, id).await?;
                    }
                    return Ok(found);
                }
                looked_for.push(what);
            }
            Owner::Flux { name, namespace } => {
                let what = owner.to_string();
                let api =
                    Api::namespaced_with(client.clone(), namespace, &kustomization_resource());
                if let Some(kustomization) = get(&api, name, id, &what).await? {
                    // Without a GitRepository sourceRef there is nothing more to fetch;
                    // discover() explains what is wrong with the Kustomization.
                    if let Some((repo_ns, repo_name)) = flux::git_repository_ref(&kustomization) {
                        let what = format!("Flux GitRepository {repo_ns}/{repo_name}");
                        let api = Api::namespaced_with(
                            client.clone(),
                            &repo_ns,
                            &git_repository_resource(),
                        );
                        found.git_repository = get(&api, &repo_name, id, &what).await?;
                    }
                    found.kustomization = Some(kustomization);
                    return Ok(found);
                }
                looked_for.push(what);
            }
        }
    }
    if looked_for.is_empty() {
        // No hints at all: discover() reports that, with what to add.
        Ok(found)
    } else {
        Err(not_found(id, looked_for.into_iter()))
    }
}

/// Argo CD's repository Secrets of the types [`discover`] chooses from.
async fn argocd_secrets(
    client: &kube::Client,
    namespace: &str,
    id: &str,
) -> Result<Vec<Secret>, DiscoverError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let types = "repository,repo-creds,repository-write,repo-write-creds";
    let params = ListParams::default().labels(&format!("{ARGOCD_SECRET_TYPE} in ({types})"));
    api.list(&params)
        .await
        .map(|list| list.items)
        .map_err(|e| lookup(id, &format!("Argo CD repository Secrets in {namespace}"), e))
}

async fn get(
    api: &Api<DynamicObject>,
    name: &str,
    rollout: &str,
    what: &str,
) -> Result<Option<Value>, DiscoverError> {
    let object = api
        .get_opt(name)
        .await
        .map_err(|e| lookup(rollout, what, e))?;
    object
        .map(|o| serde_json::to_value(o).map_err(|e| lookup(rollout, what, e)))
        .transpose()
}

async fn fetch_secret(
    client: &kube::Client,
    secret_ref: &SecretRef,
    rollout: &Rollout,
    source: &GitSource,
    id: &str,
) -> Result<Secret, DiscoverError> {
    let what = format!("Secret {}/{}", secret_ref.namespace, secret_ref.name);
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret_ref.namespace);
    match api.get_opt(&secret_ref.name).await {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(DiscoverError::SecretNotFound {
            rollout: id.to_string(),
            secret: format!("{}/{}", secret_ref.namespace, secret_ref.name),
            referenced_by: if annotation(rollout, ANNOTATION_SECRET).is_some() {
                format!("the {ANNOTATION_SECRET} annotation")
            } else {
                source.discovered_from.clone()
            },
        }),
        Err(e) => Err(lookup(id, &what, e)),
    }
}

/// Argo CD's known hosts; `None` when the ConfigMap or key is missing (the push layer then
/// refuses the host and says so).
async fn argocd_known_hosts(
    client: &kube::Client,
    namespace: &str,
    rollout: &str,
) -> Result<Option<String>, DiscoverError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let what = format!("ConfigMap {namespace}/{ARGOCD_KNOWN_HOSTS_CONFIGMAP}");
    let config_map = api
        .get_opt(ARGOCD_KNOWN_HOSTS_CONFIGMAP)
        .await
        .map_err(|e| lookup(rollout, &what, e))?;
    Ok(config_map
        .and_then(|cm| cm.data)
        .and_then(|mut data| data.remove(ARGOCD_KNOWN_HOSTS_KEY))
        .filter(|hosts| !hosts.trim().is_empty()))
}

fn lookup(rollout: &str, what: &str, error: impl std::fmt::Display) -> DiscoverError {
    DiscoverError::Lookup {
        rollout: rollout.to_string(),
        what: what.to_string(),
        message: error.to_string(),
    }
}

/// The user an SSH URL names: `ssh://user@host/…` or scp-like `user@host:…`.
pub(super) fn ssh_user(url: &str) -> Option<&str> {
    let rest = match url.split_once("://") {
        Some(("ssh", rest)) => rest,
        Some(_) => return None,
        None => url,
    };
    let authority = rest.split(['/', ':']).next()?;
    let (user, _host) = authority.split_once('@')?;
    (!user.is_empty()).then_some(user)
}
