//! The `midwatch` binary: parses arguments, wires the crates together and maps errors to
//! exit codes (0 ok, 1 rejected input or findings where asked, 2 usage or config error).

mod detect;
mod evidence;
mod progress;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use midwatch_server::{AppState, Config};
use midwatch_sources::framing::Sink;
use midwatch_sources::{Limits, Reject};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

// Ingest allocates many small strings per event; mimalloc roughly halves parse time
// against the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "midwatch",
    version,
    about = "Watches authenticated sessions: stitches, stores and serves them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (ingest, query, metrics).
    Serve(ServeArgs),
    /// Normalize records from a source to OCSF NDJSON on stdout.
    Normalize(NormalizeArgs),
    /// Write a simulated organisation's telemetry with labelled attacks.
    Simulate(SimulateArgs),
    /// Ship log files to a running server, once or following a directory.
    Ingest(IngestArgs),
    /// Run detection over files: findings (OCSF Detection Finding NDJSON) on stdout.
    Detect(detect::DetectArgs),
    /// Check rule directories, or run their examples.
    #[command(subcommand)]
    Rules(detect::RulesCommand),
    /// Detect over a simulation and score findings against its labels.
    Score(detect::ScoreArgs),
    /// Verify, search and export the evidence log; erase an identity.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Source format of the files: `sensor`, `ocsf`, `okta`, `cloudtrail`, …
    #[arg(long)]
    source: String,
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    server: String,
    /// Watch this directory and ship records as files appear and grow.
    #[arg(long, conflicts_with = "files")]
    follow: Option<PathBuf>,
    /// Files to ship once.
    files: Vec<PathBuf>,
    /// Where delivered offsets are saved (default: `.midwatch-ingest-state.json` in the
    /// followed directory, or in the current directory for files).
    #[arg(long)]
    state: Option<PathBuf>,
    /// With `--follow`: ship what is there now and stop.
    #[arg(long)]
    once: bool,
    /// How often to look for new data, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    poll_ms: u64,
    /// In one-shot runs, how many times to try a batch the server does not take.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides the config file).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (overrides the config file).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Stream a simulated organisation through the server.
    #[arg(long)]
    demo: bool,
    /// Simulated seconds per wall-clock second in the demo.
    #[arg(long, default_value_t = 600, requires = "demo")]
    demo_speed: u32,
    /// Humans in the demo organisation.
    #[arg(long, default_value_t = 40, requires = "demo")]
    demo_users: u32,
}

#[derive(Debug, Args)]
struct NormalizeArgs {
    /// Source format: `sensor`, `ocsf`, …
    #[arg(long)]
    source: String,
    /// Input file; `-` or nothing for stdin.
    file: Option<PathBuf>,
    /// Longest accepted record, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_line_bytes: usize,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Humans in the organisation.
    #[arg(long, default_value_t = 50)]
    users: u32,
    /// Hours of activity.
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// Start time (RFC 3339); default 2026-01-05T00:00:00Z.
    #[arg(long)]
    start: Option<String>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Inject no attacks: an attack-free baseline (labels.ndjson is empty).
    #[arg(long)]
    no_attacks: bool,
}

