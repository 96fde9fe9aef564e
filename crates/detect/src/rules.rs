//! Rule sets: the shipped session-abuse pack and rule directories, loaded into one set
//! that reports on every rule, runs their examples and builds a [`Detection`].
//!
//! A rule directory holds Sigma rules (`.yml`/`.yaml`, single-event and correlation rules,
//! several per file with `---`) and optionally a `detectors.toml` that enables, disables and
//! tunes the built-in detectors by name. The pack is embedded in the binary and loaded
//! first; directories follow in the order given.
//!
//! Rule examples live in a custom `examples` attribute: for a single-event rule,
//! `match` and `no_match` lists of documents in the rule's field space; for a correlation
//! rule, lists of event sequences (each event a document with a `time` in epoch ms).

use crate::builtin::{self, Detector};
use crate::detection::Detection;
use crate::findings::FoldConfig;
use crate::geo::GeoDb;
use crate::sigma::correlation::{self, CorrelationMeta, CorrelationRule, Correlator};
use crate::sigma::{self, Doc, Engine, LoadError, LoadOptions, Record, Rule};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The shipped session-abuse pack: file name and text.
const PACK: &[(&str, &str)] = &[
    (
        "pack/mfa_fatigue.yml",
        include_str!("../pack/mfa_fatigue.yml"),
    ),
    (
        "pack/oauth_consent_then_export.yml",
        include_str!("../pack/oauth_consent_then_export.yml"),
    ),
    (
        "pack/privilege_then_secret.yml",
        include_str!("../pack/privilege_then_secret.yml"),
    ),
    (
        "pack/extension_then_clipboard.yml",
        include_str!("../pack/extension_then_clipboard.yml"),
    ),
    (
        "pack/token_then_elsewhere.yml",
        include_str!("../pack/token_then_elsewhere.yml"),
    ),
    (
        "pack/mass_export.yml",
        include_str!("../pack/mass_export.yml"),
    ),
];

/// The pack's built-in detector settings.
const PACK_DETECTORS: (&str, &str) = (
    "pack/detectors.toml",
    include_str!("../pack/detectors.toml"),
);

/// Where rules come from.
#[derive(Debug, Clone, Default)]
pub struct RuleOptions {
    /// Load the shipped session-abuse pack.
    pub pack: bool,
    /// Rule directories (or single rule files).
    pub dirs: Vec<PathBuf>,
    /// Values of Sigma `%placeholder%`s.
    pub placeholders: BTreeMap<String, Vec<String>>,
    /// MaxMind-format database for the geo-aware detectors.
    pub geoip: Option<PathBuf>,
}

/// Why a rule set could not be loaded at all (a single bad rule is only reported).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A rule directory does not exist or cannot be read.
    #[error("rule directory `{}`: {reason}", path.display())]
    Dir {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A `detectors.toml` is invalid.
    #[error("{0}")]
    Detectors(String),
    /// The geo database cannot be used.
    #[error("{0}")]
    Geo(String),
}

/// How one rule fared.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleStatus {
    /// Loaded; the note says what is special (e.g. no source feeds its logsource).
    Loaded {
        /// A remark for `rules check`.
        note: Option<String>,
    },
    /// Not loaded, and why.
    Unsupported(LoadError),
}

/// One line of `midwatch rules check`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    /// File.
    pub file: PathBuf,
    /// Line of the rule's document.
    pub line: usize,
    /// `rule`, `correlation` or `detector`.
    pub kind: &'static str,
    /// Id (or name, or title).
    pub id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: RuleStatus,
}

impl RuleReport {
    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The outcome of one rule's tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// Rule id.
    pub rule: String,
    /// Cases run.
    pub cases: usize,
    /// What went wrong, one line each.
    pub failures: Vec<String>,
}

/// One example of a correlation rule: events in order, and whether it must fire.
#[derive(Debug, Clone)]
struct SequenceExample {
    expect_match: bool,
    events: Vec<Doc>,
    line: usize,
}

/// A loaded rule set.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    correlations: Vec<CorrelationRule>,
    sequence_examples: Vec<(Arc<CorrelationMeta>, Vec<SequenceExample>)>,
    detectors: builtin::BuiltinConfig,
    geo: Option<Arc<GeoDb>>,
    report: Vec<RuleReport>,
}

