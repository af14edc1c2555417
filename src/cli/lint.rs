//! `lint -f`: offline checks of manifests before they reach the cluster, reading `-f` as
//! `kubectl apply -f` does (files, directories, `-R`, `-` for standard input). Every YAML
//! document is parsed; Rollouts get the controller's own spec validation and AnalysisTemplates
//! the analysis controller's template checks, and fields the types do not know (typos) are
//! reported under `spec`. Each finding names the file, the line, the object and the field.

use super::error::{CliError, Result};
use crate::analysis::template::{Resolved, TemplateError, validate};
use crate::api::validation::validate_rollout;
use crate::api::{AnalysisTemplate, Rollout};
use serde_json::Value;
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use yamlpath::{Component, Route};

/// kubectl's name for `-f -` in its messages.
pub const STDIN: &str = "STDIN";

/// The file name extensions `-f DIR` picks up: kubectl's.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// One manifest to check: the name findings give it, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line of the field in the file, else of the object's first line.
    pub line: usize,
    /// `Kind name` of the object, when the document got that far.
    pub object: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// What the checks of one file found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checked {
    /// Documents that are not empty.
    pub objects: usize,
    pub findings: Vec<Finding>,
}

/// The last line of a run: how much was checked, and every file with problems.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub files: usize,
    pub objects: usize,
    /// Each failing file with its number of problems, in the order they were checked.
    pub failing: Vec<(String, usize)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problems = self.failing.iter().map(|(_, n)| n).sum();
        write!(
            f,
            "{} in {}, {}",
            count(self.objects, "object"),
            count(self.files, "file"),
            count(problems, "problem")
        )?;
        // Every failing file is named, so the last line of a CI log says where to look.
        for (i, (file, problems)) in self.failing.iter().enumerate() {
            let separator = if i == 0 { ": " } else { ", " };
            write!(f, "{separator}{file} ({problems})")?;
        }
        Ok(())
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `lint -f ...`: reads every input, checks it, and prints one `file:line: finding` line per
/// problem, or the summary when there is none; fails with the summary when there are problems.
pub fn run(
    inputs: &[PathBuf],
    recursive: bool,
    stdin: &mut dyn Read,
    out: &mut (dyn Write + Send),
) -> Result<()> {
    let sources = read_sources(inputs, recursive, stdin)?;
    let (report, summary) = check(&sources);
    // The verdict stands when the reader has gone (`lint ... | head`): a CI step with pipefail
    // must still fail on bad manifests.
    if let Err(e) = out.write_all(report.as_bytes())
        && e.kind() != ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    if summary.failing.is_empty() {
        Ok(())
    } else {
        Err(CliError::Lint(summary))
    }
}

/// The report of `sources` (a `file:line: finding` line per problem, or the summary line when
/// there is none) and its summary.
pub fn check(sources: &[Source]) -> (String, Summary) {
    let mut report = String::new();
    let mut summary = Summary {
        files: sources.len(),
        ..Summary::default()
    };
    for source in sources {
        let checked = lint_text(&source.text);
        summary.objects += checked.objects;
        for finding in &checked.findings {
            report.push_str(&format!("{}:{}: {finding}\n", source.name, finding.line));
        }
        if !checked.findings.is_empty() {
            summary
                .failing
                .push((source.name.clone(), checked.findings.len()));
        }
    }
    if summary.failing.is_empty() {
        report.push_str(&format!("{summary}\n"));
    }
    (report, summary)
}

/// Reads everything `-f` names before anything is checked, so a wrong `-f` fails the run
/// (exit 2) with nothing half-printed. `-` is standard input; a directory gives its .yaml, .yml
/// and .json files, and with `recursive` those of its subdirectories; a file named directly is
/// read whatever its extension, as kubectl does.
pub fn read_sources(
    inputs: &[PathBuf],
    recursive: bool,
    stdin: &mut dyn Read,
) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    let mut stdin_read = false;
    for input in inputs {
        if input.as_os_str() == "-" {
            if std::mem::replace(&mut stdin_read, true) {
                return Err(CliError::Usage(
                    "-f -: standard input can be read only once; give -f - a single time".into(),
                ));
            }
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|source| CliError::Io {
                    path: STDIN.into(),
                    source,
                })?;
            sources.push(Source {
                name: STDIN.into(),
                text,
            });
            continue;
        }
        let metadata = fs::metadata(input).map_err(|source| match source.kind() {
            ErrorKind::NotFound => CliError::Usage(format!(
                "-f {}: the path does not exist; give a manifest file, a directory of them, or - for standard input",
                input.display()
            )),
            _ => CliError::Io {
                path: input.clone(),
                source,
            },
        })?;
        if !metadata.is_dir() {
            sources.push(read_file(input)?);
            continue;
        }
        let before = sources.len();
        walk(input, recursive, &mut sources)?;
        if sources.len() == before {
            let hint = if recursive {
                ""
            } else {
                " (-R also reads its subdirectories)"
            };
            return Err(CliError::Usage(format!(
                "-f {}: the directory has no .yaml, .yml or .json files{hint}",
                input.display()
            )));
        }
    }
    Ok(sources)
}

