//! `midwatch detect`, `midwatch rules check|test` and `midwatch score`: detection run
//! offline over files, through the same analyzer the server runs.

use crate::{UsageError, usage};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use midwatch_detect::analyze::Analyzer;
use midwatch_detect::detection::RawIndex;
use midwatch_detect::findings::FoldConfig;
use midwatch_detect::rules::{RuleOptions, RuleSet, RuleStatus};
use midwatch_model::inventory::InventoryDoc;
use midwatch_model::{Event, Finding, Inventory, Severity};
use midwatch_sessions::Stitcher;
use midwatch_sources::Limits;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where rules come from, shared by the detection commands.
#[derive(Debug, Args)]
pub struct RuleArgs {
    /// A rule directory (Sigma rules, correlation rules, a `detectors.toml`); repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Leave out the session-abuse pack shipped with midwatch.
    #[arg(long)]
    no_pack: bool,
    /// Value for a Sigma `%placeholder%` (`NAME=VALUE`, repeatable).
    #[arg(long = "placeholder", value_name = "NAME=VALUE")]
    placeholders: Vec<String>,
    /// MaxMind-format database for IP country, position, ASN and anonymizer flags.
    #[arg(long)]
    geoip: Option<PathBuf>,
}

impl RuleArgs {
    fn options(&self) -> anyhow::Result<RuleOptions> {
        let mut placeholders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &self.placeholders {
            let (name, value) = p
                .split_once('=')
                .ok_or_else(|| usage(format!("`--placeholder {p}`: expected NAME=VALUE")))?;
            placeholders
                .entry(name.trim_matches('%').to_string())
                .or_default()
                .push(value.to_string());
        }
        Ok(RuleOptions {
            pack: !self.no_pack,
            dirs: self.dirs.clone(),
            placeholders,
            geoip: self.geoip.clone(),
        })
    }

    fn load(&self) -> anyhow::Result<RuleSet> {
        RuleSet::load(&self.options()?).map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
    }
}

/// `midwatch detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    rules: RuleArgs,
    /// Source format of the files.
    #[arg(long, default_value = "sensor")]
    source: String,
    /// Inventory of identities and apps (JSON or TOML).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Exit 1 when there is any finding.
    #[arg(long)]
    fail_on_findings: bool,
    /// Only print findings at least this severe.
    #[arg(long, default_value = "informational")]
    min_severity: String,
    /// Files to read (NDJSON, JSON arrays or single documents).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// `midwatch rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rules and say, for each, whether it loaded or why not.
    Check(RulesCheckArgs),
    /// Run every rule's examples and generated cases.
    Test(RulesCheckArgs),
}

/// `midwatch rules check|test DIR…`.
#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Rule directories or files.
    dirs: Vec<PathBuf>,
    /// Also include the shipped session-abuse pack (the default when no directory is given).
    #[arg(long)]
    pack: bool,
    /// Value for a Sigma `%placeholder%` (`NAME=VALUE`, repeatable).
    #[arg(long = "placeholder", value_name = "NAME=VALUE")]
    placeholders: Vec<String>,
}

impl RulesCheckArgs {
    fn load(&self) -> anyhow::Result<RuleSet> {
        RuleArgs {
            dirs: self.dirs.clone(),
            no_pack: !(self.pack || self.dirs.is_empty()),
            placeholders: self.placeholders.clone(),
            geoip: None,
        }
        .load()
    }
}

/// `midwatch score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    rules: RuleArgs,
    /// A directory written by `midwatch simulate` (events.ndjson, labels.ndjson,
    /// inventory.json, and detectors.toml, which is applied).
    dir: PathBuf,
    /// Print the score as JSON.
    #[arg(long)]
    json: bool,
}

/// Everything `detect` found, in the order findings were opened.
struct Run {
    findings: Vec<Finding>,
    events: usize,
    rejected: usize,
}

