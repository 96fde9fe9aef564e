//! Benign traffic: the ordinary working day the attacks hide in.
//!
//! [`human`] plans each person's day by their local clock (arrival, lunch, departure,
//! weekends, travel) and fills it with browser sessions; [`bots`] runs the service accounts'
//! and agents' scheduled jobs on short-lived tokens. Normal traffic deliberately includes the
//! events attacks are made of — OAuth consents, privilege grants, token creation, extension
//! installs, MFA challenges, secret reads, bulk downloads — so detections must discriminate.

pub mod bots;
pub mod human;

use crate::clock::Window;
use crate::org::Org;
use crate::sink::Sink;

/// Generate all benign traffic inside `win`.
pub fn generate(org: &Org, win: Window, sink: &mut Sink, seed: u64) {
    human::generate(org, win, sink, seed);
    bots::generate(org, win, sink, seed);
}
