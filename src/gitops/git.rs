//! Committing one file edit to a Git repository and pushing it, safely under races: the
//! revert's last step.
//!
//! * **Cache.** One bare repository per remote URL under `cache_dir` (directory name derived
//!   from the URL without its password), reused across calls: later calls only fetch what is
//!   new, and nothing is fetched when the branch has not moved. There is no working tree; the
//!   commit is built by replacing one blob in the head's tree. The cache holds objects and
//!   remote-tracking refs only; no URL or credential is written to it. Deleting it is always
//!   safe.
//! * **Never losing anybody's commit.** The new commit's parent is the branch head as just
//!   fetched, and the push refspec is not forced, so the remote accepts it only as a
//!   fast-forward. When the push is rejected because the branch moved, the branch is fetched
//!   again and the edit callback runs again on the new head's content (a concurrent unrelated
//!   change is kept, the one-scalar edit is re-applied on top; if the line itself changed, the
//!   callback says [`Edit::Conflict`] and nothing is written), with a short growing backoff,
//!   up to `max_attempts` pushes.
//! * **Exactly once.** Before editing, the last [`MARKER_SEARCH_DEPTH`] commits of the branch
//!   the commit would go on are searched for the request's marker line (the
//!   `Weir-Revert-Id:` trailer); if one has it, that commit is reported instead of making a
//!   second one. This holds across controller restarts and an emptied cache, and also when a
//!   push reached the remote but its answer was lost: the next attempt finds the commit.
//! * **Serialization.** One in-process lock per repository URL: two reverts to one repository
//!   take turns instead of racing each other's pushes.
//! * **Credentials.** HTTPS username/password (tokens are passwords) or an SSH key from memory,
//!   with the server's host key checked against the Secret's known_hosts (see
//!   `git/known_hosts.rs` for the supported syntax; without known_hosts SSH is refused). Secrets are
//!   never logged and are scrubbed from error texts.
//!
//! Everything here blocks (git2 is synchronous, and the lock and backoff sleep): call it from
//! `tokio::task::spawn_blocking`. libgit2's network timeouts are left at its defaults (they are
//! process-global settings that may only be changed before other threads start), so a server
//! that accepts a connection and then stalls holds the blocking thread, and that repository's
//! lock, until the operating system gives up on the connection.

mod auth;
mod known_hosts;

use super::source::Credentials;
use auth::Auth;
use git2::build::TreeUpdateBuilder;
use git2::{
    AutotagOption, Direction, FetchOptions, FileMode, ObjectType, Oid, ProxyOptions, PushOptions,
    Reference, Repository, Signature, Tree,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// How many commits back from a branch head the idempotency marker is looked for. A revert is
/// retried within minutes, so its commit is near the head; the bound keeps the check cheap on
/// long histories.
pub const MARKER_SEARCH_DEPTH: usize = 200;

/// First wait after a rejected push; doubled per further rejection up to [`BACKOFF_CAP`].
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(3);

/// A Git repository to write to. `url` may be https://, ssh://, scp-like (`git@host:path`) or
/// file://.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    pub url: String,
    pub credentials: Option<Credentials>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &display_url(&self.url))
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// What the edit callback decided for the file's current content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// The new content of the file.
    Changed(String),
    /// The file already says what it should; nothing to commit.
    NoChange,
    /// The file says something the edit must not overwrite; the text says what and why.
    Conflict(String),
}

/// One commit to make. See the module docs for the guarantees.
#[derive(Debug, Clone, Copy)]
pub struct CommitRequest<'a> {
    pub remote: &'a Remote,
    /// The tracked branch; "HEAD" (or "") means the remote's default branch. `refs/heads/` is
    /// optional.
    pub base_branch: &'a str,
    /// `base_branch` itself, or a review branch (e.g. `weir/revert/<ns>-<rollout>-<revision>`),
    /// which is created from the base head when missing and stacked on when it exists.
    pub push_branch: &'a str,
    /// Repository-relative path of the file to edit.
    pub file: &'a str,
    /// The full commit message (subject, body, trailers).
    pub message: &'a str,
    pub author_name: &'a str,
    pub author_email: &'a str,
    /// Pushes tried before giving up on a branch that keeps moving (at least one is made).
    pub max_attempts: u32,
    /// A line of `message` (e.g. `Weir-Revert-Id: ns/rollout/3/hash`) that identifies this
    /// revert: a commit whose message has this exact line (surrounding whitespace ignored),
    /// among the last [`MARKER_SEARCH_DEPTH`] commits of the branch the commit would go on,
    /// means the work is already done. An empty marker turns the check off.
    pub idempotency_marker: &'a str,
}

