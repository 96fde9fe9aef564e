//! Search: records by session, identity, app, action, class, kind, id, finding (the finding's
//! records and the events of its evidence chain), time range and words of free text, newest
//! first, a page at a time (the cursor is the last sequence number returned).
//!
//! Works on a live log (the active segment's index is read under the writer's lock, files
//! after it is released) and on a directory alone (`Snapshot::open`).

use crate::cluster::{Block, Run};
use crate::codec::{Header, Kind, decode_record, hex, key_hash};
use crate::index::{
    IndexError, MemIndex, SegmentIndex, field, header_keys, intersect, word_keys, words,
};
use crate::log::{Log, index_file, index_records, segment_file};
use crate::manifest::{Manifest, SegmentState};
use crate::privacy::Keystore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Payload fields whose words are indexed for free-text search.
pub const TEXT_FIELDS: &[&str] = &[
    "actor.user.name",
    "actor.user.email_addr",
    "actor.app_name",
    "http_request.url.hostname",
    "http_request.url.path",
    "web_resources.name",
    "file.name",
    "dst_endpoint.hostname",
    "src_endpoint.ip",
    "src_endpoint.location.city",
    "src_endpoint.location.country",
    "metadata.event_code",
    "finding_info.title",
    "message",
    "note",
];

/// Most records a page returns.
pub const MAX_LIMIT: usize = 1000;

fn collect_at<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a str>) {
    match (v, path.split_first()) {
        (Value::Array(items), _) => {
            for i in items {
                collect_at(i, path, out);
            }
        }
        (Value::Object(m), Some((head, rest))) => {
            if let Some(c) = m.get(*head) {
                collect_at(c, rest, out);
            }
        }
        (Value::String(s), None) => out.push(s),
        _ => {}
    }
}

/// The text of the indexed fields of a payload.
fn texts(v: &Value) -> Vec<&str> {
    let mut texts = Vec::new();
    for f in TEXT_FIELDS {
        let parts: Vec<&str> = f.split('.').collect();
        collect_at(v, &parts, &mut texts);
    }
    texts
}

/// The indexed words of a payload.
pub fn value_words(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for t in texts(v) {
        words(t, &mut out);
    }
    out
}

/// The index keys of a payload's words: what [`NewRecord::word_keys`] takes.
///
/// [`NewRecord::word_keys`]: crate::NewRecord::word_keys
pub fn value_word_keys(v: &Value) -> Vec<u64> {
    let mut out = Vec::new();
    for t in texts(v) {
        word_keys(t, &mut out);
    }
    out
}

/// The index keys of the words of payload bytes (JSON).
pub fn payload_word_keys(payload: &[u8], out: &mut Vec<u64>) {
    if let Ok(v) = serde_json::from_slice::<Value>(payload) {
        out.extend(value_word_keys(&v));
    }
}

/// What to look for. Every given criterion must hold.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Query {
    /// Session id.
    pub session: Option<String>,
    /// Identity id.
    pub identity: Option<String>,
    /// App.
    pub app: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// Record kind (`event`, `finding`, `decision`, `response`, `admin`).
    pub kind: Option<String>,
    /// OCSF class uid.
    pub class_uid: Option<u32>,
    /// Record id (event uid, finding id).
    pub uid: Option<String>,
    /// A finding id: its records and the events of its evidence chain.
    pub finding: Option<String>,
    /// Earliest record time, epoch ms.
    pub since: Option<i64>,
    /// Latest record time, epoch ms (inclusive).
    pub until: Option<i64>,
    /// Words that must all appear in the indexed text fields.
    pub text: Option<String>,
    /// Cursor: only records with a lower sequence number.
    pub before: Option<u64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Why a search cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Bad query.
    #[error("{0}")]
    Query(String),
    /// Read error.
    #[error("{0}")]
    Io(String),
}

impl From<IndexError> for SearchError {
    fn from(e: IndexError) -> SearchError {
        SearchError::Io(e.to_string())
    }
}

