//! `status`: for CI pipelines. Prints `Status - Message` whenever it changes and ends when the
//! Rollout is Healthy (success) or Degraded (failure); Paused keeps waiting, since a pause step
//! is a normal part of a release. Exit codes and messages follow Argo's plugin.

use super::error::{CliError, Result};
use super::fetch::{self, ROLLOUTS};
use super::info;
use crate::api::Rollout;
use crate::rollout::conditions::{PHASE_DEGRADED, PHASE_HEALTHY};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Wait for Healthy/Degraded; false prints the status once.
    pub watch: bool,
    /// Give up after this long; `None` waits for ever.
    pub timeout: Option<Duration>,
}

fn line(phase: &str, message: &str) -> String {
    if message.is_empty() {
        phase.to_string()
    } else {
        format!("{phase} - {message}")
    }
}

/// The error a final state maps to: none for Healthy (and, without `--watch`, for anything but
/// Degraded).
fn verdict(phase: &str, message: &str) -> Result<()> {
    if phase == PHASE_DEGRADED {
        Err(CliError::Degraded(message.to_string()))
    } else {
        Ok(())
    }
}

pub async fn run(
    api: &Api<Rollout>,
    name: &str,
    options: Options,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let rollout = fetch::rollout(api, name).await?;
    let (phase, message) = info::phase(&rollout);
    if !options.watch {
        if phase == PHASE_HEALTHY || phase == PHASE_DEGRADED {
            writeln!(out, "{phase}")?;
        } else {
            writeln!(out, "{}", line(&phase, &message))?;
        }
        return verdict(&phase, &message);
    }
    let deadline = options
        .timeout
        .filter(|t| !t.is_zero())
        .map(|t| tokio::time::Instant::now() + t);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api.clone(), config).default_backoff().boxed();
    let mut shown = String::new();
    let mut current = rollout;
    loop {
        let (phase, message) = info::phase(&current);
        let text = line(&phase, &message);
        if text != shown {
            writeln!(out, "{text}")?;
            out.flush()?;
            shown = text;
        }
        if phase == PHASE_HEALTHY || phase == PHASE_DEGRADED {
            return verdict(&phase, &message);
        }
        let next = async {
            loop {
                match events.next().await {
                    Some(Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r))) => {
                        return Ok(r);
                    }
                    Some(Ok(watcher::Event::Delete(_))) | None => {
                        return Err(CliError::NotFound {
                            kind: ROLLOUTS,
                            name: name.to_string(),
                        });
                    }
                    // Init/InitDone carry no object; errors are retried with backoff.
                    Some(Ok(_) | Err(_)) => {}
                }
            }
        };
        current = match deadline {
            Some(at) => tokio::time::timeout_at(at, next)
                .await
                .map_err(|_| CliError::Timeout)??,
            None => next.await?,
        };
    }
}
