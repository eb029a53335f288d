//! `expect=`: a transcript block's sample output as an assertion on what
//! the step printed. Pure functions on text, shared by `analyze` (is the
//! sample usable at all) and the engine (does the output match); the diff
//! is computed here, on text that is already redacted.

use crate::document::Expect;
use serde_json::Value;

/// How the output compared with the sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// A unified diff, expected (the sample) against actual; `None` when
    /// the output matches.
    pub diff: Option<String>,
}

/// Why a sample cannot serve `mode` (`check` reports it), if it cannot.
pub fn sample_problem(mode: Expect, sample: &str) -> Option<String> {
    match mode {
        Expect::Regex => regex::Regex::new(regex_text(sample)).err().map(|e| {
            format!(
                "the sample is not a valid regex: {}",
                first_line(&e.to_string())
            )
        }),
        Expect::JsonSubset => serde_json::from_str::<Value>(sample)
            .err()
            .map(|e| format!("the sample is not JSON: {e}")),
        Expect::Exact | Expect::Contains => None,
    }
}

/// Compares `actual` (the step's stdout) with `sample` as `mode` says.
pub fn compare(mode: Expect, sample: &str, actual: &str) -> Outcome {
    let ok = match mode {
        Expect::Exact => normalize(sample) == normalize(actual),
        Expect::Contains => contains_in_order(sample, actual),
        Expect::Regex => regex::RegexBuilder::new(regex_text(sample))
            .multi_line(true)
            .build()
            .is_ok_and(|re| re.is_match(actual)),
        Expect::JsonSubset => match (
            serde_json::from_str::<Value>(sample),
            serde_json::from_str::<Value>(actual),
        ) {
            (Ok(want), Ok(got)) => is_subset(&want, &got),
            _ => false,
        },
    };
    if ok {
        return Outcome { ok, diff: None };
    }
    let (want, got) = match mode {
        Expect::JsonSubset => (pretty(sample), pretty(actual)),
        _ => (normalize(sample), normalize(actual)),
    };
    Outcome {
        ok,
        diff: Some(unified_diff(&want, &got)),
    }
}

/// A unified diff of two texts, line by line.
pub fn unified_diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected (from the runbook)", "actual")
        .missing_newline_hint(false)
        .to_string()
}

/// Trailing whitespace trimmed per line, trailing blank lines dropped,
/// `\r\n` as `\n`; each line ends in `\n`.
fn normalize(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Every non-blank sample line (trailing whitespace trimmed) is part of an
/// output line, in order, each output line used once.
fn contains_in_order(sample: &str, actual: &str) -> bool {
    let mut got = actual.lines();
    sample
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .all(|want| got.by_ref().any(|l| l.contains(want)))
}

/// The sample as a regex: its final line ending is not part of it.
fn regex_text(sample: &str) -> &str {
    sample.trim_end_matches(['\n', '\r'])
}

/// Objects: every expected key is present with a subset value; arrays:
/// every expected element is a subset of some actual element; anything
/// else: equal.
fn is_subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| is_subset(v, gv))),
        (Value::Array(w), Value::Array(g)) => w.iter().all(|v| g.iter().any(|gv| is_subset(v, gv))),
        _ => want == got,
    }
}

/// JSON pretty-printed (so the diff is per key), or the text as it is.
fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(_) => normalize(text),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ignores_trailing_whitespace() {
        assert!(compare(Expect::Exact, "a  \nb\n\n", "a\nb\n").ok);
        let o = compare(Expect::Exact, "a\nb\n", "a\nc\n");
        assert!(!o.ok);
        let diff = o.diff.unwrap();
        assert!(diff.contains("--- expected (from the runbook)"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
    }

    #[test]
    fn contains_in_order_only() {
        assert!(compare(Expect::Contains, "api\nready\n", "x\napi-1 up\ny ready\n").ok);
        assert!(!compare(Expect::Contains, "ready\napi\n", "api\nready\n").ok);
        assert!(!compare(Expect::Contains, "gone\n", "api\n").ok);
    }

    #[test]
    fn regex_and_json_subset() {
        assert!(compare(Expect::Regex, "^up [0-9]+ days$\n", "host\nup 12 days\n").ok);
        assert!(!compare(Expect::Regex, "^down$\n", "up\n").ok);
        let got = r#"{"status":"ok","items":[{"name":"a","n":1},{"name":"b"}],"x":2}"#;
        assert!(compare(Expect::JsonSubset, r#"{"items":[{"name":"b"}]}"#, got).ok);
        assert!(!compare(Expect::JsonSubset, r#"{"status":"down"}"#, got).ok);
        assert!(!compare(Expect::JsonSubset, "{}", "not json").ok);
        assert!(sample_problem(Expect::Regex, "(").is_some());
        assert!(sample_problem(Expect::JsonSubset, "{").is_some());
        assert!(sample_problem(Expect::Exact, "(").is_none());
    }
}
