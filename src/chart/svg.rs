//! The chart as hand-written SVG: no script, no external font or style, so
//! the same bytes work inline in the HTML report, as a notebook output and
//! as a file beside the copy. A line chart draws series over a time (or
//! number) axis with a legend; a bar chart ranks one value per series
//! (the last). Every piece of text is XML-escaped; `<title>` and `<desc>`
//! say what the chart shows for screen readers.

use super::scale::{self, Axis};
use super::{ChartData, ChartKind, Unit, cut};
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 28.0;
const TOP: f64 = 52.0;
const PLOT_H: f64 = 230.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

/// Distinct colours, in order (colour-blind-aware Tableau 10, then two more).
pub const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
];

/// Each series' colour: by the rank of its label among the chart's
/// labels, so the same series has the same colour in every chart of a
/// report whatever order a query returned them in (a ranking keeps its
/// order and its colours).
fn colours(labels: &[&str]) -> Vec<&'static str> {
    let mut sorted: Vec<&str> = labels.to_vec();
    sorted.sort_unstable();
    labels
        .iter()
        .map(|l| {
            let rank = sorted.binary_search(l).unwrap_or(0);
            PALETTE[rank % PALETTE.len()]
        })
        .collect()
}

/// Text for XML (content and attribute values): markup and quotes
/// escaped, characters XML cannot hold dropped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => {}
            c => out.push(c),
        }
    }
    out
}

/// The SVG of `d`. `title` names the step; `id` (letters, digits, `-`,
/// `_`) keeps the ids of `<title>` and `<desc>` unique in a page.
pub fn render(d: &ChartData, title: &str, id: &str) -> String {
    match d.kind {
        ChartKind::Line => line_chart(d, title, id),
        ChartKind::Bar => bar_chart(d, title, id),
    }
}

fn n(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// The opening tag, `<title>`, `<desc>`, background and heading.
fn open(out: &mut String, d: &ChartData, title: &str, id: &str, height: f64) {
    let heading = format!("{title} — {} chart", d.kind.as_str());
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" font-family=\"{FONT}\">",
        w = n(WIDTH),
        h = n(height)
    );
    let _ = writeln!(out, "<title id=\"{id}-title\">{}</title>", esc(&heading));
    let _ = writeln!(
        out,
        "<desc id=\"{id}-desc\">{}</desc>",
        esc(&description(d))
    );
    let _ = writeln!(
        out,
        "<rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"#ffffff\" stroke=\"#e5e7eb\"/>",
        n(WIDTH - 1.0),
        n(height - 1.0)
    );
    let _ = writeln!(
        out,
        "<text x=\"20\" y=\"30\" font-size=\"15\" font-weight=\"600\" fill=\"#111827\">{}</text>",
        esc(&cut(title, 60))
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"30\" font-size=\"12\" fill=\"#6b7280\" text-anchor=\"end\">{}</text>",
        n(WIDTH - 20.0),
        esc(&subtitle(d))
    );
}

/// `3 series · seconds · Prometheus range`.
fn subtitle(d: &ChartData) -> String {
    let mut parts = vec![format!("{} series", d.series.len() + d.summary.more_series)];
    if let Some(u) = &d.summary.unit {
        parts.push(format!("unit: {u}"));
    }
    parts.push(
        match d.summary.source.as_str() {
            "prometheus-matrix" => "Prometheus range",
            "prometheus-vector" => "Prometheus instant",
            "json" => "JSON",
            _ => "text",
        }
        .to_string(),
    );
    parts.join(" · ")
}

/// What the chart shows, for `<desc>`: each series' min, max and last.
pub fn description(d: &ChartData) -> String {
    let mut s = format!(
        "{} chart of {} series.",
        if d.kind == ChartKind::Line {
            "Line"
        } else {
            "Bar"
        },
        d.series.len() + d.summary.more_series
    );
    for x in &d.summary.series {
        let _ = write!(
            s,
            " {}: min {}, max {}, last {}.",
            x.label,
            d.unit.format(x.min),
            d.unit.format(x.max),
            d.unit.format(x.last)
        );
    }
    if d.summary.more_series > 0 {
        let _ = write!(s, " +{} more series not shown.", d.summary.more_series);
    }
    s
}

/// The notes under a chart: series left out, points skipped.
fn notes(d: &ChartData) -> Vec<String> {
    let mut v = Vec::new();
    if d.summary.more_series > 0 {
        v.push(format!(
            "+{} more series not shown (at most {} are drawn)",
            d.summary.more_series,
            super::MAX_SERIES
        ));
    }
    if d.summary.skipped_points > 0 {
        v.push(format!(
            "{} points skipped (NaN, Inf, stale or missing)",
            d.summary.skipped_points
        ));
    }
    v
}

