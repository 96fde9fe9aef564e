//! Crash safety: a writer killed at any moment (SIGKILL between acknowledgements, or an abort
//! at a failpoint inside a write) loses no acknowledged record; the log reopens (recovery cuts
//! a torn tail), verifies, and takes more records. Session clusters, built and merged in the
//! background all the while, are finished or dropped and answer searches by session rightly.
//!
//! The writer is a child process: this test binary run again with `crash_child`, which does
//! nothing unless `MIDWATCH_EVIDENCE_CRASH_DIR` names the log directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{record, signer, small};
use midwatch_evidence::verify::{Options, verify_dir};
use midwatch_evidence::{Config, Failpoint, Log, Query, Snapshot, Status};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Directory of the child's log.
const DIR_VAR: &str = "MIDWATCH_EVIDENCE_CRASH_DIR";
/// Failpoint the child turns on after its first acknowledged batches.
const FAILPOINT_VAR: &str = "MIDWATCH_EVIDENCE_CRASH_FAILPOINT";
/// Records per append.
const BATCH: u64 = 7;
/// Batches acknowledged before the child turns its failpoint on.
const BATCHES_BEFORE_FAILPOINT: u64 = 5;

fn child_config() -> Config {
    Config {
        segment_bytes: 32 * 1024,
        checkpoint_records: 16,
        // Runs merge two at a time: a kill often lands in a copy or a merge.
        cluster_fan: 2,
        cluster_levels: 3,
        ..small()
    }
}

fn failpoint(name: &str) -> Failpoint {
    match name {
        "midwrite" => Failpoint::MidWrite,
        "beforesync" => Failpoint::BeforeSync,
        "beforemanifest" => Failpoint::BeforeManifest,
        other => panic!("unknown failpoint `{other}`"),
    }
}

/// Append batches to `log`, printing `acked <last seq>` once each is durable; `limit` batches
/// or forever.
fn append_batches(log: &Log, limit: Option<u64>) {
    let mut out = std::io::stdout();
    let mut done = 0;
    while limit.is_none_or(|l| done < l) {
        let first = log.last_seq();
        let receipts = log
            .append((first..first + BATCH).map(record).collect())
            .unwrap();
        let last = receipts.last().unwrap().seq;
        assert_eq!(last, first + BATCH);
        // A line of its own whatever libtest printed before it.
        writeln!(out, "\nacked {last}").unwrap();
        out.flush().unwrap();
        done += 1;
    }
}

/// The writer of the crash tests, run by them as a child process.
#[test]
#[ignore = "child process of the crash tests"]
fn crash_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let dir = Path::new(&dir);
    match std::env::var(FAILPOINT_VAR) {
        Err(_) => {
            let log = Log::open(dir, signer(), child_config()).unwrap();
            append_batches(&log, None);
        }
        Ok(name) => {
            // Some records acknowledged normally, then the same log with the failpoint on:
            // the process aborts inside the next write (or rotation).
            {
                let log = Log::open(dir, signer(), child_config()).unwrap();
                append_batches(&log, Some(BATCHES_BEFORE_FAILPOINT));
            }
            let cfg = Config {
                failpoint: Some(failpoint(&name)),
                ..child_config()
            };
            let log = Log::open(dir, signer(), cfg).unwrap();
            append_batches(&log, None);
        }
    }
}

fn spawn_child(dir: &Path, failpoint: Option<&str>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", "crash_child", "--nocapture"])
        .env(DIR_VAR, dir)
        .env_remove(FAILPOINT_VAR)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(f) = failpoint {
        cmd.env(FAILPOINT_VAR, f);
    }
    cmd.spawn().unwrap()
}

/// The next acknowledged seq the child printed, `None` at the end of its output.
fn next_ack(lines: &mut std::io::Lines<BufReader<ChildStdout>>) -> Option<u64> {
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            return Some(n.trim().parse().unwrap());
        }
    }
    None
}

