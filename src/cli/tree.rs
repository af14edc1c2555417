//! `get rollout`: the header and the tree of revisions, ReplicaSets, Pods and AnalysisRuns, laid
//! out like Argo's plugin (cmd/get/get_rollout.go). A pure function of the fetched objects and
//! `now`, so a frame can be compared with the previous one and tested against golden files.
//! When Weir reverted an aborted revision in Git, a `GitRevert:` section shows the commit.

use super::age::age;
use super::columns::{self, Cell};
use super::fetch::RolloutObjects;
use super::info::{self, AnalysisRunInfo, Counts, ReplicaSetInfo};
use super::style::{
    ICON_ANALYSIS, ICON_BAD, ICON_OK, ICON_POD, ICON_REPLICA_SET, ICON_REVISION, ICON_ROLLOUT,
    ICON_UNKNOWN, ICON_WARNING, Style, TAG_CANARY, TAG_STABLE, rollout_icon,
};
use jiff::Timestamp;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Narrowest KIND and STATUS columns: wide enough for "AnalysisRun" and "• ScaledDown", so the
/// columns do not shift when a run appears or a ReplicaSet scales down during `--watch`.
const MIN_WIDTHS: [usize; 5] = [0, 11, 12, 3, 0];

/// Header label column, as Argo's `%-17s`.
/// Weir's Git revert of the last aborted revision: what, where, and the outcome.
fn git_revert_section(out: &mut String, revert: &crate::api::rollout::GitRevertStatus) {
    out.push_str("GitRevert:\n");
    field(out, "  Status:", &revert.phase);
    for image in &revert.images {
        field(
            out,
            "  Image:",
            &format!("{} -> {}", image.bad_image, image.stable_image),
        );
    }
    if let Some(commit) = &revert.commit {
        let short: String = commit.chars().take(12).collect();
        field(
            out,
            "  Commit:",
            &format!("{short} on {}", revert.branch.as_deref().unwrap_or("?")),
        );
    }
    if let Some(repo) = &revert.repo {
        let file = revert
            .file
            .as_deref()
            .map(|f| format!(" {f}"))
            .unwrap_or_default();
        field(out, "  Repository:", &format!("{repo}{file}"));
    }
    if revert.commit.is_none()
        && let Some(message) = &revert.message
    {
        field(out, "  Message:", message);
    }
}

fn field(out: &mut String, label: &str, value: &str) {
    let line = format!("{label:<17}{value}");
    out.push_str(line.trim_end());
    out.push('\n');
}

pub fn render(objects: &RolloutObjects, now: Timestamp, style: Style) -> String {
    let rollout = &objects.rollout;
    let replica_sets = info::replica_sets(rollout, &objects.replica_sets, &objects.pods);
    let runs = info::analysis_runs(rollout, &objects.analysis_runs);
    let (status, message) = info::phase(rollout);
    let icon = rollout_icon(&status);
    let status_text = format!("{} {status}", style.word(icon));
    let strategy = info::strategy(rollout);

    let mut out = String::new();
    field(
        &mut out,
        "Name:",
        rollout.metadata.name.as_deref().unwrap_or_default(),
    );
    field(
        &mut out,
        "Namespace:",
        rollout.metadata.namespace.as_deref().unwrap_or_default(),
    );
    field(&mut out, "Status:", &status_text);
    if !message.is_empty() {
        field(&mut out, "Message:", &message);
    }
    field(&mut out, "Strategy:", strategy.unwrap_or_default());
    if strategy == Some("Canary") {
        field(
            &mut out,
            "  Step:",
            &info::step(rollout).unwrap_or_default(),
        );
        field(
            &mut out,
            "  SetWeight:",
            &info::set_weight(rollout).to_string(),
        );
        field(
            &mut out,
            "  ActualWeight:",
            &info::actual_weight(rollout, &replica_sets),
        );
    }
    for (i, (image, tags)) in info::images(&replica_sets).iter().enumerate() {
        let label = if i == 0 { "Images:" } else { "" };
        let value = if tags.is_empty() {
            image.clone()
        } else {
            let tags: Vec<String> = tags.iter().map(|t| style.word(t)).collect();
            format!("{image} ({})", tags.join(", "))
        };
        field(&mut out, label, &value);
    }
    let st = info::status(rollout);
    out.push_str("Replicas:\n");
    field(&mut out, "  Desired:", &info::desired(rollout).to_string());
    field(
        &mut out,
        "  Current:",
        &st.replicas.unwrap_or(0).to_string(),
    );
    field(
        &mut out,
        "  Updated:",
        &st.updated_replicas.unwrap_or(0).to_string(),
    );
    field(
        &mut out,
        "  Ready:",
        &st.ready_replicas.unwrap_or(0).to_string(),
    );
    field(
        &mut out,
        "  Available:",
        &st.available_replicas.unwrap_or(0).to_string(),
    );
    if let Some(revert) = rollout.weir_state().and_then(|w| w.git_revert) {
        git_revert_section(&mut out, &revert);
    }
    out.push('\n');

    let mut rows: Vec<Vec<Cell>> = vec![
        ["NAME", "KIND", "STATUS", "AGE", "INFO"]
            .into_iter()
            .map(Cell::from)
            .collect(),
        vec![
            Cell::plain(format!(
                "{ICON_ROLLOUT} {}",
                rollout.metadata.name.as_deref().unwrap_or_default()
            )),
            Cell::plain("Rollout"),
            Cell::styled(format!("{icon} {status}"), status_text),
            Cell::plain(age(rollout.metadata.creation_timestamp.as_ref(), now)),
            Cell::plain(""),
        ],
    ];
    let revisions: BTreeSet<i64> = replica_sets
        .iter()
        .map(|rs| rs.revision)
        .chain(runs.iter().map(|r| r.revision))
        .collect();
    for (i, revision) in revisions.iter().rev().enumerate() {
        let (prefix, sub) = prefixes(i + 1 == revisions.len(), "");
        rows.push(vec![Cell::plain(format!(
            "{prefix}{ICON_REVISION} revision:{revision}"
        ))]);
        let sets: Vec<&ReplicaSetInfo> = replica_sets
            .iter()
            .filter(|rs| rs.revision == *revision)
            .collect();
        let revision_runs: Vec<&AnalysisRunInfo> =
            runs.iter().filter(|r| r.revision == *revision).collect();
        let total = sets.len() + revision_runs.len();
        let first_run = sets.len();
        for (j, rs) in sets.into_iter().enumerate() {
            let (prefix, child) = prefixes(j + 1 == total, &sub);
            replica_set_rows(&mut rows, rs, &prefix, &child, now, style);
        }
        for (j, run) in revision_runs.into_iter().enumerate() {
            let (prefix, _) = prefixes(first_run + j + 1 == total, &sub);
            rows.push(analysis_run_row(run, &prefix, now, style));
        }
    }
    out.push_str(&columns::render(&rows, &MIN_WIDTHS));
    out
}

