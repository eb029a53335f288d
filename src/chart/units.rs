//! How a chart spells its numbers: `chart_unit=` picks the scale words
//! (`340 ms`, `1.2 s`, `1.5 GiB`, `42 %`), and every label of one axis is
//! written on the same scale with just enough decimals to tell the ticks
//! apart.

/// The unit of a chart's values (`chart_unit=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// No unit: plain numbers with SI prefixes (`1.2k`, `3.4M`).
    None,
    /// Values in seconds (`s`), shown as ns, µs, ms, s, min, h.
    Seconds,
    /// Values in milliseconds (`ms`), shown as [`Unit::Seconds`] are.
    Millis,
    /// Values in bytes (`bytes`, `B`), shown in binary prefixes (KiB, MiB…).
    Bytes,
    /// Percentages, 0–100 (`%`).
    Percent,
    /// Anything else (`req/s`): SI prefixes, then the unit as written.
    Other(String),
}

/// The units `chart_unit=` knows by name; any other short word is shown
/// after the number as written.
pub const KNOWN: &[&str] = &["s", "ms", "bytes", "%"];

impl Unit {
    pub fn parse(s: Option<&str>) -> Unit {
        match s.map(str::trim) {
            None | Some("") => Unit::None,
            Some("s" | "seconds" | "second") => Unit::Seconds,
            Some("ms" | "milliseconds") => Unit::Millis,
            Some("bytes" | "B" | "byte") => Unit::Bytes,
            Some("%" | "percent") => Unit::Percent,
            Some(other) => Unit::Other(other.to_string()),
        }
    }

    /// The scale a value of this size is shown on: (divisor, suffix).
    /// The value is first taken to the unit's base (ms → s).
    fn scale(&self, magnitude: f64) -> (f64, String) {
        let m = magnitude.abs();
        match self {
            Unit::Seconds | Unit::Millis => {
                let steps: &[(f64, &str)] = &[
                    (3600.0, " h"),
                    (60.0, " min"),
                    (1.0, " s"),
                    (1e-3, " ms"),
                    (1e-6, " µs"),
                    (1e-9, " ns"),
                ];
                pick(m, steps, (1.0, " s"))
            }
            Unit::Bytes => {
                let steps: &[(f64, &str)] = &[
                    (1024f64.powi(5), " PiB"),
                    (1024f64.powi(4), " TiB"),
                    (1024f64.powi(3), " GiB"),
                    (1024f64.powi(2), " MiB"),
                    (1024.0, " KiB"),
                    (1.0, " B"),
                ];
                pick(m, steps, (1.0, " B"))
            }
            Unit::Percent => (1.0, " %".into()),
            Unit::None | Unit::Other(_) => {
                let steps: &[(f64, &str)] =
                    &[(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")];
                let (d, s) = pick(m, steps, (1.0, ""));
                match self {
                    Unit::Other(u) => (d, format!("{s} {u}")),
                    _ => (d, s),
                }
            }
        }
    }

    /// The value in the unit's base: milliseconds are seconds here.
    fn base(&self, v: f64) -> f64 {
        match self {
            Unit::Millis => v / 1000.0,
            _ => v,
        }
    }

    /// One value, three significant digits: `340 ms`, `1.2 s`, `1.5 GiB`.
    pub fn format(&self, v: f64) -> String {
        if !v.is_finite() {
            return "–".into();
        }
        let v = self.base(v);
        let (div, suffix) = self.scale(v);
        let x = v / div;
        let decimals = if x == 0.0 {
            0
        } else {
            (2 - x.abs().log10().floor() as i32).clamp(0, 3) as usize
        };
        format!("{}{suffix}", trim_zeros(&format!("{x:.decimals$}")))
    }

    /// The labels of an axis whose ticks are `ticks` (evenly spaced): one
    /// scale for all, as many decimals as the step needs.
    pub fn format_ticks(&self, ticks: &[f64]) -> Vec<String> {
        let base: Vec<f64> = ticks.iter().map(|t| self.base(*t)).collect();
        let largest = base.iter().fold(0f64, |m, t| m.max(t.abs()));
        let (div, suffix) = self.scale(largest);
        let step = match base.as_slice() {
            [a, b, ..] => (b - a).abs() / div,
            _ => 1.0,
        };
        let decimals = if step > 0.0 && step < 1.0 {
            ((-step.log10()).ceil() as usize).min(6)
        } else {
            0
        };
        base.iter()
            .map(|t| {
                let x = t / div;
                let x = if x.abs() < step * 1e-9 { 0.0 } else { x };
                format!("{x:.decimals$}{suffix}")
            })
            .collect()
    }
}

/// The first scale whose divisor the magnitude reaches, or `small`.
fn pick(m: f64, steps: &[(f64, &str)], small: (f64, &str)) -> (f64, String) {
    if m == 0.0 {
        return (small.0, small.1.to_string());
    }
    steps
        .iter()
        .find(|(d, _)| m >= *d * 0.9995)
        .or(steps.last())
        .map(|(d, s)| (*d, s.to_string()))
        .unwrap_or((small.0, small.1.to_string()))
}

/// `1.50` → `1.5`, `2.00` → `2`, `340` stays.
fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_go_down_to_milliseconds_and_up_to_minutes() {
        let s = Unit::parse(Some("s"));
        assert_eq!(s.format(1.2), "1.2 s");
        assert_eq!(s.format(0.34), "340 ms");
        assert_eq!(s.format(0.0000421), "42.1 µs");
        assert_eq!(s.format(90.0), "1.5 min");
        assert_eq!(s.format(0.0), "0 s");
        assert_eq!(Unit::parse(Some("ms")).format(340.0), "340 ms");
        assert_eq!(Unit::parse(Some("ms")).format(1200.0), "1.2 s");
    }

    #[test]
    fn bytes_use_binary_prefixes() {
        let b = Unit::parse(Some("bytes"));
        assert_eq!(b.format(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5 GiB");
        assert_eq!(b.format(512.0), "512 B");
        assert_eq!(b.format(2048.0), "2 KiB");
    }

    #[test]
    fn percent_plain_and_other_units() {
        assert_eq!(Unit::parse(Some("%")).format(42.0), "42 %");
        assert_eq!(Unit::None.format(1234.0), "1.23k");
        assert_eq!(Unit::None.format(0.5), "0.5");
        assert_eq!(Unit::parse(Some("req/s")).format(1500.0), "1.5k req/s");
        assert_eq!(Unit::parse(Some("req/s")).format(15.0), "15 req/s");
        assert_eq!(Unit::None.format(f64::NAN), "–");
    }

    #[test]
    fn ticks_share_one_scale_and_enough_decimals() {
        let s = Unit::Seconds;
        assert_eq!(
            s.format_ticks(&[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
            ["0.0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1.0 s"]
        );
        assert_eq!(
            s.format_ticks(&[0.0, 0.05, 0.1, 0.15]),
            ["0 ms", "50 ms", "100 ms", "150 ms"]
        );
        let b = Unit::Bytes;
        let gib = 1024f64.powi(3);
        assert_eq!(
            b.format_ticks(&[0.0, 0.5 * gib, gib, 1.5 * gib]),
            ["0.0 GiB", "0.5 GiB", "1.0 GiB", "1.5 GiB"]
        );
        assert_eq!(
            Unit::None.format_ticks(&[-10.0, 0.0, 10.0]),
            ["-10", "0", "10"]
        );
    }
}
