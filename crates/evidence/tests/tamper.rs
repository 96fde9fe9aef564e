//! Every kind of tampering is detected and located: a flipped byte anywhere, a dropped record,
//! two records reordered, a truncated tail (with anchoring), a replaced segment, a forged
//! checkpoint, an edited manifest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{signer, small, write_log};
use midwatch_evidence::codec::{FRAME_CHECKPOINT, FRAME_RECORD, Frames, put_frame, sha256};
use midwatch_evidence::sign::Checkpoint;
use midwatch_evidence::verify::{Options, verify_dir};
use midwatch_evidence::{Config, Log, Signer, Status};
use std::path::{Path, PathBuf};

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

fn intact(dir: &Path) -> midwatch_evidence::Report {
    let r = verify_dir(dir, &Options::default());
    assert_eq!(r.status, Status::Intact, "{:?}", r.problem);
    r
}

fn tampered(dir: &Path, opts: &Options) -> midwatch_evidence::verify::Problem {
    let r = verify_dir(dir, opts);
    assert_eq!(r.status, Status::Tampered, "{r:?}");
    r.problem.unwrap()
}

/// Frames of a segment as (kind, start, end) byte ranges.
fn frame_ranges(bytes: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut out = Vec::new();
    let mut frames = Frames::new(bytes);
    let mut last = 0;
    while let Some(f) = frames.next() {
        let end = frames.position() as usize;
        out.push((f.kind, last, end));
        last = end;
    }
    out
}

fn fresh(n: u64) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), small(), n, 7);
    d
}

#[test]
fn an_untouched_log_verifies() {
    let d = fresh(300);
    let r = intact(d.path());
    assert_eq!(r.records, 300);
    assert_eq!(r.last_seq, 300);
    assert!(r.segments >= 3, "{r:?}");
    assert!(r.checkpoints >= 300 / 16);
    assert_eq!(r.unsigned_tail, 0);
}

#[test]
fn a_flipped_byte_anywhere_in_a_segment_or_the_manifest_is_found() {
    let d = fresh(120);
    let mut files = segments(d.path());
    files.push(d.path().join("MANIFEST"));
    for f in files {
        let orig = std::fs::read(&f).unwrap();
        // Every byte of small files would be slow in a debug build: every 17th byte and the
        // first and last.
        let mut positions: Vec<usize> = (0..orig.len()).step_by(17).collect();
        positions.push(orig.len() - 1);
        for pos in positions {
            let mut b = orig.clone();
            b[pos] ^= 0x20;
            std::fs::write(&f, &b).unwrap();
            let r = verify_dir(d.path(), &Options::default());
            assert_eq!(
                r.status,
                Status::Tampered,
                "flip at {pos} of {} went unnoticed",
                f.display()
            );
            let p = r.problem.unwrap();
            let name = f.file_name().unwrap().to_str().unwrap();
            assert_eq!(p.file.as_deref(), Some(name), "flip at {pos}: {p}");
            if let Some(off) = p.offset {
                assert!(off as usize <= pos, "flip at {pos} located after it: {p}");
            }
        }
        std::fs::write(&f, &orig).unwrap();
    }
    intact(d.path());
}

#[test]
fn a_dropped_record_is_found_at_its_place() {
    let d = fresh(60);
    let seg = &segments(d.path())[0];
    let b = std::fs::read(seg).unwrap();
    let frames = frame_ranges(&b);
    let (_, s, e) = *frames
        .iter()
        .filter(|f| f.0 == FRAME_RECORD)
        .nth(3)
        .unwrap();
    let mut cut = b[..s].to_vec();
    cut.extend_from_slice(&b[e..]);
    std::fs::write(seg, cut).unwrap();
    let p = tampered(d.path(), &Options::default());
    assert_eq!(p.seq, Some(4), "{p}");
    assert_eq!(p.offset, Some(s as u64), "{p}");
    assert!(p.what.contains("dropped or reordered"), "{p}");
}

#[test]
fn two_reordered_records_are_found() {
    let d = fresh(60);
    let seg = &segments(d.path())[1];
    let b = std::fs::read(seg).unwrap();
    let recs: Vec<_> = frame_ranges(&b)
        .into_iter()
        .filter(|f| f.0 == FRAME_RECORD)
        .collect();
    let (a, b2) = (recs[2], recs[3]);
    let mut out = b[..a.1].to_vec();
    out.extend_from_slice(&b[b2.1..b2.2]);
    out.extend_from_slice(&b[a.1..a.2]);
    out.extend_from_slice(&b[b2.2..]);
    std::fs::write(seg, out).unwrap();
    let p = tampered(d.path(), &Options::default());
    assert_eq!(p.offset, Some(a.1 as u64), "{p}");
    assert_eq!(p.segment, Some(2));
}

