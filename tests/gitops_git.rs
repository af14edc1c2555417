//! The revert's commit-and-push against real repositories created here: bare repositories over
//! file:// and over smart HTTP with basic auth, with concurrent writers, conflicts, bad
//! credentials, unreachable remotes, restarts (idempotency) and review branches.
//!
//! SSH runs end to end against an `sshd` the test starts as the current user (Debian's
//! `openssh-server`, which `.ci/run` installs); the host-key check is also unit-tested in
//! `src/gitops/git/known_hosts.rs`.

#[path = "support/git_server.rs"]
mod git_server;

use git_server::{
    FIXTURE_AUTHOR, GitHttpServer, TempDir, TempRepo, bare_repo_with, closed_port_url,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use weir::gitops::git::{self, CommitRequest, Edit, GitError, Outcome, Remote};
use weir::gitops::source::Credentials;

const FILE: &str = "apps/web/kustomization.yaml";
const KUSTOMIZATION: &str = "\
# web overlay
images:
  - name: ghcr.io/acme/web
    newTag: \"v2\"   # set by CI
replicas:
  - name: web
    count: 3
";
const OTHER: &str = "apps/api/values.yaml";

fn repo() -> TempRepo {
    bare_repo_with(
        &[
            (FILE, KUSTOMIZATION),
            (OTHER, "image:\n  tag: a1\n"),
            ("README.md", "docs\n"),
        ],
        "main",
    )
}

/// The one-scalar edit the real caller makes: the failed tag back to the stable one, leaving
/// alone a file that already has the stable tag and refusing one that has something else.
fn revert_tag(text: &str) -> Edit {
    if text.contains("newTag: \"v2\"") {
        Edit::Changed(text.replace("newTag: \"v2\"", "newTag: \"v1\""))
    } else if text.contains("newTag: \"v1\"") {
        Edit::NoChange
    } else {
        Edit::Conflict("the file declares neither the failed tag v2 nor the stable tag v1".into())
    }
}

fn message(id: &str) -> String {
    format!(
        "Revert web to ghcr.io/acme/web:v1: canary aborted (analysis)\n\n\
         AnalysisRun: web-abc-2-1\nMeasured: [0.8]\n\nWeir-Rollout: shop/web\nWeir-Revert-Id: {id}\n"
    )
}

fn request<'a>(
    remote: &'a Remote,
    push_branch: &'a str,
    file: &'a str,
    message: &'a str,
    marker: &'a str,
) -> CommitRequest<'a> {
    CommitRequest {
        remote,
        base_branch: "main",
        push_branch,
        file,
        message,
        author_name: "Weir",
        author_email: "weir@weir.dev",
        max_attempts: 5,
        idempotency_marker: marker,
    }
}

fn file_remote(repo: &TempRepo) -> Remote {
    Remote {
        url: repo.url_file(),
        credentials: None,
    }
}

fn committed(outcome: Outcome) -> (String, String, u32) {
    match outcome {
        Outcome::Committed {
            sha,
            branch,
            attempts,
        } => (sha, branch, attempts),
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[test]
fn file_remote_gets_exactly_one_commit_changing_exactly_that_file() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let before = repo.head("main").unwrap();
    let remote = file_remote(&repo);
    let text = message("shop/web/2/abc");
    let marker = "Weir-Revert-Id: shop/web/2/abc";
    let outcome = git::commit_edit(
        cache.path(),
        &request(&remote, "main", FILE, &text, marker),
        &mut revert_tag,
    )
    .unwrap();
    let (sha, branch, attempts) = committed(outcome);
    assert_eq!((branch.as_str(), attempts), ("main", 1));

    let log = repo.log("main");
    assert_eq!(log.len(), 2, "one new commit: {log:#?}");
    let new = &log[0];
    assert_eq!(new.sha, sha);
    assert_eq!(new.parents, vec![before]);
    assert_eq!(new.files, vec![FILE.to_string()]);
    assert_eq!(new.message, text.trim_end());
    assert_eq!(
        (new.author_name.as_str(), new.author_email.as_str()),
        ("Weir", "weir@weir.dev")
    );
    assert_eq!(
        repo.read_file("main", FILE).unwrap(),
        KUSTOMIZATION.replace("\"v2\"", "\"v1\"")
    );
    assert_eq!(
        repo.read_file("main", OTHER).unwrap(),
        "image:\n  tag: a1\n"
    );

    // The cache is reused: a second revert on the same repository fetches instead of cloning.
    let text2 = message("shop/api/7/def");
    let outcome = git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            OTHER,
            &text2,
            "Weir-Revert-Id: shop/api/7/def",
        ),
        &mut |t: &str| Edit::Changed(t.replace("a1", "a0")),
    )
    .unwrap();
    let (sha2, _, _) = committed(outcome);
    let log = repo.log("main");
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].sha, sha2);
    assert_eq!(log[0].parents, vec![sha]);
    assert_eq!(log[0].files, vec![OTHER.to_string()]);
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "one cached clone per repository"
    );
}

