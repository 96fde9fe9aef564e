//! `session_cookie_replay`: a stolen session cookie used from the attacker's machine.
//!
//! The victim signs in and works as usual. Twenty-odd minutes in, the same session id
//! starts arriving from another device — unmanaged, a different browser, a hosting network
//! in another country — and browses, searches and pulls data, while the victim's own events
//! keep coming from their laptop. Only the attacker's events are labelled.

use super::Ctx;
use crate::clock::{MIN, SEC};
use crate::traffic::human::{Browser, action, browse, sign_in, sign_out};

/// Scenario name.
pub const NAME: &str = "session_cookie_replay";

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let victim = ctx.victim(t, |_| true)?;
    let app = ctx.managed_app(
        victim,
        &[
            "github",
            "salesforce",
            "google-drive",
            "sharepoint",
            "aws",
            "workday",
        ],
    )?;
    let device = ctx.hostile_device(victim.device.user_agent.as_deref());
    let net = ctx.hostile_network(&victim.home.country)?;
    let nets = ctx.whereabouts(victim, t);
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);

    let b = Browser::new(victim, app, sink.session_id(), &victim.device, nets.at(t)).along(&nets);
    let (login, _) = sign_in(sink, rng, &b, t);
    let attack_start = login + rng.range(15 * MIN, 35 * MIN);
    let attack_len = rng.range(10 * MIN, 30 * MIN);
    let victim_end = attack_start + attack_len + rng.range(10 * MIN, 30 * MIN);
    // The victim keeps working throughout.
    browse(sink, rng, org, &b, login, victim_end, 70 * SEC);

    let attacker = b.from(&device, &net);
    let kinds = [
        ("navigate", 4),
        ("search", 3),
        ("download", 3),
        ("export", 1),
        ("share", 1),
    ];
    let mut events = Vec::new();
    let mut at = attack_start;
    let n = rng.range(8, 20);
    for i in 0..n {
        let kind = if i == 0 {
            "navigate"
        } else {
            rng.weighted(&kinds).copied().unwrap_or("navigate")
        };
        let ev = action(rng, org, &attacker, kind, at);
        events.push(sink.emit(ev));
        at += rng.range(10 * SEC, 120 * SEC);
        if at >= attack_start + attack_len {
            break;
        }
    }
    if rng.chance(0.5) {
        sign_out(sink, &b, victim_end);
    }
    let description = format!(
        "Session {} of {} in {} replayed from unmanaged device {} ({}, AS{} {}) while the \
         victim was still active from {} ({}).",
        b.key(),
        victim.email,
        app.spec.name,
        device.id.as_deref().unwrap_or("?"),
        net.ip,
        net.asn,
        net.country,
        victim.device.id.as_deref().unwrap_or("?"),
        b.network.country,
    );
    sink.label(NAME, b.key(), &victim.email, &events, description);
    Some(())
}
