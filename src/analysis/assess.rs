//! Pure assessment of an AnalysisRun (Argo's analysis/analysis.go semantics):
//! `assess(run, now)` gives the new status and the metrics due for a measurement;
//! `record` books a finished measurement into its metric's counters.
//!
//! Where Weir deliberately differs from Argo (Argo's own cases are in `argo_cases`):
//!
//! * **A run ends in the pass that fails one of its metrics.** Argo stops the other metrics at
//!   its next reconcile; Weir assesses them as terminated at once, so that the Rollout's abort
//!   does not wait for another round. Phase and message are the ones Argo reaches then.
//! * **No measurement is resumed.** A measurement without `finishedAt` stays with its provider;
//!   Weir's Prometheus provider never leaves one so (Argo's hands a resumed one back as it was),
//!   so one written by another controller is neither resumed nor waited for.
//! * **Every metric has a result from the start** (Pending), where Argo adds it at the first
//!   measurement; a metric a terminated run never measured is therefore listed, and counted,
//!   as Successful.

use crate::api::analysis::{
    AnalysisRun, AnalysisRunStatus, Measurement, Metric, MetricResult, RunSummary,
};
use crate::api::duration::parse_go_duration;
use crate::api::limits::{STATUS_MESSAGE_LIMIT, truncate, truncate_in_place};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;

pub const PENDING: &str = "Pending";
pub const RUNNING: &str = "Running";
pub const SUCCESSFUL: &str = "Successful";
pub const FAILED: &str = "Failed";
pub const ERROR: &str = "Error";
pub const INCONCLUSIVE: &str = "Inconclusive";

pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i32 = 4;
pub const DEFAULT_MEASUREMENT_RETENTION: usize = 10;
/// Argo retries a measurement that errored after 10 s, whatever the interval.
pub const DEFAULT_ERROR_RETRY: Duration = Duration::from_secs(10);

pub fn is_completed(phase: &str) -> bool {
    matches!(phase, SUCCESSFUL | FAILED | ERROR | INCONCLUSIVE)
}

/// Argo's order from best to worst (utils/analysis/helpers.go).
fn rank(phase: &str) -> u8 {
    match phase {
        SUCCESSFUL => 0,
        RUNNING => 1,
        PENDING => 2,
        INCONCLUSIVE => 3,
        ERROR => 4,
        FAILED => 5,
        _ => 1,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub status: AnalysisRunStatus,
    /// Metrics to measure now.
    pub due: Vec<String>,
    pub requeue_after: Option<Duration>,
    pub events: Vec<RunEvent>,
}

fn int_value(value: &Option<IntOrString>, default: i32) -> i32 {
    match value {
        Some(IntOrString::Int(v)) => *v,
        Some(IntOrString::String(s)) => s.parse().unwrap_or(default),
        None => default,
    }
}

/// A duration field as Argo reads it: `None` when unset (or empty, Go's zero value),
/// `Some(Err(()))` when it does not parse.
fn duration(text: &Option<String>) -> Option<Result<Duration, ()>> {
    text.as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| parse_go_duration(t).map_err(drop))
}

/// Argo's EffectiveCount: count unset or 0 means once without an interval and "until
/// terminated" (None) with one.
pub fn effective_count(metric: &Metric) -> Option<i32> {
    match int_value(&metric.count, 0) {
        0 if duration(&metric.interval).is_some() => None,
        0 => Some(1),
        n => Some(n),
    }
}

fn is_dry_run(run: &AnalysisRun, metric: &str) -> bool {
    run.spec
        .dry_run
        .iter()
        .flatten()
        .any(|d| regex::Regex::new(&d.metric_name).is_ok_and(|r| r.is_match(metric)))
}

/// The measurements kept for `metric`: the first matching `measurementRetention` rule's limit,
/// or the default when no rule matches or its limit is not positive (Argo ignores `limit: 0`
/// rather than keeping no measurement, which would also lose the one being assessed).
pub fn retention_for(run: &AnalysisRun, metric: &str) -> usize {
    run.spec
        .measurement_retention
        .iter()
        .flatten()
        .find(|m| regex::Regex::new(&m.metric_name).is_ok_and(|r| r.is_match(metric)))
        .and_then(|m| usize::try_from(m.limit).ok())
        .filter(|limit| *limit > 0)
        .unwrap_or(DEFAULT_MEASUREMENT_RETENTION)
}

