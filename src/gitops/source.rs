//! Types shared by the Git revert pieces: where a Rollout's image is declared in Git, with
//! which credentials, and where inside a file the image sits.

use std::fmt;

/// The Git location a Rollout is synced from, as discovered from annotations, an Argo CD
/// Application or a Flux Kustomization.
#[derive(Clone, PartialEq, Eq)]
pub struct GitSource {
    pub repo_url: String,
    /// The tracked branch (Argo CD targetRevision / Flux ref.branch); "HEAD" means the remote's
    /// default branch.
    pub branch: String,
    /// Directory (kustomize root, chart directory) or file within the repository; "" or "." is the root.
    pub path: String,
    /// The Secret holding credentials, if any.
    pub credentials: Option<SecretRef>,
    /// For Helm values files: the dotted field that holds the image or tag (`weir.dev/git-image-field`).
    pub helm_image_field: Option<String>,
    /// Human text for events and status, e.g. "Argo CD Application argocd/nodejs-app".
    pub discovered_from: String,
}

impl fmt::Debug for GitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitSource")
            .field("repo_url", &self.repo_url)
            .field("branch", &self.branch)
            .field("path", &self.path)
            .field("credentials", &self.credentials)
            .field("helm_image_field", &self.helm_image_field)
            .field("discovered_from", &self.discovered_from)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

/// Credentials read from a Secret. Debug never shows the secret material.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTPS basic auth; a token is a password (username e.g. "git" or "x-access-token").
    Basic { username: String, password: String },
    /// SSH private key (PEM/OpenSSH text), optional passphrase, and known_hosts lines that the
    /// server's host key must match (no known_hosts means the connection is refused).
    SshKey {
        username: String,
        private_key: String,
        passphrase: Option<String>,
        known_hosts: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: ***** }}")
            }
            Credentials::SshKey {
                username,
                known_hosts,
                ..
            } => write!(
                f,
                "SshKey {{ username: {username:?}, private_key: *****, known_hosts: {} }}",
                if known_hosts.is_some() { "set" } else { "none" }
            ),
        }
    }
}

/// Where inside a file the image is declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLocation {
    /// An `images:` entry of a kustomization file, matched by its `name` (the image name
    /// without tag or digest, as in the Rollout's template before kustomize rewrote it).
    KustomizeImage { name: String },
    /// The `image:` of container `container` of Rollout `rollout` in a (multi-document) manifest.
    ContainerImage { rollout: String, container: String },
    /// A Helm values field given by a dotted path (`image.tag`, `app.image`), holding a tag or a
    /// full image reference.
    HelmValue { field: String },
}

/// A file in the repository (path relative to the repository root) and the place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub location: ImageLocation,
}
