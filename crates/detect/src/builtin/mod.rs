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

use crate::{Alert, Context};

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
