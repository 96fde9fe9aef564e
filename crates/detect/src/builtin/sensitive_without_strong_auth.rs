//! `sensitive_without_strong_auth`: a sensitive action in a session with no recent strong
//! authentication.
//!
//! A person's session remembers its last strong authentication: a successful login or MFA
//! challenge that used MFA, or a phishing-resistant method (`strong_methods`: passkey,
//! certificate). A sensitive action — one of `sensitive_actions` (privilege grants, token
//! creation, OAuth consent, MFA removal) anywhere, anything touching a secret, or one of
//! `data_actions` (export, share, download) in an app of sensitivity `min_app_sensitivity` or
//! more — when that strong authentication is older than `strong_auth_max_age_s` or never
//! happened is reported once per session (ATT&CK T1078; NIST CSF PR.AA-03). Non-human
//! identities never do MFA and are left to `agent_scope`.

use super::Detector;
use super::common::{
    Draft, HeapSize, Keyed, alert, app_name, identity_id, identity_kind, is_login,
};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::{Alert, Context};
use midwatch_model::{ClassUid, Event, IdentityKind, Severity, StatusId};
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "sensitive_without_strong_auth";

/// Sessions are forgotten a day after their last event.
const TTL_MS: i64 = 24 * 3_600_000;

/// `[sensitive_without_strong_auth]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity. Low by default: a policy gap to review rather than an attack in
    /// progress; raise it where sensitive work without MFA must page someone.
    pub severity: Severity,
    /// How long a strong authentication covers sensitive actions, seconds.
    pub strong_auth_max_age_s: u64,
    /// Actions that are sensitive in any app.
    pub sensitive_actions: Vec<String>,
    /// Actions that are sensitive in apps of `min_app_sensitivity` or more.
    pub data_actions: Vec<String>,
    /// App sensitivity (0–3) from which `data_actions` are sensitive.
    pub min_app_sensitivity: u8,
    /// Authentication methods that are strong (phishing-resistant) on their own.
    pub strong_methods: Vec<String>,
    /// Most sessions tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect();
        Config {
            enabled: true,
            severity: Severity::Low,
            strong_auth_max_age_s: 8 * 3600,
            sensitive_actions: strings(&[
                "privilege_grant",
                "role_assign",
                "token_create",
                "oauth_consent",
                "mfa_remove",
            ]),
            data_actions: strings(&["export", "share", "file_share", "download"]),
            min_app_sensitivity: 2,
            strong_methods: strings(&["passkey", "certificate"]),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl Config {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.strong_auth_max_age_s == 0 {
            return Err(Invalid::new("strong_auth_max_age_s", "must be at least 1"));
        }
        if self.min_app_sensitivity > 3 {
            return Err(Invalid::new("min_app_sensitivity", "must be 0 to 3"));
        }
        check_max_tracked(self.max_tracked)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Time and event of the last strong authentication.
    last_strong: Option<(i64, String)>,
    first_event: Option<String>,
    alerted: bool,
}

impl HeapSize for State {
    fn heap_bytes(&self) -> usize {
        self.last_strong.as_ref().map_or(0, |(_, e)| e.capacity()) + self.first_event.heap_bytes()
    }
}

/// The detector.
#[derive(Debug)]
pub struct SensitiveWithoutStrongAuth {
    cfg: Config,
    sessions: Keyed<State>,
}

impl SensitiveWithoutStrongAuth {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> SensitiveWithoutStrongAuth {
        let sessions = Keyed::new(cfg.max_tracked, TTL_MS);
        SensitiveWithoutStrongAuth { cfg, sessions }
    }

    /// A successful authentication that used MFA or a phishing-resistant method.
    fn is_strong(&self, e: &Event) -> bool {
        e.class_uid == ClassUid::Authentication
            && e.status_id == StatusId::Success
            && (e.is_mfa == Some(true)
                || e.auth_protocol
                    .as_deref()
                    .is_some_and(|m| self.cfg.strong_methods.iter().any(|s| s == m)))
    }

    /// Why the event is sensitive, if it is.
    fn sensitive(&self, ctx: &Context<'_>) -> Option<String> {
        let e = ctx.event;
        let action = e.action()?;
        if self.cfg.sensitive_actions.iter().any(|a| a == action) {
            return Some(action.to_string());
        }
        if e.web_resources
            .iter()
            .any(|r| r.type_name.as_deref() == Some("secret"))
        {
            return Some(format!("{action} on a secret"));
        }
        let sensitivity = ctx
            .app
            .map(|a| a.sensitivity)
            .or_else(|| e.midwatch.app.as_ref().map(|a| a.sensitivity))?;
        (sensitivity >= self.cfg.min_app_sensitivity
            && self.cfg.data_actions.iter().any(|a| a == action))
        .then(|| format!("{action} in an app of sensitivity {sensitivity}"))
    }
}

impl Detector for SensitiveWithoutStrongAuth {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        let Some(session) = ctx.session else {
            return;
        };
        if !matches!(identity_kind(ctx), None | Some(IdentityKind::Human)) {
            return;
        }
        let strong = self.is_strong(e);
        let sensitive = if strong || e.status_id == StatusId::Failure {
            None
        } else {
            self.sensitive(ctx)
        };
        let max_age = i64::try_from(self.cfg.strong_auth_max_age_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        let st = self.sessions.entry(&session.id, e.time);
        if st.first_event.is_none() || (is_login(e) && st.last_strong.is_none()) {
            st.first_event = Some(e.uid().to_string());
        }
        if strong {
            st.last_strong = Some((e.time, e.uid().to_string()));
            return;
        }
        if st.last_strong.is_none() && session.mfa == Some(true) {
            // Established with MFA before this detector saw it.
            st.last_strong = Some((session.started, String::new()));
        }
        let Some(why) = sensitive else {
            return;
        };
        let age = st
            .last_strong
            .as_ref()
            .map(|(t, _)| e.time.saturating_sub(*t));
        if st.alerted || age.is_some_and(|a| a <= max_age) {
            return;
        }
        st.alerted = true;
        let auth = match age {
            Some(a) => format!(
                "its last strong authentication was {} min earlier (limit {} min)",
                a / 60_000,
                max_age / 60_000
            ),
            None => format!(
                "the session never used MFA or a phishing-resistant login (signed in with {})",
                session
                    .auth_method
                    .as_deref()
                    .unwrap_or("an unknown method")
            ),
        };
        let mut evidence = Vec::new();
        if let Some((_, ev)) = st.last_strong.as_ref().filter(|(_, ev)| !ev.is_empty()) {
            evidence.push(ev.clone());
        } else if let Some(first) = &st.first_event {
            evidence.push(first.clone());
        }
        evidence.push(e.uid().to_string());
        let summary = format!(
            "{} did a sensitive action ({why}) in {}, but {auth}.",
            identity_id(ctx).unwrap_or("an unknown identity"),
            app_name(ctx),
        );
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Sensitive action without recent strong authentication",
                severity: self.cfg.severity,
                evidence,
                references: vec!["attack.t1078", "nist_csf.pr.aa-03", "nist_csf.de.cm-03"],
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.sessions.bytes()
    }
}
