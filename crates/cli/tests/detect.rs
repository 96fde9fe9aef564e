//! `midwatch detect`, `rules check|test` and `score` as a user runs them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::Path;
use std::process::{Command, Output};

fn midwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_midwatch"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn okta_sample() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/vendor/okta/test-okta-system-events.log"
    )
    .to_string()
}

const OKTA_RULE: &str = r#"title: Okta session start
id: 6a1f5b7e-0c55-4c57-9a57-2a4a8e1c3d01
logsource:
    product: okta
    service: okta
detection:
    selection:
        eventtype: user.session.start
    condition: selection
level: high
tags:
    - attack.initial-access
    - attack.t1078.004
"#;

fn rule_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn detect_runs_vendor_rules_over_raw_records_and_prints_ocsf_findings() {
    let rules = rule_dir(&[("okta.yml", OKTA_RULE)]);
    let sample = okta_sample();
    let out = midwatch(&[
        "detect",
        "--no-pack",
        "--rules",
        path(rules.path()),
        "--source",
        "okta",
        &sample,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(all.iter().all(|f| f["class_uid"] == 2004));
    // Built-in detectors run too; the rule's own findings are the ones named after it.
    let findings: Vec<&serde_json::Value> = all
        .iter()
        .filter(|f| f["finding_info"]["analytic"]["uid"] == "6a1f5b7e-0c55-4c57-9a57-2a4a8e1c3d01")
        .collect();
    assert!(!findings.is_empty(), "{}", text(&out.stderr));
    for f in &findings {
        assert_eq!(
            f["finding_info"]["attacks"][0]["technique"]["uid"],
            "T1078.004"
        );
        assert!(
            !f["finding_info"]["related_events"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    assert!(text(&out.stderr).contains(&format!("findings {}", all.len())));

    let fail = midwatch(&[
        "detect",
        "--no-pack",
        "--rules",
        path(rules.path()),
        "--source",
        "okta",
        "--fail-on-findings",
        &sample,
    ]);
    assert_eq!(fail.status.code(), Some(1));
    let critical = midwatch(&[
        "detect",
        "--no-pack",
        "--rules",
        path(rules.path()),
        "--source",
        "okta",
        "--min-severity",
        "critical",
        "--fail-on-findings",
        &sample,
    ]);
    assert_eq!(critical.status.code(), Some(0));
    assert!(critical.stdout.is_empty());
}

#[test]
fn detect_usage_errors_exit_two() {
    let sample = okta_sample();
    for (args, why) in [
        (
            vec!["detect", "--source", "nope", sample.as_str()],
            "source `nope`",
        ),
        (
            vec!["detect", "--min-severity", "urgent", sample.as_str()],
            "--min-severity",
        ),
        (
            vec!["detect", "--rules", "/no/such/dir", sample.as_str()],
            "rule directory",
        ),
        (vec!["detect", "/no/such/file.log"], "cannot read"),
        (
            vec!["detect", "--placeholder", "novalue", sample.as_str()],
            "NAME=VALUE",
        ),
    ] {
        let out = midwatch(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn rules_check_names_each_bad_rule_by_file_line_and_code() {
    let broken = "title: broken\nlogsource:\n    product: okta\ndetection:\n    sel:\n        eventtype|nosuchmodifier: x\n    condition: sel\n";
    let bad_condition = "title: bad condition\nlogsource:\n    product: okta\ndetection:\n    sel:\n        eventtype: x\n    condition: sel and\n";
    let rules = rule_dir(&[
        ("good.yml", OKTA_RULE),
        ("broken.yml", broken),
        ("cond.yml", bad_condition),
        ("garbage.yml", "\u{0}\u{1}: [:\n"),
    ]);
    let out = midwatch(&["rules", "check", path(rules.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("good.yml:1: loaded rule Okta session start"),
        "{stdout}"
    );
    let broken_line = stdout.lines().find(|l| l.contains("broken.yml")).unwrap();
    assert!(broken_line.contains("broken.yml:6:"), "{broken_line}");
    assert!(broken_line.contains("nosuchmodifier"), "{broken_line}");
    assert!(
        stdout.lines().any(|l| l.contains("cond.yml:7:")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("garbage.yml")),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last().unwrap(),
        "loaded 11, unsupported 3",
        "one rule and ten built-in detectors load"
    );
}

#[test]
fn rules_check_loads_the_sigmahq_cloud_rules() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/sigma/rules-cloud"
    );
    let out = midwatch(&["rules", "check", dir]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap();
    let nums: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (loaded, unsupported) = (nums[0] - 10, nums[1]);
    assert!(
        loaded * 100 >= (loaded + unsupported) * 98,
        "{last}\n{}",
        stdout
            .lines()
            .filter(|l| !l.contains(": loaded "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn rules_test_runs_the_pack_examples_and_fails_on_a_wrong_one() {
    let pack = midwatch(&["rules", "test"]);
    assert_eq!(pack.status.code(), Some(0), "{}", text(&pack.stdout));
    let summary = text(&pack.stdout);
    assert!(summary.contains("failed 0"), "{summary}");
    let wrong =
        OKTA_RULE.to_string() + "examples:\n    match:\n        - {eventType: user.session.end}\n";
    let rules = rule_dir(&[("wrong.yml", &wrong)]);
    let out = midwatch(&["rules", "test", path(rules.path())]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAIL 6a1f5b7e-0c55-4c57-9a57-2a4a8e1c3d01"),
        "{stdout}"
    );
    assert!(stdout.contains("failed 1"), "{stdout}");
}

#[test]
fn score_reports_recall_and_precision_per_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let out = midwatch(&[
        "simulate",
        "--seed",
        "5",
        "--users",
        "12",
        "--hours",
        "24",
        "--out",
        path(&sim),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = midwatch(&["score", "--json", path(&sim)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let score: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scenarios = score["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 8);
    let attacks: u64 = scenarios
        .iter()
        .map(|s| s["attacks"].as_u64().unwrap())
        .sum();
    let detected: u64 = scenarios
        .iter()
        .map(|s| s["detected"].as_u64().unwrap())
        .sum();
    assert!(attacks > 0);
    assert_eq!(detected, attacks, "{score}");
    assert!(
        score["high_false_positives"].as_array().unwrap().is_empty(),
        "{score}"
    );
    let table = midwatch(&["score", path(&sim)]);
    assert!(text(&table.stdout).starts_with("scenario"));
}
