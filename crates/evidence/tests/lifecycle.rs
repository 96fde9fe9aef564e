//! The log's behaviour over its life: search (every criterion against a brute-force answer,
//! order, paging, bad queries, live and offline alike), finding search, erasure, privacy,
//! retention, reopening and refusal of damaged or foreign logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{all_hits, record, signer, small, write_log};
use midwatch_evidence::codec::{FRAME_RECORD, Frames, decode_record};
use midwatch_evidence::log::segment_file;
use midwatch_evidence::manifest::{Manifest, SegmentState};
use midwatch_evidence::search::SearchError;
use midwatch_evidence::verify::{Options, verify_dir};
use midwatch_evidence::{
    Config, Hit, Kind, Log, LogError, NewRecord, Page, Privacy, Query, Signer, Snapshot, Status,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn intact(dir: &Path) -> midwatch_evidence::Report {
    let r = verify_dir(dir, &Options::default());
    assert_eq!(r.status, Status::Intact, "{:?}", r.problem);
    r
}

fn seqs(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.seq).collect()
}

/// A hit is record `seq - 1` with a readable payload.
fn check_hit(h: &Hit, records: &[NewRecord]) {
    let r = &records[(h.seq - 1) as usize];
    assert_eq!(h.uid, r.uid);
    assert_eq!(h.session, r.session);
    assert_eq!(h.identity, r.identity);
    assert_eq!(h.app, r.app);
    assert_eq!(h.action, r.action);
    assert_eq!(h.class_uid, r.class_uid);
    assert_eq!(h.time, r.time);
    assert_eq!(h.kind, "event");
    assert!(h.encrypted && !h.erased, "{h:?}");
    let want: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(h.payload.as_ref(), Some(&want));
}

/// Queries and their brute-force answers over `records` (seq = index + 1).
#[expect(clippy::type_complexity, reason = "a table of cases")]
fn cases() -> Vec<(Query, Box<dyn Fn(&NewRecord) -> bool>)> {
    let has = |w: &'static [&'static str]| {
        Box::new(move |r: &NewRecord| {
            w.iter().all(|w| {
                r.word_keys.contains(&midwatch_evidence::codec::key_hash(
                    midwatch_evidence::index::field::WORD,
                    w,
                ))
            })
        }) as Box<dyn Fn(&NewRecord) -> bool>
    };
    vec![
        (Query::default(), Box::new(|_: &NewRecord| true)),
        (
            Query {
                session: Some("s-2".into()),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.session == "s-2"),
        ),
        (
            Query {
                identity: Some("idn-0".into()),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.identity == "idn-0"),
        ),
        (
            Query {
                app: Some("files".into()),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| true),
        ),
        (
            Query {
                app: Some("mail".into()),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| false),
        ),
        (
            Query {
                action: Some("download".into()),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.action == "download"),
        ),
        (
            Query {
                kind: Some("event".into()),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| true),
        ),
        (
            Query {
                kind: Some("finding".into()),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| false),
        ),
        (
            Query {
                class_uid: Some(6001),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| true),
        ),
        (
            Query {
                class_uid: Some(3002),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| false),
        ),
        (
            Query {
                uid: Some("ev-1234".into()),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.uid == "ev-1234"),
        ),
        (
            Query {
                text: Some("user1".into()),
                ..Query::default()
            },
            has(&["user1"]),
        ),
        (
            Query {
                text: Some("PDF".into()),
                ..Query::default()
            },
            has(&["pdf"]),
        ),
        (
            Query {
                text: Some("/doc/17.pdf".into()),
                ..Query::default()
            },
            has(&["doc", "17", "pdf"]),
        ),
        (
            Query {
                text: Some("user2 nowhere".into()),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| false),
        ),
        (
            Query {
                since: Some(T0 + 500_000),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.time >= T0 + 500_000),
        ),
        (
            Query {
                until: Some(T0 + 300_000),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.time <= T0 + 300_000),
        ),
        (
            Query {
                since: Some(T0 + 700_000),
                until: Some(T0 + 700_000),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.time == T0 + 700_000),
        ),
        (
            Query {
                session: Some("s-1".into()),
                action: Some("download".into()),
                since: Some(T0 + 200_000),
                until: Some(T0 + 1_900_000),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| {
                r.session == "s-1"
                    && r.action == "download"
                    && (T0 + 200_000..=T0 + 1_900_000).contains(&r.time)
            }),
        ),
        (
            Query {
                identity: Some("idn-2".into()),
                session: Some("s-4".into()),
                text: Some("user2 files".into()),
                kind: Some("event".into()),
                class_uid: Some(6001),
                ..Query::default()
            },
            Box::new(|r: &NewRecord| r.identity == "idn-2" && r.session == "s-4"),
        ),
        (
            Query {
                identity: Some("idn-2".into()),
                text: Some("user1".into()),
                ..Query::default()
            },
            Box::new(|_: &NewRecord| false),
        ),
    ]
}

const N: u64 = 2400;

fn records(n: u64) -> Vec<NewRecord> {
    (0..n).map(record).collect()
}

