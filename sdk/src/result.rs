//! [`PipelineResult`]: how a run ended and what it measured.

use crate::metrics::MetricResults;

/// The final state of a pipeline run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineState {
    /// Every source was read and all work drained.
    Done,
    /// The run was cancelled before its input ended.
    Cancelled,
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct PipelineResult {
    /// How the run ended.
    pub state: PipelineState,
    /// The metrics, per transform.
    pub metrics: MetricResults,
}

impl PipelineResult {
    /// How many `assert_that` checks passed.
    pub fn assertions_passed(&self) -> i64 {
        self.metrics
            .counter_total("", crate::testing::SUCCESS_COUNTER)
    }
}
