//! Session clusters: a derived copy of sealed segments' records grouped by session, so the
//! records of a session spread thinly over a log larger than memory are read in a few long
//! reads rather than one random read each.
//!
//! A run file holds the records of an aligned range of segments ordered by session key and,
//! within a session, newest first, in blocks of at most [`BLOCK`] records; a table at its end
//! says where each block starts, its session and its lowest sequence number. A level-0 run
//! copies one sealed segment; `fan` neighbouring runs of one level merge into one of the next,
//! up to the configured number of levels. Runs are not evidence and hold nothing the segments
//! do not: payloads stay as sealed (encrypted ones stay encrypted, so erasing an identity's key
//! shreds both copies); runs are signed and every block hashed (below); a damaged or
//! missing run is rebuilt from the segments; records of segments retention removed are
//! rewritten out at once; verification never reads runs, and an export takes the bytes and
//! proofs of the records a search found from the segments.
//!
//! File `clusters/L{level}-{first segment}.mwc`: the magic, then records, each
//! `key u64, seq u64, time i64, segment u64, offset u64, crc u32, frame length u32, frame`
//! (the CRC covers the head's first five fields and the frame); then the block table (`key
//! u64, min seq u64, min time i64, max time i64, at u64, bytes u64, count u64, SHA-256 of
//! the block's bytes` each), the numbers of the segments holding records in the run (`u64`
//! each), and a footer: level u32, first and last segment of the range, records, blocks,
//! segments, table offset (u64 each), an Ed25519 signature by the log's key of the table,
//! segment list and footer fields, and the magic. A run whose signature fails is not opened;
//! a block whose hash fails is not read: what a search shows from a run is what the writer
//! sealed, even against someone who can write the directory.

use crate::codec::{FRAME_OVERHEAD, FRAME_RECORD, Frames, Header, Reader, decode_record, key_hash};
use crate::index::field;
use crate::sign::Signer;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The directory of run files inside a log directory.
pub(crate) const DIR: &str = "clusters";
const MAGIC: &[u8; 8] = b"MWCLU01\n";
/// Bytes before each record's frame.
const REC_HEAD: usize = 8 + 8 + 8 + 8 + 8 + 4 + 4;
/// Bytes of a block table entry.
const BLOCK_ENTRY: usize = 88;
/// Footer bytes.
const FOOT: usize = 4 + 8 * 6 + 64 + 8;
/// Footer bytes the signature covers (after the table).
const FOOT_SIGNED: usize = 4 + 8 * 6;
/// Most records a block holds: a page reads whole blocks, and a cursor skips them.
pub(crate) const BLOCK: u64 = 128;

/// One block of a session's records in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    key: u64,
    /// Lowest sequence number in the block (its records are newest first).
    pub(crate) min_seq: u64,
    /// Earliest and latest record time in the block.
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) at: u64,
    pub(crate) bytes: u64,
    pub(crate) count: u64,
    /// SHA-256 of the block's bytes.
    hash: [u8; 32],
}

/// An open run file.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) level: u32,
    /// First and last segment of the range the run stands for.
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// Segments holding records in the run.
    segments: Vec<u64>,
    blocks: Vec<Block>,
    file: File,
    path: PathBuf,
    /// Which file this is (inode and length), so a pass reuses a run still in place.
    identity: (u64, u64),
    /// Set when a read finds a record damaged: the builder then copies its segments again.
    damaged: std::sync::atomic::AtomicBool,
}

/// A record read back from a run.
#[derive(Debug)]
pub(crate) struct Copied {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
    pub(crate) header: Header,
    pub(crate) payload: Vec<u8>,
    pub(crate) digest: [u8; 32],
}

