//! The byte layout of the log: frames, record bodies, checkpoints, segment headers and
//! tombstones. One canonical encoding, so the same record always hashes the same.
//!
//! A segment file is a run of frames `[type u8][len u32 LE][!len u32 LE][body][digest 32]`
//! (the length twice, so a damaged length is told apart from a write cut short). For a record
//! frame the digest is the chain hash `SHA-256(prev_hash ‖ body)`; for every other frame it is
//! `SHA-256(body)`, a checksum that locates damage. Integers are little-endian, strings are
//! `u16` length + UTF-8 bytes.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Frame type of a record.
pub const FRAME_RECORD: u8 = b'R';
/// Frame type of a signed checkpoint.
pub const FRAME_CHECKPOINT: u8 = b'C';
/// Frame type of a segment header (first frame of every segment).
pub const FRAME_HEADER: u8 = b'H';
/// Frame type of a signed tombstone (a removed segment).
pub const FRAME_TOMBSTONE: u8 = b'T';

/// Bytes of a frame around its body.
pub const FRAME_OVERHEAD: usize = 1 + 4 + 4 + 32;

/// Bytes of a frame before its body.
pub const FRAME_HEAD: usize = 1 + 4 + 4;

/// Largest body a frame may carry (a record's payload is capped below this).
pub const MAX_BODY: usize = 16 << 20;

/// Version byte at the start of every body.
const VERSION: u8 = 1;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A normalized event.
    Event,
    /// A detection finding (each new state of it).
    Finding,
    /// An inline decision.
    Decision,
    /// A response taken on a session.
    Response,
    /// An administrative action (triage, erasure, inventory change, retention).
    Admin,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 5] = [
        Kind::Event,
        Kind::Finding,
        Kind::Decision,
        Kind::Response,
        Kind::Admin,
    ];

    /// The kind's byte in a record body.
    pub fn code(self) -> u8 {
        match self {
            Kind::Event => 1,
            Kind::Finding => 2,
            Kind::Decision => 3,
            Kind::Response => 4,
            Kind::Admin => 5,
        }
    }

    /// The kind of a body byte.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Lowercase name (`event`, `finding`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Finding => "finding",
            Kind::Decision => "decision",
            Kind::Response => "response",
            Kind::Admin => "admin",
        }
    }

    /// Parse a lowercase name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Flag: the payload is encrypted with the identity's key.
pub const FLAG_ENCRYPTED: u8 = 1;

/// The fixed part of a record: what search and verification read without the payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// The record's own time (event time, finding time, decision time), epoch ms.
    pub time: i64,
    /// Kind code (see [`Kind::code`]).
    pub kind: u8,
    /// Flags ([`FLAG_ENCRYPTED`]).
    pub flags: u8,
    /// OCSF class uid of the payload (0 when none).
    pub class_uid: u32,
    /// The payload's own id: event uid, finding id, target of an admin action.
    pub uid: String,
    /// midwatch session id, empty when none.
    pub session: String,
    /// midwatch identity id, empty when none.
    pub identity: String,
    /// Application (inventory id or host), empty when none.
    pub app: String,
    /// Action name (`login`, `download`, a rule name, `triage`, `erase`…).
    pub action: String,
}

