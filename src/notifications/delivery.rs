//! The notifier: reconciles hand it the Events they publish ([`Notifier::notify`] never waits),
//! and one task watches the ConfigMap and Secret, decides who is subscribed, records each
//! notification in the Rollout's ledger, and sends it with retries. A slow or failing receiver
//! delays later notifications, never a reconcile.

use super::compact;
use super::config::{self, Config};
use super::ledger::{self, Entry, Ledger, State};
use super::services::{self, Outcome, Request};
use super::subscriptions::{self, Defaults};
use super::triggers::{
    REASON_INVALID_CONFIG, REASON_NOTIFICATION_FAILED, SILENT_REASONS, trigger_of,
};
use super::vars::{self, Fired};
use super::{CONFIGMAP, SECRET};
use crate::api::analysis::AnalysisRun;
use crate::api::rollout::Rollout;
use crate::controller::metrics::Metrics;
use crate::rollout::failure::Category;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How notifications are delivered.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the ConfigMap and Secret are read: the controller's own namespace, as in Argo.
    pub namespace: String,
    /// Requests per notification before it is given up with a Warning Event on the Rollout.
    pub tries: u32,
    /// Per request; a receiver that has not answered by then counts as a failed try.
    pub timeout: Duration,
    /// Wait before the second try, doubled before each further one.
    pub backoff: Duration,
    /// Notifications waiting for delivery; beyond this, new ones are dropped (and counted).
    pub queue: usize,
}

/// The namespace `deploy/` installs the controller into.
pub const DEFAULT_NAMESPACE: &str = "weir-system";

impl Default for Settings {
    /// Five tries over about 15 s of backoff (1 + 2 + 4 + 8), 10 s per request.
    fn default() -> Self {
        Settings {
            namespace: DEFAULT_NAMESPACE.to_string(),
            tries: 5,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
            queue: 1000,
        }
    }
}

struct Job {
    reference: ObjectReference,
    fired: Fired,
    /// The Rollout as the publisher knew it (fresher than the cache right after a write).
    snapshot: Option<Arc<Rollout>>,
}

/// The configuration in force; None until the ConfigMap and Secret have been read.
type Current = Arc<RwLock<Option<Arc<Config>>>>;

/// The Rollouts' compact subscription annotations whose problems were reported, by
/// [`compact::fingerprint`]: each text is reported once, not for every Event.
type Reported = Arc<Mutex<HashSet<u64>>>;

