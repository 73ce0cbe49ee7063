//! A run as the layers above core see it: the [`PipelineRunner`] trait every runner
//! implements, and the [`RunContext`] — the state of one run (its cancel token, its
//! observer) that whoever starts the run hands to the runner. Options say *what* the user
//! asked for and are plain data; the context is what lives while the run does.

use crate::observe::Observer;
use crate::plan::ExecutionPlan;
use sluice_options::PipelineOptions;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::Graph;
use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Something that executes pipelines.
pub trait PipelineRunner: Send + Sync {
    /// The name users select it by (`--runner NAME`).
    fn name(&self) -> &'static str;
    /// The physical plan this runner executes `graph` with: how it fuses stages, where data
    /// is exchanged by key, which combines are lifted (`--explain` shows it).
    fn plan(&self, graph: Graph) -> ExecutionPlan;
    /// Executes the pipeline to completion (or until `run.cancel` asks it to stop).
    fn run(
        &self,
        pipeline: &Pipeline,
        options: &PipelineOptions,
        run: &RunContext,
    ) -> Result<PipelineResult, PipelineError>;
}

/// What lives as long as one run: handed to the runner by whoever starts it.
#[derive(Clone, Debug, Default)]
pub struct RunContext {
    /// Asks the run to stop (streaming sources stop reading; what was read drains).
    pub cancel: CancelToken,
    /// Who watches the run (nobody by default).
    pub observer: Observer,
}

/// Asks a running streaming pipeline to stop: its sources stop reading, what was read is
/// processed, and the run returns with the state `Cancelled`. Clones share the request.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Refuses the flags of a cluster (`--processes`, `--hosts`, `--process`) on a runner that
/// runs in one process (`runner` names it), rather than ignoring them.
pub fn refuse_cluster_flags(options: &PipelineOptions, runner: &str) -> Result<(), PipelineError> {
    match options.cluster_flags().as_slice() {
        [] => Ok(()),
        given => Err(PipelineError::InvalidOption(format!(
            "{} {}: the {runner} runner runs in one process; clusters are the timely runner's \
             (--runner timely)",
            given.join(", "),
            if given.len() == 1 { "is" } else { "are" }
        ))),
    }
}

/// Refuses the checkpoint flags where a run keeps no checkpoints (`runner` names the runner,
/// `why` says what it does instead): a flag that silently does nothing is worse than none.
pub fn refuse_checkpoints(
    options: &PipelineOptions,
    runner: &str,
    why: &str,
) -> Result<(), PipelineError> {
    let c = &options.checkpoints;
    if !c.enabled() && !c.exactly_once {
        return Ok(());
    }
    Err(PipelineError::InvalidOption(format!(
        "--checkpoint-dir{}: the {runner} runner keeps no checkpoints here: {why}",
        if c.exactly_once {
            " and --exactly-once"
        } else {
            ""
        }
    )))
}

/// Refuses the checkpoint flags for a pipeline that reads no unbounded source (`unbounded`:
/// whether it reads one): checkpoints are for streaming runs.
pub fn refuse_checkpoints_of_bounded(
    options: &PipelineOptions,
    runner: &str,
    unbounded: bool,
) -> Result<(), PipelineError> {
    if unbounded {
        return Ok(());
    }
    refuse_checkpoints(
        options,
        runner,
        "the pipeline reads no unbounded source (checkpoints are for streaming runs; bounded \
         input is read again from the start)",
    )
}

/// Refuses what no streaming runner supports yet: a stateful ParDo that reads side inputs in
/// a streaming pipeline (`runner` names the runner in the error).
pub fn refuse_streaming_stateful_side_inputs(
    graph: &Graph,
    runner: &str,
) -> Result<(), PipelineError> {
    if !graph.is_streaming() {
        return Ok(());
    }
    let stateful_with_side_inputs = graph.nodes.iter().find(|n| {
        matches!(n.kind, sluice_sdk::graph::NodeKind::StatefulParDo(_)) && !n.side_inputs.is_empty()
    });
    match stateful_with_side_inputs {
        Some(node) => Err(PipelineError::Unsupported {
            runner: runner.into(),
            reason: format!(
                "stateful ParDo '{}' reads side inputs in a streaming pipeline: not supported yet",
                node.name
            ),
        }),
        None => Ok(()),
    }
}
