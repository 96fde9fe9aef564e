//! Throughput of the ingest path on realistic sensor events from the simulator:
//! normalize alone, normalize + enrich + stitch, and end to end into SQLite with durable
//! commits per batch. Reported as events per second on one thread.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use midwatch_model::Inventory;
use midwatch_sessions::{Config, Stitcher};
use midwatch_sources::{Limits, normalize_bytes, sensor::Sensor};
use midwatch_store::{Batch, SqliteStore, Store};
use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 50_000;
const BATCH: usize = 5_000;

fn corpus() -> (Vec<u8>, Inventory, usize) {
    let out = midwatch_sim::simulate(&midwatch_sim::SimConfig {
        seed: 11,
        users: 400,
        hours: 24,
        start_ms: 1_767_571_200_000,
        attacks: true,
    });
    let lines: Vec<&String> = out.events.iter().take(EVENTS).collect();
    let n = lines.len();
    let mut body = Vec::new();
    for l in lines {
        body.extend_from_slice(l.as_bytes());
        body.push(b'\n');
    }
    let inv = Inventory::from_doc(out.inventory).unwrap_or_default();
    (body, inv, n)
}

fn benches(c: &mut Criterion) {
    let (body, inventory, n) = corpus();
    let limits = Limits::default();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));

    g.bench_function("normalize_sensor", |b| {
        b.iter(|| {
            black_box(
                normalize_bytes(&Sensor, black_box(&body), &limits)
                    .events
                    .len(),
            )
        })
    });

    g.bench_function("normalize_enrich_stitch", |b| {
        b.iter(|| {
            let mut st = Stitcher::new(Config::default());
            let mut out = normalize_bytes(&Sensor, &body, &limits);
            for e in &mut out.events {
                inventory.enrich(e);
                st.ingest(e);
            }
            black_box(st.take_dirty().len())
        })
    });

    g.bench_function("end_to_end_sqlite", |b| {
        b.iter_batched(
            || {
                tempfile::tempdir().map(|d| {
                    let s = SqliteStore::open(d.path());
                    (d, s)
                })
            },
            |dir| {
                let Ok((_dir, Ok(store))) = dir else { return 0 };
                let mut st = Stitcher::new(Config::default());
                let mut stored = 0;
                for chunk in body
                    .split_inclusive(|b| *b == b'\n')
                    .collect::<Vec<_>>()
                    .chunks(BATCH)
                {
                    let joined: Vec<u8> = chunk.concat();
                    let mut out = normalize_bytes(&Sensor, &joined, &limits);
                    for e in &mut out.events {
                        inventory.enrich(e);
                        st.ingest(e);
                    }
                    let sessions = st.take_dirty();
                    stored += store
                        .append(Batch {
                            events: &out.events,
                            sessions: &sessions,
                            findings: &[],
                            raw: &out.raw,
                            cursors: &[],
                        })
                        .unwrap_or(0);
                }
                black_box(stored)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(ingest, benches);
criterion_main!(ingest);
