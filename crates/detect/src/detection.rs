//! One detection stage: every detector over each event, alerts folded into findings.
//!
//! [`Detection`] is what the ingest pipeline and `midwatch detect` drive. It is fed each
//! event after enrichment and stitching, in stream order, with the raw vendor record the
//! event came from the first time that record is seen, and answers with the findings that
//! changed.

use crate::builtin::Detector;
use crate::findings::{FoldConfig, Folded, Folder};
use crate::rules::correlation_key;
use crate::sigma::correlation::{BaseMatch, CorrelationMatch, Correlator};
use crate::sigma::{Engine, JsonRecord, Match, MidwatchRecord, Record, RuleMeta};
use crate::{Alert, Context};
use midwatch_model::{Finding, Severity, Triage};

/// The raw vendor record behind an event, given once per record.
#[derive(Debug, Clone, Copy)]
pub struct RawInput<'a> {
    /// The source that read it (`okta`, `cloudtrail`, …).
    pub source: &'a str,
    /// The record, byte for byte.
    pub bytes: &'a [u8],
}

/// The raw records of a batch by hash, handing each to detection once: with the first
/// event that references it.
#[derive(Debug, Default)]
pub struct RawIndex<'a> {
    by_hash: std::collections::HashMap<&'a str, &'a midwatch_model::event::RawRecord>,
    given: std::collections::HashSet<&'a str>,
}

impl<'a> RawIndex<'a> {
    /// Index `raw` by SHA-256.
    pub fn new(raw: &'a [midwatch_model::event::RawRecord]) -> RawIndex<'a> {
        RawIndex {
            by_hash: raw.iter().map(|r| (r.sha256.as_str(), r)).collect(),
            given: std::collections::HashSet::new(),
        }
    }

    /// The raw record behind `event`, the first time it is asked for.
    pub fn first_for(&mut self, event: &midwatch_model::Event) -> Option<RawInput<'a>> {
        let sha = event.midwatch.raw.as_ref()?.sha256.as_str();
        let (&hash, &record) = self.by_hash.get_key_value(sha)?;
        self.given.insert(hash).then_some(RawInput {
            source: &record.source,
            bytes: &record.bytes,
        })
    }
}

/// Counters of one detection stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectionStats {
    /// Events observed.
    pub events: u64,
    /// Raw vendor records observed.
    pub raw_records: u64,
    /// Alerts raised (before folding).
    pub alerts: u64,
    /// Findings opened.
    pub findings_opened: u64,
    /// Sigma rule matches (single-event rules, before correlation).
    pub rule_matches: u64,
    /// Correlation matches.
    pub correlation_matches: u64,
    /// Raw records a vendor rule had to read but that were not valid JSON.
    pub unreadable_records: u64,
}

/// Sigma rules, correlations and built-in detectors, plus the folder that turns their
/// alerts into findings.
#[derive(Debug)]
pub struct Detection {
    engine: Engine,
    correlator: Correlator,
    detectors: Vec<Box<dyn Detector>>,
    folder: Folder,
    scratch: Vec<Alert>,
    matches: Vec<Match>,
    correlated: Vec<CorrelationMatch>,
    stats: DetectionStats,
}

impl Detection {
    /// A detection stage over built-in detectors only.
    pub fn new(detectors: Vec<Box<dyn Detector>>, fold: FoldConfig) -> Detection {
        Detection::with_sigma(
            Engine::new(Vec::new()),
            Correlator::empty(),
            detectors,
            fold,
        )
    }

    /// A detection stage over Sigma rules, correlations and built-in detectors.
    pub fn with_sigma(
        engine: Engine,
        correlator: Correlator,
        detectors: Vec<Box<dyn Detector>>,
        fold: FoldConfig,
    ) -> Detection {
        Detection {
            engine,
            correlator,
            detectors,
            folder: Folder::new(fold),
            scratch: Vec::new(),
            matches: Vec::new(),
            correlated: Vec::new(),
            stats: DetectionStats::default(),
        }
    }

    /// Look at one event (and, the first time it is seen, its raw record); return what
    /// happened to findings, in the order the alerts were raised.
    pub fn observe(&mut self, ctx: &Context<'_>, raw: Option<RawInput<'_>>) -> Vec<Folded> {
        self.stats.events += 1;
        if raw.is_some() {
            self.stats.raw_records += 1;
        }
        self.scratch.clear();
        if let Some(raw) = raw {
            self.vendor_rules(ctx, raw);
        }
        self.midwatch_rules(ctx);
        for d in &mut self.detectors {
            d.observe(ctx, &mut self.scratch);
        }
        self.stats.alerts += self.scratch.len() as u64;
        let mut out = Vec::with_capacity(self.scratch.len());
        for alert in self.scratch.drain(..) {
            let folded = self.folder.fold(alert);
            if folded.new {
                self.stats.findings_opened += 1;
            }
            out.push(folded);
        }
        out
    }

