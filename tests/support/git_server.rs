//! Real Git repositories for tests: bare repositories made with the git CLI, helpers to commit
//! to them "as someone else" and to inspect them, and a smart-HTTP server (`git http-backend`
//! behind HTTP basic auth) with a hook to land a concurrent commit between a client's fetch
//! and its push. Everything lives in temporary directories removed on drop.

// Shared by several test crates, each of which uses a subset of the helpers.
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// Author and committer of the commits the helpers make (the "other people" in tests).
pub const FIXTURE_AUTHOR: (&str, &str) = ("Fixture Author", "fixture@example.com");

/// A directory under the system temp dir, removed (with its content) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "weir-{prefix}-{}-{nanos}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs the git CLI in `dir` with no user or system config, so tests do not depend on the
/// machine's settings. Panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir)
        .args(args)
        .output()
        .expect("run the git CLI");
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("git prints UTF-8")
}

fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", FIXTURE_AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", FIXTURE_AUTHOR.1)
        .env("GIT_COMMITTER_NAME", FIXTURE_AUTHOR.0)
        .env("GIT_COMMITTER_EMAIL", FIXTURE_AUTHOR.1);
    command
}

/// A bare repository in a temp dir. Clones share the directory, which is removed when the
/// last clone is dropped (so a hook closure can hold one).
#[derive(Debug, Clone)]
pub struct TempRepo {
    dir: Arc<TempDir>,
    path: PathBuf,
}

/// A bare repository `repo.git` whose `branch` (also its HEAD) has one commit with `files`
/// (paths may contain directories). Push over HTTP is enabled.
pub fn bare_repo_with(files: &[(&str, &str)], branch: &str) -> TempRepo {
    let dir = TempDir::new("git-repo");
    let path = dir.path().join("repo.git");
    git(
        dir.path(),
        &["init", "--quiet", "--bare", "-b", branch, "repo.git"],
    );
    git(&path, &["config", "http.receivepack", "true"]);
    let work = TempDir::new("git-seed");
    git(work.path(), &["init", "--quiet", "-b", branch, "."]);
    write_files(work.path(), files);
    git(work.path(), &["add", "-A"]);
    git(work.path(), &["commit", "--quiet", "-m", "initial"]);
    git(
        work.path(),
        &[
            "push",
            "--quiet",
            path.to_str().expect("UTF-8 temp path"),
            branch,
        ],
    );
    TempRepo {
        dir: Arc::new(dir),
        path,
    }
}

fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (file, content) in files {
        let path = root.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::fs::write(&path, content).expect("write file");
    }
}

/// One commit of [`TempRepo::log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub sha: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// The full message (as `git log --format=%B`: trailing newline trimmed).
    pub message: String,
    /// Paths the commit changed relative to its first parent (all paths for a root commit).
    pub files: Vec<String>,
}

