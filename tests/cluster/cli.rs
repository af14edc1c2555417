//! `kubectl weir` against the in-process API server with the real controller: `get rollout`
//! goldens at points of a release (progressing, paused, aborted, promoted), the effect of every
//! mutating command on the Rollout, `status` exit codes, `list`, and the binary itself driven
//! through a generated kubeconfig.

use crate::cli_support::*;
use jiff::Timestamp;
use kube::api::Api;
use kube::{Client, ResourceExt};
use std::future::Future;
use std::time::Duration;
use tokio::sync::oneshot;
use weir::api::Rollout;
use weir::api::labels::{POD_TEMPLATE_HASH, SCALE_DOWN_DEADLINE};
use weir::cli::error::CliError;
use weir::cli::fetch::{self, RolloutObjects};
use weir::cli::style::Style;
use weir::cli::{actions, status, table, tree};
use weir::harness::{ApiServer, HarnessConfig};

const V1: &str = "registry.k8s.io/pause:3.9";
const V2: &str = "registry.k8s.io/pause:3.10";
const WAIT: Duration = Duration::from_secs(60);

fn manifests(namespace: &str, init_container: bool) -> String {
    let init = if init_container {
        "\n      initContainers: [{name: init, image: \"busybox:1\"}]"
    } else {
        ""
    };
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: web-stable, namespace: {namespace}}}
spec: {{selector: {{app: web}}, ports: [{{name: http, port: 80}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-canary, namespace: {namespace}}}
spec: {{selector: {{app: web}}, ports: [{{name: http, port: 80}}]}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: web-vsvc, namespace: {namespace}}}
spec:
  hosts: [web]
  http:
  - name: primary
    route:
    - destination: {{host: web-stable}}
      weight: 100
    - destination: {{host: web-canary}}
      weight: 0
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "{V1}"}}]{init}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 1
      abortScaleDownDelaySeconds: 1
      trafficRouting:
        istio:
          virtualService: {{name: web-vsvc, routes: [primary]}}
      steps:
      - setWeight: 25
      - pause: {{}}
      - setWeight: 50
      - pause: {{}}
"#
    )
}

struct Bed {
    server: ApiServer,
    client: Client,
    namespace: String,
    stop: Option<oneshot::Sender<()>>,
    controller: Option<tokio::task::JoinHandle<()>>,
}

impl Bed {
    /// The controller running against a fresh server holding `web` in `namespace`, Healthy at V1.
    async fn healthy(namespace: &str, init_container: bool) -> Bed {
        let server = ApiServer::start_with(HarnessConfig {
            pod_ready_after: Duration::from_millis(100),
            rollout_crds: crate::support::crds().harness(),
            ..Default::default()
        })
        .await
        .unwrap();
        server
            .apply_yaml(&manifests(namespace, init_container))
            .unwrap();
        let client = server.client().unwrap();
        let controller_client = crate::support::controller_client(&server, "deploy");
        let (stop, stopped) = oneshot::channel::<()>();
        let config = weir::controller::Config {
            namespace: Some(namespace.to_string()),
            ..Default::default()
        };
        let controller = tokio::spawn(weir::controller::run(controller_client, config, async {
            let _ = stopped.await;
        }));
        let bed = Bed {
            server,
            client,
            namespace: namespace.to_string(),
            stop: Some(stop),
            controller: Some(controller),
        };
        bed.until("Healthy at V1", |r, _| info_phase(r) == "Healthy")
            .await;
        bed
    }

