//! Evidence bundles: the records of a session, identity, finding or time range in one tar
//! archive anyone can check offline with the `midwatch` binary alone.
//!
//! | file | holds |
//! |---|---|
//! | `bundle.json` | what was selected, the public key, counts, the SHA-256 of every other file; signed |
//! | `records.ndjson` | each record's body exactly as chained, the chain hash before it, its hash, and a Merkle path to its checkpoint |
//! | `checkpoints.ndjson` | the signed checkpoints those paths lead to |
//! | `keys.json` | payload keys of the identities in the bundle (erased identities have none) |
//! | `timeline.html` | the readable timeline |

use crate::codec::{Hash, Header, chain_hash, decode_record, hex, sha256, unhex};
use crate::html::{PageInfo, timeline};
use crate::log::segment_file;
use crate::manifest::decode_hex;
use crate::merkle;
use crate::privacy::Keystore;
use crate::search::{Hit, Query, Snapshot};
use crate::sign::{Checkpoint, Signer};
use crate::verify::{Options, Problem, Report, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Format tag of `bundle.json`.
pub const FORMAT: &str = "midwatch-evidence-bundle/1";
/// Most records one bundle holds.
pub const MAX_RECORDS: usize = 2_000_000;

/// What to put in a bundle. At least one criterion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Selection {
    /// A session's records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// An identity's records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// A finding and the events of its evidence chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// From (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Until (epoch ms, inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Only records up to this sequence number (the last one a checkpoint covers, when the
    /// log keeps growing during the export).
    #[serde(skip)]
    pub upto: Option<u64>,
}

impl Selection {
    /// A line saying what was selected.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.session {
            parts.push(format!("session {s}"));
        }
        if let Some(s) = &self.identity {
            parts.push(format!("identity {s}"));
        }
        if let Some(s) = &self.finding {
            parts.push(format!("finding {s}"));
        }
        match (self.since, self.until) {
            (Some(a), Some(b)) => parts.push(format!(
                "{} to {} UTC",
                crate::html::utc(a),
                crate::html::utc(b)
            )),
            (Some(a), None) => parts.push(format!("since {} UTC", crate::html::utc(a))),
            (None, Some(b)) => parts.push(format!("until {} UTC", crate::html::utc(b))),
            (None, None) => {}
        }
        parts.join(", ")
    }

    fn query(&self, before: Option<u64>) -> Query {
        let cap = self.upto.map(|u| u.saturating_add(1));
        let before = match (before, cap) {
            (Some(b), Some(c)) => Some(b.min(c)),
            (b, c) => b.or(c),
        };
        Query {
            session: self.session.clone(),
            identity: self.identity.clone(),
            finding: self.finding.clone(),
            since: self.since,
            until: self.until,
            before,
            limit: Some(crate::search::MAX_LIMIT),
            ..Query::default()
        }
    }
}

/// Why a bundle cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Nothing selected.
    #[error("select a session, identity, finding or time range")]
    Empty,
    /// No record matched.
    #[error("no record matches {0}")]
    NoRecords(String),
    /// Too many records.
    #[error("{0} records match; a bundle holds at most {MAX_RECORDS}: narrow the selection")]
    TooMany(usize),
    /// Search failed.
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
    /// Reading the log or writing the bundle failed.
    #[error("{0}")]
    Io(String),
    /// A selected record is not yet under a signed checkpoint.
    #[error(
        "record {0} is not yet under a signed checkpoint; sign one first (the server does before exporting)"
    )]
    Unsigned(u64),
}

/// `bundle.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Format tag.
    pub format: String,
    /// When it was made, epoch ms.
    pub created: i64,
    /// What was selected, in words.
    pub selection: String,
    /// Signing key (hex).
    pub public_key: String,
    /// Its id (hex).
    pub key_id: String,
    /// Records in the bundle.
    pub records: u64,
    /// Checkpoints in the bundle.
    pub checkpoints: u64,
    /// SHA-256 (hex) of every other file.
    pub files: BTreeMap<String, String>,
    /// Signature over this manifest with this field empty (hex).
    #[serde(default)]
    pub signature: String,
}