/// What [`commit_edit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new commit is on `branch` of the remote; `attempts` pushes were needed.
    Committed {
        sha: String,
        branch: String,
        attempts: u32,
    },
    /// A commit carrying the idempotency marker already is on `branch`; nothing was written.
    AlreadyCommitted { sha: String, branch: String },
    /// The edit callback found nothing to change at commit `head`.
    NoChange { head: String },
}

/// Why a Git operation failed. Every variant names the repository (never with its password)
/// and says what to do; none contains secret material.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "cannot reach Git repository {url}: {detail}. Check the URL and that the controller can reach the Git host \
         (DNS, network policy, proxy); the revert is retried later"
    )]
    Unreachable { url: String, detail: String },
    #[error(
        "authentication with Git repository {url} failed ({kind}): {detail}. Fix the credentials in the \
         Secret (they need write access for the revert); the revert is retried later"
    )]
    Auth {
        url: String,
        /// Which credential failed (username/password, SSH key, host key check, none).
        kind: &'static str,
        detail: String,
    },
    #[error(
        "push to branch {branch} of {url} was rejected after {attempts} attempt(s): {detail}. Nothing was \
         force-pushed; if the branch is protected or needs review, set the review-branch annotation; \
         otherwise the revert is retried later"
    )]
    Rejected {
        url: String,
        branch: String,
        attempts: u32,
        detail: String,
    },
    #[error(
        "not committing to branch {branch} of {url}: {reason}. Weir does not overwrite changes made by \
         others; edit {file} by hand, then retry the revert if still needed"
    )]
    Conflict {
        url: String,
        branch: String,
        file: String,
        reason: String,
    },
    #[error(
        "{file} does not exist (as a file) on branch {branch} of {url}. Check the path Weir was given \
         (weir.dev/git-path, or the Application / Kustomization path)"
    )]
    FileNotFound {
        url: String,
        branch: String,
        file: String,
    },
    #[error(
        "branch {branch} not found in {url}: {detail}. Point the source at an existing branch \
         (weir.dev/git-branch, or the Application's targetRevision / GitRepository's ref); tags and \
         commit SHAs cannot be pushed to"
    )]
    BranchNotFound {
        url: String,
        branch: String,
        detail: String,
    },
    #[error("Git operation on {url} failed: {detail}")]
    Other { url: String, detail: String },
}