#[test]
fn http_with_correct_credentials() {
    let repo = repo();
    let server = GitHttpServer::start(&repo, "weir-bot", "s3cret-token");
    let cache = TempDir::new("git-cache");
    let remote = Remote {
        url: server.url(),
        credentials: Some(Credentials::Basic {
            username: "weir-bot".into(),
            password: "s3cret-token".into(),
        }),
    };
    let text = message("shop/web/2/abc");
    let outcome = git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            FILE,
            &text,
            "Weir-Revert-Id: shop/web/2/abc",
        ),
        &mut revert_tag,
    )
    .unwrap();
    let (sha, branch, attempts) = committed(outcome);
    assert_eq!((branch.as_str(), attempts), ("main", 1));
    assert_eq!(repo.head("main").unwrap(), sha);
    assert_eq!(
        repo.read_file("main", FILE).unwrap(),
        KUSTOMIZATION.replace("\"v2\"", "\"v1\"")
    );
    assert!(
        server.unauthorized() >= 1,
        "the server challenged the client"
    );
    assert_eq!(server.receive_pack_posts(), 1);
}

#[test]
fn bad_or_missing_credentials_fail_fast_as_auth_errors() {
    let repo = repo();
    let server = GitHttpServer::start(&repo, "weir-bot", "right-password");
    let cache = TempDir::new("git-cache");
    let text = message("shop/web/2/abc");

    let remote = Remote {
        url: server.url(),
        credentials: Some(Credentials::Basic {
            username: "weir-bot".into(),
            password: "wrong-password".into(),
        }),
    };
    let error = git::commit_edit(
        cache.path(),
        &request(&remote, "main", FILE, &text, ""),
        &mut revert_tag,
    )
    .unwrap_err();
    assert!(
        server.unauthorized() <= 4,
        "no credential loop: {} 401s",
        server.unauthorized()
    );
    match &error {
        GitError::Auth { kind, url, .. } => {
            assert!(kind.contains("username/password"), "{kind}");
            assert_eq!(url, &server.url());
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("wrong-password"), "{shown}");
    assert!(shown.contains("weir-bot"), "says which user: {shown}");

    // A token in the URL is used, and still never shown.
    let remote = Remote {
        url: server
            .url()
            .replace("http://", "http://weir-bot:leaked-token@"),
        credentials: None,
    };
    let error = git::commit_edit(
        cache.path(),
        &request(&remote, "main", FILE, &text, ""),
        &mut revert_tag,
    )
    .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(matches!(error, GitError::Auth { .. }), "{shown}");
    assert!(!shown.contains("leaked-token"), "{shown}");

    let anonymous = Remote {
        url: server.url(),
        credentials: None,
    };
    match git::commit_edit(
        cache.path(),
        &request(&anonymous, "main", FILE, &text, ""),
        &mut revert_tag,
    ) {
        Err(GitError::Auth { kind, .. }) => assert!(kind.contains("no credentials"), "{kind}"),
        other => panic!("expected Auth, got {other:?}"),
    }
    assert_eq!(repo.log("main").len(), 1, "nothing was written");
    assert_eq!(server.receive_pack_posts(), 0);
}

#[test]
fn unreachable_remotes() {
    let cache = TempDir::new("git-cache");
    let text = message("x");
    let closed = Remote {
        url: closed_port_url(),
        credentials: Some(Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        }),
    };
    match git::commit_edit(
        cache.path(),
        &request(&closed, "main", FILE, &text, ""),
        &mut revert_tag,
    ) {
        Err(e @ GitError::Unreachable { .. }) => {
            assert!(
                e.to_string().contains(&closed.url),
                "names the repository: {e}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    let gone = Remote {
        url: "file:///nonexistent/weir/repo.git".into(),
        credentials: None,
    };
    match git::commit_edit(
        cache.path(),
        &request(&gone, "main", FILE, &text, ""),
        &mut revert_tag,
    ) {
        Err(GitError::Unreachable { .. }) => {}
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[test]
fn concurrent_commit_between_fetch_and_push_is_kept_and_the_edit_reapplied() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let initial = repo.head("main").unwrap();
    let text = message("shop/web/2/abc");
    let mut calls = 0;
    let mut concurrent = String::new();
    let mut edit = |current: &str| {
        calls += 1;
        if calls == 1 {
            // Someone else pushes after Weir fetched and before it pushes: same file, another line.
            concurrent = repo.commit_file(
                "main",
                FILE,
                &current.replace("count: 3", "count: 5"),
                "scale web to 5",
            );
        }
        revert_tag(current)
    };
    let outcome = git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            FILE,
            &text,
            "Weir-Revert-Id: shop/web/2/abc",
        ),
        &mut edit,
    )
    .unwrap();
    let (sha, _, attempts) = committed(outcome);
    assert_eq!(attempts, 2, "first push rejected, second on the new head");
    assert_eq!(calls, 2, "the edit ran again on the new content");

    let log = repo.log("main");
    let shas: Vec<&str> = log.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(
        shas,
        vec![sha.as_str(), concurrent.as_str(), initial.as_str()],
        "linear, nothing lost, nothing forced"
    );
    assert_eq!(log[0].parents, vec![concurrent.clone()]);
    assert_eq!(
        log[1].author_name, FIXTURE_AUTHOR.0,
        "the other writer's commit is theirs, untouched"
    );
    let content = repo.read_file("main", FILE).unwrap();
    assert!(
        content.contains("count: 5"),
        "the concurrent change is kept:\n{content}"
    );
    assert!(
        content.contains("newTag: \"v1\""),
        "the revert is applied:\n{content}"
    );
}

#[test]
fn concurrent_commit_racing_the_push_over_http_is_rejected_by_the_server_then_rebased() {
    let repo = repo();
    let server = GitHttpServer::start(&repo, "weir-bot", "pw");
    let cache = TempDir::new("git-cache");
    let remote = Remote {
        url: server.url(),
        credentials: Some(Credentials::Basic {
            username: "weir-bot".into(),
            password: "pw".into(),
        }),
    };
    let other_writer = repo.clone();
    let concurrent = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = Arc::clone(&concurrent);
    server.before_first_push(move || {
        *seen.lock().unwrap() =
            other_writer.commit_file("main", OTHER, "image:\n  tag: a2\n", "bump api to a2");
    });
    let text = message("shop/web/2/abc");
    let outcome = git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            FILE,
            &text,
            "Weir-Revert-Id: shop/web/2/abc",
        ),
        &mut revert_tag,
    )
    .unwrap();
    let (sha, _, attempts) = committed(outcome);
    assert_eq!(attempts, 2);
    assert_eq!(
        server.receive_pack_posts(),
        2,
        "the server saw the stale push and refused it"
    );
    let concurrent = concurrent.lock().unwrap().clone();
    let log = repo.log("main");
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].sha.as_str(), log[1].sha.as_str()),
        (sha.as_str(), concurrent.as_str())
    );
    assert_eq!(log[0].files, vec![FILE.to_string()]);
    assert_eq!(
        repo.read_file("main", OTHER).unwrap(),
        "image:\n  tag: a2\n"
    );
    assert!(
        repo.read_file("main", FILE)
            .unwrap()
            .contains("newTag: \"v1\"")
    );
}

