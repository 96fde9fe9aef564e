//! Sigma engine throughput on one thread: the public vendor samples, repeated, against the
//! SigmaHQ cloud rules a midwatch source feeds (about 200) and against 1,000 rules derived
//! from them; record parsing included. With and without dispatch (exact-value index and
//! literal prefilter). Rule loading is measured too.
//!
//! Also: `product: midwatch` rules over the same samples normalized to OCSF events.
//!
//! The comparison with other Rust Sigma engines is in `benches/peers/` (its own crate).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "benchmark set-up over known data"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use midwatch_detect::Context;
use midwatch_detect::sigma::{Engine, EngineOptions, LoadOptions, Match, load_str};
use midwatch_model::{Event, Inventory};
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

    bench_events(c);

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

/// The vendor samples normalized by their sources, repeated to [`EVENTS`].
fn normalized_events() -> Vec<Event> {
    let mut out = Vec::new();
    for (source, bytes) in data::vendor_records() {
        let Some(src) = midwatch_sources::by_name(source) else {
            continue;
        };
        if let Ok(midwatch_sources::Parsed::Events(mut evs)) =
            src.parse(&bytes, midwatch_sources::RecordCtx::default())
        {
            for e in &mut evs {
                let sha = midwatch_model::hash::Sha256Hex::of(&bytes);
                midwatch_sources::stamp(e, source, sha, midwatch_sources::RecordCtx::default());
            }
            out.extend(evs);
        }
    }
    out.iter().cycle().take(EVENTS).cloned().collect()
}

/// `n` midwatch rules of a few shapes, over fields every source fills.
fn midwatch_rules(n: usize) -> Vec<midwatch_detect::sigma::Rule> {
    let classes = [3002, 3001, 3004, 3005, 6001, 6003, 6006];
    (0..n)
        .map(|i| {
            let class = classes[i % classes.len()];
            let body = match i % 4 {
                0 => format!("class_uid: {class}\n        actor.user.uid|startswith: 'svc-{i}'"),
                1 => format!("class_uid: {class}\n        src_endpoint.ip|cidr: '10.{}.0.0/16'", i % 256),
                2 => format!("midwatch.action: 'action-{i}'\n        status_id: 2"),
                _ => format!("metadata.event_code|contains: 'event-{i}'"),
            };
            let text = format!(
                "title: r{i}\nlogsource: {{product: midwatch}}\ndetection:\n    sel:\n        {body}\n    condition: sel\n"
            );
            let mut report = load_str(&text, "m.yml", &LoadOptions::default());
            assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
            report.rules.remove(0)
        })
        .collect()
}

fn bench_events(c: &mut Criterion) {
    let events = normalized_events();
    let inv = Inventory::default();
    let mut group = c.benchmark_group("sigma_match_event");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    for n in [200, 1000] {
        let engine = Engine::new(midwatch_rules(n));
        let mut out = Vec::new();
        group.bench_function(format!("{n}_midwatch_rules"), |b| {
            b.iter(|| {
                out.clear();
                for e in &events {
                    let ctx = Context {
                        event: e,
                        session: None,
                        identity: None,
                        app: None,
                        inventory: &inv,
                    };
                    engine.match_event(&ctx, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
