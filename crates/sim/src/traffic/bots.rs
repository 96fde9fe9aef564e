//! Service accounts and AI agents: scheduled jobs on short-lived bearer tokens.
//!
//! Each run mints a token (only its SHA-256 ever appears), announces it with `token_use`
//! and makes a handful of API calls within its approved scope and lifetime. Agents act on
//! behalf of their owner and mostly during the owner's business hours; service accounts run
//! around the clock. The nightly backup's bulk downloads and the monitor's occasional secret
//! read are deliberate look-alikes of attack behaviour, done by the right identity.

use crate::catalog::{Op, Schedule};
use crate::clock::{self, DAY, HOUR, MIN, SEC, Window};
use crate::content;
use crate::org::{App, Bot, Org};
use crate::rng::Rng;
use crate::sink::{Emitted, Sink};
use crate::wire::{ApiW, AuthW, Ev, ResourceW, SessionW};
use midwatch_model::timefmt::format_ms;

/// Run every non-human's jobs inside `win`.
pub fn generate(org: &Org, win: Window, sink: &mut Sink, seed: u64) {
    for bot in &org.bots {
        let mut rng = Rng::derive(seed, &[3, bot.idx as u64]);
        for t in run_times(&mut rng, bot, win) {
            run(org, sink, &mut rng, bot, t, win.end);
        }
    }
}

fn run_times(rng: &mut Rng, bot: &Bot, win: Window) -> Vec<i64> {
    let mut out = Vec::new();
    match bot.spec.schedule {
        Schedule::Every {
            minutes,
            business_hours,
        } => {
            let period = (minutes * MIN).max(MIN);
            let mut t = win.start + rng.range(0, period);
            while t < win.end {
                if !business_hours || clock::business_hours(t, bot.tz_min) || rng.chance(0.03) {
                    out.push(t);
                }
                t += rng.range(period * 7 / 10, period * 13 / 10).max(MIN);
            }
        }
        Schedule::Daily { hour } => {
            let first = win.start.div_euclid(DAY);
            let last = win.end.saturating_sub(1).div_euclid(DAY);
            for day in first..=last {
                let t = day * DAY + hour * HOUR + rng.range(0, 10 * MIN);
                if win.contains(t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// A fresh token session created at `t`, expiring `lifetime_ms` later.
pub fn token_session(sink: &mut Sink, t: i64, lifetime_ms: i64) -> SessionW {
    SessionW {
        id: None,
        token_sha256: Some(sink.token_sha256()),
        created: Some(format_ms(t)),
        expires: Some(format_ms(t + lifetime_ms)),
    }
}

/// A bare event of `bot` in `app` on `session`.
pub fn bot_ev<'a>(
    bot: &'a Bot,
    app: &'a App,
    session: &'a SessionW,
    kind: &'static str,
    t: i64,
) -> Ev<'a> {
    let mut e = Ev::new(kind, t);
    e.identity = Some(&bot.identity);
    e.session = Some(session);
    e.app = Some(&app.api_w);
    e.device = Some(&bot.device);
    e.network = Some(&bot.network);
    e
}

/// The `token_use` that opens a token session.
pub fn token_use<'a>(bot: &'a Bot, app: &'a App, session: &'a SessionW, t: i64) -> Ev<'a> {
    let mut e = bot_ev(bot, app, session, "token_use", t);
    e.outcome = Some("success");
    e.auth = Some(AuthW {
        method: Some("token"),
        mfa: Some(false),
        factor: None,
    });
    e
}

/// One API operation `op` by `bot` at `t`.
pub fn op_event<'a>(
    rng: &mut Rng,
    bot: &'a Bot,
    app: &'a App,
    session: &'a SessionW,
    op: &Op,
    t: i64,
) -> Ev<'a> {
    let id = content::resource_id(rng, op.resource);
    let mut e = bot_ev(bot, app, session, op.kind, t);
    e.url = Some(op.url.replace("{id}", &id));
    e.api = Some(ApiW {
        operation: op.operation.to_string(),
        service: op.service.to_string(),
        method: op.method,
    });
    e.resource = Some(ResourceW {
        kind: op.resource.to_string(),
        id: Some(id),
        name: None,
        url: None,
    });
    let (lo, hi) = op.count;
    if hi > 0 {
        e.count = u64::try_from(rng.range(lo, hi + 1)).ok();
    }
    e
}

/// One run of `bot` starting at `t0`: a new token, `token_use`, then API calls, all well
/// within the approved lifetime. Returns the events.
pub fn run(
    org: &Org,
    sink: &mut Sink,
    rng: &mut Rng,
    bot: &Bot,
    t0: i64,
    end: i64,
) -> Vec<Emitted> {
    let spec = bot.spec;
    let lifetime = i64::try_from(spec.max_lifetime_s).unwrap_or(3600) * SEC;
    let ops: Vec<(&Op, u32)> = spec.ops.iter().map(|o| (o, o.weight)).collect();
    let n = rng.range(spec.events.0, spec.events.1 + 1);
    let Some(first) = rng.weighted(&ops).copied() else {
        return Vec::new();
    };
    let Some(app) = org.app(first.app) else {
        return Vec::new();
    };
    let session = token_session(sink, t0, lifetime);
    let mut out = vec![sink.emit(token_use(bot, app, &session, t0))];
    let mut t = t0;
    let mut op = first;
    for i in 0..n {
        t += rng.range(spec.gap_s.0 * SEC, spec.gap_s.1 * SEC + 1);
        if t >= end || t - t0 > lifetime * 8 / 10 {
            break;
        }
        if i > 0 {
            op = rng.weighted(&ops).copied().unwrap_or(first);
        }
        if let Some(app) = org.app(op.app) {
            out.push(sink.emit(op_event(rng, bot, app, &session, op, t)));
        }
    }
    out
}