/// Makes one commit that changes `req.file` as `edit` says, on top of the current head of
/// `req.push_branch` (created from `req.base_branch` if missing), and pushes it without
/// forcing. Blocking; see the module docs for what is guaranteed.
pub fn commit_edit(
    cache_dir: &Path,
    req: &CommitRequest,
    edit: &mut dyn FnMut(&str) -> Edit,
) -> Result<Outcome, GitError> {
    // Locked before the cache is opened, since opening may (re)create it.
    let lock = repo_lock(&display_url(&req.remote.url));
    let _serialized = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let session = Session::open(cache_dir, req.remote)?;
    let file = normalize_path(req.file);
    let max_attempts = req.max_attempts.max(1);
    // The head the last rejected push was built on, and the server's reason.
    let mut rejected: Option<(Oid, String)> = None;
    let mut push_branch = req.push_branch.to_string();
    for attempt in 1..=max_attempts {
        if attempt > 1 {
            std::thread::sleep(backoff(attempt - 1));
        }
        let advertised = session.advertised()?;
        let base = session.branch_name(req.base_branch, &advertised)?;
        let push = session.branch_name(req.push_branch, &advertised)?;
        push_branch.clone_from(&push);
        let Some(&base_head) = advertised.heads.get(&base) else {
            return Err(GitError::BranchNotFound {
                url: session.url.clone(),
                branch: base,
                detail: "the remote has no such branch".into(),
            });
        };
        let (start, start_branch) = match advertised.heads.get(&push) {
            Some(&head) => (head, &push),
            None => (base_head, &base),
        };
        if let Some((previous, why)) = &rejected
            && *previous == start
        {
            // The branch did not move, so the rejection was not a race: a protected branch,
            // a hook or missing write permission. Trying again would be refused the same way.
            return Err(GitError::Rejected {
                url: session.url.clone(),
                branch: push,
                attempts: attempt - 1,
                detail: format!(
                    "{why} (the branch did not move, so this is not a concurrent push)"
                ),
            });
        }
        session.fetch(&[(start_branch.as_str(), start)])?;
        let Ok(head) = session.repo.find_commit(start) else {
            // Force-pushed away between listing and fetching: start over from a fresh listing.
            rejected = Some((
                start,
                "the branch changed while it was being fetched".into(),
            ));
            continue;
        };
        if let Some(sha) = session.find_marker(start, req.idempotency_marker)? {
            return Ok(Outcome::AlreadyCommitted {
                sha: sha.to_string(),
                branch: start_branch.clone(),
            });
        }
        let tree = head.tree().map_err(|e| session.local(&e))?;
        let (current, mode) = session.read_file(&tree, &file, start_branch)?;
        let content = match edit(&current) {
            Edit::Changed(content) if content != current => content,
            Edit::Changed(_) | Edit::NoChange => {
                return Ok(Outcome::NoChange {
                    head: start.to_string(),
                });
            }
            Edit::Conflict(reason) => {
                return Err(GitError::Conflict {
                    url: session.url.clone(),
                    branch: push,
                    file,
                    reason,
                });
            }
        };
        let commit = session.commit(&head, &tree, &file, mode, &content, req)?;
        match session.push(&push, commit)? {
            None => {
                tracing::info!(repo = %session.url, branch = %push, commit = %commit, attempt, "pushed revert commit");
                return Ok(Outcome::Committed {
                    sha: commit.to_string(),
                    branch: push,
                    attempts: attempt,
                });
            }
            Some(why) => {
                tracing::info!(repo = %session.url, branch = %push, attempt, reason = %why, "push rejected; fetching the new head to re-apply the edit");
                rejected = Some((start, why));
            }
        }
    }
    Err(GitError::Rejected {
        url: session.url.clone(),
        branch: push_branch,
        attempts: max_attempts,
        detail: rejected.map_or_else(String::new, |(_, why)| {
            format!("{why} (the branch kept moving; other writers are busy on it)")
        }),
    })
}

/// The files of a branch head, written out to a private directory for code that needs to look
/// around the tree (e.g. follow kustomize bases). The directory is deleted when this is
/// dropped. Symbolic links and submodules are left out, so nothing read from it can point
/// outside it.
#[derive(Debug)]
pub struct Snapshot {
    dir: PathBuf,
    commit: String,
    branch: String,
}

