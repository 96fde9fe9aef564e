//! Labelled attacks injected into the benign stream, one file per scenario.
//!
//! Each scenario plays out one attack at a given time — building the victim's own session
//! where one is needed, with the same building blocks as benign traffic and from wherever
//! the victim's laptop is at the time ([`crate::traffic::plan`]) — and records a
//! [`crate::label::Label`] listing exactly the events a detector should flag. Instances are
//! spread evenly over the window in a seed-dependent order, so every run has every attack
//! at a different, reproducible moment.

mod agent_scope_violation;
mod extension_then_clipboard;
mod ghost_login;
mod mfa_fatigue;
mod oauth_consent_bulk_export;
mod offboarded_identity_active;
mod privilege_then_secret_download;
mod session_cookie_replay;

use crate::catalog::{ATTACKER_BROWSERS, HOSTILE, network};
use crate::clock::{HOUR, Window, business_hours};
use crate::org::{App, Org, Person};
use crate::rng::Rng;
use crate::sink::Sink;
use crate::traffic::plan::{self, Whereabouts};
use crate::wire::{DeviceW, NetworkW};
use std::collections::BTreeSet;

/// Every scenario name, in a fixed order.
pub const NAMES: [&str; 8] = [
    session_cookie_replay::NAME,
    oauth_consent_bulk_export::NAME,
    agent_scope_violation::NAME,
    privilege_then_secret_download::NAME,
    extension_then_clipboard::NAME,
    mfa_fatigue::NAME,
    ghost_login::NAME,
    offboarded_identity_active::NAME,
];

/// The fewest people an organisation needs for attacks to be injected.
pub const MIN_USERS: usize = 5;

/// How long an attack may take from its start; attacks start early enough to fit.
const SPAN: i64 = 2 * HOUR;

/// What a scenario works with.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The organisation.
    pub org: &'a Org,
    /// Where events go.
    pub sink: &'a mut Sink,
    /// This scenario instance's randomness.
    pub rng: Rng,
    /// Which repetition of the scenario this is (0 for the first).
    pub round: usize,
    seed: u64,
    used: &'a mut BTreeSet<usize>,
}

