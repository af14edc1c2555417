//! Argo CD's Rollout resource actions (argo-cd `resource_customizations/argoproj.io/Rollout/
//! actions/*/action.lua`) on a Weir-managed Rollout. Each scenario makes the change the
//! action's Lua script makes to the live object, sent as Argo CD sends it (the status part
//! through the status subresource first, then the rest: server/application.go
//! `RunResourceAction`), at the step where users click it, and checks what Argo Rollouts does
//! next. No pause step is passed without its own resume.

use crate::scenarios::{V2, healthy_with, update};
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Two indefinite pauses with a weight between them.
const PAUSES: &str =
    "      - setWeight: 25\n      - pause: {}\n      - setWeight: 50\n      - pause: {}\n";
/// A timed pause first, an indefinite one last.
const TIMED: &str = "      - setWeight: 25\n      - pause: {duration: 3s}\n      - setWeight: 50\n      - pause: {}\n";

#[derive(Debug, Clone, Copy)]
enum Action {
    Abort,
    Pause,
    PromoteFull,
    Restart,
    Resume,
    Retry,
    SkipCurrentStep,
}

/// What each action.lua changes on `live`, as (status, spec) merge patches.
fn lua(action: Action, live: &Value) -> (Option<Value>, Option<Value>) {
    let status = &live["status"];
    let steps = live["spec"]["strategy"]["canary"]["steps"].as_array();
    match action {
        Action::Abort => (Some(json!({"abort": true})), None),
        Action::Pause => (None, Some(json!({"paused": true}))),
        Action::PromoteFull => {
            if status.is_null() {
                return (None, None);
            }
            let observed = status["observedGeneration"]
                .as_str()
                .and_then(|g| g.parse::<i64>().ok());
            match observed {
                // Rollouts v0.10 and later.
                Some(g) if g <= live["metadata"]["generation"].as_i64().unwrap_or(0) => {
                    (Some(json!({"promoteFull": true})), None)
                }
                // Rollouts v0.9 and earlier.
                _ => {
                    let mut patch = json!({"abort": null});
                    if let Some(steps) = steps {
                        patch["currentStepIndex"] = json!(steps.len());
                    }
                    (Some(patch), None)
                }
            }
        }
        Action::Restart => {
            // os.date("!%Y-%m-%dT%XZ"): UTC, to the second.
            let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap();
            (None, Some(json!({"restartAt": now.to_string()})))
        }
        Action::Resume => {
            let paused = status["pauseConditions"]
                .as_array()
                .is_some_and(|p| !p.is_empty());
            (
                paused.then(|| json!({"pauseConditions": null})),
                (live["spec"]["paused"] == json!(true)).then(|| json!({"paused": false})),
            )
        }
        Action::Retry => {
            if status["abort"] != json!(true) {
                return (None, None);
            }
            let mut patch = json!({"abort": null});
            if !status["canary"].is_null() {
                patch["canary"] = json!({
                    "currentStepAnalysisRunStatus": null,
                    "currentBackgroundAnalysisRunStatus": null
                });
            }
            (Some(patch), None)
        }
        Action::SkipCurrentStep => {
            let index = status["currentStepIndex"]
                .as_i64()
                .expect("currentStepIndex");
            match steps {
                Some(steps) if !status.is_null() && index < steps.len() as i64 => {
                    let mut patch = json!({"currentStepIndex": index + 1});
                    if status["pauseConditions"]
                        .as_array()
                        .is_some_and(|p| !p.is_empty())
                    {
                        patch["pauseConditions"] = json!(null);
                    }
                    (Some(patch), None)
                }
                _ => (None, None),
            }
        }
    }
}

/// Clicks `action` on Rollout `web`.
async fn click(bed: &Bed, action: Action) {
    let live = serde_json::to_value(bed.rollout("web").await).unwrap();
    let (status, spec) = lua(action, &live);
    assert!(
        status.is_some() || spec.is_some(),
        "{action:?} changes nothing on {live:#}"
    );
    if let Some(status) = status {
        bed.merge_patch_status("web", status).await;
    }
    if let Some(spec) = spec {
        bed.merge_patch_rollout("web", json!({"spec": spec})).await;
    }
}

