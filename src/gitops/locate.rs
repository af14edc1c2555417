//! Which file in a checked-out repository declares a Rollout's image, and where in it.
//!
//! Kustomize applies a kustomization's `images:` after its own patches and after everything its
//! resources produced, so the entry closest to the root wins over anything below it. The search
//! therefore goes depth-first through local `resources:` / `bases:` / `components:` (in order)
//! to the file that holds the Rollout, and on the way back up prefers, at each level, an
//! `images:` entry for the image, then a patch file that sets the container's image, then what
//! was found below. An `images:` entry is still used when the Rollout itself was not found in
//! the tree (say it comes from a remote base), but a Rollout found in one branch beats an entry
//! in a sibling branch, which does not apply to it.

use super::edit::{self, EditError};
use super::image_ref::ImageRef;
use super::source::{ImageLocation, Located};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
const HINT: &str = "set the Rollout annotation weir.dev/git-path to the file that declares the image (and weir.dev/git-image-field to the field, for Helm values)";

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(
        "the source path `{path}` {reason}; check the Argo CD / Flux source path or the weir.dev/git-path annotation"
    )]
    BadPath { path: String, reason: String },
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file} is not a valid kustomization: {detail}; fix it in Git")]
    InvalidKustomization { file: String, detail: String },
    #[error("no file declares {subject}; searched {searched}{notes}; {hint}", hint = HINT)]
    NotFound {
        /// "image … of Rollout … container …"
        subject: String,
        searched: String,
        notes: String,
    },
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// `root`: repository checkout; `path`: the source path (Argo CD/Flux `path`, or
/// weir.dev/git-path: a directory or a file); `rollout`: Rollout name; `container`: container
/// name; `image_name`: image name without tag (from the Rollout's template); `helm_field`:
/// `Some(field)` for Helm values (then `path` is the values file, or a directory containing
/// values.yaml). The returned `file` is relative to `root`, with '/' separators.
pub fn locate(
    root: &Path,
    path: &str,
    rollout: &str,
    container: &str,
    image_name: &str,
    helm_field: Option<&str>,
) -> Result<Located, LocateError> {
    let bad_path = |reason: &str| LocateError::BadPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let start = join(&[], path).ok_or_else(|| bad_path("leads outside the repository"))?;
    let mut search = Search {
        root,
        rollout,
        container,
        image_name,
        searched: Vec::new(),
        notes: Vec::new(),
        visited: HashSet::new(),
    };
    let absolute = search.absolute(&start);
    if !absolute.exists() {
        return Err(bad_path("does not exist in the repository"));
    }
    if let Some(field) = helm_field {
        return search.helm_values(&start, field);
    }
    let names = [image_name.to_string()];
    let found = if absolute.is_file() {
        if start
            .last()
            .is_some_and(|name| KUSTOMIZATION_FILES.contains(&name.as_str()))
        {
            search
                .kustomization(&start[..start.len() - 1], &names)?
                .map(Hit::located)
        } else {
            search.manifest(&start, &names)?
        }
    } else if search.kustomization_file(&start).is_some() {
        search.kustomization(&start, &names)?.map(Hit::located)
    } else {
        if search.absolute(&start).join("Chart.yaml").is_file() {
            search.notes.push(format!(
                "{} is a Helm chart: set weir.dev/git-image-field to the values field holding the image or tag",
                display(&start)
            ));
        }
        search.plain_dir(&start)?
    };
    found.ok_or_else(|| search.not_found())
}

/// A place found during the kustomize search. `Strong` when the Rollout itself is in the
/// subtree it came from; `Weak` for an `images:` entry in a subtree without the Rollout.
enum Hit {
    Strong(Located),
    Weak(Located),
}

impl Hit {
    fn located(self) -> Located {
        match self {
            Hit::Strong(located) | Hit::Weak(located) => located,
        }
    }
}

struct Search<'a> {
    root: &'a Path,
    rollout: &'a str,
    container: &'a str,
    image_name: &'a str,
    /// Files read, for the error message.
    searched: Vec<String>,
    /// Things worth telling the user when nothing is found (remote bases skipped, a Rollout
    /// whose image has another name).
    notes: Vec<String>,
    /// Kustomization directories already searched: bases shared by several overlays, or a cycle.
    visited: HashSet<Vec<String>>,
}