impl Snapshot {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The commit the files are from.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    /// The branch, with "HEAD" resolved to the remote's default branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Best effort: a leftover directory only costs disk space in the cache.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fetches `branch` ("HEAD" = the remote's default branch) into the cache and writes its head's
/// files under `cache_dir/checkouts/`. Blocking, like [`commit_edit`].
pub fn snapshot(cache_dir: &Path, remote: &Remote, branch: &str) -> Result<Snapshot, GitError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let lock = repo_lock(&display_url(&remote.url));
    let _serialized = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let session = Session::open(cache_dir, remote)?;
    let advertised = session.advertised()?;
    let branch = session.branch_name(branch, &advertised)?;
    let Some(&head) = advertised.heads.get(&branch) else {
        return Err(GitError::BranchNotFound {
            url: session.url.clone(),
            branch,
            detail: "the remote has no such branch".into(),
        });
    };
    session.fetch(&[(branch.as_str(), head)])?;
    let tree = session
        .repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(|e| session.local(&e))?;
    let dir = cache_dir.join("checkouts").join(format!(
        "{}-{}-{}",
        cache_key(&session.url),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    // Owning the directory from here on means an error below still removes it.
    let snapshot = Snapshot {
        dir,
        commit: head.to_string(),
        branch,
    };
    session.write_tree(&tree, &snapshot.dir)?;
    Ok(snapshot)
}

/// `url` with the password of any `scheme://user:password@` part removed (the user is kept).
/// Also applied to free text, such as libgit2 error messages that quote the URL.
pub fn display_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                out.push_str(userinfo.split_once(':').map_or(userinfo, |(user, _)| user));
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Error text from libgit2 with every secret of `remote` replaced, for errors and logs.
fn redact(text: &str, remote: &Remote) -> String {
    let mut text = display_url(text);
    let mut secrets: Vec<&str> = Vec::new();
    match &remote.credentials {
        Some(Credentials::Basic { password, .. }) => secrets.push(password),
        Some(Credentials::SshKey {
            private_key,
            passphrase,
            ..
        }) => {
            secrets.push(private_key);
            secrets.extend(passphrase.as_deref());
        }
        None => {}
    }
    if let Some((_, after)) = remote.url.split_once("://")
        && let Some((userinfo, _)) = after.split('/').next().unwrap_or("").rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        secrets.push(password);
    }
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "*****");
    }
    text
}

/// The lock that serializes all work on one repository within this process.
fn repo_lock(url: &str) -> Arc<Mutex<()>> {
    // Grows by one entry per repository ever written to, which is bounded by configuration.
    static LOCKS: LazyLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(locks.entry(url.to_string()).or_default())
}

/// Directory name of a repository's cache: readable (the URL's last segment) and unique (a
/// hash of the whole URL). FNV-1a rather than std's hasher, whose output may change between
/// Rust releases, which would orphan the cache on every upgrade.
fn cache_key(url: &str) -> String {
    let hash = url.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let name: String = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(".git")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{name}-{hash:016x}")
}

/// `file` as a tree path: "./x" and "/x" mean "x".
fn normalize_path(file: &str) -> String {
    file.trim_start_matches("./")
        .trim_start_matches('/')
        .to_string()
}

/// Wait before push attempt `retry + 1`: doubling from [`BACKOFF_START`], capped, with up to
/// 50 % added at random so two writers that collided do not collide again in lockstep.
fn backoff(retry: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
        .min(BACKOFF_CAP);
    let jitter_permille = RandomState::new().hash_one(retry) % 500;
    base + base.mul_f64(jitter_permille as f64 / 1000.0)
}

/// Branch heads the remote advertises, by short name, and its default branch.
struct Advertised {
    heads: HashMap<String, Oid>,
    default_branch: Option<String>,
}

/// The cached clone of one remote, opened for one call.
struct Session<'a> {
    repo: Repository,
    remote: &'a Remote,
    /// The URL as shown in errors and logs (no password).
    url: String,
}

impl<'a> Session<'a> {
    fn open(cache_dir: &Path, remote: &'a Remote) -> Result<Self, GitError> {
        let url = display_url(&remote.url);
        let path = cache_dir.join(cache_key(&url));
        let local_error = |e: &dyn fmt::Display| GitError::Other {
            url: url.clone(),
            detail: format!("local cache {}: {e}", path.display()),
        };
        let repo = match Repository::open_bare(&path) {
            Ok(repo) => repo,
            Err(_) => {
                // Missing, or left half-written by a process that died: it is only a cache, so
                // start it afresh.
                if path.exists() {
                    std::fs::remove_dir_all(&path).map_err(|e| local_error(&e))?;
                }
                std::fs::create_dir_all(cache_dir).map_err(|e| local_error(&e))?;
                Repository::init_bare(&path).map_err(|e| local_error(&e))?
            }
        };
        Ok(Session { repo, remote, url })
    }

