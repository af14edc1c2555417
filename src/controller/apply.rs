//! apply: executes a Plan, in the order that keeps traffic safe (routing before scale-down),
//! with status last so a failed write leaves the old status and the next reconcile re-plans.
//! Every write is idempotent; JSON patches carry `test` operations, status carries the
//! resourceVersion it was planned from.

use super::error::Error;
use super::events::Recorder;
use crate::api::analysis::AnalysisRun;
use crate::api::rollout::{Rollout, WEIR_STATE_ANNOTATION, WeirStatus};
use crate::rollout::{EventType, Plan};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType as KubeEventType};
use kube::{Client, ResourceExt};
use serde_json::json;

pub struct Writer<'a> {
    pub client: &'a Client,
    pub recorder: &'a Recorder,
    pub virtual_service_resource: &'a ApiResource,
    pub destination_rule_resource: &'a ApiResource,
}

/// Counts of API writes one apply made; the reconcile remembers status writes (see `fresh`).
#[derive(Debug, Default, Clone)]
pub struct Writes {
    pub objects: usize,
    pub status: usize,
    pub events: usize,
    /// When an abort's VirtualService writes sent all traffic back to stable.
    pub traffic_safe_at: Option<std::time::Instant>,
    /// The Rollout's resourceVersion after Weir's state was written, if it was.
    pub state_written_at: Option<String>,
}

const MANAGER: &str = "weir";
/// What writing a Rollout's status is called in failures.
pub const STATUS_VERB: &str = "update status";

