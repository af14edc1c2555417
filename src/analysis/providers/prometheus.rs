//! Argo Rollouts' Prometheus metric provider: one instant query against the metric's
//! Prometheus, evaluated at "now", turned into the `result` a condition sees.
//!
//! Behaviour follows argo-rollouts' `metricproviders/prometheus/prometheus.go` and the
//! client_golang API client under it:
//! - the query is POSTed form-encoded to `<address>/api/v1/query` with `time=<now>` and sent
//!   again as a GET when the server answers 405 or 501 (client_golang's `DoGetFallback`, for
//!   proxies that only allow GET);
//! - the timeout bounds the whole exchange, fallback included (Argo's context deadline);
//! - custom headers are applied after authentication, so a custom `Authorization` header wins,
//!   as in Argo where the header round-tripper runs inside the basic-auth one;
//! - scalar → `Scalar`; vector → the sample values in returned order (labels dropped); matrix →
//!   every value of every series, series after series; anything else (a string) is an error,
//!   Argo's "Prometheus metric type not supported". An empty vector is a value, `[]`: the
//!   conditions decide what it means;
//! - warnings go into the measurement's metadata under `warnings`, formatted `"w1", "w2"`;
//!   `ResolvedPrometheusQuery` belongs to the metric result's metadata instead (see
//!   [`metric_result_metadata`]), which Argo fills even when the measurement fails.
//!
//! Error messages name the address (password redacted) and the failure; they never contain
//! header values, passwords or tokens.

use crate::analysis::value::MetricValue;
use prometheus_http_query::reqwest::{
    self, StatusCode, Url,
    header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue},
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Argo's timeout when the metric sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Metric result metadata key for the query as sent (arguments substituted).
pub const RESOLVED_QUERY_KEY: &str = "ResolvedPrometheusQuery";

/// Measurement metadata key for the warnings Prometheus returned with a result.
pub const WARNINGS_KEY: &str = "warnings";

/// One measurement's request, everything already resolved by the caller: `{{args.x}}`
/// substituted in the query, address and headers, Secret values fetched, defaults applied.
/// The provider does no templating and reads no Secrets.
#[derive(Clone, PartialEq)]
pub struct PrometheusRequest {
    /// The metric's address, else the controller's default; must be an http(s) URL with a host.
    pub address: String,
    pub query: String,
    /// Bounds the whole exchange; Argo's default is [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Custom headers, applied in order; a later header replaces an earlier one of the same name.
    pub headers: Vec<(String, String)>,
    pub auth: Option<Auth>,
    /// The metric asks for a range query (`rangeQuery`), which Weir does not support yet; the
    /// measurement then fails with [`ProviderError::RangeQueryUnsupported`] rather than
    /// silently running an instant query.
    pub range_query: bool,
}

/// Credentials sent in the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// Argo's `authentication.basicAuth`. Both empty means no authentication, as in Argo; only
    /// one of them empty is an error.
    Basic { username: String, password: String },
    /// A bearer token (e.g. one the caller obtained through OAuth2).
    Bearer(String),
}

// Debug output ends up in logs; it must not carry credentials or header values.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Auth::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
        }
    }
}

impl fmt::Debug for PrometheusRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("PrometheusRequest")
            .field("address", &shown_address(&self.address))
            .field("query", &self.query)
            .field("timeout", &self.timeout)
            .field("insecure", &self.insecure)
            .field("headers", &header_names)
            .field("auth", &self.auth)
            .field("range_query", &self.range_query)
            .finish()
    }
}

/// A successful measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub value: MetricValue,
    /// The measurement's metadata as Argo records it: `warnings` when Prometheus sent any,
    /// otherwise empty.
    pub metadata: BTreeMap<String, String>,
}

/// Why a measurement failed; the caller records it as the measurement's `Error` message.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("prometheus address {address:?} is not a URL: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error(
        "rangeQuery is not supported yet: Weir only runs instant Prometheus queries (Prometheus at {address})"
    )]
    RangeQueryUnsupported { address: String },
    #[error("invalid authentication for Prometheus at {address}: {reason}")]
    InvalidAuth { address: String, reason: String },
    #[error("invalid header {name:?} for Prometheus at {address}: {reason}")]
    InvalidHeader {
        address: String,
        name: String,
        reason: String,
    },
    #[error("cannot set up an HTTP client for Prometheus at {address}: {reason}")]
    Client { address: String, reason: String },
    #[error("Prometheus at {address} is unreachable: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("Prometheus query to {address} timed out after {}", seconds(.timeout))]
    Timeout { address: String, timeout: Duration },
    #[error("request to Prometheus at {address} failed: {reason}")]
    Request { address: String, reason: String },
    #[error("Prometheus at {address} answered HTTP {}", status_text(*.status))]
    Http { address: String, status: u16 },
    #[error("Prometheus at {address} rejected the query: {error_type}: {message}")]
    Query {
        address: String,
        error_type: String,
        message: String,
    },
    #[error(
        "Prometheus metric type not supported: the query returned {kind} (Prometheus at {address})"
    )]
    UnsupportedResult { address: String, kind: String },
    #[error("Prometheus at {address} sent an unreadable response: {reason}")]
    BadResponse { address: String, reason: String },
}