/// A line chart's x axis: time (round UTC ticks) or plain numbers.
struct XAxis {
    min: f64,
    max: f64,
    ticks: Vec<(f64, String)>,
    caption: String,
}

impl XAxis {
    fn of(d: &ChartData, lo: f64, hi: f64) -> XAxis {
        if d.time {
            let a = scale::time_axis(lo, hi, 7);
            XAxis {
                min: a.min,
                max: a.max,
                caption: format!("Time ({})", a.caption),
                ticks: a.ticks,
            }
        } else {
            let a: Axis = scale::value_axis(lo, hi, 6, false);
            let labels = Unit::None.format_ticks(&a.ticks);
            XAxis {
                min: a.min,
                max: a.max,
                ticks: a.ticks.iter().copied().zip(labels).collect(),
                caption: String::new(),
            }
        }
    }

    fn fraction(&self, v: f64) -> f64 {
        if self.max > self.min {
            (v - self.min) / (self.max - self.min)
        } else {
            0.5
        }
    }
}

const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const BOTTOM: f64 = TOP + PLOT_H;

fn line_chart(d: &ChartData, title: &str, id: &str) -> String {
    let pts = || d.series.iter().flat_map(|s| s.points.iter());
    let (xlo, xhi) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (ylo, yhi) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let zero = ylo >= 0.0 && ylo <= (yhi - ylo);
    let y = scale::value_axis(ylo, yhi, 5, zero);
    let rows = d.series.len().div_ceil(2);
    let legend_top = BOTTOM + 62.0;
    let notes = notes(d);
    let last_row = legend_top + rows.saturating_sub(1) as f64 * 22.0;
    let height = last_row + notes.len() as f64 * 18.0 + 18.0;
    let mut out = String::new();
    open(&mut out, d, title, id, height);
    y_grid(&mut out, d, &y);
    let x = XAxis::of(d, xlo, xhi);
    x_axis(&mut out, &x);
    let px = |v: f64| LEFT + x.fraction(v) * PLOT_W;
    let py = |v: f64| BOTTOM - y.fraction(v) * PLOT_H;
    let labels: Vec<&str> = d.series.iter().map(|s| s.label.as_str()).collect();
    let colour_of = colours(&labels);
    for (i, s) in d.series.iter().enumerate() {
        let colour = colour_of[i];
        let _ = writeln!(out, "<g><title>{}</title>", esc(&s.label));
        if s.points.len() > 1 {
            let coords: Vec<String> = s
                .points
                .iter()
                .map(|(x, v)| format!("{},{}", n(px(*x)), n(py(*v))))
                .collect();
            let _ = writeln!(
                out,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"{}\"/>",
                coords.join(" ")
            );
        }
        if let Some((x, v)) = s.points.last() {
            let _ = writeln!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{colour}\" stroke=\"#ffffff\" stroke-width=\"1.5\"/>",
                n(px(*x)),
                n(py(*v))
            );
        }
        out.push_str("</g>\n");
    }
    legend(&mut out, d, &colour_of, legend_top);
    push_notes(&mut out, &notes, last_row + 22.0);
    out.push_str("</svg>\n");
    out
}

/// Horizontal grid lines with the value labels (the zero line darker).
fn y_grid(out: &mut String, d: &ChartData, y: &Axis) {
    let labels = d.unit.format_ticks(&y.ticks);
    for (t, label) in y.ticks.iter().zip(&labels) {
        let yy = BOTTOM - y.fraction(*t) * PLOT_H;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" stroke=\"{}\" stroke-width=\"1\"/>",
            n(LEFT),
            n(LEFT + PLOT_W),
            if *t == 0.0 { "#9ca3af" } else { "#e5e7eb" },
            yy = n(yy)
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#4b5563\" text-anchor=\"end\">{}</text>",
            n(LEFT - 8.0),
            n(yy + 4.0),
            esc(label)
        );
    }
}

