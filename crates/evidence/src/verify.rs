//! Verification of a log directory without the writer: every frame's digest, every record's
//! chain hash and sequence number, every checkpoint's range, Merkle root, link and signature,
//! segment boundaries against the signed manifest, tombstones across removed segments, and,
//! with an anchor file, that no anchored checkpoint is missing (a truncated tail).
//!
//! Segments are checked in parallel from the state their header claims; the claims are then
//! linked in order. The first problem in log order is reported with its segment, byte offset
//! and sequence number.

use crate::codec::{
    FRAME_CHECKPOINT, FRAME_HEADER, FRAME_RECORD, FRAME_TOMBSTONE, FrameEnd, Frames, Hash,
    SegmentHeader, chain_hash, hex, record_seq, sha256, unhex,
};
use crate::manifest::{Manifest, ManifestError, SegmentEntry, SegmentState, decode_hex};
use crate::merkle;
use crate::sign::{Checkpoint, Tombstone, key_id};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every check passed.
    Intact,
    /// Something was changed, removed or forged.
    Tampered,
    /// Not a log or bundle, or not readable at all.
    Unreadable,
}

impl Status {
    /// The process exit code: 0 intact, 1 tampered, 2 unreadable.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Intact => 0,
            Status::Tampered => 1,
            Status::Unreadable => 2,
        }
    }
}

/// Where and what the first problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Segment number, when in a segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<u64>,
    /// File, when in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Byte offset in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Line in the file (bundle files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Sequence number of the record concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl Problem {
    /// A problem with a whole file (not a place inside it).
    pub(crate) fn in_file(file: impl Into<String>, what: impl Into<String>) -> Problem {
        Problem {
            segment: None,
            file: Some(file.into()),
            offset: None,
            line: None,
            seq: None,
            what: what.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(o) = self.offset {
                write!(f, " at byte {o}")?;
            }
            if let Some(l) = self.line {
                write!(f, " line {l}")?;
            }
            f.write_str(": ")?;
        }
        if let Some(s) = self.seq {
            write!(f, "record {s}: ")?;
        }
        f.write_str(&self.what)
    }
}

/// What verification found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Outcome.
    pub status: Status,
    /// Records checked.
    pub records: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Segments checked.
    pub segments: u64,
    /// Segments removed by retention (tombstones checked).
    pub removed_segments: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Last sequence number.
    pub last_seq: u64,
    /// Records after the last checkpoint (not yet signed).
    pub unsigned_tail: u64,
    /// Signing key id (hex).
    pub key_id: String,
    /// The first problem, when not intact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Things worth knowing that are not tampering.
    pub warnings: Vec<String>,
}

impl Report {
    pub(crate) fn new() -> Report {
        Report {
            status: Status::Intact,
            records: 0,
            checkpoints: 0,
            segments: 0,
            removed_segments: 0,
            bytes: 0,
            last_seq: 0,
            unsigned_tail: 0,
            key_id: String::new(),
            problem: None,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn unreadable(what: impl Into<String>) -> Report {
        let mut r = Report::new();
        r.status = Status::Unreadable;
        r.problem = Some(Problem {
            segment: None,
            file: None,
            offset: None,
            line: None,
            seq: None,
            what: what.into(),
        });
        r
    }

    pub(crate) fn tampered(mut self, p: Problem) -> Report {
        if self.problem.is_none() {
            self.status = Status::Tampered;
            self.problem = Some(p);
        }
        self
    }
}

/// Options of a verification.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The public key the log must be signed with (otherwise the manifest's is used and
    /// reported by id).
    pub trusted_key: Option<[u8; 32]>,
    /// An anchor file the log's checkpoints were also written to.
    pub anchor: Option<PathBuf>,
}

/// Chain state at a segment boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    next_seq: u64,
    hash: Hash,
    checkpoint: Hash,
}

struct SegmentOutcome {
    start: State,
    end: State,
    records: u64,
    checkpoints: u64,
    unsigned: u64,
    bytes: u64,
    /// Checkpoint digests by last seq (for anchors).
    checkpoint_digests: Vec<(u64, Hash)>,
    problem: Option<Problem>,
    warnings: Vec<String>,
}

fn problem(seg: &SegmentEntry, offset: Option<u64>, seq: Option<u64>, what: String) -> Problem {
    Problem {
        segment: Some(seg.segment),
        file: Some(seg.file.clone()),
        offset,
        line: None,
        seq,
        what,
    }
}

