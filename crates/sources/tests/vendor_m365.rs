//! Golden test for the `m365` source over the public Microsoft 365 audit samples.
//!
//! The samples wrap each record in Elastic's test envelope
//! (`{"events":[{"o365audit":{…},"event":{"original":"…"}}]}`). The parser reads records as
//! Microsoft emits them, so the envelope is unwrapped here: each item contributes its
//! `o365audit` object as one NDJSON line, then its `event.original` string verbatim as the
//! next line when it has one. Some `event.original` strings are deliberately invalid JSON
//! upstream; those lines, and only those, must be rejected, naming line and reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{check_golden, summarize_all, vendor_files};
use midwatch_sources::m365::M365;
use midwatch_sources::{Limits, Normalized, normalize_bytes};
use std::path::Path;

/// The NDJSON body of one sample file: `o365audit` objects and `event.original` strings.
fn unwrap_envelope(path: &Path) -> String {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut lines = Vec::new();
    for item in doc["events"].as_array().expect("an `events` array") {
        if let Some(audit) = item.get("o365audit") {
            lines.push(audit.to_string());
        }
        if let Some(original) = item.pointer("/event/original").and_then(|o| o.as_str()) {
            assert!(
                !original.contains('\n'),
                "{}: original spans lines",
                path.display()
            );
            lines.push(original.to_string());
        }
    }
    lines.join("\n")
}

/// Records the data README says are broken, per file: (line, reason fragment).
fn expected_rejects(stem: &str) -> &'static [(u64, &'static str)] {
    match stem {
        // Duplicated `QueryTime` inside an unescaped `Data` string: invalid JSON upstream.
        "test-data-duplicated-querytime-events" => &[(2, "not valid JSON")],
        // Unescaped quotes in `ExtendedProperties`, and `\S` in `UserId`: invalid JSON.
        "test-parameter-string" => &[(2, "not valid JSON"), (4, "not valid JSON")],
        // `{"Platform":1}` fragments, not audit records: no time, no operation.
        "test-platform-attribute-events" => &[
            (1, "`CreationTime`: missing"),
            (2, "`CreationTime`: missing"),
            (3, "`CreationTime`: missing"),
            (4, "`CreationTime`: missing"),
        ],
        _ => &[],
    }
}

fn normalize(path: &Path) -> Normalized {
    normalize_bytes(&M365, unwrap_envelope(path).as_bytes(), &Limits::default())
}

#[test]
fn m365_samples_match_golden() {
    let files = vendor_files("m365-audit", &[".json"]);
    assert!(files.len() >= 9, "m365 samples missing: {files:?}");
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let n = normalize(&path);
        let want = expected_rejects(&stem);
        let got: Vec<(u64, &str)> = n
            .rejects
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(got.len(), want.len(), "{stem}: rejects {got:?}");
        for ((line, reason), (want_line, fragment)) in got.iter().zip(want) {
            assert_eq!(line, want_line, "{stem}: {reason}");
            assert!(reason.contains(fragment), "{stem} line {line}: {reason}");
        }
        assert!(n.skipped.is_empty(), "{stem}: {:?}", n.skipped);
        assert_eq!(n.events.len() + n.rejects.len(), n.records, "{stem}");
        for e in &n.events {
            e.validate().unwrap();
            assert!(e.metadata.event_code.is_some(), "{stem}: no event code");
        }
        check_golden(&format!("m365/{stem}"), &summarize_all(&n));
    }
}

/// Every valid `event.original` parses to the same event as its `o365audit` twin (the twin
/// has Elastic's stringified numbers), apart from the raw-record reference.
#[test]
fn original_and_unwrapped_twins_agree() {
    for path in vendor_files("m365-audit", &[".json"]) {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for item in doc["events"].as_array().unwrap() {
            let (Some(audit), Some(original)) = (
                item.get("o365audit"),
                item.pointer("/event/original").and_then(|o| o.as_str()),
            ) else {
                continue;
            };
            let a = normalize_bytes(&M365, audit.to_string().as_bytes(), &Limits::default());
            let b = normalize_bytes(&M365, original.as_bytes(), &Limits::default());
            if !b.rejects.is_empty() {
                continue;
            }
            let strip = |mut n: Normalized| {
                n.events.iter_mut().for_each(|e| e.midwatch.raw = None);
                n.events
            };
            assert_eq!(strip(a), strip(b), "{}", path.display());
        }
    }
}

/// Throughput by hand: `cargo test -p midwatch-sources --release --test vendor_m365 -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn m365_throughput() {
    let mut good = Vec::new();
    for path in vendor_files("m365-audit", &[".json"]) {
        for line in unwrap_envelope(&path).lines() {
            let n = normalize_bytes(&M365, line.as_bytes(), &Limits::default());
            if n.rejects.is_empty() {
                good.push(line.to_string());
            }
        }
    }
    let mut body = String::new();
    let mut records = 0usize;
    while records < 20_000 {
        for line in &good {
            body.push_str(line);
            body.push('\n');
            records += 1;
        }
    }
    let start = std::time::Instant::now();
    let mut events = 0usize;
    let rounds = 5;
    for _ in 0..rounds {
        let n = normalize_bytes(&M365, body.as_bytes(), &Limits::default());
        assert!(n.rejects.is_empty());
        events += n.events.len();
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "m365: {records} records x {rounds}: {:.0} events/s, {:.1} MB/s",
        events as f64 / secs,
        (body.len() * rounds) as f64 / secs / 1e6
    );
}
