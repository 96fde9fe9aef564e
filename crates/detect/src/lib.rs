//! Detection: what in a stream of events and sessions is abuse.
//!
//! Two kinds of detection feed one stream of [`Alert`]s:
//! - [`sigma`]: Sigma rules (single-event and correlation rules) compiled once and run over
//!   either the raw vendor record (`logsource` names a vendor product) or the normalized
//!   OCSF event with its session context (`logsource: product: midwatch`);
//! - [`builtin`]: stateful detectors for what Sigma cannot express (device divergence inside
//!   one session, travel speed, agent scope), each behind the [`builtin::Detector`] trait.
//!
//! [`findings`] folds alerts into findings: one finding per ongoing abuse, with the ordered
//! chain of evidence event ids, and the session risk score that rises with them.
//!
//! Everything here is pure: no IO, no clock. Time is event time.

pub mod analyze;
pub mod builtin;
pub mod detection;
pub mod findings;
pub mod geo;
pub mod rules;
pub mod sigma;

use midwatch_model::{App, Event, Identity, Inventory, Session, Severity};

impl<'a> Context<'a> {
    /// The context of an enriched, stitched event: identity and app resolved through the
    /// inventory from the event's own enrichment (`midwatch.identity`, `midwatch.app`).
    pub fn new(event: &'a Event, session: Option<&'a Session>, inventory: &'a Inventory) -> Self {
        let identity = event
            .midwatch
            .identity
            .as_ref()
            .and_then(|i| inventory.identity(&i.uid));
        let app = event
            .midwatch
            .app
            .as_ref()
            .and_then(|a| inventory.app(&a.uid));
        Context {
            event,
            session,
            identity,
            app,
            inventory,
        }
    }

    /// The identity id the event is about: the inventory's, else the actor's own uid.
    pub fn identity_id(&self) -> Option<&'a str> {
        self.identity.map(|i| i.id.as_str()).or_else(|| {
            self.event
                .actor
                .user
                .as_ref()
                .and_then(|u| u.uid.as_deref().or(u.email_addr.as_deref()))
        })
    }
}

/// What a detector sees for one event: the event after enrichment and stitching, the
/// session it was placed in (already updated with this event), and the inventory.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The normalized event.
    pub event: &'a Event,
    /// The session the event belongs to, if it was placed in one.
    pub session: Option<&'a Session>,
    /// The identity of the actor, resolved through the inventory.
    pub identity: Option<&'a Identity>,
    /// The app the event happened in, resolved through the inventory.
    pub app: Option<&'a App>,
    /// The whole inventory (approved scopes, known apps and login domains).
    pub inventory: &'a Inventory,
}

/// One detection, before folding into a finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Rule id (Sigma `id`, or the built-in detector's name).
    pub rule: String,
    /// Rule title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Event time of the last evidence event, epoch ms.
    pub time: i64,
    /// Session the alert is about.
    pub session_id: Option<String>,
    /// Identity (inventory id) the alert is about.
    pub identity: Option<String>,
    /// Ordered evidence event ids (the chain that makes the detection).
    pub evidence: Vec<String>,
    /// References: ATT&CK technique ids (`attack.t1539`), NIST CSF 2.0 and OWASP NHI ids.
    pub references: Vec<String>,
    /// What was seen, in words, for the analyst.
    pub summary: String,
}
