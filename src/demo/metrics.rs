//! The demo's metrics source: a loopback endpoint answering Prometheus' instant-query API with
//! one sample, the error rate the demo sets. The controller queries it like any Prometheus.

use axum::Router;
use axum::routing::any;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct MetricsSource {
    url: String,
    error_rate: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MetricsSource {
    pub async fn start(error_rate: f64) -> std::io::Result<MetricsSource> {
        let rate = Arc::new(AtomicU64::new(error_rate.to_bits()));
        let served = rate.clone();
        let app = Router::new().route(
            "/api/v1/query",
            any(move || {
                let value = f64::from_bits(served.load(Ordering::Relaxed));
                async move {
                    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
                    axum::Json(json!({
                        "status": "success",
                        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [now, value.to_string()]}]}
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(MetricsSource {
            url,
            error_rate: rate,
            stop: Some(stop),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn set_error_rate(&self, value: f64) {
        self.error_rate.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl Drop for MetricsSource {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
