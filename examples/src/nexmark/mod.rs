//! Nexmark: the benchmark of online auctions that streaming engines compare themselves on
//! (Beam, Flink, Arroyo and RisingWave publish it).
//!
//! - [`model`]: the events — people, auctions, bids — and their JSON lines.
//! - [`generator`]: the deterministic event generator, after Beam's Nexmark event model.
//! - [`source`]: the generator as a bounded source, read on any runner.
//! - [`stream`]: the generator as an unbounded source, with a watermark (streaming runs).
//! - [`queries`]: the queries (0, 1, 2, 3, 4, 5, 7, 8, 11, 12), and [`queries::run`] to apply
//!   one by number.

pub mod generator;
pub mod model;
pub mod queries;
pub mod source;
pub mod stream;

pub use generator::GeneratorConfig;
pub use model::{Auction, Bid, Event, Person};
pub use source::NexmarkSource;
pub use stream::NexmarkStream;
