//! Notifications end to end: the real controller, Argo's notification ConfigMap and Secret in
//! the controller's namespace, subscription annotations on the Rollout, and a local receiver
//! standing in for Slack's Web API and for a webhook endpoint.

use crate::git_server::bare_repo_with;
use crate::scenarios::{V1, V2, healthy_with, update};
use crate::support::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use weir::controller::metrics::Metrics;
use weir::notifications::receiver::{Receiver, Reply};
use weir::notifications::{DEFAULT_NAMESPACE as NS, LEDGER_ANNOTATION, Settings};

const TOKEN: &str = "xoxb-test-token";
/// One pause, so a test can subscribe or abort while the canary waits there.
const STEPS: &str = "      - setWeight: 50\n      - pause: {duration: 2s}\n";

fn settings() -> Settings {
    Settings {
        namespace: NS.into(),
        tries: 3,
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(100),
        queue: 100,
    }
}

fn config(metrics: &Arc<Metrics>) -> weir::controller::Config {
    weir::controller::Config {
        notifications: settings(),
        metrics: metrics.clone(),
        ..Default::default()
    }
}

/// Writes the Secret holding the tokens, then the ConfigMap (Slack through the receiver, a
/// webhook `receiver`, and `extra`), so that its references resolve when it is read.
async fn configure(bed: &Bed, receiver: &Receiver, extra: &[(&str, &str)]) {
    let mut data = BTreeMap::from([
        (
            "service.slack".to_string(),
            format!("token: $slack-token\napiURL: {}/api/", receiver.url()),
        ),
        (
            "service.webhook.receiver".to_string(),
            format!(
                "url: {}\nheaders:\n- name: X-Token\n  value: $hook-token",
                receiver.url()
            ),
        ),
    ]);
    // `data`, base64 as the API stores it (the harness does not fold `stringData` into it).
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("argo-rollouts-notification-secret".into()),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("slack-token".to_string(), ByteString(TOKEN.into())),
            ("hook-token".to_string(), ByteString("hook-secret".into())),
        ])),
        ..Default::default()
    };
    let mut secret = serde_json::to_value(&secret).unwrap();
    secret["apiVersion"] = json!("v1");
    secret["kind"] = json!("Secret");
    Api::<Secret>::namespaced(bed.client.clone(), NS)
        .patch(
            "argo-rollouts-notification-secret",
            &PatchParams::apply("weir-tests").force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("apply the notification Secret");
    data.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    write_config(bed, data).await;
}

async fn write_config(bed: &Bed, data: BTreeMap<String, String>) {
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argo-rollouts-notification-configmap", "namespace": NS},
        "data": data,
    });
    Api::<ConfigMap>::namespaced(bed.client.clone(), NS)
        .patch(
            "argo-rollouts-notification-configmap",
            &PatchParams::apply("weir-tests").force(),
            &Patch::Apply(&config_map),
        )
        .await
        .expect("apply the notification ConfigMap");
}

async fn subscribe(bed: &Bed, annotations: Value) {
    bed.merge_patch_rollout("web", json!({"metadata": {"annotations": annotations}}))
        .await;
}

/// Waits until the receiver has delivered `count` requests.
async fn delivered(bed: &Bed, receiver: &Receiver, count: usize, what: &str) -> Vec<Value> {
    let got = bed
        .wait(what, || async {
            let delivered = receiver.delivered();
            (delivered.len() >= count).then_some(delivered)
        })
        .await
        .unwrap_or_else(|| panic!("{what}: delivered {:#?}", receiver.received()));
    got.iter()
        .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone())))
        .collect()
}

fn ledger(rollout: &weir::api::Rollout) -> Value {
    rollout
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEDGER_ANNOTATION))
        .map(|t| serde_json::from_str(t).unwrap())
        .unwrap_or(Value::Null)
}

