//! The in-process API server, exercised through a real `kube::Client`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use weir::harness::{ApiServer, HarnessConfig};

/// Polls `check` until it yields a value; fails after a generous deadline.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start() -> (ApiServer, Client) {
    let server = ApiServer::start().await.unwrap();
    let client = server.client().unwrap();
    (server, client)
}

/// Creates a namespace: like a real server, the harness refuses objects in one that does not exist.
async fn namespace(client: &Client, name: &str) {
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        },
        "data": {"key": "value"},
    }))
    .unwrap()
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn names<K: ResourceExt>(items: impl IntoIterator<Item = K>) -> Vec<String> {
    let mut names: Vec<String> = items.into_iter().map(|o| o.name_any()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn create_get_list_with_selectors() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    api.create(
        &pp,
        &config_map("web", &[("app", "web"), ("tier", "front")]),
    )
    .await
    .unwrap();
    api.create(&pp, &config_map("api", &[("app", "api")]))
        .await
        .unwrap();
    api.create(&pp, &config_map("db", &[("app", "db")]))
        .await
        .unwrap();
    namespace(&client, "other").await;
    Api::<ConfigMap>::namespaced(client.clone(), "other")
        .create(&pp, &config_map("web", &[("app", "web")]))
        .await
        .unwrap();

    let fetched = api.get("web").await.unwrap();
    assert_eq!(fetched.namespace().as_deref(), Some("default"));
    assert!(fetched.uid().is_some());
    assert!(fetched.creation_timestamp().is_some());
    assert_eq!(fetched.meta().generation, Some(1));
    assert_eq!(
        api_error(api.get("missing").await),
        (404, "NotFound".to_string())
    );

    let list = |selector: &str| {
        let api = api.clone();
        let params = ListParams::default().labels(selector);
        async move { names(api.list(&params).await.unwrap()) }
    };
    assert_eq!(list("app=web").await, ["web"]);
    assert_eq!(list("app in (web, api)").await, ["api", "web"]);
    assert_eq!(list("app!=web,!tier").await, ["api", "db"]);
    assert_eq!(list("tier").await, ["web"]);
    assert_eq!(list("app notin (web,api)").await, ["db"]);

    let by_name = api
        .list(&ListParams::default().fields("metadata.name=db"))
        .await
        .unwrap();
    assert_eq!(names(by_name), ["db"]);
    let everywhere = Api::<ConfigMap>::all(client.clone());
    let across = everywhere
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(across.items.len(), 2);
    let other_ns = everywhere
        .list(&ListParams::default().fields("metadata.namespace=other"))
        .await
        .unwrap();
    assert_eq!(other_ns.items.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn generate_name_and_invalid_names() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut cm = config_map("", &[]);
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".to_string());
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let name = created.name_any();
    assert!(
        name.starts_with("gen-") && name.len() == "gen-".len() + 5,
        "{name}"
    );
    let second = api.create(&PostParams::default(), &cm).await.unwrap();
    assert_ne!(second.name_any(), name);
    assert_ne!(second.uid(), created.uid());

    let (code, reason) = api_error(
        api.create(&PostParams::default(), &config_map("Bad_Name", &[]))
            .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    let (code, reason) = api_error(api.create(&PostParams::default(), &created).await);
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
}

#[tokio::test]
async fn replace_with_stale_resource_version_conflicts() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let created = api
        .create(&PostParams::default(), &config_map("cm", &[]))
        .await
        .unwrap();
    let mut first = created.clone();
    first.data = Some(BTreeMap::from([("key".to_string(), "first".to_string())]));
    let replaced = api
        .replace("cm", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), created.resource_version());

    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("key".to_string(), "stale".to_string())]));
    let (code, reason) = api_error(api.replace("cm", &PostParams::default(), &stale).await);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let stale_patch = Patch::Merge(
        json!({"metadata": {"resourceVersion": created.resource_version()}, "data": {"key": "x"}}),
    );
    let (code, _) = api_error(api.patch("cm", &PatchParams::default(), &stale_patch).await);
    assert_eq!(code, 409);
    assert_eq!(api.get("cm").await.unwrap().data.unwrap()["key"], "first");
}

#[tokio::test]
async fn json_patch_with_failing_test_is_rejected() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &config_map("cm", &[]))
        .await
        .unwrap();
    let ops = |expected: &str| -> json_patch::Patch {
        serde_json::from_value(json!([
            {"op": "test", "path": "/data/key", "value": expected},
            {"op": "replace", "path": "/data/key", "value": "patched"},
        ]))
        .unwrap()
    };
    let pp = PatchParams::default();
    let (code, reason) = api_error(api.patch("cm", &pp, &Patch::Json::<()>(ops("wrong"))).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(api.get("cm").await.unwrap().data.unwrap()["key"], "value");
    let patched = api
        .patch("cm", &pp, &Patch::Json::<()>(ops("value")))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["key"], "patched");
}

