//! `mfa_fatigue`: push bombing until the victim gives in.
//!
//! An attacker holding the victim's password triggers push after push from a hosting
//! network; the victim denies them or lets them time out, then finally approves one. The
//! attacker signs in and starts looking around. Every challenge, the login and the
//! attacker's actions are labelled (they all share the attacker's session).

use super::Ctx;
use crate::clock::SEC;
use crate::traffic::human::{Browser, action};
use crate::wire::AuthW;

/// Scenario name.
pub const NAME: &str = "mfa_fatigue";

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let victim = ctx.victim(t, |p| p.mfa_enrolled)?;
    let app = ctx.managed_app(victim, &["workday", "salesforce", "google-drive", "github"])?;
    let device = ctx.hostile_device(victim.device.user_agent.as_deref());
    let net = ctx.hostile_network(&victim.home.country)?;
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);
    let b = Browser::new(victim, app, sink.session_id(), &device, &net);

    let mut events = Vec::new();
    let mut at = t;
    let pushes = rng.range(8, 16);
    for _ in 0..pushes {
        let mut e = b.ev("mfa_challenge", at);
        let denied = rng.chance(0.7);
        e.outcome = Some(if denied { "denied" } else { "failure" });
        e.reason = Some(if denied {
            "user denied push"
        } else {
            "push timed out"
        });
        e.auth = Some(AuthW {
            method: Some("sso"),
            mfa: Some(false),
            factor: Some("push"),
        });
        events.push(sink.emit(e));
        at += rng.range(15 * SEC, 75 * SEC);
    }
    let auth = AuthW {
        method: Some("sso"),
        mfa: Some(true),
        factor: Some("push"),
    };
    let mut e = b.ev("mfa_challenge", at);
    e.outcome = Some("success");
    e.auth = Some(auth.clone());
    events.push(sink.emit(e));
    at += rng.range(2 * SEC, 10 * SEC);
    let mut e = b.ev("login", at);
    e.outcome = Some("success");
    e.auth = Some(auth);
    e.url = Some(crate::content::login_url(app));
    events.push(sink.emit(e));

    let kinds = [
        ("navigate", 4),
        ("search", 2),
        ("download", 2),
        ("export", 1),
    ];
    let n = rng.range(3, 9);
    for _ in 0..n {
        at += rng.range(10 * SEC, 90 * SEC);
        let kind = rng.weighted(&kinds).copied().unwrap_or("navigate");
        events.push(sink.emit(action(rng, org, &b, kind, at)));
    }
    let description = format!(
        "{} push MFA challenges to {} for {} were denied or timed out within minutes from \
         {} (AS{} {}), then one was approved and the attacker signed in.",
        pushes, victim.email, app.spec.name, net.ip, net.asn, net.country,
    );
    sink.label(NAME, b.key(), &victim.email, &events, description);
    Some(())
}
