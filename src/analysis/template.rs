//! Resolving a Rollout's analysis into an AnalysisRun: templates (namespaced or cluster, with
//! nested `templates`) merged, args merged and resolved, then checked so that a bad template is
//! reported on the Rollout before any run is created.

use super::args::{self, merge};
use super::condition;
use crate::api::analysis::{
    AnalysisRun, AnalysisRunSpec, AnalysisTemplate, AnalysisTemplateSpec, Argument,
    ClusterAnalysisTemplate, DryRun, MeasurementRetention, Metric,
};
use crate::api::duration::parse_go_duration;
use crate::api::labels::POD_TEMPLATE_HASH;
use crate::api::rollout::{AnalysisRunArgument, AnalysisTemplateRef, Rollout, RolloutAnalysis};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use std::collections::BTreeMap;

pub const LABEL_ROLLOUT_TYPE: &str = "rollout-type";
pub const LABEL_STEP_INDEX: &str = "step-index";
pub const TYPE_STEP: &str = "Step";
pub const TYPE_BACKGROUND: &str = "Background";

/// Templates the Rollout's namespace and the cluster hold, by name.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    pub namespaced: BTreeMap<String, AnalysisTemplate>,
    pub cluster: BTreeMap<String, ClusterAnalysisTemplate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{kind} {name} not found; create it or fix templateName")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name} includes itself through spec.templates; remove the cycle")]
    Cycle { kind: &'static str, name: String },
    #[error(
        "metric {metric:?} is defined by more than one template; metric names must be unique across the templates of one analysis"
    )]
    DuplicateMetric { metric: String },
    #[error("AnalysisTemplate {template} metric {metric:?}: {field}: {message}")]
    Metric {
        template: String,
        metric: String,
        field: String,
        message: String,
    },
    #[error(
        "AnalysisTemplate {template} argument {arg:?} has no value: set it in the Rollout's analysis args (spec.strategy.canary...analysis.args)"
    )]
    UnresolvedArg { template: String, arg: String },
    #[error("analysis argument {arg:?}: {message}")]
    Argument { arg: String, message: String },
    #[error("{field}: {message}")]
    Spec { field: String, message: String },
}

/// The merged content of the referenced templates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// (template name, metric), in template order.
    pub metrics: Vec<(String, Metric)>,
    /// (template name, arg): template args before the Rollout's are merged in.
    pub args: Vec<(String, Argument)>,
    pub dry_run: Vec<DryRun>,
    pub measurement_retention: Vec<MeasurementRetention>,
}

pub fn resolve(
    refs: &[AnalysisTemplateRef],
    templates: &Templates,
) -> Result<Resolved, TemplateError> {
    let mut resolved = Resolved::default();
    let mut stack = Vec::new();
    for r in refs {
        resolve_one(r, templates, &mut stack, &mut resolved)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for (_, metric) in &resolved.metrics {
        if !seen.insert(metric.name.clone()) {
            return Err(TemplateError::DuplicateMetric {
                metric: metric.name.clone(),
            });
        }
    }
    Ok(resolved)
}

fn resolve_one(
    r: &AnalysisTemplateRef,
    templates: &Templates,
    stack: &mut Vec<String>,
    out: &mut Resolved,
) -> Result<(), TemplateError> {
    let cluster = r.cluster_scope.unwrap_or(false);
    let kind = if cluster {
        "ClusterAnalysisTemplate"
    } else {
        "AnalysisTemplate"
    };
    let key = format!("{kind}/{}", r.template_name);
    if stack.contains(&key) {
        return Err(TemplateError::Cycle {
            kind,
            name: r.template_name.clone(),
        });
    }
    let spec: &AnalysisTemplateSpec = if cluster {
        templates
            .cluster
            .get(&r.template_name)
            .map(|t| &t.spec.template)
    } else {
        templates.namespaced.get(&r.template_name).map(|t| &t.spec)
    }
    .ok_or_else(|| TemplateError::NotFound {
        kind,
        name: r.template_name.clone(),
    })?;
    stack.push(key);
    for nested in spec.templates.iter().flatten() {
        resolve_one(nested, templates, stack, out)?;
    }
    stack.pop();
    out.metrics.extend(
        spec.metrics
            .iter()
            .map(|m| (r.template_name.clone(), m.clone())),
    );
    out.args.extend(
        spec.args
            .iter()
            .flatten()
            .map(|a| (r.template_name.clone(), a.clone())),
    );
    out.dry_run.extend(spec.dry_run.iter().flatten().cloned());
    out.measurement_retention
        .extend(spec.measurement_retention.iter().flatten().cloned());
    Ok(())
}

/// Values the Rollout's `valueFrom` args resolve against.
pub struct ArgContext<'a> {
    pub rollout: &'a Rollout,
    pub stable_hash: Option<&'a str>,
    pub latest_hash: &'a str,
}

