//! Shared helpers of the evidence tests.
#![allow(dead_code, reason = "each test file uses a part")]

use midwatch_evidence::search::SearchError;
use midwatch_evidence::{Config, Hit, Kind, Log, NewRecord, Page, Query, Signer};
use std::path::Path;
use std::time::Duration;

/// The test signing key.
pub fn signer() -> Signer {
    Signer::from_seed(&[42; 32])
}

/// A config with small segments and frequent checkpoints, so a few hundred records make
/// several of each.
pub fn small() -> Config {
    Config {
        checkpoint_records: 16,
        checkpoint_interval: Duration::from_secs(3600),
        segment_bytes: 16 * 1024,
        ..Config::default()
    }
}

/// Record `i`: an event of one of five sessions and three identities.
pub fn record(i: u64) -> NewRecord {
    let payload = serde_json::json!({
        "class_uid": 6001,
        "time": 1_700_000_000_000i64 + i as i64 * 1000,
        "activity_name": "Read",
        "metadata": {"uid": format!("ev-{i}")},
        "actor": {"user": {"name": format!("user{}", i % 3), "email_addr": format!("user{}@example.com", i % 3)}},
        "http_request": {"url": {"hostname": "files.example.com", "path": format!("/doc/{i}.pdf")}},
    });
    NewRecord {
        kind: Kind::Event.code(),
        time: 1_700_000_000_000 + i as i64 * 1000,
        class_uid: 6001,
        uid: format!("ev-{i}"),
        session: format!("s-{}", i % 5),
        identity: format!("idn-{}", i % 3),
        app: "files".into(),
        action: if i.is_multiple_of(4) {
            "download"
        } else {
            "read"
        }
        .into(),
        word_keys: midwatch_evidence::search::value_word_keys(&payload),
        payload: serde_json::to_vec(&payload).unwrap(),
    }
}

/// A log in `dir` with records `0..n` appended in batches of `batch`, closed.
pub fn write_log(dir: &Path, cfg: Config, n: u64, batch: u64) {
    let log = Log::open(dir, signer(), cfg).unwrap();
    let mut i = 0;
    while i < n {
        let recs = (i..(i + batch).min(n)).map(record).collect();
        log.append(recs).unwrap();
        i += batch;
    }
    log.close().unwrap();
}

/// Every hit of a query, page by page (`limit` each), checking that each page is newest first,
/// joins the previous one without gap or repeat, and that only the last has no cursor.
pub fn all_hits(search: &dyn Fn(&Query) -> Result<Page, SearchError>, q: &Query) -> Vec<Hit> {
    let mut out: Vec<Hit> = Vec::new();
    let mut q = q.clone();
    loop {
        let page = search(&q).unwrap();
        let limit = q.limit.unwrap_or(100);
        assert!(page.hits.len() <= limit);
        for w in page.hits.windows(2) {
            assert!(w[0].seq > w[1].seq, "newest first");
        }
        if let (Some(prev), Some(first)) = (out.last(), page.hits.first()) {
            assert!(prev.seq > first.seq, "pages overlap");
        }
        out.extend(page.hits.iter().cloned());
        match page.next {
            Some(n) => {
                assert_eq!(page.hits.len(), limit, "a page with a cursor is full");
                assert_eq!(Some(n), page.hits.last().map(|h| h.seq));
                q.before = Some(n);
            }
            None => return out,
        }
    }
}
