//! A real Prometheus for tests, scraping metrics the test sets.
//!
//! [`Prometheus::new`] starts an in-process exporter (axum on its own thread and runtime, so it
//! keeps serving whatever the test's runtime is doing) and `/usr/bin/prometheus` scraping it
//! every second, with its config, TSDB and log in a fresh directory under the system temp dir.
//! It returns once Prometheus answers `/-/ready`. Prometheus must be installed: a test using
//! this fixture fails (never skips) when it is not. `WEIR_PROMETHEUS` overrides the binary.
//!
//! ```ignore
//! let mut prom = Prometheus::new().await;
//! prom.set("queue_depth", &[("queue", "orders")], 3.0); // a constant (gauge)
//! prom.set_rate("http_requests_total", &[("service", "nodejs-app"), ("status", "200")], 97.0);
//! prom.wait_for(r#"rate(http_requests_total{service="nodejs-app"}[1m]) > 0"#).await;
//! let address = prom.url(); // "http://127.0.0.1:<port>", for an AnalysisTemplate
//! prom.remove("queue_depth", &[("queue", "orders")]);
//! prom.stop(); // the address now refuses connections
//! prom.start().await; // same storage and port: earlier samples are still there
//! ```
//!
//! - `set` makes a series a constant; `set_rate` makes it a counter growing by that much per
//!   second from its current value (calling it again changes the slope; the counter never goes
//!   down). `irate(...)` then answers about that rate and ratios of `rate(...)` hold, give or
//!   take scrape jitter; `rate(x[5m])` alone reads low while the series is younger than the
//!   window, as Prometheus divides by the whole window. The exporter serves every series set and
//!   not removed (a removed series goes stale in Prometheus at the next scrape).
//! - Prometheus 2.42 applies its scrape targets on a 5 s tick, so the first scrape comes ~5 s
//!   after `new()`/`start()`; later changes show one scrape (≤ ~1 s) later. `wait_for(query)`
//!   polls until the query returns a non-empty result (a filter such as `== 97` waits for a
//!   particular value) and returns that result as JSON, panicking after 30 s with the last answer.
//! - Dropping the fixture kills Prometheus and the exporter and deletes the directory, except
//!   when the test is panicking: the directory (with `prometheus.log`) is then kept and named.

use prometheus_http_query::reqwest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

const DEFAULT_BINARY: &str = "/usr/bin/prometheus";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const WAIT_FOR_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Series text (`name{label="value"}`) to its sample, as the exporter serves them.
type Series = Arc<Mutex<BTreeMap<String, Sample>>>;

#[derive(Clone, Copy)]
enum Sample {
    Constant(f64),
    /// `base` at `since`, growing by `per_second`; computed at each scrape.
    Counter {
        base: f64,
        since: Instant,
        per_second: f64,
    },
}

impl Sample {
    fn value_at(self, now: Instant) -> f64 {
        match self {
            Sample::Constant(value) => value,
            Sample::Counter {
                base,
                since,
                per_second,
            } => base + per_second * now.duration_since(since).as_secs_f64(),
        }
    }
}

pub struct Prometheus {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    series: Series,
    exporter: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts the exporter and Prometheus; returns once Prometheus is ready.
    pub async fn new() -> Prometheus {
        let binary = find_binary();
        let dir = unique_dir();
        let series = Series::default();
        let (exporter_address, exporter) = start_exporter(series.clone());
        fs::write(dir.join("prometheus.yml"), config(exporter_address))
            .unwrap_or_else(|e| panic!("writing {}: {e}", dir.join("prometheus.yml").display()));
        let mut prometheus = Prometheus {
            binary,
            dir,
            port: free_port(),
            child: None,
            series,
            exporter: Some(exporter),
            http: reqwest::Client::new(),
        };
        prometheus.start().await;
        prometheus
    }

    /// Prometheus' base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves a series with a constant value, e.g.
    /// `set("http_requests_total", &[("service", "nodejs-app"), ("status", "200")], 97.0)`.
    pub fn set(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.lock_series()
            .insert(series_text(name, labels), Sample::Constant(value));
    }

    /// Serves a series as a counter increasing by `per_second` from now on, starting from its
    /// current value (0 for a new series): e.g. requests per second with a status code.
    pub fn set_rate(&self, name: &str, labels: &[(&str, &str)], per_second: f64) {
        let now = Instant::now();
        let mut series = self.lock_series();
        let key = series_text(name, labels);
        let base = series.get(&key).map_or(0.0, |sample| sample.value_at(now));
        series.insert(
            key,
            Sample::Counter {
                base,
                since: now,
                per_second,
            },
        );
    }

