//! The attribute parser for info strings: `bash {name=x timeout=30s confirm}`
//! and Runme's JSON form `bash {"name":"x","interactive":"false"}`.
//!
//! Attributes are how an author configures a step, so every mistake in them
//! must be caught before anything runs and pointed at precisely: the parser
//! works on absolute byte offsets into the document.

use super::source::Span;
use super::transcript::Expect;
use crate::duration::parse_duration;
use std::time::Duration;

mod tokenize;
pub use tokenize::tokenize;

/// A confirmation gate on a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// `confirm` with no message.
    Default,
    /// `confirm="Delete the core file?"`.
    Message(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// `capture=json`: stdout (or the HTTP body) is parsed into `steps.X.json`.
    Json,
    /// `capture=text` (the default): stdout as a string.
    Text,
}

/// A step's undo (`rollback=`): run when a later step fails or the
/// operator aborts, if this step had succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// `rollback=NAME` (unquoted): the block `{name=NAME rollback}`.
    Block(String),
    /// `rollback="..."` (quoted): a command run with the step's kind and
    /// target.
    Inline(String),
}

/// One entry of `serial=`: a batch of so many hosts, or of a percentage of
/// the step's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Count(usize),
    Percent(u8),
}

/// `serial=5`, `serial="25%"`, `serial=[1,"10%","100%"]`: the batch sizes
/// of a canary rollout; the last one repeats until every host is done.
pub fn parse_serial(v: &str) -> Result<Vec<BatchSize>, String> {
    let bad = || {
        format!(
            "expected a number of hosts (5), a percentage (\"25%\") or a list of them ([1,\"10%\",\"100%\"]), not `{v}`"
        )
    };
    let items: Vec<&str> = match v.trim().strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or_else(bad)?.split(',').collect(),
        None => vec![v],
    };
    let one = |item: &str| -> Option<BatchSize> {
        let item = item.trim().trim_matches('"').trim();
        match item.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .map(BatchSize::Percent),
            None => item.parse().ok().filter(|n| *n > 0).map(BatchSize::Count),
        }
    };
    items.into_iter().map(|i| one(i).ok_or_else(bad)).collect()
}

