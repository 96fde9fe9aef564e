//! The writer: appends records to the active segment with group commit, signs checkpoints,
//! seals segments, keeps the manifest, recovers after a crash, removes expired segments
//! behind signed tombstones and erases identities.
//!
//! A record is acknowledged only after the bytes holding it are synced: callers that append
//! at the same time share one `fdatasync` (the first to arrive syncs for everyone queued
//! behind it).

use crate::cluster::{Clusters, SegmentStates};
use crate::codec::{
    FRAME_CHECKPOINT, FRAME_HEADER, FRAME_RECORD, FRAME_TOMBSTONE, FrameEnd, Frames, Hash, Header,
    Kind, SegmentHeader, chain_hash, decode_record, encode_record_head, hex, put_frame,
    put_frame_with, sha256,
};
use crate::direct::{Direct, Lead};
use crate::index::{MemIndex, SegmentIndex};
use crate::manifest::{Manifest, SegmentEntry, SegmentState};
use crate::privacy::{Keystore, Privacy, seal_into};
use crate::sign::{Checkpoint, KeyError, Signer, Tombstone};
use crate::{merkle, now_ms};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// A function told of every durable checkpoint.
pub type CheckpointHook = Arc<dyn Fn(&Checkpoint) + Send + Sync>;

/// How the log writes.
#[derive(Clone)]
pub struct Config {
    /// Sign a checkpoint after this many records …
    pub checkpoint_records: usize,
    /// … or this long after the first record it would cover, whichever comes first.
    pub checkpoint_interval: Duration,
    /// Seal the active segment once it holds this many bytes.
    pub segment_bytes: u64,
    /// Encrypt payloads that have an identity with that identity's key.
    pub encrypt: bool,
    /// Payload cleaning.
    pub privacy: Privacy,
    /// Append every checkpoint to this file too (an external append-only target).
    pub anchor_file: Option<PathBuf>,
    /// Called with every checkpoint once it is durable (to publish it elsewhere).
    pub on_checkpoint: Option<CheckpointHook>,
    /// A failure to inject, for crash tests: the process aborts at this point.
    pub failpoint: Option<Failpoint>,
    /// Session clusters: sealed segments' records are copied, grouped by session, into run
    /// files that merge this many at a time (0: no copy; searches by session then read
    /// each record where it was sealed).
    pub cluster_fan: u64,
    /// How many times runs merge: a run of the top level stands for `cluster_fan` to this
    /// power segments.
    pub cluster_levels: u32,
    /// Write the active segment around the page cache where the file system allows it
    /// (see [`crate::direct`]); otherwise, or when off, through it.
    pub direct_io: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("checkpoint_records", &self.checkpoint_records)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("segment_bytes", &self.segment_bytes)
            .field("encrypt", &self.encrypt)
            .field("privacy", &self.privacy)
            .field("anchor_file", &self.anchor_file)
            .field("failpoint", &self.failpoint)
            .field("cluster_fan", &self.cluster_fan)
            .field("cluster_levels", &self.cluster_levels)
            .field("direct_io", &self.direct_io)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            checkpoint_records: 1000,
            checkpoint_interval: Duration::from_millis(200),
            segment_bytes: 64 << 20,
            encrypt: true,
            privacy: Privacy::default(),
            anchor_file: None,
            on_checkpoint: None,
            failpoint: None,
            cluster_fan: 16,
            cluster_levels: 2,
            direct_io: true,
        }
    }
}

/// Points where a crash test can make the writer abort the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// After writing a batch, before syncing it.
    BeforeSync,
    /// Halfway through writing a batch's bytes.
    MidWrite,
    /// After sealing a segment's file and index, before the manifest names the next one.
    BeforeManifest,
}

/// A record to append.
#[derive(Debug, Clone, Default)]
pub struct NewRecord {
    /// Kind code ([`Kind::code`]).
    pub kind: u8,
    /// The record's time, epoch ms.
    pub time: i64,
    /// OCSF class uid, 0 when none.
    pub class_uid: u32,
    /// Payload id.
    pub uid: String,
    /// Session id.
    pub session: String,
    /// Identity id.
    pub identity: String,
    /// App.
    pub app: String,
    /// Action.
    pub action: String,
    /// Canonical payload bytes (cleaned JSON).
    pub payload: Vec<u8>,
    /// Index keys of the payload's words of free text
    /// ([`search::value_word_keys`](crate::search::value_word_keys)).
    pub word_keys: Vec<u64>,
}

impl NewRecord {
    /// The record's header as record `seq` with `flags`, its payload and its word keys.
    pub fn into_parts(self, seq: u64, flags: u8) -> (Header, Vec<u8>, Vec<u64>) {
        let h = Header {
            seq,
            time: self.time,
            kind: self.kind,
            flags,
            class_uid: self.class_uid,
            uid: self.uid,
            session: self.session,
            identity: self.identity,
            app: self.app,
            action: self.action,
        };
        (h, self.payload, self.word_keys)
    }
}

/// What an acknowledged append returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The record's sequence number.
    pub seq: u64,
    /// Its chain hash.
    pub hash: Hash,
}

/// Why the log cannot do something.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// What was being read or written.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Key trouble.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The directory holds a log this writer will not continue.
    #[error("{0}")]
    Damaged(String),
    /// Another writer holds the log.
    #[error("evidence log `{0}` is in use by another process")]
    Locked(String),
    /// A record too large to append.
    #[error("record payload of {0} bytes is over the limit")]
    TooLarge(usize),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Sync a directory so renames and new files in it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Slots of the per-kind latest-time array (kind codes are 1 to 5).
const KIND_SLOTS: usize = 8;

/// Bytes a batch buffers before writing them out through the page cache (the rest of the
/// batch follows): pieces the kernel copies while they are in the CPU's cache.
const FLUSH_BYTES: usize = 256 * 1024;

/// The same written directly: the bytes go to the device from where they were made, and
/// fewer, larger writes cost the kernel less.
const DIRECT_FLUSH_BYTES: usize = 1 << 20;

/// Capacity of the frame buffer: a flush's worth, its largest record and the padding of
/// direct writes (a larger record makes it grow, and is written by a copy).
const BUF_BYTES: usize = DIRECT_FLUSH_BYTES + (1 << 20);

/// The manifest's per-kind map of latest times.
fn kinds_map(kinds: &[Option<i64>; KIND_SLOTS]) -> BTreeMap<String, i64> {
    kinds
        .iter()
        .enumerate()
        .filter_map(|(code, t)| {
            let kind = Kind::from_code(u8::try_from(code).ok()?)?;
            Some((kind.as_str().to_string(), (*t)?))
        })
        .collect()
}

