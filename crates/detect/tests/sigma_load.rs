//! Loading rule files: what loads, what is refused with which code and position, and that
//! no input makes a load panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::sigma::{LoadOptions, LoadReport, load_paths, load_str};
use midwatch_model::Severity;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/"
    ))
    .join(rel)
}

fn load(text: &str) -> LoadReport {
    load_str(text, "rule.yml", &LoadOptions::default())
}

const GOOD: &str = "title: Good
id: 9f1c2b7e-0000-4000-8000-000000000001
name: good_rule
status: test
description: d
author: a
references:
    - https://example.com
tags:
    - attack.t1078
falsepositives: none
logsource:
    product: okta
    service: okta
detection:
    selection:
        eventType: user.session.start
    condition: selection
fields:
    - actor.alternateId
level: HIGH
";

#[test]
fn metadata_is_read() {
    let report = load(GOOD);
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let meta = &report.rules[0].meta;
    assert_eq!(
        meta.id.as_deref(),
        Some("9f1c2b7e-0000-4000-8000-000000000001")
    );
    assert_eq!(meta.name.as_deref(), Some("good_rule"));
    assert_eq!(meta.title, "Good");
    assert_eq!(meta.level, Severity::High);
    assert_eq!(meta.status.as_deref(), Some("test"));
    assert_eq!(meta.tags, ["attack.t1078"]);
    assert_eq!(meta.references, ["https://example.com"]);
    assert_eq!(meta.falsepositives, ["none"]);
    assert_eq!(meta.fields, ["actor.alternateId"]);
    assert_eq!(meta.logsource.product.as_deref(), Some("okta"));
    assert_eq!(meta.file, Path::new("rule.yml"));
    assert_eq!(meta.line, 1);
    assert!(report.rules[0].field_space().is_fed());
    let no_level = load(&GOOD.replace("level: HIGH\n", ""));
    assert_eq!(no_level.rules[0].meta.level, Severity::Medium);
}

