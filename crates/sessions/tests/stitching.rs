//! Stitching behaviour: keys, timeouts, lifetime, logout, revocation, late events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_model::event::{AutonomousSystem, Device, SessionRef, SrcEndpoint};
use midwatch_model::hash::token_fingerprint;
use midwatch_model::{ClassUid, EndReason, Event, IdentityKind, SessionState, User};
use midwatch_sessions::{Config, Stitcher, session_key};

const MIN: i64 = 60_000;
const T0: i64 = 1_767_600_000_000;

fn cfg() -> Config {
    Config {
        idle_timeout_ms: 30 * MIN,
        absolute_lifetime_ms: 8 * 60 * MIN,
        lateness_ms: 5 * MIN,
        max_seen: 8,
    }
}

fn ev(id: &str, t: i64, class: ClassUid, activity: u32, sid: &str, action: &str) -> Event {
    let mut e = Event::new(class, activity, t, id);
    e.metadata.log_name = Some("sensor".into());
    e.midwatch.action = Some(action.to_string().into());
    e.actor.user = Some(Box::new(User::new(
        "alice@example.com",
        IdentityKind::Human,
    )));
    e.actor.session = Some(Box::new(SessionRef {
        uid: Some(sid.into()),
        ..SessionRef::default()
    }));
    e.device = Some(Box::new(Device {
        uid: Some("laptop-1".into()),
        is_managed: Some(true),
        os_name: None,
    }));
    e.src_endpoint = Some(Box::new(SrcEndpoint {
        ip: Some("198.51.100.1".into()),
        autonomous_system: Some(AutonomousSystem {
            number: Some(64500),
            name: None,
        }),
        ..SrcEndpoint::default()
    }));
    e
}

fn login(id: &str, t: i64, sid: &str) -> Event {
    let mut e = ev(id, t, ClassUid::Authentication, 1, sid, "login");
    e.auth_protocol = Some("sso".into());
    e.is_mfa = Some(true);
    e
}

fn nav(id: &str, t: i64, sid: &str) -> Event {
    ev(id, t, ClassUid::WebResourcesActivity, 2, sid, "navigate")
}

#[test]
fn one_session_per_key_with_baseline_and_counts() {
    let mut st = Stitcher::new(cfg());
    let mut a = login("e1", T0, "s1");
    let mut b = nav("e2", T0 + MIN, "s1");
    let mut c = nav("e3", T0 + 2 * MIN, "s1");
    c.device.as_mut().unwrap().uid = Some("other-device".into());
    c.src_endpoint
        .as_mut()
        .unwrap()
        .autonomous_system
        .as_mut()
        .unwrap()
        .number = Some(64999);
    let pa = st.ingest(&mut a);
    let pb = st.ingest(&mut b);
    let pc = st.ingest(&mut c);
    assert!(pa.opened && !pb.opened && !pc.opened);
    assert_eq!(pa.session_id, pb.session_id);
    assert_eq!(pb.session_id, pc.session_id);
    assert_eq!(a.midwatch.session_uid, pa.session_id);
    let s = st.get(pa.session_id.as_deref().unwrap()).unwrap();
    assert_eq!(s.event_count, 3);
    assert_eq!(s.action_counts["navigate"], 2);
    assert_eq!(s.baseline.device_id.as_deref(), Some("laptop-1"));
    assert_eq!(s.seen.devices, ["laptop-1", "other-device"]);
    assert_eq!(s.seen.asns, [64500, 64999]);
    assert!(s.device_changed());
    assert_eq!(s.auth_method.as_deref(), Some("sso"));
    assert_eq!(s.mfa, Some(true));
    assert_eq!(s.identity.as_deref(), Some("alice@example.com"));
    assert_eq!(st.take_dirty().len(), 1);
    assert!(st.take_dirty().is_empty());
}

#[test]
fn idle_timeout_closes_and_reopens() {
    let mut st = Stitcher::new(cfg());
    let first = st.ingest(&mut login("e1", T0, "s1")).session_id.unwrap();
    let second = st
        .ingest(&mut nav("e2", T0 + 31 * MIN, "s1"))
        .session_id
        .unwrap();
    assert_ne!(first, second);
    let s1 = st.get(&first).unwrap();
    assert_eq!(s1.state, SessionState::Closed);
    assert_eq!(s1.end_reason, Some(EndReason::IdleTimeout));
    assert_eq!(s1.ended, Some(T0 + 30 * MIN));
}

#[test]
fn sweep_closes_idle_sessions_without_new_events_for_them() {
    let mut st = Stitcher::new(cfg());
    let id = st.ingest(&mut login("e1", T0, "s1")).session_id.unwrap();
    // Another session's traffic moves event time forward.
    st.ingest(&mut login("e2", T0 + 45 * MIN, "s2"));
    st.sweep(st.watermark());
    let s = st.get(&id).unwrap();
    assert_eq!(s.end_reason, Some(EndReason::IdleTimeout));
    assert_eq!(st.live(), 1);
}

