//! `agent_scope`: an AI agent, service account or API key outside what it was approved for.
//!
//! Non-human identities carry an `approved_scope` in the inventory: the apps (ids or
//! domains) they may use, the actions (midwatch action names) they may take and the longest
//! a session of theirs may live. Each successful event of such an identity is checked:
//! - an app not in `apps` (an empty list approves every app);
//! - an action not in `actions` (an empty list approves every action; ending a session —
//!   `always_allowed_actions` — is always fine);
//! - a session (or its credential, when the source says when it was issued) older than
//!   `max_session_lifetime_s`, or a credential issued for longer than
//!   that (the token itself outlives what was approved; OWASP NHI7).
//!
//! One alert per session per distinct breach (each app, each action, the lifetime), so an
//! agent wandering into three apps raises three, and a thousand calls to one raise one.

use super::Detector;
use super::common::{Draft, HeapSize, Keyed, alert, app_key, identity_kind, session_id, succeeded};
use super::config::{DEFAULT_MAX_TRACKED, Invalid, check_max_tracked};
use crate::{Alert, Context};
use midwatch_model::{App, ApprovedScope, IdentityKind, Severity};
use serde::Deserialize;

/// Detector name.
pub const NAME: &str = "agent_scope";

/// Sessions are forgotten a day after their last event.
const TTL_MS: i64 = 24 * 3_600_000;

/// Breaches remembered per session.
const MAX_BREACHES: usize = 32;

/// `[agent_scope]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the detector.
    pub enabled: bool,
    /// Alert severity.
    pub severity: Severity,
    /// Actions any identity may take whatever its scope (ending its own session).
    pub always_allowed_actions: Vec<String>,
    /// Most sessions tracked at once.
    pub max_tracked: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            severity: Severity::High,
            always_allowed_actions: [
                "logout",
                "session_expired",
                "session_revoked",
                "token_revoke",
            ]
            .map(str::to_string)
            .to_vec(),
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
    first_event: Option<String>,
    alerted: Vec<String>,
}

impl HeapSize for State {
    fn heap_bytes(&self) -> usize {
        self.first_event.heap_bytes() + self.alerted.heap_bytes()
    }
}

/// One way an event is outside the scope.
#[derive(Debug)]
struct Breach {
    /// De-duplication key: `app:<id>`, `action:<name>`, `lifetime`.
    key: String,
    /// In words.
    what: String,
    /// References it adds.
    references: &'static [&'static str],
}

/// The detector.
#[derive(Debug)]
pub struct AgentScope {
    cfg: Config,
    sessions: Keyed<State>,
}

impl AgentScope {
    /// A detector with `cfg`.
    pub fn new(cfg: Config) -> AgentScope {
        let sessions = Keyed::new(cfg.max_tracked, TTL_MS);
        AgentScope { cfg, sessions }
    }
}

/// Whether the scope's app entry `approved` names the event's app (by inventory id or by
/// domain, subdomains included) or host.
fn app_matches(approved: &str, app: Option<&App>, host: Option<&str>) -> bool {
    let approved = approved.trim().trim_end_matches('.').to_ascii_lowercase();
    let under = |h: &str| {
        let h = h.trim_end_matches('.').to_ascii_lowercase();
        h == approved || h.ends_with(&format!(".{approved}"))
    };
    app.is_some_and(|a| a.id.eq_ignore_ascii_case(&approved) || under(&a.domain))
        || host.is_some_and(under)
}

