//! The raw vendor record: one JSON document, parsed once into a flat tape of nodes that
//! borrow from the input.
//!
//! Rules over vendor fields look up a handful of paths per record, so the record is not
//! turned into owned values: each node is a kind and a byte range, containers know where
//! their subtree ends, and strings are decoded only when they hold escapes and a rule looks
//! at them. Parsing allocates one vector. Nesting deeper than [`MAX_DEPTH`] is refused.

use super::record::{FieldPath, Lookup, Record, Value};
use super::tree::{self, Shape, Tree};
use std::borrow::Cow;
use std::fmt;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 256;

/// Why a raw record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Byte offset of the problem in the record.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for RecordError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    True,
    False,
    Number,
    /// A string without escapes: the range is its content.
    Str,
    /// A string with escapes: the range is its raw content, decoded on use.
    EscStr,
    Array,
    Object,
}

/// One node of the tape. For containers, `next` is the index just past the subtree; their
/// children follow them (objects as key, value, key, value, …).
#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    start: u32,
    end: u32,
    next: u32,
}

/// A parsed raw JSON record.
#[derive(Debug)]
pub struct JsonRecord<'a> {
    src: &'a str,
    nodes: Vec<Node>,
    /// The object fields are also looked up in (see [`JsonRecord::with_fallback`]).
    fallback: Option<u32>,
}

/// Node storage reused from one record to the next.
#[derive(Debug, Default)]
pub(crate) struct NodeBuf(Vec<Node>);

impl<'a> JsonRecord<'a> {
    /// Parse one JSON document (surrounding whitespace allowed).
    pub fn parse(bytes: &'a [u8]) -> Result<JsonRecord<'a>, RecordError> {
        JsonRecord::parse_in(bytes, NodeBuf::default()).map_err(|(e, _)| e)
    }

    /// Parse into reused storage; on error the storage is handed back.
    pub(crate) fn parse_in(
        bytes: &'a [u8],
        buf: NodeBuf,
    ) -> Result<JsonRecord<'a>, (RecordError, NodeBuf)> {
        let mut nodes = buf.0;
        nodes.clear();
        match JsonRecord::parse_nodes(bytes, nodes) {
            Ok(r) => Ok(r),
            Err((e, nodes)) => Err((e, NodeBuf(nodes))),
        }
    }

    /// The storage, for the next record.
    pub(crate) fn into_buf(self) -> NodeBuf {
        NodeBuf(self.nodes)
    }

    fn parse_nodes(
        bytes: &'a [u8],
        mut nodes: Vec<Node>,
    ) -> Result<JsonRecord<'a>, (RecordError, Vec<Node>)> {
        let src = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let err = RecordError {
                    offset: e.valid_up_to(),
                    message: "not UTF-8".to_string(),
                };
                return Err((err, nodes));
            }
        };
        if src.len() >= u32::MAX as usize {
            let err = RecordError {
                offset: 0,
                message: "record larger than 4 GiB".to_string(),
            };
            return Err((err, nodes));
        }
        nodes.reserve(src.len() / 12 + 4);
        let mut parser = Parser {
            b: src.as_bytes(),
            i: 0,
            nodes,
        };
        if let Err(e) = parser.document() {
            return Err((e, parser.nodes));
        }
        Ok(JsonRecord {
            src,
            nodes: parser.nodes,
            fallback: None,
        })
    }

    /// Parse a raw record of midwatch source `source` with that source's field lookup (the
    /// same record rules of that source matched), e.g. to read grouping fields of a match.
    pub fn for_source(bytes: &'a [u8], source: &str) -> Result<JsonRecord<'a>, RecordError> {
        let fallback = super::logsource::vendor_feed(source).and_then(|f| f.fallback);
        Ok(JsonRecord::parse(bytes)?.with_fallback(fallback))
    }

    /// Also look a field up under the root object's `key` when it is not found at the root
    /// (Azure Monitor records keep most fields under `properties`).
    pub fn with_fallback(mut self, key: Option<&str>) -> JsonRecord<'a> {
        self.fallback = key.and_then(|key| {
            let path = FieldPath::new(key);
            tree::find_key(&self, self.root(), &path, 0)
                .map(|(child, _)| child)
                .filter(|child| self.shape(*child) == Shape::Object)
        });
        self
    }

    /// The record text.
    pub fn text(&self) -> &'a str {
        self.src
    }

    fn node(&self, i: u32) -> Option<&Node> {
        self.nodes.get(i as usize)
    }

    fn raw(&self, n: &Node) -> &'a str {
        self.src.get(n.start as usize..n.end as usize).unwrap_or("")
    }

    fn string(&self, n: &Node) -> Cow<'a, str> {
        match n.kind {
            Kind::EscStr => Cow::Owned(unescape(self.raw(n))),
            _ => Cow::Borrowed(self.raw(n)),
        }
    }

    /// The index just past node `i`'s subtree.
    fn after(&self, i: u32) -> u32 {
        match self.node(i) {
            Some(n) if matches!(n.kind, Kind::Array | Kind::Object) => n.next,
            Some(_) => i + 1,
            None => i,
        }
    }
}

