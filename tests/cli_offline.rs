//! `kubectl weir` output that needs no cluster: `get rollout` and `get analysisrun` rendered from
//! fixture objects (golden files in tests/golden, `WEIR_UPDATE_GOLDEN=1` rewrites them), `list`
//! tables, and `lint` on good and bad manifests, the seeds' included.

mod cli_support;

use cli_support::*;
use serde_json::json;
use std::path::Path;
use weir::api::{AnalysisRun, Rollout};
use weir::cli::fetch::RolloutObjects;
use weir::cli::style::Style;
use weir::cli::{analysisrun, lint, table, tree};

/// Argo's own `get rollout` sample (pkg/kubectl-argo-rollouts/cmd/get/get_test.go), rebuilt from
/// objects: a background analysis failed and aborted revision 2.
fn argo_sample() -> RolloutObjects {
    let name = "rollout-background-analysis";
    let uid = "ro-uid";
    let rollout: Rollout = parse(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default", "uid": uid, "creationTimestamp": CREATED},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "argoproj/rollouts-demo:yellow"}]},
            },
            "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}},
        },
        "status": {
            "abort": true,
            "currentStepIndex": 0,
            "currentPodHash": "db976bc44",
            "stableRS": "7d84d44bb8",
            "replicas": 1, "updatedReplicas": 0, "readyReplicas": 1, "availableReplicas": 1,
            "phase": "Degraded",
            "message": "RolloutAborted: metric \"web\" assessed Failed due to failed (1) > failureLimit (0)",
        },
    }));
    let run: AnalysisRun = parse(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": format!("{name}-db976bc44-2"), "namespace": "default", "creationTimestamp": CREATED,
            "annotations": {"rollout.argoproj.io/revision": "2"},
            "ownerReferences": owner("Rollout", name, uid),
        },
        "spec": {"metrics": [{"name": "web", "provider": {"prometheus": {"query": "q"}}}]},
        "status": {"phase": "Failed", "metricResults": [{"name": "web", "phase": "Failed", "failed": 1, "count": 1}]},
    }));
    RolloutObjects {
        rollout,
        replica_sets: vec![
            parse(replica_set(
                name,
                uid,
                "db976bc44",
                2,
                "argoproj/rollouts-demo:yellow",
                0,
                0,
            )),
            parse(replica_set(
                name,
                uid,
                "7d84d44bb8",
                1,
                "argoproj/rollouts-demo:blue",
                1,
                1,
            )),
        ],
        pods: vec![parse(pod(
            &format!("{name}-7d84d44bb8"),
            "z5wps",
            "7d84d44bb8",
            true,
        ))],
        analysis_runs: vec![run],
    }
}

#[test]
fn get_rollout_reproduces_argos_sample() {
    let expected = r#"Name:            rollout-background-analysis
Namespace:       default
Status:          ✖ Degraded
Message:         RolloutAborted: metric "web" assessed Failed due to failed (1) > failureLimit (0)
Strategy:        Canary
  Step:          0/2
  SetWeight:     0
  ActualWeight:  0
Images:          argoproj/rollouts-demo:blue (stable)
Replicas:
  Desired:       1
  Current:       1
  Updated:       0
  Ready:         1
  Available:     1

NAME                                                     KIND         STATUS        AGE  INFO
⟳ rollout-background-analysis                            Rollout      ✖ Degraded    7d
├──# revision:2
│  ├──⧉ rollout-background-analysis-db976bc44            ReplicaSet   • ScaledDown  7d   canary
│  └──α rollout-background-analysis-db976bc44-2          AnalysisRun  ✖ Failed      7d   ✖ 1
└──# revision:1
   └──⧉ rollout-background-analysis-7d84d44bb8           ReplicaSet   ✔ Healthy     7d   stable
      └──□ rollout-background-analysis-7d84d44bb8-z5wps  Pod          ✔ Running     7d   ready:1/1
"#;
    assert_eq!(tree::render(&argo_sample(), now(), Style::PLAIN), expected);
}

