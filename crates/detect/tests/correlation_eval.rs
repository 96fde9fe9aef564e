//! Evaluating correlation rules: the specification's examples fed with synthetic base-rule
//! matches, thresholds at the boundary, sliding windows, late matches, re-arming, group
//! separation, aliases, ordering and chaining.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::Path;

use midwatch_detect::sigma::correlation::{
    BaseMatch, CorrelationMatch, CorrelationRule, Correlator, EVIDENCE_MAX, ORDERED_KEEP, parse_str,
};

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/sigma/spec/examples/correlation"
);
const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/sigma/spec/sigma-correlation-rules-specification.md"
);

const S: i64 = 1_000;
const MIN: i64 = 60 * S;
/// An arbitrary epoch (2026-01-05), so that times are realistic.
const T0: i64 = 1_767_600_000_000;

fn load(text: &str) -> Vec<CorrelationRule> {
    parse_str(text, Path::new("rules.yml"))
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn correlator(text: &str) -> Correlator {
    Correlator::new(load(text)).unwrap()
}

fn example(name: &str) -> Correlator {
    correlator(&std::fs::read_to_string(Path::new(EXAMPLES).join(name)).unwrap())
}

/// Feeds one match of base rule `rule` (id, optional name) at `t` ms with these fields.
fn feed_named(
    c: &mut Correlator,
    rule: &str,
    name: Option<&str>,
    t: i64,
    event: &str,
    fields: &[(&str, &str)],
) -> Vec<CorrelationMatch> {
    let field = |f: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, v)| (*v).to_string())
    };
    let mut out = Vec::new();
    c.observe(
        &BaseMatch {
            rule_id: rule,
            rule_name: name,
            time_ms: t,
            event_id: event,
            field: &field,
        },
        &mut out,
    );
    out
}

fn feed(
    c: &mut Correlator,
    rule: &str,
    t: i64,
    event: &str,
    fields: &[(&str, &str)],
) -> Vec<CorrelationMatch> {
    feed_named(c, rule, None, t, event, fields)
}

