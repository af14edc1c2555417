//! The mutating commands. Each makes the same patch as Argo's plugin (status merge patches for
//! abort/retry/promote, spec merge patches for pause/restart, template patches for set image and
//! undo), so they also work on Rollouts that Argo CD manages and on controllers that expect
//! Argo's protocol. Each first reads the Rollout, to say plainly when it does not exist or when
//! the action does not apply in its current state.

use super::error::{CliError, Result, not_found_as};
use super::fetch::{self, ROLLOUTS};
use super::info;
use crate::api::Rollout;
use crate::api::labels::{POD_TEMPLATE_HASH, REVISION};
use jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use std::time::Duration;

/// Attempts for patches guarded by a `test` of the value they replace (Argo retries its
/// read-modify-write the same number of times on conflicts).
const ATTEMPTS: usize = 5;

/// Merge patches for the main resource and for the status subresource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patches {
    pub spec: Option<Value>,
    pub status: Option<Value>,
}

fn name_of(rollout: &Rollout) -> &str {
    rollout.metadata.name.as_deref().unwrap_or_default()
}

/// True while a new revision is being rolled out (or a spec change is not yet observed).
fn update_in_progress(rollout: &Rollout) -> bool {
    let status = info::status(rollout);
    let stale = info::phase(rollout).1 == "waiting for rollout spec update to be observed";
    stale || status.current_pod_hash.is_some() && status.current_pod_hash != status.stable_rs
}

/// What `promote [--full]` patches, or why it does not apply.
///
/// Plain promote resumes a manual pause (`spec.paused`) and leaves a pause step by clearing
/// `status.pauseConditions`; at a step that is not paused (an analysis in progress, or a weight
/// still waiting for pods) it skips that step with `currentStepIndex + 1`. `--full` sets
/// `status.promoteFull` (and resumes a manual pause), which skips every remaining step, also of
/// an aborted update.
pub fn promote_patches(rollout: &Rollout, full: bool) -> std::result::Result<Patches, String> {
    let name = name_of(rollout);
    let status = info::status(rollout);
    // `--full` also promotes an aborted update (the controller lifts the abort, as Argo's does
    // for `promoteFull`); a plain promote of an aborted one has no step to leave.
    if status.abort == Some(true) && !full {
        return Err(format!(
            "rollout '{name}' is aborted: promote does not apply; `kubectl weir retry rollout {name}` resumes the update"
        ));
    }
    let paused = rollout.spec.paused == Some(true);
    let mut patches = Patches {
        spec: paused.then(|| json!({"spec": {"paused": false}})),
        status: None,
    };
    if full {
        if update_in_progress(rollout) {
            patches.status = Some(json!({"status": {"promoteFull": true}}));
        } else if !paused {
            return Err(format!(
                "rollout '{name}' has no update in progress: it is already fully promoted"
            ));
        }
        return Ok(patches);
    }
    if status
        .pause_conditions
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        patches.status = Some(json!({"status": {"pauseConditions": null}}));
    } else if !paused && let Some(index) = info::current_step(rollout) {
        // A manual pause is only resumed, never also skipped past the step it interrupted.
        patches.status =
            Some(json!({"status": {"pauseConditions": null, "currentStepIndex": index + 1}}));
    }
    if patches == Patches::default() {
        let (phase, _) = info::phase(rollout);
        return Err(format!(
            "rollout '{name}' is not paused and has no step in progress (status {phase}): nothing to promote"
        ));
    }
    Ok(patches)
}

async fn apply(api: &Api<Rollout>, name: &str, patches: &Patches) -> Result<()> {
    let params = PatchParams::default();
    // Status first, as Argo does: a resumed Rollout must not see its old pause conditions.
    if let Some(status) = &patches.status {
        api.patch_status(name, &params, &Patch::Merge(status))
            .await
            .map_err(|e| not_found_as(e, ROLLOUTS, name))?;
    }
    if let Some(spec) = &patches.spec {
        api.patch(name, &params, &Patch::Merge(spec))
            .await
            .map_err(|e| not_found_as(e, ROLLOUTS, name))?;
    }
    Ok(())
}