/// Paused at a step with a step analysis running, the canary ready, an older revision waiting
/// out its scale-down delay and a still older one scaled down.
fn paused_with_analysis() -> RolloutObjects {
    let name = "web";
    let uid = "web-uid";
    let rollout: Rollout = parse(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "shop", "uid": uid, "creationTimestamp": "2025-12-01T10:00:00Z",
                     "generation": 4},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "web:3"}, {"name": "proxy", "image": "envoy:1"}]},
            },
            "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": {"istio": {"virtualService": {"name": "web", "routes": ["primary"]}}},
                "steps": [{"setWeight": 25}, {"analysis": {"templates": [{"templateName": "rate"}]}}, {"pause": {}}, {"setWeight": 50}],
            }},
        },
        "status": {
            "observedGeneration": "4",
            "currentStepIndex": 1,
            "currentPodHash": "c3",
            "stableRS": "b2",
            "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5, "availableReplicas": 5,
            "canary": {"weights": {"canary": {"weight": 25, "podTemplateHash": "c3"}, "stable": {"weight": 75, "podTemplateHash": "b2"}}},
            "phase": "Progressing",
            "message": "more replicas need to be updated",
        },
    }));
    let mut rs_old = replica_set(name, uid, "a1", 1, "web:1", 0, 0);
    rs_old["metadata"]["annotations"]["scale-down-deadline"] = json!("2026-01-05T10:00:00Z");
    let mut rs_stable = replica_set(name, uid, "b2", 2, "web:2", 4, 4);
    rs_stable["metadata"]["creationTimestamp"] = json!("2026-01-07T09:00:00Z");
    let mut rs_canary = replica_set(name, uid, "c3", 3, "web:3", 1, 1);
    rs_canary["metadata"]["creationTimestamp"] = json!("2026-01-08T09:55:30Z");
    rs_canary["metadata"]["annotations"]["scale-down-deadline"] = json!("2026-01-08T10:00:25Z");
    let mut canary_pod = pod(&format!("{name}-c3"), "x9k2p", "c3", true);
    canary_pod["metadata"]["creationTimestamp"] = json!("2026-01-08T09:55:31Z");
    let mut pending = pod(&format!("{name}-b2"), "zz001", "b2", false);
    pending["status"] = json!({"phase": "Pending", "containerStatuses": [{
        "name": "app", "image": "app", "imageID": "", "ready": false, "restartCount": 2,
        "state": {"waiting": {"reason": "ContainerCreating"}}}]});
    let mut foreign = pod("other-b2", "zzzzz", "b2", true);
    foreign["metadata"]["ownerReferences"] = owner("ReplicaSet", "other-b2", "rs-other");
    let run: AnalysisRun = parse(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": "web-c3-3-1", "namespace": "shop", "creationTimestamp": "2026-01-08T09:58:00Z",
            "annotations": {"rollout.argoproj.io/revision": "3"},
            "ownerReferences": owner("Rollout", name, uid),
        },
        "spec": {"metrics": [{"name": "rate", "provider": {"prometheus": {"query": "q"}}}]},
        "status": {"phase": "Running", "metricResults": [{"name": "rate", "phase": "Running", "successful": 2, "error": 1, "count": 3}]},
    }));
    RolloutObjects {
        rollout,
        replica_sets: vec![parse(rs_old), parse(rs_canary), parse(rs_stable)],
        pods: vec![
            parse(canary_pod),
            parse(pod(&format!("{name}-b2"), "aaaa1", "b2", true)),
            parse(pod(&format!("{name}-b2"), "aaaa2", "b2", true)),
            parse(pod(&format!("{name}-b2"), "aaaa3", "b2", true)),
            parse(pending),
            // Not owned by any of the Rollout's ReplicaSets: never shown.
            parse(foreign),
        ],
        analysis_runs: vec![run],
    }
}

#[test]
fn get_rollout_paused_at_analysis_golden() {
    golden(
        "get-rollout-analysis-running",
        &tree::render(&paused_with_analysis(), now(), Style::PLAIN),
    );
}

#[test]
fn colour_does_not_change_the_layout() {
    let objects = paused_with_analysis();
    let colored = tree::render(&objects, now(), Style { color: true });
    assert!(colored.contains('\u{1b}'), "no colour codes");
    assert_eq!(
        strip_ansi(&colored),
        tree::render(&objects, now(), Style::PLAIN)
    );
}

#[test]
fn get_analysisrun_golden() {
    let run: AnalysisRun = parse(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": "web-c3-3-1", "namespace": "shop", "creationTimestamp": "2026-01-08T09:50:00Z",
            "annotations": {"rollout.argoproj.io/revision": "3"},
            "ownerReferences": owner("Rollout", "web", "web-uid"),
        },
        "spec": {
            "args": [{"name": "service", "value": "web-canary"}, {"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "metrics": [
                {"name": "error-rate", "interval": "1m", "failureLimit": 1, "provider": {"prometheus": {"query": "q"}}},
                {"name": "latency", "provider": {"prometheus": {"query": "q"}}},
            ],
        },
        "status": {
            "phase": "Failed",
            "message": "metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)",
            "metricResults": [{
                "name": "error-rate", "phase": "Failed", "count": 3, "successful": 1, "failed": 2,
                "measurements": [
                    {"phase": "Successful", "value": "0.01", "startedAt": "2026-01-08T09:51:00Z", "finishedAt": "2026-01-08T09:51:01Z"},
                    {"phase": "Failed", "value": "0.09", "startedAt": "2026-01-08T09:52:00Z", "finishedAt": "2026-01-08T09:52:01Z"},
                    {"phase": "Failed", "value": "0.12", "startedAt": "2026-01-08T09:53:00Z", "finishedAt": "2026-01-08T09:53:01Z"},
                ],
            }, {
                "name": "latency", "phase": "Error", "count": 1, "error": 1,
                "message": "Post \"http://prometheus:9090/api/v1/query\": connection refused",
                "measurements": [{"phase": "Error", "startedAt": "2026-01-08T09:51:00Z", "finishedAt": "2026-01-08T09:51:00Z",
                                  "message": "connection refused"}],
            }],
        },
    }));
    golden(
        "get-analysisrun",
        &analysisrun::render(&run, now(), Style::PLAIN),
    );
}

