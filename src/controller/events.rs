//! Publishes Events (`events.k8s.io/v1`) in series, as kube's `Recorder` does: the first
//! occurrence of a (type, reason, action, note, regarding, related) within six minutes creates
//! an Event, repeats patch its series count. kube 5's `Recorder` keeps a full copy of every Event
//! and of its key for those six minutes, unbounded and not configurable: about 14 MiB at 1,000
//! Rollouts. This one keeps what a series patch needs (when the Event was created, which names
//! it, and its count) in 32 bytes per series, and all of Weir's loops share it. Every Event it
//! publishes about a Rollout counts toward `rollout_events_total`, whichever loop published it.

use super::metrics::Metrics;
use crate::api::limits::{EVENT_NOTE_LIMIT, truncate};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

/// How long a repeat still joins an Event's series (kube's and client-go's figure).
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);
/// How often expired series are dropped; an entry lives at most this much past its TTL.
const SWEEP_EVERY: SignedDuration = SignedDuration::from_mins(1);

#[derive(Clone)]
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    metrics: Arc<Metrics>,
    series: Arc<Mutex<Series>>,
    notifier: Option<crate::notifications::Notifier>,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter, metrics: Arc<Metrics>) -> Self {
        Recorder {
            client,
            reporter,
            metrics,
            series: Arc::default(),
            notifier: None,
        }
    }

    /// Hands every Event to `notifier` too, as Argo's recorder sends notifications: the Event's
    /// reason names the trigger.
    pub fn with_notifier(mut self, notifier: crate::notifications::Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// [`Recorder::publish`] about `rollout` as the caller has just written it, so its
    /// notifications render what the cache may not have yet.
    pub async fn publish_about(
        &self,
        ev: &Event,
        rollout: &crate::api::rollout::Rollout,
    ) -> Result<(), kube::Error> {
        use kube::Resource;
        self.publish_with(ev, &rollout.object_ref(&()), Some(rollout))
            .await
    }

    /// Creates the Event, or patches the series of the same Event published in the last six
    /// minutes. The Event goes to the namespace of `reference` ("default" if it has none).
    pub async fn publish(
        &self,
        ev: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        self.publish_with(ev, reference, None).await
    }

    async fn publish_with(
        &self,
        ev: &Event,
        reference: &ObjectReference,
        about: Option<&crate::api::rollout::Rollout>,
    ) -> Result<(), kube::Error> {
        // Argo notifies whether or not the Event could be recorded; queueing never waits.
        if let Some(notifier) = &self.notifier {
            notifier.notify(ev, reference, about);
        }
        let now = Timestamp::now();
        let key = SeriesKey::new(ev, reference);
        let events: Api<K8sEvent> = Api::namespaced(
            self.client.clone(),
            reference.namespace.as_deref().unwrap_or("default"),
        );
        let repeat = self.lock().repeat(&key, now);
        let (created, count) = match repeat {
            Some((created, count)) => {
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                };
                events
                    .patch(
                        &self.event_name(reference, created),
                        &PatchParams::default(),
                        &Patch::Merge(serde_json::json!({ "series": series })),
                    )
                    .await?;
                (created, count)
            }
            None => {
                let event = self.event(ev, reference, now);
                events.create(&PostParams::default(), &event).await?;
                (nanos(now), 1)
            }
        };
        self.lock().record(key, created, count, now);
        if reference.kind.as_deref() == Some("Rollout") {
            self.metrics.rollout_event(
                reference.namespace.as_deref().unwrap_or_default(),
                reference.name.as_deref().unwrap_or_default(),
                type_name(&ev.type_),
                &ev.reason,
            );
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        // The map stays consistent whatever panicked while holding it: each write is one insert.
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The Event kube's `Recorder` would create, field for field, but within the Events API's
    /// limits: a note over 1 KiB is cut (and logged whole), and the name's object part is
    /// shortened so that `<object>.<nanoseconds>` stays a valid name for any object name.
    fn event(&self, ev: &Event, reference: &ObjectReference, now: Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        let note = ev.note.as_deref().map(|note| {
            let cut = truncate(note, EVENT_NOTE_LIMIT);
            if cut.len() < note.len() {
                tracing::info!(reason = %ev.reason, note, "event note cut to the Events API's limit");
            }
            cut.into_owned()
        });
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            note,
            metadata: ObjectMeta {
                namespace: reference.namespace.clone(),
                name: Some(self.event_name(reference, nanos(now))),
                ..Default::default()
            },
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            type_: Some(type_name(&ev.type_).into()),
            related: ev.secondary.clone(),
            ..Default::default()
        }
    }
}

impl Recorder {
    /// `<object>.<creation in nanoseconds, hex>`, as kube names Events, with the object part
    /// shortened so the name stays valid for any object name. A series' later publishes find
    /// their Event by this name, so it is derived rather than stored.
    fn event_name(&self, reference: &ObjectReference, created: i64) -> String {
        let stamp = format!(".{created:x}");
        let object = reference.name.as_ref().unwrap_or(&self.reporter.controller);
        let object = truncate_name(object, MAX_NAME - stamp.len());
        format!("{object}{stamp}")
    }
}

/// Nanoseconds since the epoch: fits an i64 until 2262.
fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

/// Longest object name (a DNS subdomain).
const MAX_NAME: usize = 253;

/// At most `max` bytes of a name, not ending in `.` or `-`.
fn truncate_name(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].trim_end_matches(['.', '-'])
}