/// One record found.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Sequence number.
    pub seq: u64,
    /// Record time, epoch ms.
    pub time: i64,
    /// Kind.
    pub kind: String,
    /// OCSF class uid (0 when none).
    pub class_uid: u32,
    /// Record id.
    pub uid: String,
    /// Session id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session: String,
    /// Identity id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity: String,
    /// App.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// Action.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// Chain hash (hex).
    pub hash: String,
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the record's frame in its segment.
    pub offset: u64,
    /// Whether the payload was encrypted.
    pub encrypted: bool,
    /// Whether the payload is unreadable because its identity was erased.
    pub erased: bool,
    /// The payload (absent when erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Records, newest first.
    pub hits: Vec<Hit>,
    /// Cursor for the next page (pass as `before`), absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// A query turned into index keys.
#[derive(Debug, Clone)]
struct Compiled {
    all: Vec<u64>,
    any: Vec<u64>,
    since: i64,
    until: i64,
    before: u64,
    limit: usize,
    /// Whether words of payload text are asked for (an erased payload has none any more).
    text: bool,
    /// The session's key, when one is asked for.
    session: Option<u64>,
}

impl Compiled {
    fn new(q: &Query, finding_events: Option<Vec<String>>) -> Result<Compiled, SearchError> {
        let mut all = Vec::new();
        for (f, v) in [
            (field::SESSION, &q.session),
            (field::IDENTITY, &q.identity),
            (field::APP, &q.app),
            (field::ACTION, &q.action),
            (field::UID, &q.uid),
        ] {
            if let Some(v) = v {
                all.push(key_hash(f, v));
            }
        }
        if let Some(k) = &q.kind {
            let kind = Kind::parse(k).ok_or_else(|| {
                SearchError::Query(format!(
                    "`kind`: `{k}` is not one of event, finding, decision, response, admin"
                ))
            })?;
            all.push(key_hash(field::KIND, &kind.code().to_string()));
        }
        if let Some(c) = q.class_uid {
            all.push(key_hash(field::CLASS, &c.to_string()));
        }
        if let Some(t) = &q.text {
            let mut w = Vec::new();
            words(t, &mut w);
            if w.is_empty() {
                return Err(SearchError::Query(format!(
                    "`text`: `{t}` has no word of 2 or more letters or digits"
                )));
            }
            all.extend(w.iter().map(|w| key_hash(field::WORD, w)));
        }
        let mut any = Vec::new();
        if let (Some(f), Some(events)) = (&q.finding, finding_events) {
            any.push(key_hash(field::UID, f));
            any.extend(events.iter().map(|e| key_hash(field::UID, e)));
        }
        let limit = q.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(SearchError::Query(format!(
                "`limit`: {limit} is not between 1 and {MAX_LIMIT}"
            )));
        }
        if let (Some(a), Some(b)) = (q.since, q.until)
            && a > b
        {
            return Err(SearchError::Query("`since` is after `until`".into()));
        }
        Ok(Compiled {
            all,
            any,
            since: q.since.unwrap_or(i64::MIN),
            until: q.until.unwrap_or(i64::MAX),
            before: q.before.unwrap_or(u64::MAX),
            limit,
            text: q.text.is_some(),
            session: q.session.as_deref().map(|v| key_hash(field::SESSION, v)),
        })
    }

    /// Whether a record's header carries every key of `all` (true of a record found by
    /// those keys; what a record read from a session cluster is checked against).
    fn header_match(&self, h: &Header) -> bool {
        let (keys, n) = header_keys(h);
        let keys = keys.get(..n).unwrap_or_default();
        self.all.iter().all(|k| keys.contains(k))
    }

    /// Whether the query has index keys (otherwise it scans).
    fn has_keys(&self) -> bool {
        !self.all.is_empty() || !self.any.is_empty()
    }

    /// Records of a segment matching the keys (all records when there is no key).
    /// Whether a sealed segment may hold a match, from its Bloom filter: every key of
    /// `all`, and one of `any` if it has any.
    fn may_match(&self, index: &SegmentIndex) -> bool {
        self.all.iter().all(|k| index.may_contain(*k))
            && (self.any.is_empty() || self.any.iter().any(|k| index.may_contain(*k)))
    }

    fn candidates(
        &self,
        count: usize,
        mut lookup: impl FnMut(u64) -> Result<Vec<u32>, IndexError>,
    ) -> Result<Vec<u32>, SearchError> {
        let mut set: Option<Vec<u32>> = None;
        for k in &self.all {
            let list = lookup(*k)?;
            set = Some(match set {
                Some(s) => intersect(&s, &list),
                None => list,
            });
            if set.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
        }
        if !self.any.is_empty() {
            let mut union = Vec::new();
            for k in &self.any {
                union.extend(lookup(*k)?);
            }
            union.sort_unstable();
            union.dedup();
            set = Some(match set {
                Some(s) => intersect(&s, &union),
                None => union,
            });
        }
        Ok(set.unwrap_or_else(|| (0..count as u32).collect()))
    }
}

