//! Durations as runbooks write them (`30s`, `500ms`, `1h30m`) and as the
//! reports show them. Step attributes, the front matter, the inventory and
//! HTTP steps all read and write the same syntax, so it lives here, used by
//! `document`, `exec`, `analyze` and `report` alike, owned by none of them.

use std::time::Duration;

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

/// `30s`, `1.5s`, `250ms`, `2m`, `2m30s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(1000) && ms < 60_000 {
        format!("{}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        match (s / 60, s % 60) {
            (0, s) => format!("{s}s"),
            (m, 0) => format!("{m}m"),
            (m, s) => format!("{m}m{s}s"),
        }
    }
}

/// A duration in milliseconds, for people: `850 ms`, `1.2 s`, `2m 05s`,
/// `1h 02m 03s`.
pub fn format_duration_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{} s", ms / 1_000, (ms % 1_000) / 100)
    } else if ms < 3_600_000 {
        let s = ms / 1_000;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let s = ms / 1_000;
        format!("{}h {:02}m {:02}s", s / 3_600, (s % 3_600) / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
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

    #[test]
    fn compact_forms() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration_ms(0), "0 ms");
        assert_eq!(format_duration_ms(999), "999 ms");
        assert_eq!(format_duration_ms(1_250), "1.2 s");
        assert_eq!(format_duration_ms(59_999), "59.9 s");
        assert_eq!(format_duration_ms(125_000), "2m 05s");
        assert_eq!(format_duration_ms(3_723_000), "1h 02m 03s");
    }
}
