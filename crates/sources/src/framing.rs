//! Splitting input into records and enforcing the limits every entry point shares.
//!
//! Input is NDJSON (one JSON document per line) or a single JSON array of documents; a
//! leading `[` picks the array form. Every record that fails — too long, not JSON, not an
//! event — becomes a [`Reject`] naming its line and reason, and every other record in the
//! same input is still parsed: one bad line never costs the good ones.

use crate::{RecordCtx, Source, stamp};
use bytes::Bytes;
use midwatch_model::Event;
use midwatch_model::event::RawRecord;
use midwatch_model::hash::Sha256Hex;
use serde_json::value::RawValue;
use std::io::BufRead;

/// Records are rarely shorter than this many bytes; it bounds the room reserved for the
/// events of a body by the body's size.
const MIN_RECORD_BYTES: usize = 64;

/// Limits applied while reading records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted record, in bytes.
    pub max_line_bytes: usize,
    /// Most records accepted from one input (HTTP batch); 0 means unbounded (files).
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line_bytes: 1024 * 1024,
            max_records: 0,
        }
    }
}

/// A record that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reject {
    /// 1-based line (NDJSON) or item (JSON array) number.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// The result of normalizing one input.
#[derive(Debug, Default)]
pub struct Normalized {
    /// Accepted events, in input order.
    pub events: Vec<Event>,
    /// Rejected records, in input order.
    pub rejects: Vec<Reject>,
    /// Records skipped on purpose, with the source's note.
    pub skipped: Vec<Reject>,
    /// The input held more records than [`Limits::max_records`]; reading stopped there.
    pub over_limit: bool,
    /// Records seen (accepted, rejected or skipped) before reading stopped.
    pub records: usize,
    /// The raw bytes of every record that yielded events, kept byte for byte.
    pub raw: Vec<RawRecord>,
}

/// What one record added to the output.
enum Added {
    /// Events (none or more), and the record's SHA-256 (hex) they reference.
    Events { sha256: Sha256Hex },
    /// Nothing: the record was skipped, with the source's note.
    Skip(String),
}

/// Parse one record with `source`, appending the events it yields, stamped, to `events`.
fn parse_record(
    source: &dyn Source,
    raw: &[u8],
    ctx: RecordCtx,
    limits: &Limits,
    events: &mut Vec<Event>,
) -> Result<Added, String> {
    if raw.len() > limits.max_line_bytes {
        return Err(format!(
            "record is {} bytes, over the limit of {} bytes",
            raw.len(),
            limits.max_line_bytes
        ));
    }
    let start = events.len();
    match source.parse_into(raw, ctx, events) {
        Ok(None) => {
            let sha256 = Sha256Hex::of(raw);
            for e in events.get_mut(start..).unwrap_or_default() {
                stamp(e, source.name(), sha256, ctx);
            }
            Ok(Added::Events { sha256 })
        }
        Ok(Some(note)) => Ok(Added::Skip(note)),
        Err(e) => Err(e.to_string()),
    }
}

/// True when a line holds nothing but whitespace.
fn blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Normalize a whole in-memory input, copied: see [`normalize_body`].
pub fn normalize_bytes(source: &dyn Source, body: &[u8], limits: &Limits) -> Normalized {
    normalize_body(source, Bytes::copy_from_slice(body), limits)
}

