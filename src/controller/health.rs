//! What `/healthz` and `/readyz` report. Liveness is "the process serves HTTP"; readiness is
//! decided here from the leader-election state and whether the caches have synced.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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

#[derive(Debug)]
pub struct Health {
    leadership: Mutex<Leadership>,
    caches_synced: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            leadership: Mutex::new(Leadership::Electing),
            caches_synced: AtomicBool::new(false),
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

    /// `(ready, body)` for `/readyz`.
    pub fn readiness(&self) -> (bool, String) {
        readiness(
            self.leadership(),
            self.caches_synced.load(Ordering::Relaxed),
        )
    }
}

/// A standby is ready: it is healthy and waiting, and a rolling update must be able to replace
/// it. A replica that reconciles is ready once its caches are complete, so it never plans from
/// a partial view. While stopping, readiness is withdrawn so traffic to /metrics moves away.
pub fn readiness(leadership: Leadership, caches_synced: bool) -> (bool, String) {
    let ready = match leadership {
        Leadership::Standby => true,
        Leadership::Leader | Leadership::Disabled => caches_synced,
        Leadership::Electing | Leadership::Stopping => false,
    };
    let caches = if caches_synced { "synced" } else { "syncing" };
    let caches = match leadership {
        Leadership::Standby | Leadership::Electing => "not started",
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
            let (ready, body) = readiness(leadership, synced);
            assert_eq!(ready, want_ready, "{leadership:?} synced={synced}");
            assert!(body.contains(want_body), "{leadership:?}: {body}");
            assert!(body.starts_with(if ready { "ok\n" } else { "not ready\n" }));
        }
    }
}
