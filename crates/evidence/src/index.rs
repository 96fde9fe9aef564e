//! Index of the log: which records carry a session, identity, app, action, class, kind, id or
//! word. The active segment's index lives in memory; a sealed segment's is written beside it
//! (`seg-N.idx`) as one group per key, in key order, of the key's records and their offsets,
//! of which only a Bloom filter and a fence about every KiB stay in memory. A lookup reads
//! one small span per segment that may hold the key, so its cost grows with the segments a
//! session spans, not with the size of the log.

use crate::codec::{DecodeError, Hash, Reader, key_hash, key_hash_ascii_lower, key_hash_num};
use std::fs::File;
use std::hash::Hasher;
use std::path::Path;

/// Field codes of index keys.
pub mod field {
    /// Session id.
    pub const SESSION: u8 = 1;
    /// Identity id.
    pub const IDENTITY: u8 = 2;
    /// App.
    pub const APP: u8 = 3;
    /// Action.
    pub const ACTION: u8 = 4;
    /// OCSF class uid (decimal).
    pub const CLASS: u8 = 5;
    /// Record kind.
    pub const KIND: u8 = 6;
    /// Record uid (event uid, finding id).
    pub const UID: u8 = 7;
    /// A word of free text.
    pub const WORD: u8 = 8;
}

/// Bytes of the key groups from one fence to the next, at least (except around a large group).
const FENCE_BYTES: u64 = if cfg!(test) { 64 } else { 1024 };
/// A key group larger than this has fences on both sides, so reading it is never the price
/// of looking up another key.
const LARGE_GROUP: u64 = if cfg!(test) { 48 } else { 512 };
/// Marks a key group of one record: the record's number follows in the same word.
const ONE: u32 = 1 << 31;
/// Magic at the start of an index file.
const MAGIC: &[u8; 8] = b"MWIDX05\0";
/// Bytes of an index file's checksum (CRC-32 of everything before it). The file is derived
/// from its segment, which the chain and the checkpoints protect: the checksum only tells
/// damage, after which the file is rebuilt from the segment.
const CHECKSUM: usize = 4;

