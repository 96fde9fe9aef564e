//! `impossible_travel`: one identity in two places no one could travel between in time.
//!
//! Per identity, each successful event's position — the event's own
//! `src_endpoint.location` latitude/longitude, else the geo database's for its address — is
//! compared with the previous one: distance over elapsed time above `max_kmh` means two
//! people are using the identity (ATT&CK T1078). Allowances keep ordinary life quiet:
//! - known egress ranges (`allow_cidrs`: the corporate VPN, a secure web gateway) and their
//!   autonomous systems (`allow_asns`, plus the AS of any address seen inside
//!   `allow_cidrs`) say nothing about where the person is, so those events are skipped;
//! - moves shorter than `min_km` are noise of geolocation;
//! - events without a position are skipped;
//! - late events (out of order) are skipped.
//!
//! One alert per identity per pair of places.

use super::Detector;
use super::common::{Draft, HeapSize, Keyed, Net, alert, distance_km, identity_id, succeeded};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::geo::{Cidr, GeoDb};
use crate::{Alert, Context};
use midwatch_model::Severity;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Detector name.
pub const NAME: &str = "impossible_travel";

/// Identities are forgotten a week after their last located event.
const TTL_MS: i64 = 7 * 24 * 3_600_000;

/// Place pairs remembered per identity.
const MAX_PAIRS: usize = 32;

/// AS numbers learned from `allow_cidrs` addresses.
const MAX_LEARNED_ASNS: usize = 64;

/// Elapsed time never counts as less than this, so simultaneous events give a finite speed.
const MIN_ELAPSED_MS: i64 = 60_000;

/// `[impossible_travel]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Fastest believable travel, km/h (an airliner cruises at about 900).
    pub max_kmh: f64,
    /// Moves shorter than this are ignored, km.
    pub min_km: f64,
    /// Known egress networks (VPN, gateway): events from them are not located.
    pub allow_cidrs: Vec<Cidr>,
    /// Autonomous systems of known egress networks.
    pub allow_asns: Vec<u32>,
    /// Most identities tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::Medium,
            max_kmh: 900.0,
            min_km: 100.0,
            allow_cidrs: Vec::new(),
            allow_asns: Vec::new(),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(self.max_kmh.is_finite() && self.max_kmh > 0.0) {
            return Err(Invalid::new("max_kmh", "must be a positive number"));
        }
        if !(self.min_km.is_finite() && self.min_km >= 0.0) {
            return Err(Invalid::new("min_km", "must be zero or more"));
        }
        check_max_tracked(self.max_tracked)
    }
}

/// Where an identity was last seen.
#[derive(Debug, Clone)]
struct Fix {
    pos: (f64, f64),
    time: i64,
    event: String,
    place: String,
    net: String,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Fix>,
    alerted: Vec<String>,
}

impl HeapSize for State {
    fn heap_bytes(&self) -> usize {
        self.last.as_ref().map_or(0, |f| {
            f.event.capacity() + f.place.capacity() + f.net.capacity()
        }) + self.alerted.heap_bytes()
    }
}

/// The detector.
#[derive(Debug)]
pub struct ImpossibleTravel {
    cfg: Config,
    geo: Option<Arc<GeoDb>>,
    identities: Keyed<State>,
    learned_asns: Vec<u32>,
}

impl ImpossibleTravel {
    /// A detector with `cfg`, locating addresses without coordinates with `geo`.
    pub fn new(cfg: Config, geo: Option<Arc<GeoDb>>) -> ImpossibleTravel {
        let identities = Keyed::new(cfg.max_tracked, TTL_MS);
        ImpossibleTravel {
            cfg,
            geo,
            identities,
            learned_asns: Vec::new(),
        }
    }

    /// Whether `net` is a known egress; learns the AS of addresses inside `allow_cidrs`.
    fn is_egress(&mut self, net: &Net) -> bool {
        let ip: Option<IpAddr> = net.ip.as_deref().and_then(|i| i.parse().ok());
        let in_cidr = ip.is_some_and(|ip| self.cfg.allow_cidrs.iter().any(|c| c.contains(ip)));
        if in_cidr {
            if let Some(asn) = net.asn
                && !self.learned_asns.contains(&asn)
                && self.learned_asns.len() < MAX_LEARNED_ASNS
            {
                self.learned_asns.push(asn);
            }
            return true;
        }
        net.asn
            .is_some_and(|a| self.cfg.allow_asns.contains(&a) || self.learned_asns.contains(&a))
    }
}

/// A coarse name for a position, for summaries and de-duplication.
fn place(net: &Net, pos: (f64, f64)) -> String {
    let coarse = format!("{:.0},{:.0}", pos.0, pos.1);
    match &net.country {
        Some(c) => format!("{c} ({coarse})"),
        None => coarse,
    }
}

impl Detector for ImpossibleTravel {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        if e.midwatch.late || !succeeded(e) {
            return;
        }
        let Some(identity) = identity_id(ctx) else {
            return;
        };
        let net = Net::of_event(e, self.geo.as_deref());
        let Some(pos) = net.position() else {
            return;
        };
        if self.is_egress(&net) {
            return;
        }
        let here = Fix {
            pos,
            time: e.time,
            event: e.uid().to_string(),
            place: place(&net, pos),
            net: net.describe(),
        };
        let (max_kmh, min_km, severity) = (self.cfg.max_kmh, self.cfg.min_km, self.cfg.severity);
        let st = self.identities.entry(identity, e.time);
        let Some(prev) = st.last.clone() else {
            st.last = Some(here);
            return;
        };
        if e.time < prev.time {
            return;
        }
        let km = distance_km(prev.pos, pos);
        let elapsed = (e.time - prev.time).max(MIN_ELAPSED_MS);
        let kmh = km / (elapsed as f64 / 3_600_000.0);
        if !(km >= min_km && kmh > max_kmh && prev.place != here.place) {
            st.last = Some(here);
            return;
        }
        let pair = if prev.place <= here.place {
            format!("{}|{}", prev.place, here.place)
        } else {
            format!("{}|{}", here.place, prev.place)
        };
        if st.alerted.contains(&pair) || st.alerted.len() >= MAX_PAIRS {
            st.last = Some(here);
            return;
        }
        let summary = format!(
            "{identity} was at {} from {} and {} min later at {} from {}: {:.0} km apart, \
             {:.0} km/h, faster than the {:.0} km/h anyone can travel.",
            prev.place,
            prev.net,
            (e.time - prev.time) / 60_000,
            here.place,
            here.net,
            km,
            kmh,
            max_kmh,
        );
        let evidence = vec![prev.event, here.event.clone()];
        st.last = Some(here);
        st.alerted.push(pair);
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Impossible travel",
                severity,
                evidence,
                references: vec!["attack.t1078", "nist_csf.de.ae-02", "nist_csf.de.cm-03"],
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.identities.bytes() + self.learned_asns.capacity() * 4
    }
}
