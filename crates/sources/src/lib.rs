//! Event sources: one file per source, each turning its raw records into OCSF [`Event`]s.
//!
//! A source sees one raw record at a time and answers with events or a [`ParseError`] that
//! names the field at fault. Splitting a file, stdin or an HTTP body into records, applying
//! limits and numbering lines is [`framing`]'s job, shared by every source, so the CLI and
//! the server reject the same garbage with the same words.
//!
//! Sources are registered once, in [`registry`]; `tests/compliance.rs` runs every registered
//! source through the same hostile inputs.

pub mod cloudtrail;
pub mod entra_audit;
pub mod entra_signin;
pub mod framing;
pub mod github;
pub mod gws;
pub mod lenient;
pub mod m365;
pub mod ocsf;
pub mod okta;
mod scan;
pub mod sensor;
mod tape;

use midwatch_model::Event;
use midwatch_model::event::RawRef;
use midwatch_model::hash::{Sha256Hex, sha256_hex};
use std::borrow::Cow;

pub use framing::{Limits, Normalized, Reject, normalize_body, normalize_bytes, normalize_reader};

/// Where a record sits in its file or batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordCtx {
    /// 1-based line (NDJSON) or item (JSON array) number.
    pub line: u64,
    /// Byte offset of the record's start.
    pub offset: u64,
}

/// Why one record could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", path.as_ref().map(|p| format!("`{p}`: ")).unwrap_or_default())]
pub struct ParseError {
    /// Dotted path of the offending field, when one field is at fault.
    pub path: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl ParseError {
    /// An error about the record as a whole.
    pub fn record(reason: impl Into<String>) -> ParseError {
        ParseError {
            path: None,
            reason: reason.into(),
        }
    }

    /// An error about one field.
    pub fn field(path: impl Into<String>, reason: impl Into<String>) -> ParseError {
        ParseError {
            path: Some(path.into()),
            reason: reason.into(),
        }
    }
}

/// What a source made of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// One or more events.
    Events(Vec<Event>),
    /// Not an event stream record (a digest file, a heartbeat); skipped with a note.
    Skip(String),
}

/// One source format.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The name used by `--source` and `?source=`.
    fn name(&self) -> &'static str;

    /// Parse one raw record.
    fn parse(&self, raw: &[u8], ctx: RecordCtx) -> Result<Parsed, ParseError>;

    /// Parse one raw record as [`Source::parse`] does, appending its events to `events`
    /// rather than to a vector of their own; `Some(note)` when the record is skipped. On
    /// error nothing is appended.
    fn parse_into(
        &self,
        raw: &[u8],
        ctx: RecordCtx,
        events: &mut Vec<Event>,
    ) -> Result<Option<String>, ParseError> {
        match self.parse(raw, ctx)? {
            Parsed::Events(evs) => {
                events.extend(evs);
                Ok(None)
            }
            Parsed::Skip(note) => Ok(Some(note)),
        }
    }
}

/// Every source midwatch knows, registered once.
pub fn registry() -> &'static [&'static dyn Source] {
    static SOURCES: &[&dyn Source] = &[
        &sensor::Sensor,
        &ocsf::Ocsf,
        &okta::Okta,
        &cloudtrail::CloudTrail,
        &entra_signin::EntraSignin,
        &entra_audit::EntraAudit,
        &m365::M365,
        &github::GitHub,
        &gws::Gws,
    ];
    SOURCES
}

/// The source registered under `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Source> {
    registry().iter().copied().find(|s| s.name() == name)
}

/// Names of every registered source, for error messages.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name()).collect()
}

/// Stamp an event with its source name and the reference to its raw record, whose
/// SHA-256 (hex) is `sha256`.
pub fn stamp(event: &mut Event, source: &'static str, sha256: Sha256Hex, ctx: RecordCtx) {
    if event.metadata.log_name.is_none() {
        event.metadata.log_name = Some(Cow::Borrowed(source));
    }
    event.midwatch.raw = Some(Box::new(RawRef {
        source: Cow::Borrowed(source),
        sha256,
        line: Some(ctx.line),
        offset: Some(ctx.offset),
    }));
}

/// A stable event id for a record whose source gives none: the source name and the first
/// 128 bits of the record's SHA-256, so re-reading the same record yields the same id.
pub fn derived_uid(source: &str, raw: &[u8]) -> String {
    let h = sha256_hex(raw);
    format!("{source}:{}", h.get(..32).unwrap_or(&h))
}
