//! Commits a Git revert: takes a revert request recorded in a Rollout's `weir.dev/state`
//! annotation, finds where the image is declared, changes that one scalar back to the stable
//! image, and commits and pushes with the evidence. Returns the new request state; the
//! controller's revert loop (`controller::revert_loop`) writes it back.

use super::discover::{self, ANNOTATION_REVIEW};
use super::edit::{EditOutcome, revert_image};
use super::git::{self, CommitRequest, Edit, Outcome, Remote};
use super::image_ref::ImageRef;
use super::locate::locate;
use super::message;
use super::source::{Credentials, GitSource};
use crate::api::rollout::{GitRevertStatus, Rollout};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use std::path::PathBuf;
use std::time::Duration;

pub const PHASE_COMMITTED: &str = "Committed";
pub const PHASE_ALREADY_REVERTED: &str = "AlreadyReverted";
pub const PHASE_FAILED: &str = "Failed";
pub const PHASE_CONFLICT: &str = "Conflict";
const GIT_JOB_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct RevertConfig {
    /// Where local clones are kept between reverts.
    pub cache_dir: PathBuf,
    pub argocd_namespace: String,
    pub author_name: String,
    pub author_email: String,
    /// Replaces [`message::DEFAULT_TEMPLATE`].
    pub message_template: Option<String>,
    pub max_push_attempts: u32,
    /// Wait before retrying a failed revert (doubles per attempt, capped at 10 min).
    pub retry_after: Duration,
    pub max_attempts: i32,
}

impl Default for RevertConfig {
    fn default() -> Self {
        RevertConfig {
            cache_dir: std::env::temp_dir().join("weir-git-cache"),
            argocd_namespace: "argocd".into(),
            author_name: "Weir".into(),
            author_email: "weir@weir.dev".into(),
            message_template: None,
            max_push_attempts: 5,
            retry_after: Duration::from_secs(15),
            max_attempts: 10,
        }
    }
}

/// Whether a request should be worked on now.
pub fn due(request: &GitRevertStatus, config: &RevertConfig, now: Timestamp) -> bool {
    match request.phase.as_str() {
        "Pending" => true,
        PHASE_FAILED => {
            let attempts = request.attempts.unwrap_or(0);
            if attempts >= config.max_attempts {
                return false;
            }
            let backoff = config
                .retry_after
                .saturating_mul(
                    2u32.saturating_pow(u32::try_from(attempts.max(1) - 1).unwrap_or(0)),
                )
                .min(Duration::from_secs(600));
            request.last_attempt_at.as_ref().is_none_or(|t| {
                t.0 + jiff::SignedDuration::try_from(backoff).unwrap_or(jiff::SignedDuration::MAX)
                    <= now
            })
        }
        _ => false,
    }
}

/// Carries out one attempt of `request` for `rollout`.
pub async fn run(
    client: &kube::Client,
    rollout: &Rollout,
    request: &GitRevertStatus,
    config: &RevertConfig,
) -> GitRevertStatus {
    let mut next = request.clone();
    next.attempts = Some(request.attempts.unwrap_or(0) + 1);
    next.last_attempt_at = Some(Time(Timestamp::now()));
    let found = discover::discover_live(client, rollout, &config.argocd_namespace).await;
    let (source, credentials) = match found {
        Ok(found) => found,
        Err(e) => {
            next.phase = PHASE_FAILED.into();
            next.message = Some(e.to_string());
            return next;
        }
    };
    next.repo = Some(strip_userinfo(&source.repo_url));
    let namespace = rollout.namespace().unwrap_or_else(|| "default".into());
    let name = rollout.name_any();
    let review = rollout
        .annotations()
        .get(ANNOTATION_REVIEW)
        .is_some_and(|v| v == "true");
    let push_branch = if review {
        format!("weir/revert/{namespace}-{name}-{}", request.revision)
    } else {
        source.branch.clone()
    };
    let text = render_message(&namespace, &name, request, config);
    let marker = format!(
        "Weir-Revert-Id: {}",
        message::revert_id(&namespace, &name, request)
    );
    let job = Job {
        source,
        credentials,
        push_branch,
        text,
        marker,
        request: request.clone(),
        rollout: name.clone(),
        config: config.clone(),
    };
    // libgit2's network timeouts cannot be set safely once threads run; bound the job here.
    // A timed-out job keeps its blocking thread until the OS gives up on the connection.
    let result = match tokio::time::timeout(
        GIT_JOB_TIMEOUT,
        tokio::task::spawn_blocking(move || job.run()),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => {
            next.phase = PHASE_FAILED.into();
            next.message = Some(format!(
                "the Git operation did not finish within {} s; will retry",
                GIT_JOB_TIMEOUT.as_secs()
            ));
            return next;
        }
    };
    match result {
        Ok(Ok(done)) => {
            next.phase = done.phase.into();
            next.file = Some(done.file);
            next.branch = Some(done.branch);
            next.commit = done.commit;
            next.message = Some(done.message);
        }
        Ok(Err((phase, message, file))) => {
            next.phase = phase.into();
            next.file = file.or(next.file);
            next.message = Some(message);
        }
        Err(e) => {
            next.phase = PHASE_FAILED.into();
            next.message = Some(format!("the revert task stopped unexpectedly: {e}"));
        }
    }
    next
}

fn render_message(
    namespace: &str,
    rollout: &str,
    request: &GitRevertStatus,
    config: &RevertConfig,
) -> String {
    let template = config
        .message_template
        .as_deref()
        .unwrap_or(message::DEFAULT_TEMPLATE);
    message::render(template, &message::fields(namespace, rollout, request))
}