impl Writer<'_> {
    pub async fn apply(&self, rollout: &Rollout, plan: &Plan) -> Result<Writes, Error> {
        let namespace = rollout.namespace().unwrap_or_else(|| "default".to_string());
        let mut writes = Writes::default();
        let replica_sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams::default();

        if let Some(rs) = &plan.create_replica_set {
            let name = rs.name_any();
            match replica_sets
                .create(
                    &PostParams {
                        field_manager: Some(MANAGER.into()),
                        ..Default::default()
                    },
                    rs,
                )
                .await
            {
                Ok(_) => writes.objects += 1,
                // Already there (a stale cache): the next reconcile adopts it.
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => {
                    return Err(Error::from_kube(
                        "ReplicaSet",
                        "create",
                        &namespace,
                        &name,
                        e,
                    ));
                }
            }
        }
        let services: Api<Service> = Api::namespaced(self.client.clone(), &namespace);
        for (name, patch) in &plan.service_patches {
            services
                .patch(name, &params, &Patch::Merge(patch))
                .await
                .map_err(|e| Error::from_kube("Service", "patch", &namespace, name, e))?;
            writes.objects += 1;
        }
        if let Some((name, patch)) = &plan.destination_rule_patch {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.client.clone(),
                &namespace,
                self.destination_rule_resource,
            );
            api.patch(name, &params, &Patch::<()>::Json(patch.clone()))
                .await
                .map_err(|e| Error::from_kube("DestinationRule", "patch", &namespace, name, e))?;
            writes.objects += 1;
        }
        for vs in &plan.virtual_service_patches {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.client.clone(),
                &vs.namespace,
                self.virtual_service_resource,
            );
            api.patch(&vs.name, &params, &Patch::<()>::Json(vs.patch.clone()))
                .await
                .map_err(|e| {
                    Error::from_kube("VirtualService", "patch", &vs.namespace, &vs.name, e)
                })?;
            writes.objects += 1;
        }
        if plan.aborting
            && !plan.virtual_service_patches.is_empty()
            && plan
                .virtual_service_patches
                .iter()
                .all(|vs| vs.canary_weight == 0)
        {
            writes.traffic_safe_at = Some(std::time::Instant::now());
        }
        for update in &plan.replica_set_updates {
            let mut body = json!({});
            if let Some(replicas) = update.replicas {
                body["spec"] = json!({ "replicas": replicas });
            }
            if !update.annotations.is_empty() {
                body["metadata"] = json!({ "annotations": update.annotations });
            }
            replica_sets
                .patch(&update.name, &params, &Patch::Merge(&body))
                .await
                .map_err(|e| {
                    Error::from_kube("ReplicaSet", "patch", &namespace, &update.name, e)
                })?;
            writes.objects += 1;
        }
        for name in &plan.delete_replica_sets {
            match replica_sets.delete(name, &DeleteParams::background()).await {
                Ok(_) => writes.objects += 1,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => {
                    return Err(Error::from_kube(
                        "ReplicaSet",
                        "delete",
                        &namespace,
                        name,
                        e,
                    ));
                }
            }
        }
        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.client.clone(), &namespace);
        for name in &plan.evict_pods {
            match pods.evict(name, &Default::default()).await {
                Ok(_) => writes.objects += 1,
                // Gone already, or a PodDisruptionBudget says not now: the next reconcile retries.
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 429 => {}
                Err(e) => {
                    return Err(Error::from_kube(
                        "Pod",
                        "create eviction",
                        &namespace,
                        name,
                        e,
                    ));
                }
            }
        }
        let runs: Api<AnalysisRun> = Api::namespaced(self.client.clone(), &namespace);
        // As Argo: a run carries its Rollout's instance id, so the same controller measures it.
        let instance_id = rollout.labels().get(super::INSTANCE_ID_LABEL);
        for run in &plan.create_analysis_runs {
            let name = run.name_any();
            let mut run = run.clone();
            if let Some(id) = instance_id {
                run.labels_mut()
                    .insert(super::INSTANCE_ID_LABEL.to_string(), id.clone());
            }
            match runs
                .create(
                    &PostParams {
                        field_manager: Some(MANAGER.into()),
                        ..Default::default()
                    },
                    &run,
                )
                .await
            {
                Ok(_) => writes.objects += 1,
                // Created by a plan whose status write did not land: adopted by name next time.
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => {
                    return Err(Error::from_kube(
                        "AnalysisRun",
                        "create",
                        &namespace,
                        &name,
                        e,
                    ));
                }
            }
        }
        for name in &plan.terminate_analysis_runs {
            runs.patch(
                name,
                &params,
                &Patch::Merge(json!({"spec": {"terminate": true}})),
            )
            .await
            .map_err(|e| Error::from_kube("AnalysisRun", "patch", &namespace, name, e))?;
            writes.objects += 1;
        }
        for name in &plan.delete_analysis_runs {
            match runs.delete(name, &DeleteParams::background()).await {
                Ok(_) => writes.objects += 1,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => {
                    return Err(Error::from_kube(
                        "AnalysisRun",
                        "delete",
                        &namespace,
                        name,
                        e,
                    ));
                }
            }
        }
        let rollouts: Api<Rollout> = Api::namespaced(self.client.clone(), &namespace);
        let name = rollout.name_any();
        // Weir's state goes first: a revert request must be stored before the abort's status,
        // or a crash in between would leave an abort nobody reverts. Its resourceVersion
        // precondition makes it part of the same optimistic write as the status that follows.
        let mut planned_from = rollout.clone();
        let state = plan.weir.as_ref().map(WeirStatus::to_annotation);
        if rollout.weir_state_annotation() != state.as_deref() {
            let patch = json!({"metadata": {
                "resourceVersion": rollout.resource_version(),
                "annotations": {WEIR_STATE_ANNOTATION: state},
            }});
            let updated = rollouts
                .patch(&name, &params, &Patch::Merge(&patch))
                .await
                .map_err(|e| Error::from_kube("Rollout", "patch", &namespace, &name, e))?;
            planned_from.metadata.resource_version = updated.metadata.resource_version;
            writes.state_written_at = planned_from.resource_version();
            writes.objects += 1;
        }
        if rollout.status.as_ref() != Some(&plan.status) {
            planned_from.status = Some(plan.status.clone());
            let updated = rollouts
                .replace_status(&name, &PostParams::default(), &planned_from)
                .await
                .map_err(|e| Error::from_kube("Rollout", STATUS_VERB, &namespace, &name, e))?;
            if updated.resource_version() != planned_from.resource_version() {
                writes.status += 1;
            }
            // Compared as JSON: times are stored to the second, the plan's to the nanosecond.
            let sent = serde_json::to_value(&plan.status).ok();
            if serde_json::to_value(&updated.status).ok() != sent {
                tracing::warn!(
                    rollout = %name,
                    "the API server changed the status Weir wrote (pruned or defaulted by the \
                     installed Rollout CRD); compare `kubectl get crd rollouts.argoproj.io` with \
                     Weir's crds/"
                );
            }
        }
        for event in &plan.events {
            let published = self
                .recorder
                .publish_about(
                    &Event {
                        type_: match event.type_ {
                            EventType::Normal => KubeEventType::Normal,
                            EventType::Warning => KubeEventType::Warning,
                        },
                        reason: event.reason.clone(),
                        note: Some(event.message.clone()),
                        action: event.reason.clone(),
                        secondary: None,
                    },
                    &planned_from,
                )
                .await;
            // Events are best effort: a lost event must not undo or repeat a committed step.
            match published {
                Ok(()) => writes.events += 1,
                Err(e) => {
                    tracing::warn!(error = %e, reason = %event.reason, "could not publish event")
                }
            }
        }
        Ok(writes)
    }
}