pub async fn promote(api: &Api<Rollout>, name: &str, full: bool) -> Result<String> {
    let rollout = fetch::rollout(api, name).await?;
    let patches = promote_patches(&rollout, full).map_err(CliError::NotApplicable)?;
    apply(api, name, &patches).await?;
    Ok(if full {
        format!("rollout '{name}' fully promoted")
    } else {
        format!("rollout '{name}' promoted")
    })
}

pub async fn abort(api: &Api<Rollout>, name: &str) -> Result<String> {
    let rollout = fetch::rollout(api, name).await?;
    if !update_in_progress(&rollout) && info::status(&rollout).abort != Some(true) {
        return Err(CliError::NotApplicable(format!(
            "rollout '{name}' has no update in progress: nothing to abort"
        )));
    }
    let patches = Patches {
        status: Some(json!({"status": {"abort": true}})),
        spec: None,
    };
    apply(api, name, &patches).await?;
    Ok(format!("rollout '{name}' aborted"))
}

pub async fn retry(api: &Api<Rollout>, name: &str) -> Result<String> {
    let rollout = fetch::rollout(api, name).await?;
    if info::status(&rollout).abort != Some(true) {
        return Err(CliError::NotApplicable(format!(
            "rollout '{name}' is not aborted: nothing to retry"
        )));
    }
    let patches = Patches {
        status: Some(json!({"status": {"abort": false}})),
        spec: None,
    };
    apply(api, name, &patches).await?;
    Ok(format!("rollout '{name}' retried"))
}

pub async fn pause(api: &Api<Rollout>, name: &str) -> Result<String> {
    fetch::rollout(api, name).await?;
    let patches = Patches {
        spec: Some(json!({"spec": {"paused": true}})),
        status: None,
    };
    apply(api, name, &patches).await?;
    Ok(format!("rollout '{name}' paused"))
}

/// `spec.restartAt` in RFC 3339 with whole seconds, as Argo writes it.
pub fn restart_at(now: Timestamp, delay: Duration) -> Result<String> {
    let delay =
        jiff::SignedDuration::try_from(delay).map_err(|e| CliError::Usage(format!("--in: {e}")))?;
    let at = now
        .checked_add(delay)
        .and_then(|t| Timestamp::from_second(t.as_second()))
        .map_err(|e| CliError::Usage(format!("--in: {e}")))?;
    Ok(at.to_string())
}

pub async fn restart(
    api: &Api<Rollout>,
    name: &str,
    delay: Duration,
    delay_text: &str,
    now: Timestamp,
) -> Result<String> {
    fetch::rollout(api, name).await?;
    let patches = Patches {
        spec: Some(json!({"spec": {"restartAt": restart_at(now, delay)?}})),
        status: None,
    };
    apply(api, name, &patches).await?;
    Ok(format!("rollout '{name}' restarts in {delay_text}"))
}

/// JSON patch setting the image of every container named `container` (`*`: all of them) in the
/// pod template: containers, init containers and ephemeral containers. Each replacement is
/// guarded by a `test` of the current image, so a concurrent edit fails the patch instead of
/// being overwritten.
pub fn image_patch(rollout: &Rollout, container: &str, image: &str) -> Result<Value> {
    let template = serde_json::to_value(&rollout.spec.template).unwrap_or(Value::Null);
    let mut ops = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let entries = template
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for (i, entry) in entries.enumerate() {
            if container != "*" && entry.get("name").and_then(Value::as_str) != Some(container) {
                continue;
            }
            let path = format!("/spec/template/spec/{list}/{i}/image");
            match entry.get("image") {
                Some(current) => {
                    ops.push(json!({"op": "test", "path": path, "value": current}));
                    ops.push(json!({"op": "replace", "path": path, "value": image}));
                }
                None => ops.push(json!({"op": "add", "path": path, "value": image})),
            }
        }
    }
    if ops.is_empty() {
        return Err(CliError::NotApplicable(format!(
            "unable to find container named \"{container}\""
        )));
    }
    Ok(Value::Array(ops))
}

