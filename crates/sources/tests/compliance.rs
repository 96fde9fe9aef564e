//! Every registered source must pass the same hostile-input checks: no panic on any bytes,
//! a reason for every rejection, and events that satisfy the OCSF arithmetic and carry
//! their raw-record reference.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_sources::{Limits, Parsed, RecordCtx, normalize_bytes, registry};

/// SplitMix64: a tiny deterministic generator so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    r#"{"id":"e1","ts":"2026-01-05T09:00:00Z","type":"login","identity":{"id":"a@x","kind":"ai_agent","on_behalf_of":"b@x"},"session":{"id":"s1"},"app":{"domain":"github.com"},"network":{"ip":"2001:db8::1","asn":1,"lat":1.5,"lon":2.5},"auth":{"method":"sso","mfa":true}}"#,
    r#"{"class_uid":3002,"category_uid":3,"activity_id":1,"type_uid":300201,"time":1,"metadata":{"uid":"x","version":"1.5.0","product":{"name":"p","vendor_name":"v"}},"actor":{"user":{"uid":"a"}}}"#,
    r#"{"id":"e2","ts":1767600000,"type":"api_call","api":{"operation":"Get","method":"GET"},"session":{"token_sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}"#,
];

fn hostile_inputs() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"\"string\"".to_vec(),
        b"1e999999".to_vec(),
        b"-0".to_vec(),
        vec![0xff, 0xfe, 0xfd],
        vec![0; 64],
        "{\"id\":\"\u{202e}\u{0}\",\"ts\":1,\"type\":\"login\"}".as_bytes().to_vec(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)).into_bytes(),
        br#"{"id":"x","ts":1e300,"type":"login"}"#.to_vec(),
        br#"{"id":"x","ts":-5,"type":"login"}"#.to_vec(),
        br#"{"id":"x","ts":"9999-99-99T99:99:99Z","type":"login"}"#.to_vec(),
        br#"{"class_uid":3002,"category_uid":3,"activity_id":4294967295,"type_uid":18446744073709551615,"time":1,"metadata":{"uid":"x"}}"#.to_vec(),
        br#"{"class_uid":3002,"category_uid":3,"activity_id":1,"type_uid":300201,"time":9223372036854775807,"metadata":{"uid":"x"}}"#.to_vec(),
    ];
    let mut rng = Rng(0x5eed);
    for seed in SEEDS {
        let b = seed.as_bytes();
        // Every truncation.
        for cut in 0..b.len() {
            v.push(b[..cut].to_vec());
        }
        // Random byte flips, insertions and deletions.
        for _ in 0..400 {
            let mut m = b.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                match rng.below(3) {
                    0 => m[i] = rng.next() as u8,
                    1 => m.insert(i, b"{}[]\",:0-e\\"[rng.below(11)]),
                    _ => {
                        m.remove(i);
                    }
                }
                if m.is_empty() {
                    break;
                }
            }
            v.push(m);
        }
    }
    v
}

#[test]
fn no_source_panics_and_every_rejection_has_a_reason() {
    let inputs = hostile_inputs();
    for source in registry() {
        for input in &inputs {
            match source.parse(input, RecordCtx { line: 1, offset: 0 }) {
                Ok(Parsed::Events(events)) => {
                    for e in events {
                        e.validate().unwrap_or_else(|err| {
                            panic!(
                                "{}: accepted an invalid event ({err}) from {:?}",
                                source.name(),
                                String::from_utf8_lossy(input)
                            )
                        });
                    }
                }
                Ok(Parsed::Skip(note)) => assert!(!note.is_empty()),
                Err(e) => assert!(
                    !e.to_string().trim().is_empty(),
                    "{}: empty reason",
                    source.name()
                ),
            }
        }
    }
}

#[test]
fn framing_stamps_raw_references_for_every_source() {
    for source in registry() {
        let body = SEEDS.join("\n");
        let out = normalize_bytes(*source, body.as_bytes(), &Limits::default());
        assert!(!out.events.is_empty() || !out.rejects.is_empty());
        for e in &out.events {
            let raw = e.midwatch.raw.as_ref().expect("raw reference");
            assert_eq!(raw.source, source.name());
            assert_eq!(raw.sha256.len(), 64);
            let line = raw.line.unwrap() as usize;
            let expected = midwatch_model::hash::sha256_hex(SEEDS[line - 1].as_bytes());
            assert_eq!(raw.sha256, expected, "{}", source.name());
            assert!(e.metadata.log_name.is_some());
        }
        for r in &out.rejects {
            assert!(!r.reason.is_empty());
        }
    }
}

#[test]
fn names_are_unique() {
    let names = midwatch_sources::names();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
    for n in names {
        assert!(midwatch_sources::by_name(n).is_some());
    }
}
