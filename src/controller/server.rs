//! The controller's HTTP endpoints: `/metrics` on the metrics address, `/healthz` and
//! `/readyz` on the health address (one listener serves all three when the addresses match).

use super::health::Health;
use super::metrics::{CONTENT_TYPE, Metrics};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub fn metrics_routes(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()) }
        }),
    )
}

pub fn health_routes(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let health = health.clone();
                async move {
                    let (ready, body) = health.readiness();
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, body).into_response()
                }
            }),
        )
}

/// Parses Go-style listen addresses as Argo's flags take them: `:8090` listens on every
/// interface, `127.0.0.1:8090` on one.
pub fn parse_listen_addr(flag: &str, value: &str) -> Result<SocketAddr, String> {
    let full = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_string()
    };
    full.parse().map_err(|_| {
        format!("{flag} {value:?} is not a listen address; use :PORT or HOST:PORT, e.g. :8090")
    })
}

/// Binds every distinct address now, so a taken port fails start-up with a clear message.
pub async fn bind(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<Vec<(TcpListener, Router)>> {
    let listen = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr} for {what}: {e}"))
        })
    };
    if metrics_addr == health_addr {
        let router = metrics_routes(metrics).merge(health_routes(health));
        return Ok(vec![(
            listen(metrics_addr, "metrics and health").await?,
            router,
        )]);
    }
    Ok(vec![
        (
            listen(metrics_addr, "metrics").await?,
            metrics_routes(metrics),
        ),
        (listen(health_addr, "health").await?, health_routes(health)),
    ])
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let addr = listener.local_addr().ok();
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(?addr, error = %e, "HTTP endpoint stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_addr("--metrics-addr", ":8090").unwrap(),
            "0.0.0.0:8090".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("--health-addr", "127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        let err = parse_listen_addr("--metrics-addr", "8090").unwrap_err();
        assert!(
            err.contains("--metrics-addr") && err.contains(":PORT"),
            "{err}"
        );
    }
}