/// File name of a segment.
pub fn segment_file(n: u64) -> String {
    format!("seg-{n:08}.log")
}

/// File name of a segment's index.
pub fn index_file(n: u64) -> String {
    format!("seg-{n:08}.idx")
}

struct Active {
    n: u64,
    file: Arc<File>,
    /// The same file opened for direct appends, where it could be (the writer and a sync
    /// write through it in turn, the writer's lock taken first).
    direct: Option<Arc<Mutex<Direct>>>,
    path: PathBuf,
    bytes: u64,
    first_seq: u64,
    prev_hash: Hash,
    prev_checkpoint: Hash,
    index: MemIndex,
    min_time: i64,
    max_time: i64,
    /// Latest record time per kind code.
    kinds: [Option<i64>; KIND_SLOTS],
}

pub(crate) struct Writer {
    pub(crate) dir: PathBuf,
    cfg: Config,
    pub(crate) signer: Signer,
    pub(crate) keystore: Keystore,
    pub(crate) manifest: Manifest,
    active: Active,
    /// Indexes of sealed segments, by segment number.
    pub(crate) sealed: BTreeMap<u64, Arc<SegmentIndex>>,
    next_seq: u64,
    last_hash: Hash,
    leaves: Vec<Hash>,
    cp_first: u64,
    cp_started: Option<Instant>,
    last_cp: Hash,
    anchor: Option<File>,
    /// Checkpoints not yet published, each with the number of the write that holds it.
    unanchored: Vec<(u64, Checkpoint)>,
    /// The last record known synced: live search shows nothing after it, so it never
    /// shows a record a crash could still take back.
    durable_seq: u64,
    /// Writes not yet known synced, each with the last record it holds.
    undurable: std::collections::VecDeque<(u64, u64)>,
    /// Set when a write, sync or seal failed: what is in memory may no longer match the
    /// files, so the writer refuses everything until the log is opened again (recovery cuts
    /// whatever a failed write left).
    failed: Option<String>,
    /// This opening's random salt of payload nonces (see [`crate::privacy::seal_into`]).
    salt: [u8; 4],
    /// Writes made to segment files so far; syncing covers a count of them.
    writes: u64,
    /// Frames not yet written: `buf[lead.at..]`. With direct writes, what comes before them
    /// is the file's last, partly filled block at an aligned place, so that the frames are
    /// written from here, where they were made (see [`Direct::ready`]).
    buf: Vec<u8>,
    lead: Lead,
    /// Bytes counted as written but left for the next sync to write (direct writes only).
    pending: Vec<u8>,
    _lock: File,
}

#[derive(Default)]
struct SyncState {
    synced: u64,
    syncing: bool,
}

pub(crate) struct Shared {
    pub(crate) writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    cv: Condvar,
    pub(crate) clusters: Arc<Clusters>,
}

