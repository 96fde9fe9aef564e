//! People at work: a day planned by the local clock, filled with browser sessions.
//!
//! A weekday runs from a morning arrival to an evening departure with a lunch break; some
//! people work a little at weekends; some days they are off or travelling. Where they are
//! and which network their laptop is on comes from their day's [`plan`](super::plan).
//! Slack stays open in the background all day; other apps get focused sessions of a few
//! minutes to an hour that end in a logout or simply go idle. Every event takes the network
//! the laptop is on at that moment, so a session open while the laptop moves (home Wi-Fi to
//! the VPN, hotel Wi-Fi to the VPN) continues from the new address. The session building
//! blocks ([`Browser`], [`sign_in`], [`browse`], [`action`]) are shared with the attack
//! scenarios, so a victim's own activity looks exactly like everyone else's.

use super::plan::{self, Hours, Whereabouts};
use crate::catalog::{AppKind, OAUTH_CLIENTS};
use crate::clock::{MIN, SEC, Window, local_day};
use crate::content;
use crate::org::{App, Org, Person};
use crate::rng::Rng;
use crate::sink::{Emitted, Sink};
use crate::wire::{AuthW, ClipboardW, DeviceW, Ev, IdentityW, NetworkW, ResourceW, SessionW};

/// One browser session of one person in one app, from one device and network.
#[derive(Debug, Clone)]
pub struct Browser<'a> {
    /// Whose session.
    pub person: &'a Person,
    /// Which app.
    pub app: &'a App,
    /// How the app knows them.
    pub identity: &'a IdentityW,
    /// The same, with name and email, as login events carry it.
    pub profile: &'a IdentityW,
    /// The session.
    pub session: SessionW,
    /// From which device.
    pub device: &'a DeviceW,
    /// From which network (at the start, when following [`Browser::along`]).
    pub network: &'a NetworkW,
    /// The laptop's whereabouts, which each event's network then follows.
    pub nets: Option<&'a Whereabouts>,
}

impl<'a> Browser<'a> {
    /// A new session of `person` in `app`.
    pub fn new(
        person: &'a Person,
        app: &'a App,
        session_id: String,
        device: &'a DeviceW,
        network: &'a NetworkW,
    ) -> Browser<'a> {
        let (identity, profile) = if app.spec.kind == AppKind::Code {
            (&person.gh_identity, &person.gh_profile)
        } else {
            (&person.identity, &person.profile)
        };
        Browser {
            person,
            app,
            identity,
            profile,
            session: SessionW::browser(session_id),
            device,
            network,
            nets: None,
        }
    }

    /// The same session, each event from the network the laptop is on at its time.
    pub fn along(self, nets: &'a Whereabouts) -> Browser<'a> {
        Browser {
            nets: Some(nets),
            ..self
        }
    }

    /// The same session seen from another device or network.
    pub fn from<'b>(&'b self, device: &'b DeviceW, network: &'b NetworkW) -> Browser<'b> {
        Browser {
            person: self.person,
            app: self.app,
            identity: self.identity,
            profile: self.profile,
            session: self.session.clone(),
            device,
            network,
            nets: None,
        }
    }

    /// A bare event in this session. Logins carry the full profile (name, email), other
    /// events only the identity id, as the sensor sends them.
    pub fn ev(&self, kind: &'static str, ts: i64) -> Ev<'_> {
        let mut e = Ev::new(kind, ts);
        e.identity = Some(if kind == "login" {
            self.profile
        } else {
            self.identity
        });
        e.session = Some(&self.session);
        e.app = Some(&self.app.w);
        e.device = Some(self.device);
        e.network = Some(self.nets.map_or(self.network, |w| w.at(ts)));
        e
    }

    /// The session key labels use.
    pub fn key(&self) -> String {
        self.session.key()
    }
}

