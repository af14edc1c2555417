//! The one-scalar edit: put the stable image back where a file declares the failed one, and keep
//! every other byte of the file as it was.
//!
//! Tools that round-trip YAML through a parser and serializer churn files: comments move, blank
//! lines appear, quoting and sequence indentation change (see Flux `image-automation-controller`
//! #68/#616 and Argo CD Image Updater #1283/#884). Here the file is never re-serialized: yamlpath
//! (tree-sitter) gives the exact byte span of the scalar, and only that span is replaced, written
//! in the quoting style it had. Comments, key order, indentation, blank lines, `---` separators,
//! CRLF line endings and a missing final newline are untouched because they are outside the span.
//!
//! yamlpatch's `Op::Replace` is not used: it re-serializes the new value (so `'v1'` and `"v1"`
//! become plain `v1`), drops node tags such as `!!str`, and rebuilds single-line flow mappings
//! (`{repository: r, tag: v1}` lost its `repository` key). yamlpath also queries only the first
//! document of a stream, so files are split at `---` here and each document is queried alone.

use super::image_ref::{ImageRef, ImageRefError, is_digest};
use super::source::ImageLocation;
use yamlpath::{Component, Document, Route};

/// What [`revert_image`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOutcome {
    /// The file declared the failed image; this is the whole new file text.
    Changed(String),
    /// The file already declares the stable image: nothing to commit.
    AlreadyStable,
    /// The file declares a third value (shown as the location declares it): someone changed it
    /// after the failed image, and their change must not be overwritten.
    Conflict { found: String },
}

/// Why a file could not be read or edited. Each message names the file, the place in it and
/// what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(
        "{file}: {document} is not valid YAML; Argo CD and Flux cannot render it either, so fix it in Git and the revert will be retried"
    )]
    InvalidYaml { file: String, document: String },
    #[error("{file}: {what}; {hint}", hint = LOCATION_HINT)]
    NotFound { file: String, what: String },
    /// The Rollout is in the file but has no container by that name.
    #[error("{file}: Rollout {rollout} has no container named {container} (it has {found}); {hint}", hint = LOCATION_HINT)]
    NoContainer {
        file: String,
        rollout: String,
        container: String,
        found: String,
    },
    #[error("{file} at {path}: {reason}")]
    Unsupported {
        file: String,
        path: String,
        reason: String,
    },
    #[error(
        "{file} at {path}: `{declared}` fits both {images} in the form this field declares them (they differ only in a part it does not set), so writing here cannot change what runs; declare the image with a tag or digest that tells them apart, or revert by hand"
    )]
    Indistinguishable {
        file: String,
        path: String,
        declared: String,
        /// "the failed image … and the stable image …"
        images: String,
    },
    #[error("{file}: cannot revert: {source}")]
    BadImage { file: String, source: ImageRefError },
}

const LOCATION_HINT: &str = "set the Rollout annotation weir.dev/git-path to the file that declares the image (and weir.dev/git-image-field to the field, for Helm values)";

