//! `kubectl_complete-weir`: completes `kubectl weir ...`. kubectl (1.26 and later) completes a
//! plugin by running `kubectl_complete-<plugin>` from PATH with the words typed after the
//! plugin's name, the last being the word under the cursor ("" for a new one), and reads cobra's
//! `__complete` answer: a candidate a line (`value<TAB>description`), then `:<directive>`. The
//! answers are read off the plugin's own clap definition, so they cannot drift from the commands.

use clap::{Arg, Command, CommandFactory, ValueHint};
use std::io::Write;
use std::process::ExitCode;
use weir::cli::Cli;

/// Cobra's ShellCompDirective bits (spf13/cobra, completions.go).
const DIRECTIVE_DEFAULT: u8 = 0;
const DIRECTIVE_NO_FILE_COMP: u8 = 4;
const DIRECTIVE_FILTER_DIRS: u8 = 16;

#[derive(Debug, PartialEq, Eq)]
struct Answer {
    /// `(value, description)`, the description possibly empty.
    candidates: Vec<(String, String)>,
    directive: u8,
}

impl Answer {
    fn nothing() -> Answer {
        Answer {
            candidates: Vec::new(),
            directive: DIRECTIVE_NO_FILE_COMP,
        }
    }

    /// Cobra's wire format. Descriptions are cut to their first line: a tab or newline in one
    /// would be read as the start of another candidate.
    fn render(&self) -> String {
        let mut text = String::new();
        for (value, description) in &self.candidates {
            let description = description.lines().next().unwrap_or_default();
            text.push_str(value);
            if !description.is_empty() {
                text.push('\t');
                text.push_str(&description.replace('\t', " "));
            }
            text.push('\n');
        }
        text.push_str(&format!(":{}\n", self.directive));
        text
    }
}

fn main() -> ExitCode {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    // Cobra-style wrappers call `<program> __complete <words>`; take that form too. The word can
    // never be one the plugin accepts (Kubernetes names have no underscore).
    if words.first().is_some_and(|w| w == "__complete") {
        words.remove(0);
    }
    let mut command = Cli::command();
    command.build();
    let answer = complete(&command, &words).render();
    match std::io::stdout().write_all(answer.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("Error: cannot write the completions: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

/// The candidates for the last of `words`, the ones before it deciding the subcommand and which
/// flag or positional argument the last one is. `root` must be built (`Command::build`), which
/// gives every subcommand the global flags and `--help`.
fn complete(root: &Command, words: &[String]) -> Answer {
    let (current, typed) = match words.split_last() {
        Some((current, typed)) => (current.as_str(), typed),
        None => ("", &[][..]),
    };
    let mut command = root;
    let mut positionals = 0;
    let mut value_of: Option<&Arg> = None;
    let mut only_positionals = false;
    for word in typed {
        if value_of.take().is_some() {
            continue;
        }
        if only_positionals {
            positionals += 1;
        } else if word == "--" {
            only_positionals = true;
        } else if let Some(long) = word.strip_prefix("--") {
            value_of = (!long.contains('='))
                .then(|| find_long(command, long))
                .flatten()
                .filter(|a| takes_next_word(a));
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            value_of = short_cluster_value(command, shorts);
        } else if let Some(sub) = command.find_subcommand(word) {
            command = sub;
            positionals = 0;
        } else {
            positionals += 1;
        }
    }
    if let Some(arg) = value_of {
        return values(arg, current);
    }
    if !only_positionals && current.starts_with('-') {
        if let Some((long, value)) = current.strip_prefix("--").and_then(|c| c.split_once('=')) {
            // The shells' scripts complete the part after `=` on their own.
            return find_long(command, long).map_or_else(Answer::nothing, |a| values(a, value));
        }
        return flags(command, current);
    }
    if command.has_subcommands() {
        return Answer {
            candidates: command
                .get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name().starts_with(current))
                .map(|s| (s.get_name().to_string(), about(s.get_about())))
                .collect(),
            directive: DIRECTIVE_NO_FILE_COMP,
        };
    }
    // A positional that takes several values (the last one) keeps taking them.
    let arg = command
        .get_positionals()
        .nth(positionals)
        .or_else(|| command.get_positionals().last().filter(|a| takes_many(a)));
    arg.map_or_else(Answer::nothing, |a| values(a, current))
}

fn find_long<'a>(command: &'a Command, long: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|a| {
        a.get_long() == Some(long) || a.get_all_aliases().into_iter().flatten().any(|x| x == long)
    })
}

/// For `-abc`: the flag whose value is the next word, when the cluster ends with one that
/// takes a value (`-n`); `-nprod` carries its value.
fn short_cluster_value<'a>(command: &'a Command, shorts: &str) -> Option<&'a Arg> {
    for (i, c) in shorts.char_indices() {
        let arg = command.get_arguments().find(|a| a.get_short() == Some(c))?;
        if arg.get_action().takes_values() {
            let attached = i + c.len_utf8() < shorts.len();
            return (!attached && takes_next_word(arg)).then_some(arg);
        }
    }
    None
}