#[test]
fn search_answers_every_criterion_like_a_scan_newest_first_a_page_at_a_time() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let recs = records(N);
    let log = Log::open(dir, signer(), small()).unwrap();
    for chunk in recs.chunks(40) {
        log.append(chunk.to_vec()).unwrap();
    }
    let m = Manifest::load(dir).unwrap();
    let sealed = m
        .segments
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .count();
    assert!(sealed >= 10, "{sealed} sealed segments");
    let live = |q: &Query| log.search(q);
    for (q, pred) in cases() {
        let want: Vec<u64> = (0..N)
            .rev()
            .filter(|i| pred(&recs[*i as usize]))
            .map(|i| i + 1)
            .collect();
        let q = Query {
            limit: Some(1000),
            ..q
        };
        let got = all_hits(&live, &q);
        assert_eq!(seqs(&got), want, "{q:?}");
        for h in &got {
            check_hit(h, &recs);
        }
    }
    // Small pages join into the whole answer, for several page sizes and a filter.
    for limit in [1, 7, 37, 100] {
        let q = Query {
            session: Some("s-3".into()),
            limit: Some(limit),
            ..Query::default()
        };
        let want: Vec<u64> = (0..N).rev().filter(|i| i % 5 == 3).map(|i| i + 1).collect();
        assert_eq!(seqs(&all_hits(&live, &q)), want, "limit {limit}");
    }
    let q = Query {
        limit: Some(37),
        ..Query::default()
    };
    assert_eq!(
        seqs(&all_hits(&live, &q)),
        (1..=N).rev().collect::<Vec<_>>()
    );
    // A cursor in the middle: only older records.
    let page = log
        .search(&Query {
            before: Some(1000),
            limit: Some(5),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(seqs(&page.hits), [999, 998, 997, 996, 995]);
    assert_eq!(page.next, Some(995));
    let page = log
        .search(&Query {
            before: Some(3),
            limit: Some(5),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(seqs(&page.hits), [2, 1]);
    assert_eq!(page.next, None);
}

#[test]
fn a_full_last_page_has_no_cursor() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), small(), 300, 20);
    let log = Log::open(d.path(), signer(), small()).unwrap();
    // 60 records of session s-0; pages of 20 and 30 end exactly on the last one.
    for limit in [20, 30, 60] {
        let q = Query {
            session: Some("s-0".into()),
            limit: Some(limit),
            ..Query::default()
        };
        let mut pages = 0;
        let mut q2 = q.clone();
        loop {
            let page = log.search(&q2).unwrap();
            assert!(!page.hits.is_empty(), "limit {limit}: an empty page");
            pages += 1;
            match page.next {
                Some(n) => q2.before = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, 60 / limit, "limit {limit}");
    }
    // The 20 newest records fill a page of 20 exactly; older segments hold no match.
    for limit in [10, 20] {
        let mut q = Query {
            since: Some(T0 + 280_000),
            limit: Some(limit),
            ..Query::default()
        };
        let mut pages = Vec::new();
        loop {
            let page = log.search(&q).unwrap();
            pages.push(seqs(&page.hits));
            match page.next {
                Some(n) => q.before = Some(n),
                None => break,
            }
        }
        assert_eq!(pages.len(), 20 / limit, "limit {limit}: {pages:?}");
        assert_eq!(pages.concat(), (281..=300).rev().collect::<Vec<_>>());
    }
}

#[test]
fn bad_queries_are_refused_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    write_log(d.path(), small(), 50, 10);
    let log = Log::open(d.path(), signer(), small()).unwrap();
    let snap = Snapshot::open(d.path()).unwrap();
    let bad = [
        (
            Query {
                limit: Some(0),
                ..Query::default()
            },
            "limit",
        ),
        (
            Query {
                limit: Some(5000),
                ..Query::default()
            },
            "limit",
        ),
        (
            Query {
                kind: Some("events".into()),
                ..Query::default()
            },
            "kind",
        ),
        (
            Query {
                since: Some(T0 + 10),
                until: Some(T0),
                ..Query::default()
            },
            "since",
        ),
        (
            Query {
                text: Some("!! - a".into()),
                ..Query::default()
            },
            "text",
        ),
        (
            Query {
                finding: Some("f-1".into()),
                limit: Some(0),
                ..Query::default()
            },
            "limit",
        ),
    ];
    for (q, field) in bad {
        for r in [log.search(&q), snap.search(&q)] {
            match r {
                Err(SearchError::Query(m)) => {
                    assert!(m.contains(&format!("`{field}`")), "{q:?}: {m}");
                }
                other => panic!("{q:?}: {other:?}"),
            }
        }
    }
    // The limits themselves are fine.
    for limit in [1, 1000] {
        let q = Query {
            limit: Some(limit),
            ..Query::default()
        };
        assert_eq!(log.search(&q).unwrap().hits.len(), limit.min(50));
    }
}