    fn local(&self, error: &git2::Error) -> GitError {
        GitError::Other {
            url: self.url.clone(),
            detail: format!(
                "local cache {}: {}",
                self.repo.path().display(),
                error.message()
            ),
        }
    }

    fn anonymous_remote(&self) -> Result<git2::Remote<'_>, GitError> {
        // Anonymous: the URL (which may hold a token) is not written to the cache's config.
        self.repo
            .remote_anonymous(&self.remote.url)
            .map_err(|e| GitError::Other {
                url: self.url.clone(),
                detail: redact(e.message(), self.remote),
            })
    }

    /// Lists the remote's branches (one round trip, no objects).
    fn advertised(&self) -> Result<Advertised, GitError> {
        let auth = Auth::new(self.remote);
        let mut remote = self.anonymous_remote()?;
        let connection = remote
            .connect_auth(Direction::Fetch, Some(auth.callbacks()), Some(proxy()))
            .map_err(|e| auth.error(&self.url, &e))?;
        let heads = connection
            .list()
            .map_err(|e| auth.error(&self.url, &e))?
            .iter()
            .filter_map(|head| {
                let branch = head.name().strip_prefix("refs/heads/")?;
                Some((branch.to_string(), head.oid()))
            })
            .collect();
        // Servers that do not say which branch HEAD is leave "HEAD" unresolvable; that is
        // reported when a caller asks for it.
        let default_branch = connection.default_branch().ok().and_then(|name| {
            name.as_str()
                .ok()
                .and_then(|n| n.strip_prefix("refs/heads/"))
                .map(str::to_string)
        });
        Ok(Advertised {
            heads,
            default_branch,
        })
    }

    /// `requested` as a short branch name, "HEAD" resolved.
    fn branch_name(&self, requested: &str, advertised: &Advertised) -> Result<String, GitError> {
        let name = requested.strip_prefix("refs/heads/").unwrap_or(requested);
        let name = if name.is_empty() || name == "HEAD" {
            advertised
                .default_branch
                .clone()
                .ok_or_else(|| GitError::BranchNotFound {
                    url: self.url.clone(),
                    branch: requested.to_string(),
                    detail: "the remote does not say which branch is its default".into(),
                })?
        } else {
            name.to_string()
        };
        if !Reference::is_valid_name(&format!("refs/heads/{name}")) {
            return Err(GitError::BranchNotFound {
                url: self.url.clone(),
                branch: name,
                detail: "not a valid branch name".into(),
            });
        }
        Ok(name)
    }

    /// Makes sure the given heads are in the cache, fetching only branches whose advertised
    /// commit is not already there.
    fn fetch(&self, wanted: &[(&str, Oid)]) -> Result<(), GitError> {
        // Forced, because these are the cache's own mirror refs: whatever the remote has is
        // the truth. Nothing is ever forced towards the remote.
        let refspecs: Vec<String> = wanted
            .iter()
            .filter(|(_, oid)| self.repo.find_commit(*oid).is_err())
            .map(|(branch, _)| format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"))
            .collect();
        if refspecs.is_empty() {
            return Ok(());
        }
        let auth = Auth::new(self.remote);
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(auth.callbacks())
            .proxy_options(proxy())
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);
        let mut remote = self.anonymous_remote()?;
        remote
            .fetch(&refspecs, Some(&mut options), None)
            .map_err(|e| auth.error(&self.url, &e))
    }

    /// The newest commit carrying `marker` among the last [`MARKER_SEARCH_DEPTH`] reachable
    /// from `head`.
    fn find_marker(&self, head: Oid, marker: &str) -> Result<Option<Oid>, GitError> {
        let marker = marker.trim();
        if marker.is_empty() {
            return Ok(None);
        }
        let mut walk = self.repo.revwalk().map_err(|e| self.local(&e))?;
        walk.push(head).map_err(|e| self.local(&e))?;
        for oid in walk.take(MARKER_SEARCH_DEPTH) {
            let oid = oid.map_err(|e| self.local(&e))?;
            let commit = self.repo.find_commit(oid).map_err(|e| self.local(&e))?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            if message.lines().any(|line| line.trim() == marker) {
                return Ok(Some(oid));
            }
        }
        Ok(None)
    }

    /// The text of `file` in `tree`, and its mode (kept on the new blob).
    fn read_file(
        &self,
        tree: &Tree<'_>,
        file: &str,
        branch: &str,
    ) -> Result<(String, FileMode), GitError> {
        let not_found = || GitError::FileNotFound {
            url: self.url.clone(),
            branch: branch.to_string(),
            file: file.to_string(),
        };
        let entry = tree.get_path(Path::new(file)).map_err(|_| not_found())?;
        let mode = match entry.filemode() {
            m if m == i32::from(FileMode::Blob) => FileMode::Blob,
            m if m == i32::from(FileMode::BlobExecutable) => FileMode::BlobExecutable,
            m if m == i32::from(FileMode::Link) => {
                return Err(GitError::Other {
                    url: self.url.clone(),
                    detail: format!(
                        "{file} is a symbolic link on branch {branch}; point Weir at the file it links to"
                    ),
                });
            }
            _ => return Err(not_found()),
        };
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| self.local(&e))?;
        let text = String::from_utf8(blob.content().to_vec()).map_err(|_| GitError::Other {
            url: self.url.clone(),
            detail: format!("{file} on branch {branch} is not UTF-8 text"),
        })?;
        Ok((text, mode))
    }

    /// A commit on top of `parent` whose tree differs from `tree` in `file` only.
    fn commit(
        &self,
        parent: &git2::Commit<'_>,
        tree: &Tree<'_>,
        file: &str,
        mode: FileMode,
        content: &str,
        req: &CommitRequest,
    ) -> Result<Oid, GitError> {
        let blob = self
            .repo
            .blob(content.as_bytes())
            .map_err(|e| self.local(&e))?;
        let tree_id = TreeUpdateBuilder::new()
            .upsert(file, blob, mode)
            .create_updated(&self.repo, tree)
            .map_err(|e| self.local(&e))?;
        let new_tree = self.repo.find_tree(tree_id).map_err(|e| self.local(&e))?;
        let author =
            Signature::now(req.author_name, req.author_email).map_err(|e| GitError::Other {
                url: self.url.clone(),
                detail: format!(
                    "invalid commit author {:?} <{}>: {}",
                    req.author_name,
                    req.author_email,
                    e.message()
                ),
            })?;
        self.repo
            .commit(None, &author, &author, req.message, &new_tree, &[parent])
            .map_err(|e| self.local(&e))
    }

    /// Pushes `commit` to `branch` as a fast-forward (or as a new branch). `Ok(Some(why))`
    /// when the remote did not take it because the branch is not where the commit expects it.
    fn push(&self, branch: &str, commit: Oid) -> Result<Option<String>, GitError> {
        let local = format!("refs/heads/{branch}");
        self.repo
            .reference(&local, commit, true, "weir: commit to push")
            .map_err(|e| self.local(&e))?;
        let auth = Auth::new(self.remote);
        let status: RefCell<Option<String>> = RefCell::new(None);
        let mut callbacks = auth.callbacks();
        callbacks.push_update_reference(|refname, message| {
            if let Some(message) = message {
                *status.borrow_mut() = Some(format!("the remote refused {refname}: {message}"));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks).proxy_options(proxy());
        let mut remote = self.anonymous_remote()?;
        // No '+': the remote updates the branch only if our commit descends from its head.
        match remote.push(&[format!("{local}:{local}")], Some(&mut options)) {
            Ok(()) => {}
            // libgit2 checks the fast-forward itself against the head the server advertised
            // for the push, before sending anything.
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
                return Ok(Some(redact(e.message(), self.remote)));
            }
            Err(e) => return Err(auth.error(&self.url, &e)),
        }
        drop(options);
        let rejected = status.into_inner();
        if rejected.is_none() {
            // Keep the mirror in step, so the next call needs no fetch.
            self.repo
                .reference(
                    &format!("refs/remotes/origin/{branch}"),
                    commit,
                    true,
                    "weir: pushed",
                )
                .map_err(|e| self.local(&e))?;
        }
        Ok(rejected.map(|why| redact(&why, self.remote)))
    }

    /// Writes the blobs of `tree` under `dir`.
    fn write_tree(&self, tree: &Tree<'_>, dir: &Path) -> Result<(), GitError> {
        let io_error = |e: std::io::Error| GitError::Other {
            url: self.url.clone(),
            detail: format!("writing a snapshot to {}: {e}", dir.display()),
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        for entry in tree.iter() {
            // Names that could step out of `dir` are skipped; Git itself refuses to check
            // them out.
            let Some(name) = entry.name().ok().filter(|n| {
                !n.is_empty() && *n != "." && *n != ".." && *n != ".git" && !n.contains(['/', '\\'])
            }) else {
                continue;
            };
            let path = dir.join(name);
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let subtree = self
                        .repo
                        .find_tree(entry.id())
                        .map_err(|e| self.local(&e))?;
                    self.write_tree(&subtree, &path)?;
                }
                Some(ObjectType::Blob) if entry.filemode() != i32::from(FileMode::Link) => {
                    let blob = self
                        .repo
                        .find_blob(entry.id())
                        .map_err(|e| self.local(&e))?;
                    std::fs::write(&path, blob.content()).map_err(io_error)?;
                }
                // Symbolic links and submodules (commits).
                _ => {}
            }
        }
        Ok(())
    }
}