fn group(m: &CorrelationMatch) -> Vec<(&str, &str)> {
    m.group
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

const FAILED: &str = "5638f7c0-ac70-491d-8465-2a65075e0d86";

#[test]
fn event_count_example_fires_at_the_hundredth_per_host() {
    let mut c = example("event_count.yml");
    assert_eq!(c.referenced().collect::<Vec<_>>(), [FAILED]);
    let mut fired = Vec::new();
    for i in 0..150 {
        let t = T0 + i * 10 * S;
        // Host B gets two matches for each of A's; a third host only a few.
        fired.extend(feed(
            &mut c,
            FAILED,
            t,
            &format!("b{}", 2 * i),
            &[("ComputerName", "B")],
        ));
        fired.extend(feed(
            &mut c,
            FAILED,
            t,
            &format!("b{}", 2 * i + 1),
            &[("ComputerName", "B")],
        ));
        if i < 100 {
            let got = feed(
                &mut c,
                FAILED,
                t,
                &format!("a{i}"),
                &[("ComputerName", "A")],
            );
            assert_eq!(got.len(), usize::from(i == 99), "A at match {}", i + 1);
            fired.extend(got);
        }
        if i < 5 {
            fired.extend(feed(
                &mut c,
                FAILED,
                t,
                &format!("c{i}"),
                &[("ComputerName", "C")],
            ));
        }
        // Other rules and matches without the group-by field do not count.
        fired.extend(feed(
            &mut c,
            "another-rule",
            t,
            "x",
            &[("ComputerName", "A")],
        ));
        fired.extend(feed(&mut c, FAILED, t, "y", &[("Computer", "A")]));
    }
    assert_eq!(
        fired.len(),
        2,
        "one match per host that crossed the threshold"
    );
    let b = &fired[0];
    assert_eq!(group(b), [("ComputerName", "B")]);
    assert_eq!(b.value, 100);
    assert_eq!(
        b.time_ms,
        T0 + 49 * 10 * S,
        "B's 100th match is its 2nd at i = 49"
    );
    assert_eq!(b.event_ids, ["b0", "b1", "b2", "b99"]);
    let a = &fired[1];
    assert_eq!(group(a), [("ComputerName", "A")]);
    assert_eq!(a.value, 100);
    assert_eq!(a.event_ids, ["a0", "a1", "a2", "a99"]);
    assert_eq!(a.rule.title, "Many failed logins");
    assert!(a.alert);
    assert_eq!(c.stats().unkeyed, 150);
}

#[test]
fn ecs_dotted_group_field() {
    let mut c = example("event_count_ecs.yml");
    let f = [("dns.question.name", "exfil.example")];
    for i in 0..99 {
        assert!(feed(&mut c, FAILED, T0 + i, &format!("e{i}"), &f).is_empty());
    }
    let m = feed(&mut c, FAILED, T0 + 99, "e99", &f);
    assert_eq!(group(&m[0]), [("dns.question.name", "exfil.example")]);
}

fn count_rule(condition: &str, timespan: &str) -> Correlator {
    correlator(&format!(
        "title: c\nid: c\ncorrelation:\n  type: event_count\n  rules: [r]\n  group-by: [user]\n  timespan: {timespan}\n  condition: {{{condition}}}\n"
    ))
}

/// Feeds matches at the given offsets (seconds from T0) for user `u`; returns the indexes
/// of the matches that fired.
fn fire_at(c: &mut Correlator, offsets: &[i64]) -> Vec<usize> {
    offsets
        .iter()
        .enumerate()
        .filter_map(|(i, &o)| {
            let m = feed(c, "r", T0 + o * S, &format!("e{i}"), &[("user", "u")]);
            assert!(m.len() <= 1);
            (!m.is_empty()).then_some(i)
        })
        .collect()
}

#[test]
fn thresholds_at_the_boundary() {
    // gte 3: the third fires, not the second.
    assert_eq!(fire_at(&mut count_rule("gte: 3", "1m"), &[0, 1, 2, 3]), [2]);
    // gt 3: the fourth.
    assert_eq!(
        fire_at(&mut count_rule("gt: 3", "1m"), &[0, 1, 2, 3, 4]),
        [3]
    );
    // eq 2: fires at two; at three it no longer holds (re-armed), it cannot come back
    // down to two while the burst lasts.
    assert_eq!(fire_at(&mut count_rule("eq: 2", "1m"), &[0, 1, 2, 3]), [1]);
    // A range fires once when entering it.
    assert_eq!(
        fire_at(&mut count_rule("gt: 2, lte: 4", "1m"), &[0, 1, 2, 3, 4, 5]),
        [2]
    );
    // lte: an upper bound holds from the first match (checked as matches arrive).
    assert_eq!(fire_at(&mut count_rule("lte: 2", "1m"), &[0, 1, 2]), [0]);
    // neq 1: from the second.
    assert_eq!(fire_at(&mut count_rule("neq: 1", "1m"), &[0, 1, 2]), [1]);
}

#[test]
fn the_window_slides_and_is_open_at_its_start() {
    // The window is (newest - 10s, newest]: a match exactly 10 s older is out.
    let mut c = count_rule("gte: 3", "10s");
    assert_eq!(fire_at(&mut c, &[0, 5, 10]), Vec::<usize>::new());
    let mut c = count_rule("gte: 3", "10s");
    let offsets_ms = [0, 5_000, 9_999];
    let hits: Vec<_> = offsets_ms
        .iter()
        .filter(|&&o| !feed(&mut c, "r", T0 + o, "e", &[("user", "u")]).is_empty())
        .collect();
    assert_eq!(hits, [&9_999]);
    // Old matches drop out: 0 and 5 leave before 16 and 17 come.
    let mut c = count_rule("gte: 3", "10s");
    assert_eq!(fire_at(&mut c, &[0, 5, 16, 17, 18]), [4]);
}

#[test]
fn one_match_per_burst_then_rearm() {
    let mut c = count_rule("gte: 3", "10s");
    // A sustained burst of 20 matches a second apart: one match.
    let burst: Vec<i64> = (0..20).collect();
    assert_eq!(fire_at(&mut c, &burst), [2]);
    // Quiet for longer than the window, then a new burst: one more.
    let mut c = count_rule("gte: 3", "10s");
    assert_eq!(fire_at(&mut c, &[0, 1, 2, 3, 40, 41, 42, 43]), [2, 6]);
    // No full quiet window, but the count fell under the threshold at a match (at 11 the
    // window holds 2 and 11): re-armed, and the next crossing fires.
    let mut c = count_rule("gte: 3", "10s");
    assert_eq!(fire_at(&mut c, &[0, 1, 2, 11, 12, 13]), [2, 5]);
    // A condition that holds from the first match re-arms after a quiet window only.
    let mut c = count_rule("gte: 1", "10s");
    assert_eq!(fire_at(&mut c, &[0, 1, 2, 9, 18, 30, 31]), [0, 5]);
}

#[test]
fn late_matches_inside_the_window_count_older_ones_are_ignored() {
    let mut c = count_rule("gte: 3", "10s");
    assert!(feed(&mut c, "r", T0, "e0", &[("user", "u")]).is_empty());
    assert!(feed(&mut c, "r", T0 + 8 * S, "e8", &[("user", "u")]).is_empty());
    // Arrives after e8, happened before it: counts.
    let m = feed(&mut c, "r", T0 + 3 * S, "e3", &[("user", "u")]);
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].event_ids,
        ["e0", "e3", "e8"],
        "evidence in event-time order"
    );
    assert_eq!(
        m[0].time_ms,
        T0 + 8 * S,
        "time of the newest match of the window"
    );
    assert_eq!(c.stats().late, 0);

    let mut c = count_rule("gte: 3", "10s");
    feed(&mut c, "r", T0, "e0", &[("user", "u")]);
    feed(&mut c, "r", T0 + 20 * S, "e20", &[("user", "u")]);
    // Older than the window (10 s before 20 s): ignored, even though with e0 it would
    // have made a pair in its own time.
    assert!(feed(&mut c, "r", T0 + 5 * S, "e5", &[("user", "u")]).is_empty());
    assert!(feed(&mut c, "r", T0 + 21 * S, "e21", &[("user", "u")]).is_empty());
    assert_eq!(c.stats().late, 1);
    let m = feed(&mut c, "r", T0 + 22 * S, "e22", &[("user", "u")]);
    assert_eq!(m[0].event_ids, ["e20", "e21", "e22"]);
}