/// Check one segment's bytes from the state its header claims.
fn verify_segment(bytes: &[u8], seg: &SegmentEntry, pk: &[u8; 32]) -> SegmentOutcome {
    let out = check_segment(bytes, seg, pk);
    // In the active segment, a frame that fails where the file ends in zeros is a write
    // still under way or cut by a crash, as a frame the file ends inside is.
    if seg.state == SegmentState::Active
        && let Some(p) = &out.problem
        && let Some(at) = crate::codec::zero_cut(bytes)
        && p.offset == Some(at)
        && let Some(before) = bytes.get(..at as usize)
    {
        let mut out = check_segment(before, seg, pk);
        if out.problem.is_none() {
            out.warnings.push(format!(
                "{}: an unfinished write of {} bytes at byte {at}, ending in zeros (never acknowledged; cut when the log reopens)",
                seg.file,
                bytes.len() as u64 - at
            ));
            out.bytes = bytes.len() as u64;
        }
        return out;
    }
    out
}

fn check_segment(bytes: &[u8], seg: &SegmentEntry, pk: &[u8; 32]) -> SegmentOutcome {
    let mut out = SegmentOutcome {
        start: State {
            next_seq: seg.first_seq,
            hash: seg.prev_hash_bytes(),
            checkpoint: seg.prev_checkpoint_bytes(),
        },
        end: State {
            next_seq: seg.first_seq,
            hash: [0; 32],
            checkpoint: [0; 32],
        },
        records: 0,
        checkpoints: 0,
        unsigned: 0,
        bytes: bytes.len() as u64,
        checkpoint_digests: Vec::new(),
        problem: None,
        warnings: Vec::new(),
    };
    let mut frames = Frames::new(bytes);
    let mut st = out.start;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut cp_first = st.next_seq;
    let mut first = true;
    let kid = key_id(pk);
    let fail = |o: &mut SegmentOutcome, off: u64, seq: Option<u64>, what: String| {
        o.problem = Some(problem(seg, Some(off), seq, what));
    };
    for f in frames.by_ref() {
        if first {
            first = false;
            let header = (f.kind == FRAME_HEADER && sha256(f.body) == f.digest)
                .then(|| SegmentHeader::decode(f.body).ok())
                .flatten();
            let Some(h) = header else {
                fail(
                    &mut out,
                    f.offset,
                    None,
                    "segment header missing or damaged".into(),
                );
                return out;
            };
            if h.segment != seg.segment
                || h.first_seq != seg.first_seq
                || h.prev_hash != out.start.hash
                || h.prev_checkpoint != out.start.checkpoint
            {
                fail(
                    &mut out,
                    f.offset,
                    None,
                    "segment header does not match the manifest (segment replaced?)".into(),
                );
                return out;
            }
            if h.key_id != kid {
                fail(
                    &mut out,
                    f.offset,
                    None,
                    "segment written under another key".into(),
                );
                return out;
            }
            continue;
        }
        match f.kind {
            FRAME_RECORD => {
                let expected = st.next_seq;
                let seq = match record_seq(f.body) {
                    Ok(seq) => seq,
                    Err(e) => {
                        fail(
                            &mut out,
                            f.offset,
                            Some(expected),
                            format!("record undecodable: {e}"),
                        );
                        return out;
                    }
                };
                if seq != expected {
                    fail(
                        &mut out,
                        f.offset,
                        Some(expected),
                        format!(
                            "expected record {expected}, found record {seq} (records dropped or reordered)"
                        ),
                    );
                    return out;
                }
                let hash = chain_hash(&st.hash, f.body);
                if hash != f.digest {
                    fail(
                        &mut out,
                        f.offset,
                        Some(expected),
                        "chain hash mismatch (record changed, or the one before it)".into(),
                    );
                    return out;
                }
                st.hash = hash;
                st.next_seq = st.next_seq.saturating_add(1);
                leaves.push(hash);
                out.records += 1;
            }
            FRAME_CHECKPOINT => {
                let cp = (sha256(f.body) == f.digest)
                    .then(|| Checkpoint::decode(f.body).ok())
                    .flatten();
                let Some(c) = cp else {
                    fail(&mut out, f.offset, None, "checkpoint damaged".into());
                    return out;
                };
                let last = st.next_seq.saturating_sub(1);
                let why = if !c.verify(pk) {
                    Some("checkpoint signature invalid (forged checkpoint)")
                } else if c.first_seq != cp_first || c.last_seq != last {
                    Some("checkpoint covers other records than precede it")
                } else if c.chain_hash != st.hash {
                    Some("checkpoint chain hash differs from the records")
                } else if c.merkle_root != merkle::root(&leaves) {
                    Some("checkpoint Merkle root differs from the records")
                } else if c.prev != st.checkpoint {
                    Some("checkpoint does not link to the previous checkpoint")
                } else {
                    None
                };
                if let Some(why) = why {
                    fail(&mut out, f.offset, Some(c.last_seq), why.into());
                    return out;
                }
                st.checkpoint = c.digest();
                out.checkpoint_digests.push((c.last_seq, st.checkpoint));
                leaves.clear();
                cp_first = st.next_seq;
                out.checkpoints += 1;
            }
            FRAME_TOMBSTONE => {
                let t = (sha256(f.body) == f.digest)
                    .then(|| Tombstone::decode(f.body).ok())
                    .flatten();
                if !t.is_some_and(|t| t.verify(pk)) {
                    fail(
                        &mut out,
                        f.offset,
                        None,
                        "tombstone damaged or forged".into(),
                    );
                    return out;
                }
            }
            FRAME_HEADER => {
                fail(&mut out, f.offset, None, "second segment header".into());
                return out;
            }
            _ => {}
        }
    }
    if first {
        fail(&mut out, 0, None, "segment is empty".into());
        return out;
    }
    match frames.end() {
        Some(FrameEnd::Torn(at)) if seg.state == SegmentState::Active => out.warnings.push(format!(
            "{}: an unfinished write of {} bytes at byte {at} (never acknowledged; cut when the log reopens)",
            seg.file,
            bytes.len() as u64 - at
        )),
        Some(FrameEnd::Garbage(at, _))
            if seg.state == SegmentState::Active
                && bytes.get(*at as usize..).is_some_and(|r| r.iter().all(|b| *b == 0)) =>
        {
            // Direct writes pad the active segment's last block with zeros: that much is
            // how it is written, more is a write cut short.
            let len = bytes.len() as u64;
            let block = crate::direct::BLOCK as u64;
            if !len.is_multiple_of(block) || len - at > block {
                out.warnings.push(format!("{}: zero bytes after byte {at} (an unfinished write)", seg.file));
            }
        }
        Some(FrameEnd::Torn(at)) => {
            fail(&mut out, *at, None, "segment ends inside a frame (truncated)".into());
            return out;
        }
        Some(FrameEnd::Garbage(at, why)) => {
            fail(&mut out, *at, None, why.clone());
            return out;
        }
        _ => {}
    }
    out.unsigned = leaves.len() as u64;
    out.end = st;
    if seg.state == SegmentState::Sealed {
        let last = st.next_seq.saturating_sub(1);
        if !leaves.is_empty() {
            out.problem = Some(problem(
                seg,
                Some(frames.position()),
                Some(last),
                "sealed segment does not end with a checkpoint (truncated)".into(),
            ));
        } else if last != seg.last_seq
            || st.hash != seg.last_hash_bytes()
            || st.checkpoint != seg.last_checkpoint_bytes()
        {
            out.problem = Some(problem(
                seg,
                Some(frames.position()),
                Some(last),
                format!(
                    "segment ends at record {last} but the manifest says {} (truncated or replaced)",
                    seg.last_seq
                ),
            ));
        }
    }
    out
}