fn type_name(type_: &EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// What makes two publishes the same Event: kube's key (type, reason, action, and the
/// apiVersion, kind, namespace, name and uid of the regarding and related objects) less the
/// reporter, which is fixed, plus the note. kube and client-go's events API leave the note out,
/// so "Rollout step 2/3 completed" would only bump the count of "step 1/3" and `kubectl
/// describe` would never show it; Argo's recorder (client-go's core/v1 correlator) keys by
/// message too, and shows every step. Every open series holds its key for six minutes, so the
/// key is a 64-bit hash of those fields rather than their text: at the 10^4 series of 1,000
/// Rollouts a collision (which would bump the wrong Event's count) has odds near 10^-11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey(u64);

impl SeriesKey {
    fn new(ev: &Event, regarding: &ObjectReference) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        (
            matches!(ev.type_, EventType::Warning),
            &ev.reason,
            &ev.action,
            &ev.note,
        )
            .hash(&mut hasher);
        for object in std::iter::once(regarding).chain(ev.secondary.as_ref()) {
            (
                &object.api_version,
                &object.kind,
                &object.namespace,
                &object.name,
                &object.uid,
            )
                .hash(&mut hasher);
        }
        // Keeps "regarding only" apart from "regarding and a related object".
        ev.secondary.is_some().hash(&mut hasher);
        SeriesKey(hasher.finish())
    }
}

/// One open series: when its Event was created and last published (nanoseconds since the
/// epoch), and its count.
#[derive(Debug, Clone, Copy)]
struct Open {
    created: i64,
    last: i64,
    count: i32,
}

impl Open {
    fn live_at(&self, now: Timestamp) -> bool {
        i128::from(self.last) + SERIES_TTL.as_nanos() > now.as_nanosecond()
    }
}

/// Open series by key.
#[derive(Debug, Default)]
struct Series {
    open: HashMap<SeriesKey, Open>,
    swept: Option<Timestamp>,
}

impl Series {
    /// When the Event to patch was created (see [`Recorder::event_name`]) and its next count if
    /// `key` was published within the TTL; None to create a new Event. Drops expired series at
    /// most once per `SWEEP_EVERY`.
    fn repeat(&mut self, key: &SeriesKey, now: Timestamp) -> Option<(i64, i32)> {
        if self.swept.is_none_or(|t| t + SWEEP_EVERY <= now) {
            self.open.retain(|_, open| open.live_at(now));
            self.swept = Some(now);
        }
        let open = self.open.get(key)?;
        open.live_at(now).then(|| (open.created, open.count + 1))
    }

    fn record(&mut self, key: SeriesKey, created: i64, count: i32, now: Timestamp) {
        let last = nanos(now);
        self.open.insert(
            key,
            Open {
                created,
                last,
                count,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("argoproj.io/v1alpha1".into()),
            kind: Some("Rollout".into()),
            namespace: Some("default".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        }
    }

    fn event(reason: &str, related: Option<&str>) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some("a note".into()),
            action: reason.into(),
            secondary: related.map(rollout),
        }
    }

    fn key(reason: &str, rollout_name: &str) -> SeriesKey {
        SeriesKey::new(&event(reason, None), &rollout(rollout_name))
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn repeats_within_the_ttl_join_the_series() {
        let mut series = Series::default();
        let step = key("RolloutStepCompleted", "web");
        assert_eq!(series.repeat(&step, at(0)), None, "first: create");
        let created = nanos(at(0));
        series.record(step, created, 1, at(0));
        assert_eq!(series.repeat(&step, at(10)), Some((created, 2)));
        series.record(step, created, 2, at(10));
        assert_eq!(
            series.repeat(&step, at(10 + 359)),
            Some((created, 3)),
            "the TTL runs from the last publish"
        );
        assert_eq!(series.repeat(&step, at(10 + 360)), None, "expired: create");
    }

    #[test]
    fn other_reasons_notes_and_objects_are_other_series() {
        let mut series = Series::default();
        series.record(key("RolloutUpdated", "web"), nanos(at(0)), 1, at(0));
        assert_eq!(series.repeat(&key("RolloutUpdated", "api"), at(1)), None);
        assert_eq!(series.repeat(&key("RolloutCompleted", "web"), at(1)), None);
        let related = SeriesKey::new(&event("RolloutUpdated", Some("api")), &rollout("web"));
        assert_eq!(series.repeat(&related, at(1)), None);
        let mut warning = event("RolloutUpdated", None);
        warning.type_ = EventType::Warning;
        let warning = SeriesKey::new(&warning, &rollout("web"));
        assert_eq!(series.repeat(&warning, at(1)), None);
        // Argo's step events differ only in their message; each must stay visible.
        let mut next_step = event("RolloutUpdated", None);
        next_step.note = Some("another note".into());
        let next_step = SeriesKey::new(&next_step, &rollout("web"));
        assert_eq!(series.repeat(&next_step, at(1)), None);
        assert!(
            series
                .repeat(&key("RolloutUpdated", "web"), at(1))
                .is_some()
        );
    }

    #[test]
    fn notes_and_names_fit_the_events_api() {
        let long = "x".repeat(300);
        let name = truncate_name(&long, MAX_NAME - 17);
        assert_eq!(name.len(), MAX_NAME - 17);
        assert_eq!(truncate_name("web-", 10), "web");
        assert_eq!(truncate_name("web", 10), "web");
    }

    #[test]
    fn expired_series_are_swept() {
        let mut series = Series::default();
        for i in 0..100 {
            series.record(
                key("RolloutUpdated", &format!("r{i}")),
                nanos(at(0)),
                1,
                at(0),
            );
        }
        series.repeat(&key("RolloutUpdated", "r0"), at(1));
        assert_eq!(series.open.len(), 100, "all within the TTL");
        series.repeat(&key("RolloutUpdated", "r0"), at(400));
        assert!(series.open.is_empty());
    }
}
