//! Writes that keep failing, shared by Weir's loops. The AnalysisRun reconciler and the Git
//! revert worker cannot show their failures on the Rollout themselves, so they record them
//! here and the Rollout is reconciled: its plan shows them (`ReconcileError`) and, for an
//! AnalysisRun whose results cannot be stored, holds the Rollout where it is. Every loop also
//! retries with the same backoff instead of a fixed interval.

use crate::api::rollout::Rollout;
use crate::rollout::failure::{Category, WriteFailure};
use futures::channel::mpsc;
use kube::runtime::reflector::ObjectRef;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long to wait before trying again a write that has been failing for `failing_for`: as
/// long again, so the waits double while the failure lasts, between a floor and a cap. A
/// conflict only means fresh state is a watch event away; anything else may take a person, so
/// it backs off further, but not so far that a fixed RBAC rule waits long to take effect.
/// Measured by time, not by attempts, so a burst of watch events that retries early does not
/// leave the next retry far off.
pub fn backoff(category: Category, failing_for: Duration) -> Duration {
    let (floor, cap) = match category {
        Category::Conflict => (Duration::from_millis(200), Duration::from_secs(5)),
        _ => (Duration::from_secs(1), Duration::from_secs(30)),
    };
    failing_for.clamp(floor, cap)
}

/// When each key started failing.
pub struct Attempts<K> {
    since: Mutex<HashMap<K, Instant>>,
}

impl<K> Default for Attempts<K> {
    fn default() -> Self {
        Self {
            since: Mutex::default(),
        }
    }
}

impl<K: Hash + Eq> Attempts<K> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Instant>> {
        // Single inserts and removes: consistent whatever panicked.
        self.since.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Another failure of `key`; the delay before trying again.
    pub fn failed(&self, key: K, category: Category) -> Duration {
        let now = Instant::now();
        let since = *self.lock().entry(key).or_insert(now);
        backoff(category, now.duration_since(since))
    }

    pub fn succeeded(&self, key: &K) {
        self.lock().remove(key);
    }
}

type Reported = HashMap<ObjectRef<Rollout>, BTreeMap<(String, String, String), WriteFailure>>;

/// Failures other loops are retrying, by the Rollout they concern.
pub struct Failures {
    reported: Mutex<Reported>,
    /// Reconciles the Rollout when one of its failures appears or goes away.
    trigger: mpsc::UnboundedSender<ObjectRef<Rollout>>,
}

impl Failures {
    /// The registry, and the stream of Rollouts to reconcile because of it.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<ObjectRef<Rollout>>) {
        let (trigger, triggered) = mpsc::unbounded();
        (
            Self {
                reported: Mutex::default(),
                trigger,
            },
            triggered,
        )
    }

    fn lock(&self) -> MutexGuard<'_, Reported> {
        // Single inserts and removes: consistent whatever panicked.
        self.reported.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(failure: &WriteFailure) -> (String, String, String) {
        (
            failure.kind.clone(),
            failure.name.clone(),
            failure.verb.clone(),
        )
    }

    pub fn failed(&self, rollout: ObjectRef<Rollout>, failure: WriteFailure) {
        let changed = {
            let mut reported = self.lock();
            let entries = reported.entry(rollout.clone()).or_default();
            entries.insert(Self::key(&failure), failure.clone()) != Some(failure)
        };
        if changed {
            let _ = self.trigger.unbounded_send(rollout);
        }
    }

    /// `kind` `name` was written by `verb` after all.
    pub fn succeeded(&self, rollout: &ObjectRef<Rollout>, kind: &str, name: &str, verb: &str) {
        let removed = {
            let mut reported = self.lock();
            let key = (kind.to_string(), name.to_string(), verb.to_string());
            let removed = reported
                .get_mut(rollout)
                .is_some_and(|entries| entries.remove(&key).is_some());
            if reported.get(rollout).is_some_and(BTreeMap::is_empty) {
                reported.remove(rollout);
            }
            removed
        };
        if removed {
            let _ = self.trigger.unbounded_send(rollout.clone());
        }
    }

    pub fn for_rollout(&self, rollout: &ObjectRef<Rollout>) -> Vec<WriteFailure> {
        self.lock()
            .get(rollout)
            .map(|entries| entries.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops what was recorded for Rollouts that no longer exist.
    pub fn retain(&self, exists: impl Fn(&ObjectRef<Rollout>) -> bool) {
        self.lock().retain(|rollout, _| exists(rollout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn backoff_follows_how_long_it_has_failed() {
        let secs = Duration::from_secs;
        let cases = [
            (Category::Forbidden, Duration::ZERO, secs(1)),
            (Category::Forbidden, Duration::from_millis(150), secs(1)),
            (Category::Forbidden, secs(7), secs(7)),
            (Category::Unavailable, secs(600), secs(30)),
            (
                Category::Conflict,
                Duration::ZERO,
                Duration::from_millis(200),
            ),
            (Category::Conflict, secs(60), secs(5)),
        ];
        for (category, failing_for, want) in cases {
            assert_eq!(
                backoff(category, failing_for),
                want,
                "{category:?} {failing_for:?}"
            );
        }
        let attempts = Attempts::default();
        assert_eq!(attempts.failed("web", Category::Invalid), secs(1));
        assert_eq!(
            attempts.failed("web", Category::Invalid),
            secs(1),
            "a burst stays at the floor"
        );
        attempts.succeeded(&"web");
        assert_eq!(attempts.failed("web", Category::Invalid), secs(1));
    }

    fn failure(name: &str) -> WriteFailure {
        WriteFailure {
            kind: "AnalysisRun".into(),
            namespace: "shop".into(),
            name: name.into(),
            verb: "patch status".into(),
            category: Category::Forbidden,
            message: "forbidden".into(),
        }
    }

    #[tokio::test]
    async fn failures_are_kept_per_rollout_and_trigger_it() {
        let (failures, mut triggered) = Failures::new();
        let web = ObjectRef::<Rollout>::new("web").within("shop");
        failures.failed(web.clone(), failure("web-1"));
        failures.failed(web.clone(), failure("web-1"));
        assert_eq!(failures.for_rollout(&web), [failure("web-1")]);
        failures.succeeded(&web, "AnalysisRun", "web-1", "patch status");
        assert!(failures.for_rollout(&web).is_empty());
        drop(failures);
        let sent: Vec<_> = triggered.by_ref().collect().await;
        assert_eq!(
            sent,
            [web.clone(), web],
            "one trigger per change, not per repeat"
        );
    }
}