/// Proxy settings from the environment and Git config (`https_proxy`, `no_proxy`,
/// `http.proxy`), as the git CLI would use them.
fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_stripped_from_urls_and_messages() {
        assert_eq!(
            display_url("https://user:s3cret@git.example/org/repo.git"),
            "https://user@git.example/org/repo.git"
        );
        assert_eq!(
            display_url("https://token@git.example/repo"),
            "https://token@git.example/repo"
        );
        assert_eq!(display_url("file:///tmp/repo.git"), "file:///tmp/repo.git");
        assert_eq!(
            display_url("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
        assert_eq!(
            display_url("failed 'https://a:b@h1/x' then http://c:d@h2"),
            "failed 'https://a@h1/x' then http://c@h2"
        );
        let remote = Remote {
            url: "https://me:urlpass@h/r.git".into(),
            credentials: Some(Credentials::Basic {
                username: "me".into(),
                password: "tok3n".into(),
            }),
        };
        assert_eq!(
            redact(
                "bad tok3n and urlpass at https://me:urlpass@h/r.git",
                &remote
            ),
            "bad ***** and ***** at https://me@h/r.git"
        );
        let debug = format!("{remote:?}");
        assert!(
            !debug.contains("tok3n") && !debug.contains("urlpass"),
            "{debug}"
        );
    }

    #[test]
    fn cache_keys_are_stable_readable_and_distinct() {
        assert_eq!(
            cache_key("https://git.example/org/app.git"),
            cache_key("https://git.example/org/app.git")
        );
        assert!(cache_key("https://git.example/org/app.git").starts_with("app-"));
        assert!(cache_key("git@h:org/app.git").starts_with("app-"));
        assert_ne!(
            cache_key("https://a.example/app.git"),
            cache_key("https://b.example/app.git")
        );
        assert!(cache_key("file:///tmp/x y/../r").starts_with("r-"));
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for retry in 1..40 {
            let wait = backoff(retry);
            let base = BACKOFF_START
                .saturating_mul(2u32.saturating_pow(retry - 1))
                .min(BACKOFF_CAP);
            assert!(
                wait >= base && wait <= base.mul_f64(1.5),
                "{retry}: {wait:?}"
            );
        }
        assert!(backoff(1) < Duration::from_millis(151));
        assert!(backoff(30) <= BACKOFF_CAP.mul_f64(1.5));
    }

    #[test]
    fn paths_are_repository_relative() {
        assert_eq!(normalize_path("./apps/x.yaml"), "apps/x.yaml");
        assert_eq!(normalize_path("/apps/x.yaml"), "apps/x.yaml");
        assert_eq!(normalize_path("apps/x.yaml"), "apps/x.yaml");
    }
}
