//! deploy/ renders with kustomize, every object parses, the Deployment only passes flags the
//! controller accepts, and RBAC grants every verb the controller uses.

use serde_json::Value;
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
    objects.iter().filter(|o| o["kind"] == kind).any(|role| {
        role["rules"].as_array().into_iter().flatten().any(|rule| {
            let has = |key: &str, want: &str| {
                rule[key]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == want))
            };
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    })
}

#[test]
fn install_manifests_render_and_match_the_controller() {
    let help = Command::new(env!("CARGO_BIN_EXE_weir-controller"))
        .arg("--help")
        .output()
        .expect("controller runs");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for (dir, role) in [("deploy", "ClusterRole"), ("deploy/namespaced", "Role")] {
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
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
            true
        );
        for (group, resource, verb) in [
            ("argoproj.io", "rollouts", "watch"),
            ("argoproj.io", "rollouts/status", "update"),
            ("apps", "replicasets", "create"),
            ("apps", "replicasets", "patch"),
            ("apps", "replicasets", "delete"),
            ("", "services", "patch"),
            ("networking.istio.io", "virtualservices", "patch"),
            ("networking.istio.io", "destinationrules", "patch"),
            ("events.k8s.io", "events", "create"),
            ("argoproj.io", "analysisruns", "create"),
            ("argoproj.io", "analysisruns/status", "patch"),
            ("argoproj.io", "analysistemplates", "watch"),
            ("", "secrets", "get"),
        ] {
            assert!(
                allows(&objects, role, group, resource, verb),
                "{dir}: {role} does not allow {verb} {group}/{resource}"
            );
        }
    }
    let crds = render("deploy")
        .into_iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .count();
    assert_eq!(crds, 4);
}