#[test]
fn a_conflicting_change_is_reported_and_never_overwritten() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let text = message("shop/web/2/abc");
    // The same line changes to a third value between Weir's fetch and its push.
    let mut calls = 0;
    let mut edit = |current: &str| {
        calls += 1;
        if calls == 1 {
            repo.commit_file(
                "main",
                FILE,
                &current.replace("\"v2\"", "\"v3\""),
                "roll web forward to v3",
            );
        }
        revert_tag(current)
    };
    let error = git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            FILE,
            &text,
            "Weir-Revert-Id: shop/web/2/abc",
        ),
        &mut edit,
    )
    .unwrap_err();
    match &error {
        GitError::Conflict {
            reason,
            file,
            branch,
            ..
        } => {
            assert!(reason.contains("neither"), "{reason}");
            assert_eq!((file.as_str(), branch.as_str()), (FILE, "main"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let log = repo.log("main");
    assert_eq!(log.len(), 2, "only the other writer's commit");
    assert_eq!(log[0].message, "roll web forward to v3");
    assert!(repo.read_file("main", FILE).unwrap().contains("\"v3\""));

    // Also when the third value is already there before Weir looks.
    let head = repo.head("main").unwrap();
    let error = git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            FILE,
            &text,
            "Weir-Revert-Id: shop/web/2/abc",
        ),
        &mut revert_tag,
    )
    .unwrap_err();
    assert!(matches!(error, GitError::Conflict { .. }), "{error:?}");
    assert_eq!(repo.head("main").unwrap(), head);
}

#[test]
fn the_idempotency_marker_makes_a_restarted_revert_a_no_op() {
    let repo = repo();
    let remote = file_remote(&repo);
    let text = message("shop/web/2/abc");
    let marker = "Weir-Revert-Id: shop/web/2/abc";
    let cache = TempDir::new("git-cache");
    let (sha, _, _) = committed(
        git::commit_edit(
            cache.path(),
            &request(&remote, "main", FILE, &text, marker),
            &mut revert_tag,
        )
        .unwrap(),
    );
    // Others keep committing on top.
    repo.commit_file("main", OTHER, "image:\n  tag: a9\n", "bump api");

    // Same cache, and a fresh one (a controller restarted on a new pod): the edit is not even
    // asked for, and nothing is committed.
    for cache in [&cache, &TempDir::new("git-cache-after-restart")] {
        let mut edit = |_: &str| -> Edit { panic!("must not edit again") };
        let outcome = git::commit_edit(
            cache.path(),
            &request(&remote, "main", FILE, &text, marker),
            &mut edit,
        )
        .unwrap();
        assert_eq!(
            outcome,
            Outcome::AlreadyCommitted {
                sha: sha.clone(),
                branch: "main".into()
            }
        );
    }
    assert_eq!(repo.log("main").len(), 3);

    // A marker that is a prefix of the recorded one is a different revert.
    let other_marker = "Weir-Revert-Id: shop/web/2/ab";
    let outcome = git::commit_edit(
        cache.path(),
        &request(&remote, "main", FILE, &text, other_marker),
        &mut revert_tag,
    )
    .unwrap();
    assert!(matches!(outcome, Outcome::NoChange { .. }), "{outcome:?}");
}

#[test]
fn no_change_when_the_file_already_declares_the_stable_image() {
    let repo = bare_repo_with(
        &[(FILE, &KUSTOMIZATION.replace("\"v2\"", "\"v1\""))],
        "main",
    );
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let text = message("m");
    let outcome = git::commit_edit(
        cache.path(),
        &request(&remote, "main", FILE, &text, "Weir-Revert-Id: m"),
        &mut revert_tag,
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::NoChange {
            head: repo.head("main").unwrap()
        }
    );
    // An edit that returns identical text is no change either (no empty commits).
    let outcome = git::commit_edit(
        cache.path(),
        &request(&remote, "main", FILE, &text, "Weir-Revert-Id: m"),
        &mut |t: &str| Edit::Changed(t.to_string()),
    )
    .unwrap();
    assert!(matches!(outcome, Outcome::NoChange { .. }));
    assert_eq!(repo.log("main").len(), 1);
}

#[test]
fn review_branch_is_created_from_base_and_then_stacked_on() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let base = repo.head("main").unwrap();
    let review = "weir/revert/shop-web-2";
    let text = message("shop/web/2/abc");
    let (first, branch, _) = committed(
        git::commit_edit(
            cache.path(),
            &request(
                &remote,
                review,
                FILE,
                &text,
                "Weir-Revert-Id: shop/web/2/abc",
            ),
            &mut revert_tag,
        )
        .unwrap(),
    );
    assert_eq!(branch, review);
    assert_eq!(
        repo.head("main").unwrap(),
        base,
        "the tracked branch is untouched"
    );
    let log = repo.log(review);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].parents, vec![base.clone()]);

    // main moves on; a second revert for the same review branch stacks on it, it is not
    // re-created from main.
    repo.commit_file("main", "README.md", "more docs\n", "docs");
    let text2 = message("shop/web/2/second");
    let (second, _, _) = committed(
        git::commit_edit(
            cache.path(),
            &request(
                &remote,
                review,
                OTHER,
                &text2,
                "Weir-Revert-Id: shop/web/2/second",
            ),
            &mut |t: &str| Edit::Changed(t.replace("a1", "a0")),
        )
        .unwrap(),
    );
    let log = repo.log(review);
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].sha.as_str(), log[0].parents.clone()),
        (second.as_str(), vec![first])
    );
    assert_eq!(repo.read_file(review, "README.md").unwrap(), "docs\n");
    let mut branches = repo.branches();
    branches.sort();
    assert_eq!(branches, vec!["main".to_string(), review.to_string()]);
}

