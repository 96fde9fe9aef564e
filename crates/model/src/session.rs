//! The stitched session: one authenticated window of one identity with one app.
//!
//! Built and updated by the `sessions` crate, stored by `store`, served by `server`; this
//! module only defines its shape.

use crate::event::IdentityKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Live and unrestricted.
    #[default]
    Active,
    /// Live after a step-up (re-authentication) challenge.
    SteppedUp,
    /// Live with some actions blocked.
    Restricted,
    /// Ended by revocation or by a response action.
    Terminated,
    /// Ended by logout, idle timeout, lifetime or expiry.
    Closed,
}

impl SessionState {
    /// The snake_case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::SteppedUp => "stepped_up",
            SessionState::Restricted => "restricted",
            SessionState::Terminated => "terminated",
            SessionState::Closed => "closed",
        }
    }

    /// Parse the snake_case name.
    pub fn parse(s: &str) -> Option<SessionState> {
        [
            SessionState::Active,
            SessionState::SteppedUp,
            SessionState::Restricted,
            SessionState::Terminated,
            SessionState::Closed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// True while the session can still act.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SessionState::Active | SessionState::SteppedUp | SessionState::Restricted
        )
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user logged out.
    Logout,
    /// The session or its token was revoked.
    Revoked,
    /// The source said the session expired.
    Expired,
    /// No activity for longer than the idle timeout.
    IdleTimeout,
    /// Older than the absolute lifetime.
    Lifetime,
}

impl EndReason {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Revoked => "revoked",
            EndReason::Expired => "expired",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::Lifetime => "lifetime",
        }
    }
}

/// The device and network a session was established from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// Device id or fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Whether that device is managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// Client IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Client AS number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Client country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// Everything a session has been seen from since it began, in first-seen order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Seen {
    /// Device ids.
    #[serde(default)]
    pub devices: Vec<String>,
    /// IPs.
    #[serde(default)]
    pub ips: Vec<String>,
    /// AS numbers.
    #[serde(default)]
    pub asns: Vec<u32>,
    /// Countries.
    #[serde(default)]
    pub countries: Vec<String>,
    /// User agents.
    #[serde(default)]
    pub user_agents: Vec<String>,
}

/// One stitched session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// midwatch session id.
    pub id: String,
    /// The stitching key: `sid:<source>:<session id>` or `tok:<credential fingerprint>`.
    pub key: String,
    /// Source of the first event.
    pub source: String,
    /// Every source that contributed events.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Identity id (resolved through the inventory when possible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Identity kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_kind: Option<IdentityKind>,
    /// For delegated sessions, the identity acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// App domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Inventory app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// First event time, epoch ms.
    pub started: i64,
    /// Last event time, epoch ms.
    pub last_seen: i64,
    /// When the session ended, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<i64>,
    /// Why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// State.
    pub state: SessionState,
    /// How the session was authenticated (`sso`, `password`, `passkey`, `token`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Whether MFA was used to establish it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<bool>,
    /// Device and network at login.
    #[serde(default)]
    pub baseline: Baseline,
    /// Every device, IP, AS, country and user agent seen since.
    #[serde(default)]
    pub seen: Seen,
    /// Privileges gained inside the session.
    #[serde(default)]
    pub privileges_gained: Vec<String>,
    /// Action counts by midwatch action name.
    #[serde(default)]
    pub action_counts: BTreeMap<String, u64>,
    /// Number of events stitched into the session.
    pub event_count: u64,
    /// Number of those that arrived after the lateness window.
    #[serde(default)]
    pub late_events: u64,
    /// Risk 0–100, raised by findings.
    #[serde(default)]
    pub risk: u32,
    /// Number of findings on the session.
    #[serde(default)]
    pub findings: u32,
}

impl Session {
    /// Whether the session has been seen from more than one device or network.
    pub fn device_changed(&self) -> bool {
        self.seen.devices.len() > 1 || self.seen.asns.len() > 1
    }
}
