//! `session_replay`: one session used from a new device *and* a new network.
//!
//! A session is bound to its session id or token fingerprint, and stitching keeps the
//! device and network it was established from (the login baseline). When the same session
//! shows up from another device fingerprint (device id, else user agent) on another network
//! (another AS or country than the baseline; another address when neither is known), its
//! cookie or token has been lifted and replayed elsewhere (ATT&CK T1539 → T1550.004). A
//! laptop changing networks keeps its device, and a person on two devices has two sessions,
//! so neither fires. Device fingerprints are compared only between events of the source that
//! opened the session. One alert per session per new device.

use super::Detector;
use super::common::{Draft, HeapSize, Keyed, Net, alert, app_name, identity_id, is_login};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::geo::GeoDb;
use crate::{Alert, Context};
use midwatch_model::session::Baseline;
use midwatch_model::{Event, Severity};
use serde::Deserialize;
use std::sync::Arc;

/// Detector name.
pub const NAME: &str = "session_replay";

/// Sessions are forgotten a day after their last event.
const TTL_MS: i64 = 24 * 3_600_000;

/// New devices remembered per session; a session past this many is alerted on already.
const MAX_DEVICES: usize = 16;

/// `[session_replay]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Most sessions tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::High,
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_max_tracked(self.max_tracked)
    }
}

#[derive(Debug, Default)]
struct State {
    /// The event the baseline came from: the login, else the first event seen.
    baseline_event: Option<String>,
    baseline_is_login: bool,
    /// Devices already alerted on.
    alerted: Vec<String>,
}

impl HeapSize for State {
    fn heap_bytes(&self) -> usize {
        self.baseline_event.heap_bytes() + self.alerted.heap_bytes()
    }
}

/// The detector.
#[derive(Debug)]
pub struct SessionReplay {
    cfg: Config,
    geo: Option<Arc<GeoDb>>,
    sessions: Keyed<State>,
}

impl SessionReplay {
    /// A detector with `cfg`, reading missing network facts from `geo`.
    pub fn new(cfg: Config, geo: Option<Arc<GeoDb>>) -> SessionReplay {
        let sessions = Keyed::new(cfg.max_tracked, TTL_MS);
        SessionReplay { cfg, geo, sessions }
    }
}

/// The event's device fingerprint and the baseline's, compared like with like: device
/// ids when both have one, else user agents.
fn devices<'a>(e: &'a Event, b: &'a Baseline) -> Option<(&'a str, &'a str)> {
    match (e.device_id(), b.device_id.as_deref()) {
        (Some(d), Some(base)) => Some((d, base)),
        _ => Some((e.user_agent()?, b.user_agent.as_deref()?)),
    }
}

impl Detector for SessionReplay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let Some(session) = ctx.session else {
            return;
        };
        let e = ctx.event;
        let st = self.sessions.entry(&session.id, e.time);
        let login = is_login(e);
        if st.baseline_event.is_none() || (login && !st.baseline_is_login) {
            st.baseline_event = Some(e.uid().to_string());
            st.baseline_is_login = login;
        }
        // Device ids are only comparable within one source (a sensor's id is not an IdP's
        // device hash), so only events of the source that opened the session are compared.
        if e.metadata.log_name.as_deref() != Some(session.source.as_str()) {
            return;
        }
        let Some((device, base_device)) = devices(e, &session.baseline) else {
            return;
        };
        if device == base_device || st.alerted.iter().any(|d| d == device) {
            return;
        }
        let geo = self.geo.as_deref();
        let net = Net::of_event(e, geo);
        let base = Net::of_baseline(&session.baseline, geo);
        if !net.differs(&base) || st.alerted.len() >= MAX_DEVICES {
            return;
        }
        st.alerted.push(device.to_string());
        let summary = format!(
            "Session of {} in {} was established from device {} on {} and is now used from \
             device {} on {}: the session cookie or token is being replayed elsewhere.",
            identity_id(ctx).unwrap_or("an unknown identity"),
            app_name(ctx),
            base_device,
            base.describe(),
            device,
            net.describe(),
        );
        let mut evidence: Vec<String> = st.baseline_event.iter().cloned().collect();
        evidence.push(e.uid().to_string());
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Session replayed from a new device and network",
                severity: self.cfg.severity,
                evidence,
                references: vec![
                    "attack.t1539",
                    "attack.t1550.004",
                    "nist_csf.de.cm-03",
                    "nist_csf.de.ae-02",
                ],
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.sessions.bytes()
    }
}
