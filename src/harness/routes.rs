//! HTTP front end: parses Kubernetes REST paths and queries, dispatches verbs to the store,
//! and logs every request. Every failure is answered with a `Status` object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::error::ApiError;
use super::log::{RequestLog, RequestRecord};
use super::meta::{self, GroupResource};
use super::patch::{Patch, PatchKind};
use super::selector::{FieldSelector, Filter, LabelSelector};
use super::store::{Part, Since, Store};
use super::watch::{WatchRequest, watch_body};

/// Request bodies beyond this are refused; real API servers cap at about 3 MiB.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Watches without `timeoutSeconds` end after this, like the real server's 30–60 minutes.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub log: Arc<RequestLog>,
    pub shutdown: watch::Receiver<bool>,
    pub bookmark_interval: Duration,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A parsed resource path.
struct Target {
    resource: GroupResource,
    /// `v1` or `group/version`, as requested.
    api_version: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

enum Route {
    Version,
    Resource(Target),
}

fn parse_path(path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let no_route = || ApiError::no_route(path);
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(no_route()),
    };
    // `namespaces/{name}/status` is the namespace's own subresource, not a collection.
    let (namespace, plural, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(*ns), *plural, tail)
        }
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Err(no_route()),
    };
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(*name), None),
        [name, sub] => (Some(*name), Some(*sub)),
        _ => return Err(no_route()),
    };
    let resource = GroupResource::new(group, plural);
    if resource.cluster_scoped() && namespace.is_some() {
        return Err(no_route());
    }
    // `status` for kinds that have it; `eviction` (the Eviction API) for pods.
    let supported = |sub: &str| {
        (sub == "status" && resource.has_status()) || (sub == "eviction" && plural == "pods")
    };
    if subresource.is_some_and(|sub| !supported(sub)) {
        return Err(no_route());
    }
    Ok(Route::Resource(Target {
        api_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        resource,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
    }))
}

