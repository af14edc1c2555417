//! The Rollout's side of analysis (Argo's rollout/analysis.go): create the step and background
//! AnalysisRuns, read their phases, abort on Failed/Error, pause on Inconclusive, terminate
//! runs that are no longer needed and keep the run history within its limits. Runs before the
//! routing decisions so that a failed run puts the canary weight to 0 in the same plan.

use super::abort::Cause;
use super::canary::Context;
use super::plan::{EventType, Plan};
use crate::analysis::assess::{ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, is_completed};
use crate::analysis::template::{
    ArgContext, LABEL_ROLLOUT_TYPE, LABEL_STEP_INDEX, RunInput, RunKind, TYPE_BACKGROUND,
    TYPE_STEP, build_run, resolve, run_args, run_name,
};
use crate::api::analysis::AnalysisRun;
use crate::api::labels::POD_TEMPLATE_HASH;
use crate::api::rollout::{
    PauseCondition, RevertEvidence, RolloutAnalysis, RolloutAnalysisRunStatus,
};
use std::sync::Arc;

pub const PAUSE_REASON_INCONCLUSIVE: &str = "InconclusiveAnalysisRun";
const DEFAULT_HISTORY_LIMIT: i32 = 5;

#[derive(Debug, Default)]
pub struct AnalysisState {
    /// The current step is an analysis step whose run succeeded.
    pub step_successful: bool,
    /// A current run failed or errored: the abort it causes, with what it measured for the Git
    /// revert's commit (the background run's if both failed).
    pub abort: Option<Cause>,
    /// A current run's results cannot be written: its verdict is unknown, so the Rollout must
    /// neither advance nor promote (a background analysis that never measures would otherwise
    /// let a bad release through).
    pub unrecorded: bool,
}

fn label<'a>(run: &'a AnalysisRun, key: &str) -> Option<&'a str> {
    run.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

fn phase(run: &AnalysisRun) -> &str {
    run.status.as_ref().map(|s| s.phase.as_str()).unwrap_or("")
}

fn name(run: &AnalysisRun) -> &str {
    run.metadata.name.as_deref().unwrap_or_default()
}

fn matches(run: &AnalysisRun, hash: &str, kind: RunKind) -> bool {
    label(run, POD_TEMPLATE_HASH) == Some(hash)
        && match kind {
            RunKind::Background => label(run, LABEL_ROLLOUT_TYPE) == Some(TYPE_BACKGROUND),
            RunKind::Step(i) => {
                label(run, LABEL_ROLLOUT_TYPE) == Some(TYPE_STEP)
                    && label(run, LABEL_STEP_INDEX) == Some(i.to_string().as_str())
            }
        }
}

fn entry(plan: &mut Plan, kind: RunKind) -> &mut Option<RolloutAnalysisRunStatus> {
    let canary = plan.status.canary.get_or_insert_with(Default::default);
    match kind {
        RunKind::Background => &mut canary.current_background_analysis_run_status,
        RunKind::Step(_) => &mut canary.current_step_analysis_run_status,
    }
}

pub fn reconcile(
    ctx: &Context,
    plan: &mut Plan,
    index: usize,
    aborted: bool,
    finished: bool,
    revision: i64,
) -> AnalysisState {
    let mut state = AnalysisState::default();
    let runs = &ctx.observed.analysis_runs;
    for run in runs {
        let current = label(run, POD_TEMPLATE_HASH) == Some(ctx.hash.as_str());
        if !is_completed(phase(run))
            && run.spec.terminate != Some(true)
            && (aborted || finished || !current)
        {
            plan.terminate_analysis_runs.push(name(run).to_string());
        }
    }
    if aborted || finished {
        for kind in [RunKind::Background, RunKind::Step(index)] {
            refresh(ctx, plan, kind);
        }
        collect_garbage(ctx, plan);
        return state;
    }
    let has_stable = plan
        .status
        .stable_rs
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s != ctx.hash);
    if let Some(background) = ctx
        .canary
        .analysis
        .as_ref()
        .filter(|b| b.analysis.templates.as_ref().is_some_and(|t| !t.is_empty()))
    {
        let starting = usize::try_from(background.starting_step.unwrap_or(0)).unwrap_or(0);
        if has_stable && index >= starting {
            drive(
                ctx,
                plan,
                &background.analysis,
                RunKind::Background,
                revision,
                &mut state.abort,
            );
        }
    }
    if let Some(step_analysis) = ctx.steps.get(index).and_then(|s| s.analysis.as_ref()) {
        let kind = RunKind::Step(index);
        state.step_successful =
            drive(ctx, plan, step_analysis, kind, revision, &mut state.abort) == Some(SUCCESSFUL);
    }
    state.unrecorded = [RunKind::Background, RunKind::Step(index)]
        .into_iter()
        .filter_map(|kind| entry(plan, kind).as_ref().map(|e| e.name.clone()))
        .any(|run| {
            ctx.observed
                .write_failures
                .iter()
                .any(|f| f.kind == "AnalysisRun" && f.name == run)
        });
    collect_garbage(ctx, plan);
    state
}

