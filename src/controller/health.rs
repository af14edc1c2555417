//! What `/healthz` and `/readyz` report. Liveness is "the process serves HTTP"; readiness is
//! decided here from the leader-election state, whether the caches have synced, and whether
//! their watches are live: after a watch fails (the API server went away), it counts as live
//! again once the API server has answered and the watch has not failed for longer than its
//! reconnect backoff, i.e. it reconnected.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longer than a watch's longest wait between reconnect attempts (`watches::Backoff`): a watch
/// that has not failed for this long, with the API server answering, has reconnected.
pub const RECONNECTED_AFTER: Duration = Duration::from_secs(5);

/// This replica's part in leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// The Lease has not been read yet.
    Electing,
    /// Another replica holds the Lease; this one waits and does not reconcile.
    Standby,
    Leader,
    /// `--leader-elect=false`: this replica always reconciles.
    Disabled,
    /// Shutting down: in-flight writes finish, the Lease is being released.
    Stopping,
}

impl Leadership {
    fn as_str(self) -> &'static str {
        match self {
            Leadership::Electing => "electing",
            Leadership::Standby => "standby",
            Leadership::Leader => "leader",
            Leadership::Disabled => "disabled",
            Leadership::Stopping => "stopping",
        }
    }
}

#[derive(Debug, Default)]
struct Watches {
    /// Watches whose last event was a failure, and when it was.
    failing: BTreeMap<&'static str, Instant>,
    /// When the API server last answered a probe.
    answered: Option<Instant>,
}

impl Watches {
    /// The watches not known to be live at `now`.
    fn down(&self, now: Instant) -> Vec<&'static str> {
        self.failing
            .iter()
            .filter(|(_, since)| {
                now.duration_since(**since) < RECONNECTED_AFTER
                    || self.answered.is_none_or(|answered| answered < **since)
            })
            .map(|(name, _)| *name)
            .collect()
    }
}

#[derive(Debug)]
pub struct Health {
    leadership: Mutex<Leadership>,
    caches_synced: AtomicBool,
    watches: Mutex<Watches>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            leadership: Mutex::new(Leadership::Electing),
            caches_synced: AtomicBool::new(false),
            watches: Mutex::default(),
        }
    }
}

impl Health {
    pub fn set_leadership(&self, leadership: Leadership) {
        *self.leadership.lock().unwrap_or_else(|e| e.into_inner()) = leadership;
    }

    pub fn leadership(&self) -> Leadership {
        *self.leadership.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_caches_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::Relaxed);
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, Watches> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a cache's watch just yielded: an event (`ok`) or a failure.
    pub fn watched(&self, name: &'static str, ok: bool) {
        let mut watches = self.watches();
        if ok {
            watches.failing.remove(name);
        } else {
            watches.failing.insert(name, Instant::now());
        }
    }

    /// Whether any watch failed and has not been seen live since: the API server should be
    /// probed.
    pub fn watches_failing(&self) -> bool {
        !self.watches().failing.is_empty()
    }

    /// The API server answered a probe.
    pub fn api_answered(&self) {
        let mut watches = self.watches();
        let now = Instant::now();
        watches.answered = Some(now);
        // Failures long enough ago that their watch has reconnected since are forgotten.
        let answered = watches.answered;
        watches.failing.retain(|_, since| {
            now.duration_since(*since) < RECONNECTED_AFTER || answered.is_none_or(|a| a < *since)
        });
    }

    /// `(ready, body)` for `/readyz`.
    pub fn readiness(&self) -> (bool, String) {
        let down = self.watches().down(Instant::now());
        readiness(
            self.leadership(),
            self.caches_synced.load(Ordering::Relaxed),
            &down,
        )
    }
}

/// A standby is ready: it is healthy and waiting, and a rolling update must be able to replace
/// it. A replica that reconciles is ready once its caches are complete and while their watches
/// are live (`down` lists those that are not), so it never plans from a partial or frozen view.
/// While stopping, readiness is withdrawn so traffic to /metrics moves away.
pub fn readiness(leadership: Leadership, caches_synced: bool, down: &[&str]) -> (bool, String) {
    let live = caches_synced && down.is_empty();
    let ready = match leadership {
        Leadership::Standby => true,
        Leadership::Leader | Leadership::Disabled => live,
        Leadership::Electing | Leadership::Stopping => false,
    };
    let caches = if !caches_synced {
        "syncing".to_string()
    } else if down.is_empty() {
        "synced".to_string()
    } else {
        format!("watches reconnecting ({})", down.join(", "))
    };
    let caches = match leadership {
        Leadership::Standby | Leadership::Electing => "not started".to_string(),
        _ => caches,
    };
    (
        ready,
        format!(
            "{}\nleader-election: {}\ncaches: {caches}\n",
            if ready { "ok" } else { "not ready" },
            leadership.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_table() {
        use Leadership::*;
        let cases = [
            (
                Electing,
                false,
                false,
                "leader-election: electing\ncaches: not started",
            ),
            (
                Standby,
                false,
                true,
                "leader-election: standby\ncaches: not started",
            ),
            (
                Leader,
                false,
                false,
                "leader-election: leader\ncaches: syncing",
            ),
            (
                Leader,
                true,
                true,
                "leader-election: leader\ncaches: synced",
            ),
            (
                Disabled,
                false,
                false,
                "leader-election: disabled\ncaches: syncing",
            ),
            (
                Disabled,
                true,
                true,
                "leader-election: disabled\ncaches: synced",
            ),
            (
                Stopping,
                true,
                false,
                "leader-election: stopping\ncaches: synced",
            ),
        ];
        for (leadership, synced, want_ready, want_body) in cases {
            let (ready, body) = readiness(leadership, synced, &[]);
            assert_eq!(ready, want_ready, "{leadership:?} synced={synced}");
            assert!(body.contains(want_body), "{leadership:?}: {body}");
            assert!(body.starts_with(if ready { "ok\n" } else { "not ready\n" }));
        }
        let (ready, body) = readiness(Leader, true, &["rollouts", "pods"]);
        assert!(!ready);
        assert!(
            body.contains("caches: watches reconnecting (rollouts, pods)"),
            "{body}"
        );
    }

    #[test]
    fn a_failed_watch_is_live_again_once_it_has_reconnected() {
        let health = Health::default();
        health.set_leadership(Leadership::Leader);
        health.set_caches_synced(true);
        assert!(health.readiness().0);
        health.watched("rollouts", false);
        assert!(!health.readiness().0, "the watch failed");
        assert!(health.watches_failing());
        health.api_answered();
        assert!(
            !health.readiness().0,
            "the API answers, but the watch may not have reconnected yet"
        );
        health.watched("rollouts", true);
        assert!(health.readiness().0, "an event: live");
        assert!(!health.watches_failing());

        let mut watches = Watches::default();
        let failed = Instant::now();
        watches.failing.insert("pods", failed);
        let later = failed + RECONNECTED_AFTER;
        assert_eq!(watches.down(later), ["pods"], "the API never answered");
        watches.answered = Some(failed + Duration::from_secs(1));
        assert!(
            watches.down(later).is_empty(),
            "quiet for longer than the backoff, with the API answering: reconnected"
        );
    }
}