impl Tree for JsonRecord<'_> {
    type Node = u32;

    fn root(&self) -> u32 {
        0
    }

    fn shape(&self, node: u32) -> Shape {
        match self.node(node).map(|n| n.kind) {
            Some(Kind::Object) => Shape::Object,
            Some(Kind::Array) => Shape::Array,
            _ => Shape::Scalar,
        }
    }

    fn entries<F: FnMut(&str, u32) -> bool>(&self, node: u32, mut f: F) -> bool {
        let Some(obj) = self.node(node).filter(|n| n.kind == Kind::Object) else {
            return false;
        };
        let end = obj.next;
        let mut i = node + 1;
        while i < end {
            let Some(key) = self.node(i) else { break };
            let value = i + 1;
            let stop = match key.kind {
                Kind::EscStr => f(&unescape(self.raw(key)), value),
                _ => f(self.raw(key), value),
            };
            if stop {
                return true;
            }
            i = self.after(value);
        }
        false
    }

    fn items<F: FnMut(u32) -> bool>(&self, node: u32, mut f: F) -> bool {
        let Some(arr) = self.node(node).filter(|n| n.kind == Kind::Array) else {
            return false;
        };
        let end = arr.next;
        let mut i = node + 1;
        while i < end {
            if f(i) {
                return true;
            }
            i = self.after(i);
        }
        false
    }

    fn scalar(&self, node: u32, f: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let Some(n) = self.node(node) else {
            return false;
        };
        match n.kind {
            Kind::Null => f(Value::Null),
            Kind::True => f(Value::Bool(true)),
            Kind::False => f(Value::Bool(false)),
            Kind::Number => f(Value::Number(self.raw(n))),
            Kind::Str | Kind::EscStr => f(Value::Str(&self.string(n))),
            Kind::Array | Kind::Object => false,
        }
    }
}

impl Record for JsonRecord<'_> {
    fn lookup(&self, path: &FieldPath, visit: &mut dyn FnMut(Value<'_>) -> bool) -> Lookup {
        let found = tree::lookup(self, self.root(), path, 0, visit);
        match (found, self.fallback) {
            (Lookup::Missing, Some(child)) => tree::lookup(self, child, path, 0, visit),
            (found, _) => found,
        }
    }

    fn leaves(&self, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        tree::leaves(self, self.root(), visit)
    }
}

struct Parser<'b> {
    b: &'b [u8],
    i: usize,
    nodes: Vec<Node>,
}

