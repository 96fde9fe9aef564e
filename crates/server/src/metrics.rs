//! Prometheus metrics, written out by hand in the text exposition format: a handful of
//! counters and gauges do not need a metrics framework.

use midwatch_detect::detection::Detection;
use midwatch_sessions::Stitcher;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges shared by handlers and the pipeline.
#[derive(Debug, Default)]
pub struct Metrics {
    per_source: Mutex<BTreeMap<String, SourceCounts>>,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    stored: AtomicU64,
    duplicates: AtomicU64,
    throttled: AtomicU64,
    sessions_live: AtomicU64,
    sessions_held: AtomicU64,
    sessions_opened: AtomicU64,
    sessions_closed: AtomicU64,
    events_late: AtomicU64,
    events_unkeyed: AtomicU64,
    detect_alerts: AtomicU64,
    detect_findings_opened: AtomicU64,
    detect_findings_open: AtomicU64,
    findings_written: AtomicU64,
    evidence_records: AtomicU64,
    detect_state: Mutex<Vec<(&'static str, usize)>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct SourceCounts {
    accepted: u64,
    rejected: u64,
    skipped: u64,
}

/// Values read at scrape time from outside the metrics (store counts, queue depth).
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Events in the store.
    pub events_total: u64,
    /// Sessions in the store.
    pub sessions_total: u64,
    /// Batches waiting for the pipeline.
    pub queue_depth: usize,
    /// Queue capacity.
    pub queue_capacity: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    /// Count a normalized batch from `source`.
    pub fn normalized(&self, source: &str, accepted: usize, rejected: usize, skipped: usize) {
        let mut m = lock(&self.per_source);
        let c = m.entry(source.to_string()).or_default();
        c.accepted += accepted as u64;
        c.rejected += rejected as u64;
        c.skipped += skipped as u64;
    }

    /// Count an HTTP response.
    pub fn request(&self, route: &str, status: u16) {
        *lock(&self.requests)
            .entry((route.to_string(), status))
            .or_insert(0) += 1;
    }