/// An open evidence log (the only writer of its directory).
#[derive(Clone)]
pub struct Log {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Log {
    /// Open the log in `dir` (creating it), signing with `signer`.
    pub fn open(dir: &Path, signer: Signer, cfg: Config) -> Result<Log, LogError> {
        // Index entries keep record offsets in 32 bits.
        if !(4096..u64::from(u32::MAX)).contains(&cfg.segment_bytes) || cfg.checkpoint_records == 0
        {
            return Err(LogError::Damaged(format!(
                "segment size {} must be between 4 KiB and 4 GiB, and checkpoints need at least one record",
                cfg.segment_bytes
            )));
        }
        if cfg.cluster_fan == 1 || cfg.cluster_fan > 256 || cfg.cluster_levels > 4 {
            return Err(LogError::Damaged(format!(
                "session clusters merge 0 (none) or 2 to 256 runs at a time over at most 4 levels, not {} over {}",
                cfg.cluster_fan, cfg.cluster_levels
            )));
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // A handle of this process being dropped (its checkpoint ticker finishing a tick)
        // may hold the lock for a moment: try for up to 200 ms before calling it taken.
        let mut tries = 0;
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LogError::Locked(dir.display().to_string()));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
            }
        }
        let keystore = Keystore::open(&dir.join("keys")).map_err(io_err(dir))?;
        let anchor = match &cfg.anchor_file {
            Some(p) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(io_err(p))?,
            ),
            None => None,
        };
        let manifest = match Manifest::load(dir) {
            Ok(m) => {
                if m.public_key != hex(&signer.public_key()) {
                    return Err(LogError::Damaged(format!(
                        "the log in `{}` is signed with key {}, not the configured key {}",
                        dir.display(),
                        m.key_id,
                        hex(&signer.key_id())
                    )));
                }
                m
            }
            Err(crate::manifest::ManifestError::Missing) => {
                // A new log, or one whose manifest was lost: only the first is safe to start.
                // The manifest is replaced atomically, so a log that holds records always has
                // one; a header-only first segment is a crash before the first manifest.
                if let Some(seg) = segments_with_records(dir)? {
                    return Err(LogError::Damaged(format!(
                        "`{}` holds records but no MANIFEST: refusing to start a new log over them; run `midwatch evidence verify`",
                        seg.display()
                    )));
                }
                let m = Manifest::new(&signer);
                create_segment(dir, 1, 1, [0; 32], [0; 32], &signer)?;
                let mut m = m;
                m.segments
                    .push(SegmentEntry::active(1, 1, [0; 32], [0; 32]));
                m.store(dir, &signer)?;
                m
            }
            Err(e) => return Err(LogError::Damaged(e.to_string())),
        };
        let clusters = Arc::new(Clusters::open(
            dir,
            (cfg.cluster_fan, cfg.cluster_levels),
            signer.clone(),
            cfg.direct_io,
        ));
        let writer = Writer::recover(dir, cfg, signer, keystore, manifest, anchor, lock_file)?;
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            sync: Mutex::new(SyncState::default()),
            cv: Condvar::new(),
            clusters,
        });
        let log = Log { shared };
        log.start_ticker();
        log.start_clustering();
        Ok(log)
    }

    /// Sign time-based checkpoints while the log is open.
    fn start_ticker(&self) {
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let interval = lock(&self.shared.writer).cfg.checkpoint_interval;
        let tick = interval.max(Duration::from_millis(5));
        let _ = std::thread::Builder::new()
            .name("midwatch-evidence-ticker".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    let Some(shared) = weak.upgrade() else { return };
                    let log = Log { shared };
                    if let Err(e) = log.tick() {
                        tracing_warn(&e);
                    }
                }
            });
    }

    /// Keep session clusters up to date in the background: a pass whenever segments are
    /// sealed or removed (looked at twice a second), and one at once for what an earlier
    /// run of the log left to do.
    fn start_clustering(&self) {
        if lock(&self.shared.writer).cfg.cluster_fan < 2 {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let clusters = Arc::clone(&self.shared.clusters);
        let _ = std::thread::Builder::new()
            .name("midwatch-evidence-clusters".into())
            .spawn(move || {
                let mut done: Option<SegmentStates> = None;
                // After a failed pass (a full disk, say), the next waits half a minute.
                let mut next_try = Instant::now();
                loop {
                    let states = {
                        let Some(shared) = weak.upgrade() else { return };
                        let log = Log { shared };
                        log.segment_states()
                    };
                    let due = done.as_ref() != Some(&states) || clusters.any_damaged();
                    if due && Instant::now() >= next_try {
                        let gone = || weak.strong_count() == 0;
                        match clusters.build(&states, &gone) {
                            Ok(()) => done = Some(states),
                            Err(e) => {
                                tracing_warn(&LogError::Io {
                                    path: "session clusters".into(),
                                    source: e,
                                });
                                done = None;
                                next_try = Instant::now() + Duration::from_secs(30);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            });
    }

    fn segment_states(&self) -> SegmentStates {
        let w = lock(&self.shared.writer);
        let mut s = SegmentStates::default();
        for seg in &w.manifest.segments {
            match seg.state {
                SegmentState::Sealed => s.sealed.insert(seg.segment),
                SegmentState::Removed => s.removed.insert(seg.segment),
                SegmentState::Active => false,
            };
        }
        s
    }

    /// Bring session clusters up to date now (what the background does on its own), for
    /// tools and tests that need them settled.
    pub fn settle_clusters(&self) -> Result<(), LogError> {
        let states = self.segment_states();
        self.shared
            .clusters
            .build(&states, &|| false)
            .map_err(|source| LogError::Io {
                path: "session clusters".into(),
                source,
            })
    }

    /// Sign a checkpoint now if records wait for one longer than the interval.
    pub fn tick(&self) -> Result<(), LogError> {
        let target = {
            let mut w = lock(&self.shared.writer);
            let due = w
                .cp_started
                .is_some_and(|t| t.elapsed() >= w.cfg.checkpoint_interval);
            if !due {
                return Ok(());
            }
            w.check()?;
            let r = w.checkpoint().and_then(|()| w.flush());
            w.poison(r)?;
            (w.writes, Arc::clone(&w.active.file))
        };
        self.sync_to(target.0, &target.1)
    }

    /// Append records; returns once they are durable, with their sequence numbers and hashes.
    pub fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Receipt>, LogError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (receipts, writes, file) = {
            let mut w = lock(&self.shared.writer);
            let receipts = w.write(records)?;
            (receipts, w.writes, Arc::clone(&w.active.file))
        };
        self.sync_to(writes, &file)?;
        Ok(receipts)
    }

    /// Wait until the first `writes` writes are durable, syncing for everyone queued if
    /// nobody else is.
    fn sync_to(&self, writes: u64, file: &Arc<File>) -> Result<(), LogError> {
        let mut s = lock(&self.shared.sync);
        loop {
            if s.synced >= writes {
                return Ok(());
            }
            if !s.syncing {
                s.syncing = true;
                drop(s);
                let (target, current, written) = {
                    let mut w = lock(&self.shared.writer);
                    // A writer that failed syncs nothing more: a sync after a lost write
                    // would acknowledge what follows the gap.
                    let refused = w.check().err();
                    // Writes left for the sync (see `Writer::flush`) go to the file first,
                    // in order: the direct file is taken before the writer is let go.
                    let direct = w.active.direct.clone();
                    let mut file = direct.as_deref().map(lock);
                    let pending = std::mem::take(&mut w.pending);
                    let target = (w.writes, Arc::clone(&w.active.file));
                    drop(w);
                    let written = match (refused, &mut file) {
                        (Some(e), _) => Err(std::io::Error::other(e.to_string())),
                        (None, Some(d)) if !pending.is_empty() => d.append(&pending),
                        (None, _) => Ok(()),
                    };
                    (target.0, target.1, written)
                };
                // A rotation syncs the sealed segment itself, so syncing the current file
                // covers everything written so far.
                let r = written.and_then(|()| current.sync_data()).and_then(|()| {
                    if Arc::ptr_eq(file, &current) {
                        Ok(())
                    } else {
                        file.sync_data()
                    }
                });
                s = lock(&self.shared.sync);
                s.syncing = false;
                {
                    let mut w = lock(&self.shared.writer);
                    match &r {
                        Ok(()) => {
                            s.synced = s.synced.max(target);
                            w.after_sync(s.synced);
                        }
                        // After a failed fsync the kernel may have dropped the dirty pages: a
                        // retry could succeed without them. Nothing more is acknowledged.
                        Err(e) => {
                            w.failed.get_or_insert_with(|| format!("sync failed: {e}"));
                        }
                    }
                }
                self.shared.cv.notify_all();
                r.map_err(|source| LogError::Io {
                    path: "active segment".into(),
                    source,
                })?;
                continue;
            }
            s = self
                .shared
                .cv
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.synced < writes && !s.syncing {
                lock(&self.shared.writer).check()?;
            }
        }
    }

    /// Sign a checkpoint over every record not yet covered and sync (on shutdown, and before
    /// an export so every record has a proof).
    pub fn close(&self) -> Result<(), LogError> {
        self.checkpoint_now().map(|_| ())
    }

    /// Sign a checkpoint over every record not yet covered, and sync.
    /// Returns the last sequence number the checkpoint covers.
    pub fn checkpoint_now(&self) -> Result<u64, LogError> {
        let (seq, file, covered) = {
            let mut w = lock(&self.shared.writer);
            w.check()?;
            let r = w.checkpoint().and_then(|()| w.flush());
            w.poison(r)?;
            (w.writes, Arc::clone(&w.active.file), w.next_seq - 1)
        };
        self.sync_to(seq, &file)?;
        Ok(covered)
    }

    /// The public key (hex) and its id.
    pub fn public_key(&self) -> ([u8; 32], [u8; 8]) {
        let w = lock(&self.shared.writer);
        (w.signer.public_key(), w.signer.key_id())
    }

    /// Number of records appended so far (the last sequence number).
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared.writer).next_seq - 1
    }

    /// The log's directory.
    pub fn dir(&self) -> PathBuf {
        lock(&self.shared.writer).dir.clone()
    }

    /// Destroy an identity's payload key and record the erasure (who asked, when). Returns
    /// the receipt of the admin record and whether a key existed.
    pub fn erase_identity(&self, identity: &str, by: &str) -> Result<(Receipt, bool), LogError> {
        let had = {
            let mut w = lock(&self.shared.writer);
            w.check()?;
            w.keystore.erase(identity).map_err(io_err(&w.dir))?
        };
        let payload = serde_json::json!({
            "action": "erase",
            "identity": identity,
            "by": by,
            "had_key": had,
        });
        let rec = NewRecord {
            kind: Kind::Admin.code(),
            time: now_ms(),
            uid: identity.to_string(),
            identity: identity.to_string(),
            action: "erase".into(),
            payload: serde_json::to_vec(&payload).unwrap_or_default(),
            ..NewRecord::default()
        };
        let r = self.append(vec![rec])?;
        let receipt = r
            .first()
            .copied()
            .ok_or_else(|| LogError::Damaged("erasure record was not appended".into()))?;
        Ok((receipt, had))
    }

    /// Remove sealed segments every record of which is older than its kind's retention
    /// (`retention` maps kind to milliseconds; a kind without an entry is kept forever).
    /// Each removal leaves a signed tombstone in the manifest and in the log.
    pub fn retain(
        &self,
        now: i64,
        retention: &BTreeMap<Kind, i64>,
    ) -> Result<Vec<Tombstone>, LogError> {
        let mut done = Vec::new();
        let (seq, file) = {
            let mut guard = lock(&self.shared.writer);
            let w = &mut *guard;
            w.check()?;
            let expired: Vec<SegmentEntry> = w
                .manifest
                .segments
                .iter()
                .filter(|s| s.state == SegmentState::Sealed && s.expired(now, retention))
                .cloned()
                .collect();
            for seg in expired {
                let reason = seg
                    .kinds
                    .keys()
                    .filter_map(|k| Kind::parse(k))
                    .filter_map(|k| {
                        retention
                            .get(&k)
                            .map(|ms| format!("{k}={}d", ms / 86_400_000))
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                let t = Tombstone {
                    segment: seg.segment,
                    first_seq: seg.first_seq,
                    last_seq: seg.last_seq,
                    prev_hash: seg.prev_hash_bytes(),
                    last_hash: seg.last_hash_bytes(),
                    prev_checkpoint: seg.prev_checkpoint_bytes(),
                    last_checkpoint: seg.last_checkpoint_bytes(),
                    time: now,
                    reason: format!("retention {reason}"),
                    key_id: [0; 8],
                    signature: [0; 64],
                }
                .sign(&w.signer);
                // A step that fails halfway leaves memory and files apart (a tombstone
                // still buffered, or written in part): nothing more until reopened.
                let buried = w.bury(seg.segment, &t);
                w.poison(buried)?;
                done.push(t);
            }
            (w.writes, Arc::clone(&w.active.file))
        };
        self.sync_to(seq, &file)?;
        Ok(done)
    }
}

fn tracing_warn(e: &LogError) {
    // The crate stays free of a logging dependency; the ticker's rare errors go to stderr.
    #[expect(clippy::print_stderr, reason = "background thread without a caller")]
    {
        eprintln!("midwatch evidence: {e}");
    }
}

/// The first segment file in `dir` that holds more than its header frame.
fn segments_with_records(dir: &Path) -> Result<Option<PathBuf>, LogError> {
    let header_only = (crate::codec::FRAME_OVERHEAD + 89) as u64;
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("seg-")
            && name.ends_with(".log")
            && e.metadata().map_err(io_err(&e.path()))?.len() > header_only
        {
            return Ok(Some(e.path()));
        }
    }
    Ok(None)
}

/// Create a segment file holding only its header frame, durably.
fn create_segment(
    dir: &Path,
    n: u64,
    first_seq: u64,
    prev_hash: Hash,
    prev_checkpoint: Hash,
    signer: &Signer,
) -> Result<File, LogError> {
    let path = dir.join(segment_file(n));
    let header = SegmentHeader {
        segment: n,
        first_seq,
        prev_hash,
        prev_checkpoint,
        key_id: signer.key_id(),
    }
    .encode();
    let mut bytes = Vec::new();
    put_frame(&mut bytes, FRAME_HEADER, &header, &sha256(&header));
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(io_err(&path))?;
    f.write_all(&bytes).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))?;
    sync_dir(dir).map_err(io_err(dir))?;
    Ok(f)
}