#[test]
fn two_threads_reverting_one_repository_take_turns() {
    let repo = repo();
    let cache = Arc::new(TempDir::new("git-cache"));
    let remote = Arc::new(file_remote(&repo));
    let start = Arc::new(Barrier::new(2));
    let editing = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = [(FILE, "shop/web/2/abc"), (OTHER, "shop/api/7/def")]
        .into_iter()
        .map(|(file, id)| {
            let (cache, remote, start, editing, overlaps) = (
                cache.clone(),
                remote.clone(),
                start.clone(),
                editing.clone(),
                overlaps.clone(),
            );
            std::thread::spawn(move || {
                let text = message(id);
                let marker = format!("Weir-Revert-Id: {id}");
                start.wait();
                git::commit_edit(
                    cache.path(),
                    &request(&remote, "main", file, &text, &marker),
                    &mut |t: &str| {
                        if editing.fetch_add(1, Ordering::SeqCst) > 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        // Long enough that, unserialized, the other thread would push in between.
                        std::thread::sleep(Duration::from_millis(300));
                        editing.fetch_sub(1, Ordering::SeqCst);
                        if file == FILE {
                            revert_tag(t)
                        } else {
                            Edit::Changed(t.replace("a1", "a0"))
                        }
                    },
                )
            })
        })
        .collect();
    let outcomes: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "the edits never overlapped"
    );
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Outcome::Committed { attempts: 1, .. }),
            "serialized, so never rejected: {outcome:?}"
        );
    }
    let log = repo.log("main");
    assert_eq!(log.len(), 3, "both commits, nothing lost");
    assert!(repo.read_file("main", FILE).unwrap().contains("\"v1\""));
    assert!(repo.read_file("main", OTHER).unwrap().contains("a0"));

    // The same revert requested twice at once (two markers, same edit): one commits, the other
    // then finds nothing to change.
    let repo = self::repo();
    let remote = Arc::new(file_remote(&repo));
    let start = Arc::new(Barrier::new(2));
    let threads: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|id| {
            let (cache, remote, start) = (cache.clone(), remote.clone(), start.clone());
            std::thread::spawn(move || {
                let text = message(id);
                let marker = format!("Weir-Revert-Id: {id}");
                start.wait();
                git::commit_edit(
                    cache.path(),
                    &request(&remote, "main", FILE, &text, &marker),
                    &mut revert_tag,
                )
                .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<Outcome> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let commits = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Committed { .. }))
        .count();
    let unchanged = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::NoChange { .. }))
        .count();
    assert_eq!((commits, unchanged), (1, 1), "{outcomes:?}");
    assert_eq!(repo.log("main").len(), 2);
}

