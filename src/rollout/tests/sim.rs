//! A pure in-memory cluster: applies Plans to objects, plays the kubelet, and checks the
//! traffic invariants after every plan. Whole releases run here in microseconds.

use crate::api::labels::{POD_TEMPLATE_HASH, SCALE_DOWN_DEADLINE};
use crate::api::replica_set::ReplicaSetSummary;
use crate::api::rollout::Rollout;
use crate::rollout::observed::{Observed, available, hash_of};
use crate::rollout::{Plan, PlannedEvent, plan};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use serde_json::Value;

pub struct Sim {
    pub rollout: Rollout,
    pub observed: Observed,
    pub now: Timestamp,
    pub events: Vec<PlannedEvent>,
    pub plans: usize,
    /// Pods of ReplicaSets whose image contains this never become available.
    pub never_ready: Option<String>,
}

impl Sim {
    pub fn new(rollout: Rollout, observed: Observed, now: Timestamp) -> Self {
        Sim {
            rollout,
            observed,
            now,
            events: Vec::new(),
            plans: 0,
            never_ready: None,
        }
    }

    /// Plans once, checks invariants, applies, lets pods become available, advances the clock.
    pub fn step(&mut self) -> Plan {
        let plan = plan(&self.rollout, &self.observed, self.now);
        self.plans += 1;
        self.apply(&plan);
        check_invariants(&self.observed);
        self.kubelet();
        self.now += SignedDuration::from_secs(1);
        self.events.extend(plan.events.iter().cloned());
        plan
    }

    /// Steps until `done` holds; panics after `max` plans.
    pub fn run_until(&mut self, max: usize, mut done: impl FnMut(&Sim) -> bool) {
        for _ in 0..max {
            if done(self) {
                return;
            }
            self.step();
        }
        assert!(
            done(self),
            "not reached after {max} plans; status: {:#?}\nevents: {:#?}",
            self.rollout.status,
            self.events
        );
    }

    pub fn phase(&self) -> String {
        self.rollout
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    }

    pub fn status(&self) -> &crate::api::rollout::RolloutStatus {
        self.rollout.status.as_ref().expect("status")
    }

    /// Weir's state as the annotation holds it.
    pub fn weir(&self) -> Option<crate::api::rollout::WeirStatus> {
        self.rollout.weir_state()
    }

    pub fn set_image(&mut self, image: &str) {
        let template = self.rollout.spec.template.as_mut().unwrap();
        template.edit(|t| t.spec.as_mut().unwrap().containers[0].image = Some(image.into()));
        self.rollout.metadata.generation = Some(self.rollout.metadata.generation.unwrap_or(1) + 1);
    }

    /// (host or subset, weight) of the `primary` route.
    pub fn weights(&self) -> Vec<(String, i64)> {
        let vs = self.observed.virtual_services.values().next().unwrap();
        vs.pointer("/spec/http/0/route")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|r| {
                let d = &r["destination"];
                let key = d
                    .get("subset")
                    .or(d.get("host"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (key.to_string(), r["weight"].as_i64().unwrap_or(0))
            })
            .collect()
    }

    pub fn canary_weight(&self) -> i64 {
        self.weights()
            .iter()
            .find(|(k, _)| k.contains("canary"))
            .map(|(_, w)| *w)
            .unwrap_or(0)
    }

    pub fn rs_replicas(&self, hash: &str) -> Option<i32> {
        self.observed
            .replica_sets
            .iter()
            .find(|rs| hash_of(rs) == Some(hash))
            .and_then(|rs| rs.spec.as_ref()?.replicas)
    }

    /// Plays the analysis controller: sets the phase (and message) of a run.
    pub fn set_run_phase(&mut self, name: &str, phase: &str, message: Option<&str>) {
        let run = self
            .observed
            .analysis_runs
            .iter_mut()
            .map(std::sync::Arc::make_mut)
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .expect("run exists");
        run.status = Some(crate::api::analysis::AnalysisRunStatus {
            phase: phase.into(),
            message: message.map(String::from),
            ..Default::default()
        });
    }

    pub fn run_names(&self) -> Vec<String> {
        self.observed
            .analysis_runs
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .collect()
    }

    pub fn reasons(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.reason.as_str()).collect()
    }

