//! A lazy JSON reader for sources that read a few fields of large records.
//!
//! The reader walks the record once, in place: the caller asks for the values it wants as
//! it meets their keys, and every other value is stepped over. A skipped value is checked
//! against the JSON grammar exactly as serde_json checks a value it ignores (so a record is
//! JSON here exactly when it is JSON to serde_json), but nothing in it is decoded: its
//! strings are not unescaped or checked for UTF-8, its numbers are not converted, and its
//! nesting is followed without recursion, however deep it is.
//!
//! The values that are read are lenient where serde_json would fail the record:
//! - a string is borrowed from the record when it has no escapes; bytes that are not UTF-8
//!   and lone UTF-16 surrogates (`\ud800`) read as U+FFFD rather than failing it;
//! - a number too large for an `f64` (`1e999`) reads as [`Number::OutOfRange`], which
//!   callers take as absent.
//!
//! Errors carry only the byte offset; callers that report them ask serde_json for its
//! description (line, column and what was expected), which it gives for the same input.

use std::borrow::Cow;

/// The record is not JSON: the offset at which the reader gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Syntax(pub(crate) usize);

/// A JSON number as read: integers as the widest integer that holds them, like serde_json.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
    /// Grammatical, but beyond the range of an `f64`.
    OutOfRange,
}

impl Number {
    /// The value of number text that follows the JSON grammar.
    fn parse(text: &str) -> Number {
        let integer = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if integer {
            match text.strip_prefix('-') {
                None => {
                    if let Ok(v) = text.parse::<u64>() {
                        return Number::U64(v);
                    }
                }
                Some(digits) => {
                    // serde_json reads `-0` as the float -0.0.
                    if let Ok(v) = digits.parse::<u64>()
                        && v != 0
                        && let Some(n) = 0i64.checked_sub_unsigned(v)
                    {
                        return Number::I64(n);
                    }
                }
            }
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Number::F64(v),
            _ => Number::OutOfRange,
        }
    }
}

/// A string value: as it stands in the record between its quotes, or already decoded (by
/// a parser that unescapes as it goes).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Str<'a> {
    Raw { bytes: &'a [u8], escaped: bool },
    Decoded(&'a str),
}

impl<'a> Str<'a> {
    /// The string's text: borrowed unless it has escapes or bytes that are not UTF-8.
    #[inline]
    pub(crate) fn text(self) -> Cow<'a, str> {
        match self {
            Str::Decoded(s) => Cow::Borrowed(s),
            Str::Raw {
                bytes,
                escaped: false,
            } => match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(bytes),
            },
            Str::Raw {
                bytes,
                escaped: true,
            } => match String::from_utf8(unescape(bytes)) {
                Ok(s) => Cow::Owned(s),
                Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            },
        }
    }

    /// The string's bytes, unescaped (for matching object keys).
    pub(crate) fn bytes(self) -> Cow<'a, [u8]> {
        match self {
            Str::Decoded(s) => Cow::Borrowed(s.as_bytes()),
            Str::Raw {
                bytes,
                escaped: false,
            } => Cow::Borrowed(bytes),
            Str::Raw {
                bytes,
                escaped: true,
            } => Cow::Owned(unescape(bytes)),
        }
    }
}

/// The value of the four hex digits at the start of `b`.
fn hex4(b: &[u8]) -> Option<u16> {
    let digits = b.get(..4)?;
    let mut v = 0u16;
    for d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u16::from(n);
    }
    Some(v)
}

/// Decode the escapes of string content the reader has checked. A lone surrogate becomes
/// U+FFFD; other bytes are copied as they are.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(rest) = s.get(i..) {
        let Some(at) = memchr::memchr(b'\\', rest) else {
            out.extend_from_slice(rest);
            break;
        };
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        i += at + 1;
        let Some(&e) = s.get(i) else { break };
        i += 1;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = s.get(i..).and_then(hex4);
                i += 4;
                let c = match unit {
                    Some(hi @ 0xD800..=0xDBFF) => {
                        // A pair is `\uD8xx\uDCxx`; anything else leaves the first alone.
                        let lo = match (s.get(i), s.get(i + 1)) {
                            (Some(b'\\'), Some(b'u')) => s.get(i + 2..).and_then(hex4),
                            _ => None,
                        };
                        match lo {
                            Some(lo @ 0xDC00..=0xDFFF) => {
                                i += 6;
                                let c = 0x10000
                                    + ((u32::from(hi) - 0xD800) << 10)
                                    + (u32::from(lo) - 0xDC00);
                                char::from_u32(c)
                            }
                            _ => None,
                        }
                    }
                    Some(unit) => char::from_u32(u32::from(unit)),
                    None => None,
                };
                let mut buf = [0u8; 4];
                out.extend_from_slice(
                    c.unwrap_or(char::REPLACEMENT_CHARACTER)
                        .encode_utf8(&mut buf)
                        .as_bytes(),
                );
                continue;
            }
            other => other,
        };
        out.push(simple);
    }
    out
}