/// In `text` (the content of `file`, used for messages), make the image declared at `location`
/// the stable image instead of the bad one. `bad_image` / `stable_image` are full references as
/// they appear in the Rollout's pod template.
///
/// Each location is compared in its own form:
/// - `KustomizeImage`: the `images:` entry's `newName` (if set), `newTag` and `digest`. Only the
///   scalars that must change are written: normally `newTag` alone; `digest` when the entry pins
///   one; `newName` as well when the stable image lives in another repository (then two scalars
///   change). An entry that pins a digest while the stable image has only a tag is an error:
///   the revert would have to remove a key, which is more than a scalar edit.
/// - `ContainerImage`: the container's `image:`. When its repository name is neither the failed
///   nor the stable one but ends in the same component (`myapp` for `registry.company.com/myapp`),
///   a kustomize `newName` further up renames it, so only tag and digest are compared and
///   written, keeping the name as the file spells it.
/// - `HelmValue`: a full reference is compared as a reference; a bare tag with the tags; a bare
///   `sha256:…` with the digests.
///
/// A value given by an alias (`tag: *stable`) is changed where its anchor is, since that is where
/// it is declared (every alias of that anchor follows).
///
/// Declared value is the failed image: [`EditOutcome::Changed`]; already the stable image:
/// [`EditOutcome::AlreadyStable`]; anything else: [`EditOutcome::Conflict`], never overwritten.
pub fn revert_image(
    file: &str,
    text: &str,
    location: &ImageLocation,
    bad_image: &str,
    stable_image: &str,
) -> Result<EditOutcome, EditError> {
    let parse = |reference: &str| {
        ImageRef::parse(reference).map_err(|source| EditError::BadImage {
            file: file.to_string(),
            source,
        })
    };
    let (bad, stable) = (parse(bad_image)?, parse(stable_image)?);
    let yaml = Yaml::new(file, text);
    match location {
        ImageLocation::KustomizeImage { name } => {
            yaml.revert_kustomize(&yaml.kustomize_entry(name)?, &bad, &stable)
        }
        ImageLocation::ContainerImage { rollout, container } => yaml.revert_reference(
            &yaml.container_image(rollout, container)?,
            &bad,
            &stable,
            true,
        ),
        ImageLocation::HelmValue { field } => {
            let scalar = yaml.helm_value(field)?;
            if looks_like_reference(&scalar.value) {
                yaml.revert_reference(&scalar, &bad, &stable, false)
            } else if is_digest(&scalar.value) {
                yaml.revert_part(
                    &scalar,
                    "digest",
                    bad.digest.as_deref(),
                    stable.digest.as_deref(),
                    &bad,
                    &stable,
                )
            } else {
                yaml.revert_part(
                    &scalar,
                    "tag",
                    bad.tag.as_deref(),
                    stable.tag.as_deref(),
                    &bad,
                    &stable,
                )
            }
        }
    }
}

/// What `location` in `text` currently declares, in its own form: the `image:` or Helm value as
/// written, or for a kustomize entry `newName-or-name[:newTag][@digest]`.
pub fn declared(file: &str, text: &str, location: &ImageLocation) -> Result<String, EditError> {
    let yaml = Yaml::new(file, text);
    Ok(match location {
        ImageLocation::KustomizeImage { name } => yaml.kustomize_entry(name)?.declared(),
        ImageLocation::ContainerImage { rollout, container } => {
            yaml.container_image(rollout, container)?.value
        }
        ImageLocation::HelmValue { field } => yaml.helm_value(field)?.value,
    })
}

/// A Helm value holding more than a tag: it has a repository path, a registry port or a tag
/// separator (but a bare `sha256:…` is a digest, not `name:tag`).
fn looks_like_reference(value: &str) -> bool {
    value.contains('/') || value.contains('@') || (value.contains(':') && !is_digest(value))
}

/// How a scalar is written in the file; the replacement is written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
}

/// A scalar found in the file: the byte span of its token (after any `!tag` or `&anchor`, which
/// stay as written), its style and its value.
#[derive(Debug)]
struct Scalar {
    start: usize,
    end: usize,
    style: Style,
    value: String,
    /// Where it is, for messages (`images[0].newTag`, `document 2: spec.…`).
    path: String,
}

/// One document of a (possibly multi-document) file.
struct Doc {
    /// Byte offset of the document's text in the file.
    offset: usize,
    /// 1-based, for messages.
    number: usize,
    /// `None` when the document does not parse.
    yaml: Option<Document>,
}

struct Yaml<'a> {
    file: &'a str,
    text: &'a str,
    docs: Vec<Doc>,
}

