//! midwatch's Sigma engine beside tau-engine and sigma-rust, in one run, on the same
//! records (the public vendor samples, repeated to 20,000) and the same rules (the SigmaHQ
//! cloud rules a midwatch source feeds, about 200, and 1,000 rules derived from them).
//! Record parsing is included: each engine reads the record bytes its own way.
//!
//! Each peer gets, per record, only the rules of that record's source (a logsource filter
//! a user of the peer would write). sigma-rust reads the Sigma rules as they are; tau-engine
//! has its own rule language, so each rule's parsed detection is translated to it where it
//! can be (field tests with string patterns and regular expressions, conditions); rules with
//! keywords, `null`, `exists`, field references, numeric comparisons or a field tested twice
//! in one mapping are counted as unsupported.
//!
//! Before timing, every record is matched by every engine and the results compared rule by
//! rule; the report says where and why peers differ.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "benchmark"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use midwatch_detect::sigma::ast::{Cond, Detection, Matcher, Test};
use midwatch_detect::sigma::pattern::Part;
use midwatch_detect::sigma::{Engine, LoadOptions, Match, load_str};
use serde_json::{Map, Value as J};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

#[path = "../../sigma_bench_data.rs"]
mod data;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 20_000;

/// Every engine over one rule set.
struct Engines {
    midwatch: Engine,
    /// Per source: (rule index, rule).
    sigma_rust: BTreeMap<&'static str, Vec<(usize, sigma_rust::Rule)>>,
    tau: BTreeMap<&'static str, Vec<(usize, tau_engine::Rule)>>,
    sigma_rust_loaded: usize,
    tau_loaded: usize,
    rules: usize,
}

fn engines(n: usize) -> Engines {
    let set = data::rule_set(n);
    let mut rules = Vec::new();
    let mut sigma_rust: BTreeMap<&'static str, Vec<(usize, sigma_rust::Rule)>> = BTreeMap::new();
    let mut tau: BTreeMap<&'static str, Vec<(usize, tau_engine::Rule)>> = BTreeMap::new();
    let (mut sr_loaded, mut tau_loaded) = (0, 0);
    for (i, (sources, text)) in set.iter().enumerate() {
        let report = load_str(text, format!("rule-{i}.yml"), &LoadOptions::default());
        let rule = report
            .rules
            .into_iter()
            .next()
            .expect("every derived rule loads");
        // sigma-rust rules cannot be cloned: one parse per source.
        if sigma_rust::rule_from_yaml(text).is_ok() {
            sr_loaded += 1;
            for s in sources {
                if let Ok(r) = sigma_rust::rule_from_yaml(text) {
                    sigma_rust.entry(s).or_default().push((i, r));
                }
            }
        }
        if let Some(t) = to_tau(&rule.detection)
            && let Ok(r) = tau_engine::Rule::from_str(&t)
        {
            tau_loaded += 1;
            for s in sources {
                tau.entry(s).or_default().push((i, r.clone()));
            }
        }
        rules.push(rule);
    }
    Engines {
        midwatch: Engine::new(rules),
        sigma_rust,
        tau,
        sigma_rust_loaded: sr_loaded,
        tau_loaded,
        rules: n,
    }
}

/// The detection in tau-engine's rule language, when it can be said there.
fn to_tau(d: &Detection) -> Option<String> {
    let mut identifiers = Map::new();
    for (i, s) in d.searches.iter().enumerate() {
        let mut maps = Vec::new();
        for alt in &s.alternatives {
            let mut map = Map::new();
            for item in alt {
                let field = item.field.clone()?;
                if map.contains_key(&field) {
                    return None;
                }
                map.insert(field, tau_values(&item.test)?);
            }
            maps.push(J::Object(map));
        }
        let value = if maps.len() == 1 {
            maps.pop()?
        } else {
            J::Array(maps)
        };
        identifiers.insert(format!("i{i}"), value);
    }
    identifiers.insert("condition".into(), J::String(tau_cond(&d.condition)));
    let rule = serde_json::json!({
        "detection": identifiers,
        "true_positives": [],
        "true_negatives": [],
    });
    Some(rule.to_string())
}

