//! What the log keeps of a person: payloads are cleaned before they are chained (query
//! strings dropped, credentials redacted, chosen fields replaced by keyed pseudonyms) and
//! encrypted with a key of their identity, so erasing that key makes them unreadable while
//! the chain, which hashes the ciphertext, still verifies (crypto-shredding).

use crate::codec::{hex, key_hash, sha256, unhex};
use crate::index::{KeyHasher, field};
use crate::sign::{KeyError, random32, write_secret};
use midwatch_model::secret::looks_like_secret;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How payloads are cleaned before they enter the log.
#[derive(Clone, Default)]
pub struct Privacy {
    /// Keep URL query strings and fragments (dropped by default).
    pub keep_query_strings: bool,
    /// Dotted payload paths whose string values are replaced by a keyed pseudonym
    /// (`actor.user.email_addr`; arrays are walked through).
    pub pseudonymize: Vec<String>,
    /// Key of the pseudonyms (HMAC-SHA-256). Without one, configured paths are refused at
    /// construction by the caller.
    pub pseudonym_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy")
            .field("keep_query_strings", &self.keep_query_strings)
            .field("pseudonymize", &self.pseudonymize)
            .field("pseudonym_key", &self.pseudonym_key.map(|_| "[set]"))
            .finish()
    }
}

/// Marker written in place of a credential.
pub const REDACTED: &str = "[redacted]";

impl Privacy {
    /// Clean a payload in place; returns how many values were changed.
    pub fn apply(&self, v: &mut Value) -> usize {
        let mut changed = 0;
        self.scrub(v, &mut changed);
        if let Some(key) = &self.pseudonym_key {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
            for path in &self.pseudonymize {
                let parts: Vec<&str> = path.split('.').collect();
                pseudonymize_at(v, &parts, &key, &mut changed);
            }
        }
        changed
    }

