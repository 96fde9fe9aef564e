//! `privilege_then_secret_download`: self-granted admin, then straight to the secrets.
//!
//! In an AWS console session the identity grants itself `admin` and, minutes later, lists
//! and reads secrets and downloads credential files. Benign traffic has both halves on
//! their own — administrators granting roles to colleagues, the monitor reading its one
//! secret — but not this sequence. The grant and the secret reads are labelled.

use super::Ctx;
use crate::clock::{MIN, SEC};
use crate::traffic::human::{Browser, browse, sign_in};
use crate::wire::{ApiW, FileW, ResourceW};

/// Scenario name.
pub const NAME: &str = "privilege_then_secret_download";

const SECRETS: &[&str] = &[
    "prod/db/postgres-admin",
    "prod/payments/stripe-live-key",
    "prod/auth/jwt-signing-key",
    "prod/aws/deploy-credentials",
    "prod/warehouse/snowflake-svc",
    "prod/email/sendgrid-key",
];

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let app = org.app("aws")?;
    // Someone who is not an administrator already, if there is anyone.
    let victim = match ctx.victim(t, |p| !p.admin) {
        Some(v) => v,
        None => ctx.victim(t, |_| true)?,
    };
    let nets = ctx.whereabouts(victim, t);
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);

    let b = Browser::new(victim, app, sink.session_id(), &victim.device, nets.at(t)).along(&nets);
    let (login, _) = sign_in(sink, rng, &b, t);
    let grant_at = login + rng.range(5 * MIN, 20 * MIN);
    let (last, _) = browse(sink, rng, org, &b, login, grant_at, 90 * SEC);

    let mut events = Vec::new();
    let mut e = b.ev("privilege_grant", grant_at.max(last + SEC));
    e.outcome = Some("success");
    e.url = Some(format!("https://{}/iam/home", app.spec.host));
    e.privileges = vec!["admin"];
    e.target = Some(victim.email.clone());
    e.resource = Some(ResourceW {
        kind: "role".into(),
        id: Some("arn:aws:iam::123456789012:role/AdministratorAccess".into()),
        name: Some("AdministratorAccess".into()),
        url: None,
    });
    let grant = sink.emit(e);
    let mut at = grant.ts + rng.range(2 * MIN, 8 * MIN);
    events.push(grant);

    let mut list = b.ev("api_call", at);
    list.url = Some(format!(
        "https://{}/secretsmanager/listsecrets",
        app.spec.host
    ));
    list.api = Some(ApiW {
        operation: "ListSecrets".into(),
        service: "secretsmanager".into(),
        method: "POST",
    });
    list.resource = Some(ResourceW {
        kind: "secret".into(),
        id: None,
        name: Some("*".into()),
        url: None,
    });
    list.count = Some(u64::try_from(rng.range(40, 200)).unwrap_or(40));
    events.push(sink.emit(list));

    let n = rng.range(4, 10);
    for _ in 0..n {
        at += rng.range(10 * SEC, 60 * SEC);
        let name = rng.pick(SECRETS).copied().unwrap_or("prod/secret");
        let arn = format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-{}",
            rng.hex(6)
        );
        let download = rng.chance(0.3);
        let mut e = b.ev(if download { "download" } else { "api_call" }, at);
        e.url = Some(format!("https://{}/secretsmanager/secret", app.spec.host));
        e.resource = Some(ResourceW {
            kind: "secret".into(),
            id: Some(arn),
            name: Some(name.to_string()),
            url: None,
        });
        if download {
            e.file = Some(FileW {
                name: format!("{}.json", name.replace('/', "-")),
                size: u64::try_from(rng.range(200, 4_000)).unwrap_or(200),
                mime: "application/json",
            });
        } else {
            e.api = Some(ApiW {
                operation: "GetSecretValue".into(),
                service: "secretsmanager".into(),
                method: "POST",
            });
        }
        events.push(sink.emit(e));
    }
    let description = format!(
        "{} granted themselves admin (AdministratorAccess) in {} and then listed and read \
         {} production secrets.",
        victim.email,
        app.spec.name,
        events.len() - 2,
    );
    sink.label(NAME, b.key(), &victim.email, &events, description);
    Some(())
}
