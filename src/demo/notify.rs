//! The demo's notifications: Argo's notification ConfigMap and Secret with Slack's Web API at a
//! local receiver, the Rollout subscribed to the abort and the Git revert, and what the failing
//! release sent there.

use super::DemoError;
use super::timeline::wrap;
use crate::notifications::receiver::Receiver;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Where the demo's controller reads the ConfigMap and Secret.
pub const NAMESPACE: &str = "default";

/// The subscriptions, as annotations of the demo's Rollout.
pub const SUBSCRIPTIONS: &str = r#"    notifications.argoproj.io/subscribe.on-rollout-aborted.slack: deploys
    notifications.argoproj.io/subscribe.on-git-revert-committed.slack: deploys"#;

/// The ConfigMap and Secret; the token is `xoxb-demo-token` (base64 in `data`).
pub fn manifests(receiver: &Receiver) -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: argo-rollouts-notification-secret, namespace: {NAMESPACE}}}
data: {{slack-token: eG94Yi1kZW1vLXRva2Vu}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: argo-rollouts-notification-configmap, namespace: {NAMESPACE}}}
data:
  service.slack: |
    token: $slack-token
    apiURL: {}/api/
"#,
        receiver.url()
    )
}

/// Waits for the abort's and the revert's messages, prints them, and checks they are the
/// only ones.
pub async fn show(receiver: &Receiver) -> Result<(), DemoError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let texts = loop {
        let texts: Vec<(String, String)> = receiver
            .delivered()
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .map(|b| {
                let field = |k: &str| b[k].as_str().unwrap_or_default().to_string();
                (field("channel"), field("text"))
            })
            .collect();
        if texts.len() >= 2 || Instant::now() > deadline {
            break texts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let aborted = texts
        .iter()
        .any(|(_, t)| t == "Rollout web has been aborted.");
    let reverted = texts
        .iter()
        .any(|(_, t)| t.contains("rolled back to example.com/web:v2 in Git, reason:"));
    if texts.len() != 2 || !aborted || !reverted {
        return Err(DemoError::Check(format!(
            "Slack received {texts:?}, expected the abort and the revert, once each"
        )));
    }
    println!("\n   The notifications Slack received (a local receiver stands in for its API):");
    for (channel, text) in texts {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        for line in wrap(&tokens, &format!("   #{channel}: "), "      ") {
            println!("{line}");
        }
    }
    Ok(())
}
