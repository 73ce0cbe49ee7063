//! Testing pipelines: [`assert_that`] checks the contents of a PCollection when the pipeline
//! runs, on any runner; [`TestStream`] scripts an unbounded input with watermark and
//! processing-time advances.
//!
//! An assertion is part of the pipeline: it gathers the PCollection's elements (those of one
//! window or pane, when asked), with one marker element so that an empty input is checked too,
//! into one list in the global window, and checks it in a ParDo. A failed check fails the
//! pipeline with an error that shows the expected elements against the actual ones; a passed
//! one increments the counter [`SUCCESS_COUNTER`], so a test can verify that every assertion
//! ran ([`Pipeline::assertion_count`](crate::pipeline::Pipeline::assertion_count)).
//!
//! ```
//! use sluice_sdk::prelude::*;
//! use sluice_sdk::testing::assert_that;
//! let p = Pipeline::new();
//! let doubled = p.apply("Nums", Create::of(vec![1, 2, 3])).map("Double", |x: i32| x * 2);
//! assert_that(&doubled).contains_in_any_order(vec![6, 2, 4]);
//! assert_eq!(p.assertion_count(), 1);
//! ```

mod assert_that;
mod test_stream;

pub use assert_that::{Assertion, SingletonAssertion, assert_that, assert_that_singleton};
pub use test_stream::TestStream;

/// The counter every passing assertion increments.
pub const SUCCESS_COUNTER: &str = "sluice.assert.success";