/// Live and offline search give the same answers, before and after the log reopens (the
/// active segment's index, words included, is rebuilt from its records).
#[test]
fn live_and_offline_search_agree_across_a_reopen() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let n = 700;
    let recs = records(n);
    let compare = |log: &Log, what: &str| {
        let snap = Snapshot::open(dir).unwrap();
        for (q, pred) in cases() {
            let q = Query {
                limit: Some(50),
                ..q
            };
            let want: Vec<u64> = (0..n)
                .rev()
                .filter(|i| pred(&recs[*i as usize]))
                .map(|i| i + 1)
                .collect();
            let live = all_hits(&|q| log.search(q), &q);
            let offline = all_hits(&|q| snap.search(q), &q);
            assert_eq!(seqs(&live), want, "{what} live {q:?}");
            assert_eq!(seqs(&offline), want, "{what} offline {q:?}");
            for (a, b) in live.iter().zip(&offline) {
                assert_eq!(
                    serde_json::to_value(a).unwrap(),
                    serde_json::to_value(b).unwrap()
                );
            }
        }
    };
    {
        let log = Log::open(dir, signer(), small()).unwrap();
        log.append(recs.clone()).unwrap();
        // The active segment holds records (and words) that only its index in memory knows.
        let m = Manifest::load(dir).unwrap();
        let active = m.segments.last().unwrap();
        assert_eq!(active.state, SegmentState::Active);
        assert!(active.first_seq < n, "{active:?}");
        compare(&log, "open");
        log.close().unwrap();
    }
    let log = Log::open(dir, signer(), small()).unwrap();
    compare(&log, "reopened");
    drop(log);
    // Index files are derived: a damaged one is a warning of verification, and one deleted
    // or of an older format is rebuilt from its segment when the log opens.
    let idx = |s: u64| dir.join(midwatch_evidence::log::index_file(s));
    let mut damaged = std::fs::read(idx(2)).unwrap();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x40;
    std::fs::write(idx(2), &damaged).unwrap();
    let r = intact(dir);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("seg-00000002.idx") && w.contains("checksum")),
        "{:?}",
        r.warnings
    );
    std::fs::remove_file(idx(2)).unwrap();
    let mut older = std::fs::read(idx(3)).unwrap();
    older[..8].copy_from_slice(b"MWIDX04\0");
    std::fs::write(idx(3), &older).unwrap();
    let log = Log::open(dir, signer(), small()).unwrap();
    assert!(intact(dir).warnings.is_empty());
    assert_eq!(&std::fs::read(idx(3)).unwrap()[..8], b"MWIDX05\0");
    compare(&log, "rebuilt");
    // A word that only a record of the active segment has.
    let last = n - 1;
    let page = log
        .search(&Query {
            text: Some(format!("{last}")),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(seqs(&page.hits), [n]);
}

fn finding(uid: &str, time: i64, related: &[&str], identity: &str) -> NewRecord {
    let payload = json!({
        "class_uid": 2004,
        "time": time,
        "finding_info": {
            "uid": uid,
            "title": "Mass download of documents",
            "related_events": related.iter().map(|u| json!({"uid": u})).collect::<Vec<_>>(),
        },
        "message": "many files downloaded",
    });
    NewRecord {
        kind: Kind::Finding.code(),
        time,
        class_uid: 2004,
        uid: uid.into(),
        session: "s-3".into(),
        identity: identity.into(),
        app: "files".into(),
        action: "mass_download".into(),
        word_keys: midwatch_evidence::search::value_word_keys(&payload),
        payload: serde_json::to_vec(&payload).unwrap(),
    }
}

#[test]
fn a_finding_query_returns_the_finding_and_exactly_its_events() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let log = Log::open(dir, signer(), small()).unwrap();
    log.append(records(100)).unwrap();
    log.append(vec![finding(
        "f-1",
        T0 + 200_000,
        &["ev-3", "ev-9"],
        "idn-0",
    )])
    .unwrap();
    log.append(vec![finding("f-2", T0 + 200_000, &["ev-4"], "")])
        .unwrap();
    let q = Query {
        finding: Some("f-1".into()),
        ..Query::default()
    };
    let check = |page: Page, what: &str| {
        let got: Vec<(String, String)> = page
            .hits
            .iter()
            .map(|h| (h.kind.clone(), h.uid.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("finding".to_string(), "f-1".to_string()),
                ("event".into(), "ev-9".into()),
                ("event".into(), "ev-3".into()),
            ],
            "{what}"
        );
        assert_eq!(
            page.hits[0].payload.as_ref().unwrap()["finding_info"]["uid"],
            "f-1"
        );
    };
    check(log.search(&q).unwrap(), "live");
    check(Snapshot::open(dir).unwrap().search(&q).unwrap(), "offline");
    // With another criterion, only what also meets it.
    let page = log
        .search(&Query {
            finding: Some("f-1".into()),
            kind: Some("event".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(
        page.hits.iter().map(|h| h.uid.as_str()).collect::<Vec<_>>(),
        ["ev-9", "ev-3"]
    );
    // An unknown finding finds nothing (not every record).
    let page = log
        .search(&Query {
            finding: Some("f-9".into()),
            ..Query::default()
        })
        .unwrap();
    assert!(page.hits.is_empty());
    // The finding's text is searchable.
    let page = log
        .search(&Query {
            text: Some("mass download".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.hits.len(), 2);
    // After more records seal the finding's segment and the log reopens, the same.
    log.append(records(400).split_off(100)).unwrap();
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir, signer(), small()).unwrap();
    let m = Manifest::load(dir).unwrap();
    let f_seg = log.search(&q).unwrap().hits[0].segment;
    assert_ne!(f_seg, m.segments.last().unwrap().segment, "finding sealed");
    check(log.search(&q).unwrap(), "reopened");
    check(
        Snapshot::open(dir).unwrap().search(&q).unwrap(),
        "offline reopened",
    );
}

fn by_identity(log: &Log, identity: &str) -> Vec<Hit> {
    all_hits(
        &|q| log.search(q),
        &Query {
            identity: Some(identity.into()),
            kind: Some("event".into()),
            limit: Some(1000),
            ..Query::default()
        },
    )
}

#[test]
fn erasing_an_identity_shreds_its_payloads_and_the_log_still_verifies() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let n = 300;
    let recs = records(n);
    let log = Log::open(dir, signer(), small()).unwrap();
    for c in recs.chunks(25) {
        log.append(c.to_vec()).unwrap();
    }
    let before = by_identity(&log, "idn-1");
    assert_eq!(before.len(), 100);
    for h in &before {
        check_hit(h, &recs);
    }
    // The payload on disk is not the clear text.
    let raw = std::fs::read(dir.join(segment_file(1))).unwrap();
    assert!(!contains(&raw, b"user1@example.com"));
    intact(dir);

    let (receipt, had) = log.erase_identity("idn-1", "dpo@example.com").unwrap();
    assert!(had);
    assert_eq!(receipt.seq, n + 1);
    let check = |log: &Log, what: &str| {
        let erased = by_identity(log, "idn-1");
        assert_eq!(seqs(&erased), seqs(&before), "{what}");
        for h in &erased {
            assert!(
                h.encrypted && h.erased && h.payload.is_none(),
                "{what}: {h:?}"
            );
            // What the header says is still there.
            assert_eq!(h.uid, recs[(h.seq - 1) as usize].uid);
        }
        for other in ["idn-0", "idn-2"] {
            let hits = by_identity(log, other);
            assert_eq!(hits.len(), 100, "{what}");
            for h in &hits {
                check_hit(h, &recs);
            }
        }
        let admin = log
            .search(&Query {
                kind: Some("admin".into()),
                action: Some("erase".into()),
                ..Query::default()
            })
            .unwrap();
        assert_eq!(admin.hits.len(), 1, "{what}");
        let a = &admin.hits[0];
        assert_eq!(a.seq, n + 1);
        assert_eq!(a.uid, "idn-1");
        assert!(!a.encrypted);
        let p = a.payload.as_ref().unwrap();
        assert_eq!(p["by"], "dpo@example.com");
        assert_eq!(p["identity"], "idn-1");
        // Words of erased payloads no longer find them, live or offline.
        let q = Query {
            text: Some("user1".into()),
            ..Query::default()
        };
        assert!(log.search(&q).unwrap().hits.is_empty(), "{what} live");
        let snap = Snapshot::open(dir).unwrap();
        assert!(snap.search(&q).unwrap().hits.is_empty(), "{what} offline");
        let q = Query {
            text: Some("user2".into()),
            limit: Some(1000),
            ..Query::default()
        };
        assert_eq!(log.search(&q).unwrap().hits.len(), 100, "{what}");
        assert_eq!(snap.search(&q).unwrap().hits.len(), 100, "{what}");
        intact(dir);
    };
    check(&log, "erased");
    // Erasing again: no key left, recorded all the same.
    let (_, had) = log.erase_identity("idn-1", "dpo@example.com").unwrap();
    assert!(!had);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir, signer(), small()).unwrap();
    let erased = by_identity(&log, "idn-1");
    assert!(erased.iter().all(|h| h.erased && h.payload.is_none()));
    // New records of the identity get a new key, readable; the old ones stay shredded.
    let mut r = record(1);
    r.uid = "ev-new".into();
    let rc = log.append(vec![r]).unwrap();
    let page = log
        .search(&Query {
            uid: Some("ev-new".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.hits[0].seq, rc[0].seq);
    assert!(!page.hits[0].erased && page.hits[0].payload.is_some());
    assert!(
        by_identity(&log, "idn-1")
            .iter()
            .filter(|h| h.uid != "ev-new")
            .all(|h| h.erased)
    );
    log.close().unwrap();
    let r = intact(dir);
    assert_eq!(r.last_seq, n + 3);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The payload bytes stored for a hit, read from its segment file.
fn stored_payload(dir: &Path, h: &Hit) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(segment_file(h.segment))).unwrap();
    let f = Frames::new(&bytes)
        .find(|f| f.offset == h.offset)
        .expect("a frame at the hit's offset");
    assert_eq!(f.kind, FRAME_RECORD);
    let (head, payload) = decode_record(f.body).unwrap();
    assert_eq!(head.seq, h.seq);
    payload.to_vec()
}

#[test]
fn without_encryption_the_log_stores_exactly_the_bytes_given() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let cfg = Config {
        encrypt: false,
        ..small()
    };
    let log = Log::open(dir, signer(), cfg).unwrap();
    let mut recs = Vec::new();
    for i in 0..5u64 {
        let mut r = record(i);
        // Not canonical JSON: spacing and key order are kept as given.
        r.payload = format!("{{ \"z\": {i},  \"a\": \"user{i} \\u00e9\" }}").into_bytes();
        recs.push(r);
    }
    log.append(recs.clone()).unwrap();
    log.close().unwrap();
    for (i, r) in recs.iter().enumerate() {
        let page = log
            .search(&Query {
                uid: Some(r.uid.clone()),
                ..Query::default()
            })
            .unwrap();
        let h = &page.hits[0];
        assert!(!h.encrypted && !h.erased);
        let want: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(h.payload.as_ref(), Some(&want));
        assert_eq!(h.payload.as_ref().unwrap()["z"], i);
        assert_eq!(stored_payload(dir, h), r.payload);
    }
}

#[test]
fn payloads_cleaned_by_privacy_enter_the_log_without_queries_or_credentials() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let privacy = Privacy::default();
    let cfg = Config {
        encrypt: false,
        privacy: privacy.clone(),
        ..small()
    };
    let log = Log::open(dir, signer(), cfg).unwrap();
    let mut v = json!({
        "class_uid": 6001,
        "http_request": {
            "url": {
                "url_string": "https://alice:hunter2secret@files.example.com/doc/1.pdf?sig=qs-secret-1#frag",
                "query_string": "sig=qs-secret-1",
                "hostname": "files.example.com",
                "path": "/doc/1.pdf",
            },
            "referrer": "https://portal.example.com/start?token=qs-secret-2",
            "x_headers": ["Bearer abcdefghijklmnopqrstuvwxyz0123"],
        },
        "actor": {"user": {"name": "alice"}},
        "note": "Basic YWxpY2U6aHVudGVyMnNlY3JldA==",
    });
    let changed = privacy.apply(&mut v);
    assert!(changed >= 5, "{changed}: {v}");
    let mut r = record(0);
    r.word_keys = midwatch_evidence::search::value_word_keys(&v);
    r.payload = serde_json::to_vec(&v).unwrap();
    log.append(vec![r]).unwrap();
    log.close().unwrap();
    let raw = std::fs::read(dir.join(segment_file(1))).unwrap();
    for secret in [
        "qs-secret-1",
        "qs-secret-2",
        "hunter2secret",
        "abcdefghijklmnopqrstuvwxyz0123",
        "YWxpY2U6aHVudGVyMnNlY3JldA",
        "frag",
    ] {
        assert!(
            !contains(&raw, secret.as_bytes()),
            "`{secret}` is in the log"
        );
    }
    let page = log.search(&Query::default()).unwrap();
    let p = page.hits[0].payload.as_ref().unwrap();
    assert_eq!(
        p["http_request"]["url"]["url_string"],
        "https://files.example.com/doc/1.pdf"
    );
    assert_eq!(
        p["http_request"]["referrer"],
        "https://portal.example.com/start"
    );
    assert_eq!(p["http_request"]["url"]["path"], "/doc/1.pdf");
    assert_eq!(p["actor"]["user"]["name"], "alice");
    assert_eq!(p["note"], midwatch_evidence::privacy::REDACTED);
    // Query strings are kept when asked.
    let keep = Privacy {
        keep_query_strings: true,
        ..Privacy::default()
    };
    let mut v =
        json!({"url": {"url_string": "https://a.example/x?page=2", "query_string": "page=2"}});
    keep.apply(&mut v);
    assert_eq!(v["url"]["url_string"], "https://a.example/x?page=2");
    assert_eq!(v["url"]["query_string"], "page=2");
}

/// A record of `i` at `time`.
fn at(i: u64, time: i64) -> NewRecord {
    NewRecord { time, ..record(i) }
}

#[test]
fn retention_removes_only_expired_sealed_segments_behind_tombstones() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let now = T0 + 400 * DAY;
    let old = now - 100 * DAY;
    let log = Log::open(dir, signer(), small()).unwrap();
    // 0..240 old events, with an old finding at 40; then 240..400 recent events.
    let mut recs: Vec<NewRecord> = (0..400u64)
        .map(|i| at(i, if i < 240 { old + i as i64 } else { now - DAY }))
        .collect();
    recs[40] = finding("f-old", old + 40, &["ev-3"], "idn-1");
    for c in recs.chunks(20) {
        log.append(c.to_vec()).unwrap();
    }
    let all = all_hits(
        &|q| log.search(q),
        &Query {
            limit: Some(1000),
            ..Query::default()
        },
    );
    assert_eq!(all.len(), 400);
    let m = Manifest::load(dir).unwrap();
    let active = m.segments.last().unwrap().segment;
    let mut segs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for h in &all {
        segs.entry(h.segment).or_default().push(h.seq);
    }
    let finding_seg = all.iter().find(|h| h.uid == "f-old").unwrap().segment;
    let expect_removed: BTreeSet<u64> = segs
        .iter()
        .filter(|(s, seqs)| **s != active && **s != finding_seg && seqs.iter().all(|q| *q <= 240))
        .map(|(s, _)| *s)
        .collect();
    assert!(expect_removed.len() >= 3, "{expect_removed:?} of {segs:?}");

    // Nothing is due a day after the records.
    let keep = BTreeMap::from([(Kind::Event, 30 * DAY)]);
    assert!(log.retain(old + DAY, &keep).unwrap().is_empty());

    let before = Manifest::read(dir);
    let snap_before = Snapshot::open(dir).unwrap();
    let tombstones = log.retain(now, &keep).unwrap();
    let removed: BTreeSet<u64> = tombstones.iter().map(|t| t.segment).collect();
    assert_eq!(removed, expect_removed);
    // A check that began before the removal finds a segment gone; checking again against
    // the manifest as it is now finds the log intact (what `verify_dir` does).
    let stale = midwatch_evidence::verify::verify_as_of(dir, &Default::default(), before);
    assert_eq!(stale.status, Status::Tampered, "{stale:?}");
    for t in &tombstones {
        assert!(t.reason.contains("event=30d"), "{}", t.reason);
        assert_eq!(t.time, now);
        assert!(!dir.join(segment_file(t.segment)).exists());
        assert!(
            !dir.join(midwatch_evidence::log::index_file(t.segment))
                .exists()
        );
    }
    assert!(dir.join(segment_file(finding_seg)).exists());
    // Again: nothing more to remove.
    assert!(log.retain(now, &keep).unwrap().is_empty());

    let r = intact(dir);
    assert_eq!(r.removed_segments, removed.len() as u64);
    assert_eq!(r.last_seq, 400);
    let gone: BTreeSet<u64> = removed.iter().flat_map(|s| segs[s].clone()).collect();
    assert_eq!(r.records, 400 - gone.len() as u64);
    // A reader opened before the removal answers without the expired records.
    let left = all_hits(
        &|q| snap_before.search(q),
        &Query {
            limit: Some(1000),
            ..Query::default()
        },
    );
    let want: Vec<u64> = (1..=400).rev().filter(|s| !gone.contains(s)).collect();
    assert_eq!(seqs(&left), want);

    let check = |log: &Log, what: &str| {
        let left = all_hits(
            &|q| log.search(q),
            &Query {
                limit: Some(1000),
                ..Query::default()
            },
        );
        let want: Vec<u64> = (1..=400).rev().filter(|s| !gone.contains(s)).collect();
        assert_eq!(seqs(&left), want, "{what}");
        let snap = Snapshot::open(dir).unwrap();
        let offline = all_hits(
            &|q| snap.search(q),
            &Query {
                limit: Some(1000),
                ..Query::default()
            },
        );
        assert_eq!(seqs(&offline), want, "{what} offline");
        let first_gone = *gone.iter().next().unwrap();
        let q = Query {
            uid: Some(format!("ev-{}", first_gone - 1)),
            ..Query::default()
        };
        assert!(log.search(&q).unwrap().hits.is_empty(), "{what}");
        let q = Query {
            finding: Some("f-old".into()),
            ..Query::default()
        };
        let f = log.search(&q).unwrap();
        assert_eq!(f.hits[0].uid, "f-old", "{what}");
    };
    check(&log, "after retention");
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir, signer(), small()).unwrap();
    check(&log, "reopened");
    log.append((400..500).map(|i| at(i, now)).collect())
        .unwrap();
    log.close().unwrap();
    let r = intact(dir);
    assert_eq!(r.last_seq, 500);
    assert_eq!(r.removed_segments, removed.len() as u64);
}

