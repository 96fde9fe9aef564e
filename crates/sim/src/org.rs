//! The simulated organisation: people, service accounts, AI agents and apps.
//!
//! Built once per run from the seed. It carries both the inventory midwatch is given
//! ([`InventoryDoc`]) and what only the simulator knows — where each person sits, their
//! laptop, home network, role and working habits — which traffic generation draws on.

use crate::catalog::{
    self, AGENTS, APPS, AppKind, AppSpec, BotSpec, EXTENSIONS, FIRST_NAMES, LAPTOPS, LAST_NAMES,
    OFFICE_WEIGHTS, OFFICES, Place, SERVICE_ACCOUNTS,
};
use crate::clock::{DAY, HOUR};
use crate::rng::Rng;
use crate::wire::{AppW, DeviceW, ExtensionW, IdentityW, NetworkW};
use midwatch_model::IdentityKind;
use midwatch_model::hash::sha256_hex;
use midwatch_model::inventory::{App as InvApp, ApprovedScope, Identity, InventoryDoc, Lifecycle};
use std::collections::BTreeSet;

/// What a person does; decides which apps they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Builds the product.
    Engineering,
    /// Sells it.
    Sales,
    /// Helps customers.
    Support,
    /// Human resources.
    People,
    /// Money.
    Finance,
    /// Runs the company's IT; administrators.
    It,
    /// Leadership.
    Exec,
}

const ROLE_WEIGHTS: &[(Role, u32)] = &[
    (Role::Engineering, 40),
    (Role::Sales, 20),
    (Role::Support, 12),
    (Role::People, 7),
    (Role::Finance, 8),
    (Role::It, 6),
    (Role::Exec, 7),
];

impl Role {
    /// Short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Engineering => "engineering",
            Role::Sales => "sales",
            Role::Support => "support",
            Role::People => "people",
            Role::Finance => "finance",
            Role::It => "it",
            Role::Exec => "exec",
        }
    }

    /// Apps used in focused work sessions, by app id, with relative frequency. Slack runs
    /// all day in the background for everyone and is not listed.
    pub fn app_weights(self) -> &'static [(&'static str, u32)] {
        match self {
            Role::Engineering => &[
                ("github", 30),
                ("atlassian", 20),
                ("aws", 12),
                ("google-drive", 8),
                ("notion", 5),
                ("notetaker-ai", 2),
                ("workday", 1),
            ],
            Role::Sales => &[
                ("salesforce", 35),
                ("google-drive", 15),
                ("sharepoint", 5),
                ("dropbox", 6),
                ("notetaker-ai", 6),
                ("atlassian", 3),
                ("workday", 1),
            ],
            Role::Support => &[
                ("atlassian", 30),
                ("salesforce", 15),
                ("google-drive", 8),
                ("notion", 5),
                ("workday", 1),
            ],
            Role::People => &[
                ("workday", 35),
                ("google-drive", 15),
                ("sharepoint", 10),
                ("dropbox", 4),
            ],
            Role::Finance => &[
                ("workday", 20),
                ("sharepoint", 20),
                ("salesforce", 10),
                ("google-drive", 15),
                ("dropbox", 3),
            ],
            Role::It => &[
                ("aws", 15),
                ("github", 10),
                ("atlassian", 15),
                ("workday", 5),
                ("google-drive", 5),
                ("sharepoint", 5),
            ],
            Role::Exec => &[
                ("google-drive", 20),
                ("salesforce", 10),
                ("workday", 10),
                ("sharepoint", 10),
                ("notion", 5),
                ("notetaker-ai", 5),
            ],
        }
    }

    fn entitlements(self) -> &'static [&'static str] {
        match self {
            Role::Engineering => &["group:engineering", "github:write", "aws:developer"],
            Role::Sales => &["group:sales", "salesforce:sales-user"],
            Role::Support => &["group:support", "jira:agent", "salesforce:service-user"],
            Role::People => &["group:people", "workday:hr-partner"],
            Role::Finance => &[
                "group:finance",
                "workday:finance",
                "sharepoint:finance-site",
            ],
            Role::It => &["group:it", "okta:admin", "aws:admin", "github:org-admin"],
            Role::Exec => &["group:leadership", "workday:manager"],
        }
    }
}

