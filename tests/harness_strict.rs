//! The in-process API server refuses what kube-apiserver refuses, for everything Weir touches:
//! one test per rule, through a real `kube::Client`, with the messages the real server gives.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::core::GroupVersion;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use weir::harness::{ApiServer, HarnessConfig, Identity, Permission, RolloutCrds};

async fn server(crds: RolloutCrds) -> (ApiServer, Client) {
    let server = ApiServer::start_with(HarnessConfig {
        run_kubelet: false,
        rollout_crds: crds,
        ..Default::default()
    })
    .await
    .expect("harness starts");
    let client = server.client().expect("client");
    (server, client)
}

fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("object")
}

/// (code, reason, message) of a failed call.
fn failure<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String, String) {
    match result {
        Err(kube::Error::Api(status)) => {
            (status.code, status.reason.clone(), status.message.clone())
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rollout(name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "app:v1"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
        },
    })
}

#[tokio::test]
async fn kinds_without_a_crd_are_not_served() {
    let (server, client) = server(RolloutCrds::None).await;
    let rollouts = api(&client, "argoproj.io", "v1alpha1", "Rollout", "rollouts");
    let (code, _, message) = failure(rollouts.list(&ListParams::default()).await);
    assert_eq!(code, 404);
    assert!(message.contains("the server could not find the requested resource"));
    assert!(
        server.put_object(rollout("web")).is_err(),
        "fixtures need the CRD too"
    );
    server.apply_yaml(weir::harness::crds::WEIR_YAML).unwrap();
    rollouts
        .create(&PostParams::default(), &object(rollout("web")))
        .await
        .expect("served once the CRD is installed");
    let crd: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let stored = crd.get("rollouts.argoproj.io").await.unwrap();
    let conditions = serde_json::to_value(&stored).unwrap()["status"]["conditions"].clone();
    assert!(
        conditions.to_string().contains("Established"),
        "{conditions}"
    );
    crd.delete("rollouts.argoproj.io", &Default::default())
        .await
        .unwrap();
    assert_eq!(
        failure(rollouts.get("web").await).0,
        404,
        "gone with its CRD"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_installed_schema_prunes_defaults_and_validates() {
    let (server, client) = server(RolloutCrds::ArgoRollouts).await;
    let rollouts = api(&client, "argoproj.io", "v1alpha1", "Rollout", "rollouts");
    let mut web = rollout("web");
    web["spec"]["unknownField"] = json!(true);
    rollouts
        .create(&PostParams::default(), &object(web))
        .await
        .unwrap();
    // Argo's closed status schema drops what it does not know, as Weir's old status.weir.
    let status = json!({"status": {"phase": "Healthy", "weir": {"held": []}}});
    let written = rollouts
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let written = serde_json::to_value(&written).unwrap();
    assert_eq!(written["status"]["phase"], "Healthy");
    assert!(written["status"].get("weir").is_none(), "{written}");
    assert!(written["spec"].get("unknownField").is_none());
    let pruned = server.pruned_fields();
    assert!(
        pruned
            .iter()
            .any(|(_, name, paths)| name == "default/web" && paths == &["status.weir"]),
        "{pruned:?}"
    );

    let mut bad = rollout("bad");
    bad["spec"]["replicas"] = json!("two");
    let (code, reason, message) =
        failure(rollouts.create(&PostParams::default(), &object(bad)).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        message.starts_with(
            "Rollout.argoproj.io \"bad\" is invalid: spec.replicas: Invalid value: \"string\""
        ),
        "{message}"
    );
    // Istio's schema for VirtualServices.
    let vs = api(
        &client,
        "networking.istio.io",
        "v1alpha3",
        "VirtualService",
        "virtualservices",
    );
    let virtual_service = json!({
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {"hosts": ["web"], "http": [{"route": [
            {"destination": {"host": "web", "unknown": 1}, "weight": "fifty"}]}]},
    });
    let (code, _, message) = failure(
        vs.create(&PostParams::default(), &object(virtual_service))
            .await,
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("spec.http[0].route[0].weight"),
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn status_is_a_subresource_only_where_the_crd_says() {
    for (crds, subresource) in [
        (RolloutCrds::Weir, true),
        (RolloutCrds::ArgoRollouts, false),
    ] {
        let (server, client) = server(crds).await;
        let runs = api(
            &client,
            "argoproj.io",
            "v1alpha1",
            "AnalysisRun",
            "analysisruns",
        );
        let run = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "run"},
            "spec": {"metrics": [{"name": "m", "provider": {"prometheus": {"query": "up"}}}]},
            "status": {"phase": "Running"},
        });
        let created = runs
            .create(&PostParams::default(), &object(run))
            .await
            .unwrap();
        let created = serde_json::to_value(&created).unwrap();
        // Created with a status: dropped where status is a subresource, kept where it is not.
        assert_eq!(created.get("status").is_some(), !subresource, "{crds:?}");
        let patch = json!({"status": {"phase": "Successful"}});
        let via_status = runs
            .patch_status("run", &PatchParams::default(), &Patch::Merge(&patch))
            .await;
        if subresource {
            via_status.expect("written through /status");
        } else {
            let (code, reason, message) = failure(via_status);
            assert_eq!((code, reason.as_str()), (404, "NotFound"));
            assert_eq!(message, "analysisruns.argoproj.io \"run\" not found");
            let written = runs
                .patch("run", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
            assert_eq!(
                serde_json::to_value(&written).unwrap()["status"]["phase"],
                "Successful"
            );
        }
        let found =
            kube::discovery::pinned_group(&client, &GroupVersion::gv("argoproj.io", "v1alpha1"))
                .await
                .unwrap();
        let (_, caps) = found
            .versioned_resources("v1alpha1")
            .into_iter()
            .find(|(r, _)| r.plural == "analysisruns")
            .unwrap();
        assert_eq!(
            caps.subresources.iter().any(|(s, _)| s.plural == "status"),
            subresource,
            "discovery tells"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn events_are_validated_as_the_events_api_does() {
    let (server, client) = server(RolloutCrds::Weir).await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let event = |note: &str| -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": "web.1"},
            "eventTime": "2026-12-01T09:42:39.123456Z",
            "reportingController": "weir-controller", "reportingInstance": "weir-controller",
            "action": "RolloutUpdated", "reason": "RolloutUpdated", "type": "Normal",
            "regarding": {"kind": "Rollout", "name": "web", "namespace": "default"},
            "note": note,
        }))
        .unwrap()
    };
    let (code, _, message) = failure(
        events
            .create(&PostParams::default(), &event(&"x".repeat(1025)))
            .await,
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("message: Invalid value: \"\": can have at most 1024 characters"),
        "{message}"
    );
    events
        .create(&PostParams::default(), &event(&"x".repeat(1024)))
        .await
        .expect("1 KiB is the limit");
    let mut missing = serde_json::to_value(event("n")).unwrap();
    missing["metadata"]["name"] = json!("web.2");
    missing
        .as_object_mut()
        .unwrap()
        .remove("reportingController");
    let (code, _, message) = failure(
        events
            .create(
                &PostParams::default(),
                &serde_json::from_value(missing).unwrap(),
            )
            .await,
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("reportingController: Required value"),
        "{message}"
    );
    let note_change = json!({"note": "another"});
    assert_eq!(
        failure(
            events
                .patch(
                    "web.1",
                    &PatchParams::default(),
                    &Patch::Merge(&note_change)
                )
                .await
        )
        .0,
        422,
        "an Event's note is immutable"
    );
    let series = json!({"series": {"count": 2, "lastObservedTime": "2026-12-01T09:43:00.000000Z"}});
    events
        .patch("web.1", &PatchParams::default(), &Patch::Merge(&series))
        .await
        .expect("a series update is allowed");
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_json_patch_is_a_422_and_a_stale_version_a_409() {
    let (server, client) = server(RolloutCrds::Weir).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "cm"}, "data": {"a": "1"}})).unwrap();
    let created = maps.create(&PostParams::default(), &map).await.unwrap();
    let test_fails: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/a", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "3"},
    ]))
    .unwrap();
    let (code, reason, message) = failure(
        maps.patch(
            "cm",
            &PatchParams::default(),
            &Patch::<()>::Json(test_fails),
        )
        .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(
        message,
        "the server rejected our request due to an error in our request"
    );
    maps.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .unwrap();
    let (code, reason, _) = failure(maps.replace("cm", &PostParams::default(), &created).await);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    server.shutdown().await;
}

