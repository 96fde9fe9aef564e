//! What single-event rules match: value modifiers, wildcards, escapes, null and existence,
//! keywords and conditions, each against documents and the same documents as raw JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::sigma::{Doc, Engine, JsonRecord, LoadOptions, Record, Rule, load_str};
use std::collections::BTreeMap;

fn opts() -> LoadOptions {
    let mut placeholders = BTreeMap::new();
    placeholders.insert("admins".to_string(), vec!["root".into(), "adm_*".into()]);
    placeholders.insert(
        "domains".to_string(),
        vec!["example.com".into(), "example.org".into()],
    );
    LoadOptions { placeholders }
}

/// A rule with this `detection` body (indented by the caller's text).
fn rule(detection: &str) -> Rule {
    let text = format!(
        "title: t\nlogsource:\n    product: test\ndetection:\n{}\n",
        detection
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut report = load_str(&text, "t.yml", &opts());
    assert!(
        report.unsupported.is_empty(),
        "{text}\n{:?}",
        report.unsupported
    );
    report.rules.pop().unwrap()
}

/// Whether `detection` matches the JSON document `json`, checked through the document
/// record and the raw JSON record (they must agree).
fn check(detection: &str, json: &str) -> bool {
    let r = rule(detection);
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let doc = Doc::from_json(&value);
    let raw = JsonRecord::parse(json.as_bytes()).unwrap();
    let a = r.is_match(&doc);
    let b = r.is_match(&raw);
    assert_eq!(
        a, b,
        "document and raw JSON disagree on {detection} / {json}"
    );
    a
}

#[track_caller]
fn yes(detection: &str, json: &str) {
    assert!(check(detection, json), "should match:\n{detection}\n{json}");
}

#[track_caller]
fn no(detection: &str, json: &str) {
    assert!(
        !check(detection, json),
        "should not match:\n{detection}\n{json}"
    );
}

#[test]
fn plain_values_are_case_insensitive_whole_values() {
    let d = "sel:\n    eventType: user.session.start\ncondition: sel";
    yes(d, r#"{"eventType":"USER.Session.Start"}"#);
    yes(d, r#"{"eventtype":"user.session.start"}"#);
    no(d, r#"{"eventType":"user.session.start.x"}"#);
    no(d, r#"{"other":"user.session.start"}"#);
    let n = "sel:\n    ResultType: 50053\ncondition: sel";
    yes(n, r#"{"ResultType":50053}"#);
    yes(n, r#"{"ResultType":"50053"}"#);
    no(n, r#"{"ResultType":500530}"#);
    let b = "sel:\n    granted: true\ncondition: sel";
    yes(b, r#"{"granted":true}"#);
    yes(b, r#"{"granted":"True"}"#);
    no(b, r#"{"granted":false}"#);
    let f = "sel:\n    ratio: 1.5\ncondition: sel";
    yes(f, r#"{"ratio":1.50}"#);
    yes(f, r#"{"ratio":"1.5"}"#);
    no(f, r#"{"ratio":1.6}"#);
    let empty = "sel:\n    a: ''\ncondition: sel";
    yes(empty, r#"{"a":""}"#);
    no(empty, r#"{"a":"x"}"#);
    no(empty, r#"{}"#);
}

#[test]
fn lists_maps_and_nested_paths() {
    let d = "sel:\n    a.b:\n        - x\n        - y\n    c: z\ncondition: sel";
    yes(d, r#"{"a":{"b":"Y"},"c":"z"}"#);
    no(d, r#"{"a":{"b":"y"},"c":"q"}"#);
    yes(d, r#"{"a":[{"b":"q"},{"b":"x"}],"c":["w","z"]}"#);
    yes(d, r#"{"a.b":"x","c":"z"}"#);
    let list_of_maps = "sel:\n    - a: x\n    - b: y\ncondition: sel";
    yes(list_of_maps, r#"{"b":"y"}"#);
    no(list_of_maps, r#"{"a":"y","b":"x"}"#);
}

#[test]
fn wildcards_and_escapes() {
    // A backslash before a wildcard must itself be escaped (`\\*`); `\*` is a plain star.
    let d = "sel:\n    path: 'C:\\Windows\\\\*\\cmd.exe'\ncondition: sel";
    yes(d, r#"{"path":"c:\\windows\\system32\\CMD.EXE"}"#);
    no(d, r#"{"path":"c:\\windows\\cmd.com"}"#);
    let plain_star = "sel:\n    path: 'C:\\Windows\\*\\cmd.exe'\ncondition: sel";
    yes(plain_star, r#"{"path":"c:\\windows*\\cmd.exe"}"#);
    no(plain_star, r#"{"path":"c:\\windows\\system32\\cmd.exe"}"#);
    let q = "sel:\n    v: 'a?c'\ncondition: sel";
    yes(q, r#"{"v":"abc"}"#);
    no(q, r#"{"v":"ac"}"#);
    let star = "sel:\n    v: 'a\\*b'\ncondition: sel";
    yes(star, r#"{"v":"a*b"}"#);
    no(star, r#"{"v":"axb"}"#);
    let bs = "sel:\n    v: 'a\\\\*'\ncondition: sel";
    yes(bs, r#"{"v":"a\\tail"}"#);
    no(bs, r#"{"v":"atail"}"#);
    let q2 = "sel:\n    v: 'what\\?'\ncondition: sel";
    yes(q2, r#"{"v":"what?"}"#);
    no(q2, r#"{"v":"whatx"}"#);
}

#[test]
fn string_modifiers() {
    yes("s:\n    v|contains: MiD\ncondition: s", r#"{"v":"amidb"}"#);
    no("s:\n    v|contains: mid\ncondition: s", r#"{"v":"mi d"}"#);
    yes("s:\n    v|startswith: ad\ncondition: s", r#"{"v":"ADmin"}"#);
    no("s:\n    v|startswith: ad\ncondition: s", r#"{"v":"bad"}"#);
    yes("s:\n    v|endswith: .exe\ncondition: s", r#"{"v":"x.EXE"}"#);
    no(
        "s:\n    v|endswith: .exe\ncondition: s",
        r#"{"v":"x.exe.txt"}"#,
    );
    let all = "s:\n    v|contains|all:\n        - foo\n        - bar\ncondition: s";
    yes(all, r#"{"v":"bar and foo"}"#);
    no(all, r#"{"v":"foo only"}"#);
    yes(all, r#"{"v":["foo","xbarx"]}"#);
    let cased = "s:\n    v|cased: Admin\ncondition: s";
    yes(cased, r#"{"v":"Admin"}"#);
    no(cased, r#"{"v":"admin"}"#);
    let cased_contains = "s:\n    v|contains|cased: Adm\ncondition: s";
    yes(cased_contains, r#"{"v":"xAdmx"}"#);
    no(cased_contains, r#"{"v":"xadmx"}"#);
}

#[test]
fn encodings() {
    // base64("evil") = ZXZpbA==
    yes(
        "s:\n    v|base64: evil\ncondition: s",
        r#"{"v":"ZXZpbA=="}"#,
    );
    // base64 compares case-insensitively by default like everything else; `cased` is exact.
    no(
        "s:\n    v|base64|cased: evil\ncondition: s",
        r#"{"v":"zxzpba=="}"#,
    );
    let offset = "s:\n    v|base64offset|contains: /bin/sh\ncondition: s";
    for prefix in ["", "a", "ab", "abc"] {
        let encoded = base64(format!("{prefix}/bin/sh -c id").as_bytes());
        yes(offset, &format!(r#"{{"v":"{encoded}"}}"#));
    }
    no(offset, r#"{"v":"L2Jpbi9iYXNo"}"#);
    // utf16le("cmd") = 63 00 6d 00 64 00 → Base64 YwBtAGQA
    yes(
        "s:\n    v|wide|base64: cmd\ncondition: s",
        r#"{"v":"YwBtAGQA"}"#,
    );
    yes(
        "s:\n    v|utf16le|base64: cmd\ncondition: s",
        r#"{"v":"YwBtAGQA"}"#,
    );
    // utf16be → 00 63 00 6d 00 64 → AGMAbQBk
    yes(
        "s:\n    v|utf16be|base64|cased: cmd\ncondition: s",
        r#"{"v":"AGMAbQBk"}"#,
    );
    // utf16 with BOM FF FE → //5jAG0AZAA=
    yes(
        "s:\n    v|utf16|base64|cased: cmd\ncondition: s",
        r#"{"v":"//5jAG0AZAA="}"#,
    );
    let w = "s:\n    v|windash|contains: ' -enc '\ncondition: s";
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        yes(w, &format!(r#"{{"v":"powershell {dash}enc abc"}}"#));
    }
    no(w, r#"{"v":"powershell +enc abc"}"#);
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn regular_expressions() {
    let d = "s:\n    arn|re: '.+:assumed-role/aws:.+'\ncondition: s";
    yes(d, r#"{"arn":"arn:aws:sts::1:assumed-role/aws:x"}"#);
    no(d, r#"{"arn":"arn:aws:sts::1:assumed-role/AWS:x"}"#);
    yes("s:\n    v|re|i: '^ab+c$'\ncondition: s", r#"{"v":"ABBC"}"#);
    no("s:\n    v|re: '^ab+c$'\ncondition: s", r#"{"v":"ABBC"}"#);
    yes(
        "s:\n    v|re|m: '^two$'\ncondition: s",
        r#"{"v":"one\ntwo\nthree"}"#,
    );
    no(
        "s:\n    v|re: '^two$'\ncondition: s",
        r#"{"v":"one\ntwo\nthree"}"#,
    );
    yes("s:\n    v|re|s: 'a.b'\ncondition: s", r#"{"v":"a\nb"}"#);
    no("s:\n    v|re: 'a.b'\ncondition: s", r#"{"v":"a\nb"}"#);
    yes("s:\n    n|re: '^5\\d+$'\ncondition: s", r#"{"n":50053}"#);
}

#[test]
fn numbers_networks_and_times() {
    yes("s:\n    n|gt: 10\ncondition: s", r#"{"n":11}"#);
    no("s:\n    n|gt: 10\ncondition: s", r#"{"n":10}"#);
    yes("s:\n    n|gte: 10\ncondition: s", r#"{"n":"10"}"#);
    yes("s:\n    n|lt: 1.5\ncondition: s", r#"{"n":1.25}"#);
    no("s:\n    n|lte: 1\ncondition: s", r#"{"n":"x"}"#);
    yes("s:\n    n|lte: 1\ncondition: s", r#"{"n":[5, 0]}"#);
    let c = "s:\n    ip|cidr:\n        - 10.0.0.0/8\n        - '2001:db8::/32'\ncondition: s";
    yes(c, r#"{"ip":"10.9.8.7"}"#);
    yes(c, r#"{"ip":"2001:db8::1"}"#);
    no(c, r#"{"ip":"11.0.0.1"}"#);
    no(c, r#"{"ip":"not an ip"}"#);
    yes(
        "s:\n    t|hour: 3\ncondition: s",
        r#"{"t":"2024-05-06T03:04:05Z"}"#,
    );
    yes(
        "s:\n    t|hour|gte: 20\ncondition: s",
        r#"{"t":"2024-05-06T21:04:05+00:00"}"#,
    );
    no(
        "s:\n    t|hour|gte: 20\ncondition: s",
        r#"{"t":"2024-05-06T19:04:05Z"}"#,
    );
    yes("s:\n    t|month: 5\ncondition: s", r#"{"t":1714964645000}"#);
    yes("s:\n    t|year: 2024\ncondition: s", r#"{"t":1714964645}"#);
    yes(
        "s:\n    t|week: 19\ncondition: s",
        r#"{"t":"2024-05-06T03:04:05Z"}"#,
    );
    yes(
        "s:\n    t|day: 6\ncondition: s",
        r#"{"t":"2024-05-06T03:04:05Z"}"#,
    );
    yes(
        "s:\n    t|minute: 4\ncondition: s",
        r#"{"t":"2024-05-06T03:04:05Z"}"#,
    );
}

#[test]
fn null_existence_and_negation() {
    let null = "s:\n    a: null\ncondition: s";
    yes(null, r#"{}"#);
    yes(null, r#"{"a":null}"#);
    yes(null, r#"{"a":[]}"#);
    no(null, r#"{"a":""}"#);
    no(null, r#"{"a":{"b":1}}"#);
    let or_null = "s:\n    a:\n        - x\n        - null\ncondition: s";
    yes(or_null, r#"{}"#);
    yes(or_null, r#"{"a":"X"}"#);
    no(or_null, r#"{"a":"y"}"#);
    let exists = "s:\n    a.b|exists: true\ncondition: s";
    yes(exists, r#"{"a":{"b":null}}"#);
    no(exists, r#"{"a":{"c":1}}"#);
    let absent = "s:\n    a|exists: false\ncondition: s";
    yes(absent, r#"{"b":1}"#);
    no(absent, r#"{"a":[]}"#);
    let neq = "s:\n    a|neq:\n        - x\n        - y\ncondition: s";
    yes(neq, r#"{"a":"z"}"#);
    no(neq, r#"{"a":"X"}"#);
    no(neq, r#"{}"#);
    let neq_contains = "s:\n    a|contains|neq: bad\ncondition: s";
    yes(neq_contains, r#"{"a":"good"}"#);
    no(neq_contains, r#"{"a":"so bad"}"#);
}

#[test]
fn field_references() {
    let d = "s:\n    userIdentity.arn|fieldref: requestParameters.userName\ncondition: s";
    yes(
        d,
        r#"{"userIdentity":{"arn":"Bob"},"requestParameters":{"userName":"bob"}}"#,
    );
    no(
        d,
        r#"{"userIdentity":{"arn":"alice"},"requestParameters":{"userName":"bob"}}"#,
    );
    no(d, r#"{"userIdentity":{"arn":"alice"}}"#);
    let ends = "s:\n    arn|fieldref|endswith: user\ncondition: s";
    yes(ends, r#"{"arn":"arn:aws:iam::1:user/bob","user":"bob"}"#);
    no(ends, r#"{"arn":"arn:aws:iam::1:user/bob","user":"alice"}"#);
    let neq = "s:\n    a|fieldref|neq: b\ncondition: s";
    yes(neq, r#"{"a":"1","b":"2"}"#);
    no(neq, r#"{"a":"1","b":"1"}"#);
}

#[test]
fn placeholders_expand() {
    let d = "s:\n    user|expand: '%admins%'\ncondition: s";
    yes(d, r#"{"user":"root"}"#);
    yes(d, r#"{"user":"adm_bob"}"#);
    no(d, r#"{"user":"bob"}"#);
    let mixed = "s:\n    host|expand: 'srv.%domains%'\ncondition: s";
    yes(mixed, r#"{"host":"srv.example.org"}"#);
    no(mixed, r#"{"host":"example.org"}"#);
    let escaped = "s:\n    v|expand: '\\%plain%domains%'\ncondition: s";
    yes(escaped, r#"{"v":"%plainexample.com"}"#);
    let literal = "s:\n    v: '%admins%'\ncondition: s";
    yes(literal, r#"{"v":"%admins%"}"#);
    no(literal, r#"{"v":"root"}"#);
}

#[test]
fn keywords_search_every_value() {
    let d = "keywords:\n    - 'break-glass'\n    - evil\ncondition: keywords";
    yes(d, r#"{"a":{"b":["x","image-policy/BREAK-GLASS"]}}"#);
    yes(d, r#"{"n":"evil"}"#);
    no(d, r#"{"break-glass":"key names are not values"}"#);
    let all = "keywords:\n    '|all':\n        - one\n        - two\ncondition: keywords";
    yes(all, r#"{"a":"one","b":{"c":"two"}}"#);
    no(all, r#"{"a":"one"}"#);
    let scalar = "keywords: 12345\ncondition: keywords";
    yes(scalar, r#"{"n":9912345}"#);
}

#[test]
fn conditions() {
    let base = "a:\n    x: 1\nb:\n    y: 1\nc:\n    z: 1\n_private:\n    w: 1\n";
    let cases = [
        ("a and b or c", [false, false, true, true, true]),
        ("a and (b or c)", [false, false, false, true, true]),
        ("not a and b", [false, true, false, false, false]),
        ("1 of them", [false, true, true, true, true]),
        ("all of them", [false, false, false, false, true]),
        ("1 of _*", [true, false, false, false, true]),
        ("all of them or _private", [true, false, false, false, true]),
        ("not 1 of them", [true, false, false, false, false]),
        ("any of b* or not c", [true, true, false, false, true]),
    ];
    let docs = [
        r#"{"w":1}"#,
        r#"{"y":1}"#,
        r#"{"z":1}"#,
        r#"{"x":1,"z":1}"#,
        r#"{"x":1,"y":1,"z":1,"w":1}"#,
    ];
    for (cond, expect) in cases {
        let d = format!("{base}condition: {cond}");
        for (doc, want) in docs.iter().zip(expect) {
            assert_eq!(check(&d, doc), want, "{cond} on {doc}");
        }
    }
    let list = format!("{base}condition:\n    - a\n    - c");
    assert!(check(&list, r#"{"z":1}"#));
    assert!(!check(&list, r#"{"y":1}"#));
}

#[test]
fn midwatch_rules_only_name_known_fields() {
    let good = "title: t\nlogsource:\n    product: midwatch\n    category: authentication\n    service: sensor\ndetection:\n    s:\n        actor.user.uid|startswith: svc-\n        session.device_changed: true\n        identity.kind: ai_agent\n        app.sensitivity|gte: 2\n    condition: s\n";
    let report = load_str(good, "m.yml", &LoadOptions::default());
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let bad = good.replace("actor.user.uid", "actor.user.uuid");
    let report = load_str(&bad, "m.yml", &LoadOptions::default());
    let e = &report.unsupported[0];
    assert_eq!((e.code, e.line, e.column), ("S0015", 8, 9), "{e}");
    let bad_cat = good.replace("authentication", "process_creation");
    let e = &load_str(&bad_cat, "m.yml", &LoadOptions::default()).unsupported[0];
    assert_eq!((e.code, e.line, e.column), ("S0009", 4, 15), "{e}");
}

#[test]
fn examples_are_documents_in_the_rule_field_space() {
    let text = r#"
title: Agent outside scope
id: 11111111-2222-3333-4444-555555555555
logsource:
    product: midwatch
detection:
    sel:
        identity.kind: ai_agent
        class_uid: 6003
    condition: sel
level: high
examples:
    match:
        - class_uid: 6003
          identity: {kind: ai_agent}
    no_match:
        - class_uid: 6003
          identity: {kind: human}
"#;
    let mut report = load_str(text, "e.yml", &LoadOptions::default());
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let rule = report.rules.pop().unwrap();
    assert_eq!(rule.meta.examples.len(), 2);
    for ex in &rule.meta.examples {
        assert_eq!(rule.is_match(&ex.doc), ex.expect_match, "line {}", ex.line);
    }
    let engine = Engine::new(vec![rule.clone()]);
    let mut out = Vec::new();
    engine.match_doc(&rule.meta.examples[0].doc, &rule.meta.logsource, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].meta.id.as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
}

#[test]
fn raw_records_go_through_dispatch() {
    let text = r#"
title: Okta session start
logsource: {product: okta, service: okta}
detection:
    sel:
        eventtype: user.session.start
        outcome.result: SUCCESS
    condition: sel
---
title: Any okta admin app access
logsource: {product: okta, service: okta}
detection:
    sel:
        target.displayName|contains: admin
    condition: sel
---
title: Not okta
logsource: {product: aws, service: cloudtrail}
detection:
    sel:
        eventName: ConsoleLogin
    condition: sel
"#;
    let report = load_str(text, "o.yml", &LoadOptions::default());
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let engine = Engine::new(report.rules);
    let mut out = Vec::new();
    let rec = br#"{"eventType":"user.session.start","outcome":{"result":"SUCCESS"},"target":[{"displayName":"Okta Admin Console"}]}"#;
    engine.match_raw("okta", rec, &mut out).unwrap();
    let titles: Vec<&str> = out.iter().map(|m| m.meta.title.as_str()).collect();
    assert_eq!(titles, ["Okta session start", "Any okta admin app access"]);
    out.clear();
    engine.match_raw("cloudtrail", rec, &mut out).unwrap();
    assert!(out.is_empty());
    engine.match_raw("nope", rec, &mut out).unwrap();
    assert!(out.is_empty());
    // Bad JSON that holds a literal some rule needs is read, and refused.
    let err = engine
        .match_raw("okta", b"{\"eventType\":\"user.session.start\"", &mut out)
        .unwrap_err();
    assert!(err.message.contains("end"), "{err}");
    let stats = engine.stats();
    let okta = stats.feeds.iter().find(|f| f.feed == "okta").unwrap();
    assert_eq!((okta.rules, okta.indexed), (2, 1));
    assert_eq!(okta.index_fields, ["eventtype"]);
}

#[test]
fn first_string_reads_grouping_fields() {
    let rec =
        JsonRecord::parse(br#"{"actor":{"alternateId":"a@b"},"client":{"ipAddress":"1.2.3.4"}}"#)
            .unwrap();
    assert_eq!(
        rec.first_string("actor.alternateid").as_deref(),
        Some("a@b")
    );
    assert_eq!(
        rec.first_string("client.ipAddress").as_deref(),
        Some("1.2.3.4")
    );
    assert_eq!(rec.first_string("client.missing"), None);
}

#[test]
fn engines_and_rules_cross_threads() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
    check::<Rule>();
}
