//! `agent_scope`: agents and service accounts outside their approved apps, actions and
//! lifetime.

use crate::support::{Ev, Harness, LISBON, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "agent_scope";

/// A call by the release agent (approved: github; token_use, api_call; 3600 s).
fn agent(kind: &str, at: i64, id: &str, app: &str) -> Ev {
    Ev::new(kind, at, id)
        .who_kind("release-agent", "ai_agent")
        .app(app)
        .token("agent-run-1")
        .issued(0, 3_600)
}

#[test]
fn each_app_action_and_lifetime_breach_fires_once() {
    let mut h = Harness::new(NAME, "");
    assert!(
        h.feed_all([
            agent("token_use", 0, "a0", "api.github.com").auth("token", false),
            agent("api_call", 30, "a1", "api.github.com"),
        ])
        .is_empty()
    );
    let alerts = h.feed(agent("api_call", 60, "a2", "example.my.salesforce.com"));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.agent_scope");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence, ["a0", "a2"]);
    assert_eq!(a.identity.as_deref(), Some("release-agent"));
    assert!(a.summary.contains("used app salesforce"), "{}", a.summary);
    for r in ["attack.t1078.004", "owasp_nhi.nhi5", "nist_csf.pr.aa-05"] {
        assert!(
            a.references.contains(&r.to_string()),
            "{r}: {:?}",
            a.references
        );
    }
    // The same app again: the same case.
    assert!(
        h.feed(agent("api_call", 90, "a3", "example.my.salesforce.com"))
            .is_empty()
    );
    // An action it was never approved for, in an approved app.
    let alerts = h.feed(agent("export", 120, "a4", "github.com"));
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].summary.contains("took action export"),
        "{}",
        alerts[0].summary
    );
    // Ending its session is always fine.
    assert!(
        h.feed(agent("token_revoke", 150, "a5", "github.com"))
            .is_empty()
    );
    // Past its approved lifetime.
    let alerts = h.feed(agent("api_call", 3_700, "a6", "api.github.com"));
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].summary.contains("past its approved 60 min"),
        "{}",
        alerts[0].summary
    );
    assert!(alerts[0].references.contains(&"owasp_nhi.nhi7".to_string()));
    assert!(
        h.feed(agent("api_call", 3_800, "a7", "api.github.com"))
            .is_empty()
    );
}

#[test]
fn several_breaches_in_one_event_make_one_alert() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed(agent("export", 0, "x", "example.workday.com"));
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].summary.contains("used app example.workday.com"),
        "{}",
        alerts[0].summary
    );
    assert!(alerts[0].summary.contains("took action export"));
}

#[test]
fn a_credential_issued_for_longer_than_approved_is_a_lifetime_breach() {
    let mut h = Harness::new(NAME, "");
    let long = Ev::new("token_use", 0, "l0")
        .who_kind("release-agent", "ai_agent")
        .app("api.github.com")
        .token("agent-run-2")
        .issued(0, 8 * 3_600);
    let alerts = h.feed(long);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].summary.contains("issued for 480 min"),
        "{}",
        alerts[0].summary
    );
}

#[test]
fn in_scope_work_people_and_unscoped_identities_are_quiet() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        agent("token_use", 0, "a", "api.github.com"),
        agent("api_call", 1_000, "b", "api.github.com"),
        agent("api_call", 3_000, "c", "github.com"),
        // A failed call outside scope was stopped by the app.
        agent("api_call", 3_100, "d", "salesforce.com").outcome("denied"),
        // People have no approved scope to leave.
        Ev::new("export", 10, "p")
            .who("alice@example.com")
            .app("salesforce.com")
            .session("s1")
            .net(LISBON),
        // A service account with apps approved by domain and no action list.
        Ev::new("export", 20, "s")
            .who_kind("svc-backup", "service_account")
            .app("drive.google.com")
            .token("backup-1"),
        // A non-human without an approved scope.
        Ev::new("export", 30, "f")
            .who_kind("svc-free", "service_account")
            .app("salesforce.com")
            .token("free-1"),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![
            Ev::new("api_call", t, &format!("g{i}"))
                .who_kind("release-agent", "ai_agent")
                .app("api.github.com")
                .token(&format!("run-{i}")),
        ]
    });
}