    fn rollouts(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn objects(&self) -> RolloutObjects {
        fetch::rollout_objects(&self.client, &self.namespace, "web")
            .await
            .unwrap()
    }

    /// Polls the Rollout and its objects until `done` holds.
    async fn until(
        &self,
        what: &str,
        done: impl Fn(&Rollout, &RolloutObjects) -> bool,
    ) -> RolloutObjects {
        let found = wait(|| async {
            let objects = self.objects().await;
            done(&objects.rollout, &objects).then_some(objects)
        })
        .await;
        match found {
            Some(objects) => objects,
            None => panic!(
                "{what}: not reached; now:\n{}",
                tree::render(&self.objects().await, Timestamp::now(), Style::PLAIN)
            ),
        }
    }

    async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(controller) = self.controller.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), controller).await;
        }
        crate::support::record_permissions(&self.server);
        self.server.shutdown().await;
    }
}

/// A writer the test can read while a spawned command writes to it.
#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn wait<T, F: Future<Output = Option<T>>>(probe: impl Fn() -> F) -> Option<T> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn info_phase(rollout: &Rollout) -> String {
    weir::cli::info::phase(rollout).0
}

fn status_of(rollout: &Rollout) -> weir::api::RolloutStatus {
    rollout.status.clone().unwrap_or_default()
}

fn hash_of(rs: &k8s_openapi::api::apps::v1::ReplicaSet) -> String {
    rs.labels()
        .get(POD_TEMPLATE_HASH)
        .cloned()
        .unwrap_or_default()
}

/// (spec replicas, status replicas, pods) of the ReplicaSet with `hash`.
fn rs_state(objects: &RolloutObjects, hash: &str) -> (i32, i32, usize) {
    let Some(rs) = objects.replica_sets.iter().find(|rs| hash_of(rs) == hash) else {
        return (-1, -1, 0);
    };
    let pods = objects
        .pods
        .iter()
        .filter(|p| p.labels().get(POD_TEMPLATE_HASH).map(String::as_str) == Some(hash))
        .count();
    (
        rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        rs.status.as_ref().map_or(0, |s| s.replicas),
        pods,
    )
}

/// Makes a live read renderable deterministically: every object created at [`CREATED`], passed
/// scale-down deadlines, and pod names (random suffixes) numbered in order.
fn normalised(mut objects: RolloutObjects) -> RolloutObjects {
    let created = || {
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            CREATED.parse().unwrap(),
        ))
    };
    objects.rollout.metadata.creation_timestamp = created();
    for rs in &mut objects.replica_sets {
        rs.metadata.creation_timestamp = created();
        if let Some(deadline) = rs
            .metadata
            .annotations
            .as_mut()
            .and_then(|a| a.get_mut(SCALE_DOWN_DEADLINE))
        {
            let at: Timestamp = deadline.parse().unwrap();
            assert!(
                at < Timestamp::now(),
                "golden taken before the scale-down deadline passed"
            );
            *deadline = CREATED.to_string();
        }
    }
    objects.pods.sort_by_key(|p| p.name_any());
    let mut counters = std::collections::BTreeMap::<String, usize>::new();
    for pod in &mut objects.pods {
        pod.metadata.creation_timestamp = created();
        let owner = pod.owner_references()[0].name.clone();
        let n = counters.entry(owner.clone()).or_default();
        *n += 1;
        pod.metadata.name = Some(format!("{owner}-pod{n}"));
    }
    objects
}

fn render(objects: RolloutObjects) -> String {
    tree::render(&normalised(objects), now(), Style::PLAIN)
}

