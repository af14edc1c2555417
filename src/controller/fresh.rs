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

type Replaced = HashMap<ObjectRef<Rollout>, (Vec<String>, Instant)>;

#[derive(Default)]
pub struct StatusWrites {
    /// The resourceVersions each Rollout went through before its status was replaced (the one
    /// planned from, and the one after Weir's state annotation if that was written first), and
    /// when.
    replaced: Mutex<Replaced>,
}

impl StatusWrites {
    /// Records that the status of `rollout`, at the version the reconcile planned from (and at
    /// `intermediate`, if the reconcile wrote the Rollout before its status), was replaced.
    pub fn replaced(&self, rollout: &Rollout, intermediate: Option<String>, now: Instant) {
        let versions: Vec<String> = rollout
            .resource_version()
            .into_iter()
            .chain(intermediate)
            .collect();
        if versions.is_empty() {
            return;
        }
        let mut replaced = self.lock();
        replaced.retain(|_, (_, at)| now.duration_since(*at) < REMEMBER);
        replaced.insert(ObjectRef::from_obj(rollout), (versions, now));
    }

    /// Whether `rollout` is a version whose status this controller has already replaced.
    pub fn is_stale(&self, rollout: &Rollout, now: Instant) -> bool {
        let key = ObjectRef::from_obj(rollout);
        let mut replaced = self.lock();
        let Some((versions, at)) = replaced.get(&key) else {
            return false;
        };
        if rollout
            .resource_version()
            .is_some_and(|v| versions.contains(&v))
            && now.duration_since(*at) < REMEMBER
        {
            return true;
        }
        replaced.remove(&key);
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Replaced> {
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
        writes.replaced(&rollout("web", "1"), None, t0);
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
        writes.replaced(&rollout("web", "3"), Some("4".into()), t0);
        assert!(
            writes.is_stale(&rollout("web", "4"), t0),
            "the version after the state annotation is stale too"
        );
    }

    #[test]
    fn a_replaced_version_is_forgotten_after_a_while() {
        let writes = StatusWrites::default();
        let t0 = Instant::now();
        writes.replaced(&rollout("web", "1"), None, t0);
        assert!(!writes.is_stale(&rollout("web", "1"), t0 + REMEMBER));
        writes.replaced(&rollout("api", "1"), None, t0);
        writes.replaced(&rollout("db", "1"), None, t0 + REMEMBER);
        assert_eq!(
            writes.lock().len(),
            1,
            "expired entries are swept on insert"
        );
    }
}