#[test]
fn groups_are_separate() {
    let mut c = count_rule("gte: 2", "1m");
    assert!(feed(&mut c, "r", T0, "a1", &[("user", "alice")]).is_empty());
    assert!(feed(&mut c, "r", T0 + 1, "b1", &[("user", "bob")]).is_empty());
    let m = feed(&mut c, "r", T0 + 2, "a2", &[("user", "alice")]);
    assert_eq!(group(&m[0]), [("user", "alice")]);
    assert_eq!(m[0].event_ids, ["a1", "a2"]);
    // Values are compared exactly, not by a lossy form: "alice " is another user.
    assert!(feed(&mut c, "r", T0 + 3, "x", &[("user", "alice ")]).is_empty());
    assert!(feed(&mut c, "r", T0 + 4, "x", &[("user", "ALICE")]).is_empty());
    assert_eq!(c.stats().keys, 4);
}

#[test]
fn value_count_example_counts_distinct_users_per_host_and_workstation() {
    let mut c = example("value_count.yml");
    let rule = "5638f7c0-ac70-491d-8465-2a65075e0d86";
    let mut fired = Vec::new();
    for i in 0..99 {
        let user = format!("user{i}");
        let f = [
            ("ComputerName", "dc1"),
            ("WorkstationName", "ws1"),
            ("User", user.as_str()),
        ];
        fired.extend(feed(&mut c, rule, T0 + i * MIN, &format!("e{i}"), &f));
        // The same user again, and the same users on another workstation: no new value.
        fired.extend(feed(&mut c, rule, T0 + i * MIN + 1, "again", &f));
        let other = [
            ("ComputerName", "dc1"),
            ("WorkstationName", "ws2"),
            ("User", user.as_str()),
        ];
        fired.extend(feed(&mut c, rule, T0 + i * MIN + 2, "ws2", &other));
    }
    assert!(fired.is_empty(), "99 distinct users per group");
    // A match without the counted field is not counted.
    let no_user = [("ComputerName", "dc1"), ("WorkstationName", "ws1")];
    assert!(feed(&mut c, rule, T0 + 99 * MIN, "nouser", &no_user).is_empty());
    let f = [
        ("ComputerName", "dc1"),
        ("WorkstationName", "ws1"),
        ("User", "user99"),
    ];
    let m = feed(&mut c, rule, T0 + 100 * MIN, "e99", &f);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].value, 100);
    assert_eq!(
        group(&m[0]),
        [("ComputerName", "dc1"), ("WorkstationName", "ws1")]
    );
    // Evidence: the first matches that brought new values, and the one that completed it.
    assert_eq!(m[0].event_ids, ["e0", "e1", "e2", "e99"]);
}