/// The validated attributes of a step. `spans` keeps where each attribute
/// key stood (absolute byte offsets) so later stages can point at it.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    pub name: Option<String>,
    pub confirm: Option<Confirm>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub retry_delay: Option<Duration>,
    pub allow_failure: bool,
    /// A template expression; the step is skipped when it is false.
    pub when: Option<String>,
    /// One inventory host (or a literal `user@host[:port]`).
    pub host: Option<String>,
    /// An inventory entry that stands for several hosts (fan-out).
    pub hosts: Option<String>,
    /// The most hosts this step may run on (its blast radius); more is
    /// refused before anything runs, unless `run --allow-hosts`.
    pub max_hosts: Option<usize>,
    pub cwd: Option<String>,
    /// `env="K=V K2=V2"`: extra environment for this step.
    pub env: Vec<(String, String)>,
    pub capture: Option<Capture>,
    /// Read-only: runs even in `--dry-run`.
    pub safe: bool,
    pub interpreter: Option<String>,
    /// `{skip}`: the block is not a step.
    pub skip: bool,
    /// `{hide_code}`: reports show the step's output, not its code (the
    /// notebook export tags the cell `hide-input`).
    pub hide_code: bool,
    /// HTTP steps: accepted statuses, e.g. `200`, `2xx`, `200,404`.
    pub expect_status: Option<String>,
    /// Transcript blocks: compare the output with the sample.
    pub expect: Option<Expect>,
    /// Runme's `interactive`: the step gets the terminal when there is one.
    pub interactive: Option<bool>,
    /// Runme's `background`: started detached, stopped at the end of the run.
    pub background: bool,
    /// Runme's `excludeFromRunAll`: runs only when named (`--only`, `--from`).
    pub exclude_from_run_all: bool,
    /// Runme's `promptEnv` (`false`/`no`: never ask for `export X=...` values).
    pub prompt_env: Option<bool>,
    /// Runme's `tag` and `category` (comma-separated), for `--tag`.
    pub tags: Vec<String>,
    /// `rollback=NAME` / `rollback="cmd"`: this step's undo.
    pub rollback: Option<Rollback>,
    /// `{rollback}` (bare): the block is a rollback block, run only to undo
    /// the step that names it.
    pub is_rollback: bool,
    /// `serial=`: a fan-out step runs in batches of these sizes.
    pub serial: Option<Vec<BatchSize>>,
    /// `max_fail_percentage=`: a batch with more failed hosts than this
    /// stops the rollout (default 0: any failure stops it).
    pub max_fail_percentage: Option<u8>,
    /// `batch_confirm`: a gate between batches, showing the last batch.
    pub batch_confirm: bool,
    /// `each_shard`: with `run --shard`, this (non-fan-out) step runs in
    /// every shard, not only the first.
    pub each_shard: bool,
    /// `chart=line|bar`: draw the step's numbers (docs/dsl.md, "Charts").
    pub chart: Option<crate::chart::ChartKind>,
    /// `chart_unit=`: the unit of the charted values (`s`, `ms`, `bytes`, `%`, …).
    pub chart_unit: Option<String>,
    /// `phase=mitigated`: the incident phase the run reaches when this step
    /// succeeds (the name is checked by `analyze`, against `crate::phase`).
    pub phase: Option<String>,
    /// `internal`: the step's output goes only into an internal note on
    /// the incident (`run --publish`), never into anything public.
    pub internal: bool,
    /// Attributes accepted with a warning (unknown, not a near-miss).
    pub warnings: Vec<AttrError>,
    /// Every attribute key as written, with the span of `key` and of the whole `key=value`.
    pub spans: Vec<(String, Span)>,
}

impl Attrs {
    /// Span of an attribute (key=value), if it was written.
    pub fn span_of(&self, key: &str) -> Option<Span> {
        self.spans.iter().find(|(k, _)| k == key).map(|(_, s)| *s)
    }
}

/// A problem in an info string: a message and the absolute byte range it
/// points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrError {
    pub span: Span,
    pub message: String,
}

impl AttrError {
    fn new(start: usize, end: usize, message: impl Into<String>) -> Self {
        AttrError {
            span: Span::new(start, end),
            message: message.into(),
        }
    }
}

/// One attribute as written, before validation. Offsets are absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAttr {
    pub key: String,
    pub key_span: Span,
    /// `None` for a bare flag.
    pub value: Option<String>,
    /// The value as written (quotes included); the key when there is none.
    pub value_span: Span,
    /// `key=value` as a whole.
    pub span: Span,
}

/// The attributes this tool understands.
pub const KEYS: &[&str] = &[
    "name",
    "confirm",
    "timeout",
    "retries",
    "retry_delay",
    "allow_failure",
    "when",
    "host",
    "hosts",
    "max_hosts",
    "cwd",
    "env",
    "capture",
    "safe",
    "interpreter",
    "skip",
    "hide_code",
    "expect_status",
    "expect",
    "interactive",
    "rollback",
    "serial",
    "max_fail_percentage",
    "batch_confirm",
    "each_shard",
    "chart",
    "chart_unit",
    "phase",
    "internal",
];

/// Runme attributes honoured here (see docs/dsl.md, "Runme compatibility").
pub const RUNME_KEYS: &[&str] = &[
    "background",
    "excludeFromRunAll",
    "promptEnv",
    "tag",
    "category",
];

/// Runme attributes that mean nothing headless: accepted silently so
/// Runme runbooks run as they are.
pub const RUNME_IGNORED: &[&str] = &[
    "id",
    "closeTerminalOnSuccess",
    "openTerminalOnError",
    "terminalRows",
    "mimeType",
    "mimetype",
    "language",
    "skipPrompts",
    "transient",
];

