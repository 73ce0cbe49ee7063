//! # Sluice observers: seeing a run
//!
//! Observers sit above the runners: they watch a run through the interface core defines
//! ([`sluice_runner_core::observe`]: a [`RunObserver`](sluice_runner_core::RunObserver) is
//! told what the stages count, gauges hold watermarks and open windows) and never name a
//! runner. The layer above (`sluice-runners`) starts them when a flag asks and hands them to
//! the run.
//!
//! - [`live`]: live metrics — the store a run reports to, its history, the Prometheus text of
//!   `--metrics-addr`, the status page of `--ui`, and the log of `--log-metrics-interval`;
//! - [`picture`]: pictures of a pipeline's graph and of a runner's plan (`--graph`,
//!   `--explain`), as Graphviz DOT or a drawing in SVG.

pub mod live;
pub mod picture;