/// An error that maps to exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Normalize(args) => normalize(args),
        Command::Simulate(args) => simulate(args),
        Command::Ingest(args) => ingest(args),
        Command::Detect(args) => detect::detect(args),
        Command::Rules(cmd) => detect::rules(cmd),
        Command::Score(args) => detect::score(args),
        Command::Evidence(cmd) => evidence::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("midwatch: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIDWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("config `{}`: {e}", path.display())))?;
            Config::from_toml(&text, &path.display().to_string()).map_err(|e| usage(e.0))?
        }
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    } else if args.demo && args.config.is_none() {
        cfg.data_dir = std::env::temp_dir().join(format!("midwatch-demo-{}", std::process::id()));
    }
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if args.demo {
        cfg.sessions.wall_clock_sweep = false;
        // The simulated organisation's own detector settings (its VPN egress), as its
        // security team would keep them in a rule directory.
        let rules = cfg.data_dir.join("demo-rules");
        std::fs::create_dir_all(&rules)
            .and_then(|()| {
                std::fs::write(rules.join("detectors.toml"), midwatch_sim::detectors_toml())
            })
            .map_err(|e| usage(format!("demo rules in `{}`: {e}", rules.display())))?;
        cfg.detect.rules.push(rules);
    }
    Ok(cfg)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let cfg = load_config(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (state, pipeline) = AppState::open(&cfg).map_err(|e| match e {
            midwatch_server::StartError::Config(m) => usage(m),
            other => anyhow::Error::new(other),
        })?;
        let pull = midwatch_server::connectors::check(&cfg.connectors).map_err(usage)?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| usage(format!("cannot listen on `{}`: {e}", cfg.listen)))?;
        let addr = listener.local_addr().context("no local address")?;
        eprintln!("midwatch listening on http://{addr} (data in {})", cfg.data_dir.display());
        if args.demo {
            let opts = midwatch_server::demo::DemoOptions {
                speed: args.demo_speed,
                users: args.demo_users,
                ..Default::default()
            };
            eprintln!(
                "demo: streaming a simulated organisation of {} people at {}x; try\n  curl -s http://{addr}/v1/sessions?limit=5\n  curl -s 'http://{addr}/v1/sessions?state=active'\n  curl -s 'http://{addr}/v1/findings?min_severity=high'\n  curl -s http://{addr}/v1/identities\n  curl -s 'http://{addr}/v1/evidence/search?kind=finding&limit=3'\n  curl -s http://{addr}/v1/evidence/verify\n  curl -s http://{addr}/metrics",
                opts.users, opts.speed
            );
            let demo_state = state.clone();
            tokio::spawn(async move {
                match midwatch_server::demo::run(demo_state, opts).await {
                    Ok(s) => eprintln!(
                        "demo: streamed {} events ({} stored, {} labelled attacks); still serving",
                        s.events, s.stored, s.attacks
                    ),
                    Err(e) => eprintln!("demo: stopped: {e}"),
                }
            });
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("midwatch: shutting down");
        };
        midwatch_server::serve_with(listener, state, cfg.sessions.wall_clock_sweep, pull, shutdown)
            .await
            .context("server stopped")?;
        // The router (and its state clones) are gone; let the pipeline drain and persist.
        tokio::task::spawn_blocking(move || pipeline.join())
            .await
            .context("pipeline did not stop cleanly")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Writes events as OCSF NDJSON and rejects as `line N: reason`.
struct NdjsonSink<W: Write> {
    out: W,
    accepted: u64,
    rejected: u64,
    skipped: u64,
    io_error: Option<std::io::Error>,
    progress: Option<progress::Progress>,
}

impl<W: Write> Sink for NdjsonSink<W> {
    fn event(&mut self, event: midwatch_model::Event) {
        self.accepted += 1;
        if self.io_error.is_none() {
            let line = event.to_ocsf_json();
            if let Err(e) = self
                .out
                .write_all(line.as_bytes())
                .and_then(|()| self.out.write_all(b"\n"))
            {
                self.io_error = Some(e);
            }
        }
    }

    fn reject(&mut self, r: Reject) {
        self.rejected += 1;
        if let Some(p) = &mut self.progress {
            p.clear();
        }
        eprintln!("line {}: {}", r.line, r.reason);
    }

    fn skip(&mut self, r: Reject) {
        self.skipped += 1;
        if let Some(p) = &mut self.progress {
            p.clear();
        }
        eprintln!("line {}: skipped: {}", r.line, r.reason);
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(p) = &mut self.progress {
            p.update(bytes, self.accepted);
        }
    }
}