/// A sealed segment as search sees it.
#[derive(Debug, Clone)]
struct Sealed {
    n: u64,
    first_seq: u64,
    min_time: i64,
    max_time: i64,
    index: Arc<SegmentIndex>,
}

/// A readable view of a log directory: sealed segment indexes and the active segment's.
#[derive(Debug)]
pub struct Snapshot {
    dir: PathBuf,
    sealed: Vec<Sealed>,
    runs: Vec<Arc<Run>>,
    active: Option<(u64, u64, MemIndex)>,
}

/// Where a candidate record is.
/// Segment, sequence number, time when the index knows it, byte offset.
type Spot = (u64, u64, Option<i64>, u64);

impl Snapshot {
    /// Open a log directory for reading (no lock taken; safe beside a running writer).
    pub fn open(dir: &Path) -> Result<Snapshot, SearchError> {
        let m = Manifest::load(dir).map_err(|e| SearchError::Io(e.to_string()))?;
        let mut keys =
            Keystore::open(&dir.join("keys")).map_err(|e| SearchError::Io(e.to_string()))?;
        let mut sealed = Vec::new();
        let mut active = None;
        for s in &m.segments {
            match s.state {
                SegmentState::Sealed => {
                    let idx = dir.join(index_file(s.segment));
                    let index = match SegmentIndex::open(&idx, s.segment, s.first_seq) {
                        Ok(i) => i,
                        Err(_) => {
                            return Err(SearchError::Io(format!(
                                "index of segment {} unreadable; reopen the log to rebuild it",
                                s.segment
                            )));
                        }
                    };
                    sealed.push(Sealed {
                        n: s.segment,
                        first_seq: s.first_seq,
                        min_time: s.min_time,
                        max_time: s.max_time,
                        index: Arc::new(index),
                    });
                }
                SegmentState::Active => {
                    let p = dir.join(segment_file(s.segment));
                    let bytes = std::fs::read(&p)
                        .map_err(|e| SearchError::Io(format!("{}: {e}", p.display())))?;
                    active = Some((s.segment, s.first_seq, index_records(&bytes, &mut keys)));
                }
                SegmentState::Removed => {}
            }
        }
        Ok(Snapshot {
            dir: dir.to_path_buf(),
            sealed,
            runs: crate::codec::unhex::<32>(&m.public_key)
                .map(|k| crate::cluster::load_runs(dir, &k))
                .unwrap_or_default(),
            active,
        })
    }

    /// Run a query.
    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        let events = self.finding_events(q, |c| self.search_compiled(c))?;
        let c = Compiled::new(q, events)?;
        self.search_compiled(&c)
    }

    fn search_compiled(&self, c: &Compiled) -> Result<Page, SearchError> {
        let active = match &self.active {
            Some((n, first, m)) => active_spots(c, *n, *first, m)?,
            None => Vec::new(),
        };
        run(&self.dir, c, active, &self.sealed, &self.runs)
    }

    /// For a finding query: the event uids of the finding's evidence chain.
    fn finding_events(
        &self,
        q: &Query,
        search: impl Fn(&Compiled) -> Result<Page, SearchError>,
    ) -> Result<Option<Vec<String>>, SearchError> {
        finding_events(q, search)
    }
}