#[test]
fn missing_file_missing_branch_and_the_default_branch() {
    let repo = bare_repo_with(&[(FILE, KUSTOMIZATION)], "trunk");
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let text = message("m");
    let mut req = request(&remote, "HEAD", FILE, &text, "Weir-Revert-Id: m");
    req.base_branch = "HEAD";
    let (_, branch, _) = committed(git::commit_edit(cache.path(), &req, &mut revert_tag).unwrap());
    assert_eq!(branch, "trunk", "HEAD is the remote's default branch");

    // (No marker: the commit above has one, and would answer AlreadyCommitted first.)
    req.idempotency_marker = "";
    req.file = "apps/missing.yaml";
    match git::commit_edit(cache.path(), &req, &mut revert_tag) {
        Err(e @ GitError::FileNotFound { .. }) => {
            assert!(e.to_string().contains("apps/missing.yaml"), "{e}")
        }
        other => panic!("expected FileNotFound, got {other:?}"),
    }
    req.file = "apps/web";
    assert!(
        matches!(
            git::commit_edit(cache.path(), &req, &mut revert_tag),
            Err(GitError::FileNotFound { .. })
        ),
        "a directory is not a file"
    );

    let req = request(&remote, "main", FILE, &text, "");
    match git::commit_edit(cache.path(), &req, &mut revert_tag) {
        Err(e @ GitError::BranchNotFound { .. }) => assert!(e.to_string().contains("main"), "{e}"),
        other => panic!("expected BranchNotFound, got {other:?}"),
    }
}

