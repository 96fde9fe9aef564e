//! `concurrent_session_use`: one session driven from two devices at the same time.
//!
//! A person works one session from one browser. When the same session's events come from
//! device A, then device B, then A again, with A's return within `window_s` of its last
//! event, both copies are live at once — the victim still working while someone else uses
//! the stolen cookie (ATT&CK T1550.004). Devices are told apart by device id, else user
//! agent, within each source's events (one source's device ids mean nothing to another). A
//! session that moves to another device and stays there, or a laptop changing networks,
//! does not alternate and does not fire. One alert per session per device pair.

use super::Detector;
use super::common::{Draft, HeapSize, Keyed, alert, app_name, device_of, identity_id};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::{Alert, Context};
use midwatch_model::Severity;
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "concurrent_session_use";

/// Sessions are forgotten a day after their last event.
const TTL_MS: i64 = 24 * 3_600_000;

/// Devices remembered per session (the least recently used is dropped past this).
const MAX_ORIGINS: usize = 8;

/// `[concurrent_session_use]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// How recently the first device must have been used when the session switches back
    /// to it for both to count as live at once, seconds.
    pub window_s: u64,
    /// Most sessions tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::High,
            window_s: 600,
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.window_s == 0 || self.window_s > 86_400 {
            return Err(Invalid::new("window_s", "must be from 1 to 86400 seconds"));
        }
        check_max_tracked(self.max_tracked)
    }
}

/// One device a session was used from.
#[derive(Debug)]
struct Origin {
    device: String,
    last: i64,
    last_event: String,
}

impl HeapSize for Origin {
    fn heap_bytes(&self) -> usize {
        self.device.capacity() + self.last_event.capacity()
    }
}

#[derive(Debug, Default)]
struct State {
    origins: Vec<Origin>,
    /// Index into `origins` of the device of the previous event.
    current: Option<usize>,
    /// Device pairs already alerted on, each ordered.
    alerted: Vec<(String, String)>,
}

impl HeapSize for State {
    fn heap_bytes(&self) -> usize {
        self.origins.heap_bytes()
            + self.alerted.capacity() * std::mem::size_of::<(String, String)>()
            + self
                .alerted
                .iter()
                .map(|(a, b)| a.capacity() + b.capacity())
                .sum::<usize>()
    }
}

impl State {
    /// The index of `device`, added (evicting the least recently used) if new.
    fn origin(&mut self, device: &str, event: &str) -> usize {
        if let Some(i) = self.origins.iter().position(|o| o.device == device) {
            return i;
        }
        let fresh = Origin {
            device: device.to_string(),
            last: i64::MIN,
            last_event: event.to_string(),
        };
        if self.origins.len() < MAX_ORIGINS {
            self.origins.push(fresh);
            return self.origins.len() - 1;
        }
        let stalest = self
            .origins
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.current)
            .min_by_key(|(_, o)| o.last)
            .map_or(0, |(i, _)| i);
        if let Some(slot) = self.origins.get_mut(stalest) {
            *slot = fresh;
        }
        stalest
    }
}

/// The detector.
#[derive(Debug)]
pub struct ConcurrentSessionUse {
    cfg: Config,
    sessions: Keyed<State>,
}

impl ConcurrentSessionUse {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> ConcurrentSessionUse {
        let sessions = Keyed::new(cfg.max_tracked, TTL_MS);
        ConcurrentSessionUse { cfg, sessions }
    }
}

impl Detector for ConcurrentSessionUse {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let (Some(session), Some(device)) = (ctx.session, device_of(ctx.event)) else {
            return;
        };
        let e = ctx.event;
        let window = i64::try_from(self.cfg.window_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        // Device ids are only comparable within one source, so each source's view of the
        // session is followed on its own.
        let key = format!(
            "{}\u{0}{}",
            session.id,
            e.metadata.log_name.as_deref().unwrap_or("")
        );
        let st = self.sessions.entry(&key, e.time);
        let idx = st.origin(device, e.uid());
        let previous = st.current.filter(|p| *p != idx);
        // Switching back to a device used moments ago, with another device in between.
        let hit = previous.and_then(|p| {
            let (back, other) = (st.origins.get(idx)?, st.origins.get(p)?);
            let live = back.last != i64::MIN
                && back.last <= other.last
                && e.time.saturating_sub(back.last) <= window;
            live.then(|| {
                let pair = if back.device <= other.device {
                    (back.device.clone(), other.device.clone())
                } else {
                    (other.device.clone(), back.device.clone())
                };
                (
                    pair,
                    back.last_event.clone(),
                    other.last_event.clone(),
                    back.device.clone(),
                    other.device.clone(),
                    e.time.saturating_sub(back.last),
                )
            })
        });
        if let Some(o) = st.origins.get_mut(idx) {
            o.last = o.last.max(e.time);
            e.uid().clone_into(&mut o.last_event);
        }
        st.current = Some(idx);
        let Some((pair, back_event, other_event, back, other, gap)) = hit else {
            return;
        };
        if st.alerted.contains(&pair) || st.alerted.len() >= MAX_ORIGINS * 2 {
            return;
        }
        st.alerted.push(pair);
        let summary = format!(
            "Session of {} in {} is in use from two devices at once: {} and {} alternate \
             (back on {} {} s after its previous event).",
            identity_id(ctx).unwrap_or("an unknown identity"),
            app_name(ctx),
            back,
            other,
            back,
            gap / 1000,
        );
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "One session used from two devices at once",
                severity: self.cfg.severity,
                evidence: vec![back_event, other_event, e.uid().to_string()],
                references: vec![
                    "attack.t1550.004",
                    "attack.t1539",
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
