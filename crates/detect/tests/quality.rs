//! Detection quality on simulated telemetry, scored against the simulator's labels with the
//! shipped pack and built-in detectors, as `midwatch score` does. The seeds are not the ones
//! the pack was tuned on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::analyze::Analyzer;
use midwatch_detect::detection::RawIndex;
use midwatch_detect::findings::FoldConfig;
use midwatch_detect::rules::{RuleOptions, RuleSet};
use midwatch_model::{Finding, Inventory, Severity};
use midwatch_sessions::Stitcher;
use midwatch_sim::{Label, SimConfig, simulate};
use midwatch_sources::sensor::Sensor;
use midwatch_sources::{Limits, normalize_bytes};

/// The pack plus the simulated organisation's own `detectors.toml` (its VPN egress).
fn rules() -> RuleSet {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("detectors.toml"),
        midwatch_sim::detectors_toml(),
    )
    .unwrap();
    RuleSet::load(&RuleOptions {
        pack: true,
        dirs: vec![dir.path().to_path_buf()],
        ..RuleOptions::default()
    })
    .unwrap()
}

/// Every finding (final state) of one simulated run, and its labels.
fn run(cfg: &SimConfig) -> (Vec<Label>, Vec<Finding>) {
    let out = simulate(cfg);
    let labels = out
        .labels
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let body = out.events.join("\n");
    let n = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
    assert!(n.rejects.is_empty(), "{:?}", n.rejects.first());
    let mut raw = RawIndex::new(&n.raw);
    let mut analyzer = Analyzer::new(
        Inventory::from_doc(out.inventory).unwrap(),
        Stitcher::new(midwatch_sessions::Config::default()),
        rules().detection(FoldConfig::default()).unwrap(),
    );
    let mut findings: Vec<Finding> = Vec::new();
    let mut events = n.events;
    events.sort_by_key(|e| e.time);
    for mut e in events {
        let input = raw.first_for(&e);
        for f in analyzer.analyze(&mut e, input).findings {
            match findings.iter_mut().find(|x| x.id == f.finding.id) {
                Some(x) => *x = f.finding,
                None => findings.push(f.finding),
            }
        }
    }
    (labels, findings)
}

#[test]
fn every_scenario_is_found_with_high_recall_and_precision() {
    for seed in [4242, 5353] {
        let cfg = SimConfig {
            seed,
            users: 200,
            hours: 24,
            ..SimConfig::default()
        };
        let (labels, findings) = run(&cfg);
        let score = midwatch_sim::score::score(&labels, &findings, &midwatch_sim::SCENARIOS);
        for s in &score.scenarios {
            assert!(
                s.attacks > 0,
                "seed {seed}: no {} attack injected",
                s.scenario
            );
            assert!(
                s.recall >= 0.95 && s.precision >= 0.95,
                "seed {seed}: {s:?}\nhigh false positives: {:?}",
                score.high_false_positives
            );
        }
        assert!(
            score.high_false_positives.is_empty(),
            "seed {seed}: {:?}",
            score.high_false_positives
        );
    }
}

#[test]
fn an_attack_free_day_of_500_people_raises_no_high_finding() {
    let cfg = SimConfig {
        seed: 9001,
        users: 500,
        hours: 24,
        attacks: false,
        ..SimConfig::default()
    };
    let (labels, findings) = run(&cfg);
    assert!(labels.is_empty());
    let high: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .map(|f| (f.rule.as_str(), f.summary.as_str()))
        .collect();
    assert!(high.is_empty(), "{high:#?}");
}