/// Words of free text: lowercase runs of letters and digits, 2 to 64 bytes, at most 48 per
/// record.
pub fn words(text: &str, out: &mut Vec<String>) {
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if out.len() >= MAX_WORDS {
            return;
        }
        if (2..=64).contains(&w.len()) {
            let w = w.to_lowercase();
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
}

/// Most words indexed per record.
const MAX_WORDS: usize = 48;

/// The index keys of the words of `text` (the words [`words`] gives, hashed), added to `out`
/// without repeats and without making a string per word.
pub fn word_keys(text: &str, out: &mut Vec<u64>) {
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if out.len() >= MAX_WORDS {
            return;
        }
        if (2..=64).contains(&w.len()) {
            let k = if w.is_ascii() {
                key_hash_ascii_lower(field::WORD, w.as_bytes())
            } else {
                key_hash(field::WORD, &w.to_lowercase())
            };
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
}

/// The index of the segment being written.
///
/// Its keys are kept as `(key, record)` pairs rather than in a hash map: a record's pairs are
/// appended as they come (a sequential write, where a map larger than the CPU's cache costs a
/// miss a key), and every [`RUN`] pairs are sorted into a run, which a lookup searches by
/// halves. At the segment's end all pairs are sorted once into the entries of its index
/// file. A segment of the default size holds a few dozen runs; in a larger one, every
/// [`FAN`] runs of one level are sorted together into one, so lookups stay short.
#[derive(Debug, Default)]
pub struct MemIndex {
    /// Record offsets in the segment, by local number.
    pub offsets: Vec<u64>,
    /// Record times, by local number.
    pub times: Vec<i64>,
    /// Pairs of the records since the last run, in record order.
    pending: Vec<(u64, u32)>,
    /// Sorted runs, without repeats, over consecutive records, the oldest first, each with
    /// its level (how many times runs were sorted together into it).
    runs: Vec<(u32, Vec<(u64, u32)>)>,
    /// Memory of sorted runs and of sealing, kept for the next segment's index: memory
    /// freshly taken from the system costs a page fault and a page of zeros per 4 KiB.
    spare: Spare,
}

/// Pairs gathered before they are sorted into a run: about a thousand records' worth, whose
/// sorting stays within the CPU's cache. (Small in the crate's tests, so that they go
/// through many runs and their sorting together.)
const RUN: usize = if cfg!(test) { 512 } else { 32 * 1024 };

/// Runs of one level sorted together into one of the next: more than a segment of the
/// default size holds (64 MiB, about a million pairs), so that only larger ones pay for it.
const FAN: usize = if cfg!(test) { 4 } else { 64 };

/// Index keys are already well-mixed 64-bit hashes: maps keyed by them use them as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The pairs of `parts` sorted by key then record, without repeats, into `out`. Among pairs
/// of one key, `parts` must hold the older records first: pairs are dealt into buckets by
/// their key's top bits in the order they come, and each bucket is then put in key order
/// by a stable sort (insertion, for the few pairs a bucket of hashes holds), which keeps
/// that order within a key. There are about a quarter as many buckets as pairs (keys are
/// well-mixed hashes).
fn sort_pairs(parts: &[&[(u64, u32)]], out: &mut Vec<(u64, u32)>) {
    out.clear();
    sort_pairs_onto(parts, 0, out);
    out.dedup();
}

/// [`sort_pairs`] without removing repeats, appending to `out`, of pairs whose keys' top
/// `same` bits are all alike (the bits below them choose the buckets).
fn sort_pairs_onto(parts: &[&[(u64, u32)]], same: u32, out: &mut Vec<(u64, u32)>) {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    let bits = (n / 4).max(2).ilog2().clamp(1, 24).min(64 - same);
    let bucket = |k: u64| ((k << same) >> (64 - bits)) as usize;
    let mut starts = vec![0usize; (1 << bits) + 1];
    let pairs = || parts.iter().copied().flatten();
    for (k, _) in pairs() {
        if let Some(c) = starts.get_mut(bucket(*k) + 1) {
            *c += 1;
        }
    }
    let base = out.len();
    let mut sum = base;
    for c in &mut starts {
        sum += *c;
        *c = sum;
    }
    out.resize(base + n, (0, 0));
    {
        let mut at = starts.clone();
        for p in pairs() {
            if let Some(i) = at.get_mut(bucket(p.0))
                && let Some(slot) = out.get_mut(*i)
            {
                *slot = *p;
                *i += 1;
            }
        }
    }
    for w in starts.windows(2) {
        if let [a, b] = *w
            && b - a > 1
            && let Some(bucket) = out.get_mut(a..b)
        {
            // Keys of one bucket are few when they are hashes of varied values; many
            // (skewed or crafted keys) are sorted in n log n rather than by insertion.
            // A bucket of one frequent key alone came in order.
            if bucket.len() <= 32 {
                insertion_sort(bucket);
            } else if !bucket.is_sorted_by_key(|p| p.0) {
                bucket.sort_by_key(|p| p.0);
            }
        }
    }
}

/// Pairs of about this many bytes are sorted at a time when sorted runs are sorted together:
/// a share of the CPU's cache.
const SLICE_PAIRS: usize = if cfg!(test) { 64 } else { 8 * 1024 };

/// Sorted runs (each by key then record, without repeats, the oldest records first, over
/// records no other run holds) sorted together into `out`, as [`sort_pairs`] would (they
/// hold no repeats to remove), a slice of the key space at a time: the runs' pairs whose
/// keys share their top bits are sorted while they stay in the CPU's cache, and each run is
/// read and `out` written in order, where sorting all at once deals every pair to a bucket
/// anywhere in memory.
fn merge_runs(runs: &[&[(u64, u32)]], out: &mut Vec<(u64, u32)>) {
    let n: usize = runs.iter().map(|r| r.len()).sum();
    out.clear();
    out.reserve(n);
    let bits = (n / SLICE_PAIRS).max(1).ilog2().min(16);
    if bits == 0 {
        sort_pairs_onto(runs, 0, out);
        return;
    }
    let mut rest: Vec<&[(u64, u32)]> = runs.to_vec();
    let mut slices: Vec<&[(u64, u32)]> = Vec::with_capacity(runs.len());
    for prefix in 0..1u64 << bits {
        slices.clear();
        for r in &mut rest {
            let end = r.partition_point(|(k, _)| k >> (64 - bits) <= prefix);
            let (now, later) = r.split_at(end);
            if !now.is_empty() {
                slices.push(now);
            }
            *r = later;
        }
        match slices.as_slice() {
            [] => {}
            [one] => out.extend_from_slice(one),
            _ => sort_pairs_onto(&slices, bits, out),
        }
    }
}

/// Stable sort by key of a short slice.
fn insertion_sort(v: &mut [(u64, u32)]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 {
            match (v.get(j - 1), v.get(j)) {
                (Some(a), Some(b)) if a.0 > b.0 => v.swap(j - 1, j),
                _ => break,
            }
            j -= 1;
        }
    }
}

/// The records of `key` in a sorted run.
fn run_lookup(run: &[(u64, u32)], key: u64) -> impl Iterator<Item = u32> + '_ {
    let from = run.partition_point(|(k, _)| *k < key);
    run.get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(move |(k, _)| *k == key)
        .map(|(_, l)| *l)
}

/// Memory an index keeps for reuse (see [`MemIndex::sized_like`]).
#[derive(Debug, Default)]
struct Spare {
    runs: Vec<Vec<(u64, u32)>>,
    entries: Vec<(u64, u32)>,
    bytes: Vec<u8>,
}

