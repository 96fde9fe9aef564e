//! Bundles: export a session, identity, finding or time range; verify offline; any change
//! to a bundle is found and located.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{record, signer, small};
use midwatch_evidence::bundle::{
    BundleError, Selection, Summary, export, read_records, tar, verify_bundle,
};
use midwatch_evidence::verify::Options;
use midwatch_evidence::{Kind, Log, NewRecord, Status};
use std::path::Path;

fn finding(id: &str, session: &str, events: &[&str]) -> NewRecord {
    let payload = serde_json::json!({
        "class_uid": 2004,
        "severity": "High",
        "status": "open",
        "finding_info": {
            "uid": id,
            "title": "Session replayed from a second device",
            "related_events": events.iter().map(|e| serde_json::json!({"uid": e})).collect::<Vec<_>>(),
        },
    });
    NewRecord {
        kind: Kind::Finding.code(),
        time: 1_700_000_100_000,
        class_uid: 2004,
        uid: id.into(),
        session: session.into(),
        identity: "idn-2".into(),
        action: "midwatch.builtin.session_replay".into(),
        word_keys: midwatch_evidence::search::value_word_keys(&payload),
        payload: serde_json::to_vec(&payload).unwrap(),
        ..NewRecord::default()
    }
}

fn log_with_finding(dir: &Path) -> Log {
    let log = Log::open(dir, signer(), small()).unwrap();
    for chunk in (0..200u64).collect::<Vec<_>>().chunks(9) {
        log.append(chunk.iter().map(|i| record(*i)).collect())
            .unwrap();
    }
    log.append(vec![finding("f-1", "s-2", &["ev-7", "ev-12", "ev-152"])])
        .unwrap();
    log.checkpoint_now().unwrap();
    log
}

/// The records of one session.
fn session(id: &str) -> Selection {
    Selection {
        session: Some(id.into()),
        ..Selection::default()
    }
}

/// A log with a finding, and the bundle of `sel` exported from it to `name`.
fn exported(d: &Path, name: &str, sel: Selection) -> (Log, std::path::PathBuf, Summary) {
    let log = log_with_finding(&d.join("log"));
    let out = d.join(name);
    let summary = export(&log.dir(), &signer(), &sel, &out).unwrap();
    (log, out, summary)
}

fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    tar::read(&std::fs::read(path).unwrap()).unwrap()
}

fn rewrite(path: &Path, f: impl Fn(&str, &mut Vec<u8>)) {
    let mut e = entries(path);
    for (n, b) in &mut e {
        f(n, b);
    }
    let refs: Vec<(&str, Vec<u8>)> = e.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    std::fs::write(path, tar::write(&refs, 0)).unwrap();
}

#[test]
fn a_session_bundle_verifies_and_holds_exactly_the_session() {
    let d = tempfile::tempdir().unwrap();
    let (_log, out, summary) = exported(d.path(), "s2.tar", session("s-2"));
    assert_eq!(summary.records, 41, "40 events of s-2 and its finding");
    let r = verify_bundle(&out, &Options::default());
    assert_eq!(r.status, Status::Intact, "{:?}", r.problem);
    assert_eq!(r.records, 41);
    let recs = read_records(&out).unwrap();
    assert!(recs.iter().all(|h| h.session == "s-2"));
    assert!(recs.iter().all(|h| h.payload.is_some() && !h.erased));
    let names: Vec<String> = entries(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "bundle.json",
            "records.ndjson",
            "checkpoints.ndjson",
            "keys.json",
            "timeline.html"
        ]
    );
    let html = String::from_utf8(entries(&out).remove(4).1).unwrap();
    assert!(html.contains("Session replayed from a second device"));
    assert_eq!(html.matches("<tr class=\"event\"").count(), 40);
    // Pinning the right key passes, another key fails.
    let pinned = Options {
        trusted_key: Some(signer().public_key()),
        ..Options::default()
    };
    assert_eq!(verify_bundle(&out, &pinned).status, Status::Intact);
    let other = Options {
        trusted_key: Some(midwatch_evidence::Signer::from_seed(&[3; 32]).public_key()),
        ..Options::default()
    };
    assert_eq!(verify_bundle(&out, &other).status, Status::Tampered);
}

#[test]
fn a_finding_bundle_holds_the_finding_and_its_evidence_chain() {
    let d = tempfile::tempdir().unwrap();
    let (_log, out, _) = exported(
        d.path(),
        "f.tar",
        Selection {
            finding: Some("f-1".into()),
            ..Selection::default()
        },
    );
    assert_eq!(
        verify_bundle(&out, &Options::default()).status,
        Status::Intact
    );
    let mut uids: Vec<String> = read_records(&out)
        .unwrap()
        .into_iter()
        .map(|h| h.uid)
        .collect();
    uids.sort();
    assert_eq!(uids, ["ev-12", "ev-152", "ev-7", "f-1"]);
}

