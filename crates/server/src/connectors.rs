//! Runs the configured pull connectors inside the server: each page a connector fetches is
//! normalized with its vendor's source and committed through the pipeline together with
//! the cursor after it, so a restart resumes exactly after what was stored.

use crate::AppState;
use crate::pipeline::Command;
use midwatch_connectors::{Connector, ConnectorConfig, Sink};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Delivers a connector's pages into the pipeline.
struct PipelineSink {
    state: AppState,
    name: String,
    source: &'static dyn midwatch_sources::Source,
}

impl Sink for PipelineSink {
    async fn deliver(&mut self, records: Vec<Vec<u8>>, cursor: String) -> Result<(), String> {
        let limits = self.state.inner.limits.framing();
        let mut events = Vec::new();
        let mut raw = Vec::new();
        let mut rejected = 0;
        for record in records {
            let mut out = midwatch_sources::normalize_body(self.source, record.into(), &limits);
            for r in &out.rejects {
                tracing::warn!(connector = %self.name, reason = %r.reason, "record rejected");
            }
            rejected += out.rejects.len();
            events.append(&mut out.events);
            raw.append(&mut out.raw);
        }
        self.state
            .inner
            .metrics
            .normalized(self.source.name(), events.len(), rejected, 0);
        let (tx, rx) = oneshot::channel();
        self.state
            .inner
            .pipeline
            .send(Command::Events(
                events,
                raw,
                vec![(self.name.clone(), cursor)],
                tx,
            ))
            .await
            .map_err(|_| "the ingest pipeline has stopped".to_string())?;
        rx.await
            .map_err(|_| "the ingest pipeline has stopped".to_string())?
            .map(|_| ())
    }
}

/// Check every connector's settings (tokens present, required fields) before serving.
pub fn check(configs: &[ConnectorConfig]) -> Result<Vec<Connector>, String> {
    configs
        .iter()
        .map(|c| Connector::new(c.clone()).map_err(|e| e.to_string()))
        .collect()
}

/// Start one task per connector; each resumes from its stored cursor.
pub fn spawn(state: &AppState, connectors: Vec<Connector>) -> Vec<tokio::task::JoinHandle<()>> {
    connectors
        .into_iter()
        .filter_map(|conn| {
            let source = midwatch_sources::by_name(conn.config().kind.source())?;
            let state = state.clone();
            Some(tokio::spawn(async move {
                let name = conn.config().name.clone();
                let store = Arc::clone(&state.inner.store);
                let key = name.clone();
                let cursor = tokio::task::spawn_blocking(move || store.cursor(&key))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                tracing::info!(connector = %name, resumed = cursor.is_some(), "connector started");
                let mut sink = PipelineSink {
                    state,
                    name: name.clone(),
                    source,
                };
                if let Err(e) = conn.run(cursor.as_deref(), &mut sink).await {
                    tracing::error!(connector = %name, error = %e, "connector stopped");
                }
            }))
        })
        .collect()
}