fn paused_at(rollout: &weir::api::Rollout, index: i32) -> bool {
    let status = rollout.status.as_ref();
    phase(rollout) == "Paused"
        && step(rollout) == Some(index)
        && status.and_then(|s| s.message.as_deref()) == Some("CanaryPauseStep")
        && status.and_then(|s| s.controller_pause) == Some(true)
}

/// Waits for the pause at `index`, then gives the controller time to pass it wrongly.
async fn held_at_pause(bed: &Bed, index: i32, stable: &str) {
    bed.wait_rollout("web", "paused", |r| paused_at(r, index))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rollout = bed.rollout("web").await;
    assert!(
        paused_at(&rollout, index),
        "the pause at step {index} was passed: {:#?}",
        rollout.status
    );
    assert_eq!(status_hash(&rollout).0.as_deref(), Some(stable));
    let passed = format!("Rollout step {}/", index + 1);
    let events = bed.events().await;
    assert!(
        !events
            .iter()
            .any(|(reason, note)| reason == "RolloutStepCompleted" && note.starts_with(&passed)),
        "step {index} completed: {events:#?}"
    );
}

/// Paused at the first pause of `steps`, v2 the canary: (bed, stable hash, canary hash).
async fn at_first_pause(steps: &str) -> (Bed, String, String) {
    let (bed, h1) = healthy_with(steps, Default::default()).await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "first pause", |r| {
        phase(r) == "Paused" && step(r) == Some(1)
    })
    .await;
    (bed, h1, h2)
}

/// The reported bug: skip-current-step at an indefinite pause left `controllerPause: true`,
/// and the next indefinite pause was taken as resumed, promoting the release.
pub async fn skip_current_step_at_a_pause_stops_at_the_next_pause() {
    let (bed, h1, h2) = at_first_pause(PAUSES).await;
    click(&bed, Action::SkipCurrentStep).await;
    held_at_pause(&bed, 3, &h1).await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 50);
    click(&bed, Action::Resume).await;
    bed.wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    bed.finish().await;
}

pub async fn resume_passes_only_the_pause_it_resumes() {
    let (bed, h1, h2) = at_first_pause(PAUSES).await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 25);
    click(&bed, Action::Resume).await;
    held_at_pause(&bed, 3, &h1).await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 50);
    bed.expect_event(|reason, _| reason == "RolloutResumed")
        .await;
    click(&bed, Action::Resume).await;
    bed.wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    bed.finish().await;
}

/// `pause` during a timed pause: the pause does not end while the Rollout is manually paused,
/// however long that is; `resume` then lifts both and the release stops at the next pause.
pub async fn pause_holds_a_timed_pause_until_resume() {
    let (bed, h1, _) = at_first_pause(TIMED).await;
    click(&bed, Action::Pause).await;
    bed.wait_rollout("web", "manually paused", |r| {
        r.status.as_ref().and_then(|s| s.message.as_deref()) == Some("manually paused")
    })
    .await;
    // Longer than the 3 s pause.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rollout = bed.rollout("web").await;
    assert_eq!(step(&rollout), Some(1), "{:#?}", rollout.status);
    assert_eq!(phase(&rollout), "Paused");
    click(&bed, Action::Resume).await;
    held_at_pause(&bed, 3, &h1).await;
    assert_eq!(bed.rollout("web").await.spec.paused, Some(false));
    bed.finish().await;
}

pub async fn abort_at_a_pause_returns_traffic_to_stable_and_stays() {
    let (bed, h1, h2) = at_first_pause(PAUSES).await;
    click(&bed, Action::Abort).await;
    let aborted = bed
        .wait_rollout("web", "Degraded", |r| phase(r) == "Degraded")
        .await;
    let status = aborted.status.unwrap();
    assert_eq!(
        status.message.as_deref(),
        Some("RolloutAborted: Rollout aborted update to revision 2")
    );
    assert_eq!(status.pause_conditions, None);
    assert_eq!(status.controller_pause, None);
    assert_eq!(status.current_step_index, Some(0));
    assert_eq!(bed.canary_weight("web-vsvc").await, 0);
    assert_eq!(
        bed.service_hash("web-canary").await.as_deref(),
        Some(h1.as_str())
    );
    bed.wait("canary scaled down", || async {
        (bed.rs_counts(&h2).await.0 == 0).then_some(())
    })
    .await
    .expect("canary scaled to 0");
    let rollout = bed.rollout("web").await;
    assert_eq!(phase(&rollout), "Degraded");
    assert_eq!(status_hash(&rollout).0.as_deref(), Some(h1.as_str()));
    bed.finish().await;
}

