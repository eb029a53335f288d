//! The YAML front matter: metadata, params, secrets, preconditions, hosts
//! and defaults. Parsed with serde-saphyr (serde_yaml is deprecated and
//! archived). Keys runbook does not know are warnings (static-site and
//! Runme keys not even that); near-misses of its own keys are errors; every
//! problem has its position in the `.md` file, not in the extracted YAML.

use super::diagnostic::Diagnostic;
use super::source::{Source, Span};
use crate::inventory_spec::HostSpec;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_saphyr::MessageFormatter;

/// Where the front matter sits in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontBlock {
    /// Both delimiter lines included, and the closing line's ending.
    pub span: Span,
    /// The YAML between the delimiter lines.
    pub yaml: Span,
    /// 1-based line of the opening `---`.
    pub line: usize,
}

/// Line starts/ends (end excludes the line ending) and the end including it.
fn next_line(text: &str, start: usize) -> (usize, usize) {
    let rest = &text[start..];
    match rest.find('\n') {
        Some(i) => {
            let content_end = if i > 0 && rest.as_bytes()[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            (start + content_end, start + i + 1)
        }
        None => (text.len(), text.len()),
    }
}

/// Finds the front matter: the document starts with a `---` line (after an
/// optional byte order mark) and it ends at the next `---` or `...` line.
/// An opening line with no closing one is an error.
pub fn locate(src: &Source) -> Result<Option<FrontBlock>, Diagnostic> {
    let text = src.text.as_str();
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let (first_end, mut pos) = next_line(text, start);
    if text[start..first_end].trim_end_matches([' ', '\t']) != "---" {
        return Ok(None);
    }
    let yaml_start = pos;
    while pos < text.len() {
        let (end, next) = next_line(text, pos);
        let line = text[pos..end].trim_end_matches([' ', '\t']);
        if line == "---" || line == "..." {
            return Ok(Some(FrontBlock {
                span: Span::new(0, next),
                yaml: Span::new(yaml_start, pos),
                line: 1,
            }));
        }
        pos = next;
    }
    Err(Diagnostic::at(
        src,
        start,
        start + 3,
        "unclosed front matter: expected a closing `---` line",
    ))
}

/// Top-level keys `runbook` reads.
pub const OWN_KEYS: &[&str] = &[
    "title",
    "owner",
    "description",
    "tags",
    "params",
    "secrets",
    "requires",
    "hosts",
    "shell",
    "shell_options",
    "timeout",
    "confirm",
    "interactive",
    "max_output_lines",
    "max_hosts",
    "cwd",
    "skipPrompts",
    "phases",
];

/// Keys other tools write that `runbook` knows and ignores without a word:
/// static-site generators (Hugo, Docusaurus, Jekyll, MkDocs) and Runme's
/// keys it has no use for.
pub const FOREIGN_KEYS: &[&str] = &[
    // Runme
    "runme",
    "terminalRows",
    "category",
    "tag",
    // Hugo, Hugo Book, Docsy
    "weight",
    "bookCollapseSection",
    "bookHidden",
    "bookFlatSection",
    "bookToc",
    "bookComments",
    "bookSearchExclude",
    "type",
    "menu",
    "date",
    "lastmod",
    "publishDate",
    "expiryDate",
    "draft",
    "slug",
    "aliases",
    "url",
    "layout",
    "linkTitle",
    "summary",
    "keywords",
    "categories",
    "series",
    "toc",
    "author",
    "authors",
    "images",
    "markup",
    "outputs",
    "params_hugo",
    "cascade",
    "headless",
    "resources",
    "translationKey",
    "no_list",
    "hide_summary",
    // Docusaurus, MkDocs, Jekyll
    "id",
    "sidebar_position",
    "sidebar_label",
    "sidebar_class_name",
    "sidebar_custom_props",
    "displayed_sidebar",
    "hide_title",
    "hide_table_of_contents",
    "toc_min_heading_level",
    "toc_max_heading_level",
    "pagination_label",
    "pagination_next",
    "pagination_prev",
    "custom_edit_url",
    "parse_number_prefixes",
    "image",
    "unlisted",
    "last_update",
    "permalink",
    "nav_order",
    "parent",
    "grand_parent",
    "has_children",
    "nav_exclude",
    "search_exclude",
    "hide",
    "template",
    "status",
    "version",
    "lang",
    // VuePress, Astro Starlight, MkDocs Material
    "order",
    "index",
    "icon",
    "sidebar",
    "prev",
    "next",
    "comments",
    "excerpt",
    "published",
    "hero",
    "head",
];

/// Unknown keys warned about one by one; the rest are counted.
const MAX_UNKNOWN_WARNINGS: usize = 20;

/// One top-level entry of the front matter: its key and the byte range of
/// its lines in the file.
struct Entry {
    key: String,
    span: Span,
}

/// The key of a top-level `key:` line, or `None` for a continuation line
/// (indented, a comment, a sequence item, blank).
fn top_level_key(line: &str) -> Option<String> {
    let first = line.chars().next()?;
    if first.is_whitespace() || "#-[]{},?".contains(first) {
        return None;
    }
    let (key, rest) = if first == '"' || first == '\'' {
        let end = line[1..].find(first)? + 1;
        (line[1..end].to_string(), &line[end + 1..])
    } else {
        let colon = line.find(": ").or_else(|| {
            let t = line.trim_end();
            t.ends_with(':').then(|| t.len() - 1)
        })?;
        (line[..colon].trim_end().to_string(), &line[colon..])
    };
    rest.trim_start().starts_with(':').then_some(key)
}

/// The front matter's top-level entries, or `None` when it is not a plain
/// block mapping (a flow mapping, a complex key).
fn entries(src: &Source, yaml: Span) -> Option<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    let mut pos = yaml.start;
    for line in src.text[yaml.start..yaml.end].split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        match top_level_key(content) {
            Some(key) => out.push(Entry {
                key,
                span: Span::new(pos, pos + line.len()),
            }),
            None => {
                let blank = content.trim().is_empty() || content.trim_start().starts_with('#');
                match out.last_mut() {
                    Some(last) => last.span.end = pos + line.len(),
                    None if blank => {}
                    None => return None,
                }
            }
        }
        pos += line.len();
    }
    Some(out)
}

