//! The demo's Git repository: a bare repository in a temporary directory holding a kustomize
//! overlay whose `images:` entry declares the release, as a GitOps repository would. It is
//! removed when the demo ends unless the demo was asked to keep it.

use git2::{Oid, Repository, Signature};
use std::path::{Path, PathBuf};

pub const OVERLAY: &str = "deploy/kustomization.yaml";

pub fn overlay(tag: &str) -> String {
    format!(
        "# Synced by Argo CD into namespace default.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- rollout.yaml\nimages:\n- name: example.com/web\n  newTag: {tag}  # set by CI on release\n"
    )
}

pub struct DemoRepo {
    dir: PathBuf,
    repo: Repository,
    /// Whether the repository outlives the demo (`weir demo --keep`).
    keep: bool,
}

impl DemoRepo {
    pub fn create() -> Result<DemoRepo, git2::Error> {
        let dir = std::env::temp_dir().join(format!(
            "weir-demo-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let repo = Repository::init_bare(&dir)?;
        repo.set_head("refs/heads/main")?;
        let demo = DemoRepo {
            dir,
            repo,
            keep: false,
        };
        demo.commit(
            "deploy/rollout.yaml",
            "# the Rollout manifest (see the controller's copy)\n",
            "add the Rollout",
        )?;
        demo.commit(OVERLAY, &overlay("v1"), "release v1")?;
        Ok(demo)
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Commits `content` at `file` on main, as CI or a person would.
    pub fn commit(&self, file: &str, content: &str, message: &str) -> Result<Oid, git2::Error> {
        let parent = self
            .repo
            .find_reference("refs/heads/main")
            .ok()
            .and_then(|r| r.peel_to_commit().ok());
        let base = parent.as_ref().map(|c| c.tree()).transpose()?;
        let blob = self.repo.blob(content.as_bytes())?;
        let tree = self.replace(base.as_ref(), file, blob)?;
        let tree = self.repo.find_tree(tree)?;
        let sig = Signature::now("Release CI", "ci@example.com")?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            message,
            &tree,
            &parents,
        )
    }

    fn replace(
        &self,
        base: Option<&git2::Tree>,
        path: &str,
        blob: Oid,
    ) -> Result<Oid, git2::Error> {
        let mut builder = self.repo.treebuilder(base)?;
        match path.split_once('/') {
            None => {
                builder.insert(path, blob, 0o100644)?;
            }
            Some((dir, rest)) => {
                let sub = base
                    .and_then(|t| t.get_name(dir))
                    .map(|e| self.repo.find_tree(e.id()))
                    .transpose()?;
                let sub = self.replace(sub.as_ref(), rest, blob)?;
                builder.insert(dir, sub, 0o040000)?;
            }
        }
        builder.write()
    }

    pub fn head(&self) -> Result<git2::Commit<'_>, git2::Error> {
        self.repo
            .find_reference("refs/heads/main")?
            .peel_to_commit()
    }

    pub fn read(&self, file: &str) -> Option<String> {
        let tree = self.head().ok()?.tree().ok()?;
        let entry = tree.get_path(Path::new(file)).ok()?;
        let blob = self.repo.find_blob(entry.id()).ok()?;
        String::from_utf8(blob.content().to_vec()).ok()
    }

    /// The head commit as `git log -1 -p` prints it: header, indented message, and the patch
    /// libgit2 computes between the commit's tree and its parent's.
    pub fn log_patch_head(&self) -> Result<String, git2::Error> {
        let head = self.head()?;
        let parent = head.parent(0)?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&parent.tree()?), Some(&head.tree()?), None)?;
        let mut patch = String::new();
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                patch.push(line.origin());
            }
            patch.push_str(&String::from_utf8_lossy(line.content()));
            true
        })?;
        let author = head.author();
        let when = author.when();
        let date = jiff::Timestamp::from_second(when.seconds())
            .map_err(|e| git2::Error::from_str(&e.to_string()))?
            .to_zoned(jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(when.offset_minutes() * 60)
                    .map_err(|e| git2::Error::from_str(&e.to_string()))?,
            ))
            .strftime("%a %b %-d %H:%M:%S %Y %z");
        let message: String = head
            .message()
            .unwrap_or_default()
            .trim_end()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect();
        Ok(format!(
            "commit {}\nAuthor: {} <{}>\nDate:   {date}\n\n{message}\n{patch}",
            head.id(),
            author.name().unwrap_or_default(),
            author.email().unwrap_or_default(),
        ))
    }

    /// Leaves the repository on disk when the demo ends.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for DemoRepo {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
