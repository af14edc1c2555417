//! One controller process: HTTP endpoints, leader election, the controller itself and an
//! orderly stop. Only the replica holding the Lease starts watches and writes; the others
//! wait as ready standbys. On SIGTERM in-flight reconciles finish, then the Lease is released
//! so a standby takes over without waiting for it to expire. Losing the Lease stops the
//! controller and ends the process with an error (fail-stop, as Argo and kube-controller-manager
//! do), because a replica that lost it cannot know whether another already writes.

use super::health::Leadership;
use super::{Config, server};
use futures::FutureExt;
use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    /// Unique per replica; the Lease's holderIdentity.
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// The holder renews before this much of the lease has passed.
    pub renew_deadline: Duration,
}

impl LeaderElection {
    /// `(duration, grace)` in whole seconds, the Lease manager's units: it renews `grace`
    /// seconds before expiry. Checked here because the manager panics on bad values.
    fn timing(&self) -> Result<(u64, u64), String> {
        let whole = |d: Duration, flag: &str| {
            if d.subsec_nanos() != 0 || d.is_zero() {
                Err(format!(
                    "{flag} {d:?} must be a whole, positive number of seconds, e.g. 15s"
                ))
            } else {
                Ok(d.as_secs())
            }
        };
        let duration = whole(self.lease_duration, "--leader-election-lease-duration")?;
        let deadline = whole(self.renew_deadline, "--leader-election-renew-deadline")?;
        if deadline >= duration {
            return Err(format!(
                "--leader-election-renew-deadline ({deadline}s) must be shorter than \
                 --leader-election-lease-duration ({duration}s)"
            ));
        }
        Ok((duration, duration - deadline))
    }

    /// Checks the timing flags, for start-up to fail on them before it binds or connects.
    pub fn check(&self) -> Result<(), String> {
        self.timing().map(|_| ())
    }

    fn params(&self) -> Result<LeaseParams, String> {
        let (duration, grace) = self.timing()?;
        Ok(LeaseParams::new(self.identity.clone(), duration, grace))
    }
}