fn seconds(timeout: &Duration) -> String {
    format!("{} s", timeout.as_secs_f64())
}

fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status) {
        Ok(code) => code.to_string(),
        Err(_) => status.to_string(),
    }
}

/// The metric result's metadata Argo records for a Prometheus metric (its `GetMetadata`): the
/// query as resolved, when there is one.
pub fn metric_result_metadata(query: &str) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    if !query.is_empty() {
        metadata.insert(RESOLVED_QUERY_KEY.to_string(), query.to_string());
    }
    metadata
}

/// Takes one measurement: an instant query at now.
pub async fn measure(req: &PrometheusRequest) -> Result<Measured, ProviderError> {
    let base = parse_address(&req.address)?;
    let address = shown_address(&req.address);
    if req.range_query {
        return Err(ProviderError::RangeQueryUnsupported { address });
    }
    let client_error = |reason: String| ProviderError::Client {
        address: address.clone(),
        reason,
    };
    let http = http_client(req.insecure).map_err(|e| client_error(error_chain(&e)))?;
    let headers = request_headers(req, &http, &base, &address)?;
    let client = prometheus_http_query::Client::from(http, base.as_str())
        .map_err(|e| client_error(e.to_string()))?;

    // The query may carry Secret values substituted from args; the caller logs a redacted copy.
    tracing::debug!(address = %address, "querying Prometheus");
    // The deadline covers the whole exchange, fallback and body included, like Argo's context
    // deadline; dropping the exchange on expiry cancels the request.
    let exchange = exchange(&client, &req.query, headers, &address);
    let (status, body) = tokio::time::timeout(req.timeout, exchange)
        .await
        .map_err(|_| ProviderError::Timeout {
            address: address.clone(),
            timeout: req.timeout,
        })??;
    let (value, warnings) = interpret(status, &body, &address)?;

    let mut metadata = BTreeMap::new();
    if !warnings.is_empty() {
        let joined = warnings
            .iter()
            .map(|warning| format!("\"{warning}\""))
            .collect::<Vec<_>>()
            .join(", ");
        tracing::warn!(address = %address, warnings = %joined, "Prometheus returned warnings");
        metadata.insert(WARNINGS_KEY.to_string(), joined);
    }
    Ok(Measured { value, metadata })
}

/// One shared client per TLS mode, as Argo shares one transport per mode: building a verifying
/// client loads the system's root certificates, which is worth doing once, not per measurement.
/// Per-request settings (headers, deadline) are applied per request. Idle connections are not
/// kept: the clients are shared by every tokio runtime in the process (tests start one per
/// test) and a pooled connection dies with the runtime that opened it.
fn http_client(insecure: bool) -> Result<reqwest::Client, reqwest::Error> {
    static CLIENTS: Mutex<[Option<reqwest::Client>; 2]> = Mutex::new([None, None]);
    // The slots are only ever replaced whole, so a poisoned lock still holds usable clients.
    let mut clients = CLIENTS.lock().unwrap_or_else(PoisonError::into_inner);
    let slot = &mut clients[usize::from(insecure)];
    if let Some(client) = slot {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(insecure)
        .pool_max_idle_per_host(0)
        .build()?;
    *slot = Some(client.clone());
    Ok(client)
}

/// Argo accepts any URL with a scheme and a host; reqwest only speaks http(s), so anything else
/// is rejected here with a clearer message than a transport error would give.
fn parse_address(raw: &str) -> Result<Url, ProviderError> {
    let invalid = |reason: String| ProviderError::InvalidAddress {
        address: shown_address(raw),
        reason,
    };
    let mut url = Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(invalid("no host".to_string()));
    }
    // client_golang joins paths (`path.Join`), so `http://host/prom/` queries
    // `/prom/api/v1/query`; prometheus-http-query would produce `/prom//api/v1/query`.
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Ok(url)
}

