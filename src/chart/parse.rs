//! Where a chart's numbers come from: a Prometheus query result (the API's
//! answer or its bare `data` object, `matrix` or `vector`), a JSON array of
//! points (`[{"series": "a", "t": 1700000000, "value": 1.5}, …]`), or text
//! lines of two or three columns (`[SERIES] X Y`, separated by blanks or
//! commas). Values that are not finite numbers (`NaN`, `+Inf`, `stale`,
//! missing) are skipped and counted.

use super::Series;
use indexmap::IndexMap;
use serde_json::Value;

/// The numbers found, before any cap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub series: Vec<Series>,
    /// `prometheus-matrix`, `prometheus-vector`, `json` or `text`.
    pub source: &'static str,
    /// The x values are times (Unix seconds).
    pub time: bool,
    /// Points left out: not a finite number.
    pub skipped: usize,
}

/// A Prometheus result inside `v`, if `v` is one: `Some(Err)` when it says
/// it is one but is not well formed.
pub fn prometheus(v: &Value) -> Option<Result<Parsed, String>> {
    let data = match v.get("data") {
        Some(d) if v.get("status").is_some() => d,
        _ => v,
    };
    let kind = data.get("resultType")?.as_str()?;
    let result = data.get("result")?;
    let (source, is_matrix) = match kind {
        "matrix" => ("prometheus-matrix", true),
        "vector" => ("prometheus-vector", false),
        _ => return None,
    };
    let Some(items) = result.as_array() else {
        return Some(Err(format!("Prometheus {kind} result is not a list")));
    };
    let mut metrics = Vec::with_capacity(items.len());
    let mut out = Parsed {
        source,
        time: true,
        ..Default::default()
    };
    for item in items {
        let labels: IndexMap<String, String> = item
            .get("metric")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), super::plain(v)))
                    .collect()
            })
            .unwrap_or_default();
        let samples: Vec<&Value> = if is_matrix {
            item.get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default()
        } else {
            item.get("value").into_iter().collect()
        };
        let mut points = Vec::with_capacity(samples.len());
        for s in samples {
            match sample(s) {
                Some(p) => points.push(p),
                None => out.skipped += 1,
            }
        }
        metrics.push(labels);
        out.series.push(Series {
            label: String::new(),
            points,
        });
    }
    for (s, label) in out.series.iter_mut().zip(labels_of(&metrics)) {
        s.label = label;
    }
    Some(Ok(out))
}

/// `[1700000000.5, "0.25"]` → (t, v) when both are finite numbers.
fn sample(s: &Value) -> Option<(f64, f64)> {
    let a = s.as_array()?;
    let t = number(a.first()?)?;
    let v = number(a.get(1)?)?;
    Some((t, v))
}

/// A finite number, given as a JSON number or as a string holding one.
fn number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// A time: Unix seconds, or an RFC 3339 string.
fn time(v: &Value) -> Option<f64> {
    number(v).or_else(|| {
        let ts: jiff::Timestamp = v.as_str()?.trim().parse().ok()?;
        Some(ts.as_millisecond() as f64 / 1000.0)
    })
}

/// Series names from Prometheus label sets: `{instance="a", job="x"}`,
/// leaving out the labels every series has with the same value (the
/// metric name first among them). A label set left empty keeps them all.
pub fn labels_of(metrics: &[IndexMap<String, String>]) -> Vec<String> {
    let constant = |k: &str, v: &str| {
        metrics.len() > 1
            && metrics
                .iter()
                .all(|m| m.get(k).map(String::as_str) == Some(v))
    };
    metrics
        .iter()
        .map(|m| {
            let varying: Vec<(&String, &String)> =
                m.iter().filter(|(k, v)| !constant(k, v)).collect();
            let shown = if varying.is_empty() {
                m.iter().collect()
            } else {
                varying
            };
            let name = shown
                .iter()
                .find(|(k, _)| k.as_str() == "__name__")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            let rest: Vec<String> = shown
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            match (name.is_empty(), rest.is_empty()) {
                (true, true) => "{}".to_string(),
                (false, true) => name,
                _ => format!("{name}{{{}}}", rest.join(", ")),
            }
        })
        .collect()
}

/// A JSON array of points: objects with `series` (or `label`), `x` (or
/// `t`, `time`) and `y` (or `value`). A point without `x` takes its index.
pub fn json_points(v: &Value) -> Option<Result<Parsed, String>> {
    let items = v.as_array()?;
    let mut by_series: IndexMap<String, Vec<(f64, f64)>> = IndexMap::new();
    let mut out = Parsed {
        source: "json",
        time: true,
        ..Default::default()
    };
    let mut any_x = false;
    for (i, item) in items.iter().enumerate() {
        let Some(o) = item.as_object() else {
            return Some(Err(format!(
                "point {} is not an object with `series`, `x` and `y`",
                i + 1
            )));
        };
        let get = |keys: &[&str]| keys.iter().find_map(|k| o.get(*k));
        let label = get(&["series", "label", "name"])
            .map(super::plain)
            .unwrap_or_default();
        let x = match get(&["x", "t", "time", "timestamp"]) {
            Some(x) => {
                any_x = true;
                let t = time(x);
                if t.is_some_and(|t| t < 1e8) || (t.is_none() && x.is_string()) {
                    out.time = false;
                }
                t
            }
            None => Some(i as f64),
        };
        let y = get(&["y", "value", "v"]).and_then(number);
        let entry = by_series.entry(label).or_default();
        match (x, y) {
            (Some(x), Some(y)) => entry.push((x, y)),
            _ => out.skipped += 1,
        }
    }
    out.time &= any_x;
    out.series = by_series
        .into_iter()
        .map(|(label, points)| Series { label, points })
        .collect();
    Some(Ok(out))
}

