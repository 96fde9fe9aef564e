//! `serve --demo`: a simulated organisation streamed through the server's own ingest path
//! in accelerated time, so a newcomer sees sessions stitched within seconds of starting.
//!
//! The demo uses exactly the path an HTTP batch takes ([`AppState::ingest`]); it only adds
//! pacing. Wall-clock sweeping is off in the demo because event time runs ahead of the clock;
//! the demo sweeps by event time instead.

use crate::AppState;
use axum::body::Bytes;
use midwatch_model::timefmt::{now_ms, parse_rfc3339_ms};
use midwatch_sim::{SimConfig, simulate};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// How the demo runs.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Simulator seed.
    pub seed: u64,
    /// Humans in the organisation.
    pub users: u32,
    /// Hours of activity to simulate.
    pub hours: u32,
    /// Simulated seconds per wall-clock second.
    pub speed: u32,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions {
            seed: 7,
            users: 40,
            hours: 24,
            speed: 600,
        }
    }
}

/// What the demo streamed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoSummary {
    /// Events sent.
    pub events: usize,
    /// Events stored.
    pub stored: usize,
    /// Labelled attacks in the data.
    pub attacks: usize,
}

#[derive(Deserialize)]
struct JustTs {
    ts: String,
}

/// Generate the organisation and stream it through `state`. Returns when every event has
/// been ingested.
pub async fn run(state: AppState, opts: DemoOptions) -> Result<DemoSummary, String> {
    // Yesterday, from midnight UTC: recent enough to look live, complete enough to be a day.
    let day = 86_400_000;
    let start_ms = (now_ms() / day - 1) * day;
    let cfg = SimConfig {
        seed: opts.seed,
        users: opts.users,
        hours: opts.hours,
        start_ms,
        attacks: true,
    };
    let out = tokio::task::spawn_blocking(move || simulate(&cfg))
        .await
        .map_err(|e| format!("simulator stopped: {e}"))?;
    state
        .put_inventory(out.inventory.identities.clone(), out.inventory.apps.clone())
        .await
        .map_err(|e| e.message().to_string())?;
    let mut timed = Vec::with_capacity(out.events.len());
    for line in &out.events {
        let ts = serde_json::from_str::<JustTs>(line)
            .ok()
            .and_then(|t| parse_rfc3339_ms(&t.ts))
            .ok_or_else(|| "simulator wrote an event without a usable `ts`".to_string())?;
        timed.push((ts, line.as_str()));
    }
    let Some(&(first, _)) = timed.first() else {
        return Ok(DemoSummary::default());
    };
    let mut summary = DemoSummary {
        attacks: out.labels.len(),
        ..DemoSummary::default()
    };
    let began = Instant::now();
    let mut next = 0;
    let speed = i64::from(opts.speed.max(1));
    while next < timed.len() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let elapsed = i64::try_from(began.elapsed().as_millis()).unwrap_or(i64::MAX);
        let sim_now = first.saturating_add(elapsed.saturating_mul(speed));
        let mut body = String::new();
        let mut n = 0;
        while let Some(&(ts, line)) = timed.get(next) {
            if ts > sim_now || n >= 5_000 {
                break;
            }
            body.push_str(line);
            body.push('\n');
            next += 1;
            n += 1;
        }
        if n > 0 {
            let (_, report) = state
                .ingest("sensor", Bytes::from(body), true)
                .await
                .map_err(|e| e.message().to_string())?;
            summary.events += n;
            summary.stored += report.stored;
            if report.rejected > 0 {
                tracing::warn!(rejected = report.rejected, "demo batch had rejects");
            }
        }
        state.sweep(sim_now);
    }
    Ok(summary)
}
