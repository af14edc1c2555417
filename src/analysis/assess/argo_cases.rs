//! Argo Rollouts' own cases for run assessment (analysis/analysis_test.go), as tables over
//! Weir's pure functions. Argo's inputs and expected values are kept; where Weir deliberately
//! differs, the row has Weir's value and a comment saying why.
//!
//! Argo's cases build times from `time.Now()`; here they are offsets from a fixed `now`. Argo's
//! `calculateNextReconcileTime` answers a time, Weir's `requeue_after` the wait until it.
//! Argo's non-dry-run cases expect an all-zero `dryRunSummary`, which Weir does not write;
//! [`dry_summary`] reads an absent summary as zeros.

use super::*;
use crate::api::analysis::{AnalysisRunSpec, AnalysisRunStatus, DryRun, MeasurementRetention};

const NOW: i64 = 1_800_000_000;

/// Sets a metric result's counters.
type Counters = fn(&mut MetricResult);
/// Measurement values, oldest first.
type Values = &'static [&'static str];
/// A phase a case expects, if it checks one.
type Phase = Option<&'static str>;
/// A measurementRetention rule: (metricName, limit).
type Rule = Option<(&'static str, i32)>;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

fn ago(seconds: i64) -> Time {
    Time(Timestamp::from_second(NOW - seconds).unwrap())
}

fn metric(name: &str, f: impl FnOnce(&mut Metric)) -> Metric {
    let mut m = Metric {
        name: name.into(),
        ..Default::default()
    };
    f(&mut m);
    m
}

/// A measurement that finished `seconds` ago.
fn done(phase: &str, seconds: i64) -> Measurement {
    Measurement {
        phase: phase.into(),
        started_at: Some(ago(seconds)),
        finished_at: Some(ago(seconds)),
        ..Default::default()
    }
}

/// A measurement started `seconds` ago without `finishedAt`.
fn unfinished(phase: &str, seconds: i64) -> Measurement {
    Measurement {
        phase: phase.into(),
        started_at: Some(ago(seconds)),
        ..Default::default()
    }
}

fn result(
    name: &str,
    phase: &str,
    measurements: Vec<Measurement>,
    f: impl FnOnce(&mut MetricResult),
) -> MetricResult {
    let mut r = MetricResult {
        name: name.into(),
        phase: phase.into(),
        measurements: (!measurements.is_empty()).then_some(measurements),
        ..Default::default()
    };
    f(&mut r);
    r
}

fn run(metrics: Vec<Metric>, results: Vec<MetricResult>) -> AnalysisRun {
    let mut r = AnalysisRun::new(
        "r",
        AnalysisRunSpec {
            metrics,
            ..Default::default()
        },
    );
    r.status = Some(AnalysisRunStatus {
        phase: RUNNING.into(),
        metric_results: (!results.is_empty()).then_some(results),
        ..Default::default()
    });
    r
}

fn int(v: i32) -> Option<IntOrString> {
    Some(IntOrString::Int(v))
}

fn assessed(run: &AnalysisRun) -> AnalysisRunStatus {
    assess(run, now(), DEFAULT_ERROR_RETRY).status
}

fn metric_of<'a>(status: &'a AnalysisRunStatus, name: &str) -> &'a MetricResult {
    status
        .metric_results
        .iter()
        .flatten()
        .find(|r| r.name == name)
        .unwrap()
}

/// (count, successful, failed, inconclusive, error) of the dry-run summary.
fn dry_summary(status: &AnalysisRunStatus) -> [i32; 5] {
    let s = status.dry_run_summary.clone().unwrap_or_default();
    [s.count, s.successful, s.failed, s.inconclusive, s.error].map(|v| v.unwrap_or(0))
}

/// Argo's newTerminatingRun: `run-forever` has a measurement in flight, `failed-metric` ended
/// with `phase` (its counter set accordingly).
fn terminating_run(phase: &str, dry_run: bool) -> AnalysisRun {
    let dry = dry_run.then_some(true);
    let forever = result("run-forever", RUNNING, vec![unfinished(RUNNING, 60)], |r| {
        r.dry_run = dry;
    });
    let last = if phase == ERROR {
        done(ERROR, 120)
    } else {
        done(phase, 60)
    };
    let failed = result("failed-metric", phase, vec![last], |r| {
        r.count = Some(1);
        r.dry_run = dry;
        match phase {
            FAILED => r.failed = Some(1),
            INCONCLUSIVE => r.inconclusive = Some(1),
            _ => r.error = Some(1),
        }
    });
    let mut r = run(
        vec![
            metric("run-forever", |_| {}),
            metric("failed-metric", |_| {}),
        ],
        vec![forever, failed],
    );
    if dry_run {
        r.spec.dry_run = Some(
            ["run-forever", "failed-metric"]
                .map(|name| DryRun {
                    metric_name: name.into(),
                })
                .to_vec(),
        );
    }
    r
}

