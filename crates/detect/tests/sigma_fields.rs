//! The two field spaces: the midwatch event with its session context, and raw vendor
//! records (the public samples through the SigmaHQ rules), plus hostile records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::Context;
use midwatch_detect::sigma::{
    Engine, EngineOptions, LoadOptions, MidwatchRecord, Record, load_paths, load_str,
};
use midwatch_model::event::{Api, AppFacts, IdentityFacts};
use midwatch_model::session::{Baseline, Seen};
use midwatch_model::{
    App, ApprovedScope, AuthFactor, AutonomousSystem, ClassUid, Clipboard, Device, Entity, Event,
    File, HttpRequest, Identity, IdentityKind, Inventory, Lifecycle, Location, Product, Session,
    SessionRef, SessionState, SrcEndpoint, StatusId, Url, User, WebResource,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/"
    ))
    .join(rel)
}

fn event() -> Event {
    let mut e = Event::new(ClassUid::ApiActivity, 2, 1_767_600_060_000, "evt-1");
    e.set_status(StatusId::Success);
    e.metadata.log_name = Some("sensor".into());
    e.metadata.event_code = Some("api_call".into());
    e.metadata.product.name = "midwatch sensor".into();
    e.actor.user = Some(Box::new(User::new("release-agent", IdentityKind::AiAgent)));
    e.actor.on_behalf_of = Some(Box::new(User::new(
        "alice@example.com",
        IdentityKind::Human,
    )));
    e.actor.session = Some(Box::new(SessionRef {
        uid: Some("s-1".into()),
        ..SessionRef::default()
    }));
    e.src_endpoint = Some(Box::new(SrcEndpoint {
        ip: Some("203.0.113.7".into()),
        location: Some(Location {
            country: Some("PT".into()),
            ..Location::default()
        }),
        autonomous_system: Some(AutonomousSystem {
            number: Some(64500),
            name: None,
        }),
        isp: None,
    }));
    e.device = Some(Box::new(Device {
        uid: Some("dev-1".into()),
        is_managed: Some(false),
        os_name: None,
    }));
    e.http_request = Some(Box::new(HttpRequest {
        user_agent: Some("curl/8.0".into()),
        http_method: Some("GET".into()),
        url: Some(Url {
            hostname: Some("api.github.com".into()),
            ..Url::default()
        }),
    }));
    e.auth_protocol = Some("token".into());
    e.is_mfa = Some(false);
    e.auth_factors = vec![
        AuthFactor {
            factor_type: Some("TOTP".into()),
        },
        AuthFactor {
            factor_type: Some("Push Notification".into()),
        },
    ];
    e.web_resources = vec![WebResource {
        type_name: Some("secret".into()),
        name: Some("prod-db-password".into()),
        ..WebResource::default()
    }];
    e.file = Some(Box::new(File {
        name: Some("dump.sql".into()),
        size: Some(1_048_576),
        ..File::default()
    }));
    e.api = Some(Box::new(Api {
        operation: Some("GetSecretValue".into()),
        service: None,
    }));
    e.privileges = vec!["admin".into(), "billing".into()];
    e.entity = Some(Box::new(Entity {
        type_name: Some("oauth_grant".into()),
        scopes: vec!["repo".into(), "admin:org".into()],
        ..Entity::default()
    }));
    e.app = Some(Box::new(Product {
        name: Some("Clipboard Helper".into()),
        ..Product::default()
    }));
    e.clipboard = Some(Box::new(Clipboard {
        mime_type: Some("text/plain".into()),
        size: Some(12),
    }));
    e.midwatch.action = Some("api_call".into());
    e.midwatch.count = Some(5000);
    e.midwatch.identity = Some(Box::new(IdentityFacts {
        uid: "release-agent".into(),
        kind: IdentityKind::AiAgent,
        lifecycle: "active".into(),
        owner: Some("alice@example.com".into()),
        mfa_enrolled: Some(false),
    }));
    e.midwatch.app = Some(Box::new(AppFacts {
        uid: "github".into(),
        managed: true,
        sensitivity: 3,
    }));
    e
}

