//! The SQLite store against a real database file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_model::{
    App, ClassUid, Event, Identity, IdentityKind, Lifecycle, Session, SessionState, User,
    event::DstEndpoint,
};
use midwatch_store::{Batch, EventQuery, SessionQuery, SqliteStore, Store};

fn event(id: &str, t: i64, session: &str, who: &str, app: &str) -> Event {
    let mut e = Event::new(ClassUid::WebResourcesActivity, 2, t, id);
    e.metadata.log_name = Some("sensor".into());
    e.actor.user = Some(Box::new(User::new(who, IdentityKind::Human)));
    e.dst_endpoint = Some(Box::new(DstEndpoint {
        hostname: Some(app.into()),
        svc_name: None,
    }));
    e.midwatch.session_uid = Some(session.into());
    e
}

fn session(id: &str, started: i64, who: &str, app: &str, state: SessionState) -> Session {
    serde_json::from_value(serde_json::json!({
        "id": id, "key": format!("sid:sensor:{id}"), "source": "sensor", "identity": who,
        "app": app, "started": started, "last_seen": started + 1000, "state": state,
        "event_count": 1
    }))
    .unwrap()
}

fn fixture() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut events = vec![];
    for i in 0..30 {
        let (sid, who, app) = if i % 3 == 0 {
            ("s1", "alice", "github.com")
        } else if i % 3 == 1 {
            ("s2", "bob", "github.com")
        } else {
            ("s3", "alice", "notion.so")
        };
        events.push(event(&format!("e{i:02}"), 1000 + i * 10, sid, who, app));
    }
    let sessions = [
        session("s1", 1000, "alice", "github.com", SessionState::Active),
        session("s2", 1010, "bob", "github.com", SessionState::Closed),
        session("s3", 1020, "alice", "notion.so", SessionState::Terminated),
    ];
    let n = store
        .append(Batch {
            events: &events,
            sessions: &sessions,
            findings: &[],
            raw: &[],
            cursors: &[],
        })
        .unwrap();
    assert_eq!(n, 30);
    (dir, store)
}

