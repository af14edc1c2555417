//! Secret-backed analysis args are used for the query and headers but never appear in the
//! AnalysisRun, the Rollout, Events or the controller's logs (Argo shows them as `*****`).
//! Its own test binary: it installs a global log subscriber that captures everything.

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::prometheus::Prometheus;
use support::*;

const SECRET: &str = "s3cr3t-t0ken-7f1c";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secret_args_never_leak() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .init();

    let prom = Prometheus::new().await;
    prom.set_rate(
        "http_requests_total",
        &[("service", "web"), ("status", "200")],
        10.0,
    );
    prom.wait_for("sum(rate(http_requests_total[5m])) > 0")
        .await;
    let mut bed = Bed::new().await;
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "prom-auth", "namespace": bed.ns},
        "stringData": {"token": SECRET}
    }))
    .unwrap();
    Api::<Secret>::namespaced(bed.client.clone(), &bed.ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let yaml = format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: authed}}
spec:
  args:
  - name: token
    valueFrom: {{secretKeyRef: {{name: prom-auth, key: token}}}}
  metrics:
  - name: authed
    count: 1
    successCondition: len(result) > 0
    provider:
      prometheus:
        address: {}
        headers: [{{key: Authorization, value: "Bearer {{{{args.token}}}}"}}]
        query: 'sum(rate(http_requests_total{{job!="{{{{args.token}}}}"}}[5m]))'
---
apiVersion: v1
kind: Service
metadata: {{name: web-stable}}
spec: {{selector: {{app: web}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web-canary}}
spec: {{selector: {{app: web}}}}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: web-vsvc}}
spec:
  http:
  - name: primary
    route:
    - {{destination: {{host: web-stable}}, weight: 100}}
    - {{destination: {{host: web-canary}}, weight: 0}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: "registry.k8s.io/pause:3.9"}}]}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting: {{istio: {{virtualService: {{name: web-vsvc}}}}}}
      steps:
      - setWeight: 50
      - analysis: {{templates: [{{templateName: authed}}]}}
"#,
        prom.url()
    );
    bed.apply(&yaml).await;
    bed.start_controller();
    let first = bed
        .wait_rollout("web", "initial deploy", |r| phase(r) == "Healthy")
        .await;
    let h1 = first.status.and_then(|s| s.stable_rs).unwrap();
    bed.set_image("web", "registry.k8s.io/pause:3.10").await;
    let done = bed
        .wait_rollout("web", "analysis done, promoted", |r| {
            phase(r) == "Healthy" && status_hash(r).0.as_deref() != Some(h1.as_str())
        })
        .await;

    let runs = bed.runs().await;
    assert_eq!(runs.len(), 1);
    let run_json = serde_json::to_string(&runs[0]).unwrap();
    assert!(
        run_json.contains("\"Successful\""),
        "the secret was used to measure: {run_json}"
    );
    assert!(
        run_json.contains("secretKeyRef"),
        "the run keeps the reference, not the value"
    );
    assert!(
        run_json.contains(
            r#""ResolvedPrometheusQuery":"sum(rate(http_requests_total{job!=\"*****\"}[5m]))""#
        ),
        "the resolved query is recorded with the secret redacted: {run_json}"
    );
    let base64 = {
        use std::fmt::Write as _;
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = SECRET.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    let _ = out.write_char(char::from(table[((n >> (18 - 6 * i)) & 63) as usize]));
                }
            }
        }
        out
    };
    let events = format!("{:?}", bed.events().await);
    let rollout_json = serde_json::to_string(&done).unwrap();
    bed.finish().await;
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(logs.contains("measurement"), "logs were captured");
    assert!(
        logs.contains("*****"),
        "the query is logged with the secret redacted"
    );
    for line in logs.lines().filter(|l| l.contains(SECRET)) {
        eprintln!("LEAK: {line}");
    }
    for (what, text) in [
        ("AnalysisRun", &run_json),
        ("Rollout", &rollout_json),
        ("events", &events),
        ("logs", &logs),
    ] {
        assert!(!text.contains(SECRET), "the secret appears in the {what}");
        assert!(
            !text.contains(&base64[..base64.len() - 2]),
            "the base64 secret appears in the {what}"
        );
    }
}