impl RuleSet {
    /// Load the pack (if asked) and every directory.
    pub fn load(opts: &RuleOptions) -> Result<RuleSet, RulesError> {
        let sigma_opts = LoadOptions {
            placeholders: opts.placeholders.clone(),
        };
        let mut loaded = sigma::LoadReport::default();
        let mut detector_files: Vec<(PathBuf, String)> = Vec::new();
        if opts.pack {
            for (file, text) in PACK {
                merge(&mut loaded, sigma::load_str(text, file, &sigma_opts));
            }
            detector_files.push((PathBuf::from(PACK_DETECTORS.0), PACK_DETECTORS.1.into()));
        }
        for dir in &opts.dirs {
            let meta = std::fs::metadata(dir).map_err(|e| RulesError::Dir {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            merge(
                &mut loaded,
                sigma::load_paths(std::slice::from_ref(dir), &sigma_opts),
            );
            let toml = dir.join("detectors.toml");
            if meta.is_dir() && toml.is_file() {
                let text = std::fs::read_to_string(&toml).map_err(|e| RulesError::Dir {
                    path: toml.clone(),
                    reason: e.to_string(),
                })?;
                detector_files.push((toml, text));
            }
        }
        let detectors = detector_config(&detector_files)?;
        let geo = match &opts.geoip {
            None => None,
            Some(p) => Some(Arc::new(
                GeoDb::open(p).map_err(|e| RulesError::Geo(e.to_string()))?,
            )),
        };
        let mut set = RuleSet {
            rules: Vec::new(),
            correlations: Vec::new(),
            sequence_examples: Vec::new(),
            detectors,
            geo,
            report: Vec::new(),
        };
        set.take(loaded);
        Ok(set)
    }

    fn take(&mut self, loaded: sigma::LoadReport) {
        for rule in &loaded.rules {
            let note = (!rule.field_space().is_fed())
                .then(|| "no source feeds this logsource".to_string());
            self.report.push(RuleReport {
                file: rule.meta.file.clone(),
                line: rule.meta.line,
                kind: "rule",
                id: rule.meta.key().to_string(),
                title: rule.meta.title.clone(),
                status: RuleStatus::Loaded { note },
            });
        }
        for e in loaded.unsupported {
            self.report.push(RuleReport {
                file: e.file.clone(),
                line: e.line,
                kind: "rule",
                id: String::new(),
                title: String::new(),
                status: RuleStatus::Unsupported(e),
            });
        }
        self.rules = loaded.rules;
        let mut candidates = Vec::new();
        for doc in &loaded.correlation_docs {
            match correlation::parse(&doc.yaml, &doc.file) {
                Ok(rule) => {
                    let examples = sequence_examples(&Doc::from_yaml(&doc.yaml), doc.line);
                    candidates.push((rule, doc.file.clone(), doc.line, examples));
                }
                Err(e) => self.report.push(RuleReport {
                    file: doc.file.clone(),
                    line: doc.line,
                    kind: "correlation",
                    id: String::new(),
                    title: String::new(),
                    status: RuleStatus::Unsupported(e),
                }),
            }
        }
        // A correlation referencing a rule that is not loaded cannot fire: report it.
        let known = |r: &str| {
            self.rules
                .iter()
                .any(|x| x.meta.id.as_deref() == Some(r) || x.meta.name.as_deref() == Some(r))
                || candidates.iter().any(|(c, ..)| {
                    c.meta.id.as_deref() == Some(r) || c.meta.name.as_deref() == Some(r)
                })
        };
        let mut keep = Vec::new();
        for (rule, file, line, examples) in &candidates {
            let missing: Vec<&str> = rule
                .rules
                .iter()
                .map(|r| r.reference.as_str())
                .filter(|r| !known(r))
                .collect();
            let id = correlation_key(&rule.meta);
            let status = if missing.is_empty() {
                keep.push((rule.clone(), examples.clone()));
                RuleStatus::Loaded { note: None }
            } else {
                RuleStatus::Unsupported(LoadError {
                    file: file.clone(),
                    line: *line,
                    column: 0,
                    code: "C0100",
                    message: format!(
                        "correlation `{id}` references rules that are not loaded: {}",
                        missing.join(", ")
                    ),
                })
            };
            self.report.push(RuleReport {
                file: file.clone(),
                line: *line,
                kind: "correlation",
                id,
                title: rule.meta.title.clone(),
                status,
            });
        }
        for (rule, examples) in keep {
            self.sequence_examples.push((rule.meta.clone(), examples));
            self.correlations.push(rule);
        }
        for d in builtin::build(&self.detectors, None) {
            let name = d.name();
            self.report.push(RuleReport {
                file: PathBuf::from("detectors.toml"),
                line: 0,
                kind: "detector",
                id: format!("midwatch.builtin.{name}"),
                title: name.to_string(),
                status: RuleStatus::Loaded { note: None },
            });
        }
    }

    /// Every rule, correlation and built-in detector, loaded or not.
    pub fn report(&self) -> &[RuleReport] {
        &self.report
    }

    /// The loaded single-event rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The loaded correlation rules.
    pub fn correlations(&self) -> &[CorrelationRule] {
        &self.correlations
    }

    /// A detection stage running every loaded rule, correlation and enabled detector.
    pub fn detection(&self, fold: FoldConfig) -> Result<Detection, RulesError> {
        let engine = Engine::new(self.rules.clone());
        let correlator = Correlator::new(self.correlations.clone())
            .map_err(|e| RulesError::Detectors(e.to_string()))?;
        let detectors: Vec<Box<dyn Detector>> = builtin::build(&self.detectors, self.geo.clone());
        Ok(Detection::with_sigma(engine, correlator, detectors, fold))
    }

    /// Run every rule's examples (single-event rules: each document; correlation rules:
    /// each event sequence through a fresh correlator).
    pub fn test(&self) -> Vec<TestResult> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let mut r = TestResult {
                rule: rule.meta.key().to_string(),
                cases: 0,
                failures: Vec::new(),
            };
            for ex in &rule.meta.examples {
                r.cases += 1;
                if rule.is_match(&ex.doc) != ex.expect_match {
                    r.failures.push(format!(
                        "{}:{}: example should {}match",
                        rule.meta.file.display(),
                        ex.line,
                        if ex.expect_match { "" } else { "not " }
                    ));
                }
            }
            if r.cases > 0 {
                out.push(r);
            }
        }
        for (meta, examples) in &self.sequence_examples {
            let mut r = TestResult {
                rule: correlation_key(meta),
                cases: 0,
                failures: Vec::new(),
            };
            for ex in examples {
                r.cases += 1;
                let fired = self.run_sequence(meta, &ex.events);
                if fired != ex.expect_match {
                    r.failures.push(format!(
                        "line {}: event sequence should {}fire the correlation",
                        ex.line,
                        if ex.expect_match { "" } else { "not " }
                    ));
                }
            }
            if r.cases > 0 {
                out.push(r);
            }
        }
        out
    }