#[tokio::test]
async fn merge_and_apply_patches() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    api.create(&PostParams::default(), &config_map("cm", &[("a", "1")]))
        .await
        .unwrap();
    let merged = api
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"a": null, "b": "2"}}, "data": {"new": "x"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.labels(),
        &BTreeMap::from([("b".to_string(), "2".to_string())])
    );
    assert_eq!(merged.data.unwrap().len(), 2);

    let ssa = PatchParams::apply("harness-test").force();
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}});
    let created = api
        .patch("applied", &ssa, &Patch::Apply(&body))
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap()["a"], "1");
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"b": "2"}});
    let updated = api
        .patch("applied", &ssa, &Patch::Apply(&body))
        .await
        .unwrap();
    assert_eq!(updated.uid(), created.uid());
    assert_eq!(updated.data.unwrap().len(), 2);

    let (code, _) = api_error(
        api.patch(
            "missing",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await,
    );
    assert_eq!(code, 404);
    let record = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.ends_with("/applied"))
        .unwrap();
    assert_eq!(
        record.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert!(record.query.unwrap().contains("fieldManager=harness-test"));
    assert_eq!(server.write_count("configmaps", None), 5);
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "app:v1"}]}},
        },
        "status": {"replicas": 7},
    }))
    .unwrap()
}

#[tokio::test]
async fn status_subresource_rules() {
    let (server, client) = start().await;
    let api: Api<Deployment> = Api::default_namespaced(client);
    let created = api
        .create(&PostParams::default(), &deployment("d"))
        .await
        .unwrap();
    assert!(created.status.is_none(), "status is dropped on create");

    let mut with_status = created.clone();
    with_status.status = Some(serde_json::from_value(json!({"replicas": 3})).unwrap());
    let after_status = api
        .replace_status("d", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(after_status.status.as_ref().unwrap().replicas, Some(3));
    assert_eq!(
        after_status.metadata.generation,
        Some(1),
        "status writes keep generation"
    );

    // /status ignores everything but status.
    let mut sneaky = after_status.clone();
    sneaky.spec.as_mut().unwrap().replicas = Some(9);
    sneaky.labels_mut().insert("sneaky".into(), "yes".into());
    sneaky.status.as_mut().unwrap().replicas = Some(4);
    let after = api
        .replace_status("d", &PostParams::default(), &sneaky)
        .await
        .unwrap();
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(1));
    assert!(after.labels().is_empty());
    assert_eq!(after.status.as_ref().unwrap().replicas, Some(4));

    // The main resource ignores status; only spec changes bump the generation.
    let mut labelled = after.clone();
    labelled.labels_mut().insert("team".into(), "a".into());
    labelled.status.as_mut().unwrap().replicas = Some(100);
    let labelled = api
        .replace("d", &PostParams::default(), &labelled)
        .await
        .unwrap();
    assert_eq!(labelled.status.as_ref().unwrap().replicas, Some(4));
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = api
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}, "status": {"replicas": 0}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    assert_eq!(scaled.status.as_ref().unwrap().replicas, Some(4));
    let status_patch = api
        .patch_status(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 8}, "status": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(status_patch.spec.unwrap().replicas, Some(5));
    assert_eq!(status_patch.status.unwrap().replicas, Some(5));
    assert_eq!(status_patch.metadata.generation, Some(2));

    // An identical write is a no-op.
    let again = api
        .patch_status(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(
        again.resource_version(),
        status_patch.metadata.resource_version
    );
    assert_eq!(server.write_count("deployments", Some("status")), 4);
}