/// The address as shown in messages: as written, with any password replaced (as Go's
/// `url.Redacted` does), even when the address does not parse.
fn shown_address(raw: &str) -> String {
    if let Ok(mut url) = Url::parse(raw) {
        if url.password().is_none() {
            return raw.to_string();
        }
        if url.set_password(Some("xxxxx")).is_ok() {
            return url.to_string();
        }
    }
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = raw[authority_start..]
        .find('/')
        .map_or(raw.len(), |i| authority_start + i);
    let authority = &raw[authority_start..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:xxxxx{}",
            &raw[..authority_start],
            &authority[..colon],
            &raw[authority_start + at..]
        ),
        _ => raw.to_string(),
    }
}

/// Authentication first, then custom headers replacing same-named ones (Go's `Header.Set`).
/// All values are marked sensitive so reqwest never prints them.
fn request_headers(
    req: &PrometheusRequest,
    http: &reqwest::Client,
    base: &Url,
    address: &str,
) -> Result<HeaderMap, ProviderError> {
    let invalid_auth = |reason: &str| ProviderError::InvalidAuth {
        address: address.to_string(),
        reason: reason.to_string(),
    };
    let mut headers = HeaderMap::new();
    match &req.auth {
        Some(Auth::Basic { username, password })
            if !(username.is_empty() && password.is_empty()) =>
        {
            // Argo's messages for a half-configured basicAuth.
            if username.is_empty() {
                return Err(invalid_auth(
                    "missing mandatory parameter in metric for basic auth setup: username",
                ));
            }
            if password.is_empty() {
                return Err(invalid_auth(
                    "missing mandatory parameter in metric for basic auth setup: password",
                ));
            }
            // reqwest's own encoder builds the `Basic` value (and marks it sensitive); the
            // request is only built, never sent.
            let request = http
                .get(base.clone())
                .basic_auth(username, Some(password))
                .build()
                .map_err(|_| invalid_auth("basic auth credentials are not a valid header value"))?;
            if let Some(value) = request.headers().get(AUTHORIZATION) {
                headers.insert(AUTHORIZATION, value.clone());
            }
        }
        Some(Auth::Bearer(token)) => {
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| invalid_auth("bearer token is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Some(Auth::Basic { .. }) | None => {}
    }
    for (name, value) in &req.headers {
        let invalid_header = |reason: String| ProviderError::InvalidHeader {
            address: address.to_string(),
            name: name.clone(),
            reason,
        };
        let header_name =
            HeaderName::try_from(name.as_str()).map_err(|e| invalid_header(e.to_string()))?;
        // The http crate's message for a bad value does not quote the value.
        let mut header_value =
            HeaderValue::try_from(value.as_str()).map_err(|e| invalid_header(e.to_string()))?;
        header_value.set_sensitive(true);
        headers.insert(header_name, header_value);
    }
    Ok(headers)
}

/// POST, then GET if the server refuses POST; returns the final status and body.
async fn exchange(
    client: &prometheus_http_query::Client,
    query: &str,
    headers: HeaderMap,
    address: &str,
) -> Result<(StatusCode, Vec<u8>), ProviderError> {
    let mut builder = client.query(query);
    // Evaluate at the controller's clock, as Argo does (`time.Now()`), not Prometheus'.
    if let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) {
        builder = builder.query("time", format!("{:.3}", now.as_secs_f64()));
    }
    for (name, value) in &headers {
        builder = builder.header(name.clone(), value.clone());
    }
    let transport = |e: prometheus_http_query::Error| transport_error(e, address);
    let mut response = builder.clone().post_raw().await.map_err(transport)?;
    if matches!(
        response.status(),
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
    ) {
        response = builder.get_raw().await.map_err(transport)?;
    }
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| reqwest_error(&e, address))?;
    Ok((status, body.to_vec()))
}

fn transport_error(error: prometheus_http_query::Error, address: &str) -> ProviderError {
    match &error {
        prometheus_http_query::Error::Client(client) => match client.inner() {
            Some(inner) => reqwest_error(inner, address),
            None => ProviderError::Request {
                address: address.to_string(),
                reason: client.to_string(),
            },
        },
        _ => ProviderError::Request {
            address: address.to_string(),
            reason: error.to_string(),
        },
    }
}

fn reqwest_error(error: &reqwest::Error, address: &str) -> ProviderError {
    let address = address.to_string();
    if error.is_connect() {
        ProviderError::Unreachable {
            address,
            reason: error_chain(error),
        }
    } else {
        ProviderError::Request {
            address,
            reason: error_chain(error),
        }
    }
}