/// Normalize a whole in-memory input (an HTTP body). The raw records kept are views into
/// `body`, which they share rather than copy.
pub fn normalize_body(source: &dyn Source, body: Bytes, limits: &Limits) -> Normalized {
    let mut out = Normalized::default();
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let is_array = first.and_then(|i| body.get(i)) == Some(&b'[');
    if !is_array && is_single_document(&body) {
        // One pretty-printed JSON object (a vendor's `.json` export): one record.
        let ctx = RecordCtx { line: 1, offset: 0 };
        match parse_record(source, &body, ctx, limits, &mut out.events) {
            Ok(Added::Events { sha256 }) => {
                if !out.events.is_empty() {
                    out.raw.push(RawRecord {
                        sha256,
                        source: source.name().into(),
                        bytes: body.clone(),
                    });
                }
                out.records = 1;
            }
            Ok(Added::Skip(note)) => out.skipped.push(Reject {
                line: 1,
                reason: note,
            }),
            Err(reason) => out.rejects.push(Reject { line: 1, reason }),
        }
        return out;
    }
    let accept = |out: &mut Normalized, ctx: RecordCtx, raw: &[u8]| {
        let before = out.events.len();
        match parse_record(source, raw, ctx, limits, &mut out.events) {
            Ok(Added::Events { sha256 }) => {
                if out.events.len() > before {
                    out.raw.push(RawRecord {
                        sha256,
                        source: source.name().into(),
                        // `raw` is a part of `body`, so this is a view, not a copy.
                        bytes: body.slice_ref(raw),
                    });
                }
            }
            Ok(Added::Skip(note)) => out.skipped.push(Reject {
                line: ctx.line,
                reason: note,
            }),
            Err(reason) => out.rejects.push(Reject {
                line: ctx.line,
                reason,
            }),
        }
    };
    if is_array {
        let items: Vec<&RawValue> = match serde_json::from_slice(&body) {
            Ok(items) => items,
            Err(e) => {
                out.rejects.push(Reject {
                    line: u64::try_from(e.line()).unwrap_or(0),
                    reason: format!("body is not a JSON array of records: {e}"),
                });
                return out;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let line = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
            if limits.max_records > 0 && i >= limits.max_records {
                out.over_limit = true;
                break;
            }
            out.records += 1;
            let raw = item.get().as_bytes();
            let offset = offset_in(&body, raw);
            accept(&mut out, RecordCtx { line, offset }, raw);
        }
        return out;
    }
    // One event per line is the common case: room for them all up front spares the
    // vectors' regrowth (and the copying of every event so far at each step). The room is
    // bounded by the body's size, so that a body of many tiny or blank lines reserves
    // little; past that the vectors grow as events come.
    let lines = memchr::memchr_iter(b'\n', &body).count().saturating_add(1);
    let mut expected = lines.min(body.len() / MIN_RECORD_BYTES + 1);
    if limits.max_records > 0 {
        expected = expected.min(limits.max_records);
    }
    out.events.reserve(expected);
    out.raw.reserve(expected);
    let mut offset = 0u64;
    let mut records = 0usize;
    for (i, line) in lines_of(&body).enumerate() {
        let ctx = RecordCtx {
            line: u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1),
            offset,
        };
        offset = offset.saturating_add(u64::try_from(line.len()).unwrap_or(0) + 1);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if blank(line) {
            continue;
        }
        records += 1;
        if limits.max_records > 0 && records > limits.max_records {
            out.over_limit = true;
            break;
        }
        out.records = records;
        accept(&mut out, ctx, line);
    }
    out
}

/// The `\n`-separated lines of `body`, as `body.split(|b| *b == b'\n')` gives them (the
/// last one may be empty), found with a vectorized byte search.
fn lines_of(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0usize;
    memchr::memchr_iter(b'\n', body)
        .chain(std::iter::once(body.len()))
        .map(move |end| {
            let line = body.get(start..end).unwrap_or_default();
            start = end.saturating_add(1);
            line
        })
}

