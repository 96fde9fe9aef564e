//! The ingest pipeline: one thread that owns the stitcher and the inventory and is the only
//! writer of events and sessions.
//!
//! Handlers normalize on their own, then hand batches over a bounded queue. A full queue is
//! answered with 429 by the caller rather than buffered, so memory stays bounded however
//! fast senders push. A batch is answered only after its transaction has committed: an
//! acknowledged event is on disk.

use crate::metrics::Metrics;
use midwatch_detect::analyze::Analyzer;
use midwatch_detect::detection::{Detection, RawIndex};
use midwatch_model::event::RawRecord;
use midwatch_model::{App, Event, Finding, Identity, Inventory, Session, SessionState, Triage};
use midwatch_sessions::{Config as StitchConfig, Stitcher};
use midwatch_store::{Batch, Store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What one committed batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Committed {
    /// Events stored.
    pub stored: usize,
    /// Events dropped because their id was already stored or repeated in the batch.
    pub duplicates: usize,
    /// Sessions opened by this batch.
    pub sessions_opened: usize,
}

/// Most events committed in one group transaction.
const GROUP_EVENTS: usize = 20_000;

/// One queued batch: events, their raw records, connector cursors, and the answer channel.
type Group = (Vec<Event>, Vec<RawRecord>, Vec<(String, String)>, Reply);

/// The answer channel of one batch.
type Reply = oneshot::Sender<Result<Committed, String>>;

/// Work for the pipeline thread.
#[derive(Debug)]
pub enum Command {
    /// Stitch and store events.
    Events(Vec<Event>, Vec<RawRecord>, Vec<(String, String)>, Reply),
    /// Add or replace inventory entries (also stored).
    Inventory {
        /// Identities.
        identities: Vec<Identity>,
        /// Apps.
        apps: Vec<App>,
        /// Answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Close timed-out sessions as of this time.
    Sweep(i64),
    /// Change a session's state (a response action).
    SetState {
        /// Session id.
        id: String,
        /// New state.
        state: SessionState,
        /// When.
        at: i64,
        /// Answer: the session after the change, if it was held and live.
        reply: oneshot::Sender<Option<Session>>,
    },
    /// Record an analyst's triage of a finding.
    Triage {
        /// Finding id.
        id: String,
        /// New triage state, who and when.
        triage: Triage,
        /// Answer: the finding after the change; `None` if there is no such finding.
        reply: oneshot::Sender<Result<Option<Finding>, String>>,
    },
}

/// Handle to the pipeline thread.
#[derive(Debug, Clone)]
pub struct Pipeline {
    tx: mpsc::Sender<Command>,
}

/// Why a command could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full: try again shortly.
    Full,
    /// The pipeline has stopped.
    Closed,
}

impl Pipeline {
    /// Start the pipeline thread over `store`, restoring live sessions and open findings
    /// from it.
    pub fn start(
        store: Arc<dyn Store>,
        inventory: Inventory,
        cfg: StitchConfig,
        mut detection: Detection,
        evidence: Option<Arc<crate::evidence::Evidence>>,
        queue_depth: usize,
        metrics: Arc<Metrics>,
    ) -> Result<(Pipeline, std::thread::JoinHandle<()>), StoreError> {
        let mut stitcher = Stitcher::new(cfg);
        stitcher.restore(store.live_sessions()?);
        detection.restore(open_findings(store.as_ref())?);
        let (tx, rx) = mpsc::channel(queue_depth.max(1));
        let worker = Worker {
            store,
            analyzer: Analyzer::new(inventory, stitcher, detection),
            metrics,
            evidence,
        };
        let handle = std::thread::Builder::new()
            .name("midwatch-pipeline".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| StoreError::BadQuery(format!("cannot start pipeline thread: {e}")))?;
        Ok((Pipeline { tx }, handle))
    }

    /// Queue a command without waiting for room.
    pub fn try_send(&self, cmd: Command) -> Result<(), SendError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queue a command, waiting for room.
    pub async fn send(&self, cmd: Command) -> Result<(), SendError> {
        self.tx.send(cmd).await.map_err(|_| SendError::Closed)
    }

    /// Batches waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Findings still open in the store, newest first, up to what the folder holds.
fn open_findings(store: &dyn Store) -> Result<Vec<Finding>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.findings(&midwatch_store::FindingQuery {
            triage: vec![
                midwatch_model::TriageState::Open,
                midwatch_model::TriageState::Acknowledged,
            ],
            limit: 1000,
            cursor,
            ..Default::default()
        })?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) if out.len() < 100_000 => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

struct Worker {
    store: Arc<dyn Store>,
    analyzer: Analyzer,
    metrics: Arc<Metrics>,
    evidence: Option<Arc<crate::evidence::Evidence>>,
}

impl Worker {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut pending: Option<Command> = None;
        loop {
            let cmd = match pending.take() {
                Some(c) => c,
                None => match rx.blocking_recv() {
                    Some(c) => c,
                    None => break,
                },
            };
            match cmd {
                Command::Events(events, raw, cursors, reply) => {
                    // Group commit: take every batch already waiting, up to a bound, and
                    // commit them in one transaction; each sender still gets its own answer
                    // and only after the commit.
                    let mut size = events.len();
                    let mut group = vec![(events, raw, cursors, reply)];
                    while size < GROUP_EVENTS {
                        match rx.try_recv() {
                            Ok(Command::Events(e, w, c, r)) => {
                                size += e.len();
                                group.push((e, w, c, r));
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.events(group);
                }
                Command::Inventory {
                    identities,
                    apps,
                    reply,
                } => {
                    let _ = reply.send(self.inventory(identities, apps));
                }
                Command::Sweep(now) => {
                    self.analyzer.sweep(now);
                    self.flush_sessions();
                }
                Command::Triage { id, triage, reply } => {
                    let _ = reply.send(self.triage(&id, triage));
                }
                Command::SetState {
                    id,
                    state,
                    at,
                    reply,
                } => {
                    let changed = self.analyzer.stitcher.set_state(&id, state, at);
                    if changed && let Some(ev) = &self.evidence {
                        let identity = self
                            .analyzer
                            .stitcher
                            .get(&id)
                            .and_then(|s| s.identity.clone())
                            .unwrap_or_default();
                        let rec = midwatch_evidence::records::response(
                            &format!("{state:?}").to_lowercase(),
                            &id,
                            &identity,
                            at,
                            serde_json::json!({ "state": format!("{state:?}").to_lowercase() }),
                            &ev.privacy,
                        );
                        if let Err(e) = self.evidence(vec![rec]) {
                            tracing::error!(error = %e, session = %id, "response not recorded");
                        }
                    }
                    self.flush_sessions();
                    let _ = reply.send(
                        changed
                            .then(|| self.analyzer.stitcher.get(&id).cloned())
                            .flatten(),
                    );
                }
            }
            self.metrics.observe_stitcher(&self.analyzer.stitcher);
            self.metrics.observe_detection(&self.analyzer.detection);
        }
        // Senders are gone: persist whatever changed last, and sign the log's tail.
        self.flush_sessions();
        if let Some(ev) = &self.evidence
            && let Err(e) = ev.log.close()
        {
            tracing::error!(error = %e, "evidence log not closed cleanly");
        }
    }

    /// Append records to the evidence log, if it is on; they are durable when this returns.
    fn evidence(&self, records: Vec<midwatch_evidence::NewRecord>) -> Result<(), String> {
        let Some(ev) = &self.evidence else {
            return Ok(());
        };
        let n = records.len();
        ev.log
            .append(records)
            .map_err(|e| format!("evidence log: {e}"))?;
        self.metrics.evidence_appended(n);
        Ok(())
    }

    fn flush_sessions(&mut self) {
        let sessions = self.analyzer.stitcher.take_dirty();
        if sessions.is_empty() {
            return;
        }
        if let Err(e) = self.store.append(Batch {
            events: &[],
            sessions: &sessions,
            findings: &[],
            raw: &[],
            cursors: &[],
        }) {
            tracing::error!(error = %e, "sessions not persisted");
        }
    }

    /// Stitch and commit a group of batches in one transaction, then answer each.
    fn events(&mut self, group: Vec<Group>) {
        let result = self.commit_group(group.iter().map(|(e, _, _, _)| e.len()).collect(), group);
        if let Err((e, replies)) = result {
            tracing::error!(error = %e, batches = replies.len(), "batches not committed");
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }

    fn commit_group(
        &mut self,
        sizes: Vec<usize>,
        group: Vec<Group>,
    ) -> Result<(), (String, Vec<Reply>)> {
        let mut batches = Vec::with_capacity(group.len());
        let mut raw = Vec::new();
        let mut cursors = Vec::new();
        let mut replies = Vec::with_capacity(group.len());
        for (events, mut records, mut cur, reply) in group {
            batches.push(events);
            raw.append(&mut records);
            cursors.append(&mut cur);
            replies.push(reply);
        }
        let ids: Vec<&str> = batches.iter().flatten().map(Event::uid).collect();
        let known: HashSet<String> = match self.store.known_event_ids(&ids) {
            Ok(k) => k.into_iter().collect(),
            Err(e) => return Err((e.to_string(), replies)),
        };
        let mut seen = HashSet::with_capacity(ids.len());
        let mut all = Vec::with_capacity(ids.len());
        let mut answers = Vec::with_capacity(batches.len());
        let mut raw_index = RawIndex::new(&raw);
        let mut findings: Vec<Finding> = Vec::new();
        for (mut events, total) in batches.into_iter().zip(sizes) {
            events.retain(|e| !known.contains(e.uid()) && seen.insert(e.uid().to_string()));
            let mut opened = 0;
            for e in &mut events {
                let raw_input = raw_index.first_for(e);
                let done = self.analyzer.analyze(e, raw_input);
                if done.placement.opened {
                    opened += 1;
                }
                for folded in done.findings {
                    match findings.iter_mut().find(|f| f.id == folded.finding.id) {
                        Some(f) => *f = folded.finding,
                        None => findings.push(folded.finding),
                    }
                }
            }
            answers.push(Committed {
                stored: events.len(),
                duplicates: total - events.len(),
                sessions_opened: opened,
            });
            all.append(&mut events);
        }
        // The evidence log first: an acknowledged event is in the chain.
        if let Some(ev) = &self.evidence {
            let mut records = Vec::with_capacity(all.len() + findings.len());
            records.extend(
                all.iter()
                    .map(|e| midwatch_evidence::records::event(e, &ev.privacy)),
            );
            records.extend(
                findings
                    .iter()
                    .map(|f| midwatch_evidence::records::finding(f, &ev.privacy)),
            );
            if let Err(e) = self.evidence(records) {
                return Err((e, replies));
            }
        }
        let sessions = self.analyzer.stitcher.take_dirty();
        if let Err(e) = self.store.append(Batch {
            events: &all,
            sessions: &sessions,
            findings: &findings,
            raw: &raw,
            cursors: &cursors,
        }) {
            return Err((e.to_string(), replies));
        }
        self.metrics.findings_stored(findings.len());
        for (answer, reply) in answers.into_iter().zip(replies) {
            self.metrics.events_stored(answer.stored, answer.duplicates);
            let _ = reply.send(Ok(answer));
        }
        Ok(())
    }

    /// Triage a finding: through the folder if it is held open there, else in the store.
    fn triage(&mut self, id: &str, triage: Triage) -> Result<Option<Finding>, String> {
        let finding = match self.analyzer.detection.triage(id, &triage) {
            Some(f) => f,
            None => match self.store.finding(id).map_err(|e| e.to_string())? {
                Some(mut f) => {
                    f.triage = triage;
                    f
                }
                None => return Ok(None),
            },
        };
        if let Some(ev) = &self.evidence {
            let admin = midwatch_evidence::records::admin(
                "triage",
                id,
                finding.triage.by.as_deref().unwrap_or_default(),
                finding.triage.at.unwrap_or_default(),
                serde_json::json!({
                    "state": finding.triage.state.as_str(),
                    "note": finding.triage.note,
                }),
            );
            let state = midwatch_evidence::records::finding(&finding, &ev.privacy);
            self.evidence(vec![admin, state])?;
        }
        self.store
            .append(Batch {
                events: &[],
                sessions: &[],
                findings: std::slice::from_ref(&finding),
                raw: &[],
                cursors: &[],
            })
            .map_err(|e| e.to_string())?;
        Ok(Some(finding))
    }

    fn inventory(&mut self, identities: Vec<Identity>, apps: Vec<App>) -> Result<(), String> {
        let mut next = self.analyzer.inventory.clone();
        for i in &identities {
            next.upsert_identity(i.clone()).map_err(|e| e.to_string())?;
        }
        for a in &apps {
            next.upsert_app(a.clone()).map_err(|e| e.to_string())?;
        }
        if self.evidence.is_some() {
            let rec = midwatch_evidence::records::admin(
                "inventory",
                "inventory",
                "",
                midwatch_model::timefmt::now_ms(),
                serde_json::json!({
                    "identities": identities.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
                    "apps": apps.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
                }),
            );
            self.evidence(vec![rec])?;
        }
        self.store
            .put_identities(&identities)
            .map_err(|e| e.to_string())?;
        self.store.put_apps(&apps).map_err(|e| e.to_string())?;
        self.analyzer.inventory = next;
        Ok(())
    }
}
