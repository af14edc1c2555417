//! The watches that fill the controller's caches, all made the same way: fields Weir never
//! reads are dropped before caching, a failed watch reconnects after a short backoff, and every
//! event or failure is reported to `/readyz`.

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
}