#[test]
fn a_truncated_tail_is_found_with_an_anchor_and_only_with_one() {
    let d = tempfile::tempdir().unwrap();
    let anchor = d.path().join("anchor.log");
    let cfg = Config {
        anchor_file: Some(anchor.clone()),
        ..small()
    };
    let dir = d.path().join("log");
    write_log(&dir, cfg, 100, 5);
    let with_anchor = Options {
        anchor: Some(anchor.clone()),
        ..Options::default()
    };
    assert_eq!(verify_dir(&dir, &with_anchor).status, Status::Intact);
    // Cut the active segment after its header: a clean-looking, shorter log.
    let seg = segments(&dir).pop().unwrap();
    let b = std::fs::read(&seg).unwrap();
    let header = frame_ranges(&b)[0];
    assert!(frame_ranges(&b).iter().any(|f| f.0 == FRAME_RECORD));
    std::fs::write(&seg, &b[..header.2]).unwrap();
    let plain = verify_dir(&dir, &Options::default());
    assert_eq!(
        plain.status,
        Status::Intact,
        "without an anchor a clean cut looks whole"
    );
    let p = tampered(&dir, &with_anchor);
    assert!(p.what.contains("truncated"), "{p}");
    assert_eq!(p.seq, Some(100));
}

#[test]
fn a_replaced_segment_is_found() {
    // The same records written by another writer under another key, and under the same key
    // with one record changed: both segments are well formed on their own.
    let d = fresh(120);
    let other = tempfile::tempdir().unwrap();
    {
        let log = Log::open(other.path(), Signer::from_seed(&[9; 32]), small()).unwrap();
        for i in 0..120 {
            log.append(vec![common::record(i)]).unwrap();
        }
        log.close().unwrap();
    }
    let mine = segments(d.path());
    let theirs = segments(other.path());
    std::fs::copy(&theirs[1], &mine[1]).unwrap();
    let p = tampered(d.path(), &Options::default());
    assert_eq!(p.segment, Some(2), "{p}");

    let same_key = tempfile::tempdir().unwrap();
    {
        let log = Log::open(same_key.path(), signer(), small()).unwrap();
        for i in 0..120 {
            let mut r = common::record(i);
            if i == 40 {
                r.action = "forged".into();
            }
            log.append(vec![r]).unwrap();
        }
        log.close().unwrap();
    }
    let d = fresh(120);
    let mine = segments(d.path());
    let theirs = segments(same_key.path());
    let idx = mine.len() - 1;
    std::fs::copy(&theirs[idx], &mine[idx]).unwrap();
    let r = verify_dir(d.path(), &Options::default());
    assert_eq!(r.status, Status::Tampered, "{r:?}");
}

#[test]
fn a_forged_checkpoint_is_found() {
    let d = fresh(60);
    let seg = &segments(d.path())[0];
    let b = std::fs::read(seg).unwrap();
    let (_, s, e) = frame_ranges(&b)
        .into_iter()
        .find(|f| f.0 == FRAME_CHECKPOINT)
        .unwrap();
    let body = &b[s + 9..e - 32];
    let mut c = Checkpoint::decode(body).unwrap();
    // A forger without the key: change the covered hash and re-sign with their own key.
    c.chain_hash[0] ^= 1;
    let forged = c.clone().sign(&Signer::from_seed(&[1; 32]));
    let fb = forged.encode();
    let mut out = b[..s].to_vec();
    put_frame(&mut out, FRAME_CHECKPOINT, &fb, &sha256(&fb));
    out.extend_from_slice(&b[e..]);
    std::fs::write(seg, out).unwrap();
    let p = tampered(d.path(), &Options::default());
    assert!(p.what.contains("signature"), "{p}");
    assert_eq!(p.offset, Some(s as u64));
}

