//! Folding alerts into findings, and session risk.
//!
//! Detectors speak in [`Alert`]s, one per thing seen; an analyst wants one [`Finding`] per
//! ongoing abuse. The [`Folder`] keys each alert by rule and subject (the session, else the
//! identity) and folds it into the open finding of that key when it is recent enough: the
//! evidence chain grows (bounded, in event order), the severity is the highest seen, and
//! `alerts` counts how many were folded. A finding an analyst resolved or marked a false
//! positive is closed, so the next alert of its key opens a new one.
//!
//! Each new finding raises its session's risk by the severity's weight; an escalation of a
//! folded finding raises it by the difference. [`Folded::risk_delta`] says by how much.

use crate::Alert;
use foldhash::HashMap;
use midwatch_model::hash::sha256_hex;
use midwatch_model::{Finding, Severity, Triage};

/// How alerts fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldConfig {
    /// An alert folds into the open finding of its key if it comes at most this long
    /// (event time) after that finding's last evidence.
    pub window_ms: i64,
    /// Most evidence event ids kept per finding (the first ones: the start of the chain).
    pub max_evidence: usize,
    /// Most open findings held in memory; the stalest are forgotten first (they stay stored).
    pub max_open: usize,
}

impl Default for FoldConfig {
    fn default() -> Self {
        FoldConfig {
            window_ms: 24 * 3_600_000,
            max_evidence: 256,
            max_open: 100_000,
        }
    }
}

/// What folding one alert did.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// The finding after the alert, as it should be stored.
    pub finding: Finding,
    /// Whether the alert opened a new finding.
    pub new: bool,
    /// How much the finding's session risk rises.
    pub risk_delta: u32,
}

/// Open findings by fold key.
#[derive(Debug, Default)]
pub struct Folder {
    cfg: FoldConfig,
    open: HashMap<String, Finding>,
    /// Fold key of each open finding id, for triage.
    by_id: HashMap<String, String>,
}

impl Folder {
    /// An empty folder.
    pub fn new(cfg: FoldConfig) -> Folder {
        Folder {
            cfg,
            open: HashMap::default(),
            by_id: HashMap::default(),
        }
    }

    /// Take back open findings (after a restart), so new alerts keep folding into them.
    pub fn restore(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            if f.triage.state.is_open() {
                self.insert(f);
            }
        }
    }

    /// Fold one alert.
    pub fn fold(&mut self, alert: Alert) -> Folded {
        let key = fold_key(&alert);
        if let Some(f) = self.open.get_mut(&key)
            && alert.time.saturating_sub(f.time) <= self.cfg.window_ms
        {
            let before = f.severity;
            extend(f, alert, self.cfg.max_evidence);
            let risk_delta = f
                .severity
                .risk_weight()
                .saturating_sub(before.risk_weight());
            return Folded {
                finding: f.clone(),
                new: false,
                risk_delta,
            };
        }
        let finding = open(&key, alert, self.cfg.max_evidence);
        let risk_delta = finding.severity.risk_weight();
        self.insert(finding.clone());
        Folded {
            finding,
            new: true,
            risk_delta,
        }
    }

    /// Record an analyst's triage of a finding held open here. Returns the updated finding
    /// if it was held; a closed finding stops folding.
    pub fn triage(&mut self, id: &str, triage: &Triage) -> Option<Finding> {
        let key = self.by_id.get(id)?.clone();
        let f = self.open.get_mut(&key)?;
        f.triage = triage.clone();
        let out = f.clone();
        if !triage.state.is_open() {
            self.open.remove(&key);
            self.by_id.remove(id);
        }
        Some(out)
    }

    /// Forget open findings whose last evidence is older than the fold window before `now`.
    pub fn sweep(&mut self, now: i64) {
        let window = self.cfg.window_ms;
        let by_id = &mut self.by_id;
        self.open.retain(|_, f| {
            let keep = now.saturating_sub(f.time) <= window;
            if !keep {
                by_id.remove(&f.id);
            }
            keep
        });
    }

    /// Open findings held.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Approximate bytes held, for metrics.
    pub fn state_bytes(&self) -> usize {
        self.open
            .iter()
            .map(|(k, f)| {
                k.len()
                    + f.id.len() * 2
                    + f.title.len()
                    + f.summary.len()
                    + f.evidence.iter().map(|e| e.len() + 24).sum::<usize>()
                    + 256
            })
            .sum()
    }

    fn insert(&mut self, f: Finding) {
        if self.open.len() >= self.cfg.max_open {
            self.forget_stalest();
        }
        let key = key_of(&f);
        self.by_id.insert(f.id.clone(), key.clone());
        self.open.insert(key, f);
    }

    fn forget_stalest(&mut self) {
        let stalest = self
            .open
            .iter()
            .min_by_key(|(k, f)| (f.time, k.as_str()))
            .map(|(k, f)| (k.clone(), f.id.clone()));
        if let Some((k, id)) = stalest {
            self.open.remove(&k);
            self.by_id.remove(&id);
        }
    }
}

