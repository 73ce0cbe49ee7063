//! Streaming execution: bundles, watermark and processing-time advances pushed through the
//! stages as they happen — on a test clock for test streams, on tokio for unbounded sources.
//!
//! Every stage has one instance for the whole run. A bundle entering a stage runs through its
//! fused operators; whatever leaves the stage is delivered at once to the stages that read it:
//! a grouping adds the records to its GroupAlsoByWindow and feeds the panes that fire into its
//! own stage; a Flatten or Reshuffle feeds the bundle straight through. A watermark advance
//! goes to every grouping in topological order, so that the panes an upstream grouping emits
//! reach a downstream one before it sees the same advance. Bounded sources are read first;
//! test streams are then replayed event by event. Unbounded sources are read by one tokio task
//! per split, which sends bundles and watermarks through a bounded channel (a slow pipeline
//! slows the readers down); the pipeline's watermark is the minimum over the splits (a split
//! whose reader says it is idle does not count unless all are), and
//! processing time follows the wall clock, ticking every 100 ms. When every source has ended
//! the watermark moves to the end of time, so every window fires and expires.
//!
//! A reader's checkpoint travels with its bundle. It is finalized (for Kafka: the offsets are
//! committed) only once every effect of the records read up to it has reached the output:
//! bundles are numbered as they are read, each grouping knows the oldest number among the
//! records it holds that are not yet part of a pane, and a checkpoint is finalized when no
//! grouping holds anything read at or before it. What a stateless stage writes is written by
//! the time its bundle finishes. A kill at any point thus re-reads, on restart, everything
//! whose effect could have been lost: at-least-once.
//!
//! On cancel (Ctrl-C or the options' [`CancelToken`](sluice_runner_core::CancelToken)) the run
//! drains, as a drain does on Dataflow: the readers stop, what they sent is processed, the
//! watermark moves to the end of time so that every open window fires its last pane and the
//! sinks write and flush, then every checkpoint is finalized and the run ends as `Cancelled`.
//!
//! Views change as their input arrives, and elements that read them wait until they are ready
//! ([`side_inputs`]). Keyed stages and side-input stages hold their output watermark (pending
//! timers, waiting elements); every such stage's input watermark follows the ones upstream
//! ([`watermarks`]). Unbounded sources are driven in [`unbounded`].

use sluice_runner_core::invoke::invoke;
mod checkpoints;
mod side_inputs;
mod unbounded;
mod watermarks;

use side_inputs::StreamingViews;
use sluice_runner_core::{
    BUNDLE_SIZE, DROPPED_DUE_TO_CLOSED_WINDOW, DROPPED_DUE_TO_LATENESS, ExecutionPlan, KeyedNode,
    KeyedShards, StageInstance, StageOutput, StageRoot, fan_out,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{SideInputs, TestStreamEvent};
use sluice_sdk::graph::{Bundle, CollectionId, NodeKind};
use sluice_sdk::result::{ElementCount, PipelineResult, PipelineState};
use sluice_sdk::time::Timestamp;
use std::collections::HashMap;
use unbounded::PendingCheckpoint;
use watermarks::{producers, stage_inputs, upstream_held};

/// A streaming run: every stage's one instance, the groupings, and where each PCollection
/// goes, with the run's watermark, processing time and pending checkpoints.
struct Streaming<'p> {
    plan: &'p ExecutionPlan,
    instances: Vec<StageInstance>,
    groupings: HashMap<usize, KeyedShards>,
    /// The stages that hold their output watermark: keyed stages and side-input stages.
    held: std::collections::HashSet<usize>,
    /// For each stage, the held stages whose output reaches it through element-wise stages
    /// only: their output watermarks bound its input watermark.
    upstream_held: Vec<Vec<usize>>,
    /// The output watermark of each held stage: its input watermark, held back by its holds.
    output_watermarks: HashMap<usize, Timestamp>,
    /// The stage that produces each PCollection.
    producer: HashMap<CollectionId, usize>,
    /// The side-input views and the elements waiting for them.
    views: StreamingViews,
    /// The stages that read each PCollection produced elsewhere.
    readers: HashMap<CollectionId, Vec<usize>>,
    roots: StageOutput,
    watermark: Timestamp,
    processing_time: Timestamp,
    /// The number of the last bundle read from an unbounded source.
    arrival: u64,
    /// Checkpoints waiting until what was read before them has reached the output, in order.
    pending: std::collections::VecDeque<PendingCheckpoint>,
    /// Per grouping stage, its live metrics: output watermark and open windows.
    gauges: HashMap<usize, sluice_runner_core::observe::KeyedGauges>,
}