    /// Stops serving a series.
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        self.lock_series().remove(&series_text(name, labels));
    }

    /// Polls an instant query until its result is non-empty; returns `data.result`.
    pub async fn wait_for(&self, query: &str) -> Value {
        let deadline = Instant::now() + WAIT_FOR_TIMEOUT;
        loop {
            let answer = self
                .http
                .get(format!("{}/api/v1/query", self.url()))
                .query(&[("query", query)])
                .send()
                .await;
            let last = match answer {
                Ok(response) => {
                    let text = response.text().await.unwrap_or_default();
                    if let Ok(body) = serde_json::from_str::<Value>(&text)
                        && body["status"] == "success"
                    {
                        let result = &body["data"]["result"];
                        if !result.is_null() && result.as_array().is_none_or(|a| !a.is_empty()) {
                            return result.clone();
                        }
                    }
                    text
                }
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "Prometheus at {} returned no result for {query:?} within {WAIT_FOR_TIMEOUT:?}; \
                 last answer: {last}",
                self.url()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills Prometheus (SIGKILL, like a crash) and waits for it to exit. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already exited is fine: either way it is gone after wait().
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Prometheus on the same storage and port (a new port only if another process
    /// took it meanwhile); returns once it is ready. Does nothing while it is running.
    pub async fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        // The port was free when picked but another process may bind it before Prometheus
        // does; then Prometheus exits and we try another.
        for _ in 0..5 {
            let child = self.spawn();
            self.child = Some(child);
            match self.wait_ready().await {
                Ok(()) => return,
                Err(log) if log.contains("address already in use") => {
                    self.stop();
                    self.port = free_port();
                }
                Err(log) => {
                    self.stop();
                    panic!(
                        "Prometheus ({}) did not become ready; log {}:\n{}",
                        self.binary.display(),
                        self.log_path().display(),
                        tail(&log)
                    );
                }
            }
        }
        panic!("Prometheus found no free port on 127.0.0.1 after 5 attempts");
    }

    fn spawn(&self) -> Child {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log_path().display()));
        let stderr = log
            .try_clone()
            .unwrap_or_else(|e| panic!("duplicating the log handle: {e}"));
        Command::new(&self.binary)
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            // Relative console paths and any stray files stay inside the test's directory.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()))
    }

    /// Ok once `/-/ready` answers 200; Err(log) if Prometheus exits or takes too long.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready_url = format!("{}/-/ready", self.url());
        loop {
            if let Ok(response) = self.http.get(&ready_url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => None,
                Some(Ok(Some(status))) => Some(format!("Prometheus exited ({status})")),
                Some(Err(e)) => Some(format!("cannot check on Prometheus: {e}")),
                None => Some("Prometheus is not running".to_string()),
            };
            if let Some(why) = exited {
                return Err(format!("{why}\n{}", self.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}\n{}", self.log()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("prometheus.log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn lock_series(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Sample>> {
        // A panic while holding the lock leaves the map consistent (single inserts/removes).
        self.series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
        if let Some((shutdown, thread)) = self.exporter.take() {
            let _ = shutdown.send(());
            let _ = thread.join();
        }
        if std::thread::panicking() {
            eprintln!(
                "Prometheus fixture: keeping {} for inspection; log tail:\n{}",
                self.dir.display(),
                tail(&self.log())
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn find_binary() -> PathBuf {
    let binary = std::env::var_os("WEIR_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
    assert!(
        binary.is_file(),
        "this test needs a Prometheus server binary, but {} does not exist; install Prometheus \
         (Debian/Ubuntu: `apt-get install prometheus`) or point WEIR_PROMETHEUS at the binary",
        binary.display()
    );
    binary
}

fn unique_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "weir-prometheus-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    // create_dir (not _all) fails if the directory exists, so it is ours alone.
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("reading the bound port: {e}"))
        .port()
}

fn config(exporter: SocketAddr) -> String {
    // scrape_timeout must not exceed scrape_interval, and its default is 10 s.
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: weir-test\n    static_configs:\n      - targets: ['{exporter}']\n"
    )
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `name{a="x",b="y"}` in the text exposition format, labels sorted so the same series always
/// has the same key.
fn series_text(name: &str, labels: &[(&str, &str)]) -> String {
    let mut sorted = labels.to_vec();
    sorted.sort();
    let mut text = name.to_string();
    if !sorted.is_empty() {
        let rendered: Vec<String> = sorted
            .iter()
            .map(|(label, value)| {
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                format!("{label}=\"{escaped}\"")
            })
            .collect();
        text.push('{');
        text.push_str(&rendered.join(","));
        text.push('}');
    }
    text
}

/// The exposition format spells special values `NaN`, `+Inf` and `-Inf`.
fn sample_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        value.to_string()
    }
}

/// Serves `/metrics` on a loopback port from its own thread and runtime.
fn start_exporter(series: Series) -> (SocketAddr, (oneshot::Sender<()>, JoinHandle<()>)) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("binding the exporter's port: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("reading the exporter's port: {e}"));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("making the exporter's socket non-blocking: {e}"));
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("exporter runtime: {e}"));
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .unwrap_or_else(|e| panic!("exporter listener: {e}"));
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let series = series.clone();
                    async move { metrics_page(&series) }
                }),
            );
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap_or_else(|e| panic!("exporter: {e}"));
        });
    });
    (address, (shutdown, thread))
}

fn metrics_page(series: &Series) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let series = series
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    let mut page = String::new();
    for (text, sample) in series.iter() {
        // Writing to a String cannot fail.
        let _ = writeln!(page, "{text} {}", sample_text(sample.value_at(now)));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        page,
    )
}
