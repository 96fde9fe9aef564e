//! The configuration file (`midwatch.toml`): where to listen, where data lives, stitching
//! windows and ingest limits. Every key is optional; unknown keys are errors so a typo
//! never silently falls back to a default.

use midwatch_model::timefmt::parse_duration_ms;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (SQLite database).
    pub data_dir: PathBuf,
    /// Inventory file (JSON or TOML) loaded at start.
    pub inventory: Option<PathBuf>,
    /// Session stitching.
    pub sessions: SessionsConfig,
    /// Ingest limits.
    pub limits: LimitsConfig,
    /// Pull connectors (`[[connectors]]`).
    pub connectors: Vec<midwatch_connectors::ConnectorConfig>,
    /// Detection.
    pub detect: DetectConfig,
    /// The evidence log.
    pub evidence: EvidenceConfig,
}

/// `[evidence]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// Append every event, finding, response and administrative action to the evidence log.
    pub enabled: bool,
    /// Log directory (default `DATA_DIR/evidence`).
    pub dir: Option<PathBuf>,
    /// Ed25519 signing key file, 64 hex digits (default `DATA_DIR/evidence.key`, created
    /// readable by its owner only when missing).
    pub signing_key: Option<PathBuf>,
    /// Sign a checkpoint after this many records …
    pub checkpoint_records: usize,
    /// … or this long after the first record it would cover (`200ms`).
    pub checkpoint_interval: String,
    /// Seal segments at this size, MiB.
    pub segment_mib: u64,
    /// Encrypt payloads with a key per identity (erasable).
    pub encrypt: bool,
    /// Keep URL query strings (dropped by default).
    pub keep_query_strings: bool,
    /// Payload fields replaced by a keyed pseudonym (`actor.user.email_addr`).
    pub pseudonymize: Vec<String>,
    /// Key file of the pseudonyms (default `DATA_DIR/pseudonym.key`, created when missing).
    pub pseudonym_key: Option<PathBuf>,
    /// Also append every checkpoint to this file (on another disk or host mount).
    pub anchor_file: Option<PathBuf>,
    /// Also POST every checkpoint to this URL.
    pub anchor_url: Option<String>,
    /// Retention per record kind (`event = "90d"`); kinds not named are kept.
    pub retention: std::collections::BTreeMap<String, String>,
    /// Keep a copy of sealed records grouped by session, so searches by session read a
    /// few long spans rather than a record at a time (about as much disk again).
    pub session_clusters: bool,
    /// Write the active segment straight to the device, around the page cache, where the
    /// file system allows it (it falls back to the page cache where not).
    pub direct_io: bool,
}

impl Default for EvidenceConfig {
    fn default() -> EvidenceConfig {
        EvidenceConfig {
            enabled: true,
            dir: None,
            signing_key: None,
            checkpoint_records: 1000,
            checkpoint_interval: "200ms".into(),
            segment_mib: 64,
            encrypt: true,
            keep_query_strings: false,
            pseudonymize: Vec::new(),
            pseudonym_key: None,
            anchor_file: None,
            anchor_url: None,
            retention: std::collections::BTreeMap::new(),
            session_clusters: true,
            direct_io: true,
        }
    }
}

/// The evidence settings, checked and resolved against the data directory.
#[derive(Debug, Clone)]
pub struct EvidenceSettings {
    /// Log directory.
    pub dir: PathBuf,
    /// Signing key file.
    pub signing_key: PathBuf,
    /// Writer configuration (without hooks).
    pub log: midwatch_evidence::Config,
    /// Retention per kind, ms.
    pub retention: std::collections::BTreeMap<midwatch_evidence::Kind, i64>,
    /// Where to POST checkpoints.
    pub anchor_url: Option<String>,
}