/// The fingerprint of `rollout`'s compact subscription annotations.
fn fingerprint(rollout: &Rollout) -> u64 {
    compact::fingerprint(
        rollout.metadata.uid.as_deref().unwrap_or_default(),
        rollout.annotations(),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A set of reported fingerprints stays usable whatever panicked while holding it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reconciles' side: a bounded queue to the delivery task.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    current: Current,
    reported_subscriptions: Reported,
    /// The queue was found full and has not drained to half since: further drops are counted
    /// but not logged, so a stalled or slow task is one warning, not one per Event.
    overflowing: Arc<AtomicBool>,
}

/// The delivery task's side of the queue.
pub struct Inbox(mpsc::Receiver<Job>, Current, Reported);

impl Notifier {
    pub fn new(settings: &Settings, metrics: Arc<Metrics>) -> (Notifier, Inbox) {
        let (queue, inbox) = mpsc::channel(settings.queue.max(1));
        let current = Current::default();
        let reported = Reported::default();
        (
            Notifier {
                queue,
                metrics,
                current: current.clone(),
                reported_subscriptions: reported.clone(),
                overflowing: Arc::default(),
            },
            Inbox(inbox, current, reported),
        )
    }

    /// Whether nobody can be subscribed to `trigger` on `rollout`: then the Event is not queued,
    /// so the queue only holds notifications to send. Unknown until the config is read.
    fn unsubscribed(&self, trigger: &str, rollout: &Rollout) -> bool {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let Some(config) = current.as_ref() else {
            return false;
        };
        let compact = compact::parse(rollout.annotations());
        // Queued so that the task reports the problems (see `Worker::handle`), once per text.
        if !compact.problems.is_empty()
            && !lock(&self.reported_subscriptions).contains(&fingerprint(rollout))
        {
            return false;
        }
        let defaults = Defaults {
            triggers: &config.default_triggers,
            per_service: &config.service_default_triggers,
        };
        subscriptions::destinations(
            trigger,
            rollout.annotations(),
            &compact.entries,
            rollout.labels(),
            &config.subscriptions,
            &defaults,
        )
        .is_empty()
    }

    /// Queues the notifications an Event about a Rollout (or one of its AnalysisRuns) may
    /// fire. Never waits: with the queue full, the notification is dropped and counted.
    pub fn notify(&self, event: &Event, reference: &ObjectReference, snapshot: Option<&Rollout>) {
        let kind = reference.kind.as_deref();
        if !matches!(kind, Some("Rollout" | "AnalysisRun"))
            || SILENT_REASONS.contains(&event.reason.as_str())
        {
            return;
        }
        let trigger = trigger_of(&event.reason);
        if snapshot.is_some_and(|r| self.unsubscribed(&trigger, r)) {
            return;
        }
        let job = Job {
            reference: reference.clone(),
            fired: Fired {
                reason: event.reason.clone(),
                message: event.note.clone().unwrap_or_default(),
                warning: matches!(event.type_, EventType::Warning),
            },
            snapshot: snapshot.map(|r| Arc::new(r.clone())),
        };
        match self.queue.try_send(job) {
            Ok(()) => {
                if self.queue.capacity() >= self.queue.max_capacity() / 2 {
                    self.overflowing.store(false, Ordering::Relaxed);
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let object = reference.name.as_deref().unwrap_or_default();
                if self.overflowing.swap(true, Ordering::Relaxed) {
                    tracing::debug!(%trigger, object, "notification queue full: notification dropped");
                } else {
                    tracing::warn!(%trigger, object, "notification queue full: notifications are dropped until it drains (counted as weir_notifications_total{{result=\"dropped\"}}); the notification config may be unreadable, see the earlier warnings");
                }
                self.metrics.notification(&trigger, "", "dropped");
            }
            // The controller is stopping.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The caches the task reads Rollouts from, and when they are complete.
pub struct Sources {
    pub rollouts: Store<Rollout>,
    pub analysis_runs: Store<AnalysisRun>,
    pub synced: watch::Receiver<bool>,
}

/// One watched object: the ConfigMap or the Secret.
struct Watched<K> {
    current: Option<K>,
    listing: Option<K>,
    synced: bool,
    /// The API server refused the watch and that was logged; reset once it works.
    refused: bool,
}

impl<K> Watched<K> {
    fn new() -> Self {
        Watched {
            current: None,
            listing: None,
            synced: false,
            refused: false,
        }
    }

    /// The warning to log for a failed watch of `object` (`ConfigMap <ns>/<name>`): the first
    /// refusal (403) since the watch last worked, naming the fix. Other failures (the API server
    /// away) are retried by the watch without a warning, as every other watch's are.
    fn failed(&mut self, error: &watcher::Error, object: &str) -> Option<String> {
        let refused = match error {
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => Category::of(e) == Category::Forbidden,
            watcher::Error::WatchError(status) => status.code == 403,
            watcher::Error::NoResourceVersion => false,
        };
        if !refused || std::mem::replace(&mut self.refused, true) {
            return None;
        }
        Some(format!(
            "cannot watch {object}: {error}; no notification is sent until the controller may \
             read it (they wait in the queue, up to its size): apply \
             deploy/controller/notifications.yaml, a Role granting list and watch of the \
             notification ConfigMap and Secret by name, in the controller's namespace"
        ))
    }

    fn apply(&mut self, event: watcher::Event<K>) {
        self.refused = false;
        match event {
            watcher::Event::Init => self.listing = None,
            watcher::Event::InitApply(k) => self.listing = Some(k),
            watcher::Event::InitDone => {
                self.current = self.listing.take();
                self.synced = true;
            }
            watcher::Event::Apply(k) => self.current = Some(k),
            watcher::Event::Delete(_) => self.current = None,
        }
    }
}

struct Worker {
    client: Client,
    http: reqwest::Client,
    settings: Settings,
    sources: Sources,
    recorder: crate::controller::Recorder,
    metrics: Arc<Metrics>,
    config: Arc<Config>,
    current: Current,
    reported_subscriptions: Reported,
    /// What this process last wrote to each Rollout's ledger: the cache may not have it yet.
    ledgers: HashMap<ObjectRef<Rollout>, Ledger>,
    /// The ConfigMap and Secret versions whose errors were reported.
    reported: Option<(Option<String>, Option<String>)>,
}

/// Runs the delivery task until `shutdown`; a send in flight then is cut off and stays
/// pending in its Rollout's ledger for the next controller.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: Client,
    inbox: Inbox,
    settings: Settings,
    sources: Sources,
    recorder: crate::controller::Recorder,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let http = match reqwest::Client::builder().timeout(settings.timeout).build() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "notifications disabled: no HTTP client");
            return;
        }
    };
    let worker = Worker {
        client,
        http,
        settings,
        sources,
        recorder,
        metrics,
        config: Arc::new(config::parse(&BTreeMap::new(), &BTreeMap::new()).0),
        current: inbox.1.clone(),
        reported_subscriptions: inbox.2.clone(),
        ledgers: HashMap::new(),
        reported: None,
    };
    tokio::select! {
        _ = shutdown => {}
        _ = worker.serve(inbox) => {}
    }
}

impl Worker {
    async fn serve(mut self, mut inbox: Inbox) {
        let ns = self.settings.namespace.clone();
        let by_name =
            |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut config_maps = std::pin::pin!(
            watcher(
                Api::<ConfigMap>::namespaced(self.client.clone(), &ns),
                by_name(CONFIGMAP)
            )
            .default_backoff()
        );
        let mut secrets = std::pin::pin!(
            watcher(
                Api::<Secret>::namespaced(self.client.clone(), &ns),
                by_name(SECRET)
            )
            .default_backoff()
        );
        let mut config_map = Watched::new();
        let mut secret = Watched::new();
        let mut caches = self.sources.synced.clone();
        let mut resumed = false;
        // The sender goes away once it has reported the caches synced.
        let mut caches_reported = false;
        loop {
            let ready = config_map.synced && secret.synced;
            tokio::select! {
                Some(event) = config_maps.next() => match event {
                    Ok(event) => {
                        config_map.apply(event);
                        self.reload(&config_map, &secret).await;
                    }
                    Err(e) => match config_map.failed(&e, &format!("ConfigMap {ns}/{CONFIGMAP}")) {
                        Some(warning) => tracing::warn!("notifications: {warning}"),
                        None => tracing::debug!(error = %e, "notification ConfigMap watch"),
                    },
                },
                Some(event) = secrets.next() => match event {
                    Ok(event) => {
                        secret.apply(event);
                        self.reload(&config_map, &secret).await;
                    }
                    Err(e) => match secret.failed(&e, &format!("Secret {ns}/{SECRET}")) {
                        Some(warning) => tracing::warn!("notifications: {warning}"),
                        None => tracing::debug!(error = %e, "notification Secret watch"),
                    },
                },
                changed = caches.changed(), if !resumed && !caches_reported => {
                    caches_reported = changed.is_err();
                }
                job = inbox.0.recv(), if ready => match job {
                    Some(job) => self.handle(job).await,
                    None => return,
                },
            }
            if !resumed && config_map.synced && secret.synced && *caches.borrow() {
                resumed = true;
                self.resume().await;
            }
        }
    }

    async fn reload(&mut self, config_map: &Watched<ConfigMap>, secret: &Watched<Secret>) {
        if !(config_map.synced && secret.synced) {
            return;
        }
        let data = config_map
            .current
            .as_ref()
            .and_then(|c| c.data.clone())
            .unwrap_or_default();
        let secret_data: BTreeMap<String, String> = secret
            .current
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .map(|d| {
                d.iter()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let (config, errors) = config::parse(&data, &secret_data);
        self.config = Arc::new(config);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(self.config.clone());
        self.metrics.notification_config_errors(errors.len());
        let versions = (
            config_map
                .current
                .as_ref()
                .and_then(|c| c.resource_version()),
            secret.current.as_ref().and_then(|s| s.resource_version()),
        );
        if self.reported.as_ref() == Some(&versions) {
            return;
        }
        self.reported = Some(versions);
        let Some(config_map) = &config_map.current else {
            return;
        };
        let reference = config_map.object_ref(&());
        for error in errors {
            tracing::warn!(configmap = CONFIGMAP, namespace = %self.settings.namespace, key = %error.key, "notification config: {error}");
            self.warn(&reference, REASON_INVALID_CONFIG, error.to_string())
                .await;
        }
    }

    /// The Rollout a job is about: the publisher's snapshot, the cached Rollout, or the cached
    /// owner of the AnalysisRun the Event regards.
    fn rollout_of(&self, job: &Job) -> Option<Arc<Rollout>> {
        if let Some(snapshot) = &job.snapshot {
            return Some(snapshot.clone());
        }
        let ns = job.reference.namespace.as_deref().unwrap_or("default");
        let name = job.reference.name.as_deref()?;
        let rollout_name = match job.reference.kind.as_deref() {
            Some("Rollout") => name.to_string(),
            _ => {
                let run = self
                    .sources
                    .analysis_runs
                    .get(&ObjectRef::new(name).within(ns))?;
                run.owner_references()
                    .iter()
                    .find(|o| o.controller == Some(true) && o.kind == "Rollout")?
                    .name
                    .clone()
            }
        };
        self.sources
            .rollouts
            .get(&ObjectRef::new(&rollout_name).within(ns))
    }

    fn ledger(&self, rollout: &Rollout) -> Ledger {
        match self.ledgers.get(&ObjectRef::from_obj(rollout)) {
            Some(ledger) => ledger.clone(),
            None => Ledger::parse(
                rollout
                    .annotations()
                    .get(ledger::LEDGER_ANNOTATION)
                    .map(String::as_str),
            ),
        }
    }

    async fn handle(&mut self, job: Job) {
        let Some(rollout) = self.rollout_of(&job) else {
            return;
        };
        let trigger = trigger_of(&job.fired.reason);
        let compact = compact::parse(rollout.annotations());
        let unreported = compact
            .report()
            .filter(|_| lock(&self.reported_subscriptions).insert(fingerprint(&rollout)));
        if let Some(message) = unreported {
            self.bad_subscription(&rollout, &message).await;
        }
        let config = self.config.clone();
        let defaults = Defaults {
            triggers: &config.default_triggers,
            per_service: &config.service_default_triggers,
        };
        let destinations = subscriptions::destinations(
            &trigger,
            rollout.annotations(),
            &compact.entries,
            rollout.labels(),
            &config.subscriptions,
            &defaults,
        );
        if destinations.is_empty() {
            return;
        }
        let Some(templates) = config.triggers.get(&trigger) else {
            tracing::warn!(rollout = %rollout.name_any(), %trigger, "subscribed to a trigger the notification ConfigMap does not define");
            return;
        };
        let revision = rollout
            .status
            .as_ref()
            .and_then(|s| s.current_pod_hash.clone())
            .unwrap_or_default();
        let vars = vars::vars(&rollout, &job.fired, &config.context);
        let mut ledger = self.ledger(&rollout);
        let mut added = Vec::new();
        let mut recorded = false;
        for destination in &destinations {
            for template in templates {
                let key = ledger::key(
                    &trigger,
                    &revision,
                    &job.fired.message,
                    template,
                    destination,
                );
                if ledger.contains(&key) {
                    continue;
                }
                let Some(found) = config.templates.get(template) else {
                    continue;
                };
                match found.render(&vars) {
                    Ok(notification) => {
                        ledger.record(
                            key.clone(),
                            Entry {
                                state: State::Pending,
                                trigger: trigger.clone(),
                                template: template.clone(),
                                destination: destination.clone(),
                                at: jiff::Timestamp::now(),
                                notification: Some(notification),
                            },
                        );
                        added.push(key);
                    }
                    Err(e) => {
                        let message = format!("template {template} does not render: {e}");
                        self.give_up(&rollout, &trigger, destination, &message)
                            .await;
                        // Recorded, so that repeats of the Event do not report it again.
                        ledger.record(
                            key.clone(),
                            Entry {
                                state: State::Failed,
                                trigger: trigger.clone(),
                                template: template.clone(),
                                destination: destination.clone(),
                                at: jiff::Timestamp::now(),
                                notification: None,
                            },
                        );
                        recorded = true;
                    }
                }
            }
        }
        if added.is_empty() && !recorded {
            return;
        }
        self.write(&rollout, ledger).await;
        for key in added {
            self.deliver(&rollout, &key).await;
        }
    }

    /// Sends what the previous controller left pending.
    async fn resume(&mut self) {
        for rollout in self.sources.rollouts.state() {
            let pending: Vec<String> = self
                .ledger(&rollout)
                .pending()
                .map(|(k, _)| k.clone())
                .collect();
            for key in pending {
                tracing::info!(rollout = %rollout.name_any(), notification = %key, "sending a notification left pending");
                self.deliver(&rollout, &key).await;
            }
        }
    }

    async fn deliver(&mut self, rollout: &Rollout, key: &str) {
        let mut ledger = self.ledger(rollout);
        let Some(entry) = ledger.0.get(key).cloned() else {
            return;
        };
        let notification = entry.notification.clone().unwrap_or_default();
        let destination = &entry.destination;
        let request = match self.config.services.get(&destination.service) {
            Some(service) => services::request(
                &destination.service,
                service,
                &destination.recipient,
                &notification,
            ),
            None => Err(format!(
                "service {} is not configured; add service.{} to the ConfigMap {CONFIGMAP}",
                destination.service,
                if destination.service == "slack" {
                    "slack".to_string()
                } else {
                    format!("webhook.{}", destination.service)
                }
            )),
        };
        let result = match request {
            Ok(request) => self.send_with_retries(&request).await,
            Err(e) => Err(e),
        };
        let state = match &result {
            Ok(()) => {
                tracing::info!(rollout = %rollout.name_any(), trigger = %entry.trigger, destination = %destination, "notification sent");
                self.metrics
                    .notification(&entry.trigger, &destination.service, "sent");
                State::Sent
            }
            Err(message) => {
                self.give_up(rollout, &entry.trigger, destination, message)
                    .await;
                State::Failed
            }
        };
        ledger.finish(key, state, jiff::Timestamp::now());
        self.write(rollout, ledger).await;
    }

    async fn send_with_retries(&self, request: &Request) -> Result<(), String> {
        let tries = self.settings.tries.max(1);
        let mut wait = self.settings.backoff;
        let mut attempt = 1;
        loop {
            match self.send(request).await {
                Outcome::Delivered => return Ok(()),
                Outcome::Rejected(why) => return Err(why),
                Outcome::Retry(why) if attempt >= tries => {
                    return Err(format!("{why} (after {attempt} tries)"));
                }
                Outcome::Retry(why) => {
                    tracing::info!(request = ?request, attempt, error = %why, retry_in = ?wait, "notification not delivered yet");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }

    async fn send(&self, request: &Request) -> Outcome {
        let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
            return Outcome::Rejected(format!("{} is not an HTTP method", request.method));
        };
        let mut builder = self
            .http
            .request(method, &request.url)
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some((user, password)) = &request.basic_auth {
            builder = builder.basic_auth(user, Some(password));
        }
        match builder.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                services::outcome(request, status, &body)
            }
            // reqwest's errors name the URL, which may hold a secret.
            Err(e) if e.is_timeout() => {
                Outcome::Retry(format!("no answer within {:?}", self.settings.timeout))
            }
            Err(e) if e.is_builder() => {
                Outcome::Rejected(format!("invalid request: {}", e.without_url()))
            }
            Err(e) => Outcome::Retry(format!("{}", e.without_url())),
        }
    }

    /// Parts of the Rollout's compact subscription annotation cannot be used: said once per
    /// annotation text, in a log line and a Warning Event on the Rollout; the rest is used.
    async fn bad_subscription(&self, rollout: &Rollout, message: &str) {
        tracing::warn!(rollout = %rollout.name_any(), "notification subscriptions: {message}");
        let note = format!("Notification subscriptions not used: {message}");
        self.warn(&rollout.object_ref(&()), REASON_INVALID_CONFIG, note)
            .await;
    }

    async fn give_up(
        &self,
        rollout: &Rollout,
        trigger: &str,
        destination: &subscriptions::Destination,
        message: &str,
    ) {
        tracing::warn!(rollout = %rollout.name_any(), %trigger, %destination, "notification not delivered: {message}");
        self.metrics
            .notification(trigger, &destination.service, "failed");
        let note = format!("Notification {trigger} to {destination} was not delivered: {message}");
        self.warn(&rollout.object_ref(&()), REASON_NOTIFICATION_FAILED, note)
            .await;
    }

    /// A Warning Event about `regarding` (the ConfigMap or a Rollout); a failure to publish it
    /// is logged, the notifier goes on.
    async fn warn(&self, regarding: &ObjectReference, reason: &str, note: String) {
        let event = Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, regarding).await {
            tracing::warn!(error = %e, %reason, "could not publish the notification warning event");
        }
    }

    /// Writes the ledger to the Rollout's annotation, a few times if the API server fails. The
    /// patch carries no resourceVersion: only this task writes the annotation.
    async fn write(&mut self, rollout: &Rollout, ledger: Ledger) {
        self.ledgers
            .insert(ObjectRef::from_obj(rollout), ledger.clone());
        let api = Api::<Rollout>::namespaced(
            self.client.clone(),
            &rollout.namespace().unwrap_or_else(|| "default".into()),
        );
        let patch = serde_json::json!({"metadata": {"annotations": {
            ledger::LEDGER_ANNOTATION: ledger.to_annotation(),
        }}});
        let mut wait = self.settings.backoff;
        for attempt in 1..=3 {
            match api
                .patch(
                    &rollout.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => return,
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    // Deleted: nothing more to record, and nothing to remember.
                    self.ledgers.remove(&ObjectRef::from_obj(rollout));
                    return;
                }
                Err(e) => {
                    tracing::warn!(rollout = %rollout.name_any(), attempt, error = %e, "could not record notifications on the Rollout");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_object_is_known_once_listed() {
        use watcher::Event::*;
        // Events, then what is known and whether it is synced.
        type Case = (
            Vec<watcher::Event<&'static str>>,
            Option<&'static str>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (vec![], None, false),
            (vec![Init], None, false),
            (vec![Init, InitDone], None, true),
            (vec![Init, InitApply("a"), InitDone], Some("a"), true),
            (
                vec![Init, InitApply("a"), InitDone, Apply("b")],
                Some("b"),
                true,
            ),
            (
                vec![Init, InitApply("a"), InitDone, Delete("a")],
                None,
                true,
            ),
            // A relist after a watch failure replaces what was known only once it is done.
            (
                vec![Init, InitApply("a"), InitDone, Init, InitApply("b")],
                Some("a"),
                true,
            ),
            (
                vec![Init, InitApply("a"), InitDone, Init, InitDone],
                None,
                true,
            ),
        ];
        for (events, current, synced) in cases {
            let mut watched = Watched::new();
            for event in events.clone() {
                watched.apply(event);
            }
            assert_eq!(
                (watched.current, watched.synced),
                (current, synced),
                "{events:?}"
            );
        }
    }

    #[test]
    fn a_refused_watch_is_one_warning_until_it_works_again() {
        let refused = || {
            watcher::Error::InitialListFailed(kube::Error::Api(
                kube::core::Status::failure("configmaps is forbidden", "Forbidden")
                    .with_code(403)
                    .boxed(),
            ))
        };
        let away = || {
            watcher::Error::WatchFailed(kube::Error::Api(
                kube::core::Status::failure("unavailable", "ServiceUnavailable")
                    .with_code(503)
                    .boxed(),
            ))
        };
        let object = "ConfigMap weir-system/argo-rollouts-notification-configmap";
        let mut watched: Watched<&str> = Watched::new();
        assert_eq!(
            watched.failed(&away(), object),
            None,
            "the server away: quiet"
        );
        let warning = watched.failed(&refused(), object).expect("a warning");
        assert!(warning.contains(object), "{warning}");
        assert!(warning.contains("configmaps is forbidden"), "{warning}");
        assert!(
            warning.contains("deploy/controller/notifications.yaml"),
            "{warning}"
        );
        assert_eq!(watched.failed(&refused(), object), None, "said once");
        assert_eq!(watched.failed(&away(), object), None);
        watched.apply(watcher::Event::Init);
        assert!(
            watched.failed(&refused(), object).is_some(),
            "refused again after it worked: said again"
        );
        let status = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        let mut fresh: Watched<&str> = Watched::new();
        assert!(
            fresh
                .failed(&watcher::Error::WatchError(status.boxed()), object)
                .is_some()
        );
    }
}