    /// Vendor rules over the raw record.
    fn vendor_rules(&mut self, ctx: &Context<'_>, raw: RawInput<'_>) {
        self.matches.clear();
        if self
            .engine
            .match_raw(raw.source, raw.bytes, &mut self.matches)
            .is_err()
        {
            self.stats.unreadable_records += 1;
            return;
        }
        if self.matches.is_empty() {
            return;
        }
        let matches = std::mem::take(&mut self.matches);
        // Read the record as the rules of its source saw it (Azure fields under `properties`).
        match JsonRecord::for_source(raw.bytes, raw.source) {
            Ok(record) => {
                for m in &matches {
                    self.rule_matched(ctx, &m.meta, &record);
                }
            }
            Err(_) => self.stats.unreadable_records += 1,
        }
        self.matches = matches;
    }

    /// `product: midwatch` rules over the event in its context.
    fn midwatch_rules(&mut self, ctx: &Context<'_>) {
        self.matches.clear();
        self.engine.match_event(ctx, &mut self.matches);
        if self.matches.is_empty() {
            return;
        }
        let matches = std::mem::take(&mut self.matches);
        let record = MidwatchRecord::new(*ctx);
        for m in &matches {
            self.rule_matched(ctx, &m.meta, &record);
        }
        self.matches = matches;
    }

    /// One single-event rule matched: alert for it unless only correlations want it, and
    /// feed the correlations that reference it.
    fn rule_matched(&mut self, ctx: &Context<'_>, meta: &RuleMeta, record: &dyn Record) {
        self.stats.rule_matches += 1;
        let id = meta.key();
        let event_id = ctx.event.uid();
        let referenced = self.correlator.wants(id, meta.name.as_deref());
        if !referenced || self.correlator.standalone(id, meta.name.as_deref()) {
            self.scratch.push(rule_alert(ctx, meta));
        }
        if !referenced {
            return;
        }
        let field = |f: &str| record.first_string(f);
        self.correlated.clear();
        self.correlator.observe(
            &BaseMatch {
                rule_id: id,
                rule_name: meta.name.as_deref(),
                time_ms: ctx.event.time,
                event_id,
                field: &field,
            },
            &mut self.correlated,
        );
        self.stats.correlation_matches += self.correlated.len() as u64;
        for c in self.correlated.drain(..) {
            if c.alert {
                self.scratch.push(correlation_alert(ctx, &c));
            }
        }
    }

    /// Take back open findings after a restart.
    pub fn restore(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.folder.restore(findings);
    }

    /// Record an analyst's triage of a finding held open here.
    pub fn triage(&mut self, id: &str, triage: &Triage) -> Option<Finding> {
        self.folder.triage(id, triage)
    }

    /// Forget state older than the correlation and folder windows before `now`.
    pub fn sweep(&mut self, now: i64) {
        self.correlator.sweep(now);
        self.folder.sweep(now);
    }

    /// Counters so far.
    pub fn stats(&self) -> DetectionStats {
        self.stats
    }

    /// Open findings held.
    pub fn open_findings(&self) -> usize {
        self.folder.len()
    }

    /// Approximate bytes of detection state: each detector's and the folder's.
    pub fn state_bytes(&self) -> Vec<(&'static str, usize)> {
        let mut v: Vec<(&'static str, usize)> = self
            .detectors
            .iter()
            .map(|d| (d.name(), d.state_bytes()))
            .collect();
        v.push(("correlations", self.correlator.stats().bytes));
        v.push(("findings", self.folder.state_bytes()));
        v
    }

    /// The Sigma engine (rules and dispatch statistics).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The session id and identity an alert about `ctx` is for.
fn subject(ctx: &Context<'_>) -> (Option<String>, Option<String>) {
    (
        ctx.session.map(|s| s.id.clone()),
        ctx.identity_id().map(str::to_string),
    )
}

/// Tags first (ATT&CK, NIST CSF, OWASP NHI), then the rule's reference links.
fn references(tags: &[String], links: &[String]) -> Vec<String> {
    tags.iter().chain(links).cloned().collect()
}

fn rule_alert(ctx: &Context<'_>, meta: &RuleMeta) -> Alert {
    let (session_id, identity) = subject(ctx);
    let summary = match &meta.description {
        Some(d) => format!("{}: {}", meta.title, d.trim()),
        None => meta.title.clone(),
    };
    Alert {
        rule: meta.key().to_string(),
        title: meta.title.clone(),
        severity: meta.level,
        time: ctx.event.time,
        session_id,
        identity,
        evidence: vec![ctx.event.uid().to_string()],
        references: references(&meta.tags, &meta.references),
        summary,
    }
}

fn correlation_alert(ctx: &Context<'_>, c: &CorrelationMatch) -> Alert {
    let (mut session_id, identity) = subject(ctx);
    // Grouped by session: the finding is about that session even when the last event
    // was placed elsewhere.
    if let Some((_, v)) = c.group.iter().find(|(k, _)| k == "session.id") {
        session_id = Some(v.clone());
    }
    let group: Vec<String> = c.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let summary = format!(
        "{}: {} matching events within the window{}",
        c.rule.title,
        c.value,
        if group.is_empty() {
            String::new()
        } else {
            format!(" for {}", group.join(", "))
        }
    );
    Alert {
        rule: correlation_key(&c.rule),
        title: c.rule.title.clone(),
        severity: c.rule.level.unwrap_or(Severity::Medium),
        time: c.time_ms,
        session_id,
        identity,
        evidence: c.event_ids.clone(),
        references: references(&c.rule.tags, &c.rule.references),
        summary,
    }
}