#[test]
fn value_count_window_slides_per_value() {
    let mut c = correlator(
        "title: spray\ncorrelation:\n  type: value_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 10s\n  condition:\n    field: user\n    gte: 3\n",
    );
    let at = |c: &mut Correlator, s: i64, user: &str| {
        !feed(
            c,
            "fail",
            T0 + s * S,
            user,
            &[("src", "1.2.3.4"), ("user", user)],
        )
        .is_empty()
    };
    assert!(!at(&mut c, 0, "a"));
    assert!(!at(&mut c, 1, "b"));
    // "a" is seen again at 9: it stays in the window although its first sighting leaves.
    assert!(!at(&mut c, 9, "a"));
    assert!(!at(&mut c, 10, "b"), "a (9) and b (10): two users");
    assert!(at(&mut c, 12, "c"), "a (9), b (10), c (12)");
    // Three distinct users in the window, but "b" at 1 had left: no double counting.
    let mut c2 = correlator(
        "title: spray\ncorrelation:\n  type: value_count\n  rules: [fail]\n  group-by: [src]\n  timespan: 10s\n  condition:\n    field: user\n    gte: 3\n",
    );
    assert!(!at(&mut c2, 0, "a"));
    assert!(!at(&mut c2, 1, "b"));
    assert!(!at(&mut c2, 11, "c"), "a and b left: one user");
}

#[test]
fn temporal_example_any_order_same_group() {
    let mut c = example("temporal.yml");
    let me = [("ComputerName", "pc1"), ("User", "eve")];
    let other_user = [("ComputerName", "pc1"), ("User", "bob")];
    assert!(feed(&mut c, "recon_cmd_c", T0, "c", &me).is_empty());
    assert!(feed(&mut c, "recon_cmd_a", T0 + MIN, "a", &me).is_empty());
    assert!(feed(&mut c, "recon_cmd_b", T0 + MIN, "b-other", &other_user).is_empty());
    let m = feed(&mut c, "recon_cmd_b", T0 + 2 * MIN, "b", &me);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].value, 3);
    assert_eq!(m[0].event_ids, ["c", "a", "b"]);
    assert_eq!(group(&m[0]), [("ComputerName", "pc1"), ("User", "eve")]);
    // Repeats while all three stay in the window: silent.
    assert!(feed(&mut c, "recon_cmd_a", T0 + 3 * MIN, "a2", &me).is_empty());

    // Spread over more than 5 minutes: no match.
    let mut c = example("temporal.yml");
    feed(&mut c, "recon_cmd_a", T0, "a", &me);
    feed(&mut c, "recon_cmd_b", T0 + 3 * MIN, "b", &me);
    assert!(feed(&mut c, "recon_cmd_c", T0 + 5 * MIN, "c", &me).is_empty());
    // …but a fresh "a" inside the window completes it.
    let m = feed(&mut c, "recon_cmd_a", T0 + 6 * MIN, "a2", &me);
    assert_eq!(m[0].event_ids, ["b", "c", "a2"]);
}