fn session() -> Session {
    Session {
        id: "ses_1".into(),
        key: "sid:sensor:s-1".into(),
        source: "sensor".into(),
        sources: vec!["sensor".into(), "github".into()],
        identity: Some("release-agent".into()),
        identity_kind: Some(IdentityKind::AiAgent),
        on_behalf_of: Some("alice@example.com".into()),
        app: Some("github.com".into()),
        app_id: Some("github".into()),
        started: 1_767_600_000_000,
        last_seen: 1_767_600_060_000,
        ended: None,
        end_reason: None,
        state: SessionState::SteppedUp,
        auth_method: Some("token".into()),
        mfa: Some(false),
        baseline: Baseline::default(),
        seen: Seen {
            devices: vec!["dev-0".into(), "dev-1".into()],
            ips: vec!["198.51.100.1".into(), "203.0.113.7".into()],
            asns: vec![64500],
            countries: vec!["PT".into()],
            user_agents: vec!["curl/8.0".into()],
        },
        privileges_gained: vec!["admin".into()],
        action_counts: BTreeMap::from([("api_call".to_string(), 7), ("export".to_string(), 2)]),
        event_count: 9,
        late_events: 0,
        risk: 40,
        findings: 1,
    }
}

fn identity() -> Identity {
    Identity {
        id: "release-agent".into(),
        kind: IdentityKind::AiAgent,
        display_name: Some("Release agent".into()),
        owner: Some("alice@example.com".into()),
        lifecycle: Lifecycle::Offboarded,
        offboarded_at: Some(1_767_500_000_000),
        mfa_enrolled: false,
        entitlements: vec!["github:write".into()],
        aliases: vec!["rel-bot".into()],
        approved_scope: Some(ApprovedScope {
            apps: vec!["github".into()],
            actions: vec!["api_call".into()],
            max_session_lifetime_s: Some(3600),
        }),
    }
}

fn app() -> App {
    App {
        id: "github".into(),
        name: Some("GitHub".into()),
        domain: "github.com".into(),
        managed: true,
        sensitivity: 3,
    }
}

#[test]
fn midwatch_fields_resolve_on_the_event_and_its_context() {
    let (e, s, i, a, inv) = (event(), session(), identity(), app(), Inventory::default());
    let ctx = Context {
        event: &e,
        session: Some(&s),
        identity: Some(&i),
        app: Some(&a),
        inventory: &inv,
    };
    let rec = MidwatchRecord::new(ctx);
    let expect: &[(&str, &[&str])] = &[
        ("class_uid", &["6003"]),
        ("activity_id", &["2"]),
        ("type_uid", &["600302"]),
        ("status_id", &["1"]),
        ("time", &["1767600060000"]),
        ("actor.user.uid", &["release-agent"]),
        ("actor.user.type_id", &["99"]),
        ("actor.user.type", &["AI Agent"]),
        ("actor.session.uid", &["s-1"]),
        ("actor.on_behalf_of.uid", &["alice@example.com"]),
        ("src_endpoint.ip", &["203.0.113.7"]),
        ("src_endpoint.location.country", &["PT"]),
        ("src_endpoint.autonomous_system.number", &["64500"]),
        ("device.uid", &["dev-1"]),
        ("device.is_managed", &["false"]),
        ("http_request.url.hostname", &["api.github.com"]),
        ("http_request.user_agent", &["curl/8.0"]),
        ("auth_protocol", &["token"]),
        ("is_mfa", &["false"]),
        ("auth_factors.factor_type", &["TOTP", "Push Notification"]),
        ("web_resources.name", &["prod-db-password"]),
        ("web_resources.type", &["secret"]),
        ("file.name", &["dump.sql"]),
        ("file.size", &["1048576"]),
        ("api.operation", &["GetSecretValue"]),
        ("privileges", &["admin", "billing"]),
        ("entity.type", &["oauth_grant"]),
        ("entity.scopes", &["repo", "admin:org"]),
        ("app.name", &["Clipboard Helper"]),
        ("clipboard.mime_type", &["text/plain"]),
        ("metadata.product.name", &["midwatch sensor"]),
        ("metadata.event_code", &["api_call"]),
        ("metadata.log_name", &["sensor"]),
        ("midwatch.action", &["api_call"]),
        ("midwatch.count", &["5000"]),
        ("midwatch.identity.kind", &["ai_agent"]),
        ("session.id", &["ses_1"]),
        ("session.age_s", &["60"]),
        ("session.device_changed", &["true"]),
        ("session.devices", &["2"]),
        ("session.ips", &["2"]),
        ("session.asns", &["1"]),
        ("session.countries", &["1"]),
        ("session.state", &["stepped_up"]),
        ("session.mfa", &["false"]),
        ("session.auth_method", &["token"]),
        ("session.event_count", &["9"]),
        ("session.privileges_gained", &["admin"]),
        ("session.risk", &["40"]),
        ("session.findings", &["1"]),
        ("session.sources", &["sensor", "github"]),
        ("session.source", &["sensor"]),
        ("session.actions.export", &["2"]),
        ("session.actions.delete", &[]),
        ("session.on_behalf_of", &["alice@example.com"]),
        ("identity.id", &["release-agent"]),
        ("identity.kind", &["ai_agent"]),
        ("identity.lifecycle", &["offboarded"]),
        ("identity.owner", &["alice@example.com"]),
        ("identity.mfa_enrolled", &["false"]),
        ("identity.entitlements", &["github:write"]),
        ("identity.approved_actions", &["api_call"]),
        ("identity.max_session_lifetime_s", &["3600"]),
        ("app.id", &["github"]),
        ("app.managed", &["true"]),
        ("app.sensitivity", &["3"]),
        ("app.domain", &["github.com"]),
        ("Session.Device_Changed", &["true"]),
        ("user.uid", &[]),
        ("nothing.here", &[]),
    ];
    for (path, want) in expect {
        assert_eq!(rec.strings(path), *want, "{path}");
    }
    assert_eq!(
        rec.first_string("actor.user.uid").as_deref(),
        Some("release-agent")
    );
    // Without an inventory identity or app, the event's enrichment facts answer.
    let bare = Context {
        event: &e,
        session: None,
        identity: None,
        app: None,
        inventory: &inv,
    };
    let rec = MidwatchRecord::new(bare);
    assert_eq!(rec.strings("identity.lifecycle"), ["active"]);
    assert_eq!(rec.strings("app.sensitivity"), ["3"]);
    assert!(rec.strings("session.id").is_empty());
    assert!(rec.strings("app.domain").is_empty());
}

