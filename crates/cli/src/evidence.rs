//! `midwatch evidence`: verify a log or a bundle, search, export bundles, erase an identity,
//! show the public key. Works on the log's directory; verify, search and export also run
//! beside a running server (they only read).

use crate::usage;
use clap::{Args, Subcommand};
use midwatch_evidence::bundle::{BundleError, Selection};
use midwatch_evidence::codec::{hex, unhex};
use midwatch_evidence::verify::{Options, Report, Status, verify_dir};
use midwatch_evidence::{Log, LogError, Signer, Snapshot};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `midwatch evidence …`.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Check a log directory or a bundle: exit 0 intact, 1 tampered, 2 unreadable.
    Verify(VerifyArgs),
    /// Find records by session, identity, app, action, kind, class, id, finding, time, words.
    Search(SearchArgs),
    /// Write a bundle of a session's, identity's, finding's or time range's records.
    Export(ExportArgs),
    /// Destroy an identity's payload key (its payloads become unreadable; the chain still
    /// verifies) and record the erasure.
    Erase(EraseArgs),
    /// Print the log's public key.
    Keys(LogArgs),
}

/// Where the log is.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Data directory of the server (the log is `DATA_DIR/evidence`, the key
    /// `DATA_DIR/evidence.key`).
    #[arg(long, default_value = "midwatch-data")]
    data_dir: PathBuf,
    /// The log directory, when not under the data directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The signing key file, when not under the data directory.
    #[arg(long)]
    key: Option<PathBuf>,
}

impl LogArgs {
    fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("evidence"))
    }

    fn key(&self) -> PathBuf {
        self.key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("evidence.key"))
    }

    /// The signing key, which must exist (never created here).
    fn signer(&self) -> anyhow::Result<Signer> {
        let path = self.key();
        if !path.exists() {
            return Err(usage(format!(
                "signing key `{}` not found (pass --key or --data-dir)",
                path.display()
            )));
        }
        Signer::load_or_create(&path).map_err(|e| usage(e.to_string()))
    }
}

/// `evidence verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A log directory or a bundle file (default `midwatch-data/evidence`).
    path: Option<PathBuf>,
    /// The public key to trust: 64 hex digits, or a file holding them (from
    /// `GET /v1/evidence/keys` or `midwatch evidence keys`).
    #[arg(long)]
    trusted_key: Option<String>,
    /// An anchor file the log's checkpoints were also written to (finds a truncated tail).
    #[arg(long)]
    anchor: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn trusted(arg: Option<&str>) -> anyhow::Result<Option<[u8; 32]>> {
    let Some(a) = arg else { return Ok(None) };
    if let Some(k) = unhex::<32>(a) {
        return Ok(Some(k));
    }
    let text = std::fs::read_to_string(a).map_err(|e| {
        usage(format!(
            "--trusted-key `{a}`: not 64 hex digits, and as a file: {e}"
        ))
    })?;
    let key = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .find_map(unhex::<32>)
        .ok_or_else(|| {
            usage(format!(
                "--trusted-key `{a}`: the file holds no 64-hex-digit key"
            ))
        })?;
    Ok(Some(key))
}

/// Run `evidence …`.
pub fn run(cmd: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvidenceCommand::Verify(a) => verify(a),
        EvidenceCommand::Search(a) => search(a),
        EvidenceCommand::Export(a) => export(a),
        EvidenceCommand::Erase(a) => erase(a),
        EvidenceCommand::Keys(a) => keys(a),
    }
}

fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let path = a
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("midwatch-data").join("evidence"));
    let opts = Options {
        trusted_key: trusted(a.trusted_key.as_deref())?,
        anchor: a.anchor.clone(),
    };
    let bundle = path.is_file();
    let report = if bundle {
        midwatch_evidence::bundle::verify_bundle(&path, &opts)
    } else {
        verify_dir(&path, &opts)
    };
    print_report(&path, &report, bundle, a.json)?;
    Ok(ExitCode::from(report.status.exit_code() as u8))
}

fn print_report(path: &Path, r: &Report, bundle: bool, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    match (&r.status, &r.problem) {
        (Status::Intact, _) if bundle => writeln!(
            out,
            "intact: {} records, each proven under one of {} signed checkpoints, key {}",
            r.records, r.checkpoints, r.key_id
        )?,
        (Status::Intact, _) => writeln!(
            out,
            "intact: {} records, {} checkpoints, {} segments ({} removed by retention), last record {}, key {}",
            r.records, r.checkpoints, r.segments, r.removed_segments, r.last_seq, r.key_id
        )?,
        (Status::Tampered, Some(p)) => writeln!(out, "TAMPERED: {p}")?,
        (Status::Unreadable, Some(p)) => writeln!(out, "unreadable: {p}")?,
        (s, None) => writeln!(out, "{s:?}: {}", path.display())?,
    }
    Ok(())
}

/// What to select, shared by search and export.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// A session's records.
    #[arg(long)]
    session: Option<String>,
    /// An identity's records.
    #[arg(long)]
    identity: Option<String>,
    /// A finding: its records and the events of its evidence chain.
    #[arg(long)]
    finding: Option<String>,
    /// From (RFC 3339 or epoch ms).
    #[arg(long)]
    since: Option<String>,
    /// Until (RFC 3339 or epoch ms).
    #[arg(long)]
    until: Option<String>,
}

impl SelectArgs {
    fn selection(self) -> anyhow::Result<Selection> {
        Ok(Selection {
            since: time_arg("since", self.since.as_deref())?,
            until: time_arg("until", self.until.as_deref())?,
            session: self.session,
            identity: self.identity,
            finding: self.finding,
            upto: None,
        })
    }
}