#[test]
fn temporal_keeps_the_newest_match_of_each_rule() {
    let mut c = correlator(
        "title: t\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [u]\n  timespan: 10s\n",
    );
    let u = [("u", "x")];
    assert!(feed(&mut c, "a", T0 + 5 * S, "a5", &u).is_empty());
    // A late, older "a" does not displace the newer one...
    assert!(feed(&mut c, "a", T0, "a0", &u).is_empty());
    // ...which is still in the window when b comes 9 s after it.
    let m = feed(&mut c, "b", T0 + 14 * S, "b14", &u);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].event_ids, ["a5", "b14"]);
    assert_eq!(m[0].value, 2);
}

#[test]
fn temporal_ordered_example_needs_the_listed_order() {
    let me = [("ComputerName", "pc1"), ("User", "eve")];
    let run = |order: &[(&str, i64)]| -> Vec<CorrelationMatch> {
        let mut c = example("temporal_ordered.yml");
        order
            .iter()
            .flat_map(|&(rule, s)| feed(&mut c, rule, T0 + s * S, &format!("{rule}@{s}"), &me))
            .collect()
    };
    let m = run(&[("recon_cmd_a", 0), ("recon_cmd_b", 10), ("recon_cmd_c", 20)]);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].value, 3);
    assert_eq!(
        m[0].event_ids,
        ["recon_cmd_a@0", "recon_cmd_b@10", "recon_cmd_c@20"]
    );
    assert!(run(&[("recon_cmd_c", 0), ("recon_cmd_b", 10), ("recon_cmd_a", 20)]).is_empty());
    assert!(run(&[("recon_cmd_a", 0), ("recon_cmd_c", 10), ("recon_cmd_b", 20)]).is_empty());
    assert!(run(&[("recon_cmd_b", 0), ("recon_cmd_a", 10), ("recon_cmd_c", 20)]).is_empty());
    // Out of order only in arrival: c arrives before b but happened after it.
    let m = run(&[("recon_cmd_a", 0), ("recon_cmd_c", 20), ("recon_cmd_b", 10)]);
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].event_ids,
        ["recon_cmd_a@0", "recon_cmd_b@10", "recon_cmd_c@20"]
    );
    // Too slow: a to c takes the whole 5 minutes.
    assert!(
        run(&[
            ("recon_cmd_a", 0),
            ("recon_cmd_b", 100),
            ("recon_cmd_c", 300)
        ])
        .is_empty()
    );
    // A later a restarts a chain that fits.
    let m = run(&[
        ("recon_cmd_a", 0),
        ("recon_cmd_b", 100),
        ("recon_cmd_a", 200),
        ("recon_cmd_c", 300),
        ("recon_cmd_b", 310),
        ("recon_cmd_c", 320),
    ]);
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].event_ids,
        ["recon_cmd_a@200", "recon_cmd_b@310", "recon_cmd_c@320"]
    );
}

#[test]
fn temporal_ordered_late_matches_join_kept_ones() {
    let me = [("ComputerName", "pc1"), ("User", "eve")];
    // b arrives last but happened between the first a and c: a0 → b3 → c8.
    let mut c = example("temporal_ordered.yml");
    feed(&mut c, "recon_cmd_a", T0, "a0", &me);
    feed(&mut c, "recon_cmd_a", T0 + 5 * S, "a5", &me);
    feed(&mut c, "recon_cmd_c", T0 + 8 * S, "c8", &me);
    let m = feed(&mut c, "recon_cmd_b", T0 + 3 * S, "b3", &me);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].event_ids, ["a0", "b3", "c8"]);
    assert_eq!(m[0].time_ms, T0 + 8 * S);

    // A late a that starts a tighter chain replaces the looser one in the evidence.
    let mut c = example("temporal_ordered.yml");
    feed(&mut c, "recon_cmd_a", T0, "a0", &me);
    feed(&mut c, "recon_cmd_b", T0 + 5 * S, "b5", &me);
    feed(&mut c, "recon_cmd_a", T0 + 4 * S, "a4", &me);
    let m = feed(&mut c, "recon_cmd_c", T0 + 8 * S, "c8", &me);
    assert_eq!(m[0].event_ids, ["a4", "b5", "c8"]);
}

