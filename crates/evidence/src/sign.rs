//! Signing keys, signed checkpoints and signed tombstones.
//!
//! A checkpoint signs the chain hash and the Merkle root of the records since the previous
//! checkpoint, and links to that checkpoint, so checkpoints form their own chain. A tombstone
//! signs what a removed segment held so the chain can be followed across the gap.

use crate::codec::{DecodeError, Hash, Reader, hex, sha256, unhex};
use ring::rand::SecureRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::path::Path;

/// Domain prefix of checkpoint signatures.
const CHECKPOINT_DOMAIN: &[u8] = b"midwatch-evidence checkpoint v1\0";
/// Domain prefix of tombstone signatures.
const TOMBSTONE_DOMAIN: &[u8] = b"midwatch-evidence tombstone v1\0";
/// Domain prefix of manifest signatures.
const MANIFEST_DOMAIN: &[u8] = b"midwatch-evidence manifest v1\0";
/// Domain prefix of bundle manifest signatures.
const BUNDLE_DOMAIN: &[u8] = b"midwatch-evidence bundle v1\0";
/// Domain of session cluster run tables.
const RUN_DOMAIN: &[u8] = b"midwatch-evidence cluster run v1\0";

/// Why a key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read or written.
    #[error("key file `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("key file `{0}`: expected 64 hex digits (an Ed25519 seed)")]
    Format(String),
    /// The system has no randomness.
    #[error("no system randomness")]
    Random,
}

/// The log's signing key (Ed25519).
pub struct Signer {
    pair: Ed25519KeyPair,
    seed: [u8; 32],
}

impl Clone for Signer {
    fn clone(&self) -> Signer {
        Signer::from_seed(&self.seed)
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &hex(&self.key_id()))
            .finish_non_exhaustive()
    }
}

/// 32 random bytes.
pub fn random32() -> Result<[u8; 32], KeyError> {
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KeyError::Random)?;
    Ok(b)
}

impl Signer {
    /// A signer from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Signer {
        // A 32-byte seed is always a valid Ed25519 private key.
        match Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(pair) => Signer { pair, seed: *seed },
            Err(_) => unreachable_seed(),
        }
    }

    /// Read the seed (64 hex digits) from `path`, creating the file with a fresh seed, readable
    /// by its owner only, when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Signer, KeyError> {
        load_or_create_secret(path).map(|seed| Signer::from_seed(&seed))
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.pair.public_key().as_ref());
        k
    }

    /// The public key's id: the first 8 bytes of its SHA-256.
    pub fn key_id(&self) -> [u8; 8] {
        key_id(&self.public_key())
    }

    fn sign(&self, domain: &[u8], body: &[u8]) -> [u8; 64] {
        let mut msg = Vec::with_capacity(domain.len() + body.len());
        msg.extend_from_slice(domain);
        msg.extend_from_slice(body);
        let mut s = [0u8; 64];
        s.copy_from_slice(self.pair.sign(&msg).as_ref());
        s
    }

    /// Sign a manifest's canonical bytes.
    pub fn sign_manifest(&self, body: &[u8]) -> [u8; 64] {
        self.sign(MANIFEST_DOMAIN, body)
    }

    /// Sign a bundle manifest's canonical bytes.
    pub fn sign_bundle(&self, body: &[u8]) -> [u8; 64] {
        self.sign(BUNDLE_DOMAIN, body)
    }

    /// Sign a session cluster run's table (which holds the hash of every block).
    pub fn sign_run(&self, body: &[u8]) -> [u8; 64] {
        self.sign(RUN_DOMAIN, body)
    }
}

#[expect(clippy::panic, reason = "ring accepts every 32-byte Ed25519 seed")]
fn unreachable_seed() -> ! {
    panic!("ed25519 seed rejected")
}

/// Read a 32-byte secret (64 hex digits) from `path`, creating the file with a fresh one,
/// readable by its owner only, when it does not exist.
pub fn load_or_create_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => unhex::<32>(&text).ok_or(KeyError::Format(shown)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random32()?;
            write_secret(path, hex(&secret).as_bytes()).map_err(|source| KeyError::Io {
                path: shown,
                source,
            })?;
            Ok(secret)
        }
        Err(source) => Err(KeyError::Io {
            path: shown,
            source,
        }),
    }
}

/// Write a file only its owner can read, durably and whole: written beside it, synced, then
/// linked into place (never over an existing file), so a crash leaves no part of a key.
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::hard_link(&tmp, path)?;
    std::fs::remove_file(&tmp)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::log::sync_dir(dir)
}

/// The id of a public key: the first 8 bytes of its SHA-256.
pub fn key_id(public: &[u8; 32]) -> [u8; 8] {
    let mut id = [0u8; 8];
    id.copy_from_slice(sha256(public).get(..8).unwrap_or(&[0; 8]));
    id
}

