//! A local HTTP receiver standing in for Slack's Web API and for webhook endpoints, for the
//! tests and `weir demo`: it records every request, answers `{"ok": true}`, or follows a script
//! of replies (an error status, or no answer at all).

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(u16, String),
    /// Never answers: the sender's timeout decides.
    Hang,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The status it was answered with; None while (or if never) answered.
    pub answered: Option<u16>,
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
                let state = shared.clone();
                async move { answer(&state, method, uri, headers, body).await }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, state, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replies to the next requests, in order; later ones get `{"ok": true}` again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// The requests answered with a 2xx: what was delivered.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let (index, reply) = {
        let mut state = lock(state);
        let reply = state
            .script
            .pop_front()
            .unwrap_or_else(|| Reply::Status(200, r#"{"ok": true}"#.into()));
        state.received.push(Received {
            method: method.to_string(),
            path: uri.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            answered: None,
        });
        (state.received.len() - 1, reply)
    };
    match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Status(status, body) => {
            lock(state).received[index].answered = Some(status);
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body,
            )
        }
    }
}