/// Rule and subject: the session if known, else the identity.
fn fold_key(a: &Alert) -> String {
    subject_key(&a.rule, a.session_id.as_deref(), a.identity.as_deref())
}

fn key_of(f: &Finding) -> String {
    subject_key(&f.rule, f.session_id.as_deref(), f.identity.as_deref())
}

fn subject_key(rule: &str, session: Option<&str>, identity: Option<&str>) -> String {
    match (session, identity) {
        (Some(s), _) => format!("{rule}\u{1f}s\u{1f}{s}"),
        (None, Some(i)) => format!("{rule}\u{1f}i\u{1f}{i}"),
        (None, None) => format!("{rule}\u{1f}-"),
    }
}

fn open(key: &str, alert: Alert, max_evidence: usize) -> Finding {
    let first = alert.evidence.first().map(String::as_str).unwrap_or("");
    let digest = sha256_hex(format!("{key}\u{1f}{first}\u{1f}{}", alert.time).as_bytes());
    let mut evidence = alert.evidence;
    dedup_keep_order(&mut evidence);
    evidence.truncate(max_evidence);
    Finding {
        id: format!("f-{}", digest.get(..24).unwrap_or(&digest)),
        rule: alert.rule,
        title: alert.title,
        summary: alert.summary,
        severity: alert.severity,
        first_seen: alert.time,
        time: alert.time,
        session_id: alert.session_id,
        identity: alert.identity,
        evidence,
        references: alert.references,
        alerts: 1,
        triage: Triage::default(),
    }
}

fn extend(f: &mut Finding, alert: Alert, max_evidence: usize) {
    for id in alert.evidence {
        if f.evidence.len() >= max_evidence {
            break;
        }
        if !f.evidence.contains(&id) {
            f.evidence.push(id);
        }
    }
    f.severity = f.severity.max(alert.severity);
    f.time = f.time.max(alert.time);
    f.first_seen = f.first_seen.min(alert.time);
    f.alerts += 1;
    if f.identity.is_none() {
        f.identity = alert.identity;
    }
    for r in alert.references {
        if !f.references.contains(&r) {
            f.references.push(r);
        }
    }
    if alert.severity > Severity::Informational && !alert.summary.is_empty() {
        f.summary = alert.summary;
    }
}

