//! What templates see. Argo's recorder exposes the Rollout as JSON under `.rollout`; Weir adds
//! the Event that fired the trigger (`.event.reason`, `.event.message`, `.event.type`), its Git
//! revert (`.revert`: phase, revision, images, evidence, repo, file, branch, commit, message;
//! absent before the first abort), `.commitURL` (a link to the revert commit where the
//! repository has a web address) and the ConfigMap's `context` (`.context`).

use crate::api::rollout::Rollout;
use gtmpl::Value;
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};

/// JSON as Go's `map[string]interface{}`: objects become maps, so a missing key renders as
/// `<no value>` and is false in `if`, as in Argo (a struct-like object would be an error).
pub fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::from(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Json::Object(fields) => Value::Map(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// The Event that fired a trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub reason: String,
    pub message: String,
    pub warning: bool,
}

/// The web page of `commit` in `repo`, for the hosts whose URL scheme is known (GitHub, GitLab,
/// Bitbucket Cloud, Gitea-like `/commit/`); None for others and for file:// or local paths.
pub fn commit_url(repo: &str, commit: &str) -> Option<String> {
    let repo = repo.trim_end_matches('/').trim_end_matches(".git");
    let web = if let Some(rest) = repo.strip_prefix("git@") {
        // git@host:org/repo
        let (host, path) = rest.split_once(':')?;
        format!("https://{host}/{path}")
    } else if let Some(rest) = repo.strip_prefix("ssh://") {
        let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
        let (host, path) = rest.split_once('/')?;
        let host = host.split(':').next().unwrap_or(host);
        format!("https://{host}/{path}")
    } else if repo.starts_with("https://") || repo.starts_with("http://") {
        // Credentials in the URL never reach a message.
        match repo.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
                format!("{scheme}://{rest}")
            }
            None => return None,
        }
    } else {
        return None;
    };
    let segment = if web.contains("gitlab") {
        "/-/commit/"
    } else if web.contains("bitbucket.org") {
        "/commits/"
    } else {
        "/commit/"
    };
    Some(format!("{web}{segment}{commit}"))
}

/// The variables for one notification about `rollout`.
pub fn vars(rollout: &Rollout, fired: &Fired, context: &BTreeMap<String, String>) -> Value {
    let revert = rollout.weir_state().and_then(|s| s.git_revert);
    let commit_link = revert
        .as_ref()
        .and_then(|r| commit_url(r.repo.as_deref()?, r.commit.as_deref()?));
    let mut root = json!({
        "rollout": serde_json::to_value(rollout).unwrap_or(Json::Null),
        "event": {
            "reason": fired.reason,
            "message": fired.message,
            "type": if fired.warning { "Warning" } else { "Normal" },
        },
        "context": context,
    });
    if let Some(revert) = revert {
        root["revert"] = serde_json::to_value(revert).unwrap_or(Json::Null);
    }
    if let Some(link) = commit_link {
        root["commitURL"] = Json::String(link);
    }
    to_value(&root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_links_for_known_hosts() {
        let cases = [
            (
                "https://github.com/org/app.git",
                Some("https://github.com/org/app/commit/abc"),
            ),
            (
                "https://token@github.com/org/app",
                Some("https://github.com/org/app/commit/abc"),
            ),
            (
                "git@github.com:org/app.git",
                Some("https://github.com/org/app/commit/abc"),
            ),
            (
                "ssh://git@gitlab.com:22/org/app.git",
                Some("https://gitlab.com/org/app/-/commit/abc"),
            ),
            (
                "https://bitbucket.org/org/app",
                Some("https://bitbucket.org/org/app/commits/abc"),
            ),
            ("file:///srv/git/app.git", None),
            ("/srv/git/app.git", None),
        ];
        for (repo, expected) in cases {
            assert_eq!(commit_url(repo, "abc").as_deref(), expected, "{repo}");
        }
    }

    #[test]
    fn json_becomes_go_maps() {
        let value = to_value(&json!({"a": [1, -2, 2.5, "x", true, null], "b": {}}));
        let Value::Map(map) = value else {
            panic!("an object is a map")
        };
        assert_eq!(
            map["a"],
            Value::Array(vec![
                Value::from(1i64),
                Value::from(-2i64),
                Value::from(2.5f64),
                Value::from("x"),
                Value::Bool(true),
                Value::Nil
            ])
        );
        assert_eq!(map["b"], Value::Map(HashMap::new()));
    }
}