impl<'a> Yaml<'a> {
    fn new(file: &'a str, text: &'a str) -> Yaml<'a> {
        let docs = split_documents(text)
            .into_iter()
            .enumerate()
            .map(|(i, (offset, slice))| Doc {
                offset,
                number: i + 1,
                yaml: Document::new(slice).ok(),
            })
            .collect();
        Yaml { file, text, docs }
    }

    fn parsed(&self) -> impl Iterator<Item = (&Doc, &Document)> {
        self.docs
            .iter()
            .filter_map(|doc| doc.yaml.as_ref().map(|yaml| (doc, yaml)))
    }

    /// "Not found" when every document parsed; otherwise the unparsable document is the likelier
    /// reason, so that is reported instead.
    fn not_found(&self, what: String) -> EditError {
        match self.docs.iter().find(|doc| doc.yaml.is_none()) {
            Some(doc) => EditError::InvalidYaml {
                file: self.file.to_string(),
                document: self.doc_name(doc),
            },
            None => EditError::NotFound {
                file: self.file.to_string(),
                what,
            },
        }
    }

    fn doc_name(&self, doc: &Doc) -> String {
        if self.docs.len() > 1 {
            format!("document {}", doc.number)
        } else {
            "the file".to_string()
        }
    }

    fn path(&self, doc: &Doc, parts: &[Component<'_>]) -> String {
        let mut path = String::new();
        for part in parts {
            match part {
                Component::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Component::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        if self.docs.len() > 1 {
            format!("document {}: {path}", doc.number)
        } else {
            path
        }
    }

    fn unsupported(&self, path: &str, reason: String) -> EditError {
        EditError::Unsupported {
            file: self.file.to_string(),
            path: path.to_string(),
            reason,
        }
    }

    /// The scalar at `parts` in `doc`, `None` when the route does not exist or has no value.
    fn scalar(
        &self,
        doc: &Doc,
        yaml: &Document,
        parts: &[Component<'_>],
    ) -> Result<Option<Scalar>, EditError> {
        let Ok(Some(feature)) = yaml.query_exact(&Route::from(parts.to_vec())) else {
            return Ok(None);
        };
        let path = self.path(doc, parts);
        let raw = yaml.extract(&feature);
        let (skip, style) = classify(raw).map_err(|reason| {
            self.unsupported(&path, format!("{reason}; edit this value by hand"))
        })?;
        let token = &raw[skip..];
        let value = match style {
            // A plain scalar has no escapes; one continued over several lines reads as its lines
            // joined by single spaces.
            Style::Plain => token
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            Style::SingleQuoted | Style::DoubleQuoted => yaml_serde::from_str::<String>(token)
                .map_err(|e| {
                    self.unsupported(&path, format!("cannot read the quoted value {token}: {e}"))
                })?,
        };
        let start = doc.offset + feature.location.byte_span.0 + skip;
        Ok(Some(Scalar {
            start,
            end: doc.offset + feature.location.byte_span.1,
            style,
            value,
            path,
        }))
    }

    /// Like [`Yaml::scalar`] but for identifying values (`kind`, names) of documents that may be
    /// unrelated: an odd value there is not this revert's problem, so it just does not match.
    fn value(&self, doc: &Doc, yaml: &Document, parts: &[Component<'_>]) -> Option<String> {
        self.scalar(doc, yaml, parts)
            .ok()
            .flatten()
            .map(|s| s.value)
    }

    /// The file with each scalar replaced by its new value, in the scalar's own style.
    fn splice(&self, edits: &mut [(&Scalar, String)]) -> String {
        // From the end backwards, so earlier spans stay valid.
        edits.sort_by_key(|(scalar, _)| std::cmp::Reverse(scalar.start));
        let mut text = self.text.to_string();
        for (scalar, value) in edits.iter() {
            text.replace_range(scalar.start..scalar.end, &encode(scalar.style, value));
        }
        text
    }

    fn kustomize_entry(&self, name: &str) -> Result<KustomizeEntry, EditError> {
        let mut seen = Vec::new();
        for (doc, yaml) in self.parsed() {
            for i in 0.. {
                let entry = [Component::from("images"), Component::Index(i)];
                if yaml.query_exact(&Route::from(entry.to_vec())).is_err() {
                    break;
                }
                let field = |key: &'static str| {
                    let mut parts = entry.to_vec();
                    parts.push(Component::from(key));
                    self.scalar(doc, yaml, &parts)
                };
                let Some(entry_name) = field("name")? else {
                    continue;
                };
                if entry_name.value != name {
                    seen.push(entry_name.value);
                    continue;
                }
                let found = KustomizeEntry {
                    path: self.path(doc, &entry),
                    new_name: field("newName")?,
                    new_tag: field("newTag")?,
                    digest: field("digest")?,
                    name: entry_name,
                };
                if found.new_tag.is_none() && found.digest.is_none() {
                    return Err(self.unsupported(
                        &found.path,
                        format!(
                            "the images: entry for {name} sets neither newTag nor digest, so the version comes from another file; point weir.dev/git-path at the kustomization or manifest that sets it"
                        ),
                    ));
                }
                return Ok(found);
            }
        }
        let entries = if seen.is_empty() {
            "it has none".to_string()
        } else {
            format!("it has {}", seen.join(", "))
        };
        Err(self.not_found(format!("no images: entry named {name} ({entries})")))
    }

    fn revert_kustomize(
        &self,
        entry: &KustomizeEntry,
        bad: &ImageRef,
        stable: &ImageRef,
    ) -> Result<EditOutcome, EditError> {
        let (is_bad, is_stable) = (entry.matches(bad), entry.matches(stable));
        if let Some(outcome) = self.settled(
            &entry.path,
            entry.declared(),
            is_bad,
            is_stable,
            bad,
            stable,
        )? {
            return Ok(outcome);
        }
        let mut edits: Vec<(&Scalar, String)> = Vec::new();
        if !bad.same_name(stable) {
            let Some(new_name) = &entry.new_name else {
                return Err(self.unsupported(
                    &entry.path,
                    format!(
                        "the stable image {stable} is in another repository than {bad}, and this entry has no newName to change (adding a key is more than a one-scalar edit); set newName and newTag by hand"
                    ),
                ));
            };
            edits.push((new_name, stable.name.clone()));
        }
        if let Some(digest) = &entry.digest {
            let Some(stable_digest) = &stable.digest else {
                return Err(self.unsupported(
                    &digest.path,
                    format!(
                        "the entry pins digest {}, but the stable image {stable} has only a tag; reverting would mean removing the digest, more than a one-scalar edit, so put the stable image's digest there by hand (or run the stable image by digest so Weir can write it)",
                        digest.value
                    ),
                ));
            };
            if digest.value != *stable_digest {
                edits.push((digest, stable_digest.clone()));
            }
        }
        if let Some(tag) = &entry.new_tag {
            match &stable.tag {
                Some(stable_tag) if tag.value != *stable_tag => {
                    edits.push((tag, stable_tag.clone()))
                }
                Some(_) => {}
                // A pod template pinned by digest alone still matches an entry with newTag and
                // digest; the tag is then not what differs, so it stays.
                None if bad.tag.is_none() => {}
                None => {
                    return Err(self.unsupported(
                        &tag.path,
                        format!(
                            "the stable image {stable} has no tag, so newTag would keep the failed tag {}; set the entry by hand",
                            tag.value
                        ),
                    ));
                }
            }
        }
        Ok(EditOutcome::Changed(self.splice(&mut edits)))
    }

    fn container_image(&self, rollout: &str, container: &str) -> Result<Scalar, EditError> {
        let mut rollouts = Vec::new();
        for (doc, yaml) in self.parsed() {
            if self.value(doc, yaml, &[Component::from("kind")]).as_deref() != Some("Rollout") {
                continue;
            }
            let Some(name) = self.value(
                doc,
                yaml,
                &[Component::from("metadata"), Component::from("name")],
            ) else {
                continue;
            };
            if name != rollout {
                rollouts.push(name);
                continue;
            }
            let mut containers = Vec::new();
            for list in ["containers", "initContainers"] {
                for i in 0.. {
                    let item = ["spec", "template", "spec", list]
                        .map(Component::from)
                        .into_iter()
                        .chain([Component::Index(i)])
                        .collect::<Vec<_>>();
                    if yaml.query_exact(&Route::from(item.clone())).is_err() {
                        break;
                    }
                    let field = |key: &'static str| {
                        item.iter()
                            .cloned()
                            .chain([Component::from(key)])
                            .collect::<Vec<_>>()
                    };
                    let Some(container_name) = self.value(doc, yaml, &field("name")) else {
                        continue;
                    };
                    if container_name == container {
                        return self.scalar(doc, yaml, &field("image"))?.ok_or_else(|| {
                            self.not_found(format!(
                                "container {container} of Rollout {rollout} has no image: value"
                            ))
                        });
                    }
                    containers.push(container_name);
                }
            }
            return Err(EditError::NoContainer {
                file: self.file.to_string(),
                rollout: rollout.to_string(),
                container: container.to_string(),
                found: if containers.is_empty() {
                    "none".to_string()
                } else {
                    containers.join(", ")
                },
            });
        }
        let others = if rollouts.is_empty() {
            "no Rollout at all".to_string()
        } else {
            format!("Rollouts {}", rollouts.join(", "))
        };
        Err(self.not_found(format!(
            "no Rollout named {rollout} (the file has {others})"
        )))
    }

    fn helm_value(&self, field: &str) -> Result<Scalar, EditError> {
        // `a.b.0.c`: an all-digit component indexes a list, as in Helm's --set syntax.
        let parts: Vec<Component<'_>> = field
            .split('.')
            .map(|part| match part.parse::<usize>() {
                Ok(i) => Component::Index(i),
                Err(_) => Component::from(part),
            })
            .collect();
        for (doc, yaml) in self.parsed() {
            if let Some(scalar) = self.scalar(doc, yaml, &parts)? {
                return Ok(scalar);
            }
        }
        Err(self.not_found(format!("no value at {field}")))
    }

    /// The outcome when the declared value does not need rewriting, `None` when it is the failed
    /// image and must be.
    fn settled(
        &self,
        path: &str,
        declared: String,
        is_bad: bool,
        is_stable: bool,
        bad: &ImageRef,
        stable: &ImageRef,
    ) -> Result<Option<EditOutcome>, EditError> {
        match (is_bad, is_stable) {
            (true, false) => Ok(None),
            (false, true) => Ok(Some(EditOutcome::AlreadyStable)),
            (false, false) => Ok(Some(EditOutcome::Conflict { found: declared })),
            (true, true) => Err(EditError::Indistinguishable {
                file: self.file.to_string(),
                path: path.to_string(),
                declared,
                images: format!("the failed image {bad} and the stable image {stable}"),
            }),
        }
    }

    /// A scalar holding a whole reference (`image:` of a container, or a Helm value).
    fn revert_reference(
        &self,
        scalar: &Scalar,
        bad: &ImageRef,
        stable: &ImageRef,
        renamed_upstream: bool,
    ) -> Result<EditOutcome, EditError> {
        let Ok(declared) = ImageRef::parse(&scalar.value) else {
            return Ok(EditOutcome::Conflict {
                found: scalar.value.clone(),
            });
        };
        // A container image named neither like the failed nor the stable image but with the same
        // last path component (`myapp` vs `registry.company.com/myapp`) is renamed by a kustomize
        // newName further up; only its tag and digest are this file's to compare. Any other name
        // is someone else's change: better a reported conflict than a guess.
        let rename = renamed_upstream
            && !declared.same_name(bad)
            && !declared.same_name(stable)
            && declared.name.rsplit('/').next() == bad.name.rsplit('/').next();
        let matches = |target: &ImageRef| {
            (rename || declared.same_name(target)) && version_matches(&declared, target)
        };
        if let Some(outcome) = self.settled(
            &scalar.path,
            scalar.value.clone(),
            matches(bad),
            matches(stable),
            bad,
            stable,
        )? {
            return Ok(outcome);
        }
        if rename && !bad.same_name(stable) {
            return Err(self.unsupported(
                &scalar.path,
                format!(
                    "the name {} here is rewritten by a kustomize newName elsewhere, so the move to another repository ({}) cannot be written in this field; change newName and newTag by hand",
                    declared.name, stable.name
                ),
            ));
        }
        // Keep the file's spelling of the repository (`nginx` stays `nginx`) and its form: a digest
        // only where it pinned one, unless the stable image has nothing else.
        let name = if rename || declared.same_name(stable) {
            declared.name.clone()
        } else {
            stable.name.clone()
        };
        let digest = stable
            .digest
            .clone()
            .filter(|_| declared.digest.is_some() || stable.tag.is_none());
        let tag = stable
            .tag
            .clone()
            .filter(|_| declared.tag.is_some() || digest.is_none());
        let new = ImageRef { name, tag, digest }.to_string();
        Ok(EditOutcome::Changed(self.splice(&mut [(scalar, new)])))
    }

    /// A scalar holding one part of the reference (a Helm `tag` or digest field).
    fn revert_part(
        &self,
        scalar: &Scalar,
        part: &str,
        bad_part: Option<&str>,
        stable_part: Option<&str>,
        bad: &ImageRef,
        stable: &ImageRef,
    ) -> Result<EditOutcome, EditError> {
        let declared = Some(scalar.value.as_str());
        if let Some(outcome) = self.settled(
            &scalar.path,
            scalar.value.clone(),
            declared == bad_part,
            declared == stable_part,
            bad,
            stable,
        )? {
            return Ok(outcome);
        }
        let Some(new) = stable_part else {
            return Err(self.unsupported(
                &scalar.path,
                format!("this field holds a {part}, but the stable image {stable} has no {part} to write; set it by hand"),
            ));
        };
        Ok(EditOutcome::Changed(
            self.splice(&mut [(scalar, new.to_string())]),
        ))
    }
}

/// An `images:` entry of a kustomization.
struct KustomizeEntry {
    path: String,
    name: Scalar,
    new_name: Option<Scalar>,
    new_tag: Option<Scalar>,
    digest: Option<Scalar>,
}

impl KustomizeEntry {
    /// The image this entry makes, as far as it says.
    fn declared(&self) -> String {
        let mut image = self.new_name.as_ref().unwrap_or(&self.name).value.clone();
        if let Some(tag) = &self.new_tag {
            image.push(':');
            image.push_str(&tag.value);
        }
        if let Some(digest) = &self.digest {
            image.push('@');
            image.push_str(&digest.value);
        }
        image
    }

    /// Whether the entry produces `target`, comparing only the parts it sets.
    fn matches(&self, target: &ImageRef) -> bool {
        let name_ok = self
            .new_name
            .as_ref()
            .is_none_or(|n| match ImageRef::parse(&n.value) {
                Ok(name) => name.same_name(target),
                Err(_) => n.value == target.name,
            });
        let digest_ok = self
            .digest
            .as_ref()
            .is_none_or(|d| target.digest.as_deref() == Some(d.value.as_str()));
        let tag_ok = match (&self.new_tag, &target.tag) {
            (None, _) => true,
            (Some(tag), Some(target_tag)) => tag.value == *target_tag,
            // A pod template may carry `name@digest` for an entry with newTag and digest.
            (Some(_), None) => self.digest.is_some() && target.digest.is_some(),
        };
        name_ok && digest_ok && tag_ok
    }
}

/// Whether a declared reference (name aside) is `target`: by digest when it pins one, otherwise
/// by tag, a missing tag meaning `latest` as it does for the container runtime.
fn version_matches(declared: &ImageRef, target: &ImageRef) -> bool {
    match &declared.digest {
        Some(digest) => {
            target.digest.as_ref() == Some(digest)
                && (declared.tag.is_none() || target.tag.is_none() || declared.tag == target.tag)
        }
        None => {
            declared.tag.as_deref().unwrap_or("latest") == target.tag.as_deref().unwrap_or("latest")
        }
    }
}

/// Splits a YAML stream at its `---` lines into `(offset, text)` documents. A marker at column 0
/// always starts a document (YAML forbids it inside content), so this needs no parser.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let marker =
            content == "---" || content.starts_with("--- ") || content.starts_with("---\t");
        if marker && offset > 0 {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            (
                start,
                &text[start..starts.get(i + 1).copied().unwrap_or(text.len())],
            )
        })
        .collect()
}