/// `evidence search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    select: SelectArgs,
    /// App.
    #[arg(long)]
    app: Option<String>,
    /// Action (`login`, `download`, a rule name, `triage`, `erase`).
    #[arg(long)]
    action: Option<String>,
    /// Record kind: event, finding, decision, response, admin.
    #[arg(long)]
    kind: Option<String>,
    /// OCSF class uid.
    #[arg(long)]
    class_uid: Option<u32>,
    /// Record id (event uid, finding id).
    #[arg(long)]
    uid: Option<String>,
    /// Words that must all appear (user names, hosts, file names, titles).
    #[arg(long)]
    text: Option<String>,
    /// Continue before this record (the `next` of the previous page).
    #[arg(long)]
    before: Option<u64>,
    /// Records per page (1–1000).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print the page as JSON (with payloads) instead of a table.
    #[arg(long)]
    json: bool,
}

fn time_arg(name: &str, v: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(n) = v.parse::<i64>() {
        return Ok(Some(n));
    }
    midwatch_model::timefmt::parse_rfc3339_ms(v)
        .map(Some)
        .ok_or_else(|| {
            usage(format!(
                "--{name}: `{v}` is not an RFC 3339 time or epoch milliseconds"
            ))
        })
}

fn search(a: SearchArgs) -> anyhow::Result<ExitCode> {
    let dir = a.log.dir();
    let snap = Snapshot::open(&dir).map_err(|e| usage(format!("`{}`: {e}", dir.display())))?;
    let sel = a.select.selection()?;
    let q = midwatch_evidence::Query {
        session: sel.session,
        identity: sel.identity,
        app: a.app,
        action: a.action,
        kind: a.kind,
        class_uid: a.class_uid,
        uid: a.uid,
        finding: sel.finding,
        since: sel.since,
        until: sel.until,
        text: a.text,
        before: a.before,
        limit: Some(a.limit),
    };
    let page = snap.search(&q).map_err(|e| match e {
        midwatch_evidence::search::SearchError::Query(m) => usage(m),
        other => anyhow::Error::new(other),
    })?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&page)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "seq\ttime (UTC)\tkind\tidentity\tsession\taction\tuid")?;
    for h in &page.hits {
        writeln!(
            out,
            "{}\t{}\t{}{}\t{}\t{}\t{}\t{}",
            h.seq,
            midwatch_evidence::html::utc(h.time),
            h.kind,
            if h.erased { " (erased)" } else { "" },
            h.identity,
            h.session,
            h.action,
            h.uid
        )?;
    }
    match page.next {
        Some(n) => eprintln!("{} records; more with --before {n}", page.hits.len()),
        None => eprintln!("{} records", page.hits.len()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `evidence export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    select: SelectArgs,
    /// The bundle file to write.
    #[arg(long)]
    out: PathBuf,
}

fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let sel = a.select.selection()?;
    let signer = a.log.signer()?;
    let dir = a.log.dir();
    // With no server holding the log, sign its tail first so every record has a proof.
    match Log::open(&dir, signer.clone(), midwatch_evidence::Config::default()) {
        Ok(log) => log.close()?,
        Err(LogError::Locked(_)) => {}
        Err(e) => return Err(usage(format!("`{}`: {e}", dir.display()))),
    }
    match midwatch_evidence::bundle::export(&dir, &signer, &sel, &a.out) {
        Ok(s) => {
            eprintln!(
                "wrote {} ({} records, {} checkpoints, {} bytes): {}",
                a.out.display(),
                s.records,
                s.checkpoints,
                s.bytes,
                s.selection
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (BundleError::Empty | BundleError::NoRecords(_) | BundleError::TooMany(_))) => {
            Err(usage(e.to_string()))
        }
        Err(BundleError::Unsigned(seq)) => Err(usage(format!(
            "record {seq} is not yet under a signed checkpoint and a running server holds the log: export through the server (`GET /v1/evidence/export`)"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `evidence erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    log: LogArgs,
    /// The identity whose payloads become unreadable.
    #[arg(long)]
    identity: String,
    /// Who asks (recorded in the log).
    #[arg(long)]
    by: String,
}

fn erase(a: EraseArgs) -> anyhow::Result<ExitCode> {
    let signer = a.log.signer()?;
    let dir = a.log.dir();
    let log = match Log::open(&dir, signer, midwatch_evidence::Config::default()) {
        Ok(l) => l,
        Err(LogError::Locked(_)) => {
            return Err(usage(
                "a running server holds the log: erase through it (`POST /v1/evidence/erase`)",
            ));
        }
        Err(e) => return Err(usage(format!("`{}`: {e}", dir.display()))),
    };
    let (receipt, had) = log.erase_identity(&a.identity, &a.by)?;
    log.close()?;
    if had {
        eprintln!(
            "erased the payload key of `{}`; recorded as record {}",
            a.identity, receipt.seq
        );
    } else {
        eprintln!(
            "`{}` had no payload key (nothing of theirs was encrypted, or it was erased before); recorded as record {}",
            a.identity, receipt.seq
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn keys(a: LogArgs) -> anyhow::Result<ExitCode> {
    let signer = a.signer()?;
    writeln!(
        std::io::stdout().lock(),
        "{{\"algorithm\":\"Ed25519\",\"public_key\":\"{}\",\"key_id\":\"{}\"}}",
        hex(&signer.public_key()),
        hex(&signer.key_id())
    )?;
    Ok(ExitCode::SUCCESS)
}
