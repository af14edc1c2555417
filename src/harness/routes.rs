//! HTTP front end: authenticates the bearer token, parses Kubernetes REST paths and queries,
//! authorizes the request against the stored RBAC objects, serves discovery from the registry,
//! dispatches verbs to the store, and logs every request. Every failure is answered with a
//! `Status` object.

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
use super::rbac::{self, UserInfo};
use super::registry::Resource;
use super::selector::{FieldSelector, Filter, LabelSelector};
use super::store::{Part, Since, Store};
use super::tokens::Tokens;
use super::watch::{WatchRequest, watch_body};

/// Request bodies beyond this are refused; real API servers cap at about 3 MiB.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Watches without `timeoutSeconds` end after this, like the real server's 30–60 minutes.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub log: Arc<RequestLog>,
    pub tokens: Arc<Tokens>,
    pub shutdown: watch::Receiver<bool>,
    pub bookmark_interval: Duration,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A parsed resource path.
struct Target {
    resource: GroupResource,
    version: String,
    /// `v1` or `group/version`, as requested.
    api_version: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

enum Route {
    /// `/version`, `/healthz` and the like.
    Info(&'static str),
    /// `/api`, `/apis`, `/apis/{group}`, `/api/v1`, `/apis/{group}/{version}`.
    Discovery {
        group: Option<String>,
        version: Option<String>,
    },
    Resource(Target),
}

fn parse_path(path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let no_route = || ApiError::no_route(path);
    let discovery = |group: Option<&str>, version: Option<&str>| {
        Ok(Route::Discovery {
            group: group.map(str::to_string),
            version: version.map(str::to_string),
        })
    };
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Ok(Route::Info("version")),
        ["healthz"] | ["livez"] | ["readyz"] => return Ok(Route::Info("ok")),
        ["api"] => return discovery(Some(""), None),
        ["api", version] => return discovery(Some(""), Some(version)),
        ["apis"] => return discovery(None, None),
        ["apis", group] => return discovery(Some(group), None),
        ["apis", group, version] => return discovery(Some(group), Some(version)),
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
    Ok(Route::Resource(Target {
        api_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        version: version.to_string(),
        resource: GroupResource::new(group, plural),
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
    }))
}

/// The served resource a target addresses, with scope and subresource checked. A custom
/// resource's missing subresource is a NotFound naming the object, as the real server's CRD
/// handler answers (which is how an unguarded `/status` write to Argo's AnalysisRun fails).
fn resolve(store: &Store, target: &Target, path: &str) -> Result<Arc<Resource>, ApiError> {
    let resource = store
        .resource(&target.resource)
        .filter(|r| r.version(&target.version).is_some())
        .ok_or_else(|| ApiError::no_route(path))?;
    if !resource.namespaced && target.namespace.is_some() {
        return Err(ApiError::no_route(path));
    }
    if let Some(sub) = &target.subresource
        && !resource.has_subresource(&target.version, sub)
    {
        return Err(if resource.custom {
            ApiError::not_found(
                &resource.qualified(),
                target.name.as_deref().unwrap_or_default(),
            )
        } else {
            ApiError::no_route(path)
        });
    }
    Ok(resource)
}

/// The name a list or watch selects with `fieldSelector=metadata.name=<name>` (or `==`), which
/// RequestInfo reports as the request's name so that `resourceNames` rules match it; None if
/// it is not a valid path segment.
fn selected_name(uri: &axum::http::Uri) -> Option<String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    let (_, selector) = pairs.iter().find(|(k, _)| k == "fieldSelector")?;
    let name = selector.split(',').find_map(|term| {
        let (field, value) = term.split_once("==").or_else(|| term.split_once('='))?;
        (field.trim() == "metadata.name").then(|| value.trim())
    })?;
    let valid = !matches!(name, "" | "." | "..") && !name.contains(['/', '%']);
    valid.then(|| name.to_string())
}

/// Who sent the request: the user of a bearer token this server issued, or anonymous.
fn authenticate(tokens: &Tokens, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let Some(value) = header_str(headers, header::AUTHORIZATION) else {
        return Ok(UserInfo::anonymous());
    };
    value
        .strip_prefix("Bearer ")
        .and_then(|token| tokens.user(token.trim()))
        .ok_or_else(ApiError::unauthorized)
}

async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let content_type = header_str(request.headers(), header::CONTENT_TYPE);
    let watching = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let route = parse_path(uri.path());
    let user = authenticate(&state.tokens, request.headers());
    let mut record = RequestRecord {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        content_type,
        status: 0,
        user: user.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        verb: String::new(),
        group: None,
        resource: None,
        subresource: None,
        namespace: None,
        name: None,
        at: std::time::Instant::now(),
    };
    let mut write = None;
    let response = match (user, route) {
        (Err(error), _) | (_, Err(error)) => error.into_response(),
        (Ok(user), Ok(route)) => {
            let verb = match &route {
                Route::Resource(target) => {
                    rbac::verb(method.as_str(), target.name.is_some(), watching)
                }
                _ => rbac::verb(method.as_str(), true, false),
            };
            record.verb = verb.to_string();
            if let Route::Resource(target) = &route {
                record.group = Some(target.resource.group.clone());
                record.resource = Some(target.resource.plural.clone());
                record.subresource = target.subresource.clone();
                record.namespace = target.namespace.clone();
                record.name = target.name.clone();
            }
            let policy = state.store.policy();
            let selected = match verb {
                "list" | "watch" => selected_name(&uri),
                _ => None,
            };
            let allowed = match &route {
                Route::Resource(target) => policy.authorize(
                    &user,
                    &rbac::Request::Resource {
                        verb,
                        api_group: &target.resource.group,
                        resource: &target.resource.plural,
                        subresource: target.subresource.as_deref(),
                        namespace: target.namespace.as_deref(),
                        name: target.name.as_deref().or(selected.as_deref()),
                    },
                ),
                _ => policy.authorize(
                    &user,
                    &rbac::Request::NonResource {
                        verb,
                        path: uri.path(),
                    },
                ),
            };
            match (allowed, route) {
                (Err(message), _) => ApiError::forbidden(message).into_response(),
                (Ok(()), Route::Info(what)) => info(what),
                (Ok(()), Route::Discovery { group, version }) => discovery(
                    &state.store,
                    group.as_deref(),
                    version.as_deref(),
                    uri.path(),
                )
                .unwrap_or_else(IntoResponse::into_response),
                (Ok(()), Route::Resource(target)) => {
                    if matches!(
                        method,
                        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
                    ) {
                        write = Some((target.resource.plural.clone(), target.subresource.clone()));
                    }
                    match resolve(&state.store, &target, uri.path()) {
                        Ok(resource) => serve(&state, &resource, &target, request)
                            .await
                            .unwrap_or_else(IntoResponse::into_response),
                        Err(error) => error.into_response(),
                    }
                }
            }
        }
    };
    record.status = response.status().as_u16();
    tracing::debug!(%method, %uri, status = record.status, "harness request");
    state.log.record(record, write);
    response
}