#[tokio::test]
async fn requests_are_authorized_by_rbac() {
    let (server, _) = server(RolloutCrds::Weir).await;
    let controller = server.client_as(&Identity::weir_controller()).unwrap();
    let rollouts = api(
        &controller,
        "argoproj.io",
        "v1alpha1",
        "Rollout",
        "rollouts",
    );
    let (code, reason, message) = failure(rollouts.list(&ListParams::default()).await);
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "rollouts.argoproj.io is forbidden: User \"system:serviceaccount:weir-system:weir-controller\" \
         cannot list resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"default\""
    );
    server
        .apply_yaml(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/deploy/cluster-rbac/rbac.yaml"
            ))
            .unwrap(),
        )
        .unwrap();
    rollouts
        .list(&ListParams::default())
        .await
        .expect("allowed once bound");
    server.put_object(rollout("web")).unwrap();
    let (code, _, message) = failure(
        rollouts
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {}})),
            )
            .await,
    );
    assert_eq!(code, 403);
    assert!(
        message.contains("cannot patch resource \"rollouts/status\""),
        "{message}"
    );
    // Discovery and /version are open to every authenticated user.
    controller.apiserver_version().await.expect("/version");
    let anonymous = server.client_as(&Identity::Anonymous).unwrap();
    assert_eq!(
        failure(
            Api::<ConfigMap>::all(anonymous)
                .list(&ListParams::default())
                .await
        )
        .0,
        403
    );
    let used = server.permissions_used(&Identity::weir_controller());
    assert!(used.contains(&Permission {
        verb: "list".into(),
        api_group: "argoproj.io".into(),
        resource: "rollouts".into()
    }));
    assert!(
        !used.iter().any(|p| p.resource == "rollouts/status"),
        "refused requests are not uses"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn namespaces_must_exist_and_take_their_contents_along() {
    let (server, client) = server(RolloutCrds::Weir).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm"}})).unwrap();
    let (code, _, message) = failure(maps.create(&PostParams::default(), &map).await);
    assert_eq!(
        (code, message.as_str()),
        (404, "namespaces \"shop\" not found")
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
        )
        .await
        .unwrap();
    maps.create(&PostParams::default(), &map).await.unwrap();
    namespaces
        .delete("shop", &Default::default())
        .await
        .unwrap();
    assert_eq!(failure(maps.get("cm").await).0, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_restart_cuts_watches_and_a_compaction_forces_a_relist() {
    let (server, client) = server(RolloutCrds::Weir).await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let map: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm"}})).unwrap();
    let created = maps.create(&PostParams::default(), &map).await.unwrap();
    let version = created.resource_version().unwrap();
    let mut stream = maps
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap()
        .boxed();
    server.stop_serving().await;
    let cut = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await;
    assert!(
        matches!(cut, Ok(None) | Ok(Some(Err(_)))),
        "the watch ends when the server dies: {cut:?}"
    );
    assert!(
        maps.get("cm").await.is_err(),
        "nothing answers while it is down"
    );
    // Changes while it is away, then compaction: the watch's version is history now.
    server
        .apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\n")
        .unwrap();
    server.compact();
    server.resume_serving().await.unwrap();
    assert_eq!(
        maps.get("cm").await.unwrap().name_any(),
        "cm",
        "same store, same port"
    );
    let mut resumed = maps
        .watch(&WatchParams::default(), &version)
        .await
        .unwrap()
        .boxed();
    match resumed.next().await {
        Some(Ok(WatchEvent::Error(status))) => assert_eq!(status.code, 410),
        other => panic!("expected 410 Gone after the compaction, got {other:?}"),
    }
    server.shutdown().await;
}