#[test]
fn midwatch_rules_match_events_through_the_engine() {
    let rules = r#"
title: Offboarded agent reads secrets
id: r-1
logsource: {product: midwatch, category: api_activity}
detection:
    sel:
        identity.lifecycle: offboarded
        web_resources.type: secret
    condition: sel
---
title: Device changed in a privileged session
id: r-2
logsource: {product: midwatch}
detection:
    sel:
        session.device_changed: true
        session.privileges_gained|exists: true
    trusted:
        device.is_managed: true
    condition: sel and not trusted
---
title: Big export
id: r-3
logsource: {product: midwatch, service: sensor}
detection:
    sel:
        midwatch.count|gte: 1000
        midwatch.action:
            - export
            - download
    condition: sel
---
title: Logins only
id: r-4
logsource: {product: midwatch, category: authentication}
detection:
    sel:
        actor.user.uid|startswith: release
    condition: sel
---
title: Risky scopes
id: r-5
logsource: {product: midwatch, service: okta}
detection:
    sel:
        entity.scopes|contains: 'admin:'
    condition: sel
"#;
    let report = load_str(rules, "m.yml", &LoadOptions::default());
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let (e, s, i, a, inv) = (event(), session(), identity(), app(), Inventory::default());
    let ctx = Context {
        event: &e,
        session: Some(&s),
        identity: Some(&i),
        app: Some(&a),
        inventory: &inv,
    };
    for opts in [
        EngineOptions::default(),
        EngineOptions {
            index: false,
            prefilter: false,
        },
    ] {
        let engine = Engine::with_options(report.rules.clone(), opts);
        let mut out = Vec::new();
        engine.match_event(&ctx, &mut out);
        let ids: Vec<_> = out.iter().map(|m| m.meta.key().to_string()).collect();
        // r-3 needs an export; r-4 an authentication event; r-5 an okta event.
        assert_eq!(ids, ["r-1", "r-2"], "{opts:?}");
    }
    let mut export = e.clone();
    export.midwatch.action = Some("export".into());
    let ctx = Context {
        event: &export,
        ..ctx
    };
    let engine = Engine::new(report.rules);
    let mut out = Vec::new();
    engine.match_event(&ctx, &mut out);
    let ids: Vec<_> = out.iter().map(|m| m.meta.key().to_string()).collect();
    assert_eq!(ids, ["r-1", "r-2", "r-3"]);
    let stats = engine.stats();
    let mw = stats.feeds.iter().find(|f| f.feed == "midwatch").unwrap();
    assert_eq!(mw.rules, 5);
}