/// Sign in at `t`: for SSO apps an MFA challenge now and then (rarely a missed push first),
/// then the login. Returns the login time and the events.
pub fn sign_in(sink: &mut Sink, rng: &mut Rng, b: &Browser<'_>, t: i64) -> (i64, Vec<Emitted>) {
    let mut out = Vec::new();
    let mut t = t;
    let factor = b.person.factor;
    let auth = if b.app.spec.managed {
        if b.person.mfa_enrolled {
            if rng.chance(0.35) {
                if rng.chance(0.05) {
                    let mut e = b.ev("mfa_challenge", t);
                    e.outcome = Some("failure");
                    e.reason = Some("push timed out");
                    e.auth = Some(AuthW {
                        method: Some("sso"),
                        mfa: None,
                        factor: Some(factor),
                    });
                    out.push(sink.emit(e));
                    t += rng.range(20 * SEC, 90 * SEC);
                }
                let mut e = b.ev("mfa_challenge", t);
                e.outcome = Some("success");
                e.auth = Some(AuthW {
                    method: Some("sso"),
                    mfa: Some(true),
                    factor: Some(factor),
                });
                out.push(sink.emit(e));
                t += rng.range(2 * SEC, 12 * SEC);
            }
            AuthW {
                method: Some("sso"),
                mfa: Some(true),
                factor: Some(factor),
            }
        } else {
            AuthW {
                method: Some("sso"),
                mfa: Some(false),
                factor: None,
            }
        }
    } else {
        match rng.below(10) {
            0 => AuthW {
                method: Some("passkey"),
                mfa: Some(true),
                factor: Some("webauthn"),
            },
            1 => AuthW {
                method: Some("magic_link"),
                mfa: Some(false),
                factor: None,
            },
            _ => AuthW {
                method: Some("password"),
                mfa: Some(false),
                factor: None,
            },
        }
    };
    let mut e = b.ev("login", t);
    e.outcome = Some("success");
    e.auth = Some(auth);
    e.url = Some(content::login_url(b.app));
    out.push(sink.emit(e));
    (t, out)
}

/// Sign out at `t`.
pub fn sign_out(sink: &mut Sink, b: &Browser<'_>, t: i64) -> Emitted {
    let mut e = b.ev("logout", t);
    e.outcome = Some("success");
    e.url = Some(format!("https://{}/logout", b.app.spec.host));
    sink.emit(e)
}

/// How often each benign action happens in `app` (per mille-ish weights).
pub fn action_weights(app: &App, admin: bool) -> Vec<(&'static str, u32)> {
    use AppKind::{Chat, Cloud, Code, Crm, Docs, FileSync, Hr, Sharepoint, Tracker};
    let kind = app.spec.kind;
    let mut w = vec![
        ("navigate", 400),
        ("search", 100),
        ("update", 70),
        ("create", if kind == Chat { 250 } else { 50 }),
        ("clipboard_write", 60),
        ("clipboard_read", 8),
        ("download", 35),
        ("upload", 15),
        ("share", 12),
        ("delete", 8),
        ("extension_install", 2),
    ];
    if matches!(kind, Code | Crm | Hr | Tracker) {
        w.push(("approve", 30));
    }
    if matches!(kind, Crm | Hr | Docs | Sharepoint | Cloud) {
        w.push(("export", 10));
    }
    if kind == Cloud {
        w.push(("api_call", 150));
    }
    if matches!(kind, Code | Cloud) {
        w.push(("token_create", 3));
    }
    if matches!(kind, Docs | Sharepoint | Chat | Code) {
        w.push(("oauth_consent", 3));
    }
    if matches!(kind, Docs | Sharepoint | FileSync) {
        w.push(("file_share", 12));
    }
    if admin && matches!(kind, Code | Cloud | Tracker | Hr | Crm) {
        w.push(("privilege_grant", 8));
    }
    w
}

const GRANTS: &[&[&str]] = &[
    &["editor"],
    &["repo:write"],
    &["project_admin"],
    &["billing:read"],
    &["admin"],
];

