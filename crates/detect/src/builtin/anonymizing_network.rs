//! `anonymizing_network`: a session started from a network that hides who is behind it.
//!
//! When a session starts (its first event, or a login), its source address is checked
//! against `anonymizing_cidrs` and `anonymizing_asns`, and the geo database's flags: Tor
//! exit, anonymizing VPN, public or residential proxy, any anonymizer — and hosting
//! networks for people (workloads of service accounts and agents live in hosting networks,
//! so for them hosting alone is normal). Known egress ranges (`allow_cidrs`: the corporate
//! VPN) are never reported. Sign-ins through anonymizers are how stolen credentials are
//! used (ATT&CK T1090, T1090.003 for Tor). One alert per session.

use super::Detector;
use super::common::{
    Draft, Keyed, Net, alert, app_name, identity_id, identity_kind, is_login, session_id, succeeded,
};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::geo::{Cidr, GeoDb};
use crate::{Alert, Context};
use midwatch_model::{IdentityKind, Severity};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Detector name.
pub const NAME: &str = "anonymizing_network";

/// Sessions are forgotten a day after their start.
const TTL_MS: i64 = 24 * 3_600_000;

/// `[anonymizing_network]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Ranges known to be anonymizers (Tor exits, VPN providers, proxies).
    pub anonymizing_cidrs: Vec<Cidr>,
    /// Autonomous systems known to be anonymizers or bullet-proof hosting.
    pub anonymizing_asns: Vec<u32>,
    /// Known egress ranges that are never reported (the corporate VPN).
    pub allow_cidrs: Vec<Cidr>,
    /// Use the geo database's anonymizer flags.
    pub use_geo_flags: bool,
    /// Most sessions tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::Medium,
            anonymizing_cidrs: Vec::new(),
            anonymizing_asns: Vec::new(),
            allow_cidrs: Vec::new(),
            use_geo_flags: true,
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_max_tracked(self.max_tracked)
    }
}

/// The detector.
#[derive(Debug)]
pub struct AnonymizingNetwork {
    cfg: Config,
    geo: Option<Arc<GeoDb>>,
    seen: Keyed<()>,
}

impl AnonymizingNetwork {
    /// A detector with `cfg`, reading anonymizer flags from `geo`.
    pub fn new(cfg: Config, geo: Option<Arc<GeoDb>>) -> AnonymizingNetwork {
        let seen = Keyed::new(cfg.max_tracked, TTL_MS);
        AnonymizingNetwork { cfg, geo, seen }
    }

    /// Why `net` is anonymizing for an identity of `kind`, if it is.
    fn why(&self, net: &Net, ip: Option<IpAddr>, kind: Option<IdentityKind>) -> Option<String> {
        if ip.is_some_and(|ip| self.cfg.allow_cidrs.iter().any(|c| c.contains(ip))) {
            return None;
        }
        if let Some(c) =
            ip.and_then(|ip| self.cfg.anonymizing_cidrs.iter().find(|c| c.contains(ip)))
        {
            return Some(format!("inside the anonymizing range {c}"));
        }
        if let Some(asn) = net.asn.filter(|a| self.cfg.anonymizing_asns.contains(a)) {
            return Some(format!("in the anonymizing network AS{asn}"));
        }
        if !self.cfg.use_geo_flags {
            return None;
        }
        let mut flags = net.anonymity;
        // `is_anonymous` sums up the specific flags (MaxMind sets it with any of them), so
        // it counts on its own only when no specific flag explains it.
        if flags.tor || flags.vpn || flags.proxy || flags.hosting {
            flags.anonymous = false;
        }
        if !matches!(kind, None | Some(IdentityKind::Human)) {
            flags.hosting = false;
        }
        flags
            .any()
            .then(|| format!("flagged {} by the geo database", flags.kinds().join(", ")))
    }
}

impl Detector for AnonymizingNetwork {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        let starts = is_login(e) || ctx.session.is_some_and(|s| s.event_count <= 1);
        if !starts || !succeeded(e) {
            return;
        }
        let Some(ip_text) = e.src_ip() else {
            return;
        };
        let ip: Option<IpAddr> = ip_text.parse().ok();
        let net = Net::of_event(e, self.geo.as_deref());
        let Some(why) = self.why(&net, ip, identity_kind(ctx)) else {
            return;
        };
        let key = session_id(ctx).unwrap_or(e.uid());
        if !self.seen.first_time(key, e.time) {
            return;
        }
        let summary = format!(
            "Session of {} in {} started from {}, {why}.",
            identity_id(ctx).unwrap_or("an unknown identity"),
            app_name(ctx),
            net.describe(),
        );
        let mut references = vec!["attack.t1090"];
        if net.anonymity.tor {
            references.push("attack.t1090.003");
        }
        references.extend(["nist_csf.de.cm-01"]);
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Session started from an anonymizing network",
                severity: self.cfg.severity,
                evidence: vec![e.uid().to_string()],
                references,
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.seen.bytes()
    }
}
