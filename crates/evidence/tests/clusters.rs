//! Session clusters: searches by session answered from the clustered copy exactly as from
//! the segments, through merges, retention, erasure, damage and leftovers of a stopped pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{all_hits, record, signer, small};
use midwatch_evidence::log::segment_file;
use midwatch_evidence::manifest::{Manifest, SegmentState};
use midwatch_evidence::search::SearchError;
use midwatch_evidence::{Config, Kind, Log, NewRecord, Page, Query, Snapshot};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;
const N: u64 = 3000;

/// Record `i`: one of 23 sessions (every 50th record has none), two kinds, three identities.
fn rec(i: u64) -> NewRecord {
    let mut r = record(i);
    r.session = if i.is_multiple_of(50) {
        String::new()
    } else {
        format!("s-{}", i % 23)
    };
    if i.is_multiple_of(7) {
        r.kind = Kind::Finding.code();
    }
    r
}

fn clustered(fan: u64, levels: u32) -> Config {
    Config {
        cluster_fan: fan,
        cluster_levels: levels,
        ..small()
    }
}

/// A log in a new directory with records `0..n` of [`rec`], its clusters settled.
fn settled(n: u64, cfg: Config) -> (tempfile::TempDir, Vec<NewRecord>, Log) {
    let d = tempfile::tempdir().unwrap();
    let recs: Vec<NewRecord> = (0..n).map(rec).collect();
    let log = write(d.path(), cfg, &recs);
    log.settle_clusters().unwrap();
    (d, recs, log)
}

fn write(dir: &Path, cfg: Config, recs: &[NewRecord]) -> Log {
    let log = Log::open(dir, signer(), cfg).unwrap();
    for chunk in recs.chunks(40) {
        log.append(chunk.to_vec()).unwrap();
    }
    log
}

/// Queries by session (some with more criteria) and the records each should find.
type Case = (Query, Box<dyn Fn(u64, &NewRecord) -> bool>);

fn cases() -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for s in [0u64, 1, 7, 22] {
        let name = format!("s-{s}");
        let q = Query {
            session: Some(name.clone()),
            ..Query::default()
        };
        let n = name.clone();
        out.push((q.clone(), Box::new(move |_, r| r.session == n)));
        let n = name.clone();
        out.push((
            Query {
                kind: Some("finding".into()),
                ..q.clone()
            },
            Box::new(move |_, r| r.session == n && r.kind == Kind::Finding.code()),
        ));
        let n = name.clone();
        out.push((
            Query {
                action: Some("download".into()),
                identity: Some("idn-1".into()),
                ..q.clone()
            },
            Box::new(move |_, r| r.session == n && r.action == "download" && r.identity == "idn-1"),
        ));
        let n = name.clone();
        out.push((
            Query {
                since: Some(T0 + 400_000),
                until: Some(T0 + 2_100_000),
                ..q.clone()
            },
            Box::new(move |_, r| {
                r.session == n && r.time >= T0 + 400_000 && r.time <= T0 + 2_100_000
            }),
        ));
        let n = name.clone();
        out.push((
            Query {
                uid: Some(format!("ev-{}", 1000 + s)),
                ..q.clone()
            },
            Box::new(move |_, r| r.session == n && r.uid == format!("ev-{}", 1000 + s)),
        ));
        // Free text is answered from the indexes, not the copy: the same answer either way.
        let n = name;
        out.push((
            Query {
                text: Some("user1".into()),
                ..q
            },
            Box::new(move |i, r| r.session == n && i % 3 == 1),
        ));
    }
    out
}

fn check_answers(search: &dyn Fn(&Query) -> Result<Page, SearchError>, recs: &[NewRecord]) {
    for (q, pred) in cases() {
        let want: Vec<u64> = (0..recs.len() as u64)
            .rev()
            .filter(|i| pred(*i, &recs[*i as usize]))
            .map(|i| i + 1)
            .collect();
        for limit in [1, 7, 100] {
            let q = Query {
                limit: Some(limit),
                ..q.clone()
            };
            let got = all_hits(search, &q);
            let seqs: Vec<u64> = got.iter().map(|h| h.seq).collect();
            assert_eq!(seqs, want, "{q:?}");
            for h in &got {
                let r = &recs[(h.seq - 1) as usize];
                assert_eq!(h.uid, r.uid);
                assert_eq!(h.session, r.session);
                let p = h.payload.as_ref().expect("payload readable");
                assert_eq!(p["metadata"]["uid"], r.uid.as_str());
            }
        }
    }
}

