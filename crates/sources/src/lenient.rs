//! Tolerant field readers for vendor records.
//!
//! Real vendor logs send `null` where a string is documented, `"null"` as a string, numbers
//! as strings and strings as numbers, booleans as `"true"`. A vendor record is rejected only
//! when it cannot mean an event at all, so vendor structs read their fields through these
//! helpers (`#[serde(default, deserialize_with = "lenient::string")]`) and keep going.
//! They never fail on a value of another type: they read what they can and answer `None`.

use midwatch_model::timefmt::{epoch_number_to_ms, parse_rfc3339_ms};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Any JSON value reduced to a scalar, or nothing.
enum Scalar {
    None,
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::None)
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

/// True for the placeholder strings vendors use for "no value".
fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null") || t == "-" || t.eq_ignore_ascii_case("none")
}

/// A string, from a string, number or boolean; `None` for null, `"null"`, `""`, `"-"`,
/// objects and arrays.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::Str(s) if is_placeholder(&s) => None,
        Scalar::Str(s) => Some(s),
        Scalar::U64(n) => Some(n.to_string()),
        Scalar::I64(n) => Some(n.to_string()),
        Scalar::F64(n) => Some(n.to_string()),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::None => None,
    })
}

/// An unsigned integer, from a number or a numeric string.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::U64(n) => Some(n),
        Scalar::I64(n) => u64::try_from(n).ok(),
        Scalar::F64(n) if n >= 0.0 && n.fract() == 0.0 && n < 1.8e19 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "range checked"
            )]
            Some(n as u64)
        }
        Scalar::Str(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An AS number: a number, `"64500"` or `"AS64500"`.
pub fn asn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::U64(n) => u32::try_from(n).ok(),
        Scalar::I64(n) => u32::try_from(n).ok(),
        Scalar::Str(s) => {
            let t = s.trim();
            let t = t
                .strip_prefix("AS")
                .or_else(|| t.strip_prefix("as"))
                .unwrap_or(t);
            t.parse().ok()
        }
        _ => None,
    })
}

/// A float, from a number or a numeric string.
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::F64(n) if n.is_finite() => Some(n),
        #[expect(clippy::cast_precision_loss, reason = "coordinates and scores")]
        Scalar::U64(n) => Some(n as f64),
        #[expect(clippy::cast_precision_loss, reason = "coordinates and scores")]
        Scalar::I64(n) => Some(n as f64),
        Scalar::Str(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
        _ => None,
    })
}

/// A boolean, from a boolean, `"true"`/`"false"` (any case), `"yes"`/`"no"` or 0/1.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::Bool(b) => Some(b),
        Scalar::U64(0) | Scalar::I64(0) => Some(false),
        Scalar::U64(1) | Scalar::I64(1) => Some(true),
        Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// A time in epoch milliseconds, from RFC 3339 text, a numeric string, or an epoch number
/// in seconds, milliseconds, microseconds or nanoseconds (unit by magnitude).
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match scalar(d)? {
        Scalar::Str(s) => parse_time_text(&s),
        #[expect(clippy::cast_precision_loss, reason = "epoch values fit in f64")]
        Scalar::U64(n) => epoch_number_to_ms(n as f64),
        #[expect(clippy::cast_precision_loss, reason = "epoch values fit in f64")]
        Scalar::I64(n) => epoch_number_to_ms(n as f64),
        Scalar::F64(n) => epoch_number_to_ms(n),
        _ => None,
    })
}

/// Parse the time texts vendors emit: RFC 3339, RFC 3339 without a zone (taken as UTC),
/// a space instead of `T`, more than nine fractional digits, or an epoch number.
pub fn parse_time_text(s: &str) -> Option<i64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(ms) = parse_rfc3339_ms(t) {
        return Some(ms);
    }
    if let Ok(n) = t.parse::<f64>() {
        return epoch_number_to_ms(n);
    }
    let mut fixed = t.replacen(' ', "T", 1);
    // Fractions longer than nanoseconds: keep nine digits.
    if let Some(dot) = fixed.find('.') {
        let digits = fixed
            .get(dot + 1..)
            .map(|r| r.chars().take_while(char::is_ascii_digit).count())
            .unwrap_or(0);
        if digits > 9 {
            fixed.replace_range(dot + 10..dot + 1 + digits, "");
        }
    }
    if let Some(ms) = parse_rfc3339_ms(&fixed) {
        return Some(ms);
    }
    // No zone: UTC.
    let has_zone = fixed.ends_with('Z')
        || fixed.ends_with('z')
        || fixed
            .get(fixed.len().saturating_sub(6)..)
            .is_some_and(|tail| {
                (tail.starts_with('+') || tail.starts_with('-')) && tail.contains(':')
            });
    if !has_zone {
        let with_zone = format!("{fixed}Z");
        if let Some(ms) = parse_rfc3339_ms(&with_zone) {
            return Some(ms);
        }
    }
    parse_slash_date(t)
}

