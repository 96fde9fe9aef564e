//! Golden test for the `entra-audit` source over every public Entra audit sample: no record
//! is rejected, and each event carries the facts recorded in its golden file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use common::{check_golden, normalize_file, summarize_all, vendor_files};
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use midwatch_sources::{
    Limits, Parsed, RecordCtx, Source, entra_audit::EntraAudit, normalize_bytes,
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

/// The facts the shared summary line leaves out: the target, privileges, entity, labels.
fn details(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let user = e.user.as_deref();
        let entity = e.entity.as_deref();
        out.push_str(&format!(
            "{} action={} status={} detail={:?} actor_name={:?} user={}({}) privileges={:?} entity={}/{}/{} scopes={:?} api={:?} labels={:?}\n",
            e.uid(),
            e.midwatch.action.as_deref().unwrap_or("-"),
            e.status_id.caption(),
            e.status_detail.as_deref().unwrap_or("-"),
            e.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            user.and_then(|u| u.uid.as_deref()).unwrap_or("-"),
            user.and_then(|u| u.kind()).map_or("-", |k| k.as_str()),
            e.privileges,
            entity.and_then(|x| x.type_name.as_deref()).unwrap_or("-"),
            entity.and_then(|x| x.name.as_deref()).unwrap_or("-"),
            entity.and_then(|x| x.uid.as_deref()).unwrap_or("-"),
            entity.map(|x| &x.scopes),
            e.api.as_ref().and_then(|a| a.service.as_ref()).and_then(|s| s.name.as_deref()),
            e.metadata.labels,
        ));
    }
    out
}

#[test]
fn every_sample_parses_and_matches_its_golden() {
    let files = vendor_files("entra-audit", &[".log", ".json"]);
    assert_eq!(files.len(), 5, "{files:?}");
    for path in &files {
        let n = normalize_file(&EntraAudit, path);
        assert!(n.rejects.is_empty(), "{}: {:?}", path.display(), n.rejects);
        assert!(n.skipped.is_empty(), "{}: {:?}", path.display(), n.skipped);
        assert!(!n.events.is_empty(), "{}", path.display());
        for e in &n.events {
            e.validate().unwrap();
            assert_eq!(e.metadata.product.vendor_name, "Microsoft");
            // Every caller IP, however it was written, is a valid address.
            if let Some(ip) = e.src_ip() {
                ip.parse::<std::net::IpAddr>().unwrap();
            }
            // The tenant is known even where only `resourceId` names it.
            assert!(
                e.metadata
                    .labels
                    .iter()
                    .any(|l| l.starts_with("tenant_id:")),
                "{}",
                e.uid()
            );
        }
        let name = stem(path);
        check_golden(&format!("entra-audit/{name}"), &summarize_all(&n));
        check_golden(&format!("entra-audit/{name}.details"), &details(&n.events));
    }
}

#[test]
fn failed_role_assignment_keeps_its_reason() {
    let path = vendor_files("entra-audit", &["test-auditlogs-result-reason.log"]);
    let n = normalize_file(&EntraAudit, &path[0]);
    let e = &n.events[0];
    assert_eq!(
        (e.class_uid, e.activity_id),
        (ClassUid::UserAccessManagement, 3)
    );
    assert_eq!(e.midwatch.action.as_deref(), Some("role_assign"));
    assert_eq!(e.status_id, StatusId::Failure);
    assert_eq!(
        e.status_detail.as_deref(),
        Some("The directory object quota limit for the tenant has been exceeded.")
    );
    assert_eq!(e.src_ip(), Some("2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"));
    let actor = e.actor.user.as_deref().unwrap();
    assert_eq!(actor.kind(), Some(IdentityKind::ServiceAccount));
    assert_eq!(
        e.user.as_ref().unwrap().uid.as_deref(),
        Some("billing-test-wus")
    );
}

#[test]
fn event_hub_batch_of_every_sample_yields_every_event() {
    let mut items = Vec::new();
    for path in vendor_files("entra-audit", &[".log"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        items.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    let body = format!("{{\"records\":[{}]}}", items.join(","));
    let n = normalize_bytes(&EntraAudit, body.as_bytes(), &Limits::default());
    assert!(n.rejects.is_empty(), "{:?}", n.rejects);
    assert_eq!(n.events.len(), items.len());
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
    for path in vendor_files("entra-audit", &[".log"]) {
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
                if let Ok(Parsed::Events(events)) = EntraAudit.parse(input, RecordCtx::default()) {
                    for e in events {
                        e.validate().unwrap();
                    }
                }
            }
        }
    }
}

/// Throughput, by hand: `cargo test --release -p midwatch-sources --test vendor_entra_audit
/// -- --ignored --nocapture`.
#[test]
#[ignore = "timing check run by hand"]
fn throughput() {
    let mut lines = Vec::new();
    for path in vendor_files("entra-audit", &[".log"]) {
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
    let n = normalize_bytes(&EntraAudit, body.as_bytes(), &Limits::default());
    let secs = start.elapsed().as_secs_f64();
    assert!(n.rejects.is_empty());
    #[allow(clippy::print_stdout, reason = "timing report")]
    {
        println!(
            "{}: {} events in {secs:.3}s = {:.0} events/s, {:.1} MB/s",
            EntraAudit.name(),
            n.events.len(),
            n.events.len() as f64 / secs,
            body.len() as f64 / secs / 1e6
        );
    }
}
