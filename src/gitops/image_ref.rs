//! Container image references (`registry[:port]/path/name[:tag][@digest]`) split the way Docker
//! splits them, so a revert can compare "the image that failed" with what a file declares in its
//! own form: a kustomize `images:` entry may hold only `newTag`, a Helm value only a tag.

use std::fmt;

/// A parsed image reference. `name` keeps the spelling it was written with (no implied
/// `docker.io/library/`); use [`ImageRef::same_name`] to compare names across spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry (if any), path and repository name, without tag or digest.
    pub name: String,
    pub tag: Option<String>,
    /// `algorithm:hex`, e.g. `sha256:…`.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{reference}` is not an image reference: {reason}")]
pub struct ImageRefError {
    pub reference: String,
    pub reason: &'static str,
}

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, ImageRefError> {
        let fail = |reason| ImageRefError {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(fail("it is empty"));
        }
        if reference.chars().any(|c| c.is_whitespace()) {
            return Err(fail("it contains whitespace"));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(fail(
                        "the part after '@' is not a digest such as sha256:<hex>",
                    ));
                }
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        // A tag is introduced by the last ':' after the last '/'; an earlier ':' belongs to a
        // registry port (`localhost:5000/app`).
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        if name.is_empty() || name.starts_with('/') || name.ends_with('/') || name.contains("//") {
            return Err(fail(
                "the repository name is empty or has an empty path component",
            ));
        }
        if tag.is_some_and(|t| t.is_empty()) {
            return Err(fail("the tag after ':' is empty"));
        }
        Ok(ImageRef {
            name: name.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (with port), when the first path component names one: Docker treats
    /// it as a registry if it contains '.' or ':' or is `localhost`.
    pub fn registry(&self) -> Option<&str> {
        let (first, _) = self.name.split_once('/')?;
        (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
    }

    /// The name as Docker resolves it: `nginx` is `docker.io/library/nginx`, `me/app` is
    /// `docker.io/me/app`, and `index.docker.io` is `docker.io`.
    pub fn canonical_name(&self) -> String {
        match self.registry() {
            Some("index.docker.io") => {
                format!("docker.io{}", &self.name["index.docker.io".len()..])
            }
            Some(_) => self.name.clone(),
            None if self.name.contains('/') => format!("docker.io/{}", self.name),
            None => format!("docker.io/library/{}", self.name),
        }
    }

    /// Whether both references name the same repository, however each is spelled.
    pub fn same_name(&self, other: &ImageRef) -> bool {
        self.name == other.name || self.canonical_name() == other.canonical_name()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `algorithm:hex` as in the OCI spec (algorithm letters/digits/`+._-`, at least one hex digit).
pub fn is_digest(text: &str) -> bool {
    match text.split_once(':') {
        Some((algorithm, hex)) => {
            !algorithm.is_empty()
                && algorithm
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                && !hex.is_empty()
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(reference: &str) -> (String, Option<String>, Option<String>) {
        let r = ImageRef::parse(reference).unwrap();
        (r.name, r.tag, r.digest)
    }

    #[test]
    fn docker_splitting_rules() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            parts("ghcr.io/myorg/nodejs-app:v1.1.0"),
            ("ghcr.io/myorg/nodejs-app".into(), s("v1.1.0"), None)
        );
        assert_eq!(
            parts("localhost:5000/app"),
            ("localhost:5000/app".into(), None, None)
        );
        assert_eq!(
            parts("localhost:5000/app:1.0"),
            ("localhost:5000/app".into(), s("1.0"), None)
        );
        assert_eq!(parts("nginx"), ("nginx".into(), None, None));
        assert_eq!(
            parts("app@sha256:abc123"),
            ("app".into(), None, s("sha256:abc123"))
        );
        assert_eq!(
            parts("r.io:443/a/b:v2@sha256:00ff"),
            ("r.io:443/a/b".into(), s("v2"), s("sha256:00ff"))
        );
        assert!(ImageRef::parse("app:").is_err());
        assert!(ImageRef::parse("app@latest").is_err());
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("a b").is_err());
    }

    #[test]
    fn registries_and_canonical_names() {
        let r = |s| ImageRef::parse(s).unwrap();
        assert_eq!(r("ghcr.io/x/y").registry(), Some("ghcr.io"));
        assert_eq!(r("localhost/y").registry(), Some("localhost"));
        assert_eq!(r("host:5000/y").registry(), Some("host:5000"));
        assert_eq!(r("myorg/y").registry(), None);
        assert_eq!(r("nginx:1").canonical_name(), "docker.io/library/nginx");
        assert_eq!(r("me/app").canonical_name(), "docker.io/me/app");
        assert!(r("nginx:1").same_name(&r("docker.io/library/nginx:2")));
        assert!(r("index.docker.io/me/app").same_name(&r("me/app")));
        assert!(!r("ghcr.io/me/app").same_name(&r("me/app")));
        assert_eq!(
            r("r.io:443/a/b:v2@sha256:00ff").to_string(),
            "r.io:443/a/b:v2@sha256:00ff"
        );
    }
}
