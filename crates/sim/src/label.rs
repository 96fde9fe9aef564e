//! Ground truth: one label per injected attack.
//!
//! Detections are scored against these lines (`labels.ndjson`): each names the scenario,
//! the session and identity it played out in, and exactly the events a detector should flag.

use serde::{Deserialize, Serialize};

/// One injected attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Scenario name (one of [`crate::SCENARIOS`]).
    pub scenario: String,
    /// The session key the attack used: a browser session id, or `sha256:<hex>` of a token.
    pub session: String,
    /// Inventory id of the identity whose session it was.
    pub identity: String,
    /// Ids of the attack events, in stream order (time, then id).
    pub event_ids: Vec<String>,
    /// Time of the first attack event, RFC 3339.
    pub start: String,
    /// Time of the last attack event, RFC 3339.
    pub end: String,
    /// What happened, in words.
    pub description: String,
}
