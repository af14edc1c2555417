//! `--instance-id` (Argo's controller sharding): two controllers in one namespace, one with
//! instance id "a" and one without, each progressing only the Rollouts labelled for it, while
//! a Rollout labelled for an instance nobody runs ("b") stays untouched.

use crate::support::prometheus::Prometheus;
use crate::support::*;
use kube::ResourceExt;
use weir::controller::INSTANCE_ID_LABEL;

const V1: &str = "registry.k8s.io/pause:3.9";
const V2: &str = "registry.k8s.io/pause:3.10";
const REPORTER_A: &str = "weir-shard-a";
const REPORTER_NONE: &str = "weir-shard-none";

/// A Rollout named `name`, labelled for `instance` (None: no label), with `steps`.
fn rollout(name: &str, instance: Option<&str>, steps: &str) -> String {
    let labels = match instance {
        Some(id) => format!("labels: {{{INSTANCE_ID_LABEL}: {id}}}"),
        None => "labels: {}".to_string(),
    };
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: {name}
  {labels}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: web, image: "{V1}"}}]
  strategy:
    canary:
      steps:
{steps}
"#
    )
}

/// Instance "a"'s template: Argo's controllers see only templates of their own instance too.
fn template(prom: &Prometheus) -> String {
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: shard-check
  labels: {{{INSTANCE_ID_LABEL}: a}}
spec:
  metrics:
  - name: ok
    count: 1
    successCondition: result[0] == 1
    provider:
      prometheus:
        address: "{}"
        query: weir_shard_ok
"#,
        prom.url()
    )
}

fn hash(rollout: &weir::api::Rollout) -> Option<String> {
    status_hash(rollout).1
}

pub async fn each_rollout_is_progressed_by_its_own_instance_only() {
    let prom = Prometheus::new().await;
    prom.set("weir_shard_ok", &[], 1.0);
    prom.wait_for("weir_shard_ok").await;

    let mut bed = Bed::new().await;
    bed.apply(&template(&prom)).await;
    bed.apply(&rollout(
        "web-a",
        Some("a"),
        "      - setWeight: 50\n      - analysis: {templates: [{templateName: shard-check}]}\n",
    ))
    .await;
    bed.apply(&rollout(
        "web-none",
        None,
        "      - setWeight: 50\n      - pause: {duration: 1s}\n",
    ))
    .await;
    bed.apply(&rollout("web-b", Some("b"), "      - setWeight: 50\n"))
        .await;

    bed.start_controller_with(weir::controller::Config {
        instance: REPORTER_NONE.into(),
        ..Default::default()
    });
    let shard_a = bed.spawn_controller(weir::controller::Config {
        instance: REPORTER_A.into(),
        instance_id: Some("a".into()),
        ..Default::default()
    });

    let mut first = Vec::new();
    for name in ["web-a", "web-none"] {
        let r = bed
            .wait_rollout(name, "initial deploy Healthy", |r| phase(r) == "Healthy")
            .await;
        first.push(hash(&r).expect("a revision"));
    }
    bed.set_image("web-a", V2).await;
    bed.set_image("web-none", V2).await;
    for (name, old) in ["web-a", "web-none"].into_iter().zip(&first) {
        bed.wait_rollout(name, "new revision promoted", |r| {
            hash(r).is_some_and(|h| h != *old && is_healthy_at(r, &h))
        })
        .await;
    }

    // The step's run carries the Rollout's instance id, and instance "a" measured it.
    let runs = bed.runs().await;
    assert_eq!(
        runs.len(),
        1,
        "one run, for web-a's analysis step: {runs:#?}"
    );
    let run = &runs[0];
    assert_eq!(
        run.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_ID_LABEL)),
        Some(&"a".to_string()),
        "{:#?}",
        run.metadata
    );
    assert_eq!(
        run.status.as_ref().map(|s| s.phase.as_str()),
        Some("Successful")
    );

    // Nobody runs instance "b": its Rollout has no status and no ReplicaSet.
    let untouched = bed.rollout("web-b").await;
    assert!(untouched.status.is_none(), "{:#?}", untouched.status);
    let owned_by_b: Vec<String> = bed
        .replica_sets()
        .await
        .iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.name == "web-b"))
        .map(name_of)
        .collect();
    assert!(owned_by_b.is_empty(), "{owned_by_b:?}");

    // Each Rollout's (and run's) Events come from its own controller only.
    let run_name = name_of(run);
    let events = bed.event_reporters().await;
    for (regarding, reason, reporter) in &events {
        let expected = match regarding.as_str() {
            "web-a" => REPORTER_A,
            name if name == run_name => REPORTER_A,
            "web-none" => REPORTER_NONE,
            "web-b" => panic!("an Event about web-b ({reason}) from {reporter}"),
            _ => continue,
        };
        assert_eq!(reporter, expected, "{regarding}: {reason}");
    }
    for name in ["web-a", "web-none"] {
        assert!(
            events.iter().any(|(r, _, _)| r == name),
            "no Events about {name}: {events:#?}"
        );
    }

    shard_a.stop().await;
    bed.finish().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![scenario each_rollout_is_progressed_by_its_own_instance_only]
}
