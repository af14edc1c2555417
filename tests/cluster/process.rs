//! The `weir-controller` binary as an operator runs it: two replicas against the scenario
//! harness elect one leader through a Lease, serve /healthz, /readyz and /metrics, and hand
//! over on SIGTERM (the leader finishes, releases the Lease, exits 0, the standby takes over).
//! Bad flags and taken ports end the process with a message naming the flag.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir::harness::ApiServer;

/// Shorter than the controller's 60 s cache-sync timeout, so a reconcile that sleeps until
/// that timeout (a lost wake-up) fails the test instead of passing late.
const WAIT: Duration = Duration::from_secs(30);

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// GET over plain HTTP/1.0; `None` while nothing listens.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// A kubeconfig acting as deploy/'s ServiceAccount, with deploy/'s RBAC installed.
fn kubeconfig(dir: &Path, server: &ApiServer) -> PathBuf {
    crate::support::controller_client(server, "deploy");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("config");
    std::fs::write(
        &path,
        server.kubeconfig(&weir::harness::Identity::weir_controller(), "weir-system"),
    )
    .unwrap();
    path
}

struct Replica {
    child: Child,
    metrics: SocketAddr,
    health: SocketAddr,
}

impl Replica {
    fn start(kubeconfig: &Path, extra: &[&str]) -> Replica {
        let (metrics, health) = (free_addr(), free_addr());
        let child = Command::new(env!("CARGO_BIN_EXE_weir-controller"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg(format!("--metrics-addr={metrics}"))
            .arg(format!("--health-addr={health}"))
            .args([
                "--leader-election-lease-duration=2s",
                "--leader-election-renew-deadline=1s",
                "--log-level=info",
            ])
            .args(extra)
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weir-controller starts");
        Replica {
            child,
            metrics,
            health,
        }
    }

    fn readyz(&self) -> Option<(u16, String)> {
        get(self.health, "/readyz")
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {WAIT:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = tokio::task::block_in_place(&mut probe) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn holder(server: &ApiServer) -> Option<String> {
    server
        .get(
            "coordination.k8s.io/v1",
            "leases",
            Some("weir-system"),
            "weir-controller-lock",
        )
        .and_then(|lease| lease["spec"]["holderIdentity"].as_str().map(String::from))
}

const ROLLOUT: &str = "
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.k8s.io/pause:3.9}]}
  strategy: {canary: {steps: [{setWeight: 50}]}}
";

pub async fn two_replicas_elect_one_leader_and_hand_over_on_sigterm() {
    let server = ApiServer::start().await.expect("harness");
    let dir = std::env::temp_dir().join(format!("weir-process-{}", std::process::id()));
    let config = kubeconfig(&dir, &server);
    server.apply_yaml(ROLLOUT).unwrap();

    let mut first = Replica::start(&config, &[]);
    // A replica is ready as a standby before its first Lease attempt, so wait for the body
    // that says it leads, not for the first 200.
    let leader_body = wait_for("first replica leads with synced caches", || {
        first
            .readyz()
            .filter(|(_, body)| body.contains("leader-election: leader\ncaches: synced"))
    })
    .await;
    assert_eq!(leader_body.0, 200, "{leader_body:?}");
    let first_identity = holder(&server).expect("the Lease names its holder");

    let second = Replica::start(&config, &[]);
    // Until its first Lease attempt a replica says it is electing (503); what it settles on is
    // what is checked.
    let standby = wait_for("second replica is a ready standby", || {
        second
            .readyz()
            .filter(|(_, body)| !body.contains("leader-election: electing"))
    })
    .await;
    assert_eq!(
        standby,
        (
            200,
            "ok\nleader-election: standby\ncaches: not started\n".to_string()
        )
    );
    assert_eq!(get(second.health, "/healthz"), Some((200, "ok\n".into())));

    // Only the leader reconciles: its metrics describe the Rollout, the standby's do not.
    let metrics = wait_for("the leader reports the Rollout as completed", || {
        get(first.metrics, "/metrics").filter(|(_, body)| {
            body.contains(
                r#"rollout_info{namespace="shop",name="web",strategy="canary",traffic_router="",phase="Completed"} 1"#,
            )
        })
    })
    .await;
    assert!(
        metrics
            .1
            .contains(r#"rollout_reconcile_count{namespace="shop",name="web"}"#)
    );
    assert!(metrics.1.contains("rollout_events_total{"));
    let (_, standby_metrics) = get(second.metrics, "/metrics").unwrap();
    assert!(
        !standby_metrics.contains("rollout_info{"),
        "{standby_metrics}"
    );
    assert_eq!(holder(&server).as_deref(), Some(first_identity.as_str()));

    let status = first.terminate();
    assert!(status.success(), "graceful stop exits 0, got {status}");
    let second_identity = wait_for("the standby takes the released Lease", || {
        holder(&server).filter(|h| *h != first_identity)
    })
    .await;
    let body = wait_for("the new leader is ready", || {
        second
            .readyz()
            .filter(|(_, body)| body.contains("leader-election: leader\ncaches: synced"))
    })
    .await;
    assert_eq!(body.0, 200);

    let mut second = second;
    assert!(second.terminate().success());
    let lease = server
        .get(
            "coordination.k8s.io/v1",
            "leases",
            Some("weir-system"),
            "weir-controller-lock",
        )
        .unwrap();
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "the last leader ({second_identity}) released the Lease on SIGTERM: {lease}"
    );
    crate::support::record_permissions(&server);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

pub async fn without_leader_election_it_reconciles_at_once() {
    let server = ApiServer::start().await.expect("harness");
    let dir = std::env::temp_dir().join(format!("weir-process-solo-{}", std::process::id()));
    let config = kubeconfig(&dir, &server);
    let mut solo = Replica::start(&config, &["--leader-elect=false"]);
    let (status, body) = wait_for("ready without a Lease", || {
        solo.readyz().filter(|(status, _)| *status == 200)
    })
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ok\nleader-election: disabled\ncaches: synced\n")
    );
    assert!(holder(&server).is_none(), "no Lease is taken");
    assert!(solo.terminate().success());
    crate::support::record_permissions(&server);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weir-controller"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/weir-test-kubeconfig")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn bad_flags_are_named_and_fail() {
    let dir = std::env::temp_dir().join(format!("weir-process-flags-{}", std::process::id()));
    let server_url = "http://127.0.0.1:9"; // never contacted: every case fails before.
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
             clusters: [{{name: c, cluster: {{server: \"{server_url}\"}}}}]\n\
             users: [{{name: u, user: {{}}}}]\n\
             contexts: [{{name: c, context: {{cluster: c, user: u}}}}]\n"
        ),
    )
    .unwrap();
    let kubeconfig = config.to_str().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = format!("--metrics-addr={}", taken.local_addr().unwrap());
    let cases: [(&[&str], &str); 4] = [
        (
            &["--leader-election-renew-deadline=20s"],
            "--leader-election-renew-deadline (20s) must be shorter than --leader-election-lease-duration (15s)",
        ),
        (
            &["--metrics-addr=8090"],
            "--metrics-addr \"8090\" is not a listen address",
        ),
        (
            &["--leader-election-lease-duration=soon"],
            "--leader-election-lease-duration",
        ),
        (
            &[taken_addr.as_str(), "--health-addr=127.0.0.1:0"],
            "cannot listen on",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["--kubeconfig", kubeconfig];
        all.extend_from_slice(args);
        let (code, stderr) = run_to_exit(&all);
        assert_ne!(code, Some(0), "{args:?} must fail");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        multi two_replicas_elect_one_leader_and_hand_over_on_sigterm,
        multi without_leader_election_it_reconciles_at_once,
        plain bad_flags_are_named_and_fail,
    ]
}
