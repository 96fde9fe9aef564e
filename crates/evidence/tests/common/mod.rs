//! Shared helpers of the evidence tests.
#![allow(dead_code, reason = "each test file uses a part")]

use midwatch_evidence::{Config, Kind, Log, NewRecord, Signer};
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