/// True when `body` is one JSON object spread over several lines rather than NDJSON: its
/// first line is not a JSON value by itself, and the whole body is exactly one.
fn is_single_document(body: &[u8]) -> bool {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(rest) = start.and_then(|i| body.get(i..)) else {
        return false;
    };
    if rest.first() != Some(&b'{') {
        return false;
    }
    let first_line = memchr::memchr(b'\n', rest)
        .and_then(|i| rest.get(..i))
        .unwrap_or(rest);
    if first_line.len() == rest.len()
        || serde_json::from_slice::<serde::de::IgnoredAny>(first_line).is_ok()
    {
        return false;
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(rest).is_ok()
}

/// Byte offset of `inner` inside `outer` (both from the same buffer).
fn offset_in(outer: &[u8], inner: &[u8]) -> u64 {
    let start = outer.as_ptr() as usize;
    let pos = inner.as_ptr() as usize;
    u64::try_from(pos.saturating_sub(start)).unwrap_or(0)
}

/// Something to tell about each record as a stream is read.
pub trait Sink {
    /// An accepted event.
    fn event(&mut self, event: Event);
    /// A rejected record.
    fn reject(&mut self, reject: Reject);
    /// A record skipped on purpose.
    fn skip(&mut self, note: Reject) {
        let _ = note;
    }
    /// Bytes consumed so far (for progress reporting).
    fn progress(&mut self, bytes: u64) {
        let _ = bytes;
    }
}

/// Normalize a stream (a file or stdin) line by line without holding it in memory.
/// A stream whose first non-blank byte is `[` is read whole and parsed as a JSON array.
pub fn normalize_reader(
    source: &dyn Source,
    mut reader: impl BufRead,
    limits: &Limits,
    sink: &mut dyn Sink,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut events = Vec::new();
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut first_record = true;
    loop {
        buf.clear();
        let (n, overlong) = read_line_capped(&mut reader, &mut buf, limits.max_line_bytes)?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let ctx = RecordCtx {
            line: line_no,
            offset,
        };
        offset += n;
        sink.progress(offset);
        if overlong {
            sink.reject(Reject {
                line: line_no,
                reason: format!("line is over the limit of {} bytes", limits.max_line_bytes),
            });
            continue;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if blank(line) {
            continue;
        }
        if std::mem::take(&mut first_record) {
            let trimmed = line.iter().position(|b| !b.is_ascii_whitespace());
            let opener = trimmed.and_then(|i| line.get(i)).copied();
            let partial_object = opener == Some(b'{')
                && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err();
            if opener == Some(b'[') || partial_object {
                // A JSON array, or one object spread over lines: read the rest and parse
                // it whole (NDJSON that merely starts with a bad line is still read as
                // lines by `normalize_bytes`).
                let mut whole = line.to_vec();
                whole.push(b'\n');
                reader.read_to_end(&mut whole)?;
                let out = normalize_bytes(source, &whole, limits);
                sink.progress(offset + u64::try_from(whole.len()).unwrap_or(0));
                let shift = line_no - 1;
                for e in out.events {
                    sink.event(e);
                }
                for mut r in out.rejects {
                    r.line += shift;
                    sink.reject(r);
                }
                for mut s in out.skipped {
                    s.line += shift;
                    sink.skip(s);
                }
                return Ok(());
            }
        }
        match parse_record(source, line, ctx, limits, &mut events) {
            Ok(Added::Events { .. }) => events.drain(..).for_each(|e| sink.event(e)),
            Ok(Added::Skip(note)) => sink.skip(Reject {
                line: line_no,
                reason: note,
            }),
            Err(reason) => sink.reject(Reject {
                line: line_no,
                reason,
            }),
        }
    }
}

/// Read one line into `buf`, keeping at most `cap + 2` bytes of it; the rest of an overlong
/// line is consumed and dropped. Returns bytes consumed and whether the line was too long.
fn read_line_capped(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<(u64, bool)> {
    let mut consumed = 0u64;
    let mut overlong = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((consumed, overlong));
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (available.get(..=i).unwrap_or(available), true),
            None => (available, false),
        };
        let len = chunk.len();
        if !overlong {
            let room = (cap + 2).saturating_sub(buf.len());
            if len > room {
                overlong = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(len);
        consumed += u64::try_from(len).unwrap_or(0);
        if done {
            let content = buf.strip_suffix(b"\n").unwrap_or(buf);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.len() > cap {
                overlong = true;
            }
            return Ok((consumed, overlong));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::Sensor;

    struct Collect(Vec<Event>, Vec<Reject>);
    impl Sink for Collect {
        fn event(&mut self, e: Event) {
            self.0.push(e);
        }
        fn reject(&mut self, r: Reject) {
            self.1.push(r);
        }
    }

    const GOOD: &str = r#"{"id":"e1","ts":1767600000000,"type":"login","identity":{"id":"a@x"},"session":{"id":"s1"}}"#;

    #[test]
    fn raw_records_are_views_into_the_body() {
        let second = GOOD.replace("e1", "e2");
        let body = Bytes::from(format!("{GOOD}\r\nnot json\n{second}\n"));
        let out = normalize_body(&Sensor, body.clone(), &Limits::default());
        assert_eq!(out.raw.len(), 2);
        let range = body.as_ptr_range();
        for (raw, want) in out.raw.iter().zip([GOOD, second.as_str()]) {
            assert_eq!(&raw.bytes[..], want.as_bytes());
            assert!(range.contains(&raw.bytes.as_ptr()), "a copy, not a view");
            assert_eq!(
                raw.sha256,
                midwatch_model::hash::sha256_hex(want.as_bytes())
            );
        }
        let refs: Vec<_> = out
            .events
            .iter()
            .map(|e| e.midwatch.raw.as_ref().unwrap().sha256)
            .collect();
        assert_eq!(refs, out.raw.iter().map(|r| r.sha256).collect::<Vec<_>>());
    }

    #[test]
    fn ndjson_keeps_good_lines_around_bad_ones() {
        let body = format!(
            "{GOOD}\nnot json\n\n{}\n{{\"id\":\"e2\"",
            GOOD.replace("e1", "e3")
        );
        let out = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
        assert_eq!(out.events.len(), 2);
        assert_eq!(
            out.rejects.iter().map(|r| r.line).collect::<Vec<_>>(),
            [2, 5]
        );
        let raw = out.events[1].midwatch.raw.as_ref().unwrap();
        assert_eq!(raw.line, Some(4));
        assert_eq!(
            raw.offset,
            Some(u64::try_from(GOOD.len()).unwrap() + 1 + 9 + 1)
        );
    }

    #[test]
    fn lines_split_like_the_slice_split() {
        for body in [
            &b""[..],
            b"\n",
            b"\n\n",
            b"a",
            b"a\n",
            b"a\nb",
            b"\na\r\n\nbc\n",
        ] {
            let want: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
            assert_eq!(lines_of(body).collect::<Vec<_>>(), want, "{body:?}");
        }
    }

    #[test]
    fn room_for_events_is_bounded_by_the_body_size() {
        let blank = vec![b'\n'; 1 << 20];
        let out = normalize_bytes(&Sensor, &blank, &Limits::default());
        assert!(out.events.is_empty() && out.rejects.is_empty());
        assert!(out.events.capacity() <= blank.len() / MIN_RECORD_BYTES + 1);
        let body = format!("{GOOD}\n").repeat(100);
        let out = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
        assert_eq!(out.events.len(), 100);
    }

    #[test]
    fn arrays_and_limits() {
        let body = format!("[{GOOD}, 3, {}]", GOOD.replace("e1", "e2"));
        let out = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(out.rejects[0].line, 2);

        let limits = Limits {
            max_line_bytes: 1000,
            max_records: 1,
        };
        let out = normalize_bytes(&Sensor, format!("{GOOD}\n{GOOD}").as_bytes(), &limits);
        assert_eq!(out.events.len(), 1);
        assert!(out.over_limit);
        assert!(out.rejects.is_empty());

        let out = normalize_bytes(&Sensor, b"[1, 2", &Limits::default());
        assert!(out.rejects[0].reason.contains("not a JSON array"));
    }

    #[test]
    fn a_pretty_printed_object_is_one_record() {
        let doc = "{\n  \"id\": \"e1\",\n  \"ts\": 1767600000000,\n  \"type\": \"login\"\n}\n";
        let out = normalize_bytes(&Sensor, doc.as_bytes(), &Limits::default());
        assert_eq!(
            (out.events.len(), out.rejects.len()),
            (1, 0),
            "{:?}",
            out.rejects
        );
        assert_eq!(out.raw[0].bytes, doc.as_bytes());
        let mut sink = Collect(vec![], vec![]);
        normalize_reader(&Sensor, doc.as_bytes(), &Limits::default(), &mut sink).unwrap();
        assert_eq!((sink.0.len(), sink.1.len()), (1, 0));
        // NDJSON whose first line is broken is still read line by line.
        let nd = format!("{{\"broken\n{GOOD}\n");
        let mut sink = Collect(vec![], vec![]);
        normalize_reader(&Sensor, nd.as_bytes(), &Limits::default(), &mut sink).unwrap();
        assert_eq!((sink.0.len(), sink.1.len()), (1, 1));
        assert_eq!(sink.1[0].line, 1);
    }

    #[test]
    fn reader_caps_long_lines_and_reads_arrays() {
        let long = format!("{{\"id\":\"{}\"}}", "x".repeat(5000));
        let input = format!("{GOOD}\n{long}\n{}\n", GOOD.replace("e1", "e2"));
        let limits = Limits {
            max_line_bytes: 1000,
            max_records: 0,
        };
        let mut sink = Collect(vec![], vec![]);
        normalize_reader(&Sensor, input.as_bytes(), &limits, &mut sink).unwrap();
        assert_eq!(sink.0.len(), 2);
        assert_eq!(sink.1.len(), 1);
        assert_eq!(sink.1[0].line, 2);
        assert!(sink.1[0].reason.contains("over the limit"));

        let mut sink = Collect(vec![], vec![]);
        let arr = format!("  [\n{GOOD},\n{}\n]", GOOD.replace("e1", "e2"));
        normalize_reader(&Sensor, arr.as_bytes(), &Limits::default(), &mut sink).unwrap();
        assert_eq!(sink.0.len(), 2, "{:?}", sink.1);
    }
}