/// `retry` after an abort at the first pause: the steps run again, and that pause is entered
/// again rather than taken as resumed.
pub async fn retry_walks_the_steps_again_to_the_first_pause() {
    let (bed, h1, h2) = at_first_pause(PAUSES).await;
    click(&bed, Action::Abort).await;
    bed.wait("canary scaled down", || async {
        (bed.rs_counts(&h2).await.0 == 0).then_some(())
    })
    .await
    .expect("canary scaled to 0");
    click(&bed, Action::Retry).await;
    bed.wait_rollout("web", "retried", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.abort.is_none() && s.aborted_at.is_none())
    })
    .await;
    held_at_pause(&bed, 1, &h1).await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 25);
    assert_eq!(
        bed.service_hash("web-canary").await.as_deref(),
        Some(h2.as_str())
    );
    bed.finish().await;
}

pub async fn promote_full_at_a_pause_promotes() {
    let (bed, _, h2) = at_first_pause(PAUSES).await;
    click(&bed, Action::PromoteFull).await;
    let done = bed
        .wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let status = done.status.unwrap();
    assert_eq!(status.current_step_index, Some(4));
    assert_eq!(status.promote_full, None);
    assert_eq!(bed.canary_weight("web-vsvc").await, 0);
    bed.expect_event(|_, note| note.ends_with("Full promotion requested"))
        .await;
    bed.finish().await;
}

/// promote-full/action.lua sets only `promoteFull`, also on an aborted Rollout: Argo lifts the
/// abort and promotes.
pub async fn promote_full_of_an_aborted_rollout_promotes() {
    let (bed, _, h2) = at_first_pause(PAUSES).await;
    click(&bed, Action::Abort).await;
    bed.wait("canary scaled down", || async {
        (bed.rs_counts(&h2).await.0 == 0).then_some(())
    })
    .await
    .expect("canary scaled to 0");
    click(&bed, Action::PromoteFull).await;
    let done = bed
        .wait_rollout("web", "promoted", |r| is_healthy_at(r, &h2))
        .await;
    let status = done.status.unwrap();
    assert_eq!(status.abort, None);
    assert_eq!(status.aborted_at, None);
    assert_eq!(
        bed.service_hash("web-stable").await.as_deref(),
        Some(h2.as_str())
    );
    bed.finish().await;
}

/// `restart` at a pause replaces every pod, stable and canary, and the pause stays.
pub async fn restart_at_a_pause_replaces_pods_and_keeps_the_pause() {
    let (bed, h1, _) = at_first_pause(PAUSES).await;
    let pods = || async {
        let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(bed.client.clone(), &bed.ns);
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect::<Vec<String>>()
    };
    let before = pods().await;
    assert_eq!(before.len(), 5, "4 stable, 1 canary: {before:?}");
    // restartAt has a resolution of seconds: the pods must be older than it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    click(&bed, Action::Restart).await;
    bed.wait_rollout("web", "restarted", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.restarted_at.is_some() && s.restarted_at == r.spec.restart_at)
    })
    .await;
    let after = pods().await;
    assert_eq!(after.len(), 5, "{after:?}");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "every pod was replaced: {before:?} -> {after:?}"
    );
    held_at_pause(&bed, 1, &h1).await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 25);
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario skip_current_step_at_a_pause_stops_at_the_next_pause,
        scenario resume_passes_only_the_pause_it_resumes,
        scenario pause_holds_a_timed_pause_until_resume,
        scenario abort_at_a_pause_returns_traffic_to_stable_and_stays,
        scenario retry_walks_the_steps_again_to_the_first_pause,
        scenario promote_full_at_a_pause_promotes,
        scenario promote_full_of_an_aborted_rollout_promotes,
        scenario restart_at_a_pause_replaces_pods_and_keeps_the_pause,
    ]
}
