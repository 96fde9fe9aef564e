//! The pure stages after normalization, in one place: enrich, stitch, detect.
//!
//! The ingest pipeline and `midwatch detect` both drive an [`Analyzer`], so a file replayed
//! offline gives the same sessions and findings as the same records sent to a server.

use crate::Context;
use crate::detection::{Detection, RawInput};
use crate::findings::Folded;
use midwatch_model::{Event, Inventory};
use midwatch_sessions::{Placement, Stitcher};

/// What analyzing one event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Analyzed {
    /// Where the stitcher placed the event.
    pub placement: Placement,
    /// Findings opened or updated by the event.
    pub findings: Vec<Folded>,
}

/// Inventory, stitcher and detection, fed one event at a time in stream order.
#[derive(Debug)]
pub struct Analyzer {
    /// Identities and apps events are enriched with.
    pub inventory: Inventory,
    /// Session state.
    pub stitcher: Stitcher,
    /// Rules, detectors and open findings.
    pub detection: Detection,
}

impl Analyzer {
    /// An analyzer over these parts.
    pub fn new(inventory: Inventory, stitcher: Stitcher, detection: Detection) -> Analyzer {
        Analyzer {
            inventory,
            stitcher,
            detection,
        }
    }

    /// Enrich and stitch `event`, run detection over it (with its raw record the first time
    /// that record is seen), and count new findings against the event's session risk.
    pub fn analyze(&mut self, event: &mut Event, raw: Option<RawInput<'_>>) -> Analyzed {
        self.inventory.enrich(event);
        let placement = self.stitcher.ingest(event);
        let session = placement
            .session_id
            .as_deref()
            .and_then(|id| self.stitcher.get(id));
        let ctx = Context::new(event, session, &self.inventory);
        let findings = self.detection.observe(&ctx, raw);
        for f in &findings {
            if let Some(sid) = &f.finding.session_id {
                self.stitcher.add_finding(sid, f.risk_delta, f.new);
            }
        }
        Analyzed {
            placement,
            findings,
        }
    }

    /// Close timed-out sessions and forget expired detection state as of `now`.
    pub fn sweep(&mut self, now: i64) {
        self.stitcher.sweep(now);
        self.detection.sweep(now);
    }
}