/// A serde-saphyr error in YAML that starts at byte `base` of the file,
/// pointed at its exact line and column in the Markdown file.
fn yaml_diagnostic(
    src: &Source,
    e: &serde_saphyr::Error,
    base: usize,
    fallback: Span,
) -> Diagnostic {
    let e = e.without_snippet();
    let message = serde_saphyr::UserMessageFormatter.format_message(e);
    let message = format!("front matter: {}", message.trim());
    let (yaml_line, _) = src.line_col(base);
    match e.location() {
        Some(loc) if loc.line() > 0 => {
            let line = yaml_line + (loc.line() as usize) - 1;
            // saphyr counts columns in characters; diagnostics use bytes.
            let text = src.line_text(line);
            let chars = (loc.column() as usize).saturating_sub(1);
            let col = text
                .char_indices()
                .nth(chars)
                .map(|(i, _)| i)
                .unwrap_or(text.len())
                + 1;
            let start = src.offset(line, col);
            let width = text[col - 1..]
                .find([' ', ':', '\t', ',', ']', '}'])
                .unwrap_or(text.len() - (col - 1))
                .max(1);
            Diagnostic::at(src, start, start + width, message)
        }
        _ => Diagnostic::at(src, fallback.start, fallback.start + 3, message),
    }
}

/// The names under a `params:`/`secrets:`/`hosts:` entry that did not
/// parse, so the body's references to them are not reported as unknown too.
#[derive(Deserialize)]
struct Names {
    #[serde(default)]
    params: IndexMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    secrets: IndexMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    hosts: IndexMap<String, serde::de::IgnoredAny>,
}