#[test]
fn temporal_ordered_keeps_chains_past_many_repeats() {
    // a, b, then many more a's (more than each step keeps), then c: the chain a→b found
    // when b arrived still counts.
    let mut c = example("temporal_ordered.yml");
    let me = [("ComputerName", "pc1"), ("User", "eve")];
    feed(&mut c, "recon_cmd_a", T0, "a0", &me);
    feed(&mut c, "recon_cmd_b", T0 + S, "b1", &me);
    for i in 0..(ORDERED_KEEP as i64 + 3) {
        assert!(feed(&mut c, "recon_cmd_a", T0 + (2 + i) * S, "a", &me).is_empty());
    }
    let m = feed(&mut c, "recon_cmd_c", T0 + 20 * S, "c", &me);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].event_ids, ["a0", "b1", "c"]);
}

#[test]
fn spec_alias_example_joins_crossed_fields() {
    let rule = r"
title: Internal error followed by a connection back
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
";
    let error = [("destination.ip", "10.0.0.5"), ("source.ip", "203.0.113.9")];
    let back = [("source.ip", "10.0.0.5"), ("destination.ip", "203.0.113.9")];
    let mut c = correlator(rule);
    assert!(
        feed(&mut c, "some-id", T0, "x", &error).is_empty(),
        "matched by id: not listed"
    );
    assert!(feed_named(&mut c, "id-1", Some("internal_error"), T0, "err", &error).is_empty());
    let m = feed_named(
        &mut c,
        "id-2",
        Some("new_network_connection"),
        T0 + 3 * S,
        "conn",
        &back,
    );
    assert_eq!(m.len(), 1);
    assert_eq!(
        group(&m[0]),
        [("internal_ip", "10.0.0.5"), ("remote_ip", "203.0.113.9")]
    );
    assert_eq!(m[0].event_ids, ["err", "conn"]);
    // The same addresses in the same fields (not crossed) are another group.
    let mut c = correlator(rule);
    feed_named(&mut c, "id-1", Some("internal_error"), T0, "err", &error);
    assert!(
        feed_named(
            &mut c,
            "id-2",
            Some("new_network_connection"),
            T0 + S,
            "conn",
            &error
        )
        .is_empty()
    );
}