/// A provider's answer for the in-flight last measurement, booked as Argo's runMeasurements
/// books it (Weir's Prometheus provider never leaves one in flight; Argo's Job provider does).
fn provider_completes(run: &mut AnalysisRun, name: &str, phase: &str, message: Option<&str>) {
    let status = run.status.as_mut().unwrap();
    let result = status
        .metric_results
        .iter_mut()
        .flatten()
        .find(|r| r.name == name)
        .unwrap();
    let mut answer = result.measurements.as_mut().unwrap().pop().unwrap();
    answer.phase = phase.into();
    answer.finished_at = Some(Time(now()));
    answer.message = message.map(String::from);
    record(result, answer, DEFAULT_MEASUREMENT_RETENTION);
}

// TestAssessMetricStatus* and TestAssessMetricFailureInconclusiveOrError: the phase of one
// metric from its measurements and counters, not terminating and terminating.
#[test]
fn assess_metric_status() {
    let rate = |f: fn(&mut Metric)| metric("success-rate", f);
    let measured = |phase: &str, f: fn(&mut MetricResult)| {
        result("success-rate", "", vec![done(phase, 60)], f)
    };
    let never = result("success-rate", "", vec![], |_| {});
    let in_flight = result(
        "success-rate",
        "",
        vec![done(SUCCESSFUL, 60), unfinished(RUNNING, 0)],
        |_| {},
    );
    let failures = |limit: i32| {
        let mut m = rate(|m| m.interval = Some("60s".into()));
        m.failure_limit = int(limit);
        m
    };
    let inconclusives = |limit: i32| {
        let mut m = rate(|m| m.interval = Some("60s".into()));
        m.inconclusive_limit = int(limit);
        m
    };
    let three_failed = || {
        measured(FAILED, |r| {
            r.failed = Some(3);
            r.count = Some(3);
        })
    };
    let three_inconclusive = || {
        measured(INCONCLUSIVE, |r| {
            r.inconclusive = Some(3);
            r.count = Some(3);
        })
    };
    let errors = |streak: i32| {
        let mut r = measured(ERROR, |r| r.count = Some(5));
        r.consecutive_error = Some(streak);
        r
    };
    // The Failed, Inconclusive and Error of TestAssessMetricFailureInconclusiveOrError.
    let forced =
        |phase: &str, f: fn(&mut MetricResult)| result("", "", vec![unfinished(phase, 0)], f);
    // (case, metric, result, phase when not terminating, phase when terminating); Argo's case
    // checks the phases it names.
    let cases: Vec<(&str, Metric, MetricResult, Phase, Phase)> = vec![
        (
            "NoMeasurements",
            rate(|_| {}),
            never,
            Some(PENDING),
            Some(SUCCESSFUL),
        ),
        (
            "InFlightMeasurement",
            rate(|_| {}),
            in_flight,
            Some(RUNNING),
            Some(RUNNING),
        ),
        (
            "FailureLimit 2",
            failures(2),
            three_failed(),
            Some(FAILED),
            Some(FAILED),
        ),
        (
            "FailureLimit 3",
            failures(3),
            three_failed(),
            Some(RUNNING),
            Some(SUCCESSFUL),
        ),
        (
            "InconclusiveLimit 2",
            inconclusives(2),
            three_inconclusive(),
            Some(INCONCLUSIVE),
            Some(INCONCLUSIVE),
        ),
        (
            "InconclusiveLimit 3",
            inconclusives(3),
            three_inconclusive(),
            Some(RUNNING),
            Some(SUCCESSFUL),
        ),
        (
            "ConsecutiveErrors 5",
            rate(|m| m.interval = Some("60s".into())),
            errors(5),
            Some(ERROR),
            Some(ERROR),
        ),
        (
            "ConsecutiveErrors 4",
            rate(|m| m.interval = Some("60s".into())),
            errors(4),
            Some(RUNNING),
            Some(SUCCESSFUL),
        ),
        (
            "CountReached",
            rate(|m| m.count = int(10)),
            measured(SUCCESSFUL, |r| {
                r.successful = Some(10);
                r.count = Some(10);
            }),
            Some(SUCCESSFUL),
            None,
        ),
        (
            "CountReached with inconclusives",
            rate(|m| m.count = int(10)),
            measured(SUCCESSFUL, |r| {
                r.successful = Some(5);
                r.inconclusive = Some(5);
                r.count = Some(10);
            }),
            Some(INCONCLUSIVE),
            None,
        ),
        (
            "FailureInconclusiveOrError: failed",
            Metric::default(),
            forced(FAILED, |r| r.failed = Some(1)),
            None,
            Some(FAILED),
        ),
        (
            "FailureInconclusiveOrError: inconclusive",
            Metric::default(),
            forced(INCONCLUSIVE, |r| r.inconclusive = Some(1)),
            None,
            Some(INCONCLUSIVE),
        ),
        (
            "FailureInconclusiveOrError: error",
            Metric::default(),
            forced(ERROR, |r| r.consecutive_error = Some(5)),
            None,
            Some(ERROR),
        ),
    ];
    for (name, metric, result, running, terminating) in cases {
        for (terminate, want) in [(false, running), (true, terminating)] {
            if let Some(want) = want {
                assert_eq!(
                    metric_phase(&metric, &result, terminate),
                    want,
                    "{name}, terminating {terminate}"
                );
            }
        }
    }
}

