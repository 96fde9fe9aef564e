//! Benign traffic: the ordinary working day the attacks hide in.
//!
//! [`plan`] decides where each person is day by day (home city or a trip abroad, with the
//! flights between) and which network their laptop is on; [`human`] fills each day with
//! browser sessions by their local clock (arrival, lunch, departure, weekends); [`bots`]
//! runs the service accounts' and agents' scheduled jobs on short-lived tokens. Normal
//! traffic deliberately includes the events attacks are made of — OAuth consents, privilege
//! grants, token creation, extension installs, MFA challenges, secret reads, bulk downloads
//! — so detections must discriminate.

pub mod bots;
pub mod human;
pub mod plan;

use crate::clock::Window;
use crate::org::Org;
use crate::sink::Sink;

/// Generate all benign traffic inside `win`.
pub fn generate(org: &Org, win: Window, sink: &mut Sink, seed: u64) {
    human::generate(org, win, sink, seed);
    bots::generate(org, win, sink, seed);
}
