//! Shared by the `cli_*` tests: golden files and fixture objects for `kubectl weir`.

#![allow(dead_code)]

use jiff::Timestamp;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The fixed "now" of rendered goldens, and the creation time most fixtures get.
pub const NOW: &str = "2026-01-08T10:00:00Z";
pub const CREATED: &str = "2026-01-01T10:00:00Z";

pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"))
}

/// Compares `actual` with `tests/golden/<name>.txt`; `WEIR_UPDATE_GOLDEN=1` rewrites the file.
pub fn golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var("WEIR_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with WEIR_UPDATE_GOLDEN=1 to create it. Output was:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (WEIR_UPDATE_GOLDEN=1 to accept).\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Removes ANSI colour sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

pub fn owner(kind: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": if kind == "Rollout" {"argoproj.io/v1alpha1"} else {"apps/v1"},
            "kind": kind, "name": name, "uid": uid, "controller": true}])
}

/// A ReplicaSet of `rollout` (uid `rollout_uid`) at `revision` with `hash`.
pub fn replica_set(
    rollout: &str,
    rollout_uid: &str,
    hash: &str,
    revision: i64,
    image: &str,
    replicas: i32,
    available: i32,
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{rollout}-{hash}"),
            "namespace": "default",
            "uid": format!("rs-{hash}"),
            "creationTimestamp": CREATED,
            "labels": {"app": rollout, "rollouts-pod-template-hash": hash},
            "annotations": {"rollout.argoproj.io/revision": revision.to_string()},
            "ownerReferences": owner("Rollout", rollout, rollout_uid),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": rollout, "rollouts-pod-template-hash": hash}},
            "template": {
                "metadata": {"labels": {"app": rollout, "rollouts-pod-template-hash": hash}},
                "spec": {"containers": [{"name": rollout, "image": image}]},
            },
        },
        "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available},
    })
}

/// A pod of the ReplicaSet `rs_name`, running and ready unless `status` says otherwise.
pub fn pod(rs_name: &str, suffix: &str, hash: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{rs_name}-{suffix}"),
            "namespace": "default",
            "uid": format!("pod-{rs_name}-{suffix}"),
            "creationTimestamp": CREATED,
            "labels": {"rollouts-pod-template-hash": hash},
            "ownerReferences": owner("ReplicaSet", rs_name, &format!("rs-{hash}")),
        },
        "spec": {"containers": [{"name": "app", "image": "app"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{
                "name": "app", "image": "app", "imageID": "", "ready": ready, "restartCount": 0,
                "state": {"running": {"startedAt": CREATED}},
            }],
        },
    })
}