/// The run's args: template args with the Rollout's merged over them, `podTemplateHashValue`
/// and `fieldRef` resolved now; `secretKeyRef` stays a reference, read only when measuring.
pub fn run_args(
    resolved: &Resolved,
    rollout_args: &[AnalysisRunArgument],
    ctx: &ArgContext,
) -> Result<Vec<Argument>, TemplateError> {
    let template_args: Vec<Argument> = resolved.args.iter().map(|(_, a)| a.clone()).collect();
    let mut from_rollout = Vec::new();
    for arg in rollout_args {
        from_rollout.push(Argument {
            name: arg.name.clone(),
            value: Some(rollout_arg_value(arg, ctx)?),
            value_from: None,
        });
    }
    let merged = merge(&[&template_args, &from_rollout]);
    for arg in &merged {
        if arg.value.is_none()
            && arg
                .value_from
                .as_ref()
                .is_none_or(|v| v.secret_key_ref.is_none() && v.field_ref.is_none())
        {
            let template = resolved
                .args
                .iter()
                .find(|(_, a)| a.name == arg.name)
                .map(|(t, _)| t.clone())
                .unwrap_or_default();
            return Err(TemplateError::UnresolvedArg {
                template,
                arg: arg.name.clone(),
            });
        }
        if arg.value.is_none()
            && arg
                .value_from
                .as_ref()
                .is_some_and(|v| v.field_ref.is_some())
        {
            return Err(TemplateError::Argument {
                arg: arg.name.clone(),
                message: "valueFrom.fieldRef is only supported in the Rollout's args; pass the value from the Rollout".into(),
            });
        }
    }
    Ok(merged)
}

fn rollout_arg_value(arg: &AnalysisRunArgument, ctx: &ArgContext) -> Result<String, TemplateError> {
    if let Some(value) = &arg.value {
        return Ok(value.clone());
    }
    let err = |message: String| TemplateError::Argument {
        arg: arg.name.clone(),
        message,
    };
    let Some(from) = &arg.value_from else {
        return Err(err("set value or valueFrom".into()));
    };
    if let Some(which) = &from.pod_template_hash_value {
        return match which.as_str() {
            "Stable" => ctx.stable_hash.map(str::to_string).ok_or_else(|| {
                err("podTemplateHashValue Stable: the Rollout has no stable ReplicaSet yet".into())
            }),
            "Latest" => Ok(ctx.latest_hash.to_string()),
            other => Err(err(format!(
                "podTemplateHashValue must be Stable or Latest, not {other:?}"
            ))),
        };
    }
    if let Some(field) = &from.field_ref {
        return field_value(ctx.rollout, &field.field_path).ok_or_else(|| {
            err(format!(
                "fieldRef {:?} does not resolve on the Rollout",
                field.field_path
            ))
        });
    }
    Err(err("set value or valueFrom".into()))
}

