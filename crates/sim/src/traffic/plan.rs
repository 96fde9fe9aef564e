//! Where each person is, day by day, and which network their laptop is on.
//!
//! A person has one laptop, and at any moment it is on one network. On an ordinary day it
//! sits in their home city: on the home Wi-Fi, at the office, or on the corporate VPN, and it
//! may move between these during the day (onto the VPN for a while, off it, to or from the
//! office over lunch). Now and then a person goes on a business trip: they fly out the day before,
//! work one to three days from a hotel or airport network abroad — by the local clock there,
//! maybe on the corporate VPN — and fly back the day after. Nothing happens on a flying day,
//! so the home city and the trip are always further apart in time than a flight takes.
//!
//! Everything here is a pure function of the seed, the person and the day, so benign traffic
//! and the attack scenarios (which play out a victim's own session) agree on where a person
//! is without sharing state.

use crate::catalog::{Place, TRAVEL, network};
use crate::clock::{HOUR, MIN, local_day, local_midnight, weekday};
use crate::org::{Org, Person};
use crate::rng::Rng;
use crate::wire::NetworkW;

/// Chance that a person goes on a trip in a given week.
const TRIP_CHANCE: f64 = 0.08;

/// Chance that the laptop changes network once during a working day.
const MOVE_CHANCE: f64 = 0.12;

/// Where a person is on one of their local days.
#[derive(Debug, Clone, Copy)]
pub enum Stay {
    /// In their home city: home, office or VPN.
    Home,
    /// Flying to or from a trip: no activity.
    Flight,
    /// On a trip at this place.
    Trip(&'static Place),
}

/// When a person works on one day, epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// Start of work.
    pub arrive: i64,
    /// End of work.
    pub leave: i64,
    /// Lunch break, on weekdays.
    pub lunch: Option<(i64, i64)>,
    /// A weekend day (a short session or two, no Slack).
    pub weekend: bool,
}

/// Which network a person's laptop is on, moment by moment, over one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Whereabouts {
    /// The network until the first move.
    first: NetworkW,
    /// Moves: from each instant on (ascending), the network.
    moves: Vec<(i64, NetworkW)>,
}

impl Whereabouts {
    /// On `net` all the time.
    pub fn fixed(net: &NetworkW) -> Whereabouts {
        Whereabouts {
            first: net.clone(),
            moves: Vec::new(),
        }
    }

    /// Move onto `net` at `t`; a later move planned before `t` is dropped.
    fn then(&mut self, t: i64, net: &NetworkW) {
        while self.moves.last().is_some_and(|(at, _)| *at >= t) {
            self.moves.pop();
        }
        let current = self.moves.last().map_or(&self.first, |(_, n)| n);
        if current != net {
            self.moves.push((t, net.clone()));
        }
    }

    /// The network at `t`.
    pub fn at(&self, t: i64) -> &NetworkW {
        let i = self.moves.partition_point(|(from, _)| *from <= t);
        match i.checked_sub(1).and_then(|i| self.moves.get(i)) {
            Some((_, net)) => net,
            None => &self.first,
        }
    }
}

/// One planned day of one person.
#[derive(Debug, Clone)]
pub struct Day {
    /// Where they are.
    pub stay: Stay,
    /// When they work; `None` when they do not.
    pub hours: Option<Hours>,
    /// Their laptop's network over the day.
    pub nets: Whereabouts,
}

/// A business trip: at `place` on local days `first..=last`, flying the day before and the
/// day after.
#[derive(Debug, Clone)]
struct Trip {
    place: &'static Place,
    first: i64,
    last: i64,
    net: NetworkW,
}