/// The .NET `en-US` general date format Azure Monitor writes in some exports:
/// `M/D/YYYY h:mm:ss[.fff] [AM|PM] [±hh:mm|Z]`, UTC when no zone is given. Month first, as
/// that culture writes it; day first only when the first number cannot be a month.
fn parse_slash_date(t: &str) -> Option<i64> {
    let mut parts = t.split_ascii_whitespace();
    let date = parts.next()?;
    let clock = parts.next()?;
    let mut meridiem = None;
    let mut zone = None;
    for p in parts {
        if p.eq_ignore_ascii_case("am") || p.eq_ignore_ascii_case("pm") {
            meridiem = Some(p.eq_ignore_ascii_case("pm"));
        } else if zone.is_none() {
            zone = Some(p);
        } else {
            return None;
        }
    }
    let mut d = date.split('/');
    let (a, b, year): (u32, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1000..=9999).contains(&year) {
        return None;
    }
    let (month, day) = if a > 12 && b <= 12 { (b, a) } else { (a, b) };
    let mut c = clock.split(':');
    let mut hour: u32 = c.next()?.parse().ok()?;
    let minute: u32 = c.next()?.parse().ok()?;
    let second = c.next().unwrap_or("0");
    if c.next().is_some() {
        return None;
    }
    let (sec_whole, frac) = second.split_once('.').unwrap_or((second, ""));
    let sec: u32 = sec_whole.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(pm) = meridiem {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = match (pm, hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
    }
    let zone = match zone {
        None => "Z".to_string(),
        Some(z) if z.eq_ignore_ascii_case("z") || z.eq_ignore_ascii_case("utc") => "Z".into(),
        Some(z) => {
            let (sign, rest) = z.split_at_checked(1)?;
            if sign != "+" && sign != "-" {
                return None;
            }
            let (hh, mm) = rest.split_once(':').or_else(|| rest.split_at_checked(2))?;
            let (hh, mm): (u32, u32) = (hh.parse().ok()?, mm.parse().ok()?);
            format!("{sign}{hh:02}:{mm:02}")
        }
    };
    let frac: String = frac.chars().take(9).collect();
    let dot = if frac.is_empty() { "" } else { "." };
    let text =
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{sec:02}{dot}{frac}{zone}");
    parse_rfc3339_ms(&text)
}

/// A list of strings from an array (non-strings stringified, nulls dropped), a single
/// string, or a comma/space separated string.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
            d.deserialize_any(V)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(v.split([',', ' '])
                .map(str::trim)
                .filter(|s| !is_placeholder(s))
                .map(str::to_string)
                .collect())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element_seed(StringSeed)? {
                if let Some(s) = item {
                    out.push(s);
                }
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

struct StringSeed;

impl<'de> de::DeserializeSeed<'de> for StringSeed {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        string(d)
    }
}

/// A value that may arrive as JSON or as a string holding JSON (`"{\"a\":1}"`), parsed
/// into `T`; `None` when neither reading works.
pub fn json_or_string<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => serde_json::from_str(&s).ok(),
        serde_json::Value::Null => None,
        other => serde_json::from_value(other).ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    struct R {
        #[serde(default, deserialize_with = "string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "u64")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "time")]
        t: Option<i64>,
        #[serde(default, deserialize_with = "asn")]
        a: Option<u32>,
        #[serde(default, deserialize_with = "strings")]
        l: Vec<String>,
        #[serde(default, deserialize_with = "f64")]
        f: Option<f64>,
    }

    fn r(s: &str) -> R {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn reads_what_vendors_send() {
        let x = r(
            r#"{"s":"null","n":"42","b":"True","t":"2026-01-05 09:00:00.1234567890","a":"AS64500","l":"openid, email profile","f":"1.5"}"#,
        );
        assert_eq!(x.s, None);
        assert_eq!(x.n, Some(42));
        assert_eq!(x.b, Some(true));
        assert_eq!(x.t, Some(1_767_603_600_123));
        assert_eq!(x.a, Some(64500));
        assert_eq!(x.l, ["openid", "email", "profile"]);
        assert_eq!(x.f, Some(1.5));
        let x = r(r#"{"s":12,"n":{"x":1},"b":1,"t":1767603600,"a":null,"l":["a",null,3],"f":[1]}"#);
        assert_eq!(x.s.as_deref(), Some("12"));
        assert_eq!(x.n, None);
        assert_eq!(x.b, Some(true));
        assert_eq!(x.t, Some(1_767_603_600_000));
        assert_eq!(x.a, None);
        assert_eq!(x.l, ["a", "3"]);
        assert_eq!(x.f, None);
        let x = r(r#"{"t":"2026-01-05T09:00:00"}"#);
        assert_eq!(x.t, Some(1_767_603_600_000));
        let x = r(r#"{"t":"not a time","s":""}"#);
        assert_eq!((x.t, x.s), (None, None));
    }

    #[test]
    fn reads_us_general_dates() {
        let nine_41 = Some(1_168_335_660_000); // 2007-01-09T09:41:00Z
        for t in [
            "01/09/2007 09:41:00",
            "1/9/2007 09:41:00",
            "01/09/2007 09:41:00 AM",
            "1/9/2007 9:41:00 AM",
            "1/9/2007 10:41:00 AM +01:00",
            "1/9/2007 9:41:00.000 am Z",
        ] {
            assert_eq!(parse_time_text(t), nine_41, "{t}");
        }
        assert_eq!(
            parse_time_text("12/12/2025 3:03:58 PM"),
            parse_time_text("2025-12-12T15:03:58Z")
        );
        assert_eq!(
            parse_time_text("1/1/2026 12:00:00 AM"),
            parse_time_text("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_time_text("25/12/2025 10:00:00"),
            parse_time_text("2025-12-25T10:00:00Z")
        );
        for bad in [
            "13/13/2025 10:00:00",
            "1/9/2007 13:41:00 PM",
            "2/30/2007 09:41:00",
            "1/9/07 09:41:00",
            "1/9/2007",
            "1/9/2007 9:41:00 AM +01:00 extra",
            "1/9/2007 9:41:00 +1",
        ] {
            assert_eq!(parse_time_text(bad), None, "{bad}");
        }
    }
}
