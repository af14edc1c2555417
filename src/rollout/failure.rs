//! Writes the controller could not make, as the Rollout shows them. Whichever loop failed (the
//! Rollout's own apply, the AnalysisRun reconciler recording measurements, the Git revert
//! worker recording its result), the Rollout gets one `ReconcileError` condition and a Warning
//! Event that name the object, the verb, what the API server said and what to do about it.
//! A plan whose writes all go through removes the condition again.

use super::conditions;
use crate::api::rollout::RolloutStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The condition type (Weir's; Argo's tools show it like any other condition).
pub const RECONCILE_ERROR: &str = "ReconcileError";
/// The Event reason.
pub const REASON_RECONCILE_ERROR: &str = "ReconcileError";

/// Bounded failure kinds: the `category` label of `rollout_reconcile_error` and the log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// 409, or the generic 422 of a JSON patch that no longer applies: someone else wrote first.
    Conflict,
    /// 403: RBAC does not grant the verb.
    Forbidden,
    /// 404: the object (or the subresource, or the whole resource) does not exist.
    NotFound,
    /// 422 with field causes, or 400: the API server refused the object.
    Invalid,
    /// 401, 429, 5xx or no answer at all: the API server is away or overloaded.
    Unavailable,
    /// The caches never completed their first list.
    CacheNotReady,
    /// A bug in Weir (a patch it could not even build).
    Internal,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Conflict => "conflict",
            Category::Forbidden => "forbidden",
            Category::NotFound => "not_found",
            Category::Invalid => "invalid",
            Category::Unavailable => "unavailable",
            Category::CacheNotReady => "cache_not_ready",
            Category::Internal => "internal",
        }
    }

    /// The message the real server gives a JSON patch it could not apply (a `test` that no
    /// longer holds). It carries no field causes, unlike a validation failure, which is how
    /// the two 422s are told apart.
    pub const PATCH_NOT_APPLIED: &'static str =
        "the server rejected our request due to an error in our request";

    /// The category of a failed API call.
    pub fn of(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => match status.code {
                409 => Category::Conflict,
                422 if status.message == Self::PATCH_NOT_APPLIED => Category::Conflict,
                422 | 400 => Category::Invalid,
                403 => Category::Forbidden,
                404 | 405 => Category::NotFound,
                _ => Category::Unavailable,
            },
            _ => Category::Unavailable,
        }
    }

    /// Whether the API server refused the write (403, 404, 422): retrying alone will not fix
    /// it, so it is shown on the Rollout. Conflicts and an API server that is away or
    /// overloaded are only retried (and logged).
    pub fn refused(self) -> bool {
        matches!(
            self,
            Category::Forbidden | Category::NotFound | Category::Invalid
        )
    }

    /// The condition reason.
    fn reason(self) -> &'static str {
        match self {
            Category::Forbidden => "Forbidden",
            Category::NotFound => "NotFound",
            Category::Invalid => "Invalid",
            Category::Conflict => "Conflict",
            Category::Unavailable | Category::CacheNotReady => "Unavailable",
            Category::Internal => "InternalError",
        }
    }

    fn fix(self, kind: &str) -> &'static str {
        match self {
            Category::Forbidden => {
                "grant it to the controller's ServiceAccount: deploy/cluster-rbac/rbac.yaml (or \
                 deploy/namespaced/rbac.yaml) lists every permission Weir uses; apply it again"
            }
            Category::NotFound if kind == "AnalysisRun" || kind == "Rollout" => {
                "check that the installed CRDs serve it (kubectl get crd); Weir works with its own \
                 crds/ or Argo Rollouts' CRDs"
            }
            Category::NotFound => "create it, or correct the name the Rollout's spec gives for it",
            Category::Invalid => {
                "correct what the API server names (a name, label or value Weir copies from the \
                 Rollout), or report a bug if the value is Weir's own"
            }
            Category::Unavailable | Category::CacheNotReady | Category::Conflict => {
                "Weir retries with backoff; check the API server's health if this persists"
            }
            Category::Internal => "this is a bug in Weir; please report it with the controller log",
        }
    }
}