fn dedup_keep_order(ids: &mut Vec<String>) {
    let mut seen = foldhash::HashSet::default();
    ids.retain(|id| seen.insert(id.clone()));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use midwatch_model::TriageState;

    fn alert(rule: &str, session: &str, t: i64, ev: &[&str], sev: Severity) -> Alert {
        Alert {
            rule: rule.into(),
            title: format!("{rule} title"),
            severity: sev,
            time: t,
            session_id: Some(session.into()),
            identity: Some("ana".into()),
            evidence: ev.iter().map(|s| s.to_string()).collect(),
            references: vec!["attack.t1539".into()],
            summary: format!("seen at {t}"),
        }
    }

    #[test]
    fn one_ongoing_abuse_is_one_finding() {
        let mut f = Folder::new(FoldConfig::default());
        let a = f.fold(alert("r", "s1", 1_000, &["e1"], Severity::Medium));
        let b = f.fold(alert("r", "s1", 2_000, &["e2", "e1"], Severity::High));
        assert!(a.new && !b.new);
        assert_eq!(a.finding.id, b.finding.id);
        assert_eq!(b.finding.evidence, ["e1", "e2"]);
        assert_eq!(b.finding.severity, Severity::High);
        assert_eq!(b.finding.alerts, 2);
        assert_eq!(b.finding.first_seen, 1_000);
        assert_eq!(b.finding.time, 2_000);
        assert_eq!(a.risk_delta, Severity::Medium.risk_weight());
        assert_eq!(
            b.risk_delta,
            Severity::High.risk_weight() - Severity::Medium.risk_weight()
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn other_sessions_rules_and_late_alerts_open_new_findings() {
        let mut f = Folder::new(FoldConfig {
            window_ms: 10_000,
            ..FoldConfig::default()
        });
        let a = f.fold(alert("r", "s1", 0, &["e1"], Severity::Low));
        assert!(f.fold(alert("r", "s2", 0, &["e2"], Severity::Low)).new);
        assert!(f.fold(alert("q", "s1", 0, &["e3"], Severity::Low)).new);
        let late = f.fold(alert("r", "s1", 20_001, &["e4"], Severity::Low));
        assert!(late.new);
        assert_ne!(late.finding.id, a.finding.id);
    }

    #[test]
    fn closed_findings_stop_folding() {
        let mut f = Folder::new(FoldConfig::default());
        let a = f.fold(alert("r", "s1", 0, &["e1"], Severity::High));
        let ack = Triage {
            state: TriageState::Acknowledged,
            by: Some("sam".into()),
            at: Some(5),
            note: None,
        };
        assert_eq!(f.triage(&a.finding.id, &ack).unwrap().triage, ack);
        assert!(!f.fold(alert("r", "s1", 1, &["e2"], Severity::High)).new);
        let fp = Triage {
            state: TriageState::FalsePositive,
            ..ack
        };
        assert!(f.triage(&a.finding.id, &fp).is_some());
        assert!(f.triage(&a.finding.id, &fp).is_none());
        assert!(f.fold(alert("r", "s1", 2, &["e3"], Severity::High)).new);
    }

    #[test]
    fn evidence_and_open_findings_are_bounded() {
        let mut f = Folder::new(FoldConfig {
            window_ms: i64::MAX,
            max_evidence: 3,
            max_open: 2,
        });
        for i in 0..10 {
            f.fold(alert("r", "s1", i, &[&format!("e{i}")], Severity::Low));
        }
        let held = f.fold(alert("r", "s1", 10, &["x"], Severity::Low)).finding;
        assert_eq!(held.evidence, ["e0", "e1", "e2"]);
        f.fold(alert("r", "s2", 11, &["y"], Severity::Low));
        f.fold(alert("r", "s3", 12, &["z"], Severity::Low));
        assert_eq!(f.len(), 2);
        // s1 was stalest and was forgotten: its next alert opens a new finding.
        assert!(f.fold(alert("r", "s1", 13, &["w"], Severity::Low)).new);
    }

    #[test]
    fn restore_and_sweep() {
        let mut f = Folder::new(FoldConfig {
            window_ms: 100,
            ..FoldConfig::default()
        });
        let a = f.fold(alert("r", "s1", 0, &["e1"], Severity::Low)).finding;
        let mut g = Folder::new(FoldConfig {
            window_ms: 100,
            ..FoldConfig::default()
        });
        g.restore([a.clone()]);
        assert_eq!(
            g.fold(alert("r", "s1", 50, &["e2"], Severity::Low))
                .finding
                .id,
            a.id
        );
        g.sweep(1_000);
        assert!(g.is_empty());
    }
}