/// Check the bytes of one segment that claims to start the chain at `first_seq` after the
/// zero hash (what a fuzzer or a one-file check can run): the records it holds and the first
/// problem.
pub fn verify_segment_bytes(bytes: &[u8], first_seq: u64, pk: &[u8; 32]) -> (u64, Option<Problem>) {
    let seg = SegmentEntry::active(1, first_seq, [0; 32], [0; 32]);
    let o = verify_segment(bytes, &seg, pk);
    (o.records, o.problem)
}

/// Verify the log in `dir`.
pub fn verify_dir(dir: &Path, opts: &Options) -> Report {
    // A writer beside the check may seal segments or remove expired ones (retention) while
    // it runs: a check that fails under a manifest that has changed since is made again
    // against the new one (a few times at most), so a log being written is not called
    // tampered for what its writer did meanwhile.
    let mut seen = Manifest::read(dir);
    let mut report = verify_as_of(dir, opts, seen.clone());
    for _ in 0..3 {
        if report.status == Status::Intact {
            break;
        }
        let now = Manifest::read(dir);
        if now == seen {
            break;
        }
        seen = now;
        report = verify_as_of(dir, opts, seen.clone());
    }
    report
}

/// Check a log directory against the manifest file's bytes as read at one moment (what
/// [`verify_dir`] does with the manifest it reads first, and again if it changed).
pub fn verify_as_of(
    dir: &Path,
    opts: &Options,
    manifest: Result<Vec<u8>, ManifestError>,
) -> Report {
    let m = match manifest.and_then(|b| Manifest::parse(&b)) {
        Ok(m) => m,
        Err(ManifestError::Missing) => {
            let has_segments = std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.filter_map(Result::ok).any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("seg-") && n.ends_with(".log")
                })
            });
            if has_segments {
                return Report::new().tampered(Problem::in_file(
                    "MANIFEST",
                    "missing beside the log's segments (removed)",
                ));
            }
            return Report::unreadable(format!(
                "`{}` is not an evidence log (no MANIFEST)",
                dir.display()
            ));
        }
        Err(e) => {
            return Report::new().tampered(Problem::in_file("MANIFEST", e.to_string()));
        }
    };
    let mut report = Report::new();
    report.key_id = m.key_id.clone();
    let manifest_problem = |what: &str| Problem::in_file("MANIFEST", what);
    let Some(pk) = unhex::<32>(&m.public_key) else {
        return report.tampered(manifest_problem("public key unreadable"));
    };
    if let Some(t) = opts.trusted_key
        && t != pk
    {
        return report.tampered(manifest_problem(&format!(
            "signed with key {}, not the trusted key {}",
            hex(&key_id(&pk)),
            hex(&key_id(&t))
        )));
    }
    if !m.signature_ok() {
        return report.tampered(manifest_problem(
            "manifest signature invalid (manifest edited)",
        ));
    }
    let tombstones: HashMap<u64, Tombstone> = m
        .decoded_tombstones()
        .into_iter()
        .map(|t| (t.segment, t))
        .collect();
    if tombstones.len() != m.tombstones.len() {
        return report.tampered(manifest_problem("a tombstone is unreadable"));
    }
    // Check present segments in parallel.
    let present: Vec<&SegmentEntry> = m
        .segments
        .iter()
        .filter(|s| s.state != SegmentState::Removed)
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<HashMap<u64, Result<SegmentOutcome, String>>> =
        std::sync::Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(seg) = present.get(i) else { return };
                    let path = dir.join(&seg.file);
                    // Verification runs apart from any log's settings: it reads around the
                    // page cache wherever the file system allows it.
                    let r = crate::direct::read_file(&path, true)
                        .map(|b| verify_segment(&b, seg, &pk))
                        .map(|mut o| {
                            // Index files are derived data: damage is worth a warning (the
                            // writer rebuilds a missing index when it opens the log).
                            if seg.state == SegmentState::Sealed {
                                let idx = dir.join(crate::log::index_file(seg.segment));
                                if let Err(e) = crate::index::SegmentIndex::check(&idx) {
                                    o.warnings.push(format!(
                                        "{}: {e}; delete it and reopen the log to rebuild it",
                                        crate::log::index_file(seg.segment)
                                    ));
                                }
                            }
                            o
                        })
                        .map_err(|e| e.to_string());
                    if let Ok(mut map) = results.lock() {
                        map.insert(seg.segment, r);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    // Link in order.
    let mut state = State {
        next_seq: 1,
        hash: [0; 32],
        checkpoint: [0; 32],
    };
    let mut digests: HashMap<u64, Hash> = HashMap::new();
    let mut removed_ranges = Vec::new();
    for (i, seg) in m.segments.iter().enumerate() {
        if seg.state == SegmentState::Active && i + 1 != m.segments.len() {
            return report.tampered(manifest_problem("an active segment that is not the last"));
        }
        let link_problem = |what: String| problem(seg, None, Some(seg.first_seq), what);
        if seg.first_seq != state.next_seq
            || seg.prev_hash_bytes() != state.hash
            || seg.prev_checkpoint_bytes() != state.checkpoint
        {
            return report.tampered(link_problem(format!(
                "does not continue the chain (expected record {}; segment missing, replaced or reordered)",
                state.next_seq
            )));
        }
        if seg.state == SegmentState::Removed {
            let Some(t) = tombstones.get(&seg.segment) else {
                return report.tampered(link_problem("removed without a tombstone".into()));
            };
            if !t.verify(&pk)
                || t.first_seq != seg.first_seq
                || t.prev_hash != state.hash
                || t.prev_checkpoint != state.checkpoint
                || t.last_seq != seg.last_seq
                || t.last_hash != seg.last_hash_bytes()
            {
                return report.tampered(link_problem("tombstone invalid or does not match".into()));
            }
            state = State {
                next_seq: t.last_seq.saturating_add(1),
                hash: t.last_hash,
                checkpoint: t.last_checkpoint,
            };
            removed_ranges.push((t.first_seq, t.last_seq));
            report.removed_segments += 1;
            continue;
        }
        let outcome = match results.remove(&seg.segment) {
            Some(Ok(o)) => o,
            Some(Err(e)) => {
                return report.tampered(problem(
                    seg,
                    None,
                    None,
                    format!("segment unreadable: {e}"),
                ));
            }
            None => return report.tampered(link_problem("not checked".into())),
        };
        report.segments += 1;
        report.records += outcome.records;
        report.checkpoints += outcome.checkpoints;
        report.bytes += outcome.bytes;
        report.warnings.extend(outcome.warnings);
        if let Some(p) = outcome.problem {
            return report.tampered(p);
        }
        debug_assert_eq!(outcome.start.next_seq, state.next_seq);
        digests.extend(outcome.checkpoint_digests);
        state = outcome.end;
        report.unsigned_tail = outcome.unsigned;
    }
    report.last_seq = state.next_seq.saturating_sub(1);
    if report.unsigned_tail > 0 {
        report.warnings.push(format!(
            "the last {} records are not yet under a signed checkpoint",
            report.unsigned_tail
        ));
    }
    if let Some(anchor) = &opts.anchor {
        report = check_anchor(report, anchor, &pk, &digests, &removed_ranges);
    }
    report
}

