//! `get rollout [--watch]` and `get analysisrun`. With `--watch`, the Rollout, its ReplicaSets
//! and its Pods are watched (each narrowed by name or labels, like the reads) only as triggers
//! for a prompt redraw; a one-second tick also re-reads, which keeps ages current and picks up
//! AnalysisRuns.

use super::analysisrun;
use super::error::{CliError, Result};
use super::fetch::{self, selector_query};
use super::screen::Screen;
use super::style::Style;
use super::tree;
use crate::api::Rollout;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use std::io::Write;
use std::time::Duration;

/// Redraws are at most this frequent, however busy the watches are.
const DEBOUNCE: Duration = Duration::from_millis(200);

pub async fn rollout_once(
    client: &Client,
    namespace: &str,
    name: &str,
    style: Style,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let objects = fetch::rollout_objects(client, namespace, name).await?;
    out.write_all(tree::render(&objects, Timestamp::now(), style).as_bytes())?;
    Ok(())
}

/// A stream that yields once per change of the watched objects.
fn changes<K>(api: Api<K>, config: watcher::Config) -> BoxStream<'static, ()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher(api, config)
        .default_backoff()
        .filter_map(|event| async move {
            // Init/InitApply replay what the first read already showed; only InitDone and
            // later events mean something may have changed.
            match event {
                Ok(
                    watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_),
                ) => Some(()),
                _ => None,
            }
        })
        .boxed()
}

fn triggers(
    client: &Client,
    namespace: &str,
    name: &str,
    rollout: &Rollout,
) -> BoxStream<'static, ()> {
    let mut streams = vec![changes(
        Api::<Rollout>::namespaced(client.clone(), namespace),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )];
    if let Some(selector) = selector_query(rollout.spec.selector.as_ref()) {
        streams.push(changes(
            Api::<ReplicaSet>::namespaced(client.clone(), namespace),
            watcher::Config::default().labels(&selector),
        ));
        streams.push(changes(
            Api::<Pod>::namespaced(client.clone(), namespace),
            watcher::Config::default().labels(&selector),
        ));
    }
    stream::select_all(streams).boxed()
}

/// Live tree until Ctrl-C or `timeout`.
pub async fn rollout_watch(
    client: &Client,
    namespace: &str,
    name: &str,
    style: Style,
    timeout: Option<Duration>,
) -> Result<()> {
    let mut objects = fetch::rollout_objects(client, namespace, name).await?;
    let mut screen = Screen::stdout();
    screen.show(&tree::render(&objects, Timestamp::now(), style))?;
    let mut changes = triggers(client, namespace, name, &objects.rollout);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let stop = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = &mut stop => return Ok(()),
            _ = tick.tick() => {}
            Some(()) = changes.next() => {
                tokio::time::sleep(DEBOUNCE).await;
                // Changes that arrived meanwhile are covered by the one read below.
                while let Some(Some(())) = changes.next().now_or_never() {}
            }
        }
        // The tick re-reads too: AnalysisRuns are not watched, and the read is four requests.
        match fetch::rollout_objects(client, namespace, name).await {
            Ok(fresh) => objects = fresh,
            Err(e @ CliError::NotFound { .. }) => return Err(e),
            // A failed read (API server restarting, network) keeps the last frame; the next
            // change or tick tries again.
            Err(_) => {}
        }
        screen.show(&tree::render(&objects, Timestamp::now(), style))?;
    }
}

pub async fn analysis_run(
    client: &Client,
    namespace: &str,
    name: &str,
    style: Style,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let run = analysisrun::fetch(client, namespace, name).await?;
    out.write_all(analysisrun::render(&run, Timestamp::now(), style).as_bytes())?;
    Ok(())
}