    fn apply(&mut self, plan: &Plan) {
        if let Some(rs) = &plan.create_replica_set {
            let mut rs = ReplicaSetSummary::from(rs);
            rs.status = Some(ReplicaSetStatus::default());
            self.observed.replica_sets.push(std::sync::Arc::new(rs));
        }
        for (name, patch) in &plan.service_patches {
            let svc = self
                .observed
                .services
                .get_mut(name)
                .expect("patched Service exists");
            let mut value = serde_json::to_value(&*svc).unwrap();
            json_patch::merge(&mut value, patch);
            *svc = serde_json::from_value(value).unwrap();
        }
        if let Some((_, patch)) = &plan.destination_rule_patch {
            let dr = self
                .observed
                .destination_rule
                .as_mut()
                .expect("patched DestinationRule exists");
            json_patch::patch(dr, patch).expect("DestinationRule patch applies");
        }
        for vs_patch in &plan.virtual_service_patches {
            let vs = self
                .observed
                .virtual_services
                .get_mut(&(vs_patch.name.clone(), vs_patch.namespace.clone()))
                .expect("VS exists");
            json_patch::patch(vs, &vs_patch.patch).expect("VirtualService patch applies");
        }
        for update in &plan.replica_set_updates {
            let rs = self
                .observed
                .replica_sets
                .iter_mut()
                .map(std::sync::Arc::make_mut)
                .find(|rs| rs.metadata.name.as_deref() == Some(update.name.as_str()))
                .expect("RS exists");
            if let Some(r) = update.replicas {
                rs.spec.as_mut().unwrap().replicas = Some(r);
            }
            let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
            for (k, v) in &update.annotations {
                match v {
                    Some(v) => annotations.insert(k.clone(), v.clone()),
                    None => annotations.remove(k),
                };
            }
        }
        for run in &plan.create_analysis_runs {
            let mut run = run.clone();
            run.metadata.creation_timestamp = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(self.now),
            );
            self.observed.analysis_runs.push(std::sync::Arc::new(run));
        }
        for name in &plan.terminate_analysis_runs {
            if let Some(run) = self
                .observed
                .analysis_runs
                .iter_mut()
                .map(std::sync::Arc::make_mut)
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
            {
                run.spec.terminate = Some(true);
            }
        }
        self.observed.analysis_runs.retain(|r| {
            !plan
                .delete_analysis_runs
                .iter()
                .any(|d| r.metadata.name.as_deref() == Some(d.as_str()))
        });
        self.observed.replica_sets.retain(|rs| {
            !plan
                .delete_replica_sets
                .iter()
                .any(|d| rs.metadata.name.as_deref() == Some(d.as_str()))
        });
        self.rollout.status = Some(plan.status.clone());
        let annotations = self
            .rollout
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        match &plan.weir {
            Some(state) => {
                annotations.insert(
                    crate::api::rollout::WEIR_STATE_ANNOTATION.into(),
                    state.to_annotation(),
                );
            }
            None => {
                annotations.remove(crate::api::rollout::WEIR_STATE_ANNOTATION);
            }
        }
    }

    fn kubelet(&mut self) {
        for rs in self
            .observed
            .replica_sets
            .iter_mut()
            .map(std::sync::Arc::make_mut)
        {
            let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let image = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let ready = match &self.never_ready {
                Some(bad) if image.contains(bad.as_str()) => 0,
                _ => replicas,
            };
            rs.status = Some(ReplicaSetStatus {
                replicas,
                ready_replicas: Some(ready),
                available_replicas: Some(ready),
                ..Default::default()
            });
        }
    }
}

/// DESIGN.md section 4: weights of a route sum to 100, and traffic never goes to a ReplicaSet
/// without available pods.
pub fn check_invariants(observed: &Observed) {
    for vs in observed.virtual_services.values() {
        for route in vs
            .pointer("/spec/http")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if route.get("name").and_then(Value::as_str) != Some("primary") {
                continue;
            }
            let destinations = route["route"].as_array().unwrap();
            let sum: i64 = destinations
                .iter()
                .map(|d| d["weight"].as_i64().unwrap_or(0))
                .sum();
            assert_eq!(sum, 100, "weights of route primary sum to {sum}: {route}");
            for d in destinations {
                let weight = d["weight"].as_i64().unwrap_or(0);
                if weight == 0 {
                    continue;
                }
                if let Some(hash) = selected_hash(observed, &d["destination"]) {
                    let rs = observed
                        .replica_sets
                        .iter()
                        .find(|rs| hash_of(rs) == Some(hash.as_str()));
                    assert!(
                        rs.is_some_and(|rs| available(rs) > 0),
                        "{weight}% of traffic goes to {hash} which has no available pods"
                    );
                }
            }
        }
    }
}

/// The pod-template hash a destination ends up on: the Service's selector (host split) or the
/// DestinationRule subset's label (subset split).
fn selected_hash(observed: &Observed, destination: &Value) -> Option<String> {
    if let Some(subset) = destination.get("subset").and_then(Value::as_str)
        && let Some(dr) = &observed.destination_rule
    {
        return dr
            .pointer("/spec/subsets")?
            .as_array()?
            .iter()
            .find(|s| s["name"] == subset)?
            .pointer(&format!("/labels/{POD_TEMPLATE_HASH}"))?
            .as_str()
            .map(str::to_string);
    }
    let host = destination.get("host")?.as_str()?.split('.').next()?;
    let svc = observed.services.get(host)?;
    svc.spec
        .as_ref()?
        .selector
        .as_ref()?
        .get(POD_TEMPLATE_HASH)
        .cloned()
}

pub fn deadline_annotation(sim: &Sim, hash: &str) -> Option<String> {
    sim.observed
        .replica_sets
        .iter()
        .find(|rs| hash_of(rs) == Some(hash))?
        .metadata
        .annotations
        .as_ref()?
        .get(SCALE_DOWN_DEADLINE)
        .cloned()
}
