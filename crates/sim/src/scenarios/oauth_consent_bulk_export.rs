//! `oauth_consent_bulk_export`: consent phishing followed by mass data export.
//!
//! The victim, working in Google Drive or SharePoint, consents to a third-party app asking
//! for full drive or mail access and `offline_access`. Within minutes the session pulls
//! dozens of large exports and downloads through the API. The consent and the exports are
//! labelled; the victim's browsing before it is not.

use super::Ctx;
use crate::catalog::{AppKind, ROGUE_OAUTH_CLIENTS};
use crate::clock::{MIN, SEC};
use crate::content;
use crate::traffic::human::{Browser, browse, sign_in};
use crate::wire::{ApiW, OauthW};

/// Scenario name.
pub const NAME: &str = "oauth_consent_bulk_export";

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let victim = ctx.victim(t, |_| true)?;
    let app = ctx.managed_app(victim, &["google-drive", "sharepoint"])?;
    let app = if matches!(app.spec.kind, AppKind::Docs | AppKind::Sharepoint) {
        app
    } else {
        org.app("google-drive")?
    };
    let client = if app.spec.kind == AppKind::Sharepoint {
        ROGUE_OAUTH_CLIENTS.get(1)?
    } else {
        ROGUE_OAUTH_CLIENTS.first()?
    };
    let nets = ctx.whereabouts(victim, t);
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);

    let b = Browser::new(victim, app, sink.session_id(), &victim.device, nets.at(t)).along(&nets);
    let (login, _) = sign_in(sink, rng, &b, t);
    let consent_at = login + rng.range(5 * MIN, 20 * MIN);
    let (last, _) = browse(sink, rng, org, &b, login, consent_at, 90 * SEC);

    let mut events = Vec::new();
    let mut e = b.ev("oauth_consent", consent_at.max(last + SEC));
    e.outcome = Some("success");
    e.url = Some(format!("https://{}/oauth/consent", app.spec.host));
    e.oauth = Some(OauthW {
        client_id: client.id.to_string(),
        client_name: client.name.to_string(),
        scopes: client.scopes.iter().map(|s| (*s).to_string()).collect(),
    });
    let consent = sink.emit(e);
    let mut at = consent.ts + rng.range(MIN, 4 * MIN);
    events.push(consent);

    let (service, operation) = if app.spec.kind == AppKind::Sharepoint {
        ("graph", "driveItem.content")
    } else {
        ("drive", "files.export")
    };
    let n = rng.range(15, 40);
    for _ in 0..n {
        let kind = if rng.chance(0.6) {
            "export"
        } else {
            "download"
        };
        let page = content::page(rng, app);
        let rows = u64::try_from(rng.range(200, 5_000)).unwrap_or(200);
        let name = page.resource.name.clone().unwrap_or_default();
        let mut e = b.ev(kind, at);
        e.url = Some(page.url);
        e.resource = Some(page.resource);
        e.count = Some(rows);
        e.file = Some(content::export_file(rng, &name, rows));
        e.api = Some(ApiW {
            operation: operation.to_string(),
            service: service.to_string(),
            method: "GET",
        });
        events.push(sink.emit(e));
        at += rng.range(5 * SEC, 40 * SEC);
    }
    let description = format!(
        "{} granted \"{}\" ({}) scopes [{}] in {}, then {} exports/downloads with large \
         counts followed within minutes.",
        victim.email,
        client.name,
        client.id,
        client.scopes.join(", "),
        app.spec.name,
        events.len() - 1,
    );
    sink.label(NAME, b.key(), &victim.email, &events, description);
    Some(())
}
