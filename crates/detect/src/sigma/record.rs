//! Records: what a rule's field names are looked up in.
//!
//! A Sigma rule names fields (`eventType`, `userIdentity.arn`, `actor.user.uid`); a
//! [`Record`] answers with the values found there. Three kinds of record implement it:
//! the raw vendor record ([`super::json::JsonRecord`]), the normalized midwatch event with
//! its session context ([`super::midwatch::MidwatchRecord`]) and a generic document
//! ([`super::doc::Doc`], used by rule examples and tests).
//!
//! Path semantics shared by every record over a tree (raw JSON and documents):
//! - a dotted name walks into nested objects: `userIdentity.arn`;
//! - at each object the key is looked up exactly first, then case-insensitively, because
//!   SigmaHQ rules do not always spell vendor fields as the vendor does (`eventtype` for
//!   Okta's `eventType`); a key that itself contains dots (`a.b` as one key) is found too;
//! - an array on the way or at the end stands for its elements: the field matches if any
//!   element matches.
//!
//! Case-insensitive comparison in midwatch means comparing [`fold`]ed text: ASCII letters
//! are lowercased, other characters are lowercased only when their lowercase is a single
//! non-ASCII character. Folding never changes the length in characters and never turns a
//! non-ASCII character into an ASCII one, which keeps literal prefilters over raw bytes sound.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One value found in a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// JSON `null` (or YAML `~`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A number as written in the record (raw JSON keeps its text).
    Number(&'a str),
    /// A string.
    Str(&'a str),
    /// An object (a field that exists but holds no scalar).
    Object,
}

impl<'a> Value<'a> {
    /// The value as text, as string matchers see it: numbers in decimal (raw JSON numbers as
    /// written), booleans as `true`/`false`. `None` for null and objects.
    pub fn text<'b>(&self, buf: &'b mut String) -> Option<&'b str>
    where
        'a: 'b,
    {
        match *self {
            Value::Null | Value::Object => None,
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            Value::Str(s) | Value::Number(s) => Some(s),
            Value::Int(n) => Some(write_buf(buf, format_args!("{n}"))),
            Value::UInt(n) => Some(write_buf(buf, format_args!("{n}"))),
            Value::Float(f) => Some(write_buf(buf, format_args!("{f}"))),
        }
    }

    /// The value as a number, for numeric comparisons: numbers, and strings holding a
    /// number (vendors often send numbers as strings).
    pub fn number(&self) -> Option<f64> {
        match *self {
            Value::Int(n) => Some(n as f64),
            Value::UInt(n) => Some(n as f64),
            Value::Float(f) => Some(f),
            Value::Number(s) | Value::Str(s) => s.trim().parse::<f64>().ok(),
            Value::Null | Value::Bool(_) | Value::Object => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

fn write_buf<'b>(buf: &'b mut String, args: std::fmt::Arguments<'_>) -> &'b str {
    buf.clear();
    // Writing to a String cannot fail.
    let _ = buf.write_fmt(args);
    buf.as_str()
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The path does not exist in the record.
    Missing,
    /// The path exists; `matched` says whether the visitor accepted a value.
    Found {
        /// Whether the visitor returned `true` for some value.
        matched: bool,
    },
}

impl Lookup {
    /// Whether the path exists.
    pub fn found(self) -> bool {
        matches!(self, Lookup::Found { .. })
    }

    /// Whether the visitor accepted a value.
    pub fn matched(self) -> bool {
        matches!(self, Lookup::Found { matched: true })
    }

    /// Combine the outcome of looking in two places.
    pub fn or(self, other: Lookup) -> Lookup {
        match (self, other) {
            (Lookup::Missing, o) => o,
            (s, Lookup::Missing) => s,
            (Lookup::Found { matched: a }, Lookup::Found { matched: b }) => {
                Lookup::Found { matched: a || b }
            }
        }
    }
}

/// A field name as a rule writes it, split once into its dotted segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    text: Box<str>,
    ascii: bool,
    /// Byte ranges of the segments in `text`.
    segments: Box<[(usize, usize)]>,
}

impl FieldPath {
    /// Split `text` at dots.
    pub fn new(text: &str) -> FieldPath {
        let mut segments = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c == '.' {
                segments.push((start, i));
                start = i + 1;
            }
        }
        segments.push((start, text.len()));
        FieldPath {
            text: text.into(),
            ascii: text.is_ascii(),
            segments: segments.into_boxed_slice(),
        }
    }

    /// The field name as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a key equals segments `from..to` case-insensitively (by [`fold`]).
    pub fn key_matches_folded(&self, key: &str, from: usize, to: usize) -> bool {
        let span = self.span(from, to);
        if self.ascii {
            // Folding never maps a non-ASCII character to an ASCII one: an ASCII span can
            // only equal an ASCII key of the same length.
            key.len() == span.len() && key.eq_ignore_ascii_case(span)
        } else {
            eq_folded(key, span)
        }
    }

    /// Number of dotted segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Always false: a path has at least one (possibly empty) segment.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Segment `i`.
    pub fn segment(&self, i: usize) -> &str {
        self.span(i, i + 1)
    }

    /// Segments `from..to` joined by their dots, as written.
    pub fn span(&self, from: usize, to: usize) -> &str {
        let start = self.segments.get(from).map(|s| s.0);
        let end = to
            .checked_sub(1)
            .and_then(|last| self.segments.get(last))
            .map(|s| s.1);
        match (start, end) {
            (Some(s), Some(e)) if s <= e => self.text.get(s..e).unwrap_or(""),
            _ => "",
        }
    }
}

/// Something rules can be matched against.
pub trait Record {
    /// Call `visit` with each value at `path` (each element where the path reaches arrays)
    /// until it returns `true`.
    fn lookup(&self, path: &FieldPath, visit: &mut dyn FnMut(Value<'_>) -> bool) -> Lookup;

    /// Call `visit` with every scalar leaf value (not null) until it returns `true`; the
    /// values keyword searches look at. Returns whether a visit returned `true`.
    fn leaves(&self, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool;

    /// The first value at `path` as text, e.g. for grouping correlations by a field.
    fn first_string(&self, path: &str) -> Option<String> {
        let path = FieldPath::new(path);
        let mut out = None;
        let mut buf = String::new();
        self.lookup(&path, &mut |v| match v.text(&mut buf) {
            Some(t) => {
                out = Some(t.to_string());
                true
            }
            None => false,
        });
        out
    }

    /// Every value at `path` as text, in record order.
    fn strings(&self, path: &str) -> Vec<String> {
        let path = FieldPath::new(path);
        let mut out = Vec::new();
        let mut buf = String::new();
        self.lookup(&path, &mut |v| {
            if let Some(t) = v.text(&mut buf) {
                out.push(t.to_string());
            }
            false
        });
        out
    }
}

/// Fold a string for case-insensitive comparison (see the module documentation).
pub fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.chars().map(fold_char).collect())
    }
}

/// Fold `s` into `out` (cleared first).
pub fn fold_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.extend(s.chars().map(fold_char));
    }
}