    /// Feed `events` through every rule and a fresh correlator; whether `meta` fired.
    fn run_sequence(&self, meta: &Arc<CorrelationMeta>, events: &[Doc]) -> bool {
        let Ok(mut correlator) = Correlator::new(self.correlations.clone()) else {
            return false;
        };
        let mut fired = false;
        let mut out = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            let time = ev
                .first_string("time")
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0);
            let event_id = format!("example-{i}");
            for rule in self.rules.iter().filter(|r| r.is_match(ev)) {
                let field = |f: &str| ev.first_string(f);
                correlator.observe(
                    &correlation::BaseMatch {
                        rule_id: rule.meta.key(),
                        rule_name: rule.meta.name.as_deref(),
                        time_ms: time,
                        event_id: &event_id,
                        field: &field,
                    },
                    &mut out,
                );
            }
            fired |= out.iter().any(|m| Arc::ptr_eq(&m.rule, meta));
            out.clear();
        }
        fired
    }
}

/// How to name a correlation rule: its id, else its name, else its title.
pub fn correlation_key(meta: &CorrelationMeta) -> String {
    meta.id
        .clone()
        .or_else(|| meta.name.clone())
        .unwrap_or_else(|| meta.title.clone())
}

/// Each `detectors.toml` is checked on its own (so errors name its file and line), then
/// merged table by table: a later file's table replaces the same table of an earlier one.
fn detector_config(files: &[(PathBuf, String)]) -> Result<builtin::BuiltinConfig, RulesError> {
    let mut merged = toml::Table::new();
    for (file, text) in files {
        let name = file.display().to_string();
        builtin::load_config(text, &name).map_err(|e| RulesError::Detectors(e.to_string()))?;
        let table: toml::Table =
            toml::from_str(text).map_err(|e| RulesError::Detectors(format!("{name}: {e}")))?;
        for (k, v) in table {
            merged.insert(k, v);
        }
    }
    let text = toml::to_string(&merged)
        .map_err(|e| RulesError::Detectors(format!("detectors.toml: {e}")))?;
    builtin::load_config(&text, "detectors.toml").map_err(|e| RulesError::Detectors(e.to_string()))
}