fn spec_full_example() -> String {
    let spec = std::fs::read_to_string(SPEC).unwrap();
    let start = spec
        .find("```yml\ntitle: Correlation - Multiple Failed Logins")
        .unwrap();
    let body = &spec[start + "```yml\n".len()..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn chained_failed_logins_then_success() {
    let mut c = correlator(&spec_full_example());
    let failed = ("53ba33fd-3a50-4468-a5ef-c583635cfa92", Some("failed_login"));
    let success = (
        "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8",
        Some("successful_login"),
    );
    let alice = [("User", "alice"), ("EventID", "4625")];
    // Base rules listed by correlations with generate: false raise no alerts of their own.
    assert!(!c.standalone(failed.0, failed.1));
    assert!(!c.standalone(success.0, success.1));
    assert!(c.standalone("unrelated", None));

    // A success with no failures before: nothing.
    assert!(feed_named(&mut c, success.0, success.1, T0, "s0", &alice).is_empty());
    let mut inner = Vec::new();
    for i in 0..10 {
        inner.extend(feed_named(
            &mut c,
            failed.0,
            failed.1,
            T0 + i * S,
            &format!("f{i}"),
            &alice,
        ));
    }
    assert_eq!(inner.len(), 1, "the event_count fired on the 10th failure");
    assert_eq!(inner[0].rule.name.as_deref(), Some("multiple_failed_login"));
    assert!(!inner[0].alert, "only the outermost correlation alerts");
    assert_eq!(inner[0].event_ids, ["f0", "f1", "f2", "f9"]);
    // Bob succeeds: another user, nothing.
    assert!(
        feed_named(
            &mut c,
            success.0,
            success.1,
            T0 + 20 * S,
            "sb",
            &[("User", "bob")]
        )
        .is_empty()
    );
    let m = feed_named(&mut c, success.0, success.1, T0 + 30 * S, "s1", &alice);
    assert_eq!(m.len(), 1);
    let outer = &m[0];
    assert_eq!(
        outer.rule.id.as_deref(),
        Some("b180ead8-d58f-40b2-ae54-c8940995b9b6")
    );
    assert!(outer.alert);
    assert_eq!(group(outer), [("User", "alice")]);
    assert_eq!(outer.event_ids, ["f0", "f1", "f2", "f9", "s1"]);
    assert_eq!(outer.value, 2);
    assert_eq!(outer.time_ms, T0 + 30 * S);

    // The success must come after the burst: success then failures gives nothing.
    let mut c = correlator(&spec_full_example());
    let bob = [("User", "bob")];
    let mut all = feed_named(&mut c, success.0, success.1, T0, "s", &bob);
    for i in 1..=10 {
        all.extend(feed_named(
            &mut c,
            failed.0,
            failed.1,
            T0 + i * S,
            "f",
            &bob,
        ));
    }
    assert_eq!(all.len(), 1, "only the inner burst");
    assert!(!all[0].alert);
}

#[test]
fn generate_true_keeps_base_alerts_and_chained_alerts() {
    let mut c = correlator(
        "title: outer\ngenerate: true\ncorrelation:\n  type: temporal_ordered\n  rules: [burst, done]\n  group-by: [u]\n  timespan: 1m\n---\ntitle: burst\nname: burst\ncorrelation:\n  type: event_count\n  rules: [step]\n  group-by: [u]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    assert!(c.standalone("done-id", Some("done")));
    assert!(
        !c.standalone("step-id", Some("step")),
        "burst keeps the default"
    );
    feed(&mut c, "step", T0, "s1", &[("u", "x")]);
    let m = feed(&mut c, "step", T0 + 1, "s2", &[("u", "x")]);
    assert!(m[0].alert, "listed by a correlation with generate: true");
    let m = feed(&mut c, "done", T0 + 2, "d", &[("u", "x")]);
    assert_eq!(m[0].event_ids, ["s1", "s2", "d"]);
}

#[test]
fn a_rule_listed_by_id_and_name_counts_once_per_match() {
    let mut c = correlator(
        "title: c\ncorrelation:\n  type: event_count\n  rules: [rid, rname]\n  group-by: [u]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    assert!(feed_named(&mut c, "rid", Some("rname"), T0, "e1", &[("u", "x")]).is_empty());
    let m = feed_named(&mut c, "rid", Some("rname"), T0 + 1, "e2", &[("u", "x")]);
    assert_eq!(m[0].value, 2);
}

const LEVELS: &str = "title: l3\ncorrelation: {type: event_count, rules: [l2], group-by: [u], timespan: 1d, condition: {gte: 3}}
---
title: l2\nname: l2\ncorrelation: {type: event_count, rules: [l1], group-by: [u], timespan: 25m, condition: {gte: 3}}
---
title: l1\nname: l1\ncorrelation: {type: event_count, rules: [base], group-by: [u], timespan: 1m, condition: {gte: 3}}
";

/// Feeds bursts of three base matches starting at the given minutes; returns the titles of
/// the correlations that fired and the matches.
fn bursts(c: &mut Correlator, minutes: &[i64]) -> Vec<CorrelationMatch> {
    let mut out = Vec::new();
    for (b, &minute) in minutes.iter().enumerate() {
        for i in 0..3 {
            let t = T0 + minute * MIN + i * S;
            out.extend(feed(c, "base", t, &format!("e{b}.{i}"), &[("u", "x")]));
        }
    }
    out
}

fn count_of(out: &[CorrelationMatch], title: &str) -> usize {
    out.iter().filter(|m| m.rule.title == title).count()
}

#[test]
fn chains_of_chains_keep_evidence_bounded() {
    // Three levels: 3 base matches in a minute make l1; 3 l1 in 25 minutes make l2; 3 l2
    // in a day make l3. Bursts in threes, 10 minutes apart, with an hour between threes.
    let mut c = correlator(LEVELS);
    let out = bursts(&mut c, &[0, 10, 20, 80, 90, 100, 160, 170, 180]);
    assert_eq!(count_of(&out, "l1"), 9);
    assert_eq!(count_of(&out, "l2"), 3);
    assert_eq!(count_of(&out, "l3"), 1);
    let l3 = out.last().unwrap();
    assert_eq!(l3.rule.title, "l3");
    assert_eq!(l3.time_ms, T0 + 180 * MIN + 2 * S);
    assert_eq!(l3.event_ids.len(), EVIDENCE_MAX);
    assert_eq!(l3.event_ids.first().unwrap(), "e0.0");
    assert_eq!(
        l3.event_ids.last().unwrap(),
        "e8.2",
        "first ids and the last"
    );
    assert!(!out.iter().filter(|m| m.rule.title != "l3").any(|m| m.alert));

    // l1 matches spread wider than l2's window: l2 and l3 stay silent.
    let mut c = correlator(LEVELS);
    let out = bursts(&mut c, &[0, 30, 60, 90, 120, 150]);
    assert_eq!((count_of(&out, "l1"), count_of(&out, "l2")), (6, 0));
}

#[test]
fn sweep_drops_passed_windows_and_the_key_cap_evicts_the_oldest() {
    let mut c = count_rule("gte: 2", "1m");
    for i in 0..10 {
        feed(&mut c, "r", T0 + i * S, "e", &[("user", &format!("u{i}"))]);
    }
    assert_eq!(c.stats().keys, 10);
    c.sweep(T0 + MIN + 4 * S);
    let s = c.stats();
    assert_eq!((s.keys, s.expired, s.evictions), (5, 5, 0), "u0..u4 passed");
    // A swept key starts afresh.
    assert!(feed(&mut c, "r", T0 + 2 * MIN, "e", &[("user", "u0")]).is_empty());

    let mut c = count_rule("gte: 2", "1h").with_max_keys(64);
    for i in 0..1_000 {
        feed(
            &mut c,
            "r",
            T0 + i * S,
            "e",
            &[("user", &format!("flood{i}"))],
        );
    }
    let s = c.stats();
    assert!(s.keys <= 64, "{s:?}");
    assert!(s.evictions >= 1_000 - 64, "{s:?}");
    assert_eq!(s.expired, 0, "all windows were still open");
    // The newest keys survived the flood and still count.
    let m = feed(&mut c, "r", T0 + 1_000 * S, "e", &[("user", "flood999")]);
    assert_eq!(m.len(), 1);

    // One match far in the future does not make the cap wipe every other group.
    let mut c = count_rule("gte: 2", "1h").with_max_keys(64);
    feed(
        &mut c,
        "r",
        T0 + 3_650 * 24 * 60 * MIN,
        "future",
        &[("user", "clock-skewed")],
    );
    for i in 0..100 {
        feed(&mut c, "r", T0 + i * S, "e", &[("user", &format!("k{i}"))]);
    }
    let s = c.stats();
    assert!(s.keys >= 64 - 8, "{s:?}");
    assert_eq!(s.evictions, 101 - s.keys as u64, "{s:?}");
    let m = feed(&mut c, "r", T0 + 100 * S, "e", &[("user", "k99")]);
    assert_eq!(m.len(), 1);
}
