//! What an on-call engineer looks at first: the step index at the top of
//! the page (symbol, name, status, duration, each linking to its card), the
//! first failed step linked from the header, and links to the full logs,
//! relative to the report's directory so they work wherever the report
//! directory is copied with its `logs/`.

use super::{esc, status_class};
use crate::duration::format_duration_ms;
use crate::record::{RunRecord, StepRecord};
use crate::report::status_symbol;
use std::fmt::Write as _;
use std::path::{Component, Path};

/// The card's anchor: `step-N`, N 1-based.
pub(super) fn anchor(step: &StepRecord) -> String {
    format!("step-{}", step.index + 1)
}

/// The first step that failed the run, if one did.
pub(super) fn first_failure(rec: &RunRecord) -> Option<&StepRecord> {
    rec.steps.iter().find(|s| s.status.is_failure())
}

/// `Failed: step 3 “restart” (line 24)`, linking to its card.
pub(super) fn failed_link(rec: &RunRecord) -> Option<String> {
    let step = first_failure(rec)?;
    Some(format!(
        "<p class=\"failed-at\">Failed: <a href=\"#{}\">step {} “{}”</a> (line {}, {})</p>",
        anchor(step),
        step.index + 1,
        esc(&step.name),
        step.line,
        esc(step.status.as_str())
    ))
}

/// The table of steps, one row each, in run order.
pub(super) fn step_index(rec: &RunRecord) -> String {
    let mut h = String::from(
        "<nav class=\"index\" aria-label=\"Steps\">\n<table>\n<thead><tr><th>#</th><th>Step</th><th>Status</th><th>Duration</th><th>Target</th></tr></thead>\n<tbody>\n",
    );
    for step in &rec.steps {
        let _ = writeln!(
            h,
            "<tr class=\"{class}\"><td>{n}</td><td><a href=\"#{a}\"><span class=\"sym\">{sym}</span> {name}</a></td><td>{status}</td><td>{dur}</td><td>{target}</td></tr>",
            class = status_class(step.status),
            n = step.index + 1,
            a = anchor(step),
            sym = status_symbol(step.status),
            name = esc(&step.name),
            status = esc(step.status.as_str()),
            dur = step
                .duration_ms
                .map(format_duration_ms)
                .unwrap_or_else(|| "—".into()),
            target = esc(&step.target),
        );
    }
    h.push_str("</tbody>\n</table>\n</nav>\n");
    h
}

/// The `href` of a log: relative to `base` (the report's directory, as the
/// run named it) when both are relative or both absolute, else the path as
/// recorded. Percent-encoded, `:` included, so no path can become a scheme.
pub(super) fn log_href(log: &str, base: Option<&Path>) -> String {
    let rel = base.and_then(|b| relative_to(Path::new(log), b));
    let path = rel.unwrap_or_else(|| log.to_string());
    percent_encode(&path)
}

/// `path` as seen from the directory `base`, lexically (nothing on disk is
/// read); `None` when that cannot be told from the names alone.
fn relative_to(path: &Path, base: &Path) -> Option<String> {
    if path.is_absolute() != base.is_absolute() {
        return None;
    }
    let parts = |p: &Path| -> Vec<String> {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect()
    };
    let (p, b) = (parts(path), parts(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if b[common..].iter().any(|c| c == "..") || p[common..].is_empty() {
        return None;
    }
    let mut out: Vec<String> = vec!["..".into(); b.len() - common];
    out.extend(p[common..].iter().cloned());
    Some(out.join("/"))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_links_are_relative_to_the_report_directory() {
        let href = |log: &str, base: Option<&str>| log_href(log, base.map(Path::new));
        assert_eq!(href("reports/logs/a.log", Some("reports")), "logs/a.log");
        assert_eq!(href("./reports/logs/a.log", Some("reports/")), "logs/a.log");
        assert_eq!(href("logs/a.log", Some(".")), "logs/a.log");
        assert_eq!(href("/srv/r/logs/a.log", Some("/srv/r")), "logs/a.log");
        assert_eq!(href("/srv/logs/a.log", Some("/srv/r")), "../logs/a.log");
        assert_eq!(href("x.md.logs/a b#1.log", None), "x.md.logs/a%20b%231.log");
        // Mixed or unresolvable: the path as recorded.
        assert_eq!(href("/abs/a.log", Some("rel")), "/abs/a.log");
        assert_eq!(href("a.log", Some("../up")), "a.log");
        // No scheme can get in.
        assert_eq!(
            href("javascript:alert(1)", None),
            "javascript%3Aalert%281%29"
        );
        assert_eq!(href("r/\"><x", Some("r")), "%22%3E%3Cx");
    }
}
