//! Axis ranges and ticks: "nice" value ticks (steps of 1, 2 or 5 times a
//! power of ten) and time ticks on round UTC times (every 5 minutes, every
//! hour…), with labels a person reads at a glance.

/// A value axis: its ends and its ticks (both ends are ticks).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<f64>,
}

impl Axis {
    /// Where `v` falls on the axis, 0 at `min` to 1 at `max`.
    pub fn fraction(&self, v: f64) -> f64 {
        if self.max > self.min {
            (v - self.min) / (self.max - self.min)
        } else {
            0.5
        }
    }
}

/// A step of 1, 2, 2.5 or 5 times a power of ten near `raw`.
fn nice_step(raw: f64) -> f64 {
    let exp = raw.log10().floor();
    let base = 10f64.powf(exp);
    let f = raw / base;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// Nice ticks covering `lo..=hi` with about `target` intervals. A flat
/// range is widened around its value; `zero` pulls the axis to 0 when the
/// data are all on one side of it.
pub fn value_axis(lo: f64, hi: f64, target: usize, zero: bool) -> Axis {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    if zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
        if zero && lo < 0.0 && hi - pad >= 0.0 {
            lo = 0.0;
        }
    }
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let min = (lo / step).floor() * step;
    let max = (hi / step).ceil() * step;
    let n = ((max - min) / step).round() as usize;
    let ticks = (0..=n.min(50)).map(|i| min + step * i as f64).collect();
    Axis { min, max, ticks }
}

/// Tick spacings a time axis may use, in seconds.
const TIME_STEPS: &[i64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172_800, 604_800, 2_592_000, 31_536_000,
];

/// A time axis over `lo..=hi` (Unix seconds): round UTC ticks inside the
/// range, at most `max_ticks` of them, and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeAxis {
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<(f64, String)>,
    /// The date(s) the axis covers, for its caption: `2026-12-05 UTC`.
    pub caption: String,
}

impl TimeAxis {
    pub fn fraction(&self, t: f64) -> f64 {
        if self.max > self.min {
            (t - self.min) / (self.max - self.min)
        } else {
            0.5
        }
    }
}

pub fn time_axis(lo: f64, hi: f64, max_ticks: usize) -> TimeAxis {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 30.0, lo + 30.0)
    };
    let span = hi - lo;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| span / (*s as f64) <= max_ticks.max(2) as f64)
        .unwrap_or(31_536_000);
    let first = ((lo / step as f64).ceil() as i64) * step;
    let mut ticks = Vec::new();
    let mut t = first;
    while (t as f64) <= hi && ticks.len() < 64 {
        ticks.push((t as f64, time_label(t, step, span)));
        t += step;
    }
    let (d0, d1) = (date(lo as i64), date(hi as i64));
    let caption = if d0 == d1 {
        format!("{d0} UTC")
    } else {
        format!("{d0} – {d1} UTC")
    };
    TimeAxis {
        min: lo,
        max: hi,
        ticks,
        caption,
    }
}

fn timestamp(t: i64) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_second(t).ok()
}

fn date(t: i64) -> String {
    timestamp(t)
        .map(|ts| ts.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `14:05`, `14:05:30` for second steps, `12-05 14:00` across days,
/// `2026-12-05` for day steps.
fn time_label(t: i64, step: i64, span: f64) -> String {
    let Some(ts) = timestamp(t) else {
        return t.to_string();
    };
    let fmt = if step >= 86_400 {
        "%Y-%m-%d"
    } else if span > 86_400.0 {
        "%m-%d %H:%M"
    } else if step < 60 {
        "%H:%M:%S"
    } else {
        "%H:%M"
    };
    ts.strftime(fmt).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ticks_are_round_and_cover_the_data() {
        let a = value_axis(0.083, 0.96, 5, true);
        assert_eq!(a.min, 0.0);
        assert_eq!(a.max, 1.0);
        assert_eq!(a.ticks.len(), 6);
        assert!((a.ticks[1] - 0.2).abs() < 1e-12);
        let a = value_axis(123.0, 987.0, 5, false);
        assert_eq!((a.min, a.max), (0.0, 1000.0));
        let a = value_axis(-3.0, 7.0, 5, false);
        assert_eq!((a.min, a.max), (-4.0, 8.0));
    }

    #[test]
    fn a_flat_series_gets_a_visible_range() {
        let a = value_axis(5.0, 5.0, 5, false);
        assert!(a.min < 5.0 && a.max > 5.0, "{a:?}");
        let a = value_axis(0.0, 0.0, 5, true);
        assert_eq!((a.min, a.max), (0.0, 1.0));
        let a = value_axis(f64::NAN, f64::INFINITY, 5, true);
        assert_eq!((a.min, a.max), (0.0, 1.0));
    }

    #[test]
    fn time_ticks_fall_on_round_utc_times() {
        // 2026-12-05 07:00:00 UTC .. 08:00:00.
        let lo = 1_796_454_000.0;
        let a = time_axis(lo, lo + 3600.0, 7);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "07:00", "07:10", "07:20", "07:30", "07:40", "07:50", "08:00"
            ]
        );
        assert_eq!(a.caption, "2026-12-05 UTC");
        let a = time_axis(lo + 5.0, lo + 50.0, 6);
        assert_eq!(a.ticks[0].1, "07:00:10");
        let a = time_axis(lo, lo + 3.0 * 86_400.0, 6);
        assert_eq!(a.ticks[0].1, "12-05 12:00");
        let a = time_axis(lo, lo + 30.0 * 86_400.0, 6);
        assert_eq!(a.ticks[0].1, "2026-12-10");
        assert_eq!(a.caption, "2026-12-05 – 2027-01-04 UTC");
    }

    #[test]
    fn a_single_instant_gets_a_minute_around_it() {
        let a = time_axis(1_796_454_000.0, 1_796_454_000.0, 6);
        assert!(a.min < a.max);
        assert!(!a.ticks.is_empty());
    }
}
