//! The Prometheus metric provider against a real Prometheus (the `support/prometheus.rs`
//! fixture) and, for authentication, fallbacks and failures, against small fakes of its HTTP API
//! on loopback.

#[path = "support/prometheus.rs"]
mod prometheus_support;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use prometheus_support::Prometheus;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir::analysis::providers::prometheus::{
    Auth, DEFAULT_TIMEOUT, Measured, PrometheusRequest, ProviderError, WARNINGS_KEY, measure,
};
use weir::analysis::value::MetricValue;

const REQUESTS: &str = "http_requests_total";

fn request(address: &str, query: &str) -> PrometheusRequest {
    PrometheusRequest {
        address: address.to_string(),
        query: query.to_string(),
        timeout: DEFAULT_TIMEOUT,
        insecure: false,
        headers: vec![],
        auth: None,
        range_query: false,
    }
}

async fn query(prom: &Prometheus, promql: &str) -> Result<Measured, ProviderError> {
    measure(&request(&prom.url(), promql)).await
}

/// Prometheus with three request counters scraped at least once.
async fn seeded() -> Prometheus {
    let prom = Prometheus::new().await;
    prom.set(
        REQUESTS,
        &[("service", "nodejs-app"), ("status", "200")],
        97.0,
    );
    prom.set(
        REQUESTS,
        &[("service", "nodejs-app"), ("status", "500")],
        3.0,
    );
    prom.set(
        REQUESTS,
        &[("service", "other-app"), ("status", "200")],
        50.0,
    );
    prom.wait_for(&format!("count({REQUESTS}) == 3")).await;
    prom
}

fn vector(value: &MetricValue) -> Vec<f64> {
    match value {
        MetricValue::Vector(values) => values.clone(),
        other => panic!("expected a vector, got {other:?}"),
    }
}

#[tokio::test]
async fn vector_results() {
    let prom = seeded().await;

    let by_service = query(&prom, &format!("sum by (service) ({REQUESTS})"))
        .await
        .unwrap();
    let mut values = vector(&by_service.value);
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![50.0, 100.0]);
    assert!(by_service.metadata.is_empty(), "{:?}", by_service.metadata);

    let success_rate = query(
        &prom,
        &format!(
            r#"sum({REQUESTS}{{service="nodejs-app",status!~"5.*"}}) / sum({REQUESTS}{{service="nodejs-app"}})"#
        ),
    )
    .await
    .unwrap();
    assert_eq!(success_rate.value, MetricValue::Vector(vec![0.97]));
    assert_eq!(success_rate.value.to_value_string(), "[0.97]");
}

