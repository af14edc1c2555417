//! The HTTP front end's connections. Each connection is served in a task the front end owns,
//! so it can stop two ways: gracefully (open watches end, idle connections close) when the
//! harness shuts down, or killed (every connection dropped mid-stream, the port closed) to
//! stand in for a kube-apiserver that crashed or restarted under a controller.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub(crate) struct Serving {
    kill: watch::Sender<bool>,
    task: JoinHandle<JoinSet<()>>,
}

impl Serving {
    /// Accepts connections on `listener` until killed or until `stopping` turns true.
    pub fn start(listener: TcpListener, router: Router, stopping: watch::Receiver<bool>) -> Self {
        let (kill, killed) = watch::channel(false);
        let task = tokio::spawn(accept(listener, router, stopping, killed));
        Self { kill, task }
    }

    /// Drops every connection at once and closes the port.
    pub async fn kill(self) {
        self.kill.send_replace(true);
        if let Ok(mut connections) = self.task.await {
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
    }

    /// After `stopping` turned true: lets connections finish, then drops what is left.
    pub async fn drain(self, grace: Duration) {
        if let Ok(mut connections) = self.task.await {
            let finished = tokio::time::timeout(grace, async {
                while connections.join_next().await.is_some() {}
            })
            .await;
            if finished.is_err() {
                connections.abort_all();
            }
        }
    }
}

async fn accept(
    listener: TcpListener,
    router: Router,
    stopping: watch::Receiver<bool>,
    mut killed: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut connections = JoinSet::new();
    let mut stop = stopping.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let service = TowerToHyperService::new(router.clone());
                    let mut stopping = stopping.clone();
                    connections.spawn(async move {
                        let connection = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::pin!(connection);
                        tokio::select! {
                            _ = connection.as_mut() => {}
                            () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                                connection.as_mut().graceful_shutdown();
                                let _ = connection.await;
                            }
                        }
                    });
                }
                Err(error) => {
                    tracing::debug!(%error, "harness accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = async { let _ = killed.wait_for(|k| *k).await; } => break,
            () = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }
    connections
}
