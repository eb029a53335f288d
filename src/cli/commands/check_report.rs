//! `runbook check`: validates runbooks without running anything, for CI on
//! every merge request that touches them. This is the front end only: it
//! collects the files, parses each and hands it to [`crate::analyze`] (the
//! only validator, the same rules `run` applies), then renders what it found.
//! Every problem comes at once, each with `file:line:col`, the source line
//! and a caret.
//!
//! Output comes in three forms from the same [`CheckReport`]: human text,
//! JSON, and JUnit XML for GitLab's test report widget.

use crate::document::{self, Diagnostic, Severity};
use crate::report::junit;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Warnings fail the check too.
    pub strict: bool,
    /// Also evaluate `requires:` (the caller runs the preconditions evaluator).
    pub preconditions: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub files: Vec<FileReport>,
    /// Whether warnings count as failures (`--strict`).
    pub strict: bool,
    /// Directories a walk did not enter (hidden ones, `target`,
    /// `node_modules`): said, never silent. Named explicitly, they are.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Number of executable steps found (0 when the file did not parse).
    pub steps: usize,
    /// `--preconditions`: where each remote step will run (its blast radius).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<StepHosts>,
}

/// One remote step's blast radius, as `check --preconditions` resolved it.
#[derive(Debug, Clone, Serialize)]
pub struct StepHosts {
    pub step: String,
    pub line: usize,
    /// `web: 3 hosts (web[0], web[1], web[2])`, or why it is not known.
    pub summary: String,
    /// The resolved targets; absent when they depend on a result.
    pub targets: Option<Vec<String>>,
}

impl FileReport {
    pub fn errors(&self) -> usize {
        count(&self.diagnostics, Severity::Error)
    }
    pub fn warnings(&self) -> usize {
        count(&self.diagnostics, Severity::Warning)
    }
    /// Whether this file fails the check.
    pub fn failed(&self, strict: bool) -> bool {
        self.errors() > 0 || (strict && self.warnings() > 0)
    }
}

fn count(d: &[Diagnostic], s: Severity) -> usize {
    d.iter().filter(|d| d.severity == s).count()
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.files.iter().map(FileReport::errors).sum()
    }
    pub fn warnings(&self) -> usize {
        self.files.iter().map(FileReport::warnings).sum()
    }
    /// 0 when clean; 2 (invalid runbook) on any error, or any warning with
    /// `strict`.
    pub fn exit_code(&self) -> i32 {
        if self.files.iter().any(|f| f.failed(self.strict)) {
            crate::error::exit::INVALID
        } else {
            crate::error::exit::OK
        }
    }
}

/// Checks files and directories (recursively, `*.md` files only, skipping
/// hidden directories, `target/` and `node_modules/`, which the report
/// names). A directory or file named explicitly is checked
/// whatever its extension. A directory that cannot be read is reported (an
/// error), not skipped: a green check must mean every runbook was checked.
pub fn check_paths(paths: &[PathBuf], opts: &CheckOptions) -> CheckReport {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            collect_markdown(p, &mut found, &mut skipped);
            found.sort();
            files.extend(found);
        } else {
            files.push((p.clone(), None));
        }
    }
    let files = files
        .iter()
        .map(|(path, unreadable)| match unreadable {
            None => check_file(path),
            Some(e) => FileReport {
                path: path.display().to_string(),
                diagnostics: vec![file_diagnostic(
                    path,
                    format!("cannot read directory {}: {e}", path.display()),
                )],
                steps: 0,
                hosts: Vec::new(),
            },
        })
        .collect();
    skipped.sort();
    CheckReport {
        files,
        strict: opts.strict,
        skipped,
    }
}

/// The `*.md` files under `dir`, each with `None`; a directory that cannot
/// be listed comes with its error instead.
fn collect_markdown(
    dir: &Path,
    out: &mut Vec<(PathBuf, Option<String>)>,
    skipped: &mut Vec<String>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.push((dir.to_path_buf(), Some(e.to_string())));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                skipped.push(path.display().to_string());
                continue;
            }
            collect_markdown(&path, out, skipped);
        } else if name.ends_with(".md") && !name.starts_with('.') {
            out.push((path, None));
        }
    }
}

/// Reads and checks one file.
pub fn check_file(path: &Path) -> FileReport {
    match crate::input::read_to_string(path) {
        Ok(text) => check_text(path, &document::splice::strip(&text)),
        Err(e) => FileReport {
            path: path.display().to_string(),
            diagnostics: vec![file_diagnostic(
                path,
                format!("cannot read {}: {e}", path.display()),
            )],
            steps: 0,
            hosts: Vec::new(),
        },
    }
}

/// Checks a runbook given as text (generated blocks already stripped).
pub fn check_text(path: &Path, text: &str) -> FileReport {
    let loaded = crate::analyze::load(path, text.to_string());
    FileReport {
        path: path.display().to_string(),
        steps: loaded.doc.steps.len(),
        diagnostics: loaded.diagnostics,
        hosts: Vec::new(),
    }
}