fn normalize(args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    let source = midwatch_sources::by_name(&args.source).ok_or_else(|| {
        usage(format!(
            "source `{}` is not one of {}",
            args.source,
            midwatch_sources::names().join(", ")
        ))
    })?;
    if args.max_line_bytes == 0 {
        return Err(usage("`--max-line-bytes` must be greater than 0"));
    }
    let (reader, total): (Box<dyn BufRead>, Option<u64>) = match args.file.as_deref() {
        None => (Box::new(BufReader::new(std::io::stdin().lock())), None),
        Some(p) if p.as_os_str() == "-" => {
            (Box::new(BufReader::new(std::io::stdin().lock())), None)
        }
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| usage(format!("cannot read `{}`: {e}", p.display())))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(BufReader::with_capacity(256 * 1024, f)), len)
        }
    };
    let stdout = std::io::stdout().lock();
    let mut sink = NdjsonSink {
        out: std::io::BufWriter::with_capacity(256 * 1024, stdout),
        accepted: 0,
        rejected: 0,
        skipped: 0,
        io_error: None,
        progress: std::io::stderr()
            .is_terminal()
            .then(|| progress::Progress::new(total)),
    };
    let limits = Limits {
        max_line_bytes: args.max_line_bytes,
        max_records: 0,
    };
    let read = midwatch_sources::normalize_reader(source, reader, &limits, &mut sink);
    if let Some(p) = &mut sink.progress {
        p.clear();
    }
    let flushed = sink.out.flush();
    if let Err(e) = read {
        return Err(anyhow::Error::new(e).context("reading input"));
    }
    if let Some(e) = sink.io_error.take()
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(anyhow::Error::new(e).context("writing output"));
    }
    if let Err(e) = flushed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(anyhow::Error::new(e).context("writing output"));
    }
    let skipped = if sink.skipped > 0 {
        format!(", skipped {}", sink.skipped)
    } else {
        String::new()
    };
    eprintln!(
        "accepted {}, rejected {}{skipped}",
        sink.accepted, sink.rejected
    );
    Ok(if sink.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let start_ms = match &args.start {
        None => 1_767_571_200_000,
        Some(s) => midwatch_model::timefmt::parse_rfc3339_ms(s)
            .ok_or_else(|| usage(format!("`--start`: `{s}` is not an RFC 3339 time")))?,
    };
    if args.users == 0 || args.hours == 0 {
        return Err(usage("`--users` and `--hours` must be at least 1"));
    }
    let cfg = midwatch_sim::SimConfig {
        seed: args.seed,
        users: args.users,
        hours: args.hours,
        start_ms,
        attacks: !args.no_attacks,
    };
    let summary = midwatch_sim::write_dir(&cfg, &args.out)
        .with_context(|| format!("writing `{}`", args.out.display()))?;
    eprintln!(
        "wrote {} events in {} sessions, {} labelled attacks, {} identities and {} apps to {}",
        summary.events,
        summary.sessions,
        summary.labels,
        summary.identities,
        summary.apps,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    if midwatch_sources::by_name(&args.source).is_none() {
        return Err(usage(format!(
            "source `{}` is not one of {}",
            args.source,
            midwatch_sources::names().join(", ")
        )));
    }
    if args.follow.is_none() && args.files.is_empty() {
        return Err(usage("give `--follow DIR` or one or more files"));
    }
    if !args.server.starts_with("http://") {
        return Err(usage(format!(
            "`--server`: `{}` is not an http:// URL",
            args.server
        )));
    }
    if let Some(dir) = &args.follow
        && !dir.is_dir()
    {
        return Err(usage(format!(
            "`--follow`: `{}` is not a directory",
            dir.display()
        )));
    }
    for f in &args.files {
        if !f.is_file() {
            return Err(usage(format!("cannot read `{}`", f.display())));
        }
    }
    let state = args.state.clone().unwrap_or_else(|| {
        args.follow
            .as_deref()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join(".midwatch-ingest-state.json")
    });
    let mut cfg = midwatch_follow::FollowConfig::new(&args.source, &args.server, state);
    cfg.dir = args.follow.clone();
    cfg.files = args.files.clone();
    cfg.once = args.once || args.follow.is_none();
    cfg.poll = std::time::Duration::from_millis(args.poll_ms.max(50));
    cfg.max_attempts = args.max_attempts.max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let shipped = rt.block_on(async move {
        let mut follower = midwatch_follow::Follower::new(cfg)?;
        tokio::select! {
            r = follower.run() => r,
            _ = tokio::signal::ctrl_c() => Ok(follower.shipped()),
        }
    })?;
    eprintln!(
        "shipped {} records in {} batches: accepted {}, rejected {}, duplicates {}",
        shipped.records, shipped.batches, shipped.accepted, shipped.rejected, shipped.duplicates
    );
    Ok(if shipped.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