fn run_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("clusters"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sealed(dir: &Path) -> Vec<u64> {
    Manifest::load(dir)
        .unwrap()
        .segments
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .map(|s| s.segment)
        .collect()
}

#[test]
fn searches_by_session_answer_from_the_clusters_as_from_the_segments() {
    let (d, recs, log) = settled(N, clustered(2, 2));
    let dir = d.path();
    let sealed = sealed(dir);
    assert!(sealed.len() >= 40, "{} sealed segments", sealed.len());
    // Merged two at a time over two levels: runs of four segments, and at the newest end
    // at most one run of two and one of one waiting for their neighbours.
    let names = run_files(dir);
    let [l0, l1, l2] =
        ["L0-", "L1-", "L2-"].map(|p| names.iter().filter(|n| n.starts_with(p)).count());
    assert!(
        l0 <= 1 && l1 <= 1 && l2 >= sealed.len() / 4 - 1,
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.ends_with(".mwc")), "{names:?}");

    check_answers(&|q: &Query| log.search(q), &recs);
    let snap = Snapshot::open(dir).unwrap();
    check_answers(&|q: &Query| snap.search(q), &recs);

    // The answers come from the copy: with the records of every covered segment but the
    // newest overwritten in place, a search by session still finds them all.
    log.close().unwrap();
    drop(log);
    let covered: Vec<u64> = sealed.iter().rev().skip(4).copied().collect();
    for n in &covered {
        let p = dir.join(segment_file(*n));
        let len = std::fs::metadata(&p).unwrap().len();
        let mut bytes = std::fs::read(&p).unwrap();
        // Keep the segment header frame; wipe the records behind it.
        let keep = 200.min(len as usize);
        bytes[keep..].fill(0);
        std::fs::write(&p, &bytes).unwrap();
    }
    let snap = Snapshot::open(dir).unwrap();
    let q = Query {
        session: Some("s-7".into()),
        limit: Some(1000),
        ..Query::default()
    };
    let want: Vec<u64> = (0..N)
        .rev()
        .filter(|i| recs[*i as usize].session == "s-7")
        .map(|i| i + 1)
        .collect();
    let got = all_hits(&|q: &Query| snap.search(q), &q);
    assert_eq!(got.iter().map(|h| h.seq).collect::<Vec<_>>(), want);
    // A free-text search reads the wiped records themselves and says so.
    let err = snap
        .search(&Query {
            text: Some("user1".into()),
            ..Query::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("segment"), "{err}");
}

#[test]
fn a_log_without_clusters_answers_the_same_and_builds_none() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let recs: Vec<NewRecord> = (0..1200).map(rec).collect();
    let log = write(dir, clustered(0, 2), &recs);
    log.settle_clusters().unwrap();
    assert!(run_files(dir).is_empty());
    check_answers(&|q: &Query| log.search(q), &recs);
    // Bad settings are refused by name.
    drop(log);
    for (fan, levels) in [(1, 2), (300, 2), (16, 9)] {
        let e = Log::open(dir, signer(), clustered(fan, levels)).unwrap_err();
        assert!(e.to_string().contains("session clusters"), "{e}");
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The record numbers of the `old-mark-N` notes in bytes.
fn marks(b: &[u8]) -> Vec<u64> {
    let needle = b"old-mark-";
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = b[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + at + needle.len();
        let digits: String = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .map(|c| *c as char)
            .collect();
        out.push(digits.parse().unwrap());
        i = start;
    }
    out
}

fn cluster_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    run_files(dir)
        .iter()
        .map(|n| {
            let p = dir.join("clusters").join(n);
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

#[test]
fn retention_leaves_no_copy_of_removed_records() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // The first 1500 records are 400 days old; payloads in clear so copies can be seen.
    let recs: Vec<NewRecord> = (0..N)
        .map(|i| {
            let mut r = rec(i);
            r.time = (if i < 1500 { T0 } else { T0 + 400 * DAY }) + i as i64;
            r.payload = serde_json::to_vec(&serde_json::json!({
                "metadata": {"uid": r.uid},
                "note": if i < 1500 { format!("old-mark-{i}") } else { format!("new-mark-{i}") },
            }))
            .unwrap();
            r.word_keys = Vec::new();
            r
        })
        .collect();
    let cfg = Config {
        encrypt: false,
        ..clustered(3, 2)
    };
    let log = write(dir, cfg, &recs);
    log.settle_clusters().unwrap();
    assert!(
        cluster_bytes(dir)
            .iter()
            .any(|(_, b)| contains(b, b"old-mark-"))
    );
    let retention = BTreeMap::from([(Kind::Event, 365 * DAY), (Kind::Finding, 365 * DAY)]);
    let gone = log.retain(T0 + 400 * DAY, &retention).unwrap();
    assert!(gone.len() >= 10, "{} segments removed", gone.len());
    log.settle_clusters().unwrap();
    // No run keeps a record of a removed segment (the segment that holds both old and new
    // records is kept whole, and so are its copies).
    let removed: Vec<u64> = Manifest::load(dir)
        .unwrap()
        .segments
        .iter()
        .filter(|s| s.state == SegmentState::Removed)
        .flat_map(|s| s.first_seq..=s.last_seq)
        .collect();
    assert!(removed.len() > 1000, "{} records removed", removed.len());
    let runs = cluster_bytes(dir);
    assert!(!runs.is_empty());
    let mut copied = std::collections::BTreeSet::new();
    for (_, b) in &runs {
        copied.extend(marks(b));
    }
    assert!(!copied.is_empty());
    for &seq in &removed {
        assert!(
            !copied.contains(&(seq - 1)),
            "a run keeps removed record {seq}"
        );
    }
    // Searches by session find the records kept and only them.
    let q = Query {
        session: Some("s-4".into()),
        limit: Some(50),
        ..Query::default()
    };
    let got = all_hits(&|q: &Query| log.search(q), &q);
    let want: Vec<u64> = (1..=N)
        .rev()
        .filter(|s| !removed.contains(s) && recs[(*s - 1) as usize].session == "s-4")
        .collect();
    assert_eq!(got.iter().map(|h| h.seq).collect::<Vec<_>>(), want);
    for h in &got {
        let age = if h.seq <= 1500 { "old" } else { "new" };
        assert_eq!(
            h.payload.as_ref().unwrap()["note"],
            format!("{age}-mark-{}", h.seq - 1).as_str()
        );
    }
}

#[test]
fn an_erased_identity_is_erased_in_the_copy_too() {
    let (d, recs, log) = settled(1500, clustered(2, 3));
    let dir = d.path();
    assert!(!run_files(dir).is_empty());
    log.erase_identity("idn-2", "auditor").unwrap();
    let q = Query {
        session: Some("s-5".into()),
        limit: Some(1000),
        ..Query::default()
    };
    let hits = log.search(&q).unwrap().hits;
    assert!(!hits.is_empty());
    for h in &hits {
        let r = &recs[(h.seq - 1) as usize];
        assert_eq!(h.erased, r.identity == "idn-2", "record {}", h.seq);
        assert_eq!(h.payload.is_none(), r.identity == "idn-2");
    }
    assert!(hits.iter().any(|h| h.erased) && hits.iter().any(|h| !h.erased));
}

#[test]
fn damaged_runs_and_leftovers_are_passed_over_then_rebuilt() {
    let (d, recs, log) = settled(N, clustered(2, 2));
    let dir = d.path();
    let before = cluster_bytes(dir);
    // A flipped byte in the records of every run, a file of garbage under a run's name,
    // a run cut short, and a pass's unfinished output.
    for (p, b) in &before {
        let mut b = b.clone();
        let at = 8 + (b.len() - 8) / 3;
        b[at] ^= 0x20;
        std::fs::write(p, &b).unwrap();
    }
    let clusters = dir.join("clusters");
    std::fs::write(clusters.join("L0-0000009999.mwc"), b"not a run at all").unwrap();
    std::fs::write(clusters.join("L1-0000009990.mwc.part"), vec![7u8; 5000]).unwrap();
    let (last, b) = &before[before.len() - 1];
    std::fs::write(last, &b[..b.len() / 2]).unwrap();
    // Searches still answer rightly, reading the segments where the copy fails them.
    check_answers(&|q: &Query| log.search(q), &recs);
    let snap = Snapshot::open(dir).unwrap();
    check_answers(&|q: &Query| snap.search(q), &recs);
    // Every session read whole: each damaged run is found.
    for s in 0..23 {
        let q = Query {
            session: Some(format!("s-{s}")),
            limit: Some(1000),
            ..Query::default()
        };
        let want = (0..N)
            .filter(|i| recs[*i as usize].session == format!("s-{s}"))
            .count();
        assert_eq!(all_hits(&|q: &Query| log.search(q), &q).len(), want);
    }
    // The next pass drops what is damaged and builds it again, byte for byte as before.
    log.settle_clusters().unwrap();
    assert_eq!(cluster_bytes(dir), before);
    check_answers(&|q: &Query| log.search(q), &recs);
}

#[test]
fn runs_are_built_in_the_background_and_survive_a_reopen() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let recs: Vec<NewRecord> = (0..1500).map(rec).collect();
    {
        let log = write(dir, clustered(2, 2), &recs);
        // Without being asked: the background pass catches up within seconds.
        let start = std::time::Instant::now();
        while run_files(dir)
            .iter()
            .filter(|n| n.starts_with("L2-"))
            .count()
            < 3
        {
            assert!(start.elapsed().as_secs() < 60, "{:?}", run_files(dir));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        log.close().unwrap();
    }
    let log = Log::open(dir, signer(), clustered(2, 2)).unwrap();
    log.settle_clusters().unwrap();
    check_answers(&|q: &Query| log.search(q), &recs);
}

/// Change `from` to `to` (same length) in the first record of a run holding it, and fix the
/// record's CRC, as someone who can write the directory would. True if a record was found.
fn forge(path: &Path, from: &[u8], to: &[u8]) -> bool {
    let mut b = std::fs::read(path).unwrap();
    let foot = b.len() - 124;
    let table_at = u64::from_le_bytes(b[foot + 44..foot + 52].try_into().unwrap()) as usize;
    let mut at = 8;
    while at < table_at {
        let len = u32::from_le_bytes(b[at + 44..at + 48].try_into().unwrap()) as usize;
        let frame = at + 48..at + 48 + len;
        if let Some(i) = b[frame.clone()].windows(from.len()).position(|w| w == from) {
            let s = frame.start + i;
            b[s..s + to.len()].copy_from_slice(to);
            let mut c = crc32fast::Hasher::new();
            c.update(&b[at..at + 40]);
            c.update(&b[frame]);
            b[at + 40..at + 44].copy_from_slice(&c.finalize().to_le_bytes());
            std::fs::write(path, &b).unwrap();
            return true;
        }
        at += 48 + len;
    }
    false
}

#[test]
fn a_record_forged_in_a_run_is_never_shown() {
    let cfg = Config {
        encrypt: false,
        ..clustered(2, 2)
    };
    let (d, recs, log) = settled(1500, cfg);
    let dir = d.path();
    let before = cluster_bytes(dir);
    // Record 701's id becomes another's in the run that holds it.
    let forged = before
        .iter()
        .filter(|(p, _)| forge(p, b"\"ev-701\"", b"\"ev-799\""))
        .count();
    assert_eq!(forged, 1);
    let q = Query {
        session: Some(recs[701].session.clone()),
        limit: Some(1000),
        ..Query::default()
    };
    for hits in [
        log.search(&q).unwrap().hits,
        Snapshot::open(dir).unwrap().search(&q).unwrap().hits,
    ] {
        let h = hits
            .iter()
            .find(|h| h.seq == 702)
            .expect("record 701 found");
        assert_eq!(h.uid, "ev-701");
        assert_eq!(h.payload.as_ref().unwrap()["metadata"]["uid"], "ev-701");
        assert!(hits.iter().all(|h| h.uid == recs[(h.seq - 1) as usize].uid));
    }
    // The forged run is dropped and built again as it was.
    log.settle_clusters().unwrap();
    assert_eq!(cluster_bytes(dir), before);
    // A run signed with another key is not believed either: the log rebuilds it.
    drop(log);
    let (p, _) = &before[0];
    let other = dir.join("other");
    let olog = Log::open(
        &other,
        midwatch_evidence::Signer::from_seed(&[9; 32]),
        clustered(2, 2),
    )
    .unwrap();
    for chunk in recs.chunks(40) {
        olog.append(chunk.to_vec()).unwrap();
    }
    olog.settle_clusters().unwrap();
    let theirs = std::fs::read(other.join("clusters").join(p.file_name().unwrap())).unwrap();
    std::fs::write(p, &theirs).unwrap();
    let log = Log::open(dir, signer(), clustered(2, 2)).unwrap();
    check_answers(&|q: &Query| log.search(q), &recs);
    log.settle_clusters().unwrap();
    assert_eq!(cluster_bytes(dir), before);
}

#[test]
fn a_record_forged_in_a_run_is_not_carried_into_the_run_a_merge_signs() {
    let cfg = Config {
        encrypt: false,
        ..clustered(2, 2)
    };
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let recs: Vec<NewRecord> = (0..N).map(rec).collect();
    let log = Log::open(dir, signer(), cfg).unwrap();
    // Appended until a level-0 run waits for its neighbour.
    let mut next = 0;
    let lone = loop {
        log.append(recs[next..next + 40].to_vec()).unwrap();
        next += 40;
        log.settle_clusters().unwrap();
        if let Some(r) = run_files(dir).into_iter().find(|r| r.starts_with("L0-")) {
            break r;
        }
    };
    let path = dir.join("clusters").join(&lone);
    assert!(forge(&path, b"files.example.com", b"filez.example.com"));
    // More records: the next segment seals and the forged run merges with its copy.
    let sealed_before = sealed(dir).len();
    while sealed(dir).len() == sealed_before {
        log.append(recs[next..next + 40].to_vec()).unwrap();
        next += 40;
    }
    log.settle_clusters().unwrap();
    assert!(
        !run_files(dir).contains(&lone),
        "{lone} was merged or dropped: {:?}",
        run_files(dir)
    );
    log.settle_clusters().unwrap();
    for (p, b) in cluster_bytes(dir) {
        assert!(
            !contains(&b, b"filez"),
            "{} carries the forged bytes",
            p.display()
        );
    }
    let shown = recs[..next].to_vec();
    check_answers(&|q: &Query| log.search(q), &shown);
}