/// Whether `name` is a valid step name: any non-empty text without control
/// characters or surrounding blanks (Runme's `lint:nix`, `build:qcow2:image`).
/// Templates reach any name as `steps["lint:nix"]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.trim() == name && !name.chars().any(char::is_control)
}

/// Splits an info string into its language word and the rest (with the
/// offset of the rest inside `info`). `bash {x}` → (`bash`, ` {x}`, 4);
/// `{interpreter=x}` has no language.
pub fn split_info(info: &str) -> (&str, &str, usize) {
    let end = info
        .find(|c: char| c.is_whitespace() || c == '{')
        .unwrap_or(info.len());
    (&info[..end], &info[end..], end)
}

/// Edit distance, for "did you mean".
pub(crate) fn distance(a: &str, b: &str) -> usize {
    bounded_distance(a, b, usize::MAX).unwrap_or(usize::MAX)
}

/// Edit distance when it is at most `limit`: stops as soon as a whole row
/// is over it, so a line of thousands of unknown attributes costs a few
/// comparisons each, not a full table against every known key.
fn bounded_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().is_some_and(|&m| m > limit) {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= limit)
}

/// The closest known attribute, when it is close enough to be a typo.
pub fn suggest(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for k in KEYS {
        let limit = 2.max(k.len() / 4).min(k.len().saturating_sub(1));
        if let Some(d) = bounded_distance(&lower, k, limit)
            && best.is_none_or(|(b, _)| d < b)
        {
            best = Some((d, *k));
        }
    }
    best.map(|(_, k)| k)
}

/// Go's `strconv.ParseBool` spellings, which Runme writes.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Some(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Some(false),
        _ => None,
    }
}

/// Whether the attribute was written in Runme's JSON form (`"key": value`).
fn is_json(r: &RawAttr) -> bool {
    r.span.start < r.key_span.start
}

/// Comma-separated words (`tag`, `category`).
fn words(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn valid_status(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|p| {
            let p = p.trim().as_bytes();
            p.len() == 3
                && matches!(p[0], b'1'..=b'5')
                && ((p[1].is_ascii_digit() && p[2].is_ascii_digit())
                    || (p[1] == b'x' && p[2] == b'x'))
        })
}

fn parse_env(v: &str) -> Option<Vec<(String, String)>> {
    // `K=V` pairs separated by spaces; a value may itself hold spaces inside
    // a template (`A={{ params.x | default('a b') }}`), so a new pair starts
    // only at a word that looks like `NAME=` outside `{{ }}`.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut depth = 0usize;
    for word in v.split(' ').filter(|w| !w.is_empty()) {
        let starts_pair = depth == 0
            && word
                .split_once('=')
                .is_some_and(|(k, _)| crate::text::is_identifier(k));
        if starts_pair {
            let (k, val) = word.split_once('=')?;
            pairs.push((k.to_string(), val.to_string()));
        } else if depth > 0 {
            let last = pairs.last_mut()?;
            last.1.push(' ');
            last.1.push_str(word);
        } else {
            return None;
        }
        depth += word.matches("{{").count();
        depth = depth.saturating_sub(word.matches("}}").count());
    }
    (depth == 0 && !pairs.is_empty()).then_some(pairs)
}