impl BundleManifest {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut m = self.clone();
        m.signature.clear();
        serde_json::to_vec(&m).unwrap_or_default()
    }
}

/// One line of `records.ndjson`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordLine {
    seq: u64,
    segment: u64,
    offset: u64,
    prev: String,
    body: String,
    hash: String,
    checkpoint: u64,
    proof: Vec<String>,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Records.
    pub records: u64,
    /// Checkpoints.
    pub checkpoints: u64,
    /// Bytes of the archive.
    pub bytes: u64,
    /// What was selected.
    pub selection: String,
}

/// Write a bundle of the records `sel` picks from the log in `dir` to `out`.
pub fn export(
    dir: &Path,
    signer: &Signer,
    sel: &Selection,
    out: &Path,
) -> Result<Summary, BundleError> {
    if sel.session.is_none()
        && sel.identity.is_none()
        && sel.finding.is_none()
        && sel.since.is_none()
        && sel.until.is_none()
    {
        return Err(BundleError::Empty);
    }
    let snap = Snapshot::open(dir)?;
    let mut hits: Vec<Hit> = Vec::new();
    let mut before = None;
    loop {
        let page = snap.search(&sel.query(before))?;
        hits.extend(page.hits);
        if hits.len() > MAX_RECORDS {
            return Err(BundleError::TooMany(hits.len()));
        }
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    if hits.is_empty() {
        return Err(BundleError::NoRecords(sel.describe()));
    }
    hits.sort_by_key(|h| h.seq);
    let (lines, checkpoints) = proofs(dir, &hits)?;
    let mut keys = Keystore::open(&dir.join("keys")).map_err(|e| BundleError::Io(e.to_string()))?;
    let identities: BTreeSet<&str> = hits
        .iter()
        .filter(|h| h.encrypted)
        .map(|h| h.identity.as_str())
        .collect();
    let mut key_map = BTreeMap::new();
    for i in identities {
        if let Some(k) = keys.get(i) {
            key_map.insert(i.to_string(), hex(&k));
        }
    }
    let mut records = String::new();
    for l in &lines {
        records.push_str(&serde_json::to_string(l).unwrap_or_default());
        records.push('\n');
    }
    let mut cps = String::new();
    for c in checkpoints.values() {
        cps.push_str(&hex(&c.encode()));
        cps.push('\n');
    }
    let created = crate::now_ms();
    let page = timeline(
        &PageInfo {
            selection: sel.describe(),
            created,
            key_id: hex(&signer.key_id()),
        },
        &hits,
    );
    let keys_json = serde_json::to_vec_pretty(&serde_json::json!({ "identities": key_map }))
        .unwrap_or_default();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("records.ndjson", records.into_bytes()),
        ("checkpoints.ndjson", cps.into_bytes()),
        ("keys.json", keys_json),
        ("timeline.html", page.into_bytes()),
    ];
    let mut m = BundleManifest {
        format: FORMAT.into(),
        created,
        selection: sel.describe(),
        public_key: hex(&signer.public_key()),
        key_id: hex(&signer.key_id()),
        records: lines.len() as u64,
        checkpoints: checkpoints.len() as u64,
        files: files
            .iter()
            .map(|(n, b)| ((*n).to_string(), hex(&sha256(b))))
            .collect(),
        signature: String::new(),
    };
    m.signature = hex(&signer.sign_bundle(&m.signed_bytes()));
    let mut entries = vec![(
        "bundle.json",
        serde_json::to_vec_pretty(&m).unwrap_or_default(),
    )];
    entries.extend(files);
    let archive = tar::write(&entries, created / 1000);
    // The bundle holds identity keys: readable by its owner only.
    let tmp = out.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&archive)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    write().map_err(|e| BundleError::Io(format!("{}: {e}", out.display())))?;
    Ok(Summary {
        records: m.records,
        checkpoints: m.checkpoints,
        bytes: archive.len() as u64,
        selection: m.selection,
    })
}