fn info(what: &str) -> Response {
    match what {
        "version" => Json(version_info()).into_response(),
        _ => "ok".into_response(),
    }
}

fn discovery(
    store: &Store,
    group: Option<&str>,
    version: Option<&str>,
    path: &str,
) -> Result<Response, ApiError> {
    let registry = store.registry();
    let body = match (group, version) {
        (Some(""), None) => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        })),
        (None, _) => Some(registry.group_list()),
        (Some(group), None) => registry.group(group),
        (Some(group), Some(version)) => registry.resource_list(group, version),
    };
    body.map(|b| Json(b).into_response())
        .ok_or_else(|| ApiError::no_route(path))
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

async fn serve(
    state: &AppState,
    resource: &Resource,
    target: &Target,
    request: Request,
) -> Result<Response, ApiError> {
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
    let writable = !resource.namespaced || target.namespace.is_some();
    let parse_body = || {
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    };

    match (&method, target.name.as_deref()) {
        (&Method::GET, None) if params.flag("watch") => {
            watch(state, resource, target, &params, view)
        }
        (&Method::GET, None) => list(state, resource, target, &params, view),
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
                kind: list_kind(&resource.kind, view),
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
    resource: &Resource,
    target: &Target,
    params: &Params,
    view: View,
) -> Result<Response, ApiError> {
    let filter = filter(target, params)?;
    let snapshot = state
        .store
        .list(&target.resource, target.namespace.as_deref());
    let metadata = json!({"resourceVersion": snapshot.rv.to_string()});
    let kind = list_kind(&resource.kind, view);
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
    resource: &Resource,
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
        kind: resource.kind.clone(),
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
            "/api/v1/namespaces/ns/pods/p/status/extra",
            "/openapi/v2",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_path("/apis/apps"),
            Ok(Route::Discovery { .. })
        ));
        assert!(matches!(parse_path("/api"), Ok(Route::Discovery { .. })));
        assert!(matches!(parse_path("/version"), Ok(Route::Info(_))));

        // Scope and subresources are the registry's: checked once the resource is known.
        let store = Store::new(16);
        let resolved = |path: &str| resolve(&store, &target(path), path).map(|r| r.plural.clone());
        assert_eq!(
            resolved("/api/v1/namespaces/ns/pods/p/eviction").unwrap(),
            "pods"
        );
        for missing in [
            "/api/v1/namespaces/ns/nodes",
            "/api/v1/namespaces/ns/configmaps/c/status",
            "/apis/apps/v1/namespaces/ns/replicasets/r/scale",
            "/apis/apps/v2/namespaces/ns/replicasets",
            "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts",
        ] {
            assert_eq!(resolved(missing).unwrap_err().code, 404, "{missing}");
        }
    }

    #[test]
    fn a_list_by_metadata_name_names_its_object_for_rbac() {
        let cases = [
            (
                "/api/v1/namespaces/n/configmaps?fieldSelector=metadata.name%3Dcm",
                Some("cm"),
            ),
            (
                "/api/v1/namespaces/n/configmaps?fieldSelector=metadata.name%3D%3Dcm&watch=true",
                Some("cm"),
            ),
            (
                "/api/v1/namespaces/n/configmaps?fieldSelector=status.phase%3DX%2Cmetadata.name%3Dcm",
                Some("cm"),
            ),
            (
                "/api/v1/namespaces/n/configmaps?fieldSelector=metadata.name%21%3Dcm",
                None,
            ),
            (
                "/api/v1/namespaces/n/configmaps?fieldSelector=metadata.name%3D..",
                None,
            ),
            ("/api/v1/namespaces/n/configmaps", None),
        ];
        for (uri, expected) in cases {
            let uri: axum::http::Uri = uri.parse().unwrap();
            assert_eq!(selected_name(&uri).as_deref(), expected, "{uri}");
        }
    }
}