/// A person in the organisation.
#[derive(Debug)]
pub struct Person {
    /// Position in [`Org::people`].
    pub idx: usize,
    /// Primary email, the inventory id.
    pub email: String,
    /// Display name.
    pub name: String,
    /// GitHub handle.
    pub github: String,
    /// Role.
    pub role: Role,
    /// Administers apps (may grant privileges).
    pub admin: bool,
    /// Office they belong to (index into [`OFFICES`]).
    pub office: usize,
    /// UTC offset, minutes.
    pub tz_min: i32,
    /// Their laptop.
    pub device: DeviceW,
    /// Their home network.
    pub home: NetworkW,
    /// Goes to the office some days.
    pub office_based: bool,
    /// MFA enrolled.
    pub mfa_enrolled: bool,
    /// Their MFA factor.
    pub factor: &'static str,
    /// When they were offboarded, if they were.
    pub offboarded_at: Option<i64>,
    /// How they appear in most apps' login events, with name and email.
    pub profile: IdentityW,
    /// How they appear in most apps' other events.
    pub identity: IdentityW,
    /// How they appear in GitHub's login events.
    pub gh_profile: IdentityW,
    /// How they appear in GitHub's other events.
    pub gh_identity: IdentityW,
}

impl Person {
    /// The office they belong to.
    pub fn place(&self) -> &'static Place {
        OFFICES.get(self.office).unwrap_or(&OFFICES[0])
    }

    /// True unless offboarded.
    pub fn active(&self) -> bool {
        self.offboarded_at.is_none()
    }
}

/// An app, with the wire forms events use.
#[derive(Debug)]
pub struct App {
    /// The static description.
    pub spec: &'static AppSpec,
    /// `app` of browser events (the host people see).
    pub w: AppW,
    /// `app` of API events (the inventory domain).
    pub api_w: AppW,
}

/// A non-human identity and its workload.
#[derive(Debug)]
pub struct Bot {
    /// Position in [`Org::bots`].
    pub idx: usize,
    /// Identity id.
    pub id: String,
    /// Workload.
    pub spec: &'static BotSpec,
    /// Owner (index into [`Org::people`]).
    pub owner: usize,
    /// Owner's UTC offset, minutes (business-hours agents follow it).
    pub tz_min: i32,
    /// How it appears in events.
    pub identity: IdentityW,
    /// Its HTTP client.
    pub device: DeviceW,
    /// Its cloud egress.
    pub network: NetworkW,
}

/// The whole organisation.
#[derive(Debug)]
pub struct Org {
    /// People, in inventory order.
    pub people: Vec<Person>,
    /// Service accounts and agents.
    pub bots: Vec<Bot>,
    /// Apps, in [`APPS`] order.
    pub apps: Vec<App>,
    /// Each office's egress network.
    pub office_nets: Vec<NetworkW>,
    /// Each office's VPN egress network.
    pub vpn_nets: Vec<NetworkW>,
    /// Ordinary browser extensions people install.
    pub extensions: Vec<ExtensionW>,
    /// The inventory midwatch is given.
    pub inventory: InventoryDoc,
}

impl Org {
    /// An app by id.
    pub fn app(&self, id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.spec.id == id)
    }

    /// Apps of a kind.
    pub fn apps_of(&self, kind: AppKind) -> impl Iterator<Item = &App> {
        self.apps.iter().filter(move |a| a.spec.kind == kind)
    }

    /// A random active colleague of `p` (anyone else when only `p` is active).
    pub fn colleague(&self, rng: &mut Rng, p: &Person) -> Option<&Person> {
        let others: Vec<&Person> = self
            .people
            .iter()
            .filter(|o| o.active() && o.idx != p.idx)
            .collect();
        rng.pick(&others).copied()
    }

    /// Build an organisation of `users` people (and their non-humans) for `seed`.
    pub fn build(seed: u64, users: u32, start_ms: i64) -> Org {
        let mut rng = Rng::derive(seed, &[1]);
        let apps: Vec<App> = APPS
            .iter()
            .map(|spec| App {
                spec,
                w: AppW {
                    domain: spec.host.to_string(),
                    name: spec.name.to_string(),
                },
                api_w: AppW {
                    domain: spec.domain.to_string(),
                    name: spec.name.to_string(),
                },
            })
            .collect();
        let office_nets: Vec<NetworkW> = OFFICES
            .iter()
            .map(|place| {
                let (c, d) = octets(&mut rng);
                match place.isps.first() {
                    Some(isp) => catalog::network(place, isp, c, d, (0.0, 0.0)),
                    None => catalog::network(place, &catalog::VPN, c, d, (0.0, 0.0)),
                }
            })
            .collect();
        let vpn_nets: Vec<NetworkW> = OFFICES
            .iter()
            .map(|place| {
                let (c, d) = octets(&mut rng);
                catalog::network(place, &catalog::VPN, c, d, (0.0, 0.0))
            })
            .collect();
        let extensions = EXTENSIONS
            .iter()
            .map(|(name, perms)| extension(name, perms))
            .collect();

        let people = build_people(&mut rng, users, start_ms);
        let bots = build_bots(&mut rng, &people, users);
        let inventory = inventory(&people, &bots, &apps, &mut rng);
        Org {
            people,
            bots,
            apps,
            office_nets,
            vpn_nets,
            extensions,
            inventory,
        }
    }
}