#[test]
fn a_second_writer_and_a_foreign_key_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let log = Log::open(dir, signer(), small()).unwrap();
    log.append(records(10)).unwrap();
    match Log::open(dir, signer(), small()) {
        Err(LogError::Locked(p)) => assert!(p.contains(&dir.display().to_string())),
        other => panic!("{other:?}"),
    }
    log.close().unwrap();
    drop(log);
    match Log::open(dir, Signer::from_seed(&[7; 32]), small()) {
        Err(e @ LogError::Damaged(_)) => {
            let m = e.to_string();
            let theirs = midwatch_evidence::codec::hex(&Signer::from_seed(&[7; 32]).key_id());
            let ours = midwatch_evidence::codec::hex(&signer().key_id());
            assert!(m.contains(&theirs) && m.contains(&ours), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // Refusals leave the log as it was, and free to open.
    let log = Log::open(dir, signer(), small()).unwrap();
    assert_eq!(log.last_seq(), 10);
    log.append(records(11).split_off(10)).unwrap();
    log.close().unwrap();
    assert_eq!(intact(dir).last_seq, 11);
}

/// Where each whole frame of a segment's bytes starts and ends.
fn frame_spans(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut f = Frames::new(bytes);
    let mut out = Vec::new();
    let mut start = 0;
    while f.next().is_some() {
        out.push((start, f.position()));
        start = f.position();
    }
    out
}

#[test]
fn garbage_in_the_active_segment_is_refused_with_its_place() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    write_log(&src, small(), 40, 5);
    let m = Manifest::load(&src).unwrap();
    let active = m.segments.last().unwrap();
    let name = active.file.clone();
    let bytes = std::fs::read(src.join(&name)).unwrap();
    let frames = frame_spans(&bytes);
    assert!(frames.len() >= 6, "{frames:?}");
    let copy = |n: usize| {
        let dst = d.path().join(format!("copy-{n}"));
        std::fs::create_dir_all(dst.join("keys")).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
            }
        }
        dst
    };
    // Garbage at a frame's start, inside a frame's head, inside a body, and a run of bytes
    // over two frames; always followed by whole frames.
    let mid = frames.len() / 2;
    let (fs, fe) = frames[mid];
    let cases: Vec<(u64, usize, u64)> = vec![
        (fs, 8, fs),
        (fs + 2, 3, fs),
        (fs + 30, 16, fs),
        ((fs + fe) / 2, (fe - fs) as usize, fs),
        (frames[1].0, 1, frames[1].0),
    ];
    for (n, (at, len, located)) in cases.into_iter().enumerate() {
        let dst = copy(n);
        let seg = dst.join(&name);
        let mut b = bytes.clone();
        for (k, x) in b[at as usize..at as usize + len].iter_mut().enumerate() {
            *x = 0xa5 ^ (k as u8);
        }
        std::fs::write(&seg, &b).unwrap();
        let err = Log::open(&dst, signer(), small()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LogError::Damaged(_)), "{msg}");
        assert!(msg.contains(&name), "{msg}");
        assert!(msg.contains(&format!("at byte {located}")), "{at}: {msg}");
        // Nothing was cut: the records after the garbage are still on disk.
        assert_eq!(std::fs::read(&seg).unwrap(), b, "{msg}");
        assert_eq!(
            verify_dir(&dst, &Options::default()).status,
            Status::Tampered
        );
    }
    // Zeros at the end are an unfinished write, cut on open.
    let dst = copy(99);
    let seg = dst.join(&name);
    let mut b = bytes.clone();
    b.extend_from_slice(&[0; 100]);
    std::fs::write(&seg, &b).unwrap();
    let log = Log::open(&dst, signer(), small()).unwrap();
    assert_eq!(log.last_seq(), 40);
    // (The active segment was written directly, its last block padded with zeros: those
    // are cut too.)
    let end = frames.last().unwrap().1 as usize;
    assert_cut_to(&std::fs::read(&seg).unwrap(), &bytes[..end]);
}

