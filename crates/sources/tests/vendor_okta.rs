//! The Okta source over every public Okta sample: zero rejects except the documentation
//! example's impossible date, and a golden summary per file (`UPDATE_GOLDEN=1` rewrites).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "tests"
)]

mod common;

use common::{check_golden, summarize_all, vendor_files};
use midwatch_sources::okta::Okta;
use midwatch_sources::{Limits, Normalized, Parsed, RecordCtx, Source, normalize_bytes};
use std::path::Path;
use std::time::Instant;

/// The documentation example whose `published` is `2017-09-31`, a date that does not exist.
const BROKEN_DOC_EXAMPLE: &str = "okta-developer-docs-example-logevent";

/// Read a sample as the framing expects it. A single pretty-printed JSON document (the
/// `*.json` samples) is handed over as a one-item array, so it stays one record: the
/// framing splits anything else into lines.
fn normalize_sample(path: &Path) -> Normalized {
    let bytes = std::fs::read(path).unwrap();
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let is_json_doc = path.extension().is_some_and(|e| e == "json") && first == Some(&b'{');
    if is_json_doc {
        let mut wrapped = b"[".to_vec();
        wrapped.extend_from_slice(&bytes);
        wrapped.push(b']');
        normalize_bytes(&Okta, &wrapped, &Limits::default())
    } else {
        normalize_bytes(&Okta, &bytes, &Limits::default())
    }
}

#[test]
fn every_okta_sample_normalizes_and_matches_its_golden_file() {
    let files = vendor_files("okta", &[".log", ".json"]);
    assert_eq!(files.len(), 2, "{files:?}");
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let n = normalize_sample(&path);
        if stem == BROKEN_DOC_EXAMPLE {
            assert!(n.events.is_empty());
            assert_eq!(n.rejects.len(), 1, "{:?}", n.rejects);
            assert_eq!(n.rejects[0].line, 1);
            assert!(
                n.rejects[0]
                    .reason
                    .starts_with("`published`: `2017-09-31T22:23:07.777Z`"),
                "{}",
                n.rejects[0].reason
            );
        } else {
            assert!(n.rejects.is_empty(), "{stem}: {:?}", n.rejects);
            assert!(n.skipped.is_empty(), "{stem}: {:?}", n.skipped);
            assert_eq!(n.events.len(), n.records, "{stem}");
        }
        for e in &n.events {
            e.validate().unwrap();
        }
        check_golden(&format!("okta/{stem}"), &summarize_all(&n));
    }
}

#[test]
fn the_doc_example_with_a_real_date_is_a_login() {
    let path = vendor_files("okta", &[".json"]).pop().unwrap();
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("2017-09-31", "2017-09-30");
    let Parsed::Events(events) = Okta.parse(text.as_bytes(), RecordCtx::default()).unwrap() else {
        panic!("skipped");
    };
    let e = &events[0];
    assert_eq!(e.metadata.event_code.as_deref(), Some("user.session.start"));
    assert_eq!(e.midwatch.action.as_deref(), Some("login"));
    assert_eq!(e.actor_uid(), Some("admin@example.com"));
    assert_eq!(
        e.session_ref().unwrap().uid.as_deref(),
        Some("1013FfF-DKQSvCI4RVXChzX-w")
    );
    assert_eq!(e.device_id(), Some("guob5wtu7rBggkg9G1d7"));
    assert_eq!(e.device.as_deref().unwrap().is_managed, Some(false));
    assert_eq!(e.src_ip(), Some("12.97.85.90"));
}

/// Real records cut short or with bytes changed: never a panic, and whatever is accepted is
/// a valid OCSF event.
#[test]
fn damaged_real_records_never_panic() {
    let path = vendor_files("okta", &[".log"]).pop().unwrap();
    let sample = std::fs::read(path).unwrap();
    let lines: Vec<&[u8]> = sample
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut seed = 0x0c7a_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let check = |input: &[u8]| match Okta.parse(input, RecordCtx::default()) {
        Ok(Parsed::Events(events)) => events.iter().for_each(|e| e.validate().unwrap()),
        Ok(Parsed::Skip(note)) => assert!(!note.is_empty()),
        Err(e) => assert!(!e.to_string().is_empty()),
    };
    for line in lines.iter().step_by(3) {
        for cut in (0..line.len()).step_by(7) {
            check(&line[..cut]);
        }
    }
    for _ in 0..3_000 {
        let line = lines[(next() % lines.len() as u64) as usize];
        let mut m = line.to_vec();
        for _ in 0..1 + next() % 4 {
            let i = (next() % m.len() as u64) as usize;
            m[i] = b"{}[]\",:0-e\\nu"[(next() % 13) as usize];
        }
        check(&m);
    }
}

/// CPU time this thread has run, in nanoseconds, where Linux tells (`schedstat`): the
/// machine may be shared, and wall time then mostly measures the neighbours.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Best of `runs` of `f`, as (wall seconds, CPU seconds when known).
fn best_of(runs: usize, mut f: impl FnMut()) -> (f64, Option<f64>) {
    let mut wall = f64::MAX;
    let mut cpu: Option<f64> = None;
    for _ in 0..runs {
        let c0 = thread_cpu_ns();
        let start = Instant::now();
        f();
        wall = wall.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
            let s = (b - a) as f64 / 1e9;
            cpu = Some(cpu.map_or(s, |c: f64| c.min(s)));
        }
    }
    (wall, cpu)
}

fn report(what: &str, records: usize, bytes: usize, (wall, cpu): (f64, Option<f64>)) {
    let line = |label: &str, secs: f64| {
        format!(
            "{label} {:.0} events/s, {:.1} MB/s, {:.2} µs/event",
            records as f64 / secs,
            bytes as f64 / 1e6 / secs,
            secs * 1e6 / records as f64
        )
    };
    println!("{what}: {}", line("wall", wall));
    if let Some(cpu) = cpu {
        println!("{what}: {}", line("cpu ", cpu));
    }
}

/// Throughput by hand:
/// `cargo test --release -p midwatch-sources --test vendor_okta -- --ignored --nocapture`.
#[test]
#[ignore = "timing check run by hand; tests never assert on time"]
fn okta_throughput() {
    let path = vendor_files("okta", &[".log"]).pop().unwrap();
    let sample = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = sample
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // `OKTA_BENCH_RECORDS` shrinks the run, e.g. to count instructions under cachegrind.
    let wanted: usize = std::env::var("OKTA_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let copies = wanted / lines.len() + 1;
    let mut body = Vec::with_capacity(sample.len() * copies);
    for _ in 0..copies {
        for l in &lines {
            body.extend_from_slice(l);
            body.push(b'\n');
        }
    }
    let records = lines.len() * copies;
    println!(
        "{records} records, {:.0} bytes/record",
        body.len() as f64 / records as f64
    );

    // The parser alone.
    let timing = best_of(5, || {
        let mut events = 0usize;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(Parsed::Events(v)) = Okta.parse(line, RecordCtx::default()) {
                events += v.len();
            }
        }
        assert_eq!(events, records);
    });
    report("okta parse", records, body.len(), timing);

    // Through the framing, which also hashes every record for its raw reference.
    let timing = best_of(3, || {
        let n = normalize_bytes(&Okta, &body, &Limits::default());
        assert_eq!(n.events.len(), records);
    });
    report("okta normalize_bytes", records, body.len(), timing);
}
