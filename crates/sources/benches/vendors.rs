//! Normalize throughput per source on the public vendor samples (`../shared/data/vendor`),
//! each sample set repeated to 20,000 records: events per second and bytes per second on
//! one thread, through the same framing the server uses for a request body (raw records
//! kept as views into the body). The time is that of
//! normalizing: each run's output (20,000 events and their raw records) is dropped outside
//! the timed loop, one run at a time, so that the allocator reuses the memory of the last
//! run rather than faulting in fresh pages for outputs kept alive for a whole batch.
#![allow(
    clippy::indexing_slicing,
    reason = "benchmark set-up over known sample files"
)]

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use midwatch_sources::{Limits, Parsed, RecordCtx, by_name, normalize_body};
use std::hint::black_box;
use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 20_000;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if p.is_dir() {
                stack.push(p);
            } else if !name.ends_with("-expected.json")
                && (name.ends_with(".log") || name.ends_with(".json"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The records of one vendor's samples, as the vendor emits them (M365's test envelope
/// unwrapped), keeping only those the source accepts.
fn records(source: &str, dir: &str) -> Vec<Vec<u8>> {
    let Some(src) = by_name(source) else {
        return Vec::new();
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/vendor")
        .join(dir);
    let mut out = Vec::new();
    for f in files(&root) {
        let Ok(text) = std::fs::read(&f) else {
            continue;
        };
        let mut candidates: Vec<Vec<u8>> = Vec::new();
        if source == "m365" {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) {
                for ev in v["events"].as_array().into_iter().flatten() {
                    if ev["o365audit"].is_object() {
                        candidates.push(ev["o365audit"].to_string().into_bytes());
                    }
                }
            }
        } else if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            if let Ok(items) = serde_json::from_slice::<Vec<serde_json::Value>>(&text) {
                candidates.extend(items.into_iter().map(|i| i.to_string().into_bytes()));
            }
        } else {
            candidates.extend(
                text.split(|b| *b == b'\n')
                    .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
                    .map(<[u8]>::to_vec),
            );
        }
        for c in candidates {
            if matches!(src.parse(&c, RecordCtx::default()), Ok(Parsed::Events(_))) {
                out.push(c);
            }
        }
    }
    out
}

fn benches(c: &mut Criterion) {
    let sets = [
        ("okta", "okta"),
        ("cloudtrail", "aws-cloudtrail"),
        ("entra-signin", "entra-signin"),
        ("entra-audit", "entra-audit"),
        ("m365", "m365-audit"),
        ("github", "github-audit"),
        ("gws", "google-workspace"),
    ];
    let limits = Limits::default();
    for (source, dir) in sets {
        let recs = records(source, dir);
        let Some(src) = by_name(source) else { continue };
        if recs.is_empty() {
            continue;
        }
        let mut body = Vec::new();
        for r in recs.iter().cycle().take(RECORDS) {
            body.extend_from_slice(r);
            body.push(b'\n');
        }
        let body = Bytes::from(body);
        let events = normalize_body(src, body.clone(), &limits).events.len() as u64;
        let mut g = c.benchmark_group(format!("normalize/{source}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(events));
        g.bench_function("events", |b| {
            b.iter_batched(
                || (),
                |()| normalize_body(src, black_box(body.clone()), &limits),
                BatchSize::PerIteration,
            );
        });
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("bytes", |b| {
            b.iter_batched(
                || (),
                |()| normalize_body(src, black_box(body.clone()), &limits),
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }
}

/// The yardsticks the Okta figure is read against, on the same records in the same run:
/// simd-json's tape alone (the floor of any simd-json reading: no field looked at, no event
/// built, no hash) and serde_json's generic value (the untyped path). This machine's speed
/// varies from minute to minute; the ratios between these rows and `normalize/okta` do not.
fn yardsticks(c: &mut Criterion) {
    let recs = records("okta", "okta");
    if recs.is_empty() {
        return;
    }
    let set: Vec<&Vec<u8>> = recs.iter().cycle().take(RECORDS).collect();
    let mut g = c.benchmark_group("parse/okta");
    g.sample_size(10);
    g.throughput(Throughput::Elements(set.len() as u64));
    g.bench_function("simd-json tape", |b| {
        let mut buffers = simd_json::Buffers::default();
        let mut input = Vec::new();
        let mut tape: simd_json::Tape<'static> = simd_json::Tape(Vec::new());
        b.iter(|| {
            let mut nodes = 0usize;
            for r in &set {
                input.clear();
                input.extend_from_slice(r);
                let mut t = std::mem::replace(&mut tape, simd_json::Tape(Vec::new())).reset();
                if simd_json::fill_tape(&mut input, &mut buffers, &mut t).is_ok() {
                    nodes += t.0.len();
                }
                tape = t.reset();
            }
            black_box(nodes)
        });
    });
    g.bench_function("serde_json value", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for r in &set {
                if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(r) {
                    n += m.len();
                }
            }
            black_box(n)
        });
    });
    g.finish();
}

criterion_group!(vendors, benches, yardsticks);
criterion_main!(vendors);