/// Books a finished measurement (Argo's runMeasurements bookkeeping): Successful counts and
/// extends the success streak; Failed/Inconclusive count and reset both streaks; Error does not
/// count, extends the error streak and resets the success streak.
pub fn record(result: &mut MetricResult, measurement: Measurement, retention: usize) {
    let add = |v: &mut Option<i32>| *v = Some(v.unwrap_or(0) + 1);
    match measurement.phase.as_str() {
        SUCCESSFUL => {
            add(&mut result.successful);
            add(&mut result.count);
            add(&mut result.consecutive_success);
            result.consecutive_error = Some(0);
        }
        FAILED => {
            add(&mut result.failed);
            add(&mut result.count);
            result.consecutive_error = Some(0);
            result.consecutive_success = Some(0);
        }
        INCONCLUSIVE => {
            add(&mut result.inconclusive);
            add(&mut result.count);
            result.consecutive_error = Some(0);
            result.consecutive_success = Some(0);
        }
        _ => {
            add(&mut result.error);
            add(&mut result.consecutive_error);
            result.consecutive_success = Some(0);
        }
    }
    let list = result.measurements.get_or_insert_with(Vec::new);
    list.push(measurement);
    if list.len() > retention {
        let excess = list.len() - retention;
        list.drain(..excess);
    }
}

/// Whether the run is ending: termination was requested, or a metric that counts (not a dry
/// run) already ended Failed, Error or Inconclusive (Argo's IsTerminating). A terminating run
/// takes no new measurements.
fn is_terminating(run: &AnalysisRun, results: &[MetricResult]) -> bool {
    run.spec.terminate == Some(true)
        || results.iter().any(|r| {
            r.dry_run != Some(true) && matches!(r.phase.as_str(), FAILED | ERROR | INCONCLUSIVE)
        })
}

/// The phase a metric's counters decide and why, in Argo's words (what follows "assessed
/// <phase> due to "). Argo's assessMetricFailureInconclusiveOrError: later checks override
/// earlier ones, so Error wins over Inconclusive over Failed. Then consecutiveSuccessLimit
/// (Argo 1.8): a count reached without the success streak is Inconclusive while failure was
/// still possible, else Failed.
fn verdict(metric: &Metric, result: &MetricResult) -> Option<(&'static str, String)> {
    let failed = result.failed.unwrap_or(0);
    let inconclusive = result.inconclusive.unwrap_or(0);
    let consecutive_error = result.consecutive_error.unwrap_or(0);
    let failure_limit = int_value(&metric.failure_limit, 0);
    let inconclusive_limit = int_value(&metric.inconclusive_limit, 0);
    let error_limit = int_value(
        &metric.consecutive_error_limit,
        DEFAULT_CONSECUTIVE_ERROR_LIMIT,
    );
    let mut verdict = None;
    if failure_limit >= 0 && failed > failure_limit {
        verdict = Some((
            FAILED,
            format!("failed ({failed}) > failureLimit ({failure_limit})"),
        ));
    }
    if inconclusive > inconclusive_limit {
        verdict = Some((
            INCONCLUSIVE,
            format!("inconclusive ({inconclusive}) > inconclusiveLimit ({inconclusive_limit})"),
        ));
    }
    if consecutive_error > error_limit {
        verdict = Some((
            ERROR,
            format!(
                "consecutiveErrors ({consecutive_error}) > consecutiveErrorLimit ({error_limit})"
            ),
        ));
    }
    let success_limit = int_value(&metric.consecutive_success_limit, 0);
    if verdict.is_none()
        && success_limit > 0
        && result.consecutive_success.unwrap_or(0) < success_limit
        && let Some(limit) = effective_count(metric).filter(|l| result.count.unwrap_or(0) >= *l)
    {
        let phase = if failure_limit >= 0 {
            INCONCLUSIVE
        } else {
            FAILED
        };
        verdict = Some((
            phase,
            format!("consecutiveSuccessLimit ({success_limit}) not reached within count ({limit})"),
        ));
    }
    verdict
}

