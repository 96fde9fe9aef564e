//! `shadow_saas_login`: a login to an app the organisation does not manage.
//!
//! A successful login to an app that is not in the inventory, or is in it but not managed
//! (not behind SSO), is shadow SaaS: company identities and data in a place without central
//! control, offboarding or audit (NIST CSF ID.AM-02). Low severity by default, and one
//! alert per identity per app (an unknown app is named by its registrable domain), so each
//! person's use of each app is reported once, not every morning.

use super::Detector;
use super::common::{Draft, Keyed, alert, app_name, identity_id, is_login, succeeded};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use super::lookalike_domain::registrable;
use crate::{Alert, Context};
use midwatch_model::Severity;
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "shadow_saas_login";

/// Cases are forgotten a month after they were last seen.
const TTL_MS: i64 = 30 * 24 * 3_600_000;

/// `[shadow_saas_login]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Domains never reported, with their subdomains (the identity provider, say).
    pub ignore_domains: Vec<String>,
    /// Most identity and app pairs remembered.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::Low,
            ignore_domains: Vec::new(),
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
pub struct ShadowSaasLogin {
    cfg: Config,
    seen: Keyed<()>,
}

impl ShadowSaasLogin {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> ShadowSaasLogin {
        let seen = Keyed::new(cfg.max_tracked, TTL_MS);
        ShadowSaasLogin { cfg, seen }
    }

    fn ignored(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.cfg.ignore_domains.iter().any(|d| {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        })
    }
}

impl Detector for ShadowSaasLogin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        if !is_login(e) || !succeeded(e) || ctx.app.is_some_and(|a| a.managed) {
            return;
        }
        let Some(host) = e.app_domain() else {
            return;
        };
        if self.ignored(host) {
            return;
        }
        let (app, known) = match ctx.app {
            Some(a) => (a.id.clone(), true),
            None => (registrable(&host.to_ascii_lowercase()).to_string(), false),
        };
        let who = identity_id(ctx).unwrap_or("");
        if !self.seen.first_time(&format!("{who}\u{0}{app}"), e.time) {
            return;
        }
        let what = if known {
            format!(
                "{} ({host}), which is in the inventory but not managed",
                app_name(ctx)
            )
        } else {
            format!("{host}, an app not in the inventory")
        };
        let method = e.auth_protocol.as_deref().unwrap_or("an unknown method");
        let summary = format!(
            "{} signed in to {what}, with {method}.",
            if who.is_empty() { "someone" } else { who },
        );
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Login to an unmanaged (shadow) SaaS app",
                severity: self.cfg.severity,
                evidence: vec![e.uid().to_string()],
                references: vec!["nist_csf.id.am-02", "nist_csf.de.cm-03"],
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.seen.bytes()
    }
}