pub async fn release_progressing_paused_promoted() {
    let bed = Bed::healthy("default", false).await;
    let h1 = status_of(&bed.objects().await.rollout).stable_rs.unwrap();
    bed.server.set_never_ready("pause:3.10");
    let message = actions::set_image(&bed.rollouts(), "web", "web", V2)
        .await
        .unwrap();
    assert_eq!(message, "rollout \"web\" image updated");

    let progressing = bed
        .until("canary pod running, not ready", |r, o| {
            let st = status_of(r);
            let canary = st.current_pod_hash.clone().unwrap_or_default();
            canary != h1
                && st.updated_replicas == Some(1)
                && st.replicas == Some(5)
                && st.available_replicas == Some(4)
                && rs_state(o, &canary) == (1, 1, 1)
                && o.pods
                    .iter()
                    .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        })
        .await;
    golden("scenario-progressing", &render(progressing));

    bed.server.clear_never_ready();
    let paused = bed
        .until("paused at step 1", |r, _| {
            let st = status_of(r);
            info_phase(r) == "Paused"
                && st.current_step_index == Some(1)
                && st.available_replicas == Some(5)
        })
        .await;
    golden("scenario-paused", &render(paused));

    let message = actions::promote(&bed.rollouts(), "web", false)
        .await
        .unwrap();
    assert_eq!(message, "rollout 'web' promoted");
    let rollout = bed.rollouts().get("web").await.unwrap();
    assert!(
        status_of(&rollout)
            .pause_conditions
            .is_none_or(|p| p.is_empty()),
        "promote clears the pause conditions"
    );
    bed.until("paused at step 3", |r, _| {
        info_phase(r) == "Paused" && status_of(r).current_step_index == Some(3)
    })
    .await;
    actions::promote(&bed.rollouts(), "web", false)
        .await
        .unwrap();
    let promoted = bed
        .until("promoted, old revision scaled down", |r, o| {
            let st = status_of(r);
            let h2 = st.current_pod_hash.clone().unwrap_or_default();
            info_phase(r) == "Healthy"
                && st.stable_rs.as_deref() == Some(h2.as_str())
                && h2 != h1
                && rs_state(o, &h1) == (0, 0, 0)
                && rs_state(o, &h2) == (4, 4, 4)
                && st.replicas == Some(4)
        })
        .await;
    golden("scenario-promoted", &render(promoted));

    // Nothing left to promote.
    let error = actions::promote(&bed.rollouts(), "web", false)
        .await
        .unwrap_err();
    assert!(matches!(error, CliError::NotApplicable(_)), "{error:?}");
    assert!(
        error.to_string().starts_with("rollout 'web' is not paused"),
        "{error}"
    );
    let mut out = Vec::new();
    let options = status::Options {
        watch: true,
        timeout: Some(Duration::from_secs(5)),
    };
    status::run(&bed.rollouts(), "web", options, &mut out)
        .await
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "Healthy\n");
    bed.finish().await;
}