// TestAssessMetricFailureInconclusiveOrError: the phase the counters force and Argo's reason.
#[test]
fn assess_metric_failure_inconclusive_or_error() {
    let cases: Vec<(Counters, &str, &str)> = vec![
        (
            |r| r.failed = Some(1),
            FAILED,
            "failed (1) > failureLimit (0)",
        ),
        (
            |r| r.inconclusive = Some(1),
            INCONCLUSIVE,
            "inconclusive (1) > inconclusiveLimit (0)",
        ),
        (
            |r| r.consecutive_error = Some(5),
            ERROR,
            "consecutiveErrors (5) > consecutiveErrorLimit (4)",
        ),
    ];
    for (counters, phase, reason) in cases {
        let r = result("", "", vec![unfinished(phase, 0)], counters);
        assert_eq!(
            verdict(&Metric::default(), &r),
            Some((phase, reason.to_string()))
        );
    }
}

// TestGenerateMetricTasks*: which metrics are measured now.
#[test]
fn generate_metric_tasks() {
    let rate = |f: fn(&mut Metric)| metric("success-rate", f);
    let started = |mut r: AnalysisRun, seconds: Option<i64>| {
        r.status.as_mut().unwrap().started_at = seconds.map(ago);
        r
    };
    let errored = |interval: Option<&str>| {
        let mut m = rate(|_| {});
        m.interval = interval.map(String::from);
        run(
            vec![m],
            vec![result(
                "success-rate",
                RUNNING,
                vec![done(ERROR, 120)],
                |r| r.error = Some(1),
            )],
        )
    };
    let delayed = |delay: &str, seconds: Option<i64>| {
        let mut m = rate(|_| {});
        m.initial_delay = Some(delay.into());
        started(run(vec![m], vec![]), seconds)
    };
    let cases: Vec<(&str, AnalysisRun, &[&str])> = vec![
        (
            "Interval: within the interval",
            run(
                vec![rate(|m| m.interval = Some("60s".into()))],
                vec![result(
                    "success-rate",
                    RUNNING,
                    vec![done(SUCCESSFUL, 50)],
                    |_| {},
                )],
            ),
            &[],
        ),
        (
            "Interval: outside the interval",
            run(
                vec![rate(|m| m.interval = Some("60s".into()))],
                vec![result(
                    "success-rate",
                    RUNNING,
                    vec![done(SUCCESSFUL, 61)],
                    |_| {},
                )],
            ),
            &["success-rate"],
        ),
        (
            "Failing: one result already failed",
            run(
                vec![rate(|_| {}), metric("latency", |_| {})],
                vec![result("latency", FAILED, vec![], |_| {})],
            ),
            &[],
        ),
        (
            "Failing: no results",
            run(vec![rate(|_| {}), metric("latency", |_| {})], vec![]),
            &["success-rate", "latency"],
        ),
        (
            "NoIntervalOrCount: count reached",
            run(
                vec![rate(|_| {})],
                vec![result(
                    "success-rate",
                    "",
                    vec![done(SUCCESSFUL, 50)],
                    |r| r.count = Some(1),
                )],
            ),
            &[],
        ),
        (
            "NoIntervalOrCount: never measured",
            run(
                vec![rate(|_| {})],
                vec![result("success-rate", "", vec![], |_| {})],
            ),
            &["success-rate"],
        ),
        // Argo resumes the unfinished measurement through its provider (1 task). Weir has no
        // provider that resumes (Prometheus measures at once; Argo's own Prometheus provider
        // hands a resumed measurement back unchanged), and without an interval nothing is due.
        (
            "Incomplete",
            run(
                vec![rate(|_| {})],
                vec![result(
                    "success-rate",
                    RUNNING,
                    vec![unfinished(SUCCESSFUL, 50)],
                    |_| {},
                )],
            ),
            &[],
        ),
        ("HonorInitialDelay: no startedAt", delayed("20s", None), &[]),
        (
            "HonorInitialDelay: 10s of 20s",
            delayed("20s", Some(10)),
            &[],
        ),
        (
            "HonorInitialDelay: 20s of 20s",
            delayed("20s", Some(20)),
            &["success-rate"],
        ),
        (
            "HonorInitialDelay: invalid",
            delayed("invalid-start-delay", Some(20)),
            &[],
        ),
        // Argo resumes `success-rate2`, whose resumeAt has passed. Weir never resumes a
        // measurement (as above), so neither is measured.
        (
            "HonorResumeAt",
            run(
                vec![rate(|_| {}), metric("success-rate2", |_| {})],
                ["success-rate", "success-rate2"]
                    .into_iter()
                    .zip([-10, 10])
                    .map(|(name, resume_ago)| {
                        let mut m = unfinished(SUCCESSFUL, 50);
                        m.resume_at = Some(ago(resume_ago));
                        result(name, RUNNING, vec![m], |_| {})
                    })
                    .collect(),
            ),
            &[],
        ),
        ("Error", errored(None), &["success-rate"]),
        (
            "Error with interval 5m",
            errored(Some("5m")),
            &["success-rate"],
        ),
    ];
    for (name, run, want) in cases {
        assert_eq!(assess(&run, now(), DEFAULT_ERROR_RETRY).due, want, "{name}");
    }
}