impl<'a> Ctx<'a> {
    /// An active person matching `fit`, preferring people in their home city around `t`
    /// (not on or flying to or from a trip), people not yet victimised and people in
    /// business hours at `t`. `None` when nobody fits.
    pub fn victim(&mut self, t: i64, fit: impl Fn(&Person) -> bool) -> Option<&'a Person> {
        let org: &'a Org = self.org;
        let seed = self.seed;
        let all: Vec<&'a Person> = org.people.iter().filter(|p| p.active() && fit(p)).collect();
        let at_home: Vec<&'a Person> = all
            .iter()
            .copied()
            .filter(|p| !plan::away(seed, p, t, t + SPAN))
            .collect();
        let all = if at_home.is_empty() { all } else { at_home };
        let fresh: Vec<&'a Person> = all
            .iter()
            .copied()
            .filter(|p| !self.used.contains(&p.idx))
            .collect();
        let pool = if fresh.is_empty() { all } else { fresh };
        let working: Vec<&'a Person> = pool
            .iter()
            .copied()
            .filter(|p| business_hours(t, p.tz_min))
            .collect();
        let pool = if working.is_empty() { pool } else { working };
        let p = self.rng.pick(&pool).copied()?;
        self.used.insert(p.idx);
        Some(p)
    }

    /// One of `p`'s usual apps that is managed, preferring those of the given ids.
    pub fn managed_app(&mut self, p: &Person, prefer: &[&str]) -> Option<&'a App> {
        let org: &'a Org = self.org;
        let usual: Vec<&'a App> = p
            .role
            .app_weights()
            .iter()
            .filter_map(|(id, _)| org.app(id))
            .filter(|a| a.spec.managed)
            .collect();
        let preferred: Vec<&'a App> = usual
            .iter()
            .copied()
            .filter(|a| prefer.contains(&a.spec.id))
            .collect();
        let pool = if preferred.is_empty() {
            usual
        } else {
            preferred
        };
        self.rng.pick(&pool).copied()
    }

    /// Where `p`'s laptop is on the day of `t`: the victim's own events come from there.
    pub fn whereabouts(&self, p: &Person, t: i64) -> Whereabouts {
        plan::whereabouts(self.org, self.seed, p, t)
    }

    /// An attacker's network, in a country other than `not_country`.
    pub fn hostile_network(&mut self, not_country: &str) -> Option<NetworkW> {
        let places: Vec<_> = HOSTILE
            .iter()
            .filter(|p| p.country != not_country)
            .collect();
        let place = self.rng.pick(&places).copied()?;
        let isp = place.isps.first()?;
        let c = u8::try_from(self.rng.range(1, 255)).unwrap_or(1);
        let d = u8::try_from(self.rng.range(2, 254)).unwrap_or(2);
        Some(network(place, isp, c, d, (0.0, 0.0)))
    }

    /// An attacker's unmanaged device with a browser unlike `not_ua`.
    pub fn hostile_device(&mut self, not_ua: Option<&str>) -> DeviceW {
        let browsers: Vec<_> = ATTACKER_BROWSERS
            .iter()
            .filter(|(_, ua)| Some(*ua) != not_ua)
            .collect();
        let (os, ua) = self
            .rng
            .pick(&browsers)
            .map(|b| **b)
            .unwrap_or(("Linux", "Mozilla/5.0 (X11; Linux x86_64)"));
        DeviceW {
            id: Some(format!("dev-{}", self.rng.hex(12))),
            managed: Some(false),
            os: Some(os.to_string()),
            user_agent: Some(ua.to_string()),
        }
    }
}

/// Inject every scenario — `max(1, users / 100)` times each — spread over `win`. Smaller
/// organisations than [`MIN_USERS`], and empty windows, get none. Attacks start at least
/// two hours before the window ends when the window allows; in a shorter window their tail
/// may run past its end.
pub fn inject(org: &Org, win: Window, sink: &mut Sink, seed: u64) {
    let active = org.people.iter().filter(|p| p.active()).count();
    if org.people.len() < MIN_USERS || active == 0 || win.is_empty() {
        return;
    }
    let rounds = (org.people.len() / 100).max(1);
    let mut jobs: Vec<(usize, usize)> = (0..rounds)
        .flat_map(|round| (0..NAMES.len()).map(move |s| (round, s)))
        .collect();
    let mut order = Rng::derive(seed, &[4]);
    order.shuffle(&mut jobs);

    let n = i64::try_from(jobs.len()).unwrap_or(1).max(1);
    let len = win.len().max(HOUR);
    let latest = (win.end - SPAN).max(win.start);
    let mut used = BTreeSet::new();
    for (slot, (round, scenario)) in (0i64..).zip(jobs) {
        let mut rng = Rng::derive(seed, &[5, scenario as u64, round as u64]);
        let width = len / n;
        let t = win.start + slot * width + width / 4 + rng.range(0, (width / 2).max(1));
        let t = t.min(latest).max(win.start);
        let mut ctx = Ctx {
            org,
            sink: &mut *sink,
            rng,
            round,
            seed,
            used: &mut used,
        };
        match scenario {
            0 => session_cookie_replay::inject(&mut ctx, t),
            1 => oauth_consent_bulk_export::inject(&mut ctx, t),
            2 => agent_scope_violation::inject(&mut ctx, t),
            3 => privilege_then_secret_download::inject(&mut ctx, t),
            4 => extension_then_clipboard::inject(&mut ctx, t),
            5 => mfa_fatigue::inject(&mut ctx, t),
            6 => ghost_login::inject(&mut ctx, t),
            _ => offboarded_identity_active::inject(&mut ctx, t),
        }
    }
}
