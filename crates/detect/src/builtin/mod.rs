//! Built-in detectors: the checks Sigma cannot express.
//!
//! Each detector lives in its own file behind [`Detector`]. A rule directory turns them on,
//! off and tunes them by name in a `detectors.toml` file, one table per detector:
//!
//! ```toml
//! [impossible_travel]
//! enabled = true
//! severity = "high"
//! max_kmh = 900
//! ```
//!
//! Detectors keep bounded state keyed by session or identity and report its size.
//!
//! | name | what it finds |
//! |---|---|
//! | [`session_replay`] | one session used from a new device and a new network: a stolen cookie or token |
//! | [`concurrent_session_use`] | one session used from two devices interleaved within minutes |
//! | [`impossible_travel`] | one identity in two places further apart than anyone can travel in the time between |
//! | [`agent_scope`] | an agent, service account or API key outside its approved apps, actions or lifetime |
//! | [`offboarded_activity`] | activity of an offboarded or suspended identity |
//! | [`sensitive_without_strong_auth`] | a sensitive action in a session without recent MFA or phishing-resistant login |
//! | [`ghost_login`] | a local-password login to an app that is behind SSO |
//! | [`shadow_saas_login`] | a login to an app not in the inventory or not managed |
//! | [`lookalike_domain`] | a login on a host that imitates a known login domain |
//! | [`anonymizing_network`] | a session started from Tor, an anonymizing VPN, a proxy or a hosting network |

pub mod agent_scope;
pub mod anonymizing_network;
pub(crate) mod common;
pub mod concurrent_session_use;
pub mod config;
pub mod ghost_login;
pub mod impossible_travel;
pub mod lookalike_domain;
pub mod offboarded_activity;
pub mod sensitive_without_strong_auth;
pub mod session_replay;
pub mod shadow_saas_login;

pub use config::{BuiltinConfig, ConfigError, load_config};

use crate::geo::GeoDb;
use crate::{Alert, Context};
use std::sync::Arc;

/// Every built-in detector's name, in the order [`build`] returns them.
pub const NAMES: [&str; 10] = [
    session_replay::NAME,
    concurrent_session_use::NAME,
    impossible_travel::NAME,
    agent_scope::NAME,
    offboarded_activity::NAME,
    sensitive_without_strong_auth::NAME,
    ghost_login::NAME,
    shadow_saas_login::NAME,
    lookalike_domain::NAME,
    anonymizing_network::NAME,
];

/// One built-in detector.
pub trait Detector: Send + std::fmt::Debug {
    /// Stable name, as used in `detectors.toml` and as the finding's rule id
    /// (`midwatch.builtin.<name>`).
    fn name(&self) -> &'static str;
    /// Look at one event (in event-time order per session) and push any alerts.
    fn observe(&mut self, ctx: &Context<'_>, out: &mut Vec<Alert>);
    /// Approximate bytes of state held, for `/metrics`.
    fn state_bytes(&self) -> usize {
        0
    }
}

/// The enabled detectors of `cfg`, in [`NAMES`] order. `geo` fills in location, AS and
/// anonymizer facts that events do not carry themselves.
pub fn build(cfg: &BuiltinConfig, geo: Option<Arc<GeoDb>>) -> Vec<Box<dyn Detector>> {
    let mut out: Vec<Box<dyn Detector>> = Vec::new();
    if cfg.session_replay.enabled {
        out.push(Box::new(session_replay::SessionReplay::new(
            cfg.session_replay.clone(),
            geo.clone(),
        )));
    }
    if cfg.concurrent_session_use.enabled {
        out.push(Box::new(concurrent_session_use::ConcurrentSessionUse::new(
            cfg.concurrent_session_use.clone(),
        )));
    }
    if cfg.impossible_travel.enabled {
        out.push(Box::new(impossible_travel::ImpossibleTravel::new(
            cfg.impossible_travel.clone(),
            geo.clone(),
        )));
    }
    if cfg.agent_scope.enabled {
        out.push(Box::new(agent_scope::AgentScope::new(
            cfg.agent_scope.clone(),
        )));
    }
    if cfg.offboarded_activity.enabled {
        out.push(Box::new(offboarded_activity::OffboardedActivity::new(
            cfg.offboarded_activity.clone(),
        )));
    }
    if cfg.sensitive_without_strong_auth.enabled {
        out.push(Box::new(
            sensitive_without_strong_auth::SensitiveWithoutStrongAuth::new(
                cfg.sensitive_without_strong_auth.clone(),
            ),
        ));
    }
    if cfg.ghost_login.enabled {
        out.push(Box::new(ghost_login::GhostLogin::new(
            cfg.ghost_login.clone(),
        )));
    }
    if cfg.shadow_saas_login.enabled {
        out.push(Box::new(shadow_saas_login::ShadowSaasLogin::new(
            cfg.shadow_saas_login.clone(),
        )));
    }
    if cfg.lookalike_domain.enabled {
        out.push(Box::new(lookalike_domain::LookalikeDomain::new(
            cfg.lookalike_domain.clone(),
        )));
    }
    if cfg.anonymizing_network.enabled {
        out.push(Box::new(anonymizing_network::AnonymizingNetwork::new(
            cfg.anonymizing_network.clone(),
            geo,
        )));
    }
    out
}