#[tokio::test]
async fn raw_watch_reports_event_types_and_gone() {
    let server = ApiServer::start_with(HarnessConfig {
        watch_history: 4,
        bookmark_interval: Duration::from_millis(100),
        ..HarnessConfig::default()
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::default_namespaced(server.client().unwrap());
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("watched"), &start)
        .await
        .unwrap()
        .boxed();

    let pp = PostParams::default();
    api.create(&pp, &config_map("unwatched", &[]))
        .await
        .unwrap();
    api.create(&pp, &config_map("cm", &[("watched", "yes")]))
        .await
        .unwrap();
    api.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    // Dropping the label moves the object out of the watch's selector.
    api.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"watched": null}}})),
    )
    .await
    .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match event {
            WatchEvent::Added(cm) => seen.push(format!("ADDED {}", cm.name_any())),
            WatchEvent::Modified(cm) => seen.push(format!("MODIFIED {}", cm.name_any())),
            WatchEvent::Deleted(cm) => seen.push(format!("DELETED {}", cm.name_any())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED cm", "MODIFIED cm", "DELETED cm"]);
    let bookmark = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await;
        if let WatchEvent::Bookmark(bookmark) = next.unwrap().unwrap().unwrap() {
            break bookmark;
        }
    };
    assert!(bookmark.metadata.resource_version.parse::<u64>().unwrap() >= 4);

    // The history holds 4 events; resuming from the start is too old.
    for i in 0..5 {
        api.create(&pp, &config_map(&format!("more-{i}"), &[]))
            .await
            .unwrap();
    }
    let mut stale = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match stale.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => assert_eq!(status.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    // The initial (empty) list completes before we write.
    loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::InitDone => break,
            _ => continue,
        }
    }
    api.create(&PostParams::default(), &config_map("cm", &[]))
        .await
        .unwrap();
    api.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"key": "changed"}})),
    )
    .await
    .unwrap();
    api.delete("cm", &DeleteParams::default()).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match event {
            watcher::Event::Apply(cm) => seen.push(format!("apply {}", cm.data.unwrap()["key"])),
            watcher::Event::Delete(cm) => seen.push(format!("delete {}", cm.name_any())),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply value", "apply changed", "delete cm"]);
}

#[tokio::test]
async fn reflector_store_converges() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..3 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("before-{i}"), &[]),
        )
        .await
        .unwrap();
    }
    let (reader, writer) = reflector::store();
    let reflector_task = tokio::spawn(
        reflector(writer, watcher(api.clone(), watcher::Config::default()))
            .applied_objects()
            .for_each(|_| async {}),
    );
    for i in 0..3 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("after-{i}"), &[]),
        )
        .await
        .unwrap();
    }
    api.delete("before-0", &DeleteParams::default())
        .await
        .unwrap();
    server.put_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-0"}, "data": {"key": "in-process"}})).unwrap();

    eventually("the reflector to converge", || {
        let state = reader.state();
        let converged = names(state.iter().map(|cm| (**cm).clone()))
            == ["after-0", "after-1", "after-2", "before-1", "before-2"]
            && state
                .iter()
                .any(|cm| cm.data.as_ref().is_some_and(|d| d["key"] == "in-process"));
        async move { converged.then_some(()) }
    })
    .await;
    reflector_task.abort();
}