fn read_file(path: &Path) -> Result<Source> {
    let text = fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}

fn walk(dir: &Path, recursive: bool, sources: &mut Vec<Source>) -> Result<()> {
    let io = |source: std::io::Error| CliError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io)?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?;
    // kubectl walks in lexical order; so does this, and reports are the same from run to run.
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        // Symlinked directories are not followed (nor are they by kubectl's filepath.Walk),
        // which also keeps a link loop from recursing for ever.
        if entry.file_type().map_err(io)?.is_dir() {
            if recursive {
                walk(&path, true, sources)?;
            }
        } else if path
            .extension()
            .is_some_and(|e| EXTENSIONS.iter().any(|x| e == *x))
            && !path.is_dir()
        {
            sources.push(read_file(&path)?);
        }
    }
    Ok(())
}

/// Checks every document of `text`.
pub fn lint_text(text: &str) -> Checked {
    let mut checked = Checked::default();
    for document in split_documents(text) {
        let value = match yaml_serde::from_str::<Value>(document.text) {
            // Empty documents (comments only, a trailing `---`) are fine.
            Ok(Value::Null) => continue,
            Ok(value) => value,
            Err(error) => {
                checked.findings.push(syntax_error(&document, error));
                continue;
            }
        };
        checked.objects += 1;
        let mut findings = lint_document(document.object_line(), &value);
        locate_fields(&document, &mut findings);
        checked.findings.extend(findings);
    }
    checked
}

/// One document of a YAML stream, and the 1-based line of the file it starts on.
struct Document<'a> {
    text: &'a str,
    first_line: usize,
}

impl Document<'_> {
    /// The line the object starts on: leading comments, directives and a bare `---` are not it.
    fn object_line(&self) -> usize {
        self.text
            .lines()
            .position(|line| {
                let line = line.trim_start_matches('\u{feff}');
                let body = if is_marker(line) { &line[3..] } else { line }.trim();
                !(body.is_empty() || body.starts_with('#') || line.starts_with('%'))
            })
            .map_or(self.first_line, |i| self.first_line + i)
    }
}

/// `---` at column 0, alone or followed by a space or tab.
fn is_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

/// Splits a YAML stream at its `---` markers, so that each document is parsed alone: a syntax
/// error in one leaves the others checked, and the parser's positions can be mapped back to
/// lines of the file. A marker at column 0 always starts a document (YAML forbids one inside
/// content), so this needs no parser; directives (`%YAML`) just before a marker belong to the
/// document the marker starts.
fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut documents = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let mut directives = None;
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        if is_marker(line) {
            let (at, at_line) = directives.take().unwrap_or((offset, i + 1));
            if at > start {
                documents.push(Document {
                    text: &text[start..at],
                    first_line: start_line,
                });
            }
            (start, start_line) = (at, at_line);
        } else if line.starts_with('%') {
            directives.get_or_insert((offset, i + 1));
        } else if !(line.trim().is_empty() || line.trim_start().starts_with('#')) {
            directives = None;
        }
        offset += raw.len();
    }
    documents.push(Document {
        text: &text[start..],
        first_line: start_line,
    });
    documents
}

fn syntax_error(document: &Document, error: yaml_serde::Error) -> Finding {
    // Parsed again behind blank lines, so that the parser's "at line L column C" counts from
    // the top of the file. Only a broken document pays for this.
    let padded = "\n".repeat(document.first_line - 1) + document.text;
    let error = yaml_serde::from_str::<Value>(&padded)
        .err()
        .unwrap_or(error);
    Finding {
        line: error
            .location()
            .map_or_else(|| document.object_line(), |l| l.line()),
        object: None,
        field: String::new(),
        message: format!("invalid YAML: {error}"),
    }
}