/// Every checkpoint in the anchor must be in the log, byte for byte.
fn check_anchor(
    mut report: Report,
    anchor: &Path,
    pk: &[u8; 32],
    digests: &HashMap<u64, Hash>,
    removed: &[(u64, u64)],
) -> Report {
    let text = match std::fs::read_to_string(anchor) {
        Ok(t) => t,
        Err(e) => {
            report
                .warnings
                .push(format!("anchor `{}` unreadable: {e}", anchor.display()));
            return report;
        }
    };
    let mut anchored = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(c) = decode_hex(line).and_then(|b| Checkpoint::decode(&b).ok()) else {
            report
                .warnings
                .push(format!("anchor line {}: not a checkpoint", n + 1));
            continue;
        };
        let at_line = |what: String| Problem {
            segment: None,
            file: Some(anchor.display().to_string()),
            offset: None,
            line: Some(n as u64 + 1),
            seq: Some(c.last_seq),
            what,
        };
        if !c.verify(pk) {
            // A whole log rebuilt under a new key still disagrees with what was anchored.
            return report.tampered(at_line(
                "an anchored checkpoint is not signed by the log's key (log replaced?)".into(),
            ));
        }
        anchored += 1;
        if removed.iter().any(|(a, b)| (*a..=*b).contains(&c.last_seq)) {
            continue;
        }
        let what = match digests.get(&c.last_seq) {
            Some(d) if *d == c.digest() => continue,
            Some(_) => format!(
                "the log's checkpoint at record {} differs from the anchored one",
                c.last_seq
            ),
            None if c.last_seq > report.last_seq => format!(
                "truncated: the anchor holds a checkpoint up to record {} but the log ends at record {}",
                c.last_seq, report.last_seq
            ),
            None => format!(
                "the anchored checkpoint up to record {} is missing from the log",
                c.last_seq
            ),
        };
        return report.tampered(at_line(what));
    }
    if anchored == 0 {
        report
            .warnings
            .push("the anchor holds no checkpoint".into());
    }
    report
}