/// Checks the attributes and builds [`Attrs`]. Every problem is reported.
pub fn validate(raw: &[RawAttr]) -> Result<Attrs, Vec<AttrError>> {
    let mut a = Attrs::default();
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for r in raw {
        let key = r.key.as_str();
        let known =
            KEYS.contains(&key) || RUNME_KEYS.contains(&key) || RUNME_IGNORED.contains(&key);
        if !known {
            let (start, end) = (r.key_span.start, r.key_span.end);
            match suggest(key) {
                Some(s) => errors.push(AttrError::new(
                    start,
                    end,
                    format!("unknown attribute `{key}` (did you mean `{s}`?)"),
                )),
                None => a.warnings.push(AttrError::new(
                    start,
                    end,
                    format!("unknown attribute `{key}` is ignored"),
                )),
            }
            continue;
        }
        // Runme writes `"cwd": ""` for "not set".
        if is_json(r) && r.value.as_deref() == Some("") {
            continue;
        }
        if seen.contains(&key) {
            let message = if key == "rollback" {
                "duplicate attribute `rollback`: a block is a rollback block (`rollback`) \
                 or names one undo (`rollback=NAME` or `rollback=\"command\"`), not both"
                    .to_string()
            } else {
                format!("duplicate attribute `{key}`")
            };
            errors.push(AttrError::new(r.key_span.start, r.key_span.end, message));
            continue;
        }
        seen.push(key);
        a.spans.push((key.to_string(), r.span));
        if RUNME_IGNORED.contains(&key) {
            continue;
        }
        if let Err(e) = apply(&mut a, r) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(a)
    } else {
        Err(errors)
    }
}

/// `r`'s value is not valid for its key, because `why`: points at the value.
fn invalid(r: &RawAttr, why: &str) -> AttrError {
    let v = r.value.as_deref().unwrap_or_default();
    AttrError::new(
        r.value_span.start,
        r.value_span.end,
        format!("invalid value `{v}` for `{}`: {why}", r.key),
    )
}

/// Sets one known attribute, seen for the first time, on `a`: the flags
/// here, the attributes that need a value in [`apply_value`].
fn apply(a: &mut Attrs, r: &RawAttr) -> Result<(), AttrError> {
    // Flags: bare, or true/false.
    let flag = || match r.value.as_deref() {
        None => Ok(true),
        Some(v) => parse_bool(v).ok_or_else(|| invalid(r, "expected true or false")),
    };
    match r.key.as_str() {
        "confirm" => {
            a.confirm = match r.value.as_deref() {
                None | Some("true") => Some(Confirm::Default),
                Some("false") => None,
                Some("") => return Err(invalid(r, "the message is empty")),
                Some(m) => Some(Confirm::Message(m.to_string())),
            }
        }
        "allow_failure" => a.allow_failure = flag()?,
        "safe" => a.safe = flag()?,
        "batch_confirm" => a.batch_confirm = flag()?,
        "each_shard" => a.each_shard = flag()?,
        "internal" => a.internal = flag()?,
        "skip" => a.skip = flag()?,
        "hide_code" => a.hide_code = flag()?,
        "interactive" => a.interactive = Some(flag()?),
        "background" => a.background = flag()?,
        "excludeFromRunAll" => a.exclude_from_run_all = flag()?,
        "promptEnv" => {
            a.prompt_env = match r.value.as_deref() {
                Some("yes" | "auto") => Some(true),
                Some("no") => Some(false),
                _ => Some(flag()?),
            }
        }
        "tag" | "category" => a.tags.extend(words(r.value.as_deref().unwrap_or_default())),
        "rollback" if r.value.is_none() => a.is_rollback = true,
        key => {
            let Some(v) = r.value.as_deref() else {
                return Err(AttrError::new(
                    r.key_span.start,
                    r.key_span.end,
                    format!("attribute `{key}` needs a value, e.g. `{key}=...`"),
                ));
            };
            if v.trim().is_empty() {
                return Err(AttrError::new(
                    r.value_span.start,
                    r.value_span.end,
                    format!("attribute `{key}` needs a value, e.g. `{key}=...`"),
                ));
            }
            apply_value(a, r, v)?;
        }
    }
    Ok(())
}

