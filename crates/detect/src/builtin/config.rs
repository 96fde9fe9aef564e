//! `detectors.toml`: turning built-in detectors on and off and tuning them by name.
//!
//! One table per detector; every key is optional and every detector is on with its
//! defaults when the file is absent. Unknown detector names, unknown keys, values of the
//! wrong type and values out of range are errors naming the file, the line and the key.

use super::{
    agent_scope, anonymizing_network, concurrent_session_use, ghost_login, impossible_travel,
    lookalike_domain, offboarded_activity, sensitive_without_strong_auth, session_replay,
    shadow_saas_login,
};
use serde::Deserialize;

/// Settings of every built-in detector.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinConfig {
    /// `[session_replay]`.
    pub session_replay: session_replay::Config,
    /// `[concurrent_session_use]`.
    pub concurrent_session_use: concurrent_session_use::Config,
    /// `[impossible_travel]`.
    pub impossible_travel: impossible_travel::Config,
    /// `[agent_scope]`.
    pub agent_scope: agent_scope::Config,
    /// `[offboarded_activity]`.
    pub offboarded_activity: offboarded_activity::Config,
    /// `[sensitive_without_strong_auth]`.
    pub sensitive_without_strong_auth: sensitive_without_strong_auth::Config,
    /// `[ghost_login]`.
    pub ghost_login: ghost_login::Config,
    /// `[shadow_saas_login]`.
    pub shadow_saas_login: shadow_saas_login::Config,
    /// `[lookalike_domain]`.
    pub lookalike_domain: lookalike_domain::Config,
    /// `[anonymizing_network]`.
    pub anonymizing_network: anonymizing_network::Config,
}

/// Why a `detectors.toml` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}", line.map(|l| format!(", line {l}")).unwrap_or_default(), key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The file, as the caller named it.
    pub file: String,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// Dotted key (`impossible_travel.max_kmh`), when the error is about one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// A value that must be checked beyond its type, with the key it was read from.
pub(crate) struct Invalid {
    pub key: &'static str,
    pub message: String,
}

impl Invalid {
    /// `key` is wrong because of `message`.
    pub(crate) fn new(key: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            key,
            message: message.into(),
        }
    }
}

/// Parse a `detectors.toml` (`file` names it in errors).
pub fn load_config(text: &str, file: &str) -> Result<BuiltinConfig, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, file, None, &e))?;
    let cfg: BuiltinConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = (!path.is_empty() && path != ".").then_some(path);
        toml_error(text, file, key, e.inner())
    })?;
    cfg.validate().map_err(|(table, bad)| {
        let key = format!("{table}.{}", bad.key);
        ConfigError {
            file: file.to_string(),
            line: locate(text, table, bad.key),
            key: Some(key),
            message: bad.message,
        }
    })?;
    Ok(cfg)
}

/// A TOML or type error, placed by its span.
fn toml_error(text: &str, file: &str, key: Option<String>, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|s| line_of(text, s.start));
    let mut message = e.message().trim().to_string();
    let mut key = key;
    if let Some(name) = unknown_field(&message) {
        let full = match key {
            Some(k) if k.ends_with(name.as_str()) => k,
            Some(k) => format!("{k}.{name}"),
            None => name.clone(),
        };
        // An unknown table at the top is an unknown detector.
        if !full.contains('.') {
            message = format!(
                "unknown detector `{name}`; the built-in detectors are {}",
                super::NAMES.join(", ")
            );
        }
        key = Some(full);
    }
    ConfigError {
        file: file.to_string(),
        line,
        key,
        message,
    }
}

/// The field named by serde's "unknown field `x`" message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len()))
        .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
        + 1
}

/// The line where `key` is set in `[table]` (or the table's own line when the key is set
/// in an inline form), for errors found after parsing.
fn locate(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = "";
    let mut table_line = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = name.trim();
            if current == table {
                table_line = Some(i + 1);
            }
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        if current == table && k == key {
            return Some(i + 1);
        }
        if current.is_empty() && k == table {
            table_line = Some(i + 1);
        }
    }
    table_line
}

impl BuiltinConfig {
    /// Range checks no type can express, naming the table and key at fault.
    fn validate(&self) -> Result<(), (&'static str, Invalid)> {
        let at = |table: &'static str| move |bad: Invalid| (table, bad);
        self.session_replay
            .validate()
            .map_err(at(session_replay::NAME))?;
        self.concurrent_session_use
            .validate()
            .map_err(at(concurrent_session_use::NAME))?;
        self.impossible_travel
            .validate()
            .map_err(at(impossible_travel::NAME))?;
        self.agent_scope.validate().map_err(at(agent_scope::NAME))?;
        self.offboarded_activity
            .validate()
            .map_err(at(offboarded_activity::NAME))?;
        self.sensitive_without_strong_auth
            .validate()
            .map_err(at(sensitive_without_strong_auth::NAME))?;
        self.ghost_login.validate().map_err(at(ghost_login::NAME))?;
        self.shadow_saas_login
            .validate()
            .map_err(at(shadow_saas_login::NAME))?;
        self.lookalike_domain
            .validate()
            .map_err(at(lookalike_domain::NAME))?;
        self.anonymizing_network
            .validate()
            .map_err(at(anonymizing_network::NAME))?;
        Ok(())
    }
}

/// Check a detector's `max_tracked`.
pub(crate) fn check_max_tracked(n: usize) -> Result<(), Invalid> {
    if n == 0 {
        return Err(Invalid::new("max_tracked", "must be at least 1"));
    }
    Ok(())
}

/// Default `max_tracked`: sessions or identities held per detector.
pub(crate) const DEFAULT_MAX_TRACKED: usize = 100_000;