/// What the next value is, as far as readers choose by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    /// A string, number, boolean or null.
    Scalar,
}

/// The values of one record, in document order, as the readers of a source take them:
/// each call takes exactly one value (read or skipped) and leaves the rest for the next.
pub(crate) trait Values<'a> {
    /// What the next value is, without taking it.
    fn kind(&mut self) -> Result<Kind, Syntax>;
    /// The next value if it is a scalar; an object or array is skipped.
    fn scalar(&mut self) -> Result<Scalar<'a>, Syntax>;
    /// Read the members of the object that is the next value, handing `member` each key
    /// with the values at its value; `member` must take that value (read or skip it).
    fn members(
        &mut self,
        member: impl FnMut(&mut Self, &[u8]) -> Result<(), Syntax>,
    ) -> Result<(), Syntax>;
    /// Read the items of the array that is the next value, handing `item` the values at
    /// each; `item` must take the item.
    fn items(&mut self, item: impl FnMut(&mut Self) -> Result<(), Syntax>) -> Result<(), Syntax>;
    /// Step over the next value, whatever it is.
    fn skip(&mut self) -> Result<(), Syntax>;
}

/// A scalar value, or the note that a container was stepped over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Str<'a>),
    /// An object or array, skipped.
    Skipped,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `x` (eight bytes, little-endian) that end a run of plain string content —
