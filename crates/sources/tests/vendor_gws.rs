//! Golden test for the `gws` source over every Google Workspace Reports API sample:
//! `login/` (logins, challenges, account warnings), `admin/` (security settings, alert
//! center) and `token/` (OAuth authorize with nested scope messages).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{check_golden, normalize_file, summarize_all, vendor_files};
use midwatch_sources::gws::Gws;
use midwatch_sources::{Limits, Parsed, RecordCtx, Source, normalize_bytes};

fn files() -> Vec<std::path::PathBuf> {
    let files = vendor_files("google-workspace", &[".log", ".json"]);
    assert_eq!(files.len(), 4, "{files:?}");
    files
}

#[test]
fn every_sample_normalizes_without_rejects() {
    for path in files() {
        let n = normalize_file(&Gws, &path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(n.rejects.is_empty(), "{name}: {:?}", n.rejects);
        assert!(n.skipped.is_empty(), "{name}: {:?}", n.skipped);
        assert!(!n.events.is_empty(), "{name}");
        for e in &n.events {
            e.validate().unwrap();
            assert!(e.metadata.event_code.is_some());
            assert!(e.app_domain().is_some(), "{name}: {}", e.uid());
        }
        let stem = name.trim_end_matches(".log").trim_end_matches(".json");
        check_golden(&format!("gws/{stem}"), &summarize_all(&n));
    }
}

#[test]
fn sample_event_counts_and_scopes() {
    let count = |sub: &str| {
        vendor_files(&format!("google-workspace/{sub}"), &[".log"])
            .iter()
            .map(|p| normalize_file(&Gws, p).events.len())
            .sum::<usize>()
    };
    assert_eq!(count("login"), 17);
    assert_eq!(count("admin"), 27);
    assert_eq!(count("token"), 1);
    let token = &vendor_files("google-workspace/token", &[".log"])[0];
    let n = normalize_file(&Gws, token);
    let entity = n.events[0].entity.as_deref().unwrap();
    assert_eq!(entity.type_name.as_deref(), Some("oauth_grant"));
    assert_eq!(entity.name.as_deref(), Some("Gmail Add-on"));
    assert_eq!(entity.scopes.len(), 5);
}

/// Throughput, by hand: `cargo test --release -p midwatch-sources --test vendor_gws -- --ignored --nocapture`.
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
    let per = normalize_bytes(&Gws, &body, &Limits::default())
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
        let n = normalize_bytes(&Gws, &big, &Limits::default());
        framed = framed.min(start.elapsed().as_secs_f64());
        assert!(n.rejects.is_empty());
        events = n.events.len();
        let start = std::time::Instant::now();
        let mut count = 0;
        for line in &lines {
            if let Ok(Parsed::Events(v)) = Gws.parse(line, RecordCtx::default()) {
                count += v.len();
            }
        }
        parsed = parsed.min(start.elapsed().as_secs_f64());
        assert_eq!(count, events);
    }
    let mb = big.len() as f64 / 1e6;
    eprintln!(
        "gws: {events} events; framed {:.0} events/s, {:.1} MB/s; parse only {:.0} events/s, {:.1} MB/s",
        events as f64 / framed,
        mb / framed,
        events as f64 / parsed,
        mb / parsed
    );
}
