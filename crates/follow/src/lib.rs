//! Follow a directory of log files and ship new records to a midwatch server.
//!
//! For logs that land as files — CloudTrail delivered to a bucket and synced down, exports
//! from a SIEM, an appliance writing NDJSON. Growing NDJSON files are read up to their last
//! complete line; whole documents (`.gz`, JSON arrays, CloudTrail `{"Records": …}` files)
//! are read once their size has stopped changing. Records go to `POST /v1/events` in
//! bounded batches; a batch counts as delivered only on the server's 202 (or a 400 whose
//! report rejects every record, which retrying would not change). The offset reached in
//! each file is saved after every delivered batch, so a restart resumes with no gap, and
//! the server drops event ids it already has, so a batch resent after a crash is harmless.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Directory to watch (regular files not starting with `.`), or none for `files`.
    pub dir: Option<PathBuf>,
    /// Explicit files to ship.
    pub files: Vec<PathBuf>,
    /// Source name for `?source=`.
    pub source: String,
    /// Server base URL (`http://127.0.0.1:7070`).
    pub server: String,
    /// Where offsets are saved.
    pub state_file: PathBuf,
    /// How often to look for new data.
    pub poll: Duration,
    /// Most records per batch.
    pub max_batch_records: usize,
    /// Most bytes per batch.
    pub max_batch_bytes: usize,
    /// Largest file accepted after decompression.
    pub max_file_bytes: u64,
    /// Ship what is there now and stop, instead of following.
    pub once: bool,
    /// How many times to try a batch the server cannot take before giving up (in `once`
    /// mode; a follower keeps trying).
    pub max_attempts: u32,
}

impl FollowConfig {
    /// Defaults for following `dir` into `server` with `source`.
    pub fn new(source: &str, server: &str, state_file: PathBuf) -> FollowConfig {
        FollowConfig {
            dir: None,
            files: Vec::new(),
            source: source.to_string(),
            server: server.trim_end_matches('/').to_string(),
            state_file,
            poll: Duration::from_secs(2),
            max_batch_records: 5_000,
            max_batch_bytes: 4 * 1024 * 1024,
            max_file_bytes: 1024 * 1024 * 1024,
            once: false,
            max_attempts: 8,
        }
    }
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// A file or the state could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The server refused the request itself (bad source, bad URL): retrying cannot help.
    #[error("server refused the batch: {0}")]
    Refused(String),
    /// The server stayed unreachable or busy past the attempt limit.
    #[error("server unavailable: {0}")]
    Unavailable(String),
}

/// Counts of what was shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Shipped {
    /// Batches delivered.
    pub batches: u64,
    /// Records sent.
    pub records: u64,
    /// Events the server accepted.
    pub accepted: u64,
    /// Records it rejected.
    pub rejected: u64,
    /// Events it already had.
    pub duplicates: u64,
    /// Files finished (whole-document files).
    pub files_done: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FileState {
    /// Bytes of the file delivered (NDJSON) or its length when delivered whole.
    offset: u64,
    /// Lines delivered, to report file line numbers.
    lines: u64,
    /// Whole-document file delivered.
    done: bool,
    /// Size seen at the last poll, to tell when a whole document has stopped growing.
    #[serde(default)]
    last_len: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    files: BTreeMap<String, FileState>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> FollowError {
    FollowError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl State {
    fn load(path: &Path) -> Result<State, FollowError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io_err(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(io_err(path, e)),
        }
    }

    /// Write atomically: a crash leaves the old state or the new one, never half of one.
    fn save(&self, path: &Path) -> Result<(), FollowError> {
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| io_err(path, e))?;
        std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
    }
}

/// What the server said about one batch.
#[derive(Debug, Deserialize)]
struct Report {
    #[serde(default)]
    accepted: u64,
    #[serde(default)]
    duplicates: u64,
    #[serde(default)]
    rejected: u64,
    #[serde(default)]
    rejects: Vec<RejectLine>,
}

#[derive(Debug, Deserialize)]
struct RejectLine {
    line: u64,
    reason: String,
}

/// The follower.
#[derive(Debug)]
pub struct Follower {
    cfg: FollowConfig,
    client: reqwest::Client,
    state: State,
    shipped: Shipped,
}

