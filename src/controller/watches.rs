//! The watches that fill the controller's caches, all made the same way: fields Weir never
//! reads are dropped before caching, a failed watch reconnects after a short backoff, and every
//! event or failure is reported to `/readyz`. The watches of Argo's own kinds are also narrowed
//! to this controller's instance id, as Argo's informers are.

use super::health::Health;
use super::observe::strip_unread;
use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// Reconnect waits: doubling from half a second to four, back to the start after an event. A
/// control-plane restart takes seconds; kube's default backoff grows to 30 s and would leave
/// the caches stale long after the API server is back.
#[derive(Debug, Clone)]
pub struct ReconnectBackoff {
    next: Duration,
}

const FIRST_WAIT: Duration = Duration::from_millis(500);
/// Keep below `health::RECONNECTED_AFTER`, which relies on a watch retrying at least this often.
const LONGEST_WAIT: Duration = Duration::from_secs(4);

impl Default for ReconnectBackoff {
    fn default() -> Self {
        Self { next: FIRST_WAIT }
    }
}

impl Iterator for ReconnectBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (self.next * 2).min(LONGEST_WAIT);
        Some(wait)
    }
}

impl Backoff for ReconnectBackoff {
    fn reset(&mut self) {
        self.next = FIRST_WAIT;
    }
}

/// Argo's label that assigns a Rollout, and the AnalysisRuns made for it, to one controller.
pub const INSTANCE_ID_LABEL: &str = "argo-rollouts.argoproj.io/controller-instance-id";

/// Argo's `InstanceIDRequirement`: a controller with an instance id sees only objects whose
/// label equals it; a controller without one sees only objects without the label, so objects
/// meant for another controller are never in its caches.
pub fn instance_selector(instance_id: Option<&str>) -> String {
    match instance_id.filter(|id| !id.is_empty()) {
        Some(id) => format!("{INSTANCE_ID_LABEL}={id}"),
        None => format!("!{INSTANCE_ID_LABEL}"),
    }
}

/// `config` narrowed to the objects of this controller's instance (see [`instance_selector`]).
pub fn for_instance(config: watcher::Config, instance_id: Option<&str>) -> watcher::Config {
    let selector = instance_selector(instance_id);
    let combined = match &config.label_selector {
        Some(existing) => format!("{existing},{selector}"),
        None => selector,
    };
    config.labels(&combined)
}

/// Checks `id` is a label value (Argo panics at start-up on one that is not).
pub fn check_instance_id(id: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let bad = id.len() > 63
        || !id.chars().all(ok_char)
        || !id.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !id.ends_with(|c: char| c.is_ascii_alphanumeric());
    if bad {
        return Err(format!(
            "--instance-id {id:?} is not a label value: at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// The watch of `api` that feeds the cache called `name`.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    name: &'static str,
    health: &Arc<Health>,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + use<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let health = health.clone();
    watcher(api, config)
        .modify(strip_unread)
        .map(move |event| {
            health.watched(name, event.is_ok());
            event
        })
        .backoff(ReconnectBackoff::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_stay_short() {
        let mut backoff = ReconnectBackoff::default();
        let waits: Vec<u128> = backoff.by_ref().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 4000, 4000]);
        assert!(LONGEST_WAIT < super::super::health::RECONNECTED_AFTER);
        backoff.reset();
        assert_eq!(backoff.next(), Some(FIRST_WAIT));
    }

    #[test]
    fn instance_selector_is_argos_requirement() {
        let label = INSTANCE_ID_LABEL;
        assert_eq!(instance_selector(Some("a")), format!("{label}=a"));
        assert_eq!(instance_selector(None), format!("!{label}"));
        assert_eq!(instance_selector(Some("")), format!("!{label}"));
        let narrowed = for_instance(watcher::Config::default().labels("x"), Some("b"));
        assert_eq!(narrowed.label_selector, Some(format!("x,{label}=b")));
    }

    #[test]
    fn instance_ids_are_label_values() {
        for ok in ["a", "shard-1", "team_a.prod", &"x".repeat(63)] {
            assert_eq!(check_instance_id(ok), Ok(()), "{ok}");
        }
        for bad in ["-a", "a-", "a b", "a/b", &"x".repeat(64)] {
            assert!(check_instance_id(bad).is_err(), "{bad}");
        }
    }
}