// TestCalculateNextReconcile*: when the run is looked at again.
#[test]
fn calculate_next_reconcile_time() {
    let rate = |f: fn(&mut Metric)| metric("success-rate", f);
    let every_minute = |name: &str| metric(name, |m| m.interval = Some("60s".into()));
    let measured = |name: &str, phase: &str, seconds: i64| {
        result(name, RUNNING, vec![done(phase, seconds)], |_| {})
    };
    let with_delay = |delay: &str| {
        let mut r = run(
            vec![
                every_minute("success-rate"),
                metric("start-delay", |m| {
                    m.interval = Some("60s".into());
                    m.initial_delay = Some(delay.into());
                }),
            ],
            vec![measured("success-rate", SUCCESSFUL, 30)],
        );
        r.status.as_mut().unwrap().started_at = Some(ago(30));
        r
    };
    let upon_error = |interval: Option<&str>| {
        let mut m = rate(|_| {});
        m.interval = interval.map(String::from);
        run(
            vec![m],
            vec![result("success-rate", RUNNING, vec![done(ERROR, 0)], |r| {
                r.error = Some(1)
            })],
        )
    };
    let seconds = |s| Some(Duration::from_secs(s));
    let cases: Vec<(&str, AnalysisRun, Option<Duration>)> = vec![
        (
            "Interval",
            run(
                vec![every_minute("success-rate")],
                vec![measured("success-rate", SUCCESSFUL, 30)],
            ),
            seconds(30),
        ),
        (
            "Interval: in flight",
            run(
                vec![every_minute("success-rate")],
                vec![result(
                    "success-rate",
                    RUNNING,
                    vec![unfinished(RUNNING, 30)],
                    |_| {},
                )],
            ),
            None,
        ),
        // Argo's case leaves the result's name empty, which makes it no result of the metric;
        // the name is set here, as the case means a completed metric.
        (
            "Interval: completed",
            run(
                vec![every_minute("success-rate")],
                vec![result(
                    "success-rate",
                    SUCCESSFUL,
                    vec![done(SUCCESSFUL, 120)],
                    |_| {},
                )],
            ),
            None,
        ),
        ("InitialDelay", with_delay("40s"), seconds(10)),
        (
            "InitialDelay: invalid",
            with_delay("not-valid-start-delay"),
            seconds(30),
        ),
        (
            "NoInterval",
            run(
                vec![rate(|m| m.count = int(1))],
                vec![result(
                    "success-rate",
                    SUCCESSFUL,
                    vec![done(SUCCESSFUL, 0)],
                    |_| {},
                )],
            ),
            None,
        ),
        (
            "EarliestMetric",
            run(
                vec![every_minute("success-rate"), every_minute("latency")],
                vec![
                    measured("success-rate", SUCCESSFUL, 30),
                    measured("latency", SUCCESSFUL, 50),
                ],
            ),
            seconds(10),
        ),
        // Argo requeues at the in-flight measurement's resumeAt (in 10 s) to resume it. Weir
        // never resumes a measurement, so there is nothing to come back for.
        (
            "HonorResumeAt",
            run(
                vec![every_minute("success-rate")],
                vec![{
                    let mut m = unfinished(SUCCESSFUL, 30);
                    m.resume_at = Some(ago(-10));
                    result("success-rate", RUNNING, vec![m], |_| {})
                }],
            ),
            None,
        ),
        ("UponError", upon_error(None), seconds(10)),
        (
            "UponError with interval 5m",
            upon_error(Some("5m")),
            seconds(10),
        ),
    ];
    for (name, run, want) in cases {
        assert_eq!(
            assess(&run, now(), DEFAULT_ERROR_RETRY).requeue_after,
            want,
            "{name}"
        );
    }
}