/// `--watch=false` style flags take their value only after `=`.
fn takes_next_word(arg: &Arg) -> bool {
    arg.get_action().takes_values() && !arg.is_require_equals_set()
}

fn takes_many(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// Flags of `command` starting with `current`: long ones always, short ones only for a lone
/// `-`, as cobra offers them.
fn flags(command: &Command, current: &str) -> Answer {
    let mut candidates = Vec::new();
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let help = about(arg.get_help());
        if let Some(long) = arg.get_long() {
            candidates.push((format!("--{long}"), help.clone()));
        }
        if let Some(short) = arg.get_short().filter(|_| current == "-") {
            candidates.push((format!("-{short}"), help));
        }
    }
    candidates.retain(|(flag, _)| flag.starts_with(current));
    Answer {
        candidates,
        directive: DIRECTIVE_NO_FILE_COMP,
    }
}

/// The values `arg` takes, starting with `current`: its possible values when it has a fixed
/// set, else what its value hint says the shell should offer (file names, directories, or
/// nothing, e.g. for rollout names, which would need the cluster).
fn values(arg: &Arg, current: &str) -> Answer {
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        return Answer {
            candidates: possible
                .iter()
                .filter(|v| !v.is_hide_set() && v.get_name().starts_with(current))
                .map(|v| (v.get_name().to_string(), about(v.get_help())))
                .collect(),
            directive: DIRECTIVE_NO_FILE_COMP,
        };
    }
    let directive = match arg.get_value_hint() {
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::ExecutablePath => DIRECTIVE_DEFAULT,
        ValueHint::DirPath => DIRECTIVE_FILTER_DIRS,
        _ => DIRECTIVE_NO_FILE_COMP,
    };
    Answer {
        candidates: Vec::new(),
        directive,
    }
}

fn about(text: Option<&clap::builder::StyledStr>) -> String {
    text.map(ToString::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(words: &[&str]) -> (Vec<String>, u8) {
        let mut command = Cli::command();
        command.build();
        let words: Vec<String> = words.iter().map(ToString::to_string).collect();
        let answer = complete(&command, &words);
        let values = answer.candidates.into_iter().map(|(v, _)| v).collect();
        (values, answer.directive)
    }

    #[test]
    fn completes_commands_flags_and_values() {
        let names = |list: &[&str]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        let cases: &[(&[&str], &[&str], u8)] = &[
            (&["pro"], &["promote"], DIRECTIVE_NO_FILE_COMP),
            (
                &["get", ""],
                &["rollout", "analysisrun", "help"],
                DIRECTIVE_NO_FILE_COMP,
            ),
            // Aliases lead to the same subcommand; global flags and their values are skipped.
            (
                &["-n", "prod", "get", "ro", "web", "--no"],
                &["--no-color"],
                DIRECTIVE_NO_FILE_COMP,
            ),
            (&["completion", "f"], &["fish"], DIRECTIVE_NO_FILE_COMP),
            (
                &["status", "web", "--watch="],
                &["true", "false"],
                DIRECTIVE_NO_FILE_COMP,
            ),
            (&["lint", "-f", ""], &[], DIRECTIVE_DEFAULT),
            (
                &["lint", "--filename", "a.yaml", "-R", "--f"],
                &["--filename"],
                DIRECTIVE_NO_FILE_COMP,
            ),
            (&["--kubeconfig", ""], &[], DIRECTIVE_DEFAULT),
            (&["--context", ""], &[], DIRECTIVE_NO_FILE_COMP),
            // Rollout names would need the cluster.
            (&["promote", ""], &[], DIRECTIVE_NO_FILE_COMP),
            (
                &["promote", "web", "-"],
                &[
                    "--full",
                    "--namespace",
                    "-n",
                    "--context",
                    "--kubeconfig",
                    "--help",
                    "-h",
                ],
                DIRECTIVE_NO_FILE_COMP,
            ),
            (
                &["set", "image", "web", "web=nginx", ""],
                &[],
                DIRECTIVE_NO_FILE_COMP,
            ),
            (
                &[],
                &[
                    "get",
                    "list",
                    "promote",
                    "abort",
                    "retry",
                    "pause",
                    "set",
                    "restart",
                    "undo",
                    "status",
                    "lint",
                    "version",
                    "completion",
                    "help",
                ],
                DIRECTIVE_NO_FILE_COMP,
            ),
        ];
        for (words, want, directive) in cases {
            assert_eq!(answer(words), (names(want), *directive), "{words:?}");
        }
    }

    #[test]
    fn renders_cobras_format() {
        let answer = Answer {
            candidates: vec![
                ("get".into(), "Get details\nmore".into()),
                ("x".into(), String::new()),
            ],
            directive: DIRECTIVE_NO_FILE_COMP,
        };
        assert_eq!(answer.render(), "get\tGet details\nx\n:4\n");
        assert_eq!(Answer::nothing().render(), ":4\n");
    }
}