impl Spare {
    /// An empty vector for a run.
    fn run(&mut self) -> Vec<(u64, u32)> {
        let mut run = self.runs.pop().unwrap_or_default();
        run.clear();
        run
    }
}

impl MemIndex {
    /// An empty index with room for as many records as this one holds, for the next segment,
    /// taking over this one's memory (this one is left empty of pairs).
    pub fn sized_like(&mut self) -> MemIndex {
        let mut spare = std::mem::take(&mut self.spare);
        spare.runs.extend(self.runs.drain(..).map(|(_, r)| r));
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        MemIndex {
            offsets: Vec::with_capacity(self.offsets.len()),
            times: Vec::with_capacity(self.times.len()),
            pending,
            runs: Vec::new(),
            spare,
        }
    }

    /// Add record `local` (the next one) with its keys.
    pub fn add(&mut self, offset: u64, time: i64, keys: &[u64]) {
        self.add_parts(offset, time, &[keys]);
    }

    /// Add a record with the keys of its header fields and its payload's word keys,
    /// without gathering them into a list of their own.
    pub fn add_record(
        &mut self,
        offset: u64,
        time: i64,
        h: &crate::codec::Header,
        word_keys: &[u64],
    ) {
        let (head, n) = header_keys(h);
        self.add_parts(
            offset,
            time,
            &[head.get(..n).unwrap_or_default(), word_keys],
        );
    }

    fn add_parts(&mut self, offset: u64, time: i64, parts: &[&[u64]]) {
        let local = self.offsets.len() as u32;
        self.offsets.push(offset);
        self.times.push(time);
        for k in parts.iter().copied().flatten() {
            self.pending.push((*k, local));
        }
        if self.pending.len() >= RUN {
            self.close_run();
        }
    }

    /// Sort the pending pairs into a run; then, while the newest [`FAN`] runs are of one
    /// level, sort them together into one of the next.
    fn close_run(&mut self) {
        let mut run = self.spare.run();
        sort_pairs(&[&self.pending], &mut run);
        self.pending.clear();
        self.runs.push((0, run));
        loop {
            let Some(first) = self.runs.len().checked_sub(FAN) else {
                return;
            };
            let tail = self.runs.get(first..).unwrap_or_default();
            let level = tail.first().map_or(0, |(l, _)| *l);
            if tail.iter().any(|(l, _)| *l != level) {
                return;
            }
            let parts: Vec<&[(u64, u32)]> = tail.iter().map(|(_, r)| r.as_slice()).collect();
            let mut merged = self.spare.run();
            merge_runs(&parts, &mut merged);
            let merged_away = self.runs.drain(first..).map(|(_, r)| r);
            self.spare.runs.extend(merged_away);
            self.runs.push((level + 1, merged));
        }
    }

    /// Records carrying `key`, ascending.
    pub fn lookup(&self, key: u64) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .runs
            .iter()
            .flat_map(|(_, r)| run_lookup(r, key))
            .collect();
        for (k, l) in &self.pending {
            if *k == key && out.last() != Some(l) {
                out.push(*l);
            }
        }
        out
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// All entries, sorted by key then record, without repeats.
    /// (In memory kept for reuse: give it back to `spare.entries`.)
    fn entries(&mut self) -> Vec<(u64, u32)> {
        // Oldest first, as sorting wants them; the pending pairs sorted into a run first.
        let mut last = self.spare.run();
        sort_pairs(&[&self.pending], &mut last);
        let parts: Vec<&[(u64, u32)]> = self
            .runs
            .iter()
            .map(|(_, r)| r.as_slice())
            .chain([last.as_slice()])
            .collect();
        let mut sorted = std::mem::take(&mut self.spare.entries);
        merge_runs(&parts, &mut sorted);
        self.spare.runs.push(last);
        sorted
    }