impl Writer {
    /// Rebuild the writer's state from the manifest and the active segment, cutting a torn
    /// tail (bytes of a write that was never acknowledged).
    fn recover(
        dir: &Path,
        cfg: Config,
        signer: Signer,
        keystore: Keystore,
        manifest: Manifest,
        anchor: Option<File>,
        lock_file: File,
    ) -> Result<Writer, LogError> {
        let mut keystore = keystore;
        let entry = manifest
            .segments
            .iter()
            .rev()
            .find(|s| s.state == SegmentState::Active)
            .cloned()
            .ok_or_else(|| LogError::Damaged("manifest names no active segment".into()))?;
        // Files of segments retention removed, left by a crash between the manifest update and
        // the deletion: the manifest already says they are gone.
        for s in manifest
            .segments
            .iter()
            .filter(|s| s.state == SegmentState::Removed)
        {
            remove_segment_files(dir, s.segment)?;
        }
        let mut sealed = BTreeMap::new();
        let mut rebuild = Vec::new();
        for s in manifest
            .segments
            .iter()
            .filter(|s| s.state == SegmentState::Sealed)
        {
            let idx = dir.join(index_file(s.segment));
            match SegmentIndex::open(&idx, s.segment, s.first_seq) {
                Ok(i) => {
                    sealed.insert(s.segment, Arc::new(i));
                }
                Err(_) => rebuild.push(s),
            }
        }
        // Lost, damaged or older-format indexes are rebuilt from their segments' records,
        // on every core (after a format change that is every segment of the log).
        for (segment, index) in rebuild_indexes(dir, &rebuild, cfg.direct_io)? {
            sealed.insert(segment, Arc::new(index));
        }
        let path = dir.join(segment_file(entry.segment));
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            // The manifest names an active segment only once its file is durable: a missing
            // one was removed, with whatever records it held.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LogError::Damaged(format!(
                    "the active segment `{}` named by the manifest is missing; run `midwatch evidence verify`",
                    path.display()
                )));
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let damaged = |offset: u64, what: &str| {
            LogError::Damaged(format!(
                "{} at byte {offset}: {what}; run `midwatch evidence verify`",
                path.display()
            ))
        };
        let mut frames = Frames::new(&bytes);
        let mut last_hash = entry.prev_hash_bytes();
        let mut last_cp = entry.prev_checkpoint_bytes();
        let mut next_seq = entry.first_seq;
        let mut leaves = Vec::new();
        let mut cp_first = entry.first_seq;
        let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
        let mut kinds = [None; KIND_SLOTS];
        let mut good_end = 0u64;
        let mut saw_header = false;
        // A frame running into the zeros that end the file is an unfinished write if it
        // fails its checks (see `zero_cut`).
        let cut = crate::codec::zero_cut(&bytes);
        while let Some(f) = frames.next() {
            let checked: Result<(), LogError> = 'frame: {
                match f.kind {
                    FRAME_HEADER => {
                        let h = match SegmentHeader::decode(f.body) {
                            Ok(h) => h,
                            Err(e) => break 'frame Err(damaged(f.offset, &e.to_string())),
                        };
                        if f.offset != 0 || sha256(f.body) != f.digest || h.segment != entry.segment
                        {
                            break 'frame Err(damaged(f.offset, "bad segment header"));
                        }
                        saw_header = true;
                    }
                    FRAME_RECORD => {
                        let h = match decode_record(f.body) {
                            Ok((h, _)) => h,
                            Err(e) => break 'frame Err(damaged(f.offset, &e.to_string())),
                        };
                        let hash = chain_hash(&last_hash, f.body);
                        if h.seq != next_seq || hash != f.digest {
                            break 'frame Err(damaged(f.offset, "record out of chain"));
                        }
                        min_time = min_time.min(h.time);
                        max_time = max_time.max(h.time);
                        if let Some(latest) = kinds.get_mut(usize::from(h.kind)) {
                            *latest = Some(latest.map_or(h.time, |t: i64| t.max(h.time)));
                        }
                        last_hash = hash;
                        leaves.push(hash);
                        next_seq += 1;
                    }
                    FRAME_CHECKPOINT => {
                        let c = match Checkpoint::decode(f.body) {
                            Ok(c) => c,
                            Err(e) => break 'frame Err(damaged(f.offset, &e.to_string())),
                        };
                        if sha256(f.body) != f.digest || c.last_seq + 1 != next_seq {
                            break 'frame Err(damaged(f.offset, "bad checkpoint"));
                        }
                        last_cp = c.digest();
                        leaves.clear();
                        cp_first = next_seq;
                    }
                    FRAME_TOMBSTONE if sha256(f.body) != f.digest => {
                        break 'frame Err(damaged(f.offset, "bad tombstone"));
                    }
                    _ => {}
                }
                Ok(())
            };
            if let Err(e) = checked {
                if cut == Some(f.offset) {
                    good_end = f.offset;
                    break;
                }
                return Err(e);
            }
            good_end = frames.position();
        }
        match frames.end() {
            Some(FrameEnd::Clean) | None => {}
            Some(FrameEnd::Torn(at)) => good_end = *at,
            Some(FrameEnd::Garbage(at, why)) => {
                let rest = bytes.get(*at as usize..).unwrap_or_default();
                if rest.iter().all(|b| *b == 0) {
                    good_end = *at;
                } else {
                    return Err(damaged(*at, why));
                }
            }
        }
        if !saw_header {
            return Err(damaged(0, "no segment header"));
        }
        if good_end < bytes.len() as u64 {
            file.set_len(good_end).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        let index = index_records(
            bytes.get(..good_end as usize).unwrap_or_default(),
            &mut keystore,
        );
        let cp_started = if leaves.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        let direct = if cfg.direct_io {
            Direct::open(&path, good_end)
                .map_err(io_err(&path))?
                .map(|d| Arc::new(Mutex::new(d)))
        } else {
            None
        };
        let active = Active {
            n: entry.segment,
            file: Arc::new(file),
            direct,
            path,
            bytes: good_end,
            first_seq: entry.first_seq,
            prev_hash: entry.prev_hash_bytes(),
            prev_checkpoint: entry.prev_checkpoint_bytes(),
            index,
            min_time,
            max_time,
            kinds,
        };
        let mut w = Writer {
            dir: dir.to_path_buf(),
            cfg,
            signer,
            keystore,
            manifest,
            active,
            sealed,
            next_seq,
            last_hash,
            leaves,
            cp_first,
            cp_started,
            last_cp,
            anchor,
            unanchored: Vec::new(),
            // What recovery found is on disk.
            durable_seq: next_seq.saturating_sub(1),
            undurable: std::collections::VecDeque::new(),
            failed: None,
            salt: {
                let [a, b, c, d, ..] = crate::sign::random32()?;
                [a, b, c, d]
            },
            writes: 0,
            buf: Vec::with_capacity(BUF_BYTES),
            lead: Lead::default(),
            pending: Vec::new(),
            _lock: lock_file,
        };
        w.ready_buf();
        Ok(w)
    }

    /// Refuse to go on after a failure (see `failed`).
    fn check(&self) -> Result<(), LogError> {
        match &self.failed {
            Some(why) => Err(LogError::Damaged(format!(
                "the evidence log stopped after an error ({why}); open it again to recover"
            ))),
            None => Ok(()),
        }
    }

    /// Remember a failure of a step that may have left memory and files apart.
    fn poison<T>(&mut self, r: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &r {
            self.failed.get_or_insert_with(|| e.to_string());
        }
        r
    }

    /// Encode, encrypt, chain and write a batch (not yet synced).
    fn write(&mut self, records: Vec<NewRecord>) -> Result<Vec<Receipt>, LogError> {
        self.check()?;
        let first = self.next_seq;
        let r = self.write_unchecked(records);
        // A refusal before anything was chained leaves the writer whole.
        match r {
            Err(e @ (LogError::TooLarge(_) | LogError::Key(_)))
                if self.next_seq == first && self.buffered() == 0 =>
            {
                Err(e)
            }
            r => self.poison(r),
        }
    }

    fn write_unchecked(&mut self, records: Vec<NewRecord>) -> Result<Vec<Receipt>, LogError> {
        // Refuse the whole batch before any of it is chained: a record refused halfway would
        // leave the ones before it buffered, written by the next append though never
        // acknowledged. The body, header fields and tag included, must fit in a frame.
        for r in &records {
            if r.payload.len() > crate::codec::MAX_BODY - 64 * 1024
                || body_len(r, self.encrypts(r)) > crate::codec::MAX_BODY
            {
                return Err(LogError::TooLarge(r.payload.len()));
            }
        }
        // Identity keys too: creating one can fail, and must not fail halfway.
        let mut sealers = Vec::with_capacity(records.len());
        for r in &records {
            sealers.push(if self.encrypts(r) {
                Some(self.keystore.sealer(&r.identity)?)
            } else {
                None
            });
        }
        let mut receipts = Vec::with_capacity(records.len());
        for (r, sealer) in records.into_iter().zip(sealers) {
            let seq = self.next_seq;
            let (salt, prev) = (self.salt, self.last_hash);
            // The payload is sealed straight into the frame.
            let sealer = sealer.as_deref();
            let (flags, payload_len) = match sealer {
                Some(_) => (
                    crate::codec::FLAG_ENCRYPTED,
                    r.payload.len() + crate::privacy::SEAL_OVERHEAD,
                ),
                None => (0, r.payload.len()),
            };
            let (h, payload, word_keys) = r.into_parts(seq, flags);
            let offset = self.active.bytes + self.buffered() as u64;
            let mut sealed = Ok(());
            let hash = put_frame_with(
                &mut self.buf,
                FRAME_RECORD,
                |out| {
                    encode_record_head(&h, payload_len, out);
                    match sealer {
                        Some(k) => sealed = seal_into(k, seq, salt, &payload, out),
                        None => out.extend_from_slice(&payload),
                    }
                },
                |body| chain_hash(&prev, body),
            );
            // Unreachable below 64 GiB; a frame without its payload must not stay.
            sealed.map_err(|_| LogError::Key(KeyError::Format(format!("sealing record {seq}"))))?;
            self.active.index.add_record(offset, h.time, &h, &word_keys);
            self.active.min_time = self.active.min_time.min(h.time);
            self.active.max_time = self.active.max_time.max(h.time);
            if let Some(latest) = self.active.kinds.get_mut(usize::from(h.kind)) {
                *latest = Some(latest.map_or(h.time, |t: i64| t.max(h.time)));
            }
            self.last_hash = hash;
            self.leaves.push(hash);
            self.cp_started.get_or_insert_with(Instant::now);
            self.next_seq += 1;
            receipts.push(Receipt { seq, hash });
            if self.leaves.len() >= self.cfg.checkpoint_records {
                self.checkpoint()?;
            }
            if self.active.bytes + self.buffered() as u64 >= self.cfg.segment_bytes {
                self.rotate()?;
            } else if self.buffered() >= self.flush_bytes() {
                // A large batch goes to the file in pieces.
                self.flush()?;
            }
        }
        if self
            .cp_started
            .is_some_and(|t| t.elapsed() >= self.cfg.checkpoint_interval)
        {
            self.checkpoint()?;
        }
        self.flush()?;
        Ok(receipts)
    }

    /// Whether a record's payload is encrypted with its identity's key.
    fn encrypts(&self, r: &NewRecord) -> bool {
        self.cfg.encrypt && !r.identity.is_empty() && r.kind != Kind::Admin.code()
    }

    /// Sign a checkpoint over the records since the last one, if any.
    fn checkpoint(&mut self) -> Result<(), LogError> {
        if self.leaves.is_empty() {
            return Ok(());
        }
        let c = Checkpoint {
            first_seq: self.cp_first,
            last_seq: self.next_seq - 1,
            chain_hash: self.last_hash,
            merkle_root: merkle::root(&self.leaves),
            prev: self.last_cp,
            time: now_ms(),
            key_id: [0; 8],
            signature: [0; 64],
        }
        .sign(&self.signer);
        let body = c.encode();
        put_frame(&mut self.buf, FRAME_CHECKPOINT, &body, &sha256(&body));
        self.last_cp = c.digest();
        self.leaves.clear();
        self.cp_first = self.next_seq;
        self.cp_started = None;
        // The next flush writes it.
        self.unanchored.push((self.writes + 1, c));
        Ok(())
    }

    fn write_tombstone(&mut self, t: &Tombstone) -> Result<(), LogError> {
        let body = t.encode();
        put_frame(&mut self.buf, FRAME_TOMBSTONE, &body, &sha256(&body));
        Ok(())
    }

    /// Remove a sealed segment behind its tombstone: the tombstone written and synced, then
    /// named in the manifest, then the segment's files deleted.
    fn bury(&mut self, segment: u64, t: &Tombstone) -> Result<(), LogError> {
        self.write_tombstone(t)?;
        self.flush()?;
        self.write_pending()?;
        self.active
            .file
            .sync_data()
            .map_err(io_err(&self.active.path))?;
        self.manifest.bury(segment, t);
        let dir = self.dir.clone();
        self.manifest.store(&dir, &self.signer)?;
        self.sealed.remove(&segment);
        remove_segment_files(&dir, segment)?;
        sync_dir(&dir).map_err(io_err(&dir))
    }

    /// Write what is buffered to the active segment (synced later, by `sync_to`).
    fn flush(&mut self) -> Result<(), LogError> {
        let n = self.buffered();
        if n == 0 {
            return Ok(());
        }
        let frames = self.buf.get(self.lead.at..).unwrap_or_default();
        let mut f = &*self.active.file;
        if self.cfg.failpoint == Some(Failpoint::MidWrite) && n > 1 {
            let half = frames.get(..n / 2).unwrap_or_default();
            let _ = match &self.active.direct {
                Some(d) => {
                    let mut d = lock(d);
                    d.append(&self.pending).and_then(|()| d.append(half))
                }
                None => f.write_all(half),
            };
            std::process::abort();
        }
        match &self.active.direct {
            // A small write waits for the sync, which writes all that are waiting at once:
            // callers appending at the same time share one write as they share one sync.
            Some(_) if self.pending.len() + n < FLUSH_BYTES => {
                self.pending.extend_from_slice(frames);
                self.buf.truncate(self.lead.at);
            }
            Some(d) => {
                let mut d = lock(d);
                let lead = d
                    .append(&self.pending)
                    .and_then(|()| d.append_from(&mut self.buf, self.lead))
                    .map_err(io_err(&self.active.path))?;
                self.lead = lead;
                self.pending.clear();
            }
            None => {
                f.write_all(frames).map_err(io_err(&self.active.path))?;
                self.buf.truncate(self.lead.at);
            }
        }
        self.writes += 1;
        self.undurable
            .push_back((self.writes, self.next_seq.saturating_sub(1)));
        self.active.bytes += n as u64;
        if self.cfg.failpoint == Some(Failpoint::BeforeSync) {
            let _ = self.write_pending();
            std::process::abort();
        }
        Ok(())
    }

    /// Bytes a batch buffers before writing them out.
    fn flush_bytes(&self) -> usize {
        if self.active.direct.is_some() {
            DIRECT_FLUSH_BYTES
        } else {
            FLUSH_BYTES
        }
    }

    /// Bytes of frames made and not yet written.
    fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.lead.at)
    }

    /// Make the frame buffer ready for the active segment (see `buf`); nothing may be
    /// buffered.
    fn ready_buf(&mut self) {
        self.lead = match &self.active.direct {
            Some(d) => lock(d).ready(&mut self.buf),
            None => {
                self.buf.clear();
                Lead::default()
            }
        };
    }

    /// Write what waits for the next sync now (before syncing the file under the lock).
    /// Taking the direct file also waits for a sync leader's write still under way.
    fn write_pending(&mut self) -> Result<(), LogError> {
        if let Some(d) = &self.active.direct {
            lock(d)
                .append(&self.pending)
                .map_err(io_err(&self.active.path))?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Publish checkpoints that are now durable to the anchor file and the hook. An anchor
    /// never names a checkpoint the log could still lose in a crash: only those in the first
    /// `synced` writes are durable, and one written while the sync ran waits for the next.
    fn after_sync(&mut self, synced: u64) {
        while let Some(&(w, seq)) = self.undurable.front() {
            if w > synced {
                break;
            }
            self.durable_seq = self.durable_seq.max(seq);
            self.undurable.pop_front();
        }
        if self.unanchored.first().is_none_or(|(w, _)| *w > synced) {
            return;
        }
        let later = self.unanchored.partition_point(|(w, _)| *w <= synced);
        let rest = self.unanchored.split_off(later);
        let cps: Vec<Checkpoint> = std::mem::replace(&mut self.unanchored, rest)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        if let Some(a) = &mut self.anchor {
            let mut lines = String::new();
            for c in &cps {
                lines.push_str(&hex(&c.encode()));
                lines.push('\n');
            }
            if let Err(e) = a.write_all(lines.as_bytes()).and_then(|()| a.sync_data()) {
                tracing_warn(&LogError::Io {
                    path: "anchor file".into(),
                    source: e,
                });
            }
        }
        if let Some(hook) = &self.cfg.on_checkpoint {
            for c in &cps {
                hook(c);
            }
        }
    }

    /// Seal the active segment (checkpoint, sync, index file) and start the next.
    fn rotate(&mut self) -> Result<(), LogError> {
        self.checkpoint()?;
        self.flush()?;
        self.write_pending()?;
        if self.active.direct.take().is_some() {
            // Direct writes padded the last block with zeros: a sealed segment ends with
            // its last frame.
            self.active
                .file
                .set_len(self.active.bytes)
                .map_err(io_err(&self.active.path))?;
        }
        self.active
            .file
            .sync_data()
            .map_err(io_err(&self.active.path))?;
        // Every write so far went to this file or to one synced when it was sealed.
        self.durable_seq = self.next_seq.saturating_sub(1);
        self.undurable.clear();
        let n = self.active.n;
        let idx = self.dir.join(index_file(n));
        self.active
            .index
            .write(&idx, n, self.active.first_seq, self.cfg.direct_io)
            .map_err(io_err(&idx))?;
        let next = n + 1;
        let file = create_segment(
            &self.dir,
            next,
            self.next_seq,
            self.last_hash,
            self.last_cp,
            &self.signer,
        )?;
        if self.cfg.failpoint == Some(Failpoint::BeforeManifest) {
            std::process::abort();
        }
        let entry = SegmentEntry {
            segment: n,
            file: segment_file(n),
            state: SegmentState::Sealed,
            first_seq: self.active.first_seq,
            last_seq: self.next_seq - 1,
            prev_hash: hex(&self.active.prev_hash),
            last_hash: hex(&self.last_hash),
            prev_checkpoint: hex(&self.active.prev_checkpoint),
            last_checkpoint: hex(&self.last_cp),
            bytes: self.active.bytes,
            min_time: self.active.min_time,
            max_time: self.active.max_time,
            kinds: kinds_map(&self.active.kinds),
        };
        self.manifest.seal(entry);
        self.manifest.segments.push(SegmentEntry::active(
            next,
            self.next_seq,
            self.last_hash,
            self.last_cp,
        ));
        self.manifest.store(&self.dir, &self.signer)?;
        let index = SegmentIndex::open(&idx, n, self.active.first_seq)
            .map_err(|e| LogError::Damaged(format!("{}: {e}", idx.display())))?;
        self.sealed.insert(n, Arc::new(index));
        let path = self.dir.join(segment_file(next));
        let bytes = std::fs::metadata(&path).map_err(io_err(&path))?.len();
        let direct = if self.cfg.direct_io {
            Direct::open(&path, bytes)
                .map_err(io_err(&path))?
                .map(|d| Arc::new(Mutex::new(d)))
        } else {
            None
        };
        self.active = Active {
            n: next,
            file: Arc::new(file),
            direct,
            bytes,
            path,
            first_seq: self.next_seq,
            prev_hash: self.last_hash,
            prev_checkpoint: self.last_cp,
            index: self.active.index.sized_like(),
            min_time: i64::MAX,
            max_time: i64::MIN,
            kinds: [None; KIND_SLOTS],
        };
        self.ready_buf();
        Ok(())
    }

    /// The active segment: number, first seq, its in-memory index, and the last record
    /// known synced.
    pub(crate) fn active_view(&self) -> (u64, u64, &MemIndex, u64) {
        (
            self.active.n,
            self.active.first_seq,
            &self.active.index,
            self.durable_seq,
        )
    }
}

/// Bytes of a record's body as `encode_record` writes it (at most: long strings are cut), with
/// the AEAD tag when the payload is encrypted.
fn body_len(r: &NewRecord, encrypted: bool) -> usize {
    let strings: usize = [&r.uid, &r.session, &r.identity, &r.app, &r.action]
        .iter()
        .map(|s| 2 + s.len().min(usize::from(u16::MAX)))
        .sum();
    let tag = if encrypted {
        crate::privacy::SEAL_OVERHEAD
    } else {
        0
    };
    1 + 8 + 8 + 1 + 1 + 4 + strings + 4 + r.payload.len() + tag
}

/// Index a segment's records from its bytes, with the words of payloads that are in clear
/// or whose identity key still exists.
/// Delete a removed segment's file and index file (either may already be gone).
fn remove_segment_files(dir: &Path, segment: u64) -> Result<(), LogError> {
    for name in [segment_file(segment), index_file(segment)] {
        let p = dir.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
    Ok(())
}

/// Rebuild the index files of these sealed segments from their records, in parallel.
fn rebuild_indexes(
    dir: &Path,
    segments: &[&SegmentEntry],
    direct: bool,
) -> Result<Vec<(u64, SegmentIndex)>, LogError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(segments.len()));
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(segments.len());
    let one = |s: &SegmentEntry, keys: &mut Keystore| -> Result<SegmentIndex, LogError> {
        let (seg, idx) = (
            dir.join(segment_file(s.segment)),
            dir.join(index_file(s.segment)),
        );
        let bytes = crate::direct::read_file(&seg, direct).map_err(io_err(&seg))?;
        index_records(&bytes, keys)
            .write(&idx, s.segment, s.first_seq, direct)
            .map_err(io_err(&idx))?;
        SegmentIndex::open(&idx, s.segment, s.first_seq)
            .map_err(|e| LogError::Damaged(format!("{}: {e}", idx.display())))
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                // Each thread reads keys on its own: payloads are indexed in clear.
                let mut keys = match Keystore::open(&dir.join("keys")) {
                    Ok(k) => k,
                    Err(e) => {
                        lock(&done).push(Err(io_err(&dir.join("keys"))(e)));
                        return;
                    }
                };
                while let Some(s) =
                    segments.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    let r = one(s, &mut keys).map(|i| (s.segment, i));
                    let failed = r.is_err();
                    lock(&done).push(r);
                    if failed {
                        return;
                    }
                }
            });
        }
    });
    done.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .collect()
}