#[test]
fn the_cache_follows_a_rewritten_branch() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let text = message("one");
    committed(
        git::commit_edit(
            cache.path(),
            &request(&remote, "main", FILE, &text, "Weir-Revert-Id: one"),
            &mut revert_tag,
        )
        .unwrap(),
    );
    // Someone force-pushes a different history (the cache's copy of main is now stale).
    let replacement = bare_repo_with(&[(FILE, KUSTOMIZATION), ("NEW.md", "new\n")], "main");
    git_server::git(
        replacement.path(),
        &[
            "push",
            "--quiet",
            "--force",
            repo.path().to_str().unwrap(),
            "main",
        ],
    );
    let new_base = repo.head("main").unwrap();
    let text = message("two");
    let (_, _, _) = committed(
        git::commit_edit(
            cache.path(),
            &request(&remote, "main", FILE, &text, "Weir-Revert-Id: two"),
            &mut revert_tag,
        )
        .unwrap(),
    );
    let log = repo.log("main");
    assert_eq!(log[0].parents, vec![new_base]);
    assert_eq!(repo.read_file("main", "NEW.md").unwrap(), "new\n");
}

#[test]
fn snapshot_writes_the_branch_files_and_removes_them_on_drop() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let snapshot = git::snapshot(cache.path(), &remote, "HEAD").unwrap();
    assert_eq!(snapshot.branch(), "main");
    assert_eq!(snapshot.commit(), repo.head("main").unwrap());
    assert_eq!(
        std::fs::read_to_string(snapshot.path().join(FILE)).unwrap(),
        KUSTOMIZATION
    );
    assert_eq!(
        std::fs::read_to_string(snapshot.path().join(OTHER)).unwrap(),
        "image:\n  tag: a1\n"
    );
    let dir = snapshot.path().to_path_buf();
    drop(snapshot);
    assert!(!dir.exists());
    assert!(matches!(
        git::snapshot(cache.path(), &remote, "nope"),
        Err(GitError::BranchNotFound { .. })
    ));
}

/// The figure: time for the commit-and-push step on a repository with 1,000 files.
/// Printed, not asserted (machines differ).
#[test]
fn figure_commit_and_push_on_a_repository_with_1000_files() {
    let deployment =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 2\n";
    let names: Vec<String> = (0..999)
        .map(|i| format!("apps/app-{:03}/deployment-{i}.yaml", i % 100))
        .collect();
    let mut files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), deployment)).collect();
    files.push((FILE, KUSTOMIZATION));
    let repo = bare_repo_with(&files, "main");
    let remote = file_remote(&repo);
    let cache = TempDir::new("git-cache");

    let text = message("shop/web/2/abc");
    let started = Instant::now();
    committed(
        git::commit_edit(
            cache.path(),
            &request(
                &remote,
                "main",
                FILE,
                &text,
                "Weir-Revert-Id: shop/web/2/abc",
            ),
            &mut revert_tag,
        )
        .unwrap(),
    );
    let cold = started.elapsed();

    let text = message("shop/app/3/def");
    let target = names[500].as_str();
    let started = Instant::now();
    committed(
        git::commit_edit(
            cache.path(),
            &request(
                &remote,
                "main",
                target,
                &text,
                "Weir-Revert-Id: shop/app/3/def",
            ),
            &mut |t: &str| Edit::Changed(t.replace("replicas: 2", "replicas: 3")),
        )
        .unwrap(),
    );
    let warm = started.elapsed();
    assert_eq!(repo.log("main").len(), 3);
    println!("FIGURE git-revert-commit: {} ms", cold.as_millis());
    println!(
        "FIGURE git-revert-commit-warm-cache: {} ms",
        warm.as_millis()
    );
}

