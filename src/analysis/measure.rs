//! Taking one measurement: substitute args into the provider spec, query the provider, judge
//! the value with the metric's conditions. Secret values are substituted here and only here,
//! and redacted from everything the measurement records.

use super::args::{redact, substitute};
use super::assess::{ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL};
use super::condition::{Verdict, evaluate};
use super::providers::prometheus::{self, Auth, PrometheusRequest};
use crate::api::analysis::{Measurement, Metric, PrometheusMetric};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;
use std::time::Duration;

/// Argo's default Prometheus timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Argument values for one run, with the values that came from Secrets listed for redaction.
#[derive(Debug, Clone, Default)]
pub struct ArgValues {
    pub values: BTreeMap<String, String>,
    pub secrets: Vec<String>,
}

pub struct Settings<'a> {
    /// `--prometheus-address` / ARGO_ROLLOUTS_PROMETHEUS_ADDRESS, used when a metric sets none.
    pub default_prometheus_address: Option<&'a str>,
}

/// Measures `metric` now. Never fails: problems become an `Error` measurement whose message
/// says what went wrong (without secret values).
pub async fn measure(metric: &Metric, args: &ArgValues, settings: &Settings<'_>) -> Measurement {
    let started = Timestamp::now();
    let outcome = match &metric.provider.prometheus {
        Some(spec) => measure_prometheus(metric, spec, args, settings).await,
        None => {
            let provider = metric
                .provider
                .other
                .keys()
                .next()
                .map(String::as_str)
                .unwrap_or("none");
            Err(format!(
                "metric provider {provider:?} is not supported by Weir; use provider.prometheus"
            ))
        }
    };
    let Judged {
        phase,
        value,
        message,
        metadata,
    } = outcome.unwrap_or_else(|message| Judged {
        phase: ERROR.to_string(),
        value: None,
        message: Some(message),
        metadata: BTreeMap::new(),
    });
    let clean = |text: String| redact(&text, &args.secrets);
    Measurement {
        phase,
        message: message.map(clean),
        started_at: Some(Time(started)),
        finished_at: Some(Time(Timestamp::now())),
        value: value.map(clean),
        metadata: (!metadata.is_empty())
            .then(|| metadata.into_iter().map(|(k, v)| (k, clean(v))).collect()),
        resume_at: None,
    }
}

/// The Prometheus query with args substituted and Secret values redacted, as Argo records it
/// on the metric result so users can see what was asked. None for other providers or when an
/// arg is missing (the measurement itself then says which).
pub fn resolved_query(metric: &Metric, args: &ArgValues) -> Option<String> {
    let query = &metric.provider.prometheus.as_ref()?.query;
    substitute(query, &args.values)
        .ok()
        .map(|q| redact(&q, &args.secrets))
}

/// A measured and judged value; an error before a value exists is the `Err` side.
struct Judged {
    phase: String,
    value: Option<String>,
    message: Option<String>,
    metadata: BTreeMap<String, String>,
}

type Outcome = Result<Judged, String>;

async fn measure_prometheus(
    metric: &Metric,
    spec: &PrometheusMetric,
    args: &ArgValues,
    settings: &Settings<'_>,
) -> Outcome {
    let sub = |text: &str| substitute(text, &args.values).map_err(|e| e.to_string());
    let address = match spec.address.as_deref().filter(|a| !a.is_empty()) {
        Some(address) => sub(address)?,
        None => settings
            .default_prometheus_address
            .map(str::to_string)
            .ok_or("no Prometheus address: set provider.prometheus.address or start the controller with --prometheus-address")?,
    };
    let mut headers = Vec::new();
    for header in spec.headers.iter().flatten() {
        headers.push((header.key.clone(), sub(&header.value)?));
    }
    let auth = match spec
        .authentication
        .as_ref()
        .and_then(|a| a.get("basicAuth"))
    {
        Some(basic) => {
            let field = |name: &str| {
                basic
                    .get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            Some(Auth::Basic {
                username: sub(&field("username"))?,
                password: sub(&field("password"))?,
            })
        }
        None => None,
    };
    let request = PrometheusRequest {
        address,
        query: sub(&spec.query)?,
        timeout: spec
            .timeout
            .and_then(|t| u64::try_from(t).ok())
            .filter(|t| *t > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
        insecure: spec.insecure.unwrap_or(false),
        headers,
        auth,
        range_query: spec.range_query.is_some(),
    };
    tracing::debug!(metric = %metric.name, query = %redact(&request.query, &args.secrets), "measuring");
    let measured = prometheus::measure(&request)
        .await
        .map_err(|e| e.to_string())?;
    let value = measured.value.to_value_string();
    // A condition that cannot be evaluated is an Error measurement that still records the value.
    // Argo templates the whole metric, conditions included (e.g. `result < {{args.threshold}}`).
    let success = metric.success_condition.as_deref().map(sub).transpose()?;
    let failure = metric.failure_condition.as_deref().map(sub).transpose()?;
    let (phase, message) = match evaluate(success.as_deref(), failure.as_deref(), &measured.value) {
        Ok(Verdict::Successful) => (SUCCESSFUL, None),
        Ok(Verdict::Failed) => (FAILED, None),
        Ok(Verdict::Inconclusive) => (INCONCLUSIVE, None),
        Err(e) => (ERROR, Some(e.to_string())),
    };
    Ok(Judged {
        phase: phase.to_string(),
        value: Some(value),
        message,
        metadata: measured.metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_query_substitutes_args_and_redacts_secrets() {
        let metric: Metric = yaml_serde::from_str(
            "{name: rate, provider: {prometheus: {query: 'sum(x{svc=\"{{args.svc}}\",token=\"{{args.token}}\"})'}}}",
        )
        .unwrap();
        let args = ArgValues {
            values: [("svc", "web"), ("token", "s3cret")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            secrets: vec!["s3cret".to_string()],
        };
        let query = resolved_query(&metric, &args).unwrap();
        assert!(query.starts_with("sum(x{svc=\"web\",token=\""), "{query}");
        assert!(!query.contains("s3cret"), "{query}");
        let missing = ArgValues::default();
        assert_eq!(resolved_query(&metric, &missing), None);
    }
}