/// What a case expects of the assessed run.
struct Want {
    phase: &'static str,
    message: Option<&'static str>,
    metrics: &'static [(&'static str, &'static str)],
    metric_messages: &'static [(&'static str, &'static str)],
    dry_run_summary: Option<[i32; 5]>,
}

const ANY: Want = Want {
    phase: "",
    message: None,
    metrics: &[],
    metric_messages: &[],
    dry_run_summary: None,
};

// TestAssessRunStatus*, TestTerminateAnalysisRun* and the reconcile cases: the run's phase,
// message, metric phases and messages, and dry-run summary.
#[test]
fn assess_run_status() {
    let two = || vec![metric("latency", |_| {}), metric("success-rate", |_| {})];
    let failed_1 = "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0)";
    let forever_1 = "Metric \"run-forever\" assessed Failed due to failed (1) > failureLimit (0)";
    let with_provider_message = |dry_run: bool| {
        let mut r = terminating_run(FAILED, dry_run);
        let results = r.status.as_mut().unwrap().metric_results.as_mut().unwrap();
        results[0].phase = SUCCESSFUL.into();
        results[1].message = Some("Provider Error".into());
        r
    };
    let both_failed = |dry_run: bool| {
        let mut r = terminating_run(FAILED, dry_run);
        let results = r.status.as_mut().unwrap().metric_results.as_mut().unwrap();
        results[0].phase = FAILED.into();
        results[0].failed = Some(1);
        r
    };
    let forever_successful = |dry_run: bool| {
        let mut r = terminating_run(FAILED, dry_run);
        r.status.as_mut().unwrap().metric_results.as_mut().unwrap()[0].phase = SUCCESSFUL.into();
        r
    };
    let terminated = |dry_run: bool| {
        let mut r = run(
            vec![metric("success-rate", |m| {
                m.initial_delay = Some("20s".into());
                m.interval = Some("20s".into());
                m.success_condition = Some("result[0] > 0.90".into());
            })],
            vec![],
        );
        r.spec.terminate = Some(true);
        if dry_run {
            r.spec.dry_run = Some(vec![DryRun {
                metric_name: "success-rate".into(),
            }]);
        }
        r.status.as_mut().unwrap().started_at = Some(Time(now()));
        r
    };
    let cases: Vec<(&str, AnalysisRun, Want)> = vec![
        (
            "AssessRunStatus: one metric still running",
            run(
                two(),
                vec![
                    result("latency", SUCCESSFUL, vec![], |_| {}),
                    result("success-rate", RUNNING, vec![], |_| {}),
                ],
            ),
            Want {
                phase: RUNNING,
                ..ANY
            },
        ),
        (
            "AssessRunStatus: worst of the completed metrics",
            run(
                two(),
                vec![
                    result("latency", SUCCESSFUL, vec![], |_| {}),
                    result("success-rate", FAILED, vec![], |_| {}),
                ],
            ),
            Want {
                phase: FAILED,
                ..ANY
            },
        ),
        // Argo: Running with no message, and `sleep-infinity` is stopped at the next
        // reconcile. Weir ends the run in the pass that fails a metric, so that the Rollout's
        // abort does not wait for another round; the phase and message are the ones Argo
        // writes a reconcile later. The in-flight measurement stays Running, as Argo's
        // Prometheus provider leaves it when asked to terminate it.
        (
            "AssessRunStatusUpdateResult",
            run(
                vec![
                    metric("sleep-infinity", |_| {}),
                    metric("fail-after-30", |_| {}),
                ],
                vec![
                    result(
                        "sleep-infinity",
                        RUNNING,
                        vec![unfinished(RUNNING, 60)],
                        |_| {},
                    ),
                    result("fail-after-30", RUNNING, vec![done(FAILED, 60)], |r| {
                        r.count = Some(1);
                        r.failed = Some(1);
                    }),
                ],
            ),
            Want {
                phase: FAILED,
                message: Some(
                    "Metric \"fail-after-30\" assessed Failed due to failed (1) > failureLimit (0)",
                ),
                metrics: &[("sleep-infinity", RUNNING), ("fail-after-30", FAILED)],
                ..ANY
            },
        ),
        (
            "ErrorMessageAnalysisPhaseFail",
            forever_successful(false),
            Want {
                phase: FAILED,
                message: Some(failed_1),
                dry_run_summary: Some([0; 5]),
                ..ANY
            },
        ),
        (
            "ErrorMessageAnalysisPhaseFailInDryRunMode",
            forever_successful(true),
            Want {
                phase: SUCCESSFUL,
                dry_run_summary: Some([2, 1, 1, 0, 0]),
                ..ANY
            },
        ),
        (
            "ErrorMessageFromProvider",
            with_provider_message(false),
            Want {
                phase: FAILED,
                message: Some(
                    "Metric \"failed-metric\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: Provider Error\"",
                ),
                dry_run_summary: Some([0; 5]),
                ..ANY
            },
        ),
        (
            "ErrorMessageFromProviderInDryRunMode",
            with_provider_message(true),
            Want {
                phase: SUCCESSFUL,
                dry_run_summary: Some([2, 1, 1, 0, 0]),
                ..ANY
            },
        ),
        (
            "MultipleFailures",
            both_failed(false),
            Want {
                phase: FAILED,
                message: Some(forever_1),
                dry_run_summary: Some([0; 5]),
                ..ANY
            },
        ),
        (
            "MultipleFailuresInDryRunMode",
            both_failed(true),
            Want {
                phase: SUCCESSFUL,
                dry_run_summary: Some([2, 0, 2, 0, 0]),
                ..ANY
            },
        ),
        (
            "WorstMessageInReconcileAnalysisRun",
            both_failed(false),
            Want {
                phase: FAILED,
                message: Some(forever_1),
                ..ANY
            },
        ),
        (
            "WorstMessageInReconcileAnalysisRunInDryRunMode",
            both_failed(true),
            Want {
                phase: SUCCESSFUL,
                dry_run_summary: Some([2, 0, 2, 0, 0]),
                metric_messages: &[
                    (
                        "run-forever",
                        "Metric assessed Failed due to failed (1) > failureLimit (0)",
                    ),
                    (
                        "failed-metric",
                        "Metric assessed Failed due to failed (1) > failureLimit (0)",
                    ),
                ],
                ..ANY
            },
        ),
        (
            "WithOnlyDryRunMetrics",
            {
                let mut r = run(
                    vec![metric("success-metric", |_| {})],
                    vec![result(
                        "success-metric",
                        SUCCESSFUL,
                        vec![done(SUCCESSFUL, 60)],
                        |r| {
                            r.count = Some(1);
                            r.successful = Some(1);
                            r.dry_run = Some(true);
                        },
                    )],
                );
                r.spec.dry_run = Some(vec![DryRun {
                    metric_name: "success-metric".into(),
                }]);
                r.status.as_mut().unwrap().phase = String::new();
                r
            },
            Want {
                phase: SUCCESSFUL,
                ..ANY
            },
        ),
        (
            "TerminateAnalysisRun",
            terminated(false),
            Want {
                phase: SUCCESSFUL,
                message: Some("Run Terminated"),
                ..ANY
            },
        ),
        // Argo: dry-run summary (1, 0, 0, 0, 0). Argo adds a metric's result at its first
        // measurement; Weir lists every metric from the start (Pending), so the metric the
        // terminated run never measured is there, and Successful as Argo assesses it.
        (
            "TerminateAnalysisRunInDryRunMode",
            terminated(true),
            Want {
                phase: SUCCESSFUL,
                message: Some("Run Terminated"),
                dry_run_summary: Some([1, 1, 0, 0, 0]),
                ..ANY
            },
        ),
    ];
    for (name, run, want) in cases {
        check(name, &assessed(&run), &want);
    }
}