/// The active segment holds `want` and then, written directly again since it was cut, at
/// most the zeros that pad its last block.
fn assert_cut_to(file: &[u8], want: &[u8]) {
    assert!(file.len() >= want.len(), "{} < {}", file.len(), want.len());
    assert!(
        file[..want.len()] == *want,
        "the bytes before the cut are kept"
    );
    assert!(file[want.len()..].iter().all(|b| *b == 0));
    assert!(file.len() <= want.len().div_ceil(4096) * 4096);
}

#[test]
fn a_directory_that_is_not_a_log_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), b"hello").unwrap();
    assert!(Snapshot::open(d.path()).is_err());
    assert!(Snapshot::open(&d.path().join("missing")).is_err());
    assert!(!d.path().join("missing").exists());
    std::fs::write(d.path().join("MANIFEST"), b"{ not json").unwrap();
    assert!(Snapshot::open(d.path()).is_err());
    assert!(matches!(
        Log::open(d.path(), signer(), small()),
        Err(LogError::Damaged(_))
    ));
    assert_eq!(
        verify_dir(&d.path().join("missing"), &Options::default()).status,
        Status::Unreadable
    );
}

#[test]
fn a_record_too_large_for_a_frame_is_refused_and_the_batch_with_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let cfg = Config {
        encrypt: false,
        ..small()
    };
    let log = Log::open(dir, signer(), cfg.clone()).unwrap();
    log.append(records(3)).unwrap();
    let max = midwatch_evidence::codec::MAX_BODY;
    // Under the payload limit, but with long header fields the body would pass MAX_BODY.
    let long = "x".repeat(60_000);
    let big = NewRecord {
        payload: vec![b'a'; max - 64 * 1024],
        uid: long.clone(),
        session: long.clone(),
        identity: String::new(),
        app: long.clone(),
        action: long,
        ..record(3)
    };
    let r = log.append(vec![record(3), big]);
    assert!(matches!(r, Err(LogError::TooLarge(_))), "{r:?}");
    // Nothing of the refused batch is written, now or with the next append.
    assert_eq!(log.last_seq(), 3);
    let rc = log.append(vec![record(4)]).unwrap();
    assert_eq!(rc[0].seq, 4);
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir, signer(), cfg).unwrap();
    assert_eq!(log.last_seq(), 4);
    let page = log.search(&Query::default()).unwrap();
    assert_eq!(
        page.hits.iter().map(|h| h.uid.as_str()).collect::<Vec<_>>(),
        ["ev-4", "ev-2", "ev-1", "ev-0"]
    );
    assert_eq!(intact(dir).records, 4);
}

