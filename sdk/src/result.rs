//! [`PipelineResult`]: how a run ended and what it measured.

use crate::metrics::MetricResults;
use std::collections::BTreeMap;

/// The final state of a pipeline run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineState {
    /// Every source was read and all work drained.
    Done,
    /// The run was cancelled before its input ended.
    Cancelled,
}

/// How many elements a transform consumed and produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElementCount {
    /// Elements in (for a grouping: keyed records, including pre-combined ones).
    pub input: u64,
    /// Elements out (for a grouping: panes).
    pub output: u64,
}

impl ElementCount {
    /// Adds another count to this one.
    pub fn add(&mut self, other: ElementCount) {
        self.input += other.input;
        self.output += other.output;
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct PipelineResult {
    /// How the run ended.
    pub state: PipelineState,
    /// The metrics, per transform.
    pub metrics: MetricResults,
    /// Elements in and out per primitive transform, by full name.
    pub elements: BTreeMap<String, ElementCount>,
    /// Wall-clock time of the run.
    pub elapsed: std::time::Duration,
}

impl PipelineResult {
    /// How many `assert_that` checks passed.
    pub fn assertions_passed(&self) -> i64 {
        self.metrics
            .counter_total("", crate::testing::SUCCESS_COUNTER)
    }

    /// A table of elements in and out per transform, and the elapsed time.
    pub fn summary(&self) -> String {
        let width = self
            .elements
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(9)
            .max(9);
        let mut out = format!("{:<width$}  {:>12}  {:>12}\n", "transform", "in", "out");
        for (name, c) in &self.elements {
            out.push_str(&format!(
                "{name:<width$}  {:>12}  {:>12}\n",
                c.input, c.output
            ));
        }
        out.push_str(&format!("elapsed: {:.3} s\n", self.elapsed.as_secs_f64()));
        out
    }
}
