//! Shared helpers for the vendor golden tests: where the public sample data lives, a
//! one-line summary of the facts each event must carry, and golden-file comparison
//! (regenerate with `UPDATE_GOLDEN=1`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_model::Event;
use midwatch_sources::{Limits, Normalized, Source, normalize_bytes};
use std::path::{Path, PathBuf};

/// The public sample data beside the project (`../shared/data`).
pub fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        dir.is_dir(),
        "sample data missing: expected `../shared/data` beside the project"
    );
    dir
}

/// Every file under `data/vendor/<sub>` whose name ends with one of `exts` and is not an
/// `-expected.json` parse of another product, sorted.
pub fn vendor_files(sub: &str, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![data_dir().join("vendor").join(sub)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if !name.ends_with("-expected.json") && exts.iter().any(|e| name.ends_with(e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Normalize a whole file with `source`.
pub fn normalize_file(source: &dyn Source, path: &Path) -> Normalized {
    normalize_bytes(source, &std::fs::read(path).unwrap(), &Limits::default())
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// One line with the facts a vendor event must carry: time, class/activity, outcome, actor
/// and kind, on-behalf-of, session id and credential, source IP/AS/country, device, app,
/// auth method and MFA, event code.
pub fn summarize(e: &Event) -> String {
    let actor = e.actor.user.as_deref();
    let session = e.actor.session.as_deref();
    format!(
        "{} {}/{} {} actor={}({}) obo={} session={} cred={} ip={} asn={} country={} device={} ua={} app={} auth={} mfa={} code={}",
        midwatch_model::timefmt::format_ms(e.time),
        e.class_uid.uid(),
        e.activity_id,
        e.status_id.caption(),
        opt(actor.and_then(|u| u.uid.as_deref())),
        opt(actor.and_then(|u| u.kind()).map(|k| k.as_str())),
        opt(e
            .actor
            .on_behalf_of
            .as_deref()
            .and_then(|u| u.uid.as_deref())),
        opt(session.and_then(|s| s.uid.as_deref())),
        opt(session
            .and_then(|s| s.credential_uid.as_deref())
            .map(|c| c.get(..20).unwrap_or(c).to_string())),
        opt(e.src_ip()),
        opt(e.src_asn()),
        opt(e.src_country()),
        opt(e.device_id()),
        opt(e
            .user_agent()
            .map(|u| u.chars().take(24).collect::<String>())),
        opt(e.app_domain()),
        opt(e.auth_protocol.as_deref()),
        opt(e.is_mfa),
        opt(e.metadata.event_code.as_deref()),
    )
}

/// Summaries of a whole normalized file, with its rejects and skips.
pub fn summarize_all(n: &Normalized) -> String {
    let mut out = String::new();
    for e in &n.events {
        out.push_str(&summarize(e));
        out.push('\n');
    }
    for r in &n.rejects {
        out.push_str(&format!("REJECT line {}: {}\n", r.line, r.reason));
    }
    for r in &n.skipped {
        out.push_str(&format!("SKIP line {}: {}\n", r.line, r.reason));
    }
    out
}

/// Compare `actual` with `tests/golden/<name>.txt`; `UPDATE_GOLDEN=1` rewrites it.
pub fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "golden file {} missing; run with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
            .collect();
        panic!(
            "{name} differs from its golden file ({} vs {} lines); rerun with UPDATE_GOLDEN=1 if intended\n{}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}
