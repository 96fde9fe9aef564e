//! Persistence behind one [`Store`] trait.
//!
//! The embedded default is [`sqlite::SqliteStore`]: one SQLite database in WAL mode in the
//! data directory, written by one connection and read by a small pool. [`Store::append`]
//! commits a batch of events and the sessions they changed in one transaction, synchronously
//! (`synchronous=FULL`), so a batch the server has acknowledged survives a crash.
//!
//! This crate knows no rules and no HTTP; it stores and finds what it is given.

pub mod sqlite;

use midwatch_model::event::RawRecord;
use midwatch_model::{App, Event, Finding, Identity, Session, SessionState, Severity, TriageState};

pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored document could not be read back.
    #[error("stored {what} `{id}` is unreadable: {reason}")]
    Corrupt {
        /// Table.
        what: &'static str,
        /// Row id.
        id: String,
        /// Parse error.
        reason: String,
    },
    /// The data directory could not be used.
    #[error("data directory `{path}`: {reason}")]
    DataDir {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A query argument was malformed (a bad cursor).
    #[error("{0}")]
    BadQuery(String),
}

/// A write: events and the sessions they changed, committed together.
#[derive(Debug, Default, Clone, Copy)]
pub struct Batch<'a> {
    /// New events (ids already known are ignored).
    pub events: &'a [Event],
    /// Sessions to insert or replace.
    pub sessions: &'a [Session],
    /// Findings to insert or replace.
    pub findings: &'a [Finding],
    /// Raw records the events were read from (a record already stored is ignored).
    pub raw: &'a [RawRecord],
    /// Connector cursors reached by these events, `(connector, cursor)`: committed with
    /// them, so a restart resumes exactly after what was stored.
    pub cursors: &'a [(String, String)],
}

/// Filters for [`Store::sessions`]. Sessions come newest first.
#[derive(Debug, Default, Clone)]
pub struct SessionQuery {
    /// Only this identity.
    pub identity: Option<String>,
    /// Only this app (domain or inventory id).
    pub app: Option<String>,
    /// Only this state.
    pub state: Option<SessionState>,
    /// Only sessions active at or after this time (last seen ≥ since).
    pub since: Option<i64>,
    /// Only sessions that started at or before this time.
    pub until: Option<i64>,
    /// Page size.
    pub limit: usize,
    /// Continue after this cursor.
    pub cursor: Option<String>,
}

/// Filters for [`Store::events`]. Events come in time order, oldest first.
#[derive(Debug, Default, Clone)]
pub struct EventQuery {
    /// Only this session.
    pub session: Option<String>,
    /// Only this identity.
    pub identity: Option<String>,
    /// Only this app domain.
    pub app: Option<String>,
    /// Only this OCSF class.
    pub class_uid: Option<u32>,
    /// Only at or after this time.
    pub since: Option<i64>,
    /// Only at or before this time.
    pub until: Option<i64>,
    /// Page size.
    pub limit: usize,
    /// Continue after this cursor.
    pub cursor: Option<String>,
}

/// Filters for [`Store::findings`]. Findings come newest first.
#[derive(Debug, Default, Clone)]
pub struct FindingQuery {
    /// Only this session.
    pub session: Option<String>,
    /// Only this identity.
    pub identity: Option<String>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only findings in one of these triage states (any when empty).
    pub triage: Vec<TriageState>,
    /// Only findings at least this severe.
    pub min_severity: Option<Severity>,
    /// Page size.
    pub limit: usize,
    /// Continue after this cursor.
    pub cursor: Option<String>,
}

/// One page of results and the cursor for the next, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Pass back to get the next page.
    pub next_cursor: Option<String>,
}

/// Row counts, for metrics and health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Events stored.
    pub events: u64,
    /// Sessions stored.
    pub sessions: u64,
    /// Identities.
    pub identities: u64,
    /// Apps.
    pub apps: u64,
    /// Findings.
    pub findings: u64,
}

/// Everything midwatch persists.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Commit events, sessions and findings in one transaction; returns how many events
    /// were new (an event id seen before is ignored, so redelivery is harmless).
    fn append(&self, batch: Batch<'_>) -> Result<usize, StoreError>;
    /// The saved cursor of a pull connector.
    fn cursor(&self, connector: &str) -> Result<Option<String>, StoreError>;
    /// A raw record by the SHA-256 (hex) events reference it by.
    fn raw(&self, sha256: &str) -> Result<Option<RawRecord>, StoreError>;
    /// Which of these event ids are already stored.
    fn known_event_ids(&self, ids: &[&str]) -> Result<Vec<String>, StoreError>;
    /// One session.
    fn session(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Sessions matching a query.
    fn sessions(&self, q: &SessionQuery) -> Result<Page<Session>, StoreError>;
    /// Sessions that were live when last written (to restore the stitcher after a restart).
    fn live_sessions(&self) -> Result<Vec<Session>, StoreError>;
    /// Events matching a query.
    fn events(&self, q: &EventQuery) -> Result<Page<Event>, StoreError>;
    /// Insert or replace identities.
    fn put_identities(&self, identities: &[Identity]) -> Result<(), StoreError>;
    /// All identities, by id.
    fn identities(&self) -> Result<Vec<Identity>, StoreError>;
    /// Insert or replace apps.
    fn put_apps(&self, apps: &[App]) -> Result<(), StoreError>;
    /// All apps, by id.
    fn apps(&self) -> Result<Vec<App>, StoreError>;
    /// Findings matching a query.
    fn findings(&self, q: &FindingQuery) -> Result<Page<Finding>, StoreError>;
    /// One finding.
    fn finding(&self, id: &str) -> Result<Option<Finding>, StoreError>;
    /// Row counts.
    fn counts(&self) -> Result<Counts, StoreError>;
}