/// For each selected record: its bytes, the hash before it, and its Merkle path to the
/// checkpoint after it; and those checkpoints.
fn proofs(
    dir: &Path,
    hits: &[Hit],
) -> Result<(Vec<RecordLine>, BTreeMap<u64, Checkpoint>), BundleError> {
    let mut by_segment: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for h in hits {
        by_segment.entry(h.segment).or_default().insert(h.seq);
    }
    let mut lines = Vec::with_capacity(hits.len());
    let mut checkpoints = BTreeMap::new();
    for (segment, wanted) in by_segment {
        let path = dir.join(segment_file(segment));
        let bytes = std::fs::read(&path)
            .map_err(|e| BundleError::Io(format!("{}: {e}", path.display())))?;
        let mut prev: Hash = [0; 32];
        let mut leaves: Vec<Hash> = Vec::new();
        let mut pending: Vec<(usize, RecordLine)> = Vec::new();
        for f in crate::codec::Frames::new(&bytes) {
            match f.kind {
                crate::codec::FRAME_HEADER => {
                    if let Ok(h) = crate::codec::SegmentHeader::decode(f.body) {
                        prev = h.prev_hash;
                    }
                }
                crate::codec::FRAME_RECORD => {
                    let Ok((h, _)) = decode_record(f.body) else {
                        continue;
                    };
                    if wanted.contains(&h.seq) {
                        pending.push((
                            leaves.len(),
                            RecordLine {
                                seq: h.seq,
                                segment,
                                offset: f.offset,
                                prev: hex(&prev),
                                body: hex(f.body),
                                hash: hex(&f.digest),
                                checkpoint: 0,
                                proof: Vec::new(),
                            },
                        ));
                    }
                    prev = f.digest;
                    leaves.push(f.digest);
                }
                crate::codec::FRAME_CHECKPOINT => {
                    let Ok(c) = Checkpoint::decode(f.body) else {
                        continue;
                    };
                    if !pending.is_empty() {
                        for (i, mut line) in pending.drain(..) {
                            line.checkpoint = c.last_seq;
                            line.proof = merkle::proof(&leaves, i).iter().map(|p| hex(p)).collect();
                            lines.push(line);
                        }
                        checkpoints.insert(c.last_seq, c);
                    }
                    leaves.clear();
                }
                _ => {}
            }
        }
        if let Some((_, l)) = pending.first() {
            return Err(BundleError::Unsigned(l.seq));
        }
    }
    lines.sort_by_key(|l| l.seq);
    Ok((lines, checkpoints))
}

fn bundle_problem(
    file: &str,
    line: Option<u64>,
    seq: Option<u64>,
    what: impl Into<String>,
) -> Problem {
    Problem {
        line,
        seq,
        ..Problem::in_file(file, what)
    }
}

/// Check a bundle file: its signed manifest, every file's digest, every checkpoint's
/// signature and every record's hash and Merkle path. Records whose identity key is in the
/// bundle must decrypt.
pub fn verify_bundle(path: &Path, opts: &Options) -> Report {
    match std::fs::read(path) {
        Ok(b) => verify_bundle_bytes(&b, &format!("`{}`", path.display()), opts),
        Err(e) => Report::unreadable(format!("`{}`: {e}", path.display())),
    }
}