/// Is this a whole document rather than NDJSON lines?
fn is_document(name: &str, head: &[u8]) -> bool {
    if name.ends_with(".gz") {
        return true;
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'[') => true,
        // A JSON object spread over several lines (pretty-printed CloudTrail files).
        Some(b'{') => {
            let line_end = head.iter().position(|b| *b == b'\n');
            line_end.is_some_and(|i| {
                let line = head.get(..i).unwrap_or(head);
                serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err()
            })
        }
        _ => false,
    }
}

impl Follower {
    /// A follower with its saved state.
    pub fn new(cfg: FollowConfig) -> Result<Follower, FollowError> {
        let state = State::load(&cfg.state_file)?;
        // TLS to the server: rustls with the ring provider (installing twice is harmless).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| FollowError::Refused(e.to_string()))?;
        Ok(Follower {
            cfg,
            client,
            state,
            shipped: Shipped::default(),
        })
    }

    /// What was shipped so far.
    pub fn shipped(&self) -> Shipped {
        self.shipped
    }

    /// Ship until stopped (or, with `once`, until everything present is shipped).
    pub async fn run(&mut self) -> Result<Shipped, FollowError> {
        loop {
            self.poll_once().await?;
            if self.cfg.once {
                return Ok(self.shipped);
            }
            tokio::time::sleep(self.cfg.poll).await;
        }
    }