fn merge(into: &mut sigma::LoadReport, from: sigma::LoadReport) {
    into.rules.extend(from.rules);
    into.unsupported.extend(from.unsupported);
    into.correlation_docs.extend(from.correlation_docs);
    into.files += from.files;
    into.filters += from.filters;
}

/// `midwatch.examples.match|no_match` of a correlation document: lists of event lists.
fn sequence_examples(doc: &Doc, line: usize) -> Vec<SequenceExample> {
    let mut out = Vec::new();
    for (key, expect_match) in [("match", true), ("no_match", false)] {
        if let Some(Doc::List(seqs)) = child(doc, &["examples", key]) {
            for seq in seqs {
                if let Doc::List(events) = seq {
                    out.push(SequenceExample {
                        expect_match,
                        events: events.clone(),
                        line,
                    });
                }
            }
        }
    }
    out
}

fn child<'a>(doc: &'a Doc, path: &[&str]) -> Option<&'a Doc> {
    let mut at = doc;
    for key in path {
        let Doc::Map(entries) = at else {
            return None;
        };
        at = entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)?;
    }
    Some(at)
}

/// The rule files of the pack, for tests and documentation.
pub fn pack_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    PACK.iter().copied()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use midwatch_model::Severity;

    fn pack() -> RuleSet {
        RuleSet::load(&RuleOptions {
            pack: true,
            ..RuleOptions::default()
        })
        .unwrap()
    }

    fn has(tags: &[String], prefix: &str) -> bool {
        tags.iter().any(|t| t.starts_with(prefix))
    }

    #[test]
    fn the_pack_loads_whole_and_its_examples_pass() {
        let set = pack();
        let bad: Vec<_> = set
            .report()
            .iter()
            .filter(|r| matches!(r.status, RuleStatus::Unsupported(_)))
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        for r in set.test() {
            assert!(r.failures.is_empty(), "{}: {:?}", r.rule, r.failures);
        }
        // Every rule and correlation carries examples.
        let with_examples = set.test().len();
        assert_eq!(with_examples, set.rules().len() + set.correlations().len());
    }

    #[test]
    fn every_alerting_pack_rule_names_attack_nist_and_owasp_references() {
        let set = pack();
        let alerting_rules = set
            .rules()
            .iter()
            .filter(|r| r.meta.level >= Severity::Medium)
            .map(|r| (r.meta.key().to_string(), r.meta.tags.clone()));
        let alerting_correlations = set
            .correlations()
            .iter()
            .filter(|c| c.meta.level.unwrap_or(Severity::Medium) >= Severity::Low)
            .map(|c| (correlation_key(&c.meta), c.meta.tags.clone()));
        let mut n = 0;
        for (id, tags) in alerting_rules.chain(alerting_correlations) {
            n += 1;
            assert!(has(&tags, "attack.t"), "{id}: no ATT&CK technique");
            assert!(has(&tags, "nist_csf."), "{id}: no NIST CSF 2.0 reference");
            assert!(has(&tags, "owasp_nhi."), "{id}: no OWASP NHI reference");
        }
        assert!(n >= 7, "{n}");
    }
}