/// Fold one character.
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) if !l.is_ascii() => l,
        _ => c,
    }
}

/// Case-insensitive equality of two keys by [`fold`].
pub fn eq_folded(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.chars().map(fold_char).eq(b.chars().map(fold_char))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests"
    )]
    use super::*;

    #[test]
    fn paths_split_at_dots() {
        let p = FieldPath::new("a.bc.d");
        assert_eq!(p.len(), 3);
        assert_eq!(p.segment(1), "bc");
        assert_eq!(p.span(0, 2), "a.bc");
        assert_eq!(p.span(1, 3), "bc.d");
        assert_eq!(p.span(3, 4), "");
        let empty = FieldPath::new("");
        assert_eq!(empty.len(), 1);
        assert_eq!(empty.segment(0), "");
    }

    #[test]
    fn folding_keeps_ascii_apart_from_the_rest() {
        assert_eq!(fold("EventType"), "eventtype");
        // Kelvin sign would lowercase to ASCII `k`: folding keeps it.
        assert_eq!(fold("\u{212A}"), "\u{212A}");
        assert_eq!(fold("ÄÖ"), "äö");
        assert_eq!(fold("Σ"), "σ");
        assert!(eq_folded("ÄBC", "äbc"));
        assert!(!eq_folded("k", "\u{212A}"));
    }

    #[test]
    fn values_as_text() {
        let mut buf = String::new();
        assert_eq!(Value::Int(-5).text(&mut buf), Some("-5"));
        assert_eq!(Value::Bool(true).text(&mut buf), Some("true"));
        assert_eq!(Value::Null.text(&mut buf), None);
        assert_eq!(Value::Str(" 12 ").number(), Some(12.0));
    }
}