/// A diagnostic about a file as a whole (it could not be read).
fn file_diagnostic(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        message,
        path: path.display().to_string(),
        line: 1,
        col: 1,
        width: 1,
        source_line: String::new(),
        excerpt_col: 1,
    }
}

// ---------------------------------------------------------------- renderers

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Human output: each diagnostic like rustc (message, `--> file:line:col`,
/// the line and a caret), then `N files checked: E errors, W warnings`.
pub fn render_human(report: &CheckReport, color: bool) -> String {
    let mut out = String::new();
    for f in &report.files {
        for d in &f.diagnostics {
            render_diagnostic(&mut out, d, color);
            out.push_str("\n\n");
        }
        for h in &f.hosts {
            let _ = writeln!(
                out,
                "{}:{}: step `{}` runs on {}",
                f.path, h.line, h.step, h.summary
            );
        }
    }
    if let Some(note) = skipped_note(&report.skipped) {
        let _ = writeln!(out, "{note}");
    }
    let files = report.files.len();
    let (e, w) = (report.errors(), report.warnings());
    let summary = format!(
        "{files} {} checked: {e} {}, {w} {}",
        plural(files, "file", "files"),
        plural(e, "error", "errors"),
        plural(w, "warning", "warnings"),
    );
    if color {
        let c = if e > 0 {
            RED
        } else if w > 0 {
            YELLOW
        } else {
            BOLD
        };
        let _ = writeln!(out, "{c}{summary}{RESET}");
    } else {
        let _ = writeln!(out, "{summary}");
    }
    out
}

/// Directories named in the note before the more are counted.
const MAX_SKIPPED_SHOWN: usize = 10;

/// `note: not checked: DIR, DIR (...)`: what the walk skipped.
fn skipped_note(skipped: &[String]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let mut shown = skipped
        .iter()
        .take(MAX_SKIPPED_SHOWN)
        .map(|s| format!("{s}/"))
        .collect::<Vec<_>>()
        .join(", ");
    if skipped.len() > MAX_SKIPPED_SHOWN {
        let _ = write!(shown, " and {} more", skipped.len() - MAX_SKIPPED_SHOWN);
    }
    Some(format!(
        "note: not checked (hidden, `target` or `node_modules` directories; name one to check it): {shown}"
    ))
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

fn render_diagnostic(out: &mut String, d: &Diagnostic, color: bool) {
    if !color {
        if d.source_line.is_empty() && d.line == 1 && d.col == 1 {
            // About the file as a whole: no line to show.
            let _ = write!(
                out,
                "{}: {}\n --> {}",
                severity_word(d.severity),
                d.message,
                d.path
            );
        } else {
            let _ = write!(out, "{d}");
        }
        return;
    }
    let (label, c) = match d.severity {
        Severity::Error => ("error", RED),
        Severity::Warning => ("warning", YELLOW),
    };
    let num = d.line.to_string();
    let pad = " ".repeat(num.len());
    let _ = writeln!(out, "{c}{label}{RESET}{BOLD}: {}{RESET}", d.message);
    if d.source_line.is_empty() && d.line == 1 && d.col == 1 {
        let _ = write!(out, "{pad}{BLUE}-->{RESET} {}", d.path);
        return;
    }
    let _ = writeln!(out, "{pad}{BLUE}-->{RESET} {}:{}:{}", d.path, d.line, d.col);
    let _ = writeln!(out, "{pad} {BLUE}|{RESET}");
    let _ = writeln!(out, "{BLUE}{num} |{RESET} {}", d.source_line);
    let lead: String = d
        .source_line
        .bytes()
        .take(d.excerpt_col.saturating_sub(1))
        .map(|b| if b == b'\t' { '\t' } else { ' ' })
        .collect();
    let _ = write!(
        out,
        "{pad} {BLUE}|{RESET} {lead}{c}{}{RESET}",
        "^".repeat(d.width.max(1))
    );
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Machine-readable output: every file with its diagnostics, and totals.
pub fn render_json(report: &CheckReport) -> String {
    let v = serde_json::json!({
        "files": report.files,
        "errors": report.errors(),
        "warnings": report.warnings(),
        "strict": report.strict,
        "skipped": report.skipped,
        "ok": report.exit_code() == 0,
    });
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".to_string())
}

/// JUnit XML for GitLab's test report: one `testcase` per runbook; a
/// `failure` lists its diagnostics when it fails the check, warnings that do
/// not fail it go to `system-out`.
pub fn render_junit(report: &CheckReport) -> String {
    let tests = report.files.len();
    let failures = report
        .files
        .iter()
        .filter(|f| f.failed(report.strict))
        .count();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"runbook check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"runbook check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">"
    );
    for f in &report.files {
        let path = junit::attr(&f.path);
        let _ = write!(
            x,
            "    <testcase classname=\"runbook check\" name=\"{path}\" file=\"{path}\""
        );
        let text = f
            .diagnostics
            .iter()
            .map(|d| {
                let mut s = String::new();
                render_diagnostic(&mut s, d, false);
                s
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        if f.diagnostics.is_empty() {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        let (e, w) = (f.errors(), f.warnings());
        let message = format!(
            "{e} {}, {w} {}",
            plural(e, "error", "errors"),
            plural(w, "warning", "warnings")
        );
        if f.failed(report.strict) {
            let first = f
                .diagnostics
                .iter()
                .find(|d| d.severity == Severity::Error)
                .or(f.diagnostics.first())
                .map(|d| format!(": {}", d.short()))
                .unwrap_or_default();
            let _ = writeln!(
                x,
                "      <failure type=\"runbook check\" message=\"{}\">{}</failure>",
                junit::attr(&format!("{message}{first}")),
                junit::text(&text)
            );
        } else {
            let _ = writeln!(x, "      <system-out>{}</system-out>", junit::text(&text));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    //! The report, its exit code and its three renderings, over a
    //! hand-built document analyzed by every rule.
    use super::*;
    use crate::analyze::diagnostics;
    use crate::analyze::testdoc::{doc, named};

    fn report(strict: bool) -> CheckReport {
        let d = doc(
            "---\nparams:\n  a: { required: true, default: 1 }\n---\n```bash {name=x}\necho {{ params.b }} <&>\n```\n",
            |_| named("x"),
        );
        CheckReport {
            files: vec![
                FileReport {
                    path: "runbooks/bad.md".into(),
                    diagnostics: diagnostics(&d),
                    steps: 1,
                    hosts: Vec::new(),
                },
                FileReport {
                    path: "runbooks/good.md".into(),
                    diagnostics: vec![],
                    steps: 3,
                    hosts: Vec::new(),
                },
            ],
            strict,
            skipped: vec![],
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(report(false).exit_code(), 2);
        let mut only_warn = report(false);
        only_warn.files[0]
            .diagnostics
            .retain(|d| d.severity == Severity::Warning);
        assert_eq!(only_warn.exit_code(), 0);
        only_warn.strict = true;
        assert_eq!(only_warn.exit_code(), 2);
        assert_eq!(CheckReport::default().exit_code(), 0);
    }

    #[test]
    fn human_output() {
        let out = render_human(&report(false), false);
        assert!(
            out.ends_with("2 files checked: 1 error, 1 warning\n"),
            "{out}"
        );
        assert!(out.contains(" --> rb.md:6:9\n"), "{out}");
        let colored = render_human(&report(false), true);
        assert!(colored.contains("\x1b[1;31merror\x1b[0m"), "{colored}");
        assert!(colored.contains("\x1b[1;33mwarning\x1b[0m"), "{colored}");
    }

    #[test]
    fn junit_output() {
        let x = render_junit(&report(false));
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"runbook check\" tests=\"2\" failures=\"1\" errors=\"0\">\n"), "{x}");
        assert!(x.contains("<testcase classname=\"runbook check\" name=\"runbooks/bad.md\" file=\"runbooks/bad.md\">\n      <failure type=\"runbook check\" message=\"1 error, 1 warning: rb.md:6:9: error: undefined param `b`: not declared under `params:` in the front matter\">"), "{x}");
        assert!(x.contains("echo {{ params.b }} &lt;&amp;&gt;"), "{x}");
        assert!(x.contains("<testcase classname=\"runbook check\" name=\"runbooks/good.md\" file=\"runbooks/good.md\"/>\n"), "{x}");
        let mut warn_only = report(false);
        warn_only.files[0]
            .diagnostics
            .retain(|d| d.severity == Severity::Warning);
        let x = render_junit(&warn_only);
        assert!(x.contains("failures=\"0\""), "{x}");
        assert!(x.contains("<system-out>warning: param `a`"), "{x}");
        warn_only.strict = true;
        assert!(render_junit(&warn_only).contains("<failure type=\"runbook check\" message=\"0 errors, 1 warning: rb.md:3:24: warning: param `a`"));
    }

    #[test]
    fn json_output() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&report(false))).expect("json");
        assert_eq!(v["errors"], 1);
        assert_eq!(v["warnings"], 1);
        assert_eq!(v["ok"], false);
        assert_eq!(v["files"][0]["path"], "runbooks/bad.md");
        assert_eq!(v["files"][0]["diagnostics"][1]["severity"], "error");
        assert_eq!(v["files"][0]["diagnostics"][1]["line"], 6);
        assert_eq!(v["files"][1]["steps"], 3);
    }

    #[test]
    fn skipped_directories_are_named() {
        assert_eq!(skipped_note(&[]), None);
        let many: Vec<String> = (0..12).map(|i| format!("d/.h{i}")).collect();
        assert_eq!(
            skipped_note(&many[..2]).as_deref(),
            Some(
                "note: not checked (hidden, `target` or `node_modules` directories; name one to check it): d/.h0/, d/.h1/"
            )
        );
        assert!(skipped_note(&many).unwrap().ends_with("d/.h9/ and 2 more"));
    }

    #[test]
    fn an_unreadable_directory_is_reported_not_skipped() {
        let mut found = Vec::new();
        collect_markdown(Path::new("/nonexistent/runbooks"), &mut found, &mut vec![]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Path::new("/nonexistent/runbooks"));
        assert!(found[0].1.is_some());
    }
}
