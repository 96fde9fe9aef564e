//! End-to-end checks of the simulator's contract: determinism, sensor-format validity,
//! label consistency, inventory validity and the shape of each injected attack.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use midwatch_model::IdentityKind;
use midwatch_model::inventory::{Inventory, Lifecycle};
use midwatch_model::timefmt::parse_rfc3339_ms;
use midwatch_sim::{Label, SCENARIOS, SimConfig, SimOutput, simulate, write_dir};
use midwatch_sources::sensor::Sensor;
use midwatch_sources::{Limits, normalize_bytes};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

fn cfg(seed: u64, users: u32, hours: u32) -> SimConfig {
    SimConfig {
        seed,
        users,
        hours,
        ..SimConfig::default()
    }
}

/// The 50-person, one-day run most tests look at, generated once.
fn day() -> &'static SimOutput {
    static OUT: OnceLock<SimOutput> = OnceLock::new();
    OUT.get_or_init(|| simulate(&cfg(42, 50, 24)))
}

fn parsed(out: &SimOutput) -> Vec<Value> {
    out.events
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn labels(out: &SimOutput) -> Vec<Label> {
    out.labels
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn session_key(e: &Value) -> String {
    let s = &e["session"];
    match (s["id"].as_str(), s["token_sha256"].as_str()) {
        (Some(id), _) => id.to_string(),
        (None, Some(h)) => format!("sha256:{h}"),
        _ => String::new(),
    }
}

fn ts(e: &Value) -> i64 {
    parse_rfc3339_ms(e["ts"].as_str().unwrap()).unwrap()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let sa = write_dir(&cfg(9, 20, 12), a.path()).unwrap();
    let sb = write_dir(&cfg(9, 20, 12), b.path()).unwrap();
    write_dir(&cfg(10, 20, 12), c.path()).unwrap();
    assert_eq!(sa, sb);
    for f in ["events.ndjson", "labels.ndjson", "inventory.json"] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        let z = std::fs::read(c.path().join(f)).unwrap();
        assert!(!x.is_empty(), "{f} is empty");
        assert_eq!(x, y, "{f} differs between identical runs");
        assert_ne!(x, z, "{f} is the same for different seeds");
    }
    assert_eq!(sa.events, simulate(&cfg(9, 20, 12)).events.len());
    assert_eq!(sa.identities, 20 + 2 + 2);
    assert!(sa.sessions > 0 && sa.labels == SCENARIOS.len());
}

#[test]
fn every_event_is_accepted_by_the_sensor_source() {
    let out = day();
    let body = out.events.join("\n");
    let norm = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
    assert!(
        norm.rejects.is_empty(),
        "rejects: {:?}",
        &norm.rejects[..norm.rejects.len().min(5)]
    );
    assert!(norm.skipped.is_empty());
    assert_eq!(norm.events.len(), out.events.len());
    for e in &norm.events {
        e.validate().unwrap();
    }
}

#[test]
fn volume_is_as_documented() {
    let n = day().events.len();
    assert!(
        (10_000..=50_000).contains(&n),
        "{n} events for 50 people in a day"
    );
}

#[test]
fn ids_are_unique_and_stream_is_ordered() {
    let events = parsed(day());
    let mut seen = BTreeSet::new();
    for e in &events {
        assert!(
            seen.insert(e["id"].as_str().unwrap().to_string()),
            "duplicate {}",
            e["id"]
        );
    }
    for w in events.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let key = |e: &Value| (ts(e), e["id"].as_str().unwrap().to_string());
        assert!(key(a) < key(b), "{} then {}", a["id"], b["id"]);
    }
}