fn check(name: &str, status: &AnalysisRunStatus, want: &Want) {
    assert_eq!(status.phase, want.phase, "{name}: phase");
    assert_eq!(status.message.as_deref(), want.message, "{name}: message");
    for (metric, phase) in want.metrics {
        assert_eq!(metric_of(status, metric).phase, *phase, "{name}: {metric}");
    }
    for (metric, message) in want.metric_messages {
        assert_eq!(
            metric_of(status, metric).message.as_deref(),
            Some(*message),
            "{name}: {metric}'s message"
        );
    }
    if let Some(summary) = want.dry_run_summary {
        assert_eq!(dry_summary(status), summary, "{name}: dry-run summary");
    }
}

// The reconcile cases whose provider answers for a measurement in flight: Argo's Job
// provider terminates or resumes it; the answer is applied as data, then assessed.
#[test]
fn provider_answers_for_measurements_in_flight() {
    // TestReconcileAnalysisRunTerminateSiblingAfterFail: a failed sibling terminates the run;
    // the in-flight measurement comes back terminated, which Argo words "Metric Terminated".
    for phase in [FAILED, INCONCLUSIVE, ERROR] {
        let mut r = terminating_run(phase, false);
        provider_completes(&mut r, "run-forever", SUCCESSFUL, Some("Metric Terminated"));
        let status = assessed(&r);
        let forever = metric_of(&status, "run-forever");
        assert_eq!(status.phase, phase);
        assert_eq!(metric_of(&status, "failed-metric").phase, phase);
        assert_eq!(forever.phase, SUCCESSFUL);
        let measurement = &forever.measurements.as_ref().unwrap()[0];
        assert_eq!(measurement.phase, SUCCESSFUL);
        assert!(measurement.finished_at.is_some());
        assert_eq!(forever.message.as_deref(), Some("Metric Terminated"));
        assert_eq!(measurement.message.as_deref(), Some("Metric Terminated"));
    }
    // TestReconcileAnalysisRunResumeInProgress.
    let mut r = run(
        vec![metric("test", |_| {})],
        vec![result(
            "test",
            RUNNING,
            vec![unfinished(RUNNING, 60)],
            |_| {},
        )],
    );
    provider_completes(&mut r, "test", SUCCESSFUL, None);
    let status = assessed(&r);
    let test = metric_of(&status, "test");
    assert_eq!(
        (status.phase.as_str(), test.phase.as_str()),
        (SUCCESSFUL, SUCCESSFUL)
    );
    let measurement = &test.measurements.as_ref().unwrap()[0];
    assert_eq!(measurement.phase, SUCCESSFUL);
    assert!(measurement.finished_at.is_some());
    // TestAssessRunStatusWithMixedMetrics: the dry-run metric's failure does not count.
    let mut r = run(
        vec![
            metric("run-forever", |_| {}),
            metric("success-metric", |_| {}),
        ],
        vec![
            result("run-forever", RUNNING, vec![unfinished(RUNNING, 60)], |r| {
                r.inconclusive = Some(1)
            }),
            result("success-metric", SUCCESSFUL, vec![done(FAILED, 60)], |r| {
                r.count = Some(1);
                r.failed = Some(1);
                r.dry_run = Some(true);
            }),
        ],
    );
    r.spec.dry_run = Some(vec![DryRun {
        metric_name: "success-metric".into(),
    }]);
    provider_completes(&mut r, "run-forever", SUCCESSFUL, None);
    check(
        "WithMixedMetrics",
        &assessed(&r),
        &Want {
            phase: INCONCLUSIVE,
            message: Some(
                "Metric \"run-forever\" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)",
            ),
            ..ANY
        },
    );
}