fn tau_values(test: &Test) -> Option<J> {
    let Test::Match {
        all: false,
        or_null: false,
        negate: false,
        matchers,
    } = test
    else {
        return None;
    };
    let mut values: Vec<J> = matchers.iter().map(tau_value).collect::<Option<_>>()?;
    Some(if values.len() == 1 {
        values.pop()?
    } else {
        J::Array(values)
    })
}

fn tau_value(m: &Matcher) -> Option<J> {
    match m {
        Matcher::Str { pattern, cased } => {
            let prefix = if *cased { "" } else { "i" };
            let plain = |t: &str| !t.is_empty() && !t.contains(['*', '?', '"', '\'']);
            let simple = match pattern.parts() {
                [Part::Text(t)] if t.chars().all(|c| c.is_ascii_digit()) && t.len() < 15 => {
                    return Some(J::from(t.parse::<i64>().ok()?));
                }
                [Part::Text(t)] if plain(t) && !t.starts_with('i') => Some(format!("{prefix}{t}")),
                [Part::Text(t), Part::Many] if plain(t) => Some(format!("{prefix}{t}*")),
                [Part::Many, Part::Text(t)] if plain(t) => Some(format!("{prefix}*{t}")),
                [Part::Many, Part::Text(t), Part::Many] if plain(t) => {
                    Some(format!("{prefix}*{t}*"))
                }
                _ => None,
            };
            Some(J::String(simple.unwrap_or_else(|| {
                let mut re = String::from(if *cased { "?(?s)^" } else { "?(?is)^" });
                for p in pattern.parts() {
                    match p {
                        Part::Text(t) => re.push_str(&regex_escape(t)),
                        Part::One => re.push('.'),
                        Part::Many => re.push_str(".*"),
                    }
                }
                re.push('$');
                re
            })))
        }
        Matcher::Regex {
            regex,
            insensitive,
            multiline,
            dotall,
        } => {
            let mut flags = String::new();
            if *insensitive {
                flags.push('i');
            }
            if *multiline {
                flags.push('m');
            }
            if *dotall {
                flags.push('s');
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("(?{flags})")
            };
            Some(J::String(format!("?{flags}{regex}")))
        }
        _ => None,
    }
}