/// One benign action of `kind` at `t` in session `b`.
pub fn action<'b>(
    rng: &mut Rng,
    org: &'b Org,
    b: &'b Browser<'_>,
    kind: &'static str,
    t: i64,
) -> Ev<'b> {
    let mut e = b.ev(kind, t);
    match kind {
        "search" => {
            e.url = Some(content::search_url(b.app));
            e.count = Some(rng.below(50));
        }
        "download" | "upload" => {
            let page = content::page(rng, b.app);
            e.url = Some(page.url);
            e.resource = Some(page.resource);
            e.file = Some(content::file(rng));
        }
        "export" => {
            let page = content::page(rng, b.app);
            let rows = u64::try_from(rng.range(5, 300)).unwrap_or(5);
            let name = page.resource.name.clone().unwrap_or_default();
            e.url = Some(page.url);
            e.resource = Some(page.resource);
            e.count = Some(rows);
            e.file = Some(content::export_file(rng, &name, rows));
        }
        "share" | "file_share" => {
            let page = content::page(rng, b.app);
            e.url = Some(page.url);
            e.resource = Some(page.resource);
            e.target = org.colleague(rng, b.person).map(|c| c.email.clone());
            if kind == "file_share" {
                e.file = Some(content::file(rng));
            }
        }
        "clipboard_write" | "clipboard_read" => {
            e.url = Some(content::page(rng, b.app).url);
            e.clipboard = Some(ClipboardW {
                mime: "text/plain",
                size: u64::try_from(rng.range(4, 2_000)).unwrap_or(4),
            });
        }
        "api_call" => {
            let (api, resource) = content::cloud_api(rng);
            e.url = Some(format!("https://{}/{}/home", b.app.spec.host, api.service));
            e.api = Some(api);
            e.resource = Some(resource);
        }
        "token_create" => {
            let (rtype, name) = if b.app.spec.kind == AppKind::Code {
                e.privileges = vec!["repo", "read:org"];
                ("api_token", "local-dev")
            } else {
                ("access_key", "cli-access")
            };
            e.url = Some(format!("https://{}/settings/tokens", b.app.spec.host));
            e.resource = Some(ResourceW {
                kind: rtype.to_string(),
                id: Some(rng.hex(16)),
                name: Some(name.to_string()),
                url: None,
            });
        }
        "oauth_consent" => {
            let client = match b.app.spec.kind {
                AppKind::Code => OAUTH_CLIENTS.get(3),
                AppKind::Sharepoint => OAUTH_CLIENTS.get(2),
                _ => OAUTH_CLIENTS.get(rng.index(2)),
            };
            if let Some(c) = client {
                e.oauth = Some(crate::wire::OauthW {
                    client_id: c.id.to_string(),
                    client_name: c.name.to_string(),
                    scopes: c.scopes.iter().map(|s| (*s).to_string()).collect(),
                });
            }
            e.url = Some(format!("https://{}/oauth/consent", b.app.spec.host));
        }
        "privilege_grant" => {
            let page = content::page(rng, b.app);
            e.url = Some(page.url);
            e.privileges = rng.pick(GRANTS).map(|g| g.to_vec()).unwrap_or_default();
            e.target = org.colleague(rng, b.person).map(|c| c.email.clone());
            e.resource = Some(ResourceW {
                kind: "role".into(),
                id: page.resource.id,
                name: page.resource.name,
                url: None,
            });
        }
        "extension_install" => {
            let ext = rng.pick(&org.extensions);
            e.url = ext.map(|x| format!("https://chromewebstore.google.com/detail/{}", x.id));
            e.extension = ext;
        }
        _ => {
            // navigate, create, update, approve, delete: a page and what it shows.
            let page = content::page(rng, b.app);
            e.url = Some(page.url);
            e.resource = Some(page.resource);
        }
    }
    e
}