fn read_inventory(path: Option<&Path>) -> anyhow::Result<Inventory> {
    let Some(path) = path else {
        return Ok(Inventory::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read inventory `{}`: {e}", path.display())))?;
    let doc = InventoryDoc::parse(&text)
        .map_err(|e| usage(format!("inventory `{}`: {e}", path.display())))?;
    Inventory::from_doc(doc).map_err(|e| usage(format!("inventory `{}`: {e}", path.display())))
}

/// Normalize every file, put all events in time order, and analyze them.
fn run(
    rules: &RuleSet,
    source_name: &str,
    inventory: Inventory,
    files: &[PathBuf],
) -> anyhow::Result<Run> {
    let source = midwatch_sources::by_name(source_name).ok_or_else(|| {
        usage(format!(
            "source `{source_name}` is not one of {}",
            midwatch_sources::names().join(", ")
        ))
    })?;
    let mut events: Vec<Event> = Vec::new();
    let mut raw = Vec::new();
    let mut rejected = 0;
    for file in files {
        let bytes = std::fs::read(file)
            .map_err(|e| usage(format!("cannot read `{}`: {e}", file.display())))?;
        let n = midwatch_sources::normalize_body(source, bytes.into(), &Limits::default());
        for r in &n.rejects {
            eprintln!("{}: line {}: {}", file.display(), r.line, r.reason);
        }
        rejected += n.rejects.len();
        events.extend(n.events);
        raw.extend(n.raw);
    }
    // Stream order is event time (ties keep input order), as a live feed would deliver it.
    events.sort_by_key(|e| e.time);
    let mut raw_index = RawIndex::new(&raw);
    let detection = rules.detection(FoldConfig::default())?;
    let mut analyzer = Analyzer::new(
        inventory,
        Stitcher::new(midwatch_sessions::Config::default()),
        detection,
    );
    let mut order: Vec<String> = Vec::new();
    let mut latest: HashMap<String, Finding> = HashMap::new();
    let total = events.len();
    for mut e in events {
        let raw_input = raw_index.first_for(&e);
        for f in analyzer.analyze(&mut e, raw_input).findings {
            if f.new {
                order.push(f.finding.id.clone());
            }
            latest.insert(f.finding.id.clone(), f.finding);
        }
    }
    let findings = order.iter().filter_map(|id| latest.remove(id)).collect();
    Ok(Run {
        findings,
        events: total,
        rejected,
    })
}

/// `midwatch detect`: findings as OCSF NDJSON on stdout.
pub fn detect(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let min = Severity::parse(&args.min_severity).ok_or_else(|| {
        usage(format!(
            "`--min-severity`: `{}` is not one of informational, low, medium, high, critical",
            args.min_severity
        ))
    })?;
    let rules = args.rules.load()?;
    let inventory = read_inventory(args.inventory.as_deref())?;
    let run = run(&rules, &args.source, inventory, &args.files)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut shown = 0;
    for f in run.findings.iter().filter(|f| f.severity >= min) {
        shown += 1;
        writeln!(out, "{}", f.to_ocsf()).context("writing findings")?;
    }
    out.flush().context("writing findings")?;
    eprintln!(
        "events {}, rejected {}, findings {shown}",
        run.events, run.rejected
    );
    Ok(if args.fail_on_findings && shown > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `midwatch rules check`.
pub fn rules(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Check(args) => check(&args),
        RulesCommand::Test(args) => test(&args),
    }
}

fn check(args: &RulesCheckArgs) -> anyhow::Result<ExitCode> {
    let rules = args.load()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut loaded, mut unsupported) = (0, 0);
    for r in rules.report() {
        match &r.status {
            RuleStatus::Loaded { note } => {
                loaded += 1;
                let note = note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                writeln!(out, "{}: loaded {} {}{note}", r.location(), r.kind, r.title)?;
            }
            RuleStatus::Unsupported(e) => {
                unsupported += 1;
                writeln!(out, "{e}")?;
            }
        }
    }
    writeln!(out, "loaded {loaded}, unsupported {unsupported}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn test(args: &RulesCheckArgs) -> anyhow::Result<ExitCode> {
    let rules = args.load()?;
    let results = rules.test();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut passed, mut failed) = (0, 0);
    for r in &results {
        if r.failures.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            for f in &r.failures {
                writeln!(out, "FAIL {}: {f}", r.rule)?;
            }
        }
    }
    let cases: usize = results.iter().map(|r| r.cases).sum();
    writeln!(
        out,
        "rules {}, cases {cases}, passed {passed}, failed {failed}",
        results.len()
    )?;
    out.flush()?;
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `midwatch score DIR`: detect over a simulation and score against its labels.
pub fn score(mut args: ScoreArgs) -> anyhow::Result<ExitCode> {
    // The simulated organisation's own detector settings (its known VPN egress).
    if args.dir.join("detectors.toml").is_file() {
        args.rules.dirs.push(args.dir.clone());
    }
    let rules = args.rules.load()?;
    let inventory = read_inventory(Some(&args.dir.join("inventory.json")))?;
    let labels_path = args.dir.join("labels.ndjson");
    let text = std::fs::read_to_string(&labels_path)
        .map_err(|e| usage(format!("cannot read `{}`: {e}", labels_path.display())))?;
    let mut labels = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        labels.push(
            serde_json::from_str::<midwatch_sim::label::Label>(line)
                .map_err(|e| usage(format!("{}: line {}: {e}", labels_path.display(), i + 1)))?,
        );
    }
    let run = run(
        &rules,
        "sensor",
        inventory,
        &[args.dir.join("events.ndjson")],
    )?;
    let s = midwatch_sim::score::score(&labels, &run.findings, &midwatch_sim::SCENARIOS);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
    } else {
        writeln!(
            out,
            "{:<32} {:>7} {:>8} {:>7} {:>9} {:>9}  rules",
            "scenario", "attacks", "detected", "recall", "findings", "precision"
        )?;
        for sc in &s.scenarios {
            writeln!(
                out,
                "{:<32} {:>7} {:>8} {:>7.2} {:>9} {:>9.2}  {}",
                sc.scenario,
                sc.attacks,
                sc.detected,
                sc.recall,
                sc.findings,
                sc.precision,
                sc.rules.join(", ")
            )?;
        }
        writeln!(
            out,
            "findings medium or above {} (detecting an attack {}), below medium {}, high without an attack {}",
            s.alerting_findings,
            s.alerting_true,
            s.low_findings,
            s.high_false_positives.len()
        )?;
        for (id, rule) in &s.high_false_positives {
            writeln!(
                out,
                "  high finding {id} by {rule} matches no labelled attack"
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
