//! The README's quick start, run: `examples/quickstart` as `kubectl kustomize` renders it, with
//! its one documented parameter (the Prometheus address) set to the test's Prometheus and the
//! pauses and interval shortened from 30 s / 20 s to 1 s. The first deploy, a release through
//! the background analysis (no Istio series yet: the condition passes on an empty result) and
//! a release whose analysis fails (abort, all traffic back to stable).

use crate::support::prometheus::Prometheus;
use crate::support::*;
use serde_json::Value;

const DOCUMENTED_PROMETHEUS: &str = "http://prometheus.istio-system:9090";

fn rendered(prom: &Prometheus) -> String {
    let dir = format!("{}/examples/quickstart", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", &dir])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize examples/quickstart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        yaml.contains(DOCUMENTED_PROMETHEUS),
        "the parameter is where the README says"
    );
    // The harness runs ReplicaSets' pods but no Deployments: the load generator stays out.
    let docs: Vec<String> = yaml
        .split("\n---\n")
        .filter(|doc| {
            let value: Value = yaml_serde::from_str(doc).expect("rendered YAML");
            value["kind"] != "Deployment"
        })
        .map(str::to_string)
        .collect();
    docs.join("\n---\n")
        .replace(DOCUMENTED_PROMETHEUS, &prom.url())
        .replace("duration: 30s", "duration: 1s")
        .replace("interval: 20s", "interval: 1s")
}

pub async fn quickstart_example_releases_and_aborts() {
    let prom = Prometheus::new().await;
    let mut bed = Bed::new().await;
    bed.apply(&rendered(&prom)).await;
    bed.start_controller();
    let first = bed
        .wait_rollout("podinfo", "first deploy", |r| phase(r) == "Healthy")
        .await;
    let v1 = status_hash(&first).0.expect("stable");

    bed.set_image("podinfo", "ghcr.io/stefanprodan/podinfo:6.7.1")
        .await;
    let v2 = bed
        .wait_rollout("podinfo", "released", |r| {
            phase(r) == "Healthy" && status_hash(r).0.as_deref() != Some(v1.as_str())
        })
        .await;
    let v2 = status_hash(&v2).0.expect("stable");
    // The background run is terminated at promotion; its final status follows the Rollout's.
    let runs = bed
        .wait("background run finished", || async {
            let runs = bed.runs().await;
            runs.iter()
                .all(|r| {
                    r.status
                        .as_ref()
                        .is_some_and(|s| weir::analysis::assess::is_completed(&s.phase))
                })
                .then_some(runs)
        })
        .await
        .expect("the background run completes");
    assert!(
        runs.iter()
            .all(|r| r.status.as_ref().is_some_and(|s| s.phase == "Successful")),
        "the background analysis passed on an empty result: {:?}",
        runs.iter()
            .map(|r| r.status.as_ref().map(|s| (&s.phase, &s.message)))
            .collect::<Vec<_>>()
    );

    // A release whose canary answers 500s: the analysis fails, traffic goes back to stable.
    for (code, rate) in [("200", 1.0), ("500", 10.0)] {
        prom.set_rate(
            "istio_requests_total",
            &[
                ("reporter", "source"),
                ("destination_service_name", "podinfo-canary"),
                ("response_code", code),
            ],
            rate,
        );
    }
    prom.wait_for("sum(rate(istio_requests_total[1m])) > 0")
        .await;
    bed.set_image("podinfo", "ghcr.io/stefanprodan/podinfo:6.7.2")
        .await;
    let aborted = bed
        .wait_rollout("podinfo", "aborted", |r| phase(r) == "Degraded")
        .await;
    assert_eq!(status_hash(&aborted).0.as_deref(), Some(v2.as_str()));
    assert_eq!(bed.canary_weight("podinfo").await, 0);
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![scenario quickstart_example_releases_and_aborts]
}