impl Parser<'_> {
    fn err<T>(&self, message: &str) -> Result<T, RecordError> {
        Err(RecordError {
            offset: self.i,
            message: message.to_string(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn push(&mut self, kind: Kind, start: usize, end: usize) -> usize {
        self.nodes.push(Node {
            kind,
            start: start as u32,
            end: end as u32,
            next: 0,
        });
        self.nodes.len() - 1
    }

    fn close(&mut self, idx: usize) {
        let next = self.nodes.len() as u32;
        if let Some(n) = self.nodes.get_mut(idx) {
            n.next = next;
            n.end = self.i as u32;
        }
    }

    /// The whole input: one value and nothing but whitespace around it.
    fn document(&mut self) -> Result<(), RecordError> {
        self.skip_ws();
        if self.peek().is_none() {
            return self.err("empty record");
        }
        self.value()?;
        self.skip_ws();
        if self.peek().is_some() {
            return self.err("trailing characters after the JSON value");
        }
        Ok(())
    }

    /// One value, containers iteratively with an explicit stack.
    fn value(&mut self) -> Result<(), RecordError> {
        // Open containers: (node index, is object).
        let mut stack: Vec<(usize, bool)> = Vec::new();
        loop {
            self.skip_ws();
            // Parse one value start.
            match self.peek() {
                Some(b'{') => {
                    if stack.len() >= MAX_DEPTH {
                        return self.err("nesting deeper than 256 levels");
                    }
                    let idx = self.push(Kind::Object, self.i, self.i);
                    self.i += 1;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        self.close(idx);
                    } else {
                        stack.push((idx, true));
                        self.key()?;
                        continue;
                    }
                }
                Some(b'[') => {
                    if stack.len() >= MAX_DEPTH {
                        return self.err("nesting deeper than 256 levels");
                    }
                    let idx = self.push(Kind::Array, self.i, self.i);
                    self.i += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        self.close(idx);
                    } else {
                        stack.push((idx, false));
                        continue;
                    }
                }
                Some(b'"') => self.string()?,
                Some(b't') => self.literal(b"true", Kind::True)?,
                Some(b'f') => self.literal(b"false", Kind::False)?,
                Some(b'n') => self.literal(b"null", Kind::Null)?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return self.err("expected a JSON value"),
                None => return self.err("unexpected end of record"),
            }
            // After a complete value: close containers or move to the next element.
            loop {
                let Some(&(idx, is_object)) = stack.last() else {
                    return Ok(());
                };
                self.skip_ws();
                match (self.peek(), is_object) {
                    (Some(b','), _) => {
                        self.i += 1;
                        if is_object {
                            self.skip_ws();
                            self.key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.i += 1;
                        self.close(idx);
                        stack.pop();
                    }
                    (None, _) => return self.err("unexpected end of record"),
                    (Some(_), true) => return self.err("expected `,` or `}`"),
                    (Some(_), false) => return self.err("expected `,` or `]`"),
                }
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Result<(), RecordError> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string key");
        }
        self.string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return self.err("expected `:` after the key");
        }
        self.i += 1;
        Ok(())
    }

    fn string(&mut self) -> Result<(), RecordError> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            let rest = self.b.get(j..).unwrap_or(&[]);
            let Some(k) = memchr::memchr2(b'"', b'\\', rest) else {
                self.i = self.b.len();
                return self.err("unterminated string");
            };
            j += k;
            if self.b.get(j) == Some(&b'"') {
                break;
            }
            // A backslash: check and skip the escape.
            escaped = true;
            match self.b.get(j + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                Some(b'u') => {
                    let hex = self.b.get(j + 2..j + 6).unwrap_or(&[]);
                    if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                        self.i = j;
                        return self.err("bad `\\u` escape");
                    }
                    j += 6;
                }
                _ => {
                    self.i = j;
                    return self.err("bad escape in string");
                }
            }
        }
        let kind = if escaped { Kind::EscStr } else { Kind::Str };
        self.push(kind, start, j);
        self.i = j + 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<(), RecordError> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return self.err("expected `true`, `false` or `null`");
        }
        self.push(kind, self.i, self.i + word.len());
        self.i += word.len();
        Ok(())
    }

    fn number(&mut self) -> Result<(), RecordError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        if self.digits() == 0 {
            return self.err("bad number");
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("bad number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("bad number");
            }
        }
        self.push(Kind::Number, start, self.i);
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }
}