#[test]
fn absolute_lifetime_splits_busy_sessions() {
    let mut st = Stitcher::new(cfg());
    let first = st.ingest(&mut login("e0", T0, "s1")).session_id.unwrap();
    let mut last = first.clone();
    for i in 1..=20 {
        last = st
            .ingest(&mut nav(&format!("e{i}"), T0 + i * 25 * MIN, "s1"))
            .session_id
            .unwrap();
    }
    assert_ne!(first, last);
    let s = st.get(&first).unwrap();
    assert_eq!(s.end_reason, Some(EndReason::Lifetime));
    assert_eq!(s.ended, Some(T0 + 8 * 60 * MIN));
}

#[test]
fn logout_and_revocation_close() {
    let mut st = Stitcher::new(cfg());
    let a = st.ingest(&mut login("e1", T0, "s1")).session_id.unwrap();
    st.ingest(&mut ev(
        "e2",
        T0 + MIN,
        ClassUid::Authentication,
        2,
        "s1",
        "logout",
    ));
    let s = st.get(&a).unwrap();
    assert_eq!(s.state, SessionState::Closed);
    assert_eq!(s.end_reason, Some(EndReason::Logout));
    // A new login on the same key after logout is a new session.
    let b = st
        .ingest(&mut login("e3", T0 + 10 * MIN, "s1"))
        .session_id
        .unwrap();
    assert_ne!(a, b);
    st.ingest(&mut ev(
        "e4",
        T0 + 11 * MIN,
        ClassUid::Authentication,
        2,
        "s1",
        "session_revoked",
    ));
    let s = st.get(&b).unwrap();
    assert_eq!(s.state, SessionState::Terminated);
    assert_eq!(s.end_reason, Some(EndReason::Revoked));
}

#[test]
fn out_of_order_events_within_lateness_land_in_the_right_session() {
    let mut st = Stitcher::new(cfg());
    // Session 1 from T0 to its logout at T0+10m; session 2 starts at T0+12m.
    let s1 = st.ingest(&mut login("e1", T0, "s1")).session_id.unwrap();
    st.ingest(&mut ev(
        "e2",
        T0 + 10 * MIN,
        ClassUid::Authentication,
        2,
        "s1",
        "logout",
    ));
    let s2 = st
        .ingest(&mut login("e3", T0 + 12 * MIN, "s1"))
        .session_id
        .unwrap();
    // An event from T0+9m arrives now (3 minutes behind the watermark: within lateness).
    let mut late_ok = nav("e4", T0 + 9 * MIN, "s1");
    let p = st.ingest(&mut late_ok);
    assert!(!p.late);
    assert_eq!(p.session_id.as_deref(), Some(s1.as_str()));
    assert_eq!(st.get(&s1).unwrap().event_count, 3);
    assert_eq!(st.get(&s2).unwrap().event_count, 1);
}

#[test]
fn late_login_resets_baseline() {
    let mut st = Stitcher::new(cfg());
    let mut first = nav("e1", T0 + MIN, "s1");
    first.device.as_mut().unwrap().uid = Some("unknown-device".into());
    let id = st.ingest(&mut first).session_id.unwrap();
    let p = st.ingest(&mut login("e0", T0, "s1"));
    assert_eq!(p.session_id.as_deref(), Some(id.as_str()));
    let s = st.get(&id).unwrap();
    assert_eq!(s.started, T0);
    assert_eq!(s.baseline.device_id.as_deref(), Some("laptop-1"));
}

#[test]
fn events_past_lateness_are_kept_and_flagged() {
    let mut st = Stitcher::new(cfg());
    let id = st.ingest(&mut login("e1", T0, "s1")).session_id.unwrap();
    st.ingest(&mut nav("e2", T0 + 20 * MIN, "s1"));
    // 15 minutes behind the watermark: past the 5 minute window, but inside the session.
    let mut late = nav("e3", T0 + 5 * MIN, "s1");
    let p = st.ingest(&mut late);
    assert!(p.late);
    assert!(late.midwatch.late);
    assert_eq!(p.session_id.as_deref(), Some(id.as_str()));
    let s = st.get(&id).unwrap();
    assert_eq!(s.late_events, 1);
    assert_eq!(s.last_seen, T0 + 20 * MIN);
    // Late and belonging to no known session: flagged, unstitched.
    let mut orphan = nav("e4", T0 - 60 * MIN, "s9");
    let p = st.ingest(&mut orphan);
    assert!(p.late && p.session_id.is_none());
    assert_eq!(st.stats().late, 2);
}

#[test]
fn token_fingerprint_keys() {
    let mut st = Stitcher::new(cfg());
    let fp = token_fingerprint("secret-token-value");
    let mk = |id: &str, t: i64| {
        let mut e = Event::new(ClassUid::ApiActivity, 2, t, id);
        e.metadata.log_name = Some("sensor".into());
        e.actor.user = Some(Box::new(User::new(
            "build-bot",
            IdentityKind::ServiceAccount,
        )));
        e.actor.session = Some(Box::new(SessionRef {
            credential_uid: Some(fp.clone()),
            ..SessionRef::default()
        }));
        e
    };
    let mut a = mk("t1", T0);
    assert_eq!(session_key(&a).unwrap(), format!("tok:{fp}"));
    assert!(!session_key(&a).unwrap().contains("secret-token-value"));
    let p1 = st.ingest(&mut a);
    let p2 = st.ingest(&mut mk("t2", T0 + MIN));
    assert_eq!(p1.session_id, p2.session_id);
    let s = st.get(p1.session_id.as_deref().unwrap()).unwrap();
    assert_eq!(s.identity_kind, Some(IdentityKind::ServiceAccount));
    // No session reference at all: not stitched.
    let mut bare = Event::new(ClassUid::ApiActivity, 2, T0, "b");
    assert!(st.ingest(&mut bare).session_id.is_none());
}