/// Whether `sig` is `public`'s signature of `body` in `domain`.
fn verify_sig(public: &[u8; 32], domain: &[u8], body: &[u8], sig: &[u8; 64]) -> bool {
    let mut msg = Vec::with_capacity(domain.len() + body.len());
    msg.extend_from_slice(domain);
    msg.extend_from_slice(body);
    UnparsedPublicKey::new(&ED25519, public)
        .verify(&msg, sig)
        .is_ok()
}

/// Whether `sig` signs a manifest's canonical bytes.
pub fn verify_manifest(public: &[u8; 32], body: &[u8], sig: &[u8; 64]) -> bool {
    verify_sig(public, MANIFEST_DOMAIN, body, sig)
}

/// Whether `sig` signs a bundle manifest's canonical bytes.
pub fn verify_bundle(public: &[u8; 32], body: &[u8], sig: &[u8; 64]) -> bool {
    verify_sig(public, BUNDLE_DOMAIN, body, sig)
}

/// Whether `sig` signs a session cluster run's table.
pub fn verify_run(public: &[u8; 32], body: &[u8], sig: &[u8; 64]) -> bool {
    verify_sig(public, RUN_DOMAIN, body, sig)
}

/// A signed statement that the records `first_seq..=last_seq` chain to `chain_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// First record covered.
    pub first_seq: u64,
    /// Last record covered.
    pub last_seq: u64,
    /// Chain hash of the last record covered.
    pub chain_hash: Hash,
    /// Merkle root over the chain hashes of the records covered.
    pub merkle_root: Hash,
    /// Digest of the previous checkpoint (zero for the first).
    pub prev: Hash,
    /// When it was signed, epoch ms.
    pub time: i64,
    /// Signing key id.
    pub key_id: [u8; 8],
    /// Ed25519 signature over everything above.
    pub signature: [u8; 64],
}

/// A signed statement of the log: its domain, the bytes the signature covers, and where the
/// key id and signature live.
trait Statement {
    const DOMAIN: &'static [u8];
    fn signed_part(&self) -> Vec<u8>;
    fn key_id(&self) -> [u8; 8];
    fn signature(&self) -> &[u8; 64];
    fn set_signature(&mut self, key_id: [u8; 8], signature: [u8; 64]);
}

fn sign_statement<T: Statement>(mut t: T, signer: &Signer) -> T {
    t.set_signature(signer.key_id(), [0; 64]);
    let sig = signer.sign(T::DOMAIN, &t.signed_part());
    t.set_signature(signer.key_id(), sig);
    t
}

fn verify_statement<T: Statement>(t: &T, public: &[u8; 32]) -> bool {
    t.key_id() == key_id(public) && verify_sig(public, T::DOMAIN, &t.signed_part(), t.signature())
}

fn encode_statement<T: Statement>(t: &T) -> Vec<u8> {
    let mut out = t.signed_part();
    out.extend_from_slice(t.signature());
    out
}

/// The key id and signature that end a statement's body.
fn read_signature(r: &mut Reader<'_>) -> Result<([u8; 8], [u8; 64]), DecodeError> {
    let mut id = [0; 8];
    id.copy_from_slice(r.take(8)?);
    let mut sig = [0; 64];
    sig.copy_from_slice(r.take(64)?);
    Ok((id, sig))
}

macro_rules! statement {
    ($t:ty, $domain:expr) => {
        impl Statement for $t {
            const DOMAIN: &'static [u8] = $domain;
            fn signed_part(&self) -> Vec<u8> {
                self.signed_part()
            }
            fn key_id(&self) -> [u8; 8] {
                self.key_id
            }
            fn signature(&self) -> &[u8; 64] {
                &self.signature
            }
            fn set_signature(&mut self, key_id: [u8; 8], signature: [u8; 64]) {
                self.key_id = key_id;
                self.signature = signature;
            }
        }
    };
}

statement!(Checkpoint, CHECKPOINT_DOMAIN);
statement!(Tombstone, TOMBSTONE_DOMAIN);

