//! # Sluice runners: executing pipelines
//!
//! A pipeline built with `sluice-sdk` is a graph that says *what* to compute. This crate
//! decides *how*:
//!
//! - [`core`]: what every runner shares — the physical [plan](core::plan) (fusion of
//!   element-wise transforms into stages, shuffle boundaries, combiner lifting),
//!   [GroupAlsoByWindow](core::gabw) (grouping per key and window, panes, lateness), and
//!   [safe calls](core::invoke) into user code;
//! - [`direct`]: the direct runner, one process, a bundle at a time through fused stages;
//! - [`rayon`](mod@rayon): the batch runner, every stage data-parallel on a pool of workers;
//! - [`options`] and [`registry`]: `--runner NAME` on the command line, and [`run`].
//!
//! ```
//! use sluice_sdk::prelude::*;
//! use sluice_runners::{PipelineOptions, run};
//!
//! let p = Pipeline::new();
//! let total = p.apply("Nums", Create::of(vec![1i64, 2, 3])).apply("Sum", Combine::globally(Sum::<i64>::new()));
//! sluice_sdk::testing::assert_that(&total).contains_in_any_order(vec![6]);
//! let result = run(&p, &PipelineOptions::for_runner("direct")).unwrap();
//! assert_eq!(result.assertions_passed(), 1);
//! ```

pub mod core;
pub mod direct;
pub mod live;
pub mod options;
pub mod picture;
pub mod rayon;
pub mod registry;
pub mod timely;

pub use options::{CancelToken, PipelineOptions};
pub use registry::{PipelineHandle, PipelineRunner, run, runner, runner_names, start};
