//! Data-parallel execution of a bounded plan: every stage on a pool of workers.

use super::progress::Progress;
use ::rayon::prelude::*;
use sluice_runner_core::invoke::source_error;
use sluice_runner_core::{
    BUNDLE_SIZE, ExecutionPlan, GroupInput, KeyedNode, Materialized, StageInstance, StageOutput,
    StageRoot,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{KeyedRecord, SideInputs, SourceKernel};
use sluice_sdk::graph::{Bundle, NodeKind};
use sluice_sdk::result::{ElementCount, PipelineResult};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing::debug;

/// Source splits per worker: more than one, so that a worker that finishes early finds work.
const SPLITS_PER_WORKER: usize = 4;

/// A run in progress: the plan, what finished stages produced, and how to run stages.
struct Execution {
    plan: Arc<ExecutionPlan>,
    done: Materialized,
    workers: usize,
    feedback: bool,
}

pub(super) fn execute(
    plan: ExecutionPlan,
    workers: usize,
    feedback: bool,
) -> Result<PipelineResult, PipelineError> {
    let started = std::time::Instant::now();
    let pool = ::rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("sluice-worker-{i}"))
        .build()
        .map_err(|e| PipelineError::Unsupported {
            runner: "rayon".into(),
            reason: format!("cannot start {workers} worker threads: {e}"),
        })?;
    let plan = Arc::new(plan);
    debug!(plan = %plan.describe(), workers, "rayon runner plan");
    let done = Materialized::new(&plan);
    let mut exec = Execution {
        plan,
        done,
        workers,
        feedback,
    };
    pool.install(|| {
        for s in 0..exec.plan.stages.len() {
            let stage_started = std::time::Instant::now();
            exec.run_stage(s)?;
            debug!(stage = s, root = ?exec.plan.stages[s].root, elapsed_ms = stage_started.elapsed().as_secs_f64() * 1e3, "stage done");
        }
        Ok::<(), PipelineError>(())
    })?;
    Ok(exec.done.into_result(started))
}

/// One unit of a stage's input, handed to whichever worker is free.
enum WorkItem {
    /// A source split to read.
    Split(Arc<dyn SourceKernel>),
    /// A shard of keyed records to group.
    Shard(Vec<Vec<KeyedRecord>>),
    /// Bundles to process.
    Bundles(Vec<Bundle>),
}

impl Execution {
    /// Spreads bundles over a few work items per worker, keeping their order within an item.
    fn bundle_items(&self, bundles: Vec<Bundle>) -> Vec<WorkItem> {
        let per_item = bundles
            .len()
            .div_ceil(self.workers * SPLITS_PER_WORKER)
            .max(1);
        let mut items = Vec::new();
        let mut it = bundles.into_iter().peekable();
        while it.peek().is_some() {
            items.push(WorkItem::Bundles(it.by_ref().take(per_item).collect()));
        }
        items
    }

    fn run_stage(&mut self, s: usize) -> Result<(), PipelineError> {
        let root = self.plan.stages[s].root;
        let graph = &self.plan.graph;
        let mut root_output = StageOutput::default();
        let mut progress = Progress::new(false, "", None);
        let stored = self.done.take_root_bundles(&self.plan, root);
        let items: Vec<WorkItem> = match root {
            StageRoot::Read(n) => {
                let node = graph.node(n);
                let NodeKind::Read(source) = &node.kind else {
                    unreachable!("Read roots are Read nodes")
                };
                let splits = source
                    .split(self.workers * SPLITS_PER_WORKER, self.workers)
                    .map_err(|e| source_error(&node.name, e))?;
                let sizes: Option<u64> = splits.iter().map(|s| s.estimated_size_bytes()).sum();
                progress = Progress::new(self.feedback, &node.name, sizes);
                splits.into_iter().map(WorkItem::Split).collect()
            }
            StageRoot::Group { node, input } => {
                let grouping = KeyedNode::of(graph, node);
                let records: Vec<Vec<KeyedRecord>> = if input != GroupInput::Stored {
                    self.done.take_records(node)
                } else {
                    stored
                        .into_par_iter()
                        .map(|b| grouping.records(b))
                        .collect::<Result<_, _>>()?
                };
                shuffle(records, self.workers)
                    .into_iter()
                    .map(WorkItem::Shard)
                    .collect()
            }
            StageRoot::Flatten(n) | StageRoot::Reshuffle(n) => {
                let total = stored.iter().map(|b| b.len() as u64).sum();
                root_output.elements.insert(
                    graph.node(n).name.clone(),
                    ElementCount {
                        input: total,
                        output: total,
                    },
                );
                self.bundle_items(stored)
            }
            StageRoot::Materialized(_) => self.bundle_items(stored),
        };
        let output = run_workers(
            &self.plan,
            &self.done.side_inputs,
            self.workers,
            s,
            root,
            items,
            &progress,
        );
        progress.finish();
        self.done.add(output?);
        self.done.add(root_output);
        self.done.materialize_views(&self.plan, s)
    }
}

