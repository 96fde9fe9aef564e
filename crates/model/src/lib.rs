//! The shared vocabulary of midwatch.
//!
//! Every other crate speaks in these types: an [`Event`] is one thing that happened,
//! normalized to the Open Cybersecurity Schema Framework (OCSF); a [`Session`] is the
//! authenticated window events are stitched into; [`Identity`] and [`App`] are the
//! inventory events are enriched with; a [`Finding`] is a detection result.
//!
//! This crate does no IO. Its serde shape *is* the OCSF JSON midwatch emits and accepts
//! at its edges, so there is one wire form of an event, not a model and a mapping.

pub mod event;
pub mod finding;
pub mod hash;
pub mod inventory;
pub mod secret;
pub mod session;
pub mod timefmt;

pub use event::{
    Actor, AuthFactor, AutonomousSystem, ClassUid, Clipboard, Device, DstEndpoint, Entity, Event,
    EventError, File, HttpRequest, IdentityKind, Location, Metadata, MidwatchExt, Product, RawRef,
    SessionRef, SrcEndpoint, StatusId, Url, User, WebResource,
};
pub use finding::{Finding, Severity, Triage, TriageState};
pub use inventory::{App, ApprovedScope, Identity, Inventory, InventoryError, Lifecycle};
pub use session::{EndReason, Session, SessionState};