fn bad(path: &Path, what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// The file name of a run.
pub(crate) fn run_name(level: u32, first: u64) -> String {
    format!("L{level}-{first:010}.mwc")
}

fn parse_name(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix('L')?.strip_suffix(".mwc")?;
    let (l, f) = rest.split_once('-')?;
    Some((l.parse().ok()?, f.parse().ok()?))
}

impl Run {
    /// Open and check a run file (its table and footer; records are checked as read).
    pub(crate) fn open(path: &Path, public: &[u8; 32]) -> std::io::Result<Run> {
        use std::os::unix::fs::MetadataExt;
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let len = meta.len();
        if len < (MAGIC.len() + FOOT) as u64 {
            return Err(bad(path, "too short for a run file"));
        }
        let mut head = [0u8; 8];
        file.read_exact_at(&mut head, 0)?;
        if &head != MAGIC {
            return Err(bad(path, "not a run file (magic)"));
        }
        let mut foot = [0u8; FOOT];
        file.read_exact_at(&mut foot, len - FOOT as u64)?;
        let mut r = Reader::new(&foot);
        let fields = (|| {
            Ok::<_, crate::codec::DecodeError>((
                r.u32()?,
                r.u64()?,
                r.u64()?,
                r.u64()?,
                r.u64()?,
                r.u64()?,
                r.u64()?,
                r.take(64)?,
                r.take(8)?,
            ))
        })();
        let Ok((level, first, last, _records, blocks, segments, table_at, sig, magic)) = fields
        else {
            return Err(bad(path, "footer unreadable"));
        };
        if magic != MAGIC {
            return Err(bad(path, "not a run file (magic)"));
        }
        let table_len = blocks
            .checked_mul(BLOCK_ENTRY as u64)
            .and_then(|b| segments.checked_mul(8)?.checked_add(b));
        if table_len.and_then(|t| t.checked_add(table_at)?.checked_add(FOOT as u64)) != Some(len)
            || table_at < MAGIC.len() as u64
        {
            return Err(bad(
                path,
                "table and footer do not add up to the file's length",
            ));
        }
        let table_len = table_len.unwrap_or_default();
        let mut table = vec![0u8; table_len as usize];
        file.read_exact_at(&mut table, table_at)?;
        let mut body = table.clone();
        body.extend_from_slice(foot.get(..FOOT_SIGNED).unwrap_or_default());
        let sig: [u8; 64] = sig.try_into().map_err(|_| bad(path, "signature"))?;
        if !crate::sign::verify_run(public, &body, &sig) {
            return Err(bad(path, "table not signed by the log's key"));
        }
        let mut r = Reader::new(&table);
        let mut list = Vec::with_capacity(blocks as usize);
        for _ in 0..blocks {
            let b = (|| {
                Ok::<_, crate::codec::DecodeError>(Block {
                    key: r.u64()?,
                    min_seq: r.u64()?,
                    min_time: r.i64()?,
                    max_time: r.i64()?,
                    at: r.u64()?,
                    bytes: r.u64()?,
                    count: r.u64()?,
                    hash: r.hash()?,
                })
            })()
            .map_err(|e| bad(path, e))?;
            list.push(b);
        }
        let mut segs = Vec::with_capacity(segments as usize);
        for _ in 0..segments {
            segs.push(r.u64().map_err(|e| bad(path, e))?);
        }
        let data = MAGIC.len() as u64..=table_at;
        if first > last
            || list
                .windows(2)
                .any(|w| matches!(w, [a, b] if a.key > b.key))
            || list.iter().any(|b| {
                !data.contains(&b.at) || b.at.checked_add(b.bytes).is_none_or(|e| e > table_at)
            })
        {
            return Err(bad(path, "range, block order or block places impossible"));
        }
        Ok(Run {
            level,
            first,
            last,
            segments: segs,
            blocks: list,
            file,
            path: path.to_path_buf(),
            identity: (meta.ino(), len),
            damaged: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether the run stands for segment `n`.
    pub(crate) fn covers(&self, n: u64) -> bool {
        (self.first..=self.last).contains(&n)
    }

    /// The blocks of a session holding records below `before` and times in `since..=until`,
    /// newest first.
    pub(crate) fn blocks(
        &self,
        key: u64,
        before: u64,
        since: i64,
        until: i64,
    ) -> impl Iterator<Item = &Block> {
        let start = self.blocks.partition_point(|b| b.key < key);
        let end = self.blocks.partition_point(|b| b.key <= key);
        let mine = self.blocks.get(start..end).unwrap_or_default();
        // Blocks run newest first: skip those wholly at or after the cursor.
        let skip = mine.partition_point(|b| b.min_seq >= before);
        mine.get(skip..)
            .unwrap_or_default()
            .iter()
            .filter(move |b| b.max_time >= since && b.min_time <= until)
    }

    /// Ask for a block without waiting.
    pub(crate) fn prefetch(&self, b: &Block) {
        crate::readahead::will_need(&self.file, b.at, b.bytes);
    }

    /// The records of a block, each checked against its CRC. A damaged block marks the run
    /// for rebuilding.
    pub(crate) fn read(&self, b: &Block) -> std::io::Result<Vec<Copied>> {
        let r = self.read_block(b);
        if r.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::InvalidData)
        {
            self.damaged
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn read_block(&self, b: &Block) -> std::io::Result<Vec<Copied>> {
        let mut buf = vec![0u8; usize::try_from(b.bytes).map_err(|e| bad(&self.path, e))?];
        self.file.read_exact_at(&mut buf, b.at)?;
        if crate::codec::sha256(&buf) != b.hash {
            return Err(bad(&self.path, format!("block at byte {} damaged", b.at)));
        }
        let mut out = Vec::new();
        let mut rest = buf.as_slice();
        while !rest.is_empty() {
            let (head, frame, after) = split_record(rest)
                .ok_or_else(|| bad(&self.path, format!("record cut in block at byte {}", b.at)))?;
            rest = after;
            if record_crc(&head, frame) != head.crc {
                return Err(bad(&self.path, format!("record {} damaged", head.seq)));
            }
            let f = Frames::new(frame)
                .next()
                .filter(|f| f.kind == FRAME_RECORD)
                .ok_or_else(|| bad(&self.path, format!("record {} not a frame", head.seq)))?;
            let (h, payload) = decode_record(f.body)
                .map_err(|e| bad(&self.path, format!("record {}: {e}", head.seq)))?;
            if h.seq != head.seq || h.time != head.time || head.key != b.key {
                return Err(bad(&self.path, format!("record {} misfiled", head.seq)));
            }
            out.push(Copied {
                segment: head.segment,
                offset: head.offset,
                header: h,
                payload: payload.to_vec(),
                digest: f.digest,
            });
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
struct RecHead {
    key: u64,
    seq: u64,
    time: i64,
    segment: u64,
    offset: u64,
    crc: u32,
}

/// A record's CRC: of its head (key, sequence number, time, segment, offset) and its frame.
fn record_crc(h: &RecHead, frame: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(&h.key.to_le_bytes());
    c.update(&h.seq.to_le_bytes());
    c.update(&h.time.to_le_bytes());
    c.update(&h.segment.to_le_bytes());
    c.update(&h.offset.to_le_bytes());
    c.update(frame);
    c.finalize()
}

/// A record's head and its frame's length.
fn read_head(bytes: &[u8]) -> Result<(RecHead, usize), crate::codec::DecodeError> {
    let mut r = Reader::new(bytes);
    let head = RecHead {
        key: r.u64()?,
        seq: r.u64()?,
        time: r.i64()?,
        segment: r.u64()?,
        offset: r.u64()?,
        crc: r.u32()?,
    };
    Ok((head, r.u32()? as usize))
}

fn split_record(bytes: &[u8]) -> Option<(RecHead, &[u8], &[u8])> {
    let (head, len) = read_head(bytes).ok()?;
    let (frame, after) = bytes.get(REC_HEAD..)?.split_at_checked(len)?;
    Some((head, frame, after))
}

/// Writes a run file: records in (session key, newest first) order, then the table.
struct RunWriter {
    part: PathBuf,
    /// Written around the page cache where the file system allows it: runs are read a
    /// block at a time, long after they are written.
    out: crate::direct::Sink,
    /// The hash of the block being written.
    block: sha2::Sha256,
    pos: u64,
    blocks: Vec<Block>,
    segments: BTreeSet<u64>,
    records: u64,
}

impl RunWriter {
    fn create(part: PathBuf, direct: bool) -> std::io::Result<RunWriter> {
        let mut out = crate::direct::Sink::create(&part, direct)?;
        out.write_all(MAGIC)?;
        Ok(RunWriter {
            part,
            out,
            block: sha2::Sha256::default(),
            pos: MAGIC.len() as u64,
            blocks: Vec::new(),
            segments: BTreeSet::new(),
            records: 0,
        })
    }

    fn push(&mut self, h: RecHead, frame: &[u8]) -> std::io::Result<()> {
        let time = h.time;
        let len = u32::try_from(frame.len()).map_err(|e| bad(&self.part, e))?;
        let size = (REC_HEAD + frame.len()) as u64;
        match self.blocks.last_mut() {
            Some(b) if b.key == h.key && b.count < BLOCK => {
                b.bytes += size;
                b.count += 1;
                b.min_seq = h.seq;
                b.min_time = b.min_time.min(time);
                b.max_time = b.max_time.max(time);
            }
            _ => {
                self.end_block();
                self.blocks.push(Block {
                    key: h.key,
                    min_seq: h.seq,
                    min_time: time,
                    max_time: time,
                    at: self.pos,
                    bytes: size,
                    count: 1,
                    hash: [0; 32],
                });
            }
        }
        let mut head = [0u8; REC_HEAD];
        let fields = [h.key, h.seq, h.time as u64, h.segment, h.offset]
            .into_iter()
            .flat_map(u64::to_le_bytes)
            .chain(record_crc(&h, frame).to_le_bytes())
            .chain(len.to_le_bytes());
        for (slot, b) in head.iter_mut().zip(fields) {
            *slot = b;
        }
        self.out.write_all(&head)?;
        self.out.write_all(frame)?;
        sha2::Digest::update(&mut self.block, head);
        sha2::Digest::update(&mut self.block, frame);
        self.pos += size;
        self.segments.insert(h.segment);
        self.records += 1;
        Ok(())
    }

    /// Close the block being written: its hash.
    fn end_block(&mut self) {
        let hash: [u8; 32] = sha2::Digest::finalize_reset(&mut self.block).into();
        if let Some(b) = self.blocks.last_mut() {
            b.hash = hash;
        }
    }

    /// Write the signed table, sync, and put the file in place under `path`.
    fn finish(
        mut self,
        (level, first, last): (u32, u64, u64),
        path: &Path,
        signer: &Signer,
    ) -> std::io::Result<()> {
        self.end_block();
        let mut table = Vec::with_capacity(self.blocks.len() * BLOCK_ENTRY + 8 * 64);
        for b in &self.blocks {
            for v in [b.key, b.min_seq] {
                table.extend_from_slice(&v.to_le_bytes());
            }
            for t in [b.min_time, b.max_time] {
                table.extend_from_slice(&t.to_le_bytes());
            }
            for v in [b.at, b.bytes, b.count] {
                table.extend_from_slice(&v.to_le_bytes());
            }
            table.extend_from_slice(&b.hash);
        }
        for s in &self.segments {
            table.extend_from_slice(&s.to_le_bytes());
        }
        let mut foot = Vec::with_capacity(FOOT);
        foot.extend_from_slice(&level.to_le_bytes());
        for v in [
            first,
            last,
            self.records,
            self.blocks.len() as u64,
            self.segments.len() as u64,
            self.pos,
        ] {
            foot.extend_from_slice(&v.to_le_bytes());
        }
        let mut body = table.clone();
        body.extend_from_slice(&foot);
        foot.extend_from_slice(&signer.sign_run(&body));
        foot.extend_from_slice(MAGIC);
        self.out.write_all(&table)?;
        self.out.write_all(&foot)?;
        let len = self.pos + (table.len() + foot.len()) as u64;
        let file = self.out.finish(len)?;
        file.sync_data()?;
        std::fs::rename(&self.part, path)?;
        if let Some(dir) = path.parent() {
            crate::log::sync_dir(dir)?;
        }
        Ok(())
    }
}

/// Reads a run's records in file order (for merging), each block checked against the hash
/// its signed table gives: a merge never carries a changed record into a run it signs.
struct Cursor {
    input: crate::direct::Source,
    path: PathBuf,
    head: Option<RecHead>,
    frame: Vec<u8>,
    /// Where each block ends, with its hash; the block being read is the first.
    blocks: std::collections::VecDeque<(u64, [u8; 32])>,
    hash: sha2::Sha256,
    /// File offset after the last record read.
    pos: u64,
}

impl Cursor {
    fn new(run: &Run, direct: bool) -> std::io::Result<Cursor> {
        let end = run
            .blocks
            .last()
            .map_or(MAGIC.len() as u64, |b| b.at + b.bytes);
        let mut input = crate::direct::Source::open(&run.path, end, direct)?;
        // The file at the path must still be the one whose table was checked.
        let meta = std::fs::metadata(&run.path)?;
        if (std::os::unix::fs::MetadataExt::ino(&meta), meta.len()) != run.identity {
            return Err(bad(&run.path, "replaced since it was opened"));
        }
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        let mut c = Cursor {
            input,
            path: run.path.clone(),
            head: None,
            frame: Vec::new(),
            blocks: run
                .blocks
                .iter()
                .map(|b| (b.at + b.bytes, b.hash))
                .collect(),
            hash: sha2::Sha256::default(),
            pos: MAGIC.len() as u64,
        };
        c.advance()?;
        Ok(c)
    }

    fn advance(&mut self) -> std::io::Result<()> {
        let mut head = [0u8; REC_HEAD];
        match self.input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                if !self.blocks.is_empty() {
                    return Err(bad(&self.path, "ends before its last block"));
                }
                self.head = None;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let (h, len) = read_head(&head).map_err(|e| bad(&self.path, e))?;
        if len > crate::codec::MAX_BODY + FRAME_OVERHEAD {
            return Err(bad(&self.path, format!("record {} too long", h.seq)));
        }
        self.frame.resize(len, 0);
        self.input.read_exact(&mut self.frame)?;
        if record_crc(&h, &self.frame) != h.crc {
            return Err(bad(&self.path, format!("record {} damaged", h.seq)));
        }
        sha2::Digest::update(&mut self.hash, head);
        sha2::Digest::update(&mut self.hash, &self.frame);
        self.pos += (REC_HEAD + len) as u64;
        let Some(&(block_end, want)) = self.blocks.front() else {
            return Err(bad(&self.path, "a record after its last block"));
        };
        if self.pos > block_end {
            return Err(bad(&self.path, format!("record {} crosses a block", h.seq)));
        }
        if self.pos == block_end {
            let got: [u8; 32] = sha2::Digest::finalize_reset(&mut self.hash).into();
            if got != want {
                return Err(bad(
                    &self.path,
                    format!("block before byte {block_end} damaged"),
                ));
            }
            self.blocks.pop_front();
        }
        self.head = Some(h);
        Ok(())
    }
}

/// Segments as the builder sees them: sealed ones and removed ones, from the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SegmentStates {
    pub(crate) sealed: BTreeSet<u64>,
    pub(crate) removed: BTreeSet<u64>,
}

/// The runs of a log directory and how they are built.
#[derive(Debug)]
pub(crate) struct Clusters {
    log_dir: PathBuf,
    dir: PathBuf,
    /// Runs merge `fan` at a time; 0 turns clustering off.
    fan: u64,
    levels: u32,
    /// Runs are signed with the log's key, so a run changed on disk is not believed.
    signer: Signer,
    public: [u8; 32],
    runs: Mutex<Vec<Arc<Run>>>,
    /// Write runs around the page cache (see [`crate::direct`]).
    direct: bool,
}

/// Every run file in `dir`, oldest range first: those of `known` still in place as they are,
/// the others opened and checked.
fn load(
    dir: &Path,
    public: &[u8; 32],
    known: &[Arc<Run>],
) -> Vec<(PathBuf, std::io::Result<Arc<Run>>)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, std::io::Result<Arc<Run>>)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().and_then(parse_name).is_some())
        .map(|e| {
            let p = e.path();
            let now = std::fs::metadata(&p).map(|m| (m.ino(), m.len())).ok();
            let same = known
                .iter()
                .find(|r| r.path == p && Some(r.identity) == now)
                .map(Arc::clone);
            let r = same.map_or_else(|| Run::open(&p, public).map(Arc::new), Ok);
            (p, r)
        })
        .collect();
    out.sort_by_key(|(_, r)| r.as_ref().map_or((0, 0), |r| (r.first, r.level)));
    out
}

/// The readable runs of a log directory signed with `public`, oldest range first (damaged
/// ones left out: their segments are searched directly).
pub(crate) fn load_runs(log_dir: &Path, public: &[u8; 32]) -> Vec<Arc<Run>> {
    load(&log_dir.join(DIR), public, &[])
        .into_iter()
        .filter_map(|(_, r)| r.ok())
        .collect()
}

/// One pass at a time per process: a log reopened while the last handle's pass finishes
/// waits for it.
static BUILD: Mutex<()> = Mutex::new(());

/// The crate has no logging dependency: the builder's rare troubles go to stderr.
fn warn(msg: &str) {
    #[expect(clippy::print_stderr, reason = "background thread without a caller")]
    {
        eprintln!("midwatch evidence: {msg}");
    }
}

/// Remove a file; one already gone is fine.
fn remove(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Clusters {
    /// The runs of `log_dir` as they are on disk (damaged ones left out).
    pub(crate) fn open(
        log_dir: &Path,
        (fan, levels): (u64, u32),
        signer: Signer,
        direct: bool,
    ) -> Clusters {
        let c = Clusters {
            direct,
            public: signer.public_key(),
            signer,
            log_dir: log_dir.to_path_buf(),
            dir: log_dir.join(DIR),
            fan,
            levels,
            runs: Mutex::new(Vec::new()),
        };
        if fan >= 2 {
            *guard(&c.runs) = load_runs(log_dir, &c.public);
        }
        c
    }

    /// The runs now, oldest range first.
    pub(crate) fn runs(&self) -> Vec<Arc<Run>> {
        guard(&self.runs).clone()
    }

    /// Whether a search found a run damaged since the last pass.
    pub(crate) fn any_damaged(&self) -> bool {
        guard(&self.runs)
            .iter()
            .any(|r| r.damaged.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn span(&self, level: u32) -> u64 {
        self.fan.saturating_pow(level)
    }

    /// Bring the runs up to date with the segments: drop damaged and superseded runs,
    /// rewrite runs holding records of removed segments, copy sealed segments no run covers,
    /// and merge full sets of neighbours. `stop` is asked between steps.
    pub(crate) fn build(
        &self,
        states: &SegmentStates,
        stop: &dyn Fn() -> bool,
    ) -> std::io::Result<()> {
        if self.fan < 2 {
            return Ok(());
        }
        let _one = guard(&BUILD);
        std::fs::create_dir_all(&self.dir)?;
        // Leftovers of a pass that stopped midway.
        for e in std::fs::read_dir(&self.dir)?.filter_map(Result::ok) {
            if e.file_name().to_string_lossy().ends_with(".part") {
                remove(&e.path())?;
            }
        }
        // Runs a search found damaged go; their segments are copied again below.
        let damaged: Vec<PathBuf> = guard(&self.runs)
            .iter()
            .filter(|r| r.damaged.load(std::sync::atomic::Ordering::Relaxed))
            .map(|r| r.path.clone())
            .collect();
        for p in &damaged {
            warn(&format!(
                "session cluster run {} damaged, copying its segments again",
                p.display()
            ));
            remove(p)?;
        }
        let mut runs: Vec<Arc<Run>> = Vec::new();
        let known: Vec<Arc<Run>> = self
            .runs()
            .into_iter()
            .filter(|r| !damaged.contains(&r.path))
            .collect();
        for (p, r) in load(&self.dir, &self.public, &known) {
            match r {
                Ok(r) => runs.push(r),
                Err(e) => {
                    warn(&format!("session cluster run damaged, rebuilding it: {e}"));
                    remove(&p)?;
                }
            }
        }
        // A merge that stopped after writing its output but before removing its inputs.
        let wide: Vec<(u64, u64, u32)> = runs.iter().map(|r| (r.first, r.last, r.level)).collect();
        let mut kept = Vec::new();
        for r in runs {
            if wide
                .iter()
                .any(|(f, l, lv)| *lv > r.level && *f <= r.first && r.last <= *l)
            {
                remove(&r.path)?;
            } else {
                kept.push(r);
            }
        }
        // Records of removed segments go at once: retention must not leave copies.
        let mut runs = Vec::new();
        for r in kept {
            let gone = r.segments.iter().any(|s| states.removed.contains(s));
            let live = (r.first..=r.last).any(|s| states.sealed.contains(&s));
            if !live {
                remove(&r.path)?;
            } else if gone {
                let (level, first, last) = (r.level, r.first, r.last);
                if let Some(r) = self.merge_or_drop(&[r], level, first, last, states)? {
                    runs.push(r);
                }
            } else {
                runs.push(r);
            }
        }
        self.publish(&runs);
        // Sealed segments no run covers.
        for &n in &states.sealed {
            if stop() {
                return Ok(());
            }
            if runs.iter().any(|r| r.covers(n)) {
                continue;
            }
            match self.copy_segment(n) {
                Ok(r) => runs.push(Arc::new(r)),
                // Removed meanwhile, or unreadable: its segment is searched directly.
                Err(e) => warn(&format!("segment {n} not clustered: {e}")),
            }
            self.publish(&runs);
        }
        // Merge full sets of neighbours, level by level.
        let first_live = states
            .sealed
            .iter()
            .chain(&states.removed)
            .min()
            .copied()
            .unwrap_or(1);
        for level in 0..self.levels {
            let span = self.span(level + 1);
            let mut parents: BTreeMap<u64, Vec<Arc<Run>>> = BTreeMap::new();
            for r in &runs {
                if r.level == level {
                    parents
                        .entry(r.first / span * span)
                        .or_default()
                        .push(Arc::clone(r));
                }
            }
            for (pf, children) in parents {
                if stop() {
                    return Ok(());
                }
                let pl = pf.saturating_add(span - 1);
                // Every segment of the range is sealed and covered by a child, or gone.
                let done = (pf..=pl).all(|s| {
                    s < first_live
                        || states.removed.contains(&s)
                        || (states.sealed.contains(&s) && children.iter().any(|r| r.covers(s)))
                });
                if !done {
                    continue;
                }
                let parent = self.merge_or_drop(&children, level + 1, pf, pl, states)?;
                runs.retain(|r| !children.iter().any(|c| Arc::ptr_eq(c, r)));
                runs.extend(parent);
                self.publish(&runs);
                for c in &children {
                    remove(&c.path)?;
                }
            }
        }
        Ok(())
    }

    /// Merge runs into one; when an input turns out damaged, remove the inputs instead so
    /// that their segments are copied again.
    fn merge_or_drop(
        &self,
        inputs: &[Arc<Run>],
        level: u32,
        first: u64,
        last: u64,
        states: &SegmentStates,
    ) -> std::io::Result<Option<Arc<Run>>> {
        let path = self.dir.join(run_name(level, first));
        match self
            .merge(inputs, level, first, last, states)
            .and_then(|()| Run::open(&path, &self.public))
        {
            Ok(r) => Ok(Some(Arc::new(r))),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                warn(&format!(
                    "session cluster run damaged, copying its segments again: {e}"
                ));
                remove(&path.with_extension("mwc.part"))?;
                for r in inputs {
                    remove(&r.path)?;
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn publish(&self, runs: &[Arc<Run>]) {
        let mut list = runs.to_vec();
        list.sort_by_key(|r| r.first);
        *guard(&self.runs) = list;
    }

    /// A level-0 run of one sealed segment.
    fn copy_segment(&self, n: u64) -> std::io::Result<Run> {
        let path = self.log_dir.join(crate::log::segment_file(n));
        let bytes = crate::direct::read_file(&path, self.direct)?;
        let mut list: Vec<(RecHead, usize, usize)> = Vec::new();
        for f in Frames::new(&bytes) {
            if f.kind != FRAME_RECORD {
                continue;
            }
            let Ok((h, _)) = decode_record(f.body) else {
                continue;
            };
            if h.session.is_empty() {
                continue;
            }
            let start = f.offset as usize;
            let end = start + FRAME_OVERHEAD + f.body.len();
            list.push((
                RecHead {
                    key: key_hash(field::SESSION, &h.session),
                    seq: h.seq,
                    time: h.time,
                    segment: n,
                    offset: f.offset,
                    // Written by the run writer.
                    crc: 0,
                },
                start,
                end,
            ));
        }
        list.sort_unstable_by_key(|(h, _, _)| (h.key, std::cmp::Reverse(h.seq)));
        let path = self.dir.join(run_name(0, n));
        let mut w = RunWriter::create(path.with_extension("mwc.part"), self.direct)?;
        for (h, start, end) in list {
            w.push(h, bytes.get(start..end).unwrap_or_default())?;
        }
        w.finish((0, n, n), &path, &self.signer)?;
        Run::open(&path, &self.public)
    }

    /// Merge runs into one run of `level` for segments `first..=last`, leaving out records
    /// of segments no longer sealed.
    fn merge(
        &self,
        inputs: &[Arc<Run>],
        level: u32,
        first: u64,
        last: u64,
        states: &SegmentStates,
    ) -> std::io::Result<()> {
        let path = self.dir.join(run_name(level, first));
        let mut w = RunWriter::create(path.with_extension("mwc.part"), self.direct)?;
        let mut cursors = inputs
            .iter()
            .map(|r| Cursor::new(r, self.direct))
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter().enumerate() {
            if let Some(h) = c.head {
                heap.push(std::cmp::Reverse((h.key, std::cmp::Reverse(h.seq), i)));
            }
        }
        while let Some(std::cmp::Reverse((_, _, i))) = heap.pop() {
            let Some(c) = cursors.get_mut(i) else { break };
            if let Some(h) = c.head
                && states.sealed.contains(&h.segment)
            {
                w.push(h, &c.frame)?;
            }
            c.advance()?;
            if let Some(h) = c.head {
                heap.push(std::cmp::Reverse((h.key, std::cmp::Reverse(h.seq), i)));
            }
        }
        w.finish((level, first, last), &path, &self.signer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "tests"
    )]
    use super::*;
    use crate::codec::{encode_record, put_frame};

    fn signer() -> Signer {
        Signer::from_seed(&[1; 32])
    }

    /// A run of three sessions, 300 records, blocks of at most [`BLOCK`].
    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join(run_name(1, 16));
        let mut w = RunWriter::create(path.with_extension("mwc.part"), true).unwrap();
        let mut list = Vec::new();
        for seq in 1..=300u64 {
            let h = Header {
                seq,
                time: 1_700_000_000_000 + seq as i64,
                kind: 1,
                session: format!("s-{}", seq % 3),
                ..Header::default()
            };
            let mut body = Vec::new();
            encode_record(&h, format!("{{\"n\":{seq}}}").as_bytes(), &mut body);
            let mut frame = Vec::new();
            put_frame(&mut frame, FRAME_RECORD, &body, &[seq as u8; 32]);
            let key = key_hash(field::SESSION, &h.session);
            list.push((key, seq, frame));
        }
        list.sort_by_key(|(k, s, _)| (*k, std::cmp::Reverse(*s)));
        for (key, seq, frame) in &list {
            let head = RecHead {
                key: *key,
                seq: *seq,
                time: 1_700_000_000_000 + *seq as i64,
                segment: 16 + seq % 4,
                offset: seq * 100,
                crc: 0,
            };
            w.push(head, frame).unwrap();
        }
        w.finish((1, 16, 31), &path, &signer()).unwrap();
        path
    }

    #[test]
    fn a_run_reads_back_by_session_newest_first_and_skips_by_cursor() {
        let d = tempfile::tempdir().unwrap();
        let run = Run::open(&sample(d.path()), &signer().public_key()).unwrap();
        assert_eq!((run.level, run.first, run.last), (1, 16, 31));
        assert!(run.covers(16) && run.covers(31) && !run.covers(32));
        let key = key_hash(field::SESSION, "s-1");
        let blocks: Vec<&Block> = run.blocks(key, u64::MAX, i64::MIN, i64::MAX).collect();
        assert_eq!(blocks.iter().map(|b| b.count).sum::<u64>(), 100);
        let seqs: Vec<u64> = blocks
            .iter()
            .flat_map(|b| run.read(b).unwrap())
            .map(|c| c.header.seq)
            .collect();
        let want: Vec<u64> = (1..=300).rev().filter(|s| s % 3 == 1).collect();
        assert_eq!(seqs, want);
        // A cursor skips whole blocks behind it.
        let later: Vec<&Block> = run.blocks(key, 20, i64::MIN, i64::MAX).collect();
        assert_eq!(later.len(), 1);
        assert!(later[0].min_seq < 20);
        // A time range skips the blocks wholly outside it.
        let t = 1_700_000_000_000;
        let window: Vec<&Block> = run.blocks(key, u64::MAX, t + 10, t + 20).collect();
        assert_eq!(window.len(), 1);
        assert!(window[0].min_time <= t + 20 && window[0].max_time >= t + 10);
        assert_eq!(run.blocks(key, u64::MAX, t + 400, t + 500).count(), 0);
        let other = key_hash(field::SESSION, "s-9");
        assert_eq!(run.blocks(other, u64::MAX, i64::MIN, i64::MAX).count(), 0);
    }

    #[test]
    fn damaged_run_files_are_refused_or_read_as_damaged_never_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let path = sample(d.path());
        let good = std::fs::read(&path).unwrap();
        let public = signer().public_key();
        let step = (good.len() / 1500).max(1);
        let mut refused = 0;
        let mut found = 0;
        for at in (0..good.len()).step_by(step) {
            let mut bad = good.clone();
            bad[at] ^= 0x41;
            std::fs::write(&path, &bad).unwrap();
            match Run::open(&path, &signer().public_key()) {
                Err(_) => refused += 1,
                Ok(run) => {
                    for b in run.blocks.clone() {
                        if run.read(&b).is_err() {
                            found += 1;
                            assert!(run.damaged.load(std::sync::atomic::Ordering::Relaxed));
                        }
                    }
                }
            }
        }
        // Every flipped byte is in a record (found by its CRC) or the table (refused).
        assert!(refused > 0 && found > 0);
        assert_eq!(
            refused + found,
            good.len().div_ceil(step),
            "{refused} {found}"
        );
        for cut in [0, 7, 8, 100, good.len() - FOOT, good.len() - 1] {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(Run::open(&path, &public).is_err(), "cut at {cut}");
        }
        std::fs::write(&path, vec![0xff; 5000]).unwrap();
        assert!(Run::open(&path, &public).is_err());
        // Signed with another key: refused.
        std::fs::write(&path, &good).unwrap();
        assert!(Run::open(&path, &public).is_ok());
        assert!(Run::open(&path, &Signer::from_seed(&[2; 32]).public_key()).is_err());
    }
}
