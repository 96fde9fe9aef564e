//! midwatch's evidence: every event, finding, decision, response and administrative action
//! appended to a hash-chained log with signed checkpoints, which an auditor can verify without
//! midwatch's server, search, and export as a self-contained bundle.
//!
//! - [`log`]: the writer (segments, group commit, checkpoints, manifest, recovery, retention,
//!   erasure);
//! - [`verify`]: checks a log directory; [`bundle`] exports and checks bundles;
//! - [`search`]: indexed queries; [`privacy`]: payload cleaning and per-identity encryption;
//! - [`codec`], [`merkle`], [`sign`], [`manifest`], [`index`]: the formats.
//!
//! The log's formats are defined here and nowhere else.

pub mod bundle;
mod cluster;
pub mod codec;
mod direct;
pub mod html;
pub mod index;
pub mod log;
pub mod manifest;
pub mod merkle;
pub mod privacy;
mod readahead;
pub mod records;
pub mod search;
pub mod sign;
pub mod verify;

pub use codec::Kind;
pub use log::{Config, Failpoint, Log, LogError, NewRecord, Receipt};
pub use privacy::Privacy;
pub use search::{Hit, Page, Query, Snapshot};
pub use sign::{Checkpoint, Signer, Tombstone};
pub use verify::{Options as VerifyOptions, Report, Status};

/// Now, epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
