//! The embedded store: SQLite in WAL mode, one writer, a few readers.
//!
//! Each table keeps the whole document as JSON beside the columns queries filter on, so a
//! schema change to a document needs no migration while the indexed columns stay few.

use crate::{Batch, Counts, EventQuery, FindingQuery, Page, SessionQuery, Store, StoreError};
use midwatch_model::event::RawRecord;
use midwatch_model::hash::Sha256Hex;
use midwatch_model::{App, Event, Finding, Identity, Session};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    time INTEGER NOT NULL,
    class_uid INTEGER NOT NULL,
    session_id TEXT,
    identity TEXT,
    app TEXT,
    source TEXT,
    late INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id, time) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_identity ON events(identity, time);
CREATE INDEX IF NOT EXISTS events_app ON events(app, time);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    identity TEXT,
    app TEXT,
    app_id TEXT,
    state TEXT NOT NULL,
    started INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions(started, id);
CREATE INDEX IF NOT EXISTS sessions_identity ON sessions(identity, started);
CREATE INDEX IF NOT EXISTS sessions_app ON sessions(app, started);
CREATE INDEX IF NOT EXISTS sessions_state ON sessions(state, started);
CREATE TABLE IF NOT EXISTS raw_records (
    seq INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    connector TEXT PRIMARY KEY,
    cursor TEXT NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY,
    time INTEGER NOT NULL,
    session_id TEXT,
    identity TEXT,
    rule TEXT NOT NULL,
    doc TEXT NOT NULL,
    triage TEXT NOT NULL DEFAULT 'open',
    severity INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS findings_time ON findings(time, id);
CREATE INDEX IF NOT EXISTS findings_session ON findings(session_id, time);
CREATE INDEX IF NOT EXISTS findings_identity ON findings(identity, time);
"#;

const SCHEMA_VERSION: &str = "2";

/// Schema 1 → 2: findings carry their triage state and severity as columns.
const MIGRATE_1_TO_2: &str = r#"
ALTER TABLE findings ADD COLUMN triage TEXT NOT NULL DEFAULT 'open';
ALTER TABLE findings ADD COLUMN severity INTEGER NOT NULL DEFAULT 1;
UPDATE meta SET value = '2' WHERE key = 'schema';
"#;
const READERS: usize = 4;
/// Largest page any query returns.
pub const MAX_PAGE: usize = 1000;

/// SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // A larger page cache keeps the index pages of recent inserts in memory, and a larger
    // checkpoint interval copies WAL pages back less often.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-call; SQLite's own
    // transaction rollback keeps the database consistent, so carry on.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn corrupt(what: &'static str, id: String, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        what,
        id,
        reason: e.to_string(),
    }
}