/// One write that failed, with what the API server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    /// `VirtualService`, `AnalysisRun`, ...
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// What was attempted, as RBAC names it: `patch`, `update status`, `create`.
    pub verb: String,
    pub category: Category,
    /// The API server's message.
    pub message: String,
}

impl WriteFailure {
    /// `cannot patch VirtualService shop/web: <server message>; <fix>`
    pub fn describe(&self) -> String {
        format!(
            "cannot {} {} {}/{}: {}; {}",
            self.verb,
            self.kind,
            self.namespace,
            self.name,
            self.message,
            self.category.fix(&self.kind)
        )
    }
}

/// Shows `failure` as the Rollout's `ReconcileError` condition; true if the condition changed
/// (an unchanged condition is not written again, so a failing write repeated under backoff does
/// not turn into a stream of status writes).
pub fn report(status: &mut RolloutStatus, failure: &WriteFailure, now: &Time) -> bool {
    let message = failure.describe();
    let unchanged = conditions::get(status, RECONCILE_ERROR).is_some_and(|c| {
        c.status == "True" && c.reason == failure.category.reason() && c.message == message
    });
    if !unchanged {
        conditions::set(
            status,
            RECONCILE_ERROR,
            "True",
            failure.category.reason(),
            &message,
            now,
            false,
        );
    }
    !unchanged
}

/// Removes the condition once writes go through again.
pub fn clear(status: &mut RolloutStatus) {
    conditions::remove(status, RECONCILE_ERROR);
}

/// An API error as kube reports one, for tests.
#[cfg(test)]
pub(crate) fn api_error(code: u16, message: &str) -> kube::Error {
    kube::Error::Api(
        kube::core::Status {
            code,
            message: message.into(),
            ..kube::core::Status::failure(message, "")
        }
        .boxed(),
    )
}

#[cfg(test)]
mod tests {
    use super::api_error as api;
    use super::*;

    #[test]
    fn categories_of_api_errors() {
        let cases = [
            (api(409, "the object has been modified"), Category::Conflict),
            (api(422, Category::PATCH_NOT_APPLIED), Category::Conflict),
            (
                api(
                    422,
                    "Rollout.argoproj.io \"web\" is invalid: spec: Required value",
                ),
                Category::Invalid,
            ),
            (api(403, "forbidden"), Category::Forbidden),
            (api(404, "not found"), Category::NotFound),
            (api(503, "unavailable"), Category::Unavailable),
            (api(429, "slow down"), Category::Unavailable),
        ];
        for (error, want) in cases {
            assert_eq!(Category::of(&error), want, "{error}");
        }
        let refused: Vec<bool> = [
            Category::Forbidden,
            Category::NotFound,
            Category::Invalid,
            Category::Conflict,
            Category::Unavailable,
        ]
        .into_iter()
        .map(Category::refused)
        .collect();
        assert_eq!(refused, [true, true, true, false, false]);
    }

    fn failure(category: Category) -> WriteFailure {
        WriteFailure {
            kind: "VirtualService".into(),
            namespace: "shop".into(),
            name: "web".into(),
            verb: "patch".into(),
            category,
            message: "virtualservices.networking.istio.io \"web\" is forbidden: ...".into(),
        }
    }

    #[test]
    fn the_condition_names_object_verb_and_fix_and_is_written_once() {
        let now = Time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let mut status = RolloutStatus::default();
        assert!(report(&mut status, &failure(Category::Forbidden), &now));
        let condition = conditions::get(&status, RECONCILE_ERROR).unwrap();
        assert_eq!(condition.reason, "Forbidden");
        assert!(
            condition
                .message
                .starts_with("cannot patch VirtualService shop/web: virtualservices"),
            "{}",
            condition.message
        );
        assert!(condition.message.contains("deploy/cluster-rbac/rbac.yaml"));
        let later = Time(jiff::Timestamp::from_second(1_700_000_100).unwrap());
        assert!(!report(&mut status, &failure(Category::Forbidden), &later));
        assert!(report(&mut status, &failure(Category::NotFound), &later));
        clear(&mut status);
        assert!(conditions::get(&status, RECONCILE_ERROR).is_none());
    }
}