/// Downward-API style paths (`metadata.labels['env']`) and dotted paths into the Rollout.
pub fn field_value(rollout: &Rollout, path: &str) -> Option<String> {
    let object = serde_json::to_value(rollout).ok()?;
    for map in ["labels", "annotations"] {
        let prefix = format!("metadata.{map}['");
        if let Some(key) = path
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix("']"))
        {
            return object
                .pointer(&format!("/metadata/{map}"))?
                .get(key)?
                .as_str()
                .map(str::to_string);
        }
    }
    let mut value = &object;
    for part in path.split('.') {
        value = value.get(part)?;
    }
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks what would otherwise only fail while measuring: providers, conditions, durations,
/// counts and limits, dry-run and retention patterns, and placeholders naming unknown args.
pub fn validate(resolved: &Resolved, args: &[Argument]) -> Result<(), TemplateError> {
    let arg_names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
    for (template, metric) in &resolved.metrics {
        let fail = |field: &str, message: String| TemplateError::Metric {
            template: template.clone(),
            metric: metric.name.clone(),
            field: field.to_string(),
            message,
        };
        match (
            &metric.provider.prometheus,
            metric.provider.other.keys().next(),
        ) {
            (Some(prometheus), _) => {
                if prometheus.query.trim().is_empty() {
                    return Err(fail(
                        "provider.prometheus.query",
                        "Required value: set the PromQL query".into(),
                    ));
                }
                if prometheus.timeout.is_some_and(|t| t < 0) {
                    return Err(fail(
                        "provider.prometheus.timeout",
                        "must not be negative".into(),
                    ));
                }
                if prometheus.range_query.is_some() {
                    return Err(fail(
                        "provider.prometheus.rangeQuery",
                        "range queries are not supported by Weir; use an instant query".into(),
                    ));
                }
                let mut texts = vec![prometheus.query.clone()];
                texts.extend(prometheus.address.clone());
                texts.extend(prometheus.headers.iter().flatten().map(|h| h.value.clone()));
                for text in texts {
                    for name in args::referenced(&text) {
                        if !arg_names.contains(&name.as_str()) {
                            return Err(fail(
                                "provider.prometheus",
                                format!(
                                    "refers to {{{{args.{name}}}}}, which is not a declared argument; add it to spec.args"
                                ),
                            ));
                        }
                    }
                }
            }
            (None, Some(other)) => {
                return Err(fail(
                    &format!("provider.{other}"),
                    format!(
                        "the {other} provider is not supported by Weir; use provider.prometheus"
                    ),
                ));
            }
            (None, None) => {
                return Err(fail(
                    "provider",
                    "Required value: set provider.prometheus".into(),
                ));
            }
        }
        for (field, text) in [
            ("successCondition", &metric.success_condition),
            ("failureCondition", &metric.failure_condition),
        ] {
            if let Some(text) = text.as_deref().filter(|t| !t.trim().is_empty()) {
                for name in args::referenced(text) {
                    if !arg_names.contains(&name.as_str()) {
                        return Err(fail(
                            field,
                            format!(
                                "refers to {{{{args.{name}}}}}, which is not a declared argument; add it to spec.args"
                            ),
                        ));
                    }
                }
                // Placeholders are substituted when measuring; a number stands in for the syntax check.
                let values = args::referenced(text)
                    .into_iter()
                    .map(|n| (n, "0".to_string()))
                    .collect();
                let text = args::substitute(text, &values).unwrap_or_else(|_| text.to_string());
                condition::check(&text).map_err(|e| fail(field, e.to_string()))?;
            }
        }
        for (field, text) in [
            ("interval", &metric.interval),
            ("initialDelay", &metric.initial_delay),
        ] {
            if let Some(text) = text {
                parse_go_duration(text).map_err(|e| fail(field, e.to_string()))?;
            }
        }
        let limit =
            |field: &str, value: &Option<IntOrString>, min: i32| -> Result<i32, TemplateError> {
                match value {
                    None => Ok(0),
                    Some(IntOrString::Int(v)) if *v >= min => Ok(*v),
                    Some(IntOrString::String(s)) => s
                        .parse::<i32>()
                        .ok()
                        .filter(|v| *v >= min)
                        .ok_or_else(|| fail(field, format!("{s:?} is not an integer >= {min}"))),
                    Some(IntOrString::Int(v)) => Err(fail(field, format!("{v} must be >= {min}"))),
                }
            };
        let count = limit("count", &metric.count, 0)?;
        let failure_limit = limit("failureLimit", &metric.failure_limit, -1)?;
        let inconclusive_limit = limit("inconclusiveLimit", &metric.inconclusive_limit, 0)?;
        limit("consecutiveErrorLimit", &metric.consecutive_error_limit, 0)?;
        let success_limit = limit(
            "consecutiveSuccessLimit",
            &metric.consecutive_success_limit,
            0,
        )?;
        if count > 1 && metric.interval.is_none() {
            return Err(fail(
                "interval",
                "Required value: count > 1 needs an interval between measurements".into(),
            ));
        }
        if failure_limit == -1 && success_limit == 0 {
            return Err(fail("consecutiveSuccessLimit", "failureLimit -1 disables failure; set consecutiveSuccessLimit > 0 so the metric can succeed".into()));
        }
        if count > 0 && count < failure_limit.max(0) + success_limit {
            return Err(fail(
                "count",
                format!(
                    "count ({count}) must be >= failureLimit + consecutiveSuccessLimit ({})",
                    failure_limit.max(0) + success_limit
                ),
            ));
        }
        if count > 0 && count < inconclusive_limit {
            return Err(fail(
                "count",
                format!("count ({count}) must be >= inconclusiveLimit ({inconclusive_limit})"),
            ));
        }
    }
    for (field, pattern) in resolved
        .dry_run
        .iter()
        .map(|d| ("dryRun", &d.metric_name))
        .chain(
            resolved
                .measurement_retention
                .iter()
                .map(|m| ("measurementRetention", &m.metric_name)),
        )
    {
        let regex = regex::Regex::new(pattern).map_err(|e| TemplateError::Spec {
            field: format!("{field}.metricName"),
            message: format!("{pattern:?} is not a valid regular expression: {e}"),
        })?;
        if !resolved
            .metrics
            .iter()
            .any(|(_, m)| regex.is_match(&m.name))
        {
            return Err(TemplateError::Spec {
                field: format!("{field}.metricName"),
                message: format!("{pattern:?} matches no metric"),
            });
        }
    }
    Ok(())
}