fn page_limit(limit: usize) -> usize {
    if limit == 0 { 100 } else { limit.min(MAX_PAGE) }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Parse a `<number>:<text>` cursor.
fn parse_cursor(c: &str) -> Result<(i64, String), StoreError> {
    let bad = || StoreError::BadQuery(format!("cursor `{c}` is not one this server issued"));
    let (n, rest) = c.split_once(':').ok_or_else(bad)?;
    Ok((n.parse().map_err(|_| bad())?, rest.to_string()))
}

impl SqliteStore {
    /// Open (creating if needed) `midwatch.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
            path: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let path = data_dir.join("midwatch.db");
        let writer = Connection::open(&path)?;
        configure(&writer)?;
        writer.execute_batch(SCHEMA)?;
        let version: Option<String> = writer
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match version.as_deref() {
            None => {
                writer.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some("1") => writer.execute_batch(&format!("BEGIN;{MIGRATE_1_TO_2}COMMIT;"))?,
            Some(other) => {
                return Err(StoreError::DataDir {
                    path: path.display().to_string(),
                    reason: format!(
                        "schema version `{other}` is not `{SCHEMA_VERSION}`; this build cannot read it"
                    ),
                });
            }
        }
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(10))?;
            readers.push(Mutex::new(r));
        }
        Ok(SqliteStore {
            path,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let n = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let len = self.readers.len().max(1);
        for i in 0..len {
            if let Some(m) = self.readers.get((n + i) % len)
                && let Ok(conn) = m.try_lock()
            {
                return f(&conn);
            }
        }
        match self.readers.get(n % len) {
            Some(m) => f(&lock(m)),
            None => f(&lock(&self.writer)),
        }
    }

    /// Insert or replace whole documents in an `(id, doc)` table.
    fn put_docs<T: serde::Serialize>(
        &self,
        table: &'static str,
        what: &'static str,
        items: &[T],
        id: impl Fn(&T) -> &str,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table} (id, doc) VALUES (?1, ?2)"
            ))?;
            for item in items {
                let doc = serde_json::to_string(item)
                    .map_err(|e| corrupt(what, id(item).to_string(), &e))?;
                stmt.execute(params![id(item), doc])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every document of an `(id, doc)` table, by id.
    fn all_docs<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let sql = format!("SELECT doc, 0, id FROM {table} ORDER BY id");
        let rows = self.read(|c| Self::docs::<T>(c, what, &sql, &[]))?;
        Ok(rows.into_iter().map(|(t, _, _)| t).collect())
    }

    fn docs<T: serde::de::DeserializeOwned>(
        conn: &Connection,
        what: &'static str,
        sql: &str,
        args: &[Value],
    ) -> Result<Vec<(T, i64, String)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (doc, n, id) = row?;
            let item = serde_json::from_str(&doc).map_err(|e| corrupt(what, id.clone(), &e))?;
            out.push((item, n, id));
        }
        Ok(out)
    }
}

fn page<T>(mut rows: Vec<(T, i64, String)>, limit: usize) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|(_, n, id)| format!("{n}:{id}"))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(t, _, _)| t).collect(),
        next_cursor,
    }
}

impl Store for SqliteStore {
    fn append(&self, batch: Batch<'_>) -> Result<usize, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction()?;
        let mut inserted = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (id, time, class_uid, session_id, identity, app, source, late, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for e in batch.events {
                let identity = e
                    .midwatch
                    .identity
                    .as_ref()
                    .map(|i| i.uid.as_str())
                    .or_else(|| e.actor_uid());
                inserted += ins.execute(params![
                    e.uid(),
                    e.time,
                    e.class_uid.uid(),
                    e.midwatch.session_uid,
                    identity,
                    e.app_domain(),
                    e.metadata.log_name,
                    e.midwatch.late,
                    e.to_ocsf_json(),
                ])?;
            }
            let mut ses = tx.prepare_cached(
                "INSERT OR REPLACE INTO sessions (id, key, identity, app, app_id, state, started, last_seen, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for s in batch.sessions {
                let doc =
                    serde_json::to_string(s).map_err(|e| corrupt("session", s.id.clone(), &e))?;
                ses.execute(params![
                    s.id,
                    s.key,
                    s.identity,
                    s.app,
                    s.app_id,
                    s.state.as_str(),
                    s.started,
                    s.last_seen,
                    doc,
                ])?;
            }
            let mut raw = tx.prepare_cached(
                "INSERT OR IGNORE INTO raw_records (sha256, source, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for r in batch.raw {
                raw.execute(params![r.sha256.as_str(), r.source, r.bytes.as_ref()])?;
            }
            let mut cur = tx.prepare_cached(
                "INSERT OR REPLACE INTO cursors (connector, cursor, updated) VALUES (?1, ?2, ?3)",
            )?;
            for (connector, cursor) in batch.cursors {
                cur.execute(params![
                    connector,
                    cursor,
                    midwatch_model::timefmt::now_ms()
                ])?;
            }
            let mut fnd = tx.prepare_cached(
                "INSERT OR REPLACE INTO findings
                 (id, time, session_id, identity, rule, doc, triage, severity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for f in batch.findings {
                let doc =
                    serde_json::to_string(f).map_err(|e| corrupt("finding", f.id.clone(), &e))?;
                fnd.execute(params![
                    f.id,
                    f.time,
                    f.session_id,
                    f.identity,
                    f.rule,
                    doc,
                    f.triage.state.as_str(),
                    f.severity.id()
                ])?;
            }
        }
        tx.commit()?;
        Ok(inserted)
    }

    fn cursor(&self, connector: &str) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT cursor FROM cursors WHERE connector = ?1",
                [connector],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn raw(&self, sha256: &str) -> Result<Option<RawRecord>, StoreError> {
        // Records are kept under their lowercase hex; anything else names none.
        let Some(sha256) = Sha256Hex::parse(sha256) else {
            return Ok(None);
        };
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT source, bytes FROM raw_records WHERE sha256 = ?1")?;
            let row = stmt
                .query_row([sha256.as_str()], |r| {
                    Ok(RawRecord {
                        sha256,
                        source: r.get(0)?,
                        bytes: r.get::<_, Vec<u8>>(1)?.into(),
                    })
                })
                .optional()?;
            Ok(row)
        })
    }