impl Config {
    /// The evidence log this configuration asks for (`None` when disabled). Creates the
    /// pseudonym key file when pseudonyms are asked for and it does not exist.
    pub fn evidence(&self) -> Result<Option<EvidenceSettings>, ConfigError> {
        let e = &self.evidence;
        if !e.enabled {
            return Ok(None);
        }
        let interval = parse_duration_ms(&e.checkpoint_interval)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                ConfigError(format!(
                    "`evidence.checkpoint_interval`: `{}` is not a duration like `200ms` or `1s`",
                    e.checkpoint_interval
                ))
            })?;
        if e.checkpoint_records == 0 {
            return Err(ConfigError(
                "`evidence.checkpoint_records` must be greater than 0".into(),
            ));
        }
        if !(1..=2048).contains(&e.segment_mib) {
            return Err(ConfigError(
                "`evidence.segment_mib` must be between 1 and 2048".into(),
            ));
        }
        let mut retention = std::collections::BTreeMap::new();
        for (k, v) in &e.retention {
            let kind = midwatch_evidence::Kind::parse(k).ok_or_else(|| {
                ConfigError(format!(
                    "`evidence.retention.{k}`: not a record kind (event, finding, decision, response, admin)"
                ))
            })?;
            let ms = parse_duration_ms(v).filter(|ms| *ms > 0).ok_or_else(|| {
                ConfigError(format!(
                    "`evidence.retention.{k}`: `{v}` is not a duration like `90d`"
                ))
            })?;
            retention.insert(kind, ms);
        }
        if let Some(u) = &e.anchor_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError(format!(
                "`evidence.anchor_url`: `{u}` is not an http(s) URL"
            )));
        }
        let pseudonym_key = if e.pseudonymize.is_empty() {
            None
        } else {
            let path = e
                .pseudonym_key
                .clone()
                .unwrap_or_else(|| self.data_dir.join("pseudonym.key"));
            Some(
                midwatch_evidence::sign::load_or_create_secret(&path)
                    .map_err(|err| ConfigError(format!("`evidence.pseudonym_key`: {err}")))?,
            )
        };
        Ok(Some(EvidenceSettings {
            dir: e
                .dir
                .clone()
                .unwrap_or_else(|| self.data_dir.join("evidence")),
            signing_key: e
                .signing_key
                .clone()
                .unwrap_or_else(|| self.data_dir.join("evidence.key")),
            log: midwatch_evidence::Config {
                checkpoint_records: e.checkpoint_records,
                checkpoint_interval: std::time::Duration::from_millis(interval as u64),
                segment_bytes: e.segment_mib << 20,
                encrypt: e.encrypt,
                privacy: midwatch_evidence::Privacy {
                    keep_query_strings: e.keep_query_strings,
                    pseudonymize: e.pseudonymize.clone(),
                    pseudonym_key,
                },
                anchor_file: e.anchor_file.clone(),
                cluster_fan: if e.session_clusters {
                    midwatch_evidence::Config::default().cluster_fan
                } else {
                    0
                },
                direct_io: e.direct_io,
                ..midwatch_evidence::Config::default()
            },
            retention,
            anchor_url: e.anchor_url.clone(),
        }))
    }
}

/// `[detect]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Run the session-abuse pack shipped with midwatch.
    pub pack: bool,
    /// More rule directories (Sigma rules and a `detectors.toml` each).
    pub rules: Vec<PathBuf>,
    /// MaxMind-format database giving country, position, ASN and anonymizer flags of IPs.
    pub geoip: Option<PathBuf>,
    /// Values for Sigma `%placeholder%`s used with the `expand` modifier.
    pub placeholders: std::collections::BTreeMap<String, Vec<String>>,
    /// Alerts of one rule on one session fold into one finding within this window (`24h`).
    pub fold_window: String,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            pack: true,
            rules: Vec::new(),
            geoip: None,
            placeholders: std::collections::BTreeMap::new(),
            fold_window: "24h".into(),
        }
    }
}

/// `[sessions]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Close a session after this long without events (`30m`).
    pub idle_timeout: String,
    /// Close a session this long after it began (`12h`).
    pub absolute_lifetime: String,
    /// Accept out-of-order events this far behind the newest (`5m`).
    pub lateness: String,
    /// Also close idle sessions by wall-clock time (off for replays of old data).
    pub wall_clock_sweep: bool,
}

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Longest record, bytes (that record rejected above).
    pub max_line_bytes: usize,
    /// Most records in one batch (413 above).
    pub max_batch_records: usize,
    /// Batches waiting for the writer before ingest answers 429.
    pub queue_depth: usize,
    /// Ingest requests being read or parsed at once before ingest answers 429, so
    /// memory is bounded by `max_inflight_batches * max_body_bytes` however many clients
    /// connect.
    pub max_inflight_batches: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            data_dir: PathBuf::from("midwatch-data"),
            inventory: None,
            sessions: SessionsConfig::default(),
            limits: LimitsConfig::default(),
            connectors: Vec::new(),
            detect: DetectConfig::default(),
            evidence: EvidenceConfig::default(),
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> SessionsConfig {
        SessionsConfig {
            idle_timeout: "30m".into(),
            absolute_lifetime: "12h".into(),
            lateness: "5m".into(),
            wall_clock_sweep: true,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_line_bytes: 1024 * 1024,
            max_batch_records: 50_000,
            queue_depth: 32,
            max_inflight_batches: 16,
        }
    }
}

impl Config {
    /// Parse TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text)
            .map_err(|e| ConfigError(format!("{origin}: {}", e.to_string().trim_end())))?;
        cfg.stitching()
            .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        cfg.evidence_checked()
            .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        cfg.limits
            .validate()
            .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        let mut names = std::collections::BTreeSet::new();
        for c in &cfg.connectors {
            if !names.insert(c.name.as_str()) {
                return Err(ConfigError(format!(
                    "{origin}: connector name `{}` is used twice",
                    c.name
                )));
            }
        }
        Ok(cfg)
    }

    /// The stitcher configuration these settings describe.
    pub fn stitching(&self) -> Result<midwatch_sessions::Config, ConfigError> {
        let d = |key: &str, v: &str| {
            parse_duration_ms(v).filter(|ms| *ms > 0).ok_or_else(|| {
                ConfigError(format!(
                    "`sessions.{key}`: `{v}` is not a duration like `90s`, `30m`, `12h` or `7d`"
                ))
            })
        };
        let s = &self.sessions;
        Ok(midwatch_sessions::Config {
            idle_timeout_ms: d("idle_timeout", &s.idle_timeout)?,
            absolute_lifetime_ms: d("absolute_lifetime", &s.absolute_lifetime)?,
            lateness_ms: d("lateness", &s.lateness)?,
            ..midwatch_sessions::Config::default()
        })
    }
}