/// After the crash: every acknowledged record is there and readable, the log verifies,
/// reopens, and takes more records that verify too.
fn check_recovered(dir: &Path, acked: u64) {
    // Before the writer reopens, a torn tail is at most a warning.
    let r = verify_dir(dir, &Options::default());
    assert_eq!(r.status, Status::Intact, "before recovery: {:?}", r.problem);
    assert!(r.last_seq >= acked, "{r:?}");

    let log = Log::open(dir, signer(), child_config()).unwrap();
    let last = log.last_seq();
    assert!(last >= acked, "acknowledged {acked}, recovered {last}");
    let r = verify_dir(dir, &Options::default());
    assert_eq!(r.status, Status::Intact, "after recovery: {:?}", r.problem);
    assert_eq!(r.last_seq, last);
    assert_eq!(r.records, last);
    assert!(
        r.warnings.iter().all(|w| !w.contains("unfinished write")),
        "recovery leaves no torn tail: {:?}",
        r.warnings
    );

    // Every record, newest first: seq n is record n - 1, its payload readable.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = log
            .search(&Query {
                before,
                limit: Some(1000),
                ..Query::default()
            })
            .unwrap();
        for h in &page.hits {
            assert_eq!(h.uid, format!("ev-{}", h.seq - 1), "{h:?}");
            assert!(!h.erased, "{h:?}");
            let p = h.payload.as_ref().expect("payload readable");
            assert_eq!(p["metadata"]["uid"], h.uid.as_str());
            seen.push(h.seq);
        }
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    let expected: Vec<u64> = (1..=last).rev().collect();
    assert_eq!(seen, expected);

    // Session clusters: what a killed pass left is finished or dropped, and searches by
    // session answer every record (record i is of session s-{i % 5}).
    log.settle_clusters().unwrap();
    let runs: Vec<String> = std::fs::read_dir(dir.join("clusters"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(runs.iter().all(|n| n.ends_with(".mwc")), "{runs:?}");
    for s in 0..5 {
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let page = log
                .search(&Query {
                    session: Some(format!("s-{s}")),
                    before,
                    limit: Some(50),
                    ..Query::default()
                })
                .unwrap();
            got.extend(page.hits.iter().map(|h| h.seq));
            match page.next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        let want: Vec<u64> = (1..=last).rev().filter(|q| (q - 1) % 5 == s).collect();
        assert_eq!(got, want, "session s-{s}");
    }

    // More records after the crash, enough to cross a rotation, and the log still verifies,
    // live and after another reopen.
    let more = 126;
    for _ in 0..more / BATCH {
        let first = log.last_seq();
        log.append((first..first + BATCH).map(record).collect())
            .unwrap();
    }
    assert_eq!(log.last_seq(), last + more);
    log.close().unwrap();
    drop(log);
    let r = verify_dir(dir, &Options::default());
    assert_eq!(r.status, Status::Intact, "after more: {:?}", r.problem);
    assert_eq!(r.last_seq, last + more);
    assert_eq!(r.unsigned_tail, 0);
    let snap = Snapshot::open(dir).unwrap();
    let page = snap
        .search(&Query {
            uid: Some(format!("ev-{}", last + more - 1)),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.hits.len(), 1);
    assert_eq!(page.hits[0].seq, last + more);
    let log = Log::open(dir, signer(), child_config()).unwrap();
    assert_eq!(log.last_seq(), last + more);
}

fn segments_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count()
}

#[test]
fn a_killed_writer_loses_no_acknowledged_record() {
    for kill_after in [1, 7, 40] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("log");
        let mut child = spawn_child(&dir, None);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = 0;
        for _ in 0..kill_after {
            acked = next_ack(&mut lines).expect("the child stopped before it was killed");
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        // Acknowledgements printed before the kill landed count too.
        while let Some(n) = next_ack(&mut lines) {
            acked = n;
        }
        assert!(acked >= kill_after * BATCH);
        if kill_after == 40 {
            assert!(segments_in(&dir) >= 3, "the writer rotated segments");
        }
        check_recovered(&dir, acked);
    }
}

#[test]
fn a_writer_killed_while_it_builds_session_clusters_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("log");
    let mut child = spawn_child(&dir, None);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Long enough for the background passes to copy and merge (one looks every 0.5 s).
    let start = std::time::Instant::now();
    let mut acked = 0;
    let runs = |dir: &Path| {
        std::fs::read_dir(dir.join("clusters"))
            .map(|rd| rd.count())
            .unwrap_or(0)
    };
    while start.elapsed().as_secs() < 20 && (start.elapsed().as_millis() < 1500 || runs(&dir) < 3) {
        acked = next_ack(&mut lines).expect("the child stopped before it was killed");
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    while let Some(n) = next_ack(&mut lines) {
        acked = n;
    }
    assert!(runs(&dir) >= 3, "the child built session clusters");
    check_recovered(&dir, acked);
}

#[test]
fn a_writer_aborted_at_a_failpoint_loses_no_acknowledged_record() {
    for name in ["midwrite", "beforesync", "beforemanifest"] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("log");
        let mut child = spawn_child(&dir, Some(name));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = 0;
        while let Some(n) = next_ack(&mut lines) {
            acked = n;
        }
        let status = child.wait().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(6),
                "{name}: the child aborts at its failpoint ({status})"
            );
        }
        assert!(!status.success());
        assert!(
            acked >= BATCHES_BEFORE_FAILPOINT * BATCH,
            "{name}: acked {acked}"
        );
        if name != "beforemanifest" {
            // The first write with the failpoint on never returns.
            assert_eq!(acked, BATCHES_BEFORE_FAILPOINT * BATCH, "{name}");
        }
        let before = verify_dir(&dir, &Options::default());
        match name {
            "midwrite" => assert!(
                before
                    .warnings
                    .iter()
                    .any(|w| w.contains("unfinished write")),
                "half a batch is on disk: {before:?}"
            ),
            "beforesync" => assert!(before.last_seq > acked, "{before:?}"),
            _ => {
                // The next segment's file exists but the manifest does not name it yet.
                let m = midwatch_evidence::manifest::Manifest::load(&dir).unwrap();
                let named = m.segments.len();
                assert_eq!(segments_in(&dir), named + 1, "{m:?}");
            }
        }
        check_recovered(&dir, acked);
    }
}
