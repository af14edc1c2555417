//! Pod-template and steps hashes. Like Kubernetes, a 32-bit FNV-1a over a canonical rendering,
//! encoded with the alphabet that never forms words. Argo hashes Go's `spew` output, which cannot
//! be reproduced outside Go, so Weir's hashes differ from Argo's for the same template.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::Serialize;

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a(bytes: &[u8], mut hash: u32) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn safe_encode(value: u32) -> String {
    value
        .to_string()
        .bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

fn hash_json<T: Serialize>(value: &T, salt: Option<i32>) -> String {
    // serde_json renders struct fields in declaration order and maps (BTreeMap) sorted, so the
    // rendering is canonical for a given value.
    let rendered = serde_json::to_vec(value).unwrap_or_default();
    let mut hash = fnv1a(&rendered, 0x811c_9dc5);
    if let Some(salt) = salt {
        hash = fnv1a(salt.to_string().as_bytes(), hash);
    }
    safe_encode(hash)
}

/// Hash of the Rollout's pod template (before Weir adds the hash label); `collision_count`
/// re-salts it when a foreign ReplicaSet already has the name.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    hash_json(template, collision_count)
}

/// Hash of the canary steps; a change of steps restarts the update like a template change.
pub fn steps_hash<T: Serialize>(steps: &T) -> String {
    hash_json(steps, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = pod_template_hash(&template("app:v1"), None);
        assert_eq!(a, pod_template_hash(&template("app:v1"), None));
        assert_ne!(a, pod_template_hash(&template("app:v2"), None));
        assert_ne!(a, pod_template_hash(&template("app:v1"), Some(1)));
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert!(!a.is_empty() && a.len() <= 10);
    }
}