fn finding_events(
    q: &Query,
    search: impl Fn(&Compiled) -> Result<Page, SearchError>,
) -> Result<Option<Vec<String>>, SearchError> {
    let Some(f) = &q.finding else { return Ok(None) };
    let inner = Query {
        uid: Some(f.clone()),
        kind: Some("finding".into()),
        limit: Some(1),
        ..Query::default()
    };
    let page = search(&Compiled::new(&inner, None)?)?;
    let mut events = Vec::new();
    if let Some(p) = page.hits.first().and_then(|h| h.payload.as_ref()) {
        let mut uids = Vec::new();
        collect_at(p, &["finding_info", "related_events", "uid"], &mut uids);
        events.extend(uids.into_iter().map(str::to_string));
    }
    Ok(Some(events))
}

fn active_spots(
    c: &Compiled,
    n: u64,
    first_seq: u64,
    m: &MemIndex,
) -> Result<Vec<Spot>, SearchError> {
    let locals = c.candidates(m.len(), |k| Ok(m.lookup(k)))?;
    Ok(locals
        .into_iter()
        .filter_map(|l| {
            let i = l as usize;
            Some((
                n,
                first_seq.saturating_add(u64::from(l)),
                Some(*m.times.get(i)?),
                *m.offsets.get(i)?,
            ))
        })
        .collect())
}

/// Collect a page: the active segment's candidates, then sealed segments newest first.
fn run(
    dir: &Path,
    c: &Compiled,
    active: Vec<Spot>,
    sealed: &[Sealed],
    runs: &[Arc<Run>],
) -> Result<Page, SearchError> {
    let mut reader = RecordReader::new(dir);
    let mut hits = Vec::new();
    let active = candidates_in_order(c, active);
    reader.prefetch(active.iter().take(c.limit + 1));
    let mut more = take(&mut reader, c, &active, &mut hits)?;
    // Once the page is full, older segments are still looked at until one holds a match, so
    // that a last page has no cursor. Segments are taken newest first in growing groups:
    // the index blocks of a group, then the records it points to, are asked of the disk
    // together, so a session spread over many segments of a log larger than memory costs
    // a few rounds of parallel reads, not two reads one after another per segment.
    // Segments whose filters rule a key out are left out before groups are made, so a
    // group's size counts segments that should hold matches.
    let eligible: Vec<&Sealed> = sealed
        .iter()
        .rev()
        .filter(|s| s.first_seq < c.before && s.max_time >= c.since && s.min_time <= c.until)
        .filter(|s| c.may_match(&s.index))
        .collect();
    // A query by session reads the segments its clusters cover from them (see
    // [`crate::cluster`]): a few long reads instead of one read a record.
    let key = c
        .session
        .filter(|_| c.any.is_empty() && !c.text && !runs.is_empty());
    let cover = |s: &Sealed| -> Option<&Arc<Run>> {
        key?;
        runs.iter().find(|r| r.covers(s.n))
    };
    let mut rest = eligible.as_slice();
    // Stretches of segments, newest first: those no run covers are read by their indexes,
    // the others from their runs, each run with the segments it stands for here.
    while !more && !rest.is_empty() {
        let clustered = rest.first().is_some_and(|s| cover(s).is_some());
        let len = rest
            .iter()
            .take_while(|s| cover(s).is_some() == clustered)
            .count();
        let (now, later) = rest.split_at(len);
        rest = later;
        more = match key {
            Some(key) if clustered => {
                let mut list: Vec<(&Arc<Run>, Vec<&Sealed>)> = Vec::new();
                for s in now {
                    let Some(r) = cover(s) else { continue };
                    match list.last_mut() {
                        Some((l, segs)) if Arc::ptr_eq(l, r) => segs.push(s),
                        _ => list.push((r, vec![*s])),
                    }
                }
                from_runs(&mut reader, c, key, &list, &mut hits)?
            }
            _ => from_segments(&mut reader, c, now, &mut hits)?,
        };
    }
    let next = if more {
        hits.last().map(|h| h.seq)
    } else {
        None
    };
    Ok(Page { hits, next })
}