/// Argo's assessMetricStatus: the metric's phase from its measurements and counters.
fn metric_phase<'a>(metric: &Metric, result: &'a MetricResult, terminating: bool) -> &'a str {
    if is_completed(&result.phase) {
        return &result.phase;
    }
    let measurements = result.measurements.as_deref().unwrap_or_default();
    let Some(last) = measurements.last() else {
        // Told to stop before measuring at all.
        return if terminating { SUCCESSFUL } else { PENDING };
    };
    // The phase says whether a measurement is in flight; `finishedAt` may be missing from a
    // completed one (written by another controller), and its counters are booked already.
    if !is_completed(&last.phase) {
        return RUNNING;
    }
    if let Some((phase, _)) = verdict(metric, result) {
        return phase;
    }
    let success_limit = int_value(&metric.consecutive_success_limit, 0);
    if success_limit > 0 && result.consecutive_success.unwrap_or(0) >= success_limit {
        return SUCCESSFUL;
    }
    match effective_count(metric) {
        Some(limit) if result.count.unwrap_or(0) >= limit => SUCCESSFUL,
        // Terminated before its count, or an indefinite (background) metric.
        _ if terminating => SUCCESSFUL,
        _ => RUNNING,
    }
}

/// Re-assesses every metric (Argo's loop in assessRunStatus): a metric whose phase changes takes
/// its last measurement's message (the provider's error, "Metric Terminated", ...), and one
/// that completes gets Argo's event.
fn settle(
    run: &AnalysisRun,
    results: &mut [MetricResult],
    terminating: bool,
    events: &mut Vec<RunEvent>,
) {
    for metric in &run.spec.metrics {
        let Some(result) = results.iter_mut().find(|r| r.name == metric.name) else {
            continue;
        };
        let phase = metric_phase(metric, result, terminating).to_string();
        if phase == result.phase {
            continue;
        }
        if is_completed(&phase) {
            events.push(RunEvent {
                warning: matches!(phase.as_str(), FAILED | ERROR),
                reason: format!("Metric{phase}"),
                message: format!("Metric '{}' Completed. Result: {phase}", metric.name),
            });
        }
        if let Some(last) = result.measurements.as_deref().and_then(<[_]>::last) {
            result.message = last.message.clone();
        }
        result.phase = phase;
    }
}

/// The run's phase and message from its metrics (the rest of Argo's assessRunStatus). The worst
/// completed metric that counts decides, and its counters say why; the provider's last message
/// is appended for users and Argo CD to see what the metric answered. A terminating run ends
/// with what it has, even while a measurement is still in flight. A dry-run metric never
/// decides; its reason goes into its own message.
fn conclude(
    run: &AnalysisRun,
    results: &mut [MetricResult],
    terminating: bool,
) -> (String, Option<String>) {
    let mut worst: Option<String> = None;
    let mut message = (run.spec.terminate == Some(true)).then(|| "Run Terminated".to_string());
    let mut all_completed = true;
    for metric in &run.spec.metrics {
        let Some(result) = results.iter_mut().find(|r| r.name == metric.name) else {
            all_completed = false;
            continue;
        };
        if !is_completed(&result.phase) {
            all_completed = false;
            continue;
        }
        let reason = verdict(metric, result).map(|(_, reason)| reason);
        if result.dry_run == Some(true) {
            worst.get_or_insert_with(|| SUCCESSFUL.to_string());
            if let Some(reason) = reason {
                result.message = Some(format!("Metric assessed {} due to {reason}", result.phase));
            }
        } else if worst
            .as_deref()
            .is_none_or(|w| rank(&result.phase) > rank(w))
        {
            worst = Some(result.phase.clone());
            if let Some(reason) = reason {
                let mut text = format!(
                    "Metric \"{}\" assessed {} due to {reason}",
                    metric.name, result.phase
                );
                if let Some(error) = result.message.as_deref().filter(|m| !m.is_empty()) {
                    text.push_str(&format!(": \"Error Message: {error}\""));
                }
                message = Some(text);
            }
        }
    }
    match worst {
        Some(worst) if terminating || all_completed => (worst, message),
        None if terminating => (SUCCESSFUL.to_string(), message),
        _ => (RUNNING.to_string(), None),
    }
}