    fn candidates(&self) -> Result<Vec<PathBuf>, FollowError> {
        let mut out = self.cfg.files.clone();
        if let Some(dir) = &self.cfg.dir {
            let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
            for entry in entries.flatten() {
                let path = entry.path();
                let hidden = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_none_or(|n| n.starts_with('.') || n.ends_with(".tmp"));
                if !hidden && path.is_file() && path != self.cfg.state_file {
                    out.push(path);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// One pass over every file. Returns whether something is still waiting (a document
    /// still growing, or a partial last line).
    pub async fn poll_once(&mut self) -> Result<bool, FollowError> {
        let mut pending = false;
        for path in self.candidates()? {
            pending |= self.ship_file(&path).await?;
        }
        Ok(pending)
    }

    async fn ship_file(&mut self, path: &Path) -> Result<bool, FollowError> {
        let key = path.display().to_string();
        let len = std::fs::metadata(path).map_err(|e| io_err(path, e))?.len();
        let mut st = self.state.files.get(&key).cloned().unwrap_or_default();
        if len < st.offset {
            // Truncated or replaced: start over.
            tracing::info!(file = %key, "file shrank; reading it again from the start");
            st = FileState::default();
        }
        let mut head = [0u8; 4096];
        let head_len = {
            let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
            f.read(&mut head).map_err(|e| io_err(path, e))?
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if is_document(name, head.get(..head_len).unwrap_or(&[])) {
            if st.done && st.offset == len {
                return Ok(false);
            }
            // Wait for two polls with the same size: the writer may still be writing.
            // (A one-shot run takes files as they are.)
            if st.last_len != len && !self.cfg.once {
                st.last_len = len;
                st.done = false;
                self.state.files.insert(key, st);
                return Ok(true);
            }
            let body = self.read_document(path)?;
            if body.iter().any(|b| !b.is_ascii_whitespace()) {
                self.send(&key, body, 1).await?;
            }
            let st = FileState {
                offset: len,
                lines: 0,
                done: true,
                last_len: len,
            };
            self.state.files.insert(key, st);
            self.state.save(&self.cfg.state_file)?;
            self.shipped.files_done += 1;
            return Ok(false);
        }
        if st.offset == len {
            return Ok(false);
        }
        let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(st.offset))
            .map_err(|e| io_err(path, e))?;
        let mut rest = Vec::new();
        f.take(len - st.offset)
            .read_to_end(&mut rest)
            .map_err(|e| io_err(path, e))?;
        // Only complete lines: a writer may be mid-line.
        let Some(last_nl) = rest.iter().rposition(|b| *b == b'\n') else {
            return Ok(true);
        };
        let complete = rest.get(..=last_nl).unwrap_or(&rest);
        let partial = last_nl + 1 < rest.len();
        self.state.files.insert(key.clone(), st);
        self.ship_lines(&key, complete).await?;
        Ok(partial)
    }

    fn read_document(&self, path: &Path) -> Result<Vec<u8>, FollowError> {
        let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        let cap = self.cfg.max_file_bytes;
        let mut out = Vec::new();
        let gz = path.extension().is_some_and(|e| e == "gz");
        let reader: Box<dyn Read> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        // Read one byte past the cap to tell "exactly at the cap" from "over it": a
        // decompression bomb stops here instead of filling memory.
        reader
            .take(cap + 1)
            .read_to_end(&mut out)
            .map_err(|e| io_err(path, e))?;
        if out.len() as u64 > cap {
            return Err(io_err(
                path,
                format!("over the limit of {cap} bytes after decompression"),
            ));
        }
        Ok(out)
    }

    /// Ship complete NDJSON lines in bounded batches, saving the offset reached after each
    /// delivered batch.
    async fn ship_lines(&mut self, key: &str, data: &[u8]) -> Result<(), FollowError> {
        let mut start = 0usize;
        while start < data.len() {
            // Take whole lines up to the record and byte bounds.
            let mut end = start;
            let mut records = 0usize;
            while end < data.len() && records < self.cfg.max_batch_records {
                let next = data
                    .get(end..)
                    .and_then(|r| r.iter().position(|b| *b == b'\n'))
                    .map_or(data.len(), |i| end + i + 1);
                if records > 0 && next - start > self.cfg.max_batch_bytes {
                    break;
                }
                end = next;
                records += 1;
            }
            let chunk = data.get(start..end).unwrap_or(&[]);
            let first_line = self.state.files.get(key).map_or(0, |s| s.lines) + 1;
            let lines = chunk.iter().filter(|b| **b == b'\n').count() as u64;
            if chunk.iter().any(|b| !b.is_ascii_whitespace()) {
                self.send(key, chunk.to_vec(), first_line).await?;
            }
            let st = self.state.files.entry(key.to_string()).or_default();
            st.offset += chunk.len() as u64;
            st.lines += lines;
            self.state.save(&self.cfg.state_file)?;
            start = end;
        }
        Ok(())
    }

    /// POST one batch until the server has taken it.
    async fn send(&mut self, key: &str, body: Vec<u8>, first_line: u64) -> Result<(), FollowError> {
        let url = format!("{}/v1/events?source={}", self.cfg.server, self.cfg.source);
        let mut attempt = 0u32;
        let mut delay = Duration::from_millis(250);
        loop {
            attempt += 1;
            let res = self.client.post(&url).body(body.clone()).send().await;
            let wait = match res {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry_after = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = res.text().await.unwrap_or_default();
                    match status {
                        202 | 400 => {
                            if let Ok(report) = serde_json::from_str::<Report>(&text) {
                                self.record(key, &report, first_line);
                                return Ok(());
                            }
                            return Err(FollowError::Refused(text));
                        }
                        429 | 503 => retry_after.unwrap_or(delay),
                        _ => return Err(FollowError::Refused(format!("{status}: {text}"))),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "server unreachable; retrying");
                    delay
                }
            };
            if self.cfg.once && attempt >= self.cfg.max_attempts {
                return Err(FollowError::Unavailable(format!(
                    "gave up on a batch of `{key}` after {attempt} attempts"
                )));
            }
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    fn record(&mut self, key: &str, report: &Report, first_line: u64) {
        self.shipped.batches += 1;
        self.shipped.records += report.accepted + report.rejected;
        self.shipped.accepted += report.accepted;
        self.shipped.rejected += report.rejected;
        self.shipped.duplicates += report.duplicates;
        for r in &report.rejects {
            tracing::warn!(file = %key, line = (first_line + r.line).saturating_sub(1), reason = %r.reason, "record rejected");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_documents_from_ndjson() {
        assert!(is_document("x.json.gz", b"anything"));
        assert!(is_document("x.json", b"  [ {\"a\": 1} ]"));
        assert!(is_document("x.json", b"{\n  \"Records\": []\n}"));
        assert!(!is_document("x.ndjson", b"{\"a\": 1}\n{\"a\": 2}\n"));
        assert!(!is_document("x.log", b"{\"a\": 1}"));
    }

    #[test]
    fn state_saves_atomically_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut st = State::default();
        st.files.insert(
            "a".into(),
            FileState {
                offset: 10,
                lines: 2,
                done: false,
                last_len: 10,
            },
        );
        st.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap().files["a"].offset, 10);
        assert!(
            State::load(&dir.path().join("missing.json"))
                .unwrap()
                .files
                .is_empty()
        );
        std::fs::write(&path, b"{garbage").unwrap();
        assert!(
            State::load(&path)
                .unwrap_err()
                .to_string()
                .contains("state.json")
        );
    }
}
