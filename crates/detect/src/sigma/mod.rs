//! Sigma rules: loading, compiling and matching, with correlation rules.

pub mod error;

pub use error::LoadError;
