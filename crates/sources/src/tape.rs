//! The fast path for sources that read a few fields of large records: simd-json parses the
//! record into a tape (a flat list of nodes in document order, each object and array
//! carrying the number of nodes nested in it) and the source's readers take their values
//! from there through [`Values`], as they would from the lazy reader.
//!
//! The tape is only a faster way to the same reading. A record goes this way only when
//! simd-json reads it exactly as the lazy reader (`crate::scan`) does: simd-json refuses
//! bytes that are not UTF-8 and numbers beyond an `f64` anywhere in the record, and turns a
//! lone surrogate escape into NUL, where the lazy reader reads U+FFFD or absent and looks
//! at nothing it is not asked for. So a record that simd-json refuses, or with a NUL in a
//! string that is read, is read again by the lazy reader, which has the last word on
//! whether it is JSON at all.

use crate::scan::{Kind, Number, Scalar, Str, Syntax, Values};
use simd_json::{Buffers, Node, StaticNode};
use std::cell::RefCell;

/// Records up to this size are parsed in the thread's reusable buffers; larger ones get
/// buffers of their own, so that one huge record does not pin its memory to the thread.
const REUSE_LIMIT: usize = 64 * 1024;

/// A mutable copy of the record (the parser unescapes strings in place), the parser's
/// working buffers and the tape, kept per thread so that a record costs no allocation.
#[derive(Default)]
struct Scratch {
    input: Vec<u8>,
    buffers: Buffers,
    /// The last tape's room, emptied (its nodes borrowed the last record).
    nodes: Vec<Node<'static>>,
}

/// An empty vector of nodes of any lifetime, in the room of `nodes` (an in-place collect
/// of nothing: the allocation is kept).
fn empty_nodes<'b>(mut nodes: Vec<Node<'_>>) -> Vec<Node<'b>> {
    nodes.clear();
    nodes
        .into_iter()
        .map(|_| Node::Static(StaticNode::Null))
        .collect()
}

impl Scratch {
    /// Parse `raw` and hand its values to `read`; `None` when simd-json refuses it.
    fn parse<R>(&mut self, raw: &[u8], read: impl FnOnce(&mut Tape<'_, '_>) -> R) -> Option<R> {
        let Scratch {
            input,
            buffers,
            nodes,
        } = self;
        input.clear();
        input.extend_from_slice(raw);
        let mut tape = simd_json::Tape(empty_nodes(std::mem::take(nodes)));
        // A string can hold a NUL only from an escape (simd-json refuses a control byte
        // inside a string, and one outside is no JSON): without a backslash, no string
        // read needs looking into.
        let nul_possible = memchr::memchr(b'\\', raw).is_some();
        let out = match simd_json::fill_tape(input, buffers, &mut tape) {
            Ok(()) => Some(read(&mut Tape {
                nodes: &tape.0,
                at: 0,
                nul_possible,
            })),
            Err(_) => None,
        };
        *nodes = empty_nodes(tape.0);
        out
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Read `raw` from a simd-json tape when it can be read that way (see the module notes):
/// `None` when it must go to the lazy reader instead.
pub(crate) fn with_tape<R>(raw: &[u8], read: impl FnOnce(&mut Tape<'_, '_>) -> R) -> Option<R> {
    if raw.len() > REUSE_LIMIT {
        return Scratch::default().parse(raw, read);
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => scratch.parse(raw, read),
        Err(_) => Scratch::default().parse(raw, read),
    })
}

/// A record's values on the tape, from the next one on.
pub(crate) struct Tape<'t, 'a> {
    nodes: &'t [Node<'a>],
    at: usize,
    /// Whether a string on the tape may hold a NUL (see [`Scratch::parse`]).
    nul_possible: bool,
}

impl<'a> Tape<'_, 'a> {
    /// Nothing is left after the value read: the tape holds one value (simd-json fails a
    /// record with more).
    pub(crate) fn end(&self) -> Result<(), Syntax> {
        if self.at == self.nodes.len() {
            Ok(())
        } else {
            Err(Syntax(self.at))
        }
    }

    fn next_node(&mut self) -> Result<Node<'a>, Syntax> {
        let node = self.nodes.get(self.at).copied().ok_or(Syntax(self.at))?;
        self.at += 1;
        Ok(node)
    }
}