/// [`verify_bundle`] of a bundle's bytes; `name` says what they are in messages.
pub fn verify_bundle_bytes(bytes: &[u8], name: &str, opts: &Options) -> Report {
    let entries = match tar::read(bytes) {
        Ok(e) => e,
        Err(e) => return Report::unreadable(format!("{name} is not a bundle: {e}")),
    };
    let files: HashMap<&str, &[u8]> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let Some(manifest) = files.get("bundle.json") else {
        return Report::unreadable(format!("{name} is not a bundle: no bundle.json"));
    };
    let mut report = Report::new();
    let m: BundleManifest = match serde_json::from_slice(manifest) {
        Ok(m) => m,
        Err(e) => {
            return report.tampered(bundle_problem(
                "bundle.json",
                None,
                None,
                format!("unreadable: {e}"),
            ));
        }
    };
    report.key_id = m.key_id.clone();
    if m.format != FORMAT {
        return Report::unreadable(format!("bundle format `{}`, expected `{FORMAT}`", m.format));
    }
    let Some(pk) = unhex::<32>(&m.public_key) else {
        return report.tampered(bundle_problem(
            "bundle.json",
            None,
            None,
            "public key unreadable",
        ));
    };
    if let Some(t) = opts.trusted_key
        && t != pk
    {
        return report.tampered(bundle_problem(
            "bundle.json",
            None,
            None,
            format!(
                "signed with key {}, not the trusted key {}",
                hex(&crate::sign::key_id(&pk)),
                hex(&crate::sign::key_id(&t))
            ),
        ));
    }
    let sig_ok = unhex::<64>(&m.signature)
        .is_some_and(|s| crate::sign::verify_bundle(&pk, &m.signed_bytes(), &s));
    if !sig_ok || crate::sign::key_id(&pk) != unhex::<8>(&m.key_id).unwrap_or_default() {
        return report.tampered(bundle_problem(
            "bundle.json",
            None,
            None,
            "signature invalid (bundle manifest edited)",
        ));
    }
    for (name, digest) in &m.files {
        match files.get(name.as_str()) {
            None => {
                return report.tampered(bundle_problem(
                    name,
                    None,
                    None,
                    "listed in bundle.json but missing",
                ));
            }
            Some(b) if hex(&sha256(b)) != *digest => {
                return report.tampered(bundle_problem(
                    name,
                    None,
                    None,
                    "digest differs from bundle.json (file changed)",
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = files
        .keys()
        .find(|n| **n != "bundle.json" && !m.files.contains_key(**n))
    {
        return report.tampered(bundle_problem(
            extra,
            None,
            None,
            "not listed in bundle.json (added)",
        ));
    }
    for required in ["records.ndjson", "checkpoints.ndjson", "keys.json"] {
        if !m.files.contains_key(required) {
            return report.tampered(bundle_problem(
                "bundle.json",
                None,
                None,
                format!("does not list `{required}`"),
            ));
        }
    }
    let text = |name: &str| {
        std::str::from_utf8(files.get(name).copied().unwrap_or_default()).unwrap_or_default()
    };
    let mut cps: HashMap<u64, Checkpoint> = HashMap::new();
    for (n, line) in text("checkpoints.ndjson").lines().enumerate() {
        let line_no = Some(n as u64 + 1);
        let c = decode_hex(line.trim()).and_then(|b| Checkpoint::decode(&b).ok());
        let Some(c) = c else {
            return report.tampered(bundle_problem(
                "checkpoints.ndjson",
                line_no,
                None,
                "not a checkpoint",
            ));
        };
        if !c.verify(&pk) {
            return report.tampered(bundle_problem(
                "checkpoints.ndjson",
                line_no,
                Some(c.last_seq),
                "checkpoint signature invalid (forged checkpoint)",
            ));
        }
        cps.insert(c.last_seq, c);
        report.checkpoints += 1;
    }
    let keys: BTreeMap<String, [u8; 32]> = serde_json::from_slice::<serde_json::Value>(
        files.get("keys.json").copied().unwrap_or_default(),
    )
    .ok()
    .and_then(|v| v.get("identities").cloned())
    .and_then(|v| serde_json::from_value::<BTreeMap<String, String>>(v).ok())
    .map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| Some((k, unhex::<32>(&v)?)))
            .collect()
    })
    .unwrap_or_default();
    let mut last = 0;
    for (n, line) in text("records.ndjson").lines().enumerate() {
        let line_no = Some(n as u64 + 1);
        let bad =
            |seq: Option<u64>, what: &str| bundle_problem("records.ndjson", line_no, seq, what);
        let Ok(r) = serde_json::from_str::<RecordLine>(line) else {
            return report.tampered(bad(None, "not a record line"));
        };
        let seq = Some(r.seq);
        let (Some(prev), Some(hash), Some(body)) = (
            unhex::<32>(&r.prev),
            unhex::<32>(&r.hash),
            decode_hex(&r.body),
        ) else {
            return report.tampered(bad(seq, "unreadable hex"));
        };
        let header: Header = match decode_record(&body) {
            Ok((h, _)) => h,
            Err(e) => return report.tampered(bad(seq, &format!("record undecodable: {e}"))),
        };
        if header.seq != r.seq || r.seq <= last {
            return report.tampered(bad(
                seq,
                "sequence number differs from the record's or out of order",
            ));
        }
        last = r.seq;
        if chain_hash(&prev, &body) != hash {
            return report.tampered(bad(seq, "chain hash mismatch (record changed)"));
        }
        let Some(c) = cps.get(&r.checkpoint) else {
            return report.tampered(bad(seq, "its checkpoint is not in the bundle"));
        };
        let proof: Option<Vec<Hash>> = r.proof.iter().map(|p| unhex::<32>(p)).collect();
        let in_range = (c.first_seq..=c.last_seq).contains(&r.seq);
        let proven = in_range
            && proof.is_some_and(|p| {
                merkle::verify(
                    &hash,
                    r.seq - c.first_seq,
                    c.last_seq - c.first_seq + 1,
                    &p,
                    &c.merkle_root,
                )
            });
        if !proven {
            return report.tampered(bad(
                seq,
                "Merkle path does not lead to its signed checkpoint",
            ));
        }
        if header.encrypted()
            && let Some(k) = keys.get(&header.identity)
            && decode_record(&body)
                .ok()
                .and_then(|(_, p)| crate::privacy::open(k, header.seq, p))
                .is_none()
        {
            return report.tampered(bad(
                seq,
                "payload does not decrypt with the bundle's key for its identity",
            ));
        }
        report.records += 1;
        report.last_seq = r.seq;
    }
    if report.records != m.records || report.checkpoints != m.checkpoints {
        let what = format!(
            "says {} records and {} checkpoints, the bundle holds {} and {}",
            m.records, m.checkpoints, report.records, report.checkpoints
        );
        return report.tampered(bundle_problem("bundle.json", None, None, what));
    }
    report.status = Status::Intact;
    report
}

/// The records of a bundle with their payloads (decrypted where the bundle holds the key).
pub fn read_records(path: &Path) -> Result<Vec<Hit>, BundleError> {
    let bytes =
        std::fs::read(path).map_err(|e| BundleError::Io(format!("{}: {e}", path.display())))?;
    let entries = tar::read(&bytes).map_err(BundleError::Io)?;
    let get = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
            .unwrap_or_default()
    };
    let keys: BTreeMap<String, String> =
        serde_json::from_slice::<serde_json::Value>(get("keys.json"))
            .ok()
            .and_then(|v| serde_json::from_value(v.get("identities")?.clone()).ok())
            .unwrap_or_default();
    let mut out = Vec::new();
    for line in std::str::from_utf8(get("records.ndjson"))
        .unwrap_or_default()
        .lines()
    {
        let Ok(r) = serde_json::from_str::<RecordLine>(line) else {
            continue;
        };
        let Some(body) = decode_hex(&r.body) else {
            continue;
        };
        let Ok((h, payload)) = decode_record(&body) else {
            continue;
        };
        let key = keys.get(&h.identity).and_then(|k| unhex::<32>(k));
        out.push(Hit::of(h, payload, key, r.hash, r.segment, r.offset));
    }
    Ok(out)
}

/// A minimal POSIX ustar writer and reader: regular files only, names under 100 bytes.
pub mod tar {
    /// Most entries a bundle may have.
    const MAX_ENTRIES: usize = 64;

    fn octal(out: &mut [u8], v: u64) {
        let s = format!("{:0width$o}", v, width = out.len().saturating_sub(1));
        for (o, b) in out.iter_mut().zip(s.bytes().chain(std::iter::once(0))) {
            *o = b;
        }
    }

    /// An archive of `(name, bytes)` files.
    pub fn write(entries: &[(&str, Vec<u8>)], mtime: i64) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, bytes) in entries {
            let mut h = [0u8; 512];
            for (o, b) in h.iter_mut().zip(name.bytes().take(99)) {
                *o = b;
            }
            if let Some(f) = h.get_mut(100..108) {
                octal(f, 0o644);
            }
            if let Some(f) = h.get_mut(108..116) {
                octal(f, 0);
            }
            if let Some(f) = h.get_mut(116..124) {
                octal(f, 0);
            }
            if let Some(f) = h.get_mut(124..136) {
                octal(f, bytes.len() as u64);
            }
            if let Some(f) = h.get_mut(136..148) {
                octal(f, mtime.max(0) as u64);
            }
            if let Some(f) = h.get_mut(148..156) {
                f.fill(b' ');
            }
            if let Some(t) = h.get_mut(156) {
                *t = b'0';
            }
            if let Some(f) = h.get_mut(257..265) {
                f.copy_from_slice(b"ustar\x0000");
            }
            let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
            if let Some(f) = h.get_mut(148..155) {
                octal(f, sum);
            }
            out.extend_from_slice(&h);
            out.extend_from_slice(bytes);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn parse_octal(field: &[u8]) -> Option<u64> {
        let s: String = field
            .iter()
            .take_while(|b| **b != 0)
            .map(|b| char::from(*b))
            .collect();
        let s = s.trim();
        if s.is_empty() {
            return Some(0);
        }
        u64::from_str_radix(s, 8).ok()
    }

    /// The regular files of an archive.
    pub fn read(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        loop {
            let Some(h) = bytes.get(pos..pos + 512) else {
                return if out.is_empty() {
                    Err("no tar header".into())
                } else {
                    Err(format!("archive ends inside the header at byte {pos}"))
                };
            };
            if h.iter().all(|b| *b == 0) {
                break;
            }
            let stored = h
                .get(148..156)
                .and_then(parse_octal)
                .ok_or(format!("bad checksum field at byte {pos}"))?;
            let sum: u64 = h
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(*b)
                    }
                })
                .sum();
            if sum != stored {
                return Err(format!("header checksum mismatch at byte {pos}"));
            }
            let name: String = h
                .get(..100)
                .unwrap_or_default()
                .iter()
                .take_while(|b| **b != 0)
                .map(|b| char::from(*b))
                .collect();
            let size = h
                .get(124..136)
                .and_then(parse_octal)
                .ok_or(format!("bad size at byte {pos}"))? as usize;
            let kind = h.get(156).copied().unwrap_or(0);
            // What `tar x` would write must be exactly what was checked: one plain file per
            // name, no prefix, no path, no other kind of entry.
            if kind != b'0' && kind != 0 {
                return Err(format!("entry `{name}` at byte {pos} is not a plain file"));
            }
            if h.get(345..500).is_some_and(|p| p.iter().any(|b| *b != 0)) {
                return Err(format!("entry `{name}` at byte {pos} has a path prefix"));
            }
            if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.')
            {
                return Err(format!(
                    "entry name `{name}` at byte {pos} is not a plain file name"
                ));
            }
            if out.iter().any(|(n, _)| *n == name) {
                return Err(format!("entry `{name}` appears twice"));
            }
            let start = pos + 512;
            let data = bytes
                .get(start..start.checked_add(size).ok_or("size overflow")?)
                .ok_or(format!("`{name}` is cut short"))?;
            if out.len() >= MAX_ENTRIES {
                return Err("too many entries".into());
            }
            out.push((name, data.to_vec()));
            pos = start + size.div_ceil(512) * 512;
        }
        Ok(out)
    }
}