/// Moves each finding to the line of its field, or of the deepest part of the field's path the
/// document has (`spec` for a missing `spec.selector`). This parses the document a second time
/// for positions, so only documents with findings pay; where that parser refuses what the
/// first accepted, the object's line stands.
fn locate_fields(document: &Document, findings: &mut [Finding]) {
    if findings.iter().all(|f| f.field.is_empty()) {
        return;
    }
    let Ok(tree) = yamlpath::Document::new(document.text) else {
        return;
    };
    for finding in findings {
        let route = route_of(&finding.field);
        let row = (1..=route.len()).rev().find_map(|n| {
            let prefix = Route::from(route[..n].to_vec());
            let feature = match route[n - 1] {
                Component::Key(_) => tree.query_key_only(&prefix),
                Component::Index(_) => tree.query_pretty(&prefix),
            };
            feature.ok().map(|f| f.location.point_span.0.0)
        });
        if let Some(row) = row {
            finding.line = document.first_line + row;
        }
    }
}

/// `spec.strategy.canary.steps[0].setWeight` as the keys and indexes to walk.
fn route_of(field: &str) -> Vec<Component<'_>> {
    let mut route = Vec::new();
    for part in field.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            route.push(Component::from(key));
        }
        for index in indexes.split('[') {
            if let Some(i) = index.strip_suffix(']').and_then(|i| i.parse().ok()) {
                route.push(Component::Index(i));
            }
        }
    }
    route
}

/// The findings of one non-empty document, each on the object's `line`; `locate_fields` then
/// moves them to their fields.
fn lint_document(line: usize, value: &Value) -> Vec<Finding> {
    let Some(object) = value.as_object() else {
        return vec![Finding {
            line,
            object: None,
            field: String::new(),
            message: "not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
        }];
    };
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let argo = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("argoproj.io/"));
    let label = Some(format!("{kind} {name}"));
    let finding = |field: String, message: String| Finding {
        line,
        object: label.clone(),
        field,
        message,
    };
    match (argo, kind) {
        (true, "Rollout") => match serde_json::from_value::<Rollout>(value.clone()) {
            Ok(rollout) => {
                let mut findings = unknown_spec_fields(value, &rollout)
                    .into_iter()
                    .map(|field| finding(field, "unknown field".into()))
                    .collect::<Vec<_>>();
                findings.extend(
                    validate_rollout(&rollout)
                        .into_iter()
                        .map(|e| finding(e.field, e.message)),
                );
                findings
            }
            Err(e) => vec![finding(
                String::new(),
                format!("cannot be read as a Rollout: {e}"),
            )],
        },
        (true, "AnalysisTemplate" | "ClusterAnalysisTemplate") => {
            // A ClusterAnalysisTemplate has the same spec; only its scope differs.
            match serde_json::from_value::<AnalysisTemplate>(value.clone()) {
                Ok(template) => {
                    let mut findings = unknown_spec_fields(value, &template)
                        .into_iter()
                        .map(|field| finding(field, "unknown field".into()))
                        .collect::<Vec<_>>();
                    findings.extend(
                        template_errors(&template)
                            .into_iter()
                            .map(|(field, message)| finding(field, message)),
                    );
                    findings
                }
                Err(e) => vec![finding(
                    String::new(),
                    format!("cannot be read as an {kind}: {e}"),
                )],
            }
        }
        _ => Vec::new(),
    }
}

/// Fields under `spec` that parsing dropped: the type has no such field, so the controller would
/// silently ignore it (usually a typo such as `setWieght`).
fn unknown_spec_fields<T: serde::Serialize>(original: &Value, parsed: &T) -> Vec<String> {
    let parsed = serde_json::to_value(parsed).unwrap_or(Value::Null);
    let mut fields = Vec::new();
    if let (Some(original), Some(parsed)) = (original.get("spec"), parsed.get("spec")) {
        dropped(original, parsed, "spec", &mut fields);
    }
    fields
}