pub(super) fn execute(
    plan: ExecutionPlan,
    options: &sluice_options::PipelineOptions,
    cancel: &sluice_runner_core::CancelToken,
) -> Result<PipelineResult, PipelineError> {
    let started = std::time::Instant::now();
    sluice_runner_core::run::refuse_streaming_stateful_side_inputs(&plan.graph, "direct")?;
    let plan = std::sync::Arc::new(plan);
    let mut run = Streaming::new(&plan, options.effective_parallelism())?;
    let result = if plan.stages.iter().any(|s| is_unbounded_read(&plan, s.root)) {
        run.run_unbounded(options, cancel)
    } else {
        run.run().map(|()| PipelineState::Done)
    };
    run.finish(result, started)
}

/// Whether a stage reads an unbounded source.
fn is_unbounded_read(plan: &ExecutionPlan, root: StageRoot) -> bool {
    matches!(root, StageRoot::Read(n) if matches!(plan.graph.node(n).kind, NodeKind::ReadUnbounded(_)))
}

/// The threads that keyed stages' shards work on, when there are several shards.
fn keyed_pool(shards: usize) -> Result<Option<std::sync::Arc<rayon::ThreadPool>>, PipelineError> {
    if shards <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(shards)
        .thread_name(|i| format!("sluice-keyed-{i}"))
        .build()
        .map(|pool| Some(std::sync::Arc::new(pool)))
        .map_err(|e| PipelineError::Unsupported {
            runner: "direct".into(),
            reason: format!("cannot start {shards} threads: {e}"),
        })
}