/// Record frames' bodies of every segment of a log, in order.
fn record_bodies(dir: &Path) -> Vec<Vec<u8>> {
    let m = Manifest::load(dir).unwrap();
    let mut out = Vec::new();
    for s in &m.segments {
        let bytes = std::fs::read(dir.join(&s.file)).unwrap();
        for f in Frames::new(&bytes) {
            if f.kind == FRAME_RECORD {
                out.push(f.body.to_vec());
            }
        }
    }
    out
}

#[test]
fn direct_and_cached_writes_leave_the_same_records_and_sealed_segments_end_with_their_frames() {
    let d = tempfile::tempdir().unwrap();
    let cached = Config {
        direct_io: false,
        encrypt: false,
        ..small()
    };
    let direct = Config {
        encrypt: false,
        ..small()
    };
    write_log(&d.path().join("cached"), cached, 300, 7);
    write_log(&d.path().join("direct"), direct, 300, 7);
    let a = record_bodies(&d.path().join("cached"));
    assert_eq!(a.len(), 300);
    assert_eq!(a, record_bodies(&d.path().join("direct")));
    for name in ["cached", "direct"] {
        let dir = d.path().join(name);
        let m = Manifest::load(&dir).unwrap();
        assert!(m.segments.len() > 3, "{name}: several segments");
        for s in &m.segments {
            let bytes = std::fs::read(dir.join(&s.file)).unwrap();
            let mut f = Frames::new(&bytes);
            f.by_ref().count();
            if s.state == SegmentState::Sealed {
                assert_eq!(f.position(), bytes.len() as u64, "{name} {}", s.file);
                assert_eq!(s.bytes, bytes.len() as u64);
            }
        }
        let r = verify_dir(&dir, &Options::default());
        assert_eq!(r.status, Status::Intact, "{name}: {r:?}");
        assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
        // Reopened, both go on from where they were.
        let log = Log::open(&dir, signer(), small()).unwrap();
        assert_eq!(log.last_seq(), 300);
        log.append(vec![record(300)]).unwrap();
        log.close().unwrap();
        assert_eq!(verify_dir(&dir, &Options::default()).status, Status::Intact);
    }
}