/// Finds or creates the run of `kind`, reacts to its phase, returns that phase.
fn drive(
    ctx: &Context,
    plan: &mut Plan,
    analysis: &RolloutAnalysis,
    kind: RunKind,
    revision: i64,
    abort: &mut Option<Cause>,
) -> Option<&'static str> {
    let run = current_run(ctx, plan, kind);
    let resumed = run.is_some_and(|r| phase(r) == INCONCLUSIVE)
        && plan.status.controller_pause == Some(true)
        && plan
            .status
            .pause_conditions
            .as_ref()
            .is_none_or(Vec::is_empty);
    match run {
        Some(_) if resumed => {
            // The user cleared the inconclusive pause without skipping the step: measure again.
            plan.status.controller_pause = None;
            create(ctx, plan, analysis, kind, revision);
            None
        }
        Some(run) => Some(react(ctx, plan, run, kind, revision, abort)),
        None => {
            let paused = plan
                .status
                .pause_conditions
                .as_ref()
                .is_some_and(|p| !p.is_empty());
            if !paused {
                create(ctx, plan, analysis, kind, revision);
            }
            None
        }
    }
}

/// The run recorded in status for `kind` if it is still this revision's, else a matching run
/// that is still going (created by a plan whose status write did not land).
fn current_run<'a>(ctx: &'a Context, plan: &mut Plan, kind: RunKind) -> Option<&'a AnalysisRun> {
    let runs = &ctx.observed.analysis_runs;
    let recorded = entry(plan, kind).as_ref().map(|e| e.name.clone());
    if let Some(run) = recorded
        .and_then(|n| runs.iter().find(|r| name(r) == n))
        .filter(|r| matches(r, &ctx.hash, kind))
    {
        return Some(run);
    }
    let adopted = runs
        .iter()
        .filter(|r| {
            matches(r, &ctx.hash, kind) && !is_completed(phase(r)) && r.spec.terminate != Some(true)
        })
        .max_by_key(|r| r.metadata.creation_timestamp.as_ref().map(|t| t.0))?;
    *entry(plan, kind) = Some(RolloutAnalysisRunStatus {
        name: name(adopted).to_string(),
        status: phase(adopted).to_string(),
        message: None,
    });
    Some(adopted)
}