impl Search<'_> {
    fn absolute(&self, rel: &[String]) -> PathBuf {
        rel.iter()
            .fold(self.root.to_path_buf(), |path, part| path.join(part))
    }

    fn read(&mut self, rel: &[String]) -> Result<String, LocateError> {
        let file = display(rel);
        let text =
            std::fs::read_to_string(self.absolute(rel)).map_err(|source| LocateError::Read {
                file: file.clone(),
                source,
            })?;
        self.searched.push(file);
        Ok(text)
    }

    fn not_found(&self) -> LocateError {
        // A directory of a thousand manifests would make an unreadable event; the first few
        // files show where the search went.
        const SHOWN: usize = 8;
        let mut searched = if self.searched.is_empty() {
            "no YAML files".to_string()
        } else {
            self.searched
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.searched.len() > SHOWN {
            searched.push_str(&format!(" and {} more", self.searched.len() - SHOWN));
        }
        let notes = self
            .notes
            .iter()
            .map(|note| format!("; {note}"))
            .collect::<String>();
        LocateError::NotFound {
            subject: format!(
                "image {} of Rollout {} container {}",
                self.image_name, self.rollout, self.container
            ),
            searched,
            notes,
        }
    }

    fn helm_values(&mut self, start: &[String], field: &str) -> Result<Located, LocateError> {
        let file = if self.absolute(start).is_dir() {
            ["values.yaml", "values.yml"]
                .into_iter()
                .map(|name| start.iter().cloned().chain([name.to_string()]).collect::<Vec<_>>())
                .find(|candidate| self.absolute(candidate).is_file())
                .ok_or_else(|| LocateError::BadPath {
                    path: display(start),
                    reason: "is a directory without values.yaml; point weir.dev/git-path at the values file".into(),
                })?
        } else {
            start.to_vec()
        };
        let text = self.read(&file)?;
        let location = ImageLocation::HelmValue {
            field: field.to_string(),
        };
        // Checked now so a wrong field is reported before any Git work, not at commit time.
        edit::declared(&display(&file), &text, &location)?;
        Ok(Located {
            file: display(&file),
            location,
        })
    }

    fn kustomization_file(&self, dir: &[String]) -> Option<Vec<String>> {
        KUSTOMIZATION_FILES
            .into_iter()
            .map(|name| {
                dir.iter()
                    .cloned()
                    .chain([name.to_string()])
                    .collect::<Vec<_>>()
            })
            .find(|candidate| self.absolute(candidate).is_file())
    }

    /// Searches the kustomization in `dir`, where the image goes by any of `names` (several when
    /// an `images:` entry above renames it with `newName`).
    fn kustomization(
        &mut self,
        dir: &[String],
        names: &[String],
    ) -> Result<Option<Hit>, LocateError> {
        if !self.visited.insert(dir.to_vec()) {
            return Ok(None);
        }
        let Some(file) = self.kustomization_file(dir) else {
            self.notes
                .push(format!("{} has no kustomization file", display(dir)));
            return Ok(None);
        };
        let text = self.read(&file)?;
        let kustomization: yaml_serde::Value =
            yaml_serde::from_str(&text).map_err(|e| LocateError::InvalidKustomization {
                file: display(&file),
                detail: e.to_string(),
            })?;
        let list = |key: &str| {
            kustomization
                .get(key)
                .and_then(yaml_serde::Value::as_sequence)
                .map(Vec::as_slice)
                .unwrap_or_default()
        };

        // Below a renaming entry the image still has its original name.
        let mut below = names.to_vec();
        let mut images_entry = None;
        for entry in list("images") {
            let Some(name) = entry.get("name").and_then(yaml_serde::Value::as_str) else {
                continue;
            };
            let new_name = entry.get("newName").and_then(yaml_serde::Value::as_str);
            if !names
                .iter()
                .any(|n| same_image(n, new_name.unwrap_or(name)))
            {
                continue;
            }
            if new_name.is_some() {
                below.push(name.to_string());
            }
            let sets_version = ["newTag", "digest"]
                .iter()
                .any(|key| entry.get(*key).is_some_and(|v| !v.is_null()));
            if sets_version && images_entry.is_none() {
                images_entry = Some(Located {
                    file: display(&file),
                    location: ImageLocation::KustomizeImage {
                        name: name.to_string(),
                    },
                });
            }
        }

        let mut patch_files: Vec<&str> = list("patches")
            .iter()
            .filter_map(|p| p.get("path").and_then(yaml_serde::Value::as_str))
            .collect();
        // patchesStrategicMerge items are file paths or inline YAML; only files can be edited.
        patch_files.extend(
            list("patchesStrategicMerge")
                .iter()
                .filter_map(yaml_serde::Value::as_str)
                .filter(|p| !p.contains('\n')),
        );
        let mut patch = None;
        for path in patch_files {
            if let Some(rel) = self.local(dir, &file, path)
                && self.absolute(&rel).is_file()
                && let Some(found) = self.manifest(&rel, &below)?
            {
                patch = Some(found);
                break;
            }
        }

        let mut strong = None;
        let mut weak = None;
        let resources = ["resources", "bases", "components"]
            .into_iter()
            .flat_map(|key| list(key).iter().filter_map(yaml_serde::Value::as_str));
        for resource in resources {
            let Some(rel) = self.local(dir, &file, resource) else {
                continue;
            };
            let absolute = self.absolute(&rel);
            let hit = if absolute.is_dir() {
                self.kustomization(&rel, &below)?
            } else if absolute.is_file() {
                self.manifest(&rel, &below)?.map(Hit::Strong)
            } else {
                self.notes.push(format!(
                    "{} lists {resource}, which does not exist",
                    display(&file)
                ));
                None
            };
            match hit {
                Some(Hit::Strong(found)) => {
                    strong = Some(found);
                    break;
                }
                Some(Hit::Weak(found)) => {
                    weak.get_or_insert(found);
                }
                None => {}
            }
        }

        let rollout_below = patch.is_some() || strong.is_some();
        Ok(match (images_entry, patch) {
            (Some(entry), _) if rollout_below => Some(Hit::Strong(entry)),
            (Some(entry), _) => Some(Hit::Weak(entry)),
            (None, Some(patch)) => Some(Hit::Strong(patch)),
            (None, None) => strong.map(Hit::Strong).or(weak.map(Hit::Weak)),
        })
    }

    /// A kustomization's reference as a repository path, `None` (with a note) for a remote one
    /// or one leading outside the repository.
    fn local(&mut self, dir: &[String], file: &[String], reference: &str) -> Option<Vec<String>> {
        if is_remote(reference) {
            self.notes.push(format!(
                "skipped remote resource {reference} in {}",
                display(file)
            ));
            return None;
        }
        let rel = join(dir, reference);
        if rel.is_none() {
            self.notes.push(format!(
                "skipped {reference} in {}, which leads outside the repository",
                display(file)
            ));
        }
        rel
    }

    /// The Rollout's container in manifest `rel`, if the file has it and its image goes by one
    /// of `names`.
    fn manifest(
        &mut self,
        rel: &[String],
        names: &[String],
    ) -> Result<Option<Located>, LocateError> {
        if !rel
            .last()
            .is_some_and(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        {
            return Ok(None);
        }
        let text = self.read(rel)?;
        // Most files are not Rollouts; skip parsing them (a plain directory may hold hundreds).
        if !text.contains("Rollout") || !text.contains(self.rollout) {
            return Ok(None);
        }
        let file = display(rel);
        let location = ImageLocation::ContainerImage {
            rollout: self.rollout.to_string(),
            container: self.container.to_string(),
        };
        match edit::declared(&file, &text, &location) {
            Ok(image) => {
                let name = ImageRef::parse(&image)
                    .map(|r| r.name)
                    .unwrap_or_else(|_| image.clone());
                if names.iter().any(|n| same_image(n, &name)) {
                    Ok(Some(Located { file, location }))
                } else {
                    self.notes.push(format!(
                        "{file} has Rollout {} container {} with image {image}, which is not {}; something outside Git may set the image (e.g. the Argo CD Application's spec.source.kustomize.images)",
                        self.rollout, self.container, self.image_name
                    ));
                    Ok(None)
                }
            }
            Err(EditError::NotFound { .. }) => Ok(None),
            Err(e @ (EditError::NoContainer { .. } | EditError::InvalidYaml { .. })) => {
                self.notes.push(e.to_string());
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A directory without a kustomization, as Argo CD applies it: its YAML files in name order.
    fn plain_dir(&mut self, dir: &[String]) -> Result<Option<Located>, LocateError> {
        let absolute = self.absolute(dir);
        let entries = std::fs::read_dir(&absolute).map_err(|source| LocateError::Read {
            file: display(dir),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let image = [self.image_name.to_string()];
        for name in names {
            let rel: Vec<String> = dir.iter().cloned().chain([name]).collect();
            if let Some(found) = self.manifest(&rel, &image)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// Whether two image names (no tag) are the same repository, however spelled.
fn same_image(a: &str, b: &str) -> bool {
    match (ImageRef::parse(a), ImageRef::parse(b)) {
        (Ok(a), Ok(b)) => a.same_name(&b),
        _ => a == b,
    }
}

/// kustomize fetches these itself; there is no file here to edit.
fn is_remote(reference: &str) -> bool {
    reference.contains("://")
        || reference.contains("?ref=")
        || reference.starts_with("git@")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|host| reference.starts_with(host))
}

/// `reference` resolved against `base` (both relative to the repository root) without touching
/// the file system, `None` when it climbs above the root or is absolute.
fn join(base: &[String], reference: &str) -> Option<Vec<String>> {
    if reference.starts_with('/') {
        return None;
    }
    let mut parts = base.to_vec();
    for part in reference.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part.to_string()),
        }
    }
    Some(parts)
}

/// A repository path as shown to users and returned in [`Located::file`].
fn display(rel: &[String]) -> String {
    if rel.is_empty() {
        ".".to_string()
    } else {
        rel.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_lexically_inside_the_repository() {
        let base = ["overlays".to_string(), "prod".to_string()];
        assert_eq!(
            join(&base, "../../base").map(|p| display(&p)),
            Some("base".into())
        );
        assert_eq!(
            join(&base, "./patch.yaml").map(|p| display(&p)),
            Some("overlays/prod/patch.yaml".into())
        );
        assert_eq!(join(&base, "../../../x"), None);
        assert_eq!(join(&[], "/etc"), None);
        assert_eq!(join(&[], "").map(|p| display(&p)), Some(".".into()));
    }

    #[test]
    fn remote_resources_are_recognised() {
        assert!(is_remote("https://github.com/org/repo//base?ref=v1"));
        assert!(is_remote("github.com/org/repo/base?ref=main"));
        assert!(is_remote("git@github.com:org/repo.git"));
        assert!(!is_remote("../../base"));
    }
}