impl Header {
    /// The record's kind, when its code is known.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_code(self.kind)
    }

    /// Whether the payload is encrypted.
    pub fn encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }
}

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end inside a field.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A version this build does not read.
    #[error("unknown version {0}")]
    Version(u8),
    /// A string field is not UTF-8.
    #[error("field `{0}` is not UTF-8")]
    Utf8(&'static str),
    /// Bytes left over after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A field out of its allowed range.
    #[error("field `{0}` out of range")]
    Range(&'static str),
}

/// A cursor over a byte slice that never reads past the end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub(crate) fn hash(&mut self) -> Result<Hash, DecodeError> {
        self.array()
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| DecodeError::Utf8(field))
    }

    pub(crate) fn version(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            VERSION => Ok(()),
            v => Err(DecodeError::Version(v)),
        }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.bytes.len().saturating_sub(self.pos) {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Append a length-prefixed string, cut at a character boundary below 64 KiB.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let s = s.get(..end).unwrap_or_default();
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Encode a record body: the header then the payload bytes.
pub fn encode_record(h: &Header, payload: &[u8], out: &mut Vec<u8>) {
    encode_record_head(h, payload.len(), out);
    out.extend_from_slice(payload);
}

/// A record body up to its payload, which the caller appends next (`payload_len` bytes).
pub fn encode_record_head(h: &Header, payload_len: usize, out: &mut Vec<u8>) {
    out.push(VERSION);
    out.extend_from_slice(&h.seq.to_le_bytes());
    out.extend_from_slice(&h.time.to_le_bytes());
    out.push(h.kind);
    out.push(h.flags);
    out.extend_from_slice(&h.class_uid.to_le_bytes());
    for s in [&h.uid, &h.session, &h.identity, &h.app, &h.action] {
        put_str(out, s);
    }
    out.extend_from_slice(&(payload_len as u32).to_le_bytes());
}

/// Decode a record body into its header and a borrow of its payload.
pub fn decode_record(body: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    let mut r = Reader::new(body);
    r.version()?;
    let h = Header {
        seq: r.u64()?,
        time: r.i64()?,
        kind: r.u8()?,
        flags: r.u8()?,
        class_uid: r.u32()?,
        uid: r.string("uid")?,
        session: r.string("session")?,
        identity: r.string("identity")?,
        app: r.string("app")?,
        action: r.string("action")?,
    };
    let n = r.u32()? as usize;
    let payload = r.take(n)?;
    r.finish()?;
    Ok((h, payload))
}

/// Check a record body's layout without copying it out, and return its sequence number
/// (what verification needs of every record).
pub fn record_seq(body: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader::new(body);
    r.version()?;
    let seq = r.u64()?;
    r.take(8 + 1 + 1 + 4)?;
    for field in ["uid", "session", "identity", "app", "action"] {
        let n = usize::from(r.u16()?);
        std::str::from_utf8(r.take(n)?).map_err(|_| DecodeError::Utf8(field))?;
    }
    let n = r.u32()? as usize;
    r.take(n)?;
    r.finish()?;
    Ok(seq)
}

/// The chain hash of a record: `SHA-256(prev ‖ body)`.
pub fn chain_hash(prev: &Hash, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(body);
    h.finalize().into()
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Append one frame.
pub fn put_frame(out: &mut Vec<u8>, kind: u8, body: &[u8], digest: &Hash) {
    out.push(kind);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(!(body.len() as u32)).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(digest);
}

/// Append one frame whose body `encode` writes straight into `out` (no intermediate copy);
/// `digest` computes the frame's digest from the body. Returns the digest.
pub fn put_frame_with(
    out: &mut Vec<u8>,
    kind: u8,
    encode: impl FnOnce(&mut Vec<u8>),
    digest: impl FnOnce(&[u8]) -> Hash,
) -> Hash {
    let start = out.len();
    out.push(kind);
    out.extend_from_slice(&[0; 8]);
    let body_start = out.len();
    encode(out);
    let len = (out.len() - body_start) as u32;
    if let Some(l) = out.get_mut(start + 1..start + FRAME_HEAD) {
        l.copy_from_slice(&[len.to_le_bytes(), (!len).to_le_bytes()].concat());
    }
    let d = digest(out.get(body_start..).unwrap_or_default());
    out.extend_from_slice(&d);
    d
}

/// One frame read from a segment.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Frame type byte.
    pub kind: u8,
    /// Byte offset of the frame in its segment.
    pub offset: u64,
    /// The body.
    pub body: &'a [u8],
    /// The stored digest.
    pub digest: Hash,
}

/// Why the frames of a segment stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEnd {
    /// The bytes end exactly after a frame.
    Clean,
    /// A frame starts at this offset but the bytes end inside it (a torn write).
    Torn(u64),
    /// A frame at this offset has an unknown type or an impossible length.
    Garbage(u64, String),
}

/// Where a write cut short by zeros begins: the offset of the first frame that runs on past
/// the sector holding the bytes' last non-zero byte, if the bytes end in zeros. A write
/// interrupted by a crash (or caught halfway by a reader) leaves whole sectors of the block
/// it was writing as they were, zeros (see [`crate::direct`]), so its last frame ends in
/// a zero sector. Such a frame is unfinished only if it also fails its checks; and a frame
/// whose end shares a sector with non-zero bytes was not cut by a missing sector, whatever
/// zero bytes its digest happens to end with.
pub fn zero_cut(bytes: &[u8]) -> Option<u64> {
    const SECTOR: u64 = 512;
    if bytes.last() != Some(&0) {
        return None;
    }
    let nonzero = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1) as u64;
    let written = nonzero.div_ceil(SECTOR) * SECTOR;
    Frames::new(bytes)
        .find(|f| f.offset + (FRAME_OVERHEAD + f.body.len()) as u64 > written)
        .map(|f| f.offset)
}