/// The causes under a reqwest error. reqwest's own message is left out: it repeats the URL,
/// which for the GET fallback carries the whole query string.
fn error_chain(error: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        // hyper and hyper-util wrap the same cause several times; keep each text once.
        if !causes.iter().any(|seen: &String| seen.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        "unknown transport error".to_string()
    } else {
        causes.join(": ")
    }
}

/// The body of every Prometheus API answer.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: serde_json::Value,
}

/// `[<unix time>, "<value>"]`; conditions only see values.
type SamplePair = (serde::de::IgnoredAny, String);

#[derive(Deserialize)]
struct VectorSample {
    /// Absent for native histogram samples, which carry `histogram` instead.
    value: Option<SamplePair>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    values: Vec<SamplePair>,
    /// Native histogram samples; Weir has no float to give a condition for them.
    histograms: Option<serde::de::IgnoredAny>,
}

/// Turns Prometheus' answer into a value and its warnings.
fn interpret(
    status: StatusCode,
    body: &[u8],
    address: &str,
) -> Result<(MetricValue, Vec<String>), ProviderError> {
    let bad = |reason: String| ProviderError::BadResponse {
        address: address.to_string(),
        reason,
    };
    let envelope = serde_json::from_slice::<Envelope>(body);
    // Prometheus' own error (bad_data, execution, timeout, unavailable...) is the most useful
    // message whatever the HTTP status (400, 422, 503) it came with.
    if let Ok(answer) = &envelope
        && answer.status == "error"
    {
        return Err(ProviderError::Query {
            address: address.to_string(),
            error_type: answer
                .error_type
                .clone()
                .unwrap_or_else(|| "unknown".to_string()),
            message: answer.error.clone().unwrap_or_default(),
        });
    }
    if !status.is_success() {
        return Err(ProviderError::Http {
            address: address.to_string(),
            status: status.as_u16(),
        });
    }
    let envelope = envelope.map_err(|e| bad(format!("not a Prometheus API response ({e})")))?;
    if envelope.status != "success" {
        return Err(bad(format!("unknown status {:?}", envelope.status)));
    }
    let data = envelope
        .data
        .ok_or_else(|| bad("success without data".to_string()))?;
    let value = result_value(data, address)?;
    Ok((value, envelope.warnings))
}