    fn known_event_ids(&self, ids: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut known = Vec::new();
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT id FROM events WHERE id IN ({marks})");
            let found: Vec<String> = self.read(|c| {
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(params_from_iter(chunk.iter()), |r| r.get(0))?;
                Ok(rows.collect::<Result<Vec<String>, _>>()?)
            })?;
            known.extend(found);
        }
        Ok(known)
    }

    fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let rows = self.read(|c| {
            Self::docs::<Session>(
                c,
                "session",
                "SELECT doc, started, id FROM sessions WHERE id = ?1",
                &[Value::Text(id.to_string())],
            )
        })?;
        Ok(rows.into_iter().next().map(|(s, _, _)| s))
    }

    fn sessions(&self, q: &SessionQuery) -> Result<Page<Session>, StoreError> {
        let limit = page_limit(q.limit);
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let Some(i) = &q.identity {
            clauses.push("identity = ?".to_string());
            args.push(Value::Text(i.clone()));
        }
        if let Some(a) = &q.app {
            clauses.push("(app = ? OR app_id = ?)".to_string());
            args.push(Value::Text(a.to_lowercase()));
            args.push(Value::Text(a.clone()));
        }
        if let Some(s) = q.state {
            clauses.push("state = ?".to_string());
            args.push(Value::Text(s.as_str().to_string()));
        }
        if let Some(t) = q.since {
            clauses.push("last_seen >= ?".to_string());
            args.push(Value::Integer(t));
        }
        if let Some(t) = q.until {
            clauses.push("started <= ?".to_string());
            args.push(Value::Integer(t));
        }
        if let Some(c) = &q.cursor {
            let (started, id) = parse_cursor(c)?;
            clauses.push("(started < ? OR (started = ? AND id < ?))".to_string());
            args.extend([
                Value::Integer(started),
                Value::Integer(started),
                Value::Text(id),
            ]);
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        args.push(Value::Integer(to_i64(limit + 1)));
        let sql = format!(
            "SELECT doc, started, id FROM sessions {filter} ORDER BY started DESC, id DESC LIMIT ?"
        );
        let rows = self.read(|c| Self::docs::<Session>(c, "session", &sql, &args))?;
        Ok(page(rows, limit))
    }

    fn live_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let rows = self.read(|c| {
            Self::docs::<Session>(
                c,
                "session",
                "SELECT doc, started, id FROM sessions WHERE state IN ('active', 'stepped_up', 'restricted')",
                &[],
            )
        })?;
        Ok(rows.into_iter().map(|(s, _, _)| s).collect())
    }

    fn events(&self, q: &EventQuery) -> Result<Page<Event>, StoreError> {
        let limit = page_limit(q.limit);
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = &q.session {
            clauses.push("session_id = ?");
            args.push(Value::Text(s.clone()));
        }
        if let Some(i) = &q.identity {
            clauses.push("identity = ?");
            args.push(Value::Text(i.clone()));
        }
        if let Some(a) = &q.app {
            clauses.push("app = ?");
            args.push(Value::Text(a.to_lowercase()));
        }
        if let Some(c) = q.class_uid {
            clauses.push("class_uid = ?");
            args.push(Value::Integer(i64::from(c)));
        }
        if let Some(t) = q.since {
            clauses.push("time >= ?");
            args.push(Value::Integer(t));
        }
        if let Some(t) = q.until {
            clauses.push("time <= ?");
            args.push(Value::Integer(t));
        }
        if let Some(c) = &q.cursor {
            let (time, seq) = parse_cursor(c)?;
            let seq: i64 = seq.parse().map_err(|_| {
                StoreError::BadQuery(format!("cursor `{c}` is not one this server issued"))
            })?;
            clauses.push("(time > ? OR (time = ? AND seq > ?))");
            args.extend([
                Value::Integer(time),
                Value::Integer(time),
                Value::Integer(seq),
            ]);
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        args.push(Value::Integer(to_i64(limit + 1)));
        let sql = format!(
            "SELECT doc, time, CAST(seq AS TEXT) FROM events {filter} ORDER BY time ASC, seq ASC LIMIT ?"
        );
        let rows = self.read(|c| Self::docs::<Event>(c, "event", &sql, &args))?;
        Ok(page(rows, limit))
    }

    fn put_identities(&self, identities: &[Identity]) -> Result<(), StoreError> {
        self.put_docs("identities", "identity", identities, |i| &i.id)
    }

    fn identities(&self) -> Result<Vec<Identity>, StoreError> {
        self.all_docs("identities", "identity")
    }

    fn put_apps(&self, apps: &[App]) -> Result<(), StoreError> {
        self.put_docs("apps", "app", apps, |a| &a.id)
    }

    fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.all_docs("apps", "app")
    }

    fn findings(&self, q: &FindingQuery) -> Result<Page<Finding>, StoreError> {
        let limit = page_limit(q.limit);
        let mut clauses: Vec<String> = Vec::new();
        let mut args = Vec::new();
        let mut eq = |column: &str, value: &Option<String>| {
            if let Some(v) = value {
                clauses.push(format!("{column} = ?"));
                args.push(Value::Text(v.clone()));
            }
        };
        eq("session_id", &q.session);
        eq("identity", &q.identity);
        eq("rule", &q.rule);
        if !q.triage.is_empty() {
            let marks = vec!["?"; q.triage.len()].join(", ");
            clauses.push(format!("triage IN ({marks})"));
            args.extend(q.triage.iter().map(|t| Value::Text(t.as_str().to_string())));
        }
        if let Some(s) = q.min_severity {
            clauses.push("severity >= ?".into());
            args.push(Value::Integer(i64::from(s.id())));
        }
        if let Some(c) = &q.cursor {
            let (time, id) = parse_cursor(c)?;
            clauses.push("(time < ? OR (time = ? AND id < ?))".into());
            args.extend([Value::Integer(time), Value::Integer(time), Value::Text(id)]);
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        args.push(Value::Integer(to_i64(limit + 1)));
        let sql = format!(
            "SELECT doc, time, id FROM findings {filter} ORDER BY time DESC, id DESC LIMIT ?"
        );
        let rows = self.read(|c| Self::docs::<Finding>(c, "finding", &sql, &args))?;
        Ok(page(rows, limit))
    }

    fn finding(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        let rows = self.read(|c| {
            Self::docs::<Finding>(
                c,
                "finding",
                "SELECT doc, time, id FROM findings WHERE id = ?1",
                &[Value::Text(id.to_string())],
            )
        })?;
        Ok(rows.into_iter().next().map(|(f, _, _)| f))
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        self.read(|c| {
            let n = |table: &str| -> Result<u64, StoreError> {
                let v: i64 =
                    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
                Ok(u64::try_from(v).unwrap_or(0))
            };
            // Events are never deleted and ignored inserts take no rowid, so the largest
            // sequence number is the count without scanning the table.
            let events: i64 =
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
            Ok(Counts {
                events: u64::try_from(events).unwrap_or(0),
                sessions: n("sessions")?,
                identities: n("identities")?,
                apps: n("apps")?,
                findings: n("findings")?,
            })
        })
    }
}
