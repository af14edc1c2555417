//! Start-up of the controller process: which cluster it talks to (a kubeconfig or the pod's
//! service account), whether that API server answers, and errors that say what to fix. Every
//! failure here is one line naming the server and where its address came from, because an
//! operator reading a crash-looping pod's log has nothing else to go on.

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig, KubeconfigError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable for `--kubeconfig` (one file).
pub const KUBECONFIG_ENV: &str = "WEIR_KUBECONFIG";
/// kubectl's list of kubeconfig files, merged, read when neither `--kubeconfig` nor
/// `WEIR_KUBECONFIG` is set.
const KUBECTL_ENV: &str = "KUBECONFIG";
/// How long the first request may take before start-up gives up on the API server.
const FIRST_ANSWER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "no kubeconfig: set --kubeconfig, {KUBECONFIG_ENV} or {KUBECTL_ENV}, or run in a cluster"
    )]
    NoKubeconfig,
    #[error(
        "no kubeconfig to take --context {0} from: set --kubeconfig, {KUBECONFIG_ENV} or {KUBECTL_ENV}"
    )]
    NoKubeconfigForContext(String),
    #[error("cannot read kubeconfig {path} (from {from}): {reason}")]
    ReadKubeconfig {
        path: String,
        from: &'static str,
        reason: String,
    },
    #[error("kubeconfig {path} (from {from}): {reason}")]
    InvalidKubeconfig {
        path: String,
        from: &'static str,
        reason: String,
    },
    #[error("in-cluster configuration: {0}; mount the service account token, or set --kubeconfig")]
    InCluster(String),
    #[error("cannot create a client for the API server {server} ({origin}): {reason}")]
    Client {
        server: String,
        origin: String,
        reason: String,
    },
    #[error("cannot reach the API server {server} ({origin}): {reason}")]
    Unreachable {
        server: String,
        origin: String,
        reason: String,
    },
    #[error(
        "the API server {server} ({origin}) rejected the credentials: {reason}; check the kubeconfig's user or the service account token"
    )]
    Unauthorized {
        server: String,
        origin: String,
        reason: String,
    },
    #[error("the API server {server} ({origin}) answered {reason}")]
    Refused {
        server: String,
        origin: String,
        reason: String,
    },
}

/// The cluster the controller talks to, and where that came from.
pub struct Target {
    pub config: Config,
    /// E.g. `kubeconfig /home/me/.kube/config, context prod` or `in-cluster service account`.
    pub origin: String,
}

impl Target {
    /// The API server's address as written in the kubeconfig.
    pub fn server(&self) -> String {
        let url = self.config.cluster_url.to_string();
        match url.strip_suffix('/') {
            Some(bare) if self.config.cluster_url.path() == "/" => bare.to_string(),
            _ => url,
        }
    }

    pub fn client(&self) -> Result<Client, StartupError> {
        Client::try_from(self.config.clone()).map_err(|e| StartupError::Client {
            server: self.server(),
            origin: self.origin.clone(),
            reason: describe(&e),
        })
    }
}

/// Finds the cluster as kubectl and Argo Rollouts do: `--kubeconfig` (or `WEIR_KUBECONFIG`),
/// else the files in `KUBECONFIG`, else `~/.kube/config`, else the pod's service account.
/// Unlike kube's `Config::infer`, a kubeconfig that is named but broken is an error, not a
/// silent fall-back to in-cluster configuration.
pub async fn target(flag: Option<&Path>, context: Option<&str>) -> Result<Target, StartupError> {
    let env_path = non_empty_env(KUBECONFIG_ENV).map(PathBuf::from);
    let explicit = match (flag, env_path) {
        (Some(path), _) => Some((vec![path.to_path_buf()], "--kubeconfig")),
        (None, Some(path)) => Some((vec![path], KUBECONFIG_ENV)),
        (None, None) => None,
    };
    let kubectl = || {
        let value = std::env::var_os(KUBECTL_ENV)?;
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        (!paths.is_empty()).then_some((paths, KUBECTL_ENV))
    };
    let home = || {
        let path = std::env::home_dir()?.join(".kube").join("config");
        path.exists()
            .then_some((vec![path], "the default location"))
    };
    if let Some((paths, from)) = explicit.or_else(kubectl).or_else(home) {
        return from_files(&paths, from, context).await;
    }
    if let Some(context) = context {
        return Err(StartupError::NoKubeconfigForContext(context.to_string()));
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        return Err(StartupError::NoKubeconfig);
    }
    let mut config = Config::incluster().map_err(|e| StartupError::InCluster(describe(&e)))?;
    config.apply_debug_overrides();
    Ok(Target {
        config,
        origin: "in-cluster service account".to_string(),
    })
}