async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let content_type = header_str(request.headers(), header::CONTENT_TYPE);
    let route = parse_path(uri.path());
    let mut write = None;
    let response = match route {
        Ok(Route::Version) => Json(version_info()).into_response(),
        Ok(Route::Resource(target)) => {
            if matches!(
                method,
                Method::POST | Method::PUT | Method::PATCH | Method::DELETE
            ) {
                write = Some((target.resource.plural.clone(), target.subresource.clone()));
            }
            serve(&state, &target, request)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
        Err(error) => error.into_response(),
    };
    let status = response.status().as_u16();
    tracing::debug!(%method, %uri, status, "harness request");
    state.log.record(
        RequestRecord {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            content_type,
            status,
        },
        write,
    );
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-weir-harness",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}

/// Query parameters; unknown ones are ignored and the last of repeated ones wins.
struct Params(HashMap<String, String>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// How a response renders objects: whole, or as `PartialObjectMetadata` when asked via Accept.
#[derive(Clone, Copy)]
struct View {
    metadata_only: bool,
}

impl View {
    fn object(self, status: StatusCode, obj: &Value) -> Response {
        if self.metadata_only {
            (status, Json(meta::partial_metadata(obj))).into_response()
        } else {
            (status, Json(obj)).into_response()
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    kind: String,
    api_version: &'a str,
    metadata: Value,
    items: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBodyRef<'a> {
    kind: String,
    api_version: &'a str,
    metadata: Value,
    items: Vec<&'a Value>,
}

async fn serve(state: &AppState, target: &Target, request: Request) -> Result<Response, ApiError> {
    let params = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map(|Query(pairs)| Params(pairs.into_iter().collect()))
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
    let view = View {
        metadata_only: header_str(request.headers(), header::ACCEPT)
            .is_some_and(|accept| accept.contains("as=PartialObjectMetadata")),
    };
    let content_type = header_str(request.headers(), header::CONTENT_TYPE);
    let method = request.method().clone();
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large())?;

    let res = &target.resource;
    let namespace = target.namespace.as_deref().unwrap_or_default();
    let part = if target.subresource.is_some() {
        Part::Status
    } else {
        Part::Main
    };
    // Namespaced kinds can be listed and watched across namespaces, but not written there.
    let writable = res.cluster_scoped() || target.namespace.is_some();
    let parse_body = || {
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    };

    match (&method, target.name.as_deref()) {
        (&Method::GET, None) if params.flag("watch") => watch(state, target, &params, view),
        (&Method::GET, None) => list(state, target, &params, view),
        (&Method::GET, Some(name)) => state
            .store
            .get(res, namespace, name)
            .map(|obj| view.object(StatusCode::OK, &obj))
            .ok_or_else(|| ApiError::not_found(&res.qualified(), name)),
        (&Method::POST, Some(name))
            if writable && target.subresource.as_deref() == Some("eviction") =>
        {
            // No PodDisruptionBudgets here: an eviction always succeeds and deletes the pod.
            state.store.delete(res, namespace, name, false)?;
            Ok((
                StatusCode::CREATED,
                Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})),
            )
                .into_response())
        }
        (&Method::POST, None) if writable => {
            let obj = state
                .store
                .create(res, namespace, parse_body()?, Part::Main)?;
            Ok(view.object(StatusCode::CREATED, &obj))
        }
        (&Method::PUT, Some(name)) if writable => {
            let desired = parse_body()?;
            let obj = state
                .store
                .update(res, namespace, name, part, |_| Ok(desired))?;
            Ok(view.object(StatusCode::OK, &obj))
        }
        (&Method::PATCH, Some(name)) if writable => {
            let kind = PatchKind::from_content_type(content_type.as_deref())?;
            let patch = Patch::parse(kind, &body)?;
            let mut created = false;
            let obj = state
                .store
                .upsert(res, namespace, name, part, |current| match current {
                    Some(current) => patch.apply_to(current),
                    None => match patch.apply_body() {
                        Some(body) => {
                            created = true;
                            Ok(body.clone())
                        }
                        None => Err(ApiError::not_found(&res.qualified(), name)),
                    },
                })?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(view.object(status, &obj))
        }
        (&Method::DELETE, Some(name)) if writable => {
            let obj = state
                .store
                .delete(res, namespace, name, orphans(&params, &body))?;
            Ok(view.object(StatusCode::OK, &obj))
        }
        (&Method::DELETE, None) if writable => {
            let filter = filter(target, &params)?;
            let snapshot = state.store.list(res, target.namespace.as_deref());
            let orphan = orphans(&params, &body);
            let items = snapshot
                .items
                .iter()
                .filter(|obj| filter.matches(obj))
                .filter_map(|obj| {
                    let name = meta::name(obj)?;
                    let ns = meta::meta_str(obj, "namespace").unwrap_or_default();
                    state.store.delete(res, ns, name, orphan).ok()
                })
                .map(|obj| render(&obj, view))
                .collect();
            let body = ListBody {
                kind: list_kind(&snapshot.kind, view),
                api_version: list_api_version(&target.api_version, view),
                metadata: json!({"resourceVersion": state.store.current_rv().to_string()}),
                items,
            };
            Ok(Json(body).into_response())
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

fn render(obj: &Value, view: View) -> Value {
    if view.metadata_only {
        meta::partial_metadata(obj)
    } else {
        obj.clone()
    }
}

fn list_kind(kind: &str, view: View) -> String {
    if view.metadata_only {
        "PartialObjectMetadataList".to_string()
    } else {
        format!("{kind}List")
    }
}

fn list_api_version(api_version: &str, view: View) -> &str {
    if view.metadata_only {
        "meta.k8s.io/v1"
    } else {
        api_version
    }
}

/// `propagationPolicy=Orphan`, from the query or a `DeleteOptions` body.
fn orphans(params: &Params, body: &[u8]) -> bool {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|options| {
            options
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(|p| p == "Orphan")
        });
    from_body.unwrap_or(params.get("propagationPolicy") == Some("Orphan"))
}

fn filter(target: &Target, params: &Params) -> Result<Filter, ApiError> {
    Ok(Filter {
        namespace: target.namespace.clone(),
        labels: LabelSelector::parse(params.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(params.get("fieldSelector").unwrap_or_default())?,
    })
}

/// LIST returns everything at once: `limit` and `continue` are ignored, which clients accept
/// because the response carries no continue token.
fn list(
    state: &AppState,
    target: &Target,
    params: &Params,
    view: View,
) -> Result<Response, ApiError> {
    let filter = filter(target, params)?;
    let snapshot = state
        .store
        .list(&target.resource, target.namespace.as_deref());
    let metadata = json!({"resourceVersion": snapshot.rv.to_string()});
    let kind = list_kind(&snapshot.kind, view);
    let api_version = list_api_version(&target.api_version, view);
    let matching = snapshot.items.iter().filter(|obj| filter.matches(obj));
    // Full objects serialize by reference: lists of thousands of pods are common in benchmarks.
    Ok(if view.metadata_only {
        let items = matching.map(|obj| meta::partial_metadata(obj)).collect();
        Json(ListBody {
            kind,
            api_version,
            metadata,
            items,
        })
        .into_response()
    } else {
        let items = matching.map(|obj| &**obj).collect();
        Json(ListBodyRef {
            kind,
            api_version,
            metadata,
            items,
        })
        .into_response()
    })
}

fn watch(
    state: &AppState,
    target: &Target,
    params: &Params,
    view: View,
) -> Result<Response, ApiError> {
    let send_initial_events = params.flag("sendInitialEvents");
    let since = match params.get("resourceVersion") {
        _ if send_initial_events => Since::Now,
        None | Some("" | "0") => Since::Now,
        Some(rv) => Since::Version(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion: \"{rv}\"")))?,
        ),
    };
    let timeout =
        match params.get("timeoutSeconds") {
            Some(secs) => Duration::from_secs(secs.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds: \"{secs}\""))
            })?),
            None => DEFAULT_WATCH_TIMEOUT,
        };
    let request = WatchRequest {
        resource: target.resource.clone(),
        api_version: target.api_version.clone(),
        filter: filter(target, params)?,
        send_initial_events,
        bookmarks: params.flag("allowWatchBookmarks"),
        timeout,
        bookmark_interval: state.bookmark_interval,
        metadata_only: view.metadata_only,
    };
    let body = watch_body(state.store.clone(), request, since, state.shutdown.clone());
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse_path(path) {
            Ok(Route::Resource(target)) => target,
            _ => panic!("{path} did not parse as a resource"),
        }
    }

    #[test]
    fn paths() {
        let t = target("/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r/status");
        assert_eq!(t.resource, GroupResource::new("argoproj.io", "rollouts"));
        assert_eq!(t.api_version, "argoproj.io/v1alpha1");
        assert_eq!(t.namespace.as_deref(), Some("ns"));
        assert_eq!(t.name.as_deref(), Some("r"));
        assert_eq!(t.subresource.as_deref(), Some("status"));

        let t = target("/api/v1/namespaces/default");
        assert_eq!(t.resource.plural, "namespaces");
        assert_eq!(t.name.as_deref(), Some("default"));

        let t = target("/api/v1/pods");
        assert!(t.namespace.is_none() && t.name.is_none());

        for bad in [
            "/",
            "/api",
            "/apis/apps",
            "/api/v1/namespaces/ns/nodes",
            "/api/v1/namespaces/ns/configmaps/c/status",
            "/apis/apps/v1/namespaces/ns/replicasets/r/scale",
            "/api/v1/namespaces/ns/pods/p/status/extra",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
