//! Detection results. The detection engine fills these; the store keeps them and the
//! server serves them with their triage state.

use serde::{Deserialize, Serialize};

/// Finding severity, as OCSF `severity_id` 1–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// 1.
    Informational,
    /// 2.
    Low,
    /// 3.
    Medium,
    /// 4.
    High,
    /// 5.
    Critical,
}

impl Severity {
    /// OCSF severity id.
    pub fn id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}

/// Where an analyst has put a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriageState {
    /// Not looked at.
    #[default]
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Dealt with.
    Resolved,
    /// Not abuse.
    FalsePositive,
}

/// One detection result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Finding id.
    pub id: String,
    /// Rule or detector id.
    pub rule: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// When the finding was raised (time of the last evidence event), epoch ms.
    pub time: i64,
    /// Session it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Identity it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Ordered evidence event ids.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// ATT&CK technique ids and other references.
    #[serde(default)]
    pub references: Vec<String>,
    /// Triage state.
    #[serde(default)]
    pub triage: TriageState,
}
