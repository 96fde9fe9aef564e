//! Scoring detections against the simulator's ground truth.
//!
//! A finding *detects* a labelled attack when its evidence chain names at least one of the
//! attack's events. Per scenario:
//! - **recall**: the share of that scenario's labelled attacks detected by at least one
//!   finding of medium severity or above;
//! - **precision**: among the findings (medium or above) of the rules that detected the
//!   scenario at least once, the share that detect a labelled attack of any scenario.
//!
//! Low and informational findings are hunting signals, not alerts, and are counted apart.
//! High-severity findings that detect no labelled attack are listed, since an attack-free
//! day must raise none.

use crate::label::Label;
use midwatch_model::{Finding, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The score of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioScore {
    /// Scenario name.
    pub scenario: String,
    /// Labelled attacks of this scenario.
    pub attacks: usize,
    /// How many of them were detected.
    pub detected: usize,
    /// `detected / attacks` (1 when there are none).
    pub recall: f64,
    /// Findings of the rules that detected this scenario.
    pub findings: usize,
    /// How many of those detect a labelled attack.
    pub true_findings: usize,
    /// `true_findings / findings` (1 when there are none).
    pub precision: f64,
    /// Rules that detected this scenario.
    pub rules: Vec<String>,
}

/// The whole score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Per scenario, by name.
    pub scenarios: Vec<ScenarioScore>,
    /// Findings of medium severity or above.
    pub alerting_findings: usize,
    /// Of those, how many detect a labelled attack.
    pub alerting_true: usize,
    /// Findings below medium severity.
    pub low_findings: usize,
    /// Ids and rules of high or critical findings that detect no labelled attack.
    pub high_false_positives: Vec<(String, String)>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Score `findings` against `labels`; `scenarios` lists every scenario to report, detected
/// or not.
pub fn score(labels: &[Label], findings: &[Finding], scenarios: &[&str]) -> Score {
    let mut label_of_event: HashMap<&str, usize> = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        for e in &l.event_ids {
            label_of_event.insert(e.as_str(), i);
        }
    }
    let alerting: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .collect();
    // Which labels each alerting finding detects.
    let hits: Vec<BTreeSet<usize>> = alerting
        .iter()
        .map(|f| {
            f.evidence
                .iter()
                .filter_map(|e| label_of_event.get(e.as_str()).copied())
                .collect()
        })
        .collect();
    let mut rules_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut detected: BTreeSet<usize> = BTreeSet::new();
    for (f, h) in alerting.iter().zip(&hits) {
        for &i in h {
            detected.insert(i);
            if let Some(l) = labels.get(i) {
                rules_of
                    .entry(l.scenario.as_str())
                    .or_default()
                    .insert(f.rule.as_str());
            }
        }
    }
    let mut out = Vec::new();
    for &s in scenarios {
        let mine: Vec<usize> = (0..labels.len())
            .filter(|&i| labels.get(i).is_some_and(|l| l.scenario == s))
            .collect();
        let found = mine.iter().filter(|i| detected.contains(i)).count();
        let rules = rules_of.get(s).cloned().unwrap_or_default();
        let (mut n, mut t) = (0, 0);
        for (f, h) in alerting.iter().zip(&hits) {
            if rules.contains(f.rule.as_str()) {
                n += 1;
                if !h.is_empty() {
                    t += 1;
                }
            }
        }
        out.push(ScenarioScore {
            scenario: s.to_string(),
            attacks: mine.len(),
            detected: found,
            recall: ratio(found, mine.len()),
            findings: n,
            true_findings: t,
            precision: ratio(t, n),
            rules: rules.into_iter().map(str::to_string).collect(),
        });
    }
    let high_false_positives = alerting
        .iter()
        .zip(&hits)
        .filter(|(f, h)| f.severity >= Severity::High && h.is_empty())
        .map(|(f, _)| (f.id.clone(), f.rule.clone()))
        .collect();
    Score {
        scenarios: out,
        alerting_findings: alerting.len(),
        alerting_true: hits.iter().filter(|h| !h.is_empty()).count(),
        low_findings: findings.len() - alerting.len(),
        high_false_positives,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;

    fn label(s: &str, ids: &[&str]) -> Label {
        Label {
            scenario: s.into(),
            session: "k".into(),
            identity: "i".into(),
            event_ids: ids.iter().map(|x| x.to_string()).collect(),
            start: String::new(),
            end: String::new(),
            description: String::new(),
        }
    }

    fn finding(id: &str, rule: &str, sev: Severity, ev: &[&str]) -> Finding {
        serde_json::from_value(serde_json::json!({
            "id": id, "rule": rule, "title": rule, "severity": sev, "time": 0,
            "evidence": ev
        }))
        .unwrap()
    }

    #[test]
    fn recall_precision_and_high_false_positives() {
        let labels = [
            label("a", &["e1", "e2"]),
            label("a", &["e3"]),
            label("b", &["e4"]),
        ];
        let findings = [
            finding("f1", "r1", Severity::High, &["e0", "e2"]),
            finding("f2", "r1", Severity::High, &["x"]),
            finding("f3", "r2", Severity::Medium, &["e4"]),
            finding("f4", "r3", Severity::Low, &["e3"]),
        ];
        let s = score(&labels, &findings, &["a", "b", "c"]);
        let a = &s.scenarios[0];
        assert_eq!((a.attacks, a.detected), (2, 1));
        assert_eq!(a.recall, 0.5);
        assert_eq!((a.findings, a.true_findings), (2, 1));
        assert_eq!(a.rules, ["r1"]);
        let b = &s.scenarios[1];
        assert_eq!((b.recall, b.precision), (1.0, 1.0));
        let c = &s.scenarios[2];
        assert_eq!((c.attacks, c.recall, c.precision), (0, 1.0, 1.0));
        assert_eq!(
            s.high_false_positives,
            [("f2".to_string(), "r1".to_string())]
        );
        assert_eq!(
            (s.alerting_findings, s.alerting_true, s.low_findings),
            (3, 2, 1)
        );
    }
}