pub(crate) fn index_records(bytes: &[u8], keys: &mut Keystore) -> MemIndex {
    let mut m = MemIndex::default();
    for f in Frames::new(bytes) {
        if f.kind == FRAME_RECORD
            && let Ok((h, payload)) = decode_record(f.body)
        {
            let mut words = Vec::new();
            if !h.encrypted() {
                crate::search::payload_word_keys(payload, &mut words);
            } else if let Some(k) = keys.get(&h.identity)
                && let Some(plain) = crate::privacy::open(&k, h.seq, payload)
            {
                crate::search::payload_word_keys(&plain, &mut words);
            }
            m.add_record(f.offset, h.time, &h, &words);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn rec(i: u64) -> NewRecord {
        NewRecord {
            kind: Kind::Event.code(),
            time: i as i64,
            uid: format!("ev-{i}"),
            payload: b"{}".to_vec(),
            ..NewRecord::default()
        }
    }

    #[test]
    fn a_checkpoint_written_during_a_sync_is_published_only_after_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = dir.path().join("anchor");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook_seen = Arc::clone(&seen);
        let cfg = Config {
            checkpoint_records: 2,
            checkpoint_interval: Duration::from_secs(3600),
            anchor_file: Some(anchor.clone()),
            on_checkpoint: Some(Arc::new(move |c: &Checkpoint| {
                lock(&hook_seen).push(c.last_seq);
            })),
            ..Config::default()
        };
        let log = Log::open(&dir.path().join("log"), Signer::from_seed(&[5; 32]), cfg).unwrap();
        let mut w = lock(&log.shared.writer);
        // A batch with a checkpoint is written and its sync starts (covering this write) …
        w.write(vec![rec(0), rec(1)]).unwrap();
        let syncing = w.writes;
        // … while another batch with a checkpoint is written.
        w.write(vec![rec(2), rec(3)]).unwrap();
        w.after_sync(syncing);
        assert_eq!(*lock(&seen), [2]);
        assert_eq!(std::fs::read_to_string(&anchor).unwrap().lines().count(), 1);
        let all = w.writes;
        w.after_sync(all);
        assert_eq!(*lock(&seen), [2, 4]);
        assert_eq!(std::fs::read_to_string(&anchor).unwrap().lines().count(), 2);
    }

    /// A removal that fails halfway stops the writer: a tombstone left in the buffer, or
    /// written in part, must not be written again after the torn bytes by the next append.
    #[test]
    fn a_failed_removal_stops_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let cfg = Config {
            segment_bytes: 4096,
            direct_io: false,
            ..Config::default()
        };
        let log = Log::open(&path, Signer::from_seed(&[5; 32]), cfg).unwrap();
        for i in 0..3 {
            log.append((0..40).map(|j| rec(i * 40 + j)).collect())
                .unwrap();
        }
        // The active segment's file, for a moment open only for reading: its writes fail.
        let writable = {
            let mut w = lock(&log.shared.writer);
            let read_only = Arc::new(File::open(&w.active.path).unwrap());
            std::mem::replace(&mut w.active.file, read_only)
        };
        let retention = BTreeMap::from([(Kind::Event, 1)]);
        assert!(log.retain(now_ms(), &retention).is_err());
        // The file would take writes again, but what was buffered and what is on disk may
        // no longer agree.
        lock(&log.shared.writer).active.file = writable;
        let refused = log.append(vec![rec(999)]).unwrap_err();
        assert!(
            refused.to_string().contains("stopped after an error"),
            "{refused}"
        );
        drop(log);
        // Reopened, recovery finds the log whole: nothing was written after the failure.
        let log = Log::open(&path, Signer::from_seed(&[5; 32]), Config::default()).unwrap();
        log.append(vec![rec(1000)]).unwrap();
        let report = crate::verify::verify_dir(&path, &crate::verify::Options::default());
        assert_eq!(report.status, crate::verify::Status::Intact, "{report:?}");
    }

    #[test]
    fn live_search_shows_only_records_known_synced() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            &dir.path().join("log"),
            Signer::from_seed(&[5; 32]),
            Config::default(),
        )
        .unwrap();
        log.append(vec![rec(0), rec(1)]).unwrap();
        let seqs = |log: &Log| -> Vec<u64> {
            let q = crate::Query::default();
            log.search(&q).unwrap().hits.iter().map(|h| h.seq).collect()
        };
        assert_eq!(seqs(&log), [2, 1]);
        // Written to the file, not yet synced: a crash could still take it back.
        let (written, synced) = {
            let mut w = lock(&log.shared.writer);
            let before = w.writes;
            w.write(vec![rec(2)]).unwrap();
            w.write_pending().unwrap();
            (w.writes, before)
        };
        assert_eq!(seqs(&log), [2, 1]);
        lock(&log.shared.writer).after_sync(synced);
        assert_eq!(seqs(&log), [2, 1]);
        lock(&log.shared.writer).after_sync(written);
        assert_eq!(seqs(&log), [3, 2, 1]);
        // Reopened, what is on disk is what recovery found.
        log.close().unwrap();
        drop(log);
        let log = Log::open(
            &dir.path().join("log"),
            Signer::from_seed(&[5; 32]),
            Config::default(),
        )
        .unwrap();
        assert_eq!(seqs(&log), [3, 2, 1]);
    }
}
