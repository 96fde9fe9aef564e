//! `extension_then_clipboard`: a malicious browser extension harvesting the clipboard.
//!
//! Mid-session the victim installs an extension asking for `clipboardRead` and
//! `<all_urls>`. From then on, while they keep working, the extension reads the clipboard
//! over and over. The install and the extension's clipboard reads are labelled; the
//! victim's own activity (including their own copy and paste) is not.

use super::Ctx;
use crate::catalog::BAD_EXTENSIONS;
use crate::clock::{MIN, SEC};
use crate::content;
use crate::org::extension;
use crate::traffic::human::{Browser, browse, sign_in};
use crate::wire::{ClipboardW, ExtensionW};

/// Scenario name.
pub const NAME: &str = "extension_then_clipboard";

/// Inject one instance starting around `t`.
pub fn inject(ctx: &mut Ctx<'_>, t: i64) {
    let _ = run(ctx, t);
}

fn run(ctx: &mut Ctx<'_>, t: i64) -> Option<()> {
    let org = ctx.org;
    let victim = ctx.victim(t, |_| true)?;
    let app = ctx.managed_app(victim, &[])?;
    let nets = ctx.whereabouts(victim, t);
    let (rng, sink) = (&mut ctx.rng, &mut *ctx.sink);
    let (name, perms) = rng.pick(BAD_EXTENSIONS).copied()?;
    let installed = extension(name, perms);
    // Later events name the extension without repeating its permissions.
    let reader = ExtensionW {
        permissions: Vec::new(),
        ..installed.clone()
    };

    let b = Browser::new(victim, app, sink.session_id(), &victim.device, nets.at(t)).along(&nets);
    let (login, _) = sign_in(sink, rng, &b, t);
    let install_at = login + rng.range(5 * MIN, 15 * MIN);
    let (last, _) = browse(sink, rng, org, &b, login, install_at, 80 * SEC);

    let mut events = Vec::new();
    let mut e = b.ev("extension_install", install_at.max(last + SEC));
    e.outcome = Some("success");
    e.url = Some(format!(
        "https://chromewebstore.google.com/detail/{}",
        installed.id
    ));
    e.extension = Some(&installed);
    let install = sink.emit(e);
    let mut at = install.ts;
    events.push(install);

    let n = rng.range(6, 15);
    let mut end = at;
    for _ in 0..n {
        at += rng.range(30 * SEC, 4 * MIN);
        let mut e = b.ev("clipboard_read", at);
        e.url = Some(content::page(rng, app).url);
        e.extension = Some(&reader);
        e.clipboard = Some(ClipboardW {
            mime: "text/plain",
            size: u64::try_from(rng.range(8, 4_000)).unwrap_or(8),
        });
        events.push(sink.emit(e));
        end = at;
    }
    // The victim keeps working alongside.
    browse(
        sink,
        rng,
        org,
        &b,
        install_at + SEC,
        end + 10 * MIN,
        80 * SEC,
    );

    let description = format!(
        "{} installed extension \"{}\" ({}) requesting [{}] during a {} session; it then \
         read the clipboard {} times.",
        victim.email,
        installed.name,
        installed.id,
        installed.permissions.join(", "),
        app.spec.name,
        events.len() - 1,
    );
    sink.label(NAME, b.key(), &victim.email, &events, description);
    Some(())
}