#[test]
fn events_by_session_identity_app_and_time() {
    let (_dir, store) = fixture();
    let q = |q: EventQuery| store.events(&EventQuery { limit: 100, ..q }).unwrap().items;
    let s1 = q(EventQuery {
        session: Some("s1".into()),
        ..Default::default()
    });
    assert_eq!(s1.len(), 10);
    assert!(s1.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(
        q(EventQuery {
            identity: Some("alice".into()),
            ..Default::default()
        })
        .len(),
        20
    );
    assert_eq!(
        q(EventQuery {
            app: Some("NOTION.so".into()),
            ..Default::default()
        })
        .len(),
        10
    );
    let window = q(EventQuery {
        since: Some(1050),
        until: Some(1099),
        ..Default::default()
    });
    assert_eq!(
        window.iter().map(|e| e.uid()).collect::<Vec<_>>(),
        ["e05", "e06", "e07", "e08", "e09"]
    );
    assert_eq!(
        q(EventQuery {
            class_uid: Some(3002),
            ..Default::default()
        })
        .len(),
        0
    );
}

#[test]
fn event_pages_cover_everything_once() {
    let (_dir, store) = fixture();
    let mut seen = vec![];
    let mut cursor = None;
    loop {
        let page = store
            .events(&EventQuery {
                limit: 7,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .unwrap();
        seen.extend(page.items.iter().map(|e| e.uid().to_string()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup, seen);
}

#[test]
fn sessions_filters_and_cursor() {
    let (_dir, store) = fixture();
    let all = store.sessions(&SessionQuery::default()).unwrap();
    assert_eq!(
        all.items.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s3", "s2", "s1"]
    );
    let alice = store
        .sessions(&SessionQuery {
            identity: Some("alice".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(alice.items.len(), 2);
    let active = store
        .sessions(&SessionQuery {
            state: Some(SessionState::Active),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(active.items.len(), 1);
    let gh = store
        .sessions(&SessionQuery {
            app: Some("github.com".into()),
            until: Some(1005),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(gh.items.len(), 1);
    let p1 = store
        .sessions(&SessionQuery {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    let p2 = store
        .sessions(&SessionQuery {
            limit: 2,
            cursor: p1.next_cursor,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.items[0].id, "s1");
    assert!(p2.next_cursor.is_none());
    let err = store
        .sessions(&SessionQuery {
            cursor: Some("garbage".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(err.to_string().contains("cursor `garbage`"));
}

#[test]
fn duplicates_are_ignored_and_data_survives_reopen() {
    let (dir, store) = fixture();
    let again = vec![
        event("e01", 1010, "s2", "bob", "github.com"),
        event("new", 5000, "s1", "alice", "github.com"),
    ];
    let n = store
        .append(Batch {
            events: &again,
            sessions: &[],
            findings: &[],
            raw: &[],
            cursors: &[],
        })
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        store.known_event_ids(&["e01", "nope", "new"]).unwrap(),
        ["e01", "new"]
    );
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let c = store.counts().unwrap();
    assert_eq!((c.events, c.sessions), (31, 3));
    assert_eq!(store.live_sessions().unwrap().len(), 1);
    assert_eq!(
        store.session("s3").unwrap().unwrap().state,
        SessionState::Terminated
    );
    assert!(store.session("zzz").unwrap().is_none());
}

#[test]
fn inventory_round_trips() {
    let (_dir, store) = fixture();
    let id: Identity = serde_json::from_value(serde_json::json!({
        "id": "bot", "kind": "ai_agent", "owner": "alice", "lifecycle": "active",
        "approved_scope": {"apps": ["github"], "actions": ["api_call"], "max_session_lifetime_s": 600}
    }))
    .unwrap();
    store.put_identities(std::slice::from_ref(&id)).unwrap();
    let app = App {
        id: "github".into(),
        name: None,
        domain: "github.com".into(),
        managed: true,
        sensitivity: 2,
    };
    store.put_apps(std::slice::from_ref(&app)).unwrap();
    assert_eq!(store.identities().unwrap(), vec![id.clone()]);
    assert_eq!(store.apps().unwrap(), vec![app]);
    let mut changed = id;
    changed.lifecycle = Lifecycle::Offboarded;
    store
        .put_identities(std::slice::from_ref(&changed))
        .unwrap();
    assert_eq!(
        store.identities().unwrap()[0].lifecycle,
        Lifecycle::Offboarded
    );
}

#[test]
fn unusable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(&file).unwrap_err();
    assert!(err.to_string().contains("data directory"), "{err}");
}

#[test]
fn raw_records_are_kept_byte_for_byte() {
    let (_dir, store) = fixture();
    let bytes = b"{\"eventType\": \"user.session.start\",\n \"x\": \"\\u0026\"}".to_vec();
    let sha = midwatch_model::hash::Sha256Hex::of(&bytes);
    let raw = [midwatch_model::event::RawRecord {
        sha256: sha,
        source: "okta".into(),
        bytes: bytes.clone().into(),
    }];
    store
        .append(Batch {
            raw: &raw,
            ..Batch::default()
        })
        .unwrap();
    // Storing the same record again is harmless.
    store
        .append(Batch {
            raw: &raw,
            ..Batch::default()
        })
        .unwrap();
    let got = store.raw(&sha.to_uppercase()).unwrap().unwrap();
    assert_eq!(got.bytes, bytes);
    assert_eq!(got.source, "okta");
    assert!(store.raw(&"cd".repeat(32)).unwrap().is_none());
    assert!(store.raw("not a hash").unwrap().is_none());
}

fn finding(id: &str, t: i64, rule: &str, sev: midwatch_model::Severity) -> midwatch_model::Finding {
    serde_json::from_value(serde_json::json!({
        "id": id, "rule": rule, "title": rule, "severity": sev, "time": t,
        "session_id": "s1", "identity": "alice", "evidence": ["e00"]
    }))
    .unwrap()
}

#[test]
fn findings_filter_by_rule_triage_and_severity_and_keep_triage() {
    use midwatch_model::{Severity, Triage, TriageState};
    use midwatch_store::FindingQuery;
    let (_dir, store) = fixture();
    let mut closed = finding("f2", 2, "replay", Severity::High);
    closed.triage = Triage {
        state: TriageState::FalsePositive,
        by: Some("sam".into()),
        at: Some(9),
        note: Some("test account".into()),
    };
    let all = [
        finding("f1", 1, "replay", Severity::Low),
        closed.clone(),
        finding("f3", 3, "ghost", Severity::Critical),
    ];
    store
        .append(Batch {
            events: &[],
            sessions: &[],
            findings: &all,
            raw: &[],
            cursors: &[],
        })
        .unwrap();
    let ids = |q: FindingQuery| -> Vec<String> {
        store
            .findings(&q)
            .unwrap()
            .items
            .into_iter()
            .map(|f| f.id)
            .collect()
    };
    assert_eq!(ids(FindingQuery::default()), ["f3", "f2", "f1"]);
    let rule = FindingQuery {
        rule: Some("replay".into()),
        ..FindingQuery::default()
    };
    assert_eq!(ids(rule), ["f2", "f1"]);
    let open = FindingQuery {
        triage: vec![TriageState::Open, TriageState::Acknowledged],
        ..FindingQuery::default()
    };
    assert_eq!(ids(open), ["f3", "f1"]);
    let severe = FindingQuery {
        min_severity: Some(Severity::High),
        ..FindingQuery::default()
    };
    assert_eq!(ids(severe), ["f3", "f2"]);
    assert_eq!(store.finding("f2").unwrap().unwrap(), closed);
    assert!(store.finding("nope").unwrap().is_none());
}

#[test]
fn a_schema_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("midwatch.db")).unwrap();
        c.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema', '1');
             CREATE TABLE findings (id TEXT PRIMARY KEY, time INTEGER NOT NULL,
                session_id TEXT, identity TEXT, rule TEXT NOT NULL, doc TEXT NOT NULL);",
        )
        .unwrap();
        let doc = serde_json::to_string(&finding("old", 5, "r", midwatch_model::Severity::Medium))
            .unwrap();
        c.execute(
            "INSERT INTO findings VALUES ('old', 5, 's1', 'alice', 'r', ?1)",
            [doc],
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let q = midwatch_store::FindingQuery {
        triage: vec![midwatch_model::TriageState::Open],
        ..Default::default()
    };
    assert_eq!(store.findings(&q).unwrap().items.len(), 1);
    drop(store);
    // Opening again finds schema 2 and does not migrate twice.
    SqliteStore::open(dir.path()).unwrap();
}