fn result_value(data: QueryData, address: &str) -> Result<MetricValue, ProviderError> {
    let QueryData {
        result_type,
        result,
    } = data;
    let bad = |reason: String| ProviderError::BadResponse {
        address: address.to_string(),
        reason,
    };
    let unsupported = |kind: &str| ProviderError::UnsupportedResult {
        address: address.to_string(),
        kind: kind.to_string(),
    };
    let malformed = |e: serde_json::Error| bad(format!("malformed {result_type} result ({e})"));
    // Prometheus renders samples as Go's `FormatFloat` plus `NaN`, `+Inf` and `-Inf`, all of
    // which Rust's parser reads.
    let sample = |pair: &SamplePair| {
        pair.1
            .parse::<f64>()
            .map_err(|_| bad(format!("sample value {:?} is not a number", pair.1)))
    };
    match result_type.as_str() {
        "scalar" => {
            let pair: SamplePair = serde_json::from_value(result).map_err(malformed)?;
            Ok(MetricValue::Scalar(sample(&pair)?))
        }
        "vector" => {
            let samples: Vec<VectorSample> = serde_json::from_value(result).map_err(malformed)?;
            let values = samples
                .iter()
                .map(|s| match &s.value {
                    Some(pair) => sample(pair),
                    None => Err(unsupported("a vector of native histogram samples")),
                })
                .collect::<Result<_, _>>()?;
            Ok(MetricValue::Vector(values))
        }
        "matrix" => {
            let series: Vec<MatrixSeries> = serde_json::from_value(result).map_err(malformed)?;
            let mut values = Vec::new();
            for s in &series {
                if s.histograms.is_some() {
                    return Err(unsupported("a matrix of native histogram samples"));
                }
                for pair in &s.values {
                    values.push(sample(pair)?);
                }
            }
            Ok(MetricValue::Vector(values))
        }
        "string" => Err(unsupported("a string")),
        other => Err(unsupported(&format!("result type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: &str = "http://prometheus:9090";

    fn ok(body: &str) -> Result<(MetricValue, Vec<String>), ProviderError> {
        interpret(StatusCode::OK, body.as_bytes(), ADDRESS)
    }

    #[test]
    fn scalar_vector_and_matrix_results() {
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"0.97"]}}"#;
        assert_eq!(ok(scalar).unwrap().0, MetricValue::Scalar(0.97));

        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"service":"b"},"value":[1700000000,"0.5"]},
            {"metric":{"service":"a"},"value":[1700000000,"0.97"]}]}}"#;
        assert_eq!(ok(vector).unwrap().0, MetricValue::Vector(vec![0.5, 0.97]));

        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(ok(empty).unwrap().0, MetricValue::Vector(vec![]));

        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"s":"a"},"values":[[1,"1"],[2,"2"]]},
            {"metric":{"s":"b"},"values":[[1,"3"]]}]}}"#;
        assert_eq!(
            ok(matrix).unwrap().0,
            MetricValue::Vector(vec![1.0, 2.0, 3.0])
        );
    }

    #[test]
    fn special_sample_values() {
        for (text, check) in [
            ("NaN", f64::is_nan as fn(f64) -> bool),
            ("+Inf", |v| v == f64::INFINITY),
            ("-Inf", |v| v == f64::NEG_INFINITY),
            ("1e-05", |v| v == 0.00001),
            ("-0", |v| v == 0.0 && v.is_sign_negative()),
        ] {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[1,"{text}"]}}}}"#
            );
            match ok(&body).unwrap().0 {
                MetricValue::Scalar(v) => assert!(check(v), "{text} parsed as {v}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn warnings_are_returned() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w1","w2"]}"#;
        assert_eq!(
            ok(body).unwrap().1,
            vec!["w1".to_string(), "w2".to_string()]
        );
    }

    #[test]
    fn unsupported_result_types() {
        let string = r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#;
        let err = ok(string).unwrap_err();
        assert!(
            matches!(err, ProviderError::UnsupportedResult { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("Prometheus metric type not supported"),
            "{err}"
        );
        assert!(err.to_string().contains("a string"), "{err}");

        let histogram = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"histogram":[1,{"count":"1","sum":"1","buckets":[]}]}]}}"#;
        let err = ok(histogram).unwrap_err();
        assert!(err.to_string().contains("native histogram"), "{err}");
    }

    #[test]
    fn prometheus_errors_win_over_http_status() {
        let body =
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}"#;
        let err = interpret(StatusCode::BAD_REQUEST, body.as_bytes(), ADDRESS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Prometheus at http://prometheus:9090 rejected the query: bad_data: 1:5: parse error: unexpected"
        );

        let err =
            interpret(StatusCode::SERVICE_UNAVAILABLE, b"upstream down", ADDRESS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Prometheus at http://prometheus:9090 answered HTTP 503 Service Unavailable"
        );
    }

    #[test]
    fn unreadable_answers() {
        for body in [
            "<html>",
            r#"{"status":"success"}"#,
            r#"{"status":"weird","data":{"resultType":"scalar","result":[1,"1"]}}"#,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"abc"]}}"#,
        ] {
            let err = ok(body).unwrap_err();
            assert!(
                matches!(err, ProviderError::BadResponse { .. }),
                "{body}: {err:?}"
            );
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("http://h:9090").unwrap().as_str(),
            "http://h:9090/"
        );
        assert_eq!(
            parse_address("http://h/prom/").unwrap().as_str(),
            "http://h/prom"
        );
        for bad in ["", "prometheus:9090", "localhost", "ftp://h", "http//h"] {
            assert!(
                matches!(
                    parse_address(bad),
                    Err(ProviderError::InvalidAddress { .. })
                ),
                "{bad}"
            );
        }
        let err = parse_address("htt p://user:hunter2@h")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(shown_address("http://h:1/prom"), "http://h:1/prom");
        assert_eq!(shown_address("http://u:hunter2@h:1"), "http://u:xxxxx@h:1/");
        assert_eq!(shown_address("a b://u:hunter2@h/x"), "a b://u:xxxxx@h/x");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let req = PrometheusRequest {
            address: "http://u:hunter2@h".to_string(),
            query: "up".to_string(),
            timeout: DEFAULT_TIMEOUT,
            insecure: false,
            headers: vec![("X-Api-Key".to_string(), "k3y".to_string())],
            auth: Some(Auth::Basic {
                username: "u".to_string(),
                password: "pw".to_string(),
            }),
            range_query: false,
        };
        let shown = format!("{req:?} {:?}", Auth::Bearer("t0ken".to_string()));
        for secret in ["hunter2", "k3y", "\"pw\"", "t0ken"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn resolved_query_metadata() {
        assert_eq!(
            metric_result_metadata("up"),
            BTreeMap::from([(RESOLVED_QUERY_KEY.to_string(), "up".to_string())])
        );
        assert!(metric_result_metadata("").is_empty());
    }
}