/// Every record of every vendor sample, with the m365 test envelope removed.
fn vendor_records() -> Vec<(&'static str, Vec<u8>)> {
    let sets: &[(&str, &str)] = &[
        ("okta", "vendor/okta"),
        ("cloudtrail", "vendor/aws-cloudtrail"),
        ("entra-signin", "vendor/entra-signin"),
        ("entra-audit", "vendor/entra-audit"),
        ("m365", "vendor/m365-audit"),
        ("github", "vendor/github-audit"),
        ("gws", "vendor/google-workspace"),
    ];
    let mut out = Vec::new();
    for (source, dir) in sets {
        let mut files = Vec::new();
        walk(&data(dir), &mut files);
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with("-expected.json") || name.contains("digest") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            if *source == "m365" {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                for ev in v["events"].as_array().unwrap() {
                    if ev["o365audit"].is_object() {
                        out.push((*source, ev["o365audit"].to_string().into_bytes()));
                    }
                }
            } else if text.trim_start().starts_with('{')
                && !name.ends_with(".log")
                && !name.contains("Github_sample")
            {
                out.push((*source, text.into_bytes()));
            } else {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    out.push((*source, line.as_bytes().to_vec()));
                }
            }
        }
    }
    out
}

fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn sigmahq_rules_run_on_the_vendor_samples() {
    let report = load_paths(&[data("sigma/rules-cloud")], &LoadOptions::default());
    let engine = Engine::new(report.rules.clone());
    let plain = Engine::with_options(
        report.rules,
        EngineOptions {
            index: false,
            prefilter: false,
        },
    );
    let records = vendor_records();
    assert!(records.len() > 400, "{}", records.len());
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for (source, bytes) in &records {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = engine.match_raw(source, bytes, &mut a);
        let rb = plain.match_raw(source, bytes, &mut b);
        assert!(rb.is_ok(), "{source}: {rb:?}");
        if ra.is_err() {
            assert!(a.is_empty());
        }
        let ids = |m: &Vec<_>| -> Vec<usize> {
            m.iter()
                .map(|m: &midwatch_detect::sigma::Match| m.rule)
                .collect()
        };
        assert_eq!(
            ids(&a),
            ids(&b),
            "{source}: {}",
            String::from_utf8_lossy(bytes)
        );
        for m in &a {
            *hits
                .entry(format!("{source}: {}", m.meta.title))
                .or_default() += 1;
        }
    }
    for (k, n) in &hits {
        eprintln!("{n:4}  {k}");
    }
    // SigmaHQ rules catch what the samples hold, as written.
    assert_eq!(
        hits.get("cloudtrail: AWS ConsoleLogin Failed Authentication"),
        Some(&2)
    );
    assert_eq!(hits.get("cloudtrail: AWS Bucket Deleted"), Some(&1));
    assert_eq!(
        hits.get("github: New Github Organization Member Added"),
        Some(&14)
    );
    // No Okta sample is an attack; one made into an MFA factor reset is caught.
    assert!(!hits.keys().any(|k| k.starts_with("okta: ")), "{hits:?}");
    let text = records
        .iter()
        .filter(|(s, _)| *s == "okta")
        .map(|(_, r)| String::from_utf8(r.clone()).unwrap())
        .find(|t| t.contains("\"eventType\":\"user.session.start\""))
        .unwrap();
    let start = text.find("\"eventType\":\"").unwrap() + 13;
    let end = start + text[start..].find('"').unwrap();
    let reset = format!(
        "{}user.mfa.factor.reset_all{}",
        &text[..start],
        &text[end..]
    );
    let mut out = Vec::new();
    engine
        .match_raw("okta", reset.as_bytes(), &mut out)
        .unwrap();
    let titles: Vec<_> = out.iter().map(|m| m.meta.title.as_str()).collect();
    assert_eq!(titles, ["Okta MFA Reset or Deactivated"]);
}

