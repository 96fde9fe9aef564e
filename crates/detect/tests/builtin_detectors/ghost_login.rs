//! `ghost_login`: local-credential logins to SSO-managed apps.

use crate::support::{Ev, Harness, LISBON, assert_bounded};
use midwatch_model::Severity;

const NAME: &str = "ghost_login";

fn login(at: i64, id: &str, app: &str, session: &str, method: &str) -> Ev {
    Ev::new("login", at, id)
        .who("alice@example.com")
        .app(app)
        .session(session)
        .net(LISBON)
        .auth(method, false)
}

#[test]
fn a_password_login_to_a_managed_app_fires_once_per_session() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed(login(
        0,
        "g1",
        "example.my.salesforce.com",
        "s1",
        "password",
    ));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "midwatch.builtin.ghost_login");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence, ["g1"]);
    assert!(
        a.summary.contains("with password, without MFA"),
        "{}",
        a.summary
    );
    assert!(a.references.contains(&"attack.t1078.004".to_string()));
    // The login seen twice in the same session (two sources, say): one case.
    assert!(
        h.feed(login(
            5,
            "g1b",
            "example.my.salesforce.com",
            "s1",
            "password"
        ))
        .is_empty()
    );
    assert_eq!(
        h.feed(login(60, "g2", "github.com", "s2", "magic_link"))
            .len(),
        1
    );
}

#[test]
fn sso_unmanaged_apps_tokens_and_failures_are_quiet() {
    let mut h = Harness::new(NAME, "");
    let alerts = h.feed_all([
        login(0, "a", "github.com", "s1", "sso"),
        login(10, "b", "notion.so", "s2", "password"),
        login(20, "c", "github.com", "s3", "password").outcome("failure"),
        Ev::new("login", 30, "d")
            .who_kind("release-agent", "ai_agent")
            .app("api.github.com")
            .token("t")
            .auth("token", false),
        // Not a login.
        Ev::new("navigate", 40, "e")
            .who("alice@example.com")
            .app("github.com")
            .session("s4")
            .auth("password", false),
    ]);
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn local_methods_are_configurable() {
    let mut h = Harness::new(NAME, "[ghost_login]\nlocal_methods = [\"password\"]\n");
    assert!(
        h.feed(login(0, "a", "github.com", "s1", "passkey"))
            .is_empty()
    );
    assert_eq!(
        h.feed(login(1, "b", "github.com", "s2", "password")).len(),
        1
    );
}

#[test]
fn state_is_bounded() {
    assert_bounded(NAME, |i, t| {
        vec![login(
            t,
            &format!("g{i}"),
            "github.com",
            &format!("s{i}"),
            "password",
        )]
    });
}