/// Iterate over the frames of a segment's bytes; [`Frames::end`] says how they stopped.
#[derive(Debug)]
pub struct Frames<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: Option<FrameEnd>,
}

impl<'a> Frames<'a> {
    /// Frames of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Frames<'a> {
        Frames {
            bytes,
            pos: 0,
            end: None,
        }
    }

    /// How iteration stopped (after it has).
    pub fn end(&self) -> Option<&FrameEnd> {
        self.end.as_ref()
    }

    /// Byte offset after the last whole frame returned.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.end.is_some() {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.end = Some(FrameEnd::Clean);
            return None;
        }
        let offset = self.pos as u64;
        let mut r = Reader::new(rest);
        let kind = r.u8().unwrap_or_default();
        if ![
            FRAME_RECORD,
            FRAME_CHECKPOINT,
            FRAME_HEADER,
            FRAME_TOMBSTONE,
        ]
        .contains(&kind)
        {
            self.end = Some(FrameEnd::Garbage(
                offset,
                format!("unknown frame type 0x{kind:02x}"),
            ));
            return None;
        }
        let (Ok(len), Ok(check)) = (r.u32(), r.u32()) else {
            self.end = Some(FrameEnd::Torn(offset));
            return None;
        };
        if len != !check {
            self.end = Some(FrameEnd::Garbage(offset, "frame length damaged".into()));
            return None;
        }
        let len = len as usize;
        if len > MAX_BODY {
            self.end = Some(FrameEnd::Garbage(
                offset,
                format!("frame length {len} over the limit"),
            ));
            return None;
        }
        let (body, digest) = match (r.take(len), r.hash()) {
            (Ok(b), Ok(d)) => (b, d),
            _ => {
                self.end = Some(FrameEnd::Torn(offset));
                return None;
            }
        };
        self.pos += FRAME_OVERHEAD + len;
        Some(Frame {
            kind,
            offset,
            body,
            digest,
        })
    }
}

/// A segment's first frame: where it starts in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment number, from 1.
    pub segment: u64,
    /// Sequence number of the segment's first record.
    pub first_seq: u64,
    /// Chain hash of the record before it (zero for the first segment).
    pub prev_hash: Hash,
    /// Digest of the last checkpoint before it (zero when none).
    pub prev_checkpoint: Hash,
    /// Public key id of the signer.
    pub key_id: [u8; 8],
}

impl SegmentHeader {
    /// Encode the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(90);
        out.push(VERSION);
        out.extend_from_slice(&self.segment.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.prev_checkpoint);
        out.extend_from_slice(&self.key_id);
        out
    }

    /// Decode a body.
    pub fn decode(body: &[u8]) -> Result<SegmentHeader, DecodeError> {
        let mut r = Reader::new(body);
        r.version()?;
        let h = SegmentHeader {
            segment: r.u64()?,
            first_seq: r.u64()?,
            prev_hash: r.hash()?,
            prev_checkpoint: r.hash()?,
            key_id: r.array()?,
        };
        r.finish()?;
        Ok(h)
    }
}

/// A stable 64-bit hash for index keys (FNV-1a with a final avalanche), the same on every
/// build and machine because index files keep it. Its top bit is the field's: set for
/// sessions and identities, clear for the rest, so an index file, in key order, keeps the
/// keys of sessions and identities together at its end — the part most lookups read, small
/// enough to stay in the page cache when the log is not.
pub fn key_hash(field: u8, value: &str) -> u64 {
    key_hash_bytes(field, value.as_bytes())
}

/// [`key_hash`] of a number's decimal digits, without formatting a string.
pub fn key_hash_num(field: u8, n: u64) -> u64 {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(d) = buf.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    key_hash_bytes(field, buf.get(at..).unwrap_or_default())
}

/// [`key_hash`] of ASCII text lowercased, without lowercasing it into a new string.
pub fn key_hash_ascii_lower(field: u8, value: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(field).chain(value.iter().map(u8::to_ascii_lowercase)) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    placed(field, mix(h))
}

/// A key's hash with its field's top bit (see [`key_hash`]).
fn placed(field: u8, h: u64) -> u64 {
    const TOP: u64 = 1 << 63;
    if field == crate::index::field::SESSION || field == crate::index::field::IDENTITY {
        h | TOP
    } else {
        h & !TOP
    }
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn key_hash_bytes(field: u8, value: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&field).chain(value) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    placed(field, mix(h))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from(
                *DIGITS.get(usize::from(nibble)).unwrap_or(&b'0'),
            ));
        }
    }
    s
}