#[tokio::test]
async fn scalar_results_nan_and_empty_vectors() {
    let prom = seeded().await;

    let total = query(
        &prom,
        &format!(r#"scalar(sum({REQUESTS}{{status="200"}}))"#),
    )
    .await
    .unwrap();
    assert_eq!(total.value, MetricValue::Scalar(147.0));
    assert_eq!(total.value.to_value_string(), "147");

    let literal = query(&prom, "0.5").await.unwrap();
    assert_eq!(literal.value, MetricValue::Scalar(0.5));

    let nan = query(&prom, "0/0").await.unwrap();
    assert!(
        matches!(nan.value, MetricValue::Scalar(v) if v.is_nan()),
        "{:?}",
        nan.value
    );
    assert_eq!(nan.value.to_value_string(), "NaN");

    let missing = query(&prom, &format!(r#"{REQUESTS}{{service="missing"}}"#))
        .await
        .unwrap();
    assert_eq!(missing.value, MetricValue::Vector(vec![]));
    assert_eq!(missing.value.to_value_string(), "[]");
}

#[tokio::test]
async fn matrix_results_are_flattened_series_after_series() {
    let prom = seeded().await;
    let selector = format!(r#"{REQUESTS}{{service="nodejs-app"}}"#);
    // Two scrapes of each series inside the window.
    prom.wait_for(&format!("min(count_over_time({selector}[10s])) >= 2"))
        .await;

    let measured = query(&prom, &format!("{selector}[10s]")).await.unwrap();
    let values = vector(&measured.value);
    // Prometheus orders series by labels: every status="200" sample (97), then every "500" (3).
    let split = values.iter().position(|v| *v == 3.0).unwrap();
    assert!(split >= 2, "{values:?}");
    assert!(values[..split].iter().all(|v| *v == 97.0), "{values:?}");
    assert!(values[split..].iter().all(|v| *v == 3.0), "{values:?}");
    assert!(values.len() - split >= 2, "{values:?}");
}

#[tokio::test]
async fn promql_errors_and_string_results() {
    let prom = Prometheus::new().await;

    let err = query(&prom, "sum(").await.unwrap_err();
    match &err {
        ProviderError::Query {
            error_type,
            message,
            ..
        } => {
            assert_eq!(error_type, "bad_data");
            assert!(message.contains("parse error"), "{message}");
        }
        other => panic!("expected a query error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&prom.url()), "{text}");
    assert!(
        text.contains("bad_data") && text.contains("parse error"),
        "{text}"
    );

    let err = query(&prom, r#""hello""#).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::UnsupportedResult { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("Prometheus metric type not supported"),
        "{err}"
    );
}

#[tokio::test]
async fn fixture_restarts_on_the_same_storage() {
    let mut prom = Prometheus::new().await;
    prom.set("weir_restart_marker", &[], 42.0);
    prom.wait_for("weir_restart_marker").await;
    prom.remove("weir_restart_marker", &[]);

    prom.stop();
    let err = query(&prom, "weir_restart_marker").await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err:?}");

    prom.start().await;
    // Only storage can answer this: the exporter no longer serves the marker.
    prom.wait_for("max_over_time(weir_restart_marker[1h])")
        .await;
    let measured = query(&prom, "max_over_time(weir_restart_marker[1h])")
        .await
        .unwrap();
    assert_eq!(measured.value, MetricValue::Vector(vec![42.0]));
}

#[tokio::test]
async fn fixture_counters_grow_at_the_set_rate() {
    let prom = Prometheus::new().await;
    prom.set_rate(
        REQUESTS,
        &[("service", "nodejs-app"), ("status", "200")],
        97.0,
    );
    prom.set_rate(
        REQUESTS,
        &[("service", "nodejs-app"), ("status", "500")],
        3.0,
    );
    prom.wait_for(&format!("min(count_over_time({REQUESTS}[1m])) >= 3"))
        .await;

    let per_second = query(&prom, &format!("sum(irate({REQUESTS}[1m]))"))
        .await
        .unwrap();
    let per_second = vector(&per_second.value)[0];
    assert!((90.0..110.0).contains(&per_second), "{per_second}");

    let success_rate = query(
        &prom,
        &format!(r#"sum(rate({REQUESTS}{{status!~"5.."}}[1m])) / sum(rate({REQUESTS}[1m]))"#),
    )
    .await
    .unwrap();
    let success_rate = vector(&success_rate.value)[0];
    assert!((success_rate - 0.97).abs() < 0.01, "{success_rate}");
}

const ONE_SAMPLE: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.97"]}]}}"#;

/// Serves `router` on a loopback port for the rest of the test; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// A Prometheus API that wants `Authorization: Bearer s3cret` or basic `weir:hunter2`, and the
/// tenant header, as a multi-tenant proxy in front of Prometheus would.
async fn guarded_api() -> String {
    let handler = |headers: HeaderMap| async move {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        let tenant = headers.get("x-scope-orgid").and_then(|v| v.to_str().ok());
        let authorized = matches!(auth, Some("Bearer s3cret" | "Basic d2VpcjpodW50ZXIy"));
        if authorized && tenant == Some("tenant-a") {
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                ONE_SAMPLE,
            )
        } else {
            (
                StatusCode::UNAUTHORIZED,
                [("content-type", "text/plain")],
                "unauthorized",
            )
        }
    };
    serve(Router::new().route("/api/v1/query", get(handler).post(handler))).await
}

#[tokio::test]
async fn authentication_and_custom_headers() {
    let address = guarded_api().await;
    let tenant = ("X-Scope-OrgID".to_string(), "tenant-a".to_string());

    let mut bearer = request(&address, "up");
    bearer.auth = Some(Auth::Bearer("s3cret".to_string()));
    bearer.headers = vec![tenant.clone()];
    let measured = measure(&bearer).await.unwrap();
    assert_eq!(measured.value, MetricValue::Vector(vec![0.97]));

    let mut basic = request(&address, "up");
    basic.auth = Some(Auth::Basic {
        username: "weir".to_string(),
        password: "hunter2".to_string(),
    });
    basic.headers = vec![tenant.clone()];
    assert!(measure(&basic).await.is_ok());

    // As in Argo, a custom Authorization header replaces the configured authentication.
    let mut overridden = request(&address, "up");
    overridden.auth = Some(Auth::Bearer("wr0ng-token".to_string()));
    overridden.headers = vec![
        ("Authorization".to_string(), "Bearer s3cret".to_string()),
        tenant.clone(),
    ];
    assert!(measure(&overridden).await.is_ok());

    let mut wrong = request(&address, "up");
    wrong.auth = Some(Auth::Bearer("wr0ng-token".to_string()));
    wrong.headers = vec![tenant.clone()];
    let err = measure(&wrong).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Http { status: 401, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&address) && text.contains("401"), "{text}");

    let mut no_tenant = request(&address, "up");
    no_tenant.auth = Some(Auth::Basic {
        username: "weir".to_string(),
        password: "hunter2".to_string(),
    });
    let err = measure(&no_tenant).await.unwrap_err();
    for shown in [err.to_string(), format!("{err:?}"), text] {
        for secret in [
            "s3cret",
            "wr0ng-token",
            "hunter2",
            "d2VpcjpodW50ZXIy",
            "tenant-a",
        ] {
            assert!(!shown.contains(secret), "{secret:?} leaked in {shown}");
        }
    }

    let mut half_basic = request(&address, "up");
    half_basic.auth = Some(Auth::Basic {
        username: "weir".to_string(),
        password: String::new(),
    });
    let err = measure(&half_basic).await.unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
}

#[tokio::test]
async fn post_falls_back_to_get_under_a_path_prefix() {
    let methods = Arc::new(Mutex::new(Vec::new()));
    let (on_get, on_post) = (methods.clone(), methods.clone());
    let router = Router::new().route(
        "/prometheus/api/v1/query",
        get(
            move |axum::extract::Query(params): axum::extract::Query<Vec<(String, String)>>| async move {
                on_get.lock().unwrap().push(format!("GET {params:?}"));
                ([("content-type", "application/json")], ONE_SAMPLE)
            },
        )
        .post(move |body: String| async move {
            on_post.lock().unwrap().push(format!("POST {body}"));
            StatusCode::METHOD_NOT_ALLOWED
        }),
    );
    let address = format!("{}/prometheus/", serve(router).await);

    let measured = measure(&request(&address, "up == 1")).await.unwrap();
    assert_eq!(measured.value, MetricValue::Vector(vec![0.97]));

    let methods = methods.lock().unwrap().clone();
    assert_eq!(methods.len(), 2, "{methods:?}");
    assert!(
        methods[0].starts_with("POST query=up+%3D%3D+1&time="),
        "{methods:?}"
    );
    assert!(
        methods[1].starts_with(r#"GET [("query", "up == 1"), ("time", "#),
        "{methods:?}"
    );
}

#[tokio::test]
async fn warnings_go_into_measurement_metadata() {
    let body = r#"{"status":"success","warnings":["remote read failed","partial"],
        "data":{"resultType":"scalar","result":[1700000000,"1"]}}"#;
    let address = serve(Router::new().route(
        "/api/v1/query",
        post(move || async move { ([("content-type", "application/json")], body) }),
    ))
    .await;

    let measured = measure(&request(&address, "1")).await.unwrap();
    assert_eq!(measured.value, MetricValue::Scalar(1.0));
    assert_eq!(
        measured.metadata.get(WARNINGS_KEY).map(String::as_str),
        Some(r#""remote read failed", "partial""#)
    );
}

#[tokio::test]
async fn a_hanging_endpoint_times_out() {
    // Accepts the request and never answers.
    let address =
        serve(Router::new().route("/api/v1/query", post(std::future::pending::<&'static str>)))
            .await;
    let mut req = request(&address, "up");
    req.timeout = Duration::from_secs(1);

    let err = measure(&req).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&address) && text.contains("timed out after 1 s"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_address() {
    // Bound then released: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");

    let err = measure(&request(&address, "up")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&address) && text.contains("unreachable"),
        "{text}"
    );
}

#[tokio::test]
async fn invalid_requests_fail_before_any_network() {
    let err = measure(&request("prometheus:9090", "up"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::InvalidAddress { .. }),
        "{err:?}"
    );

    let mut range = request("http://127.0.0.1:9", "up");
    range.range_query = true;
    let err = measure(&range).await.unwrap_err();
    assert!(
        err.to_string().contains("rangeQuery is not supported"),
        "{err}"
    );

    let mut bad_header = request("http://127.0.0.1:9", "up");
    bad_header.headers = vec![("X-Token".to_string(), "line\nbreak-s3cret".to_string())];
    let err = measure(&bad_header).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("X-Token") && !text.contains("s3cret"),
        "{text}"
    );
}