async fn from_files(
    paths: &[PathBuf],
    from: &'static str,
    context: Option<&str>,
) -> Result<Target, StartupError> {
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let invalid = |reason: String| StartupError::InvalidKubeconfig {
        path: shown.clone(),
        from,
        reason,
    };
    let mut merged = Kubeconfig::default();
    for path in paths {
        let read = Kubeconfig::read_from(path).map_err(|e| match e {
            KubeconfigError::ReadConfig(io, _) => StartupError::ReadKubeconfig {
                path: path.display().to_string(),
                from,
                reason: io_reason(&io),
            },
            other => StartupError::InvalidKubeconfig {
                path: path.display().to_string(),
                from,
                reason: describe(&other),
            },
        })?;
        merged = merged.merge(read).map_err(|e| invalid(describe(&e)))?;
    }
    let chosen = match context {
        Some(name) => {
            if !merged.contexts.iter().any(|c| c.name == name) {
                let known: Vec<&str> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(invalid(format!(
                    "no context {name:?} (it has: {}); fix --context",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            name.to_string()
        }
        None => match merged.current_context.clone().filter(|c| !c.is_empty()) {
            Some(current) => current,
            None => return Err(invalid("no current-context; pass --context".to_string())),
        },
    };
    let options = KubeConfigOptions {
        context: Some(chosen.clone()),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(merged, &options)
        .await
        .map_err(|e| invalid(format!("context {chosen}: {}", describe(&e))))?;
    config.apply_debug_overrides();
    Ok(Target {
        config,
        origin: format!("from kubeconfig {shown}, context {chosen}"),
    })
}

/// Asks the API server for its version once, so that a wrong address or bad credentials end
/// start-up with a message instead of watches retrying in the background forever.
pub async fn check_api_server(client: &Client, target: &Target) -> Result<(), StartupError> {
    let (server, origin) = (target.server(), target.origin.clone());
    let answer = match tokio::time::timeout(FIRST_ANSWER, client.apiserver_version()).await {
        Ok(answer) => answer,
        Err(_) => {
            return Err(StartupError::Unreachable {
                server,
                origin,
                reason: format!("no answer within {FIRST_ANSWER:?}"),
            });
        }
    };
    match answer {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => {
            let reason = match (status.reason.is_empty(), status.message.is_empty()) {
                (false, false) => format!("{} {}: {}", status.code, status.reason, status.message),
                (false, true) => format!("{} {}", status.code, status.reason),
                (true, false) => format!("{}: {}", status.code, status.message),
                (true, true) => status.code.to_string(),
            };
            if status.code == 401 {
                Err(StartupError::Unauthorized {
                    server,
                    origin,
                    reason,
                })
            } else {
                Err(StartupError::Refused {
                    server,
                    origin,
                    reason,
                })
            }
        }
        Err(other) => Err(StartupError::Unreachable {
            server,
            origin,
            reason: network_reason(&other),
        }),
    }
}

/// An error and its sources on one line, each message once: kube's errors (and errors that
/// wrap them) repeat their source in their own message, so a plain chain says everything
/// two or three times.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Why a request got no answer: the innermost I/O error when there is one ("connection
/// refused"), which is what an operator can act on, else the whole chain.
fn network_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = None;
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            innermost = Some(io);
        }
        current = e.source();
    }
    match innermost {
        Some(io) => io_reason(io),
        None => describe(error),
    }
}

fn io_reason(error: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let plain = match error.kind() {
        NotFound => "no such file",
        PermissionDenied => "permission denied",
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset",
        TimedOut => "connection timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        _ => return describe(error),
    };
    plain.to_string()
}

fn non_empty_env(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle: {0}")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn describe_says_each_message_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = Outer(Middle(io));
        assert_eq!(describe(&error), "outer: middle: refused");
        assert_eq!(network_reason(&error), "connection refused");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Terse(#[source] std::io::Error);

    #[test]
    fn describe_keeps_sources_a_message_leaves_out() {
        let io = std::io::Error::other("tcp connect error");
        assert_eq!(
            describe(&Terse(io)),
            "client error (Connect): tcp connect error"
        );
    }
}