/// Parse hex into exactly `N` bytes.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    // Lowercase only: the log writes lowercase, and one value has one spelling.
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn record_round_trips() {
        let h = Header {
            seq: 7,
            time: -3,
            kind: Kind::Finding.code(),
            flags: FLAG_ENCRYPTED,
            class_uid: 2004,
            uid: "f1".into(),
            session: "s".into(),
            identity: "idn".into(),
            app: "app".into(),
            action: "rule".into(),
        };
        let mut body = Vec::new();
        encode_record(&h, b"{\"a\":1}", &mut body);
        let (back, payload) = decode_record(&body).unwrap();
        assert_eq!(back, h);
        assert_eq!(record_seq(&body).unwrap(), 7);
        assert_eq!(payload, b"{\"a\":1}");
        for cut in 0..body.len() {
            assert!(decode_record(&body[..cut]).is_err(), "cut at {cut}");
            assert!(record_seq(&body[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn frames_report_torn_and_garbage_tails() {
        let mut seg = Vec::new();
        put_frame(&mut seg, FRAME_HEADER, b"abc", &sha256(b"abc"));
        put_frame(&mut seg, FRAME_RECORD, b"de", &[1; 32]);
        let whole = seg.len();
        let mut f = Frames::new(&seg);
        assert_eq!(f.by_ref().count(), 2);
        assert_eq!(f.end(), Some(&FrameEnd::Clean));
        let mut f = Frames::new(&seg[..whole - 1]);
        assert_eq!(f.by_ref().count(), 1);
        assert_eq!(f.end(), Some(&FrameEnd::Torn(44)));
        seg.push(0x99);
        let mut f = Frames::new(&seg);
        assert_eq!(f.by_ref().count(), 2);
        assert!(matches!(f.end(), Some(FrameEnd::Garbage(o, _)) if *o == whole as u64));
    }

    #[test]
    fn a_frame_running_into_zero_padding_is_found() {
        let mut seg = Vec::new();
        put_frame(&mut seg, FRAME_HEADER, b"abc", &sha256(b"abc"));
        let second = seg.len() as u64;
        put_frame(&mut seg, FRAME_RECORD, &[7; 100], &[1; 32]);
        assert_eq!(zero_cut(&seg), None);
        let mut padded = seg.clone();
        padded.resize(4096, 0);
        // Whole frames and then zeros: nothing is cut short.
        assert_eq!(zero_cut(&padded), None);
        // A frame over a sector boundary whose second sector never arrived.
        let mut cut = Vec::new();
        put_frame(&mut cut, FRAME_HEADER, b"abc", &sha256(b"abc"));
        put_frame(&mut cut, FRAME_RECORD, &[7; 1000], &[1; 32]);
        cut[1024..].fill(0);
        cut.resize(4096, 0);
        assert_eq!(zero_cut(&cut), Some(second));
        // A whole frame whose digest ends in zero bytes, in the sector of its other bytes,
        // is not taken for a cut one.
        let mut whole = seg.clone();
        let n = whole.len();
        whole[n - 3..].fill(0);
        whole.resize(4096, 0);
        assert_eq!(zero_cut(&whole), None);
        assert_eq!(zero_cut(&[]), None);
        assert_eq!(zero_cut(&[0; 10]), None);
    }

    #[test]
    fn frames_written_in_place_equal_frames_written_from_a_body() {
        let mut a = Vec::new();
        put_frame(
            &mut a,
            FRAME_RECORD,
            b"hello",
            &chain_hash(&[1; 32], b"hello"),
        );
        let mut b = Vec::new();
        let d = put_frame_with(
            &mut b,
            FRAME_RECORD,
            |o| o.extend_from_slice(b"hello"),
            |body| chain_hash(&[1; 32], body),
        );
        assert_eq!(a, b);
        assert_eq!(d, chain_hash(&[1; 32], b"hello"));
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let s = "é".repeat(40_000);
        let mut out = Vec::new();
        put_str(&mut out, &s);
        let mut r = Reader::new(&out);
        let back = r.string("x").unwrap();
        assert!(back.len() <= 65_535 && s.starts_with(&back));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(unhex::<3>(&hex(&[0, 171, 255])), Some([0, 171, 255]));
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(key_hash(1, "a"), key_hash(1, "a"));
        assert_ne!(key_hash(1, "a"), key_hash(2, "a"));
        assert_eq!(key_hash_ascii_lower(8, b"MiXeD"), key_hash(8, "mixed"));
        for n in [0u64, 7, 10, 6001, u64::MAX] {
            assert_eq!(key_hash_num(5, n), key_hash(5, &n.to_string()));
        }
    }
}
