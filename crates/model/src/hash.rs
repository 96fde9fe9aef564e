//! SHA-256 helpers: token fingerprints and raw-record references.
//!
//! A raw bearer token or cookie never leaves the edge that saw it: it is replaced by
//! `sha256:<hex>` here, and that fingerprint is what sessions are keyed by.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256Hex::of(data).as_str().to_string()
}

/// A SHA-256 in lowercase hex, held inline: the reference from an event to its raw record,
/// which every event of a record carries (a copy costs no allocation). It reads and writes
/// as its 64-digit string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hex([u8; 64]);

impl Sha256Hex {
    /// The SHA-256 of `data`.
    pub fn of(data: &[u8]) -> Sha256Hex {
        Sha256Hex::from_digest(&Sha256::digest(data).into())
    }

    /// The hex of a digest.
    pub fn from_digest(digest: &[u8; 32]) -> Sha256Hex {
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(digest) {
            pair.copy_from_slice(&hex_pair(*b));
        }
        Sha256Hex(out)
    }

    /// `s` as a SHA-256, when it is 64 hex digits (either case; kept lowercase).
    pub fn parse(s: &str) -> Option<Sha256Hex> {
        let bytes: [u8; 64] = s.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        Some(Sha256Hex(bytes.map(|b| b.to_ascii_lowercase())))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        // Every byte is an ASCII hex digit (made by `from_digest` or checked by `parse`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The SHA-256 of no bytes at all.
impl Default for Sha256Hex {
    fn default() -> Sha256Hex {
        Sha256Hex::of(b"")
    }
}

impl std::ops::Deref for Sha256Hex {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Sha256Hex {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Sha256Hex {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Sha256Hex {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sha256Hex, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Sha256Hex::parse(&s).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&s),
                &"a SHA-256 as 64 hex digits",
            )
        })
    }
}

/// The fingerprint midwatch keys token-based sessions by: `sha256:<hex>` of the raw token.
pub fn token_fingerprint(raw_token: &str) -> String {
    format!("sha256:{}", sha256_hex(raw_token.as_bytes()))
}

/// Lowercase hex of arbitrary bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&hex_pair(*b));
    }
    // Every byte is an ASCII hex digit.
    String::from_utf8(out).unwrap_or_default()
}

/// The two lowercase hex digits of a byte.
fn hex_pair(b: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |nibble: u8| DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
    [digit(b >> 4), digit(b & 0x0f)]
}

/// True when `s` is 64 lowercase or uppercase hex digits (a SHA-256 in hex).
pub fn is_sha256_hex(s: &str) -> bool {
    Sha256Hex::parse(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            token_fingerprint("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&sha256_hex(b"x")));
        assert!(!is_sha256_hex("abc"));
    }

    #[test]
    fn inline_hex_is_the_same_string() {
        let h = Sha256Hex::of(b"abc");
        assert_eq!(h, sha256_hex(b"abc"));
        assert_eq!(Sha256Hex::parse(&h.to_ascii_uppercase()), Some(h));
        assert_eq!(Sha256Hex::parse("abc"), None);
        assert_eq!(Sha256Hex::parse(&"g".repeat(64)), None);
        assert_eq!(Sha256Hex::parse(&"\u{e9}".repeat(32)), None);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", sha256_hex(b"abc")));
        assert_eq!(serde_json::from_str::<Sha256Hex>(&json).unwrap(), h);
        let err = serde_json::from_str::<Sha256Hex>("\"abc\"").unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
        assert_eq!(Sha256Hex::default(), sha256_hex(b""));
    }
}