impl Checkpoint {
    fn signed_part(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.push(1);
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.last_seq.to_le_bytes());
        out.extend_from_slice(&self.chain_hash);
        out.extend_from_slice(&self.merkle_root);
        out.extend_from_slice(&self.prev);
        out.extend_from_slice(&self.time.to_le_bytes());
        out.extend_from_slice(&self.key_id);
        out
    }

    /// Fill in the key id and signature.
    pub fn sign(self, signer: &Signer) -> Checkpoint {
        sign_statement(self, signer)
    }

    /// Whether the signature is `public`'s.
    pub fn verify(&self, public: &[u8; 32]) -> bool {
        verify_statement(self, public)
    }

    /// Encode the body.
    pub fn encode(&self) -> Vec<u8> {
        encode_statement(self)
    }

    /// Decode a body.
    pub fn decode(body: &[u8]) -> Result<Checkpoint, DecodeError> {
        let mut r = Reader::new(body);
        r.version()?;
        let mut c = Checkpoint {
            first_seq: r.u64()?,
            last_seq: r.u64()?,
            chain_hash: r.hash()?,
            merkle_root: r.hash()?,
            prev: r.hash()?,
            time: r.i64()?,
            key_id: [0; 8],
            signature: [0; 64],
        };
        (c.key_id, c.signature) = read_signature(&mut r)?;
        r.finish()?;
        if c.first_seq == 0 || c.last_seq < c.first_seq {
            return Err(DecodeError::Range("checkpoint range"));
        }
        Ok(c)
    }

    /// The digest the next checkpoint links to.
    pub fn digest(&self) -> Hash {
        sha256(&self.encode())
    }
}

/// A signed statement that a segment was removed by retention, and what it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Segment number removed.
    pub segment: u64,
    /// First record it held.
    pub first_seq: u64,
    /// Last record it held.
    pub last_seq: u64,
    /// Chain hash before its first record.
    pub prev_hash: Hash,
    /// Chain hash of its last record.
    pub last_hash: Hash,
    /// Checkpoint digest before the segment.
    pub prev_checkpoint: Hash,
    /// Digest of its last checkpoint.
    pub last_checkpoint: Hash,
    /// When it was removed, epoch ms.
    pub time: i64,
    /// Why (`retention event=90d`).
    pub reason: String,
    /// Signing key id.
    pub key_id: [u8; 8],
    /// Signature.
    pub signature: [u8; 64],
}

impl Tombstone {
    fn signed_part(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(220);
        out.push(1);
        out.extend_from_slice(&self.segment.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.last_seq.to_le_bytes());
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.last_hash);
        out.extend_from_slice(&self.prev_checkpoint);
        out.extend_from_slice(&self.last_checkpoint);
        out.extend_from_slice(&self.time.to_le_bytes());
        crate::codec::put_str(&mut out, &self.reason);
        out.extend_from_slice(&self.key_id);
        out
    }

    /// Fill in the key id and signature.
    pub fn sign(self, signer: &Signer) -> Tombstone {
        sign_statement(self, signer)
    }

    /// Whether the signature is `public`'s.
    pub fn verify(&self, public: &[u8; 32]) -> bool {
        verify_statement(self, public)
    }

    /// Encode the body.
    pub fn encode(&self) -> Vec<u8> {
        encode_statement(self)
    }

    /// Decode a body.
    pub fn decode(body: &[u8]) -> Result<Tombstone, DecodeError> {
        let mut r = Reader::new(body);
        r.version()?;
        let mut t = Tombstone {
            segment: r.u64()?,
            first_seq: r.u64()?,
            last_seq: r.u64()?,
            prev_hash: r.hash()?,
            last_hash: r.hash()?,
            prev_checkpoint: r.hash()?,
            last_checkpoint: r.hash()?,
            time: r.i64()?,
            reason: r.string("reason")?,
            key_id: [0; 8],
            signature: [0; 64],
        };
        (t.key_id, t.signature) = read_signature(&mut r)?;
        r.finish()?;
        Ok(t)
    }

    /// Hex encoding of the whole signed tombstone (as the manifest keeps it).
    pub fn to_hex(&self) -> String {
        hex(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn checkpoints_sign_and_refuse_any_change() {
        let s = Signer::from_seed(&[7; 32]);
        let c = Checkpoint {
            first_seq: 1,
            last_seq: 10,
            chain_hash: [1; 32],
            merkle_root: [2; 32],
            prev: [0; 32],
            time: 5,
            key_id: [0; 8],
            signature: [0; 64],
        }
        .sign(&s);
        assert!(c.verify(&s.public_key()));
        let back = Checkpoint::decode(&c.encode()).unwrap();
        assert_eq!(back, c);
        let mut forged = c.clone();
        forged.last_seq = 11;
        assert!(!forged.verify(&s.public_key()));
        let other = Signer::from_seed(&[8; 32]);
        assert!(!c.verify(&other.public_key()));
    }

    #[test]
    fn key_files_are_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let a = Signer::load_or_create(&p).unwrap();
        let b = Signer::load_or_create(&p).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        std::fs::write(dir.path().join("bad"), "nope").unwrap();
        assert!(matches!(
            Signer::load_or_create(&dir.path().join("bad")),
            Err(KeyError::Format(_))
        ));
    }
}