#[test]
fn a_log_signed_by_another_key_than_the_trusted_one_is_refused() {
    let d = fresh(10);
    let opts = Options {
        trusted_key: Some(Signer::from_seed(&[1; 32]).public_key()),
        ..Options::default()
    };
    let p = tampered(d.path(), &opts);
    assert!(p.what.contains("not the trusted key"), "{p}");
    let ok = Options {
        trusted_key: Some(signer().public_key()),
        ..Options::default()
    };
    assert_eq!(verify_dir(d.path(), &ok).status, Status::Intact);
}

#[test]
fn a_removed_segment_file_is_found_and_a_missing_log_is_unreadable() {
    let d = fresh(120);
    std::fs::remove_file(&segments(d.path())[1]).unwrap();
    let p = tampered(d.path(), &Options::default());
    assert_eq!(p.segment, Some(2), "{p}");
    let none = tempfile::tempdir().unwrap();
    let r = verify_dir(&none.path().join("nothing"), &Options::default());
    assert_eq!(r.status, Status::Unreadable);
    assert_eq!(r.status.exit_code(), 2);
}

#[test]
fn a_removed_manifest_or_active_segment_is_refused_not_started_over() {
    let d = fresh(60);
    let manifest = d.path().join("MANIFEST");
    let saved = std::fs::read(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    let err = Log::open(d.path(), signer(), small()).unwrap_err();
    assert!(err.to_string().contains("no MANIFEST"), "{err}");
    let p = tampered(d.path(), &Options::default());
    assert!(p.what.contains("missing"), "{p}");
    std::fs::write(&manifest, saved).unwrap();
    intact(d.path());

    let active = segments(d.path()).pop().unwrap();
    let saved = std::fs::read(&active).unwrap();
    std::fs::remove_file(&active).unwrap();
    let err = Log::open(d.path(), signer(), small()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    std::fs::write(&active, saved).unwrap();
    intact(d.path());
}

#[test]
fn an_anchor_written_under_another_key_means_the_log_was_replaced() {
    let d = tempfile::tempdir().unwrap();
    let anchor = d.path().join("anchor.log");
    let cfg = Config {
        anchor_file: Some(anchor.clone()),
        ..small()
    };
    write_log(&d.path().join("log"), cfg, 40, 5);
    // The same records, rebuilt by someone holding another key.
    let forged = d.path().join("forged");
    let log = Log::open(&forged, Signer::from_seed(&[3; 32]), small()).unwrap();
    log.append((0..40).map(common::record).collect()).unwrap();
    log.close().unwrap();
    drop(log);
    let opts = Options {
        anchor: Some(anchor),
        ..Options::default()
    };
    let p = tampered(&forged, &opts);
    assert!(p.what.contains("not signed by the log's key"), "{p}");
}

#[test]
fn files_of_removed_segments_left_by_a_crash_are_deleted_on_open() {
    let d = fresh(120);
    let segs = segments(d.path());
    let first = std::fs::read(&segs[0]).unwrap();
    let log = Log::open(d.path(), signer(), small()).unwrap();
    let retention = [(midwatch_evidence::Kind::Event, 30 * 86_400_000)].into();
    let gone = log.retain(midwatch_evidence::now_ms(), &retention).unwrap();
    assert!(!gone.is_empty());
    drop(log);
    // As if the process died after the manifest said "removed" and before the deletion.
    std::fs::write(&segs[0], &first).unwrap();
    drop(Log::open(d.path(), signer(), small()).unwrap());
    assert!(!segs[0].exists());
    let r = intact(d.path());
    assert!(r.removed_segments >= 1);
}

#[test]
fn a_manifest_given_as_garbage_truncated_or_oversized_bytes_is_tampered_never_a_panic() {
    let d = fresh(120);
    let good = std::fs::read(d.path().join("MANIFEST")).unwrap();
    let opts = Options::default();
    let as_of =
        |bytes: Vec<u8>| midwatch_evidence::verify::verify_as_of(d.path(), &opts, Ok(bytes));
    assert_eq!(as_of(good.clone()).status, Status::Intact);
    let mut oversized = good.clone();
    oversized.extend(std::iter::repeat_n(b' ', 1 << 20));
    for bytes in [
        b"\x00\xff garbage".to_vec(),
        good[..good.len() / 2].to_vec(),
        Vec::new(),
        oversized,
    ] {
        let r = as_of(bytes);
        assert_eq!(r.status, Status::Tampered, "{r:?}");
        assert_eq!(r.problem.unwrap().file.as_deref(), Some("MANIFEST"));
    }
}
