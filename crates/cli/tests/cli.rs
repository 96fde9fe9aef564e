//! The `midwatch` binary end to end: whole outputs and exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_midwatch"))
}

const GOOD1: &str = r#"{"id":"e1","ts":"2026-01-05T09:00:00Z","type":"login","identity":{"id":"alice@example.com"},"session":{"id":"s1"},"auth":{"method":"sso","mfa":true}}"#;
const GOOD2: &str = r#"{"id":"e2","ts":"2026-01-05T09:00:05Z","type":"navigate","identity":{"id":"alice@example.com"},"session":{"id":"s1"},"url":"https://github.com/org/repo?token=abc"}"#;

#[test]
fn normalize_clean_file_exits_zero_with_ocsf_lines() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.ndjson");
    std::fs::write(&f, format!("{GOOD1}\n\n{GOOD2}\n")).unwrap();
    let out = bin()
        .args(["normalize", "--source", "sensor"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type_uid"], 300201);
    assert_eq!(
        lines[1]["http_request"]["url"]["url_string"],
        "https://github.com/org/repo"
    );
    assert!(!stdout.contains("token=abc"), "query strings are dropped");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "accepted 2, rejected 0\n"
    );
}

#[test]
fn normalize_reports_each_rejected_line_and_exits_one() {
    let mut child = bin()
        .args(["normalize", "--source", "sensor", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        "{GOOD1}\n{{\"id\":\"x\",\"ts\":1,\"type\":\"login\",\"password\":\"p\"}}\nnot json\n{GOOD2}\n{{\"id\":\"y\""
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[0].starts_with("line 2: `password`: never accepted"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("line 3: "), "{stderr}");
    assert!(lines[2].starts_with("line 5: "), "{stderr}");
    assert_eq!(lines[3], "accepted 2, rejected 3");
}

#[test]
fn normalize_long_lines_binary_garbage_and_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mixed");
    let mut bytes = format!("{GOOD1}\n").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00, b'\n']);
    bytes.extend_from_slice(format!("{{\"id\":\"{}\"}}\n", "x".repeat(10_000)).as_bytes());
    bytes.extend_from_slice(GOOD2.to_string().as_bytes());
    std::fs::write(&f, bytes).unwrap();
    let out = bin()
        .args([
            "normalize",
            "--source",
            "sensor",
            "--max-line-bytes",
            "4096",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("line 3: line is over the limit of 4096 bytes"),
        "{stderr}"
    );
    assert!(stderr.ends_with("accepted 2, rejected 2\n"), "{stderr}");

    let arr = dir.path().join("arr.json");
    std::fs::write(&arr, format!("[{GOOD1},\n {GOOD2}]")).unwrap();
    let out = bin()
        .args(["normalize", "--source", "sensor"])
        .arg(&arr)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

#[test]
fn usage_and_config_errors_exit_two() {
    let out = bin()
        .args(["normalize", "--source", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("source `nope` is not one of")
    );
    let out = bin()
        .args(["normalize", "--source", "sensor", "/definitely/not/here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[sessions]\nidle_timeout = \"whenever\"\n").unwrap();
    let out = bin()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bad.toml") && stderr.contains("sessions.idle_timeout"),
        "{stderr}"
    );
    let out = bin()
        .args(["simulate", "--users", "0", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn simulate_is_deterministic_and_normalizes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for out in [&a, &b] {
        let st = bin()
            .args([
                "simulate", "--seed", "42", "--users", "8", "--hours", "12", "--out",
            ])
            .arg(out)
            .status()
            .unwrap();
        assert!(st.success());
    }
    for f in ["events.ndjson", "labels.ndjson", "inventory.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let out = bin()
        .args(["normalize", "--source", "sensor"])
        .arg(a.join("events.ndjson"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.ends_with(", rejected 0\n"), "{stderr}");
}

#[test]
fn serve_demo_shows_stitched_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_server(dir.path(), &["--demo", "--demo-users", "10"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = 0;
    while Instant::now() < deadline {
        if let Some(body) = http_get(&addr, "/v1/sessions?limit=5") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            found = v["sessions"].as_array().map_or(0, Vec::len);
            if found > 0 {
                assert!(v["sessions"][0]["event_count"].as_u64().unwrap() >= 1);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(found > 0, "no stitched sessions within a minute");
}

/// A minimal HTTP/1.1 GET over loopback, enough for a smoke test without a client library.
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // De-chunk.
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, after) = rest.split_once("\r\n")?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n)?);
            rest = after.get(n + 2..)?;
        }
        return Some(out);
    }
    Some(body.to_string())
}

/// Start `midwatch serve` on a free loopback port; returns the child and its address.
fn spawn_server(data_dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut addr = None;
    for _ in 0..50 {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    (child, addr.expect("server printed its address"))
}

fn sensor_line(id: &str, secs: u32) -> String {
    format!(
        r#"{{"id":"{id}","ts":"2026-01-05T09:00:{secs:02}Z","type":"navigate","identity":{{"id":"alice@example.com"}},"session":{{"id":"s-follow"}}}}"#
    )
}

#[test]
fn ingest_follows_a_directory_resumes_without_gaps_or_duplicates() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (mut server, addr) = spawn_server(data.path(), &[]);
    let url = format!("http://{addr}");
    let f = logs.path().join("app.ndjson");
    // Three complete lines and one still being written.
    std::fs::write(
        &f,
        format!(
            "{}\n{}\n{}\n{}",
            sensor_line("f1", 1),
            sensor_line("f2", 2),
            sensor_line("f3", 3),
            &sensor_line("f4", 4)[..30]
        ),
    )
    .unwrap();
    let run = || {
        bin()
            .args([
                "ingest", "--source", "sensor", "--once", "--server", &url, "--follow",
            ])
            .arg(logs.path())
            .output()
            .unwrap()
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("accepted 3, rejected 0, duplicates 0"),
        "{stderr}"
    );

    // The writer finishes the line and adds more, one of them garbage; a whole JSON array
    // document (gzip-compressed) lands beside it.
    let mut more = std::fs::read_to_string(&f).unwrap();
    more.push_str(&sensor_line("f4", 4)[30..]);
    more.push('\n');
    more.push_str("this is not json\n");
    more.push_str(&sensor_line("f5", 5));
    more.push('\n');
    std::fs::write(&f, more).unwrap();
    let doc = format!("[{},\n{}]", sensor_line("g1", 6), sensor_line("g2", 7));
    let gz = logs.path().join("export.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(doc.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();

    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected line makes the exit code 1: {stderr}"
    );
    assert!(
        stderr.contains("accepted 4, rejected 1, duplicates 0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line=5"),
        "the rejected record is named by its file line: {stderr}"
    );

    // Nothing new: nothing sent again.
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("shipped 0 records in 0 batches"),
        "{stderr}"
    );

    let health = http_get(&addr, "/healthz").unwrap();
    let v: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(v["store"]["events"], 7, "{v}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn ingest_usage_errors() {
    let out = bin()
        .args(["ingest", "--source", "nope", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["ingest", "--source", "sensor"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["ingest", "--source", "sensor", "--follow", "/no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args([
            "ingest",
            "--source",
            "sensor",
            "--server",
            "ftp://x",
            "Cargo.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ingest_gives_up_on_an_unreachable_server_in_one_shot_mode() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.ndjson");
    std::fs::write(&f, format!("{}\n", sensor_line("u1", 1))).unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = bin()
        .args([
            "ingest",
            "--source",
            "sensor",
            "--max-attempts",
            "3",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--state",
        ])
        .arg(dir.path().join("state.json"))
        .arg(&f)
        .env("MIDWATCH_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server unavailable"));
}