impl TempRepo {
    /// The bare repository's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its `file://` URL.
    pub fn url_file(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Commits `files` to `branch` as [`FIXTURE_AUTHOR`] through a temporary clone and a
    /// normal push (a concurrent writer). The branch is created from HEAD if missing. Returns
    /// the new commit's SHA.
    pub fn commit_files(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let work = TempDir::new("git-work");
        let source = self.path.to_str().expect("UTF-8 temp path");
        git(work.path(), &["clone", "--quiet", source, "."]);
        if self.head(branch).is_some() {
            git(work.path(), &["checkout", "--quiet", branch]);
        } else {
            git(work.path(), &["checkout", "--quiet", "-b", branch]);
        }
        write_files(work.path(), files);
        git(work.path(), &["add", "-A"]);
        git(work.path(), &["commit", "--quiet", "-m", message]);
        git(work.path(), &["push", "--quiet", "origin", branch]);
        git(work.path(), &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// [`TempRepo::commit_files`] for one file.
    pub fn commit_file(&self, branch: &str, file: &str, content: &str, message: &str) -> String {
        self.commit_files(branch, &[(file, content)], message)
    }

    /// The content of `file` at the head of `branch`, None if either is missing.
    pub fn read_file(&self, branch: &str, file: &str) -> Option<String> {
        let output = git_command(&self.path)
            .args(["show", &format!("refs/heads/{branch}:{file}")])
            .output()
            .expect("run the git CLI");
        output
            .status
            .success()
            .then(|| String::from_utf8(output.stdout).expect("UTF-8 file"))
    }

    /// The head commit of `branch`, None if there is no such branch.
    pub fn head(&self, branch: &str) -> Option<String> {
        let output = git_command(&self.path)
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .expect("run the git CLI");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Local branch names.
    pub fn branches(&self) -> Vec<String> {
        git(
            &self.path,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The commits of `branch`, newest first.
    pub fn log(&self, branch: &str) -> Vec<LogEntry> {
        let raw = git(
            &self.path,
            &[
                "log",
                "--format=%H%x00%P%x00%an%x00%ae%x00%B%x1e",
                &format!("refs/heads/{branch}"),
            ],
        );
        raw.split('\x1e')
            .map(|record| record.trim_start_matches('\n'))
            .filter(|record| !record.is_empty())
            .map(|record| {
                let fields: Vec<&str> = record.splitn(5, '\0').collect();
                let sha = fields[0].to_string();
                let files = git(
                    &self.path,
                    &[
                        "diff-tree",
                        "--root",
                        "--no-commit-id",
                        "--name-only",
                        "-r",
                        &sha,
                    ],
                )
                .lines()
                .map(str::to_string)
                .collect();
                LogEntry {
                    sha,
                    parents: fields[1].split_whitespace().map(str::to_string).collect(),
                    author_name: fields[2].to_string(),
                    author_email: fields[3].to_string(),
                    message: fields[4].trim_end_matches('\n').to_string(),
                    files,
                }
            })
            .collect()
    }
}

/// Hook run once by the server, on its own thread, right before the first push is handed to
/// `git http-backend`.
type PushHook = Box<dyn FnOnce() + Send>;

struct ServerState {
    project_root: PathBuf,
    username: String,
    /// The `Authorization` header value that is accepted.
    expected_authorization: String,
    requests: AtomicUsize,
    unauthorized: AtomicUsize,
    receive_pack_posts: AtomicUsize,
    before_first_push: Mutex<Option<PushHook>>,
}

/// `git http-backend` served over HTTP on 127.0.0.1 with basic auth, for one [`TempRepo`].
/// Runs on its own thread and runtime, so blocking tests can use it; stops on drop.
pub struct GitHttpServer {
    address: SocketAddr,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serves `repo` (clone and push) to clients that authenticate as `username`/`password`.
    pub fn start(repo: &TempRepo, username: &str, password: &str) -> GitHttpServer {
        let project_root = repo
            .path()
            .parent()
            .expect("the repository has a parent directory")
            .to_path_buf();
        let state = Arc::new(ServerState {
            project_root,
            username: username.to_string(),
            expected_authorization: format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            ),
            requests: AtomicUsize::new(0),
            unauthorized: AtomicUsize::new(0),
            receive_pack_posts: AtomicUsize::new(0),
            before_first_push: Mutex::new(None),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&state));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        GitHttpServer {
            address,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The repository's URL, without credentials.
    pub fn url(&self) -> String {
        format!("http://{}/repo.git", self.address)
    }

    /// Runs `hook` right before the first push request (the receive-pack POST, which comes
    /// after the client has seen the branch heads) reaches `git http-backend`: a commit made
    /// there lands between the client's view of the branch and its push.
    pub fn before_first_push(&self, hook: impl FnOnce() + Send + 'static) {
        *self.state.before_first_push.lock().expect("hook lock") = Some(Box::new(hook));
    }

    /// Requests answered, in all.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests answered with 401.
    pub fn unauthorized(&self) -> usize {
        self.state.unauthorized.load(Ordering::SeqCst)
    }

    /// Push requests (receive-pack POSTs) that passed authentication.
    pub fn receive_pack_posts(&self) -> usize {
        self.state.receive_pack_posts.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == state.expected_authorization);
    if !authorized {
        state.unauthorized.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")
            .body(Body::from("authentication required\n"))
            .expect("401 response");
    }
    let path = uri.path().to_string();
    if method == Method::POST && path.ends_with("/git-receive-pack") {
        state.receive_pack_posts.fetch_add(1, Ordering::SeqCst);
        let hook = state.before_first_push.lock().expect("hook lock").take();
        if let Some(hook) = hook {
            tokio::task::spawn_blocking(hook).await.expect("push hook");
        }
    }
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let request = CgiRequest {
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or("").to_string(),
        content_type: header_text(header::CONTENT_TYPE),
        content_encoding: header_text(header::CONTENT_ENCODING),
        git_protocol: headers
            .get("git-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body,
    };
    let state = Arc::clone(&state);
    tokio::task::spawn_blocking(move || run_http_backend(&state, request))
        .await
        .expect("http-backend task")
}

struct CgiRequest {
    method: String,
    path: String,
    query: String,
    content_type: String,
    content_encoding: String,
    git_protocol: String,
    body: Bytes,
}

/// Runs `git http-backend` as a CGI program and turns its output into a response.
fn run_http_backend(state: &ServerState, request: CgiRequest) -> Response {
    let mut command = git_command(&state.project_root);
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &state.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("CONTENT_TYPE", &request.content_type)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_USER", &state.username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !request.content_encoding.is_empty() {
        command.env("HTTP_CONTENT_ENCODING", &request.content_encoding);
    }
    if !request.git_protocol.is_empty() {
        command.env("GIT_PROTOCOL", &request.git_protocol);
    }
    let mut child = command.spawn().expect("spawn git http-backend");
    let mut stdin = child.stdin.take().expect("stdin piped");
    // Fed from another thread: the backend may start answering before it has read everything.
    let body = request.body;
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().expect("git http-backend output");
    let _ = writer.join();
    let (head, body) = split_cgi(&output.stdout);
    let mut response = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response = response.status(code);
        } else if let Ok(value) = HeaderValue::from_str(value) {
            response = response.header(name.trim(), value);
        }
    }
    if !output.status.success() && head.is_empty() {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from(output.stderr))
            .expect("500 response");
    }
    response
        .body(Body::from(body.to_vec()))
        .expect("CGI response")
}

/// CGI output: headers, a blank line (CRLF or LF), the body.
fn split_cgi(output: &[u8]) -> (&[u8], &[u8]) {
    for (i, window) in output.windows(2).enumerate() {
        if window == b"\n\n" {
            return (&output[..i], &output[i + 2..]);
        }
        if window == b"\r\n" && output[i + 2..].starts_with(b"\r\n") {
            return (&output[..i], &output[i + 4..]);
        }
    }
    (output, &[])
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> shift) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// A `http://127.0.0.1:<port>/repo.git` URL where nothing listens (the port was just free).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}/repo.git")
}

/// A throwaway OpenSSH server on 127.0.0.1 serving [`TempRepo`]s over `ssh://` to one
/// authorized client key, for the SSH credential and host-key paths. Started only where an
/// `sshd` binary exists and can run (tests skip otherwise); stopped on drop.
pub struct SshServer {
    dir: TempDir,
    port: u16,
    user: String,
    child: std::process::Child,
}

impl SshServer {
    /// Starts sshd with fresh host and client keys, or says why it cannot.
    pub fn start() -> Result<SshServer, String> {
        let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("no sshd binary")?;
        let dir = TempDir::new("sshd");
        for key in ["host_key", "client_key", "stranger_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(dir.path().join(key))
                .status()
                .map_err(|e| format!("ssh-keygen: {e}"))?;
            if !status.success() {
                return Err("ssh-keygen failed".into());
            }
        }
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .map_err(|e| e.to_string())?;
        let user = Command::new("id")
            .arg("-un")
            .output()
            .map_err(|e| e.to_string())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?;
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            listener.local_addr().map_err(|e| e.to_string())?.port()
        };
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nAllowUsers {user}\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).map_err(|e| e.to_string())?;
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn sshd: {e}"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("sshd exited ({status}): {}", stderr.trim()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("sshd did not start listening within 5 s".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(SshServer {
            dir,
            port,
            user,
            child,
        })
    }

    /// The `ssh://` URL of `repo`.
    pub fn url(&self, repo: &TempRepo) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.path().display()
        )
    }

    /// The known_hosts line for this server's host key.
    pub fn known_hosts(&self) -> String {
        let public =
            std::fs::read_to_string(self.dir.path().join("host_key.pub")).expect("host public key");
        let mut fields = public.split_whitespace();
        let (kind, key) = (
            fields.next().expect("key type"),
            fields.next().expect("key"),
        );
        format!("[127.0.0.1]:{} {kind} {key}\n", self.port)
    }

    /// A known_hosts line for this host with a different key (as after a key change or an
    /// impostor).
    pub fn wrong_known_hosts(&self) -> String {
        let public = std::fs::read_to_string(self.dir.path().join("stranger_key.pub"))
            .expect("stranger public key");
        let mut fields = public.split_whitespace();
        let (kind, key) = (
            fields.next().expect("key type"),
            fields.next().expect("key"),
        );
        format!("[127.0.0.1]:{} {kind} {key}\n", self.port)
    }

    /// The authorized client private key (OpenSSH format).
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_key")).expect("client key")
    }

    /// A private key the server does not authorize.
    pub fn stranger_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stranger_key")).expect("stranger key")
    }

    /// The login user (the user running the tests).
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
