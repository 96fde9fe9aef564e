//! `offboarded_activity`: anything done by an identity that should no longer act.
//!
//! An identity whose lifecycle is `offboarded` (from `offboarded_at` on, when the inventory
//! says when) or `suspended` has no business signing in or acting; a successful event of
//! one means a credential or session outlived deprovisioning (ATT&CK T1078; for non-humans,
//! OWASP NHI1 improper offboarding). Failed attempts are the controls working and are not
//! reported. One alert per session (per identity and app for events without a session).

use super::Detector;
use super::common::{Draft, Keyed, alert, app_key, app_name, session_id, succeeded};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::{Alert, Context};
use midwatch_model::{IdentityKind, Lifecycle, Severity};
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "offboarded_activity";

/// Cases are forgotten a week after their last event.
const TTL_MS: i64 = 7 * 24 * 3_600_000;

/// `[offboarded_activity]` settings.
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

/// The detector.
#[derive(Debug)]
pub struct OffboardedActivity {
    cfg: Config,
    seen: Keyed<()>,
}

impl OffboardedActivity {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> OffboardedActivity {
        let seen = Keyed::new(cfg.max_tracked, TTL_MS);
        OffboardedActivity { cfg, seen }
    }
}

impl Detector for OffboardedActivity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        let Some(identity) = ctx.identity else {
            return;
        };
        if identity.lifecycle == Lifecycle::Active || !succeeded(e) {
            return;
        }
        if identity.lifecycle == Lifecycle::Offboarded
            && identity.offboarded_at.is_some_and(|at| e.time < at)
        {
            return;
        }
        let key = match session_id(ctx) {
            Some(s) => s.to_string(),
            None => format!("{}\u{0}{}", identity.id, app_key(ctx).unwrap_or("")),
        };
        if !self.seen.first_time(&key, e.time) {
            return;
        }
        let when = match (identity.lifecycle, identity.offboarded_at) {
            (Lifecycle::Offboarded, Some(at)) => {
                let days = e.time.saturating_sub(at) / 86_400_000;
                format!("offboarded {days} days earlier")
            }
            (state, _) => state.as_str().to_string(),
        };
        let summary = format!(
            "{} ({when}) is active: {} in {}.",
            identity.id,
            e.action().unwrap_or("an event"),
            app_name(ctx),
        );
        let mut references = vec!["attack.t1078"];
        if identity.kind != IdentityKind::Human {
            references.push("owasp_nhi.nhi1");
        }
        references.extend(["nist_csf.pr.aa-01", "nist_csf.de.cm-03"]);
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Activity of an offboarded or suspended identity",
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
