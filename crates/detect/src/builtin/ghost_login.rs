//! `ghost_login`: a local-credential login to an app that should only be reached by SSO.
//!
//! An app marked `managed` in the inventory sits behind single sign-on; a successful login
//! to it with a local method (`local_methods`: password, magic link, a passkey registered
//! with the app itself) goes around the identity provider and its MFA, offboarding and
//! conditional access — a leftover local account or a forgotten break-glass credential
//! (ATT&CK T1078.004). One alert per session.

use super::Detector;
use super::common::{Draft, Keyed, alert, app_name, identity_id, is_login, session_id, succeeded};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::{Alert, Context};
use midwatch_model::Severity;
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "ghost_login";

/// Sessions are forgotten a day after their login.
const TTL_MS: i64 = 24 * 3_600_000;

/// `[ghost_login]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Login methods that do not go through the identity provider.
    pub local_methods: Vec<String>,
    /// Most sessions tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::High,
            local_methods: ["password", "magic_link", "passkey"]
                .map(str::to_string)
                .to_vec(),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.local_methods.is_empty() {
            return Err(Invalid::new(
                "local_methods",
                "must name at least one method (or set `enabled = false`)",
            ));
        }
        check_max_tracked(self.max_tracked)
    }
}

/// The detector.
#[derive(Debug)]
pub struct GhostLogin {
    cfg: Config,
    seen: Keyed<()>,
}

impl GhostLogin {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> GhostLogin {
        let seen = Keyed::new(cfg.max_tracked, TTL_MS);
        GhostLogin { cfg, seen }
    }
}

impl Detector for GhostLogin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        if !is_login(e) || !succeeded(e) {
            return;
        }
        let Some(app) = ctx.app.filter(|a| a.managed) else {
            return;
        };
        let Some(method) = e
            .auth_protocol
            .as_deref()
            .filter(|m| self.cfg.local_methods.iter().any(|l| l == m))
        else {
            return;
        };
        let key = session_id(ctx).unwrap_or(e.uid());
        if !self.seen.first_time(key, e.time) {
            return;
        }
        let mfa = match e.is_mfa {
            Some(true) => "with MFA",
            Some(false) => "without MFA",
            None => "MFA unknown",
        };
        let summary = format!(
            "{} signed in to SSO-managed {} ({}) with {method}, {mfa}, bypassing single sign-on.",
            identity_id(ctx).unwrap_or("an unknown identity"),
            app_name(ctx),
            app.domain,
        );
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Ghost login: local credentials on an SSO-managed app",
                severity: self.cfg.severity,
                evidence: vec![e.uid().to_string()],
                references: vec!["attack.t1078.004", "nist_csf.pr.aa-03", "nist_csf.de.cm-03"],
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.seen.bytes()
    }
}
