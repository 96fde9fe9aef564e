//! Where generated events and labels go: id allocation, serialization and final ordering.
//!
//! Every event gets its id here (`evt-<seed hex>-<counter>`) and is serialized as soon as it
//! is emitted, so the simulator holds compact lines rather than object graphs. At the end the
//! lines are sorted by time, ties broken by id, so the stream can be replayed in order.

use crate::label::Label;
use crate::rng::mix;
use crate::wire::Ev;
use midwatch_model::hash::sha256_hex;
use midwatch_model::timefmt::format_ms;

/// The id and time of an emitted event, for labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Emitted {
    /// Event time, epoch ms.
    pub ts: i64,
    /// Event id.
    pub id: String,
}

#[derive(Debug)]
struct Line {
    ts: i64,
    id: String,
    json: String,
}

/// Collects events and labels.
#[derive(Debug)]
pub struct Sink {
    seed_hex: String,
    salt: u64,
    next_event: u64,
    next_session: u64,
    lines: Vec<Line>,
    labels: Vec<Label>,
}

/// What the sink holds once the simulation is done.
#[derive(Debug)]
pub struct Finished {
    /// Event lines in stream order.
    pub events: Vec<String>,
    /// Label lines, by start time.
    pub labels: Vec<String>,
    /// Distinct sessions opened (browser sessions and token sessions).
    pub sessions: u64,
}

impl Sink {
    /// An empty sink for `seed`.
    pub fn new(seed: u64) -> Sink {
        Sink {
            seed_hex: format!("{seed:x}"),
            salt: mix(seed ^ 0x5E55_1075),
            next_event: 0,
            next_session: 0,
            lines: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// A fresh, unique browser session id.
    pub fn session_id(&mut self) -> String {
        self.next_session += 1;
        format!("sess-{:016x}", mix(self.salt ^ self.next_session))
    }

    /// A fresh bearer token for a token session, returned as its SHA-256 hex: the raw
    /// token is made up here and never leaves this function.
    pub fn token_sha256(&mut self) -> String {
        self.next_session += 1;
        let raw = format!(
            "mwsim_{:016x}{:016x}",
            mix(self.salt ^ self.next_session),
            mix(!self.salt ^ self.next_session)
        );
        sha256_hex(raw.as_bytes())
    }

    /// Assign `ev` its id and time text, serialize it, and keep it.
    pub fn emit(&mut self, mut ev: Ev<'_>) -> Emitted {
        self.next_event += 1;
        ev.id = format!("evt-{}-{:08}", self.seed_hex, self.next_event);
        ev.ts = format_ms(ev.ts_ms);
        // Serializing these plain structs cannot fail; should it ever, the event still
        // goes out in its minimal, valid form rather than being lost.
        let json = serde_json::to_string(&ev).unwrap_or_else(|_| {
            format!(
                r#"{{"v":1,"id":"{}","ts":"{}","type":"{}"}}"#,
                ev.id, ev.ts, ev.kind
            )
        });
        let out = Emitted {
            ts: ev.ts_ms,
            id: ev.id,
        };
        self.lines.push(Line {
            ts: out.ts,
            id: out.id.clone(),
            json,
        });
        out
    }

    /// Record a label for the attack `events` (in any order; none means no label).
    pub fn label(
        &mut self,
        scenario: &str,
        session: String,
        identity: &str,
        events: &[Emitted],
        description: String,
    ) {
        let mut events = events.to_vec();
        events.sort();
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return;
        };
        let (start, end) = (format_ms(first.ts), format_ms(last.ts));
        self.labels.push(Label {
            scenario: scenario.to_string(),
            session,
            identity: identity.to_string(),
            event_ids: events.into_iter().map(|e| e.id).collect(),
            start,
            end,
            description,
        });
    }

    /// Number of events emitted so far.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Sort and hand over everything collected.
    pub fn finish(mut self) -> Finished {
        self.lines
            .sort_unstable_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
        self.labels.sort_by(|a, b| {
            (&a.start, &a.scenario, &a.session).cmp(&(&b.start, &b.scenario, &b.session))
        });
        let labels = self
            .labels
            .iter()
            .filter_map(|l| serde_json::to_string(l).ok())
            .collect();
        Finished {
            events: self.lines.into_iter().map(|l| l.json).collect(),
            labels,
            sessions: self.next_session,
        }
    }
}