#[tokio::test]
async fn cascading_delete_and_finalizers() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = api
        .create(&PostParams::default(), &config_map("owner", &[]))
        .await
        .unwrap();
    let owned_by = |parent: &ConfigMap, name: &str| {
        let mut child = config_map(name, &[]);
        child.metadata.owner_references = Some(vec![serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "name": parent.name_any(), "uid": parent.uid().unwrap(),
        })).unwrap()]);
        child
    };
    let child = api
        .create(&PostParams::default(), &owned_by(&owner, "child"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_by(&child, "grandchild"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &owned_by(&owner, "child-2"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &config_map("bystander", &[]))
        .await
        .unwrap();

    api.delete("owner", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        names(api.list(&ListParams::default()).await.unwrap()),
        ["bystander"]
    );

    let mut guarded = config_map("guarded", &[]);
    guarded.metadata.finalizers = Some(vec!["example.com/hold".to_string()]);
    api.create(&PostParams::default(), &guarded).await.unwrap();
    api.delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    let pending = api.get("guarded").await.unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    api.patch(
        "guarded",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_error(api.get("guarded").await).0, 404);
    assert!(server.get("v1", "configmaps", None, "guarded").is_none());
}

fn replica_set(name: &str, replicas: i32, image: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .unwrap()
}

async fn replica_counts(api: &Api<ReplicaSet>, name: &str) -> (i32, i32, i32) {
    let status = api
        .get_status(name)
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    (
        status.replicas,
        status.ready_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
    )
}

#[tokio::test]
async fn replica_sets_get_ready_pods_and_scale_down() {
    let (server, client) = start().await;
    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    rs_api
        .create(&PostParams::default(), &replica_set("web", 3, "app:v1"))
        .await
        .unwrap();

    eventually("3 available replicas", || async {
        (replica_counts(&rs_api, "web").await == (3, 3, 3)).then_some(())
    })
    .await;
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3);
    for pod in &listed.items {
        assert!(pod.name_any().starts_with("web-"));
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let ready = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        assert!(status.container_statuses.as_ref().unwrap()[0].ready);
        assert_eq!(pod.owner_references()[0].controller, Some(true));
    }
    let rs = rs_api.get("web").await.unwrap();
    assert_eq!(
        rs.status.unwrap().observed_generation,
        rs.metadata.generation
    );

    rs_api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    eventually("scale down to 1", || async {
        let count = pods.list(&ListParams::default()).await.unwrap().items.len();
        (count == 1 && replica_counts(&rs_api, "web").await == (1, 1, 1)).then_some(())
    })
    .await;

    rs_api
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(server.list("pods", None).is_empty());
}

#[tokio::test]
async fn never_ready_knob_holds_pods_back() {
    let (server, client) = start().await;
    server.set_never_ready("broken");
    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client);
    rs_api
        .create(&PostParams::default(), &replica_set("bad", 2, "app:broken"))
        .await
        .unwrap();
    rs_api
        .create(&PostParams::default(), &replica_set("good", 1, "app:v1"))
        .await
        .unwrap();

    eventually("the broken pods to run unready", || async {
        let listed = pods
            .list(&ListParams::default().labels("app=bad"))
            .await
            .unwrap();
        let running = listed
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (running == 2).then_some(())
    })
    .await;
    eventually("the good replica set to be available", || async {
        (replica_counts(&rs_api, "good").await == (1, 1, 1)).then_some(())
    })
    .await;
    assert_eq!(replica_counts(&rs_api, "bad").await, (2, 0, 0));

    server.clear_never_ready();
    eventually("the held-back pods to become ready", || async {
        (replica_counts(&rs_api, "bad").await == (2, 2, 2)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn dynamic_virtual_service() {
    let (server, client) = start().await;
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1alpha3", "VirtualService");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "virtualservices");
    namespace(&client, "mesh").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "mesh", &resource);
    let vs: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {"hosts": ["web"], "http": [{"name": "primary", "route": [
            {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
            {"destination": {"host": "web", "subset": "canary"}, "weight": 0},
        ]}]},
    }))
    .unwrap();
    api.create(&PostParams::default(), &vs).await.unwrap();
    let patch = json!([{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 80},
                       {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 20}]);
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(patch).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["http"][0]["route"][1]["weight"], 20);
    assert_eq!(patched.metadata.generation, Some(2));
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    // Stored by group and plural: another version sees the same object.
    let stored = server
        .get(
            "networking.istio.io/v1beta1",
            "virtualservices",
            Some("mesh"),
            "web",
        )
        .unwrap();
    assert_eq!(stored["apiVersion"], "networking.istio.io/v1alpha3");
    assert_eq!(server.list("virtualservices", None).len(), 1);
}

#[tokio::test]
async fn in_process_helpers() {
    let (server, client) = start().await;
    let yaml = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: demo
  namespace: team
spec:
  replicas: 2
status:
  phase: Healthy
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: defaults
"#;
    let stored = server.apply_yaml(yaml).unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored[0]["metadata"].get("namespace").is_none());
    let rollout = server
        .get("argoproj.io/v1alpha1", "rollouts", Some("team"), "demo")
        .unwrap();
    assert_eq!(
        rollout["status"]["phase"], "Healthy",
        "fixtures keep status"
    );
    assert_eq!(server.list("configmaps", Some("default")).len(), 1);
    assert!(server.apply_yaml("kind: [").is_err());
    assert!(
        server.apply_yaml("metadata: {name: x}").is_err(),
        "kind is required"
    );

    // Re-applying replaces and bumps the generation only for spec changes.
    let again = server
        .apply_yaml(&yaml.replace("replicas: 2", "replicas: 3"))
        .unwrap();
    assert_eq!(again[1]["metadata"]["generation"], 2);
    assert_eq!(again[1]["metadata"]["uid"], rollout["metadata"]["uid"]);

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "team", &resource);
    assert_eq!(api.get("demo").await.unwrap().data["spec"]["replicas"], 3);
    assert!(
        server
            .delete("argoproj.io/v1alpha1", "rollouts", Some("team"), "demo")
            .is_some()
    );
    assert!(
        server
            .delete("argoproj.io/v1alpha1", "rollouts", Some("team"), "demo")
            .is_none()
    );
    assert!(server.requests().iter().all(|r| r.status == 200));
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn recorder_events_and_metadata_lists() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm = api
        .create(&PostParams::default(), &config_map("subject", &[]))
        .await
        .unwrap();
    let recorder = Recorder::new(client.clone(), Reporter::from("weir-test"));
    let event = Event {
        type_: EventType::Normal,
        reason: "Tested".into(),
        note: Some("hello".into()),
        action: "Testing".into(),
        secondary: None,
    };
    let reference = cm.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events = server.list("events", Some("default"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["series"]["count"], 2);

    let metadata = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(names(metadata.items), ["subject"]);
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
}

