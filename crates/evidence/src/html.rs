//! HTML timeline.