/// Collect from sealed segments (newest first) by their indexes, in growing groups.
fn from_segments(
    reader: &mut RecordReader,
    c: &Compiled,
    segs: &[&Sealed],
    hits: &mut Vec<Hit>,
) -> Result<bool, SearchError> {
    let mut rest = segs;
    // Segments left after the filters mostly hold a match each (a key's false positives
    // are about one in a hundred), so the first group is as many as the page still needs
    // and a quarter more: a page spread thinly over the log then costs one round of index
    // reads and one of record reads; a session packed into a few segments has few
    // candidates anyway.
    let first = (c.limit + 1).saturating_sub(hits.len());
    let mut more = false;
    let (mut group, mut looked, mut found) = (
        first.saturating_add(first / 4).clamp(4, 256),
        0usize,
        0usize,
    );
    while !more && !rest.is_empty() {
        let (now, later) = rest.split_at(group.min(rest.len()));
        rest = later;
        if c.has_keys() {
            for s in now {
                for k in c.all.iter().chain(&c.any) {
                    s.index.prefetch(*k);
                }
            }
        }
        // Each segment's records are asked for as soon as its index answers, so record
        // reads of the first segments overlap index reads of the later ones.
        reader.close_files();
        let mut spots = Vec::new();
        let need = (c.limit + 1).saturating_sub(hits.len());
        for s in now {
            let mine = candidates_in_order(c, sealed_spots(c, s)?);
            reader.prefetch(mine.iter().take(need.saturating_sub(spots.len())));
            spots.extend(mine);
        }
        looked += now.len();
        found += spots.len();
        // Segments come newest first, each one's records in order: so are all of them.
        more = take(reader, c, &spots, hits)?;
        // The next group: the segments that should hold what the page still needs at the
        // rate seen so far, and a quarter more, so a page costs few rounds and few blocks
        // read in vain.
        let need = (c.limit + 1).saturating_sub(hits.len());
        group = (need.saturating_mul(looked).saturating_mul(5) / 4 / found.max(1)).clamp(4, 256);
    }
    Ok(more)
}

