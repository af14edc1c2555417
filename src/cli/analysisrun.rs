//! `get analysisrun NAME`: a run's header and a tree of its metrics and their measurements
//! (value, outcome, age, message), in the style of `get rollout`. Argo's plugin has no such
//! view; the layout reuses its icons and columns so the two read alike.

use super::age::age;
use super::columns::{self, Cell};
use super::error::{Result, not_found_as};
use super::fetch::ANALYSIS_RUNS;
use super::info::{Counts, run_counts, run_phase};
use super::style::{ICON_ANALYSIS, ICON_METRIC, Style, analysis_icon};
use super::tree::counts_cell;
use crate::api::AnalysisRun;
use crate::api::analysis::{Measurement, MetricResult};
use crate::api::labels::REVISION;
use jiff::Timestamp;
use kube::Client;
use kube::api::Api;

/// Same minimum widths as `get rollout`, so both trees line up alike.
const MIN_WIDTHS: [usize; 5] = [0, 11, 12, 3, 0];

pub async fn fetch(client: &Client, namespace: &str, name: &str) -> Result<AnalysisRun> {
    Api::<AnalysisRun>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| not_found_as(e, ANALYSIS_RUNS, name))
}

fn field(out: &mut String, label: &str, value: &str) {
    let line = format!("{label:<17}{value}");
    out.push_str(line.trim_end());
    out.push('\n');
}

fn status_cells(phase: &str, style: Style) -> Cell {
    let icon = analysis_icon(phase);
    Cell::styled(
        format!("{icon} {phase}"),
        format!("{} {phase}", style.word(icon)),
    )
}

pub fn render(run: &AnalysisRun, now: Timestamp, style: Style) -> String {
    let phase = run_phase(run);
    let status = run.status.as_ref();
    let mut out = String::new();
    field(
        &mut out,
        "Name:",
        run.metadata.name.as_deref().unwrap_or_default(),
    );
    field(
        &mut out,
        "Namespace:",
        run.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let icon = analysis_icon(&phase);
    field(
        &mut out,
        "Status:",
        &format!("{} {phase}", style.word(icon)),
    );
    if let Some(message) = status
        .and_then(|s| s.message.as_deref())
        .filter(|m| !m.is_empty())
    {
        field(&mut out, "Message:", message);
    }
    if let Some(owner) = run
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        field(
            &mut out,
            "Owner:",
            &format!("{}/{}", owner.kind, owner.name),
        );
    }
    if let Some(revision) = run
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
    {
        field(&mut out, "Revision:", revision);
    }
    let args: Vec<String> = run
        .spec
        .args
        .iter()
        .flatten()
        .map(|a| match &a.value {
            Some(value) => format!("{}={value}", a.name),
            // Secret-backed values are not read by the CLI.
            None => format!("{}=<valueFrom>", a.name),
        })
        .collect();
    for (i, arg) in args.iter().enumerate() {
        field(&mut out, if i == 0 { "Args:" } else { "" }, arg);
    }
    out.push('\n');

    let run_name = run.metadata.name.as_deref().unwrap_or_default();
    let mut rows: Vec<Vec<Cell>> = vec![
        ["NAME", "KIND", "STATUS", "AGE", "INFO"]
            .into_iter()
            .map(Cell::from)
            .collect(),
        vec![
            Cell::styled(
                format!("{ICON_ANALYSIS} {run_name}"),
                format!("{ICON_ANALYSIS} {}", style.like(run_name, &phase)),
            ),
            Cell::plain("AnalysisRun"),
            status_cells(&phase, style),
            Cell::plain(age(run.metadata.creation_timestamp.as_ref(), now)),
            counts_cell(run_counts(run), style),
        ],
    ];
    let results: &[MetricResult] = status
        .and_then(|s| s.metric_results.as_deref())
        .unwrap_or_default();
    // Metrics in spec order; results for metrics no longer in the spec are still shown.
    let mut names: Vec<&str> = run.spec.metrics.iter().map(|m| m.name.as_str()).collect();
    for result in results {
        if !names.contains(&result.name.as_str()) {
            names.push(&result.name);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let result = results.iter().find(|r| r.name == *name);
        let (prefix, child) = if i + 1 == names.len() {
            ("└──", "   ")
        } else {
            ("├──", "│  ")
        };
        metric_rows(&mut rows, name, result, prefix, child, now, style);
    }
    out.push_str(&columns::render(&rows, &MIN_WIDTHS));
    out
}

fn metric_rows(
    rows: &mut Vec<Vec<Cell>>,
    name: &str,
    result: Option<&MetricResult>,
    prefix: &str,
    child: &str,
    now: Timestamp,
    style: Style,
) {
    let phase = result
        .map(|r| r.phase.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Pending".to_string());
    let counts = result.map_or_else(Counts::default, |r| Counts {
        successful: r.successful.unwrap_or(0),
        failed: r.failed.unwrap_or(0),
        inconclusive: r.inconclusive.unwrap_or(0),
        error: r.error.unwrap_or(0),
    });
    let mut info = counts_cell(counts, style);
    if let Some(message) = result
        .and_then(|r| r.message.as_deref())
        .filter(|m| !m.is_empty())
    {
        info = Cell::plain(message);
    }
    rows.push(vec![
        Cell::plain(format!("{prefix}{ICON_METRIC} {name}")),
        Cell::plain("Metric"),
        status_cells(&phase, style),
        Cell::plain(""),
        info,
    ]);
    let measurements: &[Measurement] = result
        .and_then(|r| r.measurements.as_deref())
        .unwrap_or_default();
    for (i, m) in measurements.iter().enumerate() {
        let branch = if i + 1 == measurements.len() {
            "└──"
        } else {
            "├──"
        };
        let value = m.value.as_deref().filter(|v| !v.is_empty()).unwrap_or("-");
        let at = m.finished_at.as_ref().or(m.started_at.as_ref());
        rows.push(vec![
            Cell::plain(format!("{child}{branch}{value}")),
            Cell::plain("Measurement"),
            status_cells(&m.phase, style),
            Cell::plain(at.map_or_else(String::new, |t| age(Some(t), now))),
            Cell::plain(m.message.clone().unwrap_or_default()),
        ]);
    }
}