pub async fn abort_retry_full_promotion_and_status_exit_codes() {
    let bed = Bed::healthy("default", false).await;
    let api = bed.rollouts();
    let h1 = status_of(&bed.objects().await.rollout).stable_rs.unwrap();
    actions::set_image(&api, "web", "web", V2).await.unwrap();
    bed.until("paused at step 1", |r, _| {
        info_phase(r) == "Paused" && status_of(r).current_step_index == Some(1)
    })
    .await;

    // Paused keeps `status` waiting: it times out.
    let mut out = Vec::new();
    let options = status::Options {
        watch: true,
        timeout: Some(Duration::from_millis(500)),
    };
    let error = status::run(&api, "web", options, &mut out)
        .await
        .unwrap_err();
    assert!(matches!(error, CliError::Timeout));
    assert_eq!(error.to_string(), "Rollout status watch exceeded timeout");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Paused - CanaryPauseStep\n"
    );
    // Without --watch it prints once and succeeds.
    let mut out = Vec::new();
    let once = status::Options {
        watch: false,
        timeout: None,
    };
    status::run(&api, "web", once, &mut out).await.unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Paused - CanaryPauseStep\n"
    );

    let error = actions::retry(&api, "web").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "rollout 'web' is not aborted: nothing to retry"
    );

    // A status watch started before the abort ends with the Degraded error.
    let printed = SharedBuffer::default();
    let watcher = {
        let api = api.clone();
        let mut out = printed.clone();
        tokio::spawn(async move {
            let options = status::Options {
                watch: true,
                timeout: Some(WAIT),
            };
            status::run(&api, "web", options, &mut out).await
        })
    };
    wait(|| async { (!printed.text().is_empty()).then_some(()) })
        .await
        .expect("status printed the pause");
    assert_eq!(
        actions::abort(&api, "web").await.unwrap(),
        "rollout 'web' aborted"
    );
    assert_eq!(status_of(&api.get("web").await.unwrap()).abort, Some(true));
    let result = watcher.await.unwrap();
    let message = "RolloutAborted: Rollout aborted update to revision 2";
    match result {
        Err(CliError::Degraded(m)) => assert_eq!(m, message),
        other => panic!("{other:?}"),
    }
    let printed = printed.text();
    assert!(
        printed.starts_with("Paused - CanaryPauseStep\n")
            && printed.ends_with(&format!("Degraded - {message}\n")),
        "{printed}"
    );

    let aborted = bed
        .until("aborted, canary scaled down", |r, o| {
            let canary = status_of(r).current_pod_hash.unwrap_or_default();
            info_phase(r) == "Degraded"
                && rs_state(o, &canary) == (0, 0, 0)
                && status_of(r).replicas == Some(4)
        })
        .await;
    golden("scenario-aborted", &render(aborted));
    let mut out = Vec::new();
    let error = status::run(&api, "web", once, &mut out).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("The rollout is in a degraded state with message: {message}")
    );
    assert_eq!(String::from_utf8(out).unwrap(), "Degraded\n");
    let error = actions::promote(&api, "web", false).await.unwrap_err();
    assert!(error.to_string().contains("is aborted"), "{error}");

    assert_eq!(
        actions::retry(&api, "web").await.unwrap(),
        "rollout 'web' retried"
    );
    assert_eq!(status_of(&api.get("web").await.unwrap()).abort, Some(false));
    bed.until("retried to the pause", |r, _| {
        info_phase(r) == "Paused" && status_of(r).current_step_index == Some(1)
    })
    .await;

    assert_eq!(
        actions::promote(&api, "web", true).await.unwrap(),
        "rollout 'web' fully promoted"
    );
    bed.until("fully promoted", |r, _| {
        let st = status_of(r);
        info_phase(r) == "Healthy" && st.stable_rs != Some(h1.clone())
    })
    .await;
    let error = actions::abort(&api, "web").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "rollout 'web' has no update in progress: nothing to abort"
    );
    bed.finish().await;
}