#[test]
fn events_look_like_the_sensor_would_send_them() {
    for e in parsed(day()) {
        let t = e["ts"].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 24, "{t}");
        assert!(e["identity"]["id"].is_string());
        assert!(e["app"]["domain"].is_string());
        let key = session_key(&e);
        assert!(
            key.starts_with("sess-") || key.starts_with("sha256:"),
            "{e}"
        );
        if let Some(u) = e["url"].as_str() {
            assert!(
                u.starts_with("https://") && !u.contains('?') && !u.contains('#'),
                "{u}"
            );
        }
        if e["type"] == "login" {
            assert!(e["auth"]["method"].is_string(), "{e}");
        }
        if e["identity"]["kind"] == "ai_agent" {
            assert!(e["identity"]["on_behalf_of"].is_string());
        }
    }
}

#[test]
fn labels_are_consistent_with_the_events() {
    let out = day();
    let events = parsed(out);
    let index: BTreeMap<&str, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e["id"].as_str().unwrap(), i))
        .collect();
    let inv = Inventory::from_doc(out.inventory.clone()).unwrap();
    let labels = labels(out);
    let names: BTreeSet<&str> = labels.iter().map(|l| l.scenario.as_str()).collect();
    assert_eq!(names, SCENARIOS.iter().copied().collect());
    for l in &labels {
        assert!(!l.event_ids.is_empty(), "{}", l.scenario);
        let pos: Vec<usize> = l
            .event_ids
            .iter()
            .map(|id| {
                *index
                    .get(id.as_str())
                    .unwrap_or_else(|| panic!("{id} missing"))
            })
            .collect();
        assert!(
            pos.windows(2).all(|w| w[0] < w[1]),
            "{}: not in order",
            l.scenario
        );
        for p in &pos {
            assert_eq!(session_key(&events[*p]), l.session, "{}", l.scenario);
        }
        let first = &events[pos[0]];
        let last = &events[*pos.last().unwrap()];
        assert_eq!(first["ts"], l.start.as_str());
        assert_eq!(last["ts"], l.end.as_str());
        let who = inv.identity(&l.identity).unwrap();
        assert_eq!(who.id, l.identity);
        for p in &pos {
            let actor = events[*p]["identity"]["id"].as_str().unwrap();
            assert_eq!(
                inv.identity(actor).unwrap().id,
                l.identity,
                "{}",
                l.scenario
            );
        }
        assert!(!l.description.is_empty());
    }
    // Labels are sorted by start.
    assert!(labels.windows(2).all(|w| w[0].start <= w[1].start));
}

#[test]
fn inventory_is_valid_and_complete() {
    let out = day();
    let doc = &out.inventory;
    let inv = Inventory::from_doc(doc.clone()).unwrap();
    assert_eq!(inv.len(), (doc.identities.len(), doc.apps.len()));
    let humans: Vec<_> = doc
        .identities
        .iter()
        .filter(|i| i.kind == IdentityKind::Human)
        .collect();
    assert_eq!(humans.len(), 50);
    assert!(
        humans
            .iter()
            .all(|h| h.id.ends_with("@example.com") && h.id.contains('.'))
    );
    assert!(
        humans
            .iter()
            .any(|h| !h.mfa_enrolled && h.lifecycle == Lifecycle::Active)
    );
    assert!(
        humans
            .iter()
            .any(|h| h.lifecycle == Lifecycle::Offboarded && h.offboarded_at.is_some())
    );
    assert!(humans.iter().all(|h| {
        h.aliases
            .iter()
            .any(|a| a.starts_with("00u") && a.len() == 20)
    }));
    for kind in [IdentityKind::ServiceAccount, IdentityKind::AiAgent] {
        let bots: Vec<_> = doc.identities.iter().filter(|i| i.kind == kind).collect();
        assert_eq!(bots.len(), 5, "{kind:?}");
        for b in bots {
            let owner = inv.identity(b.owner.as_deref().unwrap()).unwrap();
            assert_eq!(owner.kind, IdentityKind::Human);
            assert_eq!(owner.lifecycle, Lifecycle::Active);
            let scope = b.approved_scope.as_ref().unwrap();
            assert!(!scope.apps.is_empty() && !scope.actions.is_empty());
            assert!(scope.max_session_lifetime_s.is_some());
            for app in &scope.apps {
                assert!(inv.app(app).is_some(), "{app}");
            }
        }
    }
    assert!(doc.apps.iter().any(|a| a.managed && a.sensitivity == 3));
    assert!(doc.apps.iter().any(|a| !a.managed));
    // Every event's app resolves in the inventory; every actor too.
    for e in parsed(out) {
        let host = e["app"]["domain"].as_str().unwrap();
        assert!(inv.app_for_host(host).is_some(), "{host}");
        assert!(
            inv.identity(e["identity"]["id"].as_str().unwrap())
                .is_some()
        );
    }
}