/// Sets an attribute that has a (non-blank) value `v` on `a`.
fn apply_value(a: &mut Attrs, r: &RawAttr, v: &str) -> Result<(), AttrError> {
    let invalid = |why: &str| invalid(r, why);
    match r.key.as_str() {
        "name" => {
            if !valid_name(v) {
                return Err(invalid(
                    "a name has no control characters and no blanks around it",
                ));
            }
            a.name = Some(v.to_string());
        }
        "timeout" => a.timeout = Some(parse_duration(v).map_err(|e| invalid(&e))?),
        "retry_delay" => a.retry_delay = Some(parse_duration(v).map_err(|e| invalid(&e))?),
        "retries" => {
            a.retries = v
                .parse()
                .map_err(|_| invalid("expected a whole number, e.g. 3"))?
        }
        "when" => a.when = Some(v.to_string()),
        "host" => a.host = Some(v.to_string()),
        "hosts" => a.hosts = Some(v.to_string()),
        "max_hosts" => {
            a.max_hosts = Some(
                v.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("expected a whole number of hosts, at least 1"))?,
            )
        }
        "cwd" => a.cwd = Some(v.to_string()),
        "phase" => a.phase = Some(v.to_string()),
        "interpreter" => a.interpreter = Some(v.to_string()),
        "env" => {
            a.env = parse_env(v).ok_or_else(|| {
                invalid("expected K=V pairs separated by spaces, e.g. env=\"A=1 B=2\"")
            })?
        }
        "capture" => {
            a.capture = Some(match v {
                "json" => Capture::Json,
                "text" => Capture::Text,
                _ => return Err(invalid("expected json or text")),
            })
        }
        "expect" => {
            a.expect = Some(
                Expect::parse(v)
                    .ok_or_else(|| invalid("expected exact, contains, regex or json-subset"))?,
            )
        }
        "serial" => a.serial = Some(parse_serial(v).map_err(|e| invalid(&e))?),
        "max_fail_percentage" => {
            a.max_fail_percentage = Some(
                v.trim_end_matches('%')
                    .parse()
                    .ok()
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| invalid("expected a percentage from 0 to 100"))?,
            )
        }
        "rollback" => {
            // Quoted: a command; bare (or Runme's JSON form): a block's name.
            let quoted = r.value_span.len() > v.len() && !is_json(r);
            a.rollback = Some(if quoted {
                Rollback::Inline(v.to_string())
            } else if valid_name(v) {
                Rollback::Block(v.to_string())
            } else {
                return Err(invalid(
                    "expected the name of a `{rollback}` block, or a quoted command",
                ));
            });
        }
        "chart" => {
            a.chart = Some(crate::chart::ChartKind::parse(v).ok_or_else(|| {
                let near = crate::chart::KINDS
                    .iter()
                    .map(|k| (distance(&v.to_ascii_lowercase(), k), *k))
                    // A typo keeps the first letter (`lien`, `bra`); `pie` is
                    // another kind of chart, not a misspelt one.
                    .filter(|(d, k)| *d <= 1 || (*d <= 2 && v.get(..1) == k.get(..1)))
                    .min_by_key(|(d, _)| *d)
                    .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                invalid(&format!("expected line or bar{near}"))
            })?)
        }
        "chart_unit" => {
            if v.chars().count() > 16 || v.chars().any(|c| c.is_control() || c == '<' || c == '>') {
                return Err(invalid("expected a short unit such as s, ms, bytes or %"));
            }
            a.chart_unit = Some(v.to_string());
        }
        "expect_status" => {
            if !valid_status(v) {
                return Err(invalid("expected statuses like 200, 2xx or 200,404"));
            }
            a.expect_status = Some(v.to_string());
        }
        _ => {}
    }
    Ok(())
}

/// [`tokenize`] then [`validate`].
pub fn parse(text: &str, base: usize) -> Result<Attrs, Vec<AttrError>> {
    let raw = tokenize(text, base).map_err(|e| vec![e])?;
    validate(&raw)
}

#[cfg(test)]
mod tests;
