//! Stage-by-stage execution of a bounded plan.

use crate::core::invoke::invoke;
use crate::core::{ExecutionPlan, GroupAlsoByWindow, Sink, Stage, StageRoot};
use rustc_hash::FxHashMap;
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::{KeyedRecord, Operator, PreCombiner, SideInputs};
use sluice_sdk::graph::{Bundle, CollectionId, Graph, NodeId, NodeKind};
use sluice_sdk::metrics::{MetricResults, MetricsContainer};
use sluice_sdk::result::{PipelineResult, PipelineState};
use sluice_sdk::time::Timestamp;
use std::collections::HashMap;
use tracing::debug;

/// Elements per bundle read from a source or emitted by a grouping.
const BUNDLE_SIZE: usize = 1024;

/// Counter of records dropped for lateness, reported on the grouping transform (Beam's name).
const DROPPED_DUE_TO_LATENESS: &str = "droppedDueToLateness";

struct Execution {
    plan: ExecutionPlan,
    store: HashMap<CollectionId, Vec<Bundle>>,
    readers_left: HashMap<CollectionId, usize>,
    lifted: HashMap<NodeId, Vec<KeyedRecord>>,
    side_inputs: SideInputs,
    metrics: MetricResults,
}

/// Runs a stage: its operators, pre-combiners, and the bundles they pass on.
struct StageRun<'e> {
    stage: &'e Stage,
    graph: &'e Graph,
    ops: Vec<Box<dyn Operator>>,
    pre_combiners: FxHashMap<NodeId, Box<dyn PreCombiner>>,
    store: &'e mut HashMap<CollectionId, Vec<Bundle>>,
    lifted: &'e mut HashMap<NodeId, Vec<KeyedRecord>>,
}

pub(super) fn execute(graph: Graph) -> Result<PipelineResult, PipelineError> {
    let plan = ExecutionPlan::new(graph);
    debug!(plan = %plan.describe(), "direct runner plan");
    let readers_left = plan.store_readers.clone();
    let mut exec = Execution {
        plan,
        store: HashMap::new(),
        readers_left,
        lifted: HashMap::new(),
        side_inputs: SideInputs::default(),
        metrics: MetricResults::default(),
    };
    for s in 0..exec.plan.stages.len() {
        exec.run_stage(s)?;
    }
    Ok(PipelineResult {
        state: PipelineState::Done,
        metrics: exec.metrics,
    })
}

impl Execution {
    /// Takes the stored bundles of `collection`, cloning them when other stages read them too.
    fn read_stored(&mut self, collection: CollectionId) -> Vec<Bundle> {
        let left = self.readers_left.entry(collection).or_insert(1);
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.store.remove(&collection).unwrap_or_default()
        } else {
            self.store.get(&collection).cloned().unwrap_or_default()
        }
    }

    fn root_bundles(&mut self, stage: usize) -> Result<Vec<Bundle>, PipelineError> {
        let graph = &self.plan.graph;
        match self.plan.stages[stage].root {
            StageRoot::Read(node) => {
                let node = graph.node(node);
                let NodeKind::Read(source) = &node.kind else {
                    unreachable!("Read root is a Read node")
                };
                let source_error = |e: sluice_sdk::error::BoxError| PipelineError::Source {
                    transform: node.name.clone(),
                    message: crate::core::invoke::error_chain(e.as_ref()),
                };
                let mut reader = source.reader().map_err(source_error)?;
                let mut bundles = Vec::new();
                while let Some(b) = reader.next_bundle(BUNDLE_SIZE).map_err(source_error)? {
                    bundles.push(b);
                }
                Ok(bundles)
            }
            StageRoot::Group { node, lifted } => {
                let node = graph.node(node).clone();
                let NodeKind::GroupByKey(kernel) = &node.kind else {
                    unreachable!("Group root is a GroupByKey node")
                };
                let strategy = graph.collection(node.inputs[0]).windowing.clone();
                let mut gabw = GroupAlsoByWindow::new(kernel.clone(), strategy);
                let mut panes = Vec::new();
                if lifted {
                    let records = self.lifted.remove(&node.id).unwrap_or_default();
                    panes.extend(invoke(&node.name, || gabw.process(records))?);
                } else {
                    for bundle in self.read_stored(node.inputs[0]) {
                        let mut records = Vec::with_capacity(bundle.len());
                        kernel.to_records(bundle, &mut records).map_err(|e| {
                            PipelineError::Coder {
                                transform: node.name.clone(),
                                message: e.to_string(),
                            }
                        })?;
                        panes.extend(invoke(&node.name, || gabw.process(records))?);
                    }
                }
                panes.extend(invoke(&node.name, || {
                    gabw.advance_watermark(Timestamp::MAX)
                })?);
                let mut m = MetricsContainer::default();
                m.counter(DROPPED_DUE_TO_LATENESS)
                    .inc_by(gabw.dropped_due_to_lateness() as i64);
                self.metrics.add(&node.name, &m);
                let output = invoke(&node.name, || gabw.build_output(panes))?;
                Ok(output.chunks(BUNDLE_SIZE))
            }
            StageRoot::Flatten(node) => {
                let inputs = graph.node(node).inputs.clone();
                Ok(inputs
                    .into_iter()
                    .flat_map(|c| self.read_stored(c))
                    .collect())
            }
            StageRoot::Reshuffle(node) => {
                let input = graph.node(node).inputs[0];
                Ok(self.read_stored(input))
            }
            StageRoot::Materialized(collection) => Ok(self.read_stored(collection)),
        }
    }

    fn run_stage(&mut self, s: usize) -> Result<(), PipelineError> {
        let bundles = self.root_bundles(s)?;
        let stage = &self.plan.stages[s];
        let graph = &self.plan.graph;
        let mut ops = Vec::with_capacity(stage.ops.len());
        for &n in &stage.ops {
            let node = graph.node(n);
            let NodeKind::ParDo(factory) = &node.kind else {
                unreachable!("fused ops are ParDos")
            };
            let side_inputs = SideInputs(
                node.side_inputs
                    .iter()
                    .filter_map(|v| self.side_inputs.0.get(v).map(|d| (*v, d.clone())))
                    .collect(),
            );
            ops.push(invoke(&node.name, || factory.create(&side_inputs))?);
        }
        let mut pre_combiners = FxHashMap::default();
        for sinks in stage.routes.values() {
            for sink in sinks {
                if let Sink::PreCombine(n) = sink {
                    let NodeKind::GroupByKey(kernel) = &graph.node(*n).kind else {
                        unreachable!("pre-combine sink is a grouping")
                    };
                    if let Some(pc) = kernel.pre_combiner() {
                        pre_combiners.insert(*n, pc);
                    }
                }
            }
        }
        let mut run = StageRun {
            stage,
            graph,
            ops,
            pre_combiners,
            store: &mut self.store,
            lifted: &mut self.lifted,
        };
        let result = run.run(bundles);
        let metrics = run.finish(result.is_ok());
        for (name, m) in metrics {
            self.metrics.add(&name, &m);
        }
        result?;
        for &v in &stage.views.clone() {
            self.materialize_view(v)?;
        }
        Ok(())
    }

    fn materialize_view(&mut self, view: NodeId) -> Result<(), PipelineError> {
        let node = self.plan.graph.node(view).clone();
        let NodeKind::View(kernel) = &node.kind else {
            unreachable!("views are View nodes")
        };
        let bundles = self.read_stored(node.inputs[0]);
        let data = invoke(&node.name, || kernel.materialize(bundles))?;
        self.side_inputs.0.insert(view, data);
        Ok(())
    }
}