fn json_patch(ops: Value) -> Result<json_patch::Patch> {
    serde_json::from_value(ops).map_err(|e| CliError::Usage(format!("invalid patch: {e}")))
}

/// Whether a failed guarded patch should be retried after re-reading the Rollout.
fn retryable(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_conflict() || status.code == 422)
}

pub async fn set_image(
    api: &Api<Rollout>,
    name: &str,
    container: &str,
    image: &str,
) -> Result<String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let rollout = fetch::rollout(api, name).await?;
        let patch = json_patch(image_patch(&rollout, container, image)?)?;
        match api
            .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(_) => return Ok(format!("rollout \"{name}\" image updated")),
            Err(e) if attempt < ATTEMPTS && retryable(&e) => continue,
            Err(e) => return Err(not_found_as(e, ROLLOUTS, name)),
        }
    }
}

/// Whether every field set in `wanted` has the same value in `actual` (Kubernetes'
/// `Semantic.DeepDerivative`): the API server fills in defaults in a ReplicaSet's template that
/// the Rollout's template leaves unset, and those must not count as differences.
fn derivative(wanted: &Value, actual: &Value) -> bool {
    match (wanted, actual) {
        (Value::Null, _) => true,
        (Value::Object(w), Value::Object(a)) => w
            .iter()
            .all(|(k, v)| derivative(v, a.get(k).unwrap_or(&Value::Null))),
        (Value::Object(w), Value::Null) => w.values().all(|v| derivative(v, &Value::Null)),
        (Value::Array(w), Value::Array(a)) => {
            w.len() == a.len() && w.iter().zip(a).all(|(w, a)| derivative(w, a))
        }
        (Value::Array(w), Value::Null) => w.is_empty(),
        (Value::String(w), Value::Null) => w.is_empty(),
        (Value::Bool(false), Value::Null) => true,
        _ => wanted == actual,
    }
}

fn without_hash_label(mut template: Value) -> Value {
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

fn rs_revision(rs: &k8s_openapi::api::apps::v1::ReplicaSet) -> Option<i64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION)?
        .parse()
        .ok()
}

