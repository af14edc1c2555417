//! Errors of one reconcile. Conflicts (stale resourceVersion, failed JSON-patch test) are
//! expected under concurrency and only mean "re-plan from fresh state".

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{kind} {namespace}/{name} changed while Weir was updating it; re-planning from fresh state"
    )]
    Conflict {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("writing {kind} {namespace}/{name} failed: {source}")]
    Write {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "the informer caches did not sync within {0:?}; check the controller's RBAC and API server connectivity"
    )]
    CacheNotReady(std::time::Duration),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Conflict { .. } => "conflict",
            Error::Write { .. } => "write",
            Error::CacheNotReady(_) => "cache_not_ready",
            Error::Internal(_) => "internal",
        }
    }

    pub(crate) fn from_kube(
        kind: &'static str,
        namespace: &str,
        name: &str,
        source: kube::Error,
    ) -> Self {
        let conflict =
            matches!(&source, kube::Error::Api(status) if status.code == 409 || status.code == 422);
        if conflict {
            Error::Conflict {
                kind,
                namespace: namespace.to_string(),
                name: name.to_string(),
            }
        } else {
            Error::Write {
                kind,
                namespace: namespace.to_string(),
                name: name.to_string(),
                source,
            }
        }
    }
}
