//! `midwatch evidence` end to end: verify a log and a bundle with exit codes 0/1/2, search,
//! export, erase; a bundle checked in an empty directory with nothing but the binary; its
//! timeline opened in headless Chromium.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_evidence::{Config, Kind, Log, NewRecord, Signer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn midwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_midwatch"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn event(i: u64) -> NewRecord {
    let session = format!("s-{}", i % 3);
    let payload = serde_json::json!({
        "class_uid": 6001, "time": 1_767_600_000_000i64 + i as i64 * 60_000,
        "activity_name": if i % 3 == 1 { "Download" } else { "Read" },
        "status": "Success",
        "metadata": {"uid": format!("ev-{i}"), "log_name": "sensor"},
        "actor": {"user": {"uid": format!("user{}@example.com", i % 2), "email_addr": format!("user{}@example.com", i % 2)}},
        "src_endpoint": {"ip": "198.51.100.7", "location": {"city": "Lisbon", "country": "PT"}},
        "http_request": {"url": {"hostname": "files.example.com", "url_string": format!("https://files.example.com/doc/{i}.pdf")}},
        "midwatch": {"session_uid": session},
    });
    NewRecord {
        kind: Kind::Event.code(),
        time: 1_767_600_000_000 + i as i64 * 60_000,
        class_uid: 6001,
        uid: format!("ev-{i}"),
        session,
        identity: format!("idn-{}", i % 2),
        app: "files".into(),
        action: "navigate".into(),
        word_keys: midwatch_evidence::search::value_word_keys(&payload),
        payload: serde_json::to_vec(&payload).unwrap(),
    }
}

/// A data directory with a closed log: 60 events over three sessions and one finding on s-1.
fn data_dir(root: &Path) -> PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let signer = Signer::load_or_create(&data.join("evidence.key")).unwrap();
    let cfg = Config {
        segment_bytes: 8 * 1024,
        checkpoint_records: 10,
        ..Config::default()
    };
    let log = Log::open(&data.join("evidence"), signer, cfg).unwrap();
    log.append((0..60).map(event).collect()).unwrap();
    let finding = serde_json::json!({
        "class_uid": 2004, "severity": "High", "status": "open",
        "finding_info": {"uid": "f-1", "title": "Mass download <script>alert(1)</script>",
            "related_events": [{"uid": "ev-1"}, {"uid": "ev-4"}]},
    });
    log.append(vec![NewRecord {
        kind: Kind::Finding.code(),
        time: 1_767_600_400_000,
        class_uid: 2004,
        uid: "f-1".into(),
        session: "s-1".into(),
        identity: "idn-1".into(),
        action: "midwatch.mass_download".into(),
        word_keys: midwatch_evidence::search::value_word_keys(&finding),
        payload: serde_json::to_vec(&finding).unwrap(),
        ..NewRecord::default()
    }])
    .unwrap();
    log.close().unwrap();
    data
}