#[test]
fn benign_traffic_contains_the_look_alikes() {
    let events = parsed(day());
    let labelled: BTreeSet<String> = labels(day())
        .into_iter()
        .flat_map(|l| l.event_ids)
        .collect();
    let benign: Vec<&Value> = events
        .iter()
        .filter(|e| !labelled.contains(e["id"].as_str().unwrap()))
        .collect();
    let types: BTreeSet<&str> = benign.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in [
        "login",
        "logout",
        "navigate",
        "search",
        "create",
        "update",
        "approve",
        "download",
        "upload",
        "export",
        "share",
        "clipboard_write",
        "api_call",
        "token_use",
        "oauth_consent",
        "privilege_grant",
        "token_create",
        "extension_install",
        "mfa_challenge",
    ] {
        assert!(types.contains(t), "no benign {t}");
    }
    assert!(
        benign.iter().any(
            |e| e["identity"]["kind"] == "service_account" && e["resource"]["type"] == "secret"
        )
    );
    assert!(benign.iter().any(|e| e["auth"]["method"] == "password"));
    assert!(
        benign
            .iter()
            .any(|e| e["auth"]["mfa"] == false && e["auth"]["method"] == "sso")
    );
}

#[test]
fn people_work_office_hours() {
    // In a day starting Monday 00:00 UTC, most human events fall in the European and
    // American working day, and the quietest hours are at night for everyone.
    let events = parsed(day());
    let mut per_hour = [0usize; 24];
    for e in events.iter().filter(|e| e["identity"]["kind"] == "human") {
        let h: usize = e["ts"].as_str().unwrap()[11..13].parse().unwrap();
        per_hour[h] += 1;
    }
    let busy: usize = per_hour[8..18].iter().sum();
    let total: usize = per_hour.iter().sum();
    assert!(busy * 2 > total, "{per_hour:?}");
    assert!(per_hour[15] > 3 * per_hour[3], "{per_hour:?}");
}

fn scenario<'a>(labels: &'a [Label], name: &str) -> &'a Label {
    labels.iter().find(|l| l.scenario == name).unwrap()
}

