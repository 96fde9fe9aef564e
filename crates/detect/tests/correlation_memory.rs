//! Bounded state: bytes per (rule, group) with many distinct groups, per busy group, and
//! under the key cap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::Path;

use midwatch_detect::sigma::correlation::{
    BaseMatch, CorrelationMatch, CorrelationStats, Correlator, parse_str,
};

const T0: i64 = 1_767_600_000_000;
const KEYS: usize = 100_000;
/// Matches fed to one busy group.
const BUSY: usize = 20_000;

fn correlator(text: &str) -> Correlator {
    let rules = parse_str(text, Path::new("rules.yml"))
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    Correlator::new(rules).unwrap()
}

/// A 36-character event id, as long as a UUID (vendor event ids are about this long).
fn event_id(i: usize) -> String {
    format!("0e95725d-7320-415d-80f7-{i:012}")
}

fn observe(c: &mut Correlator, rule: &str, t: i64, event: &str, fields: &[(&str, &str)]) -> usize {
    let field = |f: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, v)| (*v).to_string())
    };
    let mut out: Vec<CorrelationMatch> = Vec::new();
    c.observe(
        &BaseMatch {
            rule_id: rule,
            rule_name: None,
            time_ms: t,
            event_id: event,
            field: &field,
        },
        &mut out,
    );
    out.len()
}

/// One match for each of 100k distinct users, spread over a minute; returns the stats.
fn many_keys(rule: &str, base_rules: &[&str]) -> CorrelationStats {
    let mut c = correlator(rule);
    for i in 0..KEYS {
        let user = format!("user{i}@example.com");
        let fields = [("user", user.as_str()), ("src", "198.51.100.7")];
        let base = base_rules[i % base_rules.len()];
        let fired = observe(
            &mut c,
            base,
            T0 + (i as i64) * 60_000 / KEYS as i64,
            &event_id(i),
            &fields,
        );
        assert_eq!(fired, 0);
    }
    c.stats()
}

fn per_key(kind: &str, stats: CorrelationStats) -> usize {
    assert_eq!(stats.keys, KEYS, "{kind}: {stats:?}");
    assert_eq!((stats.evictions, stats.expired, stats.late), (0, 0, 0));
    let per_key = stats.bytes / stats.keys;
    eprintln!(
        "{kind}: {} keys, {} bytes, {per_key} bytes per key",
        stats.keys, stats.bytes
    );
    per_key
}

#[test]
fn event_count_groups_stay_under_256_bytes() {
    let stats = many_keys(
        "title: c\ncorrelation: {type: event_count, rules: [fail], group-by: [user], timespan: 1h, condition: {gte: 5}}\n",
        &["fail"],
    );
    assert!(per_key("event_count", stats) <= 256);
}

#[test]
fn value_count_groups_stay_under_256_bytes() {
    let stats = many_keys(
        "title: c\ncorrelation: {type: value_count, rules: [fail], group-by: [user], timespan: 1h, condition: {field: src, gte: 5}}\n",
        &["fail"],
    );
    assert!(per_key("value_count", stats) <= 256);
}

#[test]
fn temporal_groups_stay_under_256_bytes() {
    let stats = many_keys(
        "title: c\ncorrelation: {type: temporal, rules: [a, b, c], group-by: [user], timespan: 1h}\n",
        &["a", "b", "c"],
    );
    assert!(per_key("temporal", stats) <= 256);
}

#[test]
fn temporal_ordered_groups_stay_under_256_bytes() {
    let stats = many_keys(
        "title: c\ncorrelation: {type: temporal_ordered, rules: [a, b, c], group-by: [user], timespan: 1h}\n",
        &["a", "b", "c"],
    );
    assert!(per_key("temporal_ordered", stats) <= 256);
}

#[test]
fn a_busy_group_is_bounded_by_its_threshold() {
    // Many matches of one user within the window, threshold 100: the group keeps at most
    // 101 timestamps and 3 evidence ids.
    let mut c = correlator(
        "title: c\ncorrelation: {type: event_count, rules: [fail], group-by: [user], timespan: 1d, condition: {gte: 100}}\n",
    );
    let mut fired = 0;
    for i in 0..BUSY {
        fired += observe(
            &mut c,
            "fail",
            T0 + i as i64,
            &event_id(i),
            &[("user", "alice")],
        );
    }
    assert_eq!(fired, 1, "one burst");
    let stats = c.stats();
    eprintln!("busy event_count group: {stats:?}");
    assert_eq!(stats.keys, 1);
    assert!(stats.bytes <= 101 * 8 * 2 + 512, "{stats:?}");

    // Many distinct values in one group, threshold 50: at most 51 hashes kept.
    let mut c = correlator(
        "title: c\ncorrelation: {type: value_count, rules: [fail], group-by: [src], timespan: 1d, condition: {field: user, gte: 50}}\n",
    );
    let mut fired = 0;
    for i in 0..BUSY {
        let user = format!("user{i}");
        fired += observe(
            &mut c,
            "fail",
            T0 + i as i64,
            &event_id(i),
            &[("src", "203.0.113.5"), ("user", &user)],
        );
    }
    assert_eq!(fired, 1);
    let stats = c.stats();
    eprintln!("busy value_count group: {stats:?}");
    assert!(stats.bytes <= 51 * 16 * 2 + 512, "{stats:?}");

    // Ordered matches repeated: each step keeps a few.
    let mut c = correlator(
        "title: c\ncorrelation: {type: temporal_ordered, rules: [a, b, c], group-by: [user], timespan: 1d}\n",
    );
    for i in 0..BUSY {
        let rule = ["a", "b"][i % 2];
        observe(
            &mut c,
            rule,
            T0 + i as i64,
            &event_id(i),
            &[("user", "alice")],
        );
    }
    let stats = c.stats();
    eprintln!("busy temporal_ordered group: {stats:?}");
    assert!(stats.bytes <= 2_048, "{stats:?}");
}

#[test]
fn the_key_cap_bounds_the_total() {
    let mut c = correlator(
        "title: c\ncorrelation: {type: event_count, rules: [fail], group-by: [user], timespan: 1d, condition: {gte: 5}}\n",
    )
    .with_max_keys(10_000);
    for i in 0..KEYS {
        let user = format!("user{i}");
        observe(
            &mut c,
            "fail",
            T0 + i as i64,
            &event_id(i),
            &[("user", &user)],
        );
    }
    let stats = c.stats();
    eprintln!("capped: {stats:?}");
    assert!(stats.keys <= 10_000);
    assert!(stats.evictions >= (KEYS - 10_000) as u64);
    assert!(stats.bytes <= 10_000 * 256, "{stats:?}");
}