/// Collect from session clusters: runs newest range first, each with the segments it
/// stands for that the query may read (records of others are left out). A run that turns
/// out damaged is passed over for its segments' own records.
fn from_runs(
    reader: &mut RecordReader,
    c: &Compiled,
    key: u64,
    runs: &[(&Arc<Run>, Vec<&Sealed>)],
    hits: &mut Vec<Hit>,
) -> Result<bool, SearchError> {
    let lists: Vec<(&Arc<Run>, Vec<&Block>, &[&Sealed])> = runs
        .iter()
        .map(|(r, segs)| {
            let blocks = r.blocks(key, c.before, c.since, c.until).collect();
            (*r, blocks, segs.as_slice())
        })
        .collect();
    // The blocks that should fill the page are asked for together.
    let need = (c.limit + 1).saturating_sub(hits.len()) as u64;
    let mut asked = 0u64;
    for (r, b) in lists
        .iter()
        .flat_map(|(r, bs, _)| bs.iter().map(move |b| (r, b)))
    {
        if asked >= need {
            break;
        }
        r.prefetch(b);
        asked += b.count;
    }
    let in_range = |t: i64| t >= c.since && t <= c.until;
    for (r, blocks, segs) in lists {
        let allowed: HashSet<u64> = segs.iter().map(|s| s.n).collect();
        let had = hits.len();
        let mut damaged = false;
        for b in blocks {
            let Ok(records) = r.read(b) else {
                damaged = true;
                break;
            };
            for rec in records {
                let h = &rec.header;
                if h.seq >= c.before
                    || !allowed.contains(&rec.segment)
                    || !in_range(h.time)
                    || !c.header_match(h)
                {
                    continue;
                }
                if hits.len() == c.limit {
                    return Ok(true);
                }
                hits.push(reader.hit(
                    rec.header,
                    &rec.payload,
                    &rec.digest,
                    rec.segment,
                    rec.offset,
                ));
            }
        }
        if damaged {
            hits.truncate(had);
            if from_segments(reader, c, segs, hits)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Candidates the query's cursor and time range admit (as far as the index knows a record's
/// time), newest first.
fn candidates_in_order(c: &Compiled, mut spots: Vec<Spot>) -> Vec<Spot> {
    let in_range = |t: i64| t >= c.since && t <= c.until;
    spots.retain(|(_, seq, t, _)| *seq < c.before && t.is_none_or(in_range));
    spots.sort_unstable_by_key(|s| std::cmp::Reverse(s.1));
    spots
}

/// Read candidates (in order, newest first) into the page. True once a match beyond the
/// page's limit is seen (there is a next page).
fn take(
    reader: &mut RecordReader,
    c: &Compiled,
    spots: &[Spot],
    hits: &mut Vec<Hit>,
) -> Result<bool, SearchError> {
    let in_range = |t: i64| t >= c.since && t <= c.until;
    for (n, _, _, off) in spots {
        let hit = match reader.read(*n, *off) {
            Ok(hit) => hit,
            // Retention removed the segment after the query began: its records expired.
            Err(_) if reader.expired(*n) => continue,
            Err(e) => return Err(e),
        };
        // Times of sealed records found by key are read with the record.
        if !in_range(hit.time) {
            continue;
        }
        // The words of an erased payload are still in the indexes written before the
        // erasure, but not in one rebuilt after it: they match nothing, live or not.
        if c.text && hit.erased {
            continue;
        }
        if hits.len() == c.limit {
            return Ok(true);
        }
        hits.push(hit);
    }
    Ok(false)
}

/// Where a sealed segment's records matching the query are (in no particular order).
fn sealed_spots(c: &Compiled, s: &Sealed) -> Result<Vec<Spot>, SearchError> {
    // Lookups carry each record's offset; a scan without a key reads the whole table.
    let mut offsets: HashMap<u32, u64> = HashMap::new();
    let locals = c.candidates(s.index.count as usize, |k| {
        let found = s.index.lookup(k)?;
        let locals = found.iter().map(|(l, _)| *l).collect();
        offsets.extend(found);
        Ok(locals)
    })?;
    if locals.is_empty() {
        return Ok(Vec::new());
    }
    let seq = |l: u32| s.first_seq.saturating_add(u64::from(l));
    if c.has_keys() {
        return Ok(locals
            .into_iter()
            .filter_map(|l| Some((s.n, seq(l), None, *offsets.get(&l)?)))
            .collect());
    }
    let (offsets, times) = s.index.positions()?;
    Ok(locals
        .into_iter()
        .filter_map(|l| {
            let i = l as usize;
            Some((s.n, seq(l), Some(*times.get(i)?), *offsets.get(i)?))
        })
        .collect())
}

/// Reads records by segment and offset, decrypting payloads whose key still exists.
struct RecordReader {
    dir: PathBuf,
    /// Segment files opened for the current group of candidates.
    open: HashMap<u64, File>,
    keys: Option<Keystore>,
}

/// Bytes asked for ahead of a record: its frame head and, for most records, all the rest.
const RECORD_AHEAD: u64 = 4096;

impl RecordReader {
    fn new(dir: &Path) -> RecordReader {
        RecordReader {
            dir: dir.to_path_buf(),
            open: HashMap::new(),
            keys: Keystore::open(&dir.join("keys")).ok(),
        }
    }

    fn file(&mut self, n: u64) -> Result<&File, SearchError> {
        use std::collections::hash_map::Entry;
        match self.open.entry(n) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let p = self.dir.join(segment_file(n));
                let f =
                    File::open(&p).map_err(|e| SearchError::Io(format!("{}: {e}", p.display())))?;
                crate::readahead::scattered(&f);
                Ok(v.insert(f))
            }
        }
    }

    /// Whether segment `n` has been removed by retention (the manifest says so now).
    fn expired(&self, n: u64) -> bool {
        Manifest::load(&self.dir).is_ok_and(|m| {
            m.segments
                .iter()
                .any(|s| s.segment == n && s.state == SegmentState::Removed)
        })
    }

    /// Close the segment files opened so far: a query keeps at most a group's open.
    fn close_files(&mut self) {
        self.open.clear();
    }

    /// Ask for the records at these places without waiting, so they are read together.
    fn prefetch<'a>(&mut self, spots: impl Iterator<Item = &'a Spot>) {
        for &(n, _, _, offset) in spots {
            // A file that cannot be opened is reported by the read that needs it.
            if let Ok(f) = self.file(n) {
                crate::readahead::will_need(f, offset, RECORD_AHEAD);
            }
        }
    }

    fn read(&mut self, n: u64, offset: u64) -> Result<Hit, SearchError> {
        use std::os::unix::fs::FileExt;
        let f = self.file(n)?;
        let io = |e: std::io::Error| SearchError::Io(format!("segment {n} at byte {offset}: {e}"));
        let mut head = [0u8; crate::codec::FRAME_HEAD];
        f.read_exact_at(&mut head, offset).map_err(io)?;
        let [_, a, b, c, d, ..] = head;
        let len = u32::from_le_bytes([a, b, c, d]) as usize;
        if len > crate::codec::MAX_BODY {
            return Err(SearchError::Io(format!(
                "segment {n} at byte {offset}: bad frame"
            )));
        }
        let mut frame = vec![0u8; len + 32];
        f.read_exact_at(&mut frame, offset + crate::codec::FRAME_HEAD as u64)
            .map_err(io)?;
        let (body, digest) = frame.split_at(len);
        let (h, payload) = decode_record(body)
            .map_err(|e| SearchError::Io(format!("segment {n} at byte {offset}: {e}")))?;
        Ok(self.hit(h, payload, digest, n, offset))
    }

    fn hit(&mut self, h: Header, payload: &[u8], digest: &[u8], n: u64, offset: u64) -> Hit {
        let key = if h.encrypted() {
            self.keys.as_mut().and_then(|k| k.get(&h.identity))
        } else {
            None
        };
        Hit::of(h, payload, key, hex(digest), n, offset)
    }
}

