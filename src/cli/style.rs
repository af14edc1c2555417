//! Icons, INFO tags and their colours, as Argo's plugin uses them, so screenshots and habits
//! carry over. Colour is decided once per command (terminal, `--no-color`, `NO_COLOR`, `TERM=dumb`).

use owo_colors::OwoColorize;
use std::io::IsTerminal;

pub const ICON_ROLLOUT: &str = "⟳";
pub const ICON_REVISION: &str = "#";
pub const ICON_REPLICA_SET: &str = "⧉";
pub const ICON_POD: &str = "□";
pub const ICON_ANALYSIS: &str = "α";
/// Metrics and measurements inside `get analysisrun`; Argo has no view for them.
pub const ICON_METRIC: &str = "∿";

pub const ICON_WAITING: &str = "◷";
pub const ICON_PROGRESSING: &str = "◌";
pub const ICON_WARNING: &str = "⚠";
pub const ICON_UNKNOWN: &str = "?";
pub const ICON_OK: &str = "✔";
pub const ICON_BAD: &str = "✖";
pub const ICON_PAUSED: &str = "॥";
pub const ICON_NEUTRAL: &str = "•";

pub const TAG_CANARY: &str = "canary";
pub const TAG_STABLE: &str = "stable";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Color {
    Green,
    Yellow,
    Red,
    HiBlue,
}

/// Whether to emit ANSI colours. Rendering functions take it so they stay pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    /// Colour only on a terminal, unless disabled by flag or by the usual environment variables.
    pub fn detect(no_color: bool) -> Style {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let disabled = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && !dumb && !disabled && std::io::stdout().is_terminal(),
        }
    }

    /// Colours a well-known word (icon, tag or analysis phase); anything else is returned as is.
    pub fn word(self, word: &str) -> String {
        self.paint(word, color_of(word))
    }

    /// Colours `text` the way Argo colours `key` (e.g. a ReplicaSet name by its `stable` tag).
    pub fn like(self, text: &str, key: &str) -> String {
        self.paint(text, color_of(key))
    }

    fn paint(self, text: &str, color: Option<Color>) -> String {
        match (self.color, color) {
            (true, Some(Color::Green)) => text.green().to_string(),
            (true, Some(Color::Yellow)) => text.yellow().to_string(),
            (true, Some(Color::Red)) => text.red().to_string(),
            (true, Some(Color::HiBlue)) => text.bright_blue().to_string(),
            _ => text.to_string(),
        }
    }
}

fn color_of(word: &str) -> Option<Color> {
    match word {
        ICON_WAITING | ICON_UNKNOWN | TAG_CANARY => Some(Color::Yellow),
        ICON_PROGRESSING | "Pending" | "Running" => Some(Color::HiBlue),
        ICON_WARNING | ICON_BAD => Some(Color::Red),
        ICON_OK | TAG_STABLE => Some(Color::Green),
        _ => None,
    }
}

/// Icon for an AnalysisRun, metric or measurement phase.
pub fn analysis_icon(phase: &str) -> &'static str {
    match phase {
        "Successful" => ICON_OK,
        "Inconclusive" => ICON_UNKNOWN,
        "Failed" => ICON_BAD,
        "Error" => ICON_WARNING,
        "Running" => ICON_PROGRESSING,
        "Pending" => ICON_WAITING,
        _ => " ",
    }
}

/// Icon for a Rollout status as shown by `get`, `list` and `status`.
pub fn rollout_icon(status: &str) -> &'static str {
    match status {
        "Progressing" => ICON_PROGRESSING,
        "Error" | "InvalidSpec" => ICON_WARNING,
        "Paused" => ICON_PAUSED,
        "Healthy" => ICON_OK,
        "Degraded" => ICON_BAD,
        "Unknown" => ICON_UNKNOWN,
        "ScaledDown" => ICON_NEUTRAL,
        _ => " ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_never_adds_escapes() {
        assert_eq!(Style::PLAIN.word(ICON_OK), ICON_OK);
        let colored = Style { color: true }.word(ICON_OK);
        assert!(colored.starts_with('\u{1b}') && colored.contains(ICON_OK));
        assert_eq!(Style { color: true }.word(ICON_PAUSED), ICON_PAUSED);
    }
}