pub async fn pause_set_image_undo_restart_and_not_found() {
    let bed = Bed::healthy("default", true).await;
    let api = bed.rollouts();
    let original = api.get("web").await.unwrap().spec.template.unwrap();
    let h1 = status_of(&api.get("web").await.unwrap()).stable_rs.unwrap();

    assert_eq!(
        actions::pause(&api, "web").await.unwrap(),
        "rollout 'web' paused"
    );
    assert_eq!(api.get("web").await.unwrap().spec.paused, Some(true));
    bed.until("manually paused", |r, _| {
        weir::cli::info::phase(r) == ("Paused".to_string(), "manually paused".to_string())
    })
    .await;
    // Promote resumes a manual pause.
    actions::promote(&api, "web", false).await.unwrap();
    assert_eq!(api.get("web").await.unwrap().spec.paused, Some(false));
    bed.until("resumed", |r, _| info_phase(r) == "Healthy")
        .await;

    let error = actions::set_image(&api, "web", "nope", V2)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "unable to find container named \"nope\"");
    actions::set_image(&api, "web", "*", V2).await.unwrap();
    let spec = api
        .get("web")
        .await
        .unwrap()
        .spec
        .template
        .unwrap()
        .spec()
        .spec
        .unwrap();
    assert_eq!(spec.containers[0].image.as_deref(), Some(V2));
    assert_eq!(spec.init_containers.unwrap()[0].image.as_deref(), Some(V2));
    // The next image only once the controller has seen this one: a controller that never sees
    // an intermediate template rightly creates no ReplicaSet for it.
    bed.until("revision 2 created", |_, o| o.replica_sets.len() == 2)
        .await;
    actions::set_image(&api, "web", "init", "busybox:2")
        .await
        .unwrap();
    let spec = api
        .get("web")
        .await
        .unwrap()
        .spec
        .template
        .unwrap()
        .spec()
        .spec
        .unwrap();
    assert_eq!(
        spec.init_containers.unwrap()[0].image.as_deref(),
        Some("busybox:2")
    );
    assert_eq!(spec.containers[0].image.as_deref(), Some(V2));
    bed.until("revision 3 paused at step 1", |r, o| {
        info_phase(r) == "Paused" && o.replica_sets.len() == 3
    })
    .await;

    let error = actions::undo(&bed.client, "default", "web", 7)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unable to find specified revision 7 in history"
    );
    assert_eq!(
        actions::undo(&bed.client, "default", "web", 1)
            .await
            .unwrap(),
        "rollout 'web' undo"
    );
    assert_eq!(
        api.get("web").await.unwrap().spec.template.unwrap(),
        original
    );
    bed.until("rolled back to revision 1's hash, Healthy", |r, _| {
        let st = status_of(r);
        info_phase(r) == "Healthy" && st.current_pod_hash.as_deref() == Some(h1.as_str())
    })
    .await;
    assert_eq!(
        actions::undo(&bed.client, "default", "web", 1)
            .await
            .unwrap(),
        "skipped rollback (current template already matches revision 1)"
    );

    let now: Timestamp = "2026-03-01T12:00:00.5Z".parse().unwrap();
    assert_eq!(
        actions::restart(&api, "web", Duration::from_secs(30), "30s", now)
            .await
            .unwrap(),
        "rollout 'web' restarts in 30s"
    );
    let restart_at = api.get("web").await.unwrap().spec.restart_at.unwrap();
    assert_eq!(restart_at.0.to_string(), "2026-03-01T12:00:30Z");

    for error in [
        actions::abort(&api, "nope").await.unwrap_err(),
        actions::promote(&api, "nope", true).await.unwrap_err(),
        actions::pause(&api, "nope").await.unwrap_err(),
        actions::retry(&api, "nope").await.unwrap_err(),
        actions::set_image(&api, "nope", "*", V2).await.unwrap_err(),
        actions::undo(&bed.client, "default", "nope", 0)
            .await
            .unwrap_err(),
        fetch::rollout_objects(&bed.client, "default", "nope")
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.to_string(), "rollouts.argoproj.io \"nope\" not found");
    }

    // Status patches go to the status subresource, spec patches to the object.
    let writes = bed.server.write_counts();
    assert!(
        writes.contains_key(&("rollouts".to_string(), None)),
        "{writes:?}"
    );
    bed.finish().await;
}

