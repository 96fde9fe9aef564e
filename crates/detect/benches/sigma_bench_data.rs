//! Benchmark inputs shared by `benches/sigma.rs` and the peer comparison in `benches/peers/`:
//! the public vendor samples as raw records, and rule sets derived from the SigmaHQ cloud
//! corpus.
//!
//! Rule sets: the corpus rules a midwatch source feeds (vendor rules), then variants of them
//! with every detection value changed (a suffix on strings, an offset on numbers) and a new
//! id, until the set has the size asked for. Variants are written as JSON, which is YAML,
//! so every engine reads the same text.
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark set-up over known files"
)]

use midwatch_detect::sigma::{Doc, FieldSpace, LoadOptions, load_str};
use std::path::{Path, PathBuf};

/// A file under the shared data directory, found from this crate (`crates/detect`) or
/// from the peer benchmark crate inside it.
pub fn data(rel: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = ["../../../shared/data", "../../../../../shared/data"]
        .iter()
        .map(|up| here.join(up))
        .find(|p| p.is_dir())
        .expect("the shared data directory");
    root.join(rel)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every vendor sample record with its midwatch source name (the M365 test envelope
/// removed, the CloudTrail digest skipped).
pub fn vendor_records() -> Vec<(&'static str, Vec<u8>)> {
    let sets: &[(&str, &str)] = &[
        ("okta", "vendor/okta"),
        ("cloudtrail", "vendor/aws-cloudtrail"),
        ("entra-signin", "vendor/entra-signin"),
        ("entra-audit", "vendor/entra-audit"),
        ("m365", "vendor/m365-audit"),
        ("github", "vendor/github-audit"),
        ("gws", "vendor/google-workspace"),
    ];
    let mut out = Vec::new();
    for (source, dir) in sets {
        let mut files = Vec::new();
        walk(&data(dir), &mut files);
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with("-expected.json") || name.contains("digest") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            if *source == "m365" {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                for ev in v["events"].as_array().unwrap() {
                    if ev["o365audit"].is_object() {
                        out.push((*source, ev["o365audit"].to_string().into_bytes()));
                    }
                }
            } else if name.ends_with(".json") && !name.contains("Github_sample") {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                out.push((*source, v.to_string().into_bytes()));
            } else {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    if serde_json::from_str::<serde_json::Value>(line).is_ok() {
                        out.push((*source, line.as_bytes().to_vec()));
                    }
                }
            }
        }
    }
    out
}

/// `n` events: the vendor samples repeated in order.
pub fn events(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    let records = vendor_records();
    records.iter().cycle().take(n).cloned().collect()
}

/// The corpus rules a midwatch source feeds, as (source names, JSON text) pairs.
fn vendor_rules() -> Vec<(Vec<&'static str>, Doc)> {
    let mut files = Vec::new();
    walk(&data("sigma/rules-cloud"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let report = load_str(&text, &f, &LoadOptions::default());
        let Some(rule) = report.rules.first() else {
            continue;
        };
        let FieldSpace::Vendor { sources } = rule.field_space() else {
            continue;
        };
        if sources.is_empty() {
            continue;
        }
        let doc = Doc::parse_yaml(&text).unwrap().remove(0);
        out.push((sources.clone(), doc));
    }
    out
}

/// A rule set of `n` rules: the vendor rules, then variants. Each entry is the rule's
/// text (JSON) and the sources that feed it.
pub fn rule_set(n: usize) -> Vec<(Vec<&'static str>, String)> {
    let base = vendor_rules();
    let mut out = Vec::new();
    let mut k = 0;
    while out.len() < n {
        for (sources, doc) in &base {
            if out.len() == n {
                break;
            }
            let doc = if k == 0 { doc.clone() } else { variant(doc, k) };
            out.push((sources.clone(), doc.to_json().to_string()));
        }
        k += 1;
    }
    out
}

/// Variant `k` of a rule: new id and title, every detection value changed.
fn variant(doc: &Doc, k: usize) -> Doc {
    let Doc::Map(entries) = doc else {
        return doc.clone();
    };
    let entries = entries
        .iter()
        .map(|(key, v)| {
            let v = match (key.as_str(), v) {
                ("id", Doc::Str(id)) => Doc::Str(format!("{id}-v{k}")),
                ("title", Doc::Str(t)) => Doc::Str(format!("{t} (variant {k})")),
                ("detection", Doc::Map(searches)) => Doc::Map(
                    searches
                        .iter()
                        .map(|(name, s)| {
                            if name == "condition" {
                                (name.clone(), s.clone())
                            } else {
                                (name.clone(), change_values(s, k))
                            }
                        })
                        .collect(),
                ),
                _ => v.clone(),
            };
            (key.clone(), v)
        })
        .collect();
    Doc::Map(entries)
}

fn change_values(v: &Doc, k: usize) -> Doc {
    match v {
        Doc::Str(s) => {
            let suffix = format!("-mw{k}");
            match s.strip_suffix('*') {
                Some(head) => Doc::Str(format!("{head}{suffix}*")),
                None => Doc::Str(format!("{s}{suffix}")),
            }
        }
        Doc::Int(i) => Doc::Int(i + 1_000_000 * k as i64),
        Doc::List(items) => Doc::List(items.iter().map(|i| change_values(i, k)).collect()),
        Doc::Map(entries) => Doc::Map(
            entries
                .iter()
                .map(|(key, v)| {
                    let changes = !["|exists", "|fieldref", "|cidr"]
                        .iter()
                        .any(|m| key.contains(m));
                    (
                        key.clone(),
                        if changes {
                            change_values(v, k)
                        } else {
                            v.clone()
                        },
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}
