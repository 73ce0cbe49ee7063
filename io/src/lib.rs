//! # Sluice IO: sources and sinks
//!
//! Connectors between pipelines and the outside world. Each connector is a source (a
//! `BoundedSource` of the model) or a sink (a composite transform that writes), and knows
//! nothing of runners.
//!
//! - [`text`]: line-oriented files — read many files by glob (gzip by extension, large files
//!   split at line boundaries for parallel reads), write sharded files atomically; JSON lines
//!   through serde.
//! - [`kafka`]: Kafka topics through librdkafka — unbounded reads with per-partition event-time
//!   watermarks and idle partitions, bounded slices of a topic (up to the end offsets, a record
//!   count or a read time), undecodable records to a dead-letter output with their topic,
//!   partition and offset, at-least-once offset commits for a consumer group, and writes with
//!   keys, headers and the elements' timestamps. Keys and values go through the same formats
//!   both ways (bytes, UTF-8, JSON, or your own). Behind the default feature `kafka`: a program
//!   that only reads and writes files sets `default-features = false` and does not build
//!   librdkafka.
//! - [`periodic`]: a tick at a fixed interval, to refresh slowly changing side inputs.

#[cfg(feature = "kafka")]
pub mod kafka;
pub mod periodic;
pub mod text;
