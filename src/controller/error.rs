//! Errors of one reconcile. Conflicts (a stale resourceVersion, a JSON patch whose `test` no
//! longer holds) are expected under concurrency and only mean "re-plan from fresh state"; the
//! other categories ([`Category`]) are failures a person may have to fix, and are shown on the
//! Rollout (`crate::rollout::failure`).

pub use crate::rollout::failure::Category;
use crate::rollout::failure::WriteFailure;

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
    /// A write that failed for a reason re-planning does not fix.
    #[error("cannot {verb} {kind} {namespace}/{name}: {source}")]
    Write {
        kind: &'static str,
        /// The RBAC verb (with subresource), e.g. `patch` or `update status`.
        verb: &'static str,
        namespace: String,
        name: String,
        category: Category,
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
    pub fn category(&self) -> Category {
        match self {
            Error::Conflict { .. } => Category::Conflict,
            Error::Write { category, .. } => *category,
            Error::CacheNotReady(_) => Category::CacheNotReady,
            Error::Internal(_) => Category::Internal,
        }
    }

    /// The refused write, for the Rollout's `ReconcileError` condition (see
    /// [`Category::refused`]).
    pub fn write_failure(&self) -> Option<WriteFailure> {
        match self {
            Error::Write {
                kind,
                verb,
                namespace,
                name,
                category,
                source,
            } if category.refused() => Some(WriteFailure {
                kind: (*kind).to_string(),
                namespace: namespace.clone(),
                name: name.clone(),
                verb: (*verb).to_string(),
                category: *category,
                message: match source {
                    kube::Error::Api(status) => status.message.clone(),
                    other => other.to_string(),
                },
            }),
            _ => None,
        }
    }

    /// A failed `verb` of `kind` `namespace/name`: a conflict to re-plan, or a write failure.
    pub(crate) fn from_kube(
        kind: &'static str,
        verb: &'static str,
        namespace: &str,
        name: &str,
        source: kube::Error,
    ) -> Self {
        match Category::of(&source) {
            Category::Conflict => Error::Conflict {
                kind,
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
            category => Error::Write {
                kind,
                verb,
                namespace: namespace.to_string(),
                name: name.to_string(),
                category,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::failure::api_error as api;

    #[test]
    fn conflicts_replan_and_other_failures_are_writes() {
        let conflict = Error::from_kube("VirtualService", "patch", "ns", "vs", api(409, "x"));
        assert!(matches!(conflict, Error::Conflict { .. }));
        assert!(conflict.write_failure().is_none());
        let forbidden = Error::from_kube("VirtualService", "patch", "ns", "vs", api(403, "no"));
        assert_eq!(forbidden.category(), Category::Forbidden);
        assert!(
            forbidden
                .to_string()
                .starts_with("cannot patch VirtualService ns/vs: "),
            "{forbidden}"
        );
        let failure = forbidden.write_failure().unwrap();
        assert_eq!(
            (failure.verb.as_str(), failure.message.as_str()),
            ("patch", "no")
        );
        let away = Error::from_kube("VirtualService", "patch", "ns", "vs", api(503, "down"));
        assert_eq!(away.category(), Category::Unavailable);
        assert!(away.write_failure().is_none(), "retried, not shown");
    }
}