/// a quote, a backslash or a control character — as their high bits. The lowest bit set
/// marks the first such byte exactly (the usual carry caveat applies only above it).
#[inline]
fn specials(x: u64) -> u64 {
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let quote = zero_byte(x ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(x ^ (ONES * u64::from(b'\\')));
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    quote | backslash | below_space
}

/// Eight bytes of `s` from `i`, read as a little-endian word; past the end, quotes.
#[inline]
fn word_at(s: &[u8], i: usize) -> u64 {
    let mut buf = [b'"'; 8];
    match s.get(i..i + 8) {
        Some(eight) => buf.copy_from_slice(eight),
        None => {
            let tail = s.get(i..).unwrap_or_default();
            if let Some(head) = buf.get_mut(..tail.len()) {
                head.copy_from_slice(tail);
            }
        }
    }
    u64::from_le_bytes(buf)
}

/// The reader: the record and how far into it the reader is.
pub(crate) struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Reader<'a> {
        Reader { s, i: 0 }
    }

    fn fail<T>(&self) -> Result<T, Syntax> {
        Err(Syntax(self.i))
    }

    /// The next byte that is not whitespace, without taking it.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<u8, Syntax> {
        while let Some(&b) = self.s.get(self.i) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(b);
            }
            self.i += 1;
        }
        self.fail()
    }

    /// Take `byte`, after any whitespace.
    #[inline]
    fn expect(&mut self, byte: u8) -> Result<(), Syntax> {
        if self.peek()? == byte {
            self.i += 1;
            Ok(())
        } else {
            self.fail()
        }
    }

    /// Nothing but whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), Syntax> {
        match self.peek() {
            Err(_) => Ok(()),
            Ok(_) => self.fail(),
        }
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Result<(), Syntax> {
        match self.s.get(self.i..self.i + word.len()) {
            Some(w) if w == word => {
                self.i += word.len();
                Ok(())
            }
            _ => self.fail(),
        }
    }

    /// A string whose opening quote is at the reader; the reader ends past its closing
    /// quote.
    #[inline]
    fn string(&mut self) -> Result<Str<'a>, Syntax> {
        let s = self.s;
        let start = self.i + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            // Eight bytes at a time, straight to the first one that needs a look.
            let found = specials(word_at(s, i));
            if found == 0 {
                i += 8;
                continue;
            }
            i += (found.trailing_zeros() / 8) as usize;
            match s.get(i) {
                Some(b'"') => {
                    self.i = i + 1;
                    let bytes = s.get(start..i).unwrap_or_default();
                    return Ok(Str::Raw { bytes, escaped });
                }
                Some(b'\\') => {
                    escaped = true;
                    match s.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') if s.get(i + 2..).and_then(hex4).is_some() => i += 6,
                        _ => {
                            self.i = i + 1;
                            return self.fail();
                        }
                    }
                }
                // A control character, or the end of the record.
                _ => {
                    self.i = i.min(s.len());
                    return self.fail();
                }
            }
        }
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let n = self
            .s
            .get(self.i..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.i += n;
        n
    }

    /// A number whose first byte is at the reader.
    #[inline]
    fn number(&mut self) -> Result<Number, Syntax> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail(),
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.fail();
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.fail();
            }
        }
        let text = self.s.get(start..self.i).unwrap_or_default();
        // Only ASCII digits, signs, `.` and `e` were taken.
        let text = std::str::from_utf8(text).unwrap_or_default();
        Ok(Number::parse(text))
    }

    /// The next value if it is a scalar; an object or array is skipped.
    fn scalar_value(&mut self) -> Result<Scalar<'a>, Syntax> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'-' | b'0'..=b'9' => self.number().map(Scalar::Number),
            b'{' | b'[' => self.skip_value().map(|()| Scalar::Skipped),
            _ => self.fail(),
        }
    }

    /// Read the members of the object at the reader, handing `member` each key with the
    /// reader at its value; `member` must take that value (read or skip it).
    fn object_members(
        &mut self,
        mut member: impl FnMut(&mut Self, &[u8]) -> Result<(), Syntax>,
    ) -> Result<(), Syntax> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return self.fail();
            }
            let key = self.string()?.bytes();
            self.expect(b':')?;
            member(self, &key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.fail(),
            }
        }
    }

    /// Read the items of the array at the reader, handing `item` the reader at each; `item`
    /// must take the item.
    fn array_items(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), Syntax>,
    ) -> Result<(), Syntax> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.fail(),
            }
        }
    }

    /// Step over one value of any kind, checking its grammar but decoding nothing. Nesting
    /// is followed with a stack of its own, not by recursion.
    pub(crate) fn skip_value(&mut self) -> Result<(), Syntax> {
        let mut open = Open::default();
        loop {
            // A value.
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'n' => self.literal(b"null")?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'-' | b'0'..=b'9' => {
                    self.number()?;
                }
                b'{' => {
                    self.i += 1;
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        open.push(true);
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        open.push(false);
                        continue;
                    }
                }
                _ => return self.fail(),
            }
            // What follows a value: the next member or item, or the end of containers.
            loop {
                let Some(object) = open.top() else {
                    return Ok(());
                };
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if object => {
                        self.i += 1;
                        open.pop();
                    }
                    b']' if !object => {
                        self.i += 1;
                        open.pop();
                    }
                    _ => return self.fail(),
                }
            }
        }
    }

    /// A member's key and its colon.
    #[inline]
    fn key(&mut self) -> Result<(), Syntax> {
        if self.peek()? != b'"' {
            return self.fail();
        }
        self.string()?;
        self.expect(b':')
    }
}

impl<'a> Values<'a> for Reader<'a> {
    fn kind(&mut self) -> Result<Kind, Syntax> {
        Ok(match self.peek()? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            _ => Kind::Scalar,
        })
    }

    fn scalar(&mut self) -> Result<Scalar<'a>, Syntax> {
        self.scalar_value()
    }

    fn members(
        &mut self,
        member: impl FnMut(&mut Self, &[u8]) -> Result<(), Syntax>,
    ) -> Result<(), Syntax> {
        self.object_members(member)
    }

    fn items(&mut self, item: impl FnMut(&mut Self) -> Result<(), Syntax>) -> Result<(), Syntax> {
        self.array_items(item)
    }

    fn skip(&mut self) -> Result<(), Syntax> {
        self.skip_value()
    }
}

/// The containers open while skipping: object or array, innermost last. The first 128
/// levels live in a bit set; deeper ones (rare, and hostile) in a vector.
#[derive(Default)]
struct Open {
    bits: u128,
    depth: usize,
    deeper: Vec<bool>,
}