fn states(ledger: &Value) -> Vec<String> {
    ledger
        .as_object()
        .map(|m| {
            m.values()
                .map(|e| e["state"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The line of `name{labels}` in the metrics, with its value.
fn metric(metrics: &Metrics, series: &str) -> Option<String> {
    metrics
        .encode()
        .lines()
        .find(|l| l.starts_with(series))
        .map(String::from)
}

async fn abort(bed: &Bed) {
    bed.merge_patch_status("web", json!({"abort": true})).await;
    bed.wait_rollout("web", "Degraded", |r| phase(r) == "Degraded")
        .await;
}

/// An abort reaches Slack's Web API once, in Argo's default format, with the Secret's token.
pub async fn an_abort_notifies_slack_once_in_argos_format() {
    let receiver = Receiver::start().await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let (mut bed, h1) = healthy_with(STEPS, config(&metrics)).await;
    configure(&bed, &receiver, &[]).await;
    subscribe(
        &bed,
        json!({"notifications.argoproj.io/subscribe.on-rollout-aborted.slack": "deploys"}),
    )
    .await;
    update(&bed, V2, &h1).await;
    abort(&bed).await;
    let bodies = delivered(&bed, &receiver, 1, "abort notification").await;
    let request = &receiver.delivered()[0];
    assert_eq!(request.path, "/api/chat.postMessage");
    assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(bodies[0]["channel"], "deploys");
    assert_eq!(bodies[0]["text"], "Rollout web has been aborted.");
    let attachment = &bodies[0]["attachments"][0];
    assert_eq!(attachment["color"], "#E01E5A");
    assert_eq!(attachment["fields"][0]["value"], "Canary");
    assert_eq!(attachment["fields"][1]["value"], V2);
    // Later reconciles of the aborted Rollout send nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.delivered().len(), 1, "{:#?}", receiver.received());
    assert_eq!(states(&ledger(&bed.rollout("web").await)), vec!["sent"]);
    assert!(
        metric(
            &metrics,
            "weir_notifications_total{trigger=\"on-rollout-aborted\",service=\"slack\",result=\"sent\"} 1"
        )
        .is_some(),
        "{}",
        metrics.encode()
    );
    bed.stop_controller().await;
    bed.finish().await;
}

/// Slack through an incoming webhook: no token, the URL from the Secret, Argo's message.
pub async fn an_incoming_webhook_gets_the_message_without_a_token() {
    let receiver = Receiver::start().await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let (bed, h1) = healthy_with(STEPS, config(&metrics)).await;
    configure(&bed, &receiver, &[]).await;
    let hook = format!("{}/services/T000/B000/XXXX", receiver.url());
    let secret = json!({"data": {"slack-webhook": ByteString(hook.into_bytes())}});
    Api::<Secret>::namespaced(bed.client.clone(), NS)
        .patch(
            "argo-rollouts-notification-secret",
            &PatchParams::default(),
            &Patch::Merge(&secret),
        )
        .await
        .expect("add the webhook URL");
    let webhook = json!({"data": {"service.slack": "webhookURL: $slack-webhook"}});
    Api::<ConfigMap>::namespaced(bed.client.clone(), NS)
        .patch(
            "argo-rollouts-notification-configmap",
            &PatchParams::default(),
            &Patch::Merge(&webhook),
        )
        .await
        .expect("switch Slack to the incoming webhook");
    subscribe(
        &bed,
        json!({"notifications.argoproj.io/subscribe.on-rollout-updated.slack": ""}),
    )
    .await;
    update(&bed, V2, &h1).await;
    let bodies = delivered(&bed, &receiver, 1, "update notification").await;
    let request = &receiver.delivered()[0];
    assert_eq!(request.path, "/services/T000/B000/XXXX");
    assert!(
        !request.headers.contains_key("authorization"),
        "{request:#?}"
    );
    assert_eq!(bodies[0]["text"], "Rollout web has been updated.");
    assert_eq!(bodies[0].get("channel"), None);
    bed.finish().await;
}

/// The promotion reaches a webhook through a template of the user's; the receiver's 500 is
/// retried and the notification delivered once.
pub async fn a_promotion_reaches_a_webhook_after_a_500() {
    let receiver = Receiver::start().await.unwrap();
    receiver.script([Reply::Status(500, "busy".into())]);
    let metrics = Arc::new(Metrics::new());
    let (bed, h1) = healthy_with(STEPS, config(&metrics)).await;
    configure(
        &bed,
        &receiver,
        &[
            (
                "template.release-done",
                "webhook:\n  receiver:\n    method: POST\n    path: /hooks/{{.rollout.metadata.name}}\n    body: '{\"rollout\": \"{{.rollout.metadata.name}}\", \"image\": \"{{(index .rollout.spec.template.spec.containers 0).image}}\"}'",
            ),
            ("trigger.on-rollout-completed", "- send: [release-done]"),
        ],
    )
    .await;
    subscribe(
        &bed,
        json!({"notifications.argoproj.io/subscribe.on-rollout-completed.receiver": ""}),
    )
    .await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let bodies = delivered(&bed, &receiver, 1, "promotion notification").await;
    assert_eq!(bodies, vec![json!({"rollout": "web", "image": V2})]);
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one 500, one 200: {received:#?}");
    assert_eq!(received[0].answered, Some(500));
    assert_eq!(
        (received[1].method.as_str(), received[1].path.as_str()),
        ("POST", "/hooks/web")
    );
    assert_eq!(received[1].headers["x-token"], "hook-secret");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.delivered().len(), 1);
    assert!(
        metric(
            &metrics,
            "weir_notifications_total{trigger=\"on-rollout-completed\",service=\"receiver\",result=\"sent\"} 1"
        )
        .is_some(),
        "{}",
        metrics.encode()
    );
    bed.finish().await;
}

/// A receiver that never answers: the release goes on at its own pace, and after the tries a
/// Warning Event says the notification was given up, without the token or the URL.
pub async fn a_hanging_receiver_is_given_up_without_slowing_the_release() {
    let receiver = Receiver::start().await.unwrap();
    receiver.script(std::iter::repeat_n(Reply::Hang, 20));
    let metrics = Arc::new(Metrics::new());
    let (bed, h1) = healthy_with(STEPS, config(&metrics)).await;
    configure(&bed, &receiver, &[]).await;
    subscribe(
        &bed,
        json!({
            "notifications.argoproj.io/subscribe.on-rollout-updated.slack": "deploys",
            "notifications.argoproj.io/subscribe.on-rollout-step-completed.slack": "deploys",
            "notifications.argoproj.io/subscribe.on-rollout-completed.slack": "deploys",
        }),
    )
    .await;
    let started = std::time::Instant::now();
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    // The 2 s pause and the pods, not 3 notifications x 3 tries x 0.5 s on top.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    bed.expect_event(|reason, note| {
        reason == "NotificationFailed"
            && note.contains("on-rollout-updated to slack:deploys")
            && note.contains("after 3 tries")
    })
    .await;
    for (_, note) in bed.events().await {
        assert!(
            !note.contains(TOKEN) && !note.contains(&receiver.url()),
            "{note}"
        );
    }
    assert!(receiver.delivered().is_empty());
    bed.finish().await;
}

/// The controller stops while a notification is in flight: the next one sends it, once, and
/// what was sent before is not sent again.
pub async fn a_restart_in_the_middle_neither_loses_nor_repeats() {
    let receiver = Receiver::start().await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let (mut bed, h1) = healthy_with(STEPS, config(&metrics)).await;
    configure(&bed, &receiver, &[]).await;
    subscribe(
        &bed,
        json!({
            "notifications.argoproj.io/subscribe.on-rollout-updated.slack": "deploys",
            "notifications.argoproj.io/subscribe.on-rollout-aborted.slack": "deploys",
        }),
    )
    .await;
    update(&bed, V2, &h1).await;
    delivered(&bed, &receiver, 1, "update notification").await;
    receiver.script([Reply::Hang]);
    abort(&bed).await;
    bed.wait("abort notification in flight", || async {
        (receiver.received().len() == 2).then_some(())
    })
    .await
    .expect("the abort notification was attempted");
    let pending = bed
        .wait_rollout("web", "abort pending in the ledger", |r| {
            states(&ledger(r)).contains(&"pending".to_string())
        })
        .await;
    assert_eq!(states(&ledger(&pending)).len(), 2);
    bed.stop_controller().await;
    bed.start_controller_with(config(&metrics));
    let bodies = delivered(&bed, &receiver, 2, "abort notification after the restart").await;
    assert_eq!(bodies[0]["text"], "Rollout web has been updated.");
    assert_eq!(bodies[1]["text"], "Rollout web has been aborted.");
    bed.wait_rollout("web", "all sent", |r| {
        states(&ledger(r)) == vec!["sent".to_string(), "sent".to_string()]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.delivered().len(), 2, "{:#?}", receiver.received());
    bed.finish().await;
}

/// Bad items of the ConfigMap: one Event each on the ConfigMap and the gauge; the good items
/// still work, and a fixed ConfigMap is picked up without a restart.
pub async fn bad_config_is_reported_per_item_and_the_rest_works() {
    let receiver = Receiver::start().await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let (bed, h1) = healthy_with(STEPS, config(&metrics)).await;
    let bad = [
        (
            "service.teams",
            "recipientUrls: {channel: https://example.com}",
        ),
        ("template.broken", "message: '{{.rollout.metadata.name'"),
        ("trigger.on-rollout-aborted", "- send: [nowhere]"),
    ];
    configure(&bed, &receiver, &bad).await;
    let events: Api<DynamicObject> = Api::namespaced_with(
        bed.client.clone(),
        NS,
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("events.k8s.io", "v1", "Event"),
            "events",
        ),
    );
    let notes = bed
        .wait("config events", || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            let notes: Vec<String> = list
                .items
                .iter()
                .map(|e| serde_json::to_value(e).unwrap())
                .filter(|e| e["reason"] == "InvalidNotificationConfig")
                .map(|e| e["note"].as_str().unwrap_or_default().to_string())
                .collect();
            (notes.len() >= 3).then_some(notes)
        })
        .await
        .expect("an Event per bad item");
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("key service.teams: service teams is not supported")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("key template.broken: message does not parse")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("key trigger.on-rollout-aborted: sends template nowhere")),
        "{notes:#?}"
    );
    assert_eq!(
        metric(&metrics, "weir_notification_config_errors ").as_deref(),
        Some("weir_notification_config_errors 3")
    );
    // The valid parts work: Argo's on-rollout-updated and the Slack service.
    subscribe(
        &bed,
        json!({"notifications.argoproj.io/subscribe.on-rollout-updated.slack": "deploys"}),
    )
    .await;
    update(&bed, V2, &h1).await;
    let bodies = delivered(&bed, &receiver, 1, "update notification").await;
    assert_eq!(bodies[0]["text"], "Rollout web has been updated.");
    // Fixed without a restart.
    let fixed = json!({"data": {
        "service.teams": null,
        "trigger.on-rollout-aborted": null,
        "template.broken": "message: fixed",
    }});
    Api::<ConfigMap>::namespaced(bed.client.clone(), NS)
        .patch(
            "argo-rollouts-notification-configmap",
            &PatchParams::default(),
            &Patch::Merge(&fixed),
        )
        .await
        .expect("fix the ConfigMap");
    bed.wait("config errors cleared", || async {
        (metric(&metrics, "weir_notification_config_errors ").as_deref()
            == Some("weir_notification_config_errors 0"))
        .then_some(())
    })
    .await
    .expect("the fixed ConfigMap is reloaded");
    bed.finish().await;
}

