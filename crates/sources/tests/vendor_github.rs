//! Golden test for the `github` source over every GitHub audit-log sample: organisation
//! stream, enterprise stream, Event Hub stream, `api.request` events and Azure Sentinel's
//! personal-account sample (NDJSON despite its `.json` name).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{check_golden, normalize_file, summarize_all, vendor_files};
use midwatch_sources::github::GitHub;
use midwatch_sources::{Limits, Parsed, RecordCtx, Source, normalize_bytes};

fn files() -> Vec<std::path::PathBuf> {
    let files = vendor_files("github-audit", &[".log", ".json"]);
    assert_eq!(files.len(), 5, "{files:?}");
    files
}

#[test]
fn every_sample_normalizes_without_rejects() {
    for path in files() {
        let n = normalize_file(&GitHub, &path);
        let stem = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(n.rejects.is_empty(), "{stem}: {:?}", n.rejects);
        assert!(n.skipped.is_empty(), "{stem}: {:?}", n.skipped);
        assert!(!n.events.is_empty(), "{stem}");
        for e in &n.events {
            e.validate().unwrap();
            assert!(e.metadata.event_code.is_some());
            assert_eq!(e.app_domain(), Some("github.com"));
        }
        let stem = stem
            .trim_end_matches(".log")
            .trim_end_matches(".json")
            .to_string();
        check_golden(&format!("github/{stem}"), &summarize_all(&n));
    }
}

#[test]
fn sample_record_counts() {
    let counts: Vec<(String, usize)> = files()
        .iter()
        .map(|p| {
            let n = normalize_file(&GitHub, p);
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                n.events.len(),
            )
        })
        .collect();
    let get = |name: &str| counts.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(get("test-audit-json.log"), 189);
    assert_eq!(get("azure-sentinel-Github_sample_logs.json"), 63);
    assert_eq!(get("test-api-request-events.log"), 2);
    assert_eq!(get("test-enterprise-audit-eventhub.log"), 3);
    assert_eq!(get("test-enterprise-audit-json.log"), 21);
}

/// Throughput, by hand: `cargo test --release -p midwatch-sources --test vendor_github -- --ignored --nocapture`.
/// Reports the best of five runs over the samples replicated to about 20k events, through
/// the whole framing path and through `parse` alone.
#[test]
#[ignore = "timing, run by hand"]
fn throughput() {
    let mut body = Vec::new();
    for path in files() {
        let mut bytes = std::fs::read(path).unwrap();
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        body.extend_from_slice(&bytes);
    }
    let per = normalize_bytes(&GitHub, &body, &Limits::default())
        .events
        .len();
    let big = body.repeat(20_000 / per + 1);
    let lines: Vec<&[u8]> = big
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let (mut framed, mut parsed) = (f64::MAX, f64::MAX);
    let mut events = 0;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let n = normalize_bytes(&GitHub, &big, &Limits::default());
        framed = framed.min(start.elapsed().as_secs_f64());
        assert!(n.rejects.is_empty());
        events = n.events.len();
        let start = std::time::Instant::now();
        let mut count = 0;
        for line in &lines {
            if let Ok(Parsed::Events(v)) = GitHub.parse(line, RecordCtx::default()) {
                count += v.len();
            }
        }
        parsed = parsed.min(start.elapsed().as_secs_f64());
        assert_eq!(count, events);
    }
    let mb = big.len() as f64 / 1e6;
    eprintln!(
        "github: {events} events; framed {:.0} events/s, {:.1} MB/s; parse only {:.0} events/s, {:.1} MB/s",
        events as f64 / framed,
        mb / framed,
        events as f64 / parsed,
        mb / parsed
    );
}
