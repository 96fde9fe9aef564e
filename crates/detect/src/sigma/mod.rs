//! Sigma rules: loading, compiling and matching, with correlation rules.
//!
//! The path of a single-event rule: [`load`] reads YAML files into documents; each rule's
//! `detection` is parsed into its meaning ([`ast`]: search identifiers, field tests with
//! every modifier applied, the condition) and compiled into a fast form; the [`Engine`]
//! groups compiled rules by the records they read ([`logsource`]) and dispatches each
//! record to the few rules that can match it.
//!
//! Records are what rules look fields up in ([`record::Record`]): raw vendor records
//! ([`json`]), midwatch events with their session context ([`midwatch`]), and documents
//! ([`doc`]). Load errors carry a file, a line, a column and a stable code ([`error`]).

pub mod error;

pub use error::LoadError;

pub mod ast;
pub(crate) mod compiled;
pub mod condition;
pub mod correlation;
pub mod doc;
pub mod engine;
pub mod json;
pub mod load;
pub mod logsource;
pub mod midwatch;
pub mod pattern;
pub mod record;
pub mod rule;
pub(crate) mod tree;
pub mod yaml;

pub use doc::Doc;
pub use engine::{Engine, EngineOptions, EngineStats, FeedStats, Match};
pub use json::{JsonRecord, RecordError};
pub use load::{CorrelationDoc, LoadOptions, LoadReport, load_paths, load_str};
pub use logsource::FieldSpace;
pub use midwatch::MidwatchRecord;
pub use record::{FieldPath, Lookup, Record, Value};
pub use rule::{Example, Logsource, Rule, RuleMeta};
