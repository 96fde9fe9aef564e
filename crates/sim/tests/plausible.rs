//! Benign traffic is physically plausible: a person's one laptop is never seen at two
//! places further apart than an airliner could cover in the time between, while the
//! deliberate look-alikes (a trip abroad, a laptop moving onto the VPN mid-session) remain.
//!
//! Positions are the events' own `network.lat/lon`. The corporate VPN egress says nothing
//! about where the laptop is (it is in `detectors.toml` for that reason) and is skipped, as
//! are the labelled attack events.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_model::timefmt::parse_rfc3339_ms;
use midwatch_sim::{Label, SimConfig, catalog, simulate};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The parts of a sensor event looked at here (parsed into types: far quicker than
/// `serde_json::Value` over a few hundred thousand lines).
#[derive(Deserialize)]
struct Event {
    id: String,
    ts: String,
    #[serde(default)]
    identity: Option<Identity>,
    #[serde(default)]
    session: Option<Session>,
    #[serde(default)]
    device: Option<Device>,
    #[serde(default)]
    network: Option<Network>,
}

#[derive(Deserialize)]
struct Identity {
    id: String,
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Session {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Device {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Network {
    ip: String,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

/// An airliner's cruising speed, km/h.
const MAX_KMH: f64 = 900.0;

/// Moves shorter than this are a commute, not travel, km.
const MIN_KM: f64 = 500.0;

/// Great-circle distance, km.
fn km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// One place a device was seen at, and the last time.
struct Seen {
    pos: (f64, f64),
    ts: i64,
    what: String,
}

/// What one simulation shows of benign human traffic.
#[derive(Default)]
struct Findings {
    /// Impossible moves, described.
    impossible: Vec<String>,
    /// Benign located events checked.
    located: usize,
    /// Benign events from a travel destination's network.
    abroad: usize,
    /// Benign sessions seen from more than one address.
    moved_sessions: usize,
}

fn check(seed: u64, users: u32, hours: u32) -> Findings {
    let out = simulate(&SimConfig {
        seed,
        users,
        hours,
        ..SimConfig::default()
    });
    let labelled: BTreeSet<String> = out
        .labels
        .iter()
        .flat_map(|l| serde_json::from_str::<Label>(l).unwrap().event_ids)
        .collect();
    let [a, b] = catalog::VPN.prefix;
    let vpn = format!("{a}.{b}.");
    let travel: BTreeSet<String> = catalog::TRAVEL
        .iter()
        .flat_map(|p| p.isps.iter())
        .map(|isp| format!("{}.{}.", isp.prefix[0], isp.prefix[1]))
        .collect();

    let mut f = Findings::default();
    let mut places: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    let mut session_ips: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in &out.events {
        let e: Event = serde_json::from_str(line).unwrap();
        if labelled.contains(&e.id) {
            continue;
        }
        // Only people: a person's identity is human (the default kind).
        let Some(identity) = e
            .identity
            .filter(|i| i.kind.as_deref().unwrap_or("human") == "human")
        else {
            continue;
        };
        let (Some(device), Some(net)) = (e.device.and_then(|d| d.id), e.network) else {
            continue;
        };
        let session = e.session.and_then(|s| s.id);
        if let Some(s) = &session {
            session_ips
                .entry(s.clone())
                .or_default()
                .insert(net.ip.clone());
        }
        if travel.iter().any(|p| net.ip.starts_with(p.as_str())) {
            f.abroad += 1;
        }
        if net.ip.starts_with(&vpn) {
            continue;
        }
        let (Some(lat), Some(lon)) = (net.lat, net.lon) else {
            continue;
        };
        f.located += 1;
        let pos = (lat, lon);
        let ts = parse_rfc3339_ms(&e.ts).unwrap();
        let what = format!(
            "{} {} {} {} ({}, {})",
            e.ts,
            identity.id,
            session.as_deref().unwrap_or("-"),
            net.ip,
            net.city.as_deref().unwrap_or("?"),
            net.country.as_deref().unwrap_or("?"),
        );
        let seen = places.entry(device.clone()).or_default();
        // Every place this laptop was seen at before: could it have come from there?
        for s in seen.iter() {
            let d = km(s.pos, pos);
            let hours = (ts - s.ts) as f64 / 3_600_000.0;
            if d > MIN_KM && d / MAX_KMH > hours {
                f.impossible.push(format!(
                    "device {device}: {} then {} — {d:.0} km in {:.0} min",
                    s.what,
                    what,
                    hours * 60.0
                ));
            }
        }
        match seen.iter_mut().find(|s| km(s.pos, pos) < 1.0) {
            Some(s) => {
                s.ts = ts;
                s.what = what;
            }
            None => seen.push(Seen { pos, ts, what }),
        }
    }
    f.moved_sessions = session_ips.values().filter(|ips| ips.len() > 1).count();
    f
}

fn assert_plausible(seed: u64, users: u32, hours: u32) -> Findings {
    let f = check(seed, users, hours);
    assert!(f.located > 10_000, "seed {seed}: only {} events", f.located);
    assert!(
        f.impossible.is_empty(),
        "seed {seed}, {hours} h: {} impossible moves of benign laptops, e.g.\n{}",
        f.impossible.len(),
        f.impossible
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A laptop moving mid-session (onto the VPN, home from the office) stays in.
    assert!(
        f.moved_sessions > 0,
        "seed {seed}: no session changes network"
    );
    f
}

#[test]
fn no_impossible_travel_seed_202() {
    assert_plausible(202, 300, 24);
}

#[test]
fn no_impossible_travel_seed_303() {
    assert_plausible(303, 300, 24);
}

#[test]
fn no_impossible_travel_seed_404() {
    assert_plausible(404, 300, 24);
}

#[test]
fn no_impossible_travel_over_three_days_and_people_still_travel() {
    // Days spent abroad, the flights around them and the next trip all fit in three days.
    let f = assert_plausible(505, 150, 72);
    assert!(f.abroad > 0, "nobody worked from a trip in three days");
}
