//! Evidence log speed: durable appends per second with group commit, verification
//! throughput, and search latency by session on a large log.
//!
//! `cargo bench -p midwatch-evidence --bench evidence` runs every part at a modest size.
//! Sizes and the directory (put it on the disk being measured) come from the environment:
//! `MIDWATCH_BENCH_APPENDS` (records, default 200000), `MIDWATCH_BENCH_SEARCH_RECORDS`
//! (default 1000000; 10000000 for the figure in the README), `MIDWATCH_BENCH_DIR`;
//! `MIDWATCH_BENCH_ONLY` (`append`, `index`, `clusters` or `search`) runs one part
//! (`append-encrypted`: only batches of encrypted records from one thread, and verify),
//! `MIDWATCH_BENCH_INDEX_ROUNDS` sets how often the index part repeats (default 5);
//! `MIDWATCH_BENCH_DIRECT=0` appends through the page cache instead of around it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    reason = "benchmark"
)]

use midwatch_evidence::verify::{Options, verify_dir};
use midwatch_evidence::{Config, Kind, Log, NewRecord, Query, Signer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Files written around the page cache (the default) or through it.
fn direct_io() -> bool {
    std::env::var("MIDWATCH_BENCH_DIRECT").map_or(true, |v| v != "0")
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An OCSF web-resource event of about 1.6 KB, as the pipeline appends it.
fn event(i: u64, sessions: u64) -> NewRecord {
    let session = format!("ses-{:08}", i % sessions);
    let user = i % 5000;
    let payload = serde_json::json!({
        "class_uid": 6001, "category_uid": 6, "activity_id": 2, "activity_name": "Read",
        "type_uid": 600102, "time": 1_767_600_000_000i64 + i as i64 * 7, "severity_id": 1,
        "status_id": 1, "status": "Success",
        "metadata": {"uid": format!("evt-{i:012}"), "version": "1.5.0",
            "product": {"name": "midwatch sensor", "vendor_name": "midwatch"},
            "log_name": "sensor", "event_code": "navigate", "processed_time": 1_767_600_000_000i64 + i as i64 * 7 + 40,
            "original_event_uid": format!("b1f4{i:028x}")},
        "actor": {"user": {"uid": format!("user{user}@example.com"), "name": format!("User {user}"),
            "email_addr": format!("user{user}@example.com"), "type_id": 1, "type": "User"},
            "session": {"uid": session, "created_time": 1_767_600_000_000i64, "is_mfa": true,
                "issuer": "https://idp.example.com", "credential_uid": format!("{:064x}", i / 97)}},
        "src_endpoint": {"ip": format!("198.51.{}.{}", (i / 256) % 256, i % 256),
            "location": {"city": "Lisbon", "country": "PT", "lat": 38.7223, "long": -9.1393},
            "autonomous_system": {"number": 64500, "name": "Example Telecom"}, "isp": "Example Telecom"},
        "device": {"uid": format!("laptop-{}", user), "is_managed": true, "os_name": "macOS"},
        "http_request": {"user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            "http_method": "GET",
            "url": {"hostname": "files.example.com", "path": format!("/projects/{}/documents/{}", i % 300, i),
                "url_string": format!("https://files.example.com/projects/{}/documents/{}", i % 300, i)}},
        "web_resources": [{"type": "document", "name": format!("quarterly-report-{}.pdf", i % 1000),
            "uid": format!("doc-{i}")}],
        "midwatch": {"session_uid": session, "action": "navigate",
            "identity": {"uid": format!("idn-{user}"), "kind": "human", "lifecycle": "active", "mfa_enrolled": true},
            "app": {"uid": "files", "managed": true, "sensitivity": 2},
            "raw": {"source": "sensor", "sha256": format!("{:064x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15))}},
    });
    let word_keys = midwatch_evidence::search::value_word_keys(&payload);
    NewRecord {
        kind: Kind::Event.code(),
        time: 1_767_600_000_000 + i as i64 * 7,
        class_uid: 6001,
        uid: format!("evt-{i:012}"),
        session,
        identity: format!("idn-{user}"),
        app: "files".into(),
        action: "navigate".into(),
        payload: serde_json::to_vec(&payload).unwrap(),
        word_keys,
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// CPU seconds this process has used (user and system, every thread), where the system
/// says (Linux: `/proc/self/stat`, in USER_HZ = 100 ticks per second).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Nanoseconds this thread has run on a CPU (Linux: `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn appends(base: &Path, n: u64, batch: u64, encrypt: bool, threads: u64) -> PathBuf {
    let dir = base.join(format!("appends-{encrypt}-{batch}-{threads}"));
    let _ = std::fs::remove_dir_all(&dir);
    // The append path alone: the session clusters' copy runs on its own thread after a
    // segment seals, and its cost is measured apart (`clusters`).
    let cfg = Config {
        encrypt,
        cluster_fan: 0,
        direct_io: direct_io(),
        ..Config::default()
    };
    let log = Log::open(&dir, Signer::from_seed(&[7; 32]), cfg).unwrap();
    // Records are built before the clock starts: the bench measures the log, not JSON.
    let per = n / threads;
    let prepared: Vec<Vec<Vec<NewRecord>>> = (0..threads)
        .map(|t| {
            (0..per)
                .map(|i| event(t * per + i, n / 100 + 1))
                .collect::<Vec<_>>()
                .chunks(batch as usize)
                .map(<[NewRecord]>::to_vec)
                .collect()
        })
        .collect();
    let bytes: u64 = prepared
        .iter()
        .flatten()
        .flatten()
        .map(|r| r.payload.len() as u64)
        .sum();
    // Steady state: every identity's payload key exists already (creating one is a durable
    // file write, once per identity). The records that create them are not counted.
    for chunk in (0..5000u64).collect::<Vec<_>>().chunks(1000) {
        log.append(chunk.iter().map(|i| event(n + i, 1)).collect())
            .unwrap();
    }
    if let Ok(ms) = std::env::var("MIDWATCH_BENCH_PAUSE_MS") {
        // Time to attach a profiler to the appends alone.
        eprintln!("prepared; appending in {ms} ms");
        std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
    }
    // The yardstick, in the same window: SHA-256 chaining the same payloads alone, the
    // bound the figures are set against.
    let chain_rate = (threads == 1).then(|| {
        let start = Instant::now();
        let mut prev = [0u8; 32];
        let mut count = 0u64;
        for r in prepared.iter().flatten().flatten() {
            let mut h = Sha256::new();
            h.update(prev);
            h.update(&r.payload);
            prev = h.finalize().into();
            count += 1;
        }
        std::hint::black_box(prev);
        count as f64 / start.elapsed().as_secs_f64()
    });
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    std::thread::scope(|s| {
        for batches in prepared {
            let log = log.clone();
            s.spawn(move || {
                for b in batches {
                    log.append(b).unwrap();
                }
            });
        }
    });
    let took = start.elapsed();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    log.close().unwrap();
    let total = per * threads;
    // Per core: records over the CPU time the process spent appending (user and system,
    // all threads), which on a shared or I/O-bound machine differs from the elapsed time.
    let per_core_rate = cpu.map(|c| total as f64 / c.max(0.01));
    let per_core = per_core_rate.map_or_else(|| "n/a".to_string(), |r| format!("{r:.0}"));
    println!(
        "append  encrypt={encrypt:<5} batch={batch:<5} threads={threads}: {:>9.0} records/s  {per_core:>7} records/s per core  {:>6.1} MB/s payload  ({total} records of {} B avg, {:.2} s, {} B on disk)",
        total as f64 / took.as_secs_f64(),
        bytes as f64 / took.as_secs_f64() / 1e6,
        bytes / total.max(1),
        took.as_secs_f64(),
        dir_size(&dir),
    );
    if let (Some(chain), Some(rate)) = (chain_rate, per_core_rate) {
        println!(
            "        SHA-256 chain of the same payloads alone: {chain:>9.0} records/s; appends per core are {:.1}% of it",
            rate / chain * 100.0
        );
    }
    dir
}

/// The active segment's index alone: adding the keys of a segment's worth of records (runs
/// sorted as they fill) and sealing it into its index file. A segment of the default size
/// (64 MiB) holds about 34,000 of these records.
fn index(base: &Path) {
    use midwatch_evidence::codec::Header;
    use midwatch_evidence::index::MemIndex;
    let records = 34_000u64;
    let prepared: Vec<(Header, Vec<u64>)> = (0..records)
        .map(|i| {
            let (h, _, words) = event(i * 7, 100_000).into_parts(i + 1, 0);
            (h, words)
        })
        .collect();
    // Seven header keys a record (session, identity, app, action, uid, class, kind).
    let pairs: usize = prepared.iter().map(|(_, w)| 7 + w.len()).sum();
    let path = base.join("bench.idx");
    // The first round warms the allocator's memory up, as a writer's first segment does.
    // Each round's index takes over the memory of the one before, as the next segment's does.
    let mut last = MemIndex::default();
    for round in 0..=env("MIDWATCH_BENCH_INDEX_ROUNDS", 5) {
        let (start, cpu0) = (Instant::now(), thread_cpu_ns());
        let mut m = last.sized_like();
        for (i, (h, words)) in prepared.iter().enumerate() {
            m.add_record(i as u64 * 2000, h.time, h, words);
        }
        let (added, cpu1) = (start.elapsed(), thread_cpu_ns());
        m.write(&path, 1, 1, direct_io()).unwrap();
        let (sealed, cpu2) = (start.elapsed() - added, thread_cpu_ns());
        last = m;
        if round == 0 {
            continue;
        }
        // CPU time: sealing waits for the device too, which elapsed time counts.
        let cpu = |a: Option<u64>, b: Option<u64>| {
            a.zip(b).map_or_else(
                || "n/a".into(),
                |(a, b)| format!("{:.1}", (b - a) as f64 / pairs as f64),
            )
        };
        println!(
            "index   {records} records, {pairs} pairs: add {:.1} ns/pair, seal {:.1} ns/pair ({} and {} ns/pair of CPU), {:.2} µs/record in all  (index file {} B)",
            added.as_nanos() as f64 / pairs as f64,
            sealed.as_nanos() as f64 / pairs as f64,
            cpu(cpu0, cpu1),
            cpu(cpu1, cpu2),
            (added + sealed).as_nanos() as f64 / records as f64 / 1000.0,
            std::fs::metadata(&path).map_or(0, |m| m.len()),
        );
    }
    let _ = std::fs::remove_file(path);
}

fn verify(dir: &Path) {
    let bytes = dir_size(dir);
    // Twice: the first read may come from disk, the second from the page cache.
    for pass in ["first", "second"] {
        let start = Instant::now();
        let r = verify_dir(dir, &Options::default());
        let took = start.elapsed();
        assert_eq!(r.status, midwatch_evidence::Status::Intact, "{r:?}");
        println!(
            "verify  ({pass} pass): {:>7.2} GB/s  {:>9.0} records/s  ({} records, {} B, {:.2} s)",
            bytes as f64 / took.as_secs_f64() / 1e9,
            r.records as f64 / took.as_secs_f64(),
            r.records,
            bytes,
            took.as_secs_f64()
        );
    }
}

/// Session clusters' cost: a log of 15 full segments and a bit written without them, then
/// opened with them: each sealed record is copied into a level-0 run and merged once into a
/// level-1 run (the 15 segments fill the first group of 16; there is no segment 0).
fn clusters(base: &Path) {
    use midwatch_evidence::manifest::{Manifest, SegmentState};
    let dir = base.join("clusters");
    let _ = std::fs::remove_dir_all(&dir);
    let n = 565_000;
    let off = Config {
        cluster_fan: 0,
        direct_io: direct_io(),
        ..Config::default()
    };
    let log = Log::open(&dir, Signer::from_seed(&[7; 32]), off).unwrap();
    for chunk in (0..n).collect::<Vec<u64>>().chunks(10_000) {
        log.append(chunk.iter().map(|i| event(*i, n / 100)).collect())
            .unwrap();
    }
    log.close().unwrap();
    drop(log);
    let m = Manifest::load(&dir).unwrap();
    let sealed: u64 = m
        .segments
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .map(|s| s.last_seq + 1 - s.first_seq)
        .sum();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let on = Config {
        direct_io: direct_io(),
        ..Config::default()
    };
    let log = Log::open(&dir, Signer::from_seed(&[7; 32]), on).unwrap();
    log.settle_clusters().unwrap();
    let took = start.elapsed();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let runs: Vec<String> = std::fs::read_dir(dir.join("clusters"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let copies = sealed * 2;
    println!(
        "clusters: {sealed} sealed records copied and merged once ({copies} record copies, runs {runs:?}): {:.2} s, {} CPU µs a record copy, {} B of runs against {} B of log",
        took.as_secs_f64(),
        cpu.map_or_else(
            || "n/a".into(),
            |c| format!("{:.2}", c * 1e6 / copies as f64)
        ),
        dir_size(&dir.join("clusters")),
        dir_size(&dir),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn search(base: &Path, n: u64) {
    let dir = base.join(format!("search-{n}"));
    let sessions = n / 100;
    if !dir.join("MANIFEST").exists() || std::env::var("MIDWATCH_BENCH_REBUILD").is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
        let log = Log::open(&dir, Signer::from_seed(&[7; 32]), Config::default()).unwrap();
        let start = Instant::now();
        let chunk = 10_000;
        let mut i = 0;
        while i < n {
            let recs = (i..(i + chunk).min(n))
                .map(|j| event(j, sessions))
                .collect();
            log.append(recs).unwrap();
            i += chunk;
        }
        log.close().unwrap();
        println!(
            "search: built {n} records in {:.0} s ({} B on disk)",
            start.elapsed().as_secs_f64(),
            dir_size(&dir)
        );
    }
    // MIDWATCH_BENCH_CLUSTERS=0: no session clusters, every record read where it was sealed.
    let clusters = std::env::var("MIDWATCH_BENCH_CLUSTERS").map_or(true, |v| v != "0");
    let cfg = || Config {
        cluster_fan: if clusters {
            Config::default().cluster_fan
        } else {
            0
        },
        ..Config::default()
    };
    let open = Instant::now();
    let log = Log::open(&dir, Signer::from_seed(&[7; 32]), cfg()).unwrap();
    println!(
        "search: opened the log in {:.2} s",
        open.elapsed().as_secs_f64()
    );
    if clusters {
        let settle = Instant::now();
        log.settle_clusters().unwrap();
        println!(
            "search: session clusters settled in {:.1} s ({} B of runs)",
            settle.elapsed().as_secs_f64(),
            dir_size(&dir.join("clusters"))
        );
    } else {
        println!("search: session clusters not used");
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for (pass, limit) in [("warm-up", 100), ("measured", 100), ("measured", 10)] {
        let mut lat: Vec<Duration> = Vec::new();
        let mut found = 0;
        let mut erased = 0;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let q = Query {
                session: Some(format!("ses-{:08}", x % sessions)),
                limit: Some(limit),
                ..Query::default()
            };
            let t = Instant::now();
            let page = log.search(&q).unwrap();
            lat.push(t.elapsed());
            found += page.hits.len();
            erased += page.hits.iter().filter(|h| h.payload.is_none()).count();
        }
        assert_eq!(erased, 0, "every payload decrypts");
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "search by session on {n} records ({pass}, limit {limit}): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} random sessions, {:.0} records each, payloads decrypted and parsed)",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            lat.last().unwrap().as_secs_f64() * 1e3,
            lat.len(),
            found as f64 / lat.len() as f64
        );
    }
    let mut lat: Vec<Duration> = Vec::new();
    for k in 0..500u64 {
        let q = Query {
            identity: Some(format!("idn-{}", (k * 7919) % 5000)),
            limit: Some(100),
            ..Query::default()
        };
        let t = Instant::now();
        log.search(&q).unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "search by identity (newest 100) on {n} records: p50 {:.2} ms  p99 {:.2} ms",
        lat[lat.len() / 2].as_secs_f64() * 1e3,
        lat[lat.len() * 99 / 100].as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo test --benches` passes `--bench`-less flags; run only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let base = std::env::var("MIDWATCH_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("midwatch-evidence-bench"));
    std::fs::create_dir_all(&base).unwrap();
    let n = env("MIDWATCH_BENCH_APPENDS", 200_000);
    let only = std::env::var("MIDWATCH_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "append" {
        appends(&base, n, 1000, false, 1);
        appends(&base, n, 100, true, 4);
        // Single records from many callers at once: what group commit is for.
        appends(&base, n / 50, 1, true, 16);
    }
    if only.is_empty() || only == "append" || only == "append-encrypted" {
        let dir = appends(&base, n, 1000, true, 1);
        verify(&dir);
    }
    if only.is_empty() || only == "index" {
        index(&base);
    }
    if only.is_empty() || only == "clusters" {
        clusters(&base);
    }
    if only.is_empty() || only == "search" {
        search(&base, env("MIDWATCH_BENCH_SEARCH_RECORDS", 1_000_000));
    }
}
