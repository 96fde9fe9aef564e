//! End to end: a simulated organisation's day, normalized by the sensor source, enriched
//! with its inventory, stitched into sessions and run through every built-in detector,
//! scored against the simulator's labels.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::builtin;
use midwatch_detect::geo::{Anonymity, Cidr, GeoDb, GeoInfo, MmdbWriter};
use midwatch_detect::{Alert, Context};
use midwatch_model::{Inventory, Severity};
use midwatch_sessions::{Config as StitchConfig, Stitcher};
use midwatch_sim::catalog::{self, Place};
use midwatch_sim::{Label, SimConfig, simulate};
use midwatch_sources::sensor::Sensor;
use midwatch_sources::{Limits, normalize_bytes};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The simulator's corporate VPN egress, as a `detectors.toml` would list it.
const DETECTORS_TOML: &str = r#"
[impossible_travel]
allow_cidrs = ["165.225.0.0/16"]

[anonymizing_network]
allow_cidrs = ["165.225.0.0/16"]
"#;

/// A geo database for the simulator's address plan: every provider's /16 with its place,
/// AS and whether it is a hosting network.
fn sim_geo() -> GeoDb {
    let mut w = MmdbWriter::new("midwatch-sim-geo");
    let mut add = |places: &[Place], hosting: bool| {
        for place in places {
            for isp in place.isps {
                let [a, b] = isp.prefix;
                let net = Cidr::new(IpAddr::V4(Ipv4Addr::new(a, b, 0, 0)), 16).unwrap();
                let info = GeoInfo {
                    country: Some(place.country.to_string()),
                    lat: Some(place.lat),
                    lon: Some(place.lon),
                    asn: Some(isp.asn),
                    asn_org: Some(isp.org.to_string()),
                    anonymity: Anonymity {
                        hosting,
                        ..Anonymity::default()
                    },
                };
                w.insert(net, info.to_mmdb());
            }
        }
    };
    add(&catalog::OFFICES, false);
    add(catalog::TRAVEL, false);
    add(catalog::HOSTILE, true);
    add(&catalog::CLOUD, true);
    let [a, b] = catalog::VPN.prefix;
    let vpn = GeoInfo {
        asn: Some(catalog::VPN.asn),
        asn_org: Some(catalog::VPN.org.to_string()),
        ..GeoInfo::default()
    };
    w.insert(
        Cidr::new(IpAddr::V4(Ipv4Addr::new(a, b, 0, 0)), 16).unwrap(),
        vpn.to_mmdb(),
    );
    GeoDb::from_bytes("sim-geo.mmdb", w.to_bytes().unwrap()).unwrap()
}

/// What one simulated day gave.
struct Run {
    alerts: Vec<Alert>,
    labels: Vec<Label>,
    /// midwatch session id → stitching key.
    keys: HashMap<String, String>,
    state_bytes: usize,
}

fn run(seed: u64, users: u32) -> Run {
    let sim = simulate(&SimConfig {
        seed,
        users,
        hours: 24,
        ..SimConfig::default()
    });
    let body = sim.events.join("\n");
    let norm = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
    assert!(norm.rejects.is_empty(), "{:?}", norm.rejects.first());
    let inventory = Inventory::from_doc(sim.inventory.clone()).unwrap();
    let cfg = builtin::load_config(DETECTORS_TOML, "detectors.toml").unwrap();
    let mut detectors = builtin::build(&cfg, Some(Arc::new(sim_geo())));
    assert_eq!(detectors.len(), builtin::NAMES.len());
    let mut stitcher = Stitcher::new(StitchConfig::default());
    let mut alerts = Vec::new();
    let mut keys = HashMap::new();
    for mut event in norm.events {
        inventory.enrich(&mut event);
        let placement = stitcher.ingest(&mut event);
        let session = placement
            .session_id
            .as_deref()
            .and_then(|id| stitcher.get(id));
        if let Some(s) = session {
            keys.entry(s.id.clone()).or_insert_with(|| s.key.clone());
        }
        let identity = event
            .midwatch
            .identity
            .as_ref()
            .and_then(|i| inventory.identity(&i.uid));
        let app = event
            .midwatch
            .app
            .as_ref()
            .and_then(|a| inventory.app(&a.uid));
        let ctx = Context {
            event: &event,
            session,
            identity,
            app,
            inventory: &inventory,
        };
        for d in &mut detectors {
            d.observe(&ctx, &mut alerts);
        }
    }
    let labels = sim
        .labels
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let state_bytes = detectors.iter().map(|d| d.state_bytes()).sum();
    Run {
        alerts,
        labels,
        keys,
        state_bytes,
    }
}