#[test]
fn attacks_have_their_signatures() {
    let out = day();
    let events = parsed(out);
    let by_id: BTreeMap<&str, &Value> = events
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let labels = labels(out);
    let evs =
        |l: &Label| -> Vec<&Value> { l.event_ids.iter().map(|id| by_id[id.as_str()]).collect() };
    let inv = Inventory::from_doc(out.inventory.clone()).unwrap();

    // Cookie replay: same session, another device, network, country and browser, while the
    // victim's own events continue.
    let l = scenario(&labels, "session_cookie_replay");
    let attack = evs(l);
    let own: Vec<&Value> = events
        .iter()
        .filter(|e| {
            session_key(e) == l.session && !l.event_ids.iter().any(|id| e["id"] == id.as_str())
        })
        .collect();
    let login = own.iter().find(|e| e["type"] == "login").unwrap();
    for a in &attack {
        assert_ne!(a["device"]["id"], login["device"]["id"]);
        assert_ne!(a["device"]["user_agent"], login["device"]["user_agent"]);
        assert_ne!(a["network"]["asn"], login["network"]["asn"]);
        assert_ne!(a["network"]["country"], login["network"]["country"]);
        assert_ne!(a["type"], "login");
    }
    assert!(
        own.iter().any(|e| ts(e) > ts(attack.last().unwrap())),
        "victim stopped first"
    );
    assert!(own.iter().any(|e| ts(e) < ts(attack[0])));

    // OAuth consent with broad scopes, then bulk exports within minutes.
    let l = scenario(&labels, "oauth_consent_bulk_export");
    let a = evs(l);
    assert_eq!(a[0]["type"], "oauth_consent");
    let scopes: Vec<&str> = a[0]["oauth"]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"offline_access"));
    assert!(a.len() >= 11);
    for e in &a[1..] {
        assert!(e["type"] == "export" || e["type"] == "download");
        assert!(e["count"].as_u64().unwrap() >= 200);
    }
    assert!(ts(a[1]) - ts(a[0]) <= 5 * 60_000);

    // Agent outside its scope and past its lifetime.
    let l = scenario(&labels, "agent_scope_violation");
    let a = evs(l);
    let agent = inv.identity(&l.identity).unwrap();
    assert_eq!(agent.kind, IdentityKind::AiAgent);
    let scope = agent.approved_scope.as_ref().unwrap();
    let out_of_scope = a.iter().filter(|e| {
        let app = inv
            .app_for_host(e["app"]["domain"].as_str().unwrap())
            .unwrap();
        !scope.apps.contains(&app.id) && !scope.actions.iter().any(|x| e["type"] == x.as_str())
    });
    assert!(out_of_scope.count() >= 1);
    let session_events: Vec<&Value> = events
        .iter()
        .filter(|e| session_key(e) == l.session)
        .collect();
    let created = ts(session_events[0]);
    assert_eq!(session_events[0]["type"], "token_use");
    let max_ms = i64::try_from(scope.max_session_lifetime_s.unwrap()).unwrap() * 1000;
    assert!(a.iter().any(|e| ts(e) > created + max_ms));
    assert!(
        a.iter()
            .all(|e| e["identity"]["on_behalf_of"] == agent.owner.as_deref().unwrap())
    );

    // Privilege grant, then secrets.
    let l = scenario(&labels, "privilege_then_secret_download");
    let a = evs(l);
    assert_eq!(a[0]["type"], "privilege_grant");
    assert_eq!(a[0]["privileges"][0], "admin");
    assert!(a[1..].iter().all(|e| e["resource"]["type"] == "secret"));
    assert!(a.len() >= 5);

    // Extension with clipboardRead, then repeated clipboard reads.
    let l = scenario(&labels, "extension_then_clipboard");
    let a = evs(l);
    assert_eq!(a[0]["type"], "extension_install");
    let perms = a[0]["extension"]["permissions"].as_array().unwrap();
    assert!(perms.iter().any(|p| p == "clipboardRead") && perms.iter().any(|p| p == "<all_urls>"));
    assert!(a.len() >= 7);
    assert!(a[1..].iter().all(|e| e["type"] == "clipboard_read"));

    // MFA fatigue: many failed pushes, one success, a login.
    let l = scenario(&labels, "mfa_fatigue");
    let a = evs(l);
    let failed = a
        .iter()
        .take_while(|e| e["type"] == "mfa_challenge" && e["outcome"] != "success")
        .count();
    assert!(failed >= 8);
    assert!(ts(a[failed - 1]) - ts(a[0]) < 20 * 60_000);
    assert_eq!(a[failed]["outcome"], "success");
    assert_eq!(a[failed + 1]["type"], "login");

    // Ghost login: password, no MFA, SSO-managed app.
    let l = scenario(&labels, "ghost_login");
    let a = evs(l);
    assert_eq!(a[0]["type"], "login");
    assert_eq!(a[0]["auth"]["method"], "password");
    assert_eq!(a[0]["auth"]["mfa"], false);
    assert!(
        inv.app_for_host(a[0]["app"]["domain"].as_str().unwrap())
            .unwrap()
            .managed
    );

    // Offboarded identity active after offboarding.
    let l = scenario(&labels, "offboarded_identity_active");
    let a = evs(l);
    let who = inv.identity(&l.identity).unwrap();
    assert_eq!(who.lifecycle, Lifecycle::Offboarded);
    assert_eq!(a[0]["type"], "login");
    assert!(a.len() >= 5);
    assert!(a.iter().all(|e| ts(e) > who.offboarded_at.unwrap()));
}

