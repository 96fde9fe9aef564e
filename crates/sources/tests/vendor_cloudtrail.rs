//! The `cloudtrail` source against the public CloudTrail samples: every event file parses
//! without rejects, the digest file is skipped with a note, and each file's summary matches
//! its golden file (`UPDATE_GOLDEN=1` regenerates).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{check_golden, normalize_file, summarize_all, vendor_files};
use midwatch_sources::cloudtrail::CloudTrail;
use midwatch_sources::{Limits, normalize_bytes};

const DIGEST: &str = "test-cloudtrail-digest-json.log";

#[test]
fn every_sample_normalizes_and_matches_its_golden() {
    let files = vendor_files("aws-cloudtrail", &[".log"]);
    assert_eq!(files.len(), 11, "{files:?}");
    let mut events = 0;
    for path in &files {
        let n = normalize_file(&CloudTrail, path);
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(n.rejects.is_empty(), "{file}: {:?}", n.rejects);
        if file == DIGEST {
            assert!(n.events.is_empty(), "{file}");
            assert_eq!(n.skipped.len(), 1, "{file}");
            assert_eq!(n.skipped[0].line, 1);
            assert!(n.skipped[0].reason.contains("digest"), "{:?}", n.skipped);
        } else {
            assert!(!n.events.is_empty(), "{file}");
            assert!(n.skipped.is_empty(), "{file}: {:?}", n.skipped);
        }
        for e in &n.events {
            e.validate().unwrap();
            assert_eq!(e.metadata.log_name.as_deref(), Some("cloudtrail"));
            assert!(e.midwatch.raw.is_some());
            assert_eq!(
                e.dst_endpoint.as_ref().unwrap().svc_name.as_deref(),
                Some("AWS")
            );
            // Issued session tokens never leave the parser.
            let json = e.to_ocsf_json();
            assert!(!json.contains("EXAMPLETOKEN"), "{file}: {json}");
            assert!(!json.contains("sensitiveDataRemoved"), "{file}: {json}");
        }
        events += n.events.len();
        let stem = file.strip_suffix(".log").unwrap_or(&file);
        check_golden(&format!("cloudtrail/{stem}"), &summarize_all(&n));
    }
    assert_eq!(events, 13, "14 records, one of them the digest");
}

#[test]
fn a_delivered_log_file_yields_every_record() {
    let mut records = Vec::new();
    for path in vendor_files("aws-cloudtrail", &[".log"]) {
        if path.ends_with(DIGEST) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        records.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    let body = format!("{{\"Records\":[{}]}}", records.join(","));
    let n = normalize_bytes(&CloudTrail, body.as_bytes(), &Limits::default());
    assert!(n.rejects.is_empty(), "{:?}", n.rejects);
    assert_eq!(n.events.len(), records.len());
    let sha = &n.events[0].midwatch.raw.as_ref().unwrap().sha256;
    assert!(
        n.events
            .iter()
            .all(|e| &e.midwatch.raw.as_ref().unwrap().sha256 == sha)
    );
}

/// Hostile variants of the real samples: every truncation, byte mutations, deep nesting.
/// Nothing may panic, every event must be valid OCSF, every rejection must say why.
#[test]
fn mutated_samples_never_panic() {
    use midwatch_sources::{Parsed, RecordCtx, Source};
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for path in vendor_files("aws-cloudtrail", &[".log"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        seeds.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.as_bytes().to_vec()),
        );
    }
    let mut inputs: Vec<Vec<u8>> = vec![
        format!("{}{}", r#"{"Records":["#.repeat(3_000), "]}".repeat(3_000)).into_bytes(),
        format!(
            r#"{{"eventName":"X","eventTime":"2024-01-05T09:00:00Z","userIdentity":{}}}"#,
            "{\"sessionContext\":".repeat(3_000) + &"}".repeat(3_000)
        )
        .into_bytes(),
        br#"{"Records":{"eventName":"X"}}"#.to_vec(),
        br#"{"Records":[null,1,"x",[],{}]}"#.to_vec(),
        br#"{"eventName":"ConsoleLogin","eventTime":"Feb 30, 2024, 25:61:00 PM"}"#.to_vec(),
    ];
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for seed in &seeds {
        for cut in (0..seed.len()).step_by(7) {
            inputs.push(seed[..cut].to_vec());
        }
        for _ in 0..200 {
            let mut m = seed.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % m.len() as u64) as usize;
                match next() % 3 {
                    0 => m[i] = next() as u8,
                    1 => m.insert(i, b"{}[]\",:0-e\\"[(next() % 11) as usize]),
                    _ => {
                        m.remove(i);
                    }
                }
            }
            inputs.push(m);
        }
    }
    let mut accepted = 0;
    for input in &inputs {
        match CloudTrail.parse(input, RecordCtx::default()) {
            Ok(Parsed::Events(events)) => {
                for e in events {
                    e.validate().unwrap();
                    accepted += 1;
                }
            }
            Ok(Parsed::Skip(note)) => assert!(!note.is_empty()),
            Err(e) => assert!(!e.to_string().trim().is_empty()),
        }
    }
    assert!(accepted > 0);
}

/// Throughput, run by hand:
/// `cargo test --release -p midwatch-sources --test vendor_cloudtrail -- --ignored --nocapture`
#[test]
#[ignore = "timing, run by hand"]
fn throughput() {
    let mut lines = Vec::new();
    for path in vendor_files("aws-cloudtrail", &[".log"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    let mut body = String::new();
    for i in 0..20_000 {
        body.push_str(&lines[i % lines.len()]);
        body.push('\n');
    }
    let bytes = body.as_bytes();
    let mut best = f64::MAX;
    let mut events = 0;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let n = normalize_bytes(&CloudTrail, bytes, &Limits::default());
        best = best.min(start.elapsed().as_secs_f64());
        events = n.events.len();
    }
    #[expect(clippy::cast_precision_loss, reason = "report")]
    let (eps, mbps) = (events as f64 / best, bytes.len() as f64 / best / 1e6);
    eprintln!(
        "cloudtrail: {events} events from {} bytes in {:.1} ms: {eps:.0} events/s, {mbps:.1} MB/s",
        bytes.len(),
        best * 1e3
    );
}