fn breaches(cfg: &Config, scope: &ApprovedScope, ctx: &Context<'_>) -> Vec<Breach> {
    let e = ctx.event;
    let mut out = Vec::new();
    let host = e.app_domain();
    if !scope.apps.is_empty()
        && (ctx.app.is_some() || host.is_some())
        && !scope.apps.iter().any(|a| app_matches(a, ctx.app, host))
    {
        let app = app_key(ctx).unwrap_or("?");
        out.push(Breach {
            key: format!("app:{app}"),
            what: format!(
                "used app {app}, approved apps are [{}]",
                scope.apps.join(", ")
            ),
            references: &["owasp_nhi.nhi5"],
        });
    }
    if let Some(action) = e.action()
        && !scope.actions.is_empty()
        && !cfg.always_allowed_actions.iter().any(|a| a == action)
        && !scope.actions.iter().any(|a| a == action)
    {
        out.push(Breach {
            key: format!("action:{action}"),
            what: format!(
                "took action {action}, approved actions are [{}]",
                scope.actions.join(", ")
            ),
            references: &["owasp_nhi.nhi5"],
        });
    }
    if let Some(max_s) = scope.max_session_lifetime_s {
        let max_ms = i64::try_from(max_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        // The session's age, or the credential's when the source says when it was issued
        // (a token lives on across the sessions that idle gaps split it into).
        let created = e.session_ref().and_then(|r| r.created_time);
        let started = match (ctx.session.map(|s| s.started), created) {
            (Some(s), Some(c)) => Some(s.min(c)),
            (s, c) => s.or(c),
        };
        let age = started.map(|s| e.time.saturating_sub(s));
        let issued = e
            .session_ref()
            .and_then(|r| Some(r.expiration_time?.saturating_sub(r.created_time?)));
        if let Some(age) = age.filter(|a| *a > max_ms) {
            out.push(Breach {
                key: "lifetime".into(),
                what: format!(
                    "kept its session alive {} min, past its approved {} min",
                    age / 60_000,
                    max_ms / 60_000
                ),
                references: &["owasp_nhi.nhi7"],
            });
        } else if let Some(valid) = issued.filter(|v| *v > max_ms) {
            out.push(Breach {
                key: "lifetime".into(),
                what: format!(
                    "runs on a credential issued for {} min, past its approved session \
                     lifetime of {} min",
                    valid / 60_000,
                    max_ms / 60_000
                ),
                references: &["owasp_nhi.nhi7"],
            });
        }
    }
    out
}

impl Detector for AgentScope {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>) {
        let e = ctx.event;
        if matches!(identity_kind(ctx), None | Some(IdentityKind::Human)) || !succeeded(e) {
            return;
        }
        let Some(identity) = ctx.identity else {
            return;
        };
        let Some(scope) = identity.approved_scope.as_ref() else {
            return;
        };
        let key = session_id(ctx).unwrap_or(identity.id.as_str());
        let st = self.sessions.entry(key, e.time);
        if st.first_event.is_none() {
            st.first_event = Some(e.uid().to_string());
        }
        let mut new: Vec<Breach> = breaches(&self.cfg, scope, ctx)
            .into_iter()
            .filter(|b| !st.alerted.contains(&b.key))
            .collect();
        new.truncate(MAX_BREACHES.saturating_sub(st.alerted.len()));
        if new.is_empty() {
            return;
        }
        st.alerted.extend(new.iter().map(|b| b.key.clone()));
        let mut references = vec!["attack.t1078.004"];
        for r in new.iter().flat_map(|b| b.references.iter()) {
            if !references.contains(r) {
                references.push(r);
            }
        }
        references.extend(["nist_csf.pr.aa-05", "nist_csf.de.cm-03"]);
        let whats: Vec<&str> = new.iter().map(|b| b.what.as_str()).collect();
        let summary = format!(
            "{} {} {}.",
            identity.kind.as_str().replace('_', " "),
            identity.id,
            whats.join("; and ")
        );
        let mut evidence: Vec<String> = st.first_event.iter().cloned().collect();
        evidence.push(e.uid().to_string());
        out.push(alert(
            ctx,
            Draft {
                detector: NAME,
                title: "Non-human identity outside its approved scope",
                severity: self.cfg.severity,
                evidence,
                references,
                summary,
            },
        ));
    }

    fn state_bytes(&self) -> usize {
        self.sessions.bytes()
    }
}