/// A URL as shown in status: any password in it removed.
fn strip_userinfo(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

struct Job {
    source: GitSource,
    credentials: Option<Credentials>,
    push_branch: String,
    text: String,
    marker: String,
    request: GitRevertStatus,
    rollout: String,
    config: RevertConfig,
}

struct Done {
    phase: &'static str,
    file: String,
    branch: String,
    commit: Option<String>,
    message: String,
}

type JobError = (&'static str, String, Option<String>);

impl Job {
    /// Blocking: git2 and the file system.
    fn run(self) -> Result<Done, JobError> {
        let failed = |m: String| (PHASE_FAILED, m, None);
        let remote = Remote {
            url: self.source.repo_url.clone(),
            credentials: self.credentials.clone(),
        };
        let checkout = git::snapshot(&self.config.cache_dir, &remote, &self.source.branch)
            .map_err(|e| failed(e.to_string()))?;
        let mut last: Option<Done> = None;
        for image in &self.request.images {
            let image_name = image_name(&image.bad_image);
            let located = locate(
                checkout.path(),
                &self.source.path,
                &self.rollout,
                &image.container,
                &image_name,
                self.source.helm_image_field.as_deref(),
            )
            .map_err(|e| failed(e.to_string()))?;
            let file = located.file.clone();
            // One commit per container, each with its own exactly-once marker, so a second
            // container is not mistaken for already reverted.
            let marker = format!("{}/{}", self.marker, image.container);
            let text = self.text.replace(&self.marker, &marker);
            let request = CommitRequest {
                remote: &remote,
                base_branch: &self.source.branch,
                push_branch: &self.push_branch,
                file: &file,
                message: &text,
                author_name: &self.config.author_name,
                author_email: &self.config.author_email,
                max_attempts: self.config.max_push_attempts,
                idempotency_marker: &marker,
            };
            let mut edit = |text: &str| match revert_image(
                &file,
                text,
                &located.location,
                &image.bad_image,
                &image.stable_image,
            ) {
                Ok(EditOutcome::Changed(new)) => Edit::Changed(new),
                Ok(EditOutcome::AlreadyStable) => Edit::NoChange,
                Ok(EditOutcome::Conflict { found }) => Edit::Conflict(format!(
                    "{file} declares {found}, which is neither the failed image {} nor the stable image {}; someone changed it, so Weir leaves it alone",
                    image.bad_image, image.stable_image
                )),
                Err(e) => Edit::Conflict(e.to_string()),
            };
            let outcome =
                git::commit_edit(&self.config.cache_dir, &request, &mut edit).map_err(|e| {
                    let phase = if matches!(e, git::GitError::Conflict { .. }) {
                        PHASE_CONFLICT
                    } else {
                        PHASE_FAILED
                    };
                    (phase, e.to_string(), Some(file.clone()))
                })?;
            last = Some(match outcome {
                Outcome::Committed {
                    sha,
                    branch,
                    attempts,
                } => Done {
                    phase: PHASE_COMMITTED,
                    file: file.clone(),
                    branch: branch.clone(),
                    commit: Some(sha.clone()),
                    message: format!(
                        "committed {sha} to {branch} ({attempts} push attempt(s)): {} -> {} in {file}",
                        image.bad_image, image.stable_image
                    ),
                },
                Outcome::AlreadyCommitted { sha, branch } => Done {
                    phase: PHASE_COMMITTED,
                    file: file.clone(),
                    branch: branch.clone(),
                    commit: Some(sha.clone()),
                    message: format!("already committed as {sha} on {branch}"),
                },
                Outcome::NoChange { head } => Done {
                    phase: PHASE_ALREADY_REVERTED,
                    file: file.clone(),
                    branch: self.push_branch.clone(),
                    commit: None,
                    message: format!(
                        "{file} already declares {} at {head}; nothing to commit",
                        image.stable_image
                    ),
                },
            });
        }
        last.ok_or_else(|| failed("the revert request names no image".into()))
    }
}

/// `registry/path/name:tag@digest` -> `registry/path/name`; an unparsable reference as written
/// (locate then reports that no file declares it).
fn image_name(reference: &str) -> String {
    ImageRef::parse(reference).map_or_else(|_| reference.to_string(), |r| r.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_and_urls() {
        assert_eq!(
            image_name("ghcr.io/myorg/app:v1@sha256:abc"),
            "ghcr.io/myorg/app"
        );
        assert_eq!(image_name("localhost:5000/app:v1"), "localhost:5000/app");
        assert_eq!(image_name("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(
            strip_userinfo("https://user:pw@git.example/x.git"),
            "https://git.example/x.git"
        );
        assert_eq!(strip_userinfo("file:///tmp/x"), "file:///tmp/x");
    }

    #[test]
    fn failed_reverts_back_off() {
        let config = RevertConfig {
            retry_after: Duration::from_secs(10),
            max_attempts: 3,
            ..Default::default()
        };
        let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let mut request = GitRevertStatus {
            phase: PHASE_FAILED.into(),
            revision: "2".into(),
            pod_hash: "h".into(),
            images: Vec::new(),
            cause: "analysis".into(),
            evidence: None,
            requested_at: Time(at(0)),
            attempts: Some(2),
            last_attempt_at: Some(Time(at(0))),
            repo: None,
            file: None,
            branch: None,
            commit: None,
            message: None,
        };
        assert!(!due(&request, &config, at(19)), "second retry waits 20 s");
        assert!(due(&request, &config, at(20)));
        request.attempts = Some(3);
        assert!(
            !due(&request, &config, at(1000)),
            "gives up after max attempts"
        );
        request.phase = PHASE_CONFLICT.into();
        request.attempts = Some(1);
        assert!(
            !due(&request, &config, at(1000)),
            "a conflict is never retried"
        );
    }
}