#[test]
fn verify_search_export_and_erase_through_the_binary() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path());
    let dd = data.to_str().unwrap();

    let (code, out, err) = run(midwatch().args(["evidence", "keys", "--data-dir", dd]));
    assert_eq!(code, 0, "{err}");
    let keys: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let public = keys["public_key"].as_str().unwrap().to_string();

    let (code, out, err) = run(midwatch()
        .args(["evidence", "verify"])
        .arg(data.join("evidence")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("intact: 61 records"), "{out}");

    let (code, out, err) = run(midwatch().args([
        "evidence",
        "search",
        "--data-dir",
        dd,
        "--session",
        "s-1",
        "--limit",
        "100",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let page: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["hits"].as_array().unwrap().len(), 21);

    let bundle = root.path().join("s1.tar");
    let (code, _, err) = run(midwatch()
        .args([
            "evidence",
            "export",
            "--data-dir",
            dd,
            "--session",
            "s-1",
            "--out",
        ])
        .arg(&bundle));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("21 records"), "{err}");

    // An auditor's machine: an empty directory, no environment, only the binary.
    let auditor = tempfile::tempdir().unwrap();
    let copy = auditor.path().join("evidence.tar");
    std::fs::copy(&bundle, &copy).unwrap();
    let (code, out, err) = run(midwatch().env_clear().current_dir(auditor.path()).args([
        "evidence",
        "verify",
        "evidence.tar",
        "--trusted-key",
        &public,
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("intact: 21 records"), "{out}");

    // One flipped byte in the bundle: tampered (1). Not a bundle: unreadable (2).
    let mut bytes = std::fs::read(&copy).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&copy, &bytes).unwrap();
    let (code, out, _) =
        run(midwatch()
            .current_dir(auditor.path())
            .args(["evidence", "verify", "evidence.tar"]));
    assert!(code == 1 || code == 2, "{out}");
    std::fs::write(&copy, b"hello").unwrap();
    let (code, out, _) =
        run(midwatch()
            .current_dir(auditor.path())
            .args(["evidence", "verify", "evidence.tar"]));
    assert_eq!(code, 2, "{out}");
    let (code, _, _) = run(midwatch()
        .args(["evidence", "verify"])
        .arg(auditor.path().join("nothing-here")));
    assert_eq!(code, 2);

    // A flipped byte in the log itself: tampered, located.
    let seg = data.join("evidence").join("seg-00000002.log");
    let orig = std::fs::read(&seg).unwrap();
    let mut bad = orig.clone();
    bad[500] ^= 0x10;
    std::fs::write(&seg, &bad).unwrap();
    let (code, out, _) = run(midwatch()
        .args(["evidence", "verify"])
        .arg(data.join("evidence")));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("TAMPERED: seg-00000002.log at byte"), "{out}");
    let (code, out, _) = run(midwatch()
        .args(["evidence", "verify", "--json"])
        .arg(data.join("evidence")));
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "tampered");
    assert_eq!(report["problem"]["segment"], 2);
    std::fs::write(&seg, &orig).unwrap();

    // Erase idn-1: its payloads read as erased, the log still verifies.
    let (code, _, err) = run(midwatch().args([
        "evidence",
        "erase",
        "--data-dir",
        dd,
        "--identity",
        "idn-1",
        "--by",
        "dpo@example.com",
    ]));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(midwatch().args([
        "evidence",
        "search",
        "--data-dir",
        dd,
        "--identity",
        "idn-1",
        "--kind",
        "event",
    ]));
    assert!(
        out.lines().skip(1).all(|l| l.contains("event (erased)")),
        "{out}"
    );
    let (code, out, _) = run(midwatch()
        .args(["evidence", "verify"])
        .arg(data.join("evidence")));
    assert_eq!(code, 0, "{out}");

    // Usage errors exit 2 with the reason.
    for args in [
        vec!["evidence", "export", "--data-dir", dd, "--out", "x.tar"],
        vec!["evidence", "search", "--data-dir", dd, "--limit", "0"],
        vec!["evidence", "search", "--data-dir", dd, "--since", "soon"],
        vec!["evidence", "verify", "--trusted-key", "abc"],
    ] {
        let (code, _, err) = run(midwatch().current_dir(root.path()).args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("midwatch: "), "{args:?}: {err}");
    }
}

#[test]
fn the_timeline_of_a_bundle_opens_in_a_browser() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path());
    let bundle = root.path().join("f.tar");
    let (code, _, err) = run(midwatch()
        .args([
            "evidence",
            "export",
            "--data-dir",
            data.to_str().unwrap(),
            "--session",
            "s-1",
            "--out",
        ])
        .arg(&bundle));
    assert_eq!(code, 0, "{err}");
    let entries = midwatch_evidence::bundle::tar::read(&std::fs::read(&bundle).unwrap()).unwrap();
    let (_, html) = entries.iter().find(|(n, _)| n == "timeline.html").unwrap();
    let page = root.path().join("timeline.html");
    std::fs::write(&page, html).unwrap();

    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}: scripts/test installs it",
        browser.display()
    );
    let (code, out, err) = run(Command::new("node")
        .arg(browser.join("timeline.mjs"))
        .arg(&page));
    assert_eq!(code, 0, "node failed: {err}");
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["title"], "midwatch evidence — session s-1", "{seen}");
    assert_eq!(seen["count"], "21", "{seen}");
    assert_eq!(seen["timelineRows"], 21, "{seen}");
    assert_eq!(seen["findingRows"], 1, "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    assert_eq!(
        seen["requests"],
        serde_json::json!([]),
        "the page must be self-contained: {seen}"
    );
    let first: Vec<String> = serde_json::from_value(seen["firstRow"].clone()).unwrap();
    assert_eq!(first[0], "2026-01-05 08:01:00.000", "{seen}");
    assert!(first.iter().any(|c| c.contains("Lisbon")), "{seen}");
    // The finding's title is shown as text, not run as markup.
    assert!(String::from_utf8_lossy(html).contains("&lt;script&gt;"));
    assert!(root.path().join("timeline.html.png").is_file());
}