fn create(
    ctx: &Context,
    plan: &mut Plan,
    analysis: &RolloutAnalysis,
    kind: RunKind,
    revision: i64,
) {
    let stable_hash = plan.status.stable_rs.clone();
    let built = resolve(
        analysis.templates.as_deref().unwrap_or_default(),
        &ctx.observed.templates,
    )
    .and_then(|resolved| {
        let arg_ctx = ArgContext {
            rollout: ctx.rollout,
            stable_hash: stable_hash.as_deref(),
            latest_hash: &ctx.hash,
        };
        let args = run_args(
            &resolved,
            analysis.args.as_deref().unwrap_or_default(),
            &arg_ctx,
        )?;
        Ok((resolved, args))
    });
    let (resolved, args) = match built {
        Ok(built) => built,
        // Validation reports template problems as InvalidSpec before this point; a template that
        // changed since then waits for the next plan's validation.
        Err(e) => {
            plan.event(
                EventType::Warning,
                "AnalysisRunError",
                format!("cannot create the AnalysisRun: {e}"),
            );
            return;
        }
    };
    let base = run_name(ctx.name, &ctx.hash, revision, kind);
    let taken = |candidate: &str| {
        ctx.observed
            .analysis_runs
            .iter()
            .any(|r| name(r) == candidate)
            || plan
                .create_analysis_runs
                .iter()
                .any(|r| r.metadata.name.as_deref() == Some(candidate))
    };
    let mut run_name = base.clone();
    let mut attempt = 1;
    while taken(&run_name) {
        run_name = format!("{base}.{attempt}");
        attempt += 1;
    }
    let run = build_run(RunInput {
        rollout: ctx.rollout,
        analysis,
        kind,
        name: run_name.clone(),
        pod_hash: &ctx.hash,
        revision,
        resolved,
        args,
    });
    plan.create_analysis_runs.push(run);
    *entry(plan, kind) = Some(RolloutAnalysisRunStatus {
        name: run_name,
        status: "Pending".into(),
        message: None,
    });
}

fn describe(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Step(_) => "Step",
        RunKind::Background => "Background",
    }
}

/// Records the run's phase in status (with an event when it changes) and acts on it.
fn react(
    ctx: &Context,
    plan: &mut Plan,
    run: &AnalysisRun,
    kind: RunKind,
    revision: i64,
    abort: &mut Option<Cause>,
) -> &'static str {
    let now_phase: &'static str = match phase(run) {
        SUCCESSFUL => SUCCESSFUL,
        FAILED => FAILED,
        ERROR => ERROR,
        INCONCLUSIVE => INCONCLUSIVE,
        "Running" => "Running",
        _ => "Pending",
    };
    let message = run.status.as_ref().and_then(|s| s.message.clone());
    record(plan, run, kind);
    match now_phase {
        FAILED | ERROR => {
            let kind_text = match kind {
                RunKind::Step(_) => "Step-based",
                RunKind::Background => "Background",
            };
            // Argo's words, which `kubectl argo rollouts` and Argo CD show: the run's message
            // (the metric, its limits and the provider's error) after the prefix, if it has one.
            let mut abort_message = format!(
                "Rollout aborted update to revision {revision}: {kind_text} analysis phase error/failed"
            );
            if let Some(message) = message.filter(|m| !m.is_empty()) {
                abort_message.push_str(": ");
                abort_message.push_str(&message);
            }
            if abort.is_none() {
                *abort = Some(Cause::Analysis {
                    message: abort_message,
                    evidence: failed_evidence(ctx, plan, kind).unwrap_or_default(),
                });
            }
        }
        INCONCLUSIVE => {
            let paused = plan
                .status
                .pause_conditions
                .iter()
                .flatten()
                .any(|p| p.reason == PAUSE_REASON_INCONCLUSIVE);
            if !paused {
                plan.status
                    .pause_conditions
                    .get_or_insert_with(Vec::new)
                    .push(PauseCondition {
                        reason: PAUSE_REASON_INCONCLUSIVE.into(),
                        start_time: ctx.now_time.clone(),
                    });
                plan.status.controller_pause = Some(true);
                plan.event(
                    EventType::Normal,
                    "RolloutPaused",
                    format!("Rollout is paused ({PAUSE_REASON_INCONCLUSIVE})"),
                );
            }
        }
        _ => {}
    }
    now_phase
}

/// Copies the run's phase and message into the status entry, with Argo's event on a change.
fn record(plan: &mut Plan, run: &AnalysisRun, kind: RunKind) {
    let new = phase(run).to_string();
    let message = run.status.as_ref().and_then(|s| s.message.clone());
    let previous = entry(plan, kind)
        .as_ref()
        .filter(|e| e.name == name(run))
        .map(|e| e.status.clone())
        .unwrap_or_default();
    if !new.is_empty() && new != previous {
        let warning = new == FAILED || new == ERROR;
        plan.event(
            if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            &format!("AnalysisRun{new}"),
            format!(
                "{} Analysis Run '{}' Status New: '{new}' Previous: '{previous}'",
                describe(kind),
                name(run)
            ),
        );
    }
    *entry(plan, kind) = Some(RolloutAnalysisRunStatus {
        name: name(run).to_string(),
        status: if new.is_empty() { previous } else { new },
        message,
    });
}