#[test]
fn a_branch_that_keeps_moving_gives_up_after_max_attempts_without_losing_commits() {
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let remote = file_remote(&repo);
    let text = message("shop/web/2/abc");
    let mut req = request(
        &remote,
        "main",
        FILE,
        &text,
        "Weir-Revert-Id: shop/web/2/abc",
    );
    req.max_attempts = 3;
    let mut calls = 0;
    let mut edit = |current: &str| {
        calls += 1;
        repo.commit_file(
            "main",
            &format!("busy-{calls}.txt"),
            "x\n",
            "someone else again",
        );
        revert_tag(current)
    };
    match git::commit_edit(cache.path(), &req, &mut edit) {
        Err(e @ GitError::Rejected { attempts: 3, .. }) => {
            assert!(e.to_string().contains("kept moving"), "{e}")
        }
        other => panic!("expected Rejected after 3 attempts, got {other:?}"),
    }
    let log = repo.log("main");
    assert_eq!(log.len(), 4, "the three other commits, none of Weir's");
    assert!(log.iter().all(|c| c.author_name == FIXTURE_AUTHOR.0));
}

#[test]
fn a_push_refused_for_another_reason_than_a_race_is_not_retried() {
    let repo = repo();
    let hook = repo.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = GitHttpServer::start(&repo, "weir-bot", "pw");
    let cache = TempDir::new("git-cache");
    let remote = Remote {
        url: server.url(),
        credentials: Some(Credentials::Basic {
            username: "weir-bot".into(),
            password: "pw".into(),
        }),
    };
    let text = message("shop/web/2/abc");
    match git::commit_edit(
        cache.path(),
        &request(
            &remote,
            "main",
            FILE,
            &text,
            "Weir-Revert-Id: shop/web/2/abc",
        ),
        &mut revert_tag,
    ) {
        Err(e @ GitError::Rejected { attempts: 1, .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("did not move"), "{shown}");
            assert!(shown.contains("review-branch"), "says what to do: {shown}");
        }
        other => panic!("expected Rejected after 1 attempt, got {other:?}"),
    }
    assert_eq!(server.receive_pack_posts(), 1);
    assert_eq!(repo.log("main").len(), 1);
}

#[test]
fn ssh_with_a_key_and_known_hosts() {
    let server = match git_server::SshServer::start() {
        Ok(server) => server,
        // A missing sshd fails the test rather than passing it silently; skipping must be asked.
        Err(why) if std::env::var_os("WEIR_SKIP_SSH_TEST").is_some() => {
            eprintln!("SKIP ssh_with_a_key_and_known_hosts (WEIR_SKIP_SSH_TEST): {why}");
            return;
        }
        Err(why) => panic!(
            "cannot start sshd for the Git-over-SSH test: {why}; install openssh-server \
             (apt-get install openssh-server; as root also `mkdir -p /run/sshd`, as .ci/run \
             does) or set WEIR_SKIP_SSH_TEST=1 to skip it"
        ),
    };
    let repo = repo();
    let cache = TempDir::new("git-cache");
    let text = message("shop/web/2/abc");
    let ssh = |private_key: String, known_hosts: Option<String>| Remote {
        url: server.url(&repo),
        credentials: Some(Credentials::SshKey {
            username: server.user().to_string(),
            private_key,
            passphrase: None,
            known_hosts,
        }),
    };
    let attempt = |remote: &Remote| {
        git::commit_edit(
            cache.path(),
            &request(
                remote,
                "main",
                FILE,
                &text,
                "Weir-Revert-Id: shop/web/2/abc",
            ),
            &mut revert_tag,
        )
    };

    // Refused before any key is offered: no known_hosts, or a different host key.
    for known_hosts in [None, Some(server.wrong_known_hosts())] {
        match attempt(&ssh(server.client_key(), known_hosts.clone())) {
            Err(GitError::Auth { kind, detail, .. }) => {
                assert!(kind.contains("host key"), "{kind}: {detail}")
            }
            other => panic!("expected a host key refusal for {known_hosts:?}, got {other:?}"),
        }
    }
    // A key the server does not know.
    match attempt(&ssh(server.stranger_key(), Some(server.known_hosts()))) {
        Err(
            e @ GitError::Auth {
                kind: "SSH key", ..
            },
        ) => {
            assert!(!e.to_string().contains("PRIVATE KEY"), "{e}")
        }
        other => panic!("expected the SSH key to be refused, got {other:?}"),
    }
    assert_eq!(repo.log("main").len(), 1);

    let outcome = attempt(&ssh(server.client_key(), Some(server.known_hosts()))).unwrap();
    let (sha, _, attempts) = committed(outcome);
    assert_eq!(attempts, 1);
    assert_eq!(repo.head("main").unwrap(), sha);
    assert!(
        repo.read_file("main", FILE)
            .unwrap()
            .contains("newTag: \"v1\"")
    );
}
