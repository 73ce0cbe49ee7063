//! # Sluice runners: executing pipelines
//!
//! A pipeline built with `sluice-sdk` is a graph that says *what* to compute. The runners
//! decide *how*. They are built in layers, each a crate that depends only on the ones below
//! it, so that cargo itself keeps the direction:
//!
//! ```text
//! sluice-runners   (this crate)  the registry and the command line: picks the runner, wires observers
//!   sluice-observe               observers: live metrics, the status page, pictures
//!   sluice-direct | sluice-rayon | sluice-timely    the runners, none naming another
//!   sluice-runner-core           planning, fused stages, groupings, the keyed store, triggers,
//!                                and the interfaces runners and observers meet at
//!   sluice-options               the flags, as data
//! ```
//!
//! This crate re-exports every layer: [`options`], [`core`], [`direct`] (one process, batch
//! stage by stage or streaming on tokio), [`rayon`](mod@rayon) (data-parallel batch),
//! [`timely`] (timely dataflow, one process to a cluster) and [`observe`]. A program calls
//! [`launch`] and acts on its [`Outcome`]; libraries and tests call [`run`] or [`start`].
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

pub mod registry;

pub use sluice_direct as direct;
pub use sluice_observe as observe;
pub use sluice_options as options;
pub use sluice_rayon as rayon;
pub use sluice_runner_core as core;
pub use sluice_timely as timely;

pub use registry::{Outcome, PipelineHandle, launch, run, runner, runner_names, runners, start};
pub use sluice_options::PipelineOptions;
pub use sluice_runner_core::{CancelToken, PipelineRunner, RunContext};