#[test]
fn a_write_cut_short_in_zeros_is_an_unfinished_write_but_other_damage_is_not() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    // No checkpoint after the last records: the log is dropped, not closed.
    {
        // Unencrypted, so every byte is the same from run to run; the last record is long
        // enough to span sectors.
        let cfg = Config {
            encrypt: false,
            ..small()
        };
        let log = Log::open(&src, signer(), cfg).unwrap();
        let mut recs: Vec<NewRecord> = (0..10).map(record).collect();
        recs[9].payload = serde_json::to_vec(&json!({"note": "x".repeat(1500)})).unwrap();
        log.append(recs).unwrap();
    }
    let m = Manifest::load(&src).unwrap();
    let name = m.segments.last().unwrap().file.clone();
    let bytes = std::fs::read(src.join(&name)).unwrap();
    let frames = frame_spans(&bytes);
    let (last_start, last_end) = *frames.last().unwrap();
    let copy = |n: &str, b: &[u8]| {
        let dst = d.path().join(n);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
            }
        }
        std::fs::copy(src.join("keys"), dst.join("keys")).ok();
        std::fs::write(dst.join(&name), b).unwrap();
        dst
    };
    // The sectors after the last record's first one never reached the disk: zeros from
    // there on.
    let mut cut = bytes[..last_end as usize].to_vec();
    let n = cut.len();
    let lost = (last_start as usize + 1).div_ceil(512) * 512;
    assert!(lost + 512 < n);
    cut[lost..].fill(0);
    cut.resize(n.div_ceil(4096) * 4096 + 4096, 0);
    let dst = copy("cut", &cut);
    let r = verify_dir(&dst, &Options::default());
    assert_eq!(r.status, Status::Intact, "{r:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("unfinished write") && w.contains(&format!("at byte {last_start}"))),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.records, 9);
    let log = Log::open(&dst, signer(), small()).unwrap();
    assert_eq!(log.last_seq(), 9);
    assert_cut_to(
        &std::fs::read(dst.join(&name)).unwrap(),
        &bytes[..last_start as usize],
    );
    log.append(vec![record(9)]).unwrap();
    drop(log);
    assert_eq!(verify_dir(&dst, &Options::default()).status, Status::Intact);

    // A changed byte in the last record, the file then ending in zeros as direct writes
    // leave it: damage, not an unfinished write.
    let mut changed = bytes[..last_end as usize].to_vec();
    changed[last_start as usize + 20] ^= 0x40;
    changed.resize(last_end.div_ceil(4096) as usize * 4096, 0);
    let dst = copy("changed", &changed);
    assert_eq!(
        verify_dir(&dst, &Options::default()).status,
        Status::Tampered
    );
    let err = Log::open(&dst, signer(), small()).unwrap_err();
    assert!(
        err.to_string().contains(&format!("at byte {last_start}")),
        "{err}"
    );
    assert_eq!(std::fs::read(dst.join(&name)).unwrap(), changed);
}