impl StageRun<'_> {
    fn run(&mut self, bundles: Vec<Bundle>) -> Result<(), PipelineError> {
        let root = self.stage.root_output;
        for bundle in bundles {
            for i in 0..self.ops.len() {
                let name = &self.graph.node(self.stage.ops[i]).name;
                let op = &mut self.ops[i];
                let outs = invoke(name, || op.start_bundle())?;
                self.route_outputs(i, outs)?;
            }
            self.route(root, bundle)?;
            for i in 0..self.ops.len() {
                let name = &self.graph.node(self.stage.ops[i]).name;
                let op = &mut self.ops[i];
                let outs = invoke(name, || op.finish_bundle())?;
                self.route_outputs(i, outs)?;
            }
        }
        for (node, pc) in self.pre_combiners.iter_mut() {
            let out = self.lifted.entry(*node).or_default();
            invoke(&self.graph.node(*node).name, || pc.flush(out))?;
        }
        Ok(())
    }

    fn route_outputs(&mut self, op: usize, outputs: Vec<Bundle>) -> Result<(), PipelineError> {
        let node = self.graph.node(self.stage.ops[op]);
        for (port, bundle) in outputs.into_iter().enumerate() {
            if let Some(&collection) = node.outputs.get(port) {
                self.route(collection, bundle)?;
            }
        }
        Ok(())
    }

    fn route(&mut self, collection: CollectionId, bundle: Bundle) -> Result<(), PipelineError> {
        if bundle.is_empty() {
            return Ok(());
        }
        let sinks = match self.stage.routes.get(&collection) {
            Some(s) if !s.is_empty() => s,
            _ => return Ok(()),
        };
        let last = sinks.len() - 1;
        let mut bundle = Some(bundle);
        for (i, sink) in sinks.iter().enumerate() {
            let b = if i == last {
                bundle.take().expect("bundle kept for the last sink")
            } else {
                bundle.as_ref().expect("bundle").clone()
            };
            match *sink {
                Sink::Op(idx) => {
                    let name = &self.graph.node(self.stage.ops[idx]).name;
                    let op = &mut self.ops[idx];
                    let outs = invoke(name, || op.process(b))?;
                    self.route_outputs(idx, outs)?;
                }
                Sink::Store(c) => self.store.entry(c).or_default().push(b),
                Sink::PreCombine(node) => {
                    let out = self.lifted.entry(node).or_default();
                    if let Some(pc) = self.pre_combiners.get_mut(&node) {
                        invoke(&self.graph.node(node).name, || pc.add_bundle(b, out))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Tears the operators down and returns their metrics by transform name.
    fn finish(&mut self, _succeeded: bool) -> Vec<(String, MetricsContainer)> {
        let mut out = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter_mut().enumerate() {
            let name = self.graph.node(self.stage.ops[i]).name.clone();
            let metrics = op.take_metrics();
            // A panicking teardown must not hide the pipeline's own outcome.
            let _ = invoke(&name, || {
                op.teardown();
                Ok(())
            });
            out.push((name, metrics));
        }
        out
    }
}