    /// Write the index file of a sealed segment, durably.
    ///
    /// Layout: header (magic, segment, first seq, records, keys, bytes of key groups, Bloom
    /// words, fences), record offsets, record times, one group per key in key order, the
    /// Bloom filter, the fences, and the CRC-32 of all of it. A key's group is the key
    /// (u64) and either `ONE | record` and the record's offset (one record), or the count
    /// and that many `(record u32, offset u32)`, ascending. A fence is a group's key and
    /// where the group starts, about every [`FENCE_BYTES`]: a lookup reads from the fence
    /// before its key to the next one. Opening reads only the header, filter and fences.
    ///
    /// `direct`: written around the page cache where the file system allows it (searches
    /// read a few small spans of the file, and those they keep in the cache).
    pub fn write(
        &mut self,
        path: &Path,
        segment: u64,
        first_seq: u64,
        direct: bool,
    ) -> std::io::Result<()> {
        use std::io::Write;
        if self.len() >= ONE as usize {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "too many records in one segment for its index",
            ));
        }
        let entries = self.entries();
        let distinct = entries
            .windows(2)
            .filter(|w| matches!(w, [a, b] if a.0 != b.0))
            .count()
            + usize::from(!entries.is_empty());
        let mut bloom = Bloom::new(distinct);
        let mut out = std::mem::take(&mut self.spare.bytes);
        out.clear();
        out.reserve(
            HEADER
                + self.len() * 16
                + entries.len() * 8
                + distinct * 12
                + bloom.bits.len() * 8
                + (entries.len() * 8 / FENCE_BYTES as usize + 64) * 16
                + CHECKSUM,
        );
        out.extend_from_slice(MAGIC);
        for v in [segment, first_seq, self.len() as u64] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        // Keys, bytes of groups, Bloom words and fences: known once the groups are written.
        let counts_at = out.len();
        out.extend_from_slice(&[0; 32]);
        for o in &self.offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        for t in &self.times {
            out.extend_from_slice(&t.to_le_bytes());
        }
        let groups_at = out.len();
        let offset = |l: u32| self.offsets.get(l as usize).copied().unwrap_or_default() as u32;
        let mut fences: Vec<(u64, u64)> = Vec::new();
        let (mut last_fence, mut last_large) = (None::<u64>, false);
        let mut i = 0;
        while let Some(&(key, first)) = entries.get(i) {
            let mut end = i + 1;
            while entries.get(end).is_some_and(|(k, _)| *k == key) {
                end += 1;
            }
            let n = end - i;
            bloom.insert(key);
            let at = (out.len() - groups_at) as u64;
            let large = 12 + if n == 1 { 0 } else { 8 * n as u64 } > LARGE_GROUP;
            if last_fence.is_none_or(|f| at - f >= FENCE_BYTES) || large || last_large {
                fences.push((key, at));
                last_fence = Some(at);
            }
            last_large = large;
            let mut head = [0u8; 16];
            head[..8].copy_from_slice(&key.to_le_bytes());
            if n == 1 {
                head[8..12].copy_from_slice(&(ONE | first).to_le_bytes());
                head[12..].copy_from_slice(&offset(first).to_le_bytes());
                out.extend_from_slice(&head);
            } else {
                head[8..12].copy_from_slice(&(n as u32).to_le_bytes());
                out.extend_from_slice(&head[..12]);
                for (_, l) in entries.get(i..end).unwrap_or_default() {
                    let mut p = [0u8; 8];
                    p[..4].copy_from_slice(&l.to_le_bytes());
                    p[4..].copy_from_slice(&offset(*l).to_le_bytes());
                    out.extend_from_slice(&p);
                }
            }
            i = end;
        }
        let groups_len = (out.len() - groups_at) as u64;
        for w in &bloom.bits {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for (k, at) in &fences {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
        }
        if let Some(h) = out.get_mut(counts_at..counts_at + 32) {
            let counts = [
                distinct as u64,
                groups_len,
                bloom.bits.len() as u64,
                fences.len() as u64,
            ];
            for (slot, v) in h.chunks_exact_mut(8).zip(counts) {
                slot.copy_from_slice(&v.to_le_bytes());
            }
        }
        let sum = crc32fast::hash(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        let tmp = path.with_extension("idx.tmp");
        let written = crate::direct::Sink::create(&tmp, direct)
            .and_then(|mut sink| {
                sink.write_all(&out)?;
                sink.finish(out.len() as u64)?.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, path));
        (self.spare.entries, self.spare.bytes) = (entries, out);
        written
    }
}

/// Why an index file cannot be used (the segment is then indexed again from its records).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Read error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Damaged file.
    #[error("damaged index: {0}")]
    Damaged(String),
}

impl From<DecodeError> for IndexError {
    fn from(e: DecodeError) -> IndexError {
        IndexError::Damaged(e.to_string())
    }
}

