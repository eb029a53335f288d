//! A step's chart in each report: the SVG inline in the HTML report, an
//! `image/svg+xml` output in the notebook, and in the annotated copy a
//! link to the SVG beside it with a text table (series, min, max, last),
//! so the copy still reads as text. All of it from the (redacted) record
//! through [`crate::chart::recorded`].

use crate::chart::{self, ChartData};
use crate::record::StepRecord;

/// The chart of a step with something to draw.
fn drawable(step: &StepRecord) -> Option<ChartData> {
    chart::recorded(step).filter(|d| !d.series.is_empty())
}

/// The step's chart as SVG, when it has one with data.
pub fn svg(step: &StepRecord) -> Option<String> {
    let d = drawable(step)?;
    Some(chart::svg::render(
        &d,
        &step.name,
        &format!("chart-{}", step.index + 1),
    ))
}

/// Why a step that should have had a chart has none (an empty result).
pub fn note(step: &StepRecord) -> Option<String> {
    step.chart
        .as_ref()
        .filter(|c| c.series.is_empty())
        .map(|c| c.note.clone().unwrap_or_else(|| "no chart: no data".into()))
}

/// The HTML report's figure, or the line saying there is no chart.
pub fn html(step: &StepRecord) -> String {
    if let Some(svg) = svg(step) {
        return format!("<figure class=\"chart\">\n{svg}</figure>\n");
    }
    match note(step) {
        Some(n) => format!("<p class=\"chart-note\">{}</p>\n", chart::svg::esc(&n)),
        None => String::new(),
    }
}

/// The notebook output of the chart: `display_data` with the SVG (and a
/// text fallback), or a stream line saying there is none.
pub fn ipynb_output(step: &StepRecord) -> Option<serde_json::Value> {
    if let Some(svg) = svg(step) {
        let d = drawable(step)?;
        return Some(serde_json::json!({
            "output_type": "display_data",
            "data": {
                "image/svg+xml": svg,
                "text/plain": [chart::svg::description(&d)],
            },
            "metadata": {},
        }));
    }
    note(step).map(|n| {
        serde_json::json!({ "output_type": "stream", "name": "stdout", "text": [format!("{n}\n")] })
    })
}

/// The copy's lines for the chart: the image link (once the SVG is
/// written beside the copy) and the table. `code` and `cell` are the
/// copy's escapes for a code span and a table cell.
pub fn markdown_lines(
    step: &StepRecord,
    code: &dyn Fn(&str) -> String,
    cell: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let Some(c) = &step.chart else {
        return Vec::new();
    };
    let mut lines = vec![String::new()];
    if c.series.is_empty() {
        lines.push(format!(
            "Chart: {}",
            code(c.note.as_deref().unwrap_or("no chart: no data"))
        ));
        return lines;
    }
    if let Some(path) = &c.svg {
        lines.push(format!(
            "![Chart of {}]({})",
            alt_text(&step.name),
            url_path(path)
        ));
        lines.push(String::new());
    }
    let unit = chart::Unit::parse(c.unit.as_deref());
    lines.push("| Series | Min | Max | Last |".into());
    lines.push("|---|---:|---:|---:|".into());
    for s in &c.series {
        lines.push(format!(
            "| {} | {} | {} | {} |",
            cell(&code(&s.label)),
            unit.format(s.min),
            unit.format(s.max),
            unit.format(s.last)
        ));
    }
    if c.more_series > 0 {
        lines.push(String::new());
        lines.push(format!("+{} more series not shown", c.more_series));
    }
    lines
}

/// A step name as image alt text: letters, digits, blanks and `-_.:`.
fn alt_text(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A relative path as a Markdown link target: every byte that is not
/// unreserved (or `/`) percent-encoded, so no space, parenthesis or
/// bracket can end the link.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_cannot_break_out() {
        assert_eq!(
            url_path("my copy (1).md.assets/a b.svg"),
            "my%20copy%20%281%29.md.assets/a%20b.svg"
        );
        assert_eq!(alt_text("x](javascript:y)"), "x__javascript:y_");
    }
}
