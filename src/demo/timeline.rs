//! The demo's live timeline, rendered from snapshots of the Rollout, its VirtualService weights,
//! its ReplicaSets and the AnalysisRun it follows. Pure, so the format is tested.
//!
//! A Rollout line reads: time, phase, where the Rollout is (the step it executes, or that the
//! first revision went out without steps, or that the update is aborted), then for the stable
//! and the canary ReplicaSet its image tag, its traffic weight and its available/desired pods.
//! An analysis line lists every measurement of the metric that decides the run. Every line fits
//! in [`WIDTH`] columns.

use std::fmt::Write;

/// The widest line the demo prints.
pub const WIDTH: usize = 100;

/// Where the Rollout is, in the words the timeline uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The first revision of a Rollout is promoted at once: Argo runs no steps for it.
    FirstRevision { revision: String },
    /// The update was aborted: no step runs, traffic is (going) back to stable.
    Aborted,
    /// Executing step `index` (0-based, as Argo counts) of `total`; `index == total` once all
    /// steps are done.
    Step {
        index: i32,
        total: usize,
        text: String,
    },
    /// A Rollout without steps.
    NoSteps,
}

/// One ReplicaSet as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The image tag the ReplicaSet runs.
    pub tag: String,
    pub available: i32,
    pub desired: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub phase: String,
    pub progress: Progress,
    /// The Rollout's status message, shown only where it adds to the line ([`shown_message`]).
    pub message: String,
    pub stable_weight: i64,
    pub canary_weight: i64,
    pub stable: Option<Side>,
    /// None while the current revision is the stable one.
    pub canary: Option<Side>,
}

/// The AnalysisRun the timeline follows: its phase and every measurement of the metric that
/// decides it (the failing one, if one fails), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub phase: String,
    pub metric: String,
    /// (value, phase) per measurement; the value is empty while a measurement is running.
    pub measurements: Vec<(String, String)>,
}

/// Argo's Progressing messages restate the replica counts the line already shows, and a
/// canary pause step's reason restates the step; any other message is news and is shown.
pub fn shown_message(s: &Snapshot) -> Option<&str> {
    const FROM_COUNTS: [&str; 4] = [
        "more replicas need to be updated",
        "updated replicas are still becoming available",
        "old replicas are pending termination",
        "waiting for all steps to complete",
    ];
    let restates_step = s.phase == "Paused"
        && s.message == "CanaryPauseStep"
        && matches!(&s.progress, Progress::Step { text, .. } if text.starts_with("pause"));
    let hidden = s.message.is_empty() || FROM_COUNTS.contains(&s.message.as_str()) || restates_step;
    (!hidden).then_some(s.message.as_str())
}

fn stamp(elapsed_secs: f64) -> String {
    format!("[{elapsed_secs:>5.1}s]")
}

/// The Rollout's line, then its message (wrapped) when the message adds information.
pub fn render(elapsed_secs: f64, s: &Snapshot) -> Vec<String> {
    let place = match &s.progress {
        Progress::FirstRevision { revision } => format!(
            "revision {revision} {} (no canary for the first revision)",
            if s.phase == "Healthy" {
                "deployed"
            } else {
                "deploying"
            }
        ),
        Progress::Aborted if s.canary_weight == 0 => "aborted, all traffic on stable".into(),
        Progress::Aborted => format!("aborted, canary still at {}%", s.canary_weight),
        Progress::Step { index, total, text } => format!("step {index}/{total} {text}"),
        Progress::NoSteps => "no steps".into(),
    };
    let mut line = format!("{} {:<11} {place:<22}", stamp(elapsed_secs), s.phase);
    let side = |line: &mut String, role: &str, weight: i64, side: Option<&Side>| {
        let _ = match side {
            Some(p) => write!(
                line,
                "  {role} {} {weight:>3}% {}/{}",
                p.tag, p.available, p.desired
            ),
            None => write!(line, "  {role} {weight:>3}%"),
        };
    };
    side(&mut line, "stable", s.stable_weight, s.stable.as_ref());
    if s.canary.is_some() || s.canary_weight != 0 {
        side(&mut line, "canary", s.canary_weight, s.canary.as_ref());
    }
    let mut lines = vec![line];
    if let Some(message) = shown_message(s) {
        let indent = " ".repeat(11);
        lines.extend(wrap(
            &message.split(' ').collect::<Vec<_>>(),
            &indent,
            &indent,
        ));
    }
    lines
}

/// The analysis line: the run's phase and each measurement of its deciding metric, so the
/// count in a "failed (n)" message can be checked against it.
pub fn render_analysis(elapsed_secs: f64, a: &Analysis) -> Vec<String> {
    if a.measurements.is_empty() {
        return vec![format!(
            "{}   analysis {}, no measurement yet",
            stamp(elapsed_secs),
            a.phase
        )];
    }
    let head = format!(
        "{}   analysis {}, {}: ",
        stamp(elapsed_secs),
        a.phase,
        a.metric
    );
    let tokens: Vec<String> = a
        .measurements
        .iter()
        .enumerate()
        .map(|(i, (value, phase))| {
            let comma = if i + 1 < a.measurements.len() {
                ","
            } else {
                ""
            };
            if value.is_empty() {
                format!("{phase}{comma}")
            } else {
                format!("{value} {phase}{comma}")
            }
        })
        .collect();
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    wrap(&tokens, &head, &" ".repeat(head.len()))
}