fn refresh(ctx: &Context, plan: &mut Plan, kind: RunKind) {
    let recorded = entry(plan, kind).as_ref().map(|e| e.name.clone());
    if let Some(run) =
        recorded.and_then(|n| ctx.observed.analysis_runs.iter().find(|r| name(r) == n))
    {
        record(plan, run, kind);
    }
}

/// Keeps the newest successful and unsuccessful completed runs within
/// spec.analysis.{successful,unsuccessful}RunHistoryLimit (default 5 each).
fn collect_garbage(ctx: &Context, plan: &mut Plan) {
    let limits = ctx.rollout.spec.analysis.as_ref();
    let keep_successful = limits
        .and_then(|a| a.successful_run_history_limit)
        .unwrap_or(DEFAULT_HISTORY_LIMIT);
    let keep_unsuccessful = limits
        .and_then(|a| a.unsuccessful_run_history_limit)
        .unwrap_or(DEFAULT_HISTORY_LIMIT);
    let current: Vec<String> = plan
        .status
        .canary
        .iter()
        .flat_map(|c| {
            [
                &c.current_step_analysis_run_status,
                &c.current_background_analysis_run_status,
            ]
        })
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    let mut completed: Vec<&AnalysisRun> = ctx
        .observed
        .analysis_runs
        .iter()
        .map(Arc::as_ref)
        .filter(|r| is_completed(phase(r)) && !current.iter().any(|c| c == name(r)))
        .collect();
    completed.sort_by_key(|r| {
        std::cmp::Reverse((
            r.metadata.creation_timestamp.as_ref().map(|t| t.0),
            name(r).to_string(),
        ))
    });
    let (mut successful, mut unsuccessful) = (0, 0);
    for run in completed {
        let counter = if phase(run) == SUCCESSFUL {
            &mut successful
        } else {
            &mut unsuccessful
        };
        *counter += 1;
        let limit = if phase(run) == SUCCESSFUL {
            keep_successful
        } else {
            keep_unsuccessful
        };
        if *counter > limit {
            plan.delete_analysis_runs.push(name(run).to_string());
        }
    }
}

/// Evidence from the current run of `kind` if it Failed or Errored: the run, the first failing
/// metric, its last measured value and its conditions.
fn failed_evidence(ctx: &Context, plan: &mut Plan, kind: RunKind) -> Option<RevertEvidence> {
    let recorded = entry(plan, kind).as_ref().map(|e| e.name.clone())?;
    let run = ctx
        .observed
        .analysis_runs
        .iter()
        .find(|r| name(r) == recorded)?;
    if !matches!(phase(run), FAILED | ERROR) {
        return None;
    }
    let status = run.status.as_ref()?;
    let failing = status
        .metric_results
        .iter()
        .flatten()
        .find(|r| r.dry_run != Some(true) && matches!(r.phase.as_str(), FAILED | ERROR));
    let metric = failing.and_then(|f| run.spec.metrics.iter().find(|m| m.name == f.name));
    let condition = metric.map(|m| match (&m.success_condition, &m.failure_condition) {
        (Some(s), Some(f)) => format!("successCondition: {s}; failureCondition: {f}"),
        (Some(s), None) => format!("successCondition: {s}"),
        (None, Some(f)) => format!("failureCondition: {f}"),
        (None, None) => "no condition".to_string(),
    });
    Some(RevertEvidence {
        analysis_run: Some(recorded),
        metric: failing.map(|f| f.name.clone()),
        value: failing.and_then(|f| f.measurements.as_ref()?.last()?.value.clone()),
        condition,
        message: status
            .message
            .clone()
            .unwrap_or_else(|| format!("AnalysisRun {}", phase(run))),
    })
}