/// `undo [--to-revision N]`: puts the pod template of revision N (0: the one before the
/// newest) back into `spec.template`, without the pod-template-hash label the controller adds.
pub async fn undo(
    client: &Client,
    namespace: &str,
    name: &str,
    to_revision: i64,
) -> Result<String> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    let rollout = fetch::rollout(&api, name).await?;
    let mut sets: Vec<(i64, _)> = fetch::replica_sets(client, &rollout)
        .await?
        .into_iter()
        .filter_map(|rs| rs_revision(&rs).map(|r| (r, rs)))
        .collect();
    sets.sort_by_key(|(revision, _)| std::cmp::Reverse(*revision));
    let (revision, rs) = if to_revision > 0 {
        sets.into_iter()
            .find(|(r, _)| *r == to_revision)
            .ok_or_else(|| {
                CliError::NotApplicable(format!(
                    "unable to find specified revision {to_revision} in history"
                ))
            })?
    } else {
        sets.into_iter().nth(1).ok_or_else(|| {
            CliError::NotApplicable(format!("no revision found for rollout \"{name}\""))
        })?
    };
    let template = rs
        .spec
        .and_then(|s| s.template)
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let template = without_hash_label(template);
    let current = serde_json::to_value(&rollout.spec.template).unwrap_or(Value::Null);
    if derivative(&current, &template) {
        return Ok(format!(
            "skipped rollback (current template already matches revision {revision})"
        ));
    }
    let patch =
        json_patch(json!([{"op": "replace", "path": "/spec/template", "value": template}]))?;
    api.patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .map_err(|e| not_found_as(e, ROLLOUTS, name))?;
    Ok(format!("rollout '{name}' undo"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{
        CanaryStep, CanaryStrategy, PauseCondition, RolloutSpec, RolloutStatus, RolloutStrategy,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn rollout(paused: bool, status: RolloutStatus) -> Rollout {
        let steps = vec![
            CanaryStep {
                set_weight: Some(20),
                ..Default::default()
            },
            CanaryStep {
                analysis: Some(Default::default()),
                ..Default::default()
            },
        ];
        let mut rollout = Rollout::new(
            "web",
            RolloutSpec {
                paused: paused.then_some(true),
                strategy: RolloutStrategy {
                    canary: Some(Box::new(CanaryStrategy {
                        steps: Some(steps),
                        ..Default::default()
                    })),
                    blue_green: None,
                },
                ..Default::default()
            },
        );
        rollout.status = Some(status);
        rollout
    }

    fn mid_update(index: i32) -> RolloutStatus {
        RolloutStatus {
            current_step_index: Some(index),
            current_pod_hash: Some("new".into()),
            stable_rs: Some("old".into()),
            ..Default::default()
        }
    }

    #[test]
    fn promote_patches_match_argo() {
        let mut at_pause = mid_update(1);
        at_pause.pause_conditions = Some(vec![PauseCondition {
            reason: "CanaryPauseStep".into(),
            start_time: Time(Timestamp::UNIX_EPOCH),
        }]);
        let cases = [
            (
                rollout(false, at_pause.clone()),
                false,
                Patches {
                    spec: None,
                    status: Some(json!({"status": {"pauseConditions": null}})),
                },
            ),
            (
                rollout(true, at_pause),
                false,
                Patches {
                    spec: Some(json!({"spec": {"paused": false}})),
                    status: Some(json!({"status": {"pauseConditions": null}})),
                },
            ),
            (
                rollout(false, mid_update(1)),
                false,
                Patches {
                    spec: None,
                    status: Some(
                        json!({"status": {"pauseConditions": null, "currentStepIndex": 2}}),
                    ),
                },
            ),
            (
                rollout(true, mid_update(1)),
                false,
                Patches {
                    spec: Some(json!({"spec": {"paused": false}})),
                    status: None,
                },
            ),
            (
                rollout(false, mid_update(0)),
                true,
                Patches {
                    spec: None,
                    status: Some(json!({"status": {"promoteFull": true}})),
                },
            ),
            (
                rollout(true, mid_update(0)),
                true,
                Patches {
                    spec: Some(json!({"spec": {"paused": false}})),
                    status: Some(json!({"status": {"promoteFull": true}})),
                },
            ),
        ];
        for (rollout, full, want) in cases {
            assert_eq!(promote_patches(&rollout, full), Ok(want));
        }
    }

    #[test]
    fn promote_refuses_when_nothing_to_do() {
        let healthy = RolloutStatus {
            current_step_index: Some(2),
            current_pod_hash: Some("a".into()),
            stable_rs: Some("a".into()),
            phase: Some("Healthy".into()),
            ..Default::default()
        };
        let error = promote_patches(&rollout(false, healthy.clone()), false).unwrap_err();
        assert!(error.contains("rollout 'web' is not paused"), "{error}");
        let error = promote_patches(&rollout(false, healthy), true).unwrap_err();
        assert!(error.contains("already fully promoted"), "{error}");
        let mut aborted = mid_update(0);
        aborted.abort = Some(true);
        let error = promote_patches(&rollout(false, aborted.clone()), false).unwrap_err();
        assert!(error.contains("retry rollout web"), "{error}");
        assert_eq!(
            promote_patches(&rollout(false, aborted), true),
            Ok(Patches {
                spec: None,
                status: Some(json!({"status": {"promoteFull": true}})),
            })
        );
    }

    #[test]
    fn derivative_ignores_server_defaults() {
        let rollout = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}});
        let rs = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}], "dnsPolicy": "ClusterFirst"}});
        assert!(derivative(&rollout, &rs));
        let other = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "y"}]}});
        assert!(!derivative(&rollout, &other));
    }

    #[test]
    fn restart_time_has_whole_seconds() {
        let now: Timestamp = "2026-01-01T10:00:00.750Z".parse().unwrap();
        assert_eq!(
            restart_at(now, Duration::from_secs(30)).unwrap(),
            "2026-01-01T10:00:30Z"
        );
    }
}