/// When the metric's next measurement is due, if it needs one.
fn next_due(
    metric: &Metric,
    result: &MetricResult,
    started: Timestamp,
    error_retry: Duration,
) -> Option<Timestamp> {
    if is_completed(&result.phase) {
        return None;
    }
    let measurements = result.measurements.as_deref().unwrap_or_default();
    let Some(last) = measurements.last() else {
        // An initialDelay that does not parse holds the metric, as in Argo (validation reports
        // it for runs Weir creates).
        let delay = duration(&metric.initial_delay)
            .unwrap_or(Ok(Duration::ZERO))
            .ok()?;
        return Some(started + SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX));
    };
    // Without `finishedAt` a measurement is still with its provider (Argo resumes it there).
    // Weir's provider never leaves one so, and cannot resume one written by another.
    let finished = last.finished_at.as_ref()?.0;
    let interval = if last.phase == ERROR {
        error_retry
    } else {
        duration(&metric.interval)?.ok()?
    };
    Some(finished + SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX))
}

pub fn assess(run: &AnalysisRun, now: Timestamp, error_retry: Duration) -> Assessment {
    let mut status = run.status.clone().unwrap_or_default();
    let mut events = Vec::new();
    if is_completed(&status.phase) {
        return Assessment {
            status,
            due: Vec::new(),
            requeue_after: None,
            events,
        };
    }
    let now_time = Time(now);
    let started = status.started_at.get_or_insert_with(|| now_time.clone()).0;
    let results = status.metric_results.get_or_insert_with(Vec::new);
    for metric in &run.spec.metrics {
        if !results.iter().any(|r| r.name == metric.name) {
            results.push(MetricResult {
                name: metric.name.clone(),
                phase: PENDING.to_string(),
                dry_run: is_dry_run(run, &metric.name).then_some(true),
                ..Default::default()
            });
        }
    }
    let was_terminating = is_terminating(run, results);
    settle(run, results, was_terminating, &mut events);
    let terminating = is_terminating(run, results);
    if terminating && !was_terminating {
        // A metric failed in this pass. Argo stops the others at its next reconcile; Weir does
        // it now, so the run (and the Rollout's abort) does not wait for another round.
        settle(run, results, true, &mut events);
    }
    let mut due = Vec::new();
    let mut requeue: Option<Duration> = None;
    if !terminating {
        for metric in &run.spec.metrics {
            let Some(result) = results.iter().find(|r| r.name == metric.name) else {
                continue;
            };
            if let Some(at) = next_due(metric, result, started, error_retry) {
                if at <= now {
                    due.push(metric.name.clone());
                } else {
                    let wait = Duration::try_from(now.duration_until(at)).unwrap_or_default();
                    requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                }
            }
        }
    }
    let (phase, message) = conclude(run, results, terminating);
    for result in results.iter_mut() {
        if let Some(message) = result.message.as_mut() {
            truncate_in_place(message, STATUS_MESSAGE_LIMIT);
        }
    }
    let summary = |dry: bool| {
        let selected: Vec<&MetricResult> = results
            .iter()
            .filter(|r| (r.dry_run == Some(true)) == dry)
            .collect();
        let count_of =
            |phase: &str| Some(selected.iter().filter(|r| r.phase == phase).count() as i32);
        RunSummary {
            count: Some(selected.len() as i32),
            successful: count_of(SUCCESSFUL),
            failed: count_of(FAILED),
            inconclusive: count_of(INCONCLUSIVE),
            error: count_of(ERROR),
        }
    };
    let run_summary = summary(false);
    let dry_run_summary = results
        .iter()
        .any(|r| r.dry_run == Some(true))
        .then(|| summary(true));
    if is_completed(&phase) {
        status.completed_at = Some(now_time);
        events.push(RunEvent {
            warning: matches!(phase.as_str(), FAILED | ERROR),
            reason: format!("AnalysisRun{phase}"),
            message: format!("Analysis Completed. Result: {phase}"),
        });
    }
    status.phase = phase;
    status.message = message.map(|m| truncate(&m, STATUS_MESSAGE_LIMIT).into_owned());
    status.run_summary = Some(run_summary);
    status.dry_run_summary = dry_run_summary;
    Assessment {
        status,
        due,
        requeue_after: requeue,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::analysis::{AnalysisRunSpec, DryRun};

    fn metric(name: &str, f: impl FnOnce(&mut Metric)) -> Metric {
        let mut m = Metric {
            name: name.into(),
            ..Default::default()
        };
        f(&mut m);
        m
    }

    fn run(metrics: Vec<Metric>) -> AnalysisRun {
        AnalysisRun::new(
            "r",
            AnalysisRunSpec {
                metrics,
                ..Default::default()
            },
        )
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn measurement(phase: &str, finished: i64) -> Measurement {
        Measurement {
            phase: phase.into(),
            finished_at: Some(Time(at(finished))),
            started_at: Some(Time(at(finished))),
            ..Default::default()
        }
    }

    /// Measures every due metric with the next phase from `phases` (one tick per second) until
    /// the run completes; returns (run phase, message, measurements taken).
    fn drive(
        mut run: AnalysisRun,
        phases: &[&str],
        max_seconds: i64,
    ) -> (String, Option<String>, usize) {
        let mut taken = 0;
        for second in 0..max_seconds {
            let now = at(second);
            let assessment = assess(&run, now, DEFAULT_ERROR_RETRY);
            let mut status = assessment.status;
            for name in &assessment.due {
                let phase = phases.get(taken).copied().unwrap_or(SUCCESSFUL);
                taken += 1;
                let retention = retention_for(&run, name);
                let result = status
                    .metric_results
                    .as_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|r| &r.name == name)
                    .unwrap();
                record(result, measurement(phase, second), retention);
            }
            run.status = Some(status);
            let settled = assess(&run, now, DEFAULT_ERROR_RETRY).status;
            run.status = Some(settled.clone());
            if is_completed(&settled.phase) {
                return (settled.phase, settled.message, taken);
            }
        }
        let status = run.status.unwrap();
        (status.phase, status.message, taken)
    }

    #[test]
    fn effective_count_rules() {
        let cases = [
            (None, None, Some(1)),
            (None, Some("1m"), None),
            // Go's zero value: an empty interval is no interval.
            (None, Some(""), Some(1)),
            (Some(0), Some("1m"), None),
            (Some(5), Some("1m"), Some(5)),
            (Some(3), None, Some(3)),
        ];
        for (count, interval, want) in cases {
            let m = metric("m", |m| {
                m.count = count.map(IntOrString::Int);
                m.interval = interval.map(String::from);
            });
            assert_eq!(effective_count(&m), want, "{count:?} {interval:?}");
        }
    }

    #[test]
    fn failure_limit_fails_on_the_measurement_after_the_limit() {
        // Seed 002's error-rate-check: failureLimit 3, interval 1m, count omitted.
        let m = metric("error-rate", |m| {
            m.interval = Some("1s".into());
            m.failure_limit = Some(IntOrString::Int(3));
        });
        let (phase, message, taken) = drive(run(vec![m]), &[FAILED; 10], 100);
        assert_eq!(phase, FAILED);
        assert_eq!(taken, 4, "fails on the 4th failed measurement, not before");
        assert_eq!(
            message.as_deref(),
            Some("Metric \"error-rate\" assessed Failed due to failed (4) > failureLimit (3)")
        );
    }

    #[test]
    fn count_reached_is_successful_and_failures_within_limit_are_tolerated() {
        let m = metric("success-rate", |m| {
            m.interval = Some("1s".into());
            m.count = Some(IntOrString::Int(5));
            m.failure_limit = Some(IntOrString::Int(3));
        });
        let (phase, _, taken) = drive(
            run(vec![m]),
            &[FAILED, SUCCESSFUL, FAILED, FAILED, SUCCESSFUL],
            100,
        );
        assert_eq!((phase.as_str(), taken), (SUCCESSFUL, 5));
    }

    #[test]
    fn consecutive_errors_end_in_error_on_the_fifth() {
        let m = metric("m", |m| m.interval = Some("1s".into()));
        let (phase, message, taken) = drive(run(vec![m]), &[ERROR; 10], 200);
        assert_eq!((phase.as_str(), taken), (ERROR, 5));
        assert_eq!(
            message.as_deref(),
            Some(
                "Metric \"m\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)"
            )
        );
    }

    #[test]
    fn errors_are_retried_after_ten_seconds_and_do_not_count() {
        let m = metric("m", |m| {
            m.interval = Some("1s".into());
            m.count = Some(IntOrString::Int(2));
        });
        let mut r = run(vec![m]);
        let first = assess(&r, at(0), DEFAULT_ERROR_RETRY);
        assert_eq!(first.due, ["m"]);
        let mut status = first.status;
        record(
            &mut status.metric_results.as_mut().unwrap()[0],
            measurement(ERROR, 0),
            10,
        );
        r.status = Some(status);
        assert!(assess(&r, at(5), DEFAULT_ERROR_RETRY).due.is_empty());
        assert_eq!(
            assess(&r, at(5), DEFAULT_ERROR_RETRY).requeue_after,
            Some(Duration::from_secs(5))
        );
        assert_eq!(assess(&r, at(10), DEFAULT_ERROR_RETRY).due, ["m"]);
        let result = &r.status.as_ref().unwrap().metric_results.as_ref().unwrap()[0];
        assert_eq!(
            (result.count, result.error, result.consecutive_error),
            (None, Some(1), Some(1))
        );
    }

    #[test]
    fn inconclusive_and_precedence() {
        let m = metric("m", |m| {
            m.interval = Some("1s".into());
            m.count = Some(IntOrString::Int(3));
        });
        let (phase, _, _) = drive(run(vec![m]), &[INCONCLUSIVE], 10);
        assert_eq!(phase, INCONCLUSIVE);
        let mut result = MetricResult {
            name: "m".into(),
            phase: RUNNING.into(),
            ..Default::default()
        };
        for phase in [FAILED, INCONCLUSIVE, ERROR, ERROR, ERROR, ERROR, ERROR] {
            record(&mut result, measurement(phase, 0), 10);
        }
        let m = metric("m", |_| {});
        assert_eq!(
            metric_phase(&m, &result, false),
            ERROR,
            "Error overrides Inconclusive and Failed"
        );
    }

    #[test]
    fn consecutive_success_limit() {
        let m = metric("m", |m| {
            m.interval = Some("1s".into());
            m.consecutive_success_limit = Some(IntOrString::Int(2));
            m.failure_limit = Some(IntOrString::Int(-1));
        });
        let (phase, _, taken) = drive(
            run(vec![m]),
            &[FAILED, SUCCESSFUL, FAILED, SUCCESSFUL, SUCCESSFUL],
            100,
        );
        assert_eq!((phase.as_str(), taken), (SUCCESSFUL, 5));
        let m = metric("m", |m| {
            m.interval = Some("1s".into());
            m.count = Some(IntOrString::Int(4));
            m.failure_limit = Some(IntOrString::Int(1));
            m.consecutive_success_limit = Some(IntOrString::Int(3));
        });
        // Count reached without the success streak: Inconclusive (failure is still possible).
        let (phase, _, _) = drive(
            run(vec![m]),
            &[SUCCESSFUL, FAILED, SUCCESSFUL, SUCCESSFUL],
            100,
        );
        assert_eq!(phase, INCONCLUSIVE);
    }

    #[test]
    fn initial_delay_and_interval_schedule() {
        let m = metric("m", |m| {
            m.interval = Some("30s".into());
            m.initial_delay = Some("20s".into());
        });
        let r = run(vec![m]);
        let first = assess(&r, at(0), DEFAULT_ERROR_RETRY);
        assert!(first.due.is_empty());
        assert_eq!(first.requeue_after, Some(Duration::from_secs(20)));
        let mut r2 = r.clone();
        r2.status = Some(first.status);
        assert_eq!(assess(&r2, at(20), DEFAULT_ERROR_RETRY).due, ["m"]);
    }

    #[test]
    fn terminate_ends_an_indefinite_metric_successfully() {
        let m = metric("background", |m| m.interval = Some("1s".into()));
        let mut r = run(vec![m]);
        let (phase, _, _) = drive(r.clone(), &[SUCCESSFUL; 3], 3);
        assert_eq!(phase, RUNNING, "an indefinite metric runs until terminated");
        r.spec.terminate = Some(true);
        assert_eq!(
            assess(&r, at(0), DEFAULT_ERROR_RETRY).status.phase,
            SUCCESSFUL
        );
    }

    #[test]
    fn run_phase_is_the_worst_metric_and_dry_run_is_ignored() {
        let fast = metric("fast", |_| {});
        let slow = metric("slow", |m| {
            m.interval = Some("1s".into());
            m.count = Some(IntOrString::Int(3));
        });
        let (phase, message, _) = drive(run(vec![fast.clone(), slow.clone()]), &[FAILED], 10);
        assert_eq!(
            phase, FAILED,
            "one failed metric fails the run and stops the others"
        );
        assert!(message.unwrap().contains("\"fast\""));
        let mut dry = run(vec![fast, slow]);
        dry.spec.dry_run = Some(vec![DryRun {
            metric_name: "fa.*".into(),
        }]);
        let (phase, _, _) = drive(dry.clone(), &[FAILED], 10);
        assert_eq!(phase, SUCCESSFUL, "dry-run failures do not fail the run");
        let mut dry_run = dry;
        let status = {
            let mut r = dry_run.clone();
            for second in 0..10 {
                let a = assess(&r, at(second), DEFAULT_ERROR_RETRY);
                let mut s = a.status;
                for name in a.due {
                    let result = s
                        .metric_results
                        .as_mut()
                        .unwrap()
                        .iter_mut()
                        .find(|x| x.name == name)
                        .unwrap();
                    record(
                        result,
                        measurement(if name == "fast" { FAILED } else { SUCCESSFUL }, second),
                        10,
                    );
                }
                r.status = Some(s);
            }
            assess(&r, at(10), DEFAULT_ERROR_RETRY).status
        };
        dry_run.status = Some(status.clone());
        assert_eq!(
            status.dry_run_summary.as_ref().and_then(|s| s.failed),
            Some(1)
        );
        assert_eq!(
            status.run_summary.as_ref().and_then(|s| s.successful),
            Some(1)
        );
    }

    #[test]
    fn retention_keeps_the_last_measurements_but_counts_all() {
        let mut result = MetricResult {
            name: "m".into(),
            phase: RUNNING.into(),
            ..Default::default()
        };
        for i in 0..25 {
            record(&mut result, measurement(SUCCESSFUL, i), 10);
        }
        let kept = result.measurements.as_ref().unwrap();
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[0].finished_at, Some(Time(at(15))));
        assert_eq!(result.count, Some(25));
        let mut r = run(vec![metric("m", |_| {})]);
        r.spec.measurement_retention = Some(vec![crate::api::analysis::MeasurementRetention {
            metric_name: "m".into(),
            limit: 3,
        }]);
        assert_eq!(retention_for(&r, "m"), 3);
        r.spec.measurement_retention.as_mut().unwrap()[0].limit = 0;
        assert_eq!(
            retention_for(&r, "m"),
            DEFAULT_MEASUREMENT_RETENTION,
            "limit 0 is unset, as in Argo"
        );
    }
}

#[cfg(test)]
mod argo_cases;
