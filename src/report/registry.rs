//! Every report format behind one trait, and the one list of them: the
//! command line's `--format` values come from [`names`], the report
//! directory's files from [`registry`]. Adding a format is one file in
//! `report/` plus one line in [`registry`].

use super::{html, ipynb, json, junit, markdown};
use crate::document::Document;
use crate::record::RunRecord;

/// What a report may be asked to do differently.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// HTML: start with the step code hidden.
    pub hide_code: bool,
    /// The directory the reports are written to (`--report-dir`), as the
    /// run named it: HTML links to the logs are relative to it.
    pub report_dir: Option<std::path::PathBuf>,
}

/// A report rendered from the (redacted) record and the runbook's source.
pub trait Report: Sync {
    /// Its `--format` value.
    fn name(&self) -> &'static str;
    /// Its file name in a report directory, from the copy's stem.
    fn file_name(&self, stem: &str) -> String;
    fn render(&self, doc: &Document, record: &RunRecord, opts: &ReportOptions) -> String;
}

/// Every format, the annotated copy first.
pub fn registry() -> &'static [&'static dyn Report] {
    &[&Markdown, &Json, &Junit, &Html, &ipynb::Ipynb]
}

/// The `--format` values.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|r| r.name()).collect()
}

pub fn by_name(name: &str) -> Option<&'static dyn Report> {
    registry().iter().copied().find(|r| r.name() == name)
}

/// The name of the annotated copy's format: it is always written.
pub const COPY: &str = "md";

struct Markdown;
struct Json;
struct Junit;
struct Html;

impl Report for Markdown {
    fn name(&self) -> &'static str {
        COPY
    }
    fn file_name(&self, stem: &str) -> String {
        format!("{stem}.md")
    }
    fn render(&self, doc: &Document, record: &RunRecord, _: &ReportOptions) -> String {
        markdown::annotate(doc, record, &markdown::MarkdownOptions::default())
    }
}

impl Report for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn file_name(&self, stem: &str) -> String {
        format!("{stem}.json")
    }
    fn render(&self, _: &Document, record: &RunRecord, _: &ReportOptions) -> String {
        json::to_json(record)
    }
}

impl Report for Junit {
    fn name(&self) -> &'static str {
        "junit"
    }
    fn file_name(&self, stem: &str) -> String {
        format!("{stem}.junit.xml")
    }
    fn render(&self, _: &Document, record: &RunRecord, _: &ReportOptions) -> String {
        junit::to_junit(record)
    }
}

impl Report for Html {
    fn name(&self) -> &'static str {
        "html"
    }
    fn file_name(&self, stem: &str) -> String {
        format!("{stem}.html")
    }
    fn render(&self, doc: &Document, record: &RunRecord, opts: &ReportOptions) -> String {
        let opts = html::HtmlOptions {
            hide_code: opts.hide_code,
            report_dir: opts.report_dir.clone(),
        };
        html::to_html(doc, record, &opts)
    }
}
