//! Credentials from a Secret in the layouts Argo CD and Flux use, so the Secrets users already
//! have for them work for Weir too.
//!
//! Keys, first match wins:
//! - SSH: `sshPrivateKey` (Argo CD) or `identity` (Flux), with `known_hosts` (Flux) and
//!   `password` as the key's passphrase (Flux). The user is `git` here; [`super::discover_live`]
//!   takes it from the repository URL when the URL names one. Argo CD keeps known hosts in a
//!   ConfigMap, which `discover_live` reads.
//! - HTTPS basic: `username` and `password` (both). A `password` alone is a token; it is sent
//!   with the username `x-access-token`, which GitHub requires for app tokens and GitHub,
//!   GitLab, Gitea and Bitbucket ignore for personal access tokens.
//! - `bearerToken` (Flux; Argo CD for Bitbucket Data Center): sent as HTTPS basic with username
//!   `x-access-token` and the token as password, because the push layer speaks basic auth only.
//!   The Git hosts above accept tokens that way; a server that accepts only an
//!   `Authorization: Bearer` header needs a username/password Secret named by
//!   `weir.dev/git-secret` instead.
//!
//! Surrounding whitespace is trimmed from usernames, passwords and tokens (Secrets made with
//! `--from-file` often end in a newline, which no server accepts as part of a password); key
//! material is kept byte for byte. Error messages name keys, never values.

use super::DiscoverError;
use crate::gitops::source::Credentials;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

/// The username sent with a token that came without one.
const TOKEN_USER: &str = "x-access-token";

/// Reads Git credentials from `secret` (`stringData`, as stored by some tools, then `data`).
///
/// # Errors
/// [`DiscoverError::Credentials`] (without a Rollout; callers add it) when no credential keys
/// are present, a username has no password, the only credentials are a GitHub App's, or a
/// value is not UTF-8 text.
pub fn credentials_from_secret(secret: &Secret) -> Result<Credentials, DiscoverError> {
    let fail = |problem: String| DiscoverError::Credentials {
        rollout: None,
        secret: format!(
            "{}/{}",
            secret.namespace().unwrap_or_default(),
            secret.name_any()
        ),
        problem,
    };
    let raw = |key: &str| -> Result<Option<String>, DiscoverError> {
        let bytes = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| b.0.clone())
            });
        match bytes {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(|text| (!text.trim().is_empty()).then_some(text))
                .map_err(|_| fail(format!("key {key:?} is not UTF-8 text"))),
        }
    };
    let trimmed = |key: &str| -> Result<Option<String>, DiscoverError> {
        Ok(raw(key)?.map(|text| text.trim().to_string()))
    };

    if let Some(private_key) = match raw("sshPrivateKey")? {
        Some(key) => Some(key),
        None => raw("identity")?,
    } {
        return Ok(Credentials::SshKey {
            username: "git".to_string(),
            private_key,
            passphrase: trimmed("password")?,
            known_hosts: raw("known_hosts")?,
        });
    }
    match (trimmed("username")?, trimmed("password")?) {
        (Some(username), Some(password)) => return Ok(Credentials::Basic { username, password }),
        (None, Some(password)) => {
            return Ok(Credentials::Basic {
                username: TOKEN_USER.to_string(),
                password,
            });
        }
        (Some(_), None) if trimmed("bearerToken")?.is_none() => {
            return Err(fail(
                "has key \"username\" but no \"password\"; add the password or token under \"password\"".to_string(),
            ));
        }
        _ => {}
    }
    if let Some(token) = trimmed("bearerToken")? {
        return Ok(Credentials::Basic {
            username: TOKEN_USER.to_string(),
            password: token,
        });
    }
    if raw("githubAppPrivateKey")?.is_some() {
        return Err(fail(
            "holds GitHub App credentials (githubAppID, githubAppPrivateKey), which Weir cannot use yet; put a token with contents:write in a Secret (keys username, password) and name it in the weir.dev/git-secret annotation".to_string(),
        ));
    }
    Err(fail(
        "has no Git credentials: expected username + password, bearerToken, sshPrivateKey or identity (+ known_hosts)".to_string(),
    ))
}
