//! Holds back reconciles that would plan from a Rollout older than the controller's own last
//! status write. A reconcile's writes to ReplicaSets, Services and VirtualServices trigger the
//! next reconcile through their watches, often before the Rollout watch has delivered the status
//! that reconcile wrote; planning from the cached Rollout repeats decisions already carried out,
//! and its status write fails with a conflict. The Rollout watch event that follows every status
//! write triggers the reconcile again, on the fresh object.

use crate::api::rollout::Rollout;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a replaced version is remembered. The watch event normally arrives within
/// milliseconds; should it never come, reconciles go ahead after this (and meet the conflict).
const REMEMBER: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct StatusWrites {
    /// The resourceVersion each Rollout had when its status was replaced, and when.
    replaced: Mutex<HashMap<ObjectRef<Rollout>, (String, Instant)>>,
}

impl StatusWrites {
    /// Records that the status of `rollout`, at the version the reconcile planned from, was replaced.
    pub fn replaced(&self, rollout: &Rollout, now: Instant) {
        let Some(version) = rollout.resource_version() else {
            return;
        };
        let mut replaced = self.lock();
        replaced.retain(|_, (_, at)| now.duration_since(*at) < REMEMBER);
        replaced.insert(ObjectRef::from_obj(rollout), (version, now));
    }

    /// Whether `rollout` is a version whose status this controller has already replaced.
    pub fn is_stale(&self, rollout: &Rollout, now: Instant) -> bool {
        let key = ObjectRef::from_obj(rollout);
        let mut replaced = self.lock();
        let Some((version, at)) = replaced.get(&key) else {
            return false;
        };
        if rollout.resource_version().as_ref() == Some(version)
            && now.duration_since(*at) < REMEMBER
        {
            return true;
        }
        replaced.remove(&key);
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<Rollout>, (String, Instant)>> {
        // Each update is a single insert or remove: the map is consistent whatever panicked.
        self.replaced.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(name: &str, version: &str) -> Rollout {
        let mut rollout: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {}, "strategy": {}}
        }))
        .unwrap();
        rollout.metadata.resource_version = Some(version.into());
        rollout
    }

    #[test]
    fn only_the_replaced_version_is_stale() {
        let writes = StatusWrites::default();
        let t0 = Instant::now();
        assert!(
            !writes.is_stale(&rollout("web", "1"), t0),
            "nothing written yet"
        );
        writes.replaced(&rollout("web", "1"), t0);
        assert!(
            writes.is_stale(&rollout("web", "1"), t0),
            "cache not caught up"
        );
        assert!(
            !writes.is_stale(&rollout("api", "1"), t0),
            "another Rollout"
        );
        assert!(
            !writes.is_stale(&rollout("web", "2"), t0),
            "the written version"
        );
        assert!(
            !writes.is_stale(&rollout("web", "1"), t0),
            "forgotten once the cache caught up"
        );
    }

    #[test]
    fn a_replaced_version_is_forgotten_after_a_while() {
        let writes = StatusWrites::default();
        let t0 = Instant::now();
        writes.replaced(&rollout("web", "1"), t0);
        assert!(!writes.is_stale(&rollout("web", "1"), t0 + REMEMBER));
        writes.replaced(&rollout("api", "1"), t0);
        writes.replaced(&rollout("db", "1"), t0 + REMEMBER);
        assert_eq!(
            writes.lock().len(),
            1,
            "expired entries are swept on insert"
        );
    }
}
