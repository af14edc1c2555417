//! Watch responses: a chunked stream of newline-delimited `{"type": …, "object": …}` events,
//! starting with the initial state or the replayed history, then live events from the
//! resource's broadcast channel, periodic bookmarks, and an end at `timeoutSeconds`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::error::ApiError;
use super::meta::{self, GroupResource};
use super::selector::Filter;
use super::store::{Event, EventType, Since, Store, Subscription};

/// What a watch request asked for, already parsed from its query.
pub(crate) struct WatchRequest {
    pub resource: GroupResource,
    /// For bookmark objects.
    pub kind: String,
    /// `v1` or `group/version`, for bookmark objects.
    pub api_version: String,
    pub filter: Filter,
    /// `sendInitialEvents=true`: after the initial ADDED events, a bookmark marks their end.
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
    /// Serve `PartialObjectMetadata` instead of full objects.
    pub metadata_only: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

fn encode(kind: &str, object: &Value) -> Option<Bytes> {
    match serde_json::to_vec(&Line { kind, object }) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            Some(Bytes::from(bytes))
        }
        Err(error) => {
            tracing::debug!(%error, "dropping unserializable watch event");
            None
        }
    }
}

fn gone_line(message: &str) -> Option<Bytes> {
    encode("ERROR", &ApiError::gone(message).to_status())
}

/// Builds the streaming response body for a watch starting at `since`. A `since` older than
/// the retained history yields a single `ERROR` event carrying `410 Gone`, like a real server.
pub(crate) fn watch_body(
    store: Arc<Store>,
    request: WatchRequest,
    since: Since,
    shutdown: watch::Receiver<bool>,
) -> Body {
    let kind = request.kind.clone();
    match store.watch(&request.resource, since) {
        Ok(subscription) => {
            let stream = WatchStream::new(store, request, kind, subscription, shutdown);
            Body::from_stream(futures::stream::unfold(stream, |mut stream| async move {
                let line = stream.next().await?;
                Some((Ok::<_, Infallible>(line), stream))
            }))
        }
        Err(error) => Body::from(encode("ERROR", &error.to_status()).unwrap_or_default()),
    }
}

struct WatchStream {
    store: Arc<Store>,
    request: WatchRequest,
    kind: String,
    pending: VecDeque<Bytes>,
    rx: broadcast::Receiver<Arc<Event>>,
    /// Every event of this resource up to here has been delivered or filtered out.
    last_rv: u64,
    deadline: Instant,
    bookmark: Interval,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

impl WatchStream {
    fn new(
        store: Arc<Store>,
        request: WatchRequest,
        kind: String,
        subscription: Subscription,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let now = Instant::now();
        let period = request.bookmark_interval.max(Duration::from_millis(10));
        let mut bookmark = tokio::time::interval_at(now + period, period);
        bookmark.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut stream = Self {
            store,
            kind,
            pending: VecDeque::new(),
            rx: subscription.rx,
            last_rv: subscription.rv,
            deadline: meta::instant_after(request.timeout),
            bookmark,
            shutdown,
            done: false,
            request,
        };
        for object in &subscription.initial {
            if stream.request.filter.matches(object) {
                stream.push_object("ADDED", object);
            }
        }
        for event in &subscription.replay {
            stream.accept(event);
        }
        stream.last_rv = subscription.rv;
        if stream.request.send_initial_events && stream.request.bookmarks {
            stream.push_bookmark_line(true);
        }
        stream
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            let shutdown = &mut self.shutdown;
            tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(event) => self.accept(&event),
                    Err(RecvError::Lagged(_)) => self.fail_lagged(),
                    Err(RecvError::Closed) => self.done = true,
                },
                _ = self.bookmark.tick(), if self.request.bookmarks => self.bookmark_now(),
                () = tokio::time::sleep_until(self.deadline) => self.done = true,
                () = async { let _ = shutdown.wait_for(|stopping| *stopping).await; } => {
                    self.done = true;
                }
            }
        }
    }

    /// Queues the line a watcher with this filter should see for `event`, if any. A MODIFIED
    /// that moves the object across the filter becomes ADDED or DELETED.
    fn accept(&mut self, event: &Event) {
        self.last_rv = self.last_rv.max(event.rv);
        let filter = &self.request.filter;
        let now = filter.matches(&event.object);
        let kind = match event.kind {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => now.then_some("DELETED"),
            EventType::Modified => {
                let before = event.previous.as_deref().is_some_and(|p| filter.matches(p));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        };
        if let Some(kind) = kind {
            self.push_object(kind, &event.object);
        }
    }

    fn push_object(&mut self, kind: &str, object: &Value) {
        let line = if self.request.metadata_only {
            encode(kind, &meta::partial_metadata(object))
        } else {
            encode(kind, object)
        };
        self.pending.extend(line);
    }

    fn fail_lagged(&mut self) {
        self.pending.extend(gone_line(
            "too old resource version: the watcher fell behind the event stream",
        ));
        self.done = true;
    }

    /// Advances the bookmark to the store's current version. Reading the version before
    /// draining the channel guarantees every event at or below it is already queued.
    fn bookmark_now(&mut self) {
        let current = self.store.current_rv();
        loop {
            match self.rx.try_recv() {
                Ok(event) => self.accept(&event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(_)) => return self.fail_lagged(),
                Err(TryRecvError::Closed) => {
                    self.done = true;
                    return;
                }
            }
        }
        self.last_rv = self.last_rv.max(current);
        self.push_bookmark_line(false);
    }

    fn push_bookmark_line(&mut self, initial_events_end: bool) {
        let mut metadata = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.kind,
            "apiVersion": self.request.api_version,
            "metadata": metadata,
        });
        self.pending.extend(encode("BOOKMARK", &object));
    }
}