#[test]
fn list_rollouts_golden() {
    let objects = [argo_sample().rollout, paused_with_analysis().rollout];
    let healthy: Rollout = parse(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"replicas": 3, "strategy": {"canary": {"steps": [{"setWeight": 50}]}}},
        "status": {"currentStepIndex": 1, "stableRS": "h", "currentPodHash": "h", "replicas": 3,
                   "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, "phase": "Healthy"},
    }));
    let mut rollouts = objects.to_vec();
    rollouts.push(healthy);
    golden("list-rollouts", &table::render(&rollouts[1..], false));
    golden(
        "list-rollouts-all-namespaces",
        &table::render(&rollouts, true),
    );
}

fn examples(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file)
}

#[test]
fn lint_accepts_the_seed_manifests_weir_runs() {
    for file in [
        "seed-002/rollout-myapp.yaml",
        "seed-002/analysistemplate-error-rate-check.yaml",
        "seed-002/services.yaml",
        "seed-002/virtualservice-myapp-vsvc.yaml",
        "seed-002/kustomization.yaml",
        "seed-004/rollout-nodejs-app.yaml",
        "seed-004/service.yaml",
        "seed-004/virtualservice.yaml",
        "seed-004/destinationrule.yaml",
        "seed-004/namespace.yaml",
        "seed-004/kustomization.yaml",
        "quick/rollout-nodejs-app.yaml",
    ] {
        let text = std::fs::read_to_string(examples(file)).unwrap();
        let checked = lint::lint_text(&text);
        assert!(checked.findings.is_empty(), "{file}: {checked:#?}");
        assert!(checked.objects > 0, "{file}: nothing checked");
    }
}

#[test]
fn lint_rejects_seed_002_my_app_naming_the_selector() {
    let path = examples("seed-002/rollout-my-app.yaml");
    let mut out = Vec::new();
    let error = lint::run(std::slice::from_ref(&path), false, &mut &b""[..], &mut out).unwrap_err();
    let printed = String::from_utf8(out).unwrap();
    assert_eq!(
        printed,
        format!(
            "{}:7: Rollout my-app: spec.selector: Required value: add spec.selector.matchLabels matching spec.template.metadata.labels\n",
            path.display()
        )
    );
    assert_eq!(
        error.to_string(),
        format!("1 object in 1 file, 1 problem: {} (1)", path.display())
    );
    assert_eq!(error.exit_code(), 1);
}

#[test]
fn lint_reports_every_bad_document_with_its_field() {
    let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: web, image: nginx, imagePullPolicyy: Always}]}
  strategy:
    blueGreen: {activeService: web}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  metrics:
  - name: rate
    successCondition: result[0] <
    provider: {prometheus: {query: up}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: web-check}
spec:
  metrics:
  - name: web
    provider: {web: {url: "http://x"}}
"#;
    let lines: Vec<String> = lint::lint_text(text)
        .findings
        .iter()
        .map(|f| format!("{}: {f}", f.line))
        .collect();
    let expect = [
        "10: Rollout web: spec.template.spec.containers[0].imagePullPolicyy: unknown field",
        "7: Rollout web: spec.selector: Invalid value: selector does not match template labels",
        "12: Rollout web: spec.strategy.blueGreen: the blue-green strategy is not supported by Weir",
        "20: AnalysisTemplate rate: spec.metrics[0].successCondition:",
        "29: AnalysisTemplate web-check: spec.metrics[0].provider.web: the web provider is not supported by Weir",
    ];
    for want in expect {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "no line starting with {want:?} in {lines:#?}"
        );
    }
    assert_eq!(lines.len(), expect.len(), "{lines:#?}");
}

#[test]
fn get_rollout_shows_the_git_revert() {
    let mut objects = argo_sample();
    let status = objects.rollout.status.get_or_insert_with(Default::default);
    status.weir = Some(serde_json::from_value(serde_json::json!({
        "gitRevert": {
            "phase": "Committed", "revision": "2", "podHash": "db976bc44", "cause": "analysis",
            "images": [{"container": "web", "badImage": "app:v2", "stableImage": "app:v1"}],
            "requestedAt": "2026-11-22T03:00:00Z",
            "repo": "https://git.example/config.git", "file": "overlays/prod/kustomization.yaml",
            "branch": "main", "commit": "84733e7afa29ad7e390063889aa93b8b782f53f4"
        }
    }))
    .unwrap());
    let text = tree::render(&objects, now(), Style::PLAIN);
    for line in [
        "GitRevert:",
        "  Status:        Committed",
        "  Image:         app:v2 -> app:v1",
        "  Commit:        84733e7afa29 on main",
        "  Repository:    https://git.example/config.git overlays/prod/kustomization.yaml",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