#[derive(Debug, Clone)]
pub struct ProcessConfig {
    pub controller: Config,
    pub metrics_addr: SocketAddr,
    pub health_addr: SocketAddr,
    /// None runs without leader election (`--leader-elect=false`).
    pub leader_election: Option<LeaderElection>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Listen(#[from] std::io::Error),
    #[error("leader election on Lease {namespace}/{name}: {source}")]
    Lease {
        namespace: String,
        name: String,
        source: kube_lease_manager::LeaseManagerError,
    },
    #[error("lost the Lease {0}; stopping so that only the new leader writes")]
    LostLeadership(String),
}

/// The HTTP ports, bound: a process that got this far can serve probes and metrics.
pub struct Bound {
    listeners: Vec<(tokio::net::TcpListener, axum::Router)>,
}

/// Checks the flags and binds the HTTP ports, without talking to the API server yet.
pub async fn bind(config: &ProcessConfig) -> Result<Bound, ProcessError> {
    if let Some(election) = &config.leader_election {
        election.check().map_err(ProcessError::Config)?;
    }
    let listeners = server::bind(
        config.metrics_addr,
        config.health_addr,
        config.controller.metrics.clone(),
        config.controller.health.clone(),
    )
    .await?;
    Ok(Bound { listeners })
}

/// Runs until `shutdown` resolves (Ok) or the Lease is lost (Err).
pub async fn run(
    client: Client,
    config: ProcessConfig,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ProcessError> {
    // Checked before anything binds or talks to the API server.
    let bound = bind(&config).await?;
    run_bound(client, config, bound, shutdown).await
}

/// [`run`] on ports [`bind`] already holds.
pub async fn run_bound(
    client: Client,
    config: ProcessConfig,
    bound: Bound,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ProcessError> {
    let election = match &config.leader_election {
        Some(election) => Some((election, election.params().map_err(ProcessError::Config)?)),
        None => None,
    };
    let health = config.controller.health.clone();
    let listeners = bound.listeners;
    let (stop_http, http_stopped) = watch::channel(false);
    let servers: Vec<_> = listeners
        .into_iter()
        .map(|(listener, router)| {
            let mut stopped = http_stopped.clone();
            tokio::spawn(server::serve(listener, router, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        })
        .collect();

    let shutdown = shutdown.shared();
    let result = match election {
        Some((election, params)) => {
            lead(client, config.controller, election, params, shutdown).await
        }
        None => {
            health.set_leadership(Leadership::Disabled);
            super::run(client, config.controller, shutdown).await;
            Ok(())
        }
    };
    health.set_leadership(Leadership::Stopping);
    let _ = stop_http.send(true);
    for server in servers {
        let _ = server.await;
    }
    result
}

async fn lead(
    client: Client,
    config: Config,
    election: &LeaderElection,
    params: LeaseParams,
    shutdown: futures::future::Shared<impl Future<Output = ()> + Send + Sync + 'static>,
) -> Result<(), ProcessError> {
    let lease_error = |source| ProcessError::Lease {
        namespace: election.namespace.clone(),
        name: election.lease_name.clone(),
        source,
    };
    let health = config.health.clone();
    let manager = LeaseManagerBuilder::new(client.clone(), &election.lease_name)
        .with_namespace(&election.namespace)
        .with_parameters(params)
        .build()
        .await
        .map_err(lease_error)?;
    let (mut leading, task) = manager.watch().await;
    health.set_leadership(Leadership::Standby);
    tracing::info!(
        lease = %format!("{}/{}", election.namespace, election.lease_name),
        identity = %election.identity,
        "waiting for leadership"
    );
    // `Err` from the channel means the Lease manager stopped, which it only does on a panic:
    // this replica can never lead, so it stops rather than idle as a standby forever.
    let (became_leader, manager_stopped) = tokio::select! {
        changed = leading.wait_for(|leader| *leader) => (changed.is_ok(), changed.is_err()),
        _ = shutdown.clone() => (false, false),
    };
    let mut lost = manager_stopped;
    if became_leader {
        health.set_leadership(Leadership::Leader);
        tracing::info!(identity = %election.identity, "became leader; starting the controller");
        let mut watch_loss = leading.clone();
        let (lost_tx, lost_rx) = watch::channel(false);
        let stop = {
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = watch_loss.wait_for(|leader| !*leader) => {
                        let _ = lost_tx.send(true);
                    }
                }
            }
        };
        super::run(client, config, stop).await;
        lost = *lost_rx.borrow();
    }
    health.set_leadership(Leadership::Stopping);
    // Dropping the last receiver makes the manager release the Lease and return.
    drop(leading);
    match task.await {
        Ok(Ok(_)) => tracing::info!("Lease released"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not release the Lease; it expires on its own")
        }
        Err(e) => tracing::warn!(error = %e, "Lease manager task failed"),
    }
    if lost {
        return Err(ProcessError::LostLeadership(format!(
            "{}/{}",
            election.namespace, election.lease_name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn election(duration: Duration, deadline: Duration) -> LeaderElection {
        LeaderElection {
            namespace: "weir-system".into(),
            lease_name: "weir-controller-lock".into(),
            identity: "pod-a".into(),
            lease_duration: duration,
            renew_deadline: deadline,
        }
    }

    #[test]
    fn lease_timing_flags() {
        let secs = Duration::from_secs;
        assert_eq!(election(secs(15), secs(10)).timing(), Ok((15, 5)));
        let cases = [
            (secs(10), secs(10), "must be shorter"),
            (Duration::from_millis(1500), secs(1), "whole, positive"),
            (secs(15), Duration::ZERO, "whole, positive"),
        ];
        for (duration, deadline, want) in cases {
            let err = election(duration, deadline).timing().unwrap_err();
            assert!(err.contains(want), "{duration:?}/{deadline:?}: {err}");
        }
    }
}