impl Config {
    /// Check the `[evidence]` section without creating key files.
    fn evidence_checked(&self) -> Result<(), ConfigError> {
        let mut probe = self.clone();
        probe.evidence.pseudonymize.clear();
        probe.evidence().map(|_| ())
    }

    /// The detection stage this configuration asks for.
    pub fn detection(&self) -> Result<midwatch_detect::detection::Detection, ConfigError> {
        let d = &self.detect;
        let window_ms = parse_duration_ms(&d.fold_window)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                ConfigError(format!(
                    "`detect.fold_window`: `{}` is not a duration like `30m`, `12h` or `7d`",
                    d.fold_window
                ))
            })?;
        let fold = midwatch_detect::findings::FoldConfig {
            window_ms,
            ..Default::default()
        };
        let rules = midwatch_detect::rules::RuleSet::load(&midwatch_detect::rules::RuleOptions {
            pack: d.pack,
            dirs: d.rules.clone(),
            placeholders: d.placeholders.clone(),
            geoip: d.geoip.clone(),
        })
        .map_err(|e| ConfigError(format!("`detect`: {e}")))?;
        for r in rules.report() {
            if let midwatch_detect::rules::RuleStatus::Unsupported(e) = &r.status {
                tracing::warn!(rule = %e, "rule not loaded");
            }
        }
        rules
            .detection(fold)
            .map_err(|e| ConfigError(format!("`detect`: {e}")))
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_line_bytes", self.max_line_bytes),
            ("max_batch_records", self.max_batch_records),
            ("queue_depth", self.queue_depth),
            ("max_inflight_batches", self.max_inflight_batches),
        ] {
            if v == 0 {
                return Err(ConfigError(format!(
                    "`limits.{key}` must be greater than 0"
                )));
            }
        }
        Ok(())
    }

    /// The framing limits for one batch.
    pub fn framing(&self) -> midwatch_sources::Limits {
        midwatch_sources::Limits {
            max_line_bytes: self.max_line_bytes,
            max_records: self.max_batch_records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_toml("", "x.toml").unwrap();
        assert_eq!(c, Config::default());
        let c = Config::from_toml(
            "listen = \"127.0.0.1:9000\"\n[sessions]\nidle_timeout = \"10m\"\n[limits]\nqueue_depth = 4\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.stitching().unwrap().idle_timeout_ms, 600_000);
        assert_eq!(c.limits.queue_depth, 4);
    }

    #[test]
    fn errors_name_file_and_key() {
        let err = Config::from_toml("[sessions]\nidle_timeout = \"soon\"\n", "m.toml").unwrap_err();
        assert!(
            err.0.starts_with("m.toml: `sessions.idle_timeout`"),
            "{err}"
        );
        let err = Config::from_toml("lisen = 1\n", "m.toml").unwrap_err();
        assert!(err.0.contains("unknown field `lisen`"), "{err}");
        assert!(err.0.contains("line 1"), "{err}");
        let err = Config::from_toml("[limits]\nqueue_depth = 0\n", "m.toml").unwrap_err();
        assert!(err.0.contains("limits.queue_depth"), "{err}");
        let err = Config::from_toml("listen = \"nowhere\"\n", "m.toml").unwrap_err();
        assert!(err.0.contains("m.toml"), "{err}");
    }

    #[test]
    fn session_clusters_are_on_by_default_and_can_be_turned_off() {
        let on = Config::from_toml("", "x.toml").unwrap();
        let fan = |c: &Config| c.evidence().unwrap().map(|e| e.log.cluster_fan);
        assert_eq!(
            fan(&on),
            Some(midwatch_evidence::Config::default().cluster_fan)
        );
        let off = Config::from_toml("[evidence]\nsession_clusters = false\n", "x.toml").unwrap();
        assert_eq!(fan(&off), Some(0));
        let err =
            Config::from_toml("[evidence]\nsession_clusters = \"maybe\"\n", "m.toml").unwrap_err();
        assert!(err.0.contains("session_clusters"), "{err}");
        assert!(err.0.starts_with("m.toml"), "{err}");
    }

    #[test]
    fn direct_writes_are_on_by_default_and_can_be_turned_off() {
        let direct = |c: &Config| c.evidence().unwrap().map(|e| e.log.direct_io);
        assert_eq!(
            direct(&Config::from_toml("", "x.toml").unwrap()),
            Some(true)
        );
        let off = Config::from_toml("[evidence]\ndirect_io = false\n", "x.toml").unwrap();
        assert_eq!(direct(&off), Some(false));
        let err = Config::from_toml("[evidence]\ndirect_io = 1\n", "m.toml").unwrap_err();
        assert!(err.0.contains("direct_io"), "{err}");
    }
}