// TestReconcileAnalysisRunInitial: one measurement, then what it makes of the run.
#[test]
fn reconcile_analysis_run_initial() {
    let cases: Vec<(&str, Option<i32>, Option<&str>, &str)> = vec![
        ("interval 60s", None, Some("60s"), RUNNING),
        ("count 1", Some(1), Some("60s"), SUCCESSFUL),
        ("count 0 without an interval", Some(0), None, SUCCESSFUL),
    ];
    for (name, count, interval, want) in cases {
        let m = metric("success-rate", |m| {
            m.count = count.map(IntOrString::Int);
            m.interval = interval.map(String::from);
        });
        let mut r = run(vec![m], vec![]);
        r.status = None;
        let first = assess(&r, now(), DEFAULT_ERROR_RETRY);
        assert_eq!(first.due, ["success-rate"], "{name}");
        let mut status = first.status;
        let result = &mut status.metric_results.as_mut().unwrap()[0];
        record(result, done(SUCCESSFUL, 0), DEFAULT_MEASUREMENT_RETENTION);
        r.status = Some(status);
        let status = assessed(&r);
        let result = metric_of(&status, "success-rate");
        assert_eq!(
            (result.phase.as_str(), status.phase.as_str()),
            (want, want),
            "{name}"
        );
        let measurements = result.measurements.as_ref().unwrap();
        assert_eq!(measurements.len(), 1, "{name}");
        assert_eq!(measurements[0].phase, SUCCESSFUL, "{name}");
    }
}