#[test]
fn same_input_same_sessions() {
    let run = || {
        let mut st = Stitcher::new(cfg());
        let mut ids = vec![];
        for i in 0..50 {
            let sid = format!("s{}", i % 7);
            ids.push(
                st.ingest(&mut nav(&format!("e{i}"), T0 + i * 7 * MIN, &sid))
                    .session_id,
            );
        }
        ids
    };
    assert_eq!(run(), run());
}

#[test]
fn forgotten_sessions_free_memory() {
    let mut st = Stitcher::new(cfg());
    for i in 0..100 {
        st.ingest(&mut login(&format!("e{i}"), T0 + i, &format!("s{i}")));
    }
    st.take_dirty();
    st.ingest(&mut login("late", T0 + 10 * 60 * MIN, "other"));
    st.sweep(st.watermark());
    st.take_dirty();
    st.sweep(st.watermark());
    assert_eq!(st.len(), 1);
}

/// An audit record with no session of its own (e.g. a SaaS admin log line).
fn unkeyed(id: &str, t: i64, who: &str, app: Option<&str>, ip: Option<&str>) -> Event {
    let mut e = Event::new(ClassUid::FileHostingActivity, 2, t, id);
    e.metadata.log_name = Some("github".into());
    e.actor.user = Some(Box::new(User::new(who, IdentityKind::Human)));
    e.dst_endpoint = app.map(|a| {
        Box::new(midwatch_model::event::DstEndpoint {
            hostname: Some(a.into()),
            svc_name: None,
        })
    });
    e.src_endpoint = ip.map(|ip| {
        Box::new(SrcEndpoint {
            ip: Some(ip.into()),
            ..SrcEndpoint::default()
        })
    });
    e
}

#[test]
fn sessionless_records_join_the_identitys_matching_session() {
    let mut st = Stitcher::new(cfg());
    let mut l = login("e1", T0, "s1");
    l.dst_endpoint = Some(Box::new(midwatch_model::event::DstEndpoint {
        hostname: Some("github.com".into()),
        svc_name: None,
    }));
    let id = st.ingest(&mut l).session_id.unwrap();
    // Same person, same app: joins, and the session now has both sources.
    let mut a = unkeyed(
        "g1",
        T0 + MIN,
        "alice@example.com",
        Some("github.com"),
        None,
    );
    assert_eq!(st.ingest(&mut a).session_id.as_deref(), Some(id.as_str()));
    assert_eq!(a.midwatch.session_uid.as_deref(), Some(id.as_str()));
    // Same person, other app, but from the session's IP: joins.
    let mut b = unkeyed(
        "g2",
        T0 + 2 * MIN,
        "alice@example.com",
        Some("aws.amazon.com"),
        Some("198.51.100.1"),
    );
    assert_eq!(st.ingest(&mut b).session_id.as_deref(), Some(id.as_str()));
    // Same person, other app, other network: no evidence it is this session.
    let mut c = unkeyed(
        "g3",
        T0 + 3 * MIN,
        "alice@example.com",
        Some("aws.amazon.com"),
        Some("203.0.113.9"),
    );
    assert!(st.ingest(&mut c).session_id.is_none());
    // Someone else entirely: not joined.
    let mut d = unkeyed(
        "g4",
        T0 + 3 * MIN,
        "bob@example.com",
        Some("github.com"),
        None,
    );
    assert!(st.ingest(&mut d).session_id.is_none());
    // After the session timed out: not joined.
    let mut late = unkeyed(
        "g5",
        T0 + 90 * MIN,
        "alice@example.com",
        Some("github.com"),
        None,
    );
    assert!(st.ingest(&mut late).session_id.is_none());
    let s = st.get(&id).unwrap();
    assert_eq!(s.event_count, 3);
    assert_eq!(s.sources, ["sensor", "github"]);
}

#[test]
fn findings_raise_session_risk_up_to_a_cap() {
    let mut st = Stitcher::new(cfg());
    let mut a = login("e1", T0, "s1");
    let id = st.ingest(&mut a).session_id.unwrap();
    st.take_dirty();
    assert!(st.add_finding(&id, 40, true));
    assert!(st.add_finding(&id, 30, false));
    let s = st.get(&id).unwrap();
    assert_eq!((s.risk, s.findings), (70, 1));
    assert!(st.add_finding(&id, 70, true));
    let s = st.get(&id).unwrap();
    assert_eq!((s.risk, s.findings), (100, 2));
    assert_eq!(st.take_dirty().len(), 1);
    assert!(!st.add_finding("no-such-session", 40, true));
}
