//! Sigma engine throughput on one thread: the public vendor samples, repeated, against the
//! SigmaHQ cloud rules a midwatch source feeds (about 200) and against 1,000 rules derived
//! from them; record parsing included. With and without dispatch (exact-value index and
//! literal prefilter). Rule loading is measured too.
//!
//! The comparison with other Rust Sigma engines is in `benches/peers/` (its own crate).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use midwatch_detect::sigma::{Engine, EngineOptions, LoadOptions, Match, load_str};
use std::hint::black_box;

#[path = "sigma_bench_data.rs"]
mod data;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 20_000;

fn engine(n: usize, opts: EngineOptions) -> Engine {
    let texts = data::rule_set(n);
    let mut rules = Vec::new();
    for (i, (_, text)) in texts.iter().enumerate() {
        let report = load_str(text, format!("rule-{i}.yml"), &LoadOptions::default());
        assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
        rules.extend(report.rules);
    }
    assert_eq!(rules.len(), n);
    Engine::with_options(rules, opts)
}

fn run(engine: &Engine, events: &[(&str, Vec<u8>)], out: &mut Vec<Match>) -> usize {
    out.clear();
    for (source, bytes) in events {
        // A record the engine cannot read is counted, not fatal.
        let _ = engine.match_raw(source, bytes, out);
    }
    out.len()
}

fn bench(c: &mut Criterion) {
    let events = data::events(EVENTS);
    let mut group = c.benchmark_group("sigma_match_raw");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    for n in [200, 1000] {
        for (name, opts) in [
            ("dispatch", EngineOptions::default()),
            (
                "index_only",
                EngineOptions {
                    index: true,
                    prefilter: false,
                },
            ),
            (
                "no_dispatch",
                EngineOptions {
                    index: false,
                    prefilter: false,
                },
            ),
        ] {
            let engine = engine(n, opts);
            let mut out = Vec::new();
            group.bench_function(format!("{n}_rules_{name}"), |b| {
                b.iter(|| black_box(run(&engine, &events, &mut out)))
            });
        }
    }
    group.finish();

    let texts = data::rule_set(1000);
    let mut load = c.benchmark_group("sigma_load");
    load.sample_size(10);
    load.throughput(Throughput::Elements(texts.len() as u64));
    load.bench_function("1000_rules_load_and_index", |b| {
        b.iter(|| {
            let mut rules = Vec::new();
            for (_, text) in &texts {
                rules.extend(load_str(text, "r.yml", &LoadOptions::default()).rules);
            }
            black_box(Engine::new(rules).rules().len())
        })
    });
    load.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