/// A browser extension with a stable, Chrome-style 32-letter id derived from its name.
pub fn extension(name: &str, permissions: &[&str]) -> ExtensionW {
    let id = sha256_hex(name.as_bytes())
        .bytes()
        .take(32)
        .map(|b| {
            let v = if b.is_ascii_digit() {
                b - b'0'
            } else {
                b - b'a' + 10
            };
            char::from(b'a' + (v & 15))
        })
        .collect();
    ExtensionW {
        id,
        name: name.to_string(),
        permissions: permissions.iter().map(|p| (*p).to_string()).collect(),
    }
}

fn octets(rng: &mut Rng) -> (u8, u8) {
    let c = u8::try_from(rng.range(1, 255)).unwrap_or(1);
    let d = u8::try_from(rng.range(2, 254)).unwrap_or(2);
    (c, d)
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn build_people(rng: &mut Rng, users: u32, start_ms: i64) -> Vec<Person> {
    let n = usize::try_from(users).unwrap_or(0);
    let mut used = BTreeSet::new();
    let mut people = Vec::with_capacity(n);
    for idx in 0..n {
        let first = rng.pick(FIRST_NAMES).copied().unwrap_or("Alex");
        let last = rng.pick(LAST_NAMES).copied().unwrap_or("Doe");
        let base = format!("{}.{}", ascii_lower(first), ascii_lower(last));
        let mut local = base.clone();
        let mut k = 2;
        while !used.insert(local.clone()) {
            local = format!("{base}{k}");
            k += 1;
        }
        let email = format!("{local}@example.com");
        let name = format!("{first} {last}");
        let github = format!("{}-ex", local.replace('.', "-"));
        // The first person hired runs IT, so every organisation has an administrator.
        let role = if idx == 0 {
            Role::It
        } else {
            rng.weighted(ROLE_WEIGHTS)
                .copied()
                .unwrap_or(Role::Engineering)
        };
        let admin = role == Role::It || (role == Role::Exec && rng.chance(0.3));
        let office = rng.weighted(&office_choices()).copied().unwrap_or(0);
        let place = OFFICES.get(office).unwrap_or(&OFFICES[0]);
        let tz_min = place.tz_min;
        let (os, ua) = rng
            .pick(LAPTOPS)
            .copied()
            .unwrap_or(("Windows 11", "Mozilla/5.0"));
        let device = DeviceW {
            id: Some(format!("dev-{}", rng.hex(12))),
            managed: Some(rng.chance(0.92)),
            os: Some(os.to_string()),
            user_agent: Some(ua.to_string()),
        };
        let isp = rng.pick(place.isps).unwrap_or(&catalog::VPN);
        let (c, d) = octets(rng);
        let jitter = (rng.unit() * 0.16 - 0.08, rng.unit() * 0.16 - 0.08);
        let home = catalog::network(place, isp, c, d, jitter);
        let mfa_enrolled = rng.chance(0.9);
        let factor = rng
            .weighted(&[("push", 6), ("webauthn", 3), ("totp", 2)])
            .copied()
            .unwrap_or("push");
        let identity = IdentityW {
            id: email.clone(),
            kind: "human",
            name: None,
            email: None,
            on_behalf_of: None,
        };
        let profile = IdentityW {
            name: Some(name.clone()),
            email: Some(email.clone()),
            ..identity.clone()
        };
        let gh_identity = IdentityW {
            id: github.clone(),
            ..identity.clone()
        };
        let gh_profile = IdentityW {
            name: Some(name.clone()),
            ..gh_identity.clone()
        };
        people.push(Person {
            idx,
            email,
            name,
            github,
            role,
            admin,
            office,
            tz_min,
            device,
            home,
            office_based: rng.chance(0.5),
            mfa_enrolled,
            factor,
            offboarded_at: None,
            profile,
            identity,
            gh_profile,
            gh_identity,
        });
    }
    // Leavers: the last hires, gone between one and twenty days before the simulation.
    let leavers = if n >= 2 { (n / 50).max(1) } else { 0 };
    for p in people.iter_mut().rev().take(leavers) {
        p.offboarded_at = Some(start_ms - rng.range(DAY, 20 * DAY) - rng.range(0, 8 * HOUR));
    }
    // Every organisation of some size has someone who never enrolled MFA, and the
    // administrator always has.
    if n >= 5 && !people.iter().any(|p| p.active() && !p.mfa_enrolled) {
        for p in people.iter_mut().skip(1).filter(|p| p.active()).take(1) {
            p.mfa_enrolled = false;
        }
    }
    if let Some(p) = people.first_mut() {
        p.mfa_enrolled = true;
    }
    people
}

fn office_choices() -> Vec<(usize, u32)> {
    OFFICE_WEIGHTS.iter().copied().enumerate().collect()
}

fn build_bots(rng: &mut Rng, people: &[Person], users: u32) -> Vec<Bot> {
    let active: Vec<&Person> = people.iter().filter(|p| p.active()).collect();
    if active.is_empty() {
        return Vec::new();
    }
    let technical: Vec<&Person> = active
        .iter()
        .copied()
        .filter(|p| matches!(p.role, Role::Engineering | Role::It))
        .collect();
    let per_kind = usize::try_from(users / 10).unwrap_or(0).max(1);
    let mut bots = Vec::new();
    for (specs, owners) in [(SERVICE_ACCOUNTS, &technical), (AGENTS, &active)] {
        let owners = if owners.is_empty() { &active } else { owners };
        for i in 0..per_kind {
            let Some(spec) = specs.get(i % specs.len()) else {
                continue;
            };
            let round = i / specs.len();
            let id = if round == 0 {
                spec.name.to_string()
            } else {
                format!("{}-{}", spec.name, round + 1)
            };
            let Some(owner) = rng.pick(owners).copied() else {
                continue;
            };
            let place = rng.pick(&catalog::CLOUD).unwrap_or(&catalog::CLOUD[0]);
            let isp = place.isps.first().unwrap_or(&catalog::VPN);
            let (c, d) = octets(rng);
            let network = catalog::network(place, isp, c, d, (0.0, 0.0));
            let identity = IdentityW {
                id: id.clone(),
                kind: if spec.agent {
                    "ai_agent"
                } else {
                    "service_account"
                },
                name: Some(spec.display.to_string()),
                email: None,
                on_behalf_of: spec.agent.then(|| owner.email.clone()),
            };
            bots.push(Bot {
                idx: bots.len(),
                id,
                spec,
                owner: owner.idx,
                tz_min: owner.tz_min,
                identity,
                device: DeviceW {
                    user_agent: Some(spec.user_agent.to_string()),
                    ..DeviceW::default()
                },
                network,
            });
        }
    }
    bots
}

fn inventory(people: &[Person], bots: &[Bot], apps: &[App], rng: &mut Rng) -> InventoryDoc {
    let mut identities = Vec::with_capacity(people.len() + bots.len());
    for p in people {
        let mut entitlements: Vec<String> = p
            .role
            .entitlements()
            .iter()
            .map(|e| (*e).to_string())
            .collect();
        if p.admin && p.role != Role::It {
            entitlements.push("okta:app-admin".into());
        }
        identities.push(Identity {
            id: p.email.clone(),
            kind: IdentityKind::Human,
            display_name: Some(p.name.clone()),
            owner: None,
            lifecycle: if p.active() {
                Lifecycle::Active
            } else {
                Lifecycle::Offboarded
            },
            offboarded_at: p.offboarded_at,
            mfa_enrolled: p.mfa_enrolled,
            entitlements,
            aliases: vec![
                format!("00u{}", rng.chars(17, ALNUM)),
                p.github.clone(),
                format!("E{}", 10_000 + p.idx),
            ],
            approved_scope: None,
        });
    }
    for b in bots {
        let owner = people.get(b.owner).map(|p| p.email.clone());
        identities.push(Identity {
            id: b.id.clone(),
            kind: if b.spec.agent {
                IdentityKind::AiAgent
            } else {
                IdentityKind::ServiceAccount
            },
            display_name: Some(b.spec.display.to_string()),
            owner,
            lifecycle: Lifecycle::Active,
            offboarded_at: None,
            mfa_enrolled: false,
            entitlements: Vec::new(),
            aliases: vec![format!("0oa{}", rng.chars(17, ALNUM))],
            approved_scope: Some(ApprovedScope {
                apps: b.spec.apps.iter().map(|a| (*a).to_string()).collect(),
                actions: b.spec.actions.iter().map(|a| (*a).to_string()).collect(),
                max_session_lifetime_s: Some(b.spec.max_lifetime_s),
            }),
        });
    }
    let apps = apps
        .iter()
        .map(|a| InvApp {
            id: a.spec.id.to_string(),
            name: Some(a.spec.name.to_string()),
            domain: a.spec.domain.to_string(),
            managed: a.spec.managed,
            sensitivity: a.spec.sensitivity,
        })
        .collect();
    InventoryDoc { identities, apps }
}