#[test]
fn every_change_to_a_bundle_is_found_and_located() {
    let d = tempfile::tempdir().unwrap();
    let sel = Selection {
        identity: Some("idn-1".into()),
        ..Selection::default()
    };
    let (log, out, _) = exported(d.path(), "i.tar", sel.clone());
    let orig = std::fs::read(&out).unwrap();
    let check = |what: &str, f: &dyn Fn(&str, &mut Vec<u8>), file: &str| {
        std::fs::write(&out, &orig).unwrap();
        rewrite(&out, f);
        let r = verify_bundle(&out, &Options::default());
        assert_eq!(r.status, Status::Tampered, "{what}: {r:?}");
        assert_eq!(
            r.problem.as_ref().unwrap().file.as_deref(),
            Some(file),
            "{what}: {r:?}"
        );
    };
    check(
        "timeline edited",
        &|n, b| {
            if n == "timeline.html" {
                b.extend_from_slice(b"<p>added</p>");
            }
        },
        "timeline.html",
    );
    check(
        "a record dropped (digests fixed up, signature not)",
        &|n, b| {
            if n == "records.ndjson" {
                let s = String::from_utf8(b.clone()).unwrap();
                *b = s
                    .lines()
                    .skip(1)
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes();
            }
        },
        "records.ndjson",
    );
    check(
        "bundle.json edited",
        &|n, b| {
            if n == "bundle.json" {
                let s = String::from_utf8(b.clone())
                    .unwrap()
                    .replace("identity idn-1", "identity idn-0");
                *b = s.into_bytes();
            }
        },
        "bundle.json",
    );
    // A whole re-signed bundle by someone without the key: records changed, digests and the
    // manifest recomputed, signed with the forger's key. Found once the real key is pinned.
    std::fs::write(&out, &orig).unwrap();
    let forged = d.path().join("forged.tar");
    let forger = midwatch_evidence::Signer::from_seed(&[5; 32]);
    let other_log = Log::open(&d.path().join("other"), forger, small()).unwrap();
    for i in 0..50 {
        other_log.append(vec![record(i)]).unwrap();
    }
    other_log.checkpoint_now().unwrap();
    export(
        &other_log.dir(),
        &midwatch_evidence::Signer::from_seed(&[5; 32]),
        &sel,
        &forged,
    )
    .unwrap();
    assert_eq!(
        verify_bundle(&forged, &Options::default()).status,
        Status::Intact
    );
    let pinned = Options {
        trusted_key: Some(signer().public_key()),
        ..Options::default()
    };
    assert_eq!(verify_bundle(&forged, &pinned).status, Status::Tampered);
    drop(log);
}

#[test]
fn a_record_changed_inside_a_resigned_bundle_fails_its_chain_hash() {
    // The forger holds the bundle-signing key (worst case) but not the checkpoints' past:
    // a changed record no longer hashes to what the signed checkpoint's tree holds.
    let d = tempfile::tempdir().unwrap();
    let (_log, out, _) = exported(d.path(), "s.tar", session("s-1"));
    let mut e = entries(&out);
    let recs = &mut e[1].1;
    let text = String::from_utf8(recs.clone()).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Flip one byte of the third record's body and recompute its chain hash.
    let body = lines[2]["body"].as_str().unwrap().to_string();
    let mut raw: Vec<u8> = (0..body.len() / 2)
        .map(|i| u8::from_str_radix(&body[i * 2..i * 2 + 2], 16).unwrap())
        .collect();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let prev = midwatch_evidence::codec::unhex::<32>(lines[2]["prev"].as_str().unwrap()).unwrap();
    lines[2]["body"] = midwatch_evidence::codec::hex(&raw).into();
    lines[2]["hash"] =
        midwatch_evidence::codec::hex(&midwatch_evidence::codec::chain_hash(&prev, &raw)).into();
    *recs = lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    // Re-sign everything with the real key.
    let mut m: midwatch_evidence::bundle::BundleManifest = serde_json::from_slice(&e[0].1).unwrap();
    for (n, b) in &e[1..] {
        m.files.insert(
            n.clone(),
            midwatch_evidence::codec::hex(&midwatch_evidence::codec::sha256(b)),
        );
    }
    m.signature.clear();
    let mut unsigned = m.clone();
    unsigned.signature.clear();
    m.signature = midwatch_evidence::codec::hex(
        &signer().sign_bundle(&serde_json::to_vec(&unsigned).unwrap()),
    );
    e[0].1 = serde_json::to_vec_pretty(&m).unwrap();
    let refs: Vec<(&str, Vec<u8>)> = e.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    std::fs::write(&out, tar::write(&refs, 0)).unwrap();
    let r = verify_bundle(&out, &Options::default());
    assert_eq!(r.status, Status::Tampered, "{r:?}");
    let p = r.problem.unwrap();
    assert_eq!(p.line, Some(3), "{p}");
    assert!(p.what.contains("Merkle"), "{p}");
}

