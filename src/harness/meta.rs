//! Resource identity (group + plural) and small helpers for reading and stamping object
//! metadata on `serde_json::Value`s.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::error::ApiError;

/// Storage identity of a resource: objects are keyed by group and plural, never by version, so
/// `v1alpha3` and `v1beta1` of the same Istio kind share one collection (as on a real server).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupResource {
    pub group: String,
    pub plural: String,
}

impl GroupResource {
    pub fn new(group: &str, plural: &str) -> Self {
        Self {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }

    pub fn from_api_version(api_version: &str, plural: &str) -> Self {
        Self::new(group_of(api_version), plural)
    }

    /// The name the real server uses in messages: `pods`, `rollouts.argoproj.io`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// `apps/v1` → `apps`; `v1` → the empty string (the core group).
pub(crate) fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(obj, |value, key| value.get(key))
        .and_then(Value::as_str)
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    str_at(obj, &["metadata", field]).filter(|s| !s.is_empty())
}

pub(crate) fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name")
}

pub(crate) fn uid(obj: &Value) -> Option<&str> {
    meta_str(obj, "uid")
}

pub(crate) fn is_terminating(obj: &Value) -> bool {
    meta_str(obj, "deletionTimestamp").is_some()
}

pub(crate) fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

pub(crate) fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Owner UIDs from `metadata.ownerReferences`, used by cascading deletion.
pub(crate) fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|owner| owner.get("uid").and_then(Value::as_str))
}

/// The UID of the owner reference marked `controller: true`.
pub(crate) fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|owner| owner.get("uid").and_then(Value::as_str))
}

/// `metadata` as a mutable map, creating it when absent; fails on non-object bodies.
pub(crate) fn metadata_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let root = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
    root.entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

/// The projection served to clients that ask for `PartialObjectMetadata`
/// (kube's `metadata_watcher` and `list_metadata`).
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// RFC 3339 with whole seconds, the precision Kubernetes' `metav1.Time` serializes.
pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `now + delay`, saturating a year ahead instead of overflowing the clock on absurd inputs
/// (`timeoutSeconds`, `minReadySeconds`).
pub(crate) fn instant_after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or(now + Duration::from_secs(86_400 * 365))
}

/// Non-cryptographic randomness without a dependency: every `RandomState` gets fresh keys, and
/// the counter keeps two calls on the same keys apart.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// `n` random characters from `[a-z0-9]`, as the real server appends for `generateName`.
pub(crate) fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bits = random_u64();
    (0..n)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
            bits /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

/// A version-4-shaped UUID.
pub(crate) fn new_uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_well_formed() {
        let suffix = random_suffix(5);
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_ne!(uid, new_uid());
    }
}