/// Weir's own trigger: the revert committed in Git, with the commit, repository, file and
/// images.
pub async fn a_committed_revert_notifies_with_the_commit() {
    let receiver = Receiver::start().await.unwrap();
    let rollout_file = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: {V2}\n"
    );
    let repo = bare_repo_with(&[("apps/web/rollout.yaml", rollout_file.as_str())], "main");
    let metrics = Arc::new(Metrics::new());
    let mut config = config(&metrics);
    config.revert_settings.on_manual_abort = true;
    config.revert.cache_dir =
        std::env::temp_dir().join(format!("weir-notify-cache-{}", std::process::id()));
    let (bed, h1) = healthy_with(STEPS, config).await;
    configure(&bed, &receiver, &[]).await;
    subscribe(
        &bed,
        json!({
            "weir.dev/git-revert": "true",
            "weir.dev/git-repo": repo.url_file(),
            "weir.dev/git-branch": "main",
            "weir.dev/git-path": "apps/web",
            "notifications.argoproj.io/subscribe.on-git-revert-committed.slack": "deploys",
        }),
    )
    .await;
    update(&bed, V2, &h1).await;
    abort(&bed).await;
    let bodies = delivered(&bed, &receiver, 1, "revert notification").await;
    let rollout = bed.rollout("web").await;
    let revert = rollout.weir_state().and_then(|s| s.git_revert).unwrap();
    let commit = revert.commit.clone().expect("the revert's commit");
    let text = bodies[0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        format!(
            "Rollout web: {V2} rolled back to {V1} in Git, reason: manual abort. Commit {commit} in {} (apps/web/rollout.yaml)",
            repo.url_file()
        )
    );
    assert_eq!(
        bodies[0]["attachments"][0]["fields"][0]["value"],
        commit.as_str()
    );
    bed.finish().await;
}