/// Truncated, garbled and hostile records never panic the engine.
#[test]
fn hostile_records_never_panic() {
    let report = load_paths(&[data("sigma/rules-cloud")], &LoadOptions::default());
    let engine = Engine::new(report.rules);
    let mut inputs: Vec<(&str, Vec<u8>)> = Vec::new();
    for (source, bytes) in vendor_records().into_iter().step_by(7) {
        for cut in (0..bytes.len()).step_by(97) {
            inputs.push((source, bytes[..cut].to_vec()));
        }
        let mut flipped = bytes.clone();
        for i in (0..flipped.len()).step_by(13) {
            flipped[i] ^= 0x20;
        }
        inputs.push((source, flipped));
    }
    for source in ["okta", "cloudtrail", "github", "entra-signin"] {
        for bad in [
            b"[".repeat(100_000),
            b"{\"a\":".repeat(10_000),
            b"\"\\ud800\\udc00\\ud800\"".to_vec(),
            b"{\"eventType\":\"\\u0000\\uffff\",\"action\":1e999999}".to_vec(),
            vec![0xff; 64],
            b"{\"eventName\":\"ConsoleLogin\",\"x\":[1,2,{\"y\":[[[[[[]]]]]]}]}".to_vec(),
        ] {
            inputs.push((source, bad));
        }
    }
    let mut errors = 0;
    for (source, bytes) in &inputs {
        let mut out = Vec::new();
        if engine.match_raw(source, bytes, &mut out).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 0);
    eprintln!("{} hostile records, {errors} refused", inputs.len());
}

/// Every vendor feed is a registered source, and every registered source is a valid
/// `service` of a `product: midwatch` rule.
#[test]
fn logsources_name_registered_sources() {
    for feed in midwatch_detect::sigma::logsource::VENDOR_FEEDS {
        assert!(
            midwatch_sources::by_name(feed.source).is_some(),
            "{}",
            feed.source
        );
    }
    for name in midwatch_sources::names() {
        let rule = format!(
            "title: t\nlogsource: {{product: midwatch, service: {name}}}\ndetection:\n    s: {{class_uid: 3002}}\n    condition: s\n"
        );
        let report = load_str(&rule, "s.yml", &LoadOptions::default());
        assert!(
            report.unsupported.is_empty(),
            "{name}: {:?}",
            report.unsupported
        );
    }
}

/// Vendor samples normalized by the real sources, matched as midwatch events: one rule
/// covers every source.
#[test]
fn midwatch_rules_see_normalized_vendor_events() {
    let rules = r#"
title: Any logon
id: logon
logsource: {product: midwatch, category: authentication}
detection:
    sel:
        activity_id: 1
    condition: sel
---
title: Okta logons only
id: okta-logon
logsource: {product: midwatch, service: okta, category: authentication}
detection:
    sel:
        activity_id: 1
        src_endpoint.ip|exists: true
    condition: sel
---
title: Failed anything
id: failed
logsource: {product: midwatch}
detection:
    sel:
        status_id: 2
    condition: sel
"#;
    let report = load_str(rules, "m.yml", &LoadOptions::default());
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let engine = Engine::new(report.rules);
    let inv = Inventory::default();
    let mut per_rule: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut events = 0;
    for (source, bytes) in vendor_records() {
        let src = midwatch_sources::by_name(source).unwrap();
        let Ok(midwatch_sources::Parsed::Events(mut evs)) =
            src.parse(&bytes, midwatch_sources::RecordCtx::default())
        else {
            continue;
        };
        for e in &mut evs {
            let sha = midwatch_model::hash::Sha256Hex::of(&bytes);
            midwatch_sources::stamp(e, source, sha, midwatch_sources::RecordCtx::default());
        }
        for e in &evs {
            events += 1;
            let ctx = Context {
                event: e,
                session: None,
                identity: None,
                app: None,
                inventory: &inv,
            };
            let mut out = Vec::new();
            engine.match_event(&ctx, &mut out);
            for m in out {
                *per_rule
                    .entry(m.meta.key().to_string())
                    .or_default()
                    .entry(source.to_string())
                    .or_default() += 1;
                // The rule's meaning, checked on the event directly.
                match m.meta.key() {
                    "logon" | "okta-logon" => {
                        assert_eq!(e.class_uid, ClassUid::Authentication);
                        assert_eq!(e.activity_id, 1);
                    }
                    _ => assert_eq!(e.status_id, StatusId::Failure),
                }
            }
        }
    }
    eprintln!("{events} normalized events: {per_rule:?}");
    let logon = &per_rule["logon"];
    assert!(logon.len() >= 3, "{logon:?}");
    assert_eq!(per_rule["okta-logon"].keys().collect::<Vec<_>>(), ["okta"]);
    assert!(per_rule["failed"].len() >= 2);
}

#[test]
fn grouping_fields_read_from_raw_records_like_rules_do() {
    let rec = midwatch_detect::sigma::JsonRecord::for_source(
        br#"{"resultType":"0","properties":{"userPrincipalName":"a@b"}}"#,
        "entra-signin",
    )
    .unwrap();
    assert_eq!(
        rec.first_string("userPrincipalName").as_deref(),
        Some("a@b")
    );
}
