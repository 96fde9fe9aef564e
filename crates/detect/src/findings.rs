//! Folding alerts into findings, and session risk.
