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
use std::time::Duration;

/// How long to wait before attempt `attempt + 1` after `attempt` consecutive failures. A
/// conflict only means fresh state is a watch event away; anything else may take a person, so
/// it backs off further, but not so far that a fixed RBAC rule waits long to take effect.
pub fn backoff(category: Category, attempt: u32) -> Duration {
    let (base, cap) = match category {
        Category::Conflict => (Duration::from_millis(200), Duration::from_secs(5)),
        _ => (Duration::from_secs(1), Duration::from_secs(30)),
    };
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    base.saturating_mul(factor).min(cap)
}

/// Consecutive failures per key.
pub struct Attempts<K> {
    counts: Mutex<HashMap<K, u32>>,
}

impl<K> Default for Attempts<K> {
    fn default() -> Self {
        Self {
            counts: Mutex::default(),
        }
    }
}

impl<K: Hash + Eq> Attempts<K> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, u32>> {
        // Single inserts and removes: consistent whatever panicked.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more failure of `key`; the delay before trying again.
    pub fn failed(&self, key: K, category: Category) -> Duration {
        let mut counts = self.lock();
        let attempt = counts.entry(key).or_default();
        *attempt = attempt.saturating_add(1);
        backoff(category, *attempt)
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
    fn backoff_doubles_to_a_cap() {
        let ms = |category, attempt| backoff(category, attempt).as_millis();
        assert_eq!(
            (1..=6)
                .map(|n| ms(Category::Forbidden, n))
                .collect::<Vec<_>>(),
            [1000, 2000, 4000, 8000, 16000, 30000]
        );
        assert_eq!(ms(Category::Conflict, 1), 200);
        assert_eq!(ms(Category::Conflict, 10), 5000);
        assert_eq!(ms(Category::Unavailable, u32::MAX), 30000);
        let attempts = Attempts::default();
        assert_eq!(attempts.failed("web", Category::Invalid).as_secs(), 1);
        assert_eq!(attempts.failed("web", Category::Invalid).as_secs(), 2);
        attempts.succeeded(&"web");
        assert_eq!(attempts.failed("web", Category::Invalid).as_secs(), 1);
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