#[tokio::test]
async fn min_ready_seconds_and_ready_delay_knob() {
    let (server, client) = start().await;
    server.set_pod_ready_after(Duration::from_millis(10));
    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client);
    let mut rs = replica_set("slow", 2, "app:v1");
    rs.spec.as_mut().unwrap().min_ready_seconds = Some(1);
    rs_api.create(&PostParams::default(), &rs).await.unwrap();
    // Availability needs a timer past minReadySeconds: no further event would trigger it.
    eventually("pods available after minReadySeconds", || async {
        (replica_counts(&rs_api, "slow").await == (2, 2, 2)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn delete_collection_and_orphans() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let owner = api
        .create(
            &PostParams::default(),
            &config_map("owner", &[("group", "a")]),
        )
        .await
        .unwrap();
    let mut orphan = config_map("orphan", &[]);
    orphan.metadata.owner_references =
        Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap(),
    })).unwrap()]);
    api.create(&PostParams::default(), &orphan).await.unwrap();
    api.create(
        &PostParams::default(),
        &config_map("other", &[("group", "a")]),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &config_map("keep", &[("group", "b")]),
    )
    .await
    .unwrap();

    let deleted = api
        .delete_collection(
            &DeleteParams::orphan(),
            &ListParams::default().labels("group=a"),
        )
        .await
        .unwrap();
    let deleted = deleted.left().expect("a list of deleted objects");
    assert_eq!(names(deleted.items), ["other", "owner"]);
    assert_eq!(
        names(api.list(&ListParams::default()).await.unwrap()),
        ["keep", "orphan"]
    );
    assert_eq!(server.write_count("configmaps", None), 5);
}

#[tokio::test]
async fn shutdown_ends_open_watches() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    server.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.try_next().await {}
    })
    .await;
    assert!(
        end.is_ok(),
        "the watch stream should end when the server stops"
    );
    assert!(api.list(&ListParams::default()).await.is_err());
}

#[tokio::test]
async fn bad_input_is_answered_with_status() {
    use axum::http::Request;
    let (server, client) = start().await;
    let send = |method: &str, uri: &str, content_type: &str, body: &str| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .body(body.as_bytes().to_vec())
            .unwrap();
        let client = client.clone();
        async move { api_error(client.request::<serde_json::Value>(request).await) }
    };
    let cms = "/api/v1/namespaces/default/configmaps";
    assert_eq!(
        send("POST", cms, "application/json", "{not json").await.0,
        400
    );
    assert_eq!(send("POST", cms, "application/json", "[1, 2]").await.0, 400);
    assert_eq!(
        send("POST", cms, "application/json", r#"{"metadata": 7}"#)
            .await
            .0,
        400
    );
    let missing_name = send("POST", cms, "application/json", r#"{"data": {}}"#).await;
    assert_eq!(missing_name, (422, "Invalid".to_string()));
    assert_eq!(send("GET", "/nope", "", "").await.0, 404);
    assert_eq!(
        send("GET", &format!("{cms}?labelSelector=a%20b%3Dc"), "", "")
            .await
            .0,
        400
    );
    assert_eq!(
        send("GET", &format!("{cms}?watch=1&resourceVersion=x"), "", "")
            .await
            .0,
        400
    );
    assert_eq!(
        send("POST", &format!("{cms}/x"), "application/json", "{}")
            .await
            .0,
        405
    );
    assert_eq!(
        send("POST", "/api/v1/pods", "application/json", "{}")
            .await
            .0,
        405
    );

    server
        .apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n")
        .unwrap();
    let patch = |content_type: &'static str, body: &'static str| {
        send(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/cm",
            content_type,
            body,
        )
    };
    assert_eq!(patch("text/plain", "{}").await.0, 415);
    assert_eq!(patch("application/json-patch+json", "{}").await.0, 400);
    assert_eq!(patch("application/merge-patch+json", "[").await.0, 400);
    assert_eq!(patch("application/merge-patch+json", "7").await.0, 400);
    let rename = r#"{"metadata": {"name": "other"}}"#;
    assert_eq!(patch("application/merge-patch+json", rename).await.0, 400);
    assert!(server.get("v1", "configmaps", None, "cm").is_some());
}