/// A Bloom filter over 64-bit keys (k = 7 probes from one hash by double hashing).
#[derive(Debug, Clone)]
struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    fn new(keys: usize) -> Bloom {
        let words = (keys * 10).div_ceil(64).max(1);
        Bloom {
            bits: vec![0; words],
        }
    }

    fn probes(&self, key: u64) -> impl Iterator<Item = (usize, u64)> + use<> {
        let n = (self.bits.len() * 64) as u64;
        let (a, b) = (key, key.rotate_left(32) | 1);
        (0..7u64).map(move |i| {
            let bit = a.wrapping_add(i.wrapping_mul(b)) % n;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&mut self, key: u64) {
        for (w, m) in self.probes(key) {
            if let Some(word) = self.bits.get_mut(w) {
                *word |= m;
            }
        }
    }

    fn may_contain(&self, key: u64) -> bool {
        self.probes(key)
            .all(|(w, m)| self.bits.get(w).is_some_and(|word| word & m != 0))
    }
}

/// The index of a sealed segment: its file open, a Bloom filter and fences in memory.
#[derive(Debug)]
pub struct SegmentIndex {
    file: File,
    /// Records in the segment.
    pub count: u64,
    /// Where the key groups start in the file, and their bytes.
    groups_at: u64,
    groups_len: u64,
    /// Key and start (in the groups) of every fenced group, ascending.
    fences: Vec<(u64, u64)>,
    bloom: Bloom,
}

/// Bytes of an index file's header.
const HEADER: usize = 8 + 7 * 8;

impl SegmentIndex {
    /// Open an index file: check its header and size against the segment, load its filter
    /// and fences. The groups are read on lookup ([`SegmentIndex::check`] checks them all).
    pub fn open(path: &Path, segment: u64, first_seq: u64) -> Result<SegmentIndex, IndexError> {
        let file = File::open(path)?;
        crate::readahead::scattered(&file);
        let size = file.metadata()?.len();
        let mut head = [0u8; HEADER];
        read_exact_at(&file, &mut head, 0)?;
        let mut r = Reader::new(&head);
        if r.take(8)? != MAGIC {
            return Err(IndexError::Damaged(
                "not an index file of this version".into(),
            ));
        }
        if r.u64()? != segment || r.u64()? != first_seq {
            return Err(IndexError::Damaged("index of another segment".into()));
        }
        let (count, keys, groups_len, bloom_words, fence_count) =
            (r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let damaged = || IndexError::Damaged("sizes do not add up".into());
        let groups_at = count
            .checked_mul(16)
            .and_then(|a| a.checked_add(HEADER as u64))
            .ok_or_else(damaged)?;
        let bloom_at = groups_at.checked_add(groups_len).ok_or_else(damaged)?;
        let tail = fence_count
            .checked_mul(2)
            .and_then(|f| f.checked_add(bloom_words))
            .and_then(|w| w.checked_mul(8))
            .ok_or_else(damaged)?;
        if bloom_at
            .checked_add(tail)
            .and_then(|t| t.checked_add(CHECKSUM as u64))
            != Some(size)
            || bloom_words == 0
            || count >= u64::from(ONE)
            || fence_count > keys
            || (fence_count == 0) != (keys == 0)
        {
            return Err(damaged());
        }
        let mut buf = vec![0u8; tail as usize];
        read_exact_at(&file, &mut buf, bloom_at)?;
        let mut r = Reader::new(&buf);
        let mut bits = Vec::with_capacity(bloom_words as usize);
        for _ in 0..bloom_words {
            bits.push(r.u64()?);
        }
        let mut fences = Vec::with_capacity(fence_count as usize);
        for _ in 0..fence_count {
            fences.push((r.u64()?, r.u64()?));
        }
        if fences.first().is_some_and(|f| f.1 != 0)
            || !fences.is_sorted_by(|a, b| a.0 < b.0 && a.1 < b.1)
            || fences.last().is_some_and(|f| f.1 >= groups_len)
        {
            return Err(IndexError::Damaged("fences out of order".into()));
        }
        Ok(SegmentIndex {
            file,
            count,
            groups_at,
            groups_len,
            fences,
            bloom: Bloom { bits },
        })
    }

    /// Check an index file whole against its checksum.
    pub fn check(path: &Path) -> Result<(), IndexError> {
        let bytes = std::fs::read(path)?;
        let body_len = bytes
            .len()
            .checked_sub(CHECKSUM)
            .ok_or_else(|| IndexError::Damaged("too short".into()))?;
        let (body, sum) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes().as_slice() != sum {
            return Err(IndexError::Damaged("checksum mismatch".into()));
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<()> {
        read_exact_at(&self.file, buf, at)
    }

    /// Whether the segment may hold records with `key` (false: it holds none), from its
    /// Bloom filter, without reading the disk.
    pub fn may_contain(&self, key: u64) -> bool {
        self.bloom.may_contain(key)
    }

    /// The bytes of the groups (from, to) that hold `key`'s group if it has one: from the
    /// last fence at or before the key to the next. None if the key is before the first.
    fn span(&self, key: u64) -> Option<(u64, u64)> {
        let i = self.fences.partition_point(|f| f.0 <= key).checked_sub(1)?;
        let from = self.fences.get(i)?.1;
        let to = self.fences.get(i + 1).map_or(self.groups_len, |f| f.1);
        Some((from, to))
    }

    /// Ask for the bytes a lookup of `key` will read, without waiting for them, so that
    /// lookups in many segments read from the disk together.
    pub fn prefetch(&self, key: u64) {
        if !self.bloom.may_contain(key) {
            return;
        }
        if let Some((from, to)) = self.span(key) {
            crate::readahead::will_need(&self.file, self.groups_at + from, to - from);
        }
    }

    /// Records carrying `key` and their byte offsets in the segment, ascending.
    pub fn lookup(&self, key: u64) -> Result<Vec<(u32, u64)>, IndexError> {
        let mut out = Vec::new();
        if !self.bloom.may_contain(key) {
            return Ok(out);
        }
        let Some((from, to)) = self.span(key) else {
            return Ok(out);
        };
        let mut buf = vec![0u8; (to - from) as usize];
        self.read_at(&mut buf, self.groups_at + from)?;
        let mut r = Reader::new(&buf);
        let mut found: Vec<(u32, u32)> = Vec::new();
        while !r.is_empty() {
            let (k, head) = (r.u64()?, r.u32()?);
            let one = head & ONE != 0;
            if k < key {
                r.take(if one {
                    4
                } else {
                    (head as usize).saturating_mul(8)
                })?;
                continue;
            }
            if k == key {
                if one {
                    found.push((head & !ONE, r.u32()?));
                }
                for _ in 0..if one { 0 } else { head } {
                    found.push((r.u32()?, r.u32()?));
                }
            }
            break;
        }
        if let Some((l, _)) = found.iter().find(|(l, _)| u64::from(*l) >= self.count) {
            return Err(IndexError::Damaged(format!("record {l} out of range")));
        }
        if !found.is_sorted() {
            return Err(IndexError::Damaged(format!(
                "records of key {key:016x} out of order"
            )));
        }
        out.extend(found.into_iter().map(|(l, o)| (l, u64::from(o))));
        Ok(out)
    }

    /// Offsets and times of every record (read on demand, for scans without a key).
    pub fn positions(&self) -> Result<(Vec<u64>, Vec<i64>), IndexError> {
        let n = self.count as usize;
        let mut buf = vec![0u8; n * 16];
        self.read_at(&mut buf, HEADER as u64)?;
        let mut r = Reader::new(&buf);
        let mut offsets = Vec::with_capacity(n);
        for _ in 0..n {
            offsets.push(r.u64()?);
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(r.i64()?);
        }
        Ok((offsets, times))
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, at)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(buf)
    }
}

/// The index keys of a record's header fields: the first `n` of the array.
pub(crate) fn header_keys(h: &crate::codec::Header) -> ([u64; 7], usize) {
    let mut keys = [0u64; 7];
    let mut n = 0;
    let mut put = |k: u64| {
        if let Some(slot) = keys.get_mut(n) {
            *slot = k;
            n += 1;
        }
    };
    for (f, v) in [
        (field::SESSION, h.session.as_str()),
        (field::IDENTITY, h.identity.as_str()),
        (field::APP, h.app.as_str()),
        (field::ACTION, h.action.as_str()),
        (field::UID, h.uid.as_str()),
    ] {
        if !v.is_empty() {
            put(key_hash(f, v));
        }
    }
    if h.class_uid != 0 {
        put(key_hash_num(field::CLASS, u64::from(h.class_uid)));
    }
    put(key_hash_num(field::KIND, u64::from(h.kind)));
    (keys, n)
}

/// Intersect ascending lists.
pub fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(*x);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Digest of nothing, for callers that need a placeholder.
pub const NO_HASH: Hash = [0; 32];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    #[test]
    fn sealed_index_answers_like_the_memory_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MemIndex::default();
        for i in 0..5_000u64 {
            let keys = [i % 7, 100 + i % 300, 10_000 + i, 3];
            m.add(i * 10, i as i64, &keys);
        }
        let p = dir.path().join("seg.idx");
        m.write(&p, 4, 1001, true).unwrap();
        let s = SegmentIndex::open(&p, 4, 1001).unwrap();
        for key in [0u64, 6, 3, 100, 399, 10_000, 14_999, 15_000, 7, 99_999] {
            let found = s.lookup(key).unwrap();
            let locals: Vec<u32> = found.iter().map(|(l, _)| *l).collect();
            assert_eq!(locals, m.lookup(key), "key {key}");
            for (l, o) in found {
                assert_eq!(o, m.offsets[l as usize], "key {key}");
            }
        }
        let (o, t) = s.positions().unwrap();
        assert_eq!(o, m.offsets);
        assert_eq!(t, m.times);
        assert!(SegmentIndex::check(&p).is_ok());
        assert!(SegmentIndex::open(&p, 5, 1001).is_err());
        let orig = std::fs::read(&p).unwrap();
        let mut bytes = orig.clone();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert!(
            SegmentIndex::check(&p).is_err(),
            "a flipped entry fails the digest"
        );
        let mut bytes = orig.clone();
        bytes[30] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert!(
            SegmentIndex::open(&p, 4, 1001).is_err(),
            "a flipped count fails at open"
        );
        std::fs::write(&p, &orig[..orig.len() - 40]).unwrap();
        assert!(
            SegmentIndex::open(&p, 4, 1001).is_err(),
            "a cut file fails at open"
        );
        // Any byte of the file damaged: opening and looking up answer or refuse, never
        // panic, and a record a lookup names is one of the segment's.
        for at in (0..orig.len()).step_by(orig.len() / 400 + 1) {
            for bit in [0x01u8, 0x80] {
                let mut bytes = orig.clone();
                bytes[at] ^= bit;
                std::fs::write(&p, &bytes).unwrap();
                let Ok(s) = SegmentIndex::open(&p, 4, 1001) else {
                    continue;
                };
                for key in [0u64, 3, 6, 150, 12_345, 14_999, u64::MAX] {
                    if let Ok(found) = s.lookup(key) {
                        assert!(found.iter().all(|(l, _)| u64::from(*l) < s.count));
                    }
                }
            }
        }
    }

    /// Lookups of every key, of keys between them and beyond both ends, in a file with
    /// large groups (keys on every record) next to small ones and fences between them.
    #[test]
    fn every_key_and_every_gap_is_looked_up_right() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MemIndex::default();
        let mut truth: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
        for i in 0..3_000u32 {
            let keys = [
                1_000 + u64::from(i) * 10,
                5_000 + u64::from(i % 3) * 10,
                40_000,
                90_000 + u64::from(i / 100) * 10,
            ];
            m.add(u64::from(i) * 100, i64::from(i), &keys);
            for k in keys {
                truth.entry(k).or_default().push(i);
            }
        }
        let p = dir.path().join("seg.idx");
        m.write(&p, 1, 1, false).unwrap();
        let s = SegmentIndex::open(&p, 1, 1).unwrap();
        assert!(s.fences.len() > 10, "{} fences", s.fences.len());
        for (k, want) in &truth {
            let found = s.lookup(*k).unwrap();
            assert_eq!(
                found.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
                *want,
                "key {k}"
            );
            assert!(found.iter().all(|(l, o)| *o == u64::from(*l) * 100));
            for gap in [*k - 1, *k + 1] {
                if !truth.contains_key(&gap) {
                    assert!(s.lookup(gap).unwrap().is_empty(), "key {gap}");
                }
            }
        }
        assert!(s.lookup(0).unwrap().is_empty());
        assert!(s.lookup(u64::MAX).unwrap().is_empty());
    }

    /// Enough records for many runs and a sorting together of runs, keys repeated within a
    /// record and across records at every rate (one in every record, skewed keys that fill
    /// one bucket), against a plain map of what was added.
    #[test]
    fn runs_answer_like_a_map_of_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MemIndex::default();
        let mut truth: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let every = 1u64 << 63;
        let records = ((FAN * FAN + 3) * RUN / 6 + 17) as u32;
        for local in 0..records {
            let rare = next();
            let keys = [
                u64::from(local % 11).wrapping_mul(0x0123_4567_89ab_cdef),
                u64::from(local / 50).wrapping_mul(0xfedc_ba98_7654_3211),
                rare,
                rare,
                next() % 4096,
                every,
            ];
            m.add(u64::from(local) * 100, i64::from(local), &keys);
            for k in keys {
                let list = truth.entry(k).or_default();
                if list.last() != Some(&local) {
                    list.push(local);
                }
            }
            if local % 997 == 0 {
                // Runs and the pending pairs answer together at any moment.
                let k = keys[1];
                assert_eq!(m.lookup(k), truth[&k], "key {k} at record {local}");
            }
        }
        assert!(m.runs.len() > 1, "several runs");
        assert!(
            m.runs.iter().any(|(l, _)| *l > 1),
            "runs sorted together, twice over"
        );
        // The seal's entries are exactly the map's, in its order.
        let flat: Vec<(u64, u32)> = truth
            .iter()
            .flat_map(|(k, ls)| ls.iter().map(move |l| (*k, *l)))
            .collect();
        let entries = m.entries();
        assert!(entries == flat, "sealed entries differ from the map's");
        let hot = [every, 0, 4095, 0x0123_4567_89ab_cdef];
        let want = |k: &u64| truth.get(k).cloned().unwrap_or_default();
        for k in truth.keys().step_by(97).chain(&hot) {
            assert_eq!(m.lookup(*k), want(k), "key {k}");
        }
        assert!(m.lookup(12_345).is_empty());
        let p = dir.path().join("seg.idx");
        m.write(&p, 1, 1, true).unwrap();
        let s = SegmentIndex::open(&p, 1, 1).unwrap();
        for k in truth.keys().step_by(89).chain(&hot) {
            let found: Vec<u32> = s.lookup(*k).unwrap().iter().map(|(l, _)| *l).collect();
            assert_eq!(found, want(k), "key {k}");
        }
    }

    /// Runs sorted together give what one sort of all their pairs gives, without repeats,
    /// whatever the keys: varied, few, alike in their top bits, at the extremes.
    #[test]
    fn runs_sorted_together_equal_one_sort_of_all_pairs() {
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let plain = |pairs: &[(u64, u32)]| {
            let mut v = pairs.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        for case in 0..120u64 {
            let (mut runs, mut all, mut record) = (Vec::new(), Vec::new(), 0u32);
            for _ in 0..1 + next() % 9 {
                let len = match next() % 4 {
                    0 => next() % 5,
                    1 => next() % 200,
                    2 => next() % 3000,
                    _ => next() % 20_000,
                };
                let mut pending = Vec::new();
                for _ in 0..len {
                    record += u32::from(next() % 3 == 0);
                    let k = match case % 6 {
                        0 => next(),
                        1 => next() % 17,
                        2 => ((next() % 5) << 60) | (next() % 1000),
                        3 => [0, u64::MAX, 1 << 63, (1 << 63) - 1, 42][(next() % 5) as usize],
                        4 => next() | 0xFFFF_0000_0000_0000,
                        _ => ((next() % 3) << 62) | ((next() % 2) << 40) | (next() % 7),
                    };
                    pending.push((k, record));
                    if next() % 4 == 0 {
                        // A key twice in one record.
                        pending.push((k, record));
                    }
                }
                // Runs hold records no other run holds.
                record += 1;
                let mut run = Vec::new();
                sort_pairs(&[&pending], &mut run);
                assert_eq!(run, plain(&pending), "case {case}: a run");
                all.extend_from_slice(&pending);
                runs.push(run);
            }
            let parts: Vec<&[(u64, u32)]> = runs.iter().map(Vec::as_slice).collect();
            let mut out = vec![(7, 7); 3];
            merge_runs(&parts, &mut out);
            assert_eq!(out, plain(&all), "case {case}");
        }
    }

    /// The next segment's index takes over a sealed one's memory, and none of its pairs.
    #[test]
    fn an_index_made_from_a_sealed_ones_memory_holds_only_its_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = MemIndex::default();
        // Runs, and pairs still pending.
        for local in 0..(3 * RUN as u64 + 5) {
            m.add(local * 10, local as i64, &[7, 1000 + local % 13]);
        }
        m.write(&dir.path().join("a.idx"), 1, 1, true).unwrap();
        let mut n = m.sized_like();
        assert!(n.is_empty() && n.lookup(7).is_empty());
        for local in 0..(RUN as u64 + 3) {
            n.add(local * 10, local as i64, &[8, 2000 + local % 5]);
        }
        assert!(n.lookup(7).is_empty() && n.lookup(1003).is_empty());
        assert_eq!(n.lookup(8).len(), RUN + 3);
        let p = dir.path().join("b.idx");
        n.write(&p, 2, 1, true).unwrap();
        let s = SegmentIndex::open(&p, 2, 1).unwrap();
        assert!(s.lookup(7).unwrap().is_empty());
        assert_eq!(s.lookup(2004).unwrap().len(), (RUN + 3) / 5);
    }

    #[test]
    fn session_and_identity_keys_sort_after_every_other_key() {
        let top = |k: u64| k >> 63 == 1;
        for v in ["s-1", "alice@example.com", "", "ünïcode"] {
            assert!(top(key_hash(field::SESSION, v)), "{v}");
            assert!(top(key_hash(field::IDENTITY, v)), "{v}");
            for f in [field::APP, field::ACTION, field::UID, field::WORD] {
                assert!(!top(key_hash(f, v)), "{f} {v}");
            }
            assert!(!top(key_hash_ascii_lower(field::WORD, v.as_bytes())), "{v}");
        }
        assert!(!top(key_hash_num(field::CLASS, 6001)));
        assert!(!top(key_hash_num(field::KIND, 1)));
        assert_eq!(
            key_hash_num(field::CLASS, 6001),
            key_hash(field::CLASS, "6001")
        );
    }

    #[test]
    fn words_are_lowercase_and_bounded() {
        let mut w = Vec::new();
        words("Alice@Example.com downloaded Q3-report.pdf", &mut w);
        assert_eq!(
            w,
            [
                "alice",
                "example",
                "com",
                "downloaded",
                "q3",
                "report",
                "pdf"
            ]
        );
        let mut k = Vec::new();
        word_keys(
            "Alice@Example.com downloaded Q3-report.pdf Ünïcode ALICE",
            &mut k,
        );
        let mut expected: Vec<u64> = w.iter().map(|w| key_hash(field::WORD, w)).collect();
        expected.push(key_hash(field::WORD, "ünïcode"));
        assert_eq!(k, expected);
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 7]), [3, 7]);
    }
}
