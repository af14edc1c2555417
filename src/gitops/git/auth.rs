//! Credentials and server identity for one network operation (ls-remote, fetch or push), and
//! turning libgit2's errors into [`GitError`]s that say what to fix without showing secrets.

use super::known_hosts::{self, Verdict};
use super::{GitError, Remote, redact};
use crate::gitops::source::Credentials;
use git2::{CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};
use std::cell::{Cell, RefCell};

const KIND_BASIC: &str = "HTTPS username/password (or token)";
const KIND_SSH: &str = "SSH key";
const KIND_NONE: &str = "anonymous access (no credentials are configured)";
const KIND_HOST_KEY: &str = "SSH host key check against the Secret's known_hosts";

/// State shared by the callbacks of one operation. libgit2 asks for credentials again after the
/// server refuses them, and keeps asking for as long as the callback answers; remembering that
/// credentials were already offered is what turns bad credentials into a prompt error instead
/// of an endless loop.
pub(super) struct Auth<'a> {
    remote: &'a Remote,
    offered: Cell<bool>,
    /// Set when a callback refused to go on: which kind of credential failed, and why.
    refused: RefCell<Option<(&'static str, String)>>,
}

impl<'a> Auth<'a> {
    pub(super) fn new(remote: &'a Remote) -> Self {
        Auth {
            remote,
            offered: Cell::new(false),
            refused: RefCell::new(None),
        }
    }

    fn refuse(&self, kind: &'static str, why: String) -> git2::Error {
        let error = git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, why.as_str());
        *self.refused.borrow_mut() = Some((kind, why));
        error
    }

    pub(super) fn callbacks(&'a self) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, user_from_url, allowed| {
            self.credentials(user_from_url, allowed)
        });
        callbacks.certificate_check(move |cert, hostname| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS: libgit2's own verification against the system's CA bundle decides.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let known = match &self.remote.credentials {
                Some(Credentials::SshKey {
                    known_hosts: Some(known),
                    ..
                }) => known,
                Some(Credentials::SshKey { .. }) => {
                    return Err(self.refuse(
                        KIND_HOST_KEY,
                        "the SSH credentials have no known_hosts, so the server cannot be verified; \
                         add known_hosts (e.g. from `ssh-keyscan <host>`) to the Secret"
                            .into(),
                    ));
                }
                // Refused here rather than in the credentials callback, which comes later:
                // the server is not verified either way.
                Some(Credentials::Basic { .. }) | None => {
                    return Err(self.refuse(
                        self.kind(),
                        "an SSH URL needs SSH key credentials with known_hosts in the Secret".into(),
                    ));
                }
            };
            let Some(key) = hostkey.hostkey() else {
                return Err(self.refuse(
                    KIND_HOST_KEY,
                    "the SSH library did not report the server's raw host key, so it cannot be checked".into(),
                ));
            };
            let (host, port) = known_hosts::ssh_endpoint(&self.remote.url)
                .unwrap_or_else(|| (hostname.to_string(), 22));
            match known_hosts::verify(known, &host, port, key) {
                Verdict::Trusted => Ok(CertificateCheckStatus::CertificateOk),
                Verdict::Refused(why) => Err(self.refuse(KIND_HOST_KEY, why)),
            }
        });
        callbacks
    }

    fn credentials(
        &self,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        match &self.remote.credentials {
            None => Err(self.refuse(
                KIND_NONE,
                "the server asks for credentials; configure a Secret (weir.dev/git-secret, or Argo CD / Flux repository credentials)".into(),
            )),
            Some(Credentials::Basic { username, password }) => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(self.refuse(
                        KIND_BASIC,
                        format!("the server does not accept a username/password here (it accepts {}); use an https:// URL or SSH credentials", describe(allowed)),
                    ));
                }
                if self.offered.replace(true) {
                    return Err(self.refuse(
                        KIND_BASIC,
                        format!("the server refused the username/password for user {username:?}"),
                    ));
                }
                Cred::userpass_plaintext(username, password)
            }
            Some(Credentials::SshKey {
                username,
                private_key,
                passphrase,
                ..
            }) => {
                // A user in the URL (git@host:...) is what the server expects; the Secret's
                // username is the fallback for URLs without one.
                let user = user_from_url.unwrap_or(username);
                if allowed.contains(CredentialType::USERNAME) {
                    return Cred::username(user);
                }
                if !allowed.contains(CredentialType::SSH_KEY) {
                    return Err(self.refuse(
                        KIND_SSH,
                        format!("the server does not accept an SSH key here (it accepts {}); use an ssh:// URL or username/password credentials", describe(allowed)),
                    ));
                }
                if self.offered.replace(true) {
                    return Err(self.refuse(
                        KIND_SSH,
                        format!("the server refused the SSH key for user {user:?} (or the key or its passphrase is invalid)"),
                    ));
                }
                Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref())
            }
        }
    }

    /// The kind of credential this operation used, for errors the callbacks did not see coming.
    fn kind(&self) -> &'static str {
        match &self.remote.credentials {
            None => KIND_NONE,
            Some(Credentials::Basic { .. }) => KIND_BASIC,
            Some(Credentials::SshKey { .. }) => KIND_SSH,
        }
    }

    /// Classifies a failed network operation on `url` (already stripped of passwords).
    pub(super) fn error(&self, url: &str, error: &git2::Error) -> GitError {
        let url = url.to_string();
        if let Some((kind, why)) = self.refused.borrow_mut().take() {
            return GitError::Auth {
                url,
                kind,
                detail: why,
            };
        }
        let detail = redact(error.message(), self.remote);
        let http_status =
            |code: &str| error.class() == ErrorClass::Http && error.message().contains(code);
        match (error.code(), error.class()) {
            (ErrorCode::Auth, _) => GitError::Auth {
                url,
                kind: self.kind(),
                detail,
            },
            (ErrorCode::Certificate, _) => GitError::Auth {
                url,
                kind: "server certificate check",
                detail,
            },
            _ if http_status("401") || http_status("403") => GitError::Auth {
                url,
                kind: self.kind(),
                detail: format!(
                    "{detail} (the credentials lack access, or write access, to this repository)"
                ),
            },
            (
                _,
                ErrorClass::Net
                | ErrorClass::Os
                | ErrorClass::Http
                | ErrorClass::Ssh
                | ErrorClass::Ssl,
            )
            | (ErrorCode::NotFound, _) => GitError::Unreachable { url, detail },
            _ => GitError::Other { url, detail },
        }
    }
}

/// The credential types a server offered, in words.
fn describe(allowed: CredentialType) -> String {
    let names = [
        (CredentialType::USER_PASS_PLAINTEXT, "username/password"),
        (CredentialType::SSH_KEY, "SSH key"),
        (CredentialType::SSH_MEMORY, "SSH key"),
        (CredentialType::SSH_CUSTOM, "SSH signature"),
        (CredentialType::SSH_INTERACTIVE, "keyboard-interactive"),
        (CredentialType::DEFAULT, "Negotiate/NTLM"),
        (CredentialType::USERNAME, "username"),
    ];
    let mut words: Vec<&str> = Vec::new();
    for (kind, name) in names {
        if allowed.contains(kind) && !words.contains(&name) {
            words.push(name);
        }
    }
    if words.is_empty() {
        "nothing Weir can provide".into()
    } else {
        words.join(", ")
    }
}
