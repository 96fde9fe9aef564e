//! SHA-256 helpers: token fingerprints and raw-record references.
//!
//! A raw bearer token or cookie never leaves the edge that saw it: it is replaced by
//! `sha256:<hex>` here, and that fingerprint is what sessions are keyed by.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

/// The fingerprint midwatch keys token-based sessions by: `sha256:<hex>` of the raw token.
pub fn token_fingerprint(raw_token: &str) -> String {
    format!("sha256:{}", sha256_hex(raw_token.as_bytes()))
}

/// Lowercase hex of arbitrary bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |nibble: u8| DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&[digit(b >> 4), digit(b & 0x0f)]);
    }
    // Every byte is an ASCII hex digit.
    String::from_utf8(out).unwrap_or_default()
}

/// True when `s` is 64 lowercase or uppercase hex digits (a SHA-256 in hex).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
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
}