    /// Count records appended to the evidence log.
    pub fn evidence_appended(&self, n: usize) {
        self.evidence_records.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count a committed batch.
    pub fn events_stored(&self, stored: usize, duplicates: usize) {
        self.stored.fetch_add(stored as u64, Ordering::Relaxed);
        self.duplicates
            .fetch_add(duplicates as u64, Ordering::Relaxed);
    }

    /// Count a batch refused with 429.
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Copy the stitcher's gauges and counters.
    pub fn observe_stitcher(&self, s: &Stitcher) {
        let st = s.stats();
        self.sessions_live.store(s.live() as u64, Ordering::Relaxed);
        self.sessions_held.store(s.len() as u64, Ordering::Relaxed);
        self.sessions_opened.store(st.opened, Ordering::Relaxed);
        self.sessions_closed.store(st.closed, Ordering::Relaxed);
        self.events_late.store(st.late, Ordering::Relaxed);
        self.events_unkeyed.store(st.unkeyed, Ordering::Relaxed);
    }

    /// Copy the detection stage's counters and state sizes.
    pub fn observe_detection(&self, d: &Detection) {
        let st = d.stats();
        self.detect_alerts.store(st.alerts, Ordering::Relaxed);
        self.detect_findings_opened
            .store(st.findings_opened, Ordering::Relaxed);
        self.detect_findings_open
            .store(d.open_findings() as u64, Ordering::Relaxed);
        *lock(&self.detect_state) = d.state_bytes();
    }

    /// Count findings written (new or updated) by a commit.
    pub fn findings_stored(&self, n: usize) {
        self.findings_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Accepted events so far, all sources.
    pub fn accepted_total(&self) -> u64 {
        lock(&self.per_source).values().map(|c| c.accepted).sum()
    }

    /// The exposition text.
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let mut family = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            name.to_string()
        };
        let _ = family(
            "midwatch_ingest_records_total",
            "counter",
            "Records read by ingest, by source and outcome.",
        );
        let sources = lock(&self.per_source).clone();
        let mut body = String::new();
        for (src, c) in &sources {
            for (outcome, n) in [
                ("accepted", c.accepted),
                ("rejected", c.rejected),
                ("skipped", c.skipped),
            ] {
                let _ = writeln!(
                    body,
                    "midwatch_ingest_records_total{{source=\"{src}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str(&body);
        let requests = lock(&self.requests).clone();
        let _ = writeln!(
            out,
            "# HELP midwatch_http_requests_total HTTP responses by route and status.\n# TYPE midwatch_http_requests_total counter"
        );
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "midwatch_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let simple: [(&str, &str, &str, u64); 17] = [
            (
                "midwatch_events_stored_total",
                "counter",
                "Events committed to the store by this process.",
                self.stored.load(Ordering::Relaxed),
            ),
            (
                "midwatch_events_duplicate_total",
                "counter",
                "Events dropped because their id was already stored.",
                self.duplicates.load(Ordering::Relaxed),
            ),
            (
                "midwatch_events_late_total",
                "counter",
                "Events that arrived after the lateness window.",
                self.events_late.load(Ordering::Relaxed),
            ),
            (
                "midwatch_events_unkeyed_total",
                "counter",
                "Events with no session id or credential fingerprint.",
                self.events_unkeyed.load(Ordering::Relaxed),
            ),
            (
                "midwatch_ingest_throttled_total",
                "counter",
                "Batches refused with 429 because the pipeline queue was full.",
                self.throttled.load(Ordering::Relaxed),
            ),
            (
                "midwatch_sessions_opened_total",
                "counter",
                "Sessions opened by this process.",
                self.sessions_opened.load(Ordering::Relaxed),
            ),
            (
                "midwatch_sessions_closed_total",
                "counter",
                "Sessions closed or terminated by this process.",
                self.sessions_closed.load(Ordering::Relaxed),
            ),
            (
                "midwatch_sessions_live",
                "gauge",
                "Live sessions held in memory.",
                self.sessions_live.load(Ordering::Relaxed),
            ),
            (
                "midwatch_sessions_held",
                "gauge",
                "Sessions held in memory, live or recently closed.",
                self.sessions_held.load(Ordering::Relaxed),
            ),
            (
                "midwatch_detect_alerts_total",
                "counter",
                "Alerts raised by rules and detectors, before folding into findings.",
                self.detect_alerts.load(Ordering::Relaxed),
            ),
            (
                "midwatch_findings_opened_total",
                "counter",
                "Findings opened by this process.",
                self.detect_findings_opened.load(Ordering::Relaxed),
            ),
            (
                "midwatch_findings_written_total",
                "counter",
                "Finding writes (new or updated) committed by this process.",
                self.findings_written.load(Ordering::Relaxed),
            ),
            (
                "midwatch_findings_open_held",
                "gauge",
                "Open findings held in memory for folding.",
                self.detect_findings_open.load(Ordering::Relaxed),
            ),
            (
                "midwatch_evidence_records_total",
                "counter",
                "Records appended (durably) to the evidence log by this process.",
                self.evidence_records.load(Ordering::Relaxed),
            ),
            (
                "midwatch_store_events",
                "gauge",
                "Events in the store.",
                g.events_total,
            ),
            (
                "midwatch_store_sessions",
                "gauge",
                "Sessions in the store.",
                g.sessions_total,
            ),
            (
                "midwatch_pipeline_queue_depth",
                "gauge",
                "Batches waiting for the pipeline.",
                g.queue_depth as u64,
            ),
        ];
        for (name, kind, help, v) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP midwatch_pipeline_queue_capacity Batches the pipeline queue holds before 429.\n# TYPE midwatch_pipeline_queue_capacity gauge\nmidwatch_pipeline_queue_capacity {}",
            g.queue_capacity
        );
        let _ = writeln!(
            out,
            "# HELP midwatch_detect_state_bytes Approximate bytes of detection state, by detector.\n# TYPE midwatch_detect_state_bytes gauge"
        );
        for (name, bytes) in lock(&self.detect_state).iter() {
            let _ = writeln!(
                out,
                "midwatch_detect_state_bytes{{detector=\"{name}\"}} {bytes}"
            );
        }
        out
    }
}