/// Where the scalar token starts within a node's text (node properties such as `!!str` or
/// `&anchor` come first and stay as written) and its style, or why it is not a one-line-able
/// scalar Weir may rewrite.
fn classify(raw: &str) -> Result<(usize, Style), &'static str> {
    let mut skip = 0;
    while raw[skip..].starts_with(['!', '&']) {
        let rest = &raw[skip..];
        let property = rest
            .find(char::is_whitespace)
            .ok_or("it has a tag or anchor but no value")?;
        skip += property + (rest[property..].len() - rest[property..].trim_start().len());
    }
    let token = &raw[skip..];
    match token.chars().next() {
        None => Err("it has no value"),
        Some('\'') => Ok((skip, Style::SingleQuoted)),
        Some('"') => Ok((skip, Style::DoubleQuoted)),
        Some('|' | '>') => Err("it is a block scalar (| or >), which Weir does not rewrite"),
        Some('{' | '[') => Err("it is a flow mapping or list, not a single value"),
        // A plain scalar cannot hold `: `, ` #`, a key-ending `:` or start with `- `; a node
        // text that does is a block mapping or list.
        _ if token.starts_with("- ")
            || token.starts_with("-\n")
            || token.contains(": ")
            || token.contains(":\n")
            || token.contains(":\r")
            || token.ends_with(':')
            || token.contains(" #") =>
        {
            Err("it is a mapping or list, not a single value")
        }
        _ => Ok((skip, Style::Plain)),
    }
}