    fn scrub(&self, v: &mut Value, changed: &mut usize) {
        match v {
            Value::Object(map) => {
                // OCSF `url.query_string`: the query string on its own.
                if !self.keep_query_strings
                    && map
                        .get("query_string")
                        .is_some_and(|q| q.as_str().is_some_and(|q| !q.is_empty()))
                {
                    map.remove("query_string");
                    *changed += 1;
                }
                for (k, child) in map.iter_mut() {
                    if let Value::String(s) = child {
                        if looks_like_secret(s).is_some() {
                            *s = REDACTED.to_string();
                            *changed += 1;
                        } else if k == "url_string" || k == "referrer" || k == "uri" {
                            let mut cut = false;
                            if let Some(at) = userinfo(s) {
                                s.replace_range(at, "");
                                cut = true;
                            }
                            if !self.keep_query_strings
                                && let Some(at) = s.find(['?', '#'])
                            {
                                s.truncate(at);
                                cut = true;
                            }
                            *changed += usize::from(cut);
                        }
                    } else {
                        self.scrub(child, changed);
                    }
                }
            }
            Value::Array(items) => {
                for child in items {
                    if let Value::String(s) = child {
                        if looks_like_secret(s).is_some() {
                            *s = REDACTED.to_string();
                            *changed += 1;
                        }
                    } else {
                        self.scrub(child, changed);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Where the credentials of a URL are (`user:password@` after the scheme), if it has any.
fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = url.get(start..)?;
    let authority = rest
        .find(['/', '?', '#'])
        .map_or(rest, |end| rest.get(..end).unwrap_or(rest));
    let at = authority.rfind('@')?;
    Some(start..start + at + 1)
}

/// The pseudonym of a value: `pseud:` and 32 hex digits of its HMAC-SHA-256.
pub fn pseudonym(key: &ring::hmac::Key, value: &str) -> String {
    let tag = ring::hmac::sign(key, value.as_bytes());
    format!("pseud:{}", hex(tag.as_ref().get(..16).unwrap_or_default()))
}

fn pseudonymize_at(v: &mut Value, path: &[&str], key: &ring::hmac::Key, changed: &mut usize) {
    match (v, path.split_first()) {
        (Value::Array(items), _) => {
            for item in items {
                pseudonymize_at(item, path, key, changed);
            }
        }
        (Value::Object(map), Some((head, rest))) => {
            if let Some(child) = map.get_mut(*head) {
                pseudonymize_at(child, rest, key, changed);
            }
        }
        (Value::String(s), None) if !s.starts_with("pseud:") => {
            *s = pseudonym(key, s);
            *changed += 1;
        }
        _ => {}
    }
}

/// Per-identity payload keys, one file each under a directory. Erasing an identity deletes
/// its key file for good.
#[derive(Debug)]
pub struct Keystore {
    dir: PathBuf,
    cache: HashMap<String, [u8; 32]>,
    /// Expanded sealing keys of the identities the writer saw last (at most
    /// `MAX_SEALERS`): expanding an AES-GCM key costs about as much as sealing a payload.
    /// Keyed by the identity's index key (a cheap, well-mixed hash), the name kept to check.
    sealers: HashMap<u64, (String, Arc<LessSafeKey>), BuildHasherDefault<KeyHasher>>,
}

/// Most expanded sealing keys a key store keeps (about half a KiB each).
const MAX_SEALERS: usize = 16 * 1024;

impl Keystore {
    /// Open (creating) the key directory.
    pub fn open(dir: &Path) -> std::io::Result<Keystore> {
        std::fs::create_dir_all(dir)?;
        Ok(Keystore {
            dir: dir.to_path_buf(),
            cache: HashMap::new(),
            sealers: HashMap::default(),
        })
    }

    fn file(&self, identity: &str) -> PathBuf {
        self.dir.join(hex(sha256(identity.as_bytes())
            .get(..16)
            .unwrap_or_default()))
    }

    /// The identity's key, if it has one (never created here).
    pub fn get(&mut self, identity: &str) -> Option<[u8; 32]> {
        if let Some(k) = self.cache.get(identity) {
            return Some(*k);
        }
        let text = std::fs::read_to_string(self.file(identity)).ok()?;
        let key = unhex::<32>(&text)?;
        self.cache.insert(identity.to_string(), key);
        Some(key)
    }

    /// The identity's key expanded for sealing, created (durably) on first use. Shared, so
    /// that a batch looks each of its records' identities up once.
    pub fn sealer(&mut self, identity: &str) -> Result<Arc<LessSafeKey>, KeyError> {
        let h = key_hash(field::IDENTITY, identity);
        if let Some((name, k)) = self.sealers.get(&h)
            && name == identity
        {
            return Ok(Arc::clone(k));
        }
        let key = self.get_or_create(identity)?;
        let k = UnboundKey::new(&AES_256_GCM, &key)
            .map_err(|_| KeyError::Format(format!("payload key of {identity}")))?;
        if self.sealers.len() >= MAX_SEALERS {
            self.sealers.clear();
        }
        let k = Arc::new(LessSafeKey::new(k));
        // Two names with one hash share the slot: the later one replaces the other.
        self.sealers
            .insert(h, (identity.to_string(), Arc::clone(&k)));
        Ok(k)
    }

    /// The identity's key, created (durably) on first use.
    pub fn get_or_create(&mut self, identity: &str) -> Result<[u8; 32], KeyError> {
        if let Some(k) = self.get(identity) {
            return Ok(k);
        }
        let path = self.file(identity);
        if path.exists() {
            // A key file this store cannot read is not replaced: that would shred the
            // identity's payloads by accident.
            return Err(KeyError::Format(path.display().to_string()));
        }
        let key = random32()?;
        write_secret(&path, hex(&key).as_bytes()).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        crate::log::sync_dir(&self.dir).map_err(|source| KeyError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        self.cache.insert(identity.to_string(), key);
        Ok(key)
    }

    /// Destroy the identity's key. Returns whether there was one.
    pub fn erase(&mut self, identity: &str) -> std::io::Result<bool> {
        self.cache.remove(identity);
        self.sealers.remove(&key_hash(field::IDENTITY, identity));
        match std::fs::remove_file(self.file(identity)) {
            Ok(()) => {
                crate::log::sync_dir(&self.dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Bytes sealing adds to a payload: the writer's salt in front, the tag behind.
pub const SEAL_OVERHEAD: usize = 4 + 16;

/// The nonce of record `seq` sealed by a writer with `salt`. A writer draws a fresh random
/// salt each time it opens the log, so a sequence number given again after a crash cut an
/// unacknowledged record (whose bytes may be on disk) never reuses a nonce with the same key.
fn nonce(salt: [u8; 4], seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    for (d, s) in n.iter_mut().zip(salt.into_iter().chain(seq.to_le_bytes())) {
        *d = s;
    }
    Nonce::assume_unique_for_key(n)
}

/// Append `plain` sealed for record `seq` to `out`: the salt, the ciphertext, the tag
/// (`SEAL_OVERHEAD` bytes more than `plain`). On an error (inputs over 64 GiB) `out` is
/// left as it was.
pub fn seal_into(
    key: &LessSafeKey,
    seq: u64,
    salt: [u8; 4],
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ring::error::Unspecified> {
    let start = out.len();
    out.extend_from_slice(&salt);
    out.extend_from_slice(plain);
    let sealed = match out.get_mut(start + salt.len()..) {
        Some(text) => {
            key.seal_in_place_separate_tag(nonce(salt, seq), Aad::from(seq.to_le_bytes()), text)
        }
        None => Err(ring::error::Unspecified),
    };
    match sealed {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Decrypt a payload sealed for record `seq`; `None` if the key does not open it.
pub fn open(key: &[u8; 32], seq: u64, sealed: &[u8]) -> Option<Vec<u8>> {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let (salt, rest) = sealed.split_first_chunk::<4>()?;
    let mut buf = rest.to_vec();
    let n = k
        .open_in_place(nonce(*salt, seq), Aad::from(seq.to_le_bytes()), &mut buf)
        .ok()?
        .len();
    buf.truncate(n);
    Some(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_lose_queries_and_credentials_and_get_pseudonyms() {
        let p = Privacy {
            keep_query_strings: false,
            pseudonymize: vec!["actor.user.email_addr".into(), "tags.name".into()],
            pseudonym_key: Some([3; 32]),
        };
        let mut v = json!({
            "http_request": {"url": {"url_string": "https://a.example/x?code=secret#frag"}},
            "actor": {"user": {"email_addr": "alice@example.com", "name": "Alice"}},
            "tags": [{"name": "a"}, {"name": "b"}],
            "note": "Bearer abcdefghijklmnopqrstuvwxyz0123",
        });
        let n = p.apply(&mut v);
        assert_eq!(n, 5);
        assert_eq!(
            v["http_request"]["url"]["url_string"],
            "https://a.example/x"
        );
        assert_eq!(v["note"], REDACTED);
        let email = v["actor"]["user"]["email_addr"].as_str().unwrap();
        assert!(email.starts_with("pseud:") && email.len() == 38);
        assert_eq!(v["actor"]["user"]["name"], "Alice");
        assert_ne!(v["tags"][0]["name"], v["tags"][1]["name"]);
        // The same value always gets the same pseudonym, so joins still work.
        let mut again = json!({"actor": {"user": {"email_addr": "alice@example.com"}}});
        p.apply(&mut again);
        assert_eq!(
            again["actor"]["user"]["email_addr"].as_str().unwrap(),
            email
        );
    }

    #[test]
    fn url_credentials_and_query_string_fields_are_dropped() {
        let mut v = json!({
            "url": {
                "url_string": "https://bob:pa55w0rd@h.example:8443/a/b?x=1",
                "query_string": "x=1",
            },
            "referrer": "http://token@h.example",
            "uri": "/plain/path?y=2",
            "web_resources": [{"url_string": "https://h.example/p@q?z=3"}],
        });
        assert_eq!(Privacy::default().apply(&mut v), 5);
        assert_eq!(
            v,
            json!({
                "url": {"url_string": "https://h.example:8443/a/b"},
                "referrer": "http://h.example",
                "uri": "/plain/path",
                "web_resources": [{"url_string": "https://h.example/p@q"}],
            })
        );
        // Credentials go even when query strings stay.
        let keep = Privacy {
            keep_query_strings: true,
            ..Privacy::default()
        };
        let mut v =
            json!({"url": {"url_string": "https://u:p@h.example/?q=1", "query_string": "q=1"}});
        assert_eq!(keep.apply(&mut v), 1);
        assert_eq!(
            v,
            json!({"url": {"url_string": "https://h.example/?q=1", "query_string": "q=1"}})
        );
    }

    /// `payload` sealed in place under `key`.
    fn seal(key: &[u8; 32], seq: u64, salt: [u8; 4], payload: &mut Vec<u8>) {
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut out = Vec::new();
        seal_into(&k, seq, salt, payload, &mut out).unwrap();
        *payload = out;
    }

    #[test]
    fn sealed_payloads_open_only_with_their_key_and_seq() {
        let mut buf = b"hello".to_vec();
        seal(&[1; 32], 9, [7; 4], &mut buf);
        assert_eq!(buf.len(), 5 + SEAL_OVERHEAD);
        assert!(!buf.windows(5).any(|w| w == b"hello"));
        assert_eq!(open(&[1; 32], 9, &buf).unwrap(), b"hello");
        assert!(open(&[2; 32], 9, &buf).is_none());
        assert!(open(&[1; 32], 10, &buf).is_none());
        assert!(open(&[1; 32], 9, &buf[..3]).is_none());
        // Another salt, another ciphertext for the same key, sequence number and text.
        let mut again = b"hello".to_vec();
        seal(&[1; 32], 9, [8; 4], &mut again);
        assert_ne!(buf[4..], again[4..]);
        assert_eq!(open(&[1; 32], 9, &again).unwrap(), b"hello");
    }

    #[test]
    fn erased_keys_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = Keystore::open(dir.path()).unwrap();
        let k = ks.get_or_create("idn-1").unwrap();
        assert_eq!(ks.get_or_create("idn-1").unwrap(), k);
        let mut fresh = Keystore::open(dir.path()).unwrap();
        assert_eq!(fresh.get("idn-1"), Some(k));
        assert!(fresh.erase("idn-1").unwrap());
        assert!(!fresh.erase("idn-1").unwrap());
        assert_eq!(Keystore::open(dir.path()).unwrap().get("idn-1"), None);
    }

    #[test]
    fn a_kept_sealer_seals_with_the_stored_key_and_goes_with_an_erasure() {
        let dir = tempfile::tempdir().unwrap();
        let mut ks = Keystore::open(dir.path()).unwrap();
        let mut sealed = b"frame head|".to_vec();
        seal_into(
            &ks.sealer("idn-2").unwrap(),
            4,
            [1; 4],
            b"payload",
            &mut sealed,
        )
        .unwrap();
        let (head, rest) = sealed.split_at(11);
        assert_eq!(head, b"frame head|");
        assert_eq!(rest.len(), 7 + SEAL_OVERHEAD);
        let key = ks.get("idn-2").unwrap();
        assert_eq!(open(&key, 4, rest).unwrap(), b"payload");
        assert!(ks.erase("idn-2").unwrap());
        // A new key after the erasure: the old payload stays shut.
        let mut again = Vec::new();
        seal_into(
            &ks.sealer("idn-2").unwrap(),
            5,
            [1; 4],
            b"payload",
            &mut again,
        )
        .unwrap();
        let fresh = ks.get("idn-2").unwrap();
        assert_ne!(fresh, key);
        assert!(open(&fresh, 4, rest).is_none());
        assert_eq!(open(&fresh, 5, &again).unwrap(), b"payload");
    }
}