/// The runbook key an unknown top-level key is a near-miss of (edit
/// distance at most 2, case ignored; at most 1 for keys of 4 characters or
/// fewer), if any: then it is an error, else somebody else's (a warning).
fn near_miss(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    OWN_KEYS
        .iter()
        .copied()
        // Cheap first: no edit distance ≤ 2 between lengths 3 apart.
        .filter(|k| k.len().abs_diff(lower.len()) <= 2)
        .map(|k| {
            (
                crate::document::attrs::distance(&lower, &k.to_ascii_lowercase()),
                k,
            )
        })
        // Short keys are close to everything: `time` is not `title`.
        .filter(|(d, _)| *d <= if lower.len() <= 4 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Parses the YAML of the front matter. Every problem comes back at once
/// (errors and warnings) with what could be parsed: each top-level entry is
/// read on its own, so a bad `params:` does not hide a near-miss `titel:`.
/// Errors point at the exact line and column in the Markdown file.
pub fn parse_front(src: &Source, block: &FrontBlock) -> (FrontMatter, Vec<Diagnostic>) {
    let yaml = &src.text[block.yaml.start..block.yaml.end];
    if yaml
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return (FrontMatter::default(), Vec::new());
    }
    let base = block.yaml.start;
    // The YAML itself first: a syntax error leaves nothing to read.
    if let Err(e) = serde_saphyr::from_str::<IndexMap<String, serde::de::IgnoredAny>>(yaml) {
        return (
            FrontMatter::default(),
            vec![yaml_diagnostic(src, &e, base, block.span)],
        );
    }
    let Some(entries) = entries(src, block.yaml) else {
        return match serde_saphyr::from_str::<FrontMatter>(yaml) {
            Ok(f) => (f, Vec::new()),
            Err(e) => (
                FrontMatter::default(),
                vec![yaml_diagnostic(src, &e, base, block.span)],
            ),
        };
    };
    let mut out = Vec::new();
    let mut good = String::new();
    let mut names = String::new();
    let mut unknown = 0usize;
    for entry in &entries {
        let text = &src.text[entry.span.start..entry.span.end];
        let key_span = Span::new(entry.span.start, entry.span.start + entry.key.len().max(1));
        if OWN_KEYS.contains(&entry.key.as_str()) {
            match serde_saphyr::from_str::<FrontMatter>(text) {
                Ok(_) => push_line(&mut good, text),
                Err(e) => {
                    out.push(yaml_diagnostic(src, &e, entry.span.start, key_span));
                    if matches!(entry.key.as_str(), "params" | "secrets" | "hosts") {
                        push_line(&mut names, text);
                    }
                }
            }
        } else if FOREIGN_KEYS.contains(&entry.key.as_str()) {
            // Another tool's (a static site's, Runme's): not a word.
        } else if let Some(own) = near_miss(&entry.key) {
            out.push(Diagnostic::at(
                src,
                key_span.start,
                key_span.end,
                format!(
                    "front matter: unknown key `{}` (did you mean `{own}`?)",
                    entry.key
                ),
            ));
        } else {
            unknown += 1;
            if unknown <= MAX_UNKNOWN_WARNINGS {
                let message = format!(
                    "front matter: `{}` is not a runbook key; it is ignored",
                    entry.key
                );
                out.push(Diagnostic::at(src, key_span.start, key_span.end, message).warning());
            } else if unknown == MAX_UNKNOWN_WARNINGS + 1 {
                out.push(Diagnostic::at(src, key_span.start, key_span.end, "").warning());
            }
        }
    }
    if unknown > MAX_UNKNOWN_WARNINGS {
        let more = unknown - MAX_UNKNOWN_WARNINGS;
        if let Some(d) = out.iter_mut().rev().find(|d| d.message.is_empty()) {
            d.message = format!(
                "front matter: {more} more key{} runbook does not know not shown; they are ignored",
                if more == 1 { "" } else { "s" }
            );
        }
    }
    let mut front = match serde_saphyr::from_str::<FrontMatter>(&good) {
        Ok(f) => f,
        Err(e) => {
            out.push(yaml_diagnostic(src, &e, base, block.span));
            FrontMatter::default()
        }
    };
    if let Ok(n) = serde_saphyr::from_str::<Names>(&names) {
        for p in n.params.into_keys() {
            front.params.entry(p).or_default();
        }
        for s in n.secrets.into_keys() {
            let spec = SecretSpec {
                env: Some(s.clone()),
                ..SecretSpec::default()
            };
            front.secrets.entry(s).or_insert(spec);
        }
        for h in n.hosts.into_keys() {
            front.hosts.entry(h).or_default();
        }
    }
    (front, out)
}

/// Appends a YAML entry, ending it with a line break.
fn push_line(out: &mut String, text: &str) {
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

/// Unknown keys are not refused here: [`parse_front`] reads each top-level
/// entry on its own and decides (warning, near-miss error) by name.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
    /// Strings; Docusaurus' `{label: …}` objects and a single word are
    /// read too (the front matter is often the site's).
    #[serde(default, deserialize_with = "lenient_tags")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub params: IndexMap<String, ParamSpec>,
    #[serde(default)]
    pub secrets: IndexMap<String, SecretSpec>,
    #[serde(default)]
    pub requires: Requires,
    #[serde(default)]
    pub hosts: IndexMap<String, HostSpec>,
    /// Default shell for `shell`/`sh`-less blocks, e.g. `bash`.
    pub shell: Option<String>,
    /// Prelude for bash steps; default `set -eo pipefail`.
    pub shell_options: Option<String>,
    /// Default step timeout, e.g. `5m`.
    pub timeout: Option<String>,
    /// `confirm: all` gates every step; `true` is the same.
    pub confirm: Option<ConfirmDefault>,
    /// `interactive: false` marks a runbook meant for pipelines: gates are
    /// then an error in `runbook check`.
    pub interactive: Option<bool>,
    /// Lines of output kept in the annotated copy (head + tail).
    pub max_output_lines: Option<usize>,
    /// The most hosts any step may run on, unless the step sets its own
    /// `max_hosts` or the run `--allow-hosts`.
    pub max_hosts: Option<usize>,
    /// Runme's `cwd`: the working directory local steps start in, relative
    /// to the document's directory.
    pub cwd: Option<String>,
    /// Runme's `skipPrompts`: skips Runme's input prompts only; never a
    /// confirmation gate of runbook.
    #[serde(rename = "skipPrompts")]
    pub skip_prompts: Option<bool>,
    /// The incident label of each phase (`mitigated: "CWF::Incident::Mitigated"`),
    /// for `run --publish`; a phase not named here keeps its default label.
    /// Checked by `analyze`.
    #[serde(default)]
    pub phases: IndexMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TagsRaw {
    One(String),
    Many(Vec<TagRaw>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TagRaw {
    Word(String),
    Labelled { label: String },
    Other(serde::de::IgnoredAny),
}

fn lenient_tags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<TagsRaw>::deserialize(d)? {
        None => Vec::new(),
        Some(TagsRaw::One(t)) => vec![t],
        Some(TagsRaw::Many(v)) => v
            .into_iter()
            .filter_map(|t| match t {
                TagRaw::Word(w) | TagRaw::Labelled { label: w } => Some(w),
                TagRaw::Other(_) => None,
            })
            .collect(),
    })
}

/// `confirm:` in the front matter: a closed set (`all`, `true`, `false`).
/// Any other word is an error: a typo in a safety setting must never turn
/// every gate off silently.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged, try_from = "ConfirmRaw")]
pub enum ConfirmDefault {
    Bool(bool),
    /// Only `all`.
    Word(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConfirmRaw {
    Bool(bool),
    Word(String),
}

impl TryFrom<ConfirmRaw> for ConfirmDefault {
    type Error = String;
    fn try_from(raw: ConfirmRaw) -> Result<Self, String> {
        match raw {
            ConfirmRaw::Bool(b) => Ok(ConfirmDefault::Bool(b)),
            ConfirmRaw::Word(w) if w == "all" => Ok(ConfirmDefault::Word(w)),
            ConfirmRaw::Word(w) => {
                let lower = w.to_ascii_lowercase();
                let hint = ["all", "true", "false"]
                    .into_iter()
                    .find(|k| lower == *k || crate::document::attrs::distance(&lower, k) <= 2);
                let hint = hint
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                Err(format!(
                    "invalid value `{w}` for `confirm`: expected `all`, `true` or `false`{hint}"
                ))
            }
        }
    }
}

impl ConfirmDefault {
    pub fn gates_all(&self) -> bool {
        match self {
            ConfirmDefault::Bool(b) => *b,
            ConfirmDefault::Word(w) => w == "all",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    pub choices: Option<Vec<serde_json::Value>>,
    pub description: Option<String>,
    /// Filled from the alert that drove the run (`--alert`), e.g.
    /// `labels.instance`; `-p` and the params file win. Checked by `analyze`.
    pub from_alert: Option<String>,
}

/// Where a secret comes from. Exactly one source.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub env: Option<String>,
    pub file: Option<String>,
    pub command: Option<String>,
    /// An item of the OS keyring (Secret Service on Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<super::KeyringRef>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub http: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub check: Vec<String>,
}

impl Requires {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
            && self.env.is_empty()
            && self.files.is_empty()
            && self.http.is_empty()
            && self.hosts.is_empty()
            && self.check.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front_err(text: &str) -> String {
        let src = Source::new("rb.md", text.to_string());
        let block = match locate(&src) {
            Ok(Some(b)) => b,
            Ok(None) => panic!("no front matter"),
            Err(d) => return d.to_string(),
        };
        let (_, problems) = parse_front(&src, &block);
        assert!(!problems.is_empty(), "parsed: {text}");
        problems
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn unknown_key_points_into_the_markdown_file() {
        assert_eq!(
            front_err("---\ntitle: x\ntitel: y\n---\n# T\n"),
            "error: front matter: unknown key `titel` (did you mean `title`?)\n --> rb.md:3:1\n  |\n3 | titel: y\n  | ^^^^^"
        );
    }

    #[test]
    fn nested_unknown_key_and_multibyte_columns() {
        assert_eq!(
            front_err("---\ntitle: \"é\"\nparams:\n  ä: {defualt: 1}\n---\n"),
            "error: front matter: unknown field `defualt`, expected one of default, required, choices, description, from_alert\n --> rb.md:4:8\n  |\n4 |   ä: {defualt: 1}\n  |        ^^^^^^^"
        );
    }

    #[test]
    fn bad_yaml() {
        assert_eq!(
            front_err("---\r\ntitle: x\r\n  bad: : y\r\n---\r\n"),
            "error: front matter: mapping values are not allowed in this context\n --> rb.md:3:6\n  |\n3 |   bad: : y\n  |      ^"
        );
        assert_eq!(
            front_err("---\nmax_output_lines: lots\n...\n"),
            "error: front matter: invalid u64\n --> rb.md:2:19\n  |\n2 | max_output_lines: lots\n  |                   ^^^^"
        );
    }

    fn problems(text: &str) -> (FrontMatter, Vec<String>) {
        let src = Source::new("rb.md", text.to_string());
        let block = locate(&src).ok().flatten().expect("front matter");
        let (f, problems) = parse_front(&src, &block);
        (f, problems.iter().map(Diagnostic::short).collect())
    }

    #[test]
    fn static_site_and_runme_keys_are_known() {
        let (f, p) = problems(
            "---\ntitle: Alert\nweight: 10\nbookCollapseSection: true\ntype: docs\nmenu:\n  main:\n    parent: x\nsidebar_position: 2\nbookHidden: true\ntags: [a]\ndescription: d\ndate: 2024-01-01\ndraft: false\nslug: s\naliases:\n- /a\nrunme:\n  id: 01HF7B0KJPF469EG9ZWDNKKACQ\n  version: v3\ncwd: ..\nshell: bash\nskipPrompts: true\nterminalRows: 20\ncategory: c\ntag: t\n---\n",
        );
        assert_eq!(p, Vec::<String>::new());
        assert_eq!(f.title.as_deref(), Some("Alert"));
        assert_eq!(f.cwd.as_deref(), Some(".."));
        assert_eq!(f.skip_prompts, Some(true));
        assert_eq!(f.shell.as_deref(), Some("bash"));
        let (f, p) = problems("---\ntags:\n  - label: Ops\n    permalink: /ops\n  - db\n---\n");
        assert_eq!(p, Vec::<String>::new());
        assert_eq!(f.tags, ["Ops", "db"]);
    }

    #[test]
    fn unknown_keys_warn_and_near_misses_fail_all_at_once() {
        let (f, p) = problems(
            "---\ntitel: x\nparamz:\n  a: {}\nmy_team_key: 1\nparams:\n  env: {defualt: prod}\n  ok: {default: 1}\nmax_output_lines: lots\nowner: me\n---\n",
        );
        assert_eq!(
            p,
            [
                "rb.md:2:1: error: front matter: unknown key `titel` (did you mean `title`?)",
                "rb.md:3:1: error: front matter: unknown key `paramz` (did you mean `params`?)",
                "rb.md:5:1: warning: front matter: `my_team_key` is not a runbook key; it is ignored",
                "rb.md:7:9: error: front matter: unknown field `defualt`, expected one of default, required, choices, description, from_alert",
                "rb.md:9:19: error: front matter: invalid u64",
            ]
        );
        // What parsed is kept; the params of a bad `params:` are still declared.
        assert_eq!(f.owner.as_deref(), Some("me"));
        assert_eq!(f.params.keys().collect::<Vec<_>>(), ["env", "ok"]);
    }

    #[test]
    fn near_misses_of_short_keys_need_to_be_closer() {
        assert_eq!(near_miss("titel"), Some("title"));
        assert_eq!(near_miss("Timeout"), Some("timeout"));
        assert_eq!(near_miss("host"), Some("hosts"));
        assert_eq!(near_miss("cd"), Some("cwd"));
        assert_eq!(near_miss("time"), None);
        assert_eq!(near_miss("sha"), None);
        assert_eq!(near_miss("maintainer"), None);
    }

    #[test]
    fn a_huge_front_matter_of_unknown_keys_is_summarised() {
        let mut text = String::from("---\ntitle: t\n");
        for i in 0..5000 {
            text.push_str(&format!("key_number_{i}: {{a: [1, 2, 3]}}\n"));
        }
        text.push_str("---\n");
        let started = std::time::Instant::now();
        let (f, p) = problems(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(f.title.as_deref(), Some("t"));
        assert_eq!(p.len(), 21);
        assert_eq!(
            p[20],
            "rb.md:23:1: warning: front matter: 4980 more keys runbook does not know not shown; they are ignored"
        );
    }

    #[test]
    fn unclosed() {
        assert_eq!(
            front_err("---\ntitle: x\n"),
            "error: unclosed front matter: expected a closing `---` line\n --> rb.md:1:1\n  |\n1 | ---\n  | ^^^"
        );
    }

    #[test]
    fn empty_and_comments_only() {
        for text in ["---\n---\n", "---\n# nothing yet\n\n---"] {
            let src = Source::new("rb.md", text.to_string());
            let block = locate(&src).ok().flatten().expect("front matter");
            assert!(parse_front(&src, &block).1.is_empty());
            assert_eq!(block.span.end, text.len());
        }
        let src = Source::new("rb.md", "# no\n---\n".to_string());
        assert!(matches!(locate(&src), Ok(None)));
    }
}