impl Open {
    fn push(&mut self, object: bool) {
        if self.depth < 128 {
            let bit = 1u128 << self.depth;
            if object {
                self.bits |= bit;
            } else {
                self.bits &= !bit;
            }
        } else {
            self.deeper.push(object);
        }
        self.depth += 1;
    }

    fn top(&self) -> Option<bool> {
        let d = self.depth.checked_sub(1)?;
        if d < 128 {
            Some(self.bits & (1u128 << d) != 0)
        } else {
            self.deeper.last().copied()
        }
    }

    fn pop(&mut self) {
        if self.depth > 128 {
            self.deeper.pop();
        }
        self.depth = self.depth.saturating_sub(1);
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

    fn skips(s: &[u8]) -> bool {
        let mut r = Reader::new(s);
        r.skip_value().and_then(|()| r.end()).is_ok()
    }

    fn serde_accepts(s: &[u8]) -> bool {
        serde_json::from_slice::<serde::de::IgnoredAny>(s).is_ok()
    }

    #[test]
    fn grammar_agrees_with_serde_json() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"[]",
            b" {\"a\" : [1, -2.5e+3, true, false, null, \"x\\u00e9\\n\"] } ",
            b"{\"a\":1,}",
            b"[1,]",
            b"[1 2]",
            b"{\"a\" 1}",
            b"{1:2}",
            b"01",
            b"-",
            b"1.",
            b"1.e3",
            b"1e",
            b"1e+",
            b"-0",
            b"-0.0e-0",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\u12G4\"",
            b"\"\\ud800\"",
            b"\"a\x01b\"",
            b"\"a\x7fb\"",
            b"\"\xff\xfe\"",
            b"\"unterminated",
            b"[{]}",
            b"{]",
            b"nul",
            b"nulll",
            b"truex",
            b"1e999999",
            b"123456789012345678901234567890",
            b"[[[[[[[[[[]]]]]]]]]]",
            b"[[[[[[[[[[]]]]]]]]]",
            b"",
            b"  ",
            b"{} {}",
            b"\"a\\\\\\\"b\"",
            b"\"0123456789abcdef\\\"0123456789\"",
        ];
        for c in cases {
            assert_eq!(
                skips(c),
                serde_accepts(c),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let depth = 100_000;
        let mut s = "[".repeat(depth);
        s.push_str(&"]".repeat(depth));
        assert!(skips(s.as_bytes()));
        s.pop();
        assert!(!skips(s.as_bytes()));
        let mut o = "{\"k\":".repeat(depth);
        o.push('1');
        o.push_str(&"}".repeat(depth));
        assert!(skips(o.as_bytes()));
    }

    #[test]
    fn strings_decode_leniently() {
        let read = |s: &[u8]| {
            let mut r = Reader::new(s);
            match r.scalar().unwrap() {
                Scalar::Str(raw) => raw.text().into_owned(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(read(b"\"plain\""), "plain");
        assert_eq!(read(b"\"A \\u0026 B\\n\\/\""), "A & B\n/");
        assert_eq!(read(b"\"\\ud83d\\ude00\""), "\u{1F600}");
        assert_eq!(read(b"\"x\\ud800y\""), "x\u{FFFD}y");
        assert_eq!(read(b"\"\\udc00\\ud800\\u0041\""), "\u{FFFD}\u{FFFD}A");
        assert_eq!(read(b"\"a\xffb\""), "a\u{FFFD}b");
        assert_eq!(read(b"\"\\u00e9\xff\""), "\u{e9}\u{FFFD}");
    }

    #[test]
    fn numbers_read_like_serde_json() {
        let read = |s: &[u8]| match Reader::new(s).scalar().unwrap() {
            Scalar::Number(n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(read(b"64500"), Number::U64(64_500));
        assert_eq!(read(b"-7"), Number::I64(-7));
        assert_eq!(read(b"-9223372036854775808"), Number::I64(i64::MIN));
        assert_eq!(
            read(b"18446744073709551616"),
            Number::F64(18_446_744_073_709_551_616.0)
        );
        assert_eq!(read(b"38.7"), Number::F64(38.7));
        assert!(matches!(read(b"-0"), Number::F64(z) if z == 0.0 && z.is_sign_negative()));
        assert_eq!(read(b"1e999"), Number::OutOfRange);
        assert_eq!(read(b"1e-999"), Number::F64(0.0));
    }
}