/// The x ticks, their labels, the axis line and the caption.
fn x_axis(out: &mut String, x: &XAxis) {
    for (t, label) in &x.ticks {
        let xx = LEFT + x.fraction(*t) * PLOT_W;
        let _ = writeln!(
            out,
            "<line x1=\"{xx}\" y1=\"{}\" x2=\"{xx}\" y2=\"{}\" stroke=\"#f3f4f6\" stroke-width=\"1\"/>",
            n(TOP),
            n(BOTTOM + 5.0),
            xx = n(xx)
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#4b5563\" text-anchor=\"middle\">{}</text>",
            n(xx),
            n(BOTTOM + 20.0),
            esc(label)
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{}\" y1=\"{b}\" x2=\"{}\" y2=\"{b}\" stroke=\"#9ca3af\" stroke-width=\"1\"/>",
        n(LEFT),
        n(LEFT + PLOT_W),
        b = n(BOTTOM)
    );
    if !x.caption.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#6b7280\" text-anchor=\"middle\">{}</text>",
            n(LEFT + PLOT_W / 2.0),
            n(BOTTOM + 40.0),
            esc(&x.caption)
        );
    }
}

/// Two columns of swatch, label and last value.
fn legend(out: &mut String, d: &ChartData, colour_of: &[&str], top: f64) {
    let col_w = (WIDTH - 40.0) / 2.0;
    for (i, s) in d.summary.series.iter().enumerate() {
        let (r, c) = (i / 2, i % 2);
        let x = 20.0 + c as f64 * col_w;
        let yy = top + r as f64 * 22.0;
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"4\" rx=\"2\" fill=\"{}\"/>",
            n(x),
            n(yy - 6.0),
            colour_of[i]
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#1f2937\">{} <tspan fill=\"#6b7280\">last {}</tspan></text>",
            n(x + 20.0),
            n(yy),
            esc(&cut(&s.label, 40)),
            esc(&d.unit.format(s.last))
        );
    }
}

fn push_notes(out: &mut String, notes: &[String], top: f64) {
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"20\" y=\"{}\" font-size=\"11\" fill=\"#6b7280\" font-style=\"italic\">{}</text>",
            n(top + i as f64 * 18.0),
            esc(note)
        );
    }
}

/// One horizontal bar per series (its last value), ranked as given.
fn bar_chart(d: &ChartData, title: &str, id: &str) -> String {
    const ROW: f64 = 28.0;
    const LABEL_W: f64 = 250.0;
    let values: Vec<f64> = d.summary.series.iter().map(|s| s.last).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let x = scale::value_axis(lo.min(0.0), hi.max(0.0), 5, true);
    let left = 20.0 + LABEL_W;
    let plot_w = WIDTH - left - 70.0;
    let top = TOP;
    let bottom = top + values.len().max(1) as f64 * ROW;
    let notes = notes(d);
    let height = bottom + 44.0 + notes.len() as f64 * 18.0 + 8.0;
    let mut out = String::new();
    open(&mut out, d, title, id, height);
    let px = |v: f64| left + x.fraction(v) * plot_w;
    let labels = d.unit.format_ticks(&x.ticks);
    for (t, label) in x.ticks.iter().zip(&labels) {
        let xx = px(*t);
        let _ = writeln!(
            out,
            "<line x1=\"{xx}\" y1=\"{}\" x2=\"{xx}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>",
            n(top - 4.0),
            n(bottom),
            if *t == 0.0 { "#9ca3af" } else { "#e5e7eb" },
            xx = n(xx)
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#4b5563\" text-anchor=\"middle\">{}</text>",
            n(xx),
            n(bottom + 18.0),
            esc(label)
        );
    }
    let names: Vec<&str> = d.summary.series.iter().map(|s| s.label.as_str()).collect();
    let colour_of = colours(&names);
    for (i, s) in d.summary.series.iter().enumerate() {
        let colour = colour_of[i];
        let yy = top + i as f64 * ROW;
        let (a, b) = (px(0f64.max(x.min)), px(s.last));
        let _ = writeln!(
            out,
            "<g><title>{}: {}</title>",
            esc(&s.label),
            esc(&d.unit.format(s.last))
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#1f2937\" text-anchor=\"end\">{}</text>",
            n(left - 10.0),
            n(yy + ROW / 2.0 + 4.0),
            esc(&cut(&s.label, 36))
        );
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"{colour}\"/>",
            n(a.min(b)),
            n(yy + 5.0),
            n((b - a).abs().max(1.0)),
            n(ROW - 10.0)
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#374151\">{}</text>",
            n(a.max(b) + 6.0),
            n(yy + ROW / 2.0 + 4.0),
            esc(&d.unit.format(s.last))
        );
        out.push_str("</g>\n");
    }
    push_notes(&mut out, &notes, bottom + 40.0);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_controls() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\"\u{1}\u{7}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