pub async fn list_and_the_binary_through_a_kubeconfig() {
    let bed = Bed::healthy("shop", false).await;
    let mut out = Vec::new();
    let mut err = Vec::new();
    table::list(&bed.client, Some("shop"), None, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "NAME        STRATEGY   STATUS        STEP  SET-WEIGHT  READY  DESIRED  UP-TO-DATE  AVAILABLE\n\
         web         Canary     Healthy       4/4   100         4/4    4        4           4\n"
    );
    let mut out = Vec::new();
    table::list(&bed.client, Some("empty"), None, &mut out, &mut err)
        .await
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(String::from_utf8(err).unwrap(), "No resources found.\n");

    // The context's namespace is "shop": the binary finds `web` without -n.
    let dir = std::env::temp_dir().join(format!(
        "kubectl-weir-test-{}-{}",
        std::process::id(),
        crate::support::crds().label()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        bed.server
            .kubeconfig(&weir::harness::Identity::Admin, "shop"),
    )
    .unwrap();
    let run = |args: &[&str], via_env: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-weir"));
        if via_env {
            command.env("KUBECONFIG", &kubeconfig);
        } else {
            command.arg("--kubeconfig").arg(&kubeconfig);
        }
        command.env_remove("NO_COLOR").args(args);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            (
                output.status.code(),
                String::from_utf8(output.stdout).unwrap(),
                String::from_utf8(output.stderr).unwrap(),
            )
        }
    };
    let (code, stdout, stderr) = run(&["get", "rollout", "web"], false).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(
            "Name:            web\nNamespace:       shop\nStatus:          ✔ Healthy\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "colour without a terminal");
    let (code, stdout, _) = run(&["status", "web", "--timeout", "10s"], true).await;
    assert_eq!((code, stdout.as_str()), (Some(0), "Healthy\n"));
    let (code, stdout, _) = run(&["list", "rollouts", "-A"], true).await;
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("NAMESPACE  NAME"), "{stdout}");
    let (code, _, stderr) = run(&["promote", "web", "-n", "default"], false).await;
    assert_eq!(code, Some(1));
    assert_eq!(stderr, "Error: rollouts.argoproj.io \"web\" not found\n");
    let (code, _, stderr) = run(&["promote", "web"], false).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("Error: rollout 'web' is not paused"),
        "{stderr}"
    );
    // Without a terminal, --watch prints each changed frame; --timeout-seconds ends it.
    let (code, stdout, stderr) =
        run(&["get", "ro", "web", "-w", "--timeout-seconds", "1"], true).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("Name:            web\n"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "terminal codes without a terminal"
    );
    let (code, stdout, _) = run(&["version", "--short"], true).await;
    assert_eq!(
        (code, stdout),
        (
            Some(0),
            format!("kubectl-weir: v{}\n", env!("CARGO_PKG_VERSION"))
        )
    );
    let (code, stdout, _) = run(&["completion", "bash"], true).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("kubectl-weir"));
    std::fs::remove_dir_all(&dir).unwrap();

    // `list --watch` prints the table, then a line when a Rollout's line changes.
    let printed = SharedBuffer::default();
    let watch = {
        let client = bed.client.clone();
        let mut out = printed.clone();
        tokio::spawn(async move { table::watch(&client, Some("shop"), None, &mut out).await })
    };
    wait(|| async { (printed.text().lines().count() == 2).then_some(()) })
        .await
        .expect("table printed");
    actions::pause(&bed.rollouts(), "web").await.unwrap();
    let lines = wait(|| async {
        let text = printed.text();
        text.contains("Paused").then_some(text)
    })
    .await
    .expect("paused line printed");
    assert_eq!(
        lines.lines().last(),
        Some(
            "web         Canary     Paused        4/4   100         4/4    4        4           4"
        )
    );
    watch.abort();

    // `get` asked for nothing but the Rollout's own objects.
    crate::support::record_permissions(&bed.server);
    bed.server.clear_requests();
    fetch::rollout_objects(&bed.client, "shop", "web")
        .await
        .unwrap();
    let requests = bed.server.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    for request in requests
        .iter()
        .filter(|r| !r.path.ends_with("/rollouts/web"))
    {
        let query = request.query.as_deref().unwrap_or_default();
        assert!(
            query.contains("labelSelector="),
            "unselected list: {request:?}"
        );
    }
    bed.finish().await;
}

pub fn golden_normalisation_keeps_owners() {
    // A pod is renamed after its owning ReplicaSet, whatever its random suffix was.
    let objects = RolloutObjects {
        pods: vec![parse(pod("web-abc", "q7x2z", "abc", true))],
        ..Default::default()
    };
    let objects = normalised(objects);
    assert_eq!(objects.pods[0].name_any(), "web-abc-pod1");
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        scenario release_progressing_paused_promoted,
        scenario abort_retry_full_promotion_and_status_exit_codes,
        scenario pause_set_image_undo_restart_and_not_found,
        scenario list_and_the_binary_through_a_kubeconfig,
        plain golden_normalisation_keeps_owners,
    ]
}