/// Decode the escapes of a JSON string's raw content (already checked by the parser).
/// Lone surrogates become U+FFFD.
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hi = hex4(&mut chars);
                let c = match hi {
                    Some(h @ 0xD800..=0xDBFF) => {
                        let mut look = chars.clone();
                        let lo = match (look.next(), look.next()) {
                            (Some('\\'), Some('u')) => hex4(&mut look),
                            _ => None,
                        };
                        match lo {
                            Some(l @ 0xDC00..=0xDFFF) => {
                                chars = look;
                                char::from_u32(0x10000 + ((h - 0xD800) << 10) + (l - 0xDC00))
                            }
                            _ => None,
                        }
                    }
                    Some(v) => char::from_u32(v),
                    None => None,
                };
                out.push(c.unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

/// The record's text with every JSON escape decoded, for literal prefilters: a literal in a
/// decoded string value appears in this text. Borrows the input when it has no backslash.
pub(crate) fn decoded_text(bytes: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\\', bytes).is_none() {
        return Cow::Borrowed(bytes);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Owned(unescape(s).into_bytes()),
        Err(_) => Cow::Borrowed(bytes),
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

    fn values(rec: &JsonRecord<'_>, path: &str) -> (bool, Vec<String>) {
        let mut out = Vec::new();
        let mut buf = String::new();
        let found = rec.lookup(&FieldPath::new(path), &mut |v| {
            out.push(match v {
                Value::Object => "{}".to_string(),
                Value::Null => "null".to_string(),
                v => v.text(&mut buf).unwrap().to_string(),
            });
            false
        });
        (found.found(), out)
    }

    #[test]
    fn looks_up_nested_paths_arrays_and_odd_keys() {
        let text = br#" {"eventType":"user.session.start","actor":{"id":"00u1","alternateId":"a@b"},
            "target":[{"id":"t1","type":"User"},{"id":"t2","type":"AppInstance"}],
            "n": -1.5e3, "ok": true, "nothing": null, "a.b": "dotted", "esc":"a\"b\u00e9\ud83d\ude00",
            "nested":[[1,2],[3]], "empty": [], "obj": {}} "#;
        let rec = JsonRecord::parse(text).unwrap();
        assert_eq!(values(&rec, "eventType").1, ["user.session.start"]);
        assert_eq!(values(&rec, "eventtype").1, ["user.session.start"]);
        assert_eq!(values(&rec, "actor.alternateId").1, ["a@b"]);
        assert_eq!(values(&rec, "ACTOR.ALTERNATEID").1, ["a@b"]);
        assert_eq!(values(&rec, "target.type").1, ["User", "AppInstance"]);
        assert_eq!(values(&rec, "n").1, ["-1.5e3"]);
        assert_eq!(values(&rec, "ok").1, ["true"]);
        assert_eq!(values(&rec, "nothing"), (true, vec!["null".to_string()]));
        assert_eq!(values(&rec, "a.b").1, ["dotted"]);
        assert_eq!(values(&rec, "esc").1, ["a\"bé😀"]);
        assert_eq!(values(&rec, "nested").1, ["1", "2", "3"]);
        assert_eq!(values(&rec, "empty"), (true, vec![]));
        assert_eq!(values(&rec, "obj"), (true, vec!["{}".to_string()]));
        assert_eq!(values(&rec, "missing"), (false, vec![]));
        assert_eq!(values(&rec, "actor.id.deeper"), (false, vec![]));
        assert_eq!(rec.first_string("target.id").as_deref(), Some("t1"));
    }

    #[test]
    fn falls_back_under_a_key() {
        let text = br#"{"resultType":"0","properties":{"userAgent":"curl","resultType":"x"}}"#;
        let rec = JsonRecord::parse(text)
            .unwrap()
            .with_fallback(Some("properties"));
        assert_eq!(values(&rec, "UserAgent").1, ["curl"]);
        assert_eq!(values(&rec, "resultType").1, ["0"]);
        assert_eq!(values(&rec, "properties.userAgent").1, ["curl"]);
    }

    #[test]
    fn leaves_skip_nulls_and_keys() {
        let rec = JsonRecord::parse(br#"{"k":[1,{"x":"s"}],"n":null,"b":false}"#).unwrap();
        let mut seen = Vec::new();
        let mut buf = String::new();
        rec.leaves(&mut |v| {
            seen.push(v.text(&mut buf).unwrap().to_string());
            false
        });
        assert_eq!(seen, ["1", "s", "false"]);
    }

    #[test]
    fn rejects_bad_json_with_an_offset() {
        for (bad, offset) in [
            (&b""[..], 0),
            (b"{", 1),
            (b"{\"a\" 1}", 5),
            (b"[1,]", 3),
            (b"[1 2]", 3),
            (b"{\"a\":1}x", 7),
            (b"\"abc", 4),
            (b"\"\\x\"", 1),
            (b"\"\\u12g4\"", 1),
            (b"-", 1),
            (b"1.", 2),
            (b"nul", 0),
            (b"\xff", 0),
            (b"{1:2}", 1),
        ] {
            let err = JsonRecord::parse(bad).unwrap_err();
            assert_eq!(
                err.offset,
                offset,
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(
            JsonRecord::parse(deep.as_bytes())
                .unwrap_err()
                .message
                .contains("deeper")
        );
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(JsonRecord::parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn decoded_text_unescapes() {
        assert_eq!(&*decoded_text(br#"{"a":"x\u0026y"}"#), br#"{"a":"x&y"}"#);
        assert!(matches!(decoded_text(b"{}"), Cow::Borrowed(_)));
    }
}