/// The compact `notifications.argoproj.io/subscriptions` annotation: an entry that cannot be used
/// is reported on the Rollout while the others send; each destination of each entry is sent to.
pub async fn the_subscriptions_annotation_is_read_and_a_bad_entry_reported() {
    let receiver = Receiver::start().await.unwrap();
    let metrics = Arc::new(Metrics::new());
    // Paused until the abort, however long the first part takes.
    let steps = "      - setWeight: 50\n      - pause: {}\n";
    let (bed, h1) = healthy_with(steps, config(&metrics)).await;
    configure(&bed, &receiver, &[]).await;
    subscribe(
        &bed,
        json!({"notifications.argoproj.io/subscriptions": "
- trigger: [on-rollout-updated]
  destination: [{service: slack, recipients: [typo]}]
- trigger: [on-rollout-updated]
  destinations: [{service: slack, recipients: [updates]}]
"}),
    )
    .await;
    update(&bed, V2, &h1).await;
    bed.expect_event(|reason, note| {
        reason == "InvalidNotificationConfig"
            && note.contains("Notification subscriptions not used")
            && note.contains(
                "notifications.argoproj.io/subscriptions entry 0: unknown field `destination` (ignored)",
            )
            && note.contains("entry 0: no destinations, so it sends nothing")
            && note.contains("expected a YAML list")
    })
    .await;
    let bodies = delivered(&bed, &receiver, 1, "update notification").await;
    assert_eq!(
        bodies[0]["channel"], "updates",
        "the good entry still sends"
    );
    subscribe(
        &bed,
        json!({"notifications.argoproj.io/subscriptions": "
- trigger: [on-rollout-aborted]
  destinations:
    - service: slack
      recipients: [deploys, incidents]
"}),
    )
    .await;
    abort(&bed).await;
    let bodies = delivered(&bed, &receiver, 3, "abort notifications").await;
    let mut channels: Vec<&str> = bodies[1..]
        .iter()
        .filter_map(|b| b["channel"].as_str())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["deploys", "incidents"]);
    assert!(
        bodies[1..]
            .iter()
            .all(|b| b["text"] == "Rollout web has been aborted."),
        "{bodies:#?}"
    );
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        once an_abort_notifies_slack_once_in_argos_format,
        once a_promotion_reaches_a_webhook_after_a_500,
        once an_incoming_webhook_gets_the_message_without_a_token,
        once a_hanging_receiver_is_given_up_without_slowing_the_release,
        once a_restart_in_the_middle_neither_loses_nor_repeats,
        once bad_config_is_reported_per_item_and_the_rest_works,
        once a_committed_revert_notifies_with_the_commit,
        once the_subscriptions_annotation_is_read_and_a_bad_entry_reported,
    ]
}