/// `value` written in `style`. A plain scalar that would read back as something other than
/// this string (`1.10` is a number, `true` a boolean) is double-quoted instead: keeping the style
/// would change the value's type.
fn encode(style: Style, value: &str) -> String {
    match style {
        Style::Plain if plain_safe(value) => value.to_string(),
        Style::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        Style::Plain | Style::DoubleQuoted => {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

fn plain_safe(value: &str) -> bool {
    !value.is_empty()
        && value.trim() == value
        // Flow indicators would end the scalar inside `{…}` or `[…]`.
        && !value.contains([',', '[', ']', '{', '}', '\n', '\r'])
        && !value.contains(" #")
        && matches!(yaml_serde::from_str::<yaml_serde::Value>(value), Ok(yaml_serde::Value::String(s)) if s == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_markers_only() {
        let text = "a: 1\n---\nb: 2\n--- # c\nc: 3\n---x: no\n";
        let docs = split_documents(text);
        assert_eq!(
            docs.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
            ["a: 1\n", "---\nb: 2\n", "--- # c\nc: 3\n---x: no\n"]
        );
        assert_eq!(
            split_documents("---\na: 1\n").len(),
            1,
            "a leading marker starts the first document"
        );
    }

    #[test]
    fn styles_and_properties() {
        assert_eq!(classify("v1"), Ok((0, Style::Plain)));
        assert_eq!(classify("'v1'"), Ok((0, Style::SingleQuoted)));
        assert_eq!(classify("!!str \"v1\""), Ok((6, Style::DoubleQuoted)));
        assert_eq!(classify("&tag !!str v1"), Ok((11, Style::Plain)));
        assert!(classify("|\n  v1").is_err());
        assert!(classify("repository: r\n  tag: v1").is_err());
        assert!(classify("- a\n- b").is_err());
        assert!(classify("{a: b}").is_err());
    }

    #[test]
    fn encoding_keeps_style_unless_the_type_would_change() {
        assert_eq!(encode(Style::Plain, "v1.0.0"), "v1.0.0");
        assert_eq!(
            encode(Style::Plain, "ghcr.io/a/b:v1@sha256:00"),
            "ghcr.io/a/b:v1@sha256:00"
        );
        assert_eq!(encode(Style::Plain, "1.10"), "\"1.10\"");
        assert_eq!(encode(Style::Plain, "true"), "\"true\"");
        assert_eq!(encode(Style::SingleQuoted, "it's"), "'it''s'");
        assert_eq!(encode(Style::DoubleQuoted, "a\"b\\"), "\"a\\\"b\\\\\"");
    }

    #[test]
    fn helm_values_classified_by_shape() {
        assert!(looks_like_reference("ghcr.io/a/b:v1"));
        assert!(looks_like_reference("nginx:1.25"));
        assert!(!looks_like_reference("v1.0.0"));
        assert!(!looks_like_reference("sha256:00ff"));
    }
}
