//! The revert commit's message: a subject, the evidence, and trailers tools can parse
//! (`Weir-Rollout:`, `Weir-AnalysisRun:`, `Weir-Reverted-Image:`, `Weir-Revert-Id:`). A template
//! may replace the default; `{{name}}` placeholders are filled from [`Fields`].

use crate::api::rollout::GitRevertStatus;
use std::collections::BTreeMap;

pub const DEFAULT_TEMPLATE: &str = "\
Revert {{rollout}} to {{stable_image}}: canary aborted ({{cause}})

Weir aborted the canary of Rollout {{namespace}}/{{rollout}} revision {{revision}} and
sent all traffic back to stable. This commit puts the stable image back in Git so the
declared state matches what runs.

Image:       {{bad_image}} -> {{stable_image}}
AnalysisRun: {{analysis_run}}
Metric:      {{metric}}
Measured:    {{value}}
Condition:   {{condition}}
Reason:      {{reason}}

Weir-Rollout: {{namespace}}/{{rollout}}
Weir-AnalysisRun: {{analysis_run}}
Weir-Reverted-Image: {{bad_image}}
Weir-Revert-Id: {{revert_id}}
";

/// The marker that makes a revert exactly-once: a commit carrying it is never made twice.
pub fn revert_id(namespace: &str, rollout: &str, request: &GitRevertStatus) -> String {
    format!(
        "{namespace}/{rollout}/{}/{}",
        request.revision, request.pod_hash
    )
}

/// Values for the template's placeholders.
pub fn fields(
    namespace: &str,
    rollout: &str,
    request: &GitRevertStatus,
) -> BTreeMap<&'static str, String> {
    let evidence = request.evidence.clone().unwrap_or_default();
    let none = || "-".to_string();
    let join = |f: fn(&crate::api::rollout::ImageRevert) -> &String| {
        request
            .images
            .iter()
            .map(f)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    BTreeMap::from([
        ("namespace", namespace.to_string()),
        ("rollout", rollout.to_string()),
        ("revision", request.revision.clone()),
        ("cause", request.cause.clone()),
        ("bad_image", join(|i| &i.bad_image)),
        ("stable_image", join(|i| &i.stable_image)),
        ("analysis_run", evidence.analysis_run.unwrap_or_else(none)),
        ("metric", evidence.metric.unwrap_or_else(none)),
        ("value", evidence.value.unwrap_or_else(none)),
        ("condition", evidence.condition.unwrap_or_else(none)),
        (
            "reason",
            if evidence.message.is_empty() {
                "aborted by hand".to_string()
            } else {
                evidence.message
            },
        ),
        ("revert_id", revert_id(namespace, rollout, request)),
    ])
}

/// Fills `{{name}}` placeholders; unknown names are left as written. The revert id trailer is
/// appended when a custom template leaves it out, since exactly-once depends on it.
pub fn render(template: &str, fields: &BTreeMap<&'static str, String>) -> String {
    let mut out = template.to_string();
    for (name, value) in fields {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    if let Some(id) = fields.get("revert_id") {
        let trailer = format!("Weir-Revert-Id: {id}");
        if !out.contains(&trailer) {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&trailer);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::{ImageRevert, RevertEvidence};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn request() -> GitRevertStatus {
        GitRevertStatus {
            phase: "Pending".into(),
            revision: "2".into(),
            pod_hash: "abc".into(),
            images: vec![ImageRevert {
                container: "app".into(),
                bad_image: "app:v2".into(),
                stable_image: "app:v1".into(),
            }],
            cause: "analysis".into(),
            evidence: Some(RevertEvidence {
                analysis_run: Some("web-abc-2-1".into()),
                metric: Some("success-rate".into()),
                value: Some("[0.8]".into()),
                condition: Some("successCondition: result[0] >= 0.95".into()),
                message:
                    "Metric \"success-rate\" assessed Failed due to failed (4) > failureLimit (3)"
                        .into(),
            }),
            requested_at: Time(jiff::Timestamp::UNIX_EPOCH),
            attempts: None,
            last_attempt_at: None,
            repo: None,
            file: None,
            branch: None,
            commit: None,
            message: None,
        }
    }

    #[test]
    fn default_message_carries_the_evidence_and_trailers() {
        let text = render(DEFAULT_TEMPLATE, &fields("prod", "web", &request()));
        assert!(text.starts_with("Revert web to app:v1: canary aborted (analysis)\n\n"));
        for line in [
            "Image:       app:v2 -> app:v1",
            "AnalysisRun: web-abc-2-1",
            "Metric:      success-rate",
            "Measured:    [0.8]",
            "Condition:   successCondition: result[0] >= 0.95",
            "Weir-Rollout: prod/web",
            "Weir-AnalysisRun: web-abc-2-1",
            "Weir-Reverted-Image: app:v2",
            "Weir-Revert-Id: prod/web/2/abc",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("{{"));
    }

    #[test]
    fn custom_templates_keep_the_revert_id() {
        let text = render(
            "rollback {{rollout}} ({{bad_image}})",
            &fields("prod", "web", &request()),
        );
        assert_eq!(
            text,
            "rollback web (app:v2)\n\nWeir-Revert-Id: prod/web/2/abc\n"
        );
    }
}
