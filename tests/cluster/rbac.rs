//! deploy/'s RBAC against what the controller does: every request it makes in these suites is
//! authorized by deploy/'s rules (a missing rule fails that test with a 403), and after a full
//! run, every rule deploy/ grants must have been used by some test.

use crate::support;
use std::collections::BTreeSet;
use weir::harness::{ApiServer, Identity, Permission};

/// What `variant` of deploy/ grants the controller's ServiceAccount.
async fn granted(variant: &str) -> BTreeSet<Permission> {
    let server = ApiServer::start().await.expect("harness starts");
    support::controller_client(&server, variant);
    let granted = server.permissions_granted(&Identity::weir_controller());
    server.shutdown().await;
    granted
}

/// Prints the permissions the controller used and compares them with what deploy/ grants:
/// true if they are the same.
pub fn coverage_holds() -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let granted = runtime.block_on(granted("deploy"));
    let used = support::permissions_used();
    println!("\nRBAC: the controller used {} permissions:", used.len());
    for permission in &used {
        println!("  {permission}");
    }
    let unused: Vec<_> = granted.difference(&used).collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    for permission in &unused {
        println!(
            "RBAC: deploy/ grants {permission}, which no test used: remove it, or test what needs it"
        );
    }
    for permission in &missing {
        println!("RBAC: the controller used {permission}, which deploy/ does not grant");
    }
    unused.is_empty() && missing.is_empty()
}

/// The namespaced install: a release in weir-system and its abort, by a
/// controller watching only weir-system, authorized by deploy/namespaced's Role. Nothing it
/// does is refused.
pub async fn the_namespaced_install_runs_a_release_and_an_abort() {
    if support::e2e() {
        return;
    }
    use crate::scenarios::{ROUTING, V1, V2, rollout_yaml};
    let server = ApiServer::start_with(weir::harness::HarnessConfig {
        pod_ready_after: std::time::Duration::from_millis(100),
        rollout_crds: support::crds().harness(),
        ..Default::default()
    })
    .await
    .expect("harness starts");
    let controller = support::controller_client(&server, "deploy/namespaced");
    let admin = server.client().expect("client");
    let namespace = "weir-system";
    let in_namespace = |yaml: &str| {
        for doc in yaml.split("\n---\n") {
            let mut value: serde_json::Value = yaml_serde::from_str(doc).expect("YAML");
            if value.is_null() {
                continue;
            }
            value["metadata"]["namespace"] = serde_json::json!(namespace);
            server.put_object(value).expect("object stored");
        }
    };
    in_namespace(ROUTING);
    in_namespace(&rollout_yaml("      - setWeight: 25\n      - pause: {}\n"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = weir::controller::Config {
        namespace: Some(namespace.into()),
        ..Default::default()
    };
    let running = tokio::spawn(weir::controller::run(controller, config, async {
        let _ = stopped.await;
    }));
    let rollouts: kube::Api<weir::api::Rollout> = kube::Api::namespaced(admin, namespace);
    let until = |what: &'static str, done: fn(&weir::api::Rollout) -> bool| {
        let rollouts = rollouts.clone();
        async move {
            let deadline = tokio::time::Instant::now() + support::WAIT;
            loop {
                if let Ok(r) = rollouts.get("web").await
                    && done(&r)
                {
                    return r;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{what}: not reached"
                );
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        }
    };
    until("Healthy at V1", |r| support::phase(r) == "Healthy").await;
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": V2}]}}}});
    rollouts
        .patch("web", &Default::default(), &kube::api::Patch::Merge(&patch))
        .await
        .expect("image set");
    until("paused at 25%", |r| support::phase(r) == "Paused").await;
    rollouts
        .patch_status(
            "web",
            &Default::default(),
            &kube::api::Patch::Merge(serde_json::json!({"status": {"abort": true}})),
        )
        .await
        .expect("aborted");
    until("aborted", |r| support::phase(r) == "Degraded").await;
    let _ = stop.send(());
    let _ = running.await;
    let user = Identity::weir_controller().user_name();
    let refused: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.user == user && r.status == 403)
        .map(|r| format!("{} {}", r.verb, r.path))
        .collect();
    assert!(refused.is_empty(), "deploy/namespaced refused: {refused:?}");
    let _ = V1;
    server.shutdown().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![scenario the_namespaced_install_runs_a_release_and_an_abort]
}
