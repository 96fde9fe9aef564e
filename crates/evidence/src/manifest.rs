//! The manifest: which segments make the log, where each starts and ends in the chain, and
//! the tombstones of removed ones. Replaced atomically (write, sync, rename, sync the
//! directory) and signed, so a reader never sees half of one and an edit is detected.

use crate::codec::{Hash, Kind, hex, unhex};
use crate::sign::{Signer, Tombstone, verify_manifest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Manifest file name.
pub const MANIFEST: &str = "MANIFEST";
/// Format tag.
pub const FORMAT: &str = "midwatch-evidence/1";

/// State of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentState {
    /// Being written.
    Active,
    /// Complete, ends with a checkpoint, has an index file.
    Sealed,
    /// Removed by retention; its tombstone is in the manifest.
    Removed,
}

/// One segment in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    /// Segment number.
    pub segment: u64,
    /// File name.
    pub file: String,
    /// State.
    pub state: SegmentState,
    /// First record's sequence number.
    pub first_seq: u64,
    /// Last record's sequence number (sealed and removed segments).
    #[serde(default)]
    pub last_seq: u64,
    /// Chain hash before the first record (hex).
    pub prev_hash: String,
    /// Chain hash of the last record (hex; sealed and removed segments).
    #[serde(default)]
    pub last_hash: String,
    /// Checkpoint digest before the segment (hex).
    pub prev_checkpoint: String,
    /// Digest of the segment's last checkpoint (hex; sealed and removed segments).
    #[serde(default)]
    pub last_checkpoint: String,
    /// Size in bytes (sealed segments).
    #[serde(default)]
    pub bytes: u64,
    /// Earliest record time, epoch ms.
    #[serde(default)]
    pub min_time: i64,
    /// Latest record time, epoch ms.
    #[serde(default)]
    pub max_time: i64,
    /// Latest record time per kind present.
    #[serde(default)]
    pub kinds: BTreeMap<String, i64>,
}

fn bytes32(s: &str) -> Hash {
    unhex::<32>(s).unwrap_or([0; 32])
}

impl SegmentEntry {
    /// The entry of a new active segment.
    pub fn active(n: u64, first_seq: u64, prev_hash: Hash, prev_checkpoint: Hash) -> SegmentEntry {
        SegmentEntry {
            segment: n,
            file: crate::log::segment_file(n),
            state: SegmentState::Active,
            first_seq,
            last_seq: 0,
            prev_hash: hex(&prev_hash),
            last_hash: String::new(),
            prev_checkpoint: hex(&prev_checkpoint),
            last_checkpoint: String::new(),
            bytes: 0,
            min_time: 0,
            max_time: 0,
            kinds: BTreeMap::new(),
        }
    }

    /// `prev_hash` as bytes.
    pub fn prev_hash_bytes(&self) -> Hash {
        bytes32(&self.prev_hash)
    }

    /// `last_hash` as bytes.
    pub fn last_hash_bytes(&self) -> Hash {
        bytes32(&self.last_hash)
    }

    /// `prev_checkpoint` as bytes.
    pub fn prev_checkpoint_bytes(&self) -> Hash {
        bytes32(&self.prev_checkpoint)
    }

    /// `last_checkpoint` as bytes.
    pub fn last_checkpoint_bytes(&self) -> Hash {
        bytes32(&self.last_checkpoint)
    }

    /// Whether every kind in the segment is past its retention at `now`.
    pub fn expired(&self, now: i64, retention: &BTreeMap<Kind, i64>) -> bool {
        !self.kinds.is_empty()
            && self.kinds.iter().all(|(k, latest)| {
                Kind::parse(k)
                    .and_then(|k| retention.get(&k))
                    .is_some_and(|keep| latest.saturating_add(*keep) <= now)
            })
    }
}

/// Why a manifest cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// No manifest: not a log (or a new one).
    #[error("no evidence log here (no MANIFEST)")]
    Missing,
    /// Unreadable file or JSON.
    #[error("MANIFEST unreadable: {0}")]
    Unreadable(String),
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format tag.
    pub format: String,
    /// Public key of the signer (hex).
    pub public_key: String,
    /// Its id (hex).
    pub key_id: String,
    /// Segments in order.
    pub segments: Vec<SegmentEntry>,
    /// Signed tombstones of removed segments (hex).
    #[serde(default)]
    pub tombstones: Vec<String>,
    /// Signature over the manifest with this field empty (hex).
    #[serde(default)]
    pub signature: String,
}

impl Manifest {
    /// A manifest for a new log.
    pub fn new(signer: &Signer) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            public_key: hex(&signer.public_key()),
            key_id: hex(&signer.key_id()),
            segments: Vec::new(),
            tombstones: Vec::new(),
            signature: String::new(),
        }
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        serde_json::to_vec(&unsigned).unwrap_or_default()
    }

    /// Whether the signature is valid for the manifest's own public key.
    pub fn signature_ok(&self) -> bool {
        match (unhex::<32>(&self.public_key), unhex::<64>(&self.signature)) {
            (Some(pk), Some(sig)) => verify_manifest(&pk, &self.signed_bytes(), &sig),
            _ => false,
        }
    }

    /// Read the manifest of `dir`.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        Manifest::parse(&Manifest::read(dir)?)
    }

    /// The manifest file's bytes.
    pub fn read(dir: &Path) -> Result<Vec<u8>, ManifestError> {
        match std::fs::read(dir.join(MANIFEST)) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ManifestError::Missing),
            Err(e) => Err(ManifestError::Unreadable(e.to_string())),
        }
    }

    /// A manifest from its file's bytes, which must be in the writer's canonical form.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Unreadable(e.to_string()))?;
        // One spelling: the file must be exactly what the writer writes for these values.
        if serde_json::to_vec_pretty(&m).ok().as_deref() != Some(bytes) {
            return Err(ManifestError::Unreadable(
                "not in the writer's canonical form (edited)".into(),
            ));
        }
        if m.format != FORMAT {
            return Err(ManifestError::Unreadable(format!(
                "format `{}`, expected `{FORMAT}`",
                m.format
            )));
        }
        Ok(m)
    }

    /// Sign and store atomically.
    pub fn store(&mut self, dir: &Path, signer: &Signer) -> Result<(), crate::log::LogError> {
        use std::io::Write;
        self.signature.clear();
        self.signature = hex(&signer.sign_manifest(&self.signed_bytes()));
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        let tmp = dir.join("MANIFEST.tmp");
        let path = dir.join(MANIFEST);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            crate::log::sync_dir(dir)
        };
        write().map_err(crate::log::io_err(&path))
    }

    /// Replace a segment's entry with its sealed form.
    pub fn seal(&mut self, entry: SegmentEntry) {
        match self
            .segments
            .iter_mut()
            .find(|s| s.segment == entry.segment)
        {
            Some(s) => *s = entry,
            None => self.segments.push(entry),
        }
    }

    /// Mark a segment removed and keep its tombstone.
    pub fn bury(&mut self, segment: u64, t: &Tombstone) {
        if let Some(s) = self.segments.iter_mut().find(|s| s.segment == segment) {
            s.state = SegmentState::Removed;
        }
        self.tombstones.push(t.to_hex());
    }

    /// The tombstones, decoded (undecodable ones are skipped; verification reports them).
    pub fn decoded_tombstones(&self) -> Vec<Tombstone> {
        self.tombstones
            .iter()
            .filter_map(|h| decode_hex(h))
            .filter_map(|b| Tombstone::decode(&b).ok())
            .collect()
    }
}

/// Decode hex of any even length.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect()
}
