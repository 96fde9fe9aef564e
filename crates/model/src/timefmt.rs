//! Timestamps: midwatch keeps every time as milliseconds since the Unix epoch (OCSF `time`)
//! and accepts RFC 3339 text or epoch numbers at its edges.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parse RFC 3339 (`2026-01-05T09:00:00.123Z`, offsets allowed) into epoch milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Interpret an epoch number whose unit is not stated: values below 10^11 are seconds,
/// below 10^14 milliseconds, below 10^17 microseconds, otherwise nanoseconds.
pub fn epoch_number_to_ms(n: f64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let ms = if n < 1e11 {
        n * 1000.0
    } else if n < 1e14 {
        n
    } else if n < 1e17 {
        n / 1000.0
    } else {
        n / 1_000_000.0
    };
    if ms > 253_402_300_799_000.0 {
        return None; // beyond year 9999
    }
    #[expect(clippy::cast_possible_truncation, reason = "range checked above")]
    Some(ms.round() as i64)
}

/// Format epoch milliseconds as RFC 3339 in UTC with millisecond precision.
pub fn format_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(dt) => {
            let (y, mo, d) = (dt.year(), u8::from(dt.month()), dt.day());
            format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.millisecond()
            )
        }
        Err(_) => ms.to_string(),
    }
}

/// Parse a duration like `90s`, `30m`, `8h`, `7d`, `1500ms` or a bare number of seconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "s" => 1000,
        "ms" => 1,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Wall-clock now in epoch milliseconds.
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let ms = parse_rfc3339_ms("2026-01-05T09:00:00.123Z").unwrap();
        assert_eq!(format_ms(ms), "2026-01-05T09:00:00.123Z");
        assert_eq!(parse_rfc3339_ms("2026-01-05T10:00:00.123+01:00"), Some(ms));
        assert_eq!(parse_rfc3339_ms("2017-09-31T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn epoch_units() {
        assert_eq!(epoch_number_to_ms(1_700_000_000.0), Some(1_700_000_000_000));
        assert_eq!(
            epoch_number_to_ms(1_700_000_000_123.0),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            epoch_number_to_ms(1_700_000_000_123_000.0),
            Some(1_700_000_000_123)
        );
        assert_eq!(epoch_number_to_ms(-1.0), None);
        assert_eq!(epoch_number_to_ms(f64::NAN), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("8h"), Some(28_800_000));
        assert_eq!(parse_duration_ms("90"), Some(90_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("soon"), None);
        assert_eq!(parse_duration_ms("5 fortnights"), None);
    }
}