// TestRunMeasurementsResetConsecutiveErrorCounter: an Error counts as an error, not a
// measurement (Argo runs the case for Error only).
#[test]
fn run_measurements_consecutive_error_counter() {
    let mut r = result("test", RUNNING, vec![], |r| {
        r.consecutive_error = Some(4);
        r.count = Some(4);
        r.error = Some(4);
    });
    record(&mut r, done(ERROR, 0), DEFAULT_MEASUREMENT_RETENTION);
    assert_eq!(
        (r.consecutive_error, r.error, r.count),
        (Some(5), Some(5), Some(4))
    );
}

// TestTrimMeasurementHistory: the newest measurements are kept, per metric. Argo trims after
// the fact with a default limit; Weir trims each metric's list as it books a measurement.
#[test]
fn trim_measurement_history() {
    let value = |v: &str| Measurement {
        value: Some(v.into()),
        ..done(SUCCESSFUL, 0)
    };
    // (default limit, retention rule for metric2, what metric1 and metric2 keep). Argo's third
    // case hands its garbage collector a rule already matched to metric2 (its pattern "*" is
    // never read); `.*` matches metric2 here, and metric1 has one measurement to keep anyway.
    let cases: Vec<(usize, Rule, Values, Values)> = vec![
        (2, None, &["1"], &["2", "3"]),
        (1, None, &["1"], &["3"]),
        (1, Some((".*", 2)), &["1"], &["2", "3"]),
        (1, Some(("metric2", 2)), &["1"], &["2", "3"]),
    ];
    for (default, rule, want1, want2) in cases {
        let mut r = run(
            vec![metric("metric1", |_| {}), metric("metric2", |_| {})],
            vec![],
        );
        r.spec.measurement_retention = rule.map(|(pattern, limit)| {
            vec![MeasurementRetention {
                metric_name: pattern.into(),
                limit,
            }]
        });
        for (name, values, want) in [
            ("metric1", &["1"][..], want1),
            ("metric2", &["2", "3"], want2),
        ] {
            // The case's default limit stands in for Weir's (10), which no rule here sets.
            let limit = match retention_for(&r, name) {
                DEFAULT_MEASUREMENT_RETENTION => default,
                rule => rule,
            };
            let mut kept = result(name, RUNNING, vec![], |_| {});
            for v in values {
                record(&mut kept, value(v), limit);
            }
            let kept: Vec<_> = kept
                .measurements
                .unwrap()
                .into_iter()
                .map(|m| m.value.unwrap())
                .collect();
            assert_eq!(kept, *want, "{name}, default {default}, rule {rule:?}");
        }
    }
}