impl<'p> Streaming<'p> {
    /// Sets up every stage of `plan` once for the whole run; keyed stages are sharded by key
    /// over `shards` shards working in parallel.
    fn new(plan: &'p std::sync::Arc<ExecutionPlan>, shards: usize) -> Result<Self, PipelineError> {
        let pool = keyed_pool(shards)?;
        let mut readers: HashMap<CollectionId, Vec<usize>> = HashMap::new();
        let mut groupings = HashMap::new();
        let mut gauges = HashMap::new();
        let no_side_inputs = SideInputs::default();
        for stage in &plan.stages {
            if let StageRoot::Group { node, .. } = stage.root {
                gauges.insert(
                    stage.id,
                    sluice_runner_core::observe::KeyedGauges::new(
                        &plan.observer,
                        node,
                        &plan.graph.node(node).name,
                    ),
                );
                let grouping = KeyedNode::of(&plan.graph, node);
                groupings.insert(
                    stage.id,
                    grouping.sharded(shards, pool.clone(), &no_side_inputs)?,
                );
            }
            for c in stage_inputs(plan, stage.root) {
                readers.entry(c).or_default().push(stage.id);
            }
        }
        let views = StreamingViews::new(&plan.graph)?;
        let instances = (0..plan.stages.len())
            .map(|s| StageInstance::new(plan, s, views.side_inputs()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut held: std::collections::HashSet<usize> = groupings.keys().copied().collect();
        for stage in &plan.stages {
            if let StageRoot::Materialized(_) = stage.root
                && !plan.graph.node(stage.ops[0]).side_inputs.is_empty()
            {
                held.insert(stage.id);
            }
        }
        let producer = producers(plan);
        let upstream_held = upstream_held(plan, &producer, &held);
        Ok(Streaming {
            plan,
            instances,
            held,
            upstream_held,
            output_watermarks: HashMap::new(),
            producer,
            views,
            groupings,
            readers,
            roots: StageOutput::default(),
            watermark: Timestamp::MIN,
            processing_time: Timestamp::from_micros(0),
            arrival: 0,
            pending: Default::default(),
            gauges,
        })
    }

    /// Tears every stage down and gathers the run's metrics and counts; the run's own error
    /// comes first, then a failing teardown's.
    fn finish(
        mut self,
        result: Result<PipelineState, PipelineError>,
        started: std::time::Instant,
    ) -> Result<PipelineResult, PipelineError> {
        let mut output = std::mem::take(&mut self.roots);
        for (stage, gabw) in &mut self.groupings {
            let StageRoot::Group { node, .. } = self.plan.stages[*stage].root else {
                continue;
            };
            let mut m = gabw.take_metrics();
            gabw.teardown();
            m.counter(DROPPED_DUE_TO_LATENESS)
                .inc_by(gabw.dropped_due_to_lateness() as i64);
            m.counter(DROPPED_DUE_TO_CLOSED_WINDOW)
                .inc_by(gabw.dropped_due_to_closed_window() as i64);
            output.metrics.add(&self.plan.graph.node(node).name, &m);
        }
        let mut finish_error = None;
        for instance in std::mem::take(&mut self.instances) {
            match instance.finish(result.is_ok()) {
                Ok(o) => output.merge(o),
                Err(e) => {
                    finish_error.get_or_insert(e);
                }
            }
        }
        let state = result?;
        if let Some(e) = finish_error {
            return Err(e);
        }
        Ok(PipelineResult {
            state,
            metrics: output.metrics,
            elements: output.elements,
            elapsed: started.elapsed(),
        })
    }
}

/// The stages rooted at a source, with the source's node.
fn read_stages(
    plan: &ExecutionPlan,
) -> impl Iterator<Item = (&sluice_runner_core::Stage, &sluice_sdk::graph::Node)> {
    plan.stages.iter().filter_map(|stage| match stage.root {
        StageRoot::Read(n) => Some((stage, plan.graph.node(n))),
        _ => None,
    })
}

impl Streaming<'_> {
    /// Counts a bundle a source produced and runs it through the source's stage.
    fn feed_source(
        &mut self,
        stage: usize,
        name: &str,
        bundle: Bundle,
    ) -> Result<(), PipelineError> {
        self.count(
            name,
            ElementCount {
                input: 0,
                output: bundle.len() as u64,
            },
        );
        self.feed(stage, bundle)
    }

    /// Reads every bounded source: all of its input is there at once.
    fn read_bounded_sources(&mut self) -> Result<(), PipelineError> {
        let plan = self.plan;
        for (stage, node) in read_stages(plan) {
            let NodeKind::Read(source) = &node.kind else {
                continue;
            };
            let source_error = |e| sluice_runner_core::invoke::source_error(&node.name, e);
            let mut reader = source.reader().map_err(source_error)?;
            while let Some(bundle) = reader.next_bundle(BUNDLE_SIZE).map_err(source_error)? {
                self.feed_source(stage.id, &node.name, bundle)?;
            }
        }
        Ok(())
    }

    /// Reads the bounded sources, then replays the test streams event by event, then moves
    /// the watermark to the end of time.
    fn run(&mut self) -> Result<(), PipelineError> {
        self.read_bounded_sources()?;
        let plan = self.plan;
        for (stage, node) in read_stages(plan) {
            let NodeKind::TestStream(script) = &node.kind else {
                continue;
            };
            for event in script.events() {
                match event {
                    TestStreamEvent::Elements(bundle) => {
                        self.feed_source(stage.id, &node.name, bundle)?;
                    }
                    TestStreamEvent::Watermark(t) => self.advance_watermark(t)?,
                    TestStreamEvent::ProcessingTime(d) => {
                        self.advance_processing_time(self.processing_time + d)?
                    }
                }
            }
        }
        self.advance_watermark(Timestamp::MAX)
    }

    fn count(&mut self, name: &str, c: ElementCount) {
        self.roots
            .elements
            .entry(name.to_string())
            .or_default()
            .add(c);
    }

    /// Runs a bundle through stage `s`, then delivers what left the stage.
    fn feed(&mut self, s: usize, bundle: Bundle) -> Result<(), PipelineError> {
        self.instances[s].process_bundle(bundle)?;
        let stored = self.instances[s].take_stored();
        for (collection, bundles) in stored {
            let readers = self.readers.get(&collection).cloned().unwrap_or_default();
            let views = self.views.readers_of(collection);
            for bundle in bundles {
                // Views first: main-input elements of the same bundle see what it holds.
                let mut parts = fan_out(bundle, views.len() + readers.len());
                for (view, b) in views.iter().zip(parts.by_ref()) {
                    self.update_view(*view, b)?;
                }
                for (reader, b) in readers.iter().zip(parts) {
                    self.deliver(*reader, b)?;
                }
            }
        }
        Ok(())
    }

    /// Delivers a bundle to the stage that reads it.
    fn deliver(&mut self, stage: usize, bundle: Bundle) -> Result<(), PipelineError> {
        match self.plan.stages[stage].root {
            StageRoot::Group { node, .. } => {
                let grouping = KeyedNode::of(&self.plan.graph, node);
                let records = grouping.records(bundle)?;
                self.count(
                    grouping.name,
                    ElementCount {
                        input: records.len() as u64,
                        output: 0,
                    },
                );
                let gabw = self
                    .groupings
                    .get_mut(&stage)
                    .expect("every Group stage has a grouping");
                let output = invoke(grouping.name, || gabw.process(records))?;
                self.emit(stage, output)
            }
            StageRoot::Flatten(node) | StageRoot::Reshuffle(node) => {
                let name = self.plan.graph.node(node).name.clone();
                let len = bundle.len() as u64;
                self.count(
                    &name,
                    ElementCount {
                        input: len,
                        output: len,
                    },
                );
                self.feed(stage, bundle)
            }
            StageRoot::Materialized(_) if !self.stage_views(stage).is_empty() => {
                self.deliver_to_side_input_stage(stage, bundle)
            }
            StageRoot::Materialized(_) | StageRoot::Read(_) => self.feed(stage, bundle),
        }
    }

    /// Feeds what a keyed node emitted (panes, or a stateful DoFn's outputs) into its stage.
    fn emit(&mut self, stage: usize, output: Vec<Bundle>) -> Result<(), PipelineError> {
        if output.is_empty() {
            return Ok(());
        }
        let StageRoot::Group { node, .. } = self.plan.stages[stage].root else {
            unreachable!("keyed outputs come from keyed nodes")
        };
        let name = &self.plan.graph.node(node).name;
        let produced: usize = output.iter().map(Bundle::len).sum();
        self.roots.elements.entry(name.clone()).or_default().output += produced as u64;
        for bundle in output.into_iter().flat_map(|b| b.chunks(BUNDLE_SIZE)) {
            self.feed(stage, bundle)?;
        }
        Ok(())
    }

    fn advance_watermark(&mut self, t: Timestamp) -> Result<(), PipelineError> {
        if t <= self.watermark {
            return Ok(());
        }
        self.watermark = t;
        tracing::debug!(watermark = ?t, "the input watermark advances");
        self.propagate_watermark()
    }

    fn advance_processing_time(&mut self, t: Timestamp) -> Result<(), PipelineError> {
        if t <= self.processing_time {
            return Ok(());
        }
        self.processing_time = t;
        self.advance_groupings(|g| g.advance_processing_time(t))?;
        // Timers that fired may have released holds.
        self.propagate_watermark()
    }

    /// Applies a processing-time advance to every keyed stage, then feeds what fired
    /// downstream, upstream first.
    ///
    /// Processing time is one clock for the whole pipeline, as in Beam (a timer set relative
    /// to now, or a processing-time trigger's delay, starts from the clock every transform
    /// reads): every stage is at the new time before any firing reaches the next one.
    fn advance_groupings(
        &mut self,
        advance: impl Fn(&mut KeyedShards) -> Result<Vec<Bundle>, sluice_sdk::error::BoxError>,
    ) -> Result<(), PipelineError> {
        let mut fired = Vec::new();
        for stage in 0..self.plan.stages.len() {
            let Some(gabw) = self.groupings.get_mut(&stage) else {
                continue;
            };
            let StageRoot::Group { node, .. } = self.plan.stages[stage].root else {
                continue;
            };
            let name = &self.plan.graph.node(node).name;
            fired.push((stage, invoke(name, || advance(gabw))?));
        }
        for (stage, output) in fired {
            self.emit(stage, output)?;
        }
        Ok(())
    }
}
