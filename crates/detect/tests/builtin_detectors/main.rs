//! Built-in detectors, one module per detector: the case each is for, the benign
//! look-alikes that must stay quiet, one alert per case, and bounded state. Also
//! `detectors.toml` loading.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

mod agent_scope;
mod anonymizing_network;
mod concurrent_session_use;
mod config;
mod ghost_login;
mod impossible_travel;
mod lookalike_domain;
mod offboarded_activity;
mod sensitive_without_strong_auth;
mod session_replay;
mod shadow_saas_login;
