//! The watches that fill the controller's caches, all made the same way ([`cache`]): fields Weir never
//! reads are dropped before caching, a failed watch reconnects after a short backoff, and every
//! event or failure is reported to `/readyz`. The watches of Argo's own kinds are also narrowed
//! to this controller's instance id, as Argo's informers are.

use super::health::Health;
use super::index::Index;
use futures::channel::mpsc;
use futures::{Future, SinkExt, Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::reflector::{reflector, store::Writer};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
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

/// Drops all of a watched object's metadata but its namespace and name, for a cache that only
/// answers whether an object of that name exists.
pub fn keep_name_only<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    *meta = ObjectMeta {
        namespace: meta.namespace.take(),
        name: meta.name.take(),
        ..ObjectMeta::default()
    };
}

/// The watch of `api` that feeds the cache called `name`; `strip` drops what the cache does not
/// need from each object.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    name: &'static str,
    health: &Arc<Health>,
    strip: fn(&mut K),
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + use<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let health = health.clone();
    watcher(api, config)
        .modify(strip)
        .map(move |event| {
            health.watched(name, event.is_ok());
            event
        })
        .backoff(ReconnectBackoff::default())
}

/// A watch's objects as reconcile triggers. Its failures are left out: the watch reports them
/// to /readyz and reconnects on its own backoff, and a failure reaching the controller's trigger
/// stream would pause every trigger (kube backs off the whole stream, up to 30 s).
pub fn triggers<K: Send>(
    stream: impl Stream<Item = watcher::Result<K>> + Send,
) -> impl Stream<Item = watcher::Result<K>> + Send {
    stream.filter(|item| futures::future::ready(item.is_ok()))
}

/// The one way a cache is filled: `api`'s watch (see [`watch`]) keeps `writer`'s store, and
/// `index` if given, up to date; the returned stream yields every object it changes or removes,
/// for triggers. Nothing is cached unless the stream is polled. `strip` chooses what of each
/// object is kept: [`strip_unread`](super::observe::strip_unread) for a cache that reads the
/// objects, [`keep_name_only`] for one that only answers whether a name exists.
pub fn cache<K>(
    api: Api<K>,
    config: watcher::Config,
    name: &'static str,
    health: &Arc<Health>,
    writer: Writer<K>,
    index: Option<Index<K>>,
    strip: fn(&mut K),
) -> impl Stream<Item = watcher::Result<K>> + Send + use<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let events = watch(api, config, name, health, strip).inspect(move |event| {
        if let (Some(index), Ok(event)) = (&index, event) {
            index.observe(event);
        }
    });
    triggers(reflector(writer, events).touched_objects())
}

/// Hands every object of `stream` to two consumers (each a controller's trigger stream), so one
/// watch and one cache serve both. The returned future drives the watch and must be polled;
/// a consumer that falls `BUFFER` objects behind holds the watch back rather than dropping any.
pub fn fan_out<K: Send + Sync + 'static>(
    stream: impl Stream<Item = watcher::Result<K>> + Send,
) -> (
    impl Future<Output = ()> + Send,
    impl Stream<Item = Arc<K>> + Send,
    impl Stream<Item = Arc<K>> + Send,
) {
    const BUFFER: usize = 1024;
    let (mut first_tx, first_rx) = mpsc::channel(BUFFER);
    let (mut second_tx, second_rx) = mpsc::channel(BUFFER);
    let drive = async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let Ok(object) = item else { continue };
            let object = Arc::new(object);
            // A consumer that has stopped (shutdown) no longer needs objects; the other may.
            let _ = first_tx.send(object.clone()).await;
            let _ = second_tx.send(object).await;
        }
    };
    (drive, first_rx, second_rx)
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
    fn name_only_keeps_namespace_and_name() {
        let mut rollout: kube::core::PartialObjectMeta<crate::api::Rollout> =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": {
                    "name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "7",
                    "labels": {"app": "web"}, "annotations": {"weir.dev/state": "{}"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "x"}]
                }
            }))
            .unwrap();
        keep_name_only(&mut rollout);
        assert_eq!(
            rollout.metadata,
            ObjectMeta {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                ..ObjectMeta::default()
            }
        );
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