/// Benign activity in `b` after `from` and before `until`, about `mean_gap` apart.
/// Returns the time of the last event (`from` when none) and the events.
pub fn browse(
    sink: &mut Sink,
    rng: &mut Rng,
    org: &Org,
    b: &Browser<'_>,
    from: i64,
    until: i64,
    mean_gap: i64,
) -> (i64, Vec<Emitted>) {
    let table = action_weights(b.app, b.person.admin);
    let mut out = Vec::new();
    let mut t = from;
    let mut last = from;
    loop {
        t += rng.gap_ms(mean_gap as f64, 3 * SEC, 8 * MIN);
        if t >= until {
            break;
        }
        let kind = rng.weighted(&table).copied().unwrap_or("navigate");
        out.push(sink.emit(action(rng, org, b, kind, t)));
        last = t;
    }
    (last, out)
}

/// Generate every active person's working days inside `win`.
pub fn generate(org: &Org, win: Window, sink: &mut Sink, seed: u64) {
    for p in org.people.iter().filter(|p| p.active()) {
        // A day abroad runs by the local clock there, up to most of a day earlier or later
        // than the same date at home: look one day further either side.
        let first = local_day(win.start, p.tz_min) - 1;
        let last = local_day(win.end.saturating_sub(1), p.tz_min) + 1;
        for day in first..=last {
            let planned = plan::plan(org, seed, p, day);
            let Some(hours) = planned.hours else {
                continue;
            };
            let mut rng = Rng::derive(seed, &[2, p.idx as u64, day as u64]);
            workday(org, win, sink, &mut rng, p, hours, &planned.nets);
        }
    }
}

fn workday(
    org: &Org,
    win: Window,
    sink: &mut Sink,
    rng: &mut Rng,
    p: &Person,
    hours: Hours,
    nets: &Whereabouts,
) {
    let Hours {
        arrive,
        leave,
        lunch,
        weekend,
    } = hours;

    // Slack, open all day.
    let slack = if weekend { None } else { org.app("slack") };
    if let Some(slack) = slack {
        let start = arrive + rng.range(0, 10 * MIN);
        if win.contains(start) {
            let b =
                Browser::new(p, slack, sink.session_id(), &p.device, nets.at(start)).along(nets);
            let (t, _) = sign_in(sink, rng, &b, start);
            let mean = 10 * MIN;
            match lunch {
                Some((ls, le)) => {
                    browse(sink, rng, org, &b, t, ls.min(win.end), mean);
                    browse(sink, rng, org, &b, le, leave.min(win.end), mean);
                }
                None => {
                    browse(sink, rng, org, &b, t, leave.min(win.end), mean);
                }
            }
        }
    }

    // Focused sessions, one after another.
    let weights = p.role.app_weights();
    let mut t = arrive + rng.range(MIN, 6 * MIN);
    while t < leave {
        if let Some((_, le)) = lunch.filter(|&(ls, le)| t >= ls && t < le) {
            t = le + rng.range(0, 10 * MIN);
            continue;
        }
        let Some(app) = rng.weighted(weights).and_then(|id| org.app(id)) else {
            break;
        };
        let mut end = t + rng.range(8 * MIN, 70 * MIN);
        if let Some((ls, _)) = lunch.filter(|&(ls, _)| t < ls && end > ls) {
            end = ls + rng.range(0, 8 * MIN);
        }
        let end = end.min(leave);
        session(org, win, sink, rng, p, app, nets, t, end);
        t = end + rng.range(MIN, 15 * MIN);
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one session's whole context, passed plainly"
)]
fn session(
    org: &Org,
    win: Window,
    sink: &mut Sink,
    rng: &mut Rng,
    p: &Person,
    app: &App,
    nets: &Whereabouts,
    start: i64,
    end: i64,
) {
    if !win.contains(start) {
        return;
    }
    let logout = rng.chance(0.45);
    let b = Browser::new(p, app, sink.session_id(), &p.device, nets.at(start)).along(nets);
    let (t, _) = sign_in(sink, rng, &b, start);
    browse(sink, rng, org, &b, t, end.min(win.end), 80 * SEC);
    if logout && end < win.end {
        sign_out(sink, &b, end);
    }
}
