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
    pub cwd: Option<String>,
    /// `env="K=V K2=V2"`: extra environment for this step.
    pub env: Vec<(String, String)>,
    pub capture: Option<Capture>,
    /// Read-only: runs even in `--dry-run`.
    pub safe: bool,
    pub interpreter: Option<String>,
    /// `{skip}`: the block is not a step.
    pub skip: bool,
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
    "cwd",
    "env",
    "capture",
    "safe",
    "interpreter",
    "skip",
    "expect_status",
    "expect",
    "interactive",
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
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known attribute, when it is close enough to be a typo.
pub fn suggest(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    KEYS.iter()
        .map(|k| (distance(&lower, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
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
            errors.push(AttrError::new(
                r.key_span.start,
                r.key_span.end,
                format!("duplicate attribute `{key}`"),
            ));
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
        "skip" => a.skip = flag()?,
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
        "cwd" => a.cwd = Some(v.to_string()),
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
mod env_tests {
    use super::parse_env;

    #[test]
    fn env_pairs_with_templates_holding_spaces() {
        assert_eq!(
            parse_env("A=1 B={{ params.x }} C={{ secrets.T | default('a b') }}"),
            Some(vec![
                ("A".into(), "1".into()),
                ("B".into(), "{{ params.x }}".into()),
                ("C".into(), "{{ secrets.T | default('a b') }}".into()),
            ])
        );
        assert_eq!(parse_env("A=1 nope"), None);
        assert_eq!(parse_env("nope"), None);
        assert_eq!(parse_env("A={{ x"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Vec<(String, usize, usize)> {
        match parse(text, 100) {
            Ok(a) => panic!("parsed {text}: {a:?}"),
            Err(es) => es
                .into_iter()
                .map(|e| (e.message, e.span.start - 100, e.span.end - 100))
                .collect(),
        }
    }

    fn one(text: &str) -> (String, usize, usize) {
        let mut es = err(text);
        assert_eq!(es.len(), 1, "{es:?}");
        es.remove(0)
    }

    fn ok(text: &str) -> Attrs {
        match parse(text, 0) {
            Ok(a) => a,
            Err(e) => panic!("{text}: {e:?}"),
        }
    }

    #[test]
    fn key_value_form() {
        let a = ok(
            r#" {name=deploy confirm="Really \"sure\"?" timeout=30s retries=2 retry_delay=500ms allow_failure when="{{ x }}" host=db1 hosts=web cwd=/tmp env="A=1 B=x=y" capture=json safe expect_status=2xx,404 interactive=false}"#,
        );
        assert_eq!(a.name.as_deref(), Some("deploy"));
        assert_eq!(a.confirm, Some(Confirm::Message("Really \"sure\"?".into())));
        assert_eq!(a.timeout, Some(Duration::from_secs(30)));
        assert_eq!(a.retries, 2);
        assert_eq!(a.retry_delay, Some(Duration::from_millis(500)));
        assert!(a.allow_failure && a.safe && !a.skip);
        assert_eq!(a.when.as_deref(), Some("{{ x }}"));
        assert_eq!(a.host.as_deref(), Some("db1"));
        assert_eq!(a.hosts.as_deref(), Some("web"));
        assert_eq!(a.cwd.as_deref(), Some("/tmp"));
        assert_eq!(
            a.env,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(a.capture, Some(Capture::Json));
        assert_eq!(a.expect_status.as_deref(), Some("2xx,404"));
        assert_eq!(a.interactive, Some(false));
        assert_eq!(a.span_of("name"), Some(Span::new(2, 13)));
        assert_eq!(a.span_of("safe"), Some(Span::new(167, 171)));
        assert_eq!(a.spans.len(), 15);
    }

    #[test]
    fn flags_accept_booleans() {
        let a = ok("{confirm=true safe=false skip=false allow_failure=true}");
        assert_eq!(a.confirm, Some(Confirm::Default));
        assert!(!a.safe && !a.skip && a.allow_failure);
        assert_eq!(ok("{confirm=false}").confirm, None);
        assert_eq!(ok("{ confirm }").confirm, Some(Confirm::Default));
        assert!(ok("{skip}").skip);
        assert!(ok("").spans.is_empty());
        assert!(ok("  {}  ").spans.is_empty());
    }

    #[test]
    fn runme_json_form() {
        let a = ok(
            r#" {"name":"setup","interactive":"false","background":false,"terminalRows":20,"id":"01HF","interpreter":"bash -x","closeTerminalOnSuccess":null}"#,
        );
        assert_eq!(a.name.as_deref(), Some("setup"));
        assert_eq!(a.interactive, Some(false));
        assert_eq!(a.interpreter.as_deref(), Some("bash -x"));
        assert_eq!(a.span_of("name"), Some(Span::new(2, 16)));
        let a = ok(r#"{ "timeout": 5, "confirm": "Go \"now\"?", "safe": true, }"#);
        assert_eq!(a.timeout, Some(Duration::from_secs(5)));
        assert_eq!(a.confirm, Some(Confirm::Message("Go \"now\"?".into())));
        assert!(a.safe);
    }

    #[test]
    fn runme_options_with_go_booleans() {
        for t in ["true", "True", "TRUE", "t", "T", "1"] {
            let a = ok(&format!(
                r#"{{"background":"{t}","excludeFromRunAll":"{t}","interactive":"{t}"}}"#
            ));
            assert!(
                a.background && a.exclude_from_run_all && a.interactive == Some(true),
                "{t}"
            );
        }
        for f in ["false", "False", "FALSE", "f", "F", "0"] {
            let a = ok(&format!(
                r#"{{"background":"{f}","interactive":"{f}","safe":"{f}"}}"#
            ));
            assert!(
                !a.background && a.interactive == Some(false) && !a.safe,
                "{f}"
            );
        }
        // `""` is Runme's "not set"; `language`, lowercase `mimetype`, `id` are known.
        let a = ok(
            r#"{"name":"lint:nix","cwd":"","timeout":"","language":"sh","mimetype":"text/plain","id":"01J","promptEnv":"no"}"#,
        );
        assert_eq!(a.name.as_deref(), Some("lint:nix"));
        assert_eq!((a.cwd, a.timeout, a.prompt_env), (None, None, Some(false)));
        assert!(a.warnings.is_empty());
        assert_eq!(
            one(r#"{"excludeFromRunAll":"maybe"}"#).0,
            "invalid value `maybe` for `excludeFromRunAll`: expected true or false"
        );
    }

    #[test]
    fn unknown_attribute() {
        assert_eq!(
            one("{name=a tiemout=3s}"),
            (
                "unknown attribute `tiemout` (did you mean `timeout`?)".into(),
                8,
                15
            )
        );
        // Not a near-miss: a warning, the block still a step.
        let a = ok("{frobnicate tag=db,slow category=ops}");
        assert_eq!(a.warnings.len(), 1);
        assert_eq!(
            a.warnings[0].message,
            "unknown attribute `frobnicate` is ignored"
        );
        assert_eq!((a.warnings[0].span.start, a.warnings[0].span.end), (1, 11));
        assert_eq!(a.tags, ["db", "slow", "ops"]);
        assert_eq!(
            one(r#"{"nmae":"x"}"#),
            (
                "unknown attribute `nmae` (did you mean `name`?)".into(),
                2,
                6
            )
        );
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            one("{timeout=abc}"),
            (
                "invalid value `abc` for `timeout`: `abc` is not a duration (expected e.g. 30s, 500ms, 5m, 1h30m)".into(),
                9,
                12
            )
        );
        assert_eq!(
            one("{retry_delay=3x}"),
            (
                "invalid value `3x` for `retry_delay`: `3x` has an unknown unit `x` (use ms, s, m or h)".into(),
                13,
                15
            )
        );
        assert_eq!(
            one("{retries=-1}"),
            (
                "invalid value `-1` for `retries`: expected a whole number, e.g. 3".into(),
                9,
                11
            )
        );
        assert_eq!(
            one("{safe=yes}"),
            (
                "invalid value `yes` for `safe`: expected true or false".into(),
                6,
                9
            )
        );
        assert_eq!(
            one("{capture=xml}"),
            (
                "invalid value `xml` for `capture`: expected json or text".into(),
                9,
                12
            )
        );
        assert_eq!(
            one(r#"{env="A=1 B"}"#),
            (
                "invalid value `A=1 B` for `env`: expected K=V pairs separated by spaces, e.g. env=\"A=1 B=2\"".into(),
                5,
                12
            )
        );
        assert_eq!(
            one("{expect_status=20}"),
            (
                "invalid value `20` for `expect_status`: expected statuses like 200, 2xx or 200,404".into(),
                15,
                17
            )
        );
        assert_eq!(
            one(r#"{"name":" x"}"#),
            (
                "invalid value ` x` for `name`: a name has no control characters and no blanks around it".into(),
                8,
                12
            )
        );
        assert_eq!(
            one(r#"{confirm=""}"#),
            (
                "invalid value `` for `confirm`: the message is empty".into(),
                9,
                11
            )
        );
        assert_eq!(
            one("{timeout}"),
            (
                "attribute `timeout` needs a value, e.g. `timeout=...`".into(),
                1,
                8
            )
        );
        assert_eq!(
            one("{host=}"),
            (
                "attribute `host` needs a value, e.g. `host=...`".into(),
                6,
                6
            )
        );
        assert_eq!(
            one("{name=a name=b}"),
            ("duplicate attribute `name`".into(), 8, 12)
        );
    }

    #[test]
    fn every_problem_is_reported() {
        assert_eq!(
            err("{tiemout=1 retries=x safe=2}")
                .into_iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            [
                "unknown attribute `tiemout` (did you mean `timeout`?)",
                "invalid value `x` for `retries`: expected a whole number, e.g. 3",
                "invalid value `2` for `safe`: expected true or false",
            ]
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(one("{name=a"), ("unclosed `{` in attributes".into(), 0, 1));
        assert_eq!(
            one(r#" {confirm="oops}"#),
            ("unterminated string in attributes".into(), 10, 11)
        );
        assert_eq!(
            one("{name=a} extra"),
            ("unexpected text after the attributes".into(), 9, 14)
        );
        assert_eq!(
            one("title=x"),
            (
                "expected attributes in braces after the language, e.g. `{name=x}`".into(),
                0,
                7
            )
        );
        assert_eq!(one("{=x}"), ("unexpected `=` in attributes".into(), 1, 2));
        assert_eq!(
            one(r#"{a"b=1}"#),
            ("unexpected `\"` in attributes".into(), 2, 3)
        );
        assert_eq!(
            one(r#"{name=a"b"}"#),
            (
                "unexpected `\"` in a value (quote the whole value)".into(),
                7,
                8
            )
        );
        assert_eq!(
            one(r#"{name="a"b}"#),
            ("unexpected `b` after a quoted value".into(), 9, 10)
        );
        assert_eq!(
            one(r#"{"name" "x"}"#),
            (
                "expected `:` after `\"name\"` in JSON attributes".into(),
                8,
                9
            )
        );
        assert_eq!(
            one(r#"{"name":["x"]}"#),
            (
                "unsupported JSON value in attributes (use a string, number or boolean)".into(),
                8,
                9
            )
        );
        assert_eq!(
            one(r#"{"name":"x" "a":1}"#),
            (
                "expected `,` or `}` in JSON attributes, found `\"`".into(),
                12,
                13
            )
        );
        assert_eq!(
            one(r#"{"name":"x", a:1}"#),
            (
                "expected a quoted key in JSON attributes, found `a`".into(),
                13,
                14
            )
        );
        assert_eq!(
            one(r#"{"name":"\q"}"#),
            ("invalid JSON string in attributes".into(), 8, 12)
        );
        assert_eq!(
            one(r#"{"name":"x""#),
            ("unclosed `{` in attributes".into(), 0, 1)
        );
        assert_eq!(
            one(r#"{"name":"x}"#),
            ("unterminated string in attributes".into(), 8, 9)
        );
    }

    #[test]
    fn split_and_suggest() {
        assert_eq!(split_info("bash {x}"), ("bash", " {x}", 4));
        assert_eq!(split_info("sh{x}"), ("sh", "{x}", 2));
        assert_eq!(split_info("{interpreter=x}"), ("", "{interpreter=x}", 0));
        assert_eq!(suggest("retires"), Some("retries"));
        assert_eq!(suggest("Name"), Some("name"));
        assert_eq!(suggest("zzzzzz"), None);
        assert!(valid_name("a.b-c_1") && valid_name("_x") && valid_name("9"));
        assert!(valid_name("lint:nix") && valid_name("build:qcow2:image") && valid_name("../x"));
        assert!(!valid_name("") && !valid_name(" a") && !valid_name("a\nb"));
    }
}