#[test]
fn larger_organisations_get_more_attacks_spread_over_the_window() {
    let out = simulate(&cfg(3, 200, 8));
    let labels = labels(&out);
    assert_eq!(labels.len(), 2 * SCENARIOS.len());
    let start = parse_rfc3339_ms(&labels[0].start).unwrap();
    let end = parse_rfc3339_ms(&labels.last().unwrap().start).unwrap();
    assert!(end - start > 4 * 3_600_000, "attacks bunched up");
    // Two different victims for the same scenario when there are enough people.
    let cookie: BTreeSet<&str> = labels
        .iter()
        .filter(|l| l.scenario == "session_cookie_replay")
        .map(|l| l.identity.as_str())
        .collect();
    assert_eq!(cookie.len(), 2);
}

#[test]
fn tiny_and_empty_configurations_work() {
    let none = simulate(&cfg(1, 0, 24));
    assert!(none.events.is_empty() && none.labels.is_empty());
    assert!(none.inventory.identities.is_empty() && !none.inventory.apps.is_empty());

    let one = simulate(&cfg(1, 1, 24));
    assert!(one.labels.is_empty());
    assert_eq!(one.inventory.identities.len(), 3);
    Inventory::from_doc(one.inventory).unwrap();

    let four = simulate(&cfg(1, 4, 24));
    assert!(four.labels.is_empty());

    let empty_window = simulate(&cfg(1, 50, 0));
    assert!(empty_window.events.is_empty() && empty_window.labels.is_empty());

    // A short window still gets every scenario and valid events.
    let short = simulate(&cfg(5, 5, 1));
    assert_eq!(labels(&short).len(), SCENARIOS.len());
    let body = short.events.join("\n");
    let norm = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
    assert!(norm.rejects.is_empty(), "{:?}", norm.rejects);
}

#[test]
fn other_start_times_and_seeds_stay_valid() {
    for (seed, start_ms) in [(11u64, 1_767_830_400_000i64), (12, 1_700_000_000_000)] {
        let out = simulate(&SimConfig {
            seed,
            users: 12,
            hours: 36,
            start_ms,
            attacks: true,
        });
        let body = out.events.join("\n");
        let norm = normalize_bytes(&Sensor, body.as_bytes(), &Limits::default());
        assert!(norm.rejects.is_empty());
        assert_eq!(labels(&out).len(), SCENARIOS.len());
        let events = parsed(&out);
        // Benign traffic stays inside the window.
        let labelled: BTreeSet<String> =
            labels(&out).into_iter().flat_map(|l| l.event_ids).collect();
        assert!(events.iter().all(|e| ts(e) >= start_ms));
        assert!(
            events
                .iter()
                .filter(|e| !labelled.contains(e["id"].as_str().unwrap()))
                .all(|e| ts(e) < start_ms + 36 * 3_600_000 || e["type"] != "login")
        );
    }
}

#[test]
fn config_reads_from_json_with_defaults() {
    let c: SimConfig = serde_json::from_str(r#"{"seed":5}"#).unwrap();
    assert_eq!(
        c,
        SimConfig {
            seed: 5,
            ..SimConfig::default()
        }
    );
    assert_eq!(SimConfig::default().start_ms, 1_767_571_200_000);
    assert!(serde_json::from_str::<SimConfig>(r#"{"sede":5}"#).is_err());
}
