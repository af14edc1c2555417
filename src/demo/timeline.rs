//! One line of the demo's live timeline, rendered from a snapshot of the Rollout, its
//! VirtualService weights and its ReplicaSets. Pure, so the format is tested.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub revision: String,
    pub phase: String,
    pub message: String,
    pub step: Option<(i32, usize)>,
    pub step_text: String,
    pub stable_weight: i64,
    pub canary_weight: i64,
    /// (label, ready, desired) for the stable and canary ReplicaSets.
    pub pods: Vec<(String, i32, i32)>,
    /// The current AnalysisRun's phase and its last measured value.
    pub analysis: Option<(String, String)>,
}

pub fn render(elapsed_secs: f64, s: &Snapshot) -> String {
    let mut line = format!("[{elapsed_secs:>5.1}s] {:<11}", s.phase);
    match s.step {
        Some((index, total)) => {
            let _ = write!(line, " step {index}/{total} {:<14}", s.step_text);
        }
        None => line.push_str(&" ".repeat(25)),
    }
    let _ = write!(
        line,
        " traffic stable {:>3}% canary {:>3}%",
        s.stable_weight, s.canary_weight
    );
    for (label, ready, desired) in &s.pods {
        let _ = write!(line, "  {label} {ready}/{desired}");
    }
    if let Some((phase, value)) = &s.analysis {
        let _ = write!(line, "  analysis {phase} {value}");
    }
    if !s.message.is_empty() {
        let _ = write!(line, "  ({})", s.message);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_progressing_line() {
        let s = Snapshot {
            revision: "v2".into(),
            phase: "Paused".into(),
            message: "CanaryPauseStep".into(),
            step: Some((1, 6)),
            step_text: "pause 2s".into(),
            stable_weight: 80,
            canary_weight: 20,
            pods: vec![("stable v1".into(), 5, 5), ("canary v2".into(), 1, 1)],
            analysis: Some(("Running".into(), "[0.01]".into())),
        };
        assert_eq!(
            render(3.25, &s),
            "[  3.2s] Paused      step 1/6 pause 2s       traffic stable  80% canary  20%  stable v1 5/5  canary v2 1/1  analysis Running [0.01]  (CanaryPauseStep)"
        );
    }
}
