//! `ghost_login`: a password login that bypasses SSO.
//!
//! An app that should only be reached through single sign-on accepts a local password,
//! without MFA — a leftover local account or a forgotten break-glass credential. Half the
//! time it happens from the victim's own laptop on the network it is on at the time, so
//! only the way of signing in gives it away. The login and everything done in that session
//! are labelled.

use super::Ctx;
use crate::clock::SEC;
use crate::traffic::human::{Browser, action};
use crate::wire::AuthW;

/// Scenario name.
pub const NAME: &str = "ghost_login";

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let victim = ctx.victim(t, |_| true)?;
    let app = ctx.managed_app(victim, &["salesforce", "workday", "atlassian", "github"])?;
    let from_home = ctx.rng.chance(0.5);
    let device = ctx.hostile_device(victim.device.user_agent.as_deref());
    let net = ctx.hostile_network(&victim.home.country)?;
    let nets = ctx.whereabouts(victim, t);
    let (device, net) = if from_home {
        (&victim.device, nets.at(t))
    } else {
        (&device, &net)
    };
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);
    let b = Browser::new(victim, app, sink.session_id(), device, net);
    let b = if from_home { b.along(&nets) } else { b };

    let mut events = Vec::new();
    let mut e = b.ev("login", t);
    e.outcome = Some("success");
    e.auth = Some(AuthW {
        method: Some("password"),
        mfa: Some(false),
        factor: None,
    });
    e.url = Some(crate::content::login_url(app));
    events.push(sink.emit(e));

    let kinds = [
        ("navigate", 5),
        ("search", 2),
        ("download", 2),
        ("update", 1),
    ];
    let mut at = t;
    let n = rng.range(3, 10);
    for _ in 0..n {
        at += rng.range(10 * SEC, 120 * SEC);
        let kind = rng.weighted(&kinds).copied().unwrap_or("navigate");
        events.push(sink.emit(action(rng, org, &b, kind, at)));
    }
    let description = format!(
        "{} signed in to SSO-managed {} with a local password and no MFA from {} ({}, AS{}).",
        victim.email,
        app.spec.name,
        if from_home {
            "their usual device and network"
        } else {
            "an unknown device"
        },
        net.ip,
        net.asn,
    );
    sink.label(NAME, b.key(), &victim.email, &events, description);
    Some(())
}