/// Tree prefixes for an item and for its children (Argo's `getPrefixes`).
fn prefixes(last: bool, parent: &str) -> (String, String) {
    if last {
        (format!("{parent}└──"), format!("{parent}   "))
    } else {
        (format!("{parent}├──"), format!("{parent}│  "))
    }
}

fn replica_set_rows(
    rows: &mut Vec<Vec<Cell>>,
    rs: &ReplicaSetInfo,
    prefix: &str,
    child: &str,
    now: Timestamp,
    style: Style,
) {
    let tags = rs.tags(now);
    let key = if rs.canary {
        TAG_CANARY
    } else if rs.stable {
        TAG_STABLE
    } else {
        ""
    };
    let styled_tags: Vec<String> = tags.iter().map(|t| style.word(t)).collect();
    rows.push(vec![
        Cell::styled(
            format!("{prefix}{ICON_REPLICA_SET} {}", rs.name),
            format!("{prefix}{ICON_REPLICA_SET} {}", style.like(&rs.name, key)),
        ),
        Cell::plain("ReplicaSet"),
        Cell::styled(
            format!("{} {}", rs.icon, rs.status),
            format!("{} {}", style.word(rs.icon), rs.status),
        ),
        Cell::plain(age(rs.created.as_ref(), now)),
        Cell::styled(tags.join(","), styled_tags.join(",")),
    ]);
    for (i, pod) in rs.pods.iter().enumerate() {
        let (prefix, _) = prefixes(i + 1 == rs.pods.len(), child);
        let mut pod_info = format!("ready:{}", pod.ready);
        if pod.restarts > 0 {
            let _ = write!(pod_info, ",restarts:{}", pod.restarts);
        }
        rows.push(vec![
            Cell::plain(format!("{prefix}{ICON_POD} {}", pod.name)),
            Cell::plain("Pod"),
            Cell::styled(
                format!("{} {}", pod.icon, pod.status),
                format!("{} {}", style.word(pod.icon), pod.status),
            ),
            Cell::plain(age(pod.created.as_ref(), now)),
            Cell::plain(pod_info),
        ]);
    }
}

/// `✔ 3,✖ 1`: measurement counts, zero counts left out (Argo's INFO for runs).
pub fn counts_cell(counts: Counts, style: Style) -> Cell {
    let parts = [
        (ICON_OK, counts.successful),
        (ICON_BAD, counts.failed),
        (ICON_UNKNOWN, counts.inconclusive),
        (ICON_WARNING, counts.error),
    ];
    let shown: Vec<(&str, i32)> = parts.into_iter().filter(|(_, n)| *n > 0).collect();
    let plain: Vec<String> = shown
        .iter()
        .map(|(icon, n)| format!("{icon} {n}"))
        .collect();
    let styled: Vec<String> = shown
        .iter()
        .map(|(icon, n)| format!("{} {n}", style.word(icon)))
        .collect();
    Cell::styled(plain.join(","), styled.join(","))
}

fn analysis_run_row(
    run: &AnalysisRunInfo,
    prefix: &str,
    now: Timestamp,
    style: Style,
) -> Vec<Cell> {
    vec![
        Cell::styled(
            format!("{prefix}{ICON_ANALYSIS} {}", run.name),
            format!(
                "{prefix}{ICON_ANALYSIS} {}",
                style.like(&run.name, &run.status)
            ),
        ),
        Cell::plain("AnalysisRun"),
        Cell::styled(
            format!("{} {}", run.icon, run.status),
            format!("{} {}", style.word(run.icon), run.status),
        ),
        Cell::plain(age(run.created.as_ref(), now)),
        counts_cell(run.counts, style),
    ]
}