/// Week number of a day (weeks start on Monday).
fn week_of(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// The trip `p` takes in `week`, if any: starting Monday to Thursday, back by Saturday.
fn trip_in_week(seed: u64, p: &Person, week: i64) -> Option<Trip> {
    let mut rng = Rng::derive(seed, &[7, p.idx as u64, week as u64]);
    if !rng.chance(TRIP_CHANCE) {
        return None;
    }
    let start = rng.range(0, 4);
    let len = rng.range(1, (5 - start).min(3) + 1);
    let place = rng.pick(TRAVEL)?;
    let isp = place.isps.first()?;
    let c = u8::try_from(rng.range(1, 255)).unwrap_or(1);
    let d = u8::try_from(rng.range(2, 254)).unwrap_or(2);
    let monday = week * 7 - 3;
    Some(Trip {
        place,
        first: monday + start,
        last: monday + start + len - 1,
        net: network(place, isp, c, d, (0.0, 0.0)),
    })
}

/// The trip that day `day` belongs to (including its flying days), if any.
fn trip_around(seed: u64, p: &Person, day: i64) -> Option<Trip> {
    // A trip's outbound flight may be the Sunday before its week; its return flight is at
    // the latest on its Saturday.
    let week = week_of(day);
    [week, week + 1]
        .into_iter()
        .filter_map(|w| trip_in_week(seed, p, w))
        .find(|trip| (trip.first - 1..=trip.last + 1).contains(&day))
}

/// Where someone whose trip around `day` is `trip` is that day.
fn stay_on(trip: Option<&Trip>, day: i64) -> Stay {
    match trip {
        Some(t) if (t.first..=t.last).contains(&day) => Stay::Trip(t.place),
        Some(_) => Stay::Flight,
        None => Stay::Home,
    }
}

/// Where `p` is on their local day `day`.
pub fn stay(seed: u64, p: &Person, day: i64) -> Stay {
    stay_on(trip_around(seed, p, day).as_ref(), day)
}

/// True when `p` is travelling (on a trip or flying) on any local day within two days of
/// `from..until`.
pub fn away(seed: u64, p: &Person, from: i64, until: i64) -> bool {
    let first = local_day(from, p.tz_min) - 2;
    let last = local_day(until.max(from), p.tz_min) + 2;
    (first..=last).any(|d| !matches!(stay(seed, p, d), Stay::Home))
}

/// The plan of `p`'s local day `day`.
pub fn plan(org: &Org, seed: u64, p: &Person, day: i64) -> Day {
    let mut rng = Rng::derive(seed, &[6, p.idx as u64, day as u64]);
    let trip = trip_around(seed, p, day);
    let stay = stay_on(trip.as_ref(), day);
    let vpn = org.vpn_nets.get(p.office).unwrap_or(&p.home);
    let hours = match stay {
        Stay::Flight => None,
        Stay::Trip(place) => hours(&mut rng, day, place.tz_min),
        Stay::Home => hours(&mut rng, day, p.tz_min),
    };
    let nets = match (&trip, stay, hours) {
        (Some(trip), Stay::Trip(_), Some(h)) => {
            // At the hotel or airport all day; perhaps on the VPN from the start or from
            // some moment on.
            let mut w = Whereabouts::fixed(&trip.net);
            let r = rng.unit();
            if r < 0.15 {
                w.then(h.arrive, vpn);
            } else if r < 0.35 {
                w.then(rng.range(h.arrive, h.leave), vpn);
            }
            w.then(h.leave, &trip.net);
            w
        }
        (Some(trip), Stay::Trip(_), None) => Whereabouts::fixed(&trip.net),
        (_, Stay::Home, Some(h)) => home_day(org, &mut rng, p, h),
        _ => Whereabouts::fixed(&p.home),
    };
    Day { stay, hours, nets }
}

/// The whereabouts of `p` on the local day of `t` (their home clock's day).
pub fn whereabouts(org: &Org, seed: u64, p: &Person, t: i64) -> Whereabouts {
    plan(org, seed, p, local_day(t, p.tz_min)).nets
}

/// Working hours of local day `day` at offset `tz_min`, or `None` for a day off.
fn hours(rng: &mut Rng, day: i64, tz_min: i32) -> Option<Hours> {
    let midnight = local_midnight(day, tz_min);
    let at = |minutes: i64| midnight + minutes * MIN;
    if weekday(day) >= 5 {
        if !rng.chance(0.12) {
            return None;
        }
        let a = at(rng.range(10 * 60, 16 * 60)) + rng.range(0, MIN);
        return Some(Hours {
            arrive: a,
            leave: a + rng.range(40 * MIN, 150 * MIN),
            lunch: None,
            weekend: true,
        });
    }
    if rng.chance(0.04) {
        return None; // a day off
    }
    let a = at(rng.range(7 * 60 + 40, 9 * 60 + 40)) + rng.range(0, MIN);
    let l = at(rng.range(16 * 60 + 40, 18 * 60 + 50));
    let ls = at(rng.range(11 * 60 + 45, 13 * 60));
    Some(Hours {
        arrive: a,
        leave: l,
        lunch: Some((ls, ls + rng.range(30 * MIN, 65 * MIN))),
        weekend: false,
    })
}

/// A working day in the home city: home Wi-Fi outside working hours; at work on the home
/// Wi-Fi, the office network or the VPN, perhaps moving between them once in a while.
fn home_day(org: &Org, rng: &mut Rng, p: &Person, h: Hours) -> Whereabouts {
    let home = &p.home;
    let vpn = org.vpn_nets.get(p.office).unwrap_or(home);
    let office = org.office_nets.get(p.office).unwrap_or(home);
    let base = if rng.chance(0.08) {
        vpn
    } else if p.office_based && !h.weekend && rng.chance(0.6) {
        office
    } else {
        home
    };
    let mut w = Whereabouts::fixed(home);
    w.then(h.arrive, base);
    if rng.chance(MOVE_CHANCE) {
        let anytime = rng.range(h.arrive, h.leave.max(h.arrive + MIN));
        // Moves to or from the office happen over lunch: back at the desk when it ends.
        let after_lunch = h.lunch.map(|(_, end)| end);
        let to_office = p.office_based && rng.chance(0.3);
        match after_lunch {
            Some(t) if base == office => w.then(t, home),
            Some(t) if base == home && to_office => w.then(t, office),
            _ if base == home => {
                // Onto the VPN to reach something internal, and off it again a while later.
                w.then(anytime, vpn);
                w.then(anytime + rng.range(20 * MIN, 3 * HOUR), home);
            }
            // Off the VPN, back on the home Wi-Fi.
            _ => w.then(anytime, home),
        }
    }
    w.then(h.leave, home);
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::OFFICES;
    use crate::clock::DAY;

    fn km(a: &Place, b: &Place) -> f64 {
        let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
        let dl = (b.lon - a.lon).to_radians();
        let h = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * 6371.0 * h.sqrt().asin()
    }

    #[test]
    fn a_flying_day_leaves_time_for_any_flight() {
        // Work ends before 18:50 and starts after 07:40 local; with a flying day between,
        // the gap between home and trip is two days less those hours, shifted by the time
        // difference. It must exceed the flight at 900 km/h from every office to every
        // destination, out and back.
        let hours = |ms: i64| ms as f64 / HOUR as f64;
        let base = hours(2 * DAY + (7 * 60 + 40) * MIN - (18 * 60 + 50) * MIN);
        for office in &OFFICES {
            for dest in TRAVEL {
                let shift = f64::from(dest.tz_min - office.tz_min) / 60.0;
                let flight = km(office, dest) / 900.0;
                assert!(base - shift > flight, "{} to {}", office.city, dest.city);
                assert!(
                    base + shift > flight,
                    "{} back to {}",
                    dest.city,
                    office.city
                );
            }
        }
    }

    #[test]
    fn trips_are_weekdays_framed_by_flying_days() {
        let org = Org::build(7, 200, crate::DEFAULT_START_MS);
        let first = local_day(crate::DEFAULT_START_MS, 0) - 7;
        let mut trips = 0;
        for p in &org.people {
            for day in first..first + 70 {
                let around = [stay(7, p, day - 1), stay(7, p, day + 1)];
                match stay(7, p, day) {
                    Stay::Trip(place) => {
                        trips += 1;
                        assert!(weekday(day) < 5);
                        assert_eq!(plan(&org, 7, p, day).nets.at(0).city, place.city);
                        for s in around {
                            assert!(!matches!(s, Stay::Home), "{} day {day}", p.email);
                        }
                    }
                    Stay::Flight => {
                        assert!(plan(&org, 7, p, day).hours.is_none());
                        let trip = around.iter().any(|s| matches!(s, Stay::Trip(_)));
                        assert!(trip, "{} day {day}", p.email);
                    }
                    Stay::Home => {}
                }
            }
        }
        assert!(trips > 50, "{trips} trip days");
    }

    #[test]
    fn whereabouts_follow_their_moves() {
        let org = Org::build(3, 5, crate::DEFAULT_START_MS);
        let p = &org.people[1];
        let vpn = &org.vpn_nets[p.office];
        let mut w = Whereabouts::fixed(&p.home);
        w.then(100, vpn);
        w.then(200, &p.home);
        w.then(150, vpn); // replaces the later move
        assert_eq!(w.at(99).ip, p.home.ip);
        assert_eq!(w.at(100).ip, vpn.ip);
        assert_eq!(w.at(10_000).ip, vpn.ip);
        w.then(300, vpn); // already there
        assert_eq!(w.moves.len(), 1);
    }
}