/// Runs the items of stage `s` on the workers, each with its own stage instance.
fn run_workers(
    plan: &Arc<ExecutionPlan>,
    side_inputs: &SideInputs,
    workers: usize,
    s: usize,
    root: StageRoot,
    items: Vec<WorkItem>,
    progress: &Progress,
) -> Result<StageOutput, PipelineError> {
    if items.is_empty() {
        return Ok(StageOutput::default());
    }
    let workers = workers.min(items.len());
    let queue: Vec<Mutex<Option<WorkItem>>> =
        items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let outputs: Vec<Result<StageOutput, PipelineError>> = (0..workers)
        .into_par_iter()
        .map(|_| {
            let mut instance = StageInstance::new(plan, s, side_inputs)?;
            let mut own = StageOutput::default();
            let mut result = Ok(());
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = queue.get(i) else { break };
                let item = slot.lock().map(|mut g| g.take()).unwrap_or(None);
                let Some(item) = item else { continue };
                result = run_item(
                    plan,
                    side_inputs,
                    root,
                    item,
                    &mut instance,
                    &mut own,
                    progress,
                );
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                    break;
                }
            }
            // A bundle spans the work items a worker takes (up to its size limit): the stage
            // succeeds or fails as a whole, and a sink flushes once per bundle.
            if result.is_ok() {
                result = instance.close_bundle();
            }
            let mut out = instance.finish(result.is_ok())?;
            result?;
            out.merge(own);
            Ok(out)
        })
        .collect();
    let mut merged = StageOutput::default();
    let mut first_error = None;
    for o in outputs {
        match o {
            Ok(o) => merged.merge(o),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(merged),
    }
}

fn run_item(
    plan: &ExecutionPlan,
    side_inputs: &SideInputs,
    root: StageRoot,
    item: WorkItem,
    instance: &mut StageInstance,
    own: &mut StageOutput,
    progress: &Progress,
) -> Result<(), PipelineError> {
    let graph = &plan.graph;
    match (root, item) {
        (StageRoot::Read(n), WorkItem::Split(split)) => {
            let name = &graph.node(n).name;
            let mut reader = split.reader().map_err(|e| source_error(name, e))?;
            let (mut read, mut consumed) = (0u64, 0u64);
            while let Some(bundle) = reader
                .next_bundle(BUNDLE_SIZE)
                .map_err(|e| source_error(name, e))?
            {
                read += bundle.len() as u64;
                match reader.consumed_bytes() {
                    Some(bytes) => {
                        progress.advance(bytes.saturating_sub(consumed));
                        consumed = bytes;
                    }
                    None => progress.advance(bundle.len() as u64),
                }
                instance.push(bundle)?;
            }
            own.elements.entry(name.clone()).or_default().output += read;
            Ok(())
        }
        (StageRoot::Group { node, .. }, WorkItem::Shard(records)) => KeyedNode::of(graph, node)
            .group_bounded(
                records.into_iter().map(Ok),
                side_inputs,
                own,
                &mut |bundle| instance.push(bundle),
            ),
        (_, WorkItem::Bundles(bundles)) => {
            for bundle in bundles {
                instance.push(bundle)?;
            }
            Ok(())
        }
        _ => unreachable!("work items match their stage's root"),
    }
}

/// Hash-partitions keyed records into `shards` shards by key, in parallel.
fn shuffle(batches: Vec<Vec<KeyedRecord>>, shards: usize) -> Vec<Vec<Vec<KeyedRecord>>> {
    // Pieces of a bounded size, each partitioned on its own: a shard is a list of small
    // vectors that its worker consumes, and frees, one by one, while its grouping grows.
    let chunk = batches
        .iter()
        .map(Vec::len)
        .sum::<usize>()
        .div_ceil(shards * 16)
        .clamp(4096, 1 << 16);
    let mut pieces: Vec<Vec<KeyedRecord>> = Vec::with_capacity(batches.len());
    for mut b in batches {
        while b.len() > chunk {
            let tail = b.split_off(b.len() - chunk);
            pieces.push(tail);
        }
        pieces.push(b);
    }
    let partitioned: Vec<Vec<Vec<KeyedRecord>>> = pieces
        .into_par_iter()
        .map(|piece| {
            let mut parts: Vec<Vec<KeyedRecord>> = (0..shards)
                .map(|_| Vec::with_capacity(piece.len() / shards + piece.len() / 8))
                .collect();
            for r in piece {
                parts[r.key.partition(shards)].push(r);
            }
            parts
        })
        .collect();
    let mut out: Vec<Vec<Vec<KeyedRecord>>> = (0..shards).map(|_| Vec::new()).collect();
    for parts in partitioned {
        for (i, p) in parts.into_iter().enumerate() {
            if !p.is_empty() {
                out[i].push(p);
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}