#[test]
fn appends_from_many_threads_at_once_are_all_kept_in_one_chain() {
    for direct_io in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("log");
        let cfg = Config {
            direct_io,
            ..small()
        };
        let log = Log::open(&dir, signer(), cfg).unwrap();
        let (threads, batches) = (8u64, 40u64);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let receipts: Vec<u64> = std::thread::scope(|s| {
            // A reader verifies the live directory meanwhile: whatever it catches halfway is
            // an unfinished write, never damage.
            let reader = s.spawn(|| {
                let mut checks = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || checks == 0 {
                    let r = verify_dir(&dir, &Options::default());
                    assert_ne!(r.status, Status::Tampered, "direct_io={direct_io}: {r:?}");
                    checks += 1;
                }
                checks
            });
            let writers: Vec<_> = (0..threads)
                .map(|t| {
                    let log = log.clone();
                    s.spawn(move || {
                        let mut seqs = Vec::new();
                        for b in 0..batches {
                            let n = 1 + (t + b) % 3;
                            let first = (t * batches + b) * 3;
                            let recs = (first..first + n).map(record).collect();
                            seqs.extend(log.append(recs).unwrap().iter().map(|r| r.seq));
                            if b % 10 == 0 {
                                log.checkpoint_now().unwrap();
                            }
                        }
                        seqs
                    })
                })
                .collect();
            let all = writers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
            all
        });
        let total = receipts.len() as u64;
        let unique: BTreeSet<u64> = receipts.iter().copied().collect();
        assert_eq!(unique, (1..=total).collect(), "direct_io={direct_io}");
        let found: BTreeSet<u64> = all_hits(&|q| log.search(q), &Query::default())
            .iter()
            .map(|h| h.seq)
            .collect();
        assert_eq!(found, unique, "direct_io={direct_io}");
        log.close().unwrap();
        drop(log);
        let r = verify_dir(&dir, &Options::default());
        assert_eq!(r.status, Status::Intact, "{r:?}");
        assert_eq!(r.records, total);
        assert!(Manifest::load(&dir).unwrap().segments.len() > 3);
        assert_eq!(
            Log::open(&dir, signer(), small()).unwrap().last_seq(),
            total
        );
    }
}
