//! Loading correlation rules: the specification's examples, every error code with where it
//! points, and hostile input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::{Path, PathBuf};

use midwatch_detect::sigma::LoadError;
use midwatch_detect::sigma::correlation::{
    CompareOp, CorrelationRule, CorrelationType, Correlator, parse, parse_str, parse_timespan,
};
use midwatch_model::Severity;
use saphyr::{LoadableYamlNode, MarkedYaml};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/sigma/spec"
);

fn example(name: &str) -> (PathBuf, String) {
    let path = Path::new(SPEC).join("examples/correlation").join(name);
    let text = std::fs::read_to_string(&path).expect("spec example");
    (path, text)
}

fn one(text: &str) -> Result<CorrelationRule, LoadError> {
    let mut all = parse_str(text, Path::new("rule.yml"));
    assert_eq!(all.len(), 1, "one correlation document expected");
    all.remove(0)
}

fn ok(text: &str) -> CorrelationRule {
    one(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The error of a document, checked for code and position.
fn err(text: &str, code: &str, line: usize, column: usize) -> LoadError {
    let e = one(text).expect_err("an error");
    assert_eq!(
        (e.code, e.line, e.column),
        (code, line, column),
        "wrong error: {e}"
    );
    assert_eq!(e.file, Path::new("rule.yml"));
    assert!(!e.message.is_empty());
    e
}

#[test]
fn event_count_example() {
    let (path, text) = example("event_count.yml");
    let rules = parse_str(&text, &path);
    let rule = rules.into_iter().next().unwrap().unwrap();
    assert_eq!(rule.kind, CorrelationType::EventCount);
    assert_eq!(rule.meta.title, "Many failed logins");
    assert_eq!(
        rule.meta.id.as_deref(),
        Some("0e95725d-7320-415d-80f7-004da920fc11")
    );
    assert_eq!(rule.rules.len(), 1);
    assert_eq!(
        rule.rules[0].reference,
        "5638f7c0-ac70-491d-8465-2a65075e0d86"
    );
    assert_eq!((rule.rules[0].line, rule.rules[0].column), (6, 11));
    assert_eq!(rule.group_by, ["ComputerName"]);
    assert_eq!(rule.timespan_ms, 3_600_000);
    assert_eq!(rule.condition.bounds(), [(CompareOp::Gte, 100)]);
    assert!(!rule.generate, "generate defaults to false");
    assert_eq!(rule.meta.file, path);
    assert_eq!(rule.meta.line, 1);
}

#[test]
fn event_count_ecs_example_keeps_taxonomy_and_dotted_fields() {
    let (path, text) = example("event_count_ecs.yml");
    let rule = parse_str(&text, &path).remove(0).unwrap();
    assert_eq!(rule.meta.taxonomy.as_deref(), Some("ecs"));
    assert_eq!(rule.group_by, ["dns.question.name"]);
}

#[test]
fn value_count_example() {
    let (path, text) = example("value_count.yml");
    let rule = parse_str(&text, &path).remove(0).unwrap();
    assert_eq!(rule.kind, CorrelationType::ValueCount);
    assert_eq!(rule.fields, ["User"]);
    assert_eq!(rule.group_by, ["ComputerName", "WorkstationName"]);
    assert_eq!(rule.timespan_ms, 86_400_000);
    assert_eq!(rule.condition.bounds(), [(CompareOp::Gte, 100)]);
}

#[test]
fn temporal_examples_default_to_all_rules() {
    for (name, kind) in [
        ("temporal.yml", CorrelationType::Temporal),
        ("temporal_ordered.yml", CorrelationType::TemporalOrdered),
    ] {
        let (path, text) = example(name);
        let rule = parse_str(&text, &path).remove(0).unwrap();
        assert_eq!(rule.kind, kind);
        assert_eq!(rule.meta.id, None);
        let refs: Vec<_> = rule.rules.iter().map(|r| r.reference.as_str()).collect();
        assert_eq!(refs, ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"]);
        assert_eq!(rule.timespan_ms, 300_000);
        assert_eq!(rule.condition.bounds(), [(CompareOp::Gte, 3)]);
        assert!(!rule.condition.holds(2) && rule.condition.holds(3));
    }
}

#[test]
fn extended_types_are_refused_as_unsupported() {
    for name in ["value_sum.yml", "value_avg.yml", "value_percentile.yml"] {
        let (path, text) = example(name);
        let e = parse_str(&text, &path).remove(0).unwrap_err();
        assert_eq!((e.code, e.line, e.column), ("C0006", 3, 11), "{name}: {e}");
        assert_eq!(e.file, path);
        assert!(e.message.contains("not supported"), "{e}");
    }
}

/// The specification's complete example: a multi-document file with a chained correlation,
/// two single-event rules, `level` and `falsepositives`.
#[test]
fn spec_full_example_loads_and_chains() {
    let spec =
        std::fs::read_to_string(Path::new(SPEC).join("sigma-correlation-rules-specification.md"))
            .unwrap();
    let start = spec
        .find("```yml\ntitle: Correlation - Multiple Failed Logins")
        .expect("example in the spec");
    let body = &spec[start + "```yml\n".len()..];
    let text = &body[..body.find("```").unwrap()];
    let rules: Vec<_> = parse_str(text, Path::new("mr_failed_then_success.yml"))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rules.len(), 2, "the two single-event rules are skipped");
    let outer = &rules[0];
    assert_eq!(outer.kind, CorrelationType::TemporalOrdered);
    assert_eq!(outer.meta.level, Some(Severity::High));
    assert_eq!(outer.meta.falsepositives, ["Unlikely"]);
    assert_eq!(outer.meta.references, ["https://reference.com"]);
    assert!(
        outer
            .meta
            .description
            .as_deref()
            .unwrap()
            .starts_with("Detects multiple")
    );
    assert_eq!(outer.timespan_ms, 600_000);
    let inner = &rules[1];
    assert_eq!(inner.meta.name.as_deref(), Some("multiple_failed_login"));
    assert_eq!(inner.meta.line, 21, "documents keep their line in the file");
    assert_eq!(inner.condition.bounds(), [(CompareOp::Gte, 10)]);

    let correlator = Correlator::new(rules).unwrap();
    let mut needed: Vec<_> = correlator.referenced().collect();
    needed.sort_unstable();
    assert_eq!(needed, ["failed_login", "successful_login"]);
}

#[test]
fn meta_data_is_read() {
    let rule = ok(r"
title: Many denied MFA pushes
id: 11111111-2222-3333-4444-555555555555
name: mfa_fatigue
description: Pushes denied again and again
level: critical
tags:
  - attack.credential-access
  - attack.t1621
references: https://example.org/mfa-fatigue
falsepositives:
  - A broken authenticator app
status: test
author: someone
date: 2025-01-01
generate: true
correlation:
  type: event_count
  rules: mfa_push_denied
  group-by: user.name
  timespan: 90m
  condition:
    gt: 4
    lte: 50
");
    let m = &rule.meta;
    assert_eq!(m.name.as_deref(), Some("mfa_fatigue"));
    assert_eq!(m.level, Some(Severity::Critical));
    assert_eq!(m.tags, ["attack.credential-access", "attack.t1621"]);
    assert_eq!(m.references, ["https://example.org/mfa-fatigue"]);
    assert_eq!(m.falsepositives, ["A broken authenticator app"]);
    assert!(rule.generate);
    assert_eq!(rule.rules[0].reference, "mfa_push_denied");
    assert_eq!(rule.group_by, ["user.name"]);
    assert_eq!(rule.timespan_ms, 90 * 60_000);
    assert_eq!(
        rule.condition.bounds(),
        [(CompareOp::Gt, 4), (CompareOp::Lte, 50)]
    );
    assert!(!rule.condition.holds(4));
    assert!(rule.condition.holds(5) && rule.condition.holds(50));
    assert!(!rule.condition.holds(51));
}

#[test]
fn generate_inside_correlation_and_levels() {
    let rule = ok(
        "title: t\nlevel: low\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [u]\n  timespan: 1s\n  generate: true\n",
    );
    assert!(rule.generate);
    assert_eq!(rule.meta.level, Some(Severity::Low));
    let rule = ok(
        "title: t\ngenerate: false\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  timespan: 1s\n  generate: false\n",
    );
    assert!(!rule.generate);
    assert!(rule.group_by.is_empty(), "no group-by: one group");
}

#[test]
fn aliases_resolve_per_listed_rule() {
    let rule = ok(r"
title: Internal error then connection
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
");
    assert_eq!(rule.aliases.len(), 2);
    assert_eq!(
        rule.resolve_field("internal_error", "internal_ip"),
        "destination.ip"
    );
    assert_eq!(
        rule.resolve_field("new_network_connection", "internal_ip"),
        "source.ip"
    );
    assert_eq!(
        rule.resolve_field("internal_error", "remote_ip"),
        "source.ip"
    );
    // A rule the alias does not mention reads the alias name itself.
    assert_eq!(
        rule.resolve_field("new_network_connection", "remote_ip"),
        "remote_ip"
    );
    assert_eq!(rule.resolve_field("internal_error", "host"), "host");
}

#[test]
fn timespans() {
    assert_eq!(parse_timespan("10s"), Some(10_000));
    assert_eq!(parse_timespan("5m"), Some(300_000));
    assert_eq!(parse_timespan("1h"), Some(3_600_000));
    assert_eq!(parse_timespan("2d"), Some(172_800_000));
    assert_eq!(parse_timespan("90m"), Some(5_400_000));
    for bad in [
        "",
        "s",
        "10",
        "0s",
        "1.5h",
        "-5m",
        "5M",
        "5 m",
        "1w",
        "99999999999999999999d",
        "153722867280913d",
    ] {
        assert_eq!(parse_timespan(bad), None, "{bad:?}");
    }
}

const HEAD: &str = "title: t\ncorrelation:\n";

#[test]
fn c0001_not_yaml() {
    let all = parse_str("title: t\ncorrelation: [unclosed\n", Path::new("rule.yml"));
    assert_eq!(all.len(), 1);
    let e = all[0].as_ref().unwrap_err();
    assert_eq!(e.code, "C0001");
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn c0001_nesting_too_deep_for_the_loader() {
    // Deep block nesting would overflow the YAML loader's stack: refused up front.
    let deep: String = (0..5_000)
        .map(|i| format!("{}- \n", " ".repeat(i + 1)))
        .collect();
    let all = parse_str(
        &format!("title: t\ncorrelation:\n{deep}"),
        Path::new("rule.yml"),
    );
    let e = all[0].as_ref().unwrap_err();
    assert_eq!((e.code, e.line, e.column), ("C0001", 129, 130), "{e}");
    let compact = format!("title: t\ncorrelation:\n  {}x\n", "- ".repeat(10_000));
    let e = parse_str(&compact, Path::new("rule.yml"))
        .remove(0)
        .unwrap_err();
    assert_eq!((e.code, e.line), ("C0001", 3), "{e}");
    // Deep flow nesting is refused by the loader itself.
    let flow = format!(
        "title: t\ncorrelation: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        parse_str(&flow, Path::new("rule.yml"))[0]
            .as_ref()
            .unwrap_err()
            .code,
        "C0001"
    );
    // Long runs of dashes in text are no nesting.
    let rule = format!(
        "title: t\ndescription: |\n  {}\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n",
        "-".repeat(500)
    );
    assert!(parse_str(&rule, Path::new("rule.yml"))[0].is_ok());
}

#[test]
fn c0002_not_a_mapping() {
    err("title: t\ncorrelation: 5\n", "C0002", 2, 14);
    err("title: t\ncorrelation:\n  - type\n", "C0002", 3, 3);
    let docs = MarkedYaml::load_from_str("- just\n- a list\n").unwrap();
    let e = parse(&docs[0], Path::new("list.yml")).unwrap_err();
    assert_eq!((e.code, e.line, e.column), ("C0002", 1, 1));
    assert_eq!(e.file, Path::new("list.yml"));
}

#[test]
fn c0003_missing_keys() {
    let e = err(
        "correlation:\n  type: temporal\n  rules: [a]\n  timespan: 1s\n",
        "C0003",
        1,
        1,
    );
    assert!(e.message.contains("`title`"), "{e}");
    let e = err(
        &format!("{HEAD}  type: event_count\n  rules: [a]\n  condition:\n    gte: 2\n"),
        "C0003",
        3,
        3,
    );
    assert!(e.message.contains("`timespan`"), "{e}");
    let e = err(
        &format!("{HEAD}  type: event_count\n  rules: [a]\n  timespan: 1m\n"),
        "C0003",
        3,
        3,
    );
    assert!(e.message.contains("`condition`"), "{e}");
    err(
        &format!("{HEAD}  rules: [a]\n  timespan: 1m\n"),
        "C0003",
        3,
        3,
    );
    err(
        &format!("{HEAD}  type: temporal\n  timespan: 1m\n"),
        "C0003",
        3,
        3,
    );
}

#[test]
fn c0004_wrong_types() {
    err(
        &format!("{HEAD}  type: temporal\n  rules: [a, 7]\n  timespan: 1m\n"),
        "C0004",
        4,
        14,
    );
    err(
        &format!("{HEAD}  type: [temporal]\n  rules: [a]\n  timespan: 1m\n"),
        "C0004",
        3,
        9,
    );
    err(
        &format!("{HEAD}  type: temporal\n  rules: [a]\n  timespan: 1m\n  generate: yes\n"),
        "C0004",
        6,
        13,
    );
    err(
        "title: [t]\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n",
        "C0004",
        1,
        8,
    );
    err(
        "title: t\ntags: [a, {b: c}]\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n",
        "C0004",
        2,
        11,
    );
}

#[test]
fn c0005_unknown_type() {
    err(
        &format!("{HEAD}  type: event_counts\n  rules: [a]\n  timespan: 1m\n"),
        "C0005",
        3,
        9,
    );
}

#[test]
fn c0006_unsupported_type() {
    let e = err(
        &format!(
            "{HEAD}  type: value_avg\n  rules: [a]\n  timespan: 1m\n  condition:\n    field: x\n    gt: 5\n"
        ),
        "C0006",
        3,
        9,
    );
    assert!(e.message.contains("value_avg"));
}

#[test]
fn c0007_bad_timespan() {
    for (span, column) in [
        ("10", 13),
        ("5x", 13),
        ("0m", 13),
        ("'1 h'", 13),
        ("[1m]", 13),
    ] {
        let e = err(
            &format!("{HEAD}  type: temporal\n  rules: [a]\n  timespan: {span}\n"),
            "C0007",
            5,
            column,
        );
        assert!(e.message.contains("timespan"), "{e}");
    }
}

#[test]
fn c0008_bad_condition() {
    let base = format!("{HEAD}  type: event_count\n  rules: [a]\n  timespan: 1m\n  condition:\n");
    err(&format!("{base}    ge: 5\n"), "C0008", 7, 5);
    err(&format!("{base}    gte: ten\n"), "C0008", 7, 10);
    err(&format!("{base}    gte: -1\n"), "C0008", 7, 10);
    err(&format!("{base}    gte: 2.5\n"), "C0008", 7, 10);
    err(&format!("{base}    gte: 10001\n"), "C0008", 7, 10);
    err(
        &format!("{HEAD}  type: event_count\n  rules: [a]\n  timespan: 1m\n  condition: {{}}\n"),
        "C0008",
        6,
        14,
    );
    let e = err(&format!("{base}    gt: 5\n    lt: 3\n"), "C0008", 7, 5);
    assert!(e.message.contains("never"), "{e}");
    err(&format!("{base}    lt: 1\n"), "C0008", 7, 5);
    let e = err(
        &format!(
            "{HEAD}  type: temporal\n  rules: [a, b, c]\n  timespan: 1m\n  condition:\n    gte: 4\n"
        ),
        "C0008",
        7,
        5,
    );
    assert!(e.message.contains("3 rules"), "{e}");
    // At the largest allowed threshold it loads.
    ok(&format!("{base}    gte: 10000\n"));
}

#[test]
fn c0009_condition_field() {
    err(
        &format!(
            "{HEAD}  type: value_count\n  rules: [a]\n  timespan: 1m\n  condition:\n    gte: 5\n"
        ),
        "C0009",
        7,
        5,
    );
    err(
        &format!(
            "{HEAD}  type: event_count\n  rules: [a]\n  timespan: 1m\n  condition:\n    field: user\n    gte: 5\n"
        ),
        "C0009",
        7,
        5,
    );
    err(
        &format!(
            "{HEAD}  type: value_count\n  rules: [a]\n  timespan: 1m\n  condition:\n    field: []\n    gte: 5\n"
        ),
        "C0009",
        7,
        12,
    );
    let rule = ok(&format!(
        "{HEAD}  type: value_count\n  rules: [a]\n  timespan: 1m\n  condition:\n    field: [src.ip, user]\n    gte: 5\n"
    ));
    assert_eq!(rule.fields, ["src.ip", "user"]);
}

#[test]
fn c0010_bad_rules_list() {
    err(
        &format!("{HEAD}  type: temporal\n  rules: []\n  timespan: 1m\n"),
        "C0010",
        4,
        10,
    );
    let e = err(
        &format!("{HEAD}  type: temporal\n  rules:\n    - a\n    - b\n    - a\n  timespan: 1m\n"),
        "C0010",
        7,
        7,
    );
    assert!(e.message.contains("twice"), "{e}");
    err(
        &format!("{HEAD}  type: temporal\n  rules: ['']\n  timespan: 1m\n"),
        "C0010",
        4,
        11,
    );
}

#[test]
fn c0011_bad_alias() {
    let base = format!(
        "{HEAD}  type: temporal\n  rules: [a, b]\n  group-by: [ip]\n  timespan: 1m\n  aliases:\n"
    );
    let e = err(
        &format!("{base}    ip:\n      a: src.ip\n      c: dst.ip\n"),
        "C0011",
        10,
        7,
    );
    assert!(e.message.contains("`c`"), "{e}");
    err(&format!("{base}    ip: {{}}\n"), "C0011", 8, 9);
    err(&format!("{base}    ip: src.ip\n"), "C0002", 8, 9);
}

#[test]
fn c0012_unknown_correlation_key() {
    let e = err(
        &format!("{HEAD}  type: temporal\n  rules: [a]\n  groupby: [user]\n  timespan: 1m\n"),
        "C0012",
        5,
        3,
    );
    assert!(e.message.contains("groupby"), "{e}");
}

#[test]
fn c0013_unknown_level() {
    err(
        "title: t\nlevel: severe\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n",
        "C0013",
        2,
        8,
    );
}

#[test]
fn c0014_bad_group_by() {
    err(
        &format!(
            "{HEAD}  type: temporal\n  rules: [a]\n  group-by: [user, host, user]\n  timespan: 1m\n"
        ),
        "C0014",
        5,
        26,
    );
    err(
        &format!("{HEAD}  type: temporal\n  rules: [a]\n  group-by: ['']\n  timespan: 1m\n"),
        "C0014",
        5,
        14,
    );
}

#[test]
fn c0015_generate_contradicts_itself() {
    err(
        "title: t\ngenerate: true\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n  generate: false\n",
        "C0015",
        7,
        13,
    );
}

#[test]
fn c0016_bad_title() {
    let long = "x".repeat(257);
    err(
        &format!("title: {long}\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n"),
        "C0016",
        1,
        8,
    );
    err(
        "title: ' '\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n",
        "C0016",
        1,
        8,
    );
    ok(&format!(
        "title: {}\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n",
        "é".repeat(256)
    ));
}

fn rules(text: &str) -> Vec<CorrelationRule> {
    parse_str(text, Path::new("set.yml"))
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn c0020_duplicate_handles() {
    let set = rules(
        "title: one\nname: burst\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1m\n---\ntitle: two\nid: burst\ncorrelation:\n  type: temporal\n  rules: [b]\n  timespan: 1m\n",
    );
    let e = Correlator::new(set).unwrap_err();
    assert_eq!((e.code, e.line, e.column), ("C0020", 8, 1), "{e}");
    assert_eq!(e.file, Path::new("set.yml"));
    assert!(
        e.message.contains("burst") && e.message.contains("one"),
        "{e}"
    );
}

#[test]
fn c0021_cycles() {
    let set = rules(
        "title: A\nname: a\ncorrelation:\n  type: temporal\n  rules: [x, b]\n  timespan: 1m\n---\ntitle: B\nname: b\ncorrelation:\n  type: temporal\n  rules:\n    - y\n    - a\n  timespan: 1m\n",
    );
    let e = Correlator::new(set).unwrap_err();
    assert_eq!((e.code, e.line, e.column), ("C0021", 14, 7), "{e}");
    assert!(e.message.contains("a -> b -> a"), "{e}");

    let own = rules(
        "title: S\nid: self\ncorrelation:\n  type: event_count\n  rules: [self]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    let e = Correlator::new(own).unwrap_err();
    assert_eq!((e.code, e.line, e.column), ("C0021", 5, 11), "{e}");

    // A diamond is no cycle.
    let diamond = rules(
        "title: top\ncorrelation: {type: temporal, rules: [l, r], timespan: 1m}\n---\ntitle: l\nname: l\ncorrelation: {type: temporal, rules: [base], timespan: 1m}\n---\ntitle: r\nname: r\ncorrelation: {type: temporal, rules: [base], timespan: 1m}\n",
    );
    let c = Correlator::new(diamond).unwrap();
    assert_eq!(c.referenced().collect::<Vec<_>>(), ["base"]);
}

#[test]
fn single_event_rules_are_skipped() {
    let dir = Path::new(SPEC).join("../rules-cloud");
    let mut files = 0;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(parse_str(&text, &path).is_empty(), "{}", path.display());
                files += 1;
            }
        }
    }
    assert!(files > 200, "the SigmaHQ cloud rules are there ({files})");
}

/// Truncations, deleted lines and odd tokens of every example: each gives rules or errors
/// with a position, never a panic.
#[test]
fn hostile_input_never_panics() {
    let dir = Path::new(SPEC).join("examples/correlation");
    let mut texts: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    texts.sort();
    let tokens = [
        "",
        "~",
        "[]",
        "{}",
        "-1",
        "1e400",
        "!!binary aGk=",
        "&a x",
        "*a",
        "'",
        "\"\\u0000\"",
        ":",
        "- -",
        "? [a]",
        "18446744073709551616",
        "!custom x",
        "|\n  block",
    ];
    let mut checked = 0usize;
    for text in &texts {
        let chars: Vec<char> = text.chars().collect();
        for cut in 0..=chars.len() {
            check(&chars[..cut].iter().collect::<String>());
            checked += 1;
        }
        let lines: Vec<&str> = text.lines().collect();
        for skip in 0..lines.len() {
            let mut kept = lines.clone();
            kept.remove(skip);
            check(&kept.join("\n"));
            for token in tokens {
                let mut changed: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
                let line = &mut changed[skip];
                match line.find(": ") {
                    Some(at) => line.replace_range(at + 2.., token),
                    None => line.push_str(token),
                }
                check(&changed.join("\n"));
                checked += 2;
            }
        }
    }
    assert!(checked > 2000, "{checked}");

    fn check(text: &str) {
        for result in parse_str(text, Path::new("fuzz.yml")) {
            if let Err(e) = result {
                assert!(e.code.starts_with('C') && e.code.len() == 5, "{e}");
                assert!(e.line >= 1 && e.column >= 1, "no position: {e} in\n{text}");
            }
        }
    }
}