impl Hit {
    /// A record as a hit: its payload opened with `key` when it is encrypted (no key, or
    /// the wrong one: erased).
    pub(crate) fn of(
        h: Header,
        payload: &[u8],
        key: Option<[u8; 32]>,
        hash: String,
        segment: u64,
        offset: u64,
    ) -> Hit {
        let encrypted = h.encrypted();
        let plain = if encrypted {
            key.and_then(|k| crate::privacy::open(&k, h.seq, payload))
        } else {
            Some(payload.to_vec())
        };
        Hit {
            seq: h.seq,
            time: h.time,
            kind: h
                .kind()
                .map_or_else(|| h.kind.to_string(), |k| k.as_str().to_string()),
            class_uid: h.class_uid,
            uid: h.uid,
            session: h.session,
            identity: h.identity,
            app: h.app,
            action: h.action,
            hash,
            segment,
            offset,
            encrypted,
            erased: encrypted && plain.is_none(),
            payload: plain.and_then(|p| serde_json::from_slice(&p).ok()),
        }
    }
}

impl Log {
    /// Run a query on the live log.
    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        let events = finding_events(q, |c| self.search_compiled(c))?;
        let c = Compiled::new(q, events)?;
        self.search_compiled(&c)
    }

    fn search_compiled(&self, c: &Compiled) -> Result<Page, SearchError> {
        let (dir, active, sealed) = {
            let w = self
                .shared
                .writer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (n, first, m, durable) = w.active_view();
            let mut active = active_spots(c, n, first, m)?;
            // Written but not yet synced: not evidence until acknowledged.
            active.retain(|(_, seq, _, _)| *seq <= durable);
            let sealed: Vec<Sealed> = w
                .manifest
                .segments
                .iter()
                .filter(|s| s.state == SegmentState::Sealed)
                .filter_map(|s| {
                    Some(Sealed {
                        n: s.segment,
                        first_seq: s.first_seq,
                        min_time: s.min_time,
                        max_time: s.max_time,
                        index: Arc::clone(w.sealed.get(&s.segment)?),
                    })
                })
                .collect();
            (w.dir.clone(), active, sealed)
        };
        run(&dir, c, active, &sealed, &self.shared.clusters.runs())
    }
}