#[test]
fn erased_identities_export_as_erased_and_still_verify() {
    let d = tempfile::tempdir().unwrap();
    let log = log_with_finding(&d.path().join("log"));
    log.erase_identity("idn-0", "dpo@example.com").unwrap();
    log.checkpoint_now().unwrap();
    let out = d.path().join("s.tar");
    let sel = Selection {
        session: Some("s-0".into()),
        ..Selection::default()
    };
    export(&log.dir(), &signer(), &sel, &out).unwrap();
    assert_eq!(
        verify_bundle(&out, &Options::default()).status,
        Status::Intact
    );
    let recs = read_records(&out).unwrap();
    let erased = recs.iter().filter(|h| h.erased).count();
    let readable = recs.iter().filter(|h| h.payload.is_some()).count();
    assert!(
        erased > 0 && readable > 0,
        "{erased} erased, {readable} readable"
    );
    assert!(
        recs.iter()
            .filter(|h| h.erased)
            .all(|h| h.identity == "idn-0")
    );
}

#[test]
fn garbage_and_empty_selections_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let log = log_with_finding(&d.path().join("log"));
    let out = d.path().join("x.tar");
    assert!(matches!(
        export(&log.dir(), &signer(), &Selection::default(), &out),
        Err(BundleError::Empty)
    ));
    let none = Selection {
        session: Some("no-such-session".into()),
        ..Selection::default()
    };
    assert!(matches!(
        export(&log.dir(), &signer(), &none, &out),
        Err(BundleError::NoRecords(_))
    ));
    std::fs::write(&out, b"not a tar at all").unwrap();
    assert_eq!(
        verify_bundle(&out, &Options::default()).status,
        Status::Unreadable
    );
    assert_eq!(
        verify_bundle(&d.path().join("missing.tar"), &Options::default()).status,
        Status::Unreadable
    );
    let mut junk = vec![0u8; 512];
    junk[0] = b'x';
    std::fs::write(&out, &junk).unwrap();
    assert_eq!(
        verify_bundle(&out, &Options::default()).status,
        Status::Unreadable
    );
}

/// Writes fuzz seeds (a segment and a bundle) when `MIDWATCH_WRITE_FUZZ_SEEDS` names a
/// directory: `cargo test -p midwatch-evidence --test bundle write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz seeds on demand"]
fn write_fuzz_seeds() {
    let Ok(out) = std::env::var("MIDWATCH_WRITE_FUZZ_SEEDS") else {
        return;
    };
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = midwatch_evidence::Config {
        checkpoint_records: 4,
        ..small()
    };
    let log = Log::open(&d.path().join("log"), signer(), cfg).unwrap();
    log.append((0..10).map(record).collect()).unwrap();
    log.append(vec![finding("f-1", "s-2", &["ev-7", "ev-2"])])
        .unwrap();
    log.checkpoint_now().unwrap();
    std::fs::copy(d.path().join("log/seg-00000001.log"), out.join("segment")).unwrap();
    let sel = Selection {
        session: Some("s-2".into()),
        ..Selection::default()
    };
    export(&log.dir(), &signer(), &sel, &out.join("bundle")).unwrap();
}

#[test]
fn a_bundle_whose_tar_would_extract_other_files_than_it_checks_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (_log, out, _) = exported(d.path(), "s.tar", session("s-1"));
    let good = entries(&out);
    // A second timeline.html (tar x keeps the last), an extra file, a path.
    for (name, bytes) in [
        ("timeline.html", b"<p>forged</p>".to_vec()),
        ("extra.html", b"<p>hello</p>".to_vec()),
        ("../timeline.html", b"<p>forged</p>".to_vec()),
    ] {
        let mut e: Vec<(&str, Vec<u8>)> =
            good.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        e.push((name, bytes));
        std::fs::write(&out, tar::write(&e, 0)).unwrap();
        let r = verify_bundle(&out, &Options::default());
        assert_ne!(r.status, Status::Intact, "{name}: {r:?}");
    }
    // A path prefix in the ustar header.
    let refs: Vec<(&str, Vec<u8>)> = good.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let mut bytes = tar::write(&refs, 0);
    bytes[345] = b'x';
    let sum: u32 = bytes[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    bytes[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    std::fs::write(&out, &bytes).unwrap();
    assert_eq!(
        verify_bundle(&out, &Options::default()).status,
        Status::Unreadable
    );
}
