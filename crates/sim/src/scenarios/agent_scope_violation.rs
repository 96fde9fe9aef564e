//! `agent_scope_violation`: an AI agent strays outside what it was approved to do.
//!
//! A run starts like any other — a token, `token_use`, a few calls within scope — but this
//! token was minted for eight hours. Part-way through, the agent starts exporting and
//! downloading from apps that are not in its approved scope, with actions it was never
//! approved for, and keeps going past its approved maximum session lifetime. Every event
//! from the first out-of-scope call onwards is labelled.

use super::Ctx;
use crate::catalog::Op;
use crate::clock::{HOUR, SEC};
use crate::org::Bot;
use crate::traffic::bots::{op_event, token_use};
use crate::wire::SessionW;
use midwatch_model::timefmt::format_ms;
use std::collections::BTreeSet;

/// Scenario name.
pub const NAME: &str = "agent_scope_violation";

/// Calls agents are never approved for.
const OUT_OF_SCOPE: &[Op] = &[
    Op {
        app: "workday",
        kind: "export",
        operation: "Get_Workers",
        service: "human_resources",
        method: "POST",
        url: "https://wd2-impl-services1.workday.com/ccx/service/example/Human_Resources/v43.0",
        resource: "worker",
        weight: 3,
        count: (500, 3_000),
    },
    Op {
        app: "salesforce",
        kind: "export",
        operation: "bulk.query",
        service: "bulk",
        method: "POST",
        url: "https://example.my.salesforce.com/services/data/v62.0/jobs/query",
        resource: "report",
        weight: 3,
        count: (1_000, 10_000),
    },
    Op {
        app: "github",
        kind: "download",
        operation: "repos.downloadZipballArchive",
        service: "repos",
        method: "GET",
        url: "https://api.github.com/repos/example-org/{id}/zipball",
        resource: "repository",
        weight: 2,
        count: (1, 1),
    },
    Op {
        app: "aws",
        kind: "download",
        operation: "GetObject",
        service: "s3",
        method: "GET",
        url: "https://example-backups-prod.s3.amazonaws.com/{id}",
        resource: "object",
        weight: 2,
        count: (1, 1),
    },
];

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let agents: Vec<&Bot> = org.bots.iter().filter(|b| b.spec.agent).collect();
    let offset = ctx.rng.index(agents.len());
    let bot = *agents.get((offset + ctx.round) % agents.len().max(1))?;
    let spec = bot.spec;
    let out_of_scope: Vec<(&Op, u32)> = OUT_OF_SCOPE
        .iter()
        .filter(|o| !spec.apps.contains(&o.app) && !spec.actions.contains(&o.kind))
        .map(|o| (o, o.weight))
        .collect();
    let in_scope: Vec<(&Op, u32)> = spec.ops.iter().map(|o| (o, o.weight)).collect();
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);
    let first = *rng.weighted(&in_scope)?;
    let first_app = org.app(first.app)?;
    let lifetime = i64::try_from(spec.max_lifetime_s).unwrap_or(1800) * SEC;

    // A token minted for far longer than the agent's approved lifetime.
    let session = SessionW {
        id: None,
        token_sha256: Some(sink.token_sha256()),
        created: Some(format_ms(t)),
        expires: Some(format_ms(t + 8 * HOUR)),
    };
    sink.emit(token_use(bot, first_app, &session, t));
    let mut at = t;
    loop {
        at += rng.range(spec.gap_s.0 * SEC, spec.gap_s.1 * SEC + 1);
        if at > t + lifetime * 3 / 10 {
            break;
        }
        let op = *rng.weighted(&in_scope)?;
        let app = org.app(op.app)?;
        sink.emit(op_event(rng, bot, app, &session, op, at));
    }

    let mut events = Vec::new();
    let mut at = t + lifetime * 35 / 100;
    let stop = t + lifetime * 16 / 10;
    let mut strayed = BTreeSet::new();
    while at < stop {
        let op = if strayed.is_empty() || rng.chance(0.6) {
            let op = rng.weighted(&out_of_scope).copied()?;
            strayed.insert(format!("{} in {}", op.kind, op.app));
            op
        } else {
            rng.weighted(&in_scope).copied()?
        };
        let app = org.app(op.app)?;
        events.push(sink.emit(op_event(rng, bot, app, &session, op, at)));
        at += rng.range(20 * SEC, 180 * SEC);
    }
    let strayed: Vec<String> = strayed.into_iter().collect();
    let description = format!(
        "AI agent {} (on behalf of {}) used apps/actions outside its approved scope \
         (apps [{}], actions [{}]; strayed into {}) and kept its token session alive past \
         max_session_lifetime_s={}.",
        bot.id,
        bot.identity.on_behalf_of.as_deref().unwrap_or("?"),
        spec.apps.join(", "),
        spec.actions.join(", "),
        strayed.join(", "),
        spec.max_lifetime_s,
    );
    sink.label(NAME, session.key(), &bot.id, &events, description);
    Some(())
}
