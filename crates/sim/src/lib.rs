//! A deterministic simulator of an organisation's session telemetry, with labelled attacks.
//!
//! midwatch needs realistic traffic to develop detections against, to demo and to
//! benchmark, and it needs ground truth to score detections with. [`simulate`] builds an
//! organisation from a seed — people in offices across time zones, their laptops and home
//! networks, service accounts and AI agents with owners and approved scopes, managed and
//! shadow SaaS apps — and plays out its working hours as sensor events, with attack
//! scenarios ([`SCENARIOS`]) injected and described in labels.
//!
//! Output is a pure function of [`SimConfig`]: the same configuration gives byte-identical
//! files on every machine. There is no wall clock, no unordered iteration and no external
//! randomness; the generator is our own ([`rng`]).
//!
//! Every event line is in midwatch's sensor format (`midwatch_sources::sensor`) and the
//! inventory is an [`InventoryDoc`]; [`write_dir`] writes `events.ndjson`, `labels.ndjson`
//! and `inventory.json`.

pub mod catalog;
pub mod clock;
pub mod content;
pub mod label;
pub mod org;
pub mod rng;
pub mod scenarios;
pub mod score;
pub mod sink;
pub mod traffic;
pub mod wire;

use midwatch_model::inventory::InventoryDoc;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use label::Label;

/// Names of the injected attack scenarios.
pub const SCENARIOS: [&str; 8] = scenarios::NAMES;

/// 2026-01-05T00:00:00Z, a Monday: the default start of the simulation.
pub const DEFAULT_START_MS: i64 = 1_767_571_200_000;

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed; everything follows from it.
    pub seed: u64,
    /// Number of people. Service accounts and AI agents are added at one per ten people
    /// each (at least one). Attacks are injected when there are at least five people.
    pub users: u32,
    /// Hours to simulate.
    pub hours: u32,
    /// Start of the simulation, epoch milliseconds.
    pub start_ms: i64,
    /// Inject the labelled attack scenarios (off: an attack-free baseline).
    pub attacks: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 1,
            users: 50,
            hours: 24,
            start_ms: DEFAULT_START_MS,
            attacks: true,
        }
    }
}

/// The simulation's result, in memory.
#[derive(Debug, Clone)]
pub struct SimOutput {
    /// Sensor-format JSON lines, sorted by time then id.
    pub events: Vec<String>,
    /// `labels.ndjson` lines ([`Label`]), sorted by start time.
    pub labels: Vec<String>,
    /// The organisation's inventory.
    pub inventory: InventoryDoc,
}

/// Counts of what [`write_dir`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SimSummary {
    /// Events written.
    pub events: usize,
    /// Labels (injected attacks) written.
    pub labels: usize,
    /// Identities in the inventory.
    pub identities: usize,
    /// Apps in the inventory.
    pub apps: usize,
    /// Distinct sessions (browser sessions and token sessions) in the events.
    pub sessions: u64,
}

/// Why [`write_dir`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The inventory could not be serialized.
    #[error("cannot serialize the inventory: {0}")]
    Json(#[from] serde_json::Error),
}

/// Run the simulation in memory.
pub fn simulate(cfg: &SimConfig) -> SimOutput {
    run(cfg).0
}

fn run(cfg: &SimConfig) -> (SimOutput, u64) {
    let win = clock::Window {
        start: cfg.start_ms,
        end: cfg
            .start_ms
            .saturating_add(i64::from(cfg.hours) * clock::HOUR),
    };
    let org = org::Org::build(cfg.seed, cfg.users, cfg.start_ms);
    let mut sink = sink::Sink::new(cfg.seed);
    traffic::generate(&org, win, &mut sink, cfg.seed);
    if cfg.attacks {
        scenarios::inject(&org, win, &mut sink, cfg.seed);
    }
    let done = sink.finish();
    (
        SimOutput {
            events: done.events,
            labels: done.labels,
            inventory: org.inventory,
        },
        done.sessions,
    )
}

/// What a security team of the simulated organisation would put in its `detectors.toml`:
/// the corporate VPN egress, so moving onto it is not taken for travel.
pub fn detectors_toml() -> String {
    let [a, b] = catalog::VPN.prefix;
    format!(
        "# Known egress of the simulated organisation: its corporate VPN ({}).\n\
         [impossible_travel]\nallow_cidrs = [\"{a}.{b}.0.0/16\"]\nallow_asns = [{}]\n",
        catalog::VPN.org,
        catalog::VPN.asn
    )
}

/// Run the simulation and write `events.ndjson`, `labels.ndjson`, `inventory.json` and
/// `detectors.toml` ([`detectors_toml`]) into `out` (created if missing).
pub fn write_dir(cfg: &SimConfig, out: &Path) -> Result<SimSummary, SimError> {
    let (sim, sessions) = run(cfg);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    write_lines(&out.join("events.ndjson"), &sim.events)?;
    write_lines(&out.join("labels.ndjson"), &sim.labels)?;
    let inv_path = out.join("inventory.json");
    let mut text = serde_json::to_string_pretty(&sim.inventory)?;
    text.push('\n');
    std::fs::write(&inv_path, text).map_err(io(&inv_path))?;
    let det_path = out.join("detectors.toml");
    std::fs::write(&det_path, detectors_toml()).map_err(io(&det_path))?;
    Ok(SimSummary {
        events: sim.events.len(),
        labels: sim.labels.len(),
        identities: sim.inventory.identities.len(),
        apps: sim.inventory.apps.len(),
        sessions,
    })
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), SimError> {
    let err = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = std::io::BufWriter::new(file);
    for line in lines {
        w.write_all(line.as_bytes()).map_err(err)?;
        w.write_all(b"\n").map_err(err)?;
    }
    w.flush().map_err(err)?;
    Ok(())
}
