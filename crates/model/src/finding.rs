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
    /// Parse a Sigma `level` or wire name.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// Wire name, as OCSF `severity`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// How much one finding of this severity adds to its session's risk score (0–100).
    pub fn risk_weight(self) -> u32 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 5,
            Severity::Medium => 15,
            Severity::High => 40,
            Severity::Critical => 70,
        }
    }

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

impl TriageState {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TriageState::Open => "open",
            TriageState::Acknowledged => "acknowledged",
            TriageState::Resolved => "resolved",
            TriageState::FalsePositive => "false_positive",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<TriageState> {
        [
            TriageState::Open,
            TriageState::Acknowledged,
            TriageState::Resolved,
            TriageState::FalsePositive,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Whether new alerts of the same ongoing abuse still fold into the finding. A
    /// resolved or false-positive finding is closed: the next alert opens a new one.
    pub fn is_open(self) -> bool {
        matches!(self, TriageState::Open | TriageState::Acknowledged)
    }

    /// OCSF Detection Finding `status_id`: New, In Progress, Resolved, Suppressed.
    pub fn ocsf_status_id(self) -> u8 {
        match self {
            TriageState::Open => 1,
            TriageState::Acknowledged => 2,
            TriageState::FalsePositive => 3,
            TriageState::Resolved => 4,
        }
    }
}

/// Who put a finding in its triage state, and when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Triage {
    /// State.
    #[serde(default)]
    pub state: TriageState,
    /// Who set it (an analyst's name or the API caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One detection result: an ongoing abuse, folded from every alert that saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Finding id.
    pub id: String,
    /// Rule or detector id.
    pub rule: String,
    /// Title.
    pub title: String,
    /// What was seen, in words.
    #[serde(default)]
    pub summary: String,
    /// Severity (the highest of the folded alerts).
    pub severity: Severity,
    /// Time of the first evidence event, epoch ms.
    #[serde(default)]
    pub first_seen: i64,
    /// Time of the last evidence event, epoch ms.
    pub time: i64,
    /// Session it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Identity it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Ordered evidence event ids (bounded; the first ones are kept).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// ATT&CK technique tags, NIST CSF 2.0 and OWASP NHI references.
    #[serde(default)]
    pub references: Vec<String>,
    /// How many alerts were folded into this finding.
    #[serde(default = "one")]
    pub alerts: u64,
    /// Triage state, who and when.
    #[serde(default)]
    pub triage: Triage,
}

fn one() -> u64 {
    1
}

impl Finding {
    /// ATT&CK technique ids from the references (`attack.t1539` → `T1539`,
    /// `attack.t1550.004` → `T1550.004`).
    pub fn attack_techniques(&self) -> Vec<String> {
        self.references
            .iter()
            .filter_map(|r| r.strip_prefix("attack.t"))
            .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(|t| format!("T{}", t.to_ascii_uppercase()))
            .collect()
    }

    /// The finding as an OCSF Detection Finding (class 2004) with midwatch's triage and
    /// references in the `midwatch` extension.
    pub fn to_ocsf(&self) -> serde_json::Value {
        let attacks: Vec<serde_json::Value> = self
            .attack_techniques()
            .into_iter()
            .map(|t| serde_json::json!({"technique": {"uid": t}}))
            .collect();
        let related: Vec<serde_json::Value> = self
            .evidence
            .iter()
            .map(|id| serde_json::json!({"uid": id}))
            .collect();
        let mut actor = serde_json::Map::new();
        if let Some(i) = &self.identity {
            actor.insert("user".into(), serde_json::json!({"uid": i}));
        }
        if let Some(s) = &self.session_id {
            actor.insert("session".into(), serde_json::json!({"uid": s}));
        }
        serde_json::json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "activity_id": 1,
            "type_uid": 200401,
            "time": self.time,
            "severity_id": self.severity.id(),
            "severity": self.severity.name(),
            "status_id": self.triage.state.ocsf_status_id(),
            "status": self.triage.state.as_str(),
            "message": self.summary,
            "metadata": {"version": "1.5.0", "product": {"name": "midwatch", "vendor_name": "midwatch"}},
            "finding_info": {
                "uid": self.id,
                "title": self.title,
                "desc": self.summary,
                "first_seen_time": self.first_seen,
                "last_seen_time": self.time,
                "analytic": {"uid": self.rule, "name": self.title, "type_id": 1, "type": "Rule"},
                "attacks": attacks,
                "related_events": related,
            },
            "actor": actor,
            "midwatch": {
                "session_uid": self.session_id,
                "identity": self.identity,
                "rule": self.rule,
                "references": self.references,
                "alerts": self.alerts,
                "triage": self.triage,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    fn finding() -> Finding {
        Finding {
            id: "f-1".into(),
            rule: "midwatch.builtin.session_replay".into(),
            title: "Session replayed".into(),
            summary: "session used from a second device".into(),
            severity: Severity::High,
            first_seen: 1,
            time: 2,
            session_id: Some("s-1".into()),
            identity: Some("ana@example.com".into()),
            evidence: vec!["e1".into(), "e2".into()],
            references: vec![
                "attack.t1539".into(),
                "attack.t1550.004".into(),
                "owasp-nhi.NHI7".into(),
            ],
            alerts: 1,
            triage: Triage::default(),
        }
    }

    #[test]
    fn ocsf_shape_names_the_chain_and_techniques() {
        let v = finding().to_ocsf();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["status_id"], 1);
        assert_eq!(v["finding_info"]["related_events"][1]["uid"], "e2");
        assert_eq!(v["finding_info"]["attacks"][0]["technique"]["uid"], "T1539");
        assert_eq!(
            v["finding_info"]["attacks"][1]["technique"]["uid"],
            "T1550.004"
        );
        assert_eq!(v["actor"]["session"]["uid"], "s-1");
    }

    #[test]
    fn triage_names_round_trip() {
        for t in ["open", "acknowledged", "resolved", "false_positive"] {
            assert_eq!(TriageState::parse(t).unwrap().as_str(), t);
        }
        assert!(TriageState::parse("closed").is_none());
    }

    #[test]
    fn stored_form_round_trips() {
        let f = finding();
        let back: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