impl Run {
    /// The labels an alert belongs to: its session is the attack's, or its evidence
    /// includes attack events.
    fn labels_of(&self, a: &Alert) -> Vec<&Label> {
        let key = a.session_id.as_ref().and_then(|s| self.keys.get(s));
        self.labels
            .iter()
            .filter(|l| {
                let same_session = key.is_some_and(|k| {
                    *k == format!("sid:sensor:{}", l.session) || *k == format!("tok:{}", l.session)
                });
                same_session || a.evidence.iter().any(|e| l.event_ids.contains(e))
            })
            .collect()
    }

    /// Rules that found each label, by label index.
    fn found(&self) -> BTreeMap<usize, BTreeSet<String>> {
        let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for a in &self.alerts {
            for l in self.labels_of(a) {
                let idx = self.labels.iter().position(|x| std::ptr::eq(x, l)).unwrap();
                out.entry(idx).or_default().insert(a.rule.clone());
            }
        }
        out
    }

    fn report(&self) -> String {
        let mut by_rule: BTreeMap<(&str, Severity), (usize, usize)> = BTreeMap::new();
        for a in &self.alerts {
            let inside = !self.labels_of(a).is_empty();
            let n = by_rule.entry((a.rule.as_str(), a.severity)).or_default();
            if inside {
                n.0 += 1;
            } else {
                n.1 += 1;
            }
        }
        let mut s = String::from("rule, severity: in labelled attacks / outside\n");
        for ((rule, sev), (i, o)) in by_rule {
            s.push_str(&format!("  {rule} {sev:?}: {i} / {o}\n"));
        }
        for (idx, rules) in self.found() {
            s.push_str(&format!(
                "  label {} {}: {rules:?}\n",
                idx, self.labels[idx].scenario
            ));
        }
        s
    }
}

/// Scenarios and the detectors meant to find them.
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "session_cookie_replay",
        &["session_replay", "concurrent_session_use"],
    ),
    ("ghost_login", &["ghost_login"]),
    ("agent_scope_violation", &["agent_scope"]),
    ("offboarded_identity_active", &["offboarded_activity"]),
    ("mfa_fatigue", &["anonymizing_network"]),
];

/// Detectors that must stay silent on the simulator's benign traffic at any severity. The
/// others report policy findings benign traffic does have: sensitive actions by people
/// without MFA, and logins to unmanaged apps.
const QUIET: &[&str] = &[
    "session_replay",
    "concurrent_session_use",
    "impossible_travel",
    "agent_scope",
    "offboarded_activity",
    "ghost_login",
    "lookalike_domain",
    "anonymizing_network",
];

fn check(seed: u64, users: u32) {
    let run = run(seed, users);
    let report = run.report();
    let found = run.found();
    for (scenario, rules) in EXPECTED {
        let labels: Vec<usize> = (0..run.labels.len())
            .filter(|i| run.labels[*i].scenario == *scenario)
            .collect();
        assert!(
            !labels.is_empty(),
            "seed {seed}: no {scenario} injected\n{report}"
        );
        for idx in labels {
            for rule in *rules {
                let id = format!("midwatch.builtin.{rule}");
                assert!(
                    found.get(&idx).is_some_and(|r| r.contains(&id)),
                    "seed {seed}: {scenario} (label {idx}) not found by {rule}\n{report}"
                );
            }
        }
    }
    for a in &run.alerts {
        assert!(
            a.severity < Severity::High || !run.labels_of(a).is_empty(),
            "seed {seed}: high-severity alert outside the labelled attacks: {a:#?}\n{report}"
        );
        assert!(a.rule.starts_with("midwatch.builtin."));
        assert!(!a.evidence.is_empty() && !a.summary.is_empty() && !a.references.is_empty());
        assert!(a.identity.is_some(), "{a:#?}");
        let quiet = QUIET
            .iter()
            .any(|q| a.rule == format!("midwatch.builtin.{q}"));
        assert!(
            !quiet || !run.labels_of(a).is_empty(),
            "seed {seed}: {} fired on benign traffic: {}\n{report}",
            a.rule,
            a.summary
        );
    }
    // One alert per case: no rule alerts twice on the same session with the same evidence.
    let mut cases = BTreeSet::new();
    for a in &run.alerts {
        assert!(
            cases.insert((a.rule.clone(), a.session_id.clone(), a.evidence.clone())),
            "duplicate alert {a:#?}"
        );
    }
    assert!(run.state_bytes > 0);
    if std::env::var_os("MIDWATCH_E2E_REPORT").is_some() {
        eprintln!("{report}");
    }
}

#[test]
fn simulated_day_attacks_are_found_and_benign_traffic_raises_nothing_high() {
    check(7, 30);
}

#[test]
fn another_organisation_and_seed() {
    check(1234, 24);
}
