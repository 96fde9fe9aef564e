//! Golden test for the `entra-signin` source over every public Entra sign-in sample: no
//! record is rejected, and each event carries the facts recorded in its golden file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{check_golden, normalize_file, summarize_all, vendor_files};
use midwatch_model::Event;
use midwatch_sources::{
    Limits, Parsed, RecordCtx, Source, entra_signin::EntraSignin, normalize_bytes,
};
use std::path::Path;

fn stem(p: &Path) -> String {
    p.file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".log")
        .trim_end_matches(".json")
        .to_string()
}

/// The facts the shared summary line leaves out.
fn details(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let user = e.user.as_deref();
        out.push_str(&format!(
            "{} action={} status={} detail={:?} user={} name={:?} svc={:?} factors={:?} os={:?} managed={:?} city={:?} issuer={:?} labels={:?}\n",
            e.uid(),
            e.midwatch.action.as_deref().unwrap_or("-"),
            e.status_id.caption(),
            e.status_detail.as_deref().unwrap_or("-"),
            user.and_then(|u| u.uid.as_deref()).unwrap_or("-"),
            user.and_then(|u| u.name.as_deref()),
            e.dst_endpoint.as_ref().and_then(|d| d.svc_name.as_deref()),
            e.auth_factors.iter().filter_map(|f| f.factor_type.as_deref()).collect::<Vec<_>>(),
            e.device.as_ref().and_then(|d| d.os_name.as_deref()),
            e.device.as_ref().and_then(|d| d.is_managed),
            e.src_endpoint.as_ref().and_then(|s| s.location.as_ref()).and_then(|l| l.city.as_deref()),
            e.actor.session.as_ref().and_then(|s| s.issuer.as_deref()),
            e.metadata.labels,
        ));
    }
    out
}

#[test]
fn every_sample_parses_and_matches_its_golden() {
    let files = vendor_files("entra-signin", &[".log", ".json"]);
    assert_eq!(files.len(), 5, "{files:?}");
    for path in &files {
        let n = normalize_file(&EntraSignin, path);
        assert!(n.rejects.is_empty(), "{}: {:?}", path.display(), n.rejects);
        assert!(n.skipped.is_empty(), "{}: {:?}", path.display(), n.skipped);
        assert!(!n.events.is_empty(), "{}", path.display());
        for e in &n.events {
            e.validate().unwrap();
            assert_eq!(e.class_uid.uid(), 3002);
            assert_eq!(e.metadata.product.vendor_name, "Microsoft");
        }
        let name = stem(path);
        check_golden(&format!("entra-signin/{name}"), &summarize_all(&n));
        check_golden(&format!("entra-signin/{name}.details"), &details(&n.events));
    }
}

#[test]
fn every_time_format_corner_case_reads_as_the_same_instant() {
    let path = vendor_files("entra-signin", &["test-time-formats-corner-cases.log"]);
    let n = normalize_file(&EntraSignin, &path[0]);
    assert_eq!(n.events.len(), 11);
    for e in &n.events {
        // 2007-01-09T09:41:00Z, to the millisecond the text gives.
        assert_eq!(e.time / 1000, 1_168_335_660, "{}", e.uid());
    }
}

#[test]
fn event_hub_batch_of_every_sample_yields_every_event() {
    let mut items = Vec::new();
    let mut expected = 0;
    for path in vendor_files("entra-signin", &[".log"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            items.push(line.to_string());
            expected += 1;
        }
    }
    let body = format!("{{\"records\":[{}]}}", items.join(","));
    let n = normalize_bytes(&EntraSignin, body.as_bytes(), &Limits::default());
    assert!(n.rejects.is_empty(), "{:?}", n.rejects);
    assert_eq!(n.events.len(), expected);
}

/// The compliance seeds are not Entra records: mutate the real samples too (truncations,
/// byte flips, insertions) and require no panic and only valid events.
#[test]
fn mutated_samples_never_panic() {
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as usize
    };
    for path in vendor_files("entra-signin", &[".log"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let b = line.as_bytes();
            let mut inputs: Vec<Vec<u8>> =
                (0..b.len()).step_by(13).map(|c| b[..c].to_vec()).collect();
            for _ in 0..60 {
                let mut m = b.to_vec();
                for _ in 0..1 + next() % 4 {
                    let i = next() % m.len();
                    match next() % 3 {
                        0 => m[i] = next() as u8,
                        1 => m.insert(i, b"{}[]\",:0-e\\n"[next() % 12]),
                        _ => {
                            m.remove(i);
                        }
                    }
                }
                inputs.push(m);
            }
            for input in &inputs {
                if let Ok(Parsed::Events(events)) = EntraSignin.parse(input, RecordCtx::default()) {
                    for e in events {
                        e.validate().unwrap();
                    }
                }
            }
        }
    }
}

/// Throughput, by hand: `cargo test --release -p midwatch-sources --test vendor_entra_signin
/// -- --ignored --nocapture`.
#[test]
#[ignore = "timing check run by hand"]
fn throughput() {
    let mut lines = Vec::new();
    for path in vendor_files("entra-signin", &[".log"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    let mut body = String::new();
    while body.lines().count() < 20_000 {
        for l in &lines {
            body.push_str(l);
            body.push('\n');
        }
    }
    let start = std::time::Instant::now();
    let n = normalize_bytes(&EntraSignin, body.as_bytes(), &Limits::default());
    let secs = start.elapsed().as_secs_f64();
    assert!(n.rejects.is_empty());
    #[allow(clippy::print_stdout, reason = "timing report")]
    {
        println!(
            "{}: {} events in {secs:.3}s = {:.0} events/s, {:.1} MB/s",
            EntraSignin.name(),
            n.events.len(),
            n.events.len() as f64 / secs,
            body.len() as f64 / secs / 1e6
        );
    }
}
