//! The attribute parser for info strings: `bash {name=x timeout=30s confirm}`
//! and Runme's JSON form `bash {"name":"x","interactive":"false"}`.

use super::source::Span;
use std::time::Duration;

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
    /// Runme's `interactive` (accepted, recorded, no effect headless).
    pub interactive: Option<bool>,
    /// Every attribute key as written, with the span of `key` and of the whole `key=value`.
    pub spans: Vec<(String, Span)>,
}

impl Attrs {
    /// Span of an attribute (key=value), if it was written.
    pub fn span_of(&self, key: &str) -> Option<Span> {
        self.spans.iter().find(|(k, _)| k == key).map(|(_, s)| *s)
    }
}

/// Parses a duration like `30s`, `500ms`, `5m`, `1h30m`, `2` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{s}` has a number without a unit (use ms, s, m or h)"))?;
        if digits == 0 {
            return Err(format!(
                "`{s}` is not a duration (expected e.g. 30s, 500ms, 5m, 1h30m)"
            ));
        }
        let n: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}` is not a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ms" => n / 1000.0,
            "s" | "sec" => n,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            u => {
                return Err(format!(
                    "`{s}` has an unknown unit `{u}` (use ms, s, m or h)"
                ));
            }
        };
        if !secs.is_finite() || secs > 1e9 {
            return Err(format!("`{s}` is too long"));
        }
        total += Duration::from_secs_f64(secs);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("3x").unwrap_err(),
            "`3x` has an unknown unit `x` (use ms, s, m or h)"
        );
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }
}