/// Text lines `X Y` or `SERIES X Y` (blanks or commas between columns);
/// `#` comments, blank lines and a first line of column names are
/// skipped. `Err` names the first line that is none of these.
pub fn text(s: &str) -> Result<Parsed, String> {
    let mut by_series: IndexMap<String, Vec<(f64, f64)>> = IndexMap::new();
    let mut out = Parsed {
        source: "text",
        time: true,
        ..Default::default()
    };
    let mut seen = 0usize;
    for (n, line) in s.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line
            .split([',', '\t', ' '])
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let (label, x, y) = match cols.as_slice() {
            [x, y] => (String::new(), *x, *y),
            [l, x, y] => (l.to_string(), *x, *y),
            _ => {
                return Err(format!(
                    "line {}: expected `X Y` or `SERIES X Y`, found {} columns",
                    n + 1,
                    cols.len()
                ));
            }
        };
        let xv = time(&Value::String(x.to_string()));
        let is_y_number = y.parse::<f64>().is_ok();
        if xv.is_none() || !is_y_number {
            if seen == 0 && out.series.is_empty() && by_series.is_empty() {
                seen += 1; // a header line
                continue;
            }
            if xv.is_some() && matches!(y, "NaN" | "+Inf" | "-Inf" | "Inf" | "stale" | "-") {
                out.skipped += 1;
                continue;
            }
            return Err(format!("line {}: `{x}` `{y}` are not numbers", n + 1));
        }
        seen += 1;
        let (xv, yv) = (xv.unwrap_or_default(), y.parse::<f64>().unwrap_or(f64::NAN));
        if xv < 1e8 {
            out.time = false;
        }
        if yv.is_finite() {
            by_series.entry(label).or_default().push((xv, yv));
        } else {
            out.skipped += 1;
        }
    }
    out.series = by_series
        .into_iter()
        .map(|(label, points)| Series { label, points })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_matrix_with_constant_labels_trimmed_and_bad_values_skipped() {
        let v = json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "lat", "job": "api", "instance": "a:1"},
             "values": [[1700000000, "0.5"], [1700000060, "NaN"], [1700000120, "+Inf"], [1700000180, "0.7"]]},
            {"metric": {"__name__": "lat", "job": "api", "instance": "b:1"},
             "values": [[1700000000, "0.1"], [1700000060, "stale"], [1700000120]]}
        ]}});
        let p = prometheus(&v).unwrap().unwrap();
        assert_eq!(p.source, "prometheus-matrix");
        assert_eq!(p.series[0].label, "{instance=\"a:1\"}");
        assert_eq!(p.series[1].label, "{instance=\"b:1\"}");
        assert_eq!(p.series[0].points, [(1.7e9, 0.5), (1_700_000_180.0, 0.7)]);
        assert_eq!(p.skipped, 4);
    }

    #[test]
    fn a_bare_vector_and_a_single_series_keeps_its_labels() {
        let v = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "x\"y"}, "value": [1700000000.5, "1"]}
        ]});
        let p = prometheus(&v).unwrap().unwrap();
        assert_eq!(p.series[0].label, "up{job=\"x\\\"y\"}");
        assert_eq!(p.series[0].points, [(1_700_000_000.5, 1.0)]);
        assert!(prometheus(&json!({"resultType": "scalar", "result": [1, "2"]})).is_none());
        assert!(prometheus(&json!({"a": 1})).is_none());
        assert_eq!(
            prometheus(&json!({"resultType": "matrix", "result": 3})),
            Some(Err("Prometheus matrix result is not a list".into()))
        );
    }

    #[test]
    fn json_points_by_series() {
        let v = json!([
            {"series": "a", "t": "2026-12-05T07:00:00Z", "value": 1},
            {"series": "a", "t": "2026-12-05T07:01:00Z", "value": "2.5"},
            {"series": "b", "t": 1796454000, "y": null}
        ]);
        let p = json_points(&v).unwrap().unwrap();
        assert!(p.time);
        assert_eq!(p.series.len(), 2);
        assert_eq!(
            p.series[0].points,
            [(1_796_454_000.0, 1.0), (1_796_454_060.0, 2.5)]
        );
        assert_eq!(p.skipped, 1);
        let p = json_points(&json!([{"x": 1, "y": 2}, {"x": 2, "y": 3}]))
            .unwrap()
            .unwrap();
        assert!(!p.time);
        assert!(json_points(&json!([1, 2])).unwrap().is_err());
    }

    #[test]
    fn text_columns_with_a_header_and_comments() {
        let p = text(
            "# latency\nhost t value\na 1796454000 0.5\nb,1796454000,0.25\na 1796454060 NaN\n",
        )
        .unwrap();
        assert_eq!(p.series.len(), 2);
        assert_eq!(p.series[0].label, "a");
        assert_eq!(p.skipped, 1);
        assert!(p.time);
        let p = text("1 2\n2 4\n").unwrap();
        assert!(!p.time);
        assert_eq!(p.series[0].points, [(1.0, 2.0), (2.0, 4.0)]);
        assert_eq!(
            text("1 2\nfoo bar\n").unwrap_err(),
            "line 2: `foo` `bar` are not numbers"
        );
        assert_eq!(
            text("1 2 3 4\n").unwrap_err(),
            "line 1: expected `X Y` or `SERIES X Y`, found 4 columns"
        );
    }
}