impl<'a> Values<'a> for Tape<'_, 'a> {
    fn kind(&mut self) -> Result<Kind, Syntax> {
        match self.nodes.get(self.at) {
            Some(Node::Object { .. }) => Ok(Kind::Object),
            Some(Node::Array { .. }) => Ok(Kind::Array),
            Some(_) => Ok(Kind::Scalar),
            None => Err(Syntax(self.at)),
        }
    }

    fn scalar(&mut self) -> Result<Scalar<'a>, Syntax> {
        let node = self.nodes.get(self.at).copied().ok_or(Syntax(self.at))?;
        Ok(match node {
            // simd-json decodes a lone surrogate escape as NUL, where the lazy reader reads
            // U+FFFD: a string read with a NUL in it sends the record the lazy way.
            Node::String(s) if self.nul_possible && memchr::memchr(0, s.as_bytes()).is_some() => {
                return Err(Syntax(self.at));
            }
            Node::String(s) => {
                self.at += 1;
                Scalar::Str(Str::Decoded(s))
            }
            Node::Static(st) => {
                self.at += 1;
                match st {
                    StaticNode::Null => Scalar::Null,
                    StaticNode::Bool(b) => Scalar::Bool(b),
                    StaticNode::U64(v) => Scalar::Number(Number::U64(v)),
                    StaticNode::I64(v) => Scalar::Number(Number::I64(v)),
                    StaticNode::F64(v) => Scalar::Number(Number::F64(v)),
                }
            }
            Node::Object { .. } | Node::Array { .. } => {
                self.skip()?;
                Scalar::Skipped
            }
        })
    }

    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, &[u8]) -> Result<(), Syntax>,
    ) -> Result<(), Syntax> {
        let Node::Object { len, .. } = self.next_node()? else {
            return Err(Syntax(self.at));
        };
        for _ in 0..len {
            let Node::String(key) = self.next_node()? else {
                return Err(Syntax(self.at));
            };
            member(self, key.as_bytes())?;
        }
        Ok(())
    }

    fn items(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), Syntax>,
    ) -> Result<(), Syntax> {
        let Node::Array { len, .. } = self.next_node()? else {
            return Err(Syntax(self.at));
        };
        for _ in 0..len {
            item(self)?;
        }
        Ok(())
    }

    fn skip(&mut self) -> Result<(), Syntax> {
        let span = match self.next_node()? {
            Node::Object { count, .. } | Node::Array { count, .. } => count,
            _ => 0,
        };
        self.at = self.at.saturating_add(span);
        if self.at > self.nodes.len() {
            return Err(Syntax(self.at));
        }
        Ok(())
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
    fn a_nul_in_a_string_read_sends_the_record_the_lazy_way() {
        let first_string =
            |raw: &[u8]| with_tape(raw, |t| t.members(|t, _| t.scalar().map(drop)).is_ok());
        assert_eq!(first_string(br#"{"a":"x\u0041"}"#), Some(true));
        assert_eq!(first_string(br#"{"a":"x\ud800"}"#), Some(false));
        assert_eq!(first_string(br#"{"a":"x\u0000"}"#), Some(false));
        // A NUL byte as it stands, not escaped: never read as a string.
        assert_ne!(first_string(b"{\"a\":\"x\x00\"}"), Some(true));
        assert_eq!(first_string(b"{\"a\":\"\xff\"}"), None);
    }

    #[test]
    fn the_tape_room_is_kept_between_records() {
        let cap = |raw: &[u8]| {
            with_tape(raw, |_| ()).unwrap();
            SCRATCH.with(|c| c.borrow().nodes.capacity())
        };
        let first = cap(br#"{"a":[1,2,3,{"b":null}],"c":"d"}"#);
        assert!(first > 0);
        assert_eq!(cap(br#"{"a":1}"#), first);
    }
}