/// Joins `tokens` with spaces into lines of at most [`WIDTH`] columns: the first line starts
/// with `first`, the others with `indent`. A token longer than a line gets a line of its own.
pub fn wrap(tokens: &[&str], first: &str, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for token in tokens {
        if !empty && line.chars().count() + 1 + token.chars().count() > WIDTH {
            lines.push(std::mem::replace(&mut line, indent.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(token);
        empty = false;
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(tag: &str, available: i32, desired: i32) -> Option<Side> {
        Some(Side {
            tag: tag.into(),
            available,
            desired,
        })
    }

    fn canary_step() -> Snapshot {
        Snapshot {
            phase: "Progressing".into(),
            progress: Progress::Step {
                index: 0,
                total: 5,
                text: "setWeight: 20".into(),
            },
            message: "more replicas need to be updated".into(),
            stable_weight: 80,
            canary_weight: 20,
            stable: side("v1", 5, 5),
            canary: side("v2", 1, 1),
        }
    }

    #[test]
    fn renders_a_canary_step_without_the_message_its_counts_restate() {
        assert_eq!(
            render(0.84, &canary_step()),
            ["[  0.8s] Progressing step 0/5 setWeight: 20  stable v1  80% 5/5  canary v2  20% 1/1"]
        );
    }

    #[test]
    fn the_first_revision_shows_no_step() {
        let mut s = Snapshot {
            phase: "Progressing".into(),
            progress: Progress::FirstRevision {
                revision: "1".into(),
            },
            message: "updated replicas are still becoming available".into(),
            stable_weight: 100,
            canary_weight: 0,
            stable: side("v1", 0, 5),
            canary: None,
        };
        assert_eq!(
            render(0.1, &s),
            [
                "[  0.1s] Progressing revision 1 deploying (no canary for the first revision)  stable v1 100% 0/5"
            ]
        );
        s.phase = "Healthy".into();
        s.message.clear();
        s.stable = side("v1", 5, 5);
        assert_eq!(
            render(0.4, &s),
            [
                "[  0.4s] Healthy     revision 1 deployed (no canary for the first revision)  stable v1 100% 5/5"
            ]
        );
    }

    #[test]
    fn an_abort_says_where_traffic_is_and_why() {
        let s = Snapshot {
            phase: "Degraded".into(),
            progress: Progress::Aborted,
            message: "RolloutAborted: Rollout aborted update to revision 3: Step-based analysis \
                      phase error/failed: Metric \"error-rate\" assessed Failed due to failed (2) \
                      > failureLimit (1)"
                .into(),
            stable_weight: 100,
            canary_weight: 0,
            stable: side("v2", 5, 5),
            canary: side("v3", 1, 1),
        };
        assert_eq!(
            render(5.8, &s),
            [
                "[  5.8s] Degraded    aborted, all traffic on stable  stable v2 100% 5/5  canary v3   0% 1/1",
                "           RolloutAborted: Rollout aborted update to revision 3: Step-based analysis phase",
                "           error/failed: Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)",
            ]
        );
        let moving = Snapshot {
            canary_weight: 20,
            stable_weight: 80,
            ..s
        };
        assert!(render(5.8, &moving)[0].contains("aborted, canary still at 20%"));
    }

    #[test]
    fn a_pause_step_line_omits_the_reason_it_restates_but_shows_others() {
        let mut s = canary_step();
        s.phase = "Paused".into();
        s.progress = Progress::Step {
            index: 3,
            total: 5,
            text: "pause: 1s".into(),
        };
        s.message = "CanaryPauseStep".into();
        assert_eq!(render(3.1, &s).len(), 1);
        s.message = "manually paused".into();
        assert_eq!(render(3.1, &s)[1].trim(), "manually paused");
    }

    #[test]
    fn the_analysis_line_lists_every_measurement() {
        let a = Analysis {
            phase: "Failed".into(),
            metric: "error-rate".into(),
            measurements: vec![
                ("[0.2]".into(), "Failed".into()),
                ("[0.2]".into(), "Failed".into()),
            ],
        };
        assert_eq!(
            render_analysis(5.8, &a),
            ["[  5.8s]   analysis Failed, error-rate: [0.2] Failed, [0.2] Failed"]
        );
        let running = Analysis {
            phase: "Running".into(),
            metric: "error-rate".into(),
            measurements: vec![],
        };
        assert_eq!(
            render_analysis(4.8, &running),
            ["[  4.8s]   analysis Running, no measurement yet"]
        );
        let many = Analysis {
            phase: "Running".into(),
            metric: "error-rate".into(),
            measurements: vec![("[0.0123]".into(), "Successful".into()); 8],
        };
        let lines = render_analysis(1.0, &many);
        assert!(lines.len() > 1);
        assert!(
            lines.iter().all(|l| l.chars().count() <= WIDTH),
            "{lines:#?}"
        );
        assert_eq!(lines.join(" ").matches("Successful").count(), 8);
    }
}
