//! # Sluice IO: sources and sinks
//!
//! Connectors between pipelines and the outside world. Each connector is a source (a
//! `BoundedSource` of the model) or a sink (a composite transform that writes), and knows
//! nothing of runners.
//!
//! - [`text`]: line-oriented files — read many files by glob (gzip by extension, large files
//!   split at line boundaries for parallel reads), write sharded files atomically; JSON lines
//!   through serde.

pub mod kafka;
pub mod text;
