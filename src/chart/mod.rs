//! Charts where people would rather look than read: a step whose captured
//! JSON is a Prometheus query result, or any step with `chart=line|bar`,
//! gets an SVG chart in the HTML report and the notebook, and beside the
//! annotated copy with a text table (series, min, max, last).
//!
//! The record keeps only a small [`ChartRecord`] (kind, unit, a summary per
//! series); the points are read again from what the record already holds
//! (the captured JSON, or the step's output), through [`data_of`], so the
//! chart, its table and the record always agree, and every label has been
//! through the same redaction as the rest of the record.

pub mod parse;
pub mod scale;
pub mod svg;
pub mod units;

use crate::record::StepRecord;
use serde::{Deserialize, Serialize};
pub use units::Unit;

/// At most this many series are drawn; the rest are counted ("+N more").
pub const MAX_SERIES: usize = 12;
/// Labels longer than this are cut with `…`.
pub const MAX_LABEL: usize = 64;
/// A series with more points is thinned to about this many for drawing
/// (its summary uses every point).
pub const MAX_POINTS: usize = 600;

/// `chart=`: the kinds of chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    Line,
    Bar,
}

/// The `chart=` values, for `check`'s did-you-mean.
pub const KINDS: &[&str] = &["line", "bar"];

impl ChartKind {
    pub fn parse(s: &str) -> Option<ChartKind> {
        match s {
            "line" => Some(ChartKind::Line),
            "bar" => Some(ChartKind::Bar),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Bar => "bar",
        }
    }
}

/// A step's chart in the record: what was drawn, and each series' summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartRecord {
    pub kind: ChartKind,
    /// `chart_unit=`, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `prometheus-matrix`, `prometheus-vector`, `json` or `text`.
    pub source: String,
    /// The series drawn (at most [`MAX_SERIES`]), labels cut to
    /// [`MAX_LABEL`] characters.
    pub series: Vec<SeriesSummary>,
    /// Series left out of the chart.
    #[serde(default)]
    pub more_series: usize,
    /// Points left out: NaN, ±Inf, `stale`, missing.
    #[serde(default)]
    pub skipped_points: usize,
    /// Why there is no chart (an empty result, no numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The SVG written beside the annotated copy, relative to it
    /// (`OUT.md.assets/STEP.svg`), once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub points: usize,
}

/// One series: its label and its points (x, y), in the source's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// What a chart draws.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub kind: ChartKind,
    pub unit: Unit,
    /// The x values are Unix seconds.
    pub time: bool,
    /// At most [`MAX_SERIES`], labels cut, points thinned.
    pub series: Vec<Series>,
    pub summary: ChartRecord,
}