/// (what to replace in GOOD, with what, expected code, line, column, message part)
const BAD: &[(&str, &str, &str, usize, usize, &str)] = &[
    ("title: Good\n", "", "S0004", 1, 1, "no `title`"),
    ("title: Good", "title: [a, b]", "S0004", 1, 8, "text"),
    ("level: HIGH", "level: severe", "S0006", 21, 8, "severe"),
    ("status: test", "status: wip", "S0007", 4, 9, "wip"),
    (
        "tags:\n    - attack.t1078",
        "tags:\n    - {a: 1}",
        "S0005",
        10,
        7,
        "tags",
    ),
    (
        "logsource:\n    product: okta\n    service: okta\n",
        "",
        "S0008",
        1,
        1,
        "no `logsource`",
    ),
    (
        "    product: okta\n",
        "    product: [okta]\n",
        "S0008",
        13,
        14,
        "product",
    ),
    (
        "detection:\n",
        "detectio:\n",
        "S0010",
        1,
        1,
        "no `detection`",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|contain: x\n",
        "S0020",
        17,
        9,
        "`contain`",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType: {a: b}\n",
        "S0013",
        17,
        20,
        "mapping",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType: []\n",
        "S0014",
        17,
        20,
        "empty",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|re: '(?<=a)b'\n",
        "S0023",
        17,
        23,
        "not supported",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|re: '(unclosed'\n",
        "S0023",
        17,
        23,
        "not supported",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|i: x\n",
        "S0021",
        17,
        9,
        "`re`",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|re|contains: x\n",
        "S0021",
        17,
        9,
        "cannot be combined",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|re|cidr: x\n",
        "S0021",
        17,
        9,
        "cannot be combined",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|contains|base64: x\n",
        "S0021",
        17,
        36,
        "wildcards",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|utf16le: é\n",
        "S0021",
        17,
        28,
        "UTF-16",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|gt: ten\n",
        "S0022",
        17,
        23,
        "number",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|exists: maybe\n",
        "S0022",
        17,
        27,
        "`true` or `false`",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|cidr: 10.0.0.0/33\n",
        "S0022",
        17,
        25,
        "CIDR",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|contains: null\n",
        "S0022",
        17,
        29,
        "null",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|expand: '%nobody%'\n",
        "S0024",
        17,
        27,
        "unknown placeholder `%nobody%`",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|expand: '50%'\n",
        "S0025",
        17,
        27,
        "placeholder",
    ),
    (
        "        eventType: user.session.start\n",
        "        eventType|windash: '-a -b -c -d -e -f'\n",
        "S0026",
        17,
        28,
        "alternatives",
    ),
    (
        "    condition: selection",
        "    condition: selection and",
        "S0030",
        18,
        29,
        "column 14",
    ),
    (
        "    condition: selection",
        "    condition: 'selection or (selection'",
        "S0030",
        18,
        40,
        "column 24",
    ),
    (
        "    condition: selection",
        "    condition: selection and missing",
        "S0031",
        18,
        30,
        "`missing`",
    ),
    (
        "    condition: selection",
        "    condition: 1 of nothing*",
        "S0032",
        18,
        21,
        "matches no",
    ),
    (
        "    condition: selection",
        "    condition: selection | count() > 5",
        "S0033",
        18,
        26,
        "correlation",
    ),
    (
        "    condition: selection",
        "    condition: 3",
        "S0011",
        18,
        16,
        "text",
    ),
    (
        "    selection:\n        eventType: user.session.start\n",
        "    selection: {}\n",
        "S0014",
        16,
        16,
        "empty",
    ),
    (
        "    selection:\n        eventType: user.session.start\n",
        "    selection:\n        - [a]\n",
        "S0012",
        17,
        11,
        "nested list",
    ),
    (
        "level: HIGH\n",
        "level: HIGH\nexamples: [1]\n",
        "S0040",
        22,
        11,
        "examples",
    ),
    (
        "level: HIGH\n",
        "level: HIGH\nexamples:\n    match: [1]\n",
        "S0040",
        23,
        13,
        "mapping",
    ),
    (
        "name: good_rule",
        "name: good_rule\nname: twice",
        "S0002",
        4,
        1,
        "duplicate",
    ),
    ("title: Good", "title: 'unclosed", "S0002", 1, 8, "YAML"),
];

