//! The SigmaHQ cloud rules load, and every loaded rule matches a document built to satisfy
//! it and not one built to violate it, through documents and through raw JSON records with
//! dispatch, as the naive reference interpreter says it should.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod sigma_support;

use midwatch_detect::sigma::{
    Doc, Engine, EngineOptions, FieldSpace, LoadOptions, LoadReport, Rule, load_paths,
};
use sigma_support::{RRule, build, matches, minimal_negative};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/"
    ))
    .join(rel)
}

/// Values for every `%placeholder%` the extra rules use.
fn placeholders() -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut files = Vec::new();
    walk(&data("sigma/rules-cloud-extra"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, part) in text.split('%').enumerate() {
            if i % 2 == 1
                && !part.is_empty()
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
            {
                out.insert(
                    part.to_string(),
                    vec!["trusted-one".to_string(), "10.0.0.*".to_string()],
                );
            }
        }
    }
    out
}

fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml") {
            out.push(p);
        }
    }
}

fn print_unsupported(report: &LoadReport) {
    for e in &report.unsupported {
        eprintln!("unsupported: {e}");
    }
}

#[test]
fn cloud_rules_load() {
    let report = load_paths(&[data("sigma/rules-cloud")], &LoadOptions::default());
    print_unsupported(&report);
    let total = report.rules.len() + report.unsupported.len();
    eprintln!(
        "rules-cloud: {} files, {} rules loaded, {} unsupported, {} correlation documents",
        report.files,
        report.rules.len(),
        report.unsupported.len(),
        report.correlation_docs.len()
    );
    assert_eq!(total, 278);
    assert!(report.rules.len() * 100 >= total * 98);
    let fed = report
        .rules
        .iter()
        .filter(|r| r.field_space().is_fed())
        .count();
    eprintln!("{fed} of them are fed by a midwatch source");
    assert!(fed >= 180, "{fed}");

    let extra = load_paths(
        &[data("sigma/rules-cloud-extra")],
        &LoadOptions {
            placeholders: placeholders(),
        },
    );
    print_unsupported(&extra);
    let total = extra.rules.len() + extra.unsupported.len();
    eprintln!("rules-cloud-extra: {} loaded of {total}", extra.rules.len());
    assert_eq!(total, 14);
    assert!(extra.rules.len() * 100 >= total * 98);
}

/// Why the builder could not make a positive document for a rule.
fn why_not(rule: &Rule) -> String {
    let mut why = Vec::new();
    for s in &rule.detection.searches {
        for item in s.alternatives.iter().flatten() {
            match &item.test {
                midwatch_detect::sigma::ast::Test::Match { matchers, .. } => {
                    for m in matchers {
                        if let midwatch_detect::sigma::ast::Matcher::Regex { regex, .. } = m {
                            why.push(format!("regex `{regex}`"));
                        }
                    }
                }
                midwatch_detect::sigma::ast::Test::FieldRef { .. } => why.push("fieldref".into()),
                _ => {}
            }
        }
    }
    if why.is_empty() {
        why.push("conflicting requirements".into());
    }
    why.join(", ")
}

#[test]
fn every_rule_matches_its_positive_and_not_its_negative() {
    let mut rules = load_paths(&[data("sigma/rules-cloud")], &LoadOptions::default()).rules;
    rules.extend(
        load_paths(
            &[data("sigma/rules-cloud-extra")],
            &LoadOptions {
                placeholders: placeholders(),
            },
        )
        .rules,
    );
    let engines = [
        Engine::new(rules.clone()),
        Engine::with_options(
            rules.clone(),
            EngineOptions {
                index: false,
                prefilter: true,
            },
        ),
        Engine::with_options(
            rules.clone(),
            EngineOptions {
                index: false,
                prefilter: false,
            },
        ),
    ];
    let (mut positives, mut minimal, mut built, mut raw_checked) = (0, 0, 0, 0);
    let mut no_positive = Vec::new();
    let mut no_negative = Vec::new();
    let mut failures = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let reference = RRule::from_ast(&rule.detection);
        let name = format!("{} ({})", rule.meta.title, rule.meta.file.display());
        let Some(positive) = build(&reference, true) else {
            no_positive.push(format!("{name}: {}", why_not(rule)));
            continue;
        };
        positives += 1;
        let negative = match minimal_negative(&reference, &positive) {
            Some(n) => {
                minimal += 1;
                Some(n)
            }
            None => build(&reference, false).inspect(|_| built += 1),
        };
        if negative.is_none() {
            no_negative.push(name.clone());
        }
        for (doc, want) in [(Some(&positive), true), (negative.as_ref(), false)] {
            let Some(doc) = doc else { continue };
            assert_eq!(matches(&reference, doc), want);
            let as_doc = Doc::from_json(doc);
            if rule.is_match(&as_doc) != want {
                failures.push(format!("{name}: document {doc} should match: {want}"));
            }
            let FieldSpace::Vendor { sources } = rule.field_space() else {
                continue;
            };
            let bytes = doc.to_string().into_bytes();
            for source in sources {
                raw_checked += 1;
                for (e, engine) in engines.iter().enumerate() {
                    let mut out = Vec::new();
                    engine.match_raw(source, &bytes, &mut out).unwrap();
                    let hit = out.iter().any(|m| m.rule == i);
                    if hit != want {
                        failures.push(format!(
                            "{name}: raw {source} record {doc} through engine {e} should match: {want}"
                        ));
                    }
                }
            }
        }
    }
    for n in &no_positive {
        eprintln!("no positive document: {n}");
    }
    for n in &no_negative {
        eprintln!("no negative document: {n}");
    }
    eprintln!(
        "{} rules: {positives} positives, negatives {minimal} one field away and {built} built; \
         {raw_checked} raw-record checks per engine",
        rules.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(no_positive.len() <= 5, "{no_positive:?}");
    assert!(no_negative.is_empty(), "{no_negative:?}");
}
