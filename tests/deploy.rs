//! deploy/ renders with kustomize, every object parses, the Deployment only passes flags the
//! controller accepts, its ports, probes and metrics Service match those flags, and the
//! namespaced install's Role is the cluster install's rules minus what only applies across
//! namespaces. (Whether the rules are exactly what the controller uses is checked by
//! tests/cluster, against every request it makes.)

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn render(dir: &str) -> Vec<Value> {
    let path = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("kubectl")
        .args(["kustomize", &path])
        .output()
        .expect("kubectl must be installed to render deploy/ (it is on the CI image)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    yaml_serde::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("rendered object parses"))
        .collect()
}

fn allows(objects: &[Value], kind: &str, group: &str, resource: &str, verb: &str) -> bool {
    permissions(objects, kind).contains(&(group.into(), resource.into(), verb.into()))
}

/// Every (group, resource, verb) the rules of the objects of `kind` grant.
fn permissions(objects: &[Value], kind: &str) -> BTreeSet<(String, String, String)> {
    let strings = |rule: &Value, key: &str| -> Vec<String> {
        rule[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let mut all = BTreeSet::new();
    for role in objects.iter().filter(|o| o["kind"] == kind) {
        for rule in role["rules"].as_array().into_iter().flatten() {
            for group in strings(rule, "apiGroups") {
                for resource in strings(rule, "resources") {
                    for verb in strings(rule, "verbs") {
                        all.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    all
}

/// The port a Go-style listen flag (`--metrics-addr=:8090`) of the container binds.
fn flag_port(args: &[Value], flag: &str) -> u64 {
    let value = args
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix(&format!("{flag}=")))
        .unwrap_or_else(|| panic!("the Deployment sets {flag} explicitly"));
    let addr = weir::controller::server::parse_listen_addr(flag, value).expect("a listen address");
    u64::from(addr.port())
}

/// A port given by name or number, resolved against the container's ports.
fn resolve_port(container: &Value, port: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(name) => container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no container port named {name}")),
        other => panic!("unexpected port {other}"),
    }
}

fn check_ports_and_probes(dir: &str, objects: &[Value], deployment: &Value) {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"].as_array().expect("args");
    let (metrics, health) = (
        flag_port(args, "--metrics-addr"),
        flag_port(args, "--health-addr"),
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{dir}: {probe} path");
        assert_eq!(
            resolve_port(container, &get["port"]),
            health,
            "{dir}: {probe} must hit --health-addr"
        );
    }
    let service = objects
        .iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "weir-controller-metrics")
        .unwrap_or_else(|| panic!("{dir}: a metrics Service"));
    let port = &service["spec"]["ports"][0];
    assert_eq!(
        resolve_port(container, &port["targetPort"]),
        metrics,
        "{dir}: the metrics Service must reach --metrics-addr"
    );
    assert_eq!(
        service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"],
        "{dir}: the metrics Service selects the controller pods"
    );
    let env = container["env"].as_array().expect("env");
    assert!(
        env.iter().any(|e| e["name"] == "POD_NAMESPACE"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
        "{dir}: the Lease namespace comes from the pod's namespace"
    );
}

#[test]
fn install_manifests_render_and_match_the_controller() {
    let help = Command::new(env!("CARGO_BIN_EXE_weir-controller"))
        .arg("--help")
        .output()
        .expect("controller runs");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for dir in ["deploy", "deploy/namespaced"] {
        let objects = render(dir);
        let deployment = objects
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .expect("a Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        for arg in container["args"].as_array().expect("args") {
            let flag = arg.as_str().unwrap().split('=').next().unwrap();
            assert!(
                help.contains(flag),
                "{dir}: the Deployment passes {flag}, which weir-controller does not accept"
            );
        }
        check_ports_and_probes(dir, &objects, deployment);
        for (group, resource, verb) in [
            ("coordination.k8s.io", "leases", "get"),
            ("coordination.k8s.io", "leases", "create"),
            ("coordination.k8s.io", "leases", "patch"),
        ] {
            assert!(
                allows(&objects, "Role", group, resource, verb),
                "{dir}: leader election needs {verb} {group}/{resource} in a Role"
            );
        }
        assert!(
            !allows(
                &objects,
                "ClusterRole",
                "coordination.k8s.io",
                "leases",
                "patch"
            ),
            "{dir}: Leases of other namespaces are not the controller's business"
        );
        assert!(
            container["resources"]["requests"]["memory"].is_string()
                && container["resources"]["limits"]["memory"].is_string(),
            "{dir}: memory request and limit"
        );
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
            true
        );
    }
    let cluster = permissions(&render("deploy"), "ClusterRole");
    let namespaced = permissions(&render("deploy/namespaced"), "Role");
    let leader_election = permissions(&render("deploy"), "Role");
    let namespaced: BTreeSet<_> = namespaced.difference(&leader_election).cloned().collect();
    let only_cluster: BTreeSet<(String, String, String)> = [
        ("argoproj.io", "clusteranalysistemplates", "list"),
        ("argoproj.io", "clusteranalysistemplates", "watch"),
        ("argoproj.io", "applications", "get"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations", "get"),
        ("source.toolkit.fluxcd.io", "gitrepositories", "get"),
        ("", "secrets", "list"),
        ("", "configmaps", "get"),
    ]
    .into_iter()
    .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        cluster
            .difference(&namespaced)
            .cloned()
            .collect::<BTreeSet<_>>(),
        only_cluster,
        "deploy/namespaced's Role must grant the cluster install's rules but for these"
    );
    assert!(
        namespaced.is_subset(&cluster),
        "the namespaced Role grants more"
    );
    // Next to Argo's CRDs: the same controller and RBAC, no CRDs, everything in weir-system.
    let existing = render("deploy/existing-crds");
    assert!(
        existing
            .iter()
            .all(|o| o["kind"] != "CustomResourceDefinition")
    );
    assert_eq!(
        permissions(&existing, "ClusterRole"),
        permissions(&render("deploy"), "ClusterRole")
    );
    for object in existing.iter().filter(|o| {
        !matches!(
            o["kind"].as_str(),
            Some("Namespace" | "ClusterRole" | "ClusterRoleBinding")
        )
    }) {
        assert_eq!(
            object["metadata"]["namespace"], "weir-system",
            "{}",
            object["kind"]
        );
    }
    let crds = render("deploy")
        .into_iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .count();
    assert_eq!(crds, 4);
}