fn dropped(original: &Value, parsed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, parsed) {
        (Value::Object(original), Value::Object(parsed)) => {
            for (key, value) in original.iter().filter(|(_, v)| !v.is_null()) {
                let child = format!("{path}.{key}");
                match parsed.get(key) {
                    Some(parsed) => dropped(value, parsed, &child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(original), Value::Array(parsed)) => {
            for (i, (original, parsed)) in original.iter().zip(parsed).enumerate() {
                dropped(original, parsed, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Template checks: at least one metric (unless it only includes other templates), exactly one
/// provider per metric, then the analysis controller's own validation of the metrics.
fn template_errors(template: &AnalysisTemplate) -> Vec<(String, String)> {
    let spec = &template.spec;
    let includes = spec.templates.as_ref().is_some_and(|t| !t.is_empty());
    if spec.metrics.is_empty() {
        return if includes {
            Vec::new()
        } else {
            vec![(
                "spec.metrics".to_string(),
                "Required value: add at least one metric".to_string(),
            )]
        };
    }
    let mut errors = Vec::new();
    for (i, metric) in spec.metrics.iter().enumerate() {
        let providers =
            usize::from(metric.provider.prometheus.is_some()) + metric.provider.other.len();
        if providers == 0 {
            errors.push((
                format!("spec.metrics[{i}].provider"),
                "Required value: set a metric provider (provider.prometheus)".to_string(),
            ));
        } else if providers > 1 {
            errors.push((
                format!("spec.metrics[{i}].provider"),
                "Invalid value: set exactly one metric provider".to_string(),
            ));
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let name = template.metadata.name.clone().unwrap_or_default();
    let resolved = Resolved {
        metrics: spec
            .metrics
            .iter()
            .map(|m| (name.clone(), m.clone()))
            .collect(),
        args: spec
            .args
            .iter()
            .flatten()
            .map(|a| (name.clone(), a.clone()))
            .collect(),
        dry_run: spec.dry_run.clone().unwrap_or_default(),
        measurement_retention: spec.measurement_retention.clone().unwrap_or_default(),
    };
    match validate(&resolved, spec.args.as_deref().unwrap_or_default()) {
        Ok(()) => Vec::new(),
        Err(TemplateError::Metric {
            metric,
            field,
            message,
            ..
        }) => {
            let index = spec
                .metrics
                .iter()
                .position(|m| m.name == metric)
                .unwrap_or(0);
            vec![(format!("spec.metrics[{index}].{field}"), message)]
        }
        Err(TemplateError::Spec { field, message }) => vec![(format!("spec.{field}"), message)],
        Err(other) => vec![("spec".to_string(), other.to_string())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        lint_text(text)
            .findings
            .iter()
            .map(|f| format!("{}: {f}", f.line))
            .collect()
    }

    #[test]
    fn findings_carry_the_line_of_their_field() {
        let text = r#"apiVersion: v1
kind: Service
metadata: {name: web}
---
# the canary
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
  strategy:
    canary:
      steps:
      - setWieght: 20
      - setWeight: 120
"#;
        assert_eq!(
            lines(text),
            [
                "16: Rollout web: spec.strategy.canary.steps[0].setWieght: unknown field",
                // No spec.selector: the deepest part of the path there is, `spec`.
                "9: Rollout web: spec.selector: Required value: add spec.selector.matchLabels matching spec.template.metadata.labels",
                "16: Rollout web: spec.strategy.canary.steps[0]: Step must have one of the following set: setWeight, pause, analysis or setCanaryScale",
                "17: Rollout web: spec.strategy.canary.steps[1].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100",
            ]
        );
        assert_eq!(lint_text(text).objects, 2);
    }

    #[test]
    fn templates_need_a_metric_with_a_provider() {
        let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: empty}
spec: {metrics: []}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: no-provider}
spec:
  metrics: [{name: m, successCondition: "result[0] < 1"}]
"#;
        assert_eq!(
            lines(text),
            [
                "5: AnalysisTemplate empty: spec.metrics: Required value: add at least one metric",
                "11: AnalysisTemplate no-provider: spec.metrics[0].provider: Required value: set a metric provider (provider.prometheus)",
            ]
        );
    }

    #[test]
    fn json_manifests_get_lines_too() {
        let text = "{\"apiVersion\": \"argoproj.io/v1alpha1\", \"kind\": \"AnalysisTemplate\",\n \"metadata\": {\"name\": \"t\"},\n \"spec\": {\"metrics\": []}}\n";
        assert_eq!(
            lines(text),
            ["3: AnalysisTemplate t: spec.metrics: Required value: add at least one metric"]
        );
    }

    #[test]
    fn a_syntax_error_names_its_line_and_leaves_the_other_documents_checked() {
        let text = "a: 1\n---\nb: [\n---\nkind: Rollout\n---\n- x\n";
        let checked = lint_text(text);
        let found = lines(text);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("4: invalid YAML: did not find expected node content at line 4"),
            "{found:#?}"
        );
        assert_eq!(
            found[1],
            "7: not a Kubernetes object (expected a mapping with apiVersion and kind)"
        );
        // `kind: Rollout` without the Argo apiVersion is someone else's object: counted, fine.
        assert_eq!(checked.objects, 3);
    }

    #[test]
    fn documents_split_at_markers_with_their_first_line() {
        let cases: &[(&str, &[(usize, &str)])] = &[
            ("", &[(1, "")]),
            ("a: 1\n", &[(1, "a: 1\n")]),
            ("---\na: 1\n", &[(1, "---\na: 1\n")]),
            (
                "a: 1\n---\nb: 2\n--- # c\nc: 3\n---x: no\n",
                &[
                    (1, "a: 1\n"),
                    (2, "---\nb: 2\n"),
                    (4, "--- # c\nc: 3\n---x: no\n"),
                ],
            ),
            // CRLF files, and a trailing marker that starts an empty document.
            ("a: 1\r\n---\r\n", &[(1, "a: 1\r\n"), (2, "---\r\n")]),
            // Directives belong to the document their marker starts.
            (
                "a: 1\n...\n%YAML 1.1\n# x\n---\nb: 2\n",
                &[(1, "a: 1\n...\n"), (3, "%YAML 1.1\n# x\n---\nb: 2\n")],
            ),
        ];
        for (text, want) in cases {
            let got: Vec<(usize, &str)> = split_documents(text)
                .iter()
                .map(|d| (d.first_line, d.text))
                .collect();
            assert_eq!(&got, want, "{text:?}");
        }
    }

    #[test]
    fn an_object_starts_at_its_first_line_with_content() {
        let cases = [
            ("a: 1\n", 1, 1),
            ("# c\n\n---\n  # d\nkind: x\n", 10, 14),
            ("--- {a: 1}\n", 3, 3),
            ("--- # c\nkind: x\n", 3, 4),
            ("\u{feff}kind: x\n", 1, 1),
        ];
        for (text, first_line, want) in cases {
            let document = Document { text, first_line };
            assert_eq!(document.object_line(), want, "{text:?}");
        }
    }

    #[test]
    fn field_paths_become_routes() {
        let cases: &[(&str, &[Component])] = &[
            ("", &[]),
            ("spec", &[Component::Key("spec".into())]),
            (
                "spec.steps[0].setWeight",
                &[
                    Component::Key("spec".into()),
                    Component::Key("steps".into()),
                    Component::Index(0),
                    Component::Key("setWeight".into()),
                ],
            ),
            (
                "a[1][2]",
                &[
                    Component::Key("a".into()),
                    Component::Index(1),
                    Component::Index(2),
                ],
            ),
        ];
        for (field, want) in cases {
            assert_eq!(&route_of(field), want, "{field:?}");
        }
    }

    #[test]
    fn summary_counts_and_names_every_failing_file() {
        let cases = [
            (1, 1, vec![], "1 object in 1 file, 0 problems"),
            (2, 3, vec![], "3 objects in 2 files, 0 problems"),
            (
                3,
                5,
                vec![("a.yaml", 2), ("b/c.yml", 1)],
                "5 objects in 3 files, 3 problems: a.yaml (2), b/c.yml (1)",
            ),
        ];
        for (files, objects, failing, want) in cases {
            let summary = Summary {
                files,
                objects,
                failing: failing
                    .into_iter()
                    .map(|(f, n)| (f.to_string(), n))
                    .collect(),
            };
            assert_eq!(summary.to_string(), want);
        }
    }

    #[test]
    fn report_has_a_line_per_finding_or_the_summary() {
        let source = |name: &str, text: &str| Source {
            name: name.into(),
            text: text.into(),
        };
        let good = source("good.yaml", "kind: ConfigMap\n---\nkind: Service\n");
        let bad = source("STDIN", "\n- 1\n");
        assert_eq!(
            check(std::slice::from_ref(&good)),
            (
                "2 objects in 1 file, 0 problems\n".to_string(),
                Summary {
                    files: 1,
                    objects: 2,
                    failing: vec![]
                }
            )
        );
        let (report, summary) = check(&[good, bad]);
        assert_eq!(
            report,
            "STDIN:2: not a Kubernetes object (expected a mapping with apiVersion and kind)\n"
        );
        assert_eq!(summary.failing, [("STDIN".to_string(), 1)]);
    }

    #[test]
    fn standard_input_is_read_once() {
        let mut stdin = "a: 1\n".as_bytes();
        let sources = read_sources(&[PathBuf::from("-")], false, &mut stdin).unwrap();
        assert_eq!(
            sources,
            [Source {
                name: STDIN.into(),
                text: "a: 1\n".into()
            }]
        );
        let twice = read_sources(&[PathBuf::from("-"), PathBuf::from("-")], false, &mut stdin);
        assert!(
            matches!(twice, Err(CliError::Usage(ref m)) if m.contains("only once")),
            "{twice:?}"
        );
    }
}
