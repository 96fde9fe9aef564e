//! `offboarded_identity_active`: someone who has left is still getting in.
//!
//! Days after offboarding, the leaver's account signs in — to an unmanaged app where their
//! password still works, or to a managed app whose deprovisioning was missed — and searches,
//! downloads and exports. Everything in that session is labelled.

use super::Ctx;
use crate::clock::SEC;
use crate::traffic::human::{Browser, action};
use crate::wire::AuthW;

/// Scenario name.
pub const NAME: &str = "offboarded_identity_active";

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let leavers: Vec<_> = org.people.iter().filter(|p| !p.active()).collect();
    let offset = ctx.rng.index(leavers.len());
    let leaver = *leavers.get((offset + ctx.round) % leavers.len().max(1))?;
    let usual: Vec<_> = leaver
        .role
        .app_weights()
        .iter()
        .filter_map(|(id, _)| org.app(id))
        .collect();
    let unmanaged: Vec<_> = usual.iter().copied().filter(|a| !a.spec.managed).collect();
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);
    let app = if !unmanaged.is_empty() && rng.chance(0.5) {
        *rng.pick(&unmanaged)?
    } else {
        *rng.pick(&usual)?
    };
    let b = Browser::new(leaver, app, sink.session_id(), &leaver.device, &leaver.home);

    let mut events = Vec::new();
    let auth = if app.spec.managed {
        AuthW {
            method: Some("sso"),
            mfa: Some(leaver.mfa_enrolled),
            factor: leaver.mfa_enrolled.then_some(leaver.factor),
        }
    } else {
        AuthW {
            method: Some("password"),
            mfa: Some(false),
            factor: None,
        }
    };
    let mut e = b.ev("login", t);
    e.outcome = Some("success");
    e.auth = Some(auth);
    e.url = Some(crate::content::login_url(app));
    events.push(sink.emit(e));

    let kinds = [
        ("navigate", 4),
        ("search", 3),
        ("download", 3),
        ("export", 1),
        ("share", 1),
    ];
    let mut at = t;
    let n = rng.range(4, 12);
    for _ in 0..n {
        at += rng.range(15 * SEC, 150 * SEC);
        let kind = rng.weighted(&kinds).copied().unwrap_or("navigate");
        events.push(sink.emit(action(rng, org, &b, kind, at)));
    }
    let gone_days = leaver
        .offboarded_at
        .map_or(0, |off| (t - off) / crate::clock::DAY);
    let description = format!(
        "{} was offboarded {} days earlier but signed in to {} and kept working.",
        leaver.email, gone_days, app.spec.name,
    );
    sink.label(NAME, b.key(), &leaver.email, &events, description);
    Some(())
}