fn regex_escape(t: &str) -> String {
    let mut out = String::new();
    for c in t.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn tau_cond(c: &Cond) -> String {
    match c {
        Cond::And(cs) => format!(
            "({})",
            cs.iter().map(tau_cond).collect::<Vec<_>>().join(" and ")
        ),
        Cond::Or(cs) => format!(
            "({})",
            cs.iter().map(tau_cond).collect::<Vec<_>>().join(" or ")
        ),
        Cond::Not(c) => format!("not {}", tau_cond(c)),
        Cond::Search(i) => format!("i{i}"),
    }
}

fn run_midwatch(e: &Engines, events: &[(&'static str, Vec<u8>)], out: &mut Vec<Match>) -> usize {
    out.clear();
    for (source, bytes) in events {
        let _ = e.midwatch.match_raw(source, bytes, out);
    }
    out.len()
}

fn run_sigma_rust(e: &Engines, events: &[(&'static str, Vec<u8>)]) -> usize {
    let mut n = 0;
    for (source, bytes) in events {
        let Some(rules) = e.sigma_rust.get(source) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Ok(event) = sigma_rust::event_from_json(text) else {
            continue;
        };
        n += rules.iter().filter(|(_, r)| r.is_match(&event)).count();
    }
    n
}

fn run_tau(e: &Engines, events: &[(&'static str, Vec<u8>)]) -> usize {
    let mut n = 0;
    for (source, bytes) in events {
        let Some(rules) = e.tau.get(source) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<J>(bytes) else {
            continue;
        };
        n += rules.iter().filter(|(_, r)| r.matches(&doc)).count();
    }
    n
}

/// Per rule, how many records each engine matched; compared for the rules a peer loaded.
fn compare(e: &Engines, records: &[(&'static str, Vec<u8>)]) {
    let mut mw: BTreeMap<usize, usize> = BTreeMap::new();
    let mut sr: BTreeMap<usize, usize> = BTreeMap::new();
    let mut tau: BTreeMap<usize, usize> = BTreeMap::new();
    let mut disagree_sr: BTreeMap<usize, usize> = BTreeMap::new();
    let mut disagree_tau: BTreeMap<usize, usize> = BTreeMap::new();
    for (source, bytes) in records {
        let mut out = Vec::new();
        let _ = e.midwatch.match_raw(source, bytes, &mut out);
        let mine: Vec<usize> = out.iter().map(|m| m.rule).collect();
        for r in &mine {
            *mw.entry(*r).or_default() += 1;
        }
        let text = std::str::from_utf8(bytes).unwrap();
        let event = sigma_rust::event_from_json(text).unwrap();
        for (i, r) in e.sigma_rust.get(source).into_iter().flatten() {
            let hit = r.is_match(&event);
            if hit {
                *sr.entry(*i).or_default() += 1;
            }
            if hit != mine.contains(i) {
                *disagree_sr.entry(*i).or_default() += 1;
            }
        }
        let doc: J = serde_json::from_slice(bytes).unwrap();
        for (i, r) in e.tau.get(source).into_iter().flatten() {
            let hit = r.matches(&doc);
            if hit {
                *tau.entry(*i).or_default() += 1;
            }
            if hit != mine.contains(i) {
                *disagree_tau.entry(*i).or_default() += 1;
            }
        }
    }
    let titles: Vec<String> = e
        .midwatch
        .rules()
        .iter()
        .map(|r| r.meta.title.clone())
        .collect();
    println!(
        "  {} rules: midwatch loads {}, sigma-rust {}, tau-engine (translated) {}",
        e.rules,
        e.midwatch.rules().len(),
        e.sigma_rust_loaded,
        e.tau_loaded
    );
    println!(
        "  matches on the {} sample records: midwatch {}, sigma-rust {}, tau-engine {}",
        records.len(),
        mw.values().sum::<usize>(),
        sr.values().sum::<usize>(),
        tau.values().sum::<usize>()
    );
    for (name, disagree, theirs) in [
        ("sigma-rust", &disagree_sr, &sr),
        ("tau-engine", &disagree_tau, &tau),
    ] {
        if disagree.is_empty() {
            println!("  {name}: identical matches on every rule it loads");
        }
        for (rule, n) in disagree {
            println!(
                "  {name} differs on `{}`: midwatch {}, {name} {} ({n} records differ)",
                titles[*rule],
                mw.get(rule).copied().unwrap_or(0),
                theirs.get(rule).copied().unwrap_or(0)
            );
        }
    }
}

/// Best of three passes, events per second.
fn rate(events: usize, mut f: impl FnMut() -> usize) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            events as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn bench(c: &mut Criterion) {
    let records = data::vendor_records();
    let events = data::events(EVENTS);
    let mut group = c.benchmark_group("sigma_peers");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    for n in [200, 1000] {
        let e = engines(n);
        println!("{n} rules");
        compare(&e, &records);
        let mut out = Vec::new();
        let mw = rate(events.len(), || run_midwatch(&e, &events, &mut out));
        let sr = rate(events.len(), || run_sigma_rust(&e, &events));
        let tau = rate(events.len(), || run_tau(&e, &events));
        println!(
            "  events/s on one core, parse included: midwatch {mw:.0}, sigma-rust {sr:.0}, tau-engine {tau:.0} (midwatch x{:.1}, x{:.1})",
            mw / sr,
            mw / tau
        );
        group.bench_function(format!("midwatch_{n}"), |b| {
            b.iter(|| black_box(run_midwatch(&e, &events, &mut out)))
        });
        group.bench_function(format!("sigma_rust_{n}"), |b| {
            b.iter(|| black_box(run_sigma_rust(&e, &events)))
        });
        group.bench_function(format!("tau_engine_{n}"), |b| {
            b.iter(|| black_box(run_tau(&e, &events)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
