//! One detection stage: every detector over each event, alerts folded into findings.
//!
//! [`Detection`] is what the ingest pipeline and `midwatch detect` drive. It is fed each
//! event after enrichment and stitching, in stream order, with the raw vendor record the
//! event came from the first time that record is seen, and answers with the findings that
//! changed.

use crate::builtin::Detector;
use crate::findings::{FoldConfig, Folded, Folder};
use crate::{Alert, Context};
use midwatch_model::{Finding, Triage};

/// The raw vendor record behind an event, given once per record.
#[derive(Debug, Clone, Copy)]
pub struct RawInput<'a> {
    /// The source that read it (`okta`, `cloudtrail`, …).
    pub source: &'a str,
    /// The record, byte for byte.
    pub bytes: &'a [u8],
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
}

/// Detectors plus the folder that turns their alerts into findings.
#[derive(Debug)]
pub struct Detection {
    detectors: Vec<Box<dyn Detector>>,
    folder: Folder,
    scratch: Vec<Alert>,
    stats: DetectionStats,
}

impl Detection {
    /// A detection stage over these detectors.
    pub fn new(detectors: Vec<Box<dyn Detector>>, fold: FoldConfig) -> Detection {
        Detection {
            detectors,
            folder: Folder::new(fold),
            scratch: Vec::new(),
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

    /// Take back open findings after a restart.
    pub fn restore(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.folder.restore(findings);
    }

    /// Record an analyst's triage of a finding held open here.
    pub fn triage(&mut self, id: &str, triage: &Triage) -> Option<Finding> {
        self.folder.triage(id, triage)
    }

    /// Forget state older than the detectors' and folder's windows before `now`.
    pub fn sweep(&mut self, now: i64) {
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
        v.push(("findings", self.folder.state_bytes()));
        v
    }
}
