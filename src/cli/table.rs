//! `list rollouts`: one line per Rollout with Argo's columns; `--watch` then prints a line
//! whenever a Rollout's line changes, aligned with the table above it.

use super::columns::{self, Cell};
use super::error::Result;
use super::info;
use crate::api::Rollout;
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::io::Write;

const HEADER: [&str; 9] = [
    "NAME",
    "STRATEGY",
    "STATUS",
    "STEP",
    "SET-WEIGHT",
    "READY",
    "DESIRED",
    "UP-TO-DATE",
    "AVAILABLE",
];
/// Argo pads each value (`%-10s\t%-9s\t%-12s...`) so lines printed later by `--watch` tend to
/// line up with the table; the same widths are used here as minimums.
const MIN_WIDTHS: [usize; 9] = [10, 9, 12, 4, 10, 5, 7, 10, 9];
const NAMESPACE_WIDTH: usize = 9;

fn header(all_namespaces: bool) -> Vec<Cell> {
    let mut row: Vec<Cell> = HEADER.into_iter().map(Cell::from).collect();
    if all_namespaces {
        row.insert(0, Cell::from("NAMESPACE"));
    }
    row
}

fn minimums(all_namespaces: bool) -> Vec<usize> {
    let mut widths = MIN_WIDTHS.to_vec();
    if all_namespaces {
        widths.insert(0, NAMESPACE_WIDTH);
    }
    widths
}

/// The cells of one Rollout's line.
pub fn cells(rollout: &Rollout, all_namespaces: bool) -> Vec<Cell> {
    let status = info::status(rollout);
    let canary = rollout.spec.strategy.canary.is_some();
    let mut row = vec![
        rollout.metadata.name.clone().unwrap_or_default(),
        info::strategy(rollout).unwrap_or("unknown").to_string(),
        info::phase(rollout).0,
        info::step(rollout).unwrap_or_else(|| "-".to_string()),
        if canary {
            info::set_weight(rollout).to_string()
        } else {
            "-".to_string()
        },
        format!(
            "{}/{}",
            status.ready_replicas.unwrap_or(0),
            status.replicas.unwrap_or(0)
        ),
        info::desired(rollout).to_string(),
        status.updated_replicas.unwrap_or(0).to_string(),
        status.available_replicas.unwrap_or(0).to_string(),
    ];
    if all_namespaces {
        row.insert(0, rollout.metadata.namespace.clone().unwrap_or_default());
    }
    row.into_iter().map(Cell::from).collect()
}

fn sorted(mut rollouts: Vec<Rollout>) -> Vec<Rollout> {
    rollouts.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    rollouts
}

/// The table: header and one line per Rollout, in namespace/name order.
pub fn render(rollouts: &[Rollout], all_namespaces: bool) -> String {
    let mut rows = vec![header(all_namespaces)];
    rows.extend(
        sorted(rollouts.to_vec())
            .iter()
            .map(|r| cells(r, all_namespaces)),
    );
    columns::render(&rows, &minimums(all_namespaces))
}

fn api(client: &Client, namespace: Option<&str>) -> Api<Rollout> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// `list rollouts` without `--watch`. `namespace` is `None` for all namespaces.
pub async fn list(
    client: &Client,
    namespace: Option<&str>,
    name: Option<&str>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<()> {
    let mut params = ListParams::default();
    if let Some(name) = name {
        params = params.fields(&format!("metadata.name={name}"));
    }
    let rollouts = api(client, namespace).list(&params).await?.items;
    if rollouts.is_empty() {
        writeln!(err, "No resources found.")?;
        return Ok(());
    }
    out.write_all(render(&rollouts, namespace.is_none()).as_bytes())?;
    Ok(())
}

/// `list rollouts --watch`: the table once the watch has listed everything, then a line for each
/// Rollout whose line changed, until the stream ends (Ctrl-C ends the process).
pub async fn watch(
    client: &Client,
    namespace: Option<&str>,
    name: Option<&str>,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let all = namespace.is_none();
    let mut config = watcher::Config::default();
    if let Some(name) = name {
        config = config.fields(&format!("metadata.name={name}"));
    }
    let mut events = watcher(api(client, namespace), config).boxed();
    let mut initial: Vec<Rollout> = Vec::new();
    let mut widths: Option<Vec<usize>> = None;
    let mut shown: BTreeMap<(Option<String>, Option<String>), String> = BTreeMap::new();
    let mut header_printed = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            // The watcher re-lists by itself after errors; a transient failure is not fatal.
            Err(_) => continue,
        };
        let listed = matches!(event, watcher::Event::InitDone);
        let changed: Vec<Rollout> = match event {
            watcher::Event::Init => {
                initial.clear();
                Vec::new()
            }
            watcher::Event::InitApply(rollout) => {
                initial.push(rollout);
                Vec::new()
            }
            // The table's widths are fixed by the first complete listing.
            watcher::Event::InitDone => sorted(std::mem::take(&mut initial)),
            watcher::Event::Apply(rollout) => vec![rollout],
            watcher::Event::Delete(rollout) => {
                shown.remove(&(rollout.metadata.namespace, rollout.metadata.name));
                Vec::new()
            }
        };
        if !header_printed && !listed {
            continue;
        }
        let column_widths = widths.get_or_insert_with(|| {
            let mut rows = vec![header(all)];
            rows.extend(changed.iter().map(|r| cells(r, all)));
            columns::widths(&rows, &minimums(all))
        });
        if !header_printed {
            writeln!(out, "{}", columns::line(&header(all), column_widths))?;
            header_printed = true;
        }
        for rollout in changed {
            let line = columns::line(&cells(&rollout, all), column_widths);
            let key = (rollout.metadata.namespace, rollout.metadata.name);
            if shown.get(&key) != Some(&line) {
                writeln!(out, "{line}")?;
                shown.insert(key, line);
            }
        }
        out.flush()?;
    }
    Ok(())
}