#[test]
fn bad_rules_name_the_problem_and_its_place() {
    let mut wrong = Vec::new();
    for (from, to, code, line, column, part) in BAD {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        let report = load(&text);
        assert!(report.rules.is_empty(), "{to}: loaded");
        assert_eq!(
            report.unsupported.len(),
            1,
            "{to}: {:?}",
            report.unsupported
        );
        let e = &report.unsupported[0];
        if (e.code, e.line, e.column) != (*code, *line, *column) || !e.message.contains(part) {
            wrong.push(format!("{to:?}: got {e}"));
        }
        assert_eq!(e.file, Path::new("rule.yml"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn documents_correlations_and_collections() {
    let text = format!(
        "{GOOD}---\n{}---\ntitle: Many\ncorrelation:\n    type: event_count\n    rules: [good_rule]\n    group-by: [actor.alternateId]\n    timespan: 5m\n    condition: {{gte: 10}}\n---\nnot a mapping\n",
        GOOD.replace("good_rule", "other").replace("0001", "0002")
    );
    let report = load(&text);
    assert_eq!(report.rules.len(), 2);
    assert_eq!(report.correlation_docs.len(), 1);
    let c = &report.correlation_docs[0];
    assert_eq!(c.line, 45);
    assert!(c.text.contains("event_count"));
    assert!(midwatch_detect::sigma::yaml::get(&c.yaml, "correlation").is_some());
    assert_eq!(report.unsupported.len(), 1);
    assert_eq!(report.unsupported[0].code, "S0003");
    assert_eq!(report.unsupported[0].line, 53);

    let collection = "action: global
title: Shared
logsource:
    product: aws
    service: cloudtrail
detection:
    condition: selection
---
id: a
detection:
    selection:
        eventName: ConsoleLogin
---
action: repeat
id: b
detection:
    selection:
        eventName: GetSessionToken
---
action: reset
---
title: Alone
logsource: {product: github, service: audit}
detection:
    sel: {action: repo.destroy}
    condition: sel
";
    let report = load(collection);
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let ids: Vec<_> = report
        .rules
        .iter()
        .map(|r| r.meta.key().to_string())
        .collect();
    assert_eq!(ids, ["a", "b", "Alone"]);
    assert_eq!(report.rules[1].meta.title, "Shared");
    assert_eq!(
        report.rules[1].meta.logsource.service.as_deref(),
        Some("cloudtrail")
    );
    let bad_action = load("action: later\ntitle: x\n");
    assert_eq!(bad_action.unsupported[0].code, "S0041");
}

#[test]
fn filters_narrow_the_rules_they_name() {
    let text = format!(
        "{GOOD}---\ntitle: Not the service account\nlogsource:\n    product: okta\n    service: okta\nfilter:\n    rules:\n        - good_rule\n        - missing_rule\n    svc:\n        actor.alternateId|startswith: svc-\n    condition: svc\n"
    );
    let report = load(&text);
    assert_eq!(report.filters, 1);
    assert_eq!(report.rules.len(), 1);
    assert_eq!(report.unsupported.len(), 1, "{:?}", report.unsupported);
    assert_eq!(report.unsupported[0].code, "S0042");
    let rule = &report.rules[0];
    let doc = |who: &str| {
        midwatch_detect::sigma::Doc::from_json(
            &serde_json::json!({"eventType": "user.session.start", "actor": {"alternateId": who}}),
        )
    };
    assert!(rule.is_match(&doc("alice")));
    assert!(!rule.is_match(&doc("svc-backup")));
}

#[test]
fn duplicates_are_refused() {
    let text = format!("{GOOD}---\n{}", GOOD.replace("good_rule", "another"));
    let report = load(&text);
    assert_eq!(report.rules.len(), 1);
    let e = &report.unsupported[0];
    assert_eq!((e.code, e.line), ("S0016", 23), "{e}");
    assert!(e.message.contains("rule.yml:1"), "{e}");
}

#[test]
fn files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("b");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(dir.path().join("z.yml"), GOOD).unwrap();
    std::fs::write(
        sub.join("a.yaml"),
        GOOD.replace("good_rule", "g2").replace("0001", "0003"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
    std::fs::write(dir.path().join("bad.yml"), [0xff, 0xfe, 0x00]).unwrap();
    let named = dir.path().join("rule.txt");
    std::fs::write(
        &named,
        GOOD.replace("good_rule", "g3").replace("0001", "0004"),
    )
    .unwrap();
    let report = load_paths(
        &[
            dir.path().to_path_buf(),
            named.clone(),
            dir.path().join("missing"),
        ],
        &LoadOptions::default(),
    );
    // The walk reads b/a.yaml, bad.yml and z.yml (not the .txt files); rule.txt is read
    // because it is named.
    let loaded: Vec<_> = report
        .rules
        .iter()
        .map(|r| {
            r.meta
                .file
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(loaded, ["a.yaml", "z.yml", "rule.txt"]);
    assert_eq!(report.files, 4);
    let codes: Vec<_> = report.unsupported.iter().map(|e| e.code).collect();
    assert_eq!(codes, ["S0001", "S0001"], "{:?}", report.unsupported);
    assert!(
        report
            .unsupported
            .iter()
            .any(|e| e.message.contains("UTF-8"))
    );
    let big = dir.path().join("big.yml");
    std::fs::write(&big, "#".repeat(5 << 20)).unwrap();
    let report = load_paths(&[big], &LoadOptions::default());
    assert!(
        report.unsupported[0].message.contains("more than"),
        "{:?}",
        report.unsupported
    );
}

#[test]
fn placeholder_rules_load_with_values() {
    let dir = data("sigma/rules-cloud-extra");
    // Without values every placeholder rule is refused; give values to each placeholder
    // named in an error until none is left.
    let mut opts = LoadOptions::default();
    let mut rounds = 0;
    let report = loop {
        let report = load_paths(std::slice::from_ref(&dir), &opts);
        let unknown: Vec<String> = report
            .unsupported
            .iter()
            .filter(|e| e.code == "S0024")
            .map(|e| e.message.split('%').nth(1).unwrap().to_string())
            .collect();
        if rounds == 0 {
            assert_eq!(report.rules.len(), 5);
        }
        if unknown.is_empty() {
            break report;
        }
        for name in unknown {
            opts.placeholders
                .insert(name, vec!["value-1".to_string(), "value-2*".to_string()]);
        }
        rounds += 1;
        assert!(rounds < 10);
    };
    let placeholders: BTreeMap<_, _> = opts.placeholders.clone();
    assert_eq!(placeholders.len(), 12, "{placeholders:?}");
    for e in &report.unsupported {
        eprintln!("unsupported: {e}");
    }
    assert!(report.unsupported.is_empty());
    assert_eq!(report.rules.len(), 14);
}

/// Every prefix and some garbled variants of every corpus file, and hostile YAML: the load
/// returns (rules or errors) and never panics.
#[test]
fn garbled_rule_files_never_panic() {
    let mut inputs: Vec<String> = vec![
        String::new(),
        "---\n---\n".into(),
        "[".repeat(300),
        "{".repeat(300),
        "a: &a [*a]\n".into(),
        "a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n".into(),
        "title: x\nlogsource: {product: okta}\ndetection:\n  s: {a: !!binary aGk=}\n  condition: s\n".into(),
        "title: x\nlogsource: {product: okta}\ndetection:\n  ? [a]\n  : b\n  condition: s\n".into(),
        format!("title: x\nlogsource: {{product: okta}}\ndetection:\n  s: {{a: 1}}\n  condition: {}s{}\n", "(".repeat(200), ")".repeat(200)),
        format!("title: x\nlogsource: {{product: okta}}\ndetection:\n  s: {{'a|{}': 1}}\n  condition: s\n", "windash|".repeat(50)),
        "title: x\nlogsource: {product: okta}\ndetection:\n  s: {a|base64offset|utf16: 1}\n  condition: s\n".into(),
        "title: x\nlogsource: {product: okta}\ndetection:\n  s: {a|re: \"\\\\\"}\n  condition: s\n".into(),
        "title: x\nlogsource: {product: okta}\ndetection:\n  s: {'|re': '(a+)+$'}\n  condition: s\n".into(),
        "title: x\nlogsource: {product: okta}\ndetection:\n  s: {a|hour|gt: 1e400}\n  condition: s\n".into(),
        "title: x\nlogsource: {product: midwatch}\ndetection:\n  s: {'': 1, '.': 2, 'session.': 3}\n  condition: s\n".into(),
    ];
    let mut files = Vec::new();
    collect_yaml(&data("sigma"), &mut files);
    files.sort();
    for f in files.iter().step_by(3) {
        let text = std::fs::read_to_string(f).unwrap();
        let chars: Vec<char> = text.chars().collect();
        for cut in (0..chars.len()).step_by(41) {
            inputs.push(chars[..cut].iter().collect());
        }
        // Swap some punctuation for other punctuation.
        for (i, (from, to)) in [(':', ' '), ('-', '|'), ('\'', '"'), ('|', ':'), (' ', '\t')]
            .iter()
            .enumerate()
        {
            inputs.push(
                text.char_indices()
                    .map(|(j, c)| {
                        if c == *from && j % (3 + i) == 0 {
                            *to
                        } else {
                            c
                        }
                    })
                    .collect(),
            );
        }
    }
    let opts = LoadOptions::default();
    let mut loaded = 0;
    for input in &inputs {
        let report = load_str(input, "garbled.yml", &opts);
        loaded += report.rules.len();
        for e in &report.unsupported {
            assert!(e.code.starts_with('S') && e.code.len() == 5, "{e}");
            assert!(!e.message.is_empty());
        }
    }
    assert!(loaded > 0);
    eprintln!(
        "{} garbled inputs, {loaded} rules loaded from them",
        inputs.len()
    );
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}