/// A JSON value as text: strings without quotes.
pub(crate) fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` cut to `max` characters with `…`, control characters as spaces.
pub fn cut(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        clean
    } else {
        let mut s: String = clean.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The chart of a step, from what its record holds: the captured JSON, or
/// its output (for an HTTP step, the body after the headers). `kind` and
/// `unit` are the step's `chart=` and `chart_unit=`; without `chart=`
/// only a Prometheus result is charted. `None`: nothing to chart.
pub fn data_of(
    step: &StepRecord,
    kind: Option<ChartKind>,
    unit: Option<&str>,
) -> Option<ChartData> {
    let parsed = match &step.json {
        Some(j) => from_json(j, kind.is_some()),
        None if kind.is_some() => {
            let text = output_text(step)?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(j) if j.is_array() || j.is_object() => from_json(&j, true),
                _ => Some(parse::text(&text)),
            }
        }
        None => None,
    }?;
    Some(build(parsed, kind, unit))
}

/// The chart of a JSON value (a Prometheus result, or with `kind` a list
/// of points): as [`data_of`] reads a step's captured JSON.
pub fn of_json(
    j: &serde_json::Value,
    kind: Option<ChartKind>,
    unit: Option<&str>,
) -> Option<ChartData> {
    from_json(j, kind.is_some()).map(|p| build(p, kind, unit))
}

fn from_json(j: &serde_json::Value, asked: bool) -> Option<Result<parse::Parsed, String>> {
    match parse::prometheus(j) {
        Some(p) => Some(p),
        None if asked => parse::json_points(j).or_else(|| {
            Some(Err(
                "expected a Prometheus result or a list of {series, x, y} points".into(),
            ))
        }),
        None => None,
    }
}

/// The step's output as one text (what the record keeps of it).
fn output_text(step: &StepRecord) -> Option<String> {
    let out = step.output.as_ref()?;
    let text = format!("{}{}", out.head, out.tail);
    if step.http.is_some() {
        // Status line and headers, a blank line, the body.
        let text = text.replace("\r\n", "\n");
        return Some(
            text.split_once("\n\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default(),
        );
    }
    Some(text)
}

fn build(
    parsed: Result<parse::Parsed, String>,
    kind: Option<ChartKind>,
    unit: Option<&str>,
) -> ChartData {
    let (parsed, note) = match parsed {
        Ok(p) => (p, None),
        Err(e) => (parse::Parsed::default(), Some(format!("no chart: {e}"))),
    };
    let kind = kind.unwrap_or(if parsed.source == "prometheus-vector" {
        ChartKind::Bar
    } else {
        ChartKind::Line
    });
    let mut series: Vec<Series> = parsed
        .series
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    if parsed.source == "prometheus-matrix" {
        // A range result comes in no meaningful order: by label, so the
        // legend and the table read the same in every run.
        series.sort_by(|a, b| a.label.cmp(&b.label));
    }
    let more = series.len().saturating_sub(MAX_SERIES);
    series.truncate(MAX_SERIES);
    let mut summaries = Vec::with_capacity(series.len());
    for s in &mut series {
        s.label = cut(&s.label, MAX_LABEL);
        let ys = s.points.iter().map(|p| p.1);
        summaries.push(SeriesSummary {
            label: s.label.clone(),
            min: ys.clone().fold(f64::INFINITY, f64::min),
            max: ys.fold(f64::NEG_INFINITY, f64::max),
            last: s.points.last().map_or(f64::NAN, |p| p.1),
            points: s.points.len(),
        });
        s.points = thin(&s.points, MAX_POINTS);
    }
    let note = note.or_else(|| {
        series
            .is_empty()
            .then(|| "no chart: the result is empty".to_string())
    });
    let summary = ChartRecord {
        kind,
        unit: unit.map(str::to_string),
        source: if parsed.source.is_empty() {
            "none"
        } else {
            parsed.source
        }
        .to_string(),
        series: summaries,
        more_series: more,
        skipped_points: parsed.skipped,
        note,
        svg: None,
    };
    ChartData {
        kind,
        unit: Unit::parse(unit),
        time: parsed.time,
        series,
        summary,
    }
}

/// Every `n`-th point so about `max` remain, the last one always kept.
fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points.to_vec();
    }
    let stride = points.len().div_ceil(max);
    let mut out: Vec<(f64, f64)> = points.iter().step_by(stride).copied().collect();
    if let Some(last) = points.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

/// The record's chart of a step that just ran: see [`data_of`].
pub fn summarize(
    step: &StepRecord,
    kind: Option<ChartKind>,
    unit: Option<&str>,
) -> Option<ChartRecord> {
    data_of(step, kind, unit).map(|d| d.summary)
}

/// `old` (the chart of `step` as summarised from the raw output) after
/// redaction: summarised again from the step's redacted JSON or output,
/// so a label is cut only after a secret in it was replaced.
pub fn redacted(step: &StepRecord, old: &ChartRecord, f: &dyn Fn(&str) -> String) -> ChartRecord {
    match data_of(step, Some(old.kind), old.unit.as_deref()) {
        Some(d) => ChartRecord {
            svg: old.svg.clone(),
            ..d.summary
        },
        None => {
            let mut c = old.clone();
            for x in &mut c.series {
                x.label = f(&x.label);
            }
            c.note = c.note.as_deref().map(f);
            c
        }
    }
}

/// The chart of a step as recorded (its kind and unit from the record).
pub fn recorded(step: &StepRecord) -> Option<ChartData> {
    let c = step.chart.as_ref()?;
    let mut d = data_of(step, Some(c.kind), c.unit.as_deref())?;
    d.summary.svg = c.svg.clone();
    Some(d)
}

/// A file name for a step's chart: letters, digits, `-`, `_` and `.`
/// kept, anything else `_`, never empty, never starting with a dot.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "step".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cut_and_controls_removed() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("a\nb\u{1b}", 9), "a b ");
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("levels"), "levels");
        assert_eq!(file_stem("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_stem(""), "step");
        assert_eq!(file_stem(".hidden"), "_hidden");
        assert_eq!(file_stem("lint:nix"), "lint_nix");
    }

    #[test]
    fn many_points_are_thinned_keeping_the_last() {
        let pts: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, i as f64)).collect();
        let t = thin(&pts, 300);
        assert!(t.len() <= 301);
        assert_eq!(t.last(), Some(&(999.0, 999.0)));
    }
}