/// Which kind of run a Rollout creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Step(usize),
    Background,
}

/// Argo's run name: `<rollout>-<podHash>-<revision>[-<stepIndex>]`.
pub fn run_name(rollout: &str, pod_hash: &str, revision: i64, kind: RunKind) -> String {
    match kind {
        RunKind::Step(index) => format!("{rollout}-{pod_hash}-{revision}-{index}"),
        RunKind::Background => format!("{rollout}-{pod_hash}-{revision}"),
    }
}

pub struct RunInput<'a> {
    pub rollout: &'a Rollout,
    pub analysis: &'a RolloutAnalysis,
    pub kind: RunKind,
    pub name: String,
    pub pod_hash: &'a str,
    pub revision: i64,
    pub resolved: Resolved,
    pub args: Vec<Argument>,
}

pub fn build_run(input: RunInput) -> AnalysisRun {
    let mut labels: BTreeMap<String, String> = input
        .rollout
        .spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default();
    labels.insert(POD_TEMPLATE_HASH.to_string(), input.pod_hash.to_string());
    match input.kind {
        RunKind::Step(index) => {
            labels.insert(LABEL_ROLLOUT_TYPE.into(), TYPE_STEP.into());
            labels.insert(LABEL_STEP_INDEX.into(), index.to_string());
        }
        RunKind::Background => {
            labels.insert(LABEL_ROLLOUT_TYPE.into(), TYPE_BACKGROUND.into());
        }
    }
    let mut annotations = BTreeMap::from([(
        crate::api::labels::REVISION.to_string(),
        input.revision.to_string(),
    )]);
    if let Some(meta) = &input.analysis.analysis_run_metadata {
        labels.extend(meta.labels.clone().unwrap_or_default());
        annotations.extend(meta.annotations.clone().unwrap_or_default());
    }
    let mut dry_run = input.resolved.dry_run;
    dry_run.extend(input.analysis.dry_run.iter().flatten().cloned());
    let mut retention = input.resolved.measurement_retention;
    retention.extend(
        input
            .analysis
            .measurement_retention
            .iter()
            .flatten()
            .cloned(),
    );
    AnalysisRun {
        metadata: ObjectMeta {
            name: Some(input.name),
            namespace: input.rollout.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: input.rollout.controller_owner_ref(&()).map(|r| vec![r]),
            ..Default::default()
        },
        spec: AnalysisRunSpec {
            metrics: input.resolved.metrics.into_iter().map(|(_, m)| m).collect(),
            args: (!input.args.is_empty()).then_some(input.args),
            terminate: None,
            dry_run: (!dry_run.is_empty()).then_some(dry_run),
            measurement_retention: (!retention.is_empty()).then_some(retention),
            ttl_strategy: None,
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str, metrics: &[&str], nested: &[&str]) -> AnalysisTemplate {
        let mut spec = AnalysisTemplateSpec {
            metrics: metrics
                .iter()
                .map(|m| Metric {
                    name: m.to_string(),
                    provider: crate::api::analysis::MetricProvider {
                        prometheus: Some(crate::api::analysis::PrometheusMetric {
                            query: "up".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        if !nested.is_empty() {
            spec.templates = Some(
                nested
                    .iter()
                    .map(|n| AnalysisTemplateRef {
                        template_name: n.to_string(),
                        cluster_scope: None,
                    })
                    .collect(),
            );
        }
        AnalysisTemplate::new(name, spec)
    }

    fn templates(list: Vec<AnalysisTemplate>) -> Templates {
        Templates {
            namespaced: list
                .into_iter()
                .map(|t| (t.metadata.name.clone().unwrap(), t))
                .collect(),
            cluster: BTreeMap::new(),
        }
    }

    fn refs(names: &[&str]) -> Vec<AnalysisTemplateRef> {
        names
            .iter()
            .map(|n| AnalysisTemplateRef {
                template_name: n.to_string(),
                cluster_scope: None,
            })
            .collect()
    }

    #[test]
    fn resolution_cases() {
        let set = templates(vec![
            template("a", &["m1"], &[]),
            template("b", &["m2"], &["a"]),
            template("dup", &["m1"], &[]),
            template("loop1", &["x"], &["loop2"]),
            template("loop2", &["y"], &["loop1"]),
        ]);
        let names = |r: &Resolved| {
            r.metrics
                .iter()
                .map(|(t, m)| format!("{t}:{}", m.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&resolve(&refs(&["b"]), &set).unwrap()),
            ["a:m1", "b:m2"]
        );
        assert_eq!(
            resolve(&refs(&["a", "dup"]), &set),
            Err(TemplateError::DuplicateMetric {
                metric: "m1".into()
            })
        );
        assert!(matches!(
            resolve(&refs(&["loop1"]), &set),
            Err(TemplateError::Cycle { .. })
        ));
        assert_eq!(
            resolve(&refs(&["nope"]), &set).unwrap_err().to_string(),
            "AnalysisTemplate nope not found; create it or fix templateName"
        );
        let cluster_ref = [AnalysisTemplateRef {
            template_name: "a".into(),
            cluster_scope: Some(true),
        }];
        assert!(matches!(
            resolve(&cluster_ref, &set),
            Err(TemplateError::NotFound {
                kind: "ClusterAnalysisTemplate",
                ..
            })
        ));
        let mut with_cluster = set.clone();
        with_cluster.cluster.insert(
            "a".into(),
            ClusterAnalysisTemplate::new(
                "a",
                crate::api::analysis::ClusterAnalysisTemplateSpec {
                    template: template("a", &["c1"], &[]).spec,
                },
            ),
        );
        assert_eq!(
            names(&resolve(&cluster_ref, &with_cluster).unwrap()),
            ["a:c1"]
        );
    }

    #[test]
    fn run_names_follow_argo() {
        assert_eq!(run_name("web", "abc", 3, RunKind::Step(2)), "web-abc-3-2");
        assert_eq!(run_name("web", "abc", 3, RunKind::Background), "web-abc-3");
    }

    #[test]
    fn validation_names_metric_and_field() {
        let set = templates(vec![template("a", &["m1"], &[])]);
        let mut resolved = resolve(&refs(&["a"]), &set).unwrap();
        assert_eq!(validate(&resolved, &[]), Ok(()));
        resolved.metrics[0].1.count = Some(IntOrString::Int(3));
        assert_eq!(
            validate(&resolved, &[]).unwrap_err().to_string(),
            "AnalysisTemplate a metric \"m1\": interval: Required value: count > 1 needs an interval between measurements"
        );
        resolved.metrics[0].1.count = None;
        resolved.metrics[0]
            .1
            .provider
            .prometheus
            .as_mut()
            .unwrap()
            .query = "up{job=\"{{args.job}}\"}".into();
        assert!(
            validate(&resolved, &[])
                .unwrap_err()
                .to_string()
                .contains("{{args.job}}, which is not a declared argument")
        );
        resolved.metrics[0]
            .1
            .provider
            .prometheus
            .as_mut()
            .unwrap()
            .query = "up".into();
        resolved.dry_run = vec![DryRun {
            metric_name: "nomatch".into(),
        }];
        assert!(
            validate(&resolved, &[])
                .unwrap_err()
                .to_string()
                .contains("matches no metric")
        );
    }
}
