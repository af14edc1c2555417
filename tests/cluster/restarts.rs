//! Control-plane restarts: kube-apiserver is killed mid-release (every connection and watch
//! cut), stays away for a few seconds, and comes back on the same address with the same store,
//! its watch history compacted so that the controller must list again. At a pause, at an
//! analysis step and during an abort, the release must end as if nothing had happened, and
//! `/readyz` must say "not ready" while the caches are not live.
//!
//! These need the in-process API server and return at once on a real cluster.

use crate::analysis::{check_template, release, seed_004, serve, start, step_analysis};
use crate::scenarios::{STEPS, V2, healthy_with, update};
use crate::support::prometheus::Prometheus;
use crate::support::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use weir::controller::health::{Health, Leadership};

const DOWN: Duration = Duration::from_secs(4);

/// The controller's health, as /readyz would report it for a controller without leader
/// election.
fn health() -> (Arc<Health>, weir::controller::Config) {
    let health = Arc::new(Health::default());
    health.set_leadership(Leadership::Disabled);
    let config = weir::controller::Config {
        health: health.clone(),
        ..Default::default()
    };
    (health, config)
}

async fn until_ready(bed: &Bed, health: &Health, ready: bool) {
    bed.wait("readiness", || async {
        (health.readiness().0 == ready).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("/readyz never became {ready}: {}", health.readiness().1));
}

/// Kills the API server, checks the controller stops being ready, brings the server back with
/// its history compacted and waits for the controller to be ready again.
async fn restart(bed: &Bed, health: &Health) {
    let server = bed.server();
    server.stop_serving().await;
    until_ready(bed, health, false).await;
    tokio::time::sleep(DOWN).await;
    server.compact();
    server.resume_serving().await.expect("back on its port");
    until_ready(bed, health, true).await;
}

pub async fn a_control_plane_restart_at_a_pause() {
    if e2e() {
        return;
    }
    let (health, config) = health();
    let (bed, h1) = healthy_with(STEPS, config).await;
    until_ready(&bed, &health, true).await;
    let h2 = update(&bed, V2, &h1).await;
    bed.wait_rollout("web", "indefinite pause", |r| {
        phase(r) == "Paused" && step(r) == Some(3)
    })
    .await;
    restart(&bed, &health).await;
    // The controller acts on what happened while it could not see: promote it.
    bed.merge_patch_status("web", json!({"pauseConditions": null}))
        .await;
    bed.wait_rollout("web", "promoted after the restart", |r| {
        is_healthy_at(r, &h2)
    })
    .await;
    assert_eq!(bed.canary_weight("web-vsvc").await, 0);
    bed.wait("old stable scaled down", || async {
        (bed.rs_counts(&h1).await == (0, 0)).then_some(())
    })
    .await
    .expect("old stable scaled to 0");
    bed.finish().await;
}

pub async fn a_control_plane_restart_at_an_analysis_step() {
    if e2e() {
        return;
    }
    let prom = Prometheus::new().await;
    serve(&prom, 99.0, 1.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let template = check_template(
        &prom,
        "    interval: 1s\n    count: 6\n    successCondition: result[0] < 0.05",
    );
    let (health, config) = health();
    let (bed, h1) = start(
        &prom,
        &format!("{}\n---\n{template}", step_analysis("check")),
        config,
    )
    .await;
    until_ready(&bed, &health, true).await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    bed.wait("a measurement taken", || async {
        let run = bed.runs().await.into_iter().next()?;
        let count = run.status?.metric_results?.first()?.count?;
        (count >= 1).then_some(())
    })
    .await
    .expect("the step's run measures");
    restart(&bed, &health).await;
    bed.wait_rollout("nodejs-app", "promoted after the restart", |r| {
        is_healthy_at(r, &h2)
    })
    .await;
    let run = bed.runs().await.remove(0);
    let result = run.status.unwrap().metric_results.unwrap().remove(0);
    assert_eq!(
        (result.count, result.successful),
        (Some(6), Some(6)),
        "every measurement taken once, none lost to the restart"
    );
    bed.finish().await;
}

pub async fn a_control_plane_restart_during_an_abort() {
    if e2e() {
        return;
    }
    let prom = Prometheus::new().await;
    serve(&prom, 50.0, 50.0);
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let (health, config) = health();
    let yaml = seed_004(&prom, "1s").replace("      failureLimit: 3\n", "      failureLimit: 0\n");
    let (bed, h1) = start(&prom, &yaml, config).await;
    until_ready(&bed, &health, true).await;
    let h2 = release(&bed, "nodejs-app", "ghcr.io/myorg/nodejs-app:v1.1.0", &h1).await;
    // The moment the run is judged Failed, the API server goes: the abort is under way.
    let server = bed.server();
    let failed = bed
        .wait("the run failed", || async {
            server
                .list("analysisruns", Some(&bed.ns))
                .into_iter()
                .any(|run| run["status"]["phase"] == "Failed")
                .then_some(())
        })
        .await;
    assert!(failed.is_some(), "the analysis fails");
    restart(&bed, &health).await;
    let aborted = bed
        .wait_rollout("nodejs-app", "aborted after the restart", |r| {
            phase(r) == "Degraded"
        })
        .await;
    assert_eq!(status_hash(&aborted).0.as_deref(), Some(h1.as_str()));
    assert_eq!(bed.canary_weight("nodejs-app-vsvc").await, 0);
    bed.wait("canary scaled down", || async {
        (bed.rs_counts(&h2).await.0 == 0).then_some(())
    })
    .await
    .expect("the canary is scaled to 0 after the abort");
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario a_control_plane_restart_at_a_pause,
        scenario a_control_plane_restart_at_an_analysis_step,
        scenario a_control_plane_restart_during_an_abort,
    ]
}
